"""Cron schedules in a connector's time zone, cycle dates and expected dates; pure, clock passed in.

Cron grammar: exactly five fields (minute hour day-of-month month day-of-week) as in Vixie cron:
numbers, ``*``, ranges ``a-b``, steps ``/n``, lists, three-letter month and weekday names, weekday
``7`` for Sunday and ``L`` (last day) in the day-of-month field. When both day fields are
restricted a day matches either (Vixie semantics). ``@yearly``, ``@annually``, ``@monthly``,
``@weekly``, ``@daily``, ``@midnight`` and ``@hourly`` are shorthands for five-field expressions;
seconds fields, ``@reboot`` and extensions such as ``H``, ``R``, ``?``, ``W`` and ``#`` are refused.

Slots are wall-clock times in the connector's zone, turned into instants by two rules, so every
wall-clock slot the expression matches runs exactly once:

* a wall time that does not exist (spring forward) runs once at the first valid instant after the
  gap: ``30 2 * * *`` in America/New_York on 2025-03-09 runs at 03:00 EDT; ``*/15`` slots inside
  the gap and the 03:00 slot all fold into that one run;
* a wall time that occurs twice (fall back) runs once, at its first occurrence: ``30 1 * * *`` on
  2025-11-02 runs at 01:30 EDT only. Hourly crons follow the same rule, so ``0 * * * *`` runs at
  01:00 EDT and next at 02:00 EST, two hours later; nothing runs at 01:00 EST.

croniter only walks naive wall-clock times: its own time-zone mode runs a repeated hour twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

CycleRule = Literal["yesterday", "today"]

_MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names whose index is their value offset by `lowest`)
_FIELDS: Final = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _DAYS),
)
# Bounds checked before any regex or int(): 200 characters (the connector model's cap) hold every
# minute spelled out, and no field value or step needs more than 2 digits (4 with leading zeros).
MAX_CRON_CHARS: Final = 200
_MAX_DIGITS: Final = 4
_ITEM: Final = re.compile(r"(?P<base>\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/(?P<step>[0-9]+))?")
# Zone keys that are not a place: they depend on the host or mean "unknown".
_NOT_PLACES: Final = frozenset({"localtime", "posixrules", "Factory"})


def _field_value(token: str, low: int, high: int, names: tuple[str, ...]) -> int | None:
    if token in names:
        return names.index(token) + low
    if token.isdigit() and len(token) <= _MAX_DIGITS and low <= int(token) <= high:
        return int(token)
    return None


def _field_error(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    """Return why one cron field is invalid, or None."""
    for item in text.lower().split(","):
        if name == "day-of-month" and item == "l":
            continue
        found = _ITEM.fullmatch(item)
        if found is None:
            return f"the {name} field {text!r} is not valid cron syntax"
        step = found["step"]
        if step is not None and (len(step) > _MAX_DIGITS or int(step) > high - low + 1):
            return f"the {name} field {text!r} has a step larger than its range {low}-{high}"
        if step is not None and int(step) == 0:
            return f"the {name} field {text!r} has a step of 0"
        if found["base"] == "*":
            continue
        bounds = [_field_value(t, low, high, names) for t in found["base"].split("-")]
        values = [b for b in bounds if b is not None]
        if len(values) != len(bounds):
            spelled = f" or {names[0]}-{names[-1]}" if names else ""
            return f"the {name} field {text!r} must use values {low}-{high}{spelled}"
        if values != sorted(values):
            return f"the {name} field {text!r} has a range that runs backwards"
    return None


def _expand(expr: str) -> tuple[str, str | None]:
    """Return the five-field form of ``expr`` and an error sentence (or None)."""
    # Refused before splitting or caching, so a megabyte-long schedule costs one len().
    if len(expr) > MAX_CRON_CHARS:
        return "", f"the cron expression is longer than {MAX_CRON_CHARS} characters"
    return _expand_bounded(expr)


@lru_cache(maxsize=1024)  # schedulers ask about the same few expressions again and again
def _expand_bounded(expr: str) -> tuple[str, str | None]:
    text = " ".join(expr.split())
    if not text:
        return text, "the cron expression is empty"
    if text.startswith("@"):
        five = _MACROS.get(text.lower())
        if five is None:
            return text, f"{text} is not supported; use five fields or one of {', '.join(_MACROS)}"
        return five, None
    fields = text.split(" ")
    if len(fields) != 5:
        return text, (
            f"a cron expression needs exactly 5 fields (minute hour day-of-month month "
            f"day-of-week), got {len(fields)}"
        )
    for field, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        error = _field_error(field, name, low, high, names)
        if error is not None:
            return text, error
    try:
        croniter(text, datetime(2001, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        return text, "the day-of-month and month fields never match a real date"
    except CroniterError as exc:
        return text, f"the cron expression is invalid ({exc})"
    return text, None


def normalize_cron(expr: str) -> str:
    """Return the five-field form of a valid cron expression (shorthands expanded)."""
    five, error = _expand(expr)
    if error is not None:
        raise ValueError(error)
    return five


def validate_cron(expr: str) -> str | None:
    """Return a sentence saying what is wrong with a cron expression, or None if it is valid."""
    return _expand(expr)[1]


def validate_timezone(name: str) -> str | None:
    """Return a sentence saying why ``name`` is not an IANA time zone, or None if it is one."""
    if not name or name != name.strip() or name in _NOT_PLACES:
        return f"{name!r} is not an IANA time zone name such as 'Asia/Kolkata'"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"{name!r} is not an IANA time zone name such as 'Asia/Kolkata'"
    return None


def _zone(name: str) -> ZoneInfo:
    error = validate_timezone(name)
    if error is not None:
        raise ValueError(error)
    return ZoneInfo(name)


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{what} must be a time-zone-aware datetime, got naive {value.isoformat()}"
        )


def wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """Return the instant a naive wall time in ``zone`` runs at, by the DST rules above."""
    if wall.tzinfo is not None:
        raise ValueError(f"wall must be a naive wall-clock datetime, got {wall.isoformat()}")
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first  # exists; for a repeated wall time fold=0 is the first occurrence
    # In a gap fold=1 applies the offset after the change, giving an instant before the change;
    # bisect whole seconds between the two readings for the first instant past the gap.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(first.timestamp()) + 1
    while low < high:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) > wall:
            high = middle
        else:
            low = middle + 1
    return datetime.fromtimestamp(low, UTC)


def _slots_after(five: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Yield the distinct UTC instants strictly after ``after`` at which ``five`` runs, in order."""
    # Wall slots at or before after's wall time map to instants at or before `after` (the mapping
    # is monotonic), so croniter can start from that wall time.
    walls = croniter(five, after.astimezone(zone).replace(tzinfo=None))
    last: datetime | None = None
    while True:
        at = wall_to_utc(walls.get_next(datetime), zone)
        # Skip the repeated hour's slots already run and gap slots folded into one instant.
        if at > after and at != last:
            last = at
            yield at


