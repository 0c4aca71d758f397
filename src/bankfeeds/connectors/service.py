"""Connector use cases that change state: create, update, delete, pause, resume, trust a key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.access import audit
from bankfeeds.connectors import sources
from bankfeeds.connectors.bank_names import recon_provider
from bankfeeds.connectors.model import (
    HEADERS,
    ConnectorCreate,
    ConnectorPatch,
    ConnectorStatus,
    ConnectorType,
    Provider,
    checked_config,
    headers_of,
    merge_headers,
    split_secrets,
    stored_wire,
    validate_definition,
)
from bankfeeds.connectors.views import connector_view
from bankfeeds.core.errors import (
    BankfeedsError,
    Conflict,
    FieldError,
    NotFound,
    UnsafeTarget,
    ValidationFailed,
)
from bankfeeds.core.ids import parse_id, public_id
from bankfeeds.core.redact import MASK, SECRET_FIELDS, secret_values
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, ConnectorRun, IdempotencyKey
from bankfeeds.transports.sftp.keys import private_key_problem
from bankfeeds.transports.ssrf import resolve_safe

_CREATE_SCOPE = "connector.create"


class _KeyTaken(Exception):
    pass


class _NameTaken(Exception):
    pass


def _checked(
    ctx: AppContext, ctype: ConnectorType, provider: Provider, raw: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Check a wire-format config by its type's model; return the stored config and secrets.

    The run parses the stored row with the same model (``connectors.sources``).
    """
    errors: list[FieldError] = []
    stored: dict[str, Any] = dict(raw)
    try:
        config = checked_config(ctype, provider, raw)
        stored = config.stored(ctx.settings.scheduler_timezone)
    except ValidationFailed as exc:
        errors += exc.errors
    # Reading the key needs the SSH library, which the pure model may not import.
    key = stored.get("privateKey")
    if ctype is ConnectorType.SFTP and isinstance(key, str):
        problem = private_key_problem(key, stored.get("passphrase"))
        if problem is not None:
            errors.append(FieldError(*problem))
    if errors:
        raise ValidationFailed(errors=errors)
    return split_secrets(stored)


def connector_secrets(ctx: AppContext, row: Connector) -> tuple[str, ...]:
    """Every value of ``row`` that error text must not carry (for ``core.redact.redact``)."""
    secrets = ctx.secrets.decrypt(row.secrets)
    username = row.config.get("username")
    return secret_values(secrets, headers_of(row.config, secrets), str(username or "") or None)


def _audited(wire: dict[str, Any], before: dict[str, Any] | None = None) -> dict[str, Any]:
    """``wire`` for the audit log: header values masked; a changed one says so."""
    headers = wire.get(HEADERS)
    if not isinstance(headers, dict):
        return wire
    old = (before or {}).get(HEADERS) or {}
    shown = {
        k: MASK if before is None or old.get(k) == v else f"{MASK} (changed)"
        for k, v in headers.items()
    }
    return {**wire, HEADERS: shown}


def _created(body: ConnectorCreate) -> dict[str, Any]:
    """The audit entry of a create: the body, header values masked."""
    diff = body.model_dump(by_alias=True, exclude_none=True, exclude_unset=True)
    return {**diff, "config": _audited(diff["config"])}


def _mirror(row: Connector, config: dict[str, Any]) -> None:
    """Copy the fields the scheduler queries from the config into their columns."""
    row.schedule = config["schedule"]
    row.timezone = config["timezone"]
    row.target_cycle_rule = config["targetCycleRule"]
    row.host_key_policy = config.get("hostKeyPolicy", "accept-new")
    row.host_key_fingerprint = config.get("hostKeyFingerprint")
    row.config = config


async def _cancel_queued(session: AsyncSession, connector_pk: int, now: datetime) -> None:
    """A paused connector's queued runs are cancelled with it, in the same transaction."""
    await session.execute(
        sql_update(ConnectorRun)
        .where(ConnectorRun.connector_id == connector_pk, ConnectorRun.status == "QUEUED")
        .values(status="CANCELLED", finished_at=now, error_message="The connector was paused.")
    )


async def _name_conflict(ctx: AppContext, name: str) -> Conflict:
    async with ctx.sessions() as session:
        pk = await session.scalar(
            select(Connector.id).where(Connector.name == name, Connector.deleted_at.is_(None))
        )
    where = f" ({public_id('connector', pk)})" if pk else ""
    return Conflict(f"A connector named {name!r} already exists{where}.")


async def _check_target(ctx: AppContext, ctype: ConnectorType, config: dict[str, Any]) -> None:
    """Refuse a connector aimed at a private, loopback or metadata address (SSRF, port scans)."""
    if ctype is ConnectorType.SFTP:
        await sources.check_sftp_host(ctx, config)
        return
    urls = {"baseUrl": str(config["baseUrl"])}
    if str(config.get("sidecarUrl", "")).startswith(("http://", "https://")):
        urls["sidecarUrl"] = str(config["sidecarUrl"])
    errors = []
    for field, url in urls.items():
        try:
            await resolve_safe(url, ctx.settings.api_allow_hosts)
        except UnsafeTarget as exc:
            errors.append(FieldError(f"config.{field}", exc.message))
        except BankfeedsError:
            pass  # a name that does not resolve from here yet is checked again at every fetch
    if errors:
        raise ValidationFailed(errors=errors)


