"""The bankfeeds exception tree.

Adapters translate library errors into these (``raise ... from exc``); one API handler turns them
into RFC 9457 problem JSON and the CLI turns them into one sentence and a non-zero exit. Each
class's docstring is its default message, so ``raise NotFound()`` still says something useful.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field, addressed by a dotted path (``config.port``)."""

    field: str
    message: str


_BY_CODE: dict[str, type[BankfeedsError]] = {}


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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The first class to name a code owns it; a subclass that keeps its parent's code
        # (HostKeyError's kinds) does not change the parent's verdict.
        _BY_CODE.setdefault(cls.code, cls)


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


class UnsafeTarget(SourceError):
    """A bank's address (SFTP or API) is not one bankfeeds may connect to."""

    status = 422
    code = "unsafe-target"
    retryable = False


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


# --- bank APIs ------------------------------------------------------------------------------------


class ApiUnavailable(SourceError):
    """The bank's API did not answer usefully (a 5xx, a timeout or a lost connection)."""

    code = "api-unavailable"
    retryable = True

    def __init__(self, message: str | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        #: The status the API answered with, when it answered at all.
        self.http_status = http_status


class ApiRateLimited(ApiUnavailable):
    """The bank's API asked us to slow down for longer than we wait within one run."""

    code = "api-rate-limited"

    def __init__(self, message: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, http_status=429)
        #: Seconds the API asked us to wait, when it said.
        self.retry_after = retry_after


class ApiRefused(SourceError):
    """The bank's API refused the request (a 4xx answer)."""

    code = "api-refused"
    retryable = False

    def __init__(self, message: str | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        #: The status the API answered with.
        self.http_status = http_status


class ApiProtocolError(SourceError):
    """The bank's API answered in a way we cannot follow (redirect loops, endless pages)."""

    code = "api-protocol-error"
    retryable = False


class ResponseTooLarge(SourceError):
    """The API's response is larger than this connector allows."""

    code = "response-too-large"
    retryable = False


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


# --- raised by one capability, kept here so every code and its retry verdict is in one place --


class DatabaseUnavailable(BankfeedsError):
    """The database is not answering."""

    status = 503
    code = "database-unavailable"


class PgpFailed(BankfeedsError):
    """The PGP file could not be decrypted and verified; no plaintext was kept."""

    status = 422
    code = "pgp-failed"


class ArchiveRefused(BankfeedsError):
    """The compressed file is unsafe or unreadable and was not unpacked."""

    status = 422
    code = "archive-refused"


class TooManyFailures(BankfeedsError):
    """Too many failed logins; wait before trying again."""

    status = 429
    code = "too-many-failed-logins"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        #: Whole seconds until the next try is allowed.
        self.retry_after = retry_after


class NoLayout(ParseError):
    """The connector has no layout to read its files with."""

    code = "no-layout"


class CsrfRefused(Forbidden):
    """The form's CSRF token is missing or wrong; reload the page and try again."""

    code = "csrf-refused"


class LoginRequired(Unauthorized):
    """Log in to use bankfeeds."""


class AlreadyRunning(Conflict):
    """The connector already has a run in progress."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"Connector already has a run in progress ({run_id}); wait for it.")
        self.run_id = run_id


class ConnectorPaused(Conflict):
    """The connector is paused."""


#: Error codes a later attempt cannot fix, so they need a person: every error that is not
#: retryable. The one source of truth for the retry policy, the RUN_FAILED exception and health.
#: Run outcome codes (``file-refused``, ``file-stale``...) are not errors: each bad file already
#: has its own exception, so a run that stored some files is not failed for them.
#: An unexpected crash (``internal-error``) is not among them: it may pass on a later attempt.
UNFIXABLE: frozenset[str] = frozenset(code for code, cls in _BY_CODE.items() if not cls.retryable)
