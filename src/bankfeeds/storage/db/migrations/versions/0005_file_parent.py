"""Link a file unpacked from a delivery (PGP plaintext, gzip or zip member) to what it came from.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("recon_ingested_file", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_foreign_key(
            op.f("fk_recon_ingested_file_parent_id_recon_ingested_file"),
            "recon_ingested_file",
            ["parent_id"],
            ["id"],
        )
        batch_op.create_index("ix_recon_ingested_file_parent", ["parent_id"])


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("recon_ingested_file", schema=None) as batch_op:
        batch_op.drop_index("ix_recon_ingested_file_parent")
        batch_op.drop_constraint(
            op.f("fk_recon_ingested_file_parent_id_recon_ingested_file"), type_="foreignkey"
        )
        batch_op.drop_column("parent_id")
