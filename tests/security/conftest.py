"""Fixtures for the security suite: the live API with a token per role, and the SFTP targets."""

from tests.integration.api.conftest import Live, admin, live
from tests.support.sshd import sshd
from tests.support.targets import Target, target

__all__ = ["Live", "Target", "admin", "live", "sshd", "target"]