def next_run_at(cron: str, tz: str, now: datetime) -> datetime:
    """Return the first instant (UTC) strictly after ``now`` at which the schedule runs."""
    _require_aware(now, "now")
    return next(_slots_after(normalize_cron(cron), _zone(tz), now))


#: (schedule, zone) -> (the instant it was computed for, the next slot after it).
_NEXT_SLOTS: dict[tuple[str, str], tuple[datetime, datetime]] = {}
_NEXT_SLOTS_MAX = 20_000


def next_run(cron: str, tz: str, now: datetime) -> datetime:
    """``next_run_at``, remembered per (schedule, zone) until that slot passes."""
    # A list of 200 connectors spent ~60 % of its time in croniter, and most connectors share a
    # schedule. The first slot after ``now``
    # is the one computed for any earlier instant ``t`` while ``t <= now < slot``: no slot lies
    # between them.
    hit = _NEXT_SLOTS.get((cron, tz))
    if hit is not None and now.tzinfo is not None and hit[0] <= now < hit[1]:
        return hit[1]
    slot = next_run_at(cron, tz, now)
    if len(_NEXT_SLOTS) >= _NEXT_SLOTS_MAX:
        _NEXT_SLOTS.clear()
    _NEXT_SLOTS[(cron, tz)] = (now, slot)
    return slot


def due_slots(
    cron: str, tz: str, after: datetime, until: datetime, limit: int = 1000
) -> list[datetime]:
    """Return the earliest ``limit`` run instants (UTC) in ``(after, until]``."""
    _require_aware(after, "after")
    _require_aware(until, "until")
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    slots: list[datetime] = []
    for at in _slots_after(normalize_cron(cron), _zone(tz), after):
        if at > until:
            break
        slots.append(at)
        if len(slots) == limit:
            break
    return slots


def cycle_date_for(rule: CycleRule, slot: datetime, tz: str) -> date:
    """Return the business date a run at ``slot`` fetches, by the connector's cycle rule."""
    _require_aware(slot, "slot")
    local = slot.astimezone(_zone(tz)).date()
    if rule == "today":
        return local
    if rule == "yesterday":
        return local - timedelta(days=1)
    raise ValueError(f"cycle rule must be 'yesterday' or 'today', got {rule!r}")


def expected_by(
    cycle_date: date, tz: str, cutoff_hour: int, grace_hours: int, *, lag_days: int = 0
) -> datetime:
    """Return the instant (UTC) by which the file for ``cycle_date`` is due."""
    if not 0 <= cutoff_hour <= 23:
        raise ValueError(f"cutoff_hour must be 0-23, got {cutoff_hour}")
    if grace_hours < 0 or lag_days < 0:
        raise ValueError("grace_hours and lag_days must not be negative")
    cutoff = datetime.combine(cycle_date + timedelta(days=lag_days), time(cutoff_hour))
    # Grace is elapsed time, so it is added to the instant, not to the wall clock.
    return wall_to_utc(cutoff, _zone(tz)) + timedelta(hours=grace_hours)


def expected_cycle_dates(
    tz: str,
    start: date,
    now: datetime,
    cutoff_hour: int,
    grace_hours: int,
    *,
    lag_days: int = 0,
) -> list[date]:
    """Return the cycle dates from ``start`` whose file was due at or before ``now``.

    The file for cycle date D is due at D's ``cutoff_hour`` in ``tz`` plus ``grace_hours``
    (DESIGN.md's expectation monitor read as "same day"); ``lag_days=1`` moves the cutoff to D+1
    for banks that deliver the next day.
    """
    _require_aware(now, "now")
    latest = now.astimezone(_zone(tz)).date()
    while expected_by(latest, tz, cutoff_hour, grace_hours, lag_days=lag_days) > now:
        latest -= timedelta(days=1)
    return [start + timedelta(days=n) for n in range((latest - start).days + 1)]
