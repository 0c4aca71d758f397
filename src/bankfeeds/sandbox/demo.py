"""The demo's setup: sample files in the sandbox, one pinned SFTP connector per sample provider,
and one API connector reading a provider's files from the sandbox bank API."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bankfeeds.connectors.model import ConnectorCreate, ConnectorPatch
from bankfeeds.connectors.patterns import DEFAULT_PATTERNS
from bankfeeds.core.ids import public_id
from bankfeeds.pipeline import handoff
from bankfeeds.sandbox.generate import SANDBOX_BANKS, SEED_DAYS, generate_day, seeded_days
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector

#: One connector per provider the sandbox writes files for: its banks, then the PG export.
DEMO_PROVIDERS = (*SANDBOX_BANKS, "PG")
#: The provider whose files the demo fetches over HTTP from the sandbox bank API, not over SFTP.
DEMO_API_PROVIDER = "ICICI"
DEMO_BANK_TOKEN = "demo-bank-token"  # noqa: S105 - the sandbox bank's published demo credential

SPEC_SAMPLE = Path(__file__).parent / "samples" / "AXIS_RECON_20250110.csv"
SPEC_DAYS = (date(2025, 1, 8), date(2025, 1, 9))


def seed_missing_days(upload: Path, today: date, days: int = SEED_DAYS) -> list[date]:
    """Generate the sample files of the ``seeded_days`` before ``today`` that are not there yet.

    Also places the specification's own sample (AXIS, 2025-01-10) and AXIS files for the two
    days before it, so the specification's backfill call finds files.
    """
    made = []
    for day in seeded_days(today, days):
        if not (upload / f"PG_TXN_{day:%Y%m%d}.csv.sha256").exists():
            generate_day(upload, day)
            made.append(day)
    for day in SPEC_DAYS:
        if not (upload / f"AXIS_RECON_{day:%Y%m%d}.csv.sha256").exists():
            generate_day(upload, day, providers=("AXIS",))
    for source in (SPEC_SAMPLE, SPEC_SAMPLE.with_name(SPEC_SAMPLE.name + ".sha256")):
        if not (upload / source.name).exists():
            (upload / source.name).write_bytes(source.read_bytes())
    return made


async def _existing(ctx: AppContext, name: str, endpoint: dict[str, Any]) -> str | None:
    """The id of the live connector called ``name``, if there is one, pointed at ``endpoint``.

    A demo started again may listen on other ports (``--sandbox-port``, ``--bank-api-port``) or,
    after its data dir moved, with another host key; its connectors follow, or every run fails.
    """
    async with ctx.sessions() as session:
        found = (
            await session.execute(
                select(Connector.id, Connector.config).where(
                    Connector.name == name, Connector.deleted_at.is_(None)
                )
            )
        ).first()
    if found is None:
        return None
    connector_id = public_id("connector", found.id)
    if any(found.config.get(key) != value for key, value in endpoint.items()):
        await handoff.update_connector(
            ctx=ctx,
            connector_id=connector_id,
            body=ConnectorPatch(config=endpoint),
            actor="demo",
        )
    return connector_id


async def ensure_demo_connectors(
    *, ctx: AppContext, host: str, port: int, fingerprint: str, bank_api_url: str
) -> list[str]:
    """Create the demo connectors that do not exist yet (by name); return all their ids."""
    ids = []
    for provider in DEMO_PROVIDERS:
        if provider == DEMO_API_PROVIDER:
            ids.append(await _ensure_api_connector(ctx, provider, bank_api_url))
            continue
        # The AXIS one is the specification's own connector, so its curl calls work on conn_1.
        name = "PG transactions SFTP" if provider == "PG" else f"{provider} Bank SFTP"
        endpoint = {"host": host, "port": port, "hostKeyFingerprint": fingerprint}
        if (existing := await _existing(ctx, name, endpoint)) is not None:
            ids.append(existing)
            continue
        body: dict[str, Any] = {
            "name": name,
            "type": "SFTP",
            "provider": provider,
            "config": {
                **endpoint,
                "username": ctx.settings.sftp_user,
                "password": ctx.settings.sftp_pass.get_secret_value(),
                "remotePath": "/upload",
                "filePattern": DEFAULT_PATTERNS[provider],
                "checksumExt": ".sha256",
                "schedule": "0 19 * * *",
                "timezone": ctx.settings.scheduler_timezone,
                "hostKeyPolicy": "strict",
            },
        }
        view, _ = await handoff.create_connector(
            ctx=ctx, body=ConnectorCreate.model_validate(body), actor="demo", idempotency_key=None
        )
        ids.append(str(view["id"]))
    return ids


async def _ensure_api_connector(ctx: AppContext, provider: str, base_url: str) -> str:
    """The demo's API connector: the provider's daily file, with the bank's ``Digest``."""
    name = f"{provider} Bank API"
    if (existing := await _existing(ctx, name, {"baseUrl": base_url})) is not None:
        return existing
    body = {
        "name": name,
        "type": "API",
        "provider": provider,
        "config": {
            "baseUrl": base_url,
            "endpoint": "/v1/settlements.csv",
            "queryParams": {"date": "{cycleDate:%Y-%m-%d}"},
            "authType": "bearer",
            "token": DEMO_BANK_TOKEN,
            "responseFormat": "csv",
            "schedule": "0 19 * * *",
            "timezone": ctx.settings.scheduler_timezone,
        },
    }
    view, _ = await handoff.create_connector(
        ctx=ctx, body=ConnectorCreate.model_validate(body), actor="demo", idempotency_key=None
    )
    return str(view["id"])
