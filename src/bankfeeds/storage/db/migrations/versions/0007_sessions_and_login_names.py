"""Server-side web sessions, login back-off state, names unique across users and tokens, and
room for a 200-character schedule.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Existing users and tokens are registered in ``login_name``; where a token already shares a
user's name (allowed before this revision) the user keeps the name and the token stays as it is,
since renaming a token would break whoever holds it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "login_name",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_login_name")),
    )
    op.execute("INSERT INTO login_name (name, kind) SELECT name, 'user' FROM app_user")
    op.execute(
        "INSERT INTO login_name (name, kind) SELECT name, 'token' FROM api_token "
        "WHERE name NOT IN (SELECT name FROM app_user)"
    )
    op.create_table(
        "web_session",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", _ID, nullable=True),
        sa.Column("token_id", _ID, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_web_session_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_token.id"],
            name=op.f("fk_web_session_token_id_api_token"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_session")),
        sa.UniqueConstraint("id_hash", name=op.f("uq_web_session_id_hash")),
    )
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.create_index("ix_web_session_user", ["user_id"])
        batch_op.create_index("ix_web_session_token", ["token_id"])
        batch_op.create_index("ix_web_session_expires", ["expires_at"])
    op.create_table(
        "login_failure",
        sa.Column("user_key", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(), nullable=False),
        sa.Column("next_allowed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_key", "address", name=op.f("pk_login_failure")),
    )
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.create_index("ix_login_failure_last_failed", ["last_failed_at"])
    # A cron spelled out minute by minute (178 characters) is valid; the column held 120.
    with op.batch_alter_table("recon_connector", schema=None) as batch_op:
        batch_op.alter_column(
            "schedule", existing_type=sa.String(length=120), type_=sa.String(length=200)
        )


def downgrade() -> None:
    """Revert this revision (every session ends; cookies signed before it are not readable)."""
    with op.batch_alter_table("recon_connector", schema=None) as batch_op:
        batch_op.alter_column(
            "schedule", existing_type=sa.String(length=200), type_=sa.String(length=120)
        )
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failure_last_failed")
    op.drop_table("login_failure")
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.drop_index("ix_web_session_expires")
        batch_op.drop_index("ix_web_session_token")
        batch_op.drop_index("ix_web_session_user")
    op.drop_table("web_session")
    op.drop_table("login_name")
