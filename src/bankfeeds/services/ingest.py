"""The ingestion pipeline for one claimed run: connect, discover, fetch, verify, store, record.

Order of durability: the object is stored (fsync, atomic rename) before the row that points at it
is committed, so a crash leaves at worst an orphan object that the next run adopts, never a row
pointing at nothing. Staging files are removed whatever happens.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from bankfeeds.adapters.db.models import Connector, ConnectorRun
from bankfeeds.adapters.sftp import SftpSource, open_sftp
from bankfeeds.domain.checksum import parse_sidecar
from bankfeeds.errors import BankfeedsError, ChecksumMismatch
from bankfeeds.services import runs
from bankfeeds.services.context import AppContext
from bankfeeds.services.discovery import Candidate, Passed, discover, split_known
from bankfeeds.services.records import record_passed, record_quarantine, record_verified
from bankfeeds.services.sources import pin_if_new, sftp_params

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 2.0


@dataclass
class Tally:
    """What a run did, counted as it goes."""

    discovered: int = 0
    downloaded: int = 0
    skipped: int = 0
    quarantined: int = 0
    failed: int = 0
    waiting: int = 0
    bytes_done: dict[str, int] = field(default_factory=dict)
    bytes_expected: int = 0

    def outcome(self) -> str:
        """SUCCESS, PARTIAL or FAILED from the counts."""
        problems = self.failed + self.quarantined + self.waiting
        if problems == 0:
            return "SUCCESS"
        return "PARTIAL" if self.downloaded + self.skipped > 0 or self.waiting else "FAILED"

    def columns(self) -> dict[str, int]:
        """The run columns these counts fill."""
        return {
            "files_discovered": self.discovered,
            "files_downloaded": self.downloaded,
            "files_skipped": self.skipped,
            "files_quarantined": self.quarantined,
            "files_failed": self.failed,
            "bytes_downloaded": sum(self.bytes_done.values()),
            "bytes_expected": self.bytes_expected,
        }

    def summary(self) -> str | None:
        """A sentence about what went wrong, if anything did."""
        parts = []
        if self.failed:
            parts.append(f"{self.failed} file(s) failed to download")
        if self.quarantined:
            parts.append(f"{self.quarantined} file(s) quarantined on checksum mismatch")
        if self.waiting:
            parts.append(f"{self.waiting} file(s) not ready yet; a later run will pick them up")
        return ("; ".join(parts) + ".") if parts else None


async def execute(ctx: AppContext, run_pk: int) -> None:
    """Carry out a RUNNING run to its end; every outcome is recorded on the run."""
    tally = Tally()
    staging = ctx.settings.data_dir / "staging" / f"run_{run_pk}"
    beat = asyncio.create_task(_heartbeat(ctx, run_pk, tally))
    try:
        async with ctx.sessions() as session:
            run = await session.get(ConnectorRun, run_pk)
            assert run is not None
            connector = await session.get(Connector, run.connector_id)
            assert connector is not None
        await _ingest(ctx, run, connector, staging, tally)
        status = tally.outcome()
        await runs.finish(
            ctx=ctx,
            run_pk=run_pk,
            status=status,
            error_code=None if status == "SUCCESS" else "incomplete",
            error_message=tally.summary(),
            **tally.columns(),
        )
    except BankfeedsError as exc:
        log.warning("run %s failed: %s", run_pk, exc.message, extra={"run_id": run_pk})
        await runs.finish(
            ctx=ctx,
            run_pk=run_pk,
            status="FAILED",
            error_code=exc.code,
            error_message=exc.message,
            **tally.columns(),
        )
    except asyncio.CancelledError:
        await asyncio.shield(
            runs.finish(
                ctx=ctx,
                run_pk=run_pk,
                status="FAILED",
                error_code="interrupted",
                error_message="The run was interrupted (the worker stopped).",
                **tally.columns(),
            )
        )
        raise
    except Exception:
        log.exception("run %s crashed", run_pk, extra={"run_id": run_pk})
        await runs.finish(
            ctx=ctx,
            run_pk=run_pk,
            status="FAILED",
            error_code="internal-error",
            error_message="An unexpected error stopped the run; it was logged.",
            **tally.columns(),
        )
    finally:
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)
        await asyncio.to_thread(shutil.rmtree, staging, True)


async def _heartbeat(ctx: AppContext, run_pk: int, tally: Tally) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        try:
            await runs.heartbeat(
                ctx=ctx,
                run_pk=run_pk,
                bytes_downloaded=sum(tally.bytes_done.values()),
                bytes_expected=tally.bytes_expected,
            )
        except Exception:  # a missed beat is retried next time; the lease outlives several
            log.warning("heartbeat for run %s failed", run_pk, exc_info=True)


async def _ingest(
    ctx: AppContext, run: ConnectorRun, connector: Connector, staging: Path, tally: Tally
) -> None:
    config = connector.config
    params = sftp_params(ctx, connector)
    async with open_sftp(params) as source:
        await pin_if_new(ctx, connector, source)
        candidates, passed = await discover(
            source,
            remote_path=config["remotePath"],
            pattern=config["filePattern"],
            checksum_ext=config.get("checksumExt"),
            cycle_date=run.cycle_date,
            stable_seconds=float(config.get("stableSeconds", 0)),
        )
        if not run.force:
            candidates, known = await split_known(ctx, connector.id, candidates)
            passed += known
        tally.discovered = len(candidates) + sum(
            p.outcome in ("SKIPPED", "WAITING") for p in passed
        )
        tally.skipped = sum(p.outcome == "SKIPPED" for p in passed)
        tally.waiting = sum(p.outcome == "WAITING" for p in passed)
        tally.bytes_expected = sum(c.size for c in candidates)
        await record_passed(ctx, run.id, passed)
        await asyncio.to_thread(staging.mkdir, parents=True, exist_ok=True)
        gate = asyncio.Semaphore(max(1, params.max_files_in_flight))

        async def one(index: int, candidate: Candidate) -> None:
            async with gate:
                await _fetch(ctx, run, connector, source, candidate, staging / f"{index}", tally)

        await asyncio.gather(*(one(i, c) for i, c in enumerate(candidates)))


async def _fetch(
    ctx: AppContext,
    run: ConnectorRun,
    connector: Connector,
    source: SftpSource,
    candidate: Candidate,
    dest: Path,
    tally: Tally,
) -> None:
    """Download, verify and store one file; a per-file error is recorded, a lost link raises."""
    expected: str | None = None
    sidecar_problem: ChecksumMismatch | None = None
    try:
        if candidate.sidecar_path is not None:
            raw = await source.read_small(candidate.sidecar_path)
            try:
                expected = parse_sidecar(raw, candidate.name)
            except ChecksumMismatch as exc:
                sidecar_problem = exc

        def progress(done: int) -> None:
            tally.bytes_done[candidate.path] = done

        result = await source.download(candidate.path, dest, progress)
        if sidecar_problem is None and expected is not None and result.sha256 != expected:
            sidecar_problem = ChecksumMismatch(
                f"{candidate.name}: SHA-256 is {result.sha256[:12]}… but its sidecar says "
                f"{expected[:12]}…."
            )
        if sidecar_problem is not None:
            await record_quarantine(ctx, run, connector, candidate, dest, result, sidecar_problem)
            tally.quarantined += 1
            return
        outcome = await record_verified(ctx, run, connector, candidate, dest, result, expected)
        if outcome == "SKIPPED":
            tally.skipped += 1
        else:
            tally.downloaded += 1
    except BankfeedsError as exc:
        if source.connection_lost:
            raise
        tally.failed += 1
        await record_passed(
            ctx, run.id, [Passed(candidate.name, candidate.size, "FAILED", exc.message)]
        )
    finally:
        await asyncio.to_thread(dest.unlink, missing_ok=True)
