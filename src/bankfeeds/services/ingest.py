"""The ingestion pipeline for one claimed run: connect, discover, fetch, verify, store, record.

Order of durability: the object is stored (fsync, atomic rename) before the row that points at it
is committed, so a crash leaves at worst an orphan object that the next run adopts, never a row
pointing at nothing. Staging files are removed whatever happens.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

from bankfeeds.adapters.db.models import Connector, ConnectorRun
from bankfeeds.adapters.http_source import HttpParams, open_http
from bankfeeds.adapters.sftp import DownloadResult, SftpSource, open_sftp
from bankfeeds.domain.checksum import parse_sidecar
from bankfeeds.errors import BankfeedsError, ChecksumMismatch, HostKeyError
from bankfeeds.services import runs
from bankfeeds.services.context import AppContext
from bankfeeds.services.discovery import Candidate, Passed, discover, split_known
from bankfeeds.services.faults import checkpoint
from bankfeeds.services.records import record_passed, record_quarantine, record_verified
from bankfeeds.services.records_unpacked import record_unpacked
from bankfeeds.services.sources import pin_if_new, record_host_key_refusal, sftp_params
from bankfeeds.services.unpack import Layer, UnpackRules, needs_unpacking, rules_for, unpack

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
    refused: int = 0
    refusal: str | None = None
    waiting: int = 0
    bytes_done: dict[str, int] = field(default_factory=dict)
    bytes_expected: int = 0

    def outcome(self) -> str:
        """SUCCESS, PARTIAL or FAILED from the counts."""
        problems = self.failed + self.refused + self.quarantined + self.waiting
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
            "files_failed": self.failed + self.refused,
            "bytes_downloaded": sum(self.bytes_done.values()),
            "bytes_expected": self.bytes_expected,
        }

    def error_code(self) -> str | None:
        """None on success; checksum-mismatch when only quarantines spoiled the run."""
        if self.outcome() == "SUCCESS":
            return None
        if self.failed or self.waiting:
            return "incomplete"
        return "file-refused" if self.refused else "checksum-mismatch"

    def retryable(self) -> bool:
        """Whether a later attempt could do better (files that failed or were not ready)."""
        return bool(self.failed or self.waiting)

    def summary(self) -> str | None:
        """A sentence about what went wrong, if anything did."""
        parts = []
        if self.failed:
            parts.append(f"{self.failed} file(s) failed to download")
        if self.refused:
            parts.append(f"{self.refused} file(s) refused ({(self.refusal or '').rstrip('.')})")
        if self.quarantined:
            parts.append(f"{self.quarantined} file(s) quarantined on checksum mismatch")
        if self.waiting:
            parts.append(f"{self.waiting} file(s) not ready yet; a later run will pick them up")
        return ("; ".join(parts) + ".") if parts else None


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


async def execute(ctx: AppContext, run_pk: int, worker_id: str) -> None:
    """Carry out a RUNNING run held by ``worker_id`` to its end, recording every outcome."""
    tally = Tally()
    staging = ctx.settings.data_dir / "staging" / f"run_{run_pk}"
    beat = _Beat(ctx, run_pk, worker_id, tally)

    async def finish(status: str, code: str | None, message: str | None, retryable: bool) -> None:
        await runs.finish(
            ctx=ctx,
            run_pk=run_pk,
            worker_id=worker_id,
            status=status,
            retryable=retryable,
            error_code=code,
            error_message=message,
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
        status = tally.outcome()
        await finish(status, tally.error_code(), tally.summary(), tally.retryable())
    except BankfeedsError as exc:
        log.warning("run failed: %s", exc.message, extra={"run_id": run_pk})
        await finish("FAILED", exc.code, exc.message, exc.retryable)
    except asyncio.CancelledError:
        if not beat.lost:  # shutting down: hand the run back for another worker
            await asyncio.shield(runs.release(ctx=ctx, run_pk=run_pk, worker_id=worker_id))
        raise
    except Exception:
        log.exception("run crashed", extra={"run_id": run_pk})
        await finish("FAILED", "internal-error", "An unexpected error stopped the run.", True)
    finally:
        await beat.stop()
        await asyncio.to_thread(shutil.rmtree, staging, True)


async def _ingest(
    ctx: AppContext, run: ConnectorRun, connector: Connector, staging: Path, tally: Tally
) -> None:
    if connector.type == "API":
        await _ingest_api(ctx, run, connector, staging, tally)
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
                dest = staging / f"{index}"
                await _fetch(ctx, run, connector, source, candidate, dest, tally, rules)

        await asyncio.gather(*(one(i, c) for i, c in enumerate(candidates)))


async def _ingest_api(
    ctx: AppContext, run: ConnectorRun, connector: Connector, staging: Path, tally: Tally
) -> None:
    """One cycle date from a bank's HTTP API: fetch every page, verify, then store as one file."""
    params = HttpParams.from_config(
        connector.config,
        ctx.secrets.decrypt(connector.secrets),
        allow_hosts=ctx.settings.api_allow_hosts,
        max_bytes=ctx.settings.api_max_bytes,
    )
    await asyncio.to_thread(staging.mkdir, parents=True, exist_ok=True)
    tally.discovered = 1

    def progress(done: int) -> None:
        tally.bytes_done["api"] = done

    async with open_http(params) as source:
        delivery = await source.fetch_day(run.cycle_date, staging, progress)
    tally.bytes_expected = delivery.size
    tally.bytes_done["api"] = sum(page.size for page in delivery.pages)
    checkpoint("after-download")
    c = Candidate(
        name=delivery.name,
        path=delivery.pages[0].url if delivery.pages else delivery.name,
        size=delivery.size,
        mtime=int(ctx.clock().timestamp()),
        sidecar_path=None,
    )
    for page in delivery.pages:
        if page.expected_sha256 is not None and page.expected_sha256 != page.sha256:
            problem = ChecksumMismatch(
                f"{delivery.name}: page {page.url} has SHA-256 {page.sha256[:12]}… but the bank "
                f"says {page.expected_sha256[:12]}…."
            )
            page_c = replace(c, path=page.url, size=page.size)
            result = DownloadResult(page.sha256, page.size)
            await record_quarantine(ctx, run, connector, page_c, page.path, result, problem)
            tally.quarantined += 1
            return
    # The bank's checksum covers the stored bytes only when one page was stored as it came.
    only = delivery.pages[0] if len(delivery.pages) == 1 else None
    expected = only.expected_sha256 if only and only.sha256 == delivery.sha256 else None
    result = DownloadResult(delivery.sha256, delivery.size)
    try:
        outcome = await _store(
            ctx,
            run,
            connector,
            c,
            delivery.path,
            result,
            expected,
            rules_for(ctx, connector),
            listed=False,
        )
    except BankfeedsError as exc:
        if exc.retryable:
            raise
        _refuse(tally, exc)
        await record_passed(ctx, run.id, [Passed(c.name, c.size, "FAILED", exc.message)])
        return
    _count(tally, outcome)