@dataclass(frozen=True, slots=True)
class Saved:
    """A saved connector's view, whether it is new, and the banks whose recon it changes."""

    view: dict[str, Any]
    created: bool = True
    #: Recon providers whose PG rows a bank connector's name or aliases pick, before and after.
    banks_changed: frozenset[str] = frozenset()


async def create(
    *, ctx: AppContext, body: ConnectorCreate, actor: str, idempotency_key: str | None
) -> Saved:
    """Create a connector (``created`` is False on an idempotency-key replay)."""
    config, secrets = _checked(
        ctx, body.type, body.provider, body.config.model_dump(by_alias=True, exclude_unset=True)
    )
    await _check_target(ctx, body.type, config)
    body_hash = hashlib.sha256(
        json.dumps(body.model_dump(mode="json", by_alias=True), sort_keys=True).encode()
    ).hexdigest()
    now = ctx.clock()
    try:
        async with ctx.sessions.begin() as session:
            key_row = None
            if idempotency_key:
                key_row = IdempotencyKey(
                    key=idempotency_key,
                    scope=_CREATE_SCOPE,
                    request_hash=body_hash,
                    resource_id="",
                    created_at=now,
                )
                session.add(key_row)
                try:
                    await session.flush()
                except IntegrityError as exc:
                    raise _KeyTaken from exc
            row = Connector(
                name=body.name,
                type=body.type.value,
                provider=body.provider.value,
                status=body.status.value,
                secrets=ctx.secrets.encrypt(secrets),
                created_by=actor,
                created_at=now,
                updated_at=now,
            )
            _mirror(row, config)
            session.add(row)
            try:
                await session.flush()
            except IntegrityError as exc:
                raise _NameTaken from exc
            cid = public_id("connector", row.id)
            if key_row is not None:
                key_row.resource_id = cid
            audit.record(
                session,
                actor=actor,
                action="connector.create",
                target_type="connector",
                target_id=cid,
                diff=_created(body),
                now=now,
            )
            view = connector_view(ctx, row, now)
    except _NameTaken:
        raise await _name_conflict(ctx, body.name) from None
    except _KeyTaken:
        return Saved(await _replay(ctx, idempotency_key or "", body_hash), created=False)
    if body.provider is Provider.PG:
        return Saved(view)
    return Saved(view, banks_changed=frozenset({recon_provider(body.provider.value, config)}))


async def _replay(ctx: AppContext, key: str, body_hash: str) -> dict[str, Any]:
    """The connector an idempotency key already created, if the body is the same."""
    async with ctx.sessions() as session:
        prior = await session.get(IdempotencyKey, (key, _CREATE_SCOPE))
        if prior is None:  # the first request's transaction rolled back meanwhile
            raise Conflict("A request with this X-Idempotency-Key is in progress; retry it.")
        if prior.request_hash != body_hash:
            raise Conflict("This X-Idempotency-Key was already used with a different body.")
        row = await session.get(Connector, parse_id("connector", prior.resource_id))
        if row is None or row.deleted_at is not None:
            raise Conflict("This X-Idempotency-Key created a connector that was since deleted.")
        return connector_view(ctx, row, ctx.clock())


async def load(session: AsyncSession, connector_id: str, *, lock: bool = False) -> Connector:
    """The live connector with that public id; NotFound otherwise."""
    query = select(Connector).where(
        Connector.id == parse_id("connector", connector_id), Connector.deleted_at.is_(None)
    )
    if lock:
        query = query.with_for_update()
    row = await session.scalar(query)
    if row is None:
        raise NotFound(f"No connector with id {connector_id!r}.")
    return row


