"""verify's public HTTP site on a real server (127.0.0.1, a free port, a thread of its own) over
its real SQL store, migrated, with certificates delivered through its own consumers: valid,
revoked, pending, and a tampered copy of the valid file. The chain is held in memory (anvil
is not needed to show a page; tests/e2e/test_hostile_verify.py verifies against anvil).

Shared by the HTTP tests here and the browser tests in tests/e2e/test_verification_page.py."""

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from services.verify.bootstrap import Adapters, build
from services.verify.settings import VerifySettings
from services.verify.store import SqlCertificateStore, SqlProblemReports
from tests.unit.verify.events import (
    REGISTRY,
    PublishedIssuers,
    anchored_event,
    issued_event,
    new_leaf,
)
from tests.unit.verify.test_read_model import deliver
from tests.unit.verify.test_verification import MemoryRegistry

BATCH = "batch-graduation-2026"


class RevokingRegistry(MemoryRegistry):
    """The memory registry, with revocations."""

    def __init__(self) -> None:
        super().__init__()
        self.revoked: set[bytes] = set()

    async def is_revoked(self, leaf_or_root: bytes) -> bool:
        return leaf_or_root in self.revoked

    async def revoked_since(self, from_block: int, to_block: int) -> list[bytes]:
        return sorted(self.revoked)


@dataclass
class Site:
    url: str
    ids: dict[str, str]  # "valid", "revoked", "pending", "valid_greek"
    files: dict[str, bytes]  # "valid", "tampered": certificate files as a recipient has them
    reports: SqlProblemReports
    engine: Any = field(repr=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_site(database_url: str, **settings: Any) -> Iterator[Site]:
    upgrade(database_url, ["verify"])
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    store, reports = SqlCertificateStore(sessions), SqlProblemReports(sessions)
    registry = RevokingRegistry()
    service = build(
        VerifySettings(
            registry_address=REGISTRY,
            anchor_cache_seconds=0,
            **settings,
        ),
        Adapters(store, registry, PublishedIssuers(), reports),
    )
    valid = new_leaf("Zoë Παπαδοπούλου-Дмитриева", "Data Science 101")
    revoked, pending = new_leaf("Bob Revoked"), new_leaf("Carol Pending")
    loop = asyncio.new_event_loop()
    port = free_port()
    runner = web.AppRunner(service.http_app, access_log=None)

    async def start() -> None:
        await deliver(service.issued, issued_event([valid, revoked, pending], batch_id=BATCH))
        await deliver(service.anchored, anchored_event([valid, revoked]))
        for leaf in (valid, revoked):
            found = store.find(leaf.certificate_id)
            assert found is not None and found.anchored is not None
            registry.anchored[found.anchored.anchoring.merkle_root] = (7, 1_780_000_000)
        registry.revoked.add(revoked.leaf_hash)
        await service.revocations.sync_once()  # as its follower does
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    try:
        found = asyncio.run_coroutine_threadsafe(
            service.lookups.find(valid.certificate_id), loop
        ).result(timeout=30)
        assert found is not None
        valid_file = orjson.dumps(found.document)
        tampered = json.loads(valid_file)
        tampered["name"] = "Data Science 999"
        yield Site(
            url=f"http://127.0.0.1:{port}",
            ids={
                "valid": valid.certificate_id,
                "revoked": revoked.certificate_id,
                "pending": pending.certificate_id,
            },
            files={"valid": valid_file, "tampered": json.dumps(tampered).encode()},
            reports=reports,
            engine=engine,
        )
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
        engine.dispose()
