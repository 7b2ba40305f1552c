"""Concurrent single issues under one request id, against real SQLite and PostgreSQL."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.document import IssuerProfile
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from services.ingest import tables as ingest_tables
from services.ingest.store import SqlIngestStore
from services.ingest.usecases import Ingest

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def clock() -> datetime:
    return NOW


ISSUER = IssuerProfile(id="https://uni.example.edu", name="Example University")
FIELDS = {
    "name": "Ada Lovelace",
    "email": "ada@example.edu",
    "title": "Analytical Engines",
    "completion_date": "2026-06-30",
}
CALLERS = 20
ROUNDS = 5  # the race is narrow: several rounds make the old code fail reliably


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(database_url)
    engine = make_engine(database_url, pool_size=CALLERS)
    yield make_session_factory(engine)
    engine.dispose()


def test_concurrent_calls_with_one_request_id_all_get_the_same_certificate(
    sessions: sessionmaker[Session],
) -> None:
    ingest = Ingest(
        SqlIngestStore(sessions), ISSUER, max_rows=10, leaves_per_message=10, clock=clock
    )

    def issue(round_number: int) -> str:
        fields = {**FIELDS, "email": f"ada{round_number}@example.edu"}
        request_id = f"lms-{round_number}"
        return ingest.issue_one(
            request_id=request_id, fields=fields, custom_fields={}
        ).certificate_id

    with ThreadPoolExecutor(CALLERS) as pool:
        for round_number in range(ROUNDS):
            certificate_ids = list(pool.map(issue, [round_number] * CALLERS))
            assert len(set(certificate_ids)) == 1, f"round {round_number}"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ingest_tables.Certificate)) == ROUNDS
        assert (
            session.scalar(select(func.count()).select_from(ingest_tables.IssueRequest)) == ROUNDS
        )
