"""Fixtures for the fault-injection suite."""

from __future__ import annotations

from tests.support.sshd import sshd
from tests.support.targets import Target, target

__all__ = ["Target", "sshd", "target"]
