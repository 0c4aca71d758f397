"""Catch-up policies, with the clock passed in, across time zones and DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bankfeeds.scheduling.planning import plan_slots, slots_since


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_on_time_slot_runs_under_every_policy() -> None:
    after, now = _utc(2025, 1, 10, 13, 0), _utc(2025, 1, 10, 13, 31)
    expected = [_utc(2025, 1, 10, 13, 30)]  # 19:00 in Kolkata
    assert plan_slots("0 19 * * *", "Asia/Kolkata", after, now, "latest") == expected
    assert plan_slots("0 19 * * *", "Asia/Kolkata", after, now, "all") == expected
    assert plan_slots("0 19 * * *", "Asia/Kolkata", after, now, "none") == expected


def test_downtime_policies() -> None:
    after = _utc(2025, 1, 5, 14, 0)  # the 2025-01-05 19:30 IST slot already ran
    now = _utc(2025, 1, 9, 12, 0)  # scheduler comes back before the 9th's slot
    cron, tz = "30 19 * * *", "Asia/Kolkata"
    missed = [_utc(2025, 1, d, 14, 0) for d in (6, 7, 8)]
    assert plan_slots(cron, tz, after, now, "all") == missed
    assert plan_slots(cron, tz, after, now, "latest") == missed[-1:]
    assert plan_slots(cron, tz, after, now, "none") == []


def test_nothing_due() -> None:
    now = _utc(2025, 1, 10, 12, 0)
    assert plan_slots("0 19 * * *", "Asia/Kolkata", now - timedelta(minutes=5), now, "all") == []


def test_dst_spring_forward_and_fall_back_run_once() -> None:
    # New York: 02:30 does not exist on 2025-03-09 and 01:30 happens twice on 2025-11-02.
    spring = plan_slots(
        "30 2 * * *", "America/New_York", _utc(2025, 3, 8, 12), _utc(2025, 3, 9, 12), "all"
    )
    assert spring == [_utc(2025, 3, 9, 7, 0)]  # 03:00 EDT, once
    fall = plan_slots(
        "30 1 * * *", "America/New_York", _utc(2025, 11, 1, 12), _utc(2025, 11, 2, 12), "all"
    )
    assert fall == [_utc(2025, 11, 2, 5, 30)]  # the first 01:30 (EDT), once
    berlin = plan_slots(
        "30 2 * * *", "Europe/Berlin", _utc(2025, 3, 29, 12), _utc(2025, 3, 30, 12), "all"
    )
    assert berlin == [_utc(2025, 3, 30, 1, 0)]  # 03:00 CEST


def test_long_downtime_keeps_the_newest_slots() -> None:
    after, now = _utc(2025, 1, 1), _utc(2025, 1, 2)
    slots = slots_since("* * * * *", "UTC", after, now, 100)
    assert len(slots) == 100
    assert slots[-1] == now
    assert plan_slots("* * * * *", "UTC", after, now, "latest") == [now]
