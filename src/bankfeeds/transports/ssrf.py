"""The SSRF guard for API connectors: which URLs we may fetch, and the address to connect to.

Checked when a connector is saved and again before every request and redirect hop; the request
then connects to the address checked here (pinned), so a DNS answer that changes between the
check and the connect cannot send it somewhere else.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from bankfeeds.core.errors import SourceTimeout, SourceUnreachable, UnsafeTarget
from bankfeeds.transports.addresses import origin_allowed, parse_host_literal, unsafe_reason

__all__ = ["SafeTarget", "UnsafeTarget", "resolve_safe"]

_DEFAULT_PORTS: Final = {"https": 443, "http": 80}
DNS_TIMEOUT: Final = 10.0


@dataclass(frozen=True)
class SafeTarget:
    """A URL that passed the guard: its host, port, and the checked addresses to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    #: The address to connect to (the first of ``ips``).
    ip: str
    #: Every address the host resolved to, all checked, in the resolver's order of preference.
    ips: tuple[str, ...]
    allowlisted: bool


def _host_of(url: str) -> tuple[str, str, int]:
    """Scheme, lower-case host and port of ``url``; UnsafeTarget if it has no usable host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"{url} is not a valid URL: {exc}.") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        shown = f"{scheme}:" if scheme else "no scheme"
        raise UnsafeTarget(f"{url} uses {shown}; API connectors fetch only https URLs.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget(f"{url} carries credentials in the URL; use authType instead.")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeTarget(f"{url} has no host.")
    return scheme, host, port or _DEFAULT_PORTS[scheme]


async def resolve_addresses(host: str, port: int, seconds: float = DNS_TIMEOUT) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order, each once (no zone ids)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(seconds):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError as exc:
        raise SourceTimeout(f"Looking up {host} took longer than {seconds:g} s.") from exc
    except OSError as exc:
        raise SourceUnreachable(f"The host name {host} could not be resolved: {exc}.") from exc
    ordered: dict[str, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        ordered[str(sockaddr[0]).split("%", 1)[0]] = None
    if not ordered:
        raise SourceUnreachable(f"The host name {host} resolved to no address.")
    return list(ordered)


async def resolve_safe(
    url: str, allow_hosts: frozenset[str], *, configured: bool = True
) -> SafeTarget:
    """Check ``url`` and resolve its host; UnsafeTarget unless every address may be reached.

    Plain http and non-public addresses are allowed only for origins the allow-list names
    (``transports.addresses.origin_allowed``): ``configured`` says ``url`` is one the connector was
    configured with, not a redirect or a link the server handed us.
    """
    scheme, host, port = _host_of(url)
    allowlisted = origin_allowed(allow_hosts, (scheme, host, port), configured=configured)
    if scheme == "http" and not allowlisted:
        raise UnsafeTarget(
            f"{url} uses plain http; only https is allowed unless its origin is on the allowlist."
        )
    literal = parse_host_literal(host)
    ips = [str(literal)] if literal is not None else await resolve_addresses(host, port)
    if not allowlisted:
        for ip in ips:
            reason = unsafe_reason(ipaddress.ip_address(ip))
            if reason is not None:
                via = "" if literal is not None else f" ({host} resolves to {ip})"
                raise UnsafeTarget(f"{url} points at {reason}{via}; refused.")
    return SafeTarget(url, scheme, host, port, ips[0], tuple(ips), allowlisted)
