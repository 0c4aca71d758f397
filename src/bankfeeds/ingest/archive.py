"""Unpack the ``.gz`` and ``.zip`` files banks send, streaming and refusing anything unsafe.

Both functions are synchronous (callers run them in a thread) and never hold a whole member in
memory: output is produced 1 MiB at a time, hashed and counted as it is written, and refused as
soon as it passes the size cap or the expansion ratio, so a bomb never fills the disk. A refused
archive leaves nothing behind in ``dest_dir``. Nested archives are kept as plain members.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import stat
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from bankfeeds.core.errors import ArchiveRefused, StorageError

CHUNK: Final = 1 << 20
#: Output below this is never judged on ratio: a small file of repeated rows compresses very well
#: and cannot hurt anyone, while every bomb worth the name passes this long before it matters.
RATIO_GRACE: Final = 1 << 20
DEFAULT_MAX_BYTES: Final = 2 << 30
DEFAULT_MAX_RATIO: Final = 200.0
_DRIVE = re.compile(r"^[A-Za-z]:")
# macOS's archiver adds resource forks under this folder; they are never bank data.
_MACOS_FORKS: Final = "__MACOSX/"


@dataclass(frozen=True)
class Member:
    """One unpacked file: its safe base name, where it was written, its size and SHA-256."""

    name: str
    path: Path
    size: int
    sha256: str


class _Budget:
    """Counts output against the size cap and the ratio, refusing the moment either is passed."""

    def __init__(self, label: str, max_bytes: int, max_ratio: float) -> None:
        self.label = label
        self.max_bytes = max_bytes
        self.max_ratio = max_ratio
        self.total = 0

    def spend(self, produced: int, member_out: int, member_in: int) -> None:
        """Add ``produced`` bytes; ``member_out``/``member_in`` are one member's running sizes."""
        self.total += produced
        if self.total > self.max_bytes:
            raise ArchiveRefused(
                f"{self.label} unpacks to more than the {_size(self.max_bytes)} limit, "
                "so it was refused (possibly a decompression bomb)."
            )
        if member_out > RATIO_GRACE and member_out > self.max_ratio * max(member_in, 1):
            raise ArchiveRefused(
                f"{self.label} expands more than {self.max_ratio:g} times its compressed size, "
                "so it was refused as a likely decompression bomb."
            )


def gunzip(src: Path, dest_dir: Path, *, name: str, max_bytes: int, max_ratio: float) -> Member:
    """Decompress a (multi-member) gzip file into ``dest_dir`` as ``name`` without ``.gz``."""
    base = safe_name(name, what="file")
    out_name = base[:-3] if base.lower().endswith(".gz") else base
    if not out_name or out_name.startswith("."):
        raise ArchiveRefused(f"{name!r} gives no usable file name once '.gz' is removed.")
    budget = _Budget(f"the gzip file {base!r}", max_bytes, max_ratio)
    dest = dest_dir / out_name
    try:
        with src.open("rb") as fin:
            size, sha256 = _write(dest, _gunzip_blocks(fin, base, budget))
    except OSError as exc:
        raise StorageError(f"could not read {src.name!r} to unpack it: {exc}") from exc
    return Member(out_name, dest, size, sha256)


def _gunzip_blocks(fin: BinaryIO, label: str, budget: _Budget) -> Iterator[bytes]:
    """Yield decompressed blocks of at most CHUNK bytes, across every gzip member in ``fin``."""
    read_in = 0
    d = zlib.decompressobj(zlib.MAX_WBITS | 16)
    started = False  # whether the current member has had any input
    pending = b""
    while True:
        if not pending:
            pending = fin.read(CHUNK)
            read_in += len(pending)
            if not pending:
                break
        if d.eof:
            if not pending.strip(b"\0"):
                # NUL padding after the last member is written by some transfer tools; ignore it.
                pending = b""
                continue
            d = zlib.decompressobj(zlib.MAX_WBITS | 16)
            started = False
        started = True
        try:
            for block in _inflate(d, pending):
                budget.spend(len(block), budget.total + len(block), read_in)
                yield block
        except zlib.error as exc:
            raise ArchiveRefused(
                f"the gzip file {label!r} is corrupt and could not be decompressed ({exc})."
            ) from exc
        pending = d.unused_data
    if read_in == 0:
        raise ArchiveRefused(f"the gzip file {label!r} is empty.")
    if started and not d.eof:
        raise ArchiveRefused(
            f"the gzip file {label!r} is truncated: it ends before its end-of-stream marker."
        )


def _inflate(d: zlib._Decompress, data: bytes) -> Iterator[bytes]:
    """Feed ``data`` to ``d`` and yield its output in blocks of at most CHUNK bytes."""
    out = d.decompress(data, CHUNK)
    while out:
        yield out
        if not d.unconsumed_tail and (d.eof or len(out) < CHUNK):
            return
        # A full block may mean zlib holds more output even when all input is consumed.
        out = d.decompress(d.unconsumed_tail, CHUNK)