def _merge(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Apply a config patch: null removes a field; the mask leaves a secret as it is."""
    merged = dict(current)
    for key, value in patch.items():
        if key in SECRET_FIELDS and value == MASK:
            continue
        if key == HEADERS and value is not None:
            value, errors = merge_headers(current.get(HEADERS) or {}, value)
            if errors:
                raise ValidationFailed(errors=errors)
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _patched(
    ctx: AppContext, row: Connector, body: ConnectorPatch
) -> tuple[dict[str, Any], Provider, dict[str, Any], dict[str, str]]:
    """The stored wire config, and the provider, config and secrets the patch makes of it."""
    stored = stored_wire(row.config, ctx.secrets.decrypt(row.secrets))
    provider = body.provider or Provider(row.provider)
    config, secrets = _checked(
        ctx, ConnectorType(row.type), provider, _merge(stored, body.config or {})
    )
    return stored, provider, config, secrets


def _target(config: dict[str, Any]) -> tuple[Any, ...]:
    """What ``_check_target`` looks up: the SFTP host and port, or the API's URLs."""
    return tuple(config.get(k) for k in ("host", "port", "baseUrl", "sidecarUrl"))


async def update(*, ctx: AppContext, connector_id: str, body: ConnectorPatch, actor: str) -> Saved:
    """Apply a partial update; a secret left out of the patch is kept."""
    now = ctx.clock()
    # A host lookup can take seconds: it runs before the write transaction, which on SQLite
    # holds the database's one write lock for as long as it is open.
    async with ctx.sessions() as session:
        row = await load(session, connector_id)
        ctype = ConnectorType(row.type)
        _, _, config, _ = _patched(ctx, row, body)
    await _check_target(ctx, ctype, config)
    checked = _target(config)
    try:
        async with ctx.sessions.begin() as session:
            row = await load(session, connector_id, lock=True)
            stored, provider, config, secrets = _patched(ctx, row, body)
            if _target(config) != checked:
                raise Conflict(
                    f"{connector_id}'s host was changed by another edit meanwhile; try again."
                )
            before = {
                **stored,
                "name": row.name,
                "status": row.status,
                "provider": row.provider,
            }
            row.provider = provider.value
            row.name = body.name if body.name is not None else row.name
            row.status = body.status.value if body.status is not None else row.status
            if row.status == ConnectorStatus.PAUSED.value:
                await _cancel_queued(session, row.id, now)
            row.secrets = ctx.secrets.encrypt(secrets)
            row.updated_at = now
            _mirror(row, config)
            try:
                await session.flush()
            except IntegrityError as exc:
                raise _NameTaken from exc
            after = {
                **stored_wire(config, secrets),
                "name": row.name,
                "status": row.status,
                "provider": row.provider,
            }
            audit.record(
                session,
                actor=actor,
                action="connector.update",
                target_type="connector",
                target_id=connector_id,
                diff=audit.changes(_audited(before), _audited(after, before)),
                now=now,
            )
            view = connector_view(ctx, row, now)
            identities = {
                recon_provider(p, c)
                for p, c in ((str(before["provider"]), before), (row.provider, config))
                if p != Provider.PG.value
            }
            changed = _identity(before) != _identity(after)
    except _NameTaken:
        raise await _name_conflict(ctx, body.name or "") from None
    return Saved(view, banks_changed=frozenset(identities) if changed else frozenset())


def _identity(config: dict[str, Any]) -> tuple[Any, ...]:
    """What decides which PG rows a bank connector's files are reconciled with."""
    return (
        config.get("provider"),
        recon_provider(str(config.get("provider")), config),
        sorted(str(a) for a in config.get("bankAliases") or []),
    )


async def set_status(
    *, ctx: AppContext, connector_id: str, status: ConnectorStatus, actor: str
) -> dict[str, Any]:
    """Pause or resume a connector."""
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        row = await load(session, connector_id, lock=True)
        previous, row.status, row.updated_at = row.status, status.value, now
        if status is ConnectorStatus.PAUSED:
            await _cancel_queued(session, row.id, now)
        action = "connector.pause" if status is ConnectorStatus.PAUSED else "connector.resume"
        audit.record(
            session,
            actor=actor,
            action=action,
            target_type="connector",
            target_id=connector_id,
            diff={"status": {"from": previous, "to": status.value}},
            now=now,
        )
        return connector_view(ctx, row, now)


async def delete(*, ctx: AppContext, connector_id: str, actor: str) -> None:
    """Remove a connector from service; its runs and files stay for the record."""
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        row = await load(session, connector_id, lock=True)
        row.deleted_at, row.status, row.updated_at = now, ConnectorStatus.PAUSED.value, now
        await _cancel_queued(session, row.id, now)
        audit.record(
            session,
            actor=actor,
            action="connector.delete",
            target_type="connector",
            target_id=connector_id,
            diff={"name": row.name},
            now=now,
        )


async def trust_host_key(
    *, ctx: AppContext, connector_id: str, fingerprint: str, actor: str
) -> dict[str, Any]:
    """Pin ``fingerprint`` as the connector's SFTP host key (an audited admin action)."""
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        row = await load(session, connector_id, lock=True)
        if row.type != ConnectorType.SFTP.value:
            raise ValidationFailed(
                errors=[FieldError("fingerprint", "only SFTP connectors have host keys")]
            )
        config = {**row.config, "hostKeyFingerprint": fingerprint}
        errors = validate_definition(ConnectorType.SFTP, config, ctx.secrets.decrypt(row.secrets))
        bad = [e for e in errors if e.field == "config.hostKeyFingerprint"]
        if bad:
            raise ValidationFailed(errors=[FieldError("fingerprint", bad[0].message)])
        previous = row.host_key_fingerprint
        _mirror(row, config)
        row.updated_at = now
        audit.record(
            session,
            actor=actor,
            action="connector.trust-host-key",
            target_type="connector",
            target_id=connector_id,
            diff={"hostKeyFingerprint": {"from": previous, "to": fingerprint}},
            now=now,
        )
        return connector_view(ctx, row, now)
