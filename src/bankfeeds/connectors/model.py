"""Connector vocabulary and every rule a connector definition must satisfy (pure, no I/O).

One pydantic model per connector type (``SftpConfig``, ``ApiConfig``) holds every rule about its
config: types, ranges, choices, and the rules across fields. ``ConnectorCreate`` joins them as a
union told apart by ``type``. The same models check a body when it is saved and a stored row
(secrets merged in) before each run, so a connector that was saved cannot break another rule
when it runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self, overload

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from bankfeeds.connectors.banks import alias_problem
from bankfeeds.connectors.layouts import layout_from_dict
from bankfeeds.connectors.patterns import DEFAULT_PATTERNS, validate_pattern
from bankfeeds.connectors.retry import validate_retry
from bankfeeds.connectors.schedule import MAX_CRON_CHARS, validate_cron, validate_timezone
from bankfeeds.core.errors import ConfigError, FieldError, ValidationFailed
from bankfeeds.core.redact import MASK, SECRET_FIELDS
from bankfeeds.transports.http.requests import (
    MAX_ENDPOINT,
    MAX_HEADER_NAME,
    MAX_HEADER_VALUE,
    control_problem,
    endpoint_problem,
    header_name_problem,
    header_value_problem,
    template_problem,
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


#: Custom request headers are secrets too (an ``Authorization`` or ``X-Client-Secret`` lives
#: there): kept in the encrypted blob under this key as JSON, shown with masked values.
HEADERS = "headers"
MAX_PAIRS = 50
DEFAULT_SCHEDULE = "0 19 * * *"
_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}=?$")
_SECRET = 4096  # passwords, tokens, keys sent in a header
_KEY = 64 * 1024  # PEM and ASCII-armoured key blocks
#: Secrets whose blank value means something (an empty Basic password); other blanks are unset.
_BLANK_ALLOWED = frozenset({"password", "passphrase", "pgpPassphrase"})

_Loc = tuple[str | int, ...]
_Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_HEADER_NAME)]
_Value = Annotated[str, StringConstraints(max_length=MAX_HEADER_VALUE)]


# --- errors as sentences -------------------------------------------------------------------------


def _fail(problems: list[tuple[_Loc, str]]) -> None:
    """Raise every problem at once, each at its own field (pydantic keeps them all)."""
    if problems:
        raise ValidationError.from_exception_data(
            "connector",
            [
                InitErrorDetails(
                    type=PydanticCustomError("connector", message), loc=loc, input=None
                )
                for loc, message in problems
            ],
        )


def _refuse(problem: str | None) -> None:
    """Refuse the field being validated when ``problem`` says why."""
    if problem is not None:
        raise PydanticCustomError("connector", problem)


def _under(errors: list[FieldError], field: str) -> list[tuple[_Loc, str]]:
    """Field errors addressed ``config.<field>.x.y`` as problems at ``(x, y)`` in that field."""
    out: list[tuple[_Loc, str]] = []
    for error in errors:
        rest = error.field.removeprefix(f"config.{field}").removeprefix(".")
        out.append((tuple(rest.split(".")) if rest else (), error.message))
    return out


#: Pydantic's complaints as the end of a sentence that starts with the field's name.
_SAID: dict[str, str] = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "string_too_long": "must be at most {max_length} characters",
    "string_too_short": "must be at least {min_length} characters",
    "too_long": "must have at most {max_length} entries",
    "too_short": "must have at least {min_length} entries",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "greater_than": "must be more than {gt}",
    "less_than": "must be less than {lt}",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "list_type": "must be a list",
    "literal_error": "must be {expected}",
    "enum": "must be {expected}",
    "union_tag_not_found": "is required",
    "union_tag_invalid": "must be 'SFTP' or 'API'",
}


def _said(err: ErrorDetails) -> str:
    """One pydantic error as a human sentence fragment; ours pass through unchanged."""
    ctx = err.get("ctx") or {}
    if err["type"] == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    template = _SAID.get(err["type"])
    if template is None:
        return str(err["msg"]).removeprefix("Value error, ")
    try:
        return template.format(**ctx)
    except (KeyError, IndexError, ValueError):
        return str(err["msg"])


def pydantic_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """Pydantic's errors as field-path errors (``config.port: ...``) in human sentences."""
    out = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"] if p != "body")
        path = f"{prefix}.{path}" if prefix and path else (prefix or path or "body")
        out.append(FieldError(path, _said(err)))
    return out


