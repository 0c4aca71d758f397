"""Errors on UI routes: HTML pages and toasts instead of problem JSON; login redirects."""

from __future__ import annotations

import inspect
import json
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import RedirectResponse, Response

from bankfeeds.core.errors import BankfeedsError, Unauthorized
from bankfeeds.http.problems import from_validation
from bankfeeds.http.web.templating import render


def toast(message: str, level: str = "success", events: dict[str, Any] | None = None) -> str:
    """An ``HX-Trigger`` header value that shows a notification (and fires ``events`` too)."""
    return json.dumps({"toast": {"message": message, "level": level}, **(events or {})})


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (so the answer is a fragment)."""
    return request.headers.get("hx-request") == "true"


def ui_error(request: Request, exc: BankfeedsError) -> Response:
    """The UI's answer to an error: login redirect, a toast for htmx, or an error page."""
    if isinstance(exc, Unauthorized):
        target = "/ui/login?next=" + quote(request.url.path)
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    if is_htmx(request):
        # Reswap none: a 422 would otherwise be swapped in (form errors use 422 with content).
        headers = {"HX-Trigger": toast(exc.message, "error"), "HX-Reswap": "none"}
        return Response(status_code=exc.status, headers=headers)
    return render(request, "error.html", status=exc.status, error=exc)


async def _call(handler: Any, request: Request, exc: Exception) -> Response:
    """Call a registered handler, sync or async (Starlette allows both)."""
    result = handler(request, exc)
    response = await result if inspect.isawaitable(result) else result
    assert isinstance(response, Response)
    return response


def install(app: FastAPI) -> None:
    """Route errors under /ui to :func:`ui_error`, leaving the API's problem JSON untouched."""
    api_ours = app.exception_handlers[BankfeedsError]
    api_validation = app.exception_handlers[RequestValidationError]

    async def ours(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/ui") and isinstance(exc, BankfeedsError):
            return ui_error(request, exc)
        return await _call(api_ours, request, exc)

    async def validation(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/ui") and isinstance(exc, RequestValidationError):
            return ui_error(request, from_validation(exc))
        return await _call(api_validation, request, exc)

    app.add_exception_handler(BankfeedsError, ours)
    app.add_exception_handler(RequestValidationError, validation)
