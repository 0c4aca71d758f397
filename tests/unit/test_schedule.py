"""Cron validation, next runs and due slots across DST changes, cycle dates and expected dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bankfeeds.connectors.schedule import (
    cycle_date_for,
    due_slots,
    expected_by,
    expected_cycle_dates,
    next_run_at,
    normalize_cron,
    validate_cron,
    validate_timezone,
    wall_to_utc,
)

NY = "America/New_York"
LONDON = "Europe/London"
KOLKATA = "Asia/Kolkata"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- validate_cron ---


@pytest.mark.parametrize(
    "expr",
    [
        "0 19 * * *",
        "*/15 * * * *",
        "0 9-17/2 * * mon-fri",
        "30 2 1,15,L * *",
        "0 0 1 jan-mar *",
        "0 0 * * 0-7",
        "5/15 * * * *",
        " 0  19 * * * ",
        "0 0 29 2 *",
        "@daily",
        "@HOURLY",
        "@weekly",
        "@monthly",
        "@yearly",
        "@annually",
        "@midnight",
    ],
)
def test_valid_cron(expr: str) -> None:
    assert validate_cron(expr) is None


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("", "empty"),
        ("* * * *", "exactly 5 fields"),
        ("0 * * * * *", "exactly 5 fields (minute hour day-of-month month day-of-week), got 6"),
        ("0 0 * * * * 2025", "got 7"),
        ("@reboot", "@reboot is not supported"),
        ("@every 5m", "not supported"),
        ("60 * * * *", "minute field '60'"),
        ("* 24 * * *", "hour field '24'"),
        ("0 0 0 * *", "day-of-month field '0'"),
        ("0 0 32 * *", "day-of-month field '32'"),
        ("0 0 * 13 *", "month field '13' must use values 1-12 or jan-dec"),
        ("0 0 1 foo *", "month field 'foo'"),
        ("0 0 * * 8", "day-of-week field '8'"),
        ("0 0 * * funday", "day-of-week field"),
        ("5-1 * * * *", "minute field '5-1' has a range that runs backwards"),
        ("0 0 * * fri-mon", "day-of-week field 'fri-mon' has a range that runs backwards"),
        ("*/0 * * * *", "minute field '*/0' has a step of 0"),
        ("0,,1 * * * *", "minute field '0,,1' is not valid cron syntax"),
        ("H * * * *", "minute field 'H'"),
        ("R * * * *", "minute field 'R'"),
        ("0 0 ? * *", "day-of-month field '?'"),
        ("0 0 15W * *", "day-of-month field '15W'"),
        ("0 0 * * 5#3", "day-of-week field '5#3'"),
        ("0 0 * L *", "month field 'L'"),
        ("0 0 30 2 *", "never match a real date"),
        ("0 0 31 4,6 *", "never match a real date"),
    ],
)
def test_invalid_cron_names_the_problem(expr: str, says: str) -> None:
    error = validate_cron(expr)
    assert error is not None
    assert says in error


def test_normalize_cron_expands_shorthands_and_spacing() -> None:
    assert normalize_cron("@daily") == "0 0 * * *"
    assert normalize_cron("@hourly") == "0 * * * *"
    assert normalize_cron(" 0  19 * * * ") == "0 19 * * *"
    with pytest.raises(ValueError, match="exactly 5 fields"):
        normalize_cron("* * * * * *")


# --- validate_timezone ---


@pytest.mark.parametrize("name", [KOLKATA, NY, LONDON, "UTC", "Asia/Kathmandu", "Asia/Calcutta"])
def test_valid_timezone(name: str) -> None:
    assert validate_timezone(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Mars/Olympus_Mons",
        "America",
        "../etc/passwd",
        "/etc/localtime",
        " UTC",
        "utc",
        "localtime",
    ],
)
def test_invalid_timezone(name: str) -> None:
    error = validate_timezone(name)
    assert error is not None
    assert "IANA time zone" in error


# --- next_run_at and due_slots ---


@pytest.mark.parametrize(
    ("cron", "tz", "now", "expected"),
    [
        # Asia/Kolkata, UTC+05:30 all year: 19:00 IST is 13:30 UTC.
        ("0 19 * * *", KOLKATA, "2025-01-10T13:29:59", "2025-01-10T13:30:00"),
        ("0 19 * * *", KOLKATA, "2025-01-10T13:30:00", "2025-01-11T13:30:00"),
        ("30 2 * * *", KOLKATA, "2025-03-08T12:00:00", "2025-03-08T21:00:00"),
        ("@daily", KOLKATA, "2025-01-10T18:30:00", "2025-01-11T18:30:00"),
        # New York spring forward, 2025-03-09: 02:30 does not exist, runs at 03:00 EDT.
        ("30 2 * * *", NY, "2025-03-09T05:00:00", "2025-03-09T07:00:00"),
        ("30 2 * * *", NY, "2025-03-09T07:00:00", "2025-03-10T06:30:00"),
        ("30 2 * * *", NY, "2025-03-08T07:30:00", "2025-03-09T07:00:00"),
        # New York fall back, 2025-11-02: 01:30 happens twice, runs at the first (EDT) only.
        ("30 1 * * *", NY, "2025-11-02T05:00:00", "2025-11-02T05:30:00"),
        ("30 1 * * *", NY, "2025-11-02T05:30:00", "2025-11-03T06:30:00"),
        ("30 1 * * *", NY, "2025-11-02T06:10:00", "2025-11-03T06:30:00"),  # inside the 2nd 01:xx
        ("45 * * * *", NY, "2025-11-02T06:10:00", "2025-11-02T07:45:00"),
        # London: 01:30 does not exist on 2025-03-30 (runs 02:00 BST) and repeats on 2025-10-26.
        ("30 1 * * *", LONDON, "2025-03-29T12:00:00", "2025-03-30T01:00:00"),
        ("30 1 * * *", LONDON, "2025-10-25T12:00:00", "2025-10-26T00:30:00"),
        ("30 1 * * *", LONDON, "2025-10-26T00:30:00", "2025-10-27T01:30:00"),
    ],
)
def test_next_run_at(cron: str, tz: str, now: str, expected: str) -> None:
    got = next_run_at(cron, tz, utc(now))
    assert got == utc(expected)
    assert got.tzinfo is UTC


def test_next_run_at_accepts_any_aware_now() -> None:
    ist_now = datetime(2025, 1, 10, 18, 59, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert next_run_at("0 19 * * *", KOLKATA, ist_now) == utc("2025-01-10T13:30:00")


@pytest.mark.parametrize(
    ("cron", "tz", "after", "until", "expected"),
    [  # instants in UTC, in 2025
        ("30 2 * * *", NY, "03-08T12:00", "03-11T12:00", "03-09T07:00 03-10T06:30 03-11T06:30"),
        ("30 1 * * *", NY, "11-01T12:00", "11-04T00:00", "11-02T05:30 11-03T06:30"),
        # hourly across fall back: 01:00 EDT runs, 01:00 EST does not, 02:00 EST does
        ("0 * * * *", NY, "11-02T03:30", "11-02T07:30", "11-02T04:00 11-02T05:00 11-02T07:00"),
        # hourly across spring forward: the 02:30 slot runs once, at 03:00 EDT
        (
            "30 * * * *",
            NY,
            "03-09T05:00",
            "03-09T08:00",
            "03-09T05:30 03-09T06:30 03-09T07:00 03-09T07:30",
        ),
        # every slot inside the gap and the 03:00 slot fold into one run
        ("*/15 * * * *", NY, "03-09T06:30", "03-09T07:20", "03-09T06:45 03-09T07:00 03-09T07:15"),
        ("30 1 * * *", LONDON, "03-29T00:00", "03-31T12:00", "03-29T01:30 03-30T01:00 03-31T00:30"),
        ("30 1 * * *", LONDON, "10-25T00:00", "10-27T12:00", "10-25T00:30 10-26T00:30 10-27T01:30"),
        ("30 2 * * *", KOLKATA, "03-08T00:00", "03-10T00:00", "03-08T21:00 03-09T21:00"),
        # after is exclusive, until inclusive
        ("0 19 * * *", KOLKATA, "01-10T13:30", "01-12T13:30", "01-11T13:30 01-12T13:30"),
        ("0 19 * * *", KOLKATA, "01-10T13:31", "01-11T13:29", ""),
        ("0 19 * * *", KOLKATA, "01-12T00:00", "01-10T00:00", ""),
    ],
)
def test_due_slots(cron: str, tz: str, after: str, until: str, expected: str) -> None:
    got = due_slots(cron, tz, utc(f"2025-{after}"), utc(f"2025-{until}"))
    assert got == [utc(f"2025-{e}") for e in expected.split()]
    assert all(slot.tzinfo is UTC for slot in got)


@pytest.mark.parametrize(
    ("tz", "day", "runs"),
    [
        (NY, "2025-03-09", 23),  # 02:00 does not exist and folds into 03:00
        (NY, "2025-11-02", 24),  # 25 real hours, 24 wall-clock slots, each once
        (LONDON, "2025-03-30", 23),
        (LONDON, "2025-10-26", 24),
        (KOLKATA, "2025-03-09", 24),
    ],
)
def test_hourly_runs_each_wall_clock_slot_once(tz: str, day: str, runs: int) -> None:
    start = datetime.fromisoformat(f"{day}T00:00").replace(tzinfo=ZoneInfo(tz))
    end = start + timedelta(days=1)  # wall-clock arithmetic: the next local midnight
    slots = due_slots("0 * * * *", tz, start - timedelta(seconds=1), end - timedelta(seconds=1))
    assert len(slots) == runs
    assert len(set(slots)) == len(slots)
    assert slots == sorted(slots)


def test_due_slots_stops_at_limit() -> None:
    slots = due_slots(
        "* * * * *", KOLKATA, utc("2025-01-10T00:00"), utc("2025-01-11T00:00"), limit=5
    )
    assert slots == [utc(f"2025-01-10T00:0{n}") for n in range(1, 6)]
    with pytest.raises(ValueError, match="limit"):
        due_slots("* * * * *", KOLKATA, utc("2025-01-10T00:00"), utc("2025-01-11T00:00"), limit=0)


@pytest.mark.parametrize("tz", [NY, LONDON, KOLKATA])
@pytest.mark.parametrize("cron", ["30 2 * * *", "30 1 * * *", "0 * * * *", "*/20 * * * *"])
def test_next_run_at_agrees_with_due_slots(cron: str, tz: str) -> None:
    # Sweep `now` in 10-minute steps over both 2025 DST changes in Europe and America.
    for start in (
        utc("2025-03-08T20:00"),
        utc("2025-03-29T20:00"),
        utc("2025-10-25T20:00"),
        utc("2025-11-01T20:00"),
    ):
        for step in range(0, 36 * 60, 10):
            now = start + timedelta(minutes=step)
            upcoming = next_run_at(cron, tz, now)
            assert upcoming > now
            assert due_slots(cron, tz, now, now + timedelta(days=2), limit=1) == [upcoming]


@pytest.mark.parametrize(
    ("cron", "tz", "says"),
    [("* * * * * *", KOLKATA, "exactly 5 fields"), ("0 19 * * *", "Mars/Base", "IANA time zone")],
)
def test_bad_schedule_is_a_value_error(cron: str, tz: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        next_run_at(cron, tz, utc("2025-01-10T00:00"))
    with pytest.raises(ValueError, match=says):
        due_slots(cron, tz, utc("2025-01-10T00:00"), utc("2025-01-11T00:00"))


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2025, 1, 10, 12, 0)
    aware = utc("2025-01-10T12:00")
    with pytest.raises(ValueError, match="now must be a time-zone-aware"):
        next_run_at("0 19 * * *", KOLKATA, naive)
    with pytest.raises(ValueError, match="after must be"):
        due_slots("0 19 * * *", KOLKATA, naive, aware)
    with pytest.raises(ValueError, match="until must be"):
        due_slots("0 19 * * *", KOLKATA, aware, naive)
    with pytest.raises(ValueError, match="slot must be"):
        cycle_date_for("today", naive, KOLKATA)
    with pytest.raises(ValueError, match="now must be"):
        expected_cycle_dates(KOLKATA, date(2025, 1, 1), naive, 18, 2)


# --- cycle dates ---


@pytest.mark.parametrize(
    ("rule", "slot", "tz", "expected"),
    [
        ("yesterday", "2025-01-10T13:30", KOLKATA, date(2025, 1, 9)),
        ("today", "2025-01-10T13:30", KOLKATA, date(2025, 1, 10)),
        ("today", "2025-01-10T19:00", KOLKATA, date(2025, 1, 11)),  # 00:30 IST the next day
        ("yesterday", "2025-01-10T19:00", KOLKATA, date(2025, 1, 10)),
        ("today", "2025-03-09T04:30", NY, date(2025, 3, 8)),  # 23:30 EST
        ("today", "2025-03-09T07:00", NY, date(2025, 3, 9)),  # 03:00 EDT
        ("yesterday", "2025-03-01T00:30", LONDON, date(2025, 2, 28)),
    ],
)
def test_cycle_date_for(rule: str, slot: str, tz: str, expected: date) -> None:
    assert cycle_date_for(rule, utc(slot), tz) == expected  # type: ignore[arg-type]


def test_cycle_date_for_unknown_rule() -> None:
    with pytest.raises(ValueError, match="cycle rule"):
        cycle_date_for("tomorrow", utc("2025-01-10T00:00"), KOLKATA)  # type: ignore[arg-type]


# --- expected dates ---

JAN = [date(2025, 1, d) for d in range(1, 32)]


@pytest.mark.parametrize(
    ("tz", "start", "now", "cutoff", "grace", "lag", "expected"),
    [
        # Kolkata, cutoff 18:00 + 2 h: the file for D is due at D 20:00 IST = D 14:30 UTC.
        (KOLKATA, date(2025, 1, 1), "2025-01-05T14:29:59", 18, 2, 0, JAN[:4]),
        (KOLKATA, date(2025, 1, 1), "2025-01-05T14:30:00", 18, 2, 0, JAN[:5]),
        (KOLKATA, date(2025, 1, 5), "2025-01-05T14:30:00", 18, 2, 0, [date(2025, 1, 5)]),
        (KOLKATA, date(2025, 1, 6), "2025-01-05T14:30:00", 18, 2, 0, []),
        (KOLKATA, date(2025, 1, 1), "2025-01-05T14:30:00", 18, 2, 1, JAN[:4]),
        (KOLKATA, date(2025, 1, 1), "2025-01-05T18:29:59", 18, 30, 0, JAN[:3]),
        (KOLKATA, date(2025, 1, 1), "2025-01-05T18:30:00", 18, 30, 0, JAN[:4]),
        (KOLKATA, date(2025, 1, 1), "2025-01-04T18:30:00", 0, 0, 0, JAN[:5]),
        # New York, 20:00 local: 01:00 UTC next day in EST, 00:00 UTC in EDT.
        (NY, date(2025, 3, 8), "2025-03-09T00:59:59", 18, 2, 0, []),
        (NY, date(2025, 3, 8), "2025-03-09T01:00:00", 18, 2, 0, [date(2025, 3, 8)]),
        (NY, date(2025, 3, 8), "2025-03-09T23:59:59", 18, 2, 0, [date(2025, 3, 8)]),
        (
            NY,
            date(2025, 3, 8),
            "2025-03-10T00:00:00",
            18,
            2,
            0,
            [date(2025, 3, 8), date(2025, 3, 9)],
        ),
    ],
)
def test_expected_cycle_dates(
    tz: str, start: date, now: str, cutoff: int, grace: int, lag: int, expected: list[date]
) -> None:
    assert expected_cycle_dates(tz, start, utc(now), cutoff, grace, lag_days=lag) == expected


@pytest.mark.parametrize(
    ("day", "tz", "cutoff", "grace", "expected"),
    [
        (date(2025, 1, 10), KOLKATA, 18, 2, "2025-01-10T14:30"),
        (date(2025, 3, 9), NY, 2, 0, "2025-03-09T07:00"),  # 02:00 does not exist: 03:00 EDT
        (date(2025, 11, 2), NY, 1, 1, "2025-11-02T06:00"),  # first 01:00 (EDT) + 1 h
    ],
)
def test_expected_by(day: date, tz: str, cutoff: int, grace: int, expected: str) -> None:
    assert expected_by(day, tz, cutoff, grace) == utc(expected)


@pytest.mark.parametrize(
    ("cutoff", "grace", "lag"), [(24, 2, 0), (-1, 2, 0), (18, -1, 0), (18, 2, -1)]
)
def test_expected_dates_refuse_bad_settings(cutoff: int, grace: int, lag: int) -> None:
    with pytest.raises(ValueError, match="must"):
        expected_cycle_dates(
            KOLKATA, date(2025, 1, 1), utc("2025-01-05T00:00"), cutoff, grace, lag_days=lag
        )


@pytest.mark.parametrize(
    ("wall", "tz", "expected"),
    [
        ("2025-03-09T02:30", NY, "2025-03-09T07:00"),  # in the gap: the first instant after it
        ("2025-03-09T03:00", NY, "2025-03-09T07:00"),
        ("2025-11-02T01:30", NY, "2025-11-02T05:30"),  # repeated: the first occurrence
        ("2025-03-30T01:59", LONDON, "2025-03-30T01:00"),
        ("2025-06-01T05:30", KOLKATA, "2025-06-01T00:00"),
    ],
)
def test_wall_to_utc(wall: str, tz: str, expected: str) -> None:
    assert wall_to_utc(datetime.fromisoformat(wall), ZoneInfo(tz)) == utc(expected)


def test_wall_to_utc_refuses_aware_times() -> None:
    with pytest.raises(ValueError, match="naive wall-clock"):
        wall_to_utc(utc("2025-01-10T00:00"), ZoneInfo(KOLKATA))
