"""When a bank day's file is due: the cycle dates a connector should have delivered by now."""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bankfeeds.connectors.schedule import expected_by
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector

#: Health and the expectation monitor look back this far, so an old connector's history does
#: not grow without bound.
BACKLOG_HORIZON = timedelta(days=31)


@functools.lru_cache(maxsize=65536)
def _due(day: date, tz: str, cutoff: int, grace: int, lag: int) -> datetime:
    """``expected_by``, remembered: it depends on the day, not on the clock."""
    return expected_by(day, tz, cutoff, grace, lag_days=lag)


def _expected(
    tz: str, lag: int, cutoff: int, grace: int, since: datetime, now: datetime
) -> tuple[date, ...]:
    """Cycle dates due in ``(since, now]``, as ``schedule.expected_cycle_dates`` counts them."""
    # Built from cached due instants: ``now`` differs on every request, so caching whole answers
    # never hit, and the zone arithmetic of each due instant was a sixth of a 200-connector list.
    zone = ZoneInfo(tz)
    start = since.astimezone(zone).date() - timedelta(days=lag + 1)
    # A connector is not blamed for files that fell due before it existed.
    while _due(start, tz, cutoff, grace, lag) <= since:
        start += timedelta(days=1)
    latest = now.astimezone(zone).date()
    while _due(latest, tz, cutoff, grace, lag) > now:
        latest -= timedelta(days=1)
    return tuple(start + timedelta(days=n) for n in range((latest - start).days + 1))


#: File states that do not meet a day's expectation: the bank must send another file.
NOT_DELIVERED = ("QUARANTINED", "ERROR", "STALE")


def expected_dates(ctx: AppContext, row: Connector, since: datetime, now: datetime) -> list[date]:
    """Cycle dates whose file fell due after ``since`` and by ``now``.

    A ``yesterday`` connector fetches day D on D+1, so D's file is due at D+1's cutoff plus
    grace; the cutoff and grace are the connector's own when it sets them.
    """
    lag = 1 if row.target_cycle_rule == "yesterday" else 0
    cutoff = int(row.config.get("cutoffHour", ctx.settings.scheduler_cutoff_hour))
    grace = int(row.config.get("graceHours", ctx.settings.scheduler_grace_period_hours))
    return list(_expected(row.timezone, lag, cutoff, grace, since, now))
