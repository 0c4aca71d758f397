"""UI users for security tests: one made through the service, and the login form's token."""

from __future__ import annotations

import re

import httpx

from bankfeeds.access import users
from bankfeeds.core.config import Settings
from bankfeeds.storage.context import AppContext

PASSWORD = "correct horse battery"


async def add_user(settings: Settings, name: str, role: str) -> None:
    """Create a UI user with ``PASSWORD`` in the database ``settings`` point at."""
    ctx = AppContext.build(settings)
    try:
        await users.create_user(ctx=ctx, name=name, role=role, password=PASSWORD, actor="t")
    finally:
        await ctx.close()


def login_csrf(client: httpx.Client) -> str:
    """The CSRF token the login form carries."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text)
    assert found is not None
    return found.group(1)
