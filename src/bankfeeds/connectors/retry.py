"""Retry policy: exponential backoff with full jitter, and which errors are worth retrying."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from bankfeeds.core.errors import UNFIXABLE, FieldError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a failed run is tried again."""

    max_attempts: int = 5
    base_seconds: float = 60.0
    factor: float = 2.0
    max_seconds: float = 1800.0

    @classmethod
    def from_config(cls, raw: dict[str, Any] | None) -> RetryPolicy:
        """The policy in a connector's ``retry`` config, defaults for what is left out."""
        raw = raw or {}
        d = cls()
        return cls(
            max_attempts=int(raw.get("maxAttempts", d.max_attempts)),
            base_seconds=float(raw.get("baseSeconds", d.base_seconds)),
            factor=float(raw.get("factor", d.factor)),
            max_seconds=float(raw.get("maxSeconds", d.max_seconds)),
        )

    def ceiling(self, attempt: int) -> float:
        """The largest delay before attempt ``attempt + 1`` (attempt 1 is the first run).

        Computed in log space so a huge attempt number saturates at ``max_seconds`` instead of
        overflowing.
        """
        exponent = max(0, attempt - 1)
        if self.factor <= 1 or self.base_seconds <= 0:
            return min(self.max_seconds, self.base_seconds)
        log_delay = math.log(self.base_seconds) + exponent * math.log(self.factor)
        if log_delay >= math.log(self.max_seconds):
            return self.max_seconds
        return min(self.max_seconds, self.base_seconds * self.factor**exponent)

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniformly between zero and the ceiling (spreads retries of many runs)."""
        return rng.uniform(0.0, self.ceiling(attempt))

    def should_retry(self, attempt: int, error_code: str | None) -> bool:
        """Whether a run that failed at ``attempt`` with ``error_code`` gets another attempt."""
        return attempt < self.max_attempts and error_code not in UNFIXABLE


def validate_retry(raw: object) -> list[FieldError]:
    """Problems with a connector's ``retry`` object, with field paths."""
    if not isinstance(raw, dict):
        return [FieldError("config.retry", "must be an object")]
    errors = []
    bounds = {
        "maxAttempts": (1, 20),
        "baseSeconds": (1, 86400),
        "factor": (1, 10),
        "maxSeconds": (1, 7 * 86400),
    }
    for key, value in raw.items():
        if key not in bounds:
            errors.append(FieldError(f"config.retry.{key}", "is not a known field"))
            continue
        low, high = bounds[key]
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not low <= value <= high
        ):
            errors.append(
                FieldError(f"config.retry.{key}", f"must be a number from {low} to {high}")
            )
    return errors
