"""Content-addressed object store: the interface, the local-filesystem store and an in-memory fake.

Objects are immutable and keyed by their SHA-256 (``sha256/ab/cd/<hex>``). An existing object is
never overwritten, so concurrent puts of the same bytes are safe and exactly one reports
``created``. Quarantined files (bytes kept for forensics, never served as normal objects) live under
``quarantine/<sha256>/<safe name>``. Both puts *copy* the staged file and check its SHA-256 in the
same pass; the caller still owns the staged file and deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, Protocol

from bankfeeds.core.errors import ContentHashMismatch, ObjectNotFound, StorageError

_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]")
_CHUNK: Final = 1 << 20
# Temporary files start with a dot; keys may not, so a temp file is never mistaken for an object.
_TMP_PREFIX: Final = ".tmp-"


@dataclass(frozen=True, slots=True)
class StoredObject:
    """Where ``put_file`` stored the bytes, how many, and whether this call created the object."""

    key: str
    size: int
    created: bool


def key_for(sha256: str) -> str:
    """Return the content-addressed key ``sha256/ab/cd/<hex>`` for a lower-case SHA-256 hex."""
    if _HEX64.fullmatch(sha256) is None:
        raise ValueError(
            f"{sha256!r} is not a SHA-256 digest (64 lower-case hexadecimal characters)"
        )
    return f"sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def quarantine_key(sha256: str, name: str) -> str:
    """Return the key ``quarantine/<sha256>/<safe name>`` for a quarantined file."""
    key_for(sha256)  # validates the digest
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    safe = _UNSAFE.sub("_", base).lstrip(".")[:200] or "file"
    return f"quarantine/{sha256}/{safe}"


def check_key(key: str) -> str:
    """Return ``key`` if it is a relative, normalised key with no hidden part, else ValueError."""
    parts = key.split("/")
    if "\\" in key or "\x00" in key or any(not p or p.startswith(".") for p in parts):
        raise ValueError(f"{key!r} is not a valid object key")
    return key


def content_mismatch(staged: Path, sha256: str, actual: str) -> ContentHashMismatch:
    """The error for staged bytes whose hash is not the one claimed."""
    return ContentHashMismatch(
        f"{staged} has SHA-256 {actual}, not {sha256}; it changed after it was hashed, "
        "so nothing was stored."
    )


def storage_error(action: str, exc: OSError) -> StorageError:
    """An OSError as a StorageError naming what was being done."""
    where = f" ({exc.filename})" if exc.filename else ""
    return StorageError(f"Could not {action}: {exc.strerror or exc}{where}.")


class ObjectStore(Protocol):
    """Where ingested files' bytes are kept, by content hash."""

    async def put_file(self, staged: Path, sha256: str, *, hashed: bool = False) -> StoredObject:
        """Store ``staged`` under ``key_for(sha256)`` unless it is there, never overwriting.

        ``hashed=True``: the caller hashed these bytes as it wrote them, so a store may skip
        re-reading them.
        """

    async def put_quarantine(self, staged: Path, sha256: str, name: str) -> str:
        """Copy ``staged`` (whose actual hash is ``sha256``) to quarantine; return its key."""

    async def exists(self, key: str) -> bool:
        """Return whether an object is stored under ``key``."""

    async def size(self, key: str) -> int | None:
        """Return the object's size in bytes, or None if there is none."""

    async def read_bytes(self, key: str) -> bytes:
        """Return the object's bytes; ObjectNotFound if there is none."""

    async def delete(self, key: str) -> None:
        """Remove the object if it exists (tests and admin only)."""

    async def list_keys(self, prefix: str = "") -> list[str]:
        """Return the sorted keys that start with ``prefix``."""


