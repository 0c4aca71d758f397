"""Logging in (user name and password, or an API token) and out."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from bankfeeds.api.deps import context
from bankfeeds.errors import Unauthorized
from bankfeeds.services import web_sessions
from bankfeeds.services.context import AppContext
from bankfeeds.services.login_throttle import LoginThrottle
from bankfeeds.web.security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    CsrfRefused,
    UiUser,
    check_origin,
    new_login_token,
    set_cookie,
    tokens_match,
    ui_user,
)
from bankfeeds.web.templating import render

router = APIRouter(prefix="/ui")
Ctx = Annotated[AppContext, Depends(context)]


def _safe_next(target: str | None) -> str:
    """Only redirect within the UI, never to another site."""
    if target and target.startswith("/ui") and not target.startswith("/ui//"):
        return target
    return "/ui"


def _throttle(request: Request) -> LoginThrottle:
    # One per app, made on first use, so two apps in one process (tests) never share counts.
    found = getattr(request.app.state, "login_throttle", None)
    if found is None:
        found = request.app.state.login_throttle = LoginThrottle()
    assert isinstance(found, LoginThrottle)
    return found


def _wait_words(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _login_page(request: Request, status: int = 200, **context: object) -> Response:
    token = new_login_token()
    response = render(request, "login.html", status=status, login_csrf=token, **context)
    set_cookie(request, response, LOGIN_COOKIE, token, max_age=3600)
    return response


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    """The login page."""
    return _login_page(request, next=_safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    method: Annotated[str, Form()] = "password",
    username: Annotated[str, Form(max_length=120)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/ui",
) -> Response:
    """Check the credentials; set the session cookie and go on, or show the form again."""
    check_origin(request)
    if not tokens_match(request.cookies.get(LOGIN_COOKIE, ""), csrf_token):
        raise CsrfRefused()
    throttle, now = _throttle(request), ctx.clock()
    who = None if method == "token" else username
    address = request.client.host if request.client else None
    wait = throttle.retry_after(user=who, address=address, now=now)
    if wait is not None:
        message = f"Too many failed logins; try again in {_wait_words(wait)}."
        page = _login_page(request, 429, error=message, method=method, username=username, next=next)
        page.headers["Retry-After"] = str(wait)
        return page
    try:
        if method == "token":
            subject = await web_sessions.login_with_token(ctx=ctx, token=token)
        else:
            subject = await web_sessions.login_with_password(
                ctx=ctx, name=username, password=password
            )
    except Unauthorized as exc:
        throttle.failed(user=who, address=address, now=now)
        return _login_page(
            request, 401, error=exc.message, method=method, username=username, next=next
        )
    throttle.succeeded(user=who)
    cookie, _ = web_sessions.issue(ctx, subject)
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, cookie, max_age=web_sessions.LIFETIME_SECONDS)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(_: Annotated[UiUser, Depends(ui_user)]) -> Response:
    """End the session (the CSRF token proves the click came from our page)."""
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
