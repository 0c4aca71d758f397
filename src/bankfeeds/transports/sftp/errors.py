"""Translation of asyncssh and socket errors into ours, each as a sentence for an ops person."""

from __future__ import annotations

import socket

import asyncssh

from bankfeeds.core.errors import (
    AuthenticationFailed,
    HostKeyUntrusted,
    NoSuchPath,
    SourceError,
    SourcePermissionDenied,
    SourceTimeout,
    SourceUnreachable,
    TransferFailed,
)
from bankfeeds.transports.sftp.params import SftpParams


def connect_error(
    exc: BaseException, refusal: SourceError | None, params: SftpParams
) -> SourceError:
    """Our error for a failed connect, log-in or host-key check."""
    where = f"{params.host}:{params.port}"
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return refusal or HostKeyUntrusted(f"{where} presented a host key we cannot use.")
    if isinstance(exc, asyncssh.PermissionDenied):
        return AuthenticationFailed(
            f"{where} refused to log in {params.username}; check the password or key."
        )
    if isinstance(exc, TimeoutError):
        return SourceTimeout(
            f"{where} did not complete the SSH login within {params.connect_timeout:g} s."
        )
    if isinstance(exc, socket.gaierror):
        return SourceUnreachable(f"The host name {params.host} could not be resolved.")
    if isinstance(exc, asyncssh.DisconnectError):
        return SourceUnreachable(f"{where} closed the connection during the SSH handshake: {exc}.")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return SourceUnreachable(f"Could not connect to {where}: {reason}.")


def transfer_error(exc: BaseException, path: str, params: SftpParams) -> SourceError:
    """Our error for a failed SFTP operation on ``path`` (a lost connection is TransferFailed)."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, asyncssh.SFTPNoSuchFile):
        return NoSuchPath(f"{path} does not exist on {params.host}.")
    if isinstance(exc, asyncssh.SFTPPermissionDenied):
        return SourcePermissionDenied(f"{params.host} refused access to {path}.")
    if isinstance(exc, TimeoutError):
        return SourceTimeout(
            f"{params.host} sent nothing for {params.read_timeout:g} s while reading {path}."
        )
    return TransferFailed(f"The transfer of {path} from {params.host} broke off: {exc}.")
