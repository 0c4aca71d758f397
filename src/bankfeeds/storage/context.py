"""What every use case needs: settings, database, secrets and the clock, built once at start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bankfeeds.core.config import Settings
from bankfeeds.storage.db.engine import make_engine, make_sessionmaker
from bankfeeds.storage.objectstore.store import LocalObjectStore, ObjectStore
from bankfeeds.storage.secrets import SecretBox


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def object_store(settings: Settings) -> ObjectStore:
    """The S3 store when S3_BUCKET is set, else the local store under the data dir."""
    if settings.s3_bucket:
        # Imported here so processes on the local store never pay for importing boto3.
        from bankfeeds.storage.objectstore.s3 import S3ObjectStore

        return S3ObjectStore(settings.s3_bucket, settings.s3_region, settings.s3_endpoint)
    return LocalObjectStore(settings.data_dir / "objects")


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
            store=object_store(settings),
            clock=clock,
        )

    async def close(self) -> None:
        """Release database connections."""
        await self.engine.dispose()
