"""A real S3-speaking server for integration tests: moto's server mode on 127.0.0.1.

Each test gets a bucket of its own, with versioning on: S3 then keeps every overwrite as a new
version, so "one version under the key" proves an object was never rewritten.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mypy_boto3_s3 import S3Client

from bankfeeds.storage.objectstore.s3_client import make_client
from tests.support.sshd import free_port

REGION = "us-east-1"
_AMBIENT = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)


class MotoS3:
    """moto's S3 server on a fixed loopback port, serving one request at a time, restartable.

    moto checks If-None-Match and then writes without a lock, so two concurrent puts can both
    succeed; S3 itself decides atomically. Serving requests in turn gives the tests S3's
    semantics, while the client still sends its puts concurrently. moto keeps its buckets in
    process-wide state, so a server started again on the same port serves the same objects: a
    store outage, not a lost store.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self._server: Any = None

    @property
    def endpoint(self) -> str:
        """The URL boto3 connects to."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen on the port (again)."""
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        class Serial(ThreadedMotoServer):
            def _server_entry(self) -> None:
                app = DomainDispatcherApplication(create_backend_app)
                self._server = make_server(
                    self._ip_address, self._port, app, False, request_handler=MotoRequestHandler
                )
                self._server_ready_event.set()
                self._server.serve_forever()

        self._server = Serial(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        """Stop serving and close the listening socket: connections are refused."""
        if self._server is not None:
            self._server.stop()
            self._server._server.server_close()
            self._server = None


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's S3 server on a free loopback port; yield its endpoint URL."""
    server = MotoS3()
    server.start()
    try:
        yield server.endpoint
    finally:
        server.stop()


def fake_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Give boto3 throwaway credentials from the environment and hide any real AWS setup."""
    for name in _AMBIENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    # No ~/.aws files and no instance metadata lookups: nothing but 127.0.0.1 is contacted.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def new_bucket(endpoint: str) -> tuple[str, S3Client]:
    """Create a fresh versioned bucket; return its name and a client for looking inside it."""
    client = make_client(REGION, endpoint)
    bucket = f"test-{uuid.uuid4().hex}"
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket, client


def raw_names(client: S3Client, bucket: str) -> list[str]:
    """Every object version and every unfinished multipart upload in ``bucket``, by key."""
    names: list[str] = []
    for versions in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        names.extend(v["Key"] for v in versions.get("Versions", []))
    for uploads in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        names.extend(u["Key"] for u in uploads.get("Uploads", []))
    return sorted(names)
