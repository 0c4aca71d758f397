"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 19:17:28.849998
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""

    op.create_table(
        "api_token",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("name", name=op.f("uq_api_token_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=60), nullable=True),
        sa.Column("diff", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_log_target", ["target_id"], unique=False)

    op.create_table(
        "idempotency_key",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=60), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", "scope", name=op.f("pk_idempotency_key")),
    )
    op.create_table(
        "recon_connector",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("schedule", sa.String(length=120), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("target_cycle_rule", sa.String(length=16), nullable=False),
        sa.Column("host_key_policy", sa.String(length=16), nullable=False),
        sa.Column("host_key_fingerprint", sa.String(length=128), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_connector")),
    )
    with op.batch_alter_table("recon_connector", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recon_connector_status_provider", ["status", "provider"], unique=False
        )
        batch_op.create_index(
            "uq_recon_connector_live_name",
            ["name"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "recon_connector_run",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "connector_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("cycle_date", sa.Date(), nullable=False),
        sa.Column("trigger", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("force", sa.Boolean(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column(
            "parent_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("backfill_job_id", sa.String(length=40), nullable=True),
        sa.Column("scheduled_for", sa.DateTime(), nullable=True),
        sa.Column("not_before", sa.DateTime(), nullable=True),
        sa.Column("requested_by", sa.String(length=120), nullable=True),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(length=120), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
        sa.Column("files_discovered", sa.Integer(), nullable=False),
        sa.Column("files_downloaded", sa.Integer(), nullable=False),
        sa.Column("files_skipped", sa.Integer(), nullable=False),
        sa.Column("files_quarantined", sa.Integer(), nullable=False),
        sa.Column("files_failed", sa.Integer(), nullable=False),
        sa.Column("bytes_downloaded", sa.BigInteger(), nullable=False),
        sa.Column("bytes_expected", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("error_code", sa.String(length=60), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["recon_connector.id"],
            name=op.f("fk_recon_connector_run_connector_id_recon_connector"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_run_id"],
            ["recon_connector_run.id"],
            name=op.f("fk_recon_connector_run_parent_run_id_recon_connector_run"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_connector_run")),
        sa.UniqueConstraint(
            "connector_id",
            "scheduled_for",
            name=op.f("uq_recon_connector_run_connector_id_scheduled_for"),
        ),
    )
    with op.batch_alter_table("recon_connector_run", schema=None) as batch_op:
        batch_op.create_index("ix_recon_connector_run_backfill", ["backfill_job_id"], unique=False)
        batch_op.create_index(
            "ix_recon_connector_run_connector_queued", ["connector_id", "queued_at"], unique=False
        )
        batch_op.create_index(
            "ix_recon_connector_run_status_queued", ["status", "queued_at"], unique=False
        )
        batch_op.create_index(
            "uq_recon_connector_run_one_running",
            ["connector_id"],
            unique=True,
            sqlite_where=sa.text("status = 'RUNNING'"),
            postgresql_where=sa.text("status = 'RUNNING'"),
        )

    op.create_table(
        "recon_ingested_file",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "connector_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("cycle_date", sa.Date(), nullable=False),
        sa.Column("remote_name", sa.String(length=255), nullable=False),
        sa.Column("remote_path", sa.String(length=1024), nullable=False),
        sa.Column("remote_size", sa.BigInteger(), nullable=False),
        sa.Column("remote_mtime", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("expected_sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("object_key", sa.String(length=300), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "supersedes_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("row_count", sa.Integer(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("normalized_key", sa.String(length=300), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["recon_connector.id"],
            name=op.f("fk_recon_ingested_file_connector_id_recon_connector"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["recon_connector_run.id"],
            name=op.f("fk_recon_ingested_file_run_id_recon_connector_run"),
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["recon_ingested_file.id"],
            name=op.f("fk_recon_ingested_file_supersedes_id_recon_ingested_file"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_ingested_file")),
        sa.UniqueConstraint(
            "connector_id", "sha256", name=op.f("uq_recon_ingested_file_connector_id_sha256")
        ),
    )
    with op.batch_alter_table("recon_ingested_file", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recon_ingested_file_connector_cycle", ["connector_id", "cycle_date"], unique=False
        )
        batch_op.create_index(
            "ix_recon_ingested_file_listing",
            ["connector_id", "remote_name", "remote_size"],
            unique=False,
        )
        batch_op.create_index(
            "ix_recon_ingested_file_provider_cycle", ["provider", "cycle_date"], unique=False
        )

    op.create_table(
        "recon_job",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("cycle_date", sa.Date(), nullable=False),
        sa.Column(
            "bank_file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "pg_file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column(
            "superseded_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["bank_file_id"],
            ["recon_ingested_file.id"],
            name=op.f("fk_recon_job_bank_file_id_recon_ingested_file"),
        ),
        sa.ForeignKeyConstraint(
            ["pg_file_id"],
            ["recon_ingested_file.id"],
            name=op.f("fk_recon_job_pg_file_id_recon_ingested_file"),
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by_id"],
            ["recon_job.id"],
            name=op.f("fk_recon_job_superseded_by_id_recon_job"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_job")),
        sa.UniqueConstraint(
            "provider",
            "cycle_date",
            "bank_file_id",
            "pg_file_id",
            name=op.f("uq_recon_job_provider_cycle_date_bank_file_id_pg_file_id"),
        ),
    )
    with op.batch_alter_table("recon_job", schema=None) as batch_op:
        batch_op.create_index("ix_recon_job_status_created", ["status", "created_at"], unique=False)

    op.create_table(
        "recon_remote_file",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "connector_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("remote_path", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "first_seen_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["recon_connector.id"],
            name=op.f("fk_recon_remote_file_connector_id_recon_connector"),
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["recon_ingested_file.id"],
            name=op.f("fk_recon_remote_file_file_id_recon_ingested_file"),
        ),
        sa.ForeignKeyConstraint(
            ["first_seen_run_id"],
            ["recon_connector_run.id"],
            name=op.f("fk_recon_remote_file_first_seen_run_id_recon_connector_run"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_remote_file")),
        sa.UniqueConstraint(
            "connector_id",
            "remote_path",
            "size",
            "mtime",
            name=op.f("uq_recon_remote_file_connector_id_remote_path_size_mtime"),
        ),
    )
    op.create_table(
        "recon_run_file",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("remote_name", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["recon_ingested_file.id"],
            name=op.f("fk_recon_run_file_file_id_recon_ingested_file"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["recon_connector_run.id"],
            name=op.f("fk_recon_run_file_run_id_recon_connector_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_run_file")),
    )
    with op.batch_alter_table("recon_run_file", schema=None) as batch_op:
        batch_op.create_index("ix_recon_run_file_run", ["run_id"], unique=False)

    op.create_table(
        "recon_exception",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=True),
        sa.Column(
            "connector_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=True),
        sa.Column("cycle_date", sa.Date(), nullable=True),
        sa.Column("source_row", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["recon_connector.id"],
            name=op.f("fk_recon_exception_connector_id_recon_connector"),
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["recon_ingested_file.id"],
            name=op.f("fk_recon_exception_file_id_recon_ingested_file"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["recon_job.id"], name=op.f("fk_recon_exception_job_id_recon_job")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["recon_connector_run.id"],
            name=op.f("fk_recon_exception_run_id_recon_connector_run"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_exception")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_recon_exception_dedupe_key")),
    )
    with op.batch_alter_table("recon_exception", schema=None) as batch_op:
        batch_op.create_index("ix_recon_exception_connector", ["connector_id"], unique=False)
        batch_op.create_index("ix_recon_exception_job", ["job_id"], unique=False)
        batch_op.create_index("ix_recon_exception_state_kind", ["state", "kind"], unique=False)


def downgrade() -> None:
    """Revert this revision."""

    with op.batch_alter_table("recon_exception", schema=None) as batch_op:
        batch_op.drop_index("ix_recon_exception_state_kind")
        batch_op.drop_index("ix_recon_exception_job")
        batch_op.drop_index("ix_recon_exception_connector")

    op.drop_table("recon_exception")
    with op.batch_alter_table("recon_run_file", schema=None) as batch_op:
        batch_op.drop_index("ix_recon_run_file_run")

    op.drop_table("recon_run_file")
    op.drop_table("recon_remote_file")
    with op.batch_alter_table("recon_job", schema=None) as batch_op:
        batch_op.drop_index("ix_recon_job_status_created")

    op.drop_table("recon_job")
    with op.batch_alter_table("recon_ingested_file", schema=None) as batch_op:
        batch_op.drop_index("ix_recon_ingested_file_provider_cycle")
        batch_op.drop_index("ix_recon_ingested_file_listing")
        batch_op.drop_index("ix_recon_ingested_file_connector_cycle")

    op.drop_table("recon_ingested_file")
    with op.batch_alter_table("recon_connector_run", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_recon_connector_run_one_running",
            sqlite_where=sa.text("status = 'RUNNING'"),
            postgresql_where=sa.text("status = 'RUNNING'"),
        )
        batch_op.drop_index("ix_recon_connector_run_status_queued")
        batch_op.drop_index("ix_recon_connector_run_connector_queued")
        batch_op.drop_index("ix_recon_connector_run_backfill")

    op.drop_table("recon_connector_run")
    with op.batch_alter_table("recon_connector", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_recon_connector_live_name",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index("ix_recon_connector_status_provider")

    op.drop_table("recon_connector")
    op.drop_table("idempotency_key")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_target")
        batch_op.drop_index("ix_audit_log_at")

    op.drop_table("audit_log")
    op.drop_table("api_token")
