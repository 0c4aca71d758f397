"""What bankfeeds writes under a fresh data dir is its own: files 0600 (objects 0400), dirs 0700."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from pathlib import Path

import httpx

from bankfeeds.access import tokens
from bankfeeds.core.config import Settings, load_settings
from bankfeeds.http.app import create_app
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db import migrate
from bankfeeds.storage.secrets import generate_key
from tests.support.bodies import spec_body
from tests.support.server import serve


def _modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


async def _store_and_token(settings: Settings, staged: Path) -> str:
    ctx = AppContext.build(settings)
    try:
        data = staged.read_bytes()
        await ctx.store.put_file(staged, hashlib.sha256(data).hexdigest())
        await ctx.store.put_quarantine(staged, hashlib.sha256(data).hexdigest(), "bad.csv")
        return (await tokens.create_token(ctx=ctx, name="t", role="admin", actor="t"))[1]
    finally:
        await ctx.close()


def test_a_fresh_data_dir_is_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    settings = load_settings(
        BANKFEEDS_DATA_DIR=str(data_dir),
        BANKFEEDS_SECRET_KEY=generate_key(),
        SCHEDULER_ENABLED=False,
        BANKFEEDS_SFTP_ALLOW_HOSTS="localhost",  # the connector below names it
        _env_file=None,
    )
    old = os.umask(0o022)  # the usual umask, under which SQLite would make a 0644 database
    try:
        # The order `bankfeeds serve` uses: the context (and its engine) first, then migrations.
        ctx = AppContext.build(settings)
        migrate.upgrade(settings.resolved_database_url)
        staged = tmp_path / "AXIS_RECON_20250110.csv"
        staged.write_bytes(b"txn_id,amount\n1,100.00\n")
        token = asyncio.run(_store_and_token(settings, staged))
        with serve(create_app(ctx)) as url:
            made = httpx.post(
                url + "/ops/connectors",
                json=spec_body(),
                headers={"Authorization": f"Bearer {token}"},
            )
            assert made.status_code == 201, made.text
            modes = _modes(data_dir)
    finally:
        os.umask(old)
    assert {"bankfeeds.db", "bankfeeds.db-wal", "bankfeeds.db-shm"} <= set(modes), modes
    objects = [p for p in modes if p.startswith("objects/")]
    assert any(p.startswith("objects/sha256/") for p in objects), modes
    assert any(p.startswith("objects/quarantine/") for p in objects), modes
    wrong = {}
    for path, mode in modes.items():
        is_dir = (data_dir / path).is_dir()
        allowed = 0o700 if is_dir else 0o400 if path.startswith("objects/") else 0o600
        if mode != allowed:
            wrong[path] = oct(mode)
    assert wrong == {}
