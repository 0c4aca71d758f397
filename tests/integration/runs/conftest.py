"""Fixtures for the run-outcome tests: the sandbox and OpenSSH as the bank's server."""

from tests.support.sshd import sshd
from tests.support.targets import Target, target

__all__ = ["Target", "sshd", "target"]
