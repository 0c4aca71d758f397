"""Errors of the HTTP API source and its SSRF guard, each a sentence for an ops person."""

from __future__ import annotations

from bankfeeds.core.errors import SourceError


class UnsafeTarget(SourceError):
    """The API address is not one bankfeeds may connect to."""

    status = 422
    code = "unsafe-target"
    retryable = False


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
