"""Connector vocabulary and the rules a connector definition must satisfy (pure, no I/O)."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel

from bankfeeds.connectors.banks import alias_problem
from bankfeeds.connectors.layouts import layout_from_dict
from bankfeeds.connectors.patterns import DEFAULT_PATTERNS, validate_pattern
from bankfeeds.connectors.retry import validate_retry
from bankfeeds.connectors.schedule import MAX_CRON_CHARS, validate_cron, validate_timezone
from bankfeeds.core.errors import FieldError, ValidationFailed
from bankfeeds.transports.http.requests import (
    MAX_HEADER_NAME,
    MAX_HEADER_VALUE,
    control_problem,
    endpoint_problem,
    header_name_problem,
    header_value_problem,
)


class ConnectorType(StrEnum):
    """Where a connector's files come from."""

    SFTP = "SFTP"
    API = "API"


class Provider(StrEnum):
    """Whose files a connector fetches; PG is the payment gateway's own export."""

    AXIS = "AXIS"
    BOB = "BOB"
    HDFC = "HDFC"
    ICICI = "ICICI"
    SBI = "SBI"
    YES = "YES"
    KOTAK = "KOTAK"
    PG = "PG"
    CUSTOM = "CUSTOM"


class ConnectorStatus(StrEnum):
    """Whether the scheduler runs a connector."""

    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"


SECRET_FIELDS = (
    "password", "privateKey", "passphrase", "token", "apiKey", "pgpPrivateKey", "pgpPassphrase"
)  # fmt: skip
MASK = "********"
#: Custom request headers are secrets too (an ``Authorization`` or ``X-Client-Secret`` lives
#: there): kept in the encrypted blob under this key as JSON, shown with masked values.
HEADERS = "headers"
#: Secrets that are key blocks: line breaks belong in them; they never go into a header.
_KEY_BLOCKS = ("privateKey", "pgpPrivateKey")
#: Secrets sent in an HTTP header as they are (Basic credentials are base64-encoded first).
_HEADER_SECRETS = ("token", "apiKey")
MAX_PAIRS = 50
DEFAULT_SCHEDULE = "0 19 * * *"
_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}=?$")


class _Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=True
    )


_Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_HEADER_NAME)]
_Value = Annotated[str, StringConstraints(max_length=MAX_HEADER_VALUE)]
_SECRET = 4096  # passwords, tokens, keys sent in a header
_KEY = 64 * 1024  # PEM and ASCII-armoured key blocks


class ConnectorConfig(_Wire):
    """The ``config`` object of the API: SFTP and API settings side by side.

    Every text is bounded, so a 900 KB path or a 100 KB schedule is a 422 naming the field.
    """

    host: str | None = Field(default=None, max_length=253)
    port: int | None = None
    username: str | None = Field(default=None, max_length=256)
    password: str | None = Field(default=None, max_length=_SECRET)
    private_key: str | None = Field(default=None, max_length=_KEY)
    passphrase: str | None = Field(default=None, max_length=_SECRET)
    remote_path: str | None = Field(default=None, max_length=1024)
    file_pattern: str | None = Field(default=None, max_length=255)
    checksum_ext: str | None = Field(default=None, max_length=16)
    stable_seconds: int | None = Field(default=None, ge=0, le=3600)
    connect_timeout: int | None = Field(default=None, ge=1, le=300)
    read_timeout: int | None = Field(default=None, ge=1, le=3600)
    max_files_in_flight: int | None = Field(default=None, ge=1, le=64)
    host_key_policy: Literal["accept-new", "strict"] | None = None
    host_key_fingerprint: str | None = Field(default=None, max_length=100)
    schedule: str | None = Field(default=None, max_length=MAX_CRON_CHARS)
    timezone: str | None = Field(default=None, max_length=64)
    target_cycle_rule: Literal["yesterday", "today"] | None = None
    catch_up: Literal["latest", "all", "none"] | None = None
    retry: dict[str, Any] | None = None
    cutoff_hour: int | None = Field(default=None, ge=0, le=23)
    grace_hours: int | None = Field(default=None, ge=0, le=168)
    base_url: str | None = Field(default=None, max_length=2000)
    endpoint: str | None = Field(default=None, max_length=2000)
    auth_type: Literal["none", "bearer", "apiKey", "basic"] | None = None
    token: str | None = Field(default=None, max_length=_SECRET)
    api_key: str | None = Field(default=None, max_length=_SECRET)
    api_key_header: str | None = Field(default=None, max_length=MAX_HEADER_NAME)
    headers: dict[_Name, _Value] | None = Field(default=None, max_length=MAX_PAIRS)
    query_params: dict[_Name, _Value] | None = Field(default=None, max_length=MAX_PAIRS)
    response_format: Literal["csv", "json", "xml"] | None = None
    records_path: str | None = Field(default=None, max_length=200)
    record_tag: str | None = Field(default=None, max_length=100)
    pagination: Literal["none", "link", "cursor"] | None = None
    cursor_field: str | None = Field(default=None, max_length=200)
    cursor_param: str | None = Field(default=None, max_length=100)
    checksum_header: str | None = Field(default=None, max_length=100)
    sidecar_url: str | None = Field(default=None, max_length=2000)
    max_pages: int | None = Field(default=None, ge=1, le=100_000)
    #: PGP: our private key (and its passphrase) to decrypt, the bank's public key to verify.
    pgp_private_key: str | None = Field(default=None, max_length=_KEY)
    pgp_passphrase: str | None = Field(default=None, max_length=_SECRET)
    pgp_public_key: str | None = Field(default=None, max_length=_KEY)
    #: A CUSTOM connector's file layout (see docs/layouts.md), checked by ``layout_from_dict``.
    layout: dict[str, Any] | None = None
    #: Other names the PG export gives this bank (names, short codes, IFSC prefixes).
    bank_aliases: list[str] | None = Field(default=None, max_length=50)


