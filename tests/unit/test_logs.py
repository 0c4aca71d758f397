"""Structured logs: one JSON object per line, extras as fields, uvicorn routed through."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest

from bankfeeds.core.errors import ConfigError
from bankfeeds.core.logs import UVICORN_LOGGERS, configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    uvicorn = {n: (list(logging.getLogger(n).handlers), logging.getLogger(n).propagate)
               for n in UVICORN_LOGGERS}  # fmt: skip
    yield
    root.handlers[:], root.level = saved
    for name, (handlers, propagate) in uvicorn.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_has_fixed_fields_and_extras() -> None:
    out = io.StringIO()
    configure_logging("DEBUG", stream=out)
    logging.getLogger("bankfeeds.ingest").info(
        "downloaded %s", "a.csv", extra={"connector_id": "conn_1", "run_id": "run_7", "n": 3}
    )
    (line,) = _lines(out)
    assert line["level"] == "INFO"
    assert line["logger"] == "bankfeeds.ingest"
    assert line["message"] == "downloaded a.csv"
    assert (line["connector_id"], line["run_id"], line["n"]) == ("conn_1", "run_7", 3)
    assert datetime.fromisoformat(str(line["ts"])).utcoffset() is not None
    assert "exception" not in line


def test_exception_is_one_string_field_on_one_line() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("x").exception("it failed", extra={"when": datetime(2026, 1, 1)})
    assert len(out.getvalue().splitlines()) == 1
    (line,) = _lines(out)
    assert isinstance(line["exception"], str)
    assert "ValueError: boom" in line["exception"]
    assert line["when"] == "2026-01-01 00:00:00"  # not JSON-native: written as text


def test_level_filters_and_reconfiguring_does_not_duplicate() -> None:
    out = io.StringIO()
    configure_logging("WARNING", stream=out)
    configure_logging("warning", stream=out)
    logging.getLogger("x").info("hidden")
    logging.getLogger("x").warning("shown")
    assert [line["message"] for line in _lines(out)] == ["shown"]


def test_extra_cannot_overwrite_fixed_fields() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    logging.getLogger("x").info("real", extra={"level": "FAKE"})
    assert _lines(out)[0]["level"] == "INFO"


def test_uvicorn_loggers_go_through_our_handler() -> None:
    noisy = logging.getLogger("uvicorn.error")
    noisy.addHandler(logging.StreamHandler(io.StringIO()))
    noisy.propagate = False
    out = io.StringIO()
    configure_logging(stream=out)
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/healthz", "1.1", 200
    )
    started, access = _lines(out)
    assert started["logger"] == "uvicorn.error"
    assert access["message"] == '127.0.0.1:5000 - "GET /healthz HTTP/1.1" 200'
    assert (access["method"], access["path"], access["status"]) == ("GET", "/healthz", 200)


def test_text_format_for_people() -> None:
    out = io.StringIO()
    configure_logging(json=False, stream=out)
    logging.getLogger("x").warning("slow", extra={"run_id": "run_1"})
    assert out.getvalue().rstrip().endswith("WARNING x: slow run_id=run_1")


def test_unknown_level_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Log level 'LOUD' is not one of"):
        configure_logging("LOUD")
