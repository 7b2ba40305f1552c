"""The client a request is limited as: the peer itself, unless the peer is a trusted proxy
(a configured CIDR), in which case the address the proxies put in `Forwarded` (RFC 7239) or
`X-Forwarded-For`. Those headers are read right to left, skipping trusted proxies: the first
address not ours is the client, so an address a client wrote itself at the left cannot be
chosen. From any other peer the headers are ignored — anyone can send them.
"""

import ipaddress
import re
from collections.abc import Iterable, Mapping

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_FOR = re.compile(r'(?i)(?:^|;)\s*for="?\[?([^\]";,]+)')


def trusted_networks(text: str) -> list[Network]:
    """A comma-separated CIDR list ("10.0.0.0/8, 2001:db8::/32"); raises ValueError."""
    return [ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip()]


def _address(text: str) -> Address | None:
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _forwarded_hops(headers: Mapping[str, str]) -> list[str] | None:
    forwarded = headers.get("Forwarded")
    if forwarded:
        hops = []
        for element in forwarded.split(","):
            match = _FOR.search(element)
            hops.append(match.group(1) if match else "")
        return hops
    xff = headers.get("X-Forwarded-For")
    return [hop for hop in xff.split(",")] if xff else None


def client_address(peer: str | None, headers: Mapping[str, str], trusted: Iterable[Network]) -> str:
    networks = list(trusted)

    def is_trusted(address: Address) -> bool:
        return any(address in network for network in networks)

    peer_address = _address(peer or "")
    if peer_address is None or not is_trusted(peer_address):
        return peer or "unknown"
    hops = _forwarded_hops(headers)
    if not hops:
        return str(peer_address)
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            # an unreadable hop ("unknown", an obfuscated id): the closest trusted view
            # of the client is the proxy that wrote it
            return str(peer_address)
        if not is_trusted(address):
            return str(address)
        peer_address = address
    return str(peer_address)  # every hop was one of our proxies
