"""/metrics needs a bearer token, and fifty scrapes at once cost one database reading."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import SecretStr

from bankfeeds.access import tokens
from bankfeeds.core.config import Settings
from bankfeeds.http.app import create_app
from bankfeeds.monitoring import metrics
from bankfeeds.storage.context import AppContext
from tests.security.conftest import Live
from tests.support.bodies import spec_body
from tests.support.server import serve

SCRAPE_TOKEN = "scrape-" + "s3cr3t" * 5


def test_without_a_scrape_token_metrics_take_a_viewer_token(live: Live) -> None:
    live.client("admin").post("/ops/connectors", json=spec_body(name="Secret Bank Partner"))
    for who in (None, "garbage"):
        headers = {"Authorization": "Bearer bf_garbage"} if who else {}
        answer = live.client(None).get("/metrics", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
        assert "Secret Bank Partner" not in answer.text
    for role in ("viewer", "operator", "admin"):
        answer = live.client(role).get("/metrics")
        assert answer.status_code == 200
        assert 'name="Secret Bank Partner"' in answer.text


async def _viewer_token(settings: Settings) -> str:
    ctx = AppContext.build(settings)
    try:
        return (await tokens.create_token(ctx=ctx, name="v", role="viewer", actor="t"))[1]
    finally:
        await ctx.close()


async def _scrape_all(url: str, headers: dict[str, str], times: int) -> list[int]:
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        answers = await asyncio.gather(*(client.get("/metrics") for _ in range(times)))
    return [a.status_code for a in answers]


def _counting_snapshots(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the database readings /metrics makes (each one is a handful of queries)."""
    calls: list[int] = []
    real = metrics.snapshot

    async def counted(*, ctx: AppContext) -> metrics.MetricsSnapshot:
        calls.append(1)
        return await real(ctx=ctx)

    monkeypatch.setattr(metrics, "snapshot", counted)
    return calls


def test_the_scrape_token_and_fifty_concurrent_scrapes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    scraping = settings.model_copy(update={"metrics_token": SecretStr(SCRAPE_TOKEN)})
    viewer = asyncio.run(_viewer_token(scraping))
    readings = _counting_snapshots(monkeypatch)
    with serve(create_app(AppContext.build(scraping))) as url:
        bearer = {"Authorization": f"Bearer {SCRAPE_TOKEN}"}
        assert httpx.get(url + "/metrics").status_code == 401
        wrong = {"Authorization": f"Bearer {SCRAPE_TOKEN}x"}
        assert httpx.get(url + "/metrics", headers=wrong).status_code == 401
        assert readings == []
        # Fifty scrapes at once, none cached yet: one reading serves them all.
        codes = asyncio.run(_scrape_all(url, bearer, 50))
        assert codes == [200] * 50
        assert readings == [1]
        # A person's viewer token works beside the scrape token, and reuses the fresh reading.
        as_viewer = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {viewer}"})
        assert as_viewer.status_code == 200
        assert readings == [1]
