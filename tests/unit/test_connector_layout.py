"""A CUSTOM connector's layout is checked on save, with errors under ``config.layout``."""

from __future__ import annotations

from typing import Any

from bankfeeds.connectors.model import ConnectorType, validate_definition

BASE: dict[str, Any] = {
    "host": "sftp.bank.example",
    "port": 22,
    "username": "u",
    "remotePath": "/out",
    "filePattern": "CUSTOM_YYYYMMDD.csv",
    "schedule": "0 19 * * *",
    "timezone": "Asia/Kolkata",
}
GOOD = {
    "name": "MYBANK",
    "columns": {"txn_id": "Ref", "amount": "Amount"},
    "default_status": "SUCCESS",
}


def _errors(layout: Any) -> dict[str, str]:
    config = {**BASE, "layout": layout}
    found = validate_definition(ConnectorType.SFTP, config, {"password": "p"})
    return {e.field: e.message for e in found}


def test_a_valid_layout_passes() -> None:
    assert _errors(GOOD) == {}


def test_layout_problems_are_addressed_under_config_layout() -> None:
    errors = _errors({**GOOD, "columns": {"txn_id": "Ref"}, "delimiter": ";;"})
    assert errors["config.layout.columns.amount"] == "required"
    assert "config.layout.delimiter" in errors
    assert list(_errors("csv")) == ["config.layout"]
