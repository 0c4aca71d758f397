"""A connector's health from its runs and its backlog; pure, clock passed in.

Inputs are the connector's runs (any order), its status, the cycle dates it has files for and the
cycle dates it was expected to have (see ``schedule.expected_cycle_dates``).

Definitions:

* an *outcome* is a run that ended ``SUCCESS``, ``PARTIAL`` or ``FAILED`` and has ``finished_at``;
  ``CANCELLED`` runs are an operator's choice and say nothing about the source, so they only count
  towards ``last_run_at``, like ``QUEUED`` and ``RUNNING`` runs;
* ``last_run_at``: the latest ``started_at`` of any run; ``last_success_at``: the latest
  ``finished_at`` of a ``SUCCESS`` run (a ``PARTIAL`` run lost files, so it is not a success);
* ``success_rate``: ``SUCCESS`` outcomes / all outcomes among the last ``window_runs`` (20)
  outcomes that finished within ``window`` (7 days) before ``now``; None when there are none.
  This is the only success rate: the WARNING rule, the API, the UI and the CLI all show this
  number, with ``success_rate_window`` ("last 20 runs in 7 days") as its label, and
  ``success_rate_runs`` says how many runs it counted; ``average_duration_ms`` is over the same
  runs;
* backlog: the expected dates with no received file, counted, and the oldest of them.

Status, first rule that applies:

1. ``PAUSED``: the connector is paused;
2. ``NEVER_RUN``: it has no outcome yet;
3. ``CRITICAL``: the last 3 outcomes all failed, or outcomes finished in the last 48 h and none of
   them was a success, or the backlog is 3 days or more;
4. ``WARNING``: the last outcome failed or was partial, the success rate is under 0.9, or the
   backlog is 1 day or more;
5. ``HEALTHY`` otherwise.

Every threshold is a keyword argument of :func:`compute_health`; ``reasons`` says which rules of
the chosen status fired.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, Literal

RunStatus = Literal["QUEUED", "RUNNING", "SUCCESS", "PARTIAL", "FAILED", "CANCELLED"]
ConnectorStatus = Literal["ACTIVE", "PAUSED"]
HealthStatus = Literal["HEALTHY", "WARNING", "CRITICAL", "NEVER_RUN", "PAUSED"]

_OUTCOMES: Final = frozenset({"SUCCESS", "PARTIAL", "FAILED"})


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """The parts of one run that health is computed from."""

    status: RunStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error_code: str | None = None
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Health:
    """A connector's health at one moment."""

    health_status: HealthStatus
    last_run_at: datetime | None
    last_success_at: datetime | None
    success_rate: float | None
    backlog_missing_days: int
    backlog_oldest_missing: date | None
    reasons: tuple[str, ...] = ()
    #: Mean duration of the runs the success rate counts, in milliseconds.
    average_duration_ms: float | None = None
    #: Which runs ``success_rate`` is over, for people: "last 20 runs in 7 days".
    success_rate_window: str = ""
    #: How many runs ``success_rate`` counted (0 when it is None).
    success_rate_runs: int = 0


def success_rate_window(window: timedelta, window_runs: int) -> str:
    """The label of the success rate's window: 'last 20 runs in 7 days'."""
    days, rest = divmod(window, timedelta(days=1))
    if not rest:
        span = f"{days} day{'s' if days != 1 else ''}"
    else:
        span = f"{window.total_seconds() / 3600:g} h"
    return f"last {window_runs} runs in {span}"


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{what} must be a time-zone-aware datetime, got naive {value.isoformat()}"
        )


def _outcomes(runs: Sequence[RunOutcome]) -> list[tuple[datetime, RunStatus]]:
    """Return (finished_at, status) of the outcome runs, newest first, checking every datetime."""
    found: list[tuple[datetime, RunStatus]] = []
    for run in runs:
        for what, value in (("started_at", run.started_at), ("finished_at", run.finished_at)):
            if value is not None:
                _require_aware(value, f"a run's {what}")
        if run.status in _OUTCOMES and run.finished_at is not None:
            found.append((run.finished_at, run.status))
    found.sort(key=lambda outcome: outcome[0], reverse=True)
    return found


def _rated(
    runs: Sequence[RunOutcome], now: datetime, window: timedelta, window_runs: int
) -> list[RunOutcome]:
    """The runs the success rate counts: the newest ``window_runs`` outcomes within ``window``."""
    # A window reaching past the first representable instant simply has no start.
    start = now - window if window < now - datetime.min.replace(tzinfo=now.tzinfo) else None
    done = [
        r
        for r in runs
        if r.status in _OUTCOMES
        and r.finished_at is not None
        and (start is None or r.finished_at > start)
    ]
    done.sort(key=lambda r: r.finished_at or now, reverse=True)
    return done[:window_runs]


def _success_rate(rated: Sequence[RunOutcome]) -> float | None:
    if not rated:
        return None
    return sum(r.status == "SUCCESS" for r in rated) / len(rated)


