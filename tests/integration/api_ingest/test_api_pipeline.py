"""API connectors end to end: a real bank API on loopback, through the same pipeline as SFTP."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.support.http_bank import create_test_bank
from tests.support.moto_s3 import REGION, MotoS3, fake_credentials, new_bucket
from tests.support.pipeline import run_once
from tests.support.server import serve

from bankfeeds.connectors.model import ConnectorCreate
from bankfeeds.core.config import Settings
from bankfeeds.core.errors import ValidationFailed
from bankfeeds.core.ids import parse_id
from bankfeeds.pipeline import handoff
from bankfeeds.sandbox.bank_api import RunningBankApi, run_bank_api
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, ConnectorRun, IngestedFile, ReconException

DAY = date(2025, 1, 10)
SAMPLE = Path(__file__).parents[2] / "fixtures" / "AXIS_RECON_20250110.csv"
TOKEN = "demo-bank-token"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings, with the loopback bank allowlisted as the demo does."""
    return settings.model_copy(update={"api_allow_hosts": frozenset({"127.0.0.1"})})


@pytest.fixture(scope="module")
def bank_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBankApi]:
    """The sandbox bank API serving the specification's AXIS sample."""
    root = tmp_path_factory.mktemp("bank")
    shutil.copy(SAMPLE, root / SAMPLE.name)
    api = run_bank_api(root, TOKEN, provider="AXIS", page_size=4)  # three pages
    yield api
    api.stop()


async def create(ctx: AppContext, base_url: str, **config: Any) -> str:
    """Create an AXIS API connector; returns its id."""
    body = ConnectorCreate.model_validate(
        {
            "name": f"AXIS API {len(config)} {hashlib.sha1(repr(config).encode()).hexdigest()[:6]}",
            "type": "API",
            "provider": "AXIS",
            "config": {"baseUrl": base_url, "readTimeout": 10, **config},
        }
    )
    view, _ = await handoff.create_connector(ctx=ctx, body=body, actor="test", idempotency_key=None)
    return str(view["id"])


async def rows(ctx: AppContext) -> list[IngestedFile]:
    """Every file row."""
    async with ctx.sessions() as session:
        return list((await session.scalars(select(IngestedFile).order_by(IngestedFile.id))).all())


JSON_FEED = {
    "endpoint": "/v1/settlements",
    "authType": "bearer",
    "token": TOKEN,
    "queryParams": {"date": "{cycleDate}"},
    "responseFormat": "json",
    "pagination": "cursor",
    "recordsPath": "data",
    "cursorField": "next",
}


async def test_paginated_json_feed_is_stored_normalised_and_not_stored_twice(
    ctx: AppContext, bank_api: RunningBankApi
) -> None:
    cid = await create(ctx, bank_api.url, **JSON_FEED)
    first = await run_once(ctx, cid)
    assert first["status"] == "SUCCESS", first
    assert (first["filesDownloaded"], first["filesSkipped"]) == (1, 0)
    [row] = await rows(ctx)
    assert row.status == "NORMALIZED", row.error_message
    assert row.row_count == len(SAMPLE.read_text().splitlines()) - 1  # every record, all pages
    stored = await ctx.store.read_bytes(str(row.object_key))
    assert hashlib.sha256(stored).hexdigest() == row.sha256

    again = await run_once(ctx, cid)
    assert again["status"] == "SUCCESS", again
    assert (again["filesDownloaded"], again["filesSkipped"]) == (0, 1)
    assert len(await rows(ctx)) == 1


async def test_csv_with_digest_records_the_banks_checksum(
    ctx: AppContext, bank_api: RunningBankApi
) -> None:
    cid = await create(
        ctx,
        bank_api.url,
        endpoint="/v1/settlements.csv",
        authType="bearer",
        token=TOKEN,
        queryParams={"date": "{cycleDate}"},
    )
    run = await run_once(ctx, cid)
    assert run["status"] == "SUCCESS", run
    [row] = await rows(ctx)
    assert row.sha256 == hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    assert row.expected_sha256 == row.sha256


async def test_a_day_the_bank_has_no_data_for_is_a_success_with_no_file(
    ctx: AppContext, tmp_path: Path
) -> None:
    # A holiday: the sandbox answers 404 for a day with no file, and an empty page of records
    # for a day whose file has no rows. Either way the run ends as an SFTP run finding no file.
    shutil.copy(SAMPLE, tmp_path / SAMPLE.name)
    header = SAMPLE.read_text().splitlines()[0]
    (tmp_path / "AXIS_RECON_20250111.csv").write_text(header + "\n")
    api = run_bank_api(tmp_path, TOKEN, provider="AXIS", page_size=4)
    try:
        json_feed = await create(ctx, api.url, **JSON_FEED)
        csv_feed = await create(
            ctx, api.url, endpoint="/v1/settlements.csv", authType="bearer", token=TOKEN,
            queryParams={"date": "{cycleDate}"},
        )  # fmt: skip
        holiday, no_rows = date(2025, 1, 12), date(2025, 1, 11)
        runs = [
            (await run_once(ctx, json_feed, holiday), "HTTP 404"),
            (await run_once(ctx, csv_feed, holiday), "HTTP 404"),
            (await run_once(ctx, json_feed, no_rows), "no records"),
        ]
    finally:
        api.stop()
    for run, why in runs:
        assert (run["status"], run["errorCode"]) == ("SUCCESS", "no-file"), run
        assert run["filesDownloaded"] == run["filesFailed"] == 0, run
        assert run["error"].startswith("No data for 2025-01-1") and why in run["error"], run
    assert await rows(ctx) == []


