"""A file a crashed worker left DOWNLOADED is normalised by the next sweep, once."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from tests.integration.scheduling.helpers import add_connector

from bankfeeds.pipeline.handoff import sweep_stranded
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import IngestedFile

SAMPLE = Path(__file__).parents[2] / "fixtures" / "AXIS_RECON_20250110.csv"


async def test_stranded_download_is_normalised_once(ctx: AppContext, tmp_path: Path) -> None:
    pk = await add_connector(ctx, "axis")
    staged = tmp_path / "staged"
    staged.write_bytes(SAMPLE.read_bytes())
    sha = hashlib.sha256(staged.read_bytes()).hexdigest()
    stored = await ctx.store.put_file(staged, sha)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    async with ctx.sessions.begin() as session:
        row = IngestedFile(
            connector_id=pk,
            provider="AXIS",
            cycle_date=date(2025, 1, 10),
            remote_name=SAMPLE.name,
            remote_path=f"/upload/{SAMPLE.name}",
            remote_size=stored.size,
            sha256=sha,
            size=stored.size,
            object_key=stored.key,
            status="DOWNLOADED",
            created_at=long_ago,
            updated_at=long_ago,
        )
        session.add(row)
    assert await sweep_stranded(ctx) == 1
    assert await sweep_stranded(ctx) == 0
    async with ctx.sessions() as session:
        status, count = (
            await session.execute(
                select(IngestedFile.status, IngestedFile.row_count).where(IngestedFile.id == row.id)
            )
        ).one()
    assert status == "NORMALIZED"
    assert count is not None and count > 0
