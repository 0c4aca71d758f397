"""What a killed process leaves in staging is cleared, and nothing a live run uses."""

from __future__ import annotations

import os
import time
from datetime import date

from tests.support.pipeline import make_connector
from tests.support.targets import Target

from bankfeeds.ingest import staging
from bankfeeds.scheduling import runs
from bankfeeds.storage.context import AppContext


def aged(path: os.PathLike[str], minutes: float) -> None:
    """Backdate ``path``'s modification time."""
    then = time.time() - minutes * 60
    os.utime(path, (then, then))


async def test_sweep_removes_stale_leftovers_but_not_a_running_runs_directory(
    ctx: AppContext, target: Target
) -> None:
    cid = await make_connector(ctx, target)
    live = await runs.start_run(
        ctx=ctx,
        connector_id=cid,
        cycle_date=date(2025, 1, 10),
        trigger="MANUAL",
        force=False,
        actor="test",
        worker_id="w",
    )
    root = ctx.settings.data_dir / "staging"
    paths = {
        "dead run": root / "run_999999",
        "live run": root / f"run_{live.id}",
        "old parquet": root / "parquet-old",
        "new parquet": root / "parquet-new",
    }
    for path in paths.values():
        path.mkdir(parents=True)
        (path / "partial").write_bytes(b"x" * 10)
    for name in ("dead run", "live run", "old parquet"):
        aged(paths[name], 30)

    assert await staging.sweep(ctx) == 2
    assert {name for name, path in paths.items() if path.exists()} == {"live run", "new parquet"}
