"""GET /metrics: Prometheus text read from the database, parsed with prometheus-client's parser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import event
from tests.support.server import serve

from bankfeeds.core.config import Settings
from bankfeeds.http.app import create_app
from bankfeeds.monitoring.health import health_many
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import (
    AlertEvent,
    Connector,
    ConnectorRun,
    IngestedFile,
    ReconException,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


SCRAPE_TOKEN = "prometheus-scrape-token-0123456789"


@pytest.fixture
async def ctx_at_now(settings: Settings) -> AsyncIterator[AppContext]:
    """A context whose clock stands still at NOW, with a scrape token."""
    scraping = settings.model_copy(update={"metrics_token": SecretStr(SCRAPE_TOKEN)})
    ctx = AppContext.build(scraping, clock=lambda: NOW)
    yield ctx
    await ctx.close()


def _connector(name: str, provider: str, status: str = "ACTIVE", **kw: Any) -> Connector:
    return Connector(
        name=name,
        type="SFTP",
        provider=provider,
        status=status,
        schedule="0 9 * * *",
        timezone="Asia/Kolkata",
        target_cycle_rule="today",
        config={},
        created_at=kw.pop("created_at", NOW - timedelta(days=5)),
        updated_at=NOW,
        **kw,
    )


def _run(connector: Connector, status: str, **kw: Any) -> ConnectorRun:
    return ConnectorRun(
        connector_id=connector.id,
        cycle_date=date(2026, 3, 9),
        trigger="MANUAL",
        status=status,
        queued_at=NOW - timedelta(days=1),
        **kw,
    )


async def _seed(ctx: AppContext) -> tuple[Connector, Connector]:
    axis, pg = _connector("Axis", "AXIS"), _connector("PG export", "PG", status="PAUSED")
    gone = _connector("Old", "SBI", deleted_at=NOW - timedelta(days=1))
    async with ctx.sessions.begin() as session:
        session.add_all([axis, pg, gone])
        await session.flush()
        done = {"started_at": NOW - timedelta(days=1)}
        session.add_all(
            [
                _run(axis, "SUCCESS", duration_ms=500, files_downloaded=2, files_skipped=1,
                     bytes_downloaded=300, finished_at=NOW - timedelta(days=1), **done),
                _run(axis, "SUCCESS", duration_ms=4_000, files_downloaded=1,
                     bytes_downloaded=700, finished_at=NOW - timedelta(hours=2), **done),
                _run(axis, "FAILED", duration_ms=45_000, files_failed=1,
                     finished_at=NOW - timedelta(hours=1), **done),
                _run(axis, "RUNNING", bytes_downloaded=999, **done),
                _run(axis, "QUEUED"),
                _run(pg, "QUEUED"),
                _run(pg, "QUEUED"),
            ]
        )  # fmt: skip
        session.add(
            IngestedFile(
                connector_id=axis.id, provider="AXIS", cycle_date=date(2026, 3, 8),
                remote_name="a.csv", remote_path="/a.csv", remote_size=1, sha256="0" * 64,
                size=1, status="NORMALIZED", created_at=NOW, updated_at=NOW,
            )
        )  # fmt: skip
        for kind, state in [
            ("FILE_MISSING", "OPEN"),
            ("FILE_MISSING", "OPEN"),
            ("CHECKSUM_MISMATCH", "OPEN"),
            ("PARSE_ERROR", "RESOLVED"),
        ]:
            session.add(
                ReconException(kind=kind, severity="HIGH", state=state, message="m", created_at=NOW)
            )
        for n, (delivered, next_at) in enumerate([(NOW, None), (None, NOW), (None, None)]):
            session.add(
                AlertEvent(
                    kind="RUN_FAILED", dedupe_key=f"k{n}", payload={}, created_at=NOW,
                    attempts=1, next_attempt_at=next_at, delivered_at=delivered, delivered_to=[],
                )
            )  # fmt: skip
    return axis, pg


def _parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _get(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def _scrape(ctx: AppContext) -> httpx.Response:
    app = create_app(ctx, own_context=False)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {SCRAPE_TOKEN}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=headers
    ) as client:
        return await client.get("/metrics")


async def test_metrics_report_the_rows(ctx_at_now: AppContext) -> None:
    ctx = ctx_at_now
    axis, _ = await _seed(ctx)
    response = await _scrape(ctx)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    m = _parse(response.text)

    assert _get(m, "bankfeeds_runs_total", connector="conn_1", outcome="SUCCESS") == 2
    assert _get(m, "bankfeeds_runs_total", connector="conn_1", outcome="FAILED") == 1
    assert _get(m, "bankfeeds_files_total", connector="conn_1", outcome="downloaded") == 3
    assert _get(m, "bankfeeds_files_total", connector="conn_1", outcome="skipped") == 1
    assert _get(m, "bankfeeds_files_total", connector="conn_1", outcome="failed") == 1
    # The RUNNING run's progress is not counted until it finishes.
    assert _get(m, "bankfeeds_downloaded_bytes_total", connector="conn_1") == 1000

    hist = "bankfeeds_run_duration_seconds"
    assert _get(m, f"{hist}_bucket", provider="AXIS", le="1.0") == 1
    assert _get(m, f"{hist}_bucket", provider="AXIS", le="5.0") == 2
    assert _get(m, f"{hist}_bucket", provider="AXIS", le="30.0") == 2
    assert _get(m, f"{hist}_bucket", provider="AXIS", le="60.0") == 3
    assert _get(m, f"{hist}_bucket", provider="AXIS", le="+Inf") == 3
    assert _get(m, f"{hist}_count", provider="AXIS") == 3
    assert _get(m, f"{hist}_sum", provider="AXIS") == pytest.approx(49.5)

    last = (NOW - timedelta(hours=2)).timestamp()
    assert _get(m, "bankfeeds_last_success_timestamp_seconds", connector="conn_1") == last
    assert _get(m, "bankfeeds_queue_depth") == 3
    assert _get(m, "bankfeeds_runs_running") == 1
    assert _get(m, "bankfeeds_open_exceptions", kind="FILE_MISSING") == 2
    assert _get(m, "bankfeeds_open_exceptions", kind="CHECKSUM_MISMATCH") == 1
    assert ("bankfeeds_open_exceptions", frozenset({("kind", "PARSE_ERROR")})) not in m
    for state in ("pending", "delivered", "failed"):
        assert _get(m, "bankfeeds_alerts", state=state) == 1

    info = {dict(labels)["connector"] for name, labels in m if name == "bankfeeds_connector_info"}
    assert info == {"conn_1", "conn_2"}  # the deleted connector is gone

    async with ctx.sessions() as session:
        row = await session.get(Connector, axis.id)
        assert row is not None
        health = (await health_many(session, ctx, [row]))[row.id]
    assert health.backlog_missing_days > 0
    assert _get(m, "bankfeeds_backlog_days", connector="conn_1") == health.backlog_missing_days
    assert not any(n == "bankfeeds_backlog_days" and ("connector", "conn_2") in ls for n, ls in m)


async def test_scrape_is_a_constant_number_of_queries(ctx_at_now: AppContext) -> None:
    ctx = ctx_at_now
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    await _seed(ctx)
    event.listen(ctx.engine.sync_engine, "before_cursor_execute", count)
    assert (await _scrape(ctx)).status_code == 200
    few = len(statements)
    event.remove(ctx.engine.sync_engine, "before_cursor_execute", count)
    async with ctx.sessions.begin() as session:
        for n in range(20):
            session.add(_connector(f"more {n}", "HDFC"))
    statements.clear()
    event.listen(ctx.engine.sync_engine, "before_cursor_execute", count)
    assert (await _scrape(ctx)).status_code == 200
    assert len(statements) == few


async def test_metrics_turned_off_answer_404(settings: Settings) -> None:
    off = {"metrics_enabled": False, "metrics_token": SecretStr(SCRAPE_TOKEN)}
    ctx = AppContext.build(settings.model_copy(update=off))
    try:
        response = await _scrape(ctx)
    finally:
        await ctx.close()
    assert response.status_code == 404
    assert "METRICS_ENABLED" in response.json()["detail"]


def test_metrics_need_a_token_on_a_real_server(settings: Settings) -> None:
    scraping = settings.model_copy(update={"metrics_token": SecretStr(SCRAPE_TOKEN)})
    app = create_app(AppContext.build(scraping))
    with serve(app) as url, httpx.Client(base_url=url) as client:
        anonymous = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        bearer = {"Authorization": f"Bearer {SCRAPE_TOKEN}"}
        response = client.get("/metrics", headers=bearer)
        twice = client.get("/metrics", headers=bearer)
    assert (anonymous.status_code, wrong.status_code) == (401, 401)
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert "bankfeeds_" not in anonymous.text + wrong.text
    assert response.status_code == 200
    assert _get(_parse(response.text), "bankfeeds_queue_depth") == 0
    assert _parse(twice.text) == _parse(response.text)
