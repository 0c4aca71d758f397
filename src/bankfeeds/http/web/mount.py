"""Attach the web UI to the app: its routes under /ui, static files, and ``/`` → ``/ui``."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse

from bankfeeds.http.web import errors
from bankfeeds.http.web.routes import auth, backfill, connectors, dialogs, history, recon
from bankfeeds.http.web.templating import HERE

_root = APIRouter(include_in_schema=False)


@_root.get("/")
async def home() -> RedirectResponse:
    """The UI is the front page."""
    return RedirectResponse("/ui", status_code=307)


def install(app: FastAPI) -> None:
    """Include the UI routers, mount /ui/static and route UI errors to HTML."""
    app.include_router(_root)
    for module in (auth, connectors, dialogs, history, backfill, recon):
        app.include_router(module.router, include_in_schema=False)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    errors.install(app)
