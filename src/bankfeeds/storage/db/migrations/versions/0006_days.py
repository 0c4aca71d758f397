"""A day is a set of files: the same bytes once per day, and recon jobs over many input files.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _key(bank: int, pg: int) -> str:
    """A key for a job made before keys existed; it names its pair of files.

    The keys recon/jobs.py makes also hash the PG bank names that picked rows, so the first
    trigger after the upgrade makes a fresh job for a day, which supersedes the old one.
    """
    return hashlib.sha256(f"B{bank};P{pg}".encode()).hexdigest()


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("recon_ingested_file", schema=None) as batch_op:
        batch_op.drop_constraint("uq_recon_ingested_file_connector_id_sha256", type_="unique")
        batch_op.create_unique_constraint(
            op.f("uq_recon_ingested_file_connector_id_cycle_date_sha256"),
            ["connector_id", "cycle_date", "sha256"],
        )
        batch_op.create_index("ix_recon_ingested_file_connector_sha", ["connector_id", "sha256"])
    op.create_table(
        "recon_job_file",
        sa.Column("job_id", _ID, nullable=False),
        sa.Column("file_id", _ID, nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["recon_job.id"],
            name=op.f("fk_recon_job_file_job_id_recon_job"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["recon_ingested_file.id"],
            name=op.f("fk_recon_job_file_file_id_recon_ingested_file"),
        ),
        sa.PrimaryKeyConstraint("job_id", "file_id", name=op.f("pk_recon_job_file")),
    )
    with op.batch_alter_table("recon_job_file", schema=None) as batch_op:
        batch_op.create_index("ix_recon_job_file_file", ["file_id"])
    with op.batch_alter_table("recon_job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inputs_key", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    jobs = conn.execute(sa.text("SELECT id, bank_file_id, pg_file_id FROM recon_job")).all()
    for pk, bank, pg in jobs:
        conn.execute(
            sa.text("UPDATE recon_job SET inputs_key = :k WHERE id = :id"),
            {"k": _key(bank, pg), "id": pk},
        )
        conn.execute(
            sa.text(
                "INSERT INTO recon_job_file (job_id, file_id, side) "
                "VALUES (:j, :b, 'BANK'), (:j, :p, 'PG')"
            ),
            {"j": pk, "b": bank, "p": pg},
        )
    with op.batch_alter_table("recon_job", schema=None) as batch_op:
        batch_op.alter_column("inputs_key", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_constraint(
            "uq_recon_job_provider_cycle_date_bank_file_id_pg_file_id", type_="unique"
        )
        batch_op.create_unique_constraint(
            op.f("uq_recon_job_provider_cycle_date_inputs_key"),
            ["provider", "cycle_date", "inputs_key"],
        )


def downgrade() -> None:
    """Revert this revision.

    Refused by the old unique constraint where two jobs of a day share their newest pair of
    files (a day that grew a part): such history has no place in the old schema.
    """
    with op.batch_alter_table("recon_job", schema=None) as batch_op:
        batch_op.drop_constraint("uq_recon_job_provider_cycle_date_inputs_key", type_="unique")
        batch_op.drop_column("inputs_key")
    with op.batch_alter_table("recon_job", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_recon_job_provider_cycle_date_bank_file_id_pg_file_id",
            ["provider", "cycle_date", "bank_file_id", "pg_file_id"],
        )
    with op.batch_alter_table("recon_job_file", schema=None) as batch_op:
        batch_op.drop_index("ix_recon_job_file_file")
    op.drop_table("recon_job_file")
    with op.batch_alter_table("recon_ingested_file", schema=None) as batch_op:
        batch_op.drop_index("ix_recon_ingested_file_connector_sha")
        batch_op.drop_constraint(
            "uq_recon_ingested_file_connector_id_cycle_date_sha256", type_="unique"
        )
        batch_op.create_unique_constraint(
            "uq_recon_ingested_file_connector_id_sha256", ["connector_id", "sha256"]
        )
