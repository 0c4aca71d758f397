"""The boto3 boundary of the S3 object store: the client's settings and the error translation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from bankfeeds.core.errors import (
    ContentHashMismatch,
    ObjectNotFound,
    StorageAccessDenied,
    StorageError,
    StorageUnavailable,
)

if TYPE_CHECKING:  # the stubs are a dev dependency; at run time the client is untyped
    from mypy_boto3_s3 import S3Client

_NOT_FOUND: Final = frozenset({"404", "NoSuchKey", "NotFound"})
_DENIED: Final = frozenset(
    {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}
)
_BAD_CONTENT: Final = frozenset({"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"})


def make_client(region: str, endpoint_url: str | None = None) -> S3Client:
    """Build an S3 client with bounded timeouts and retries; credentials from the AWS chain."""
    config = Config(
        region_name=region,
        connect_timeout=5,
        read_timeout=60,
        retries={"max_attempts": 5, "mode": "standard"},
        # More than asyncio's default thread pool, so concurrent puts do not churn connections.
        max_pool_connections=32,
        # Custom endpoints (MinIO, moto, a proxy) rarely have per-bucket DNS names.
        s3={"addressing_style": "path" if endpoint_url else "auto"},
    )
    # A session of its own: boto3's default session is shared module state, not thread-safe.
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url, config=config)


def error_code(exc: ClientError) -> str:
    """The S3 error code (``NoSuchKey``; a bare status such as ``404`` for HEAD requests)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def precondition_failed(exc: ClientError) -> bool:
    """Whether S3 refused a conditional write because the object exists (412)."""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 412 or error_code(exc) == "PreconditionFailed"


def s3_error(action: str, exc: BotoCoreError | ClientError) -> StorageError:
    """Translate a botocore error into ours, as one sentence saying what could not be done."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message") or "no message"
        text = f"Could not {action}: S3 answered {code}: {message.rstrip('.')}."
        if code in _NOT_FOUND:
            return ObjectNotFound(f"Could not {action}: there is no such object.")
        if code in _DENIED:
            return StorageAccessDenied(text)
        if code in _BAD_CONTENT:
            return ContentHashMismatch(text)
        return StorageError(text)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return StorageAccessDenied(
            f"Could not {action}: no AWS credentials were found "
            "(set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the host a role)."
        )
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return StorageUnavailable(f"Could not {action}: {exc}.")
    return StorageError(f"Could not {action}: {exc}.")


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    """Raise botocore errors inside the block as ours, saying what could not be done."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise s3_error(action, exc) from exc
