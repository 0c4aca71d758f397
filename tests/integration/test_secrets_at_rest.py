"""Secrets never reach the database in plain text, and keys can be rotated."""

from __future__ import annotations

import asyncssh
import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, pool, text
from tests.support.bodies import with_config

from bankfeeds.access import tokens
from bankfeeds.access.auth import Principal, Role
from bankfeeds.access.key_rotation import rotate_secrets
from bankfeeds.connectors.model import ConnectorCreate
from bankfeeds.core.config import Settings, sync_url
from bankfeeds.core.errors import ConfigError, SecretsError
from bankfeeds.monitoring import connectors as monitored
from bankfeeds.pipeline import handoff
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.secrets import SecretBox, generate_key

PASSWORD = "Zq9-very-secret-pass"
PASSPHRASE = "phrase-4711-secret"


def _dump(url: str) -> str:
    """Every value of every row of every table, as text."""
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    out = []
    try:
        with engine.connect() as conn:
            for table in ("recon_connector", "audit_log", "api_token", "idempotency_key"):
                rows = conn.execute(text(f"SELECT * FROM {table}"))
                out += [repr(tuple(r)) for r in rows]
    finally:
        engine.dispose()
    return "\n".join(out)


async def test_no_plaintext_secret_in_database(ctx: AppContext, settings: Settings) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_text = key.export_private_key(passphrase=PASSPHRASE).decode()
    who = Principal("t", Role.ADMIN)
    await handoff.create_connector(
        ctx=ctx,
        body=ConnectorCreate.model_validate(with_config(password=PASSWORD)),
        actor=who.name,
        idempotency_key="idem-1",
    )
    body = with_config(password=None, privateKey=key_text, passphrase=PASSPHRASE)
    body["name"] = "key based"
    await handoff.create_connector(
        ctx=ctx, body=ConnectorCreate.model_validate(body), actor=who.name, idempotency_key=None
    )
    _, token = await tokens.create_token(ctx=ctx, name="n", role="admin", actor="t")
    dump = _dump(settings.resolved_database_url)
    assert "recon_connector" not in dump  # sanity: rows, not names
    for secret in (PASSWORD, PASSPHRASE, token, key_text.splitlines()[1]):
        assert secret not in dump
    assert "AXIS Bank SFTP" in dump  # the dump does contain the rows


async def test_rotation_keeps_secrets_readable(ctx: AppContext, settings: Settings) -> None:
    await handoff.create_connector(
        ctx=ctx,
        body=ConnectorCreate.model_validate(with_config(password=PASSWORD)),
        actor="t",
        idempotency_key=None,
    )
    old_key, new_key = settings.secret_keys[0], generate_key()
    both = AppContext.build(_with_keys(settings, f"{new_key},{old_key}"))
    try:
        assert await rotate_secrets(ctx=both) == 1
    finally:
        await both.close()
    only_new = AppContext.build(_with_keys(settings, new_key))
    try:
        view = await monitored.get_connector(ctx=only_new, connector_id="conn_1")
        assert view["hasPassword"] is True
    finally:
        await only_new.close()
    stored = _connector_secret(settings.resolved_database_url)
    assert SecretBox([new_key]).decrypt(stored) == {"password": PASSWORD}
    with pytest.raises(SecretsError):
        SecretBox([old_key]).decrypt(stored)


def _with_keys(settings: Settings, keys: str) -> Settings:
    return settings.model_copy(update={"secret_key": SecretStr(keys)})


def _connector_secret(url: str) -> str:
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT secrets FROM recon_connector")).scalar_one())
    finally:
        engine.dispose()


def test_secret_box_refuses_missing_or_bad_keys() -> None:
    with pytest.raises(ConfigError, match="BANKFEEDS_SECRET_KEY is not set"):
        SecretBox([])
    with pytest.raises(ConfigError, match="BANKFEEDS_SECRET_KEY is invalid"):
        SecretBox(["short"])
    box = SecretBox([generate_key()])
    assert box.encrypt({}) is None
    assert box.decrypt(box.encrypt({"password": "p"})) == {"password": "p"}
    with pytest.raises(SecretsError):
        SecretBox([generate_key()]).decrypt(box.encrypt({"password": "p"}))
