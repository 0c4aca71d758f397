"""A cron schedule in plain words and its next run times, for the connector dialog."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from bankfeeds.connectors.schedule import (
    due_slots,
    normalize_cron,
    validate_cron,
    validate_timezone,
)

PRESETS = (
    ("Daily at 19:00", "0 19 * * *"),
    ("Daily at 07:00", "0 7 * * *"),
    ("Weekdays at 19:00", "0 19 * * 1-5"),
    ("Every hour", "0 * * * *"),
    ("Every 15 minutes", "*/15 * * * *"),
)
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@lru_cache(maxsize=1)
def zones() -> tuple[str, ...]:
    """Every IANA zone name, sorted (for the searchable list)."""
    return tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))


@dataclass(frozen=True, slots=True)
class Preview:
    """The words, the next runs in the zone, or why there are none."""

    words: str
    next_runs: list[str]
    error: str | None = None


def _at(minute: str, hour: str) -> str | None:
    if minute.isdigit() and hour.isdigit():
        return f"{int(hour):02d}:{int(minute):02d}"
    return None


def describe(expr: str) -> str:
    """Plain words for common shapes; the expression itself for the rest."""
    minute, hour, dom, month, dow = normalize_cron(expr).split(" ")
    at = _at(minute, hour)
    if at and dom == "*" and month == "*":
        if dow == "*":
            return f"Every day at {at}"
        if dow == "1-5":
            return f"Every weekday (Monday to Friday) at {at}"
        if dow.isdigit():
            return f"Every {_DAYS[int(dow)]} at {at}"
    if at and dom.isdigit() and month == "*" and dow == "*":
        return f"On day {int(dom)} of every month at {at}"
    if (dom, month, dow) == ("*", "*", "*"):
        if minute.startswith("*/") and hour == "*":
            return f"Every {minute[2:]} minutes"
        if minute.isdigit() and hour == "*":
            return f"Every hour at minute {int(minute)}"
        if minute.isdigit() and hour.startswith("*/"):
            return f"Every {hour[2:]} hours at minute {int(minute)}"
    return f"At the times cron '{normalize_cron(expr)}' names"


def preview(expr: str, tz: str, now: datetime, count: int = 5) -> Preview:
    """Words and the next ``count`` run times of ``expr`` in ``tz``."""
    error = validate_cron(expr) or validate_timezone(tz)
    if error is not None:
        return Preview("", [], error)
    zone = ZoneInfo(tz)
    horizon = now + timedelta(days=800)
    slots = due_slots(expr, tz, now, horizon, limit=count)
    runs = [s.astimezone(zone).strftime("%a %d %b %Y, %H:%M %Z") for s in slots]
    return Preview(f"{describe(expr)} ({tz})", runs)
