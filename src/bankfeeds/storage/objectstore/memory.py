"""The in-memory object store: the ObjectStore contract without a disk, for unit tests."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from bankfeeds.core.errors import ObjectNotFound
from bankfeeds.storage.objectstore import store as base


class MemoryObjectStore:
    """An in-memory ObjectStore with the same contract, for unit tests of logic."""

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}

    async def _read(self, staged: Path, sha256: str) -> bytes:
        try:
            data = await asyncio.to_thread(staged.read_bytes)
        except OSError as exc:
            raise base.storage_error(f"read {staged}", exc) from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise base.content_mismatch(staged, sha256, actual)
        return data

    def _publish(self, key: str, data: bytes) -> base.StoredObject:
        # No await between the check and the insert, so concurrent puts cannot both create.
        if key in self._objects:
            return base.StoredObject(key=key, size=len(self._objects[key]), created=False)
        self._objects[key] = data
        return base.StoredObject(key=key, size=len(data), created=True)

    async def put_file(
        self, staged: Path, sha256: str, *, hashed: bool = False
    ) -> base.StoredObject:
        """Copy ``staged`` to ``key_for(sha256)`` unless it is there; check its hash on the way."""
        return self._publish(base.key_for(sha256), await self._read(staged, sha256))

    async def put_quarantine(self, staged: Path, sha256: str, name: str) -> str:
        """Copy ``staged`` (whose actual hash is ``sha256``) to quarantine; return its key."""
        key = base.quarantine_key(sha256, name)
        self._publish(key, await self._read(staged, sha256))
        return key

    async def exists(self, key: str) -> bool:
        """Return whether an object is stored under ``key``."""
        return base.check_key(key) in self._objects

    async def size(self, key: str) -> int | None:
        """Return the object's size in bytes, or None if there is none."""
        data = self._objects.get(base.check_key(key))
        return None if data is None else len(data)

    async def read_bytes(self, key: str) -> bytes:
        """Return the object's bytes; ObjectNotFound if there is none."""
        try:
            return self._objects[base.check_key(key)]
        except KeyError:
            raise ObjectNotFound(f"No object {key} in the memory store.") from None

    async def delete(self, key: str) -> None:
        """Remove the object if it exists (tests and admin only)."""
        self._objects.pop(base.check_key(key), None)

    async def list_keys(self, prefix: str = "") -> list[str]:
        """Return the sorted keys that start with ``prefix``."""
        return sorted(key for key in self._objects if key.startswith(prefix))
