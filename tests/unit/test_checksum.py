"""Sidecar parsing and checksum comparison."""

from __future__ import annotations

import hashlib

import pytest

from bankfeeds.core.errors import ChecksumMismatch
from bankfeeds.transports.checksum import parse_sidecar, verify

H = hashlib.sha256(b"hello").hexdigest()
NAME = "AXIS_RECON_20250307.csv"


@pytest.mark.parametrize(
    "content",
    [
        f"{H}  {NAME}\n",
        f"{H} *{NAME}\n",
        f"{H}\n",
        H,
        f"  {H}  {NAME}  \r\n",
        f"{H.upper()}  {NAME}",
        f"{H}  /home/bank/out/{NAME}\n",
        f"{H}  {NAME}\n{H}  {NAME}\n",
        f"\ufeff{H}  {NAME}\n",
        f"\n\n{H}\n\n",
        f"{H}\t{NAME}",
    ],
)
def test_accepts_sha256sum_forms(content: str) -> None:
    assert parse_sidecar(content.encode(), NAME) == H


def test_compares_basenames_of_the_expected_name_too() -> None:
    assert parse_sidecar(f"{H}  {NAME}".encode(), f"/upload/{NAME}") == H


def test_sidecar_for_another_file() -> None:
    with pytest.raises(ChecksumMismatch) as caught:
        parse_sidecar(f"{H}  OTHER.csv\n".encode(), NAME)
    assert "OTHER.csv" in caught.value.message
    assert NAME in caught.value.message


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"   \r\n\n",
        b"not-a-hash  file.csv",
        (H[:-1] + "  " + NAME).encode(),
        (H + "0  " + NAME).encode(),
        ("g" * 64).encode(),
        f"{H}  {NAME}\n{hashlib.sha256(b'x').hexdigest()}  {NAME}\n".encode(),
        b"\xff\xfe\x00garbage",
        ("md5:" + H).encode(),
    ],
)
def test_rejects_what_is_not_a_sha256_sidecar(content: bytes) -> None:
    with pytest.raises(ChecksumMismatch) as caught:
        parse_sidecar(content, NAME)
    assert "is not a SHA-256" in caught.value.message
    assert NAME in caught.value.message


def test_verify_accepts_equal_hashes_in_any_case() -> None:
    verify(H, H.upper(), NAME)


def test_verify_names_both_hashes_and_the_file() -> None:
    other = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(ChecksumMismatch) as caught:
        verify(other, H, NAME)
    message = caught.value.message
    assert NAME in message
    assert other[:12] in message
    assert H[:12] in message
    assert other not in message  # short forms, readable in an alert
