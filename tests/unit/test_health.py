"""Connector health: each rule, its thresholds and boundaries, and the figures reported."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bankfeeds.monitoring.health_rules import (
    ConnectorStatus,
    Health,
    RunOutcome,
    RunStatus,
    compute_health,
)

NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
DAYS = [date(2025, 6, d) for d in range(1, 10)]
SUCCESSES: list[RunStatus] = ["SUCCESS"]


def run(status: RunStatus, hours_ago: float, minutes: int = 5) -> RunOutcome:
    """A run that finished ``hours_ago`` before NOW after running ``minutes``."""
    finished = NOW - timedelta(hours=hours_ago)
    return RunOutcome(status, finished - timedelta(minutes=minutes), finished)


def daily(*statuses: RunStatus) -> list[RunOutcome]:
    """One run a day, oldest first, the last one 1 h ago."""
    count = len(statuses)
    return [run(s, 1 + 24 * (count - 1 - n)) for n, s in enumerate(statuses)]


def hourly(*statuses: RunStatus) -> list[RunOutcome]:
    """One run an hour, oldest first, the last one 1 h ago."""
    count = len(statuses)
    return [run(s, count - n) for n, s in enumerate(statuses)]


def health(
    runs: list[RunOutcome],
    *,
    missing: int = 0,
    status: ConnectorStatus = "ACTIVE",
    **thresholds: Any,
) -> Health:
    expected = DAYS[:5]
    received = set(expected[missing:])
    return compute_health(
        runs=runs,
        connector_status=status,
        received_dates=received,
        expected_dates=expected,
        now=NOW,
        **thresholds,
    )


@pytest.mark.parametrize(
    ("runs", "missing", "expected", "reason"),
    [
        # HEALTHY
        (daily(*SUCCESSES * 10), 0, "HEALTHY", None),
        (hourly("FAILED", *SUCCESSES * 9), 0, "HEALTHY", None),  # 9/10 = 0.9 is not below 0.9
        (daily("SUCCESS", "CANCELLED"), 0, "HEALTHY", None),  # cancelled runs say nothing
        ([run("SUCCESS", 72)], 0, "HEALTHY", None),  # quiet, not failing; backlog would show it
        ([run("SUCCESS", 24 * 8)], 0, "HEALTHY", None),  # nothing in the window: no rate
        # NEVER_RUN
        ([], 0, "NEVER_RUN", "no run has finished"),
        ([], 5, "NEVER_RUN", "no run has finished"),  # backlog alone does not make it CRITICAL
        ([RunOutcome("QUEUED"), RunOutcome("RUNNING", NOW)], 0, "NEVER_RUN", None),
        ([run("CANCELLED", 1)], 0, "NEVER_RUN", None),
        # WARNING
        (daily("SUCCESS", "SUCCESS", "FAILED"), 0, "WARNING", "the last run ended FAILED"),
        (hourly("SUCCESS", "FAILED", "FAILED"), 0, "WARNING", "the last run ended FAILED"),
        (daily("SUCCESS", "PARTIAL"), 0, "WARNING", "the last run ended PARTIAL"),
        (
            hourly("FAILED", *SUCCESSES * 8),
            0,
            "WARNING",
            "success rate 89% (last 20 runs in 7 days) is below 90%",
        ),
        (daily(*SUCCESSES * 3), 1, "WARNING", "1 expected day(s) have no file"),
        (daily(*SUCCESSES * 3), 2, "WARNING", "2 expected day(s) have no file"),
        # CRITICAL
        (daily("FAILED", "FAILED", "FAILED"), 0, "CRITICAL", "the last 3 runs failed"),
        (
            [run("SUCCESS", 47), run("FAILED", 30), run("FAILED", 20), run("FAILED", 10)],
            0,
            "CRITICAL",
            "the last 3 runs failed",
        ),
        (
            [run("SUCCESS", 49), run("PARTIAL", 24), run("PARTIAL", 1)],
            0,
            "CRITICAL",
            "no successful run in the last 48 h",
        ),
        (daily(*SUCCESSES * 3), 3, "CRITICAL", "3 expected days have no file"),
        (daily(*SUCCESSES * 3), 5, "CRITICAL", "5 expected days have no file"),
    ],
)
def test_health_rules(
    runs: list[RunOutcome], missing: int, expected: str, reason: str | None
) -> None:
    got = health(runs, missing=missing)
    assert got.health_status == expected
    if reason is not None:
        assert any(reason in r for r in got.reasons), got.reasons
    if expected == "HEALTHY":
        assert got.reasons == ()


def test_success_within_48h_keeps_failures_off_critical() -> None:
    got = health([run("SUCCESS", 47), run("FAILED", 20), run("FAILED", 10)])
    assert got.health_status == "WARNING"
    assert not any("48 h" in r for r in got.reasons)


@pytest.mark.parametrize("missing", [0, 5])
def test_paused_wins_over_everything(missing: int) -> None:
    got = health(daily("FAILED", "FAILED", "FAILED"), missing=missing, status="PAUSED")
    assert got.health_status == "PAUSED"
    assert got.reasons == ("the connector is paused",)
    assert got.backlog_missing_days == missing  # the figures are still reported


def test_figures() -> None:
    runs = [
        run("SUCCESS", 50),
        run("SUCCESS", 26),
        run("PARTIAL", 2),
        run("CANCELLED", 1.5),
        RunOutcome("RUNNING", NOW - timedelta(minutes=10)),
        RunOutcome("QUEUED"),
    ]
    got = compute_health(
        runs=runs,
        connector_status="ACTIVE",
        received_dates={DAYS[0], DAYS[3], date(2025, 5, 1)},  # a file nobody expected is ignored
        expected_dates=DAYS[:5],
        now=NOW,
    )
    assert got.last_run_at == NOW - timedelta(minutes=10)
    assert got.last_success_at == NOW - timedelta(hours=26)  # PARTIAL is not a success
    assert got.success_rate == pytest.approx(2 / 3)
    assert got.backlog_missing_days == 3
    assert got.backlog_oldest_missing == DAYS[1]


def test_success_rate_window_is_7_days_and_20_runs() -> None:
    old_failures = [run("FAILED", 24 * 7 + 1) for _ in range(5)]  # just outside 7 days
    assert health(old_failures + daily("SUCCESS")).success_rate == 1.0
    many = [run("FAILED", 50 + n) for n in range(5)] + [run("SUCCESS", 1 + n) for n in range(20)]
    assert health(many).success_rate == 1.0  # only the newest 20 count
    assert health(many, window_runs=25).success_rate == 0.8
    assert health([run("SUCCESS", 24 * 7)]).success_rate is None  # exactly 7 days ago is out
    assert health([]).success_rate is None


def test_run_order_does_not_matter() -> None:
    runs = daily("SUCCESS", "SUCCESS", "FAILED", "FAILED", "FAILED", "SUCCESS", "PARTIAL")
    shuffled = runs[:]
    random.Random(7).shuffle(shuffled)
    assert health(shuffled) == health(runs)
    assert health(runs).health_status == "WARNING"


@pytest.mark.parametrize(
    ("runs", "missing", "thresholds", "expected"),
    [
        (daily(*SUCCESSES * 3), 3, {"critical_backlog_days": 4}, "WARNING"),
        (daily(*SUCCESSES * 3), 1, {"warning_backlog_days": 2}, "HEALTHY"),
        (daily("FAILED", "FAILED"), 0, {"critical_consecutive_failures": 2}, "CRITICAL"),
        (hourly("FAILED", "SUCCESS", "SUCCESS"), 0, {"warning_success_rate": 0.5}, "HEALTHY"),
        (
            [run("SUCCESS", 30), run("FAILED", 1)],
            0,
            {"critical_no_success_for": timedelta(hours=24)},
            "CRITICAL",
        ),
        (daily("SUCCESS", "FAILED", "SUCCESS"), 0, {"window": timedelta(hours=12)}, "HEALTHY"),
    ],
)
def test_thresholds_are_keywords(
    runs: list[RunOutcome], missing: int, thresholds: dict[str, Any], expected: str
) -> None:
    assert health(runs, missing=missing, **thresholds).health_status == expected


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="now must be a time-zone-aware"):
        compute_health(
            runs=[],
            connector_status="ACTIVE",
            received_dates=set(),
            expected_dates=[],
            now=datetime(2025, 6, 10, 12, 0),
        )
    naive = RunOutcome("SUCCESS", datetime(2025, 6, 10, 11, 0), datetime(2025, 6, 10, 11, 5))
    with pytest.raises(ValueError, match="started_at must be"):
        health([naive])


def test_unfixable_last_failure_is_critical_at_once() -> None:
    runs = [*daily("SUCCESS", "SUCCESS"), RunOutcome(
        "FAILED", NOW - timedelta(hours=1), NOW - timedelta(minutes=59),
        error_code="authentication-failed",
    )]  # fmt: skip
    got = health(runs, unfixable={"authentication-failed"})
    assert got.health_status == "CRITICAL"
    assert any("retrying cannot fix" in r for r in got.reasons)
    assert health(runs).health_status == "WARNING"  # without the rule, a single failure warns


def test_no_file_for_the_last_two_expected_cycles_is_critical() -> None:
    runs = daily(*SUCCESSES * 3)
    got = compute_health(
        runs=runs, connector_status="ACTIVE", received_dates=set(DAYS[:3]),
        expected_dates=DAYS[:5], now=NOW, critical_missing_cycles=2,
    )  # fmt: skip
    assert got.health_status == "CRITICAL"
    assert any("last 2 expected cycles" in r for r in got.reasons)
    spread = compute_health(
        runs=runs, connector_status="ACTIVE", received_dates={DAYS[0], DAYS[2], DAYS[4]},
        expected_dates=DAYS[:5], now=NOW, critical_missing_cycles=2,
    )  # fmt: skip
    assert spread.health_status == "WARNING"  # two gaps, but not the latest two


def test_one_success_rate_with_its_window_and_the_same_runs_for_the_average_duration() -> None:
    month = NOW - timedelta(days=30)
    old = [RunOutcome("FAILED", month - timedelta(hours=n), month - timedelta(hours=n),
                      duration_ms=1000) for n in range(10)]  # fmt: skip
    new = [RunOutcome("SUCCESS", NOW - timedelta(hours=n + 1), NOW - timedelta(hours=n),
                      duration_ms=3000) for n in range(10)]  # fmt: skip
    got = health(old + new)
    # The month-old failures are outside the 7 days: the rate, its count and the average
    # duration are all over the same 10 recent runs.
    assert (got.success_rate, got.success_rate_runs) == (1.0, 10)
    assert got.success_rate_window == "last 20 runs in 7 days"
    assert got.average_duration_ms == 3000


def test_the_warning_rule_and_the_reported_rate_are_the_same_number() -> None:
    # 17 successes and 3 failures in the last 20 runs of the week: 85 %, a WARNING; the older
    # successes (and the older runs beyond the newest 20) do not count anywhere.
    failures: list[RunStatus] = ["FAILED"] * 3
    runs = hourly(*SUCCESSES * 5, *failures, *SUCCESSES * 17)
    got = health(runs)
    assert (got.success_rate, got.success_rate_runs) == (0.85, 20)
    assert got.health_status == "WARNING"
    assert got.reasons == ("success rate 85% (last 20 runs in 7 days) is below 90%",)


@pytest.mark.parametrize(
    ("window", "runs", "label"),
    [
        (timedelta(days=7), 20, "last 20 runs in 7 days"),
        (timedelta(days=1), 5, "last 5 runs in 1 day"),
        (timedelta(hours=36), 10, "last 10 runs in 36 h"),
    ],
)
def test_success_rate_window_label(window: timedelta, runs: int, label: str) -> None:
    assert health([run("SUCCESS", 1)], window=window, window_runs=runs).success_rate_window == label
