"""Host-key policy and client-key loading for the SFTP adapter.

The decision on the server's key is made during key exchange, before any credentials are sent.
"""

from __future__ import annotations

import asyncssh

from bankfeeds.core.errors import HostKeyMismatch, HostKeyUntrusted, InvalidPrivateKey, SourceError
from bankfeeds.transports.sftp.params import SftpParams


def _same_fingerprint(a: str, b: str) -> bool:
    return a.strip().rstrip("=") == b.strip().rstrip("=")


class HostKeyGate(asyncssh.SSHClient):
    """Decides on the server's host key itself and remembers why it refused one."""

    def __init__(self, params: SftpParams) -> None:
        self.params = params
        self.fingerprint: str | None = None
        self.refusal: SourceError | None = None
        self.lost: Exception | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        """Accept the key if pinned, or if unpinned under accept-new."""
        seen = key.get_fingerprint("sha256")
        self.fingerprint = seen
        where = f"{self.params.host}:{self.params.port}"
        pinned = self.params.trusted_fingerprints
        if pinned:
            if any(_same_fingerprint(seen, p) for p in pinned):
                return True
            self.refusal = HostKeyMismatch(
                f"{where} presented host key {seen} but {', '.join(pinned)} is pinned; if the bank "
                "rotated its key, an admin must trust the new fingerprint.",
                fingerprint=seen,
            )
            return False
        if self.params.host_key_policy == "accept-new":
            return True
        self.refusal = HostKeyUntrusted(
            f"{where} presented host key {seen}, and the strict policy needs a pinned fingerprint; "
            "an admin must trust it first.",
            fingerprint=seen,
        )
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """Remember that the connection is gone, so other transfers stop early."""
        self.lost = exc or ConnectionError("connection closed")


def load_client_key(params: SftpParams) -> list[asyncssh.SSHKey] | None:
    """The connector's private key as asyncssh client keys, or None for password-only log-in."""
    if not params.private_key:
        return None
    try:
        return [asyncssh.import_private_key(params.private_key, params.passphrase)]
    except (asyncssh.KeyImportError, ValueError, TypeError) as exc:
        raise InvalidPrivateKey(
            f"The private key for {params.username}@{params.host} could not be read "
            f"(wrong passphrase, or not a PEM/OpenSSH key): {exc}."
        ) from exc
