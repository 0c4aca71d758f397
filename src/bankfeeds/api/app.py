"""The FastAPI application: routers, error handling, and the lifespan of its context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bankfeeds import __version__
from bankfeeds.api import problems
from bankfeeds.api.routes import admin, connectors, system
from bankfeeds.api.routes import runs as run_routes
from bankfeeds.services import runs
from bankfeeds.services.context import AppContext
from bankfeeds.services.worker import Worker


def create_app(
    ctx: AppContext,
    *,
    own_context: bool = True,
    run_wait_seconds: float = 20.0,
    worker_concurrency: int = 4,
) -> FastAPI:
    """Build the app around ``ctx``, with its worker; with ``own_context`` it closes ``ctx``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = Worker(ctx, concurrency=worker_concurrency)
        app.state.worker = worker
        await runs.fail_expired(ctx=ctx)
        worker.start()
        try:
            yield
        finally:
            await worker.stop()
            if own_context:
                await ctx.close()

    app = FastAPI(
        title="bankfeeds",
        version=__version__,
        summary="Bank settlement file ingestion and reconciliation.",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.run_wait_seconds = run_wait_seconds
    problems.install(app)
    app.include_router(system.router)
    app.include_router(connectors.router)
    app.include_router(run_routes.router)
    app.include_router(admin.router)
    app.add_middleware(problems.BodyLimit, max_bytes=ctx.settings.max_body_bytes)
    return app
