"""What every use case needs: settings, database, secrets and the clock, built once at start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bankfeeds.adapters.db.engine import make_engine, make_sessionmaker
from bankfeeds.adapters.objectstore import LocalObjectStore, ObjectStore
from bankfeeds.adapters.secrets import SecretBox
from bankfeeds.config import Settings


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass
class AppContext:
    """Long-lived collaborators shared by services; one per process."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    secrets: SecretBox
    store: ObjectStore
    clock: Callable[[], datetime] = field(default=utcnow)

    @classmethod
    def build(cls, settings: Settings, clock: Callable[[], datetime] = utcnow) -> AppContext:
        """Create the engine and secret box from settings."""
        engine = make_engine(settings.resolved_database_url)
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_sessionmaker(engine),
            secrets=SecretBox(settings.secret_keys),
            store=LocalObjectStore(settings.data_dir / "objects"),
            clock=clock,
        )

    async def close(self) -> None:
        """Release database connections."""
        await self.engine.dispose()
