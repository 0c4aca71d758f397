"""Errors as RFC 9457 problem JSON, and the request-body size limit."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bankfeeds.errors import (
    BadRequest,
    BankfeedsError,
    FieldError,
    PayloadTooLarge,
    ValidationFailed,
)

log = logging.getLogger(__name__)
PROBLEM_TYPE = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal server error",
    502: "Upstream failure",
    503: "Service unavailable",
}


def problem(
    status: int, code: str, detail: str, instance: str, errors: list[FieldError] | None = None
) -> JSONResponse:
    """A problem-JSON response."""
    body: dict[str, Any] = {
        "type": f"urn:bankfeeds:problem:{code}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


def _from_error(exc: BankfeedsError, request: Request) -> JSONResponse:
    errors = exc.errors if isinstance(exc, ValidationFailed) else None
    return problem(exc.status, exc.code, exc.message, request.url.path, errors)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in {"body", "query", "path"} else loc
    return ".".join(str(p) for p in parts) or "body"


def from_validation(exc: RequestValidationError) -> BankfeedsError:
    """FastAPI's request validation error as ours: 400 for unreadable JSON, else 422 by field."""
    errors = list(exc.errors())
    for err in errors:
        if err.get("type") == "json_invalid":
            where = err.get("ctx", {}).get("error", "")
            return BadRequest(f"The request body is not valid JSON ({where}).")
    fields = []
    for err in errors:
        message = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            message = "is not a known field"
        elif err.get("type") == "missing":
            message = "is required"
        fields.append(FieldError(_field(tuple(err.get("loc", ()))), message))
    return ValidationFailed(errors=fields)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem JSON."""

    @app.exception_handler(BankfeedsError)
    async def _ours(request: Request, exc: BankfeedsError) -> JSONResponse:
        return _from_error(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _from_error(from_validation(exc), request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(
            500, "internal-error", "An unexpected error occurred; it was logged.", request.url.path
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        code = _TITLES.get(exc.status_code, "error").lower().replace(" ", "-")
        return problem(exc.status_code, code, detail, request.url.path)


def _as_json(scope: Scope) -> Scope:
    """Treat an API body as JSON whatever its declared type.

    The specification's own curl calls send JSON with curl's default form content type, and the
    API accepts nothing but JSON, so the declared type carries no information worth refusing on.
    """
    headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
    headers.append((b"content-type", b"application/json"))
    return {**scope, "headers": headers}


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, whether announced or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer the body up to the limit, then replay it to the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._reject(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and not scope["path"].startswith("/ui"):
            scope = _as_json(scope)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        exc = PayloadTooLarge(f"The request body is larger than {self.max_bytes} bytes.")
        response = problem(exc.status, exc.code, exc.message, str(scope.get("path", "")))
        await response(scope, receive, send)
