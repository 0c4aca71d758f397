"""schemathesis against the app's own OpenAPI spec, as admin: no 5xx, every response as declared.

Every operation gets a bounded, derandomised set of generated requests over real HTTP to the app
served on a loopback port. Failures are collected over all operations before the test fails, so
one run names every operation that breaks its contract. Also here: hostile file patterns are
refused at save with a 422 naming ``config.filePattern``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.support.db import SqliteTemplates
from tests.support.server import serve

from bankfeeds.access import tokens
from bankfeeds.core.config import Settings, load_settings
from bankfeeds.http.app import create_app
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.secrets import generate_key

Case = schemathesis.Case[Any]
Operation = schemathesis.APIOperation[Any, Any, Any, Any]


def problem_json(ctx: Any, response: schemathesis.Response, case: Case) -> None:
    """Every 4xx is RFC 9457 problem JSON whose ``status`` is the response's own."""
    del ctx, case
    if not 400 <= response.status_code < 500:
        return
    kind = response.headers.get("content-type", [""])[0]
    assert kind.startswith("application/problem+json"), f"4xx served as {kind!r}"
    body = json.loads(response.content)
    assert {"type", "title", "status", "detail"} <= set(body), body
    assert body["status"] == response.status_code, body
    for error in body.get("errors", []):
        assert set(error) == {"field", "message"}, error


#: Generated requests per operation; enough to hit bad ids, odd bodies and edge query values.
EXAMPLES = 25
CHECKS: list[Any] = [not_a_server_error, response_schema_conformance, problem_json]
#: Whether every status and media type served is declared: kept apart from the checks above so
#: that a gap in the spec's error declarations does not hide a 5xx (or the other way round).
DECLARED: list[Any] = [status_code_conformance, content_type_conformance]


async def _admin_token(ctx: AppContext) -> str:
    # A name no generated path parameter will guess, so DELETE /ops/tokens/{name} cannot drop it.
    _, secret = await tokens.create_token(
        ctx=ctx, name="schemathesis-admin-0f3c9a", role="admin", actor="test"
    )
    return secret


