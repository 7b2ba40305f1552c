"""A SIGKILLed anchor's stand-by takes the signer lease over as soon as PostgreSQL has ended
the dead process's session — long before its lease would run out (600 s here) — and never
while the holder lives."""

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from devstack import tools
from services.anchor.lease import SignerLeaseHolder
from services.anchor.presence import PostgresPresence
from services.anchor.store import AnchorStore
from tests.conftest import POSTGRES_ADMIN_URL, discard_database, fresh_database_url

pytestmark = pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="needs PostgreSQL")

SENDER = "0x" + "ab" * 20
LEASE_SECONDS = 600
HOLDER = """
import sys, time
from certflow.platform.db.engine import make_engine, make_session_factory
from services.anchor.lease import SignerLeaseHolder
from services.anchor.presence import PostgresPresence
from services.anchor.store import AnchorStore

engine = make_engine(sys.argv[1])
store = AnchorStore(make_session_factory(engine), chain_id=31337, registry_address="0x" + "11" * 20)
lease = SignerLeaseHolder(
    store, sender=sys.argv[2], holder="replica-1", ttl_seconds=int(sys.argv[3]),
    presence=PostgresPresence(engine, "replica-1"),
)
assert lease.held()
print("held", flush=True)
while True:
    time.sleep(0.2)
    assert lease.held()
"""


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = fresh_database_url("postgresql", tmp_path)
    upgrade(url, ["anchor"])
    engine = make_engine(url)
    yield engine
    engine.dispose()
    discard_database(url)


def stand_by(engine: Engine) -> SignerLeaseHolder:
    store = AnchorStore(
        make_session_factory(engine), chain_id=31337, registry_address="0x" + "11" * 20
    )
    return SignerLeaseHolder(
        store,
        sender=SENDER,
        holder="replica-2",
        ttl_seconds=LEASE_SECONDS,
        presence=PostgresPresence(engine, "replica-2"),
    )


def test_the_stand_by_takes_over_when_the_holder_is_killed_not_when_it_lives(
    engine: Engine,
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, SENDER, str(LEASE_SECONDS)],
        stdout=subprocess.PIPE,
        cwd=tools.PROJECT_ROOT,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        second = stand_by(engine)
        for _ in range(5):
            assert not second.held()  # the holder lives: its lease stands
            time.sleep(0.1)
        holder.kill()  # SIGKILL: no release, the lease row still says replica-1 for 600 s
        holder.wait()
        deadline = time.monotonic() + 30
        while not second.held():
            assert time.monotonic() < deadline, "the stand-by never took over"
            time.sleep(0.1)
        store = AnchorStore(make_session_factory(engine), chain_id=1, registry_address="0x")
        assert store.lease_holder(sender=SENDER) == "replica-2"
        second.release()
    finally:
        holder.kill()
        holder.wait()
