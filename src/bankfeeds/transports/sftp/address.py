"""The address guard for SFTP connectors: the API hosts' policy (``transports.addresses``) for SSH.

A host is resolved once and every address it has is checked; the connection then goes to the
first checked address, so a DNS answer that changes between the check and the connect cannot
send it to loopback or a private network (the same pinning the API's SSRF guard does).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from bankfeeds.core.errors import UnsafeTarget
from bankfeeds.transports.addresses import parse_host_literal, unsafe_reason
from bankfeeds.transports.ssrf import resolve_addresses

__all__ = ["UnsafeTarget", "checked_address", "host_allowed"]


def _normal(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def host_allowed(allow_hosts: Iterable[str], host: str, port: int) -> bool:
    """Whether the allow-list names ``host`` (any port) or ``host:port`` exactly."""
    name = _normal(host)
    return any(_normal(entry) in (name, f"{name}:{port}") for entry in allow_hosts)


async def checked_address(
    host: str, port: int, allow_hosts: Iterable[str], *, lookup_seconds: float = 10.0
) -> str:
    """The address to connect to for ``host``; UnsafeTarget if one it has is not public.

    Loopback, private, link-local, CGNAT, multicast, reserved and metadata addresses are refused
    unless ``allow_hosts`` names the host; names that do not resolve raise SourceUnreachable.
    """
    name = _normal(host)
    literal = parse_host_literal(name)
    ips = (
        [str(literal)]
        if literal is not None
        else await resolve_addresses(name, port, lookup_seconds)
    )
    if host_allowed(allow_hosts, name, port):
        return ips[0]
    for ip in ips:
        reason = unsafe_reason(ipaddress.ip_address(ip))
        if reason is not None:
            via = "" if literal is not None else f" ({host} resolves to {ip})"
            raise UnsafeTarget(
                f"The SFTP host {host} points at {reason}{via}; refused. An administrator can "
                "allow it with BANKFEEDS_SFTP_ALLOW_HOSTS."
            )
    return ips[0]
