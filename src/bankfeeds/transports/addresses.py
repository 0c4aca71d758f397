"""Which IP addresses an API connector may reach; pure, no I/O (DNS is the adapter's job).

Host literals are read the way the C library reads them (``inet_aton``), because that is how the
socket layer would connect: ``0x7f000001``, ``2130706433``, ``0177.0.0.1`` and ``127.1`` are all
127.0.0.1, and a check that only understood dotted quads could be walked around with them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_PART: Final = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")
_CGNAT: Final = ipaddress.IPv4Network("100.64.0.0/10")
_METADATA: Final = frozenset(
    {ipaddress.IPv4Address("169.254.169.254"), ipaddress.IPv6Address("fd00:ec2::254")}
)
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_UNIQUE_LOCAL: Final = ipaddress.IPv6Network("fc00::/7")


def _part_value(part: str) -> int | None:
    """One ``inet_aton`` component: ``0x`` hex, leading-zero octal, or decimal."""
    if not _PART.fullmatch(part):
        return None
    if part[:2] in ("0x", "0X"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if all(c in "01234567" for c in part) else None
    return int(part)


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address ``inet_aton`` would read from ``host``, or None when it is a name."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = [_part_value(p) for p in parts]
    if any(v is None for v in values):
        return None
    nums = [v for v in values if v is not None]
    # The last component fills every byte the earlier ones did not: a.b.c.d, a.b.cd, a.bcd, abcd.
    last_bytes = 5 - len(nums)
    if any(v > 0xFF for v in nums[:-1]) or nums[-1] >= 1 << (8 * last_bytes):
        return None
    value = 0
    for v in nums[:-1]:
        value = value << 8 | v
    return ipaddress.IPv4Address(value << (8 * last_bytes) | nums[-1])


def parse_host_literal(host: str) -> IPAddress | None:
    """The address a URL host names literally (``[::1]``, ``0x7f000001``...), None for a name."""
    text = host.strip().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            # A zone id (fe80::1%eth0) names an interface, not a different address.
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    return _inet_aton(text)


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64), which is where it goes."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def unsafe_reason(ip: IPAddress) -> str | None:
    """Why a connector must not reach ``ip`` (e.g. "a loopback address"), or None if public."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            reason = unsafe_reason(inner)
            return f"{reason} ({inner} inside an IPv6 address)" if reason else None
        if ip in _UNIQUE_LOCAL:
            return "a unique-local address (fc00::/7)"
    checks: tuple[tuple[bool, str], ...] = (
        (ip in _METADATA, "the cloud metadata address"),
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "a carrier-grade NAT address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "not a public address"),
    )
    return next((reason for hit, reason in checks if hit), None)


#: (scheme, host, port): what the allow-list and the redirect rules compare.
Origin = tuple[str, str, int]
DEFAULT_PORTS: Final = {"https": 443, "http": 80}


def _allow_entry(entry: str) -> tuple[str | None, str, int | None] | None:
    """An allow-list entry as (scheme or None, host, port or None); None when unreadable.

    ``host`` (bare), ``host:port``, ``[v6]:port`` and ``scheme://host[:port]`` are understood.
    """
    text = entry.strip().lower()
    scheme: str | None = None
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme not in DEFAULT_PORTS:
            return None
        text = text.split("/", 1)[0]
    host, port_text = text, ""
    if "]" in text:  # [v6]:port (the settings parser may have stripped the leading '[')
        host, _, rest = text.lstrip("[").partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    host = host.strip().rstrip(".")
    if not host:
        return None
    if not port_text:
        return scheme, host, DEFAULT_PORTS[scheme] if scheme else None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        return None
    return scheme, host, int(port_text)


def origin_allowed(entries: Iterable[str], origin: Origin, *, configured: bool) -> bool:
    """Whether the allow-list lets ``origin`` use plain http or a non-public address.

    ``host:port`` and ``scheme://host:port`` allow exactly that origin. A bare ``host`` allows
    that host on its scheme's default port, and on any port for a URL the connector was
    configured with (``configured``: its baseUrl or sidecarUrl) -- so a redirect or a next-page
    link to another port of an allowed host is refused unless that origin is listed too.
    """
    scheme, host, port = origin
    for entry in entries:
        parsed = _allow_entry(entry)
        if parsed is None or parsed[1] != host:
            continue
        want_scheme, _host, want_port = parsed
        if want_scheme is not None and want_scheme != scheme:
            continue
        if want_port == port or (
            want_port is None and (configured or port == DEFAULT_PORTS.get(scheme))
        ):
            return True
    return False
