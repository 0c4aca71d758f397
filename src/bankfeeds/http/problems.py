"""Errors as RFC 9457 problem JSON, and the request-body size limit."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bankfeeds.core.errors import (
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


class ProblemField(BaseModel):
    """One field's problem in a 422."""

    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document, as every error of the API is sent."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[ProblemField] | None = None


def _declared(status: int, description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description, "content": {PROBLEM_TYPE: {}}}


#: The errors every /ops operation may answer with, declared in the OpenAPI document.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _declared(400, "The request is malformed (e.g. the body is not JSON)."),
    401: _declared(401, "No valid token."),
    403: _declared(403, "The token's role may not do this."),
    404: _declared(404, "No such object."),
    409: _declared(409, "The request conflicts with the current state."),
    413: _declared(413, "The body is too large."),
    422: _declared(422, "Fields are invalid; `errors` names each one."),
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


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bad_in(value: Any, path: str) -> str | None:
    """The path of the first string (key or value) in a JSON document that cannot be stored."""
    if isinstance(value, str):
        return None if _storable(value) else path
    if isinstance(value, list):
        items: list[tuple[str, Any]] = [(f"{path}.{i}", v) for i, v in enumerate(value)]
    elif isinstance(value, dict):
        for key in value:
            if not _storable(str(key)):
                return f"{path}.{key!r}".lstrip(".")
        items = [(f"{path}.{k}".lstrip("."), v) for k, v in value.items()]
    else:
        return None
    for where, item in items:
        if (found := _bad_in(item, where)) is not None:
            return found
    return None


_UNSTORABLE = "must not contain NUL characters or unpaired surrogates"


def _bad_pair(encoded: bytes, where: str) -> FieldError | None:
    """The first urlencoded key or value (of a query or form) that cannot be stored."""
    text = encoded.decode("latin-1")
    for key, value in parse_qsl(text, keep_blank_values=True, errors="surrogateescape"):
        if not (_storable(key) and _storable(value)):
            return FieldError(key if _storable(key) else where, _UNSTORABLE)
    return None


def unstorable_text(scope: Scope, body: bytes) -> FieldError | None:
    """A query parameter or body field holding text no database column can store, if any.

    PostgreSQL refuses NUL in text and UTF-8 cannot carry lone surrogates; caught here, such input
    is a 422 naming the field instead of a 500 from deep in a query.
    """
    query = bytes(scope.get("query_string") or b"")
    if (bad := _bad_pair(query, "query")) is not None:
        return bad
    if not body:
        return None
    if str(scope.get("path", "")).startswith("/ui"):  # urlencoded forms
        return _bad_pair(body, "body")
    if b"\\u" not in body and b"\x00" not in body:
        return None  # only escapes or raw NULs can smuggle either into a JSON body
    try:
        document = json.loads(body)
    except ValueError:
        return None  # not JSON: the route's own parsing says so
    where = _bad_in(document, "")
    return None if where is None else FieldError(where or "body", _UNSTORABLE)


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
        if (bad := unstorable_text(scope, body)) is not None:
            detail = "Text with NUL characters or unpaired surrogates cannot be stored."
            response = problem(422, "validation-failed", detail, str(scope["path"]), [bad])
            await response(scope, receive, send)
            return
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
