"""Backoff bounds, jitter, saturation and which errors are retried."""

from __future__ import annotations

import random

import pytest

from bankfeeds.connectors.retry import RetryPolicy, validate_retry


def test_ceilings_double_then_saturate() -> None:
    policy = RetryPolicy()
    assert [policy.ceiling(n) for n in range(1, 8)] == [60, 120, 240, 480, 960, 1800, 1800]


def test_no_overflow_for_huge_attempts() -> None:
    policy = RetryPolicy(base_seconds=60, factor=10, max_seconds=3600)
    assert policy.ceiling(10**9) == 3600
    assert RetryPolicy(factor=1).ceiling(50) == 60


@pytest.mark.parametrize("attempt", [1, 2, 3, 6, 40])
def test_full_jitter_stays_within_bounds(attempt: int) -> None:
    policy, rng = RetryPolicy(), random.Random(attempt)
    delays = [policy.delay(attempt, rng) for _ in range(2000)]
    assert all(0 <= d <= policy.ceiling(attempt) for d in delays)
    # Full jitter spreads over the whole range, not a narrow band around the ceiling.
    assert min(delays) < 0.1 * policy.ceiling(attempt)
    assert max(delays) > 0.9 * policy.ceiling(attempt)


def test_should_retry() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(1, "source-unreachable")
    assert policy.should_retry(2, "transfer-failed")
    assert not policy.should_retry(3, "source-unreachable")
    for code in ("authentication-failed", "host-key-mismatch", "checksum-mismatch"):
        assert not policy.should_retry(1, code)


def test_from_config_and_validation() -> None:
    policy = RetryPolicy.from_config({"maxAttempts": 2, "baseSeconds": 5})
    assert (policy.max_attempts, policy.base_seconds, policy.factor) == (2, 5.0, 2.0)
    assert validate_retry({"maxAttempts": 3}) == []
    fields = {e.field for e in validate_retry({"maxAttempts": 0, "speed": 1, "factor": "x"})}
    assert fields == {"config.retry.maxAttempts", "config.retry.speed", "config.retry.factor"}
    assert validate_retry([1])[0].field == "config.retry"
