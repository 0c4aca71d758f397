"""Bank identity from the database: the providers' aliases as the live connectors extend them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.adapters.db.models import Connector
from bankfeeds.domain.banks import BankDirectory, directory


def recon_provider(provider: str, config: dict[str, Any]) -> str:
    """The provider a connector's files are reconciled as: a CUSTOM layout's name, else its own."""
    if provider == "CUSTOM":
        layout = config.get("layout")
        name = layout.get("name") if isinstance(layout, dict) else None
        if isinstance(name, str) and name.strip():
            return name.strip().upper()[:16]
    return provider


async def bank_directory(session: AsyncSession) -> BankDirectory:
    """Built-in aliases plus every live bank connector's ``bankAliases`` and CUSTOM layout name."""
    rows = (
        await session.execute(
            select(Connector.provider, Connector.config).where(
                Connector.deleted_at.is_(None), Connector.provider != "PG"
            )
        )
    ).all()
    extra: list[tuple[str, list[str]]] = []
    for provider, config in rows:
        aliases = (config or {}).get("bankAliases") or []
        extra.append((recon_provider(provider, config or {}), [str(a) for a in aliases]))
    return directory(extra)


async def connected_providers(session: AsyncSession) -> set[str]:
    """The providers some live bank connector fetches files for."""
    rows = (
        await session.execute(
            select(Connector.provider, Connector.config).where(
                Connector.deleted_at.is_(None), Connector.provider != "PG"
            )
        )
    ).all()
    return {recon_provider(provider, config or {}) for provider, config in rows}
