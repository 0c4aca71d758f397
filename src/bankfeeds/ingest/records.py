"""Recording what a run did to each file, with the database deciding what is a duplicate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.connectors.bank_names import recon_provider
from bankfeeds.core.errors import ChecksumMismatch
from bankfeeds.core.faults import checkpoint
from bankfeeds.core.ids import public_id
from bankfeeds.days.delivery import other_day_twin
from bankfeeds.days.expectations import resolve_missing
from bankfeeds.desk.exceptions import open_exception, resolve_by_system
from bankfeeds.ingest.discovery import Candidate, Passed
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import (
    Connector,
    ConnectorRun,
    IngestedFile,
    ReconException,
    RemoteFile,
    RunFile,
)
from bankfeeds.transports.sink import DownloadResult


class _Duplicate(Exception):
    pass


@dataclass(frozen=True)
class Arrived:
    """A file a transport left in staging: its hash, and what the bank's checksum said of it."""

    candidate: Candidate
    staged: Path
    result: DownloadResult
    #: The SHA-256 the bank vouched for, when it matched what arrived.
    expected: str | None = None
    #: The bank's checksum disagrees with the bytes: they are kept in quarantine, not stored.
    problem: ChecksumMismatch | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording a delivery did: the run-file outcome, and the stored files to normalise."""

    outcome: str
    to_normalise: tuple[int, ...] = ()


async def record_passed(ctx: AppContext, run_pk: int, passed: Sequence[Passed]) -> None:
    """Record files a run left alone, and why."""
    if not passed:
        return
    now = ctx.clock()
    rows = [
        {
            "run_id": run_pk,
            "file_id": p.file_pk,
            "remote_name": p.name[:255],
            "size": p.size,
            "outcome": p.outcome,
            "message": p.reason,
            "created_at": now,
        }
        for p in passed
    ]
    # One executemany through Core: a re-run over 10,000 known files records them all, and ORM
    # objects for each cost more than the listing itself.
    async with ctx.sessions.begin() as session:
        conn = await session.connection()
        for start in range(0, len(rows), 1000):
            await conn.execute(insert(RunFile), rows[start : start + 1000])


async def remember(
    session: AsyncSession,
    ctx: AppContext,
    connector_pk: int,
    run_pk: int,
    c: Candidate,
    sha256: str,
    file_pk: int,
) -> None:
    """Remember (path, size, mtime) so the next listing recognises the file without a download.

    The sidecar's listed (size, mtime) is kept too: a later listing where only it differs may be
    a same-size correction with the file's mtime preserved (see ``discovery.split_known``).
    """
    try:
        async with session.begin_nested():
            session.add(
                RemoteFile(
                    connector_id=connector_pk,
                    remote_path=c.path,
                    size=c.size,
                    mtime=c.mtime,
                    sha256=sha256,
                    sidecar_size=c.sidecar_size,
                    sidecar_mtime=c.sidecar_mtime,
                    file_id=file_pk,
                    first_seen_run_id=run_pk,
                    created_at=ctx.clock(),
                )
            )
            await session.flush()
    except IntegrityError:
        # Listed as before, fetched again (forced, or its sidecar changed): what we hold now is
        # what the next listing must compare with, or a correction would be fetched every run.
        await session.execute(
            update(RemoteFile)
            .where(
                RemoteFile.connector_id == connector_pk,
                RemoteFile.remote_path == c.path,
                RemoteFile.size == c.size,
                RemoteFile.mtime == c.mtime,
            )
            .values(
                sha256=sha256,
                file_id=file_pk,
                sidecar_size=c.sidecar_size,
                sidecar_mtime=c.sidecar_mtime,
            )
        )


def run_file(
    run_pk: int,
    file_pk: int | None,
    c: Candidate,
    result: DownloadResult,
    outcome: str,
    message: str | None,
    now: datetime,
) -> RunFile:
    """What a run did with a file it downloaded."""
    return RunFile(
        run_id=run_pk,
        file_id=file_pk,
        remote_name=c.name,
        size=result.size,
        outcome=outcome,
        sha256=result.sha256,
        message=message,
        created_at=now,
    )


def file_row(
    run: ConnectorRun,
    connector: Connector,
    c: Candidate,
    result: DownloadResult,
    object_key: str,
    status: str,
    now: datetime,
) -> IngestedFile:
    """The row of a file one run fetched, with where its bytes are kept."""
    return IngestedFile(
        connector_id=connector.id,
        run_id=run.id,
        provider=recon_provider(connector.provider, connector.config),
        cycle_date=run.cycle_date,
        remote_name=c.name,
        remote_path=c.path,
        remote_size=c.size,
        remote_mtime=c.mtime,
        sha256=result.sha256,
        size=result.size,
        object_key=object_key,
        status=status,
        version=1,
        created_at=now,
        updated_at=now,
    )


async def file_by_hash(
    session: AsyncSession, connector_pk: int, sha256: str, cycle_date: date
) -> IngestedFile | None:
    """The connector's file of that day with these bytes (at most one: the key is unique)."""
    return await session.scalar(
        select(IngestedFile).where(
            IngestedFile.connector_id == connector_pk,
            IngestedFile.cycle_date == cycle_date,
            IngestedFile.sha256 == sha256,
        )
    )


