"""The SSRF guard against real name resolution: what an API connector may never reach."""

from __future__ import annotations

import pytest

from bankfeeds.core.errors import SourceUnreachable, UnsafeTarget
from bankfeeds.transports.ssrf import resolve_safe

NONE: frozenset[str] = frozenset()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://127.0.0.1/", "loopback"),
        ("https://127.0.0.1:8443/v1", "loopback"),
        ("https://[::1]/", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://0x7f000001/", "loopback"),
        ("https://2130706433/", "loopback"),
        ("https://0177.0.0.1/", "loopback"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://10.0.0.1/", "private"),
        ("https://100.64.1.1/", "carrier-grade NAT"),
        ("https://[fd00::1]/", "unique-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://224.0.0.251/", "multicast"),
        ("https://localhost/", "localhost resolves to"),
    ],
)
async def test_non_public_addresses_are_refused(url: str, why: str) -> None:
    with pytest.raises(UnsafeTarget, match=why) as caught:
        await resolve_safe(url, NONE)
    assert caught.value.code == "unsafe-target"
    assert not caught.value.retryable
    assert url.split("/")[2].split(":")[0].strip("[]") in caught.value.message


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///etc/passwd", "uses file:"),
        ("ftp://x/", "uses ftp:"),
        ("gopher://x/", "uses gopher:"),
        ("//x/y", "no scheme"),
        ("http://169.254.169.254/latest/meta-data", "plain http"),
        ("http://bank.example.com/v1", "plain http"),
        ("https://user:pw@bank.example.com/", "credentials"),
        ("https:///nohost", "no host"),
        ("https://bank.example.com:99999/", "not a valid URL"),
    ],
)
async def test_other_schemes_plain_http_and_odd_urls_are_refused(url: str, why: str) -> None:
    with pytest.raises(UnsafeTarget, match=why):
        await resolve_safe(url, NONE)


async def test_allowlisted_hosts_may_use_http_and_loopback() -> None:
    target = await resolve_safe("http://127.0.0.1:8080/x", frozenset({"127.0.0.1"}))
    assert (target.host, target.port, target.ip, target.allowlisted) == (
        "127.0.0.1", 8080, "127.0.0.1", True,
    )  # fmt: skip
    named = await resolve_safe("http://LOCALHOST./x", frozenset({"localhost"}))
    assert named.host == "localhost"
    assert named.port == 80
    assert named.ip in named.ips
    assert set(named.ips) <= {"127.0.0.1", "::1"}


async def test_allowlisting_one_spelling_does_not_allow_another() -> None:
    with pytest.raises(UnsafeTarget, match="loopback"):
        await resolve_safe("https://0x7f000001/", frozenset({"127.0.0.1"}))


async def test_a_public_literal_needs_no_lookup() -> None:
    target = await resolve_safe("https://93.184.216.34/v1", NONE)
    assert (target.ip, target.ips, target.port) == ("93.184.216.34", ("93.184.216.34",), 443)


async def test_an_unknown_name_is_unreachable_and_retryable() -> None:
    with pytest.raises(SourceUnreachable, match="could not be resolved") as caught:
        await resolve_safe("https://no-such-bank.invalid/", NONE)
    assert caught.value.retryable
