"""A live bankfeeds API on a real uvicorn server, with one token per role."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from tests.support.server import serve
from tests.support.sshd import sshd
from tests.support.targets import target

__all__ = ["Live", "admin", "live", "sshd", "target"]

from bankfeeds.access import tokens
from bankfeeds.core.config import Settings
from bankfeeds.http.app import create_app
from bankfeeds.storage.context import AppContext


@dataclass
class Live:
    """The running server's URL and a token for each role."""

    url: str
    settings: Settings
    tokens: dict[str, str]
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self, role: str | None = "admin") -> httpx.Client:
        """An HTTP client authenticated with ``role``'s token (None: no token)."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self._clients.append(client)
        return client


async def _make_tokens(settings: Settings) -> dict[str, str]:
    ctx = AppContext.build(settings)
    try:
        out = {}
        for role in ("viewer", "operator", "admin"):
            _, out[role] = await tokens.create_token(
                ctx=ctx, name=f"test-{role}", role=role, actor="test"
            )
        return out
    finally:
        await ctx.close()


@pytest.fixture
def live(settings: Settings) -> Iterator[Live]:
    """Serve the app over the test database."""
    made = asyncio.run(_make_tokens(settings))
    app = create_app(AppContext.build(settings), run_wait_seconds=3)
    with serve(app) as url:
        state = Live(url=url, settings=settings, tokens=made)
        yield state
        for client in state._clients:
            client.close()


@pytest.fixture
def admin(live: Live) -> httpx.Client:
    """A client with the admin role."""
    return live.client("admin")
