"""Connector reads: the API view of a connector, lists with filters, and detail with health."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select

from bankfeeds.connectors.model import (
    HEADERS,
    MASK,
    SECRET_FIELDS,
    ConnectorStatus,
    headers_of,
)
from bankfeeds.connectors.schedule import next_run_at
from bankfeeds.core.errors import NotFound
from bankfeeds.core.ids import decode_cursor, encode_cursor, parse_id, public_id
from bankfeeds.monitoring.health import health_many, health_view
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, ConnectorRun
from bankfeeds.storage.secrets import SecretBox

RECENT_RUNS = 10


#: (schedule, zone) -> (the instant it was computed for, the next slot after it).
_NEXT_SLOTS: dict[tuple[str, str], tuple[datetime, datetime]] = {}
_NEXT_SLOTS_MAX = 20_000


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _next_run(cron: str, tz: str, now: datetime) -> datetime:
    """``next_run_at``, remembered per schedule until that slot passes."""
    # A list of 200 connectors spent ~60 % of its time in croniter. The first slot after ``now``
    # is the one computed for any earlier instant ``t`` while ``t <= now < slot``: no slot lies
    # between them.
    hit = _NEXT_SLOTS.get((cron, tz))
    if hit is not None and now.tzinfo is not None and hit[0] <= now < hit[1]:
        return hit[1]
    slot = next_run_at(cron, tz, now)
    if len(_NEXT_SLOTS) >= _NEXT_SLOTS_MAX:
        _NEXT_SLOTS.clear()
    _NEXT_SLOTS[(cron, tz)] = (now, slot)
    return slot


@functools.lru_cache(maxsize=65536)
def _secret_fields(box: SecretBox, token: str | None) -> tuple[frozenset[str], tuple[str, ...]]:
    """Which secret fields a stored token holds, and its custom header names (no values kept)."""
    # Decrypting every connector's secrets was a fifth of a 200-connector list; the ciphertext
    # changes whenever the secrets do, so the answer for one (box, token) never goes stale.
    secrets = box.decrypt(token)
    return frozenset(secrets), tuple(headers_of({}, secrets))


def connector_view(ctx: AppContext, row: Connector, now: datetime) -> dict[str, Any]:
    """The API shape of a connector: secrets and header values masked, ``has*`` flags, next run."""
    secrets, header_names = _secret_fields(ctx.secrets, row.secrets)
    config = dict(row.config)
    for field in SECRET_FIELDS:
        if field in secrets:
            config[field] = MASK
    # Headers saved before they were secrets are still plaintext in config: masked all the same.
    names = header_names if HEADERS in secrets else tuple(headers_of(row.config, {}))
    if names:
        config[HEADERS] = dict.fromkeys(names, MASK)
    else:
        config.pop(HEADERS, None)
    flags = {f"has{field[0].upper()}{field[1:]}": field in secrets for field in SECRET_FIELDS}
    active = row.status == ConnectorStatus.ACTIVE.value
    return {
        "id": public_id("connector", row.id),
        "name": row.name,
        "type": row.type,
        "provider": row.provider,
        "status": row.status,
        "config": config,
        **flags,
        "hostKeyFingerprint": row.host_key_fingerprint,
        "nextRunAt": _iso(_next_run(row.schedule, row.timezone, now)) if active else None,
        "createdAt": _iso(row.created_at),
        "updatedAt": _iso(row.updated_at),
    }


def run_view(run: ConnectorRun) -> dict[str, Any]:
    """The API shape of a run."""
    return {
        "id": public_id("run", run.id),
        "connectorId": public_id("connector", run.connector_id),
        "cycleDate": run.cycle_date.isoformat(),
        "trigger": run.trigger,
        "status": run.status,
        "attempt": run.attempt,
        "force": run.force,
        "backfillJobId": run.backfill_job_id,
        "queuedAt": _iso(run.queued_at),
        "startedAt": _iso(run.started_at),
        "finishedAt": _iso(run.finished_at),
        "durationMs": run.duration_ms,
        "filesDiscovered": run.files_discovered,
        "filesDownloaded": run.files_downloaded,
        "filesSkipped": run.files_skipped,
        "filesQuarantined": run.files_quarantined,
        "filesFailed": run.files_failed,
        "bytesDownloaded": run.bytes_downloaded,
        "bytesExpected": run.bytes_expected,
        "errorCode": run.error_code,
        "error": run.error_message,
    }


def filtered_connectors(
    status: str | None, provider: str | None, ctype: str | None, q: str | None
) -> Select[Connector]:
    """Live connectors matching the list filters (``q`` searches name, provider and host)."""
    query = select(Connector).where(Connector.deleted_at.is_(None))
    if status:
        query = query.where(Connector.status == status)
    if provider:
        query = query.where(Connector.provider == provider)
    if ctype:
        query = query.where(Connector.type == ctype)
    if q:
        needle = q.strip().lower()
        query = query.where(
            or_(
                func.lower(Connector.name).contains(needle, autoescape=True),
                func.lower(Connector.provider).contains(needle, autoescape=True),
                func.lower(Connector.config["host"].as_string()).contains(needle, autoescape=True),
            )
        )
    return query


async def list_connectors(
    *,
    ctx: AppContext,
    status: str | None = None,
    provider: str | None = None,
    ctype: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """One page of connectors in id order, with the total matching the filters."""
    base = filtered_connectors(status, provider, ctype, q)
    page_query = base.order_by(Connector.id).limit(limit + 1)
    if cursor:
        page_query = page_query.where(Connector.id > decode_cursor(cursor))
    async with ctx.sessions() as session:
        total = await session.scalar(select(func.count()).select_from(base.subquery()))
        rows = list((await session.scalars(page_query)).all())
        page, more = rows[:limit], len(rows) > limit
        health = await health_many(session, ctx, page)
    now = ctx.clock()
    views = []
    for row in page:
        view = connector_view(ctx, row, now)
        view["health"] = health_view(health[row.id], view["nextRunAt"])
        views.append(view)
    return {
        "connectors": views,
        "total": total or 0,
        "hasMore": more,
        "cursor": encode_cursor(page[-1].id) if more and page else None,
    }


async def get_connector(*, ctx: AppContext, connector_id: str) -> dict[str, Any]:
    """A connector with its health and its most recent runs."""
    pk = parse_id("connector", connector_id)
    async with ctx.sessions() as session:
        row = await session.get(Connector, pk)
        if row is None or row.deleted_at is not None:
            raise NotFound(f"No connector with id {connector_id!r}.")
        health = (await health_many(session, ctx, [row]))[row.id]
        runs = (
            await session.scalars(
                select(ConnectorRun)
                .where(ConnectorRun.connector_id == pk)
                .order_by(ConnectorRun.id.desc())
                .limit(RECENT_RUNS)
            )
        ).all()
    view = connector_view(ctx, row, ctx.clock())
    view["health"] = health_view(health, view["nextRunAt"])
    view["recentRuns"] = [run_view(r) for r in runs]
    return view
