"""The demo's setup: sample files in the sandbox and one pinned connector per sample provider."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bankfeeds.adapters.db.models import Connector
from bankfeeds.domain.connectors import ConnectorCreate
from bankfeeds.domain.ids import public_id
from bankfeeds.domain.patterns import DEFAULT_PATTERNS
from bankfeeds.sandbox.generate import generate_day
from bankfeeds.services import connectors
from bankfeeds.services.context import AppContext

DEMO_PROVIDERS = ("AXIS", "BOB", "HDFC", "ICICI", "PG")
DEMO_DAYS = 3


SPEC_SAMPLE = Path(__file__).parents[1] / "sandbox" / "samples" / "AXIS_RECON_20250110.csv"
SPEC_DAYS = (date(2025, 1, 8), date(2025, 1, 9))


def seed_missing_days(upload: Path, today: date, days: int = DEMO_DAYS) -> list[date]:
    """Generate the sample files of the last ``days`` days that are not there yet.

    Also places the specification's own sample (AXIS, 2025-01-10) and AXIS files for the two
    days before it, so the specification's backfill call finds files.
    """
    made = []
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
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


async def ensure_demo_connectors(
    *, ctx: AppContext, host: str, port: int, fingerprint: str
) -> list[str]:
    """Create the demo connectors that do not exist yet (by name); return all their ids."""
    ids = []
    for provider in DEMO_PROVIDERS:
        # The AXIS one is the specification's own connector, so its curl calls work on conn_1.
        name = "PG transactions SFTP" if provider == "PG" else f"{provider} Bank SFTP"
        async with ctx.sessions() as session:
            existing = await session.scalar(
                select(Connector.id).where(Connector.name == name, Connector.deleted_at.is_(None))
            )
        if existing is not None:
            ids.append(public_id("connector", existing))
            continue
        body: dict[str, Any] = {
            "name": name,
            "type": "SFTP",
            "provider": provider,
            "config": {
                "host": host,
                "port": port,
                "username": ctx.settings.sftp_user,
                "password": ctx.settings.sftp_pass.get_secret_value(),
                "remotePath": "/upload",
                "filePattern": DEFAULT_PATTERNS[provider],
                "checksumExt": ".sha256",
                "schedule": "0 19 * * *",
                "timezone": ctx.settings.scheduler_timezone,
                "hostKeyPolicy": "strict",
                "hostKeyFingerprint": fingerprint,
            },
        }
        view, _ = await connectors.create(
            ctx=ctx, body=ConnectorCreate.model_validate(body), actor="demo", idempotency_key=None
        )
        ids.append(str(view["id"]))
    return ids
