"""PostgreSQL goes away mid-batch and comes back: every service stays up, nothing is lost,
nothing is anchored or emailed twice (real PostgreSQL, real processes)."""

import email
import time
from collections import Counter
from collections.abc import Iterator

import grpc
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from devstack.client import StackClient
from devstack.databases import create_database, drop_database
from devstack.smtp_sink import RelayBehaviour
from devstack.stack import SERVICES, LocalStack, StackOptions
from tests.conftest import POSTGRES_ADMIN_URL

pytestmark = pytest.mark.skipif(
    not POSTGRES_ADMIN_URL, reason="needs PostgreSQL (CERTFLOW_TEST_DATABASE_URL)"
)
ROWS = 300
OUTAGE_SECONDS = 4  # long enough that every service meets it, short enough for the suite
CSV = "name,email,title,completion_date\n" + "".join(
    f"Student {i},outage{i}@example.org,Resilience 201,2026-05-01\n" for i in range(ROWS)
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    url = create_database(POSTGRES_ADMIN_URL)
    options = StackOptions(
        state_dir=tmp_path_factory.mktemp("outage"),
        database_url=url,
        window_max_age_seconds=0.3,
        window_max_leaves=100,
        # a slow relay keeps notify mid-send when the database goes away
        smtp_behaviour=RelayBehaviour(delay_seconds=0.01),
        service_env={"CERTFLOW_CLAIM_LEASE_SECONDS": "6"},
    )
    try:
        with LocalStack(options) as running:
            yield running
    finally:
        drop_database(POSTGRES_ADMIN_URL, url)


@pytest.fixture(scope="module")
def client(stack: LocalStack) -> Iterator[StackClient]:
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    yield client
    client.close()


def _admin(statement: sql.SQL | sql.Composed, *params: str) -> None:
    admin = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as db:
        db.execute(statement, params or None)


def cut_off(database: str) -> None:
    """New connections refused and every open one terminated: the database is gone."""
    name = sql.Identifier(database)
    _admin(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(name))
    _admin(
        sql.SQL(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()"
        ),
        database,
    )


def restore(database: str) -> None:
    name = sql.Identifier(database)
    _admin(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(name))


def test_a_database_outage_mid_batch_loses_and_duplicates_nothing(
    stack: LocalStack, client: StackClient
) -> None:
    database = make_url(stack.database_url).database
    assert database
    response = client.upload_csv(CSV.encode(), request_id="outage-1")
    assert response.batch.accepted_count == ROWS
    cut_off(database)
    try:
        with pytest.raises(grpc.RpcError) as refused:
            client.batch(response.batch.batch_id)
        # a clear, retryable answer while the database is away, not INTERNAL
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value.details()
        time.sleep(OUTAGE_SECONDS)
    finally:
        restore(database)
    batch = client.wait_for_batch(response.batch.batch_id, until="completed", timeout=240)
    for name in SERVICES:
        stack.processes[name].check_alive()  # no service exited
    assert batch.anchored_count == batch.emailed_count == ROWS
    windows = [w for w in client.anchor_windows() if w.leaf_count]
    assert sum(w.leaf_count for w in windows) == ROWS  # nothing anchored twice
    recipients = Counter(
        email.message_from_bytes(p.read_bytes())["X-Envelope-To"]
        for p in stack.mail_dir.glob("*.eml")
    )
    assert len(recipients) == ROWS
    # a send the relay accepted just before the outage may be re-sent once its outcome could
    # not be stored (bounded by CERTFLOW_MAX_UNRECORDED_SENDS); anything more is a defect
    duplicates = sum(count - 1 for count in recipients.values())
    assert duplicates <= 64, f"{duplicates} duplicate emails"
