"""Bank identity from the database: the providers' aliases as the live connectors extend them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.connectors.banks import BankDirectory, directory
from bankfeeds.storage.db.models import Connector


def recon_provider(provider: str, config: dict[str, Any]) -> str:
    """The provider a connector's files are reconciled as: a CUSTOM layout's name, else its own."""
    if provider == "CUSTOM":
        layout = config.get("layout")
        name = layout.get("name") if isinstance(layout, dict) else None
        if isinstance(name, str) and name.strip():
            return name.strip().upper()[:16]
    return provider


async def _live_bank_connectors(session: AsyncSession) -> list[tuple[str, dict[str, Any]]]:
    """(provider, config) of every live connector that is not the PG's."""
    rows = await session.execute(
        select(Connector.provider, Connector.config).where(
            Connector.deleted_at.is_(None), Connector.provider != "PG"
        )
    )
    return [(provider, config or {}) for provider, config in rows.all()]


async def bank_directory(session: AsyncSession) -> BankDirectory:
    """Built-in aliases plus every live bank connector's ``bankAliases`` and CUSTOM layout name."""
    return _directory(await _live_bank_connectors(session))


def _directory(connectors: list[tuple[str, dict[str, Any]]]) -> BankDirectory:
    return directory(
        (recon_provider(provider, config), [str(a) for a in config.get("bankAliases") or []])
        for provider, config in connectors
    )


async def unknown_banks(session: AsyncSession, names: Iterable[str]) -> list[str]:
    """The PG bank names that no live bank connector's provider or aliases answer to."""
    connectors = await _live_bank_connectors(session)
    banks = _directory(connectors)
    connected = {recon_provider(provider, config) for provider, config in connectors}
    return [n for n in names if banks.provider_of(n) not in connected]
