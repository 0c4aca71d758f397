"""The sandbox bank API end to end: generated files served over HTTP and fetched by the source."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from bankfeeds.connectors.sources import http_params_from
from bankfeeds.core.errors import ApiRefused
from bankfeeds.sandbox.bank_api import run_bank_api
from bankfeeds.sandbox.generate import generate_day
from bankfeeds.transports.http.source import ApiDelivery, HttpParams, open_http

DAY = date(2025, 1, 10)
TOKEN = "demo-bank-token"


@dataclass(frozen=True)
class Demo:
    """The running sandbox bank API and the AXIS file it serves."""

    url: str
    file: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("bank-files")
    [axis, _pg] = generate_day(root, DAY, providers=("AXIS",), rows=45)
    server = run_bank_api(root, TOKEN, 0, provider="AXIS", page_size=20)
    try:
        yield Demo(server.url, axis)
    finally:
        server.stop()


def params(demo: Demo, endpoint: str, **changes: object) -> HttpParams:
    config = {"baseUrl": demo.url, "endpoint": endpoint, "authType": "bearer",
              "queryParams": {"date": "{cycleDate}"}, **changes}  # fmt: skip
    return http_params_from(
        config, {"token": TOKEN}, allow_hosts=frozenset({"127.0.0.1"}), max_bytes=1 << 24
    )


async def fetch(p: HttpParams, staging: Path, day: date = DAY) -> ApiDelivery:
    staging.mkdir(exist_ok=True)
    async with open_http(p) as source:
        return await source.fetch_day(day, staging)


async def test_json_pages_reassemble_the_bank_file(demo: Demo, tmp_path: Path) -> None:
    p = params(demo, "/v1/settlements", responseFormat="json", pagination="cursor",
               recordsPath="data", cursorField="next")  # fmt: skip
    got = await fetch(p, tmp_path / "s")
    assert got.name == "settlements_20250110.csv"
    assert len(got.pages) == 3  # 45 rows, 20 a page
    assert [pg.checksum_source for pg in got.pages] == ["Repr-Digest"] * 3
    assert got.checksum_mismatches == []
    original = list(csv.DictReader(io.StringIO(demo.file.read_text())))
    assert list(csv.DictReader(io.StringIO(got.path.read_text()))) == original


async def test_the_csv_download_carries_a_digest_and_a_sidecar(demo: Demo, tmp_path: Path) -> None:
    p = params(demo, "/v1/settlements.csv")
    got = await fetch(p, tmp_path / "s")
    assert got.path.read_bytes() == demo.file.read_bytes()
    assert got.pages[0].checksum_source == "Digest"
    assert got.checksum_mismatches == []
    with_sidecar = params(
        demo, "/v1/settlements.csv", sidecarUrl="/v1/settlements.csv.sha256?date={cycleDate}"
    )
    checked = await fetch(with_sidecar, tmp_path / "t")
    assert checked.pages[0].checksum_source == "sidecar"
    assert checked.pages[0].expected_sha256 == checked.sha256


async def test_a_missing_token_is_refused(demo: Demo, tmp_path: Path) -> None:
    p = HttpParams(
        base_url=demo.url,
        endpoint="/v1/settlements.csv?date={cycleDate}",
        allow_hosts=frozenset({"127.0.0.1"}),
    )
    with pytest.raises(ApiRefused, match="HTTP 401: A valid bearer token is required"):
        await fetch(p, tmp_path / "s")


async def test_a_day_without_a_file_is_no_data_with_the_banks_reason(
    demo: Demo, tmp_path: Path
) -> None:
    got = await fetch(params(demo, "/v1/settlements.csv"), tmp_path / "s", date(2025, 1, 11))
    assert got.no_data is not None and got.pages == [] and got.size == 0
    assert "HTTP 404: No AXIS settlement file for 2025-01-11 yet." in got.no_data
