"""Address classification for the SSRF guard: literals as the C library reads them."""

from __future__ import annotations

import ipaddress

import pytest

from bankfeeds.transports.addresses import origin_allowed, parse_host_literal, unsafe_reason


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1.258", "10.1.1.2"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("[fe80::1%25eth0]", "fe80::1"),
        ("127.0.0.1.", "127.0.0.1"),
    ],
)
def test_literals_are_read_like_inet_aton(host: str, expected: str | None) -> None:
    ip = parse_host_literal(host)
    assert (str(ip) if ip is not None else None) == expected


@pytest.mark.parametrize(
    "host", ["bank.example.com", "localhost", "1.2.3.4.5", "256.1.1.1", "089.1.1.1", "a.1"]
)
def test_names_and_invalid_numbers_are_not_literals(host: str) -> None:
    assert parse_host_literal(host) is None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("fd12:3456::1", "unique-local"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),
        ("64:ff9b::a9fe:a9fe", "metadata"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.10", "private"),
    ],
)
def test_non_public_addresses_are_unsafe(address: str, reason: str) -> None:
    found = unsafe_reason(ipaddress.ip_address(address))
    assert found is not None
    assert reason in found


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_safe(address: str) -> None:
    assert unsafe_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("entries", "origin", "configured", "allowed"),
    [
        ({"127.0.0.1"}, ("http", "127.0.0.1", 8080), True, True),
        ({"127.0.0.1"}, ("http", "127.0.0.1", 9100), False, False),
        ({"127.0.0.1"}, ("http", "127.0.0.1", 80), False, True),
        ({"bank.internal"}, ("https", "bank.internal", 443), False, True),
        ({"127.0.0.1:9100"}, ("http", "127.0.0.1", 9100), False, True),
        ({"https://127.0.0.1:9100"}, ("http", "127.0.0.1", 9100), False, False),
        ({"http://127.0.0.1:9100"}, ("http", "127.0.0.1", 9100), False, True),
        ({"::1]:8443"}, ("https", "::1", 8443), False, True),
        ({"::1"}, ("https", "::1", 8443), True, True),
        ({"127.0.0.1:notaport"}, ("http", "127.0.0.1", 80), True, False),
        ({"localhost"}, ("http", "127.0.0.1", 80), True, False),
    ],
)
def test_the_allow_list_compares_origins(
    entries: set[str], origin: tuple[str, str, int], configured: bool, allowed: bool
) -> None:
    assert origin_allowed(entries, origin, configured=configured) is allowed
