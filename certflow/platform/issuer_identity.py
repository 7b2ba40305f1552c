"""Reads what an issuer publishes about its registries: its domain's DNS TXT records
(dnspython) and its profile over HTTPS (aiohttp), both cached. What the answers mean is decided
in certflow.core.issuer_binding; this module only asks.

Every answer (records found, or none) is reused for `cache_seconds`, so a page of look-ups asks
DNS once per issuer per TTL, not once per look-up; a source that could not be asked is not
remembered (the next verification asks again). Profiles are read only from https ids on the
default port of a DNS name, at most MAX_PROFILE_BYTES, without following redirects, and only
from public addresses: a posted document names any domain it likes, and must not make the
public service fetch from inside its own network (a name resolving to 10.x, 127.x, 169.254.x…
is refused when connecting, which also covers DNS rebinding between check and use).
"""

import asyncio
import ipaddress
import json
import logging
import socket
import time
from dataclasses import dataclass

import aiohttp
import dns.asyncresolver
import dns.exception
import dns.resolver
from aiohttp.abc import AbstractResolver, ResolveResult

from certflow.core.issuer_binding import (
    Publication,
    Published,
    issuer_domain,
    profile_url,
    registries_in_profile,
    registries_in_txt,
)
from certflow.core.json_limits import check_json_depth

log = logging.getLogger(__name__)
MAX_PROFILE_BYTES = 256 * 1024
MAX_CACHED_ISSUERS = 10_000


@dataclass(frozen=True, slots=True)
class IdentitySettings:
    # "host:port" of the DNS server to ask; empty: the system's resolvers
    dns_resolver: str = ""
    # replaces scheme and host of profile URLs (a local stack or test serves them); empty: the
    # issuer's own https URL
    profile_base_url: str = ""
    cache_seconds: float = 300.0
    timeout_seconds: float = 3.0


class IssuerIdentity:
    """What an issuer publishes, per source; shared by the verify service and any standalone
    verifier."""

    def __init__(self, settings: IdentitySettings) -> None:
        self._settings = settings
        self._resolver = _resolver(settings.dns_resolver)
        self._session: aiohttp.ClientSession | None = None
        self._cache: dict[str, tuple[float, tuple[Published, ...]]] = {}

    async def published(self, issuer_id: str) -> tuple[Published, ...]:
        """The DNS TXT and profile answers for this issuer id (cached); none for an id that
        names no domain (nothing is asked, nor remembered: a posted id is not kept)."""
        domain = issuer_domain(issuer_id)
        url = profile_url(issuer_id, self._settings.profile_base_url)
        if domain is None or url is None:
            return ()
        now = time.monotonic()
        hit = self._cache.get(issuer_id)
        if hit and hit[0] > now:
            return hit[1]
        answers = await asyncio.gather(self.dns_txt(domain), self.profile(url))
        if all(a.state is not Publication.UNREACHABLE for a in answers):
            if len(self._cache) >= MAX_CACHED_ISSUERS:
                self._cache.clear()
            self._cache[issuer_id] = (now + self._settings.cache_seconds, tuple(answers))
        return tuple(answers)

    async def dns_txt(self, domain: str) -> Published:
        source = f"DNS TXT of {domain}"
        try:
            answer = await self._resolver.resolve(
                domain, "TXT", lifetime=self._settings.timeout_seconds, search=False
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return Published.absent(source)
        except dns.exception.DNSException as exc:
            log.info("%s could not be asked: %s", source, type(exc).__name__)
            return Published.unreachable(source)
        records = [b"".join(r.strings).decode("utf-8", "replace") for r in answer]
        return Published(source, Publication.LISTS, registries_in_txt(records))

    async def profile(self, url: str) -> Published:
        source = f"issuer profile {url}"
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout_seconds)
        try:
            async with self._client().get(
                url,
                timeout=timeout,
                allow_redirects=False,
                headers={"Accept": "application/ld+json, application/json"},
            ) as response:
                if response.status in (404, 410):
                    return Published.absent(source)
                if response.status != 200:
                    log.info("%s answered HTTP %d", source, response.status)
                    return Published.unreachable(source)
                body = await _read_at_most(response.content, MAX_PROFILE_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("%s could not be read: %s", source, type(exc).__name__)
            return Published.unreachable(source)
        if len(body) > MAX_PROFILE_BYTES:
            return Published.absent(source)  # not a profile anyone publishes
        try:
            text = body.decode(json.detect_encoding(body))  # as json.loads(bytes) reads it
            # the depth before parsing: json recurses per level, and under web3's recursion
            # limit a deep document crashes the process instead of raising (json_limits)
            check_json_depth(text)
            profile = json.loads(text)
        except ValueError:
            return Published.absent(source)  # answered, but nothing readable is published
        return Published(source, Publication.LISTS, registries_in_profile(profile))

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # a configured base URL is the local stack's or a test's own server, on 127.0.0.1
            local = bool(self._settings.profile_base_url)
            resolver = aiohttp.ThreadedResolver() if local else PublicAddressesOnly()
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=resolver))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def _read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """The body up to `limit` bytes. (`read(n)` returns whatever has arrived so far, not n
    bytes: a profile sent in several pieces would be cut.)"""
    body = bytearray()
    async for piece in stream.iter_any():
        body += piece
        if len(body) >= limit:
            break
    return bytes(body[:limit])


class PublicAddressesOnly(AbstractResolver):
    """Resolves as usual, then keeps only globally routable addresses; a name with none left
    cannot be connected to (the profile counts as unreachable)."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [r for r in found if is_public(r["host"])]
        if not public:
            raise OSError(f"{host} has no public address")
        return public

    async def close(self) -> None:
        await self._inner.close()


# IPv6 prefixes that carry an IPv4 address in their last 32 bits, which a NAT64 gateway (IPv6-only
# clusters, cloud NAT gateways) connects to: 64:ff9b::a00:1 reaches 10.0.0.1 (RFC 6052, RFC 8215)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def is_public(host: str) -> bool:
    """Globally routable, and so is any IPv4 address it carries (IPv4-mapped or -compatible,
    6to4, NAT64), which `is_global` alone does not look at."""
    address = ipaddress.ip_address(host)
    if isinstance(address, ipaddress.IPv6Address):
        low = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and (int(address) >> 32 == 0 or any(address in n for n in _NAT64)):
            embedded = low  # IPv4-compatible ::a.b.c.d, or NAT64
        if embedded is not None and not embedded.is_global:
            return False
    return address.is_global


def _resolver(address: str) -> dns.asyncresolver.Resolver:
    if not address:
        return dns.asyncresolver.Resolver()
    host, _, port = address.rpartition(":")
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [host.strip("[]")]
    resolver.port = int(port)
    return resolver
