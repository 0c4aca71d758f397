"""Public identifiers (``conn_1``, ``run_7``) and opaque list cursors."""

from __future__ import annotations

import base64
import binascii
import re

from bankfeeds.errors import FieldError, NotFound, ValidationFailed

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


def decode_cursor(cursor: str) -> int:
    """The primary key a cursor resumes after."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        if prefix != "after":
            raise ValueError(prefix)
        return int(value)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise ValidationFailed(
            errors=[FieldError("cursor", "is not a cursor returned by this API")]
        ) from exc