def _fuzz(url: str, token: str, checks: list[Any], examples: int = EXAMPLES) -> list[str]:
    """Run every operation of the served spec; return one line per failing operation."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures: list[str] = []
    with requests.Session() as session:
        # One keep-alive connection for all requests: a new one per request costs more here
        # than the request itself.
        session.headers["Authorization"] = f"Bearer {token}"
        for result in schema.get_all_operations():
            if isinstance(result, Err):  # a part of the spec schemathesis cannot read
                failures.append(f"unreadable operation: {result.err()}")
                continue
            operation = result.ok()
            for mode in _modes(operation):
                failure = _fuzz_one(operation, mode, url, session, checks, examples)
                if failure is not None:
                    failures.append(failure)
    return failures


def _modes(operation: Operation) -> list[GenerationMode]:
    """Positive always; negative where a query or body can be wrong (a path string cannot)."""
    if len(operation.query) or len(operation.body) or len(operation.headers):
        return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    return [GenerationMode.POSITIVE]


def _fuzz_one(
    operation: Operation,
    mode: GenerationMode,
    url: str,
    session: requests.Session,
    checks: list[Any],
    examples: int,
) -> str | None:
    """Fuzz one operation in one generation mode; the failure as text, or None."""

    @settings(
        max_examples=examples,
        derandomize=True,
        # No shrinking: the failure's curl line is reproduction enough, and shrinking a slow
        # HTTP call many times over would blow the time budget.
        phases=[Phase.explicit, Phase.generate],
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def call(case: Case) -> None:
        case.call_and_validate(base_url=url, session=session, checks=checks, timeout=30)

    try:
        call()
    except Unsatisfiable:  # nothing to get wrong (no parameters, no body): nothing to test
        return None
    except (Exception, BaseExceptionGroup) as exc:  # collect: the report covers every operation
        return f"{operation.label} ({mode}): {type(exc).__name__}: {str(exc)[:1500]}"
    return None


def _served(settings_: Settings, body: Callable[[str, str], list[str]]) -> list[str]:
    """Serve the app over ``settings_`` on a loopback port and run ``body(url, admin_token)``."""

    async def token() -> str:
        ctx = AppContext.build(settings_)
        try:
            return await _admin_token(ctx)
        finally:
            await ctx.close()

    secret = asyncio.run(token())
    app = create_app(AppContext.build(settings_), run_wait_seconds=1)
    with serve(app) as url:
        return body(url, secret)


def test_no_server_errors_and_responses_match_the_spec(settings: Settings) -> None:
    failures = _served(settings, lambda url, token: _fuzz(url, token, CHECKS))
    assert not failures, "\n\n".join(failures)


def test_every_status_and_media_type_served_is_declared(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # Which statuses an operation can answer does not depend on the database: SQLite only.
    templates: SqliteTemplates = request.getfixturevalue("_sqlite_templates")
    config = load_settings(
        BANKFEEDS_DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=templates.clone(tmp_path / "test.db"),
        BANKFEEDS_SECRET_KEY=generate_key(),
        SCHEDULER_ENABLED=False,
        _env_file=None,
    )
    failures = _served(config, lambda url, token: _fuzz(url, token, DECLARED, examples=10))
    assert not failures, "\n\n".join(failures)


#: Patterns refused at save, each with a 422 naming config.filePattern.
HOSTILE_PATTERNS = [
    "../AXIS_RECON_YYYYMMDD.csv",
    "/etc/AXIS_RECON_YYYYMMDD.csv",
    "up\\AXIS_RECON_YYYYMMDD.csv",
    "AXIS_RECON_YYYYMMDD\u0000.csv",
    "x" * 10_000 + "YYYYMMDD",
    "(a+)+$",  # no date token and no glob: a fixed name, and not a regex either
]


def test_hostile_patterns_are_refused_at_save(settings: Settings) -> None:
    def post_all(url: str, token: str) -> list[str]:
        headers = {"Authorization": f"Bearer {token}"}
        out = []
        with requests.Session() as session:
            for pattern in HOSTILE_PATTERNS:
                body: dict[str, Any] = {
                    "name": "hostile pattern",
                    "type": "SFTP",
                    "provider": "AXIS",
                    "config": {
                        "host": "127.0.0.1",
                        "username": "bank",
                        "password": "bankpass",
                        "remotePath": "/upload",
                        "filePattern": pattern,
                    },
                }
                answer = session.post(f"{url}/ops/connectors", json=body, headers=headers)
                problem = answer.json()
                fields = [e["field"] for e in problem.get("errors", [])]
                if answer.status_code != 422 or fields != ["config.filePattern"]:
                    out.append(f"{pattern[:40]!r}: {answer.status_code} {problem}")
                assert answer.headers["content-type"].startswith("application/problem+json")
        return out

    assert _served(settings, post_all) == []


#: Text PostgreSQL cannot store (NUL) or no database can encode (a lone surrogate), sent where
#: schemathesis found or would find it: each must be refused as bad input, never a 500.
UNSTORABLE: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/ops/tokens", {"json": {"name": "a\u0000b", "role": "viewer"}}),
    ("POST", "/ops/tokens", {"json": {"name": "a\ud800b", "role": "viewer"}}),
    ("POST", "/ops/connectors", {"json": {"name": "n\u0000", "type": "SFTP", "provider": "AXIS",
                                          "config": {"host": "h", "username": "u",
                                                     "password": "p", "remotePath": "/u"}}}),
    ("PATCH", "/ops/connectors/conn_1", {"json": {"name": "n\u0000"}}),
    ("GET", "/ops/connectors?q=%00", {}),
    ("GET", "/ops/audit?target=%00", {}),
    ("GET", "/ops/exceptions?kind=%00", {}),
    ("GET", "/ops/recon/jobs?provider=%00", {}),
]  # fmt: skip


def test_unstorable_text_is_refused_not_a_server_error(settings: Settings) -> None:
    def send_all(url: str, token: str) -> list[str]:
        out = []
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {token}"
            body = UNSTORABLE[2][2]["json"]
            session.post(f"{url}/ops/connectors", json={**body, "name": "conn one"})
            for method, path, kwargs in UNSTORABLE:
                answer = session.request(method, f"{url}{path}", **kwargs)
                if answer.status_code not in (400, 422):
                    out.append(f"{method} {path} {kwargs}: {answer.status_code} {answer.text[:80]}")
        return out

    failures = _served(settings, send_all)
    assert not failures, "\n".join(failures)
