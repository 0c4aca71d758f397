"""What a run would refuse is refused when the connector is saved: a 422 naming the field.

Each body below was saved (201) before, then failed or retried at run time, or gave a 500.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.conftest import Live

API = {"baseUrl": "https://api.bank.example", "endpoint": "/v1/settlements"}
SFTP = {
    "host": "sftp.bank.example",
    "username": "merchant",
    "password": "pw-1234",
    "remotePath": "/out",
}

CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("API", {"headers": {"Host": "evil.example"}}, "config.headers.Host", "frames or routes"),
    ("API", {"headers": {"Transfer-Encoding": "chunked"}}, "config.headers.Transfer-Encoding", ""),
    ("API", {"headers": {"Proxy-Authorization": "x"}}, "config.headers.Proxy-Authorization", ""),
    ("API", {"headers": {"Bad Name": "x"}}, "config.headers.Bad Name", "header name"),
    ("API", {"headers": {"X-A": "1\r\nX-Evil: 1"}}, "config.headers.X-A", "control characters"),
    (
        "API",
        {"authType": "bearer", "token": "t-123456", "headers": {"Authorization": "Bearer x"}},
        "config.headers.Authorization",
        "authType",
    ),
    (
        "API",
        {"authType": "apiKey", "apiKey": "k-123456", "apiKeyHeader": "Content-Length"},
        "config.apiKeyHeader",
        "frames or routes",
    ),
    ("API", {"endpoint": "/../x"}, "config.endpoint", ". or .."),
    ("API", {"endpoint": "/v1/./x"}, "config.endpoint", ". or .."),
    ("API", {"endpoint": "/v1/%2e%2e/admin"}, "config.endpoint", ". or .."),
    ("API", {"endpoint": "/v1/%252E%252E/admin"}, "config.endpoint", ". or .."),
    ("API", {"endpoint": "//evil.example/x"}, "config.endpoint", "without a scheme or host"),
    ("API", {"endpoint": "/v1/{nope}"}, "config.endpoint", "unknown token"),
    ("API", {"endpoint": "/" + "a" * 2000}, "config.endpoint", "at most 2000"),
    (
        "API",
        {"authType": "bearer", "token": "tok-line\nX-Evil: 1"},
        "config.token",
        "must not contain control characters such as line breaks",
    ),
    (
        "API",
        {"authType": "apiKey", "apiKey": "key\x1b[2Jdel\x7f"},
        "config.apiKey",
        "control characters",
    ),
    (
        "API",
        {"authType": "basic", "username": "u", "password": "pa\rss"},
        "config.password",
        "control characters",
    ),
    ("API", {"headers": {f"X-H{i}": "v" for i in range(51)}}, "config.headers", "at most 50"),
    ("API", {"queryParams": {f"q{i}": "v" for i in range(51)}}, "config.queryParams", "50"),
    ("API", {"headers": {"X-Long": "v" * 4097}}, "config.headers.X-Long", "4096"),
    ("SFTP", {"schedule": "0 19 * * *" + " " * 10 + "1" * 200}, "config.schedule", "200"),
    ("SFTP", {"schedule": "1" * 100_000}, "config.schedule", "at most 200"),
    ("SFTP", {"remotePath": "/" + "a" * 900_000}, "config.remotePath", "at most 1024"),
    ("SFTP", {"filePattern": "A" * 256}, "config.filePattern", "at most 255"),
    ("SFTP", {"passphrase": "p\nq", "password": None}, "config.passphrase", "control"),
]


@pytest.mark.parametrize(("ctype", "config", "field", "says"), CASES)
def test_bad_config_is_refused_at_save_naming_the_field(
    live: Live, ctype: str, config: dict[str, Any], field: str, says: str
) -> None:
    base = API if ctype == "API" else SFTP
    merged = {k: v for k, v in {**base, **config}.items() if v is not None}
    body = {"name": "X", "type": ctype, "provider": "HDFC", "config": merged}
    answer = live.client("admin").post("/ops/connectors", json=body)
    assert answer.status_code == 422, answer.text
    messages = [e["message"] for e in answer.json()["errors"] if e["field"] == field]
    assert messages, answer.text
    assert any(says in m for m in messages), messages


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"token": "new\nline"}, "config.token"),
        ({"headers": {"Connection": "close"}}, "config.headers.Connection"),
        ({"endpoint": "/x/%2E%2E/y"}, "config.endpoint"),
        ({"schedule": "5" * 100_000}, "config.schedule"),
    ],
)
def test_bad_patches_are_refused_naming_the_field(
    live: Live, patch: dict[str, Any], field: str
) -> None:
    admin = live.client("admin")
    config = {**API, "authType": "bearer", "token": "tok-good-123"}
    created = admin.post(
        "/ops/connectors",
        json={"name": "HDFC API", "type": "API", "provider": "HDFC", "config": config},
    )
    assert created.status_code == 201, created.text
    answer = admin.patch(f"/ops/connectors/{created.json()['id']}", json={"config": patch})
    assert answer.status_code == 422, answer.text
    assert field in {e["field"] for e in answer.json()["errors"]}
