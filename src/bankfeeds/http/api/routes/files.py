"""File endpoints: accepting a file that looked like an old one re-sent."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from bankfeeds.access.auth import Principal, Role
from bankfeeds.days import delivery as days
from bankfeeds.http.api.deps import context, require
from bankfeeds.pipeline.worker import Worker
from bankfeeds.storage.context import AppContext

router = APIRouter(prefix="/ops/files", tags=["files"])
Ctx = Annotated[AppContext, Depends(context)]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]


@router.post("/{file_id}/accept")
async def accept(
    file_id: Annotated[str, Path(max_length=40)], request: Request, ctx: Ctx, who: Operator
) -> dict[str, Any]:
    """Take a STALE file as its day's real file: the day counts as delivered and is reconciled."""
    view = await days.accept(ctx=ctx, file_id=file_id, actor=who.name)
    worker = request.app.state.worker
    if isinstance(worker, Worker):
        worker.wake()
    return view
