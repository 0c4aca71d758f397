"""The connector dialog's form fields ↔ the API's connector body, and errors by field."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from bankfeeds.connectors.model import ConnectorCreate, ConnectorPatch, pydantic_errors
from bankfeeds.core.errors import FieldError, ValidationFailed
from bankfeeds.core.redact import SECRET_FIELDS

SFTP_FIELDS = ("host", "port", "remotePath", "filePattern", "checksumExt", "hostKeyPolicy")
API_FIELDS = ("baseUrl", "endpoint", "responseFormat", "authType", "apiKeyHeader")
COMMON_FIELDS = ("username", "schedule", "timezone", "targetCycleRule")
#: The secrets the dialog has a field for: PGP keys are set through the API only, so an error
#: about one goes to the summary (an out-of-band swap into a missing slot is an htmx error).
DIALOG_SECRETS = tuple(f for f in SECRET_FIELDS if f not in ("pgpPrivateKey", "pgpPassphrase"))
#: Every field an error can sit beside in the dialog (others go to the summary at the top).
SHOWN = (
    "name",
    "type",
    "provider",
    *(f"config.{f}" for f in (*SFTP_FIELDS, *API_FIELDS, *COMMON_FIELDS)),
    *(f"config.{f}" for f in (*DIALOG_SECRETS, "headers", "queryParams")),
)


def slot(field: str) -> str:
    """The element id of the error slot beside ``field`` (dots are awkward in selectors)."""
    return "err-" + field.replace(".", "-")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _pairs(text: str, sep: str, field: str) -> dict[str, str] | None:
    """``Name: value`` (or ``name=value``) lines as a dict; None when there are none."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, found, value = line.partition(sep)
        if not found or not key.strip():
            raise ValidationFailed(
                errors=[FieldError(f"config.{field}", f"line {number} needs 'name{sep}value'")]
            )
        out[key.strip()] = value.strip()
    return out or None


def _config(form: FormData, ctype: str, editing: bool) -> dict[str, Any]:
    fields = (*COMMON_FIELDS, *(SFTP_FIELDS if ctype == "SFTP" else API_FIELDS))
    # On edit an empty field removes the setting (None); on create it is simply left out.
    config: dict[str, Any] = {f: _text(form, f) or None for f in fields}
    if config.get("port") and str(config["port"]).isdigit():
        config["port"] = int(config["port"])
    if ctype == "API":
        config["headers"] = _pairs(_text(form, "headers"), ":", "headers")
        config["queryParams"] = _pairs(_text(form, "queryParams"), "=", "queryParams")
    auth = _text(form, "authMethod")
    for field in SECRET_FIELDS:
        raw = form.get(field)
        value = raw.strip() if isinstance(raw, str) else ""
        if value:
            # A pasted key keeps its final newline, which some key parsers require.
            config[field] = value + "\n" if field == "privateKey" else value
    if ctype == "SFTP" and editing:
        # Switching method drops the other method's stored secrets; blank means "unchanged".
        unused = ("privateKey", "passphrase") if auth == "password" else ("password",)
        config.update(dict.fromkeys(unused))
    if not editing:
        config = {k: v for k, v in config.items() if v is not None}
    return config


def create_body(form: FormData) -> ConnectorCreate:
    """The create body the dialog describes; ValidationFailed with field paths if invalid."""
    ctype = _text(form, "type") or "SFTP"
    raw = {
        "name": _text(form, "name"),
        "type": ctype,
        "provider": _text(form, "provider"),
        "config": _config(form, ctype, editing=False),
    }
    try:
        return ConnectorCreate.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(errors=pydantic_errors(exc)) from exc


def patch_body(form: FormData, ctype: str) -> ConnectorPatch:
    """The patch the edit dialog describes; blank secrets are left out, so they are kept."""
    raw = {
        "name": _text(form, "name"),
        "provider": _text(form, "provider") or None,
        "config": _config(form, ctype, editing=True),
    }
    try:
        return ConnectorPatch.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(errors=pydantic_errors(exc)) from exc


def errors_by_field(errors: list[FieldError]) -> tuple[dict[str, str], list[str]]:
    """Messages keyed by the field they sit beside, and the ones with no field in the dialog."""
    beside: dict[str, str] = {}
    summary: list[str] = []
    for error in errors:
        if error.field in SHOWN and error.field not in beside:
            beside[error.field] = error.message
        else:
            summary.append(f"{error.field}: {error.message}")
    return beside, summary


def form_values(view: dict[str, Any]) -> dict[str, Any]:
    """The dialog's initial values from a connector view (secrets blank: 'unchanged')."""
    config = dict(view.get("config") or {})
    values: dict[str, Any] = {k: v for k, v in config.items() if k not in SECRET_FIELDS}
    values.update(name=view["name"], type=view["type"], provider=view["provider"])
    values["authMethod"] = "privateKey" if view.get("hasPrivateKey") else "password"
    values["headers"] = "\n".join(f"{k}: {v}" for k, v in (config.get("headers") or {}).items())
    values["queryParams"] = "\n".join(
        f"{k}={v}" for k, v in (config.get("queryParams") or {}).items()
    )
    values["stored"] = {f: bool(view.get(f"has{f[0].upper()}{f[1:]}")) for f in SECRET_FIELDS}
    return values
