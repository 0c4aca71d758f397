"""Maintenance use cases: key rotation and bootstrapping the demo's secret key."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector
from bankfeeds.storage.secrets import generate_key


async def rotate_secrets(*, ctx: AppContext) -> int:
    """Re-encrypt every connector's secrets with the newest key; returns how many changed."""
    count = 0
    async with ctx.sessions.begin() as session:
        rows = (
            await session.scalars(select(Connector).where(Connector.secrets.is_not(None)))
        ).all()
        for row in rows:
            assert row.secrets is not None
            row.secrets = ctx.secrets.rotate(row.secrets)
            count += 1
    return count


def demo_secret_key(data_dir: Path) -> str:
    """The demo's key, created under the data dir (mode 0600) on first use."""
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    return key
