"""The bankfeeds exception tree.

Adapters translate library errors into these (``raise ... from exc``); one API handler turns them
into RFC 9457 problem JSON and the CLI turns them into one sentence and a non-zero exit. Each
class's docstring is its default message, so ``raise NotFound()`` still says something useful.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field, addressed by a dotted path (``config.port``)."""

    field: str
    message: str


class BankfeedsError(Exception):
    """Something went wrong in bankfeeds."""

    #: HTTP status the API answers with.
    status: int = 500
    #: Short, stable identifier used in the problem JSON ``type``.
    code: str = "internal-error"
    #: Whether running the same thing again later could succeed.
    retryable: bool = False

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__class__.__doc__ or "").strip().splitlines()[0]
        super().__init__(self.message)


# --- configuration -------------------------------------------------------------------------------


class ConfigError(BankfeedsError):
    """The configuration is invalid."""

    code = "invalid-configuration"


# --- client input and resources ------------------------------------------------------------------


class ValidationFailed(BankfeedsError):
    """The request is invalid."""

    status = 422
    code = "validation-failed"

    def __init__(self, message: str | None = None, errors: list[FieldError] | None = None) -> None:
        self.errors = errors or []
        if message is None and self.errors:
            message = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        super().__init__(message)


class BadRequest(BankfeedsError):
    """The request could not be read."""

    status = 400
    code = "bad-request"


class PayloadTooLarge(BankfeedsError):
    """The request body is larger than allowed."""

    status = 413
    code = "payload-too-large"


class NotFound(BankfeedsError):
    """No such resource."""

    status = 404
    code = "not-found"


class Conflict(BankfeedsError):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"


class Unauthorized(BankfeedsError):
    """A valid API token is required."""

    status = 401
    code = "unauthorized"


class Forbidden(BankfeedsError):
    """Your role does not allow this action."""

    status = 403
    code = "forbidden"


# --- secrets -------------------------------------------------------------------------------------


class SecretsError(BankfeedsError):
    """Stored secrets could not be decrypted with the configured keys."""

    code = "secrets-error"


# --- sources (SFTP, HTTP) ------------------------------------------------------------------------


class SourceError(BankfeedsError):
    """The source could not be read."""

    status = 502
    code = "source-error"
    retryable = True


class SourceUnreachable(SourceError):
    """The server could not be reached."""

    code = "source-unreachable"


class SourceTimeout(SourceError):
    """The server did not answer in time."""

    code = "source-timeout"


class AuthenticationFailed(SourceError):
    """The server refused the credentials."""

    code = "authentication-failed"
    retryable = False


class HostKeyError(SourceError):
    """The server's host key was refused."""

    retryable = False

    def __init__(self, message: str | None = None, fingerprint: str | None = None) -> None:
        super().__init__(message)
        #: The key the server presented, so an operator can compare and trust it.
        self.fingerprint = fingerprint


class HostKeyMismatch(HostKeyError):
    """The server's host key does not match the pinned key."""

    code = "host-key-mismatch"
    retryable = False


class HostKeyUntrusted(HostKeyError):
    """The server's host key is not trusted for this connector."""

    code = "host-key-untrusted"
    retryable = False


class SourcePermissionDenied(SourceError):
    """The server refused access to the path."""

    code = "permission-denied"
    retryable = False


class NoSuchPath(SourceError):
    """The path does not exist on the server."""

    code = "no-such-path"
    retryable = False


class TransferFailed(SourceError):
    """The transfer was interrupted."""

    code = "transfer-failed"


# --- files ---------------------------------------------------------------------------------------


class ChecksumMismatch(BankfeedsError):
    """The file's SHA-256 does not match its sidecar."""

    status = 422
    code = "checksum-mismatch"


class StorageError(BankfeedsError):
    """The object store could not complete the operation."""

    code = "storage-error"
    retryable = True


# --- source additions (SFTP adapter) -------------------------------------------------------------


class InvalidPrivateKey(AuthenticationFailed):
    """The connector's private key could not be read (wrong passphrase or unknown format)."""

    code = "invalid-private-key"


class RemoteFileTooLarge(SourceError):
    """The remote file is larger than this operation allows."""

    code = "remote-file-too-large"
    retryable = False


# --- parsing -------------------------------------------------------------------------------------


class ParseError(BankfeedsError):
    """The file could not be parsed with its provider layout."""

    status = 422
    code = "parse-error"


class LayoutMismatch(ParseError):
    """The file's header does not match its provider layout."""

    code = "layout-mismatch"


class TrailerMismatch(ParseError):
    """The file's trailer disagrees with its rows: the file looks truncated or padded."""

    code = "trailer-mismatch"


# --- object store --------------------------------------------------------------------------------


class ObjectNotFound(StorageError):
    """The object does not exist in the object store."""

    code = "object-not-found"
    retryable = False


class ContentHashMismatch(StorageError):
    """The bytes given to the object store do not have the SHA-256 they were stored under."""

    code = "content-hash-mismatch"
    retryable = False


# --- alerts --------------------------------------------------------------------------------------


class WebhookFailed(BankfeedsError):
    """The alert webhook did not accept the alert."""

    status = 502
    code = "webhook-failed"
    retryable = True


# --- object store additions (S3 adapter) ---------------------------------------------------------


class StorageUnavailable(StorageError):
    """The object store could not be reached or did not answer in time."""

    code = "storage-unavailable"


class StorageAccessDenied(StorageError):
    """The object store refused the credentials or the request."""

    code = "storage-access-denied"
    retryable = False
