"""Runs tell the truth: a quarantined, unreadable or missing file shows in the run's outcome.

Against the sandbox and OpenSSH, on SQLite and PostgreSQL, through the services and the HTTP API.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from tests.support.pipeline import BAD_AMOUNT, DAY, axis_file, make_connector, publish, run_once
from tests.support.server import serve
from tests.support.targets import Target

from bankfeeds.access import tokens, users
from bankfeeds.core.config import Settings
from bankfeeds.http.app import create_app
from bankfeeds.monitoring import connectors as monitored
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ConnectorRun, ReconException

NAME = "AXIS_RECON_20250110.csv"


def axis(rows: int, bad: frozenset[int] = frozenset(), seed: int = 0) -> bytes:
    """An AXIS file of ``rows`` data rows; lines in ``bad`` (1 is the header) have a bad amount."""
    return axis_file(rows, seed=seed, bad=bad)


async def run_failed(ctx: AppContext) -> list[ReconException]:
    """Every RUN_FAILED exception, oldest first."""
    async with ctx.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(ReconException)
                    .where(ReconException.kind == "RUN_FAILED")
                    .order_by(ReconException.id)
                )
            ).all()
        )


async def queued(ctx: AppContext) -> int:
    """Runs waiting in the queue (a retry would be one)."""
    async with ctx.sessions() as session:
        query = select(func.count()).where(ConnectorRun.status == "QUEUED")
        return int(await session.scalar(query) or 0)


@dataclass(frozen=True)
class Api:
    """A live server over the test database, read as a viewer."""

    url: str
    token: str

    async def get(self, path: str) -> Any:
        """GET ``path`` and return its JSON body (200 expected)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30) as client:
            response = await client.get(path)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    """Serve the app over the test database, with a viewer's token."""

    async def token() -> str:
        ctx = AppContext.build(settings)
        try:
            return (await tokens.create_token(ctx=ctx, name="v", role="viewer", actor="t"))[1]
        finally:
            await ctx.close()

    made = asyncio.run(token())
    with serve(create_app(AppContext.build(settings))) as url:
        yield Api(url, made)


