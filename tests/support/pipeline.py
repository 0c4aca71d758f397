"""What pipeline tests share: publishing a bank file, an AXIS SFTP connector, one run to its end."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from datetime import date
from pathlib import Path
from typing import Any

from bankfeeds.connectors.model import ConnectorCreate
from bankfeeds.core.ids import public_id
from bankfeeds.pipeline import handoff
from bankfeeds.pipeline import run as ingest
from bankfeeds.scheduling import runs
from bankfeeds.scheduling import views as run_views
from bankfeeds.storage.context import AppContext
from tests.support.targets import Target

DAY = date(2025, 1, 10)
#: What ``generate_day`` plants for one provider, for 50 rows (see its docstring).
PLANTED = {
    "MATCHED": 46,
    "MATCHED_WITHIN_TOLERANCE": 1,
    "AMOUNT_MISMATCH": 1,
    "STATUS_MISMATCH": 1,
    "MISSING_IN_BANK": 1,
    "MISSING_IN_PG": 1,
}
AXIS_HEADER = "TXNID,CREDIT_AMT,NET_CR_AMT,VALUE_DATE,UTR,RRN,AUTH,POST_DATE,BANK,STATUS,REMARKS\n"
#: An amount no bank format reads (quoted: it holds the delimiter).
BAD_AMOUNT = "12,3x.00"


def axis_file(rows: int = 1, *, seed: int = 0, bad: Collection[int] = ()) -> bytes:
    """A small AXIS settlement file of ``rows`` data rows, distinct for each ``seed``.

    Lines in ``bad`` (the header is line 1) carry an amount that cannot be parsed.
    """
    lines = [AXIS_HEADER]
    for line in range(2, rows + 2):
        amount = f'"{BAD_AMOUNT}"' if line in bad else f"{1000 + line + seed}.50"
        lines.append(
            f"S{seed}T{line:06d},{amount},995.00,2025-01-10,UTIB{seed:06d}{line:06d},"
            f"RRN{line:09d},A{line},2025-01-10,AXIS,SUCCESS,ok\n"
        )
    return "".join(lines).encode()


def publish(target: Target, name: str, data: bytes, *, sidecar: str | bytes | None = None) -> str:
    """Put a file and its ``sha256sum`` sidecar (``sidecar`` replaces the line); return its hash."""
    digest = hashlib.sha256(data).hexdigest()
    line = sidecar if sidecar is not None else f"{digest}  {name}\n"
    target.put(name, data)
    target.put(name + ".sha256", line.encode() if isinstance(line, str) else line)
    return digest


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
    view, _ = await handoff.create_connector(ctx=ctx, body=body, actor="test", idempotency_key=None)
    return str(view["id"])


async def start(ctx: AppContext, connector_id: str, day: date = DAY, force: bool = False) -> int:
    """Start a manual run held by the test's worker; return its primary key."""
    run = await runs.start_run(
        ctx=ctx,
        connector_id=connector_id,
        cycle_date=day,
        trigger="MANUAL",
        force=force,
        actor="test",
        worker_id="test-worker",
    )
    return run.id


async def finish(ctx: AppContext, run_pk: int) -> dict[str, Any]:
    """Execute a started run to its end; return its view."""
    await ingest.execute(ctx, run_pk, "test-worker")
    return await run_views.get_run(ctx=ctx, run_id=public_id("run", run_pk))


async def run_once(
    ctx: AppContext, connector_id: str, day: date = DAY, force: bool = False
) -> dict[str, Any]:
    """Start and execute a run to its end; return its view."""
    return await finish(ctx, await start(ctx, connector_id, day, force))


def staging_left(ctx: AppContext) -> list[Path]:
    """Files left under the staging directory."""
    root = ctx.settings.data_dir / "staging"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
