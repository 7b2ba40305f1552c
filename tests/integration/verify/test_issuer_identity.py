"""The issuer identity adapter against real servers: a dnslib DNS server (UDP and TCP) and an
HTTP server for profiles (devstack/issuer_identity.py, its own process on free 127.0.0.1 ports),
what they publish changed between cases by rewriting their records file."""

import asyncio
import json
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from certflow.core.issuer_binding import (
    Binding,
    Publication,
    RegistryRef,
    decide,
    profile_document,
    txt_record,
)
from certflow.platform.issuer_identity import (
    IdentitySettings,
    IssuerIdentity,
    PublicAddressesOnly,
)
from devstack.issuer_identity import RecordsFile, write_records
from devstack.processes import ManagedProcess, free_port, wait_for_port

ISSUER_ID = "https://registrar.example.edu/issuer"
DOMAIN = "registrar.example.edu"
OURS = RegistryRef.of(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
COPY = RegistryRef.of(31337, "0x" + "c0" * 20)


@dataclass
class IdentityServers:
    records: Path
    dns_port: int
    http_port: int

    def identity(self, *, cache_seconds: float = 0.0, timeout: float = 2.0) -> IssuerIdentity:
        return IssuerIdentity(
            IdentitySettings(
                dns_resolver=f"127.0.0.1:{self.dns_port}",
                profile_base_url=f"http://127.0.0.1:{self.http_port}",
                cache_seconds=cache_seconds,
                timeout_seconds=timeout,
            )
        )

    def publish(
        self, *, dns: list[RegistryRef] | None = None, profile: list[RegistryRef] | None = None
    ) -> None:
        write_records(
            self.records,
            txt={DOMAIN: ["v=spf1 -all", *(txt_record(r) for r in dns)]} if dns is not None else {},
            documents=(
                {"/issuer": profile_document(ISSUER_ID, "Registrar", profile)}
                if profile is not None
                else {}
            ),
        )


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityServers]:
    folder = tmp_path_factory.mktemp("identity")
    found = IdentityServers(folder / "records.json", free_port(), free_port())
    write_records(found.records)
    process = ManagedProcess(
        "identity",
        [
            sys.executable,
            "-m",
            "devstack.issuer_identity",
            f"--dns-port={found.dns_port}",
            f"--http-port={found.http_port}",
            f"--records={found.records}",
        ],
        folder / "identity.log",
    ).start()
    try:
        wait_for_port(found.http_port, 20, process)
        wait_for_port(found.dns_port, 20, process)  # the TCP side of the DNS server
        yield found
    finally:
        process.stop()


async def binding_of(servers: IdentityServers, registry: RegistryRef = OURS) -> Binding:
    identity = servers.identity()
    try:
        return decide(registry, await identity.published(ISSUER_ID)).binding
    finally:
        await identity.close()


@pytest.mark.parametrize(
    ("dns", "profile", "expected"),
    [
        ([OURS], [OURS], Binding.BOUND),
        ([OURS], None, Binding.BOUND),  # DNS alone is enough
        (None, [OURS], Binding.BOUND),  # and so is the profile alone
        ([COPY], [OURS], Binding.BOUND),
        ([], [], Binding.NOT_LISTED),  # TXT records and a profile, neither naming a registry
        ([COPY], [COPY], Binding.NOT_LISTED),  # the issuer's registry is another one
        (None, None, Binding.NOT_LISTED),  # NXDOMAIN and 404: nothing published
    ],
)
async def test_what_the_issuer_publishes_decides_the_binding(
    servers: IdentityServers,
    dns: list[RegistryRef] | None,
    profile: list[RegistryRef] | None,
    expected: Binding,
) -> None:
    servers.publish(dns=dns, profile=profile)
    assert await binding_of(servers) is expected


async def test_both_sources_are_read_and_reported(servers: IdentityServers) -> None:
    servers.publish(dns=[OURS, COPY], profile=[COPY])
    identity = servers.identity()
    try:
        dns, profile = await identity.published(ISSUER_ID)
    finally:
        await identity.close()
    assert (dns.source, dns.state, dns.registries) == (
        f"DNS TXT of {DOMAIN}",
        Publication.LISTS,
        frozenset({OURS, COPY}),
    )
    assert profile.source == f"issuer profile http://127.0.0.1:{servers.http_port}/issuer"
    assert profile.registries == frozenset({COPY})


