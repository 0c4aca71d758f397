"""Run history figures for the UI: a connector's totals, and the recon jobs a run fed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select

from bankfeeds.connectors.service import load
from bankfeeds.core.ids import parse_id, public_id
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ConnectorRun, IngestedFile, ReconJobFile


@dataclass(frozen=True, slots=True)
class RunStats:
    """A connector's run totals over its whole history."""

    total: int
    finished: int
    succeeded: int
    failed: int
    files: int
    bytes: int
    average_ms: int | None

    @property
    def success_rate(self) -> float | None:
        """Successful runs over finished runs, or None before the first finished run."""
        return self.succeeded / self.finished if self.finished else None


async def run_stats(*, ctx: AppContext, connector_id: str) -> RunStats:
    """Totals over every run of a connector (one aggregate query)."""
    ended = ConnectorRun.status.in_(("SUCCESS", "PARTIAL", "FAILED"))
    async with ctx.sessions() as session:
        connector = await load(session, connector_id)
        row = (
            await session.execute(
                select(
                    func.count(),
                    func.sum(case((ended, 1), else_=0)),
                    func.sum(case((ConnectorRun.status == "SUCCESS", 1), else_=0)),
                    func.sum(case((ConnectorRun.status == "FAILED", 1), else_=0)),
                    func.sum(
                        ConnectorRun.files_downloaded
                        + ConnectorRun.files_skipped
                        + ConnectorRun.files_quarantined
                    ),
                    func.sum(ConnectorRun.bytes_downloaded),
                    func.avg(case((ended, ConnectorRun.duration_ms))),
                ).where(ConnectorRun.connector_id == connector.id)
            )
        ).one()
    return RunStats(
        total=int(row[0] or 0),
        finished=int(row[1] or 0),
        succeeded=int(row[2] or 0),
        failed=int(row[3] or 0),
        files=int(row[4] or 0),
        bytes=int(row[5] or 0),
        average_ms=int(row[6]) if row[6] is not None else None,
    )


async def recon_jobs_of_run(*, ctx: AppContext, run_id: str) -> list[str]:
    """Public ids of the recon jobs over files this run stored."""
    run_pk = parse_id("run", run_id)
    files = select(IngestedFile.id).where(IngestedFile.run_id == run_pk)
    async with ctx.sessions() as session:
        pks = (
            await session.scalars(
                select(ReconJobFile.job_id)
                .where(ReconJobFile.file_id.in_(files))
                .distinct()
                .order_by(ReconJobFile.job_id)
            )
        ).all()
    return [public_id("job", pk) for pk in pks]
