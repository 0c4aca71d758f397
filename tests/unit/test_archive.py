"""Unpacking gzip and zip files: real archives made here, bombs and unsafe names refused."""

from __future__ import annotations

import gzip
import hashlib
import stat
import struct
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from bankfeeds.core.errors import ArchiveRefused
from bankfeeds.ingest.archive import Member, gunzip, unzip

MIB = 1 << 20
GIB = 1 << 30
CAP = 2 * GIB
RATIO = 200.0
CSV = b"txn_id,amount\n" + b"".join(b"T%05d,%d.00\n" % (i, i * 7 % 1000) for i in range(5000))


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """The folder archives are unpacked into."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _check(member: Member, name: str, data: bytes) -> None:
    assert member.name == name
    assert member.path.read_bytes() == data
    assert member.size == len(data)
    assert member.sha256 == hashlib.sha256(data).hexdigest()


def _peak_mib(call: Callable[[], object]) -> float:
    """Peak Python heap growth in MiB while ``call`` runs (it is expected to raise)."""
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveRefused) as caught:
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code == "archive-refused"
    assert not caught.value.retryable
    return peak / MIB


def _zeros_gz_member() -> bytes:
    """One gzip member holding 1 MiB of zeros (about 1 KiB)."""
    return gzip.compress(bytes(MIB), compresslevel=9, mtime=0)


def _zeros_deflate(mib: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``mib`` MiB of zeros, made without holding them, and its CRC-32."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    # After a full flush the compressor forgets its history, so the segment can be repeated.
    segment = c.compress(bytes(MIB)) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    zero = bytes(MIB)
    for _ in range(mib):
        crc = zlib.crc32(zero, crc)
    return segment * mib + c.flush(), crc


def _raw_zip(
    path: Path,
    entries: list[tuple[bytes, bytes, int, int]],
    *,
    flags: int = 0,
) -> None:
    """Write a zip by hand from (name, deflate data, crc, declared size): headers can lie."""
    body = b""
    central = b""
    for name, data, crc, declared in entries:
        offset = len(body)
        body += struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, flags, 8, 0, 0x21, crc, len(data), declared,
            len(name), 0,
        ) + name + data  # fmt: skip
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 0x314, 20, flags, 8, 0, 0x21, crc, len(data), declared,
            len(name), 0, 0, 0, 0, (stat.S_IFREG | 0o644) << 16, offset,
        ) + name  # fmt: skip
    n = len(entries)
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(central), len(body), 0)
    path.write_bytes(body + central + eocd)


@pytest.fixture(scope="module")
def gib_of_zeros() -> tuple[bytes, int]:
    """Deflated 1 GiB of zeros (about 1 MiB) and its CRC, shared by the bomb tests."""
    return _zeros_deflate(1024)


# --- gzip ---------------------------------------------------------------------------------------


def test_gunzip_good_file(tmp_path: Path, out: Path) -> None:
    src = tmp_path / "AXIS_RECON_20250110.csv.gz"
    src.write_bytes(gzip.compress(CSV))
    member = gunzip(src, out, name=src.name, max_bytes=CAP, max_ratio=RATIO)
    _check(member, "AXIS_RECON_20250110.csv", CSV)
    assert member.path == out / "AXIS_RECON_20250110.csv"


def test_gunzip_multi_member_and_trailing_padding(tmp_path: Path, out: Path) -> None:
    src = tmp_path / "multi.CSV.GZ"
    parts = [CSV[:1000], CSV[1000:50_000], CSV[50_000:]]
    src.write_bytes(b"".join(gzip.compress(p) for p in parts) + bytes(512))
    _check(gunzip(src, out, name=src.name, max_bytes=CAP, max_ratio=RATIO), "multi.CSV", CSV)


def test_gunzip_large_file_streams_in_blocks(tmp_path: Path, out: Path) -> None:
    data = (CSV * 40)[: 5 * MIB + 123]  # several output blocks, well under the ratio
    src = tmp_path / "big.csv.gz"
    src.write_bytes(gzip.compress(data, compresslevel=1))
    _check(gunzip(src, out, name=src.name, max_bytes=CAP, max_ratio=RATIO), "big.csv", data)


def test_gunzip_bomb_refused_quickly_with_bounded_memory(tmp_path: Path, out: Path) -> None:
    src = tmp_path / "bomb.csv.gz"
    src.write_bytes(_zeros_gz_member() * 1024)  # 1 GiB of zeros in about 1 MiB
    started = time.monotonic()
    peak = _peak_mib(lambda: gunzip(src, out, name=src.name, max_bytes=50 * MIB, max_ratio=1e9))
    assert time.monotonic() - started < 30  # generous: stops after ~50 MiB, not 1 GiB
    assert peak < 64
    assert _files(out) == []


def test_gunzip_ratio_bomb_refused(tmp_path: Path, out: Path) -> None:
    src = tmp_path / "ratio.csv.gz"
    src.write_bytes(_zeros_gz_member() * 100)  # 100 MiB in about 100 KiB: ratio ~1000
    with pytest.raises(ArchiveRefused, match="200 times"):
        gunzip(src, out, name=src.name, max_bytes=CAP, max_ratio=RATIO)
    assert _files(out) == []


def test_small_highly_compressible_file_is_not_a_bomb(tmp_path: Path, out: Path) -> None:
    src = tmp_path / "blank.csv.gz"
    src.write_bytes(gzip.compress(bytes(512 * 1024)))  # ratio ~500 but only 512 KiB
    assert gunzip(src, out, name=src.name, max_bytes=CAP, max_ratio=RATIO).size == 512 * 1024


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b[:-10], "truncated"),
        (lambda b: b[: len(b) // 2], "truncated"),
        (lambda b: b[:5000] + bytes([b[5000] ^ 0xFF]) + b[5001:], "corrupt"),
        (lambda b: b + b"garbage after the end", "corrupt"),
        (lambda b: b"this is not gzip at all", "corrupt"),
        (lambda b: b"", "empty"),
    ],
    ids=["tail-cut", "half", "flipped-byte", "trailing-garbage", "not-gzip", "empty"],
)
def test_gunzip_damaged_files_refused(
    tmp_path: Path, out: Path, mangle: Callable[[bytes], bytes], message: str
) -> None:
    src = tmp_path / "damaged.csv.gz"
    src.write_bytes(mangle(gzip.compress(CSV * 3)))
    with pytest.raises(ArchiveRefused, match=message):
        gunzip(src, out, name=src.name, max_bytes=CAP, max_ratio=RATIO)
    assert _files(out) == []


@pytest.mark.parametrize("name", ["../evil.csv.gz", "/etc/passwd.gz", "a\\b.gz", ".gz", "x/y.gz"])
def test_gunzip_unsafe_output_names_refused(tmp_path: Path, out: Path, name: str) -> None:
    src = tmp_path / "f.gz"
    src.write_bytes(gzip.compress(CSV))
    with pytest.raises(ArchiveRefused):
        gunzip(src, out, name=name, max_bytes=CAP, max_ratio=RATIO)
    assert _files(out) == [] and _files(tmp_path) == ["f.gz", "out"]


# --- zip ----------------------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_unzip_three_members_directories_skipped_nested_kept(tmp_path: Path, out: Path) -> None:
    inner = _zip(tmp_path / "inner.zip", {"x.csv": CSV}).read_bytes()
    src = tmp_path / "day.zip"
    with zipfile.ZipFile(src, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("AXIS_RECON_20250110.csv", CSV)
        zf.mkdir("reports")
        zf.writestr("reports/HDFC_TXN_20250110.csv", CSV[:777])
        zf.writestr("__MACOSX/reports/._HDFC_TXN_20250110.csv", b"\0\5\26\7resource fork")
        zf.writestr(zipfile.ZipInfo("nested.zip"), inner)  # stored: kept as it is
    members = unzip(src, out, max_bytes=CAP, max_ratio=RATIO)
    assert [m.name for m in members] == [
        "AXIS_RECON_20250110.csv",
        "HDFC_TXN_20250110.csv",
        "nested.zip",
    ]
    _check(members[0], "AXIS_RECON_20250110.csv", CSV)
    _check(members[1], "HDFC_TXN_20250110.csv", CSV[:777])
    _check(members[2], "nested.zip", inner)
    assert _files(out) == ["AXIS_RECON_20250110.csv", "HDFC_TXN_20250110.csv", "nested.zip"]


def test_unzip_bomb_refused_by_declared_size(
    tmp_path: Path, out: Path, gib_of_zeros: tuple[bytes, int]
) -> None:
    data, crc = gib_of_zeros
    src = tmp_path / "bomb.zip"
    _raw_zip(src, [(b"zeros.csv", data, crc, GIB)])
    started = time.monotonic()
    peak = _peak_mib(lambda: unzip(src, out, max_bytes=50 * MIB, max_ratio=RATIO))
    assert time.monotonic() - started < 30
    assert peak < 64
    assert _files(out) == []


def test_unzip_bomb_with_lying_header_refused_with_bounded_memory(
    tmp_path: Path, out: Path, gib_of_zeros: tuple[bytes, int]
) -> None:
    data, crc = gib_of_zeros
    src = tmp_path / "liar.zip"
    _raw_zip(src, [(b"zeros.csv", data, crc, 10 * MIB)])  # claims 10 MiB, holds 1 GiB
    peak = _peak_mib(lambda: unzip(src, out, max_bytes=50 * MIB, max_ratio=1e9))
    assert peak < 64
    assert _files(out) == []


def test_unzip_ratio_bomb_refused_after_good_members_removed(tmp_path: Path, out: Path) -> None:
    data, crc = _zeros_deflate(100)  # 100 MiB in about 100 KiB
    good = zlib.compressobj(6, zlib.DEFLATED, -15)
    csv = good.compress(CSV) + good.flush()
    src = tmp_path / "ratio.zip"
    _raw_zip(
        src,
        [(b"a.csv", csv, zlib.crc32(CSV), len(CSV)), (b"b.csv", csv, zlib.crc32(CSV), len(CSV)),
         (b"c.csv", data, crc, 100 * MIB)],
    )  # fmt: skip
    peak = _peak_mib(lambda: unzip(src, out, max_bytes=CAP, max_ratio=RATIO))
    assert peak < 64
    assert _files(out) == []


@pytest.mark.parametrize(
    "name",
    ["../evil.csv", "/etc/passwd", "a\\..\\b", "C:/x.csv", "c:x.csv", "ok/../../evil.csv", "x/.."],
)
def test_unzip_slip_names_refused(tmp_path: Path, out: Path, name: str) -> None:
    src = _zip(tmp_path / "slip.zip", {"fine.csv": CSV, name: b"owned"})
    with pytest.raises(ArchiveRefused, match="unsafe"):
        unzip(src, out, max_bytes=CAP, max_ratio=RATIO)
    assert _files(out) == []
    assert not (tmp_path / "evil.csv").exists()


def test_unzip_nul_in_name_refused(tmp_path: Path, out: Path) -> None:
    body = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = body.compress(CSV) + body.flush()
    src = tmp_path / "nul.zip"
    _raw_zip(src, [(b"report.csv\0.exe", data, zlib.crc32(CSV), len(CSV))])
    with pytest.raises(ArchiveRefused, match="NUL"):
        unzip(src, out, max_bytes=CAP, max_ratio=RATIO)
    assert _files(out) == []


def test_unzip_symlink_member_refused(tmp_path: Path, out: Path) -> None:
    src = tmp_path / "link.zip"
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("fine.csv", CSV)
        link = zipfile.ZipInfo("passwd.csv")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(ArchiveRefused, match="symbolic link"):
        unzip(src, out, max_bytes=CAP, max_ratio=RATIO)
    assert _files(out) == []


@pytest.mark.parametrize(
    "names", [("a/x.csv", "b/x.csv"), ("x.csv", "X.CSV"), ("x.csv", "./x.csv")]
)
def test_unzip_duplicate_base_names_refused(
    tmp_path: Path, out: Path, names: tuple[str, str]
) -> None:
    src = _zip(tmp_path / "dup.zip", {names[0]: CSV, names[1]: b"other"})
    with pytest.raises(ArchiveRefused, match="two files named"):
        unzip(src, out, max_bytes=CAP, max_ratio=RATIO)
    assert _files(out) == []


def test_unzip_encrypted_member_refused(tmp_path: Path, out: Path) -> None:
    body = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = body.compress(CSV) + body.flush()
    src = tmp_path / "secret.zip"
    _raw_zip(src, [(b"secret.csv", data, zlib.crc32(CSV), len(CSV))], flags=0x1)
    with pytest.raises(ArchiveRefused, match="encrypted"):
        unzip(src, out, max_bytes=CAP, max_ratio=RATIO)
    assert _files(out) == []


def test_unzip_too_many_members_refused(tmp_path: Path, out: Path) -> None:
    src = _zip(tmp_path / "many.zip", {f"f{i}.csv": b"x" for i in range(6)})
    with pytest.raises(ArchiveRefused, match="6 entries, more than the 5"):
        unzip(src, out, max_bytes=CAP, max_ratio=RATIO, max_members=5)
    assert _files(out) == []


def test_unzip_total_cap_across_members(tmp_path: Path, out: Path) -> None:
    src = _zip(tmp_path / "two.zip", {"a.csv": CSV, "b.csv": CSV})
    with pytest.raises(ArchiveRefused, match="limit"):
        unzip(src, out, max_bytes=len(CSV) + 10, max_ratio=RATIO)
    assert _files(out) == []


@pytest.mark.parametrize(
    "mangle",
    [lambda b: b[: len(b) // 2], lambda b: b"not a zip", lambda b: b""],
    ids=["truncated", "not-zip", "empty"],
)
def test_unzip_unreadable_archives_refused(
    tmp_path: Path, out: Path, mangle: Callable[[bytes], bytes]
) -> None:
    good = _zip(tmp_path / "good.zip", {"a.csv": CSV}).read_bytes()
    src = tmp_path / "bad.zip"
    src.write_bytes(mangle(good))
    with pytest.raises(ArchiveRefused, match="not a readable zip"):
        unzip(src, out, max_bytes=CAP, max_ratio=RATIO)
    assert _files(out) == []


def test_unzip_corrupt_member_refused(tmp_path: Path, out: Path) -> None:
    good = bytearray(_zip(tmp_path / "good.zip", {"a.csv": CSV * 3}).read_bytes())
    good[200] ^= 0xFF  # inside the compressed data
    src = tmp_path / "bad.zip"
    src.write_bytes(bytes(good))
    with pytest.raises(ArchiveRefused, match="could not be decompressed"):
        unzip(src, out, max_bytes=CAP, max_ratio=RATIO)
    assert _files(out) == []


def test_existing_file_is_not_overwritten_or_removed(tmp_path: Path, out: Path) -> None:
    (out / "a.csv").write_bytes(b"keep me")
    src = _zip(tmp_path / "day.zip", {"a.csv": CSV})
    with pytest.raises(ArchiveRefused, match="already exists"):
        unzip(src, out, max_bytes=CAP, max_ratio=RATIO)
    assert (out / "a.csv").read_bytes() == b"keep me"
