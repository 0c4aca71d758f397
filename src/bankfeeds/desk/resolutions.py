"""Resolving an exception: an operator's note, recorded on the exception and in the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bankfeeds.access import audit
from bankfeeds.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from bankfeeds.core.ids import parse_id
from bankfeeds.desk.exceptions import exception_view
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ReconException

MAX_NOTE = 2000


async def resolve(*, ctx: AppContext, exception_id: str, note: str, actor: str) -> dict[str, Any]:
    """Mark an open exception RESOLVED with a note saying why; returns its view."""
    note = note.strip()
    if not 1 <= len(note) <= MAX_NOTE:
        raise ValidationFailed(errors=[FieldError("note", f"must be 1 to {MAX_NOTE} characters")])
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        row = await session.scalar(
            select(ReconException)
            .where(ReconException.id == parse_id("exception", exception_id))
            .with_for_update()
        )
        if row is None:
            raise NotFound(f"No exception with id {exception_id!r}.")
        if row.state != "OPEN":
            raise Conflict(f"Exception {exception_id} is already {row.state.lower()}.")
        resolution = {"note": note, "by": actor, "at": now.isoformat()}
        row.data = {**(row.data or {}), "resolution": resolution}
        row.state, row.resolved_at = "RESOLVED", now
        # The key keeps one exception open per subject; once resolved, the same failure happening
        # again must open a new one and alert again. Bytes refused for their checksum stay one
        # exception: the same bytes will fail the same way until the bank sends others.
        if row.kind != "CHECKSUM_MISMATCH":
            row.dedupe_key = None
        row.owner = row.owner or actor
        audit.record(
            session,
            actor=actor,
            action="exception.resolve",
            target_type="exception",
            target_id=exception_id,
            diff={"state": {"from": "OPEN", "to": "RESOLVED"}, "note": note},
            now=now,
        )
        return exception_view(row)
