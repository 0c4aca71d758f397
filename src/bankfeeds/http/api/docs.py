"""The interactive API docs (/docs, /redoc), served from our own origin with vendored assets.

FastAPI's own pages load Swagger UI and ReDoc from a CDN without integrity hashes; these load the
copies under ``web/static/docs`` (see its NOTICE), so the docs' policy names no other origin.
"""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse

ASSETS: Final = "/ui/static/docs"
FAVICON: Final = "/ui/static/favicon.svg"


def install(app: FastAPI) -> None:
    """Serve /docs (Swagger UI) and /redoc (ReDoc) for ``app``'s OpenAPI document."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} API"

    async def swagger(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=request.scope.get("root_path", "") + openapi_url,
            title=title,
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=FAVICON,
            oauth2_redirect_url=None,  # the API takes bearer tokens; there is no OAuth2 flow
            # No validator badge: it is an image from swagger.io, which the policy refuses.
            swagger_ui_parameters={"validatorUrl": None},
        )

    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=request.scope.get("root_path", "") + openapi_url,
            title=title,
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=FAVICON,
            with_google_fonts=False,
        )

    app.add_route("/docs", swagger, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
