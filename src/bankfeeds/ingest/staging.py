"""Clearing what a killed process left in the staging directory.

A run removes its staging directory however it ends, and so does a Parquet write; only a process
killed outright (power loss, ``kill -9``, OOM) leaves one behind. Staging is never the only copy
of anything — an object is stored before its row commits — so leftovers are only wasted disk.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ConnectorRun

log = logging.getLogger(__name__)
#: Younger entries are left alone: a run or Parquet write may have just created them.
LEFT_FOR = timedelta(minutes=10)


def _entries(root: Path) -> list[tuple[Path, float]]:
    if not root.is_dir():
        return []
    return [(p, p.stat().st_mtime) for p in root.iterdir()]


async def sweep(ctx: AppContext, *, older_than: timedelta = LEFT_FOR) -> int:
    """Remove stale Parquet scratch and the directories of runs no longer RUNNING; a count."""
    root = ctx.settings.data_dir / "staging"
    cutoff = time.time() - older_than.total_seconds()
    stale = [p for p, mtime in await asyncio.to_thread(_entries, root) if mtime < cutoff]
    runs = {int(p.name[4:]): p for p in stale if p.name.startswith("run_") and p.name[4:].isdigit()}
    running: set[int] = set()
    if runs:
        async with ctx.sessions() as session:
            running = set(
                await session.scalars(
                    select(ConnectorRun.id).where(
                        ConnectorRun.id.in_(runs), ConnectorRun.status == "RUNNING"
                    )
                )
            )
    doomed = [p for p in stale if p.name.startswith("parquet-")]
    doomed += [p for pk, p in runs.items() if pk not in running]
    for path in doomed:
        await asyncio.to_thread(shutil.rmtree, path, True)
    if doomed:
        log.info("removed %d stale staging entries", len(doomed))
    return len(doomed)