def by_name(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A run view's files by name."""
    return {f["name"]: f for f in run["files"]}


async def test_too_many_bad_rows_fails_the_run_and_shows_why(
    ctx: AppContext, target: Target, api: Api
) -> None:
    publish(target, NAME, axis(5, frozenset({2, 4, 6})))
    cid = await make_connector(ctx, target)
    run = await run_once(ctx, cid)

    assert (run["status"], run["errorCode"]) == ("FAILED", "file-quarantined")
    assert (run["filesDownloaded"], run["filesQuarantined"], run["filesFailed"]) == (0, 1, 0)
    assert run["error"].startswith(
        f"1 file(s) quarantined: {NAME}: 3 of 5 rows (60.0%) could not be parsed, above the "
        "5.0% limit; first at line 2: invalid amount"
    )
    assert run["error"].endswith(".")
    # The bank must send another file: no retry, and the failure is an exception for a person.
    assert await queued(ctx) == 0
    (failed,) = await run_failed(ctx)
    assert failed.state == "OPEN" and "quarantined" in failed.message
    health = (await api.get(f"/ops/connectors/{cid}"))["health"]
    assert (health["healthStatus"], health["lastSuccessAt"]) == ("CRITICAL", None)
    assert health["reasons"] == ["no successful run in the last 48 h"]

    view = await api.get(f"/ops/runs/{run['id']}")
    (f,) = view["files"]
    assert (f["outcome"], f["status"], f["rows"], f["badRowCount"]) == (
        "DOWNLOADED",
        "QUARANTINED",
        2,
        3,
    )
    assert [b["line"] for b in f["badRows"]] == [2, 4, 6]
    assert all(BAD_AMOUNT in b["reason"] for b in f["badRows"])
    assert f["reason"].startswith("3 of 5 rows (60.0%) could not be parsed")
    assert f["size"] == len(axis(5, frozenset({2, 4, 6}))) and len(f["sha256"]) == 64
    (stored,) = view["ingestedFiles"]
    assert (stored["status"], stored["badRowCount"], stored["reason"]) == (
        "QUARANTINED",
        3,
        f["reason"],
    )


async def test_a_good_file_beside_a_quarantined_one_is_partial(
    ctx: AppContext, target: Target
) -> None:
    publish(target, NAME, axis(40, frozenset({9}), seed=1))
    publish(target, "AXIS_RECON_20250110_2.csv", axis(10, frozenset({3, 5, 7}), seed=2))
    cid = await make_connector(ctx, target)
    run = await run_once(ctx, cid)

    assert (run["status"], run["errorCode"]) == ("PARTIAL", "file-quarantined")
    assert (run["filesDownloaded"], run["filesQuarantined"]) == (1, 1)
    assert run["error"].startswith(
        "1 file(s) quarantined: AXIS_RECON_20250110_2.csv: 3 of 10 rows (30.0%)"
    )
    files = by_name(run)
    good = files[NAME]
    assert (good["status"], good["rows"], good["badRowCount"], good["reason"]) == (
        "NORMALIZED",
        39,
        1,
        None,
    )
    assert [b["line"] for b in good["badRows"]] == [9]
    assert BAD_AMOUNT in good["badRows"][0]["reason"]
    assert await run_failed(ctx) == []  # PARTIAL with the day's file: no RUN_FAILED
    assert await queued(ctx) == 0
    health = (await monitored.get_connector(ctx=ctx, connector_id=cid))["health"]
    assert (health["healthStatus"], health["lastSuccessAt"]) == ("CRITICAL", None)
    assert health["reasons"] == ["no successful run in the last 48 h"]  # PARTIAL is no success
    assert health["successRate"] == 0.0


async def test_an_unreadable_file_fails_the_run(ctx: AppContext, target: Target, api: Api) -> None:
    publish(target, NAME, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
    cid = await make_connector(ctx, target)
    run = await run_once(ctx, cid)

    assert (run["status"], run["errorCode"]) == ("FAILED", "file-unreadable")
    assert (run["filesDownloaded"], run["filesQuarantined"], run["filesFailed"]) == (0, 0, 1)
    view = await api.get(f"/ops/runs/{run['id']}")
    (f,) = view["files"]
    assert (f["status"], f["rows"], f["badRows"]) == ("ERROR", None, [])
    assert f["reason"]
    assert run["error"] == f"1 file(s) unreadable: {NAME}: {f['reason'].rstrip('.')}."
    assert await queued(ctx) == 0
    assert len(await run_failed(ctx)) == 1


async def test_a_pattern_that_matches_nothing_names_the_nearest(
    ctx: AppContext, target: Target, api: Api
) -> None:
    publish(target, "AXIS_RECON_20250110.CSV", axis(3, seed=3))
    publish(target, "AXIS_RECON_20250109.csv", axis(3, seed=4))
    publish(target, "HDFC_TXN_20250110.csv", axis(3, seed=5))
    cid = await make_connector(ctx, target)
    run = await run_once(ctx, cid)

    assert (run["status"], run["errorCode"]) == ("SUCCESS", "no-file")
    assert run["filesDiscovered"] == 0 and run["files"] == []
    assert run["error"] == (
        f"No file matched AXIS_RECON_YYYYMMDD*.csv for 2025-01-10 in {target.remote_dir}; "
        "nearest names: AXIS_RECON_20250110.CSV (extension case), "
        "AXIS_RECON_20250109.csv (other date)."
    )
    assert (await api.get(f"/ops/runs/{run['id']}"))["error"] == run["error"]
    listed = (await api.get(f"/ops/connectors/{cid}/runs"))["runs"]
    assert [(r["errorCode"], r["error"]) for r in listed] == [("no-file", run["error"])]
    assert await run_failed(ctx) == []


async def test_an_empty_directory_says_so(ctx: AppContext, target: Target) -> None:
    cid = await make_connector(ctx, target)
    run = await run_once(ctx, cid)
    assert (run["status"], run["errorCode"]) == ("SUCCESS", "no-file")
    assert run["error"].endswith(f"in {target.remote_dir}; the directory holds no files.")


async def test_run_failed_resolves_itself_when_a_later_run_gets_the_file(
    ctx: AppContext, target: Target
) -> None:
    publish(target, NAME, axis(5, frozenset({2, 3, 4})))
    cid = await make_connector(ctx, target)
    first = await run_once(ctx, cid)
    assert first["status"] == "FAILED"
    (failed,) = await run_failed(ctx)
    assert (failed.state, failed.data) == ("OPEN", {"errorCode": "file-quarantined", "attempt": 1})

    # A run that changes nothing (the same quarantined file, skipped) resolves nothing.
    again = await run_once(ctx, cid)
    assert (again["status"], again["filesSkipped"], again["filesQuarantined"]) == ("FAILED", 0, 1)
    assert [e.state for e in await run_failed(ctx)] == ["OPEN"]

    publish(target, NAME, axis(6))  # the bank sends a corrected file under the same name
    fixed = await run_once(ctx, cid)
    assert (fixed["status"], fixed["errorCode"], fixed["error"]) == ("SUCCESS", None, None)
    (resolved,) = await run_failed(ctx)
    assert (resolved.state, resolved.owner) == ("RESOLVED", "system")
    assert resolved.resolved_at is not None and resolved.dedupe_key is None
    assert resolved.data is not None
    assert {k: resolved.data[k] for k in ("errorCode", "attempt")} == {
        "errorCode": "file-quarantined",
        "attempt": 1,
    }
    resolution = resolved.data["resolution"]
    assert (resolution["by"], resolution["note"]) == ("system", f"{fixed['id']} succeeded.")

    # Resolved, the same failure on another day opens a new exception.
    publish(target, "AXIS_RECON_20250111.csv", b"not,a,bank\nfile\n")
    other = await run_once(ctx, cid, DAY.replace(day=11))
    assert other["status"] == "FAILED"
    assert [e.state for e in await run_failed(ctx)] == ["RESOLVED", "OPEN"]


async def test_run_failed_on_a_bad_sidecar_resolves_once_it_is_fixed(
    ctx: AppContext, target: Target
) -> None:
    data = axis(4, seed=7)
    publish(target, NAME, data, sidecar=f"{'0' * 64}  {NAME}\n")
    cid = await make_connector(ctx, target)
    first = await run_once(ctx, cid)
    assert (first["status"], first["errorCode"], first["filesQuarantined"]) == (
        "FAILED",
        "checksum-mismatch",
        1,
    )
    (failed,) = await run_failed(ctx)
    assert failed.state == "OPEN"

    publish(target, NAME, data)  # the bank uploads the right sidecar
    fixed = await run_once(ctx, cid)
    assert (fixed["status"], fixed["filesDownloaded"], fixed["filesQuarantined"]) == (
        "SUCCESS",
        1,
        0,
    )
    assert [f["status"] for f in fixed["files"]] == ["NORMALIZED"]
    (resolved,) = await run_failed(ctx)
    assert (resolved.state, resolved.owner) == ("RESOLVED", "system")
    assert resolved.data is not None
    assert resolved.data["resolution"]["note"] == f"{fixed['id']} succeeded."


async def test_the_ui_run_page_lists_bad_rows(
    ctx: AppContext, target: Target, settings: Settings
) -> None:
    publish(target, NAME, axis(5, frozenset({2, 4, 6})))
    cid = await make_connector(ctx, target)
    run = await run_once(ctx, cid)
    await users.create_user(
        ctx=ctx, name="vic", role="viewer", password="pw correct horse", actor="t"
    )
    login = {"method": "password", "username": "vic", "password": "pw correct horse"}
    with serve(create_app(AppContext.build(settings))) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            page = await client.get("/ui/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert csrf is not None
            await client.post("/ui/login", data={"csrf_token": csrf.group(1), **login})
            html = (await client.get(f"/ui/runs/{run['id']}")).text
            rows = (await client.get(f"/ui/connectors/{cid}/history")).text
    assert "file-quarantined" in html and "3 of 5 rows (60.0%)" in html
    assert html.count("<li>line ") == 3 and "line 4: invalid amount" in html
    assert "1 quarantined" in rows
