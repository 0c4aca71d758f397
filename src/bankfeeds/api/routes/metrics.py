"""Prometheus metrics, open like /healthz (they hold counts, never secrets or row contents)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.exc import SQLAlchemyError

from bankfeeds.api.deps import context
from bankfeeds.api.routes.system import DatabaseUnavailable
from bankfeeds.errors import NotFound
from bankfeeds.services.context import AppContext
from bankfeeds.services.metrics import MetricsExporter

router = APIRouter(tags=["system"])
# The classic text format, which every Prometheus version reads; our metric names need no escaping.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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
