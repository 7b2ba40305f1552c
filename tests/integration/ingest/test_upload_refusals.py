"""Uploads refused whole or stopped part-way write nothing (real SQLite / PostgreSQL)."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.document import IssuerProfile
from certflow.core.errors import Cancelled, InvalidInput
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from services.ingest import tables as ingest_tables
from services.ingest.store import SqlIngestStore
from services.ingest.usecases import Ingest

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def clock() -> datetime:
    return NOW


ISSUER = IssuerProfile(id="https://uni.example.edu", name="Example University")
HEADER = "name,email,title,completion_date\n"


def valid_rows(count: int) -> str:
    return "".join(f"Grad {i},grad{i}@example.edu,BSc,2026-06-30\n" for i in range(count))


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(database_url)
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def ingest(sessions: sessionmaker[Session]) -> Ingest:
    return Ingest(
        SqlIngestStore(sessions), ISSUER, max_rows=100_000, leaves_per_message=100, clock=clock
    )


def stored_batches(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(ingest_tables.Batch)) or 0


def test_a_file_unreadable_after_valid_rows_is_refused_whole(ingest, sessions) -> None:
    data = HEADER + valid_rows(1) + 'Bob,"bob@example.edu,BSc,2026-06-30\n' + valid_rows(11)
    with pytest.raises(InvalidInput) as info:
        ingest.upload_csv(data.encode(), request_id="r1", display_name="")
    assert info.value.reason == "UNREADABLE_CSV"
    assert "line 3" in info.value.message
    assert stored_batches(sessions) == 0


def test_a_header_without_rows_is_refused(ingest, sessions) -> None:
    with pytest.raises(InvalidInput) as info:
        ingest.upload_csv((HEADER + "\n\n").encode(), request_id="r2", display_name="")
    assert info.value.reason == "NO_ROWS"
    assert stored_batches(sessions) == 0


def test_an_upload_whose_caller_has_gone_stops_and_writes_nothing(ingest, sessions) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        ingest.upload_csv(
            (HEADER + valid_rows(2000)).encode(), request_id="r3", display_name="", cancel=cancel
        )
    assert stored_batches(sessions) == 0


def test_an_upload_cancelled_part_way_writes_nothing(ingest, sessions) -> None:
    class CancelAfterChecks:
        """Cancelled on the third check: part of the file has been processed by then."""

        def __init__(self) -> None:
            self.checks = 0

        def is_set(self) -> bool:
            self.checks += 1
            return self.checks > 2

    cancel = CancelAfterChecks()
    with pytest.raises(Cancelled):
        ingest.upload_csv(
            (HEADER + valid_rows(2000)).encode(), request_id="r4", display_name="", cancel=cancel
        )
    assert cancel.checks == 3  # stopped at the first check that saw the caller gone
    assert stored_batches(sessions) == 0
