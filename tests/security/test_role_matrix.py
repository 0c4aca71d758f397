"""Every operation of the OpenAPI spec, and every UI route, for every kind of caller.

The role each operation needs is read from the route's own ``require(...)`` dependency and must
equal the policy written down in ``POLICY``; an operation missing from ``POLICY`` fails the test
until someone decides who may call it.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from bankfeeds.access import users, web_sessions
from bankfeeds.access.auth import Role
from bankfeeds.http.app import create_app
from bankfeeds.storage.context import AppContext
from tests.security.conftest import Live
from tests.support.bodies import spec_body
from tests.support.sshd import free_port

ROLES = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]
OPEN = None  # no token needed
#: Who may call what: README's "viewer reads, operator also tests, runs, backfills, pauses and
#: resumes, admin also creates, edits, deletes, and manages tokens".
POLICY: dict[tuple[str, str], Role | None] = {
    ("GET", "/healthz"): OPEN,
    ("GET", "/metrics"): Role.VIEWER,  # or BANKFEEDS_METRICS_TOKEN when it is set
    ("GET", "/ops/connectors"): Role.VIEWER,
    ("GET", "/ops/connectors/{connector_id}"): Role.VIEWER,
    ("GET", "/ops/connectors/{connector_id}/runs"): Role.VIEWER,
    ("GET", "/ops/runs/{run_id}"): Role.VIEWER,
    ("GET", "/ops/backfills/{job_id}"): Role.VIEWER,
    ("GET", "/ops/exceptions"): Role.VIEWER,
    ("GET", "/ops/recon/jobs"): Role.VIEWER,
    ("GET", "/ops/recon/jobs/{job_id}"): Role.VIEWER,
    ("GET", "/ops/recon/jobs/{job_id}/results.csv"): Role.VIEWER,
    ("POST", "/ops/connectors/{connector_id}/test"): Role.OPERATOR,
    ("POST", "/ops/connectors/{connector_id}/run-now"): Role.OPERATOR,
    ("POST", "/ops/connectors/{connector_id}/backfill"): Role.OPERATOR,
    ("POST", "/ops/connectors/{connector_id}/pause"): Role.OPERATOR,
    ("POST", "/ops/connectors/{connector_id}/resume"): Role.OPERATOR,
    ("POST", "/ops/recon/jobs"): Role.OPERATOR,
    ("POST", "/ops/files/{file_id}/accept"): Role.OPERATOR,
    ("POST", "/ops/exceptions/{exception_id}/resolve"): Role.OPERATOR,
    ("POST", "/ops/connectors"): Role.ADMIN,
    ("PATCH", "/ops/connectors/{connector_id}"): Role.ADMIN,
    ("DELETE", "/ops/connectors/{connector_id}"): Role.ADMIN,
    ("POST", "/ops/connectors/{connector_id}/trust-host-key"): Role.ADMIN,
    ("GET", "/ops/audit"): Role.ADMIN,
    ("GET", "/ops/tokens"): Role.ADMIN,
    ("POST", "/ops/tokens"): Role.ADMIN,
    ("DELETE", "/ops/tokens/{name}"): Role.ADMIN,
    ("GET", "/ops/users"): Role.ADMIN,
    ("POST", "/ops/users/{name}/disable"): Role.ADMIN,
    ("POST", "/ops/users/{name}/enable"): Role.ADMIN,
    ("POST", "/ops/users/{name}/password"): Role.ADMIN,
    ("DELETE", "/ops/users/{name}/sessions"): Role.ADMIN,
    ("DELETE", "/ops/sessions"): Role.ADMIN,
}
#: Bodies that get each allowed call past validation, so the handler itself runs.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/ops/connectors"): spec_body(name="Made by the matrix"),
    ("PATCH", "/ops/connectors/{connector_id}"): {"config": {"port": 2223}},
    ("POST", "/ops/connectors/{connector_id}/trust-host-key"): {
        "fingerprint": "SHA256:" + "B" * 43
    },
    ("POST", "/ops/connectors/{connector_id}/backfill"): {
        "startDate": "2025-01-08",
        "endDate": "2025-01-09",
    },
    ("POST", "/ops/recon/jobs"): {"provider": "AXIS", "cycleDate": "2025-01-10"},
    ("POST", "/ops/exceptions/{exception_id}/resolve"): {"note": "seen"},
    ("POST", "/ops/tokens"): {"name": "made-by-the-matrix", "role": "viewer"},
    ("POST", "/ops/users/{name}/password"): {"password": "a long new passphrase"},
}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _walk(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _walk(sub)


def _captured_role(call: Callable[..., Any], factory: str) -> Role | None:
    """The role a ``factory(role)`` closure (``require``, ``ui_require``) was made with."""
    if getattr(call, "__qualname__", "") != f"{factory}.<locals>.check":
        return None
    role = inspect.getclosurevars(call).nonlocals["role"]
    assert isinstance(role, Role)
    return role


def api_routes(app: FastAPI) -> Iterator[tuple[str, set[str], Dependant, bool]]:
    """(path, methods, dependant, in schema) of every API route, as the app serves it.

    Routes of included routers are resolved the way FastAPI's own OpenAPI generator does, so
    dependencies added when a router is included count too.
    """
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            path = route.path_format or route.path
            assert path is not None and route.methods is not None
            yield path, set(route.methods), route.dependant, bool(route.include_in_schema)


def needed_role(dependant: Dependant, factory: str = "require") -> Role | None:
    """The highest role any ``factory(...)`` dependency asks for (None: open)."""
    roles = [r for c in _walk(dependant) if (r := _captured_role(c, factory)) is not None]
    return max(roles, key=lambda r: r.rank) if roles else None


def derived_policy(app: FastAPI) -> dict[tuple[str, str], Role | None]:
    """(method, path) → role for every route in the OpenAPI schema, read from its dependencies."""
    out: dict[tuple[str, str], Role | None] = {}
    for path, methods, dependant, in_schema in api_routes(app):
        if in_schema:
            for method in methods:
                out[(method, path)] = needed_role(dependant)
    return out


def spec_operations(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app's OpenAPI document lists."""
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return {(m.upper(), p) for p, ops in paths.items() for m in ops if m in HTTP_METHODS}


