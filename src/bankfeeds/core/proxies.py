"""The client's address behind trusted reverse proxies.

``X-Forwarded-For`` is written by every proxy a request passed, each appending the address it
saw; anything left of the first trusted hop may have been typed by the client. So the header is
read only when the TCP peer is a trusted proxy, and then from the right: the first address that
is not itself a trusted proxy is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: object) -> tuple[Network, ...]:
    """Networks from a comma-separated string (or an iterable) of IPs and CIDRs.

    Raises ``ValueError`` naming the first entry that is neither.
    """
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]  # type: ignore[attr-defined]
    out: list[Network] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not an IP address or CIDR range") from exc
    return tuple(out)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        found = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    # An IPv4 peer seen on a dual-stack socket is ::ffff:a.b.c.d; compare it as IPv4.
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def is_trusted(address: str, trusted: Iterable[Network]) -> bool:
    """Whether ``address`` lies in one of the ``trusted`` networks."""
    ip = _ip(address)
    return ip is not None and any(ip.version == n.version and ip in n for n in trusted)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]
) -> str:
    """The address to account a request to: the peer, or the right-most untrusted forwarded hop.

    When every hop is trusted the left-most one is the best there is. An unparseable hop ends the
    walk, since no proxy of ours wrote it.
    """
    address = peer or ""
    if not trusted or not forwarded_for or not is_trusted(address, trusted):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        ip = _ip(hop)
        if ip is None:
            return address
        address = str(ip)
        if not is_trusted(address, trusted):
            return address
    return address
