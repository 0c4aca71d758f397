"""What only the S3 store does, against moto's S3 server on 127.0.0.1.

The shared ObjectStore contract runs against S3 too, in test_objectstore.py; this module covers the
checksum and condition headers, multipart uploads, credentials, error translation and the choice
of store in AppContext.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from mypy_boto3_s3 import S3Client
from tests.support import moto_s3
from tests.support.staging import CONTENT, stage

from bankfeeds.core.config import load_settings
from bankfeeds.core.errors import (
    ContentHashMismatch,
    StorageAccessDenied,
    StorageError,
    StorageUnavailable,
)
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.objectstore.s3 import MIN_PART_SIZE, S3ObjectStore
from bankfeeds.storage.objectstore.store import LocalObjectStore, key_for
from bankfeeds.storage.secrets import generate_key

# Three parts at the smallest part size S3 allows: two full ones and a short last one.
LARGE = bytes(range(256)) * (2 * MIN_PART_SIZE // 256) + b"tail of the file"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_s3.moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[str, S3Client]:
    moto_s3.fake_credentials(monkeypatch, tmp_path)
    return moto_s3.new_bucket(moto_endpoint)


@pytest.fixture
def store(bucket: tuple[str, S3Client]) -> S3ObjectStore:
    name, client = bucket
    return S3ObjectStore(name, moto_s3.REGION, client=client)


def record_requests(client: S3Client, operation: str) -> list[dict[str, str]]:
    """Collect the headers of every ``operation`` request the client sends from now on."""
    sent: list[dict[str, str]] = []

    def hook(request: Any, **_: Any) -> None:
        headers = request.headers.items()
        sent.append({k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in headers})

    client.meta.events.register(f"before-send.s3.{operation}", hook)
    return sent


def raw(store: S3ObjectStore) -> list[str]:
    return moto_s3.raw_names(store.client, store.bucket)


async def test_upload_carries_sha256_and_if_none_match(
    store: S3ObjectStore, tmp_path: Path
) -> None:
    sent = record_requests(store.client, "PutObject")
    staged, sha = stage(tmp_path, CONTENT)
    stored = await store.put_file(staged, sha)
    expected = base64.b64encode(bytes.fromhex(sha)).decode()
    [headers] = sent
    assert headers["x-amz-checksum-sha256"] == expected
    assert headers["if-none-match"] == "*"
    head = store.client.head_object(Bucket=store.bucket, Key=stored.key, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == expected


@pytest.mark.parametrize("size", [len(CONTENT), len(LARGE)], ids=["single", "multipart"])
async def test_wrong_hash_is_refused_before_anything_is_visible(
    bucket: tuple[str, S3Client], tmp_path: Path, size: int
) -> None:
    store = S3ObjectStore(bucket[0], moto_s3.REGION, client=bucket[1], part_size=MIN_PART_SIZE)
    staged, _ = stage(tmp_path, LARGE[:size])
    claimed = hashlib.sha256(b"other bytes").hexdigest()
    with pytest.raises(ContentHashMismatch, match="SHA-256"):
        await store.put_file(staged, claimed)
    assert not await store.exists(key_for(claimed))
    assert raw(store) == [], "no object version and no unfinished multipart upload"


async def test_ten_concurrent_puts_never_overwrite(store: S3ObjectStore, tmp_path: Path) -> None:
    staged = [stage(tmp_path, CONTENT * 1_000, f"copy{n}.csv") for n in range(10)]
    results = await asyncio.gather(*(store.put_file(path, sha) for path, sha in staged))
    assert sum(r.created for r in results) == 1
    assert raw(store) == [key_for(staged[0][1])], "one version: the object was written once"


async def test_an_existing_object_is_never_replaced(store: S3ObjectStore, tmp_path: Path) -> None:
    staged, sha = stage(tmp_path, CONTENT)
    impostor = CONTENT.upper()  # same size, other bytes, written behind the store's back
    store.client.put_object(Bucket=store.bucket, Key=key_for(sha), Body=impostor)
    stored = await store.put_file(staged, sha)
    assert not stored.created
    assert await store.read_bytes(key_for(sha)) == impostor
    assert raw(store) == [key_for(sha)]


async def test_an_existing_object_of_another_size_is_reported(
    store: S3ObjectStore, tmp_path: Path
) -> None:
    staged, sha = stage(tmp_path, CONTENT)
    store.client.put_object(Bucket=store.bucket, Key=key_for(sha), Body=b"truncated")
    with pytest.raises(StorageError, match="already exists with 9 bytes"):
        await store.put_file(staged, sha)


async def test_large_file_goes_up_in_parts(bucket: tuple[str, S3Client], tmp_path: Path) -> None:
    store = S3ObjectStore(bucket[0], moto_s3.REGION, client=bucket[1], part_size=MIN_PART_SIZE)
    sent = record_requests(store.client, "UploadPart")
    completes = record_requests(store.client, "CompleteMultipartUpload")
    staged, sha = stage(tmp_path, LARGE)
    stored = await store.put_file(staged, sha)
    assert (stored.created, stored.size) == (True, len(LARGE))
    assert len(sent) == 3
    assert all("x-amz-checksum-sha256" in headers for headers in sent)
    assert completes[0]["if-none-match"] == "*"
    head = store.client.head_object(Bucket=store.bucket, Key=stored.key, PartNumber=1)
    assert head["PartsCount"] == 3
    assert await store.read_bytes(stored.key) == LARGE
    again = await store.put_file(staged, sha, hashed=True)
    assert not again.created
    assert raw(store) == [stored.key], "the refused second upload was aborted"


def test_parts_below_the_s3_minimum_are_refused(store: S3ObjectStore) -> None:
    with pytest.raises(ValueError, match="part_size"):
        S3ObjectStore(store.bucket, moto_s3.REGION, client=store.client, part_size=1 << 20)


async def test_credentials_come_from_the_environment(
    moto_endpoint: str, bucket: tuple[str, S3Client], tmp_path: Path
) -> None:
    store = S3ObjectStore(bucket[0], moto_s3.REGION, moto_endpoint)
    sent = record_requests(store.client, "PutObject")
    staged, sha = stage(tmp_path, CONTENT)
    assert (await store.put_file(staged, sha)).created
    assert "Credential=test/" in sent[0]["authorization"]


async def test_no_credentials_is_access_denied(
    moto_endpoint: str, bucket: tuple[str, S3Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = S3ObjectStore(bucket[0], moto_s3.REGION, moto_endpoint)
    with pytest.raises(StorageAccessDenied, match="no AWS credentials"):
        await store.list_keys()


async def test_missing_bucket_is_a_storage_error(moto_endpoint: str, store: S3ObjectStore) -> None:
    absent = S3ObjectStore("no-such-bucket", moto_s3.REGION, client=store.client)
    with pytest.raises(StorageError, match="NoSuchBucket"):
        await absent.list_keys()


async def test_unreachable_endpoint_is_unavailable(
    bucket: tuple[str, S3Client], unused_tcp_port: int
) -> None:
    import boto3

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{unused_tcp_port}",
        region_name=moto_s3.REGION,
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    store = S3ObjectStore(bucket[0], moto_s3.REGION, client=client)
    with pytest.raises(StorageUnavailable, match="Could not read"):
        await store.size(key_for("0" * 64))


@pytest.mark.parametrize("s3_bucket", [None, "configured"])
async def test_app_context_picks_s3_when_a_bucket_is_set(
    moto_endpoint: str,
    bucket: tuple[str, S3Client],
    tmp_path: Path,
    s3_bucket: str | None,
) -> None:
    settings = load_settings(
        BANKFEEDS_DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'test.db'}",
        BANKFEEDS_SECRET_KEY=generate_key(),
        S3_BUCKET=s3_bucket and bucket[0],
        S3_REGION="eu-west-1",
        S3_ENDPOINT=moto_endpoint,
        _env_file=None,
    )
    ctx = AppContext.build(settings)
    try:
        if s3_bucket is None:
            assert isinstance(ctx.store, LocalObjectStore)
            return
        assert isinstance(ctx.store, S3ObjectStore)
        assert ctx.store.client.meta.region_name == "eu-west-1"
        staged, sha = stage(tmp_path, CONTENT)
        assert (await ctx.store.put_file(staged, sha)).created
        assert raw(ctx.store) == [key_for(sha)]
    finally:
        await ctx.close()
