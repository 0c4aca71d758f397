"""Crash points for fault-injection tests: a process told to die at a named point dies there.

The reliability suite kills a worker between two durable steps (object stored, row committed,
recon triggered) to prove that recovery neither loses nor duplicates anything. In production no
point is armed, so each call is a dictionary lookup.
"""

from __future__ import annotations

import os
import signal

#: The environment variable a test sets on a worker process: a comma-separated list of points.
ENV_VAR = "BANKFEEDS_CRASH_AT"
POINTS = frozenset({"after-put", "after-commit", "after-download"})

_armed: frozenset[str] | None = None


def _points() -> frozenset[str]:
    global _armed
    if _armed is None:
        raw = os.environ.get(ENV_VAR, "")
        _armed = frozenset(p.strip() for p in raw.split(",") if p.strip()) & POINTS
    return _armed


def checkpoint(point: str) -> None:
    """Kill this process with SIGKILL if a test armed ``point``; otherwise do nothing."""
    if point in _points():
        os.kill(os.getpid(), signal.SIGKILL)
