"""Public identifiers (``conn_1``, ``run_7``) and opaque list cursors."""

from __future__ import annotations

import base64
import binascii
import re

from bankfeeds.core.errors import FieldError, NotFound, ValidationFailed

PREFIXES = {
    "connector": "conn",
    "run": "run",
    "file": "file",
    "job": "job",
    "exception": "exc",
    "token": "tok",
}


def public_id(kind: str, pk: int) -> str:
    """The public id of row ``pk`` of ``kind``."""
    return f"{PREFIXES[kind]}_{pk}"


def parse_id(kind: str, value: str) -> int:
    """The primary key behind a public id; NotFound when it is not one of ours."""
    match = re.fullmatch(rf"{PREFIXES[kind]}_([1-9][0-9]{{0,17}})", value)
    if match is None:
        raise NotFound(f"No {kind} with id {value!r}.")
    return int(match.group(1))


def encode_cursor(last_pk: int) -> str:
    """An opaque cursor that resumes a list after ``last_pk``."""
    return base64.urlsafe_b64encode(f"after:{last_pk}".encode()).decode().rstrip("=")


# The largest primary key a cursor may carry: a signed 64-bit BIGINT, as both databases store it.
MAX_PK = 2**63 - 1
# A cursor is at most "after:" and 19 digits, base64 without padding: 34 characters.
_CURSOR_CHARS = 40
_CURSOR_TEXT = re.compile(r"after:([1-9][0-9]{0,18})")


def decode_cursor(cursor: str) -> int:
    """The primary key a cursor resumes after; 422 naming ``cursor`` unless we issued it."""
    pk: int | None = None
    # Bound before decoding, so a megabyte of base64 costs nothing; canonical only (the exact
    # spelling encode_cursor gives), so one position has one cursor.
    if len(cursor) <= _CURSOR_CHARS:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raw = ""
        match = _CURSOR_TEXT.fullmatch(raw)
        if match is not None and int(match.group(1)) <= MAX_PK:
            pk = int(match.group(1))
    if pk is None or encode_cursor(pk) != cursor.rstrip("="):
        raise ValidationFailed(
            errors=[FieldError("cursor", "is not a cursor returned by this API")]
        )
    return pk
