"""Logging in (user name and password, or an API token) and out."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from bankfeeds.access import web_sessions
from bankfeeds.core.errors import CsrfRefused, TooManyFailures, Unauthorized
from bankfeeds.http.deps import Ctx
from bankfeeds.http.web.security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    UiUser,
    check_origin,
    client_address,
    new_login_token,
    set_cookie,
    tokens_match,
    ui_user,
)
from bankfeeds.http.web.templating import render

router = APIRouter(prefix="/ui")


def _safe_next(target: str | None) -> str:
    """Only redirect within the UI, never to another site."""
    if target and target.startswith("/ui") and not target.startswith("/ui//"):
        return target
    return "/ui"


def _wait_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
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
    try:
        if method == "token":
            cookie = await web_sessions.login_with_token(ctx=ctx, token=token)
        else:
            cookie = await web_sessions.login_with_password(
                ctx=ctx, name=username, password=password, address=client_address(request)
            )
    except TooManyFailures as exc:
        message = f"Too many failed logins; try again in {_wait_words(exc.retry_after)}."
        page = _login_page(request, 429, error=message, method=method, username=username, next=next)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    except Unauthorized as exc:
        return _login_page(
            request, 401, error=exc.message, method=method, username=username, next=next
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, cookie, max_age=web_sessions.LIFETIME_SECONDS)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(ctx: Ctx, user: Annotated[UiUser, Depends(ui_user)]) -> Response:
    """End the session, here and in the database (the CSRF token proves the click is ours)."""
    await web_sessions.end(ctx=ctx, session=user.session)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
