"""The issuer's public identity for the local stack: a DNS server (dnslib, UDP and TCP) answering
the issuer domain's TXT records and an HTTP server answering its profile, both from one JSON file
that is read again whenever it changes (so a test can change what the issuer publishes while the
servers run). Production issuers publish these in their own DNS zone and web site.

    python -m devstack.issuer_identity --dns-port 5353 --http-port 8088 --records FILE

FILE: {"txt": {"<domain>": ["<record>", …]}, "documents": {"<path>": <JSON served there>}}.
A domain not in "txt" is NXDOMAIN; a path not in "documents" is 404.
"""

import argparse
import asyncio
import json
import os
import signal
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from dnslib import QTYPE, RCODE, RR, TXT, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSServer

from certflow.core.issuer_binding import RegistryRef, profile_document, txt_record


def write_records(
    path: Path,
    *,
    txt: dict[str, list[str]] | None = None,
    documents: dict[str, Any] | None = None,
) -> None:
    """Replaces what the servers answer (whole file at once: a reader never sees half)."""
    staged = path.with_suffix(".tmp")
    staged.write_text(json.dumps({"txt": txt or {}, "documents": documents or {}}))
    os.replace(staged, path)


def demo_issuer_records(
    path: Path,
    issuer_id: str,
    issuer_name: str,
    domain: str,
    registries: list[RegistryRef],
    *,
    dns: bool = True,
    profile: bool = True,
) -> None:
    """The demo issuer publishes its registries both ways, TXT records and its profile (or only
    one of them: the other is then NXDOMAIN or 404)."""
    profile_path = urlsplit(issuer_id).path or "/"
    write_records(
        path,
        txt={domain: [txt_record(r) for r in registries]} if dns else {},
        documents=(
            {profile_path: profile_document(issuer_id, issuer_name, registries)} if profile else {}
        ),
    )


class RecordsFile:
    """The JSON file, re-read when it is replaced (write_records renames a new file over it:
    a new inode) or its modification time or size changes. Not the time and size alone: two
    writes within one clock tick of the file system's timestamps can have the same of both."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen: tuple[int, int, int] | None = None
        self._data: dict[str, Any] = {"txt": {}, "documents": {}}
        self._lock = threading.Lock()

    def current(self) -> dict[str, Any]:
        with self._lock:
            try:
                stat = self._path.stat()
            except FileNotFoundError:
                return {"txt": {}, "documents": {}}
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if self._seen != seen:
                self._data = json.loads(self._path.read_text())
                self._seen = seen
            return self._data


class TxtResolver(BaseResolver):
    def __init__(self, records: RecordsFile) -> None:
        self._records = records

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        known: dict[str, list[str]] = self._records.current()["txt"]
        if name not in known:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.TXT:
            for record in known[name]:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(record), ttl=60))
        return reply


def http_app(records: RecordsFile) -> web.Application:
    async def document(request: web.Request) -> web.Response:
        found = records.current()["documents"].get(request.path)
        if found is None:
            return web.json_response({"error": "NOT_FOUND"}, status=404)
        return web.json_response(found, content_type="application/ld+json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", document)
    return app


async def serve(dns_port: int, http_port: int, records_path: Path) -> None:
    records = RecordsFile(records_path)
    resolver = TxtResolver(records)
    quiet = _QuietLogger()
    dns_servers = [
        DNSServer(resolver, address="127.0.0.1", port=dns_port, tcp=tcp, logger=quiet)
        for tcp in (False, True)
    ]
    for server in dns_servers:
        server.start_thread()
    runner = web.AppRunner(http_app(records), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", http_port).start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await runner.cleanup()
    for server in dns_servers:
        server.stop()


class _QuietLogger:
    """dnslib's logger prints every query; the local stack wants none of that."""

    def __getattr__(self, _: str) -> Any:
        return lambda *args, **kwargs: None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dns-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--records", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.dns_port, args.http_port, args.records))


if __name__ == "__main__":
    main()
