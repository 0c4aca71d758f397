"""Fixtures for the SFTP tests: the same test against the sandbox and against OpenSSH."""

from tests.support.sshd import sshd
from tests.support.targets import Target, target

__all__ = ["Target", "sshd", "target"]
