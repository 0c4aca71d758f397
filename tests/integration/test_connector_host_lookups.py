"""A connector's host is looked up with no write transaction open: DNS can take seconds, and on
SQLite an open write transaction holds the one write lock every run, job and login needs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from tests.support.db import SqliteTemplates

from bankfeeds.connectors import service as connectors
from bankfeeds.connectors.model import ConnectorCreate, ConnectorPatch
from bankfeeds.storage.context import AppContext
from bankfeeds.transports import ssrf
from bankfeeds.transports.sftp import address

#: A public address (not private, reserved or documentation-only) for the names below.
PUBLIC = "93.184.215.14"


@pytest.fixture
def db_url(tmp_path: Path, _sqlite_templates: SqliteTemplates) -> str:
    """SQLite only: its single write lock is what a lookup inside a transaction would hold."""
    return _sqlite_templates.clone(tmp_path / "test.db")


@pytest.fixture
def lookups(db_url: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Every host looked up, and whether another connection could take the write lock then."""
    path = make_url(db_url).database
    assert path is not None
    seen: list[tuple[str, bool]] = []

    async def resolve(host: str, port: int, seconds: float = 0.0) -> list[str]:
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            seen.append((host, True))
        except sqlite3.OperationalError:  # "database is locked": a write transaction is open
            seen.append((host, False))
        finally:
            other.close()
        return [PUBLIC]

    monkeypatch.setattr(ssrf, "resolve_addresses", resolve)
    monkeypatch.setattr(address, "resolve_addresses", resolve)
    return seen


async def test_sftp_and_api_hosts_are_looked_up_outside_the_transaction(
    ctx: AppContext, lookups: list[tuple[str, bool]]
) -> None:
    sftp = ConnectorCreate.model_validate(
        {
            "name": "AXIS",
            "type": "SFTP",
            "provider": "AXIS",
            "config": {
                "host": "sftp.axis.example",
                "username": "u",
                "password": "secret-pw",
                "remotePath": "/out",
            },
        }
    )
    api = ConnectorCreate.model_validate(
        {
            "name": "HDFC",
            "type": "API",
            "provider": "HDFC",
            "config": {"baseUrl": "https://api.hdfc.example", "endpoint": "/settlements"},
        }
    )
    sftp_view = (await connectors.create(ctx=ctx, body=sftp, actor="t", idempotency_key=None)).view
    api_view = (await connectors.create(ctx=ctx, body=api, actor="t", idempotency_key=None)).view
    views = []
    for cid, config in (
        (sftp_view["id"], {"host": "sftp2.axis.example"}),
        (api_view["id"], {"baseUrl": "https://api2.hdfc.example"}),
    ):
        patch = ConnectorPatch.model_validate({"config": config})
        views.append(
            (await connectors.update(ctx=ctx, connector_id=cid, body=patch, actor="t")).view
        )
    assert lookups == [
        ("sftp.axis.example", True),
        ("api.hdfc.example", True),
        ("sftp2.axis.example", True),
        ("api2.hdfc.example", True),
    ]
    assert views[0]["config"]["host"] == "sftp2.axis.example"
    assert views[1]["config"]["baseUrl"] == "https://api2.hdfc.example"
