"""A resolved exception does not silence the next occurrence of the same failure."""

from __future__ import annotations

from bankfeeds.core.ids import public_id
from bankfeeds.desk import resolutions
from bankfeeds.desk.exceptions import open_exception
from bankfeeds.storage.context import AppContext


async def _open(ctx: AppContext, kind: str, key: str) -> bool:
    async with ctx.sessions.begin() as session:
        return await open_exception(
            session, ctx, kind=kind, severity="HIGH", message="it failed", dedupe_key=key
        )


async def test_run_failure_reopens_after_resolution_but_not_while_open(ctx: AppContext) -> None:
    assert await _open(ctx, "RUN_FAILED", "RUN_FAILED:1:2025-01-10")
    assert not await _open(ctx, "RUN_FAILED", "RUN_FAILED:1:2025-01-10")  # still open: one only
    await resolutions.resolve(
        ctx=ctx, exception_id=public_id("exception", 1), note="bank fixed it", actor="ops"
    )
    assert await _open(ctx, "RUN_FAILED", "RUN_FAILED:1:2025-01-10")


async def test_same_bad_bytes_stay_one_exception_after_resolution(ctx: AppContext) -> None:
    assert await _open(ctx, "CHECKSUM_MISMATCH", "CHECKSUM_MISMATCH:1:abc")
    await resolutions.resolve(
        ctx=ctx, exception_id=public_id("exception", 1), note="bank told", actor="ops"
    )
    assert not await _open(ctx, "CHECKSUM_MISMATCH", "CHECKSUM_MISMATCH:1:abc")