async def test_every_operation_is_classified_and_enforced_as_written(ctx: AppContext) -> None:
    app = create_app(ctx, own_context=False)
    operations = spec_operations(app)
    assert operations == set(POLICY), (
        f"classify these in POLICY: {sorted(operations - set(POLICY))}; "
        f"gone from the API: {sorted(set(POLICY) - operations)}"
    )
    assert derived_policy(app) == POLICY


def _fill(path: str, ids: dict[str, str]) -> str:
    if path.startswith("/ops/backfills/"):
        return path.replace("{job_id}", ids["backfill"])
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


def _setup(live: Live) -> dict[str, str]:
    """A connector (on a closed port), a run, a backfill and a revoked admin token."""
    admin = live.client("admin")
    body = spec_body(name="Matrix target")
    body["config"] = {**body["config"], "host": "127.0.0.1", "port": free_port()}  # type: ignore[dict-item]
    connector = admin.post("/ops/connectors", json=body)
    assert connector.status_code == 201, connector.text
    cid = connector.json()["id"]
    run = admin.post(f"/ops/connectors/{cid}/run-now", json={"cycleDate": "2025-01-10"})
    assert run.status_code in (200, 202), run.text
    backfill = admin.post(
        f"/ops/connectors/{cid}/backfill", json={"startDate": "2025-01-01", "endDate": "2025-01-01"}
    )
    assert backfill.status_code == 202, backfill.text
    made = admin.post("/ops/tokens", json={"name": "soon-revoked", "role": "admin"})
    assert admin.delete("/ops/tokens/soon-revoked").status_code == 204
    return {
        "connector_id": cid,
        "run_id": run.json()["id"],
        "backfill": backfill.json()["jobId"],
        "job_id": "job_999999",
        "exception_id": "exc_999999",
        "file_id": "file_999999",
        "name": "no-such-token",
        "revoked": made.json()["token"],
    }


def test_role_matrix_over_http(live: Live) -> None:
    ids = _setup(live)
    operations = sorted(POLICY, key=lambda op: (op[0] == "DELETE", op))  # deletes last
    callers: dict[str, dict[str, str]] = {
        "nobody": {},
        "garbage": {"Authorization": "Bearer bf_not-a-real-token"},
        "not-bearer": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "revoked": {"Authorization": f"Bearer {ids['revoked']}"},
    }
    wrong: list[str] = []
    with httpx.Client(base_url=live.url, timeout=60) as http:
        for method, template in operations:
            path, body = _fill(template, ids), BODIES.get((method, template))
            least = POLICY[(method, template)]
            for who, headers in callers.items():
                answer = http.request(method, path, json=body, headers=headers)
                if least is OPEN:
                    if answer.status_code in (401, 403) or answer.status_code >= 500:
                        wrong.append(f"{who} {method} {path}: {answer.status_code}")
                elif answer.status_code != 401 or answer.headers.get("www-authenticate") != (
                    "Bearer"
                ):
                    wrong.append(f"{who} {method} {path}: {answer.status_code}, wanted 401")
            for role in ROLES:
                token = {"Authorization": f"Bearer {live.tokens[role.value]}"}
                answer = http.request(method, path, json=body, headers=token)
                if least is not OPEN and not role.allows(least):
                    if answer.status_code != 403 or least.value not in answer.json()["detail"]:
                        wrong.append(f"{role} {method} {path}: {answer.status_code}, wanted 403")
                elif answer.status_code in (401, 403) or answer.status_code >= 500:
                    wrong.append(f"{role} {method} {path}: {answer.status_code} {answer.text}")
    assert wrong == []