def unzip(
    src: Path, dest_dir: Path, *, max_bytes: int, max_ratio: float, max_members: int = 1000
) -> list[Member]:
    """Extract every regular file of a zip archive into ``dest_dir``, all or nothing."""
    label = f"the zip archive {src.name!r}"
    members: list[Member] = []
    try:
        try:
            zf = zipfile.ZipFile(src)
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
            raise ArchiveRefused(f"{label} is not a readable zip file ({exc}).") from exc
        with zf:
            entries = _checked_entries(zf, label, max_bytes, max_members)
            budget = _Budget(label, max_bytes, max_ratio)
            # The compressed bytes zipfile reads for a member are bounded by the file's size too.
            archive_size = src.stat().st_size
            for info, base in entries:
                blocks = _member_blocks(zf, info, budget, min(info.compress_size, archive_size))
                size, sha256 = _write(dest_dir / base, blocks, label)
                members.append(Member(base, dest_dir / base, size, sha256))
            return members
    except BaseException as exc:
        for member in members:
            member.path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StorageError(f"could not read {src.name!r} to unpack it: {exc}") from exc
        raise


def _checked_entries(
    zf: zipfile.ZipFile, label: str, max_bytes: int, max_members: int
) -> list[tuple[zipfile.ZipInfo, str]]:
    """The regular-file entries with their base names, after every check that needs no output."""
    infos = zf.infolist()
    if len(infos) > max_members:
        raise ArchiveRefused(
            f"{label} has {len(infos)} entries, more than the {max_members} allowed."
        )
    out: list[tuple[zipfile.ZipInfo, str]] = []
    seen: dict[str, str] = {}
    declared = 0
    for info in infos:
        raw = info.orig_filename
        safe_name(raw, what="member", label=label, allow_dirs=True)
        if info.is_dir() or raw.startswith(_MACOS_FORKS):
            continue
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ArchiveRefused(
                f"{label} contains a symbolic link ({raw!r}), which is not allowed."
            )
        # Many writers set only permission bits; a file type, when present, must be "regular".
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            raise ArchiveRefused(f"{label} contains {raw!r}, which is not a regular file.")
        if info.flag_bits & 0x1:
            raise ArchiveRefused(f"{label} has an encrypted member ({raw!r}); send it unencrypted.")
        base = posixpath.basename(unicodedata.normalize("NFC", raw))
        key = base.casefold()
        if key in seen:
            raise ArchiveRefused(
                f"{label} holds two files named {base!r} ({seen[key]!r} and {raw!r}); "
                "member names must be unique."
            )
        seen[key] = raw
        declared += info.file_size
        if declared > max_bytes:
            raise ArchiveRefused(
                f"{label} declares more than the {_size(max_bytes)} limit of content, "
                "so it was refused (possibly a decompression bomb)."
            )
        out.append((info, base))
    return out


def _member_blocks(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget, member_in: int
) -> Iterator[bytes]:
    """Yield one member's output in blocks, counting real bytes rather than trusting the header."""
    size = 0
    try:
        with zf.open(info) as fin:
            while block := fin.read(CHUNK):
                size += len(block)
                budget.spend(len(block), size, member_in)
                yield block
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise ArchiveRefused(
            f"{budget.label} member {info.orig_filename!r} could not be decompressed ({exc})."
        ) from exc


def safe_name(name: str, *, what: str, label: str | None = None, allow_dirs: bool = False) -> str:
    """The base name of ``name`` if it is a safe relative path; else refuse with ArchiveRefused."""
    where = f"{label} has a {what} named" if label else f"the {what} name"
    problem = None
    if "\0" in name:
        problem = "contains a NUL byte"
    elif "\\" in name:
        problem = "contains a backslash"
    elif name.startswith("/"):
        problem = "is an absolute path"
    elif _DRIVE.match(name):
        problem = "starts with a drive letter"
    elif ".." in name.split("/"):
        problem = "climbs out of its folder with '..'"
    elif not allow_dirs and "/" in name:
        problem = "contains a folder"
    if problem:
        raise ArchiveRefused(f"{where} {name!r}, which {problem}; it was refused as unsafe.")
    base = posixpath.basename(name.rstrip("/") if allow_dirs else name)
    if base in ("", ".") and not name.endswith("/"):
        raise ArchiveRefused(f"{where} {name!r}, which has no file name.")
    return base


def _write(dest: Path, blocks: Iterator[bytes], label: str | None = None) -> tuple[int, str]:
    """Write ``blocks`` to a new file, hashing as it goes; on any failure the file is removed."""
    try:
        fout = dest.open("xb")
    except FileExistsError as exc:
        raise ArchiveRefused(
            f"{label or 'the file'} would overwrite {dest.name!r}, which already exists where "
            "files are unpacked."
        ) from exc
    except OSError as exc:
        raise StorageError(f"could not create {dest.name!r} for unpacking: {exc}") from exc
    size = 0
    digest = hashlib.sha256()
    try:
        with fout:
            for block in blocks:
                fout.write(block)
                digest.update(block)
                size += len(block)
    except BaseException as exc:
        dest.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StorageError(f"could not write {dest.name!r} while unpacking: {exc}") from exc
        raise
    return size, digest.hexdigest()


def _size(n: int) -> str:
    """A byte count as an ops person reads it (2 GiB, 50 MiB, 300 KiB)."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):g} {unit}"
    return f"{n} bytes"
