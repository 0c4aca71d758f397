"""Pure login rules: back-off, the client address behind proxies, names and passwords."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bankfeeds.access.credentials import name_problem, password_problem
from bankfeeds.access.throttle import PER_ADDRESS, PER_USER_ADDRESS, failures_after, retry_after
from bankfeeds.core.proxies import client_address, parse_networks

T0 = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)


def test_back_off_doubles_from_the_fifth_failure_up_to_fifteen_minutes() -> None:
    waits = [PER_USER_ADDRESS.wait(n).total_seconds() for n in range(1, 17)]
    assert waits == [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert PER_USER_ADDRESS.wait(10**9) == timedelta(minutes=15)
    assert PER_ADDRESS.wait(99) == timedelta(0) and PER_ADDRESS.wait(100) == timedelta(seconds=1)


def test_failures_are_forgotten_after_a_quiet_hour() -> None:
    assert failures_after(0, None, PER_USER_ADDRESS, T0) == 1
    assert failures_after(7, T0, PER_USER_ADDRESS, T0 + timedelta(minutes=59)) == 8
    assert failures_after(7, T0, PER_USER_ADDRESS, T0 + timedelta(hours=1)) == 1


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert retry_after(None, T0) is None
    assert retry_after(T0, T0) is None
    assert retry_after(T0 + timedelta(milliseconds=10), T0) == 1
    assert retry_after(T0 + timedelta(seconds=2.2), T0) == 3


TRUSTED = parse_networks("10.0.0.0/8, 127.0.0.1, ::1")


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # untrusted peer: header ignored
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the client wrote 6.6.6.6
        ("127.0.0.1", "198.51.100.1, 10.1.2.3", "198.51.100.1"),  # through two of our proxies
        ("10.0.0.5", "10.0.0.7, 10.0.0.6", "10.0.0.7"),  # all ours: the left-most
        ("127.0.0.1", "garbage, 198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "198.51.100.1, garbage", "127.0.0.1"),  # no proxy of ours wrote that
        ("::ffff:127.0.0.1", "2001:db8::1", "2001:db8::1"),
        ("::1", "[2001:db8::2]", "2001:db8::2"),
    ],
)
def test_client_address(peer: str, forwarded: str | None, expected: str) -> None:
    assert client_address(peer, forwarded, TRUSTED) == expected
    assert client_address(peer, forwarded, ()) == peer


def test_trusted_proxies_must_be_addresses_or_ranges() -> None:
    assert parse_networks("") == () and parse_networks(None) == ()
    assert [str(n) for n in parse_networks(["192.168.0.7/24"])] == ["192.168.0.0/24"]
    with pytest.raises(ValueError, match=r"'proxy\.local' is not an IP address or CIDR range"):
        parse_networks("10.0.0.1, proxy.local")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("ada", None),
        ("ci robot", None),
        ("", "must be 1 to 120 characters"),
        ("x" * 121, "must be 1 to 120 characters"),
        (" ada", "must not start or end with a space"),
        ("ada\u00a0", "must not start or end with a space"),
        ("a\nb", "must not contain control characters"),
        ("a\u200bb", "must not contain control characters"),
    ],
)
def test_names(name: str, problem: str | None) -> None:
    assert name_problem(name) == problem


def test_passwords() -> None:
    assert password_problem("correct horse battery", "ada") is None
    assert password_problem("short", "ada") == "must be at least 10 characters"
    assert password_problem("x" * 1025, "ada") == "must be at most 1024 characters"
    few = "must use more than a few different characters"
    assert password_problem("abababababab", "ada") == few
    assert password_problem("olive-rules-ok", "Olive") == "must not contain the user name"
