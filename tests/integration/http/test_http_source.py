"""The HTTP API source against a real local bank: formats, paging, checksums, errors, caps."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tests.integration.http.conftest import Bank
from tests.support.http_bank import (
    API_KEY,
    CSV_BODY,
    CSV_SHA,
    PASSWORD,
    TOKEN,
    USER,
    create_test_bank,
    make_tls,
    serve_tls,
)

from bankfeeds.connectors.sources import http_params_from
from bankfeeds.core.errors import (
    ApiProtocolError,
    ApiRateLimited,
    ApiRefused,
    ApiUnavailable,
    ChecksumMismatch,
    ConfigError,
    ResponseTooLarge,
    UnsafeTarget,
)
from bankfeeds.transports.http.source import ApiDelivery, HttpParams, check_reachable, open_http

DAY = date(2025, 1, 10)


async def fetch(params: HttpParams, staging: Path) -> ApiDelivery:
    staging.mkdir(exist_ok=True)
    async with open_http(params) as source:
        return await source.fetch_day(DAY, staging)


def staged(staging: Path) -> list[str]:
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


async def test_a_csv_response_is_the_delivered_file(bank: Bank, tmp_path: Path) -> None:
    sizes: list[int] = []
    params = bank.params("/csv", query_params={"date": "{cycleDate:%d/%m/%Y}"})
    async with open_http(params) as source:
        got = await source.fetch_day(DAY, tmp_path, sizes.append)
    assert got.name == "csv_20250110.csv"
    assert got.path == tmp_path / got.name
    assert got.path.read_bytes() == CSV_BODY
    assert (got.sha256, got.size) == (CSV_SHA, len(CSV_BODY))
    [page] = got.pages
    assert (page.path, page.sha256, page.status) == (got.path, CSV_SHA, 200)
    assert (page.expected_sha256, page.checksum_source) == (CSV_SHA, "Digest")
    assert got.checksum_mismatches == []
    assert sizes[-1] == len(CSV_BODY)
    assert "date=10%2F01%2F2025" in page.url


@pytest.mark.parametrize(
    ("check", "source"),
    [("digest", "Digest"), ("repr", "Repr-Digest"), ("header", "X-Checksum-SHA256")],
)
@pytest.mark.parametrize("wrong", [0, 1])
async def test_server_checksums_are_reported_not_enforced(
    bank: Bank, tmp_path: Path, check: str, source: str, wrong: int
) -> None:
    params = bank.params(f"/csv?check={check}&wrong={wrong}", checksum_header="X-Checksum-SHA256")
    got = await fetch(params, tmp_path / "s")
    [page] = got.pages
    assert page.checksum_source == source
    assert page.sha256 == CSV_SHA
    assert (page.expected_sha256 == CSV_SHA) is (not wrong)
    assert got.checksum_mismatches == ([page] if wrong else [])


async def test_no_checksum_means_nothing_expected(bank: Bank, tmp_path: Path) -> None:
    got = await fetch(bank.params("/csv?check=none"), tmp_path / "s")
    assert (got.pages[0].expected_sha256, got.pages[0].checksum_source) == (None, None)


@pytest.mark.parametrize("wrong", [0, 1])
async def test_a_sidecar_url_gives_the_expected_checksum(
    bank: Bank, tmp_path: Path, wrong: int
) -> None:
    params = bank.params("/csv?check=none", sidecar_url=f"/csv.sha256?wrong={wrong}")
    got = await fetch(params, tmp_path / "s")
    [page] = got.pages
    assert page.checksum_source == "sidecar"
    assert (page.expected_sha256 == CSV_SHA) is (not wrong)


async def test_a_sidecar_for_another_file_is_refused(bank: Bank, tmp_path: Path) -> None:
    params = bank.params("/csv", sidecar_url="/csv.sha256?name=OTHER.csv")
    with pytest.raises(ChecksumMismatch, match=r"OTHER\.csv"):
        await fetch(params, tmp_path / "s")
    assert staged(tmp_path / "s") == []


async def test_csv_pages_via_link_headers_keep_one_header(bank: Bank, tmp_path: Path) -> None:
    got = await fetch(bank.params("/csv/link", pagination="link"), tmp_path / "s")
    assert got.path.read_bytes() == b"ID,AMT\nT1,1\nT2,2\nT3,3\nT4,4\n"
    assert len(got.pages) == 3
    assert got.sha256 == hashlib.sha256(got.path.read_bytes()).hexdigest()
    assert [p.url.rsplit("=", 1)[-1] for p in got.pages[1:]] == ["2", "3"]


async def test_json_pages_via_link_become_one_csv(bank: Bank, tmp_path: Path) -> None:
    got = await fetch(
        bank.params("/json/link", response_format="json", pagination="link"), tmp_path / "s"
    )
    assert got.path.read_text() == (
        'id,amount,note,meta\nT1,10.0,,\nT2,20.5,,\nT3,30,late,\nT4,40,,"{""k"":1}"\n'
    )
    assert [p.checksum_source for p in got.pages] == ["Repr-Digest"] * 3
    assert got.checksum_mismatches == []
    assert all(p.path.exists() and p.path != got.path for p in got.pages)


async def test_json_cursor_paging_with_a_records_path(bank: Bank, tmp_path: Path) -> None:
    params = bank.params(
        "/json/cursor",
        response_format="json",
        pagination="cursor",
        records_path="result.items",
        cursor_field="meta.next",
        query_params={"date": "{cycleDate}"},
    )
    got = await fetch(params, tmp_path / "s")
    assert got.path.read_text().splitlines()[1:] == ["T1,10.0,,", "T2,20.5,,", "T3,30,late,",
                                                    'T4,40,,"{""k"":1}"']  # fmt: skip
    cursors = [p.url.split("cursor=")[-1] if "cursor=" in p.url else None for p in got.pages]
    assert cursors == [None, "c2", "c3"]
    assert all("date=2025-01-10" in p.url for p in got.pages)


async def test_a_cursor_that_loops_is_refused(bank: Bank, tmp_path: Path) -> None:
    params = bank.params(
        "/json/cursor?loop=1", response_format="json", pagination="cursor",
        records_path="result.items", cursor_field="meta.next",
    )  # fmt: skip
    with pytest.raises(ApiProtocolError, match="lead back"):
        await fetch(params, tmp_path / "s")
    assert staged(tmp_path / "s") == []


async def test_more_pages_than_max_pages_is_refused(bank: Bank, tmp_path: Path) -> None:
    with pytest.raises(ApiProtocolError, match="more than 2 pages"):
        await fetch(bank.params("/csv/link", pagination="link", max_pages=2), tmp_path / "s")
    assert staged(tmp_path / "s") == []


async def test_xml_records_become_csv(bank: Bank, tmp_path: Path) -> None:
    got = await fetch(bank.params("/xml", response_format="xml"), tmp_path / "s")
    assert got.path.read_text() == "id,amount,utr\nT1,10.00,\nT2,20.00,U2\n"
    assert got.name == "xml_20250110.csv"


async def test_429_waits_for_retry_after_then_retries(bank: Bank, tmp_path: Path) -> None:
    started = time.monotonic()
    got = await fetch(bank.params("/limited?key=a"), tmp_path / "s")
    waited = time.monotonic() - started
    assert got.path.read_bytes() == CSV_BODY
    assert 0.9 <= waited < 15
    assert len(bank.seen("/limited?key=a")) == 2


async def test_429_asking_too_long_is_a_retryable_error(bank: Bank, tmp_path: Path) -> None:
    with pytest.raises(ApiRateLimited, match="3600") as caught:
        await fetch(bank.params("/limited?key=b&after=3600"), tmp_path / "s")
    assert caught.value.retryable
    assert caught.value.retry_after == 3600


async def test_500_is_retryable_and_a_second_attempt_succeeds(bank: Bank, tmp_path: Path) -> None:
    params = bank.params("/flaky?key=a")
    with pytest.raises(ApiUnavailable, match="HTTP 500: database down") as caught:
        await fetch(params, tmp_path / "s")
    assert caught.value.retryable
    assert caught.value.http_status == 500
    assert staged(tmp_path / "s") == []
    got = await fetch(params, tmp_path / "s")
    assert got.path.read_bytes() == CSV_BODY


@pytest.mark.parametrize("fmt", ["csv", "json"])
async def test_no_content_is_a_day_without_data(bank: Bank, tmp_path: Path, fmt: str) -> None:
    got = await fetch(bank.params("/empty", response_format=fmt), tmp_path / "s")
    assert got.no_data is not None and got.no_data.endswith("/empty sent nothing.")
    assert got.size == 0 and not got.path.exists()


async def test_4xx_is_refused_with_the_servers_message(bank: Bank, tmp_path: Path) -> None:
    with pytest.raises(ApiRefused, match="HTTP 403: token expired for merchant 42") as caught:
        await fetch(bank.params("/refuse"), tmp_path / "s")
    assert not caught.value.retryable
    # A 404 for the day is the bank saying it has nothing for it (a holiday), in its words.
    missing = (await fetch(bank.params("/missing"), tmp_path / "s")).no_data
    assert missing is not None and "HTTP 404: no such report" in missing
    said = missing.split("HTTP 404: ", 1)[1]
    assert len(said) <= 201


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("http://169.254.169.254/latest/meta-data", "plain http"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("http://10.0.0.1/", "plain http"),
        ("https://10.0.0.1/", "private"),
        ("https://0x7f000001/", "loopback"),
        ("file:///etc/passwd", "file:"),
    ],
)
async def test_a_redirect_to_a_private_address_is_refused(
    bank: Bank, tmp_path: Path, target: str, why: str
) -> None:
    params = bank.params("/redirect", query_params={"to": target})
    with pytest.raises(UnsafeTarget, match=why):
        await fetch(params, tmp_path / "s")
    assert staged(tmp_path / "s") == []


async def test_relative_redirects_are_followed_and_loops_refused(
    bank: Bank, tmp_path: Path
) -> None:
    got = await fetch(bank.params("/redirect", query_params={"to": "/csv"}), tmp_path / "s")
    assert got.path.read_bytes() == CSV_BODY
    assert got.pages[0].url.startswith(f"{bank.url}/csv")
    with pytest.raises(ApiProtocolError, match="more than 5 times"):
        await fetch(bank.params("/loop"), tmp_path / "t")


@pytest.mark.parametrize("announce", [0, 1])
async def test_a_huge_body_is_refused_at_the_cap(bank: Bank, tmp_path: Path, announce: int) -> None:
    params = bank.params(f"/huge?size={8 << 20}&announce={announce}", max_bytes=1 << 20)
    with pytest.raises(ResponseTooLarge, match="1,048,576-byte cap") as caught:
        await fetch(params, tmp_path / "s")
    assert not caught.value.retryable
    assert staged(tmp_path / "s") == []


async def test_a_body_at_the_cap_is_accepted(bank: Bank, tmp_path: Path) -> None:
    got = await fetch(bank.params("/huge?size=65536", max_bytes=65536), tmp_path / "s")
    assert got.size == 65536


@pytest.mark.parametrize(
    ("changes", "header", "value"),
    [
        ({"auth_type": "bearer", "token": TOKEN}, "authorization", f"Bearer {TOKEN}"),
        ({"auth_type": "apiKey", "api_key": API_KEY}, "x-api-key", API_KEY),
        ({"auth_type": "apiKey", "api_key": API_KEY, "api_key_header": "X-Bank-Key"},
         "x-bank-key", API_KEY),
        ({"auth_type": "basic", "username": USER, "password": PASSWORD}, "authorization",
         "Basic bWVyY2hhbnQ6cGE6c3M="),
    ],
)  # fmt: skip
async def test_credentials_reach_the_server(
    bank: Bank, tmp_path: Path, changes: dict[str, str], header: str, value: str
) -> None:
    marker = f"/auth?n={header}{len(changes)}"
    params = bank.params(marker, headers={"X-Merchant": "M1"}, **changes)
    got = await fetch(params, tmp_path / "s")
    assert got.path.read_bytes() == CSV_BODY
    [seen] = bank.seen(marker)
    assert seen[header] == value
    assert seen["x-merchant"] == "M1"
    assert seen["host"] == bank.url.removeprefix("http://")


async def test_wrong_credentials_are_refused_with_a_hint(bank: Bank, tmp_path: Path) -> None:
    params = bank.params("/auth", auth_type="bearer", token="not-the-token")
    with pytest.raises(ApiRefused, match=r"401: missing or wrong credentials.*credentials"):
        await fetch(params, tmp_path / "s")


async def test_credentials_are_not_sent_to_another_host(bank: Bank, tmp_path: Path) -> None:
    other = bank.url.replace("127.0.0.1", "localhost") + "/auth?n=cross"
    port = urlsplit(bank.url).port
    params = bank.params(
        "/redirect", query_params={"to": other}, auth_type="bearer", token=TOKEN,
        headers={"X-Client-Secret": "custom-s3cret"},
        # The other origin's port must be listed: a bare host allows only its default port.
        allow_hosts=frozenset({"127.0.0.1", f"localhost:{port}"}),
    )  # fmt: skip
    with pytest.raises(ApiRefused, match="401"):
        await fetch(params, tmp_path / "s")
    [seen] = bank.seen("/auth?n=cross")
    assert "authorization" not in seen
    assert "x-client-secret" not in seen


async def test_a_bare_allowlisted_host_is_not_followed_to_another_port(
    bank: Bank, tmp_path: Path
) -> None:
    port = urlsplit(bank.url).port
    other = bank.url.replace("127.0.0.1", "localhost") + "/auth?n=bare"
    params = bank.params(
        "/redirect", query_params={"to": other}, allow_hosts=frozenset({"127.0.0.1", "localhost"})
    )
    with pytest.raises(UnsafeTarget, match=f"localhost:{port}/auth"):
        await fetch(params, tmp_path / "s")
    assert bank.seen("/auth?n=bare") == []


async def test_secrets_stay_out_of_repr_and_logs(
    bank: Bank, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    params = bank.params("/auth?n=logs", auth_type="bearer", token=TOKEN)
    caplog.set_level(logging.DEBUG)
    await fetch(params, tmp_path / "s")
    assert TOKEN not in repr(params)
    assert TOKEN not in caplog.text
    assert all(TOKEN not in str(r.__dict__) for r in caplog.records)


async def test_a_silent_server_times_out_retryably(bank: Bank, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ApiUnavailable, match=r"did not answer within 0\.5 s") as caught:
        await fetch(bank.params("/slow", read_timeout=0.5), tmp_path / "s")
    assert caught.value.retryable
    assert time.monotonic() - started < 2.5


async def test_a_closed_port_is_unavailable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    params = HttpParams(
        base_url=f"http://127.0.0.1:{port}", endpoint="/x", allow_hosts=frozenset({"127.0.0.1"})
    )
    with pytest.raises(ApiUnavailable, match="Could not connect") as caught:
        await fetch(params, tmp_path / "s")
    assert caught.value.retryable


async def test_check_reachable_asks_for_yesterday(bank: Bank) -> None:
    summary = await check_reachable(
        bank.params("/csv", query_params={"date": "{cycleDate}"}), today=DAY
    )
    assert summary.startswith("127.0.0.1 (127.0.0.1) answered HTTP 200 for 2025-01-09 in ")
    assert bank.seen("/csv?date=2025-01-09")


async def test_https_connects_to_the_pinned_address_and_verifies_the_name(
    tmp_path: Path,
) -> None:
    tls = make_tls(tmp_path)
    app = create_test_bank()
    with serve_tls(app, tls) as port:
        params = HttpParams(
            base_url=f"https://localhost:{port}", endpoint="/csv",
            allow_hosts=frozenset({"localhost"}), ca_file=str(tls.cert),
        )  # fmt: skip
        got = await fetch(params, tmp_path / "ok")
        assert got.path.read_bytes() == CSV_BODY
        [(_, headers)] = app.state.seen
        assert headers["host"] == f"localhost:{port}"

        by_address = replace(
            params, base_url=f"https://127.0.0.1:{port}", allow_hosts=frozenset({"127.0.0.1"})
        )
        with pytest.raises(ApiProtocolError, match=r"certificate of 127\.0\.0\.1 was refused"):
            await fetch(by_address, tmp_path / "ip")
        with pytest.raises(ApiProtocolError, match="certificate of localhost was refused"):
            await fetch(replace(params, ca_file=None), tmp_path / "public")


def test_params_from_wire_config() -> None:
    config = {
        "baseUrl": "https://api.bank.example", "endpoint": "/v1/s", "authType": "apiKey",
        "apiKeyHeader": "X-Key", "headers": {"X-A": "1"}, "queryParams": {"d": "{cycleDate}"},
        "responseFormat": "json", "recordsPath": "data.items", "pagination": "cursor",
        "cursorField": "next", "cursorParam": "after", "checksumHeader": "X-Sum",
        "maxPages": 5, "recordTag": "row",
    }  # fmt: skip
    params = http_params_from(config, {"apiKey": "k"}, allow_hosts=frozenset({"x"}), max_bytes=10)
    assert (params.api_key, params.api_key_header, params.cursor_param) == ("k", "X-Key", "after")
    assert (params.max_pages, params.max_bytes, params.records_path) == (5, 10, "data.items")
    assert "'k'" not in repr(params)


@pytest.mark.parametrize(
    ("config", "secrets", "message"),
    [
        ({}, {}, "baseUrl is required"),
        ({"baseUrl": "https://h", "authType": "bearer"}, {}, "token is required when authType"),
        ({"baseUrl": "https://h", "authType": "basic", "username": "u"}, {}, "password is req"),
        ({"baseUrl": "https://h", "pagination": "cursor"}, {}, "cursorField is required"),
        (
            {"baseUrl": "https://h", "pagination": "cursor", "cursorField": "next"},
            {},
            "responseFormat must be 'json' when pagination is 'cursor'",
        ),
        ({"baseUrl": "https://h", "pagination": "link", "sidecarUrl": "/s"}, {}, "sidecarUrl"),
        ({"baseUrl": "https://h", "headers": {"Host": "evil"}}, {}, "headers.Host frames"),
        ({"baseUrl": "https://h", "queryParams": {"d": "{day}"}}, {}, "unknown token"),
        ({"baseUrl": "https://h", "maxPages": 0}, {}, "maxPages must be at least 1"),
        ({"baseUrl": "https://h", "port": 22}, {}, "port applies to SFTP connectors only"),
    ],
)
def test_unusable_configs_are_refused(
    config: dict[str, object], secrets: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        http_params_from(config, secrets, allow_hosts=frozenset())
