"""Server-side sessions over HTTP: a cookie stops working at logout, on a password change, when the
user is disabled and when an admin ends sessions; user management through the API is audited."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import httpx
import pytest

from bankfeeds.core.config import Settings
from bankfeeds.core.errors import Conflict
from tests.security.conftest import Live
from tests.support.bodies import spec_body
from tests.support.ui_users import PASSWORD, add_user, login_csrf

NEW_PASSWORD = "a different long passphrase"


async def _add_user(settings: Settings, name: str, role: str = "operator") -> None:
    await add_user(settings, name, role)


def _login(url: str, name: str, password: str = PASSWORD) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=30) as client:
        data = {"csrf_token": login_csrf(client), "username": name, "password": password}
        return client.post("/ui/login", data=data)


@dataclass
class Stolen:
    """A session cookie and its CSRF token, as an attacker who copied them would hold them."""

    url: str
    cookie: str
    csrf: str

    def get(self, path: str = "/ui") -> httpx.Response:
        """A page request with the cookie."""
        return httpx.get(self.url + path, headers={"Cookie": f"bf_session={self.cookie}"})

    def pause(self) -> httpx.Response:
        """A state-changing request with the cookie and its valid CSRF token."""
        headers = {"Cookie": f"bf_session={self.cookie}", "X-CSRF-Token": self.csrf}
        return httpx.post(self.url + "/ui/connectors/conn_1/pause", headers=headers)


def _session(url: str, name: str) -> Stolen:
    answer = _login(url, name)
    assert answer.status_code == 303, answer.text
    cookie = answer.cookies["bf_session"]
    page = httpx.get(url + "/ui", headers={"Cookie": f"bf_session={cookie}"})
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert page.status_code == 200 and csrf is not None
    return Stolen(url, cookie, csrf.group(1))


def _assert_dead(stolen: Stolen, live: Live) -> None:
    page = stolen.get()
    assert page.status_code == 303 and page.headers["location"].startswith("/ui/login")
    change = stolen.pause()
    assert change.status_code == 303 and change.headers["location"].startswith("/ui/login")
    status = live.client("viewer").get("/ops/connectors/conn_1").json()["status"]
    assert status == "ACTIVE"  # the replayed POST did nothing


@pytest.fixture
def olive(live: Live) -> Stolen:
    """An operator ``olive`` logged in, and one connector she could pause."""
    asyncio.run(_add_user(live.settings, "olive"))
    assert live.client("admin").post("/ops/connectors", json=spec_body()).status_code == 201
    return _session(live.url, "olive")


def test_a_cookie_replayed_after_logout_is_refused(live: Live, olive: Stolen) -> None:
    assert olive.get().status_code == 200
    out = httpx.post(
        live.url + "/ui/logout",
        headers={"Cookie": f"bf_session={olive.cookie}", "X-CSRF-Token": olive.csrf},
    )
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    _assert_dead(olive, live)


def test_a_password_change_ends_the_sessions(live: Live, olive: Stolen) -> None:
    other = _session(live.url, "olive")  # a second browser
    admin = live.client("admin")
    changed = admin.post("/ops/users/olive/password", json={"password": NEW_PASSWORD})
    assert changed.status_code == 200, changed.text
    assert changed.json()["sessionsEnded"] == 2
    _assert_dead(olive, live)
    _assert_dead(other, live)
    assert _login(live.url, "olive").status_code == 401
    assert _login(live.url, "olive", NEW_PASSWORD).status_code == 303


def test_disabling_a_user_ends_the_sessions_and_the_logins(live: Live, olive: Stolen) -> None:
    admin = live.client("admin")
    disabled = admin.post("/ops/users/olive/disable")
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["disabled"] is True and disabled.json()["sessionsEnded"] == 1
    _assert_dead(olive, live)
    assert _login(live.url, "olive").status_code == 401
    listed = {u["name"]: u for u in admin.get("/ops/users").json()["users"]}
    assert listed["olive"]["disabled"] is True and listed["olive"]["activeSessions"] == 0
    assert admin.post("/ops/users/olive/enable").json()["disabled"] is False
    assert _login(live.url, "olive").status_code == 303
    _assert_dead(olive, live)  # enabling does not bring the old session back


def test_an_admin_ends_one_users_sessions_or_everyones(live: Live, olive: Stolen) -> None:
    asyncio.run(_add_user(live.settings, "vic", "viewer"))
    vic = _session(live.url, "vic")
    admin = live.client("admin")
    ended = admin.delete("/ops/users/olive/sessions")
    assert ended.status_code == 200 and ended.json()["sessionsEnded"] == 1
    _assert_dead(olive, live)
    assert vic.get().status_code == 200  # only olive's
    again = _session(live.url, "olive")
    everyone = admin.delete("/ops/sessions")
    assert everyone.status_code == 200 and everyone.json() == {"sessionsEnded": 2}
    _assert_dead(again, live)
    assert vic.get().status_code == 303
    actions = [(e["action"], e["actor"]) for e in admin.get("/ops/audit").json()["entries"]]
    assert actions[:2] == [("sessions.end_all", "test-admin"), ("user.sessions.end", "test-admin")]


def test_user_management_answers_bad_input_with_problem_json(live: Live) -> None:
    asyncio.run(_add_user(live.settings, "olive"))
    admin = live.client("admin")
    for answer in (
        admin.post("/ops/users/nobody/disable"),
        admin.post("/ops/users/nobody/enable"),
        admin.post("/ops/users/nobody/password", json={"password": NEW_PASSWORD}),
        admin.delete("/ops/users/nobody/sessions"),
    ):
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["detail"] == "No user named 'nobody'."
    for weak, why in (
        ("short", "must be at least 10 characters"),
        ("", "must be at least 10 characters"),
        ("aaaaaaaaaaaaaaa", "must use more than a few different characters"),
        ("OLIVE-is-my-password", "must not contain the user name"),
    ):
        answer = admin.post("/ops/users/olive/password", json={"password": weak})
        assert answer.status_code == 422
        assert answer.json()["errors"] == [{"field": "password", "message": why}]
    assert _login(live.url, "olive").status_code == 303  # nothing changed
    audited = admin.get("/ops/audit").json()["entries"]
    assert [e["action"] for e in audited if e["action"].startswith("user.")] == ["user.create"]


def test_user_management_is_for_admins_and_audited(live: Live) -> None:
    asyncio.run(_add_user(live.settings, "olive"))
    operator = live.client("operator")
    assert operator.post("/ops/users/olive/disable").status_code == 403
    assert operator.get("/ops/users").status_code == 403
    admin = live.client("admin")
    assert admin.post("/ops/users/olive/password", json={"password": NEW_PASSWORD}).is_success
    assert admin.post("/ops/users/olive/disable").is_success
    entries = admin.get("/ops/audit", params={"target": "user_1"}).json()["entries"]
    assert [(e["action"], e["actor"], e["diff"]) for e in entries] == [
        ("user.disable", "test-admin", {"disabled": True, "sessionsEnded": 0}),
        ("user.password", "test-admin", {"passwordChanged": True, "sessionsEnded": 0}),
        ("user.create", "t", {"name": "olive", "role": "operator"}),
    ]
    assert NEW_PASSWORD not in str(entries)


# --- names: stored as shown, one namespace for users and tokens ------------------------------


def test_token_names_are_stored_as_shown(live: Live) -> None:
    admin = live.client("admin")
    for name in (" padded", "padded ", "tab\tin", "new\nline"):
        answer = admin.post("/ops/tokens", json={"name": name, "role": "viewer"})
        assert answer.status_code == 422, name
        assert answer.json()["errors"][0]["field"] == "name"
    made = admin.post("/ops/tokens", json={"name": "ci robot", "role": "viewer"})
    assert made.status_code == 201 and made.json()["name"] == "ci robot"
    listed = [t["name"] for t in admin.get("/ops/tokens").json()["tokens"]]
    assert "ci robot" in listed
    assert admin.delete("/ops/tokens/ci robot").status_code == 204


def test_a_token_and_a_user_cannot_share_a_name(live: Live) -> None:
    asyncio.run(_add_user(live.settings, "olive"))
    admin = live.client("admin")
    clash = admin.post("/ops/tokens", json={"name": "olive", "role": "admin"})
    assert clash.status_code == 409
    assert "taken by a user" in clash.json()["detail"]
    with pytest.raises(Conflict, match="taken by a token"):
        asyncio.run(_add_user(live.settings, "test-admin", "viewer"))
    names = [t["name"] for t in admin.get("/ops/tokens").json()["tokens"]]
    assert "olive" not in names