async def test_wrong_token_fails_with_the_servers_words_and_no_retry(
    ctx: AppContext, bank_api: RunningBankApi
) -> None:
    cid = await create(ctx, bank_api.url, **{**JSON_FEED, "token": "wrong"})
    run = await run_once(ctx, cid)
    assert run["status"] == "FAILED"
    assert run["errorCode"] == "api-refused"
    assert "401" in run["error"]
    assert await rows(ctx) == []


async def test_checksum_mismatch_quarantines_and_opens_an_exception(ctx: AppContext) -> None:
    with serve(create_test_bank()) as url:
        cid = await create(ctx, url, endpoint="/csv", queryParams={"wrong": "1"})
        run = await run_once(ctx, cid)
    assert run["status"] == "FAILED", run
    assert run["filesQuarantined"] == 1
    [row] = await rows(ctx)
    assert row.status == "QUARANTINED"
    async with ctx.sessions() as session:
        kinds = (await session.scalars(select(ReconException.kind))).all()
    assert "CHECKSUM_MISMATCH" in kinds


async def test_a_row_saved_before_a_rule_fails_its_run_naming_the_field(
    ctx: AppContext, bank_api: RunningBankApi
) -> None:
    cid = await create(ctx, bank_api.url, **JSON_FEED)
    pk = parse_id("connector", cid)
    async with ctx.sessions.begin() as session:
        row = await session.get(Connector, pk)
        assert row is not None
        # As saved before the save checked that cursor paging reads a JSON body.
        row.config = {**row.config, "responseFormat": "csv"}
    run = await run_once(ctx, cid)
    assert run["status"] == "FAILED", run
    assert run["errorCode"] == "invalid-configuration"
    assert "responseFormat must be 'json' when pagination is 'cursor'" in run["error"]
    assert TOKEN not in run["error"]
    assert await rows(ctx) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1",
        "https://[::1]",
        "http://169.254.169.254/latest/meta-data",
        "https://0x7f000001",
        "https://localhost",
        "http://bank.example",
    ],
)
async def test_unsafe_base_url_is_refused_at_save(ctx: AppContext, url: str) -> None:
    strict = ctx.settings.model_copy(update={"api_allow_hosts": frozenset()})
    ctx.settings = strict
    with pytest.raises(ValidationFailed) as caught:
        await create(ctx, url, endpoint="/x")
    assert [e.field for e in caught.value.errors] == ["config.baseUrl"]


async def test_allowlist_removed_later_is_enforced_at_fetch(
    ctx: AppContext, bank_api: RunningBankApi
) -> None:
    cid = await create(ctx, bank_api.url, **JSON_FEED)
    ctx.settings = ctx.settings.model_copy(update={"api_allow_hosts": frozenset()})
    run = await run_once(ctx, cid)
    assert run["status"] == "FAILED"
    assert run["errorCode"] == "unsafe-target"
    async with ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(IngestedFile)) == 0


async def test_a_store_outage_fails_the_file_and_retries_the_run_as_for_sftp(
    ctx: AppContext, bank_api: RunningBankApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # One path stores SFTP and API files: a file the store cannot take is a failed file on the
    # run (named, with the reason) and the run is tried again; it used to fail the API run whole.
    fake_credentials(monkeypatch, tmp_path)
    server = MotoS3()
    server.start()
    try:
        bucket, _ = new_bucket(server.endpoint)
        s3 = AppContext.build(
            ctx.settings.model_copy(
                update={"s3_bucket": bucket, "s3_endpoint": server.endpoint, "s3_region": REGION}
            )
        )
        cid = await create(s3, bank_api.url, **JSON_FEED)
        server.stop()
        run = await run_once(s3, cid)
        async with s3.sessions() as session:
            retries = (
                await session.scalars(select(ConnectorRun).where(ConnectorRun.trigger == "RETRY"))
            ).all()
        await s3.close()
    finally:
        server.stop()
    assert (run["status"], run["errorCode"]) == ("FAILED", "incomplete"), run
    [failed] = [f for f in run["files"] if f["outcome"] == "FAILED"]
    assert "store" in failed["message"].lower(), failed
    assert [r.attempt for r in retries] == [2]
    assert await rows(ctx) == []
