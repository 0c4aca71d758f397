"""Fixtures for the bank-day scenarios: the sandbox and OpenSSH as the banks' servers."""

from tests.support.sshd import sshd
from tests.support.targets import Target, target

__all__ = ["Target", "sshd", "target"]
