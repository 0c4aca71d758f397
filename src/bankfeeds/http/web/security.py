"""Who is using the UI: session cookie, role checks, CSRF protection, and the client's address."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response

from bankfeeds.access import web_sessions
from bankfeeds.access.auth import Principal, Role
from bankfeeds.core import proxies
from bankfeeds.core.errors import CsrfRefused, Forbidden, LoginRequired
from bankfeeds.core.proxies import parse_networks
from bankfeeds.http.deps import context

SESSION_COOKIE = "bf_session"
LOGIN_COOKIE = "bf_login_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def _our_hosts(request: Request, scheme: str) -> set[str]:
    """The hosts our pages are served at: ``Host``, and behind a proxy ``X-Forwarded-Host``.

    A proxy (nginx by default) may send its upstream's address as ``Host`` and the one the
    browser used as ``X-Forwarded-Host``. That header is read only when trusted proxies are
    configured; a page on another site cannot set it anyway (a cross-site request with a custom
    header needs a CORS preflight, which this app never grants).
    """
    hosts = [request.headers.get("host", "")]
    forwarded = request.headers.get("x-forwarded-host")
    if forwarded and context(request).settings.trusted_proxies:
        hosts.append(forwarded.split(",")[0])  # the first proxy's: the host the browser asked
    default = _DEFAULT_PORTS.get(scheme, "")
    return {h.strip().lower().removesuffix(default) for h in hosts if h.strip()}


def same_origin(request: Request) -> bool:
    """Whether a browser says the request came from one of our own pages.

    Browsers send ``Origin`` on every POST; it must name this host (``null``, sent from sandboxed
    frames and some redirects, never does). Without it, ``Sec-Fetch-Site`` must not say another
    site. A client that sends neither (curl, old browsers) still needs the CSRF token.
    """
    origin = request.headers.get("origin")
    if origin is not None:
        parts = urlsplit(origin.strip())
        netloc = parts.netloc.lower().removesuffix(_DEFAULT_PORTS.get(parts.scheme, ""))
        return bool(netloc) and netloc in _our_hosts(request, parts.scheme)
    return request.headers.get("sec-fetch-site", "same-origin") in {"same-origin", "none"}


def check_origin(request: Request) -> None:
    """Refuse a change request sent from another site's page."""
    if not same_origin(request):
        raise CsrfRefused("The request came from another site's page; it was refused.")


@dataclass(frozen=True, slots=True)
class UiUser:
    """The logged-in principal, the session's CSRF token and the session itself."""

    principal: Principal
    csrf: str
    session: web_sessions.WebSession

    def can(self, role: str) -> bool:
        """Whether the user's role includes ``role`` (templates hide what it does not)."""
        return self.principal.role.allows(Role(role))


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """Set an HttpOnly, SameSite=Lax cookie, Secure when the page came over HTTPS."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


async def _submitted_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def tokens_match(expected: str, given: str) -> bool:
    """Constant-time comparison of two CSRF tokens; an empty one never matches."""
    return bool(expected) and bool(given) and hmac.compare_digest(expected, given)


async def ui_user(request: Request) -> UiUser:
    """The session's user; refuses a change request without the session's CSRF token."""
    cached = getattr(request.state, "ui_user", None)
    if isinstance(cached, UiUser):
        return cached
    ctx = context(request)
    session = web_sessions.read(ctx, request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise LoginRequired()
    who = await web_sessions.principal(ctx=ctx, session=session)
    if request.method not in _SAFE:
        check_origin(request)
        if not tokens_match(session.csrf, await _submitted_token(request)):
            raise CsrfRefused()
    user = UiUser(who, session.csrf, session)
    request.state.ui_user = user
    return user


def ui_require(role: Role) -> Callable[[Request], Awaitable[UiUser]]:
    """A dependency admitting logged-in users whose role includes ``role``."""

    async def check(request: Request) -> UiUser:
        user = await ui_user(request)
        if not user.principal.role.allows(role):
            raise Forbidden(
                f"This needs the {role.value} role; you are signed in as {user.principal.role}."
            )
        return user

    return check


def client_address(request: Request) -> str:
    """The client's address: the TCP peer, or behind a trusted proxy what X-Forwarded-For says."""
    ctx = context(request)
    trusted = getattr(request.app.state, "trusted_proxies", None)
    if trusted is None:
        # Parsed once per app; the setting is already validated, so this cannot fail.
        trusted = request.app.state.trusted_proxies = parse_networks(ctx.settings.trusted_proxies)
    peer = request.client.host if request.client else None
    return proxies.client_address(peer, request.headers.get("x-forwarded-for"), trusted)[:64]


def new_login_token() -> str:
    """A random token for the login form's double-submit cookie."""
    return secrets.token_urlsafe(24)


#: The UI user a page needs: any logged-in user, or one holding a role.
Viewer = Annotated[UiUser, Depends(ui_user)]
Operator = Annotated[UiUser, Depends(ui_require(Role.OPERATOR))]
Admin = Annotated[UiUser, Depends(ui_require(Role.ADMIN))]
