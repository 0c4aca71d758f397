"""Login throttling: after too many failed logins, a user name or client address must wait.

Failures are counted in a sliding window per user name (5 in 5 minutes) and per client address
(20 in 5 minutes, so one address cannot try a few passwords on each of many users). While either
count is at its limit every attempt is refused, even one with the right password, so the answer
never tells a guesser they found it. A successful login clears its user name's count; the
address's count is kept, or an attacker with one working login could reset it between guesses.

The counts live in this process's memory, which is right for one server (``bankfeeds serve``);
several API processes behind a load balancer each keep their own, multiplying the allowance.
The address is the TCP peer's, so behind a reverse proxy run uvicorn with ``--proxy-headers``.
The clock is an argument to every call, so the rules are tested without waiting.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``failures`` failed logins within ``window``."""

    failures: int
    window: timedelta


PER_USER = Limit(5, timedelta(minutes=5))
PER_ADDRESS = Limit(20, timedelta(minutes=5))
#: Beyond this many tracked names and addresses the oldest are forgotten, bounding memory.
MAX_KEYS = 10_000

_Key = tuple[str, str]


class LoginThrottle:
    """Failed-login counts per user name and client address, and how long each must wait."""

    def __init__(
        self,
        per_user: Limit = PER_USER,
        per_address: Limit = PER_ADDRESS,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.per_user = per_user
        self.per_address = per_address
        self.max_keys = max_keys
        self._failures: dict[_Key, deque[datetime]] = {}

    def _keys(self, user: str | None, address: str | None) -> list[tuple[_Key, Limit]]:
        keys: list[tuple[_Key, Limit]] = []
        if user and user.strip():
            # Case-folded: "Ada" and "ada" must share a count whatever the user table compares.
            keys.append((("user", user.strip().casefold()), self.per_user))
        if address:
            keys.append((("address", address), self.per_address))
        return keys

    def _recent(self, key: _Key, limit: Limit, now: datetime) -> deque[datetime]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - limit.window:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times

    def retry_after(self, *, user: str | None, address: str | None, now: datetime) -> int | None:
        """Seconds until a login for ``user`` from ``address`` may be tried, or None if now."""
        wait = 0.0
        for key, limit in self._keys(user, address):
            times = self._recent(key, limit, now)
            if len(times) >= limit.failures:
                # Free again once the oldest failure that keeps the count at its limit ages out.
                oldest = times[len(times) - limit.failures]
                wait = max(wait, (oldest + limit.window - now).total_seconds())
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, *, user: str | None, address: str | None, now: datetime) -> None:
        """Count a failed login."""
        for key, limit in self._keys(user, address):
            times = self._recent(key, limit, now)
            times.append(now)
            self._failures[key] = times
        self._forget_oldest(now)

    def succeeded(self, *, user: str | None) -> None:
        """Clear ``user``'s failures after a successful login (the address's count stays)."""
        for key, _ in self._keys(user, None):
            self._failures.pop(key, None)

    def _forget_oldest(self, now: datetime) -> None:
        if len(self._failures) <= self.max_keys:
            return
        for key in list(self._failures):
            limit = self.per_user if key[0] == "user" else self.per_address
            self._recent(key, limit, now)
        # dict order is insertion order: drop the keys first seen longest ago.
        while len(self._failures) > self.max_keys:
            self._failures.pop(next(iter(self._failures)))
