"""Every endpoint for every role: no token 401, too small a role 403, enough allowed."""

from __future__ import annotations

import httpx
import pytest
from tests.integration.api.conftest import Live
from tests.support.bodies import spec_body

ROLES = ["viewer", "operator", "admin"]
FINGERPRINT = {"fingerprint": "SHA256:" + "B" * 43}

# (method, path, body, least role that may call it)
MATRIX = [
    ("GET", "/ops/connectors", None, "viewer"),
    ("GET", "/ops/connectors/conn_1", None, "viewer"),
    ("POST", "/ops/connectors/conn_1/pause", None, "operator"),
    ("POST", "/ops/connectors/conn_1/resume", None, "operator"),
    ("POST", "/ops/connectors", spec_body(name="Another"), "admin"),
    ("PATCH", "/ops/connectors/conn_1", {"config": {"port": 2223}}, "admin"),
    ("POST", "/ops/connectors/conn_1/trust-host-key", FINGERPRINT, "admin"),
    ("GET", "/ops/audit", None, "admin"),
    ("GET", "/ops/tokens", None, "admin"),
    ("POST", "/ops/tokens", {"name": "made-in-test", "role": "viewer"}, "admin"),
    ("DELETE", "/ops/connectors/conn_1", None, "admin"),
]


@pytest.mark.parametrize(("method", "path", "body", "least"), MATRIX)
def test_role_matrix(
    live: Live, method: str, path: str, body: dict[str, object] | None, least: str
) -> None:
    assert live.client("admin").post("/ops/connectors", json=spec_body()).status_code == 201
    anonymous = live.client(None).request(method, path, json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    bogus = httpx.request(
        method, live.url + path, json=body, headers={"Authorization": "Bearer bf_nope"}
    )
    assert bogus.status_code == 401
    for role in ROLES:
        response = live.client(role).request(method, path, json=body)
        if ROLES.index(role) < ROLES.index(least):
            assert response.status_code == 403, (role, response.text)
            assert least in response.json()["detail"]
        else:
            assert response.status_code < 300, (role, response.text)
            if method == "DELETE":
                break  # the target is gone for the next role


def test_token_lifecycle_over_the_api(live: Live) -> None:
    admin = live.client("admin")
    made = admin.post("/ops/tokens", json={"name": "ci-bot", "role": "operator"})
    assert made.status_code == 201
    token = made.json()["token"]
    assert token.startswith("bf_")
    listed = admin.get("/ops/tokens").json()["tokens"]
    assert "ci-bot" in {t["name"] for t in listed}
    assert token not in admin.get("/ops/tokens").text
    bot = httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {token}"})
    with bot:
        assert bot.get("/ops/connectors").status_code == 200
        assert bot.get("/ops/tokens").status_code == 403
        assert admin.post("/ops/tokens", json={"name": "ci-bot", "role": "viewer"}).status_code == (
            409
        )
        bad_role = admin.post("/ops/tokens", json={"name": "x", "role": "root"})
        assert bad_role.status_code == 422
        assert admin.delete("/ops/tokens/ci-bot").status_code == 204
        assert bot.get("/ops/connectors").status_code == 401
    assert admin.delete("/ops/tokens/ci-bot").status_code == 404
