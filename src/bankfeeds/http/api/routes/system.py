"""Liveness."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy import text

from bankfeeds.core.errors import DatabaseUnavailable
from bankfeeds.http.deps import context
from bankfeeds.storage.context import AppContext

router = APIRouter(tags=["system"])


@router.get("/healthz")
async def healthz(ctx: Annotated[AppContext, Depends(context)]) -> dict[str, Any]:
    """Open liveness check that also proves the database answers."""
    try:
        async with ctx.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ready"; the detail goes to the log
        raise DatabaseUnavailable() from exc
    return {"status": "ok"}
