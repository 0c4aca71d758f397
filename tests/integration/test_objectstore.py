"""Contract tests for ObjectStore, run over every implementation in BACKENDS.

To add an implementation, write a factory that builds it from the test's fixtures and add it to
BACKENDS; every test here then runs against it too. What only one store does is tested beside this
module (test_objectstore_local.py, test_objectstore_s3.py).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support import moto_s3
from tests.support.staging import CONTENT, stage

from bankfeeds.core.errors import ContentHashMismatch, ObjectNotFound, StorageError
from bankfeeds.storage.objectstore.memory import MemoryObjectStore
from bankfeeds.storage.objectstore.s3 import S3ObjectStore
from bankfeeds.storage.objectstore.store import (
    LocalObjectStore,
    ObjectStore,
    StoredObject,
    key_for,
    quarantine_key,
)


@dataclass(frozen=True)
class Backend:
    """One implementation under test plus two ways to look past its interface."""

    store: ObjectStore
    #: Every name physically held, temporary files included.
    raw_names: Callable[[], Awaitable[list[str]]]
    #: A value that changes if the object under a key is rewritten.
    fingerprint: Callable[[str], object]


def _local(request: pytest.FixtureRequest) -> Backend:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    store = LocalObjectStore(tmp_path / "objects")

    async def raw_names() -> list[str]:
        if not store.root.exists():
            return []
        files = (p for p in store.root.rglob("*") if p.is_file())
        return sorted(p.relative_to(store.root).as_posix() for p in files)

    def fingerprint(key: str) -> object:
        stat = (store.root / key).stat()
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    return Backend(store, raw_names, fingerprint)


def _memory(request: pytest.FixtureRequest) -> Backend:
    store = MemoryObjectStore()
    # The fake has no temporary objects; the identity of the stored bytes shows a rewrite.
    return Backend(store, store.list_keys, lambda key: id(store._objects[key]))


def _s3(request: pytest.FixtureRequest) -> Backend:
    endpoint: str = request.getfixturevalue("moto_endpoint")
    moto_s3.fake_credentials(
        request.getfixturevalue("monkeypatch"), request.getfixturevalue("tmp_path")
    )
    bucket, admin = moto_s3.new_bucket(endpoint)
    store = S3ObjectStore(bucket, moto_s3.REGION, client=admin)

    async def raw_names() -> list[str]:
        # Versions and unfinished multipart uploads: a rewrite or a leftover upload shows here.
        return await asyncio.to_thread(moto_s3.raw_names, admin, bucket)

    def fingerprint(key: str) -> object:
        return admin.head_object(Bucket=bucket, Key=key)["VersionId"]

    return Backend(store, raw_names, fingerprint)


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], Backend]] = {
    "local": _local,
    "memory": _memory,
    "s3": _s3,
}


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_s3.moto_server() as endpoint:
        yield endpoint


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Backend:
    return BACKENDS[request.param](request)


async def test_put_stores_under_content_key(backend: Backend, tmp_path: Path) -> None:
    staged, sha = stage(tmp_path, CONTENT)
    stored = await backend.store.put_file(staged, sha)
    key = f"sha256/{sha[:2]}/{sha[2:4]}/{sha}"
    assert stored == StoredObject(key=key, size=len(CONTENT), created=True)
    assert await backend.store.exists(key)
    assert await backend.store.size(key) == len(CONTENT)
    assert await backend.store.read_bytes(key) == CONTENT
    assert await backend.store.list_keys() == [key]
    assert staged.read_bytes() == CONTENT, "put_file copies; the staged file stays"


@pytest.mark.parametrize("data", [b"", bytes(range(256)) * 12_289], ids=["empty", "several-chunks"])
async def test_put_round_trips_any_size(backend: Backend, tmp_path: Path, data: bytes) -> None:
    staged, sha = stage(tmp_path, data)
    stored = await backend.store.put_file(staged, sha)
    assert (stored.size, stored.created) == (len(data), True)
    assert await backend.store.read_bytes(stored.key) == data


async def test_second_put_does_not_touch_the_object(backend: Backend, tmp_path: Path) -> None:
    first_staged, sha = stage(tmp_path, CONTENT, "AXIS_20250110.csv")
    first = await backend.store.put_file(first_staged, sha)
    before = backend.fingerprint(first.key)
    again_staged, _ = stage(tmp_path, CONTENT, "AXIS_20250110_copy.csv")
    again = await backend.store.put_file(again_staged, sha)
    assert again == StoredObject(key=first.key, size=len(CONTENT), created=False)
    assert backend.fingerprint(first.key) == before
    assert await backend.store.read_bytes(first.key) == CONTENT
    assert await backend.raw_names() == [first.key]


async def test_wrong_hash_stores_nothing(backend: Backend, tmp_path: Path) -> None:
    staged, _ = stage(tmp_path, CONTENT)
    claimed = hashlib.sha256(b"other bytes").hexdigest()
    with pytest.raises(StorageError, match="SHA-256") as caught:
        await backend.store.put_file(staged, claimed)
    assert isinstance(caught.value, ContentHashMismatch)
    assert not await backend.store.exists(key_for(claimed))
    assert await backend.store.list_keys() == []
    assert await backend.raw_names() == [], "no temporary file may be left behind"


async def test_missing_staged_file_is_a_storage_error(backend: Backend, tmp_path: Path) -> None:
    sha = hashlib.sha256(CONTENT).hexdigest()
    with pytest.raises(StorageError, match=r"staging/absent\.csv"):
        await backend.store.put_file(tmp_path / "staging" / "absent.csv", sha)
    assert await backend.raw_names() == []


async def test_concurrent_puts_create_exactly_once(backend: Backend, tmp_path: Path) -> None:
    staged, sha = stage(tmp_path, CONTENT * 5_000)
    results = await asyncio.gather(*(backend.store.put_file(staged, sha) for _ in range(20)))
    assert sum(r.created for r in results) == 1
    assert {r.key for r in results} == {key_for(sha)}
    assert await backend.store.read_bytes(key_for(sha)) == CONTENT * 5_000
    assert await backend.raw_names() == [key_for(sha)]


async def test_concurrent_puts_of_different_bytes_all_land(
    backend: Backend, tmp_path: Path
) -> None:
    staged = [stage(tmp_path, CONTENT + bytes([n]), f"f{n}.csv") for n in range(10)]
    results = await asyncio.gather(*(backend.store.put_file(p, sha) for p, sha in staged))
    assert all(r.created for r in results)
    assert await backend.store.list_keys() == sorted(key_for(sha) for _, sha in staged)
    assert await backend.raw_names() == await backend.store.list_keys()


async def test_list_keys_filters_by_prefix(backend: Backend, tmp_path: Path) -> None:
    shas = [stage(tmp_path, CONTENT + bytes([n]), f"f{n}.csv") for n in range(6)]
    for path, sha in shas:
        await backend.store.put_file(path, sha)
    some = shas[0][1]
    expected = sorted(key_for(s) for _, s in shas if s.startswith(some[:2]))
    assert await backend.store.list_keys(f"sha256/{some[:2]}") == expected
    assert await backend.store.list_keys(f"sha256/{some[:2]}/{some[2:4]}/{some}") == [key_for(some)]
    assert await backend.store.list_keys("quarantine/") == []
    assert await backend.store.list_keys("sha256/zz") == []


async def test_quarantine_keeps_bytes_apart(backend: Backend, tmp_path: Path) -> None:
    staged, sha = stage(tmp_path, CONTENT)
    key = await backend.store.put_quarantine(staged, sha, "../../etc/AXIS RECON 20250110.csv")
    assert key == f"quarantine/{sha}/AXIS_RECON_20250110.csv"
    assert await backend.store.read_bytes(key) == CONTENT
    assert await backend.store.list_keys("sha256/") == []
    assert not await backend.store.exists(key_for(sha))
    assert (
        await backend.store.put_quarantine(staged, sha, "../../etc/AXIS RECON 20250110.csv") == key
    )
    assert await backend.raw_names() == [key]


async def test_quarantine_checks_the_hash(backend: Backend, tmp_path: Path) -> None:
    staged, _ = stage(tmp_path, CONTENT)
    with pytest.raises(StorageError):
        await backend.store.put_quarantine(staged, "0" * 64, "bad.csv")
    assert await backend.raw_names() == []


async def test_missing_objects(backend: Backend) -> None:
    key = key_for("0" * 64)
    assert not await backend.store.exists(key)
    assert await backend.store.size(key) is None
    with pytest.raises(ObjectNotFound):
        await backend.store.read_bytes(key)
    await backend.store.delete(key)  # a no-op, not an error
    assert await backend.store.list_keys() == []


async def test_delete_then_put_creates_again(backend: Backend, tmp_path: Path) -> None:
    staged, sha = stage(tmp_path, CONTENT)
    stored = await backend.store.put_file(staged, sha)
    await backend.store.delete(stored.key)
    assert not await backend.store.exists(stored.key)
    assert await backend.store.list_keys() == []
    assert (await backend.store.put_file(staged, sha)).created


@pytest.mark.parametrize(
    "sha",
    ["", "abc", "A" * 64, "a" * 63, "a" * 65, "g" * 64, " " + "a" * 63, "a" * 63 + "\n"],
)
async def test_invalid_sha256_is_a_value_error(backend: Backend, tmp_path: Path, sha: str) -> None:
    staged, _ = stage(tmp_path, CONTENT)
    with pytest.raises(ValueError, match="SHA-256"):
        key_for(sha)
    with pytest.raises(ValueError, match="SHA-256"):
        await backend.store.put_file(staged, sha)
    with pytest.raises(ValueError, match="SHA-256"):
        await backend.store.put_quarantine(staged, sha, "x.csv")
    assert await backend.raw_names() == []


@pytest.mark.parametrize(
    "key", ["", "../x", "/etc/passwd", "sha256/../x", "a//b", ".tmp-1", "a\\b"]
)
async def test_invalid_keys_are_value_errors(backend: Backend, key: str) -> None:
    for call in (backend.store.exists, backend.store.size, backend.store.read_bytes):
        with pytest.raises(ValueError, match="not a valid object key"):
            await call(key)
    with pytest.raises(ValueError, match="not a valid object key"):
        await backend.store.delete(key)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("AXIS_20250110.csv", "AXIS_20250110.csv"),
        ("C:\\upload\\a b.csv", "a_b.csv"),
        ("..", "file"),
        ("", "file"),
        (".hidden", "hidden"),
        ("x" * 300, "x" * 200),
    ],
)
def test_quarantine_key_names_are_safe(name: str, safe: str) -> None:
    assert quarantine_key("a" * 64, name) == f"quarantine/{'a' * 64}/{safe}"
