"""Fixtures for the HTTP source tests: a real test bank on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from fastapi import FastAPI
from tests.support.http_bank import create_test_bank
from tests.support.server import serve

from bankfeeds.transports.http.source import HttpParams


@dataclass(frozen=True)
class Bank:
    """The running test bank: its base URL and the app (whose state records requests)."""

    url: str
    app: FastAPI

    def params(self, endpoint: str, **changes: Any) -> HttpParams:
        """Params for ``endpoint`` on this bank, allowlisted (it is on loopback over http)."""
        base = HttpParams(
            base_url=self.url,
            endpoint=endpoint,
            allow_hosts=frozenset({"127.0.0.1"}),
            connect_timeout=5,
            read_timeout=10,
        )
        return replace(base, **changes)

    def seen(self, path_prefix: str) -> list[dict[str, str]]:
        """Headers of the requests whose path starts with ``path_prefix``."""
        return [h for p, h in self.app.state.seen if p.startswith(path_prefix)]


@pytest.fixture(scope="module")
def bank() -> Iterator[Bank]:
    """The test bank, served for the whole module."""
    app = create_test_bank()
    with serve(app) as url:
        yield Bank(url, app)
