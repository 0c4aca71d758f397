"""The ingestion pipeline for one claimed run: connect, discover, fetch, verify, store, record.

Order of durability: the object is stored (fsync, atomic rename) before the row that points at it
is committed, so a crash leaves at worst an orphan object that the next run adopts, never a row
pointing at nothing. Staging files are removed whatever happens.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Any

from bankfeeds.connectors.service import connector_secrets
from bankfeeds.connectors.sources import pin_if_new, record_host_key_refusal, sftp_params
from bankfeeds.core.errors import BankfeedsError, ChecksumMismatch, HostKeyError
from bankfeeds.core.faults import checkpoint
from bankfeeds.core.logs import redacting, scrub
from bankfeeds.ingest.discovery import Candidate, Passed, discover, split_known
from bankfeeds.ingest.nearest import nearest_names, no_file_message
from bankfeeds.ingest.records import Arrived, record_passed
from bankfeeds.ingest.unpack import UnpackRules, rules_for
from bankfeeds.pipeline import handoff
from bankfeeds.pipeline.run_api import ingest_api
from bankfeeds.pipeline.tally import Tally, file_failed, settle, take
from bankfeeds.scheduling import runs
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, ConnectorRun
from bankfeeds.transports.checksum import parse_sidecar
from bankfeeds.transports.sftp.client import SftpSource, open_sftp

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 2.0


class _Beat:
    """The heartbeat of one run: renews the lease, and stops the run if the lease is lost."""

    def __init__(self, ctx: AppContext, run_pk: int, worker_id: str, tally: Tally) -> None:
        self.lost = False
        self._args = (ctx, run_pk, worker_id, tally)
        self._owner = asyncio.current_task()
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        ctx, run_pk, worker_id, tally = self._args
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                ours = await runs.heartbeat(
                    ctx=ctx,
                    run_pk=run_pk,
                    worker_id=worker_id,
                    bytes_downloaded=sum(tally.bytes_done.values()),
                    bytes_expected=tally.bytes_expected,
                )
            except Exception:  # a missed beat is retried next time; the lease outlives several
                log.warning("heartbeat failed", exc_info=True, extra={"run_id": run_pk})
                continue
            if not ours:
                # Another worker re-queued this run; carrying on would do its work twice.
                log.warning("lease lost; stopping", extra={"run_id": run_pk})
                self.lost = True
                if self._owner is not None:
                    self._owner.cancel()
                return

    async def stop(self) -> None:
        """Stop beating."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def _secrets_of(ctx: AppContext, run_pk: int) -> tuple[str, ...]:
    """The secret values of the run's connector, to keep out of its logs and records."""
    async with ctx.sessions() as session:
        run = await session.get(ConnectorRun, run_pk)
        connector = await session.get(Connector, run.connector_id) if run is not None else None
    if connector is None:
        return ()
    try:
        return connector_secrets(ctx, connector)
    except BankfeedsError:  # undecryptable: the run fails on that below and says so
        return ()


async def execute(ctx: AppContext, run_pk: int, worker_id: str) -> None:
    """Carry out a RUNNING run held by ``worker_id`` to its end, recording every outcome."""
    # Every log line, run record and exception of this run passes through core.redact.
    with redacting(await _secrets_of(ctx, run_pk)):
        await _execute(ctx, run_pk, worker_id)


async def _execute(ctx: AppContext, run_pk: int, worker_id: str) -> None:
    tally = Tally()
    staging = ctx.settings.data_dir / "staging" / f"run_{run_pk}"
    beat = _Beat(ctx, run_pk, worker_id, tally)

    async def finish(
        status: str, code: str | None, message: str | None, retryable: bool, got_file: bool
    ) -> None:
        await runs.finish(
            ctx=ctx,
            run_pk=run_pk,
            worker_id=worker_id,
            status=status,
            retryable=retryable,
            got_file=got_file,
            error_code=code,
            error_message=scrub(message) if message else message,
            **tally.columns(),
        )

    try:
        async with ctx.sessions() as session:
            run = await session.get(ConnectorRun, run_pk)
            assert run is not None
            connector = await session.get(Connector, run.connector_id)
            assert connector is not None
        try:
            await _ingest(ctx, run, connector, staging, tally)
        except HostKeyError as exc:
            await record_host_key_refusal(ctx, connector, exc)
            raise
        # Normalisation judged each stored file inside the run; its verdicts decide the outcome.
        await settle(ctx, run_pk, tally)
        status = tally.outcome()
        await finish(
            status, tally.error_code(), tally.summary(), tally.retryable(), tally.got_file()
        )
    except BankfeedsError as exc:
        log.warning("run failed: %s", scrub(exc.message), extra={"run_id": run_pk})
        await finish("FAILED", exc.code, exc.message, exc.retryable, False)
    except asyncio.CancelledError:
        if not beat.lost:  # shutting down: hand the run back for another worker
            await asyncio.shield(runs.release(ctx=ctx, run_pk=run_pk, worker_id=worker_id))
        raise
    except Exception:
        log.exception("run crashed", extra={"run_id": run_pk})
        await finish(
            "FAILED", "internal-error", "An unexpected error stopped the run.", True, False
        )
    finally:
        await beat.stop()
        await asyncio.to_thread(shutil.rmtree, staging, True)


