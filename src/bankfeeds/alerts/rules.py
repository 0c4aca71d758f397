"""Alerts, pure: their kinds, message bodies and retry delays."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class AlertKind(StrEnum):
    """What an alert is about."""

    RUN_FAILED = "RUN_FAILED"
    FILE_MISSING = "FILE_MISSING"
    CHECKSUM_MISMATCH = "CHECKSUM_MISMATCH"
    STALE_FILE = "STALE_FILE"
    UNKNOWN_BANK = "UNKNOWN_BANK"
    COUNTERPART_MISSING = "COUNTERPART_MISSING"
    HEALTH_CRITICAL = "HEALTH_CRITICAL"
    HEALTH_RECOVERED = "HEALTH_RECOVERED"


TITLES: dict[str, str] = {
    AlertKind.RUN_FAILED: "Run failed after its last retry",
    AlertKind.FILE_MISSING: "Expected file is missing",
    AlertKind.CHECKSUM_MISMATCH: "File checksum mismatch",
    AlertKind.STALE_FILE: "Bank re-sent another day's file",
    AlertKind.UNKNOWN_BANK: "PG rows name a bank no connector answers to",
    AlertKind.COUNTERPART_MISSING: "Bank rows have no PG rows to reconcile with",
    AlertKind.HEALTH_CRITICAL: "Connector health is CRITICAL",
    AlertKind.HEALTH_RECOVERED: "Connector recovered from CRITICAL",
}

# Payload fields worth a place in the one-line summary, in the order they read best.
_SUMMARY_FIELDS = (
    ("provider", "provider"),
    ("cycleDate", "cycle"),
    ("runId", "run"),
    ("fileName", "file"),
    ("attempts", "attempts"),
    ("healthStatus", "health"),
)


def health_transition(previous: str | None, current: str) -> AlertKind | None:
    """The alert a change of health calls for: turning CRITICAL, or leaving CRITICAL."""
    if current == "CRITICAL" and previous != "CRITICAL":
        return AlertKind.HEALTH_CRITICAL
    # Pausing a critical connector is not a recovery; it is someone silencing it.
    if previous == "CRITICAL" and current not in ("CRITICAL", "PAUSED"):
        return AlertKind.HEALTH_RECOVERED
    return None


def summary(kind: str, payload: dict[str, Any]) -> str:
    """A readable one-line description of an alert, for chat."""
    parts = [f"[bankfeeds] {TITLES.get(kind, kind)}"]
    name, cid = payload.get("connectorName"), payload.get("connectorId")
    if name or cid:
        parts.append(f"connector {name} ({cid})" if name and cid else f"connector {name or cid}")
    for field, label in _SUMMARY_FIELDS:
        if payload.get(field) not in (None, ""):
            parts.append(f"{label} {payload[field]}")
    message = payload.get("message")
    if message:
        parts.append(" ".join(str(message).split()))  # chat wants one line
    return " · ".join(parts)


def webhook_body(
    hook_format: str, *, kind: str, key: str, payload: dict[str, Any], created_at: datetime
) -> dict[str, Any]:
    """The JSON body posted to a webhook of ``hook_format``."""
    if hook_format == "slack":
        return {"text": summary(kind, payload)}
    return {"kind": kind, "key": key, "payload": payload, "createdAt": created_at.isoformat()}


def retry_delay(attempts: int, *, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential backoff after ``attempts`` failed attempts, capped (and overflow-free)."""
    # In float seconds with a bounded exponent: timedelta arithmetic would overflow first.
    exponent = min(max(attempts - 1, 0), 64)
    return timedelta(seconds=min(cap.total_seconds(), base.total_seconds() * 2.0**exponent))
