"""What only the local filesystem store does; the shared contract is in test_objectstore.py."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from tests.support.staging import CONTENT, stage

from bankfeeds.core.errors import StorageError
from bankfeeds.storage.objectstore.store import LocalObjectStore, key_for


async def test_local_objects_are_read_only(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    staged, sha = stage(tmp_path, CONTENT)
    stored = await store.put_file(staged, sha)
    assert (store.root / stored.key).stat().st_mode & 0o777 == 0o400


async def test_local_unwritable_root_is_a_storage_error(tmp_path: Path) -> None:
    root = tmp_path / "not-a-directory"
    root.write_text("a file where the store should be")
    staged, sha = stage(tmp_path, CONTENT)
    with pytest.raises(StorageError, match="not-a-directory"):
        await LocalObjectStore(root).put_file(staged, sha)


async def test_local_damaged_object_is_reported_not_replaced(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    staged, sha = stage(tmp_path, CONTENT)
    damaged = store.root / key_for(sha)
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(CONTENT[:5])
    with pytest.raises(StorageError, match="may be damaged"):
        await store.put_file(staged, sha)
    assert damaged.read_bytes() == CONTENT[:5]
    assert [p.name for p in damaged.parent.iterdir()] == [sha]


async def test_local_ignores_stray_temp_files(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    staged, sha = stage(tmp_path, CONTENT)
    stored = await store.put_file(staged, sha)
    (store.root / stored.key).with_name(".tmp-left-by-a-crash").write_bytes(b"partial")
    assert await store.list_keys() == [stored.key]


async def test_local_hashed_put_links_without_copying(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    staged = tmp_path / "staged"
    staged.write_bytes(CONTENT)
    sha = hashlib.sha256(CONTENT).hexdigest()
    first = await store.put_file(staged, sha, hashed=True)
    assert first.created and first.size == len(CONTENT)
    stored = tmp_path / "objects" / key_for(sha)
    assert stored.stat().st_ino == staged.stat().st_ino  # linked, not copied
    assert stat.S_IMODE(stored.stat().st_mode) == 0o400
    staged.unlink()  # the pipeline removes its staging name; the object stays
    assert await store.read_bytes(first.key) == CONTENT
    again = tmp_path / "again"
    again.write_bytes(CONTENT)
    second = await store.put_file(again, sha, hashed=True)
    assert not second.created
    assert stored.stat().st_ino != again.stat().st_ino
