"""The one redaction function: every spelling of a secret, and credential-like header values."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from bankfeeds.core.redact import MASK, redact, secret_values

SECRET = "tok-S3cret/+=\nX-Evil: 1"


@pytest.mark.parametrize(
    "spelling",
    [
        SECRET,
        repr(SECRET)[1:-1],
        repr(SECRET.encode())[2:-1],
        quote(SECRET, safe=""),
        "tok-S3cret/+= X-Evil: 1",
        "tok-S3cret/+=",
    ],
)
def test_every_spelling_of_a_secret_is_masked(spelling: str) -> None:
    assert redact(f"failed: {spelling}.", [SECRET]) == f"failed: {MASK}."


def test_header_values_are_masked_without_knowing_them() -> None:
    pair = base64.b64encode(b"user:pw").decode()
    text = (
        "Authorization: Bearer abcdefgh12345 / Basic "
        f"{pair} / x-api-key: k123 / client_secret=s9 / Basic authentication failed"
    )
    assert redact(text) == (
        f"Authorization: {MASK} / Basic {MASK} / x-api-key: {MASK} / client_secret={MASK} "
        "/ Basic authentication failed"
    )


def test_plain_prose_is_left_alone() -> None:
    text = "token expired for merchant 42; check the connector's credentials."
    assert redact(text, ["unrelated-secret"]) == text


def test_secret_values_include_headers_and_the_basic_pair() -> None:
    values = secret_values({"password": "pw-1234", "headers": "{}"}, {"X-A": "hv-1"}, "user")
    assert values == ("pw-1234", "hv-1", base64.b64encode(b"user:pw-1234").decode())
