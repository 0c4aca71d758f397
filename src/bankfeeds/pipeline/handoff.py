"""Handing work from one capability to the next: a stored file is normalised, a ready day is
reconciled. The capabilities below never call upward; this module is where the steps meet.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bankfeeds.connectors import service as connector_service
from bankfeeds.connectors.model import ConnectorCreate, ConnectorPatch
from bankfeeds.connectors.service import Saved
from bankfeeds.core.ids import parse_id, public_id
from bankfeeds.days import delivery
from bankfeeds.desk.exceptions import get_exception
from bankfeeds.normalise.service import claim_known, claim_stranded, normalise_stored
from bankfeeds.recon.jobs import identity_changed, trigger_for_file
from bankfeeds.storage.context import AppContext

log = logging.getLogger(__name__)


async def file_stored(ctx: AppContext, file_pk: int, scratch: Path | None = None) -> None:
    """Normalise a stored file and, once it is NORMALIZED, reconcile its day; never raises."""
    if not await normalise_stored(ctx, file_pk, scratch):
        return
    try:
        await trigger_for_file(ctx, file_pk)
    except Exception:  # the re-run endpoint can start the job later
        log.exception("recon trigger failed", extra={"file_id": file_pk})


async def files_stored(ctx: AppContext, file_pks: Iterable[int], scratch: Path | None) -> None:
    """``file_stored`` for each file a delivery stored, in order."""
    for file_pk in file_pks:
        await file_stored(ctx, file_pk, scratch)


async def sweep_stranded(ctx: AppContext, *, limit: int = 20) -> int:
    """Take up files a crashed worker left DOWNLOADED; returns how many were taken."""
    taken = await claim_stranded(ctx, limit=limit)
    await files_stored(ctx, taken, None)
    return len(taken)


async def resume_known(ctx: AppContext, file_pks: list[int], scratch: Path | None) -> int:
    """Take up those of a run's already-known files still DOWNLOADED; returns how many."""
    taken = await claim_known(ctx, file_pks)
    await files_stored(ctx, taken, scratch)
    return len(taken)


async def accept_file(*, ctx: AppContext, file_id: str, actor: str) -> dict[str, Any]:
    """Take a STALE file as its day's real file and reconcile the day with it."""
    view = await delivery.accept(ctx=ctx, file_id=file_id, actor=actor)
    jobs = await trigger_for_file(ctx, parse_id("file", file_id))
    return {**view, "jobIds": [public_id("job", j) for j in jobs]}


async def accept_for_exception(*, ctx: AppContext, exception_id: str, actor: str) -> dict[str, Any]:
    """Accept the file of an open STALE_FILE exception; returns the exception's view."""
    file_id = await delivery.stale_file_of(ctx, exception_id)
    await accept_file(ctx=ctx, file_id=file_id, actor=actor)
    return await get_exception(ctx, exception_id)


async def create_connector(
    *, ctx: AppContext, body: ConnectorCreate, actor: str, idempotency_key: str | None
) -> tuple[dict[str, Any], bool]:
    """Create a connector, then reconcile again the days its bank names now answer for."""
    saved = await connector_service.create(
        ctx=ctx, body=body, actor=actor, idempotency_key=idempotency_key
    )
    await _banks_changed(ctx, saved)
    return saved.view, saved.created


async def update_connector(
    *, ctx: AppContext, connector_id: str, body: ConnectorPatch, actor: str
) -> dict[str, Any]:
    """Change a connector, then reconcile again the days a change of bank names touches."""
    saved = await connector_service.update(
        ctx=ctx, connector_id=connector_id, body=body, actor=actor
    )
    await _banks_changed(ctx, saved)
    return saved.view


async def _banks_changed(ctx: AppContext, saved: Saved) -> None:
    if saved.banks_changed:
        await identity_changed(ctx, saved.banks_changed)
