"""anchor's revocation records on a real database: two requests revoking the same certificate at
the same moment. On PostgreSQL (READ COMMITTED) both can find it free and both insert; the
loser must answer from what is stored, not fail. SQLite takes the write lock at BEGIN
(make_engine's sqlite_writer), so there the second waits and never meets the first's row."""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.errors import Conflict
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from services.anchor import tables as t
from services.anchor.revocation_store import SqlRevocations
from services.anchor.revocations import (
    NewRevocation,
    RevocationOutcome,
    RevocationReason,
    checked_request,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LEAF = b"\x11" * 32


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers at BEGIN: the race cannot happen there")
    upgrade(database_url, ["anchor"])
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def revocation(certificate_id: str, request_id: str) -> NewRevocation:
    return NewRevocation(
        certificate_id=certificate_id,
        leaf_hash=LEAF,
        batch_id="",
        reason=RevocationReason.WITHDRAWN,
        reason_text="",
        replaced_by="",
        request_id=request_id,
        requested_at=NOW,
    )


def row(certificate_id: str, request_id: str) -> dict[str, Any]:
    return {
        "certificate_id": certificate_id,
        "leaf_hash": LEAF,
        "reason": "other",
        "reason_text": "",
        "replaced_by": "",
        "request_id": request_id,
        "state": "pending",
        "requested_at": NOW,
    }


def a_twin_commits_first(engine: Engine, *rows: tuple[type[Any], dict[str, Any]]) -> None:
    """Just before our first INSERT of a revocation, another session commits `rows`: what a
    concurrent request does after our check found the certificate free."""
    done: list[bool] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if done or not statement.startswith("INSERT INTO certificate_revocations"):
            return
        done.append(True)
        with engine.connect() as other, other.begin():
            for table, values in rows:
                other.execute(insert(table), values)

    event.listen(engine, "before_cursor_execute", before)


def stored_requests(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        rows = session.scalars(select(t.RevocationRequest))
        return {r.request_id: r.newly_revoked_count for r in rows}


def test_a_certificate_revoked_by_a_concurrent_request_counts_as_already_revoked(
    engine: Engine,
) -> None:
    sessions = make_session_factory(engine)
    records = SqlRevocations(sessions, chain_id=31337, registry_address="0x" + "1" * 40)
    a_twin_commits_first(engine, (t.CertificateRevocation, row("c1", "other-request")))
    request = checked_request(
        request_id="mine",
        certificate_ids=["c1", "c2"],
        batch_id="",
        reason=RevocationReason.WITHDRAWN,
        reason_text="",
    )
    outcome = records.add_revocations(
        request,
        [revocation("c1", "mine"), revocation("c2", "mine")],
        RevocationOutcome(2, 2, 0),
    )
    assert outcome == RevocationOutcome(2, 1, 1)
    assert records.revoked(["c1", "c2"]) == {"c1", "c2"}
    assert stored_requests(sessions) == {"mine": 1}
    with sessions() as session:
        first = session.get(t.CertificateRevocation, "c1")
        assert first is not None and first.request_id == "other-request"  # the first one stays


def test_a_concurrent_other_request_under_the_same_request_id_is_a_conflict(
    engine: Engine,
) -> None:
    sessions = make_session_factory(engine)
    records = SqlRevocations(sessions, chain_id=31337, registry_address="0x" + "1" * 40)
    a_twin_commits_first(
        engine,
        (t.CertificateRevocation, row("c1", "same")),
        (
            t.RevocationRequest,
            {
                "request_id": "same",
                "digest": "0" * 64,  # another request's content
                "certificate_count": 1,
                "newly_revoked_count": 1,
                "already_revoked_count": 0,
            },
        ),
    )
    request = checked_request(
        request_id="same",
        certificate_ids=["c1"],
        batch_id="",
        reason=RevocationReason.WITHDRAWN,
        reason_text="",
    )
    with pytest.raises(Conflict) as refused:
        records.add_revocations(request, [revocation("c1", "same")], RevocationOutcome(1, 1, 0))
    assert refused.value.reason == "REQUEST_ID_REUSED"
