"""The web session cookie: signed with the newest secret key, read with any, timed by the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from itsdangerous import URLSafeTimedSerializer

from bankfeeds.access import web_sessions

START = datetime(2025, 3, 8, 12, 0, tzinfo=UTC)
LIFETIME = timedelta(seconds=web_sessions.LIFETIME_SECONDS)


@dataclass
class FakeClock:
    """A clock the test moves by hand."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


def _ctx(*keys: str, clock: FakeClock | None = None) -> Any:
    """A context with these secret keys (newest first) and a clock."""
    return SimpleNamespace(
        settings=SimpleNamespace(secret_keys=list(keys)), clock=clock or FakeClock()
    )


def test_a_cookie_reads_back_as_what_was_issued() -> None:
    ctx = _ctx("key-a")
    cookie, session = web_sessions.issue(ctx, "user:7")
    assert session.sid == "user:7" and len(session.csrf) >= 32
    assert session.expires == int((START + LIFETIME).timestamp())
    assert web_sessions.read(ctx, cookie) == session


def test_a_cookie_signed_with_an_old_key_verifies_after_a_new_key_is_added() -> None:
    cookie, session = web_sessions.issue(_ctx("key-a"), "user:7")
    rotated = _ctx("key-b", "key-a")
    assert web_sessions.read(rotated, cookie) == session
    # New cookies are signed with the newest key: they outlive the old key's removal.
    fresh, fresh_session = web_sessions.issue(rotated, "user:8")
    assert web_sessions.read(_ctx("key-b"), fresh) == fresh_session
    assert web_sessions.read(_ctx("key-a"), fresh) is None


def test_a_cookie_signed_with_a_removed_key_is_refused() -> None:
    cookie, _ = web_sessions.issue(_ctx("key-b", "key-a"), "user:7")  # signed with key-b
    assert web_sessions.read(_ctx("key-c", "key-a"), cookie) is None
    old, _ = web_sessions.issue(_ctx("key-a"), "user:7")
    assert web_sessions.read(_ctx("key-b"), old) is None


def test_expiry_follows_the_injected_clock() -> None:
    clock = FakeClock()
    ctx = _ctx("key", clock=clock)
    cookie, session = web_sessions.issue(ctx, "token:1")
    clock.now = START + LIFETIME
    assert web_sessions.read(ctx, cookie) == session  # the last second of its life
    clock.now = START + LIFETIME + timedelta(seconds=1)
    assert web_sessions.read(ctx, cookie) is None
    clock.now = START  # the clock, not the wall time, decides: back in time it is valid again
    assert web_sessions.read(ctx, cookie) == session


def test_a_tampered_or_foreign_cookie_is_refused() -> None:
    ctx = _ctx("key-a")
    cookie, _ = web_sessions.issue(ctx, "user:7")
    other, _ = web_sessions.issue(ctx, "user:8")
    payload, _, mac = cookie.rpartition(".")
    flipped = ("B" if payload[0] == "A" else "A") + payload[1:]
    assert web_sessions.read(ctx, f"{flipped}.{mac}") is None
    assert web_sessions.read(ctx, f"{payload}.{mac[::-1]}") is None
    assert web_sessions.read(ctx, f"{payload}.{other.rpartition('.')[2]}") is None
    for junk in (None, "", "garbage", ".", cookie + "x"):
        assert web_sessions.read(ctx, junk) is None


def test_the_same_key_signing_for_another_purpose_does_not_make_a_session_cookie() -> None:
    body = {"sid": "user:7", "csrf": "x" * 43}
    for salt in ("itsdangerous", "bankfeeds web session v2", "other purpose"):
        foreign = URLSafeTimedSerializer("key-a", salt=salt).dumps(body)
        assert web_sessions.read(_ctx("key-a"), foreign) is None


def test_a_signed_cookie_must_carry_a_session_id_and_csrf_token() -> None:
    ctx = _ctx("key-a")
    good, _ = web_sessions.issue(ctx, "user:7")
    # Re-sign other bodies exactly as issue() does, to check read() looks inside.
    serializer = web_sessions._serializer(["key-a"], ctx.clock)
    assert web_sessions.read(ctx, good) is not None
    for body in ([1, 2], {"sid": "user:7"}, {"sid": 7, "csrf": "x"}, "text"):
        assert web_sessions.read(ctx, serializer.dumps(body)) is None
