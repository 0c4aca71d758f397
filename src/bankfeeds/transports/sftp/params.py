"""How to reach one SFTP server: what the client, its host-key gate and its errors all read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class SftpParams:
    """How to reach and log in to one SFTP server, and which host keys to trust."""

    host: str
    port: int
    username: str
    password: str | None = None
    private_key: str | None = None
    passphrase: str | None = None
    host_key_policy: Literal["accept-new", "strict"] = "strict"
    trusted_fingerprints: tuple[str, ...] = ()
    connect_timeout: float = 15
    read_timeout: float = 60
    max_files_in_flight: int = 8
    #: Hosts allowed to be loopback or private (BANKFEEDS_SFTP_ALLOW_HOSTS); with a set, the
    #: host is checked and its checked address connected to. None skips the check: only for a
    #: caller that picked the server itself (tests, the bench); connectors always pass a set.
    allow_hosts: frozenset[str] | None = None