async def arrived(session: AsyncSession, row: IngestedFile, now: datetime) -> None:
    """What a verified file's arrival settles: its sidecar problem, and (unless it may be an
    old file re-sent, which normalising decides) the day's FILE_MISSING."""
    await resolve_by_system(
        session,
        ReconException.kind == "CHECKSUM_MISMATCH",
        ReconException.connector_id == row.connector_id,
        ReconException.cycle_date == row.cycle_date,
        ReconException.data["name"].as_string() == row.remote_name,
        now=now,
        note=f"{row.remote_name} now verifies: {public_id('file', row.id)}.",
    )
    if await other_day_twin(session, row) is None:
        await resolve_missing(session, row, now=now)


def same_bytes(existing: IngestedFile) -> str:
    """Why a file was skipped: the row that already holds its bytes."""
    return f"same bytes as {public_id('file', existing.id)} ({existing.remote_name})"


async def prior_version(
    session: AsyncSession, connector_pk: int, name: str, cycle_date: date
) -> IngestedFile | None:
    """The newest kept version of a file name on a cycle date, if there is one."""
    return await session.scalar(
        select(IngestedFile)
        .where(
            IngestedFile.connector_id == connector_pk,
            IngestedFile.remote_name == name,
            IngestedFile.cycle_date == cycle_date,
            IngestedFile.status != "QUARANTINED",
        )
        .order_by(IngestedFile.version.desc())
        .limit(1)
    )


async def record_verified(
    ctx: AppContext,
    run: ConnectorRun,
    connector: Connector,
    got: Arrived,
    *,
    listed: bool = True,
) -> Recorded:
    """Store a verified file and its row: DOWNLOADED, NEW_VERSION or SKIPPED.

    ``listed`` says the file came from a directory listing, whose (path, size, mtime) is
    remembered so the next run skips it without a download; an API response has no listing.
    """
    c, result, expected = got.candidate, got.result, got.expected
    stored = await ctx.store.put_file(got.staged, result.sha256, hashed=True)  # durable first
    checkpoint("after-put")
    now = ctx.clock()
    try:
        async with ctx.sessions.begin() as session:
            prior = await prior_version(session, connector.id, c.name, run.cycle_date)
            row = file_row(run, connector, c, result, stored.key, "DOWNLOADED", now)
            row.expected_sha256 = expected
            row.version = (prior.version + 1) if prior else 1
            row.supersedes_id = prior.id if prior else None
            session.add(row)
            try:
                await session.flush()
            except IntegrityError as exc:
                raise _Duplicate from exc
            await arrived(session, row, now)
            outcome = "NEW_VERSION" if prior else "DOWNLOADED"
            message = f"new version {row.version} of {c.name}" if prior else None
            session.add(run_file(run.id, row.id, c, result, outcome, message, now))
            if listed:
                await remember(session, ctx, connector.id, run.id, c, result.sha256, row.id)
        checkpoint("after-commit")
        # After the commit the row is DOWNLOADED for good; normalising it is the caller's step.
        return Recorded(outcome, (row.id,))
    except _Duplicate:
        return await _duplicate(ctx, run, connector, c, result, stored.key, listed)


async def _duplicate(
    ctx: AppContext,
    run: ConnectorRun,
    connector: Connector,
    c: Candidate,
    result: DownloadResult,
    object_key: str,
    listed: bool,
) -> Recorded:
    """The same bytes are already ingested: skip, or promote an earlier quarantined copy."""
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        existing = await file_by_hash(session, connector.id, result.sha256, run.cycle_date)
        assert existing is not None
        message = same_bytes(existing)
        outcome = "SKIPPED"
        if existing.status == "QUARANTINED":
            # The bytes were refused before only because of their sidecar; now they verify.
            await session.execute(
                update(IngestedFile)
                .where(IngestedFile.id == existing.id)
                .values(
                    status="DOWNLOADED",
                    object_key=object_key,
                    updated_at=now,
                    error_message=None,
                    expected_sha256=result.sha256,
                )
            )
            outcome, message = "DOWNLOADED", f"verified now; was quarantined as {message}"
            await arrived(session, existing, now)
        session.add(run_file(run.id, existing.id, c, result, outcome, message, now))
        if listed:
            await remember(session, ctx, connector.id, run.id, c, result.sha256, existing.id)
    if outcome == "SKIPPED":
        return Recorded(outcome)
    return Recorded("DOWNLOADED", (existing.id,))


async def record_quarantine(
    ctx: AppContext,
    run: ConnectorRun,
    connector: Connector,
    got: Arrived,
    problem: ChecksumMismatch,
) -> None:
    """Keep failed bytes apart for forensics, mark the file QUARANTINED, open an exception."""
    c, result = got.candidate, got.result
    key = await ctx.store.put_quarantine(got.staged, result.sha256, c.name)
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        file_pk: int | None = None
        try:
            async with session.begin_nested():
                row = file_row(run, connector, c, result, key, "QUARANTINED", now)
                row.error_message = problem.message
                session.add(row)
                await session.flush()
                file_pk = row.id
        except IntegrityError:
            known = await file_by_hash(session, connector.id, result.sha256, run.cycle_date)
            file_pk = known.id if known else None
        session.add(run_file(run.id, file_pk, c, result, "QUARANTINED", problem.message, now))
        await open_exception(
            session,
            ctx,
            kind="CHECKSUM_MISMATCH",
            severity="HIGH",
            message=problem.message,
            dedupe_key=f"CHECKSUM_MISMATCH:{connector.id}:{result.sha256}",
            connector_pk=connector.id,
            run_pk=run.id,
            file_pk=file_pk,
            provider=connector.provider,
            cycle_date=run.cycle_date,
            data={"name": c.name, "sha256": result.sha256, "quarantineKey": key},
        )
