"""SQLAlchemy models: the schema the Alembic migrations create.

Idempotency lives here, as constraints: a connector name is unique among live connectors, a file's
bytes are stored once per connector (``connector_id, sha256``), a connector has at most one
RUNNING run, and a scheduled slot becomes at most one run.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bankfeeds.storage.db.types import UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger ids that are still SQLite rowid aliases (SQLite only autoincrements INTEGER keys).
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base with a stable constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}  # noqa: RUF012


class Connector(Base):
    """Where files come from, for which provider, on which schedule."""

    __tablename__ = "recon_connector"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(8))
    provider: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(8), default="ACTIVE")
    schedule: Mapped[str] = mapped_column(String(200))  # MAX_CRON_CHARS
    timezone: Mapped[str] = mapped_column(String(64))
    target_cycle_rule: Mapped[str] = mapped_column(String(16), default="yesterday")
    host_key_policy: Mapped[str] = mapped_column(String(16), default="accept-new")
    host_key_fingerprint: Mapped[str | None] = mapped_column(String(128))
    #: Health as last recorded by the health watch, to alert on transitions only.
    health_status: Mapped[str | None] = mapped_column(String(10))
    # Non-secret settings as the API accepts them; secrets live only in `secrets`, encrypted.
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]

    __table_args__ = (
        Index(
            "uq_recon_connector_live_name",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_recon_connector_status_provider", "status", "provider"),
    )


class ConnectorRun(Base):
    """One attempt to fetch one cycle date for one connector."""

    __tablename__ = "recon_connector_run"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("recon_connector.id"))
    cycle_date: Mapped[date] = mapped_column(Date)
    trigger: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="QUEUED")
    force: Mapped[bool] = mapped_column(Boolean, default=False)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    parent_run_id: Mapped[int | None] = mapped_column(ForeignKey("recon_connector_run.id"))
    backfill_job_id: Mapped[str | None] = mapped_column(String(40))
    scheduled_for: Mapped[datetime | None]
    not_before: Mapped[datetime | None]
    requested_by: Mapped[str | None] = mapped_column(String(120))
    queued_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    lease_expires_at: Mapped[datetime | None]
    files_discovered: Mapped[int] = mapped_column(Integer, default=0)
    files_downloaded: Mapped[int] = mapped_column(Integer, default=0)
    files_skipped: Mapped[int] = mapped_column(Integer, default=0)
    files_quarantined: Mapped[int] = mapped_column(Integer, default=0)
    files_failed: Mapped[int] = mapped_column(Integer, default=0)
    bytes_downloaded: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_expected: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    error_code: Mapped[str | None] = mapped_column(String(60))
    error_message: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_recon_connector_run_connector_queued", "connector_id", "queued_at"),
        Index("ix_recon_connector_run_status_queued", "status", "queued_at"),
        Index("ix_recon_connector_run_backfill", "backfill_job_id"),
        Index(
            "uq_recon_connector_run_one_running",
            "connector_id",
            unique=True,
            sqlite_where=text("status = 'RUNNING'"),
            postgresql_where=text("status = 'RUNNING'"),
        ),
        UniqueConstraint("connector_id", "scheduled_for"),
    )


class IngestedFile(Base):
    """One file's bytes, by content hash, with where they are stored."""

    __tablename__ = "recon_ingested_file"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("recon_connector.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("recon_connector_run.id"))
    provider: Mapped[str] = mapped_column(String(16))
    cycle_date: Mapped[date] = mapped_column(Date)
    remote_name: Mapped[str] = mapped_column(String(255))
    remote_path: Mapped[str] = mapped_column(String(1024))
    remote_size: Mapped[int] = mapped_column(BigInteger)
    remote_mtime: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    expected_sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    object_key: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(12))
    version: Mapped[int] = mapped_column(Integer, default=1)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("recon_ingested_file.id"))
    #: The delivery this file was unpacked from (PGP plaintext, gzip or zip member), if any.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("recon_ingested_file.id"))
    row_count: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    normalized_key: Mapped[str | None] = mapped_column(String(300))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        # The same bytes may be another day's file too (two header-only holidays): once per day.
        UniqueConstraint("connector_id", "cycle_date", "sha256"),
        Index("ix_recon_ingested_file_connector_sha", "connector_id", "sha256"),
        Index("ix_recon_ingested_file_connector_cycle", "connector_id", "cycle_date"),
        Index("ix_recon_ingested_file_listing", "connector_id", "remote_name", "remote_size"),
        Index("ix_recon_ingested_file_provider_cycle", "provider", "cycle_date"),
        Index("ix_recon_ingested_file_parent", "parent_id"),
    )


class RemoteFile(Base):
    """A remote file already verified, by name, size and mtime: the listing alone recognises it.

    ``sidecar_size`` and ``sidecar_mtime`` are its sidecar as last listed (NULL: not seen yet, or
    no sidecar): a new sidecar beside a file that lists as before may mean new bytes.
    """

    __tablename__ = "recon_remote_file"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("recon_connector.id"))
    remote_path: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    mtime: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    sidecar_size: Mapped[int | None] = mapped_column(BigInteger)
    sidecar_mtime: Mapped[int | None] = mapped_column(BigInteger)
    file_id: Mapped[int] = mapped_column(ForeignKey("recon_ingested_file.id"))
    first_seen_run_id: Mapped[int | None] = mapped_column(ForeignKey("recon_connector_run.id"))
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("connector_id", "remote_path", "size", "mtime"),)