def _sentences(
    data: Any,
    handler: ValidatorFunctionWrapHandler,
    said: Callable[[ErrorDetails], str] = _said,
    untag: bool = False,
) -> Any:
    """Run ``handler``; re-raise its errors as our sentences (and without union tags)."""
    try:
        return handler(data)
    except ValidationError as exc:
        problems: list[tuple[_Loc, str]] = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            if untag and loc and loc[0] in {t.value for t in ConnectorType}:
                loc = loc[1:]  # the union's tag is not a field of the body
            if err["type"].startswith("union_tag"):
                loc = ("type",)
            problems.append((loc, said(err)))
        _fail(problems)
        raise  # _fail raised already; this keeps the type checker sure of it


# --- the config of each connector type -----------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=True
    )


class _Config(_Wire):
    """What both connector types share: the schedule, the day's rules, retries, bank names."""

    KIND: ClassVar[str] = ""
    #: Defaults written into the stored config: the scheduler and the views read them there.
    STORED_DEFAULTS: ClassVar[frozenset[str]] = frozenset(
        {"schedule", "target_cycle_rule", "catch_up"}
    )

    schedule: str = Field(default=DEFAULT_SCHEDULE, max_length=MAX_CRON_CHARS)
    #: Left out: the scheduler's time zone (a setting) is stored when the connector is saved.
    timezone: str | None = Field(default=None, max_length=64)
    target_cycle_rule: Literal["yesterday", "today"] = "yesterday"
    catch_up: Literal["latest", "all", "none"] = "latest"
    retry: dict[str, Any] | None = None
    cutoff_hour: int | None = Field(default=None, ge=0, le=23)
    grace_hours: int | None = Field(default=None, ge=0, le=168)
    connect_timeout: int = Field(default=15, ge=1, le=300)
    read_timeout: int = Field(default=60, ge=1, le=3600)
    #: A CUSTOM connector's file layout (see docs/layouts.md), checked by ``layout_from_dict``.
    layout: dict[str, Any] | None = None
    #: Other names the PG export gives this bank (names, short codes, IFSC prefixes).
    bank_aliases: list[str] | None = Field(default=None, max_length=50)

    @model_validator(mode="wrap")
    @classmethod
    def _as_sentences(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Null and blank text mean "not set"; every error comes out as a sentence."""
        if isinstance(data, dict):
            data = {
                k: v
                for k, v in data.items()
                if v is not None
                and (k in _BLANK_ALLOWED or not (isinstance(v, str) and not v.strip()))
            }
        return _sentences(data, handler, cls._sentence)

    @classmethod
    def _sentence(cls, err: ErrorDetails) -> str:
        """Pydantic's error as a sentence that knows this connector type."""
        field = str(err["loc"][0]) if len(err["loc"]) == 1 else None
        if err["type"] == "missing":
            return f"is required for an {cls.KIND} connector"
        if err["type"] == "extra_forbidden" and field in _ONLY_IN:
            return f"applies to {_ONLY_IN[field]} connectors only"
        return _said(err)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        _refuse(validate_cron(value))
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        _refuse(validate_timezone(value) if value is not None else None)
        return value

    @field_validator("retry")
    @classmethod
    def _retry(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _fail(_under(validate_retry(value), "retry"))
        return value

    @field_validator("layout", mode="before")
    @classmethod
    def _layout_shape(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            _refuse("must be an object describing the file layout")
        return value

    @field_validator("layout")
    @classmethod
    def _layout(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _fail(_under(_layout_errors(value), "layout"))
        return value

    @field_validator("bank_aliases")
    @classmethod
    def _aliases(cls, value: list[str] | None) -> list[str] | None:
        _fail([((i,), p) for i, alias in enumerate(value or []) if (p := alias_problem(alias))])
        return value

    def stored(self, default_timezone: str) -> dict[str, Any]:
        """The wire config a row keeps: what was given and the defaults read from the row."""
        keep = self.model_fields_set | self.STORED_DEFAULTS
        out = self.model_dump(by_alias=True, exclude_none=True, include=keep)
        out.setdefault("timezone", default_timezone)
        return out


def _layout_errors(raw: dict[str, Any]) -> list[FieldError]:
    """A custom layout's problems, addressed as ``config.layout.<field>``."""
    try:
        layout_from_dict(raw)
    except ValidationFailed as exc:
        return [FieldError(f"config.{e.field}", e.message) for e in exc.errors]
    # The layout's name is the provider its files are reconciled as (connectors/bank_names.py).
    name = str(raw.get("name", "")).strip().upper()
    if len(name) > 16:
        return [FieldError("config.layout.name", "must be at most 16 characters (the bank's name)")]
    if name in ("PG", "CUSTOM"):
        return [FieldError("config.layout.name", f"{name} cannot name a bank; use the bank's name")]
    return []


class SftpConfig(_Config):
    """The ``config`` of an SFTP connector: the server, the login, the folder and the files."""

    KIND: ClassVar[str] = "SFTP"
    STORED_DEFAULTS: ClassVar[frozenset[str]] = _Config.STORED_DEFAULTS | {
        "port",
        "host_key_policy",
        "stable_seconds",
    }

    host: str = Field(max_length=253)
    port: int = 22
    username: str = Field(max_length=256)
    password: str | None = Field(default=None, max_length=_SECRET)
    private_key: str | None = Field(default=None, max_length=_KEY)
    passphrase: str | None = Field(default=None, max_length=_SECRET)
    remote_path: str = Field(max_length=1024)
    #: Left out: the provider's default pattern (a CUSTOM connector must give one).
    file_pattern: str | None = Field(default=None, max_length=255)
    checksum_ext: str | None = Field(default=None, max_length=16)
    stable_seconds: int = Field(default=0, ge=0, le=3600)
    max_files_in_flight: int = Field(default=8, ge=1, le=64)
    host_key_policy: Literal["accept-new", "strict"] = "accept-new"
    host_key_fingerprint: str | None = Field(default=None, max_length=100)
    #: PGP: our private key (and its passphrase) to decrypt, the bank's public key to verify.
    pgp_private_key: str | None = Field(default=None, max_length=_KEY)
    pgp_passphrase: str | None = Field(default=None, max_length=_SECRET)
    pgp_public_key: str | None = Field(default=None, max_length=_KEY)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if re.search(r"\s|/", value):
            _refuse("must be a host name or IP address without spaces or slashes")
        return value

    @field_validator("port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            _refuse("must be a whole number from 1 to 65535")
        return value

    @field_validator("remote_path")
    @classmethod
    def _remote_path(cls, value: str) -> str:
        if not value.startswith("/"):
            _refuse("must be an absolute path starting with '/'")
        if ".." in value.split("/") or "\x00" in value:
            _refuse("must not contain '..' or NUL characters")
        return value

    @field_validator("file_pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        _refuse(validate_pattern(value) if value is not None else None)
        return value

    @field_validator("checksum_ext")
    @classmethod
    def _checksum_ext(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\.[A-Za-z0-9_.-]{1,15}", value):
            _refuse("must look like '.sha256': a dot and up to 15 letters or digits")
        return value

    @field_validator("host_key_fingerprint")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        if value is not None and not _FINGERPRINT.fullmatch(value):
            _refuse("must be an OpenSSH SHA-256 fingerprint like 'SHA256:<43 chars>'")
        return value

    @field_validator("password", "passphrase", "pgp_passphrase")
    @classmethod
    def _no_control(cls, value: str | None) -> str | None:
        # A pasted line break must not reach a log in login or decryption errors.
        _refuse(control_problem(value) if value is not None else None)
        return value

    @field_validator("pgp_private_key")
    @classmethod
    def _pgp_private(cls, value: str | None) -> str | None:
        if value is not None and "BEGIN PGP PRIVATE KEY BLOCK" not in value:
            _refuse("must be an ASCII-armoured PGP private key block")
        return value

    @field_validator("pgp_public_key")
    @classmethod
    def _pgp_public(cls, value: str | None) -> str | None:
        if value is not None and "BEGIN PGP PUBLIC KEY BLOCK" not in value:
            _refuse("must be the bank's ASCII-armoured PGP public key block")
        return value

    @model_validator(mode="after")
    def _together(self) -> Self:
        problems: list[tuple[_Loc, str]] = []
        if (self.password is None) == (self.private_key is None):
            problems.append((("password",), "give exactly one of password or privateKey"))
        if self.passphrase is not None and self.private_key is None:
            problems.append((("passphrase",), "only applies together with privateKey"))
        if self.pgp_passphrase is not None and self.pgp_private_key is None:
            problems.append((("pgpPassphrase",), "only applies together with pgpPrivateKey"))
        if self.pgp_public_key is not None and self.pgp_private_key is None:
            problems.append(
                (
                    ("pgpPublicKey",),
                    "verifying signatures needs pgpPrivateKey to decrypt the file too",
                )
            )
        _fail(problems)
        return self


class ApiConfig(_Config):
    """The ``config`` of an API connector: the URL, the login, the format and the paging."""

    KIND: ClassVar[str] = "API"
    STORED_DEFAULTS: ClassVar[frozenset[str]] = _Config.STORED_DEFAULTS | {
        "auth_type",
        "response_format",
    }

    base_url: str = Field(max_length=2000)
    endpoint: str | None = Field(default=None, max_length=MAX_ENDPOINT)
    auth_type: Literal["none", "bearer", "apiKey", "basic"] = "none"
    username: str | None = Field(default=None, max_length=256)
    password: str | None = Field(default=None, max_length=_SECRET)
    token: str | None = Field(default=None, max_length=_SECRET)
    api_key: str | None = Field(default=None, max_length=_SECRET)
    api_key_header: str = Field(default="X-API-Key", max_length=MAX_HEADER_NAME)
    headers: dict[_Name, _Value] | None = Field(default=None, max_length=MAX_PAIRS)
    query_params: dict[_Name, _Value] | None = Field(default=None, max_length=MAX_PAIRS)
    response_format: Literal["csv", "json", "xml"] = "csv"
    records_path: str | None = Field(default=None, max_length=200)
    record_tag: str | None = Field(default=None, max_length=100)
    pagination: Literal["none", "link", "cursor"] = "none"
    cursor_field: str | None = Field(default=None, max_length=200)
    cursor_param: str = Field(default="cursor", max_length=100)
    checksum_header: str | None = Field(default=None, max_length=100)
    sidecar_url: str | None = Field(default=None, max_length=2000)
    max_pages: int = Field(default=1000, ge=1, le=100_000)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            _refuse("must be an http(s) URL such as 'https://api.bank.example'")
        _refuse(control_problem(value))
        if " " in value:
            _refuse("must not contain spaces")
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        _refuse(endpoint_problem(value) if value is not None else None)
        return value

    @field_validator("token", "api_key")
    @classmethod
    def _header_secret(cls, value: str | None) -> str | None:
        # Sent in an HTTP header as it is: a line break would start a header of its own.
        _refuse(header_value_problem(value) if value is not None else None)
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: str | None) -> str | None:
        _refuse(control_problem(value) if value is not None else None)
        return value

    @field_validator("api_key_header")
    @classmethod
    def _key_header(cls, value: str) -> str:
        _refuse(header_name_problem(value))
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        _fail(
            [
                ((name,), problem)
                for name, text in (value or {}).items()
                if (problem := header_name_problem(name) or header_value_problem(text))
            ]
        )
        return value

    @field_validator("query_params")
    @classmethod
    def _query(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        _fail(
            [
                ((name,), problem)
                for name, text in (value or {}).items()
                if (problem := control_problem(f"{name}{text}") or template_problem(text))
            ]
        )
        return value

    @field_validator("sidecar_url")
    @classmethod
    def _sidecar(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if re.match(r"^https?://", value):
            if control_problem(value) is not None or " " in value:
                _refuse("must not contain spaces or control characters")
            _refuse(template_problem(value))
        elif value.startswith("/"):
            _refuse(endpoint_problem(value))  # fetched from the base URL like the endpoint
        else:
            _refuse("must be a path starting with '/' or an http(s) URL")
        return value

    @field_validator("checksum_header")
    @classmethod
    def _checksum_header(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9-]{1,100}", value):
            _refuse("must be an HTTP header name such as 'X-Checksum-SHA256'")
        return value

    @model_validator(mode="after")
    def _together(self) -> Self:
        problems: list[tuple[_Loc, str]] = []
        auth = self.auth_type
        taken = {"bearer": "authorization", "basic": "authorization"}.get(auth)
        if auth == "apiKey":
            taken = self.api_key_header.lower()
        for name in self.headers or {}:
            if name.lower() == taken:
                problems.append(
                    (("headers", name), f"is set by authType {auth!r}; remove one of them")
                )
        needs = {"bearer": "token", "apiKey": "apiKey", "basic": "password"}.get(auth)
        given = {"token": self.token, "apiKey": self.api_key, "password": self.password}
        if needs is not None and given[needs] is None:
            problems.append(((needs,), f"is required when authType is {auth!r}"))
        if auth == "basic" and self.username is None:
            problems.append((("username",), "is required when authType is 'basic'"))
        if self.pagination == "cursor":
            if self.cursor_field is None:
                problems.append((("cursorField",), "is required when pagination is 'cursor'"))
            if self.response_format != "json":
                problems.append(
                    (
                        ("responseFormat",),
                        "must be 'json' when pagination is 'cursor' (the cursor is read from "
                        "the JSON body)",
                    )
                )
        if self.sidecar_url is not None and self.pagination != "none":
            problems.append(
                (
                    ("sidecarUrl",),
                    f"checks a single response, so it cannot be used with pagination "
                    f"{self.pagination!r}",
                )
            )
        _fail(problems)
        return self


def _fields(model: type[_Config]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


#: Fields only one connector type has, and which: sent to the other, they are refused by name.
_ONLY_IN: dict[str, str] = {
    **dict.fromkeys(_fields(SftpConfig) - _fields(ApiConfig), "SFTP"),
    **dict.fromkeys(_fields(ApiConfig) - _fields(SftpConfig), "API"),
}


# --- whole definitions: the union on ``type`` ----------------------------------------------------


def _provider_problems(
    provider: Provider, config: SftpConfig | ApiConfig
) -> list[tuple[_Loc, str]]:
    """The rules that depend on the provider; an SFTP pattern left out takes its default."""
    problems: list[tuple[_Loc, str]] = []
    # Without a layout no file of a CUSTOM connector could be read: refuse it on save, not on
    # the first run.
    if provider is Provider.CUSTOM and config.layout is None:
        problems.append((("layout",), "is required for a CUSTOM connector (see docs/layouts.md)"))
    if isinstance(config, SftpConfig) and config.file_pattern is None:
        if provider.value in DEFAULT_PATTERNS:
            config.file_pattern = DEFAULT_PATTERNS[provider.value]
        else:
            problems.append(
                (("filePattern",), "is required when the provider has no default pattern")
            )
    return problems


class SftpDefinition(_Wire):
    """An SFTP connector's type, provider and config, checked together."""

    type: Literal[ConnectorType.SFTP]
    provider: Provider
    config: SftpConfig

    @model_validator(mode="after")
    def _provider_rules(self) -> Self:
        _fail([(("config", *loc), m) for loc, m in _provider_problems(self.provider, self.config)])
        return self


class ApiDefinition(_Wire):
    """An API connector's type, provider and config, checked together."""

    type: Literal[ConnectorType.API]
    provider: Provider
    config: ApiConfig

    @model_validator(mode="after")
    def _provider_rules(self) -> Self:
        _fail([(("config", *loc), m) for loc, m in _provider_problems(self.provider, self.config)])
        return self


class SftpCreate(SftpDefinition):
    """A new SFTP connector."""

    name: str = Field(min_length=1, max_length=120)
    status: ConnectorStatus = ConnectorStatus.ACTIVE


class ApiCreate(ApiDefinition):
    """A new API connector."""

    name: str = Field(min_length=1, max_length=120)
    status: ConnectorStatus = ConnectorStatus.ACTIVE


class ConnectorCreate(RootModel[Annotated[SftpCreate | ApiCreate, Field(discriminator="type")]]):
    """Body of ``POST /ops/connectors``: an SFTP or an API connector, told apart by ``type``.

    Every text is bounded, so a 900 KB path or a 100 KB schedule is a 422 naming the field.
    """

    @model_validator(mode="wrap")
    @classmethod
    def _untagged(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return _sentences(data, handler, untag=True)

    @property
    def name(self) -> str:
        """The connector's unique name."""
        return self.root.name

    @property
    def type(self) -> ConnectorType:
        """SFTP or API."""
        return self.root.type

    @property
    def provider(self) -> Provider:
        """Whose files the connector fetches."""
        return self.root.provider

    @property
    def status(self) -> ConnectorStatus:
        """ACTIVE or PAUSED."""
        return self.root.status

    @property
    def config(self) -> SftpConfig | ApiConfig:
        """The checked config of the connector's type."""
        return self.root.config


class ConnectorPatch(_Wire):
    """Body of ``PATCH /ops/connectors/{id}``: every field optional; config merges key by key."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    provider: Provider | None = None
    status: ConnectorStatus | None = None
    config: dict[str, Any] | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _as_sentences(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return _sentences(data, handler)


_DEFINITIONS: dict[ConnectorType, type[SftpDefinition] | type[ApiDefinition]] = {
    ConnectorType.SFTP: SftpDefinition,
    ConnectorType.API: ApiDefinition,
}
_CONFIGS: dict[ConnectorType, type[SftpConfig] | type[ApiConfig]] = {
    ConnectorType.SFTP: SftpConfig,
    ConnectorType.API: ApiConfig,
}


def _parse(
    ctype: ConnectorType | str, provider: Provider | str | None, wire: dict[str, Any]
) -> SftpConfig | ApiConfig:
    """``wire`` checked by its type's model (and the provider's rules when it is given).

    Raises pydantic's ValidationError with paths under ``config``.
    """
    kind = ConnectorType(ctype)
    if provider is None:
        try:
            return _CONFIGS[kind].model_validate(wire)
        except ValidationError as exc:
            _fail([(("config", *err["loc"]), _said(err)) for err in exc.errors()])
            raise
    raw = {"type": kind, "provider": provider, "config": wire}
    return _DEFINITIONS[kind].model_validate(raw).config


def checked_config(
    ctype: ConnectorType, provider: Provider, raw: dict[str, Any]
) -> SftpConfig | ApiConfig:
    """A config to save, checked by its type's model: ValidationFailed naming each field."""
    try:
        return _parse(ctype, provider, raw)
    except ValidationError as exc:
        raise ValidationFailed(errors=pydantic_errors(exc)) from None


def validate_definition(
    ctype: ConnectorType,
    config: dict[str, Any],
    secrets: dict[str, str],
    provider: Provider | None = None,
) -> list[FieldError]:
    """Every rule a stored definition (plain config and secrets) breaks, each with its path."""
    try:
        _parse(ctype, provider, stored_wire(config, secrets))
    except ValidationError as exc:
        return pydantic_errors(exc)
    return []


@overload
def stored_config(
    ctype: Literal[ConnectorType.SFTP],
    config: dict[str, Any],
    secrets: dict[str, str],
    provider: Provider | str | None = None,
) -> SftpConfig: ...
@overload
def stored_config(
    ctype: Literal[ConnectorType.API],
    config: dict[str, Any],
    secrets: dict[str, str],
    provider: Provider | str | None = None,
) -> ApiConfig: ...
def stored_config(
    ctype: ConnectorType,
    config: dict[str, Any],
    secrets: dict[str, str],
    provider: Provider | str | None = None,
) -> SftpConfig | ApiConfig:
    """A stored connector's config, secrets merged in, checked by the model it was saved with.

    A row saved before a rule existed fails here, before any connection, with a ConfigError
    sentence naming each field it breaks.
    """
    try:
        return _parse(ctype, provider, stored_wire(config, secrets))
    except ValidationError as exc:
        said = "; ".join(
            f"{e.field.removeprefix('config.')} {e.message}" for e in pydantic_errors(exc)
        )
        raise ConfigError(
            f"The connector's saved settings break a rule: {said}. Edit the connector and "
            "save it again."
        ) from None


# --- secrets and stored rows ---------------------------------------------------------------------


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
