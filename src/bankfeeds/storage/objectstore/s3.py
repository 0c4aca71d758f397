"""The S3 object store: the ObjectStore contract on a bucket of AWS S3 or any S3-speaking server.

Keys are the same as the local store's. Two guarantees come from S3 itself: every upload carries
its SHA-256 (``ChecksumSHA256``, per part for multipart uploads) so S3 refuses bytes that changed
on the way, and every write is conditional (``If-None-Match: *``) so an existing object is never
overwritten and of several concurrent puts exactly one creates it (the others get 412). The store
also hashes the bytes it sends (unless the caller already did) and refuses a mismatch before
anything becomes visible, because some S3-speaking servers (moto) do not verify checksums.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from bankfeeds.core.errors import ObjectNotFound, StorageError
from bankfeeds.storage.objectstore.s3_client import (
    make_client,
    precondition_failed,
    s3_error,
    translated,
)
from bankfeeds.storage.objectstore.store import (
    StoredObject,
    check_key,
    content_mismatch,
    key_for,
    quarantine_key,
    storage_error,
)

if TYPE_CHECKING:  # the stubs are a dev dependency; at run time the client is untyped
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

log = logging.getLogger(__name__)

_MIB: Final = 1 << 20
#: S3 refuses parts smaller than this, except the last.
MIN_PART_SIZE: Final = 5 * _MIB
#: A file that fits in one part is one PUT; larger ones go up in parts of this size. At most one
#: part is held in memory per put, and the bytes hashed are exactly the bytes sent.
DEFAULT_PART_SIZE: Final = 16 * _MIB


def _read(source: IO[bytes], staged: Path, size: int) -> bytes:
    try:
        return source.read(size)
    except OSError as exc:
        raise storage_error(f"read {staged}", exc) from exc


def _parts(source: IO[bytes], staged: Path, first: bytes, size: int) -> Iterator[bytes]:
    data = first
    while data:
        yield data
        data = _read(source, staged, size)


def _b64_sha256(data: bytes) -> str:
    return _b64(hashlib.sha256(data).digest())


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class S3ObjectStore:
    """Objects in an S3 bucket, uploaded with their SHA-256 and never overwritten."""

    def __init__(
        self,
        bucket: str,
        region: str,
        endpoint_url: str | None = None,
        *,
        client: S3Client | None = None,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes, not {part_size}")
        self.bucket = bucket
        self.part_size = part_size
        self.client = client or make_client(region, endpoint_url)

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    async def put_file(self, staged: Path, sha256: str, *, hashed: bool = False) -> StoredObject:
        """Upload ``staged`` as ``key_for(sha256)`` unless it is there.

        ``hashed=True`` skips the store's own whole-file hash; S3 still verifies the checksum.
        """
        return await asyncio.to_thread(self._put, staged, sha256, key_for(sha256), hashed)

    async def put_quarantine(self, staged: Path, sha256: str, name: str) -> str:
        """Upload ``staged`` (whose actual hash is ``sha256``) to quarantine; return its key."""
        key = quarantine_key(sha256, name)
        await asyncio.to_thread(self._put, staged, sha256, key, False)
        return key

    def _put(self, staged: Path, sha256: str, key: str, hashed: bool) -> StoredObject:
        try:
            source = staged.open("rb")
        except OSError as exc:
            raise storage_error(f"read {staged}", exc) from exc
        with source:
            first = _read(source, staged, self.part_size)
            if len(first) < self.part_size:
                return self._put_single(staged, first, sha256, key, hashed)
            return self._put_multipart(staged, source, first, sha256, key, hashed)

    def _put_single(
        self, staged: Path, data: bytes, sha256: str, key: str, hashed: bool
    ) -> StoredObject:
        if not hashed and (actual := hashlib.sha256(data).hexdigest()) != sha256:
            raise content_mismatch(staged, sha256, actual)
        checksum = _b64(bytes.fromhex(sha256))
        created = self._create(
            f"store {staged} as {self._where(key)}",
            lambda: self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
                IfNoneMatch="*",
            ),
        )
        return self._stored(key, len(data), created)

    def _put_multipart(
        self, staged: Path, source: IO[bytes], first: bytes, sha256: str, key: str, hashed: bool
    ) -> StoredObject:
        action = f"store {staged} as {self._where(key)}"
        with translated(action):
            upload = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=key, ChecksumAlgorithm="SHA256"
            )
        upload_id = upload["UploadId"]
        digest = None if hashed else hashlib.sha256()
        parts: list[CompletedPartTypeDef] = []
        size = 0
        try:
            for number, data in enumerate(_parts(source, staged, first, self.part_size), start=1):
                if digest is not None:
                    digest.update(data)
                parts.append(self._upload_part(action, key, upload_id, number, data))
                size += len(data)
            if digest is not None and (actual := digest.hexdigest()) != sha256:
                raise content_mismatch(staged, sha256, actual)
            created = self._create(
                action,
                lambda: self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                    IfNoneMatch="*",
                ),
            )
        except BaseException:
            self._abort(key, upload_id)
            raise
        if not created:  # a refused completion leaves the upload open, holding its parts
            self._abort(key, upload_id)
        return self._stored(key, size, created)

    def _upload_part(
        self, action: str, key: str, upload_id: str, number: int, data: bytes
    ) -> CompletedPartTypeDef:
        checksum = _b64_sha256(data)
        with translated(action):
            answer = self.client.upload_part(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=data,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
            )
        return {"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": checksum}

    def _create(self, action: str, write: Callable[[], object]) -> bool:
        """Run a conditional write; False when the object already exists (412)."""
        try:
            write()
        except ClientError as exc:
            if precondition_failed(exc):
                return False
            raise s3_error(action, exc) from exc
        except BotoCoreError as exc:
            raise s3_error(action, exc) from exc
        return True

    def _stored(self, key: str, size: int, created: bool) -> StoredObject:
        if not created and (stored := self._size(key)) != size:
            raise StorageError(
                f"The object {self._where(key)} already exists with {stored} bytes, not {size}; "
                "it may be damaged, or it was deleted while this put ran."
            )
        return StoredObject(key=key, size=size, created=created)

    def _abort(self, key: str, upload_id: str) -> None:
        # Best effort: a leftover upload only costs storage, and a bucket lifecycle rule
        # (AbortIncompleteMultipartUpload) removes it; the original error matters more.
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except (BotoCoreError, ClientError) as exc:
            log.warning("Could not abort the multipart upload of %s: %s", self._where(key), exc)

    def _size(self, key: str) -> int | None:
        with suppress(ObjectNotFound), translated(f"read {self._where(key)}"):
            return self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        return None

    def _get(self, key: str) -> bytes:
        with translated(f"read {self._where(key)}"):
            # ChecksumMode: botocore checks the bytes against the stored SHA-256 as it reads.
            answer = self.client.get_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
            with closing(answer["Body"]) as body:
                return body.read()

    def _delete(self, key: str) -> None:
        with translated(f"delete {self._where(key)}"):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def _list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        with translated(f"list {self._where(prefix)}"):
            pages = self.client.get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []) if "Key" in item)
        return sorted(keys)

    async def exists(self, key: str) -> bool:
        """Return whether an object is stored under ``key``."""
        return await asyncio.to_thread(self._size, check_key(key)) is not None

    async def size(self, key: str) -> int | None:
        """Return the object's size in bytes, or None if there is none."""
        return await asyncio.to_thread(self._size, check_key(key))

    async def read_bytes(self, key: str) -> bytes:
        """Return the object's bytes; ObjectNotFound if there is none."""
        return await asyncio.to_thread(self._get, check_key(key))

    async def delete(self, key: str) -> None:
        """Remove the object if it exists (tests and admin only)."""
        await asyncio.to_thread(self._delete, check_key(key))

    async def list_keys(self, prefix: str = "") -> list[str]:
        """Return the sorted keys that start with ``prefix``."""
        return await asyncio.to_thread(self._list, prefix)