async def test_an_unreachable_profile_is_no_verdict_unless_dns_lists_the_registry(
    servers: IdentityServers, tmp_path: Path
) -> None:
    servers.publish(dns=[COPY])
    nobody = IdentityServers(servers.records, servers.dns_port, free_port())  # nothing listens
    identity = nobody.identity()
    try:
        published = await identity.published(ISSUER_ID)
        assert published[1].state is Publication.UNREACHABLE
        assert decide(OURS, published).binding is Binding.UNKNOWN
        assert decide(COPY, published).binding is Binding.BOUND
    finally:
        await identity.close()


async def test_an_unreachable_dns_server_is_no_verdict(servers: IdentityServers) -> None:
    servers.publish(profile=[COPY])
    silent = IdentityServers(servers.records, free_port(), servers.http_port)
    identity = silent.identity(timeout=0.3)
    try:
        published = await identity.published(ISSUER_ID)
    finally:
        await identity.close()
    assert published[0].state is Publication.UNREACHABLE
    assert decide(OURS, published).binding is Binding.UNKNOWN


async def test_answers_are_cached_for_their_ttl(servers: IdentityServers) -> None:
    servers.publish(dns=[OURS])
    identity = servers.identity(cache_seconds=3600)
    try:
        assert decide(OURS, await identity.published(ISSUER_ID)).binding is Binding.BOUND
        servers.publish(dns=[COPY])  # the issuer changes its record: not asked again yet
        assert decide(OURS, await identity.published(ISSUER_ID)).binding is Binding.BOUND
    finally:
        await identity.close()
    fresh = servers.identity(cache_seconds=3600)
    try:
        assert decide(OURS, await fresh.published(ISSUER_ID)).binding is Binding.NOT_LISTED
    finally:
        await fresh.close()


async def test_an_unreachable_answer_is_not_cached(servers: IdentityServers) -> None:
    servers.publish(dns=[])
    late = IdentityServers(servers.records, servers.dns_port, free_port())
    identity = late.identity(cache_seconds=3600)
    try:
        assert (await identity.published(ISSUER_ID))[1].state is Publication.UNREACHABLE
        # the profile server comes up: the next verification asks it, nothing was remembered
        profile = profile_document(ISSUER_ID, "Registrar", [OURS])
        app = web.Application()

        async def serve_profile(_: web.Request) -> web.Response:
            return web.json_response(profile)

        app.router.add_get("/issuer", serve_profile)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", late.http_port).start()
            assert decide(OURS, await identity.published(ISSUER_ID)).binding is Binding.BOUND
        finally:
            await runner.cleanup()
    finally:
        await identity.close()


async def test_ids_that_name_no_domain_publish_nothing(servers: IdentityServers) -> None:
    identity = servers.identity(cache_seconds=3600)
    try:
        for issuer_id in (
            "urn:uuid:1",
            "https://127.0.0.1/issuer",
            "http://registrar.example.edu",
            "urn:" + "x" * 1_000_000,  # a posted document's megabyte
            ISSUER_ID + "/" + "x" * 1_000_000,
        ):
            assert await identity.published(issuer_id) == ()
            assert decide(OURS, ()).binding is Binding.NOT_LISTED
        # nothing was asked, so nothing is remembered: 10,000 posted megabyte ids kept 10 GB
        assert identity._cache == {}
    finally:
        await identity.close()