async def _ingest(
    ctx: AppContext, run: ConnectorRun, connector: Connector, staging: Path, tally: Tally
) -> None:
    if connector.type == "API":
        await ingest_api(ctx, run, connector, staging, tally)
    else:
        await _ingest_sftp(ctx, run, connector, staging, tally)


async def _ingest_sftp(
    ctx: AppContext, run: ConnectorRun, connector: Connector, staging: Path, tally: Tally
) -> None:
    config = connector.config
    params = sftp_params(ctx, connector)
    rules = rules_for(ctx, connector)
    async with open_sftp(params) as source:
        await pin_if_new(ctx, connector, source)
        found = await discover(
            source,
            remote_path=config["remotePath"],
            pattern=config["filePattern"],
            checksum_ext=config.get("checksumExt"),
            cycle_date=run.cycle_date,
            stable_seconds=float(config.get("stableSeconds", 0)),
        )
        candidates, passed = found.ready, found.passed
        if not found.matched:
            tally.no_file = _no_file(config, run, found.others)
        known: list[Passed] = []
        if not run.force:
            candidates, known = await split_known(ctx, connector.id, candidates, source)
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
                dest = staging / f"{index}"
                await _fetch(ctx, run, connector, source, candidate, dest, tally, rules)

        await asyncio.gather(*(one(i, c) for i, c in enumerate(candidates)))
    # Known files whose normalisation a killed worker never finished.
    await handoff.resume_known(ctx, [p.file_pk for p in known if p.file_pk is not None], staging)


def _no_file(config: dict[str, Any], run: ConnectorRun, others: list[str]) -> str:
    """Say that the pattern matched nothing, naming the listed files that came nearest."""
    pattern = config["filePattern"]
    near = nearest_names(pattern, run.cycle_date, others)
    return no_file_message(pattern, run.cycle_date, config["remotePath"], near, len(others))


async def _fetch(
    ctx: AppContext,
    run: ConnectorRun,
    connector: Connector,
    source: SftpSource,
    candidate: Candidate,
    dest: Path,
    tally: Tally,
    rules: UnpackRules,
) -> None:
    """Download, verify and store one file; a per-file error is recorded, a lost link raises."""
    try:
        try:
            arrived = await _download(source, candidate, dest, tally)
        except BankfeedsError as exc:
            if source.connection_lost:
                raise
            await file_failed(ctx, run, candidate, tally, exc)
            return
        await take(ctx, run, connector, arrived, tally, rules)
    finally:
        await asyncio.to_thread(dest.unlink, missing_ok=True)


async def _download(source: SftpSource, candidate: Candidate, dest: Path, tally: Tally) -> Arrived:
    """Download a file with its sidecar and judge it against the sidecar's SHA-256."""

    def progress(done: int) -> None:
        tally.bytes_done[candidate.path] = done

    # The sidecar and the file travel together: one round trip saved per file.
    sidecar = (
        asyncio.ensure_future(source.read_small(candidate.sidecar_path))
        if candidate.sidecar_path is not None
        else None
    )
    try:
        result = await source.download(candidate.path, dest, progress)
        checkpoint("after-download")
        raw = await sidecar if sidecar is not None else None
    finally:
        if sidecar is not None and not sidecar.done():
            sidecar.cancel()
            await asyncio.gather(sidecar, return_exceptions=True)
    if raw is None:
        return Arrived(candidate, dest, result)
    try:
        expected = parse_sidecar(raw, candidate.name)
    except ChecksumMismatch as exc:
        return Arrived(candidate, dest, result, problem=exc)
    if expected is not None and result.sha256 != expected:
        problem = ChecksumMismatch(
            f"{candidate.name}: SHA-256 is {result.sha256[:12]}… but its sidecar says "
            f"{expected[:12]}…."
        )
        return Arrived(candidate, dest, result, problem=problem)
    return Arrived(candidate, dest, result, expected)
