"""Recording what a run did to each file, with the database deciding what is a duplicate."""

from __future__ import annotations

from collections.abc import Sequence
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
from bankfeeds.normalise.service import normalise_stored
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import (
    Connector,
    ConnectorRun,
    IngestedFile,
    ReconException,
    RemoteFile,
    RunFile,
)
from bankfeeds.transports.sftp.client import DownloadResult


class _Duplicate(Exception):
    pass


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
    """Remember (path, size, mtime) so the next listing recognises the file without a download."""
    try:
        async with session.begin_nested():
            session.add(
                RemoteFile(
                    connector_id=connector_pk,
                    remote_path=c.path,
                    size=c.size,
                    mtime=c.mtime,
                    sha256=sha256,
                    file_id=file_pk,
                    first_seen_run_id=run_pk,
                    created_at=ctx.clock(),
                )
            )
            await session.flush()
    except IntegrityError:
        pass  # a forced re-download of a file we already remember


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
    c: Candidate,
    staged: Path,
    result: DownloadResult,
    expected: str | None,
    *,
    listed: bool = True,
) -> str:
    """Store a verified file and its row; returns DOWNLOADED, NEW_VERSION or SKIPPED.

    ``listed`` says the file came from a directory listing, whose (path, size, mtime) is
    remembered so the next run skips it without a download; an API response has no listing.
    """
    stored = await ctx.store.put_file(staged, result.sha256, hashed=True)  # durable first
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
        # After the commit: the row is DOWNLOADED for good. Scratch files go in the run's staging
        # directory, which a re-run of a killed run removes.
        await normalise_stored(ctx, row.id, staged.parent)
        return outcome
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
) -> str:
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
        return outcome
    await normalise_stored(ctx, existing.id)
    return "DOWNLOADED"


async def record_quarantine(
    ctx: AppContext,
    run: ConnectorRun,
    connector: Connector,
    c: Candidate,
    staged: Path,
    result: DownloadResult,
    problem: ChecksumMismatch,
) -> None:
    """Keep failed bytes apart for forensics, mark the file QUARANTINED, open an exception."""
    key = await ctx.store.put_quarantine(staged, result.sha256, c.name)
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