class FixedAnswers(AbstractResolver):
    """A name resolver answering fixed addresses (what a hostile domain's DNS could say)."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0)
            for a in self.addresses
        ]

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(
    "addresses",
    [
        ("127.0.0.1",),
        ("10.1.2.3", "192.168.0.7"),
        ("169.254.169.254",),
        ("::1",),
        ("fc00::1",),
        # IPv4 inside IPv6: a NAT64 gateway connects 64:ff9b::a00:1 to 10.0.0.1
        ("64:ff9b::a00:1",),
        ("64:ff9b:1::a9fe:a9fe",),
        ("::ffff:127.0.0.1",),
        ("::127.0.0.1",),
        ("2002:a00:1::1",),
    ],
)
async def test_a_profile_host_resolving_inside_a_network_is_not_connected_to(
    addresses: tuple[str, ...],
) -> None:
    with pytest.raises(OSError, match="no public address"):
        await PublicAddressesOnly(FixedAnswers(*addresses)).resolve("registrar.example.edu", 443)


async def test_only_the_public_addresses_of_a_mixed_answer_are_used() -> None:
    answer = await PublicAddressesOnly(
        FixedAnswers("10.0.0.1", "93.184.216.34", "64:ff9b::5db8:d822", "2606:2800:220:1::")
    ).resolve("registrar.example.edu", 443)
    assert [r["host"] for r in answer] == [
        "93.184.216.34",
        "64:ff9b::5db8:d822",  # NAT64 for 93.184.216.34
        "2606:2800:220:1::",
    ]


async def test_without_a_base_url_a_profile_on_a_private_address_is_unreachable(
    servers: IdentityServers,
) -> None:
    """The session the production path uses (no base URL), its name resolving to 127.0.0.1
    where a profile server does answer: not connected to. (http and the server's port, so that
    without the filter the same read would succeed, as the control read shows.)"""
    servers.publish(profile=[OURS])
    url = f"http://registrar.example.edu:{servers.http_port}/issuer"
    for resolver, expected in (
        (FixedAnswers("127.0.0.1"), Publication.LISTS),  # control: the server is there
        (PublicAddressesOnly(FixedAnswers("127.0.0.1")), Publication.UNREACHABLE),
    ):
        identity = IssuerIdentity(IdentitySettings())
        identity._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=resolver))
        try:
            assert (await identity.profile(url)).state is expected
        finally:
            await identity.close()


async def test_the_production_session_filters_addresses() -> None:
    identity = IssuerIdentity(IdentitySettings())
    try:
        connector = identity._client().connector
        assert isinstance(connector, aiohttp.TCPConnector)
        assert isinstance(connector._resolver, PublicAddressesOnly)
    finally:
        await identity.close()


async def profile_served_by(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> Publication | frozenset[RegistryRef]:
    """What the adapter reads from a profile server answering with `handler`: the registries it
    lists, or the state when it lists none."""
    app = web.Application()
    app.router.add_get("/issuer", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    identity = IssuerIdentity(IdentitySettings(profile_base_url=f"http://127.0.0.1:{port}"))
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        answer = await identity.profile(f"http://127.0.0.1:{port}/issuer")
    finally:
        await identity.close()
        await runner.cleanup()
    return answer.registries if answer.state is Publication.LISTS else answer.state


async def test_a_profile_sent_in_pieces_is_read_whole() -> None:
    """A read returns what has arrived so far: the body must be read to its end."""
    body = json.dumps(profile_document(ISSUER_ID, "Registrar", [OURS])).encode()

    async def in_two_pieces(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(body[:20])
        await asyncio.sleep(0.1)  # the first piece is read before the rest is sent
        await response.write(body[20:])
        await response.write_eof()
        return response

    assert await profile_served_by(in_two_pieces) == frozenset({OURS})


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
async def test_a_profile_is_read_in_the_encodings_json_allows(encoding: str) -> None:
    body = json.dumps(profile_document(ISSUER_ID, "Registrar", [OURS])).encode(encoding)

    async def encoded(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    assert await profile_served_by(encoded) == frozenset({OURS})


async def test_a_deeply_nested_profile_is_nothing_published_not_a_crash() -> None:
    """Any domain's owner chooses what its profile says: 200,000 '[' must not reach the parser
    (under web3's recursion limit of 100,000 it crashes the process with SIGSEGV)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)  # what importing web3 (py_ecc) sets in the verify service

    async def deep(_: web.Request) -> web.Response:
        return web.Response(body=b"[" * 200_000, content_type="application/json")

    try:
        assert await profile_served_by(deep) is Publication.ABSENT
    finally:
        sys.setrecursionlimit(limit)


def test_the_servers_see_a_rewrite_within_one_timestamp_tick(tmp_path: Path) -> None:
    """Two publications of the same size within one tick of the file system's clock (the
    cached-answer test publishes [OURS] then [COPY]): the second is still what is served."""
    path = tmp_path / "records.json"
    records = RecordsFile(path)
    write_records(path, txt={DOMAIN: [txt_record(OURS)]})
    assert records.current()["txt"][DOMAIN] == [txt_record(OURS)]
    before = path.stat()
    write_records(path, txt={DOMAIN: [txt_record(COPY)]})
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the same tick
    assert path.stat().st_size == before.st_size
    assert records.current()["txt"][DOMAIN] == [txt_record(COPY)]
