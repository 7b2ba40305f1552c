"""The trace each batch's recipients came in, kept in notify's database on SQLite and
PostgreSQL: the first context stored for a batch stays, and any replica reads it back."""

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from services.notify.store import Deliveries


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(database_url, ["notify"])
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def test_the_first_trace_of_a_batch_is_kept_and_read_by_any_replica(sessions) -> None:
    one = Deliveries(sessions, message_id_domain="uni.example")
    other = Deliveries(sessions, message_id_domain="uni.example")
    first = '{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}'
    one.remember_batch_trace("batch-1", first)
    one.remember_batch_trace("batch-1", '{"traceparent": "00-ffff-ffff-01"}')  # redelivered
    assert other.batch_traces(["batch-1", "batch-2"]) == {"batch-1": first}
    assert other.batch_traces([]) == {}
