"""File endpoints: accepting a file that looked like an old one re-sent."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from bankfeeds.http.deps import Ctx, Operator
from bankfeeds.pipeline import handoff
from bankfeeds.pipeline.worker import Worker

router = APIRouter(prefix="/ops/files", tags=["files"])


@router.post("/{file_id}/accept")
async def accept(
    file_id: Annotated[str, Path(max_length=40)], request: Request, ctx: Ctx, who: Operator
) -> dict[str, Any]:
    """Take a STALE file as its day's real file: the day counts as delivered and is reconciled."""
    view = await handoff.accept_file(ctx=ctx, file_id=file_id, actor=who.name)
    worker = request.app.state.worker
    if isinstance(worker, Worker):
        worker.wake()
    return view
