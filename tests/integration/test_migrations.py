"""Migrations go up, down and up again on both databases, and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool

from bankfeeds.core.config import sync_url
from bankfeeds.storage.db import migrate
from bankfeeds.storage.db.models import Base

TABLES = {
    "recon_connector",
    "recon_connector_run",
    "recon_ingested_file",
    "recon_run_file",
    "recon_remote_file",
    "recon_job",
    "recon_job_file",
    "recon_exception",
    "api_token",
    "audit_log",
    "idempotency_key",
    "app_user",
    "alert_event",
    "login_name",
    "web_session",
    "login_failure",
}


def _tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    assert migrate.current(db_url) is not None
    assert _tables(db_url) == TABLES
    migrate.downgrade(db_url, "base")
    assert migrate.current(db_url) is None
    assert _tables(db_url) == set()
    migrate.upgrade(db_url)
    assert _tables(db_url) == TABLES


def test_models_match_migrations(db_url: str) -> None:
    engine = create_engine(sync_url(db_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
