"""Logging set up once at an entry point: one JSON object per line, or plain text for people.

Fields passed with ``extra=`` (``connector_id``, ``run_id``, ...) become top-level JSON keys.
uvicorn's loggers are routed through the same handler; pass ``log_config=None`` to uvicorn so it
does not install its own handlers over these.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import logging
import sys
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from bankfeeds.core.errors import ConfigError
from bankfeeds.core.redact import redact

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)
    | {"message", "asctime", "taskName", "color_message"}
)
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
_HANDLER_NAME = "bankfeeds"


#: The secret values of the connector whose run is being carried out in this context.
_RUN_SECRETS: ContextVar[tuple[str, ...]] = ContextVar("bankfeeds_run_secrets", default=())


@contextlib.contextmanager
def redacting(secrets: Iterable[str]) -> Iterator[None]:
    """Within the block, log records and :func:`scrub` hide these values (a run's secrets)."""
    token = _RUN_SECRETS.set(tuple(s for s in secrets if s))
    try:
        yield
    finally:
        _RUN_SECRETS.reset(token)


def scrub(text: str) -> str:
    """``text`` with the current run's secrets and any credential-like header value masked."""
    return redact(text, _RUN_SECRETS.get())


_make_record = logging.getLogRecordFactory()


def _redacting_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Every record made while a run's secrets are registered, rendered and redacted at once.

    At creation, not in a handler: every handler (pytest's capture, a second stream) then sees
    only the redacted text, whatever order they were added in.
    """
    record = _make_record(*args, **kwargs)
    secrets = _RUN_SECRETS.get()
    if not secrets:
        return record
    record.msg, record.args = redact(record.getMessage(), secrets), None
    if record.exc_info:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text, record.exc_info = redact(text, secrets), None
    return record


logging.setLogRecordFactory(_redacting_record)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
    # uvicorn's access log passes its facts as format arguments; name them.
    if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
        client, method, path, http_version, status = record.args
        fields |= {"client": client, "method": method, "path": path, "status": status}
        fields["http_version"] = http_version
    return fields


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON: ts, level, logger, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON object on one line."""
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _extras(record).items():
            data.setdefault(key, value)  # an extra never overwrites the four fixed fields
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # a traceback already rendered (and redacted) at creation
            data["exception"] = record.exc_text
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        # default=str: an extra that JSON cannot hold (a datetime, a Path) is still logged.
        return jsonlib.dumps(data, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines with the extras appended as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as text, extras last."""
        line = super().format(record)
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        if not extras:
            return line
        head, sep, tail = line.partition("\n")  # keep a traceback below the extras
        return f"{head} {extras}{sep}{tail}"


def _level(level: str) -> int:
    names = logging.getLevelNamesMapping()
    value = names.get(level.strip().upper())
    if value is None:
        known = ", ".join(n for n in names if n not in ("WARN", "FATAL", "NOTSET"))
        raise ConfigError(f"Log level {level!r} is not one of {known}.")
    return value


def configure_logging(
    level: str = "INFO", json: bool = True, *, stream: TextIO | None = None
) -> None:
    """Send every log record, uvicorn's included, to ``stream`` (stderr) as JSON or text."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    root = logging.getLogger()
    # Calling this again (tests, a CLI that re-enters) replaces our handler instead of doubling it.
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_level(level))
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