def _copy_hashing(staged: Path, out: IO[bytes]) -> tuple[int, str]:
    """Copy ``staged`` into ``out`` and return (size, SHA-256 hex), in one read of the source."""
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with staged.open("rb") as source:
        while count := source.readinto(buffer):
            digest.update(view[:count])
            out.write(view[:count])
            size += count
    return size, digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents, making each new entry durable."""
    missing: list[Path] = []
    while not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for new in reversed(missing):
        # A concurrent put may have made it but not yet synced its parent: sync either way.
        new.mkdir(mode=0o700, exist_ok=True)
        _fsync_dir(new.parent)


class LocalObjectStore:
    """Objects as read-only files under ``root``, published atomically with ``os.link``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def put_file(self, staged: Path, sha256: str, *, hashed: bool = False) -> StoredObject:
        """Store ``staged`` as ``key_for(sha256)`` unless it is there.

        ``hashed=True`` says the caller computed ``sha256`` from these very bytes as it wrote
        them; the file is then made durable and linked into place without a second read, when
        staging and store share a file system. Otherwise it is copied and hashed on the way.
        """
        key = key_for(sha256)
        if hashed:
            linked = await asyncio.to_thread(self._link, staged, key)
            if linked is not None:
                return linked
        return await asyncio.to_thread(self._put, staged, sha256, key)

    async def put_quarantine(self, staged: Path, sha256: str, name: str) -> str:
        """Copy ``staged`` (whose actual hash is ``sha256``) to quarantine; return its key."""
        key = quarantine_key(sha256, name)
        await asyncio.to_thread(self._put, staged, sha256, key)
        return key

    def _link(self, staged: Path, key: str) -> StoredObject | None:
        """Publish ``staged`` itself by hard link; None when it is on another file system."""
        final = self.root / key
        try:
            _make_dirs(final.parent)
            fd = os.open(staged, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.fchmod(fd, 0o400)  # objects are immutable and private
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
            try:
                os.link(staged, final)
            except FileExistsError:
                return StoredObject(key=key, size=size, created=False)
            _fsync_dir(final.parent)
            return StoredObject(key=key, size=size, created=True)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                return None
            raise storage_error(f"store {staged} as {final}", exc) from exc

    def _put(self, staged: Path, sha256: str, key: str) -> StoredObject:
        final = self.root / key
        action = f"store {staged} as {final}"
        try:
            _make_dirs(final.parent)
            fd, name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=final.parent)
        except OSError as exc:
            raise storage_error(action, exc) from exc
        temp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                size, actual = _copy_hashing(staged, out)
                if actual != sha256:
                    raise content_mismatch(staged, sha256, actual)
                os.fchmod(out.fileno(), 0o400)  # objects are immutable and private
                out.flush()
                os.fsync(out.fileno())
            # link(2) refuses to replace an existing name: an object is never overwritten and
            # of several concurrent puts exactly one creates it.
            try:
                os.link(temp, final)
            except FileExistsError:
                stored = final.stat().st_size
                if stored != size:
                    raise StorageError(
                        f"The object {key} already exists with {stored} bytes, not {size}; "
                        f"the store at {self.root} may be damaged."
                    ) from None
                return StoredObject(key=key, size=size, created=False)
            _fsync_dir(final.parent)
            return StoredObject(key=key, size=size, created=True)
        except OSError as exc:
            raise storage_error(action, exc) from exc
        finally:
            with contextlib.suppress(OSError):  # a stray temp file is ignored by list_keys
                temp.unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def exists(self, key: str) -> bool:
        """Return whether an object is stored under ``key``."""
        return await asyncio.to_thread(self._path(key).is_file)

    async def size(self, key: str) -> int | None:
        """Return the object's size in bytes, or None if there is none."""
        path = self._path(key)
        try:
            found = await asyncio.to_thread(path.stat)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise storage_error(f"read {path}", exc) from exc
        return found.st_size if stat.S_ISREG(found.st_mode) else None

    async def read_bytes(self, key: str) -> bytes:
        """Return the object's bytes; ObjectNotFound if there is none."""
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ObjectNotFound(f"No object {key} in the store at {self.root}.") from exc
        except OSError as exc:
            raise storage_error(f"read {path}", exc) from exc

    async def delete(self, key: str) -> None:
        """Remove the object if it exists (tests and admin only)."""
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:
            raise storage_error(f"delete {path}", exc) from exc

    async def list_keys(self, prefix: str = "") -> list[str]:
        """Return the sorted keys that start with ``prefix``."""
        # Walk only the deepest directory the prefix names, not the whole store.
        top = prefix.rpartition("/")[0]
        start = self._path(top) if top else self.root

        def walk() -> list[str]:
            keys: list[str] = []
            for directory, _, files in os.walk(start):
                for name in files:
                    key = (Path(directory) / name).relative_to(self.root).as_posix()
                    if not name.startswith(".") and key.startswith(prefix):
                        keys.append(key)
            return sorted(keys)

        return await asyncio.to_thread(walk)
