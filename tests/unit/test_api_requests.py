"""API connector requests: date tokens, Link headers, JSON paths, digests, Retry-After."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, date, datetime

import pytest

from bankfeeds.core.errors import ChecksumMismatch, ConfigError, ParseError
from bankfeeds.transports.http.requests import (
    build_url,
    checksum_header_sha256,
    cursor_value,
    day_file_name,
    digest_sha256,
    json_path,
    next_link,
    render_path,
    render_tokens,
    retry_after_seconds,
    with_query_param,
)

DAY = date(2025, 1, 10)
BODY = b"TXNID,AMT\nT1,1.00\n"
HEX = hashlib.sha256(BODY).hexdigest()
B64 = base64.b64encode(hashlib.sha256(BODY).digest()).decode()


def test_tokens_render_iso_and_strftime() -> None:
    assert render_tokens("{cycleDate}/{cycleDate:%d%m%Y}", DAY) == "2025-01-10/10012025"


def test_token_values_are_encoded_when_asked() -> None:
    assert render_tokens("{cycleDate:%d %b/%Y}", DAY, encode=True) == "10%20Jan%2F2025"


def test_unknown_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Unknown token"):
        render_tokens("/v1/{date}", DAY)


def test_build_url_joins_base_path_and_query() -> None:
    url = build_url(
        "https://api.bank.example/v2/",
        "/settlements/{cycleDate:%Y%m%d}?fmt=csv",
        {"date": "{cycleDate}", "merchant id": "a&b=c"},
        DAY,
    )
    assert url == (
        "https://api.bank.example/v2/settlements/20250110"
        "?fmt=csv&date=2025-01-10&merchant%20id=a%26b%3Dc"
    )


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://evil.example/x",
        "//evil.example/x",
        "/v1/../admin",
        "/v1/%2e%2e/admin",
        "file:///etc/passwd",
        "/v1\\..\\x",
        "/v1/./x",
    ],
)
def test_paths_that_escape_the_base_are_refused(endpoint: str) -> None:
    with pytest.raises(ConfigError):
        render_path(endpoint, DAY)


def test_with_query_param_replaces_an_existing_value() -> None:
    url = with_query_param("https://h/x?date=2025-01-10&cursor=a", "cursor", "b c")
    assert url == "https://h/x?date=2025-01-10&cursor=b%20c"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('<https://h/x?page=2>; rel="next"', "https://h/x?page=2"),
        ('</x?page=1>; rel="prev", </x?page=3>; rel="next"', "https://h/x?page=3"),
        ('<https://h/x?a=1,2>; title="a, b; c"; rel="last next"', "https://h/x?a=1,2"),
        ("<page2>; REL=next", "https://h/api/page2"),
        ('</x?page=1>; rel="prev"', None),
        ("", None),
        ("garbage", None),
    ],
)
def test_next_link(header: str, expected: str | None) -> None:
    assert next_link(header, "https://h/api/list?page=2") == expected


def test_json_path_walks_objects_and_arrays() -> None:
    doc = {"data": {"items": [{"id": 1}, {"id": 2}]}}
    assert json_path(doc, "data.items.1.id") == 2
    with pytest.raises(ParseError, match="stopped at 'missing'"):
        json_path(doc, "data.missing")


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"meta": {"next": "abc"}}, "abc"),
        ({"meta": {"next": 7}}, "7"),
        ({"meta": {"next": None}}, None),
        ({"meta": {"next": ""}}, None),
        ({"meta": {}}, None),
    ],
)
def test_cursor_value_is_none_on_the_last_page(doc: object, expected: str | None) -> None:
    assert cursor_value(doc, "meta.next") == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Digest", f"sha-256={B64}"),
        ("Digest", f"SHA-512=abc, SHA-256={B64}"),
        ("Repr-Digest", f"sha-256=:{B64}:"),
        ("Repr-Digest", f"sha-512=:AAAA:, sha-256=:{B64}:"),
        ("Content-Digest", f"sha-256=:{B64}:"),
    ],
)
def test_digest_headers_give_hex(name: str, value: str) -> None:
    assert digest_sha256(name, value) == HEX


def test_digest_without_sha256_is_absent_and_a_bad_one_is_refused() -> None:
    assert digest_sha256("Digest", "md5=abc") is None
    assert digest_sha256("Digest", None) is None
    with pytest.raises(ChecksumMismatch, match="not valid"):
        digest_sha256("Repr-Digest", "sha-256=:bm90IDMyIGJ5dGVz:")


@pytest.mark.parametrize("value", [HEX, HEX.upper(), B64, f"sha-256=:{B64}:"])
def test_checksum_header_accepts_hex_or_base64(value: str) -> None:
    assert checksum_header_sha256("X-Checksum-SHA256", value) == HEX


def test_retry_after_seconds_and_dates() -> None:
    now = datetime(2025, 1, 10, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("3", now) == 3.0
    assert retry_after_seconds("Fri, 10 Jan 2025 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Fri, 10 Jan 2025 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


@pytest.mark.parametrize(
    ("endpoint", "name"),
    [
        ("/v1/settlements", "settlements_20250110.csv"),
        ("/v1/settlements.json?date={cycleDate}", "settlements_20250110.csv"),
        ("/files/AXIS_{cycleDate:%Y%m%d}.csv", "AXIS_20250110.csv"),
        ("/v1/r\u00e9sum\u00e9 (1)", "r_sum_1_20250110.csv"),
        ("", "api_20250110.csv"),
        ("/../..", "api_20250110.csv"),
    ],
)
def test_day_file_name_is_stable_and_safe(endpoint: str, name: str) -> None:
    assert day_file_name(endpoint, DAY) == name
