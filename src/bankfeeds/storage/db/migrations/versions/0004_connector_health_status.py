"""Record each connector's last health, so health alerts fire on transitions only.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("recon_connector", schema=None) as batch_op:
        batch_op.add_column(sa.Column("health_status", sa.String(length=10), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("recon_connector", schema=None) as batch_op:
        batch_op.drop_column("health_status")
