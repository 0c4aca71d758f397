"""Settings, read once at an entry point from the environment and an optional ``.env`` file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bankfeeds.core.errors import ConfigError


def _host_list(value: object) -> frozenset[str]:
    """A comma-separated host list (or an iterable of hosts), lower-cased."""
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    return frozenset(str(h).strip().lower().strip("[]") for h in items if str(h).strip())


class Webhook(BaseModel):
    """One alert destination: a URL (a secret: Slack's carry a token) and a body format."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr
    format: Literal["json", "slack"] = "json"

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


def parse_webhooks(value: object) -> list[Webhook]:
    """Read ``ALERT_WEBHOOKS``: a JSON list of ``{"url", "format"}`` objects (or such a list)."""
    if value is None or value == "":
        return []
    raw = value
    if isinstance(value, str):
        try:
            raw = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos})") from exc
    if not isinstance(raw, list):
        raise ValueError('must be a JSON list like [{"url": "https://...", "format": "json"}]')
    hooks: list[Webhook] = []
    for number, item in enumerate(raw, start=1):
        try:
            hooks.append(item if isinstance(item, Webhook) else Webhook.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            if not first["loc"]:
                raise ValueError(f'entry {number} must be an object with "url"') from exc
            where = ".".join(str(part) for part in first["loc"])
            msg = str(first["msg"]).removeprefix("Value error, ")
            raise ValueError(f"entry {number}: {where}: {msg[:1].lower()}{msg[1:]}") from exc
    return hooks


class Settings(BaseSettings):
    """Every knob bankfeeds reads from its environment; names follow the specification."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(default=Path("var"), validation_alias="BANKFEEDS_DATA_DIR")
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    secret_key: SecretStr | None = Field(default=None, validation_alias="BANKFEEDS_SECRET_KEY")

    sftp_host: str = Field(default="127.0.0.1", validation_alias="SFTP_HOST")
    sftp_port: int = Field(default=2222, ge=1, le=65535, validation_alias="SFTP_PORT")
    sftp_user: str = Field(default="bank", validation_alias="SFTP_USER")
    sftp_pass: SecretStr = Field(default=SecretStr("bankpass"), validation_alias="SFTP_PASS")

    scheduler_enabled: bool = Field(default=True, validation_alias="SCHEDULER_ENABLED")
    scheduler_timezone: str = Field(default="Asia/Kolkata", validation_alias="SCHEDULER_TIMEZONE")
    scheduler_cutoff_hour: int = Field(
        default=18, ge=0, le=23, validation_alias="SCHEDULER_CUTOFF_HOUR"
    )
    scheduler_grace_period_hours: int = Field(
        default=2, ge=0, le=168, validation_alias="SCHEDULER_GRACE_PERIOD_HOURS"
    )

    s3_bucket: str | None = Field(default=None, validation_alias="S3_BUCKET")
    s3_region: str = Field(default="us-east-1", validation_alias="S3_REGION")
    s3_endpoint: str | None = Field(default=None, validation_alias="S3_ENDPOINT")

    metrics_enabled: bool = Field(default=True, validation_alias="METRICS_ENABLED")
    # Prometheus's bearer token for /metrics, checked without a database lookup; when unset,
    # /metrics takes an API token with the viewer role.
    metrics_token: SecretStr | None = Field(
        default=None, min_length=16, validation_alias="BANKFEEDS_METRICS_TOKEN"
    )
    # SFTP hosts get the API hosts' address policy; hosts (or host:port) listed here may be
    # loopback or private (the sandbox's and the tests' SFTP servers on 127.0.0.1).
    sftp_allow_hosts: Annotated[frozenset[str], NoDecode, BeforeValidator(_host_list)] = Field(
        default=frozenset(), validation_alias="BANKFEEDS_SFTP_ALLOW_HOSTS"
    )
    alerts_enabled: bool = Field(default=True, validation_alias="ALERTS_ENABLED")

    lease_seconds: int = Field(
        default=30, ge=2, le=3600, validation_alias="BANKFEEDS_LEASE_SECONDS"
    )
    worker_concurrency: int = Field(
        default=4, ge=1, le=256, validation_alias="BANKFEEDS_WORKER_CONCURRENCY"
    )
    scheduler_tick_seconds: float = Field(
        default=5.0, gt=0, le=300, validation_alias="BANKFEEDS_SCHEDULER_TICK_SECONDS"
    )

    log_level: str = Field(default="INFO", validation_alias="BANKFEEDS_LOG_LEVEL")
    log_format: Literal["json", "text"] = Field(
        default="json", validation_alias="BANKFEEDS_LOG_FORMAT"
    )

    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, validation_alias="BANKFEEDS_MAX_BODY_BYTES"
    )
    # Reverse proxies (IPs or CIDRs) whose X-Forwarded-For names the client; none by default, so
    # a client cannot pick the address its failed logins are counted against.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias="BANKFEEDS_TRUSTED_PROXIES"
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_networks(cls, value: object) -> tuple[str, ...]:
        from bankfeeds.core.proxies import parse_networks

        return tuple(str(n) for n in parse_networks(value))

    # API connectors reach the internet; only hosts listed here may be plain http or resolve to a
    # private/loopback address (the demo's bank API on 127.0.0.1 is one).
    api_allow_hosts: Annotated[frozenset[str], NoDecode, BeforeValidator(_host_list)] = Field(
        default=frozenset(), validation_alias="BANKFEEDS_API_ALLOW_HOSTS"
    )
    api_max_bytes: int = Field(
        default=512 * 1024 * 1024, ge=1024, validation_alias="BANKFEEDS_API_MAX_BYTES"
    )
    # Caps on what one delivery may unpack to (gzip/zip), so an archive bomb cannot fill the disk.
    unpack_max_bytes: int = Field(
        default=2 * 1024**3, ge=1024, validation_alias="BANKFEEDS_UNPACK_MAX_BYTES"
    )
    unpack_max_ratio: float = Field(
        default=200.0, ge=1.0, validation_alias="BANKFEEDS_UNPACK_MAX_RATIO"
    )

    # NoDecode: parse_webhooks reads the JSON itself, so bad JSON is a ConfigError sentence.
    alert_webhooks: Annotated[list[Webhook], NoDecode, BeforeValidator(parse_webhooks)] = Field(
        default_factory=list, validation_alias="ALERT_WEBHOOKS"
    )

    @field_validator("scheduler_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return value

    @property
    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL to use; a SQLite file under the data dir by default."""
        url = self.database_url or f"sqlite:///{self.data_dir / 'bankfeeds.db'}"
        return async_url(url)

    @property
    def secret_keys(self) -> list[str]:
        """The configured Fernet keys, newest first (comma-separated in the variable)."""
        if self.secret_key is None:
            return []
        return [k.strip() for k in self.secret_key.get_secret_value().split(",") if k.strip()]


_ENV_NAMES = {name: str(f.validation_alias or name) for name, f in Settings.model_fields.items()}


def async_url(url: str) -> str:
    """Map a database URL to its async driver (aiosqlite, psycopg)."""
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sync_url(url: str) -> str:
    """Map a database URL to its synchronous driver (sqlite3, psycopg), for migrations."""
    if url.startswith("sqlite+aiosqlite://"):
        return "sqlite://" + url[len("sqlite+aiosqlite://") :]
    return url


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning the first invalid value into one sentence naming its variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        name = _ENV_NAMES.get(field, field)
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{name} is invalid: {msg}.") from exc
