"""Remember the listed size and mtime of each remembered file's sidecar.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

A same-size correction uploaded with the file's mtime preserved lists exactly like the file it
replaces; its new sidecar does not, so the listing memory keeps the sidecar's (size, mtime) too.
Rows remembered before this revision have none: the next listing of such a file reads its
sidecar once and records what it saw.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("recon_remote_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sidecar_size", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("sidecar_mtime", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("recon_remote_file", schema=None) as batch_op:
        batch_op.drop_column("sidecar_mtime")
        batch_op.drop_column("sidecar_size")
