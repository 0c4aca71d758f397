"""From a connector row to a source connection: parameters, secrets, host-key pinning."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import update

from bankfeeds.access import audit
from bankfeeds.core.errors import BankfeedsError, FieldError, HostKeyError, ValidationFailed
from bankfeeds.core.ids import public_id
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector
from bankfeeds.transports.sftp.address import UnsafeTarget, checked_address
from bankfeeds.transports.sftp.client import SftpParams, SftpSource

CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 60.0


def sftp_params(ctx: AppContext, connector: Connector) -> SftpParams:
    """Connection parameters for an SFTP connector, secrets decrypted."""
    config, secrets = connector.config, ctx.secrets.decrypt(connector.secrets)
    pinned = connector.host_key_fingerprint
    policy: Literal["accept-new", "strict"] = (
        "strict" if connector.host_key_policy == "strict" else "accept-new"
    )
    return SftpParams(
        host=config["host"],
        port=int(config.get("port", 22)),
        username=config["username"],
        password=secrets.get("password"),
        private_key=secrets.get("privateKey"),
        passphrase=secrets.get("passphrase"),
        host_key_policy=policy,
        trusted_fingerprints=(pinned,) if pinned else (),
        connect_timeout=float(config.get("connectTimeout", CONNECT_TIMEOUT)),
        read_timeout=float(config.get("readTimeout", READ_TIMEOUT)),
        max_files_in_flight=int(config.get("maxFilesInFlight", 8)),
        allow_hosts=ctx.settings.sftp_allow_hosts,
    )


async def check_sftp_host(ctx: AppContext, config: Mapping[str, Any]) -> None:
    """Refuse at save an SFTP host with a non-public address not on the allow-list (422)."""
    try:
        await checked_address(
            str(config["host"]), int(config.get("port", 22)), ctx.settings.sftp_allow_hosts
        )
    except UnsafeTarget as exc:
        raise ValidationFailed(errors=[FieldError("config.host", exc.message)]) from exc
    except BankfeedsError:
        pass  # a name that does not resolve from here yet is checked again at every connect


async def pin_if_new(ctx: AppContext, connector: Connector, source: SftpSource) -> None:
    """Pin the host key seen on first contact (accept-new), recorded in the audit log.

    The update only applies while no key is pinned, so two first contacts cannot pin two keys.
    """
    if not source.host_key_is_new or connector.host_key_fingerprint:
        return
    fingerprint = source.host_key_fingerprint
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        result = await session.execute(
            update(Connector)
            .where(Connector.id == connector.id, Connector.host_key_fingerprint.is_(None))
            .values(
                host_key_fingerprint=fingerprint,
                config={**connector.config, "hostKeyFingerprint": fingerprint},
                updated_at=now,
            )
        )
        if result.rowcount:  # type: ignore[attr-defined]
            audit.record(
                session,
                actor="system",
                action="connector.pin-host-key",
                target_type="connector",
                target_id=public_id("connector", connector.id),
                diff={"hostKeyFingerprint": {"from": None, "to": fingerprint}},
                now=now,
            )
    connector.host_key_fingerprint = fingerprint


async def record_host_key_refusal(ctx: AppContext, connector: Connector, exc: HostKeyError) -> None:
    """Write a refused host key (unknown under strict, or changed) to the audit log."""
    async with ctx.sessions.begin() as session:
        audit.record(
            session,
            actor="system",
            action="connector.host-key-refused",
            target_type="connector",
            target_id=public_id("connector", connector.id),
            diff={
                "code": exc.code,
                "policy": connector.host_key_policy,
                "pinned": connector.host_key_fingerprint,
                "presented": exc.fingerprint,
            },
            now=ctx.clock(),
        )