class RunFile(Base):
    """What one run did with one remote file (downloaded, skipped, quarantined, failed)."""

    __tablename__ = "recon_run_file"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("recon_connector_run.id", ondelete="CASCADE"))
    file_id: Mapped[int | None] = mapped_column(ForeignKey("recon_ingested_file.id"))
    remote_name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int | None] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(12))
    sha256: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_recon_run_file_run", "run_id"),)


class ReconJob(Base):
    """One provider and cycle date, reconciled over every current bank and PG file of the day.

    ``recon_job_file`` lists the inputs; ``inputs_key`` (their ids, hashed) makes the same set of
    files give one job however many triggers race. ``bank_file_id`` and ``pg_file_id`` are the
    newest input of each side.
    """

    __tablename__ = "recon_job"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(16))
    cycle_date: Mapped[date] = mapped_column(Date)
    bank_file_id: Mapped[int] = mapped_column(ForeignKey("recon_ingested_file.id"))
    pg_file_id: Mapped[int] = mapped_column(ForeignKey("recon_ingested_file.id"))
    status: Mapped[str] = mapped_column(String(10), default="PENDING")
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("recon_job.id"))
    inputs_key: Mapped[str] = mapped_column(String(64))
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("provider", "cycle_date", "inputs_key"),
        Index("ix_recon_job_status_created", "status", "created_at"),
    )


class ReconJobFile(Base):
    """One input file of a recon job, and which side it feeds."""

    __tablename__ = "recon_job_file"

    job_id: Mapped[int] = mapped_column(
        ForeignKey("recon_job.id", ondelete="CASCADE"), primary_key=True
    )
    file_id: Mapped[int] = mapped_column(ForeignKey("recon_ingested_file.id"), primary_key=True)
    side: Mapped[str] = mapped_column(String(4))

    __table_args__ = (Index("ix_recon_job_file_file", "file_id"),)


class ReconException(Base):
    """Something an ops person must look at."""

    __tablename__ = "recon_exception"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(10), default="OPEN")
    owner: Mapped[str | None] = mapped_column(String(120))
    connector_id: Mapped[int | None] = mapped_column(ForeignKey("recon_connector.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("recon_connector_run.id"))
    file_id: Mapped[int | None] = mapped_column(ForeignKey("recon_ingested_file.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("recon_job.id"))
    provider: Mapped[str | None] = mapped_column(String(16))
    cycle_date: Mapped[date | None] = mapped_column(Date)
    source_row: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Set for exceptions that must exist at most once while open (e.g. FILE_MISSING per day).
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_recon_exception_state_kind", "state", "kind"),
        Index("ix_recon_exception_connector", "connector_id"),
        Index("ix_recon_exception_job", "job_id"),
    )


class ApiToken(Base):
    """An API token: only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    role: Mapped[str] = mapped_column(String(10))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuditLog(Base):
    """Who changed what, when; secrets redacted."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(60))
    diff: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_audit_log_at", "at"), Index("ix_audit_log_target", "target_id"))


class IdempotencyKey(Base):
    """A client's ``X-Idempotency-Key`` with the hash of the body it first came with."""

    __tablename__ = "idempotency_key"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    scope: Mapped[str] = mapped_column(String(60), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime]


class User(Base):
    """A web UI login: a name, a role and an scrypt password hash (never the password)."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    role: Mapped[str] = mapped_column(String(10))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]


class LoginName(Base):
    """A name held by a user or an API token: unique across both, so an audit actor is one login.

    Written in the same transaction as the user or token, so the database, not a check before the
    insert, refuses a second holder.
    """

    __tablename__ = "login_name"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))


class WebSession(Base):
    """A web UI session: only the SHA-256 of its random id is stored; the cookie carries the id."""

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_token.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_web_session_user", "user_id"),
        Index("ix_web_session_token", "token_id"),
        Index("ix_web_session_expires", "expires_at"),
    )


class LoginFailure(Base):
    """Failed password logins for one (user name, address), or for an address (``user_key`` "").

    ``user_key`` is the SHA-256 of the case-folded name typed, so a password typed into the name
    field is not kept in the clear.
    """

    __tablename__ = "login_failure"

    user_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failed_at: Mapped[datetime]
    next_allowed_at: Mapped[datetime]

    __table_args__ = (Index("ix_login_failure_last_failed", "last_failed_at"),)


class AlertEvent(Base):
    """An alert in the transactional outbox: written with its event, sent once by a dispatcher.

    ``next_attempt_at`` is NULL once the dispatcher gave up; ``delivered_to`` holds hashes of the
    webhooks that already accepted it, so a retry after a partial failure skips them.
    """

    __tablename__ = "alert_event"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(240), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    delivered_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(
            "ix_alert_event_due",
            "next_attempt_at",
            sqlite_where=text("delivered_at IS NULL"),
            postgresql_where=text("delivered_at IS NULL"),
        ),
    )
