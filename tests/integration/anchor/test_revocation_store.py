"""anchor's revocation records on a real database (SQLite and PostgreSQL).

Two requests revoking the same certificate at the same moment: on PostgreSQL (READ COMMITTED)
both can find it free and both insert; the loser must answer from what is stored, not fail.
SQLite takes the write lock at BEGIN (make_engine's sqlite_writer), so there the second waits
and never meets the first's row.

A certificate revoked first (say for a data correction) and reissued afterwards: its revocation
names the replacement, announced again if it was announced without it."""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.errors import Conflict
from certflow.core.transactions import MinedTransaction
from certflow.platform.bus import SUBJECT_REVOKED
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from certflow.v1 import certificate_pb2, events_pb2
from services.anchor import tables as t
from services.anchor.revocation_store import SqlRevocations
from services.anchor.revocations import (
    NewRevocation,
    RevocationOutcome,
    RevocationReason,
    checked_request,
    revoke,
)
from services.anchor.revoker import revoked_events

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LEAF = b"\x11" * 32


@pytest.fixture
def any_engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url, ["anchor"])
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(any_engine: Engine) -> Engine:
    if any_engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers at BEGIN: the race cannot happen there")
    return any_engine


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


MINED = MinedTransaction("0x" + "cd" * 32, 42, "0x" + "ef" * 32, 50_000, True)
OLD, NEW = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


def placed(sessions: sessionmaker[Session], certificate_id: str) -> None:
    """The certificate's proof, as anchor keeps it once the certificate is in a window."""
    with sessions.begin() as session:
        session.add(
            t.AnchorWindow(
                id="w1",
                state="confirmed",
                leaf_count=1,
                merkle_root=LEAF,
                chain_id=31337,
                registry_address="0x" + "1" * 40,
            )
        )
        session.flush()
        session.add(
            t.CertificateProof(
                certificate_id=certificate_id,
                window_id="w1",
                leaf_index=0,
                leaf_hash=LEAF,
                merkle_path=b"",
            )
        )


def ask(records: SqlRevocations, request_id: str, replaced_by: str = "") -> RevocationOutcome:
    request = checked_request(
        request_id=request_id,
        certificate_ids=[OLD],
        batch_id="",
        reason=RevocationReason.SUPERSEDED if replaced_by else RevocationReason.DATA_CORRECTION,
        reason_text="name misspelt",
        replaced_by=replaced_by,
    )
    return revoke(records, request, lambda: NOW)


def confirm(records: SqlRevocations) -> None:
    """The revoker's part: the pending revocation windowed, mined and confirmed."""
    records.add_revocation_window("rw1", [OLD])
    records.record_revocation_confirmed(
        "rw1",
        MINED,
        NOW,
        lambda revocations: revoked_events(
            "rw1", chain_id=31337, mined=MINED, revoked_at=NOW, revocations=revocations
        ),
    )


def announced(sessions: sessionmaker[Session]) -> list[events_pb2.RevokedCertificate]:
    with sessions() as session:
        rows = session.scalars(
            select(t.AnchorOutbox)
            .where(t.AnchorOutbox.subject == SUBJECT_REVOKED)
            .order_by(t.AnchorOutbox.id)
        )
        return [
            c
            for r in rows
            for c in events_pb2.CertificatesRevokedEvent.FromString(r.payload).certificates
        ]


def records_on(engine: Engine) -> tuple[sessionmaker[Session], SqlRevocations]:
    sessions = make_session_factory(engine)
    return sessions, SqlRevocations(sessions, chain_id=31337, registry_address="0x" + "1" * 40)


def test_a_reissue_of_a_pending_revocation_names_the_replacement_in_its_announcement(
    any_engine: Engine,
) -> None:
    sessions, records = records_on(any_engine)
    placed(sessions, OLD)
    assert ask(records, "correct-first") == RevocationOutcome(1, 1, 0)
    assert ask(records, f"reissue:{NEW}", replaced_by=NEW) == RevocationOutcome(1, 0, 1)
    confirm(records)
    (only,) = announced(sessions)
    assert (only.certificate_id, only.replaced_by_certificate_id) == (OLD, NEW)
    assert only.reason == certificate_pb2.REVOCATION_REASON_DATA_CORRECTION  # the first reason


def test_a_reissue_of_an_announced_revocation_announces_it_again_with_the_replacement(
    any_engine: Engine,
) -> None:
    sessions, records = records_on(any_engine)
    placed(sessions, OLD)
    ask(records, "correct-first")
    confirm(records)
    (first,) = announced(sessions)
    assert first.replaced_by_certificate_id == ""
    ask(records, f"reissue:{NEW}", replaced_by=NEW)
    ask(records, f"reissue:{NEW}", replaced_by=NEW)  # redelivered: nothing more
    ask(records, "another-request")  # names no replacement: changes nothing
    first, again = announced(sessions)
    assert (again.certificate_id, again.replaced_by_certificate_id) == (OLD, NEW)
    assert again.reason == first.reason and again.revoke_time == first.revoke_time
    assert again.reason_text == first.reason_text == "name misspelt"
    with sessions() as session:
        msg_ids = list(
            session.scalars(
                select(t.AnchorOutbox.msg_id).where(t.AnchorOutbox.subject == SUBJECT_REVOKED)
            )
        )
        assert len(set(msg_ids)) == 2  # the second is not deduplicated away as the first
