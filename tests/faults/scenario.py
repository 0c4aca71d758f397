"""What the fault scenarios share: bank files, an AXIS connector, and one run carried to its end."""

from __future__ import annotations

import hashlib
import random
from datetime import date
from typing import Any

from sqlalchemy import func, select

from bankfeeds.domain.connectors import ConnectorCreate
from bankfeeds.domain.ids import public_id
from bankfeeds.services import connectors, ingest, run_views, runs
from bankfeeds.services.context import AppContext
from tests.support.targets import Target

DAY = date(2025, 1, 10)
NAME = "AXIS_RECON_20250110.csv"
HEADER = "TXNID,CREDIT_AMT,NET_CR_AMT,VALUE_DATE,UTR,RRN,AUTH,POST_DATE,BANK,STATUS,REMARKS\n"


def sha(data: bytes) -> str:
    """The SHA-256 hex of ``data``."""
    return hashlib.sha256(data).hexdigest()


def axis_csv(size: int, seed: int) -> bytes:
    """A well-formed AXIS settlement file of about ``size`` bytes, distinct for each seed."""
    rng = random.Random(seed)
    lines = [HEADER]
    total, i = len(HEADER), 0
    while total < size:
        i += 1
        rupees = rng.randrange(100, 10_000_000)
        line = (
            f"S{seed}T{i:07d},{rupees / 100:.2f},{rupees * 0.995 / 100:.2f},2025-01-10,"
            f"UTIB{rng.randrange(10**11, 10**12)},{rng.randrange(10**11, 10**12)},A{i},"
            f"2025-01-10,AXIS,SUCCESS,{rng.getrandbits(64):016x}\n"
        )
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()


def publish(target: Target, name: str, data: bytes, *, sidecar: bytes | None = None) -> str:
    """Put a file and its ``sha256sum`` sidecar (``sidecar`` replaces the line); return its hash."""
    target.put(name, data)
    target.put(
        name + ".sha256", sidecar if sidecar is not None else f"{sha(data)}  {name}\n".encode()
    )
    return sha(data)


async def make_connector(
    ctx: AppContext, target: Target, port: int | None = None, **cfg: Any
) -> str:
    """Create an AXIS connector for the target (accept-new host key, no stability wait)."""
    config = {
        "host": target.host,
        "port": port or target.port,
        "username": target.username,
        "password": target.password,
        "remotePath": target.remote_dir,
        "filePattern": "AXIS_RECON_YYYYMMDD*.csv",
        "checksumExt": ".sha256",
        "schedule": "0 19 * * *",
        "timezone": "Asia/Kolkata",
        "stableSeconds": 0,
        **cfg,
    }
    body = ConnectorCreate.model_validate(
        {"name": f"AXIS {target.kind}", "type": "SFTP", "provider": "AXIS", "config": config}
    )
    view, _ = await connectors.create(ctx=ctx, body=body, actor="test", idempotency_key=None)
    return str(view["id"])


async def start(ctx: AppContext, connector_id: str, day: date = DAY) -> int:
    """Start a manual run held by the test's worker; return its primary key."""
    run = await runs.start_run(
        ctx=ctx,
        connector_id=connector_id,
        cycle_date=day,
        trigger="MANUAL",
        force=False,
        actor="test",
        worker_id="test-worker",
    )
    return run.id


async def finish(ctx: AppContext, run_pk: int) -> dict[str, Any]:
    """Execute a started run to its end; return its view."""
    await ingest.execute(ctx, run_pk, "test-worker")
    return await run_views.get_run(ctx=ctx, run_id=public_id("run", run_pk))


async def run_once(ctx: AppContext, connector_id: str, day: date = DAY) -> dict[str, Any]:
    """Start and execute a run to its end; return its view."""
    return await finish(ctx, await start(ctx, connector_id, day))


async def count(ctx: AppContext, model: Any, *where: Any) -> int:
    """Rows of ``model`` matching ``where``."""
    async with ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def outcomes(run: dict[str, Any]) -> dict[str, str]:
    """Each remote file's outcome in a run view, by name."""
    return {f["name"]: f["outcome"] for f in run["files"]}