class ConnectorCreate(_Wire):
    """Body of ``POST /ops/connectors``."""

    name: str = Field(min_length=1, max_length=120)
    type: ConnectorType
    provider: Provider
    status: ConnectorStatus = ConnectorStatus.ACTIVE
    config: ConnectorConfig


class ConnectorPatch(_Wire):
    """Body of ``PATCH /ops/connectors/{id}``: every field optional; config merges key by key."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    provider: Provider | None = None
    status: ConnectorStatus | None = None
    config: dict[str, Any] | None = None


def split_secrets(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Separate the write-only secret fields (custom headers too) from the rest of a config."""
    plain = {k: v for k, v in config.items() if k not in SECRET_FIELDS and k != HEADERS}
    secrets = {k: str(v) for k, v in config.items() if k in SECRET_FIELDS and v is not None}
    if config.get(HEADERS):
        secrets[HEADERS] = json.dumps(config[HEADERS], sort_keys=True)
    return plain, secrets


def headers_of(config: dict[str, Any], secrets: dict[str, str]) -> dict[str, str]:
    """A connector's custom headers: from the encrypted blob, or a legacy plaintext config."""
    if HEADERS in secrets:
        loaded = json.loads(secrets[HEADERS])
        return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
    # Rows saved before headers were secrets keep them in config until their next save.
    return {str(k): str(v) for k, v in (config.get(HEADERS) or {}).items()}


