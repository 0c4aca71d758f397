"""Prometheus metrics, for a bearer token: BANKFEEDS_METRICS_TOKEN, or any viewer API token."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import SecretStr
from sqlalchemy.exc import SQLAlchemyError

from bankfeeds.access.auth import Role
from bankfeeds.core.errors import DatabaseUnavailable, NotFound
from bankfeeds.http.deps import context, require
from bankfeeds.monitoring.metrics import MetricsExporter
from bankfeeds.storage.context import AppContext

router = APIRouter(tags=["system"])
# The classic text format, which every Prometheus version reads; our metric names need no escaping.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def scrape_guard(token: SecretStr | None) -> Callable[[Request], Awaitable[object]]:
    """The dependency guarding /metrics: the scrape ``token`` if set, else a viewer API token."""
    viewer = require(Role.VIEWER)
    if token is None:
        return viewer
    expected = token.get_secret_value().encode()

    async def check(request: Request) -> object:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # Compared in constant time and without the database, so scrapes cost no token lookup.
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
            return None
        return await viewer(request)

    return check


def _exporter(request: Request) -> MetricsExporter:
    # One registry per app, made on first scrape, so two apps in one process never share one.
    exporter = getattr(request.app.state, "metrics_exporter", None)
    if exporter is None:
        exporter = request.app.state.metrics_exporter = MetricsExporter()
    assert isinstance(exporter, MetricsExporter)
    return exporter


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, ctx: Annotated[AppContext, Depends(context)]) -> Response:
    """Prometheus text exposition of runs, files, durations, backlog, queue and exceptions."""
    if not ctx.settings.metrics_enabled:
        raise NotFound("Metrics are turned off (METRICS_ENABLED=false).")
    try:
        body = await _exporter(request).render(ctx)
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable() from exc
    return Response(content=body, media_type=CONTENT_TYPE)
