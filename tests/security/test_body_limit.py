"""Request bodies over the limit: 413 problem JSON, and nothing created or changed.

(tests/integration/api covers the 413 on POST /ops/connectors; this adds that nothing is written,
PATCH, and the UI's form posts.)
"""

from __future__ import annotations

import httpx

from tests.security.conftest import Live
from tests.support.bodies import spec_body


def _huge(live: Live) -> str:
    return "x" * (live.settings.max_body_bytes + 1)


def _assert_413(answer: httpx.Response) -> None:
    assert answer.status_code == 413, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["status"] == 413 and problem["type"].endswith("payload-too-large")


def test_oversized_create_and_patch_change_nothing(live: Live) -> None:
    admin = live.client("admin")
    _assert_413(admin.post("/ops/connectors", json=spec_body(name=_huge(live))))
    _assert_413(admin.post("/ops/tokens", json={"name": _huge(live), "role": "viewer"}))

    def streamed() -> httpx.Response:
        chunks = (b" " * 65536 for _ in range(live.settings.max_body_bytes // 65536 + 2))
        return admin.post("/ops/connectors", content=chunks)

    _assert_413(streamed())
    assert admin.get("/ops/connectors").json()["total"] == 0
    assert {t["name"] for t in admin.get("/ops/tokens").json()["tokens"]} == {
        "test-viewer",
        "test-operator",
        "test-admin",
    }
    assert admin.post("/ops/connectors", json=spec_body()).status_code == 201
    before = admin.get("/ops/connectors/conn_1").json()
    _assert_413(admin.patch("/ops/connectors/conn_1", json={"name": _huge(live)}))
    _assert_413(admin.patch("/ops/connectors/conn_1", json={"config": {"remotePath": _huge(live)}}))
    after = admin.get("/ops/connectors/conn_1").json()
    assert after["name"] == before["name"] and after["config"] == before["config"]
    assert [e["action"] for e in admin.get("/ops/audit").json()["entries"]].count(
        "connector.update"
    ) == 0


def test_oversized_ui_form_is_refused_before_the_login_check(live: Live) -> None:
    answer = live.client(None).post("/ui/login", data={"username": _huge(live), "password": "x"})
    _assert_413(answer)