def stored_wire(config: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """A stored connector's full wire config: plain fields, secrets, and headers decoded."""
    wire = {**config, **{k: v for k, v in secrets.items() if k != HEADERS}}
    headers = headers_of(config, secrets)
    if headers:
        wire[HEADERS] = headers
    else:
        wire.pop(HEADERS, None)
    return wire


def merge_headers(
    stored: dict[str, str], patch: Any
) -> tuple[dict[str, str] | Any, list[FieldError]]:
    """Apply a ``headers`` patch: a masked value keeps the stored value of that header."""
    if not isinstance(patch, dict):
        return patch, []  # the config model reports the wrong shape
    out: dict[str, Any] = {}
    errors = []
    for name, value in patch.items():
        if value == MASK:
            if name not in stored:
                errors.append(FieldError(f"config.headers.{name}", "has no stored value to keep"))
                continue
            value = stored[name]
        out[name] = value
    return out, errors


def apply_defaults(
    ctype: ConnectorType, provider: Provider, config: dict[str, Any], default_tz: str
) -> dict[str, Any]:
    """Fill what a definition may leave out: port, pattern, schedule, time zone, rules."""
    out = dict(config)
    out.setdefault("schedule", DEFAULT_SCHEDULE)
    out.setdefault("timezone", default_tz)
    out.setdefault("targetCycleRule", "yesterday")
    out.setdefault("catchUp", "latest")
    if ctype is ConnectorType.SFTP:
        out.setdefault("port", 22)
        out.setdefault("hostKeyPolicy", "accept-new")
        out.setdefault("stableSeconds", 0)
        if not out.get("filePattern") and provider.value in DEFAULT_PATTERNS:
            out["filePattern"] = DEFAULT_PATTERNS[provider.value]
    else:
        out.setdefault("authType", "none")
        out.setdefault("responseFormat", "csv")
    return {k: v for k, v in out.items() if v is not None}


def validate_definition(
    ctype: ConnectorType, config: dict[str, Any], secrets: dict[str, str]
) -> list[FieldError]:
    """Every rule a complete, defaulted definition breaks, each with its field path."""
    errors: list[FieldError] = []

    def bad(field: str, message: str) -> None:
        errors.append(FieldError(f"config.{field}", message))

    _validate_secret_values(secrets, bad)
    if (problem := validate_cron(str(config.get("schedule", "")))) is not None:
        bad("schedule", problem)
    if (problem := validate_timezone(str(config.get("timezone", "")))) is not None:
        bad("timezone", problem)
    if "retry" in config:
        errors += validate_retry(config["retry"])
    if config.get("layout") is not None:
        errors += _layout_errors(config["layout"])
    for i, alias in enumerate(config.get("bankAliases") or []):
        if (problem := alias_problem(alias)) is not None:
            bad(f"bankAliases.{i}", problem)
    _validate_pgp(config, secrets, bad)
    if ctype is ConnectorType.SFTP:
        _validate_sftp(config, secrets, bad)
    else:
        _validate_api(config, secrets, bad)
    return errors


_API_ONLY = (
    "baseUrl", "endpoint", "authType", "token", "apiKey", "apiKeyHeader", "headers",
    "queryParams", "responseFormat", "recordsPath", "recordTag", "pagination", "cursorField",
    "cursorParam", "checksumHeader", "sidecarUrl", "maxPages",
)  # fmt: skip


def _validate_secret_values(secrets: dict[str, str], bad: Any) -> None:
    """No control characters in a secret: a pasted line break must not reach a header or log."""
    for field, value in secrets.items():
        if field in (HEADERS, *_KEY_BLOCKS):
            continue
        rule = header_value_problem if field in _HEADER_SECRETS else control_problem
        if (problem := rule(value)) is not None:
            bad(field, problem)


def _validate_headers(config: dict[str, Any], secrets: dict[str, str], bad: Any) -> None:
    """Header names and values by the rules the run applies (``domain.api_requests``)."""
    auth = config.get("authType", "none")
    taken = {"bearer": "authorization", "basic": "authorization"}.get(auth)
    if auth == "apiKey":
        taken = str(config.get("apiKeyHeader") or "X-API-Key").lower()
    for name, value in headers_of(config, secrets).items():
        problem = header_name_problem(name) or header_value_problem(value)
        if problem is not None:
            bad(f"headers.{name}", problem)
        elif name.lower() == taken:
            bad(f"headers.{name}", f"is set by authType {auth!r}; remove one of them")
    key_header = config.get("apiKeyHeader")
    if key_header is not None and (problem := header_name_problem(str(key_header))) is not None:
        bad("apiKeyHeader", problem)
    for name, value in (config.get("queryParams") or {}).items():
        if (problem := control_problem(f"{name}{value}")) is not None:
            bad(f"queryParams.{name}", problem)


def _validate_pgp(config: dict[str, Any], secrets: dict[str, str], bad: Any) -> None:
    """PGP keys must be ASCII-armoured blocks of the right kind."""
    private = secrets.get("pgpPrivateKey")
    if private is not None and "BEGIN PGP PRIVATE KEY BLOCK" not in private:
        bad("pgpPrivateKey", "must be an ASCII-armoured PGP private key block")
    if "pgpPassphrase" in secrets and private is None:
        bad("pgpPassphrase", "only applies together with pgpPrivateKey")
    public = config.get("pgpPublicKey")
    if public is not None and "BEGIN PGP PUBLIC KEY BLOCK" not in str(public):
        bad("pgpPublicKey", "must be the bank's ASCII-armoured PGP public key block")
    if public is not None and private is None:
        bad("pgpPublicKey", "verifying signatures needs pgpPrivateKey to decrypt the file too")


def _layout_errors(raw: Any) -> list[FieldError]:
    """A custom layout's problems, addressed as ``config.layout.<field>``."""
    if not isinstance(raw, dict):
        return [FieldError("config.layout", "must be an object describing the file layout")]
    try:
        layout_from_dict(raw)
    except ValidationFailed as exc:
        return [FieldError(f"config.{e.field}", e.message) for e in exc.errors]
    # The layout's name is the provider its files are reconciled as (services/banks.py).
    name = str(raw.get("name", "")).strip().upper()
    if len(name) > 16:
        return [FieldError("config.layout.name", "must be at most 16 characters (the bank's name)")]
    if name in ("PG", "CUSTOM"):
        return [FieldError("config.layout.name", f"{name} cannot name a bank; use the bank's name")]
    return []


def _validate_sftp(config: dict[str, Any], secrets: dict[str, str], bad: Any) -> None:
    host = config.get("host")
    if not host:
        bad("host", "is required for an SFTP connector")
    elif re.search(r"\s|/", str(host)):
        bad("host", "must be a host name or IP address without spaces or slashes")
    port = config.get("port")
    if not isinstance(port, int) or not 1 <= port <= 65535:
        bad("port", "must be a whole number from 1 to 65535")
    if not config.get("username"):
        bad("username", "is required for an SFTP connector")
    remote = config.get("remotePath")
    if not remote:
        bad("remotePath", "is required for an SFTP connector")
    elif not str(remote).startswith("/"):
        bad("remotePath", "must be an absolute path starting with '/'")
    elif ".." in str(remote).split("/") or "\x00" in str(remote):
        bad("remotePath", "must not contain '..' or NUL characters")
    pattern = config.get("filePattern")
    if not pattern:
        bad("filePattern", "is required when the provider has no default pattern")
    elif (problem := validate_pattern(str(pattern))) is not None:
        bad("filePattern", problem)
    ext = config.get("checksumExt")
    if ext is not None and not re.fullmatch(r"\.[A-Za-z0-9_.-]{1,15}", str(ext)):
        bad("checksumExt", "must look like '.sha256': a dot and up to 15 letters or digits")
    has_pw, has_key = "password" in secrets, "privateKey" in secrets
    if has_pw == has_key:
        bad("password", "give exactly one of password or privateKey")
    if "passphrase" in secrets and not has_key:
        bad("passphrase", "only applies together with privateKey")
    fingerprint = config.get("hostKeyFingerprint")
    if fingerprint and not _FINGERPRINT.fullmatch(str(fingerprint)):
        bad("hostKeyFingerprint", "must be an OpenSSH SHA-256 fingerprint like 'SHA256:<43 chars>'")
    for field in _API_ONLY:
        if config.get(field) is not None or field in secrets:
            bad(field, "applies to API connectors only")


def _validate_api(config: dict[str, Any], secrets: dict[str, str], bad: Any) -> None:
    base = str(config.get("baseUrl") or "")
    if not base:
        bad("baseUrl", "is required for an API connector")
    elif not re.match(r"^https?://[^\s/]+", base):
        bad("baseUrl", "must be an http(s) URL such as 'https://api.bank.example'")
    elif (problem := control_problem(base)) is not None or " " in base:
        bad("baseUrl", problem or "must not contain spaces")
    endpoint = config.get("endpoint")
    if endpoint is not None and (problem := endpoint_problem(str(endpoint))) is not None:
        bad("endpoint", problem)
    _validate_headers(config, secrets, bad)
    auth = config.get("authType", "none")
    needs = {"bearer": ("token",), "apiKey": ("apiKey",), "basic": ("password",)}.get(auth, ())
    for field in needs:
        if field not in secrets:
            bad(field, f"is required when authType is {auth!r}")
    if auth == "basic" and not config.get("username"):
        bad("username", "is required when authType is 'basic'")
    if config.get("pagination") == "cursor" and not config.get("cursorField"):
        bad("cursorField", "is required when pagination is 'cursor'")
    sidecar = config.get("sidecarUrl")
    if sidecar is not None and not re.match(r"^(/|https?://)", str(sidecar)):
        bad("sidecarUrl", "must be a path starting with '/' or an http(s) URL")
    if config.get("checksumHeader") is not None and not re.fullmatch(
        r"[A-Za-z0-9-]{1,100}", str(config["checksumHeader"])
    ):
        bad("checksumHeader", "must be an HTTP header name such as 'X-Checksum-SHA256'")
    # An API response is one CSV/JSON/XML body, never an encrypted file to unpack.
    sftp_only = ("host", "remotePath", "privateKey", "hostKeyFingerprint", "pgpPublicKey")
    for field in (*sftp_only, "pgpPrivateKey", "pgpPassphrase"):
        if config.get(field) is not None or field in secrets:
            bad(field, "applies to SFTP connectors only")


def pydantic_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """Pydantic's errors as field-path errors (``config.port: ...``)."""
    out = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"] if p != "body")
        path = f"{prefix}.{path}" if prefix and path else (prefix or path or "body")
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "is not a known field"
        out.append(FieldError(path, message))
    return out


def parse_config(raw: dict[str, Any]) -> ConnectorConfig:
    """Check a merged wire-format config's shape, with field paths under ``config``."""
    try:
        return ConnectorConfig.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(errors=pydantic_errors(exc, "config")) from exc
