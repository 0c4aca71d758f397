"""Connector reads: the API view of a connector, lists with filters, and detail with health."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select

from bankfeeds.connectors.model import HEADERS, ConnectorStatus, headers_of
from bankfeeds.connectors.schedule import next_run
from bankfeeds.core.ids import public_id
from bankfeeds.core.redact import MASK, SECRET_FIELDS
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, ConnectorRun
from bankfeeds.storage.secrets import SecretBox

RECENT_RUNS = 10


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


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
        "nextRunAt": _iso(next_run(row.schedule, row.timezone, now)) if active else None,
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
