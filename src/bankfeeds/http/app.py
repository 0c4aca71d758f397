"""The FastAPI application: routers, error handling, and the lifespan of its context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from bankfeeds import __version__
from bankfeeds.http import problems
from bankfeeds.http.api import docs
from bankfeeds.http.api.routes import admin, connectors, metrics, system
from bankfeeds.http.api.routes import files as file_routes
from bankfeeds.http.api.routes import recon as recon_routes
from bankfeeds.http.api.routes import runs as run_routes
from bankfeeds.http.headers import SecurityHeaders
from bankfeeds.http.web import mount as web
from bankfeeds.pipeline.worker import Worker
from bankfeeds.storage.context import AppContext


def create_app(
    ctx: AppContext,
    *,
    own_context: bool = True,
    run_wait_seconds: float = 20.0,
    schedule: bool | None = None,
) -> FastAPI:
    """Build the app around ``ctx`` with an embedded worker; with ``own_context`` it closes ``ctx``.

    The worker schedules runs when ``schedule`` is true (default: ``SCHEDULER_ENABLED``).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        enabled = ctx.settings.scheduler_enabled if schedule is None else schedule
        worker = Worker(ctx, schedule=enabled)
        app.state.worker = worker
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
        docs_url=None,  # docs.install serves them from vendored assets, not a CDN
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.run_wait_seconds = run_wait_seconds
    problems.install(app)
    app.include_router(system.router)
    app.include_router(
        metrics.router, dependencies=[Depends(metrics.scrape_guard(ctx.settings.metrics_token))]
    )
    app.include_router(connectors.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(run_routes.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(recon_routes.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(file_routes.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(admin.router, responses=problems.PROBLEM_RESPONSES)
    docs.install(app)
    web.install(app)  # the web UI: /ui routes, /ui/static, `/` → /ui, HTML errors under /ui
    app.add_middleware(problems.BodyLimit, max_bytes=ctx.settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)  # outermost, so even the body limit's 413 has them
    return app
