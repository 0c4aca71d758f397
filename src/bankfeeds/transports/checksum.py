"""SHA-256 sidecar parsing and comparison; pure, no I/O."""

from __future__ import annotations

import re
from typing import Final

from bankfeeds.core.errors import ChecksumMismatch

_HEX64: Final = re.compile(r"[0-9a-fA-F]{64}")
#: ``sha256sum`` output: hash, one space, then a space (text mode) or ``*`` (binary mode), name.
_LINE: Final = re.compile(r"(?P<hex>\S+)(?:\s(?P<mode>[ *])?(?P<name>.*))?")


def _basename(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _not_sha256(expected_name: str, why: str) -> ChecksumMismatch:
    return ChecksumMismatch(
        f"The sidecar for {expected_name} is not a SHA-256 checksum file ({why})."
    )


def _parse_line(line: str, expected_name: str) -> str:
    """Return the lower-case hash of one sidecar line, checking the file name it gives."""
    found = _LINE.fullmatch(line)
    if found is None or _HEX64.fullmatch(found["hex"]) is None:
        raise _not_sha256(expected_name, "expected 64 hexadecimal characters")
    named = (found["name"] or "").strip()
    if named and _basename(named) != _basename(expected_name):
        raise ChecksumMismatch(
            f"The sidecar for {expected_name} gives the checksum of {named} instead; "
            "the bank may have uploaded the wrong sidecar."
        )
    return found["hex"].lower()


def parse_sidecar(content: bytes, expected_name: str) -> str:
    """Return the lower-case SHA-256 hex a ``.sha256`` sidecar gives for ``expected_name``."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _not_sha256(expected_name, "it is not text") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise _not_sha256(expected_name, "it is empty")
    hashes = {_parse_line(line, expected_name) for line in lines}
    if len(hashes) > 1:
        raise _not_sha256(expected_name, "it lists several different checksums")
    return hashes.pop()


def short(hex_digest: str) -> str:
    """The first 12 hex characters of a digest, enough for a person to compare."""
    return hex_digest[:12]


def verify(actual_hex: str, expected_hex: str, name: str) -> None:
    """Raise ChecksumMismatch unless the computed SHA-256 equals the sidecar's."""
    if actual_hex.lower() != expected_hex.lower():
        raise ChecksumMismatch(
            f"{name} has SHA-256 {short(actual_hex.lower())}… but its sidecar says "
            f"{short(expected_hex.lower())}…; the file was altered or cut short."
        )
