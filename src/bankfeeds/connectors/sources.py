"""From a connector row to a source connection: parameters, secrets, host-key pinning."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import update

from bankfeeds.access import audit
from bankfeeds.connectors.model import ConnectorType, stored_config
from bankfeeds.core.errors import (
    BankfeedsError,
    FieldError,
    HostKeyError,
    UnsafeTarget,
    ValidationFailed,
)
from bankfeeds.core.ids import public_id
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector
from bankfeeds.transports.http.source import DEFAULT_MAX_BYTES, HttpParams
from bankfeeds.transports.sftp.address import checked_address
from bankfeeds.transports.sftp.client import SftpSource
from bankfeeds.transports.sftp.params import SftpParams


def sftp_params(ctx: AppContext, connector: Connector) -> SftpParams:
    """Connection parameters for an SFTP connector, checked by the model it was saved with."""
    sftp = stored_config(
        ConnectorType.SFTP,
        connector.config,
        ctx.secrets.decrypt(connector.secrets),
        connector.provider,
    )
    pinned = connector.host_key_fingerprint
    policy: Literal["accept-new", "strict"] = (
        "strict" if connector.host_key_policy == "strict" else "accept-new"
    )
    return SftpParams(
        host=sftp.host,
        port=sftp.port,
        username=sftp.username,
        password=sftp.password,
        private_key=sftp.private_key,
        passphrase=sftp.passphrase,
        host_key_policy=policy,
        trusted_fingerprints=(pinned,) if pinned else (),
        connect_timeout=float(sftp.connect_timeout),
        read_timeout=float(sftp.read_timeout),
        max_files_in_flight=sftp.max_files_in_flight,
        allow_hosts=ctx.settings.sftp_allow_hosts,
    )


def http_params(ctx: AppContext, connector: Connector) -> HttpParams:
    """Request parameters for an API connector, checked by the model it was saved with."""
    return http_params_from(
        connector.config,
        ctx.secrets.decrypt(connector.secrets),
        allow_hosts=ctx.settings.api_allow_hosts,
        max_bytes=ctx.settings.api_max_bytes,
        provider=connector.provider,
    )


def http_params_from(
    config: dict[str, Any],
    secrets: dict[str, str],
    *,
    allow_hosts: frozenset[str],
    max_bytes: int = DEFAULT_MAX_BYTES,
    provider: str | None = None,
) -> HttpParams:
    """Request parameters from a stored (camelCase) config and its decrypted secrets.

    The config passes the same ``ApiConfig`` model as at save (and the provider's rules when
    ``provider`` is given) or this raises ConfigError naming each field; nothing is checked twice.
    """
    api = stored_config(ConnectorType.API, config, secrets, provider)
    return HttpParams(
        base_url=api.base_url,
        endpoint=api.endpoint or "",
        auth_type=api.auth_type,
        token=api.token,
        api_key=api.api_key,
        api_key_header=api.api_key_header,
        username=api.username,
        password=api.password,
        headers=dict(api.headers or {}),
        query_params=dict(api.query_params or {}),
        response_format=api.response_format,
        records_path=api.records_path,
        pagination=api.pagination,
        cursor_field=api.cursor_field,
        cursor_param=api.cursor_param,
        checksum_header=api.checksum_header,
        sidecar_url=api.sidecar_url,
        max_pages=api.max_pages,
        record_tag=api.record_tag,
        connect_timeout=api.connect_timeout,
        read_timeout=api.read_timeout,
        max_bytes=max_bytes,
        allow_hosts=allow_hosts,
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