# --- the web UI ------------------------------------------------------------------------------

PASSWORD = "correct horse battery"
UI_OPEN = {("GET", "/ui/login"), ("POST", "/ui/login")}


def ui_policy(app: FastAPI) -> dict[tuple[str, str], Role | None]:
    """(method, path) → role for every UI route: ``ui_require(role)``, or viewer for ``ui_user``."""
    from bankfeeds.http.web.security import ui_user

    out: dict[tuple[str, str], Role | None] = {}
    for path, methods, dependant, _ in api_routes(app):
        if path.startswith("/ui"):
            role = needed_role(dependant, "ui_require")
            if role is None and ui_user in list(_walk(dependant)):
                role = Role.VIEWER
            for method in methods:
                out[(method, path)] = role
    return out


def _ui_login(url: str, name: str) -> str:
    with httpx.Client(base_url=url, timeout=30) as client:
        page = client.get("/ui/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        done = client.post(
            "/ui/login", data={"csrf_token": csrf.group(1), "username": name, "password": PASSWORD}
        )
        assert done.status_code == 303, done.text
        return str(client.cookies["bf_session"])


def _signing(live: Live, moment: datetime) -> Any:
    """A context with the live server's keys whose clock stands at ``moment``."""
    return SimpleNamespace(settings=live.settings, clock=lambda: moment)


def _ui_csrf(url: str, cookie: str) -> str:
    page = httpx.get(url + "/ui", headers={"Cookie": f"bf_session={cookie}"})
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


async def _ui_users(settings: Any) -> None:
    ctx = AppContext.build(settings)
    try:
        for name, role in (("vic", "viewer"), ("olive", "operator"), ("ada", "admin")):
            await users.create_user(ctx=ctx, name=name, role=role, password=PASSWORD, actor="t")
    finally:
        await ctx.close()


def test_ui_routes_for_every_role_and_a_dead_session(live: Live) -> None:

    asyncio.run(_ui_users(live.settings))
    ids = _setup(live)
    app_ctx = AppContext.build(live.settings)
    policy = ui_policy(create_app(app_ctx))
    asyncio.run(app_ctx.close())
    assert ("GET", "/ui") in policy and policy[("GET", "/ui")] is Role.VIEWER
    assert {op for op, role in policy.items() if role is None} == UI_OPEN
    sessions = {Role.VIEWER: "vic", Role.OPERATOR: "olive", Role.ADMIN: "ada"}
    cookies = {role: _ui_login(live.url, name) for role, name in sessions.items()}
    csrfs = {role: _ui_csrf(live.url, cookie) for role, cookie in cookies.items()}
    payload, _, mac = cookies[Role.ADMIN].rpartition(".")
    forged = f"{payload}.{mac[::-1]}"
    wrong: list[str] = []
    ui_ids = {**ids, "job_id": ids["backfill"]}
    for (method, template), least in sorted(policy.items()):
        if least is None or template == "/ui/logout":
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: ui_ids[m.group(1)], template)
        for who, cookie in (("nobody", None), ("forged", forged)):
            jar = {"Cookie": f"bf_session={cookie}"} if cookie else {}
            answer = httpx.request(method, live.url + path, headers=jar, timeout=60)
            if answer.status_code != 303 or not answer.headers["location"].startswith("/ui/login"):
                wrong.append(f"{who} {method} {path}: {answer.status_code}")
        for role in ROLES:
            headers = {"X-CSRF-Token": csrfs[role], "Cookie": f"bf_session={cookies[role]}"}
            answer = httpx.request(method, live.url + path, headers=headers, timeout=60)
            if not role.allows(least):
                if answer.status_code != 403:
                    wrong.append(f"{role} {method} {path}: {answer.status_code}, wanted 403")
            elif (
                answer.status_code in (401, 403)
                or answer.status_code >= 500
                or (answer.status_code == 303 and "/ui/login" in answer.headers["location"])
            ):
                wrong.append(f"{role} {method} {path}: {answer.status_code}")
    assert wrong == []
    # A genuine cookie for a live session, signed with the server's key 13 hours ago: refused.
    # The same session signed now works, so the refusal is the cookie's age alone.
    now = datetime.now(UTC)
    admin = web_sessions.read(_signing(live, now), cookies[Role.ADMIN])
    assert admin is not None
    fresh, _ = web_sessions.issue(_signing(live, now), admin.sid)
    assert httpx.get(live.url + "/ui", headers={"Cookie": f"bf_session={fresh}"}).status_code == 200
    expired, _ = web_sessions.issue(_signing(live, now - timedelta(hours=13)), admin.sid)
    answer = httpx.get(live.url + "/ui", headers={"Cookie": f"bf_session={expired}"})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ui/login")
