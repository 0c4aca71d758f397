"""A connector's day as the files that make it: old files re-sent as new, and accepting them.

A non-empty file whose bytes are another day's file of the same connector is *stale*: banks
re-send yesterday's file under today's name, and reconciling it would pass today's PG rows off as
settled by yesterday's money. Such a file is kept (status ``STALE``) with its rows normalised,
opens ``STALE_FILE`` naming both days, and leaves the day's ``FILE_MISSING`` to open. An operator
who knows the day really was identical accepts it; a different file arriving for that day settles
the question by itself. A zero-row file is never stale: two holidays in a row look alike.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.access import audit
from bankfeeds.core.errors import Conflict, NotFound
from bankfeeds.core.ids import parse_id, public_id
from bankfeeds.days.expectations import resolve_missing
from bankfeeds.desk.exceptions import (
    open_file_exception,
    resolve_by_system,
)
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import IngestedFile, ReconException


async def other_day_twin(session: AsyncSession, row: IngestedFile) -> IngestedFile | None:
    """The connector's earliest file of another day with the same bytes, if there is one."""
    return await session.scalar(
        select(IngestedFile)
        .where(
            IngestedFile.connector_id == row.connector_id,
            IngestedFile.sha256 == row.sha256,
            IngestedFile.cycle_date != row.cycle_date,
            IngestedFile.status != "STALE",
        )
        .order_by(IngestedFile.id)
        .limit(1)
    )


def stale_reason(twin: IngestedFile) -> str:
    """Why a file is stale: the other day's file it repeats."""
    return (
        f"the same bytes as {twin.remote_name} for {twin.cycle_date.isoformat()} "
        f"({public_id('file', twin.id)})"
    )


def stale_key(row: IngestedFile) -> str:
    """The dedupe key of a file's STALE_FILE exception."""
    return f"STALE_FILE:{row.id}"


async def open_stale(
    session: AsyncSession, ctx: AppContext, row: IngestedFile, twin: IngestedFile
) -> None:
    """Open the STALE_FILE exception of ``row``, which has the bytes of ``twin``'s day."""
    day, other = row.cycle_date.isoformat(), twin.cycle_date.isoformat()
    fid = public_id("file", row.id)
    await open_file_exception(
        session,
        ctx,
        row,
        kind="STALE_FILE",
        severity="HIGH",
        message=(
            f"{row.remote_name} for {day} has the same bytes as {twin.remote_name} for {other} "
            f"({public_id('file', twin.id)}): the bank seems to have re-sent {other}'s file. "
            f"{day} stays missing until a different file arrives or someone accepts {fid}."
        ),
        dedupe_key=stale_key(row),
        data={
            "fileId": fid,
            "sameAsFileId": public_id("file", twin.id),
            "sameAsDate": other,
            "sameAsName": twin.remote_name,
        },
    )


async def day_delivered(session: AsyncSession, ctx: AppContext, row: IngestedFile) -> None:
    """A usable file of the day is in: the day is no longer missing, nor stale."""
    now = ctx.clock()
    await resolve_missing(session, row, now=now)
    await resolve_by_system(
        session,
        ReconException.kind == "STALE_FILE",
        ReconException.connector_id == row.connector_id,
        ReconException.cycle_date == row.cycle_date,
        ReconException.file_id != row.id,
        now=now,
        note=f"A different file arrived for the day: {public_id('file', row.id)} "
        f"({row.remote_name}).",
    )


async def accept(*, ctx: AppContext, file_id: str, actor: str) -> dict[str, Any]:
    """Take a STALE file as the day's real file after all; the caller reconciles its day."""
    pk = parse_id("file", file_id)
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        row = await session.scalar(
            select(IngestedFile).where(IngestedFile.id == pk).with_for_update()
        )
        if row is None:
            raise NotFound(f"No file with id {file_id!r}.")
        if row.status != "STALE":
            raise Conflict(
                f"File {file_id} is {row.status.lower()}; only a stale file can be accepted."
            )
        row.status, row.updated_at, row.error_message = "NORMALIZED", now, None
        await resolve_by_system(
            session,
            ReconException.kind == "STALE_FILE",
            ReconException.file_id == row.id,
            now=now,
            note=f"Accepted by {actor} as the file for {row.cycle_date.isoformat()}.",
        )
        await resolve_missing(session, row, now=now)
        audit.record(
            session,
            actor=actor,
            action="file.accept",
            target_type="file",
            target_id=file_id,
            diff={"status": {"from": "STALE", "to": "NORMALIZED"}},
            now=now,
        )
        view: dict[str, Any] = {
            "id": file_id,
            "name": row.remote_name,
            "cycleDate": row.cycle_date.isoformat(),
            "status": row.status,
        }
    return view


async def stale_file_of(ctx: AppContext, exception_id: str) -> str:
    """The id of the file an open STALE_FILE exception is about, to accept it."""
    pk = parse_id("exception", exception_id)
    async with ctx.sessions() as session:
        row = await session.get(ReconException, pk)
    if row is None:
        raise NotFound(f"No exception with id {exception_id!r}.")
    if row.kind != "STALE_FILE" or row.file_id is None:
        raise Conflict(f"Exception {exception_id} is not about a stale file.")
    return public_id("file", row.file_id)
