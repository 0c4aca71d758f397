"""Security headers on every response: a strict Content-Security-Policy, no sniffing, no framing.

A pure ASGI middleware, so it also covers what no route produced: static files, 404s, the body
limit's 413 and unexpected 500s.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import re
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The policy of the API and the web UI: our own scripts, styles and images, nothing inline.
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)
#: The interactive docs load Swagger UI and ReDoc from our own origin (api/docs.py) and start
#: them with one inline script, allowed by its hash, so script-src has no 'unsafe-inline' and no
#: other origin. ReDoc writes <style> elements at run time, which only 'unsafe-inline' allows,
#: and starts a worker from a blob: URL.
_DOCS_CSP = (
    "default-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
)
DOCS_PATHS = frozenset({"/docs", "/redoc"})
#: Public, versionless assets that browsers may cache; everything else may carry account data.
CACHEABLE_PREFIX = "/ui/static/"
_FIXED = (
    ("x-content-type-options", "nosniff"),
    # Not no-referrer: under it browsers send "Origin: null" on same-site form posts, which the
    # UI's CSRF check must refuse; same-origin still keeps URLs from leaving for other sites.
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def script_hashes(html: bytes) -> list[str]:
    """CSP source expressions (``'sha256-…'``) for each inline ``<script>`` in ``html``."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    ]


def docs_policy(hashes: Iterable[str]) -> str:
    """The docs pages' policy, admitting exactly the inline scripts with ``hashes``."""
    scripts = " ".join(("'self'", *hashes))
    return "; ".join((*_DOCS_CSP, f"script-src {scripts}"))


def apply(headers: MutableHeaders, scope: Scope, policy: str = CSP) -> None:
    """Add the security headers to a response's ``headers``, keeping any a route set itself."""
    headers.setdefault("content-security-policy", policy)
    for name, value in _FIXED:
        headers.setdefault(name, value)
    if not str(scope.get("path", "")).startswith(CACHEABLE_PREFIX):
        headers.setdefault("cache-control", "no-store")
    if scope.get("scheme") == "https":
        headers.setdefault("strict-transport-security", "max-age=31536000")


class SecurityHeaders:
    """Add the security headers to every HTTP response of ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, adding the headers as the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in DOCS_PATHS:
            await self._docs(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                apply(MutableHeaders(scope=message), scope)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            # Starlette answers unhandled errors outside every middleware, where these headers
            # would be missing; answer here with the app's own 500 handler instead.
            response = await _error_response(scope, exc)
            if started or response is None:
                raise
            await response(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer a docs page (a few kB) to hash its inline script into the policy."""
        messages: list[Message] = []

        async def collect(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, collect)
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        policy = docs_policy(script_hashes(body))
        for message in messages:
            if message["type"] == "http.response.start":
                apply(MutableHeaders(scope=message), scope, policy)
            await send(message)


async def _error_response(scope: Scope, exc: Exception) -> Response | None:
    """The app's registered handler's answer to ``exc`` (it also logs it), if it has one."""
    app = scope.get("app")
    handlers = getattr(app, "exception_handlers", {})
    handler = handlers.get(Exception) or handlers.get(500)
    if handler is None:
        return None
    result = handler(Request(scope), exc)
    response = await result if inspect.isawaitable(result) else result
    return response if isinstance(response, Response) else None