async def _store(
    ctx: AppContext,
    run: ConnectorRun,
    connector: Connector,
    c: Candidate,
    staged: Path,
    result: DownloadResult,
    expected: str | None,
    rules: UnpackRules,
    *,
    listed: bool = True,
) -> str:
    """Record a verified file, unpacking it first when it is encrypted or an archive."""
    if not needs_unpacking(c.name, rules):
        return await record_verified(
            ctx, run, connector, c, staged, result, expected, listed=listed
        )
    workdir = staged.with_name(staged.name + ".unpacked")
    try:
        root = await asyncio.to_thread(
            unpack, Layer(c.name, staged, result.sha256, result.size), rules, workdir
        )
        return await record_unpacked(ctx, run, connector, c, root, expected, listed=listed)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


def _refuse(tally: Tally, exc: BankfeedsError) -> None:
    tally.refused += 1
    tally.refusal = tally.refusal or exc.message


def _count(tally: Tally, outcome: str) -> None:
    if outcome == "SKIPPED":
        tally.skipped += 1
    else:
        tally.downloaded += 1


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
    expected: str | None = None
    sidecar_problem: ChecksumMismatch | None = None
    try:

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
        if raw is not None:
            try:
                expected = parse_sidecar(raw, candidate.name)
            except ChecksumMismatch as exc:
                sidecar_problem = exc
        if sidecar_problem is None and expected is not None and result.sha256 != expected:
            sidecar_problem = ChecksumMismatch(
                f"{candidate.name}: SHA-256 is {result.sha256[:12]}… but its sidecar says "
                f"{expected[:12]}…."
            )
        if sidecar_problem is not None:
            await record_quarantine(ctx, run, connector, candidate, dest, result, sidecar_problem)
            tally.quarantined += 1
            return
        _count(tally, await _store(ctx, run, connector, candidate, dest, result, expected, rules))
    except BankfeedsError as exc:
        if source.connection_lost:
            raise
        # A file the bank must fix (wrong key, bad signature, archive bomb) is refused for good;
        # anything else may go better on the next attempt.
        if exc.retryable:
            tally.failed += 1
        else:
            _refuse(tally, exc)
        await record_passed(
            ctx, run.id, [Passed(candidate.name, candidate.size, "FAILED", exc.message)]
        )
    finally:
        await asyncio.to_thread(dest.unlink, missing_ok=True)
