"""The demo's seeded days and the per-day recon summary it prints before the admin token."""

from __future__ import annotations

import socket
from datetime import date
from pathlib import Path

import pytest

from bankfeeds.sandbox.demo import DEMO_PROVIDERS, seed_missing_days
from bankfeeds.sandbox.demo_run import DayJob, day_line, is_settled, listen_socket, outcome_counts
from bankfeeds.sandbox.generate import SEED_DAYS, seed_days, seeded_days

DAY = date(2025, 1, 9)


def _job(
    provider: str, status: str = "COMPLETED", error: str | None = None, **counts: int
) -> DayJob:
    return DayJob(provider, status, counts, error)


def test_seeded_days_are_the_days_before_today_oldest_first() -> None:
    assert SEED_DAYS == 3
    assert seeded_days(date(2025, 3, 1)) == [
        date(2025, 2, 26),
        date(2025, 2, 27),
        date(2025, 2, 28),
    ]
    assert seeded_days(date(2025, 3, 1), 1) == [date(2025, 2, 28)]


def test_the_demo_seeds_exactly_the_seeded_days(tmp_path: Path) -> None:
    today = date(2025, 3, 1)
    assert seed_missing_days(tmp_path, today) == seeded_days(today)
    assert seed_missing_days(tmp_path, today) == []  # nothing new the second time
    recent = sorted(p.name for p in tmp_path.glob("PG_TXN_202502*.csv"))
    assert recent == ["PG_TXN_20250226.csv", "PG_TXN_20250227.csv", "PG_TXN_20250228.csv"]
    # The sandbox's own seeding writes the same recent files, and the demo has one connector for
    # each provider those files are for.
    seeded = {p.name for p in seed_days(tmp_path / "other", today)}
    assert seeded == {p.name for p in tmp_path.glob("*_2025022[678].*") if p.suffix != ".sha256"}
    assert len(seeded) == 15
    assert DEMO_PROVIDERS == ("AXIS", "BOB", "HDFC", "ICICI", "PG")


def test_outcome_counts_read_the_job_summary() -> None:
    summary = {"outcomes": {"MATCHED": {"count": 46, "paise": 10}, "MISSING_IN_PG": 1}}
    assert outcome_counts(summary) == {"MATCHED": 46, "MISSING_IN_PG": 1}
    assert outcome_counts(None) == {}
    assert outcome_counts({"outcomes": None}) == {}


def test_a_day_line_sums_the_providers_and_leaves_out_zero_outcomes() -> None:
    jobs = {
        "AXIS": _job("AXIS", MATCHED=46, AMOUNT_MISMATCH=1, FEE_MISMATCH=0),
        "BOB": _job("BOB", MATCHED=45, MATCHED_WITHIN_TOLERANCE=2, AMOUNT_MISMATCH=1),
    }
    assert day_line(DAY, jobs, ("AXIS", "BOB")) == (
        "2025-01-09 reconciled (AXIS, BOB COMPLETED): "
        "MATCHED 91, MATCHED_WITHIN_TOLERANCE 2, AMOUNT_MISMATCH 2"
    )


def test_a_day_not_fully_reconciled_says_which_provider_is_behind() -> None:
    jobs = {
        "AXIS": _job("AXIS", MATCHED=46),
        "BOB": _job("BOB", "FAILED", "The PG file is unreadable."),
        "HDFC": _job("HDFC", "RUNNING"),
    }
    assert day_line(DAY, jobs, ("AXIS", "BOB", "HDFC", "ICICI")) == (
        "2025-01-09 NOT fully reconciled (AXIS COMPLETED, BOB FAILED (The PG file is "
        "unreadable.), HDFC RUNNING, ICICI no job): MATCHED 46"
    )
    assert (
        day_line(DAY, {}, ("AXIS",)) == "2025-01-09 NOT fully reconciled (AXIS no job): no outcomes"
    )


@pytest.mark.parametrize(
    ("statuses", "settled"),
    [
        ({"AXIS": "COMPLETED", "BOB": "FAILED"}, True),
        ({"AXIS": "COMPLETED", "BOB": "RUNNING"}, False),
        ({"AXIS": "COMPLETED", "BOB": "PENDING"}, False),
        ({"AXIS": "COMPLETED"}, False),
    ],
)
def test_a_day_is_settled_when_every_provider_has_a_finished_job(
    statuses: dict[str, str], settled: bool
) -> None:
    jobs = {p: _job(p, s) for p, s in statuses.items()}
    assert is_settled(jobs, ("AXIS", "BOB")) is settled


def test_listen_socket_port_zero_gets_a_free_port_and_a_taken_port_fails() -> None:
    with listen_socket("127.0.0.1", 0) as first:
        port = first.getsockname()[1]
        assert port > 0
        first.listen()
        with pytest.raises(OSError, match="in use"):
            listen_socket("127.0.0.1", port)
    with socket.socket() as probe:  # the failed attempt closed its socket; the port is free again
        probe.bind(("127.0.0.1", port))