def _critical(
    outcomes: list[tuple[datetime, RunStatus]],
    missing: int,
    now: datetime,
    consecutive_failures: int,
    no_success_for: timedelta,
    backlog_days: int,
) -> list[str]:
    reasons: list[str] = []
    last = [status for _, status in outcomes[:consecutive_failures]]
    if len(last) == consecutive_failures and all(status == "FAILED" for status in last):
        reasons.append(f"the last {consecutive_failures} runs failed")
    recent = [status for at, status in outcomes if at > now - no_success_for]
    if recent and "SUCCESS" not in recent:
        hours = f"{no_success_for.total_seconds() / 3600:g}"
        reasons.append(f"no successful run in the last {hours} h")
    if missing >= backlog_days:
        reasons.append(f"{missing} expected days have no file")
    return reasons


def _warning(
    outcomes: list[tuple[datetime, RunStatus]],
    rate: float | None,
    rate_window: str,
    missing: int,
    min_rate: float,
    backlog_days: int,
) -> list[str]:
    reasons: list[str] = []
    if outcomes and outcomes[0][1] != "SUCCESS":
        reasons.append(f"the last run ended {outcomes[0][1]}")
    if rate is not None and rate < min_rate:
        reasons.append(f"success rate {rate:.0%} ({rate_window}) is below {min_rate:.0%}")
    if missing >= backlog_days:
        reasons.append(f"{missing} expected day(s) have no file")
    return reasons


def compute_health(
    *,
    runs: Sequence[RunOutcome],
    connector_status: ConnectorStatus,
    received_dates: Collection[date],
    expected_dates: Sequence[date],
    now: datetime,
    window: timedelta = timedelta(days=7),
    window_runs: int = 20,
    critical_consecutive_failures: int = 3,
    critical_no_success_for: timedelta = timedelta(hours=48),
    critical_backlog_days: int = 3,
    warning_success_rate: float = 0.9,
    warning_backlog_days: int = 1,
    unfixable: Collection[str] = frozenset(),
    critical_missing_cycles: int | None = None,
) -> Health:
    """Return the connector's health at ``now`` by the rules in this module's docstring.

    A last run that FAILED with an ``unfixable`` error code is CRITICAL; so is having no file
    for the ``critical_missing_cycles`` most recent expected cycle dates.
    """
    _require_aware(now, "now")
    outcomes = _outcomes(runs)
    missing = sorted(set(expected_dates) - set(received_dates))
    rated = _rated(runs, now, window, window_runs)
    rate = _success_rate(rated)
    critical = _critical(
        outcomes,
        len(missing),
        now,
        critical_consecutive_failures,
        critical_no_success_for,
        critical_backlog_days,
    )
    critical += _critical_extra(runs, outcomes, missing, expected_dates, unfixable,
                                critical_missing_cycles)  # fmt: skip
    label = success_rate_window(window, window_runs)
    warning = _warning(
        outcomes, rate, label, len(missing), warning_success_rate, warning_backlog_days
    )

    status: HealthStatus = "HEALTHY"
    reasons: list[str] = []
    if connector_status == "PAUSED":
        status, reasons = "PAUSED", ["the connector is paused"]
    elif not outcomes:
        status, reasons = "NEVER_RUN", ["no run has finished yet"]
    elif critical:
        status, reasons = "CRITICAL", critical
    elif warning:
        status, reasons = "WARNING", warning
    return Health(
        health_status=status,
        last_run_at=max((run.started_at for run in runs if run.started_at), default=None),
        last_success_at=max((at for at, s in outcomes if s == "SUCCESS"), default=None),
        success_rate=rate,
        backlog_missing_days=len(missing),
        backlog_oldest_missing=missing[0] if missing else None,
        reasons=tuple(reasons),
        average_duration_ms=_average_duration(rated),
        success_rate_window=label,
        success_rate_runs=len(rated),
    )


def _critical_extra(
    runs: Sequence[RunOutcome],
    outcomes: list[tuple[datetime, RunStatus]],
    missing: list[date],
    expected: Sequence[date],
    unfixable: Collection[str],
    missing_cycles: int | None,
) -> list[str]:
    reasons: list[str] = []
    finished = [r for r in runs if r.status in _OUTCOMES and r.finished_at is not None]
    last = max(finished, key=lambda r: r.finished_at or datetime.min, default=None)
    if last is not None and last.status == "FAILED" and last.error_code in unfixable:
        reasons.append(f"the last run failed with {last.error_code}, which retrying cannot fix")
    if missing_cycles and outcomes and len(expected) >= missing_cycles:
        latest = sorted(expected)[-missing_cycles:]
        if set(latest) <= set(missing):
            reasons.append(f"no file for the last {missing_cycles} expected cycles")
    return reasons


def _average_duration(rated: Sequence[RunOutcome]) -> float | None:
    """Mean duration of the runs the success rate counted."""
    durations = [r.duration_ms for r in rated if r.duration_ms is not None]
    return sum(durations) / len(durations) if durations else None
