"""Login back-off rules: how long a (user, address) or an address must wait after failures.

Nothing here locks an account. A few failures are free; after that each failure doubles the wait
before the next try, up to a cap, and a quiet spell forgets them. The keys are chosen by the
caller so that an attacker's failures only ever slow the attacker's own address.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Backoff:
    """``free`` failures are free; then waits of ``first``, doubling, up to ``cap``."""

    free: int
    first: timedelta
    cap: timedelta
    #: Failures older than this (counted from the latest) are forgotten.
    forget: timedelta

    def wait(self, failures: int) -> timedelta:
        """How long to wait after the ``failures``-th failure in a row."""
        if failures < self.free:
            return timedelta(0)
        # The exponent is bounded so a huge count cannot build a huge integer; the cap wins anyway.
        doublings = min(failures - self.free, 40)
        return min(self.cap, self.first * (1 << doublings))

    def still_counts(self, last_failed_at: datetime, now: datetime) -> bool:
        """Whether failures whose latest was at ``last_failed_at`` still count at ``now``."""
        return now - last_failed_at < self.forget


#: One user name from one address: a typo or two is free, a guesser slows down quickly.
PER_USER_ADDRESS = Backoff(
    free=5, first=timedelta(seconds=1), cap=timedelta(minutes=15), forget=timedelta(hours=1)
)
#: One address across all names: a much higher ceiling, so one office behind NAT is not slowed.
PER_ADDRESS = Backoff(
    free=100, first=timedelta(seconds=1), cap=timedelta(minutes=15), forget=timedelta(hours=1)
)


def failures_after(
    previous: int, last_failed_at: datetime | None, rule: Backoff, now: datetime
) -> int:
    """The failure count once one more failure at ``now`` is added to ``previous``."""
    if last_failed_at is None or not rule.still_counts(last_failed_at, now):
        return 1
    return previous + 1


def retry_after(next_allowed_at: datetime | None, now: datetime) -> int | None:
    """Whole seconds until a try is allowed again, or None when it is allowed now."""
    if next_allowed_at is None or next_allowed_at <= now:
        return None
    return max(1, math.ceil((next_allowed_at - now).total_seconds()))
