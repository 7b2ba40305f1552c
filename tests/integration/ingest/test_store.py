"""ingest's storage against real SQLite and PostgreSQL: batches with their outbox in one go,
idempotency, and batch progress kept on ingest's own rows from the events."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.anchoring import AnchoredWindowFacts
from certflow.core.document import IssuerProfile, read_anchor_proof
from certflow.core.errors import Conflict, InvalidInput
from certflow.core.merkle import MerkleTree, pack_proof, verify_proof
from certflow.platform.bus import SUBJECT_ISSUED, SUBJECT_LEAVES, SUBJECT_RECIPIENTS
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from certflow.v1 import events_pb2
from services.ingest import tables as ingest_tables
from services.ingest.intake import IntakeChoice
from services.ingest.progress import (
    AnchoredLeaf,
    BatchProgress,
    BatchState,
    DeliveryOutcome,
    DeliveryReport,
)
from services.ingest.store import SqlIngestStore
from services.ingest.usecases import Ingest

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
ISSUER = IssuerProfile(id="https://uni.example.edu", name="Example University")
CSV = (
    "name,email,title,completion_date,grade\n"
    "Ada Lovelace,ada@example.edu,BSc Mathematics,2026-06-30,First\n"
    "Zoë Ångström,zoe@example.edu,BSc Mathematics,2026-06-30,Merit\n"
    "Bad Row,not-an-email,BSc Mathematics,2026-06-30,x\n"
    "Ada Lovelace,ADA@example.edu,bsc mathematics,2026-06-30,dup\n"
).encode()


def clock() -> datetime:
    return NOW


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(database_url, ["ingest"])  # ingest needs only its own tables
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def make_ingest(
    sessions: sessionmaker[Session], on_committed: Callable[[], None] = lambda: None
) -> Ingest:
    return Ingest(
        SqlIngestStore(sessions),
        ISSUER,
        max_rows=1000,
        leaves_per_message=1,
        clock=clock,
        on_committed=on_committed,
    )


def count(sessions: sessionmaker[Session], table: type[ingest_tables.Base]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_upload_stores_batch_certificates_errors_and_outbox_in_one_go(sessions) -> None:
    woken: list[int] = []
    ingest = make_ingest(sessions, on_committed=lambda: woken.append(1))
    result = ingest.upload_csv(CSV, request_id="r1", display_name="June")
    batch = result.batch
    assert (batch.row_count, batch.accepted_count, batch.rejected_count) == (4, 2, 2)
    assert {(e.row_number, e.reason) for e in result.row_errors} == {
        (4, "INVALID_EMAIL"),
        (5, "DUPLICATE_IN_FILE"),
    }
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ingest_tables.Certificate)) == 2
        outbox = session.scalars(
            select(ingest_tables.IngestOutbox).order_by(ingest_tables.IngestOutbox.id)
        ).all()
        # 1 certificate per message (leaves_per_message=1), on every subject
        subjects = [SUBJECT_LEAVES, SUBJECT_ISSUED, SUBJECT_RECIPIENTS]
        assert [o.subject for o in outbox] == [s for s in subjects for _ in (0, 1)]
        assert all(o.published_at is None for o in outbox)
        assert {o.msg_id for o in outbox} == {
            f"{kind}:{batch.batch_id}:{n}"
            for kind in ("leaves", "issued", "recipients")
            for n in (0, 1)
        }
        # the rows hold references; the relay renders the events from the certificate rows
        assert all(b"@example.edu" not in o.payload for o in outbox)
        certificate = session.scalars(select(ingest_tables.Certificate)).first()
        assert certificate is not None
        assert b"ada@example.edu" not in certificate.document  # email only as salted hash
    store = SqlIngestStore(sessions)
    published = {o.subject: store.render_outbox_payload(o.subject, o.payload) for o in outbox}
    recipient = events_pb2.CertificateRecipientsEvent.FromString(published[SUBJECT_RECIPIENTS])
    assert recipient.recipients[0].recipient_email in {"ada@example.edu", "zoe@example.edu"}
    assert b"@example.edu" not in published[SUBJECT_ISSUED]
    assert b"@example.edu" not in published[SUBJECT_LEAVES]
    assert woken == [1]


def test_upload_is_idempotent_on_request_id_and_refuses_reissue(sessions) -> None:
    ingest = make_ingest(sessions)
    first = ingest.upload_csv(CSV, request_id="same", display_name="")
    again = ingest.upload_csv(CSV, request_id="same", display_name="")
    assert again.batch.batch_id == first.batch.batch_id
    other = ingest.upload_csv(CSV, request_id="other", display_name="")
    assert other.batch.accepted_count == 0
    assert other.batch.state == BatchState.REJECTED
    assert {e.reason for e in other.row_errors} >= {"ALREADY_ISSUED"}
    assert count(sessions, ingest_tables.Certificate) == 2


def test_unreadable_file_writes_nothing(sessions) -> None:
    ingest = make_ingest(sessions)
    with pytest.raises(InvalidInput) as info:
        ingest.upload_csv(b"name,email\nA,b\n", request_id="", display_name="")
    assert info.value.reason == "MISSING_COLUMNS"
    assert count(sessions, ingest_tables.Batch) == 0


def test_single_issue_is_idempotent_and_conflicts_on_duplicate(sessions) -> None:
    ingest = make_ingest(sessions)
    fields = {
        "name": "Ada",
        "email": "ada@example.edu",
        "title": "Course",
        "completion_date": "2026-01-02",
    }
    one = ingest.issue_one(request_id="k1", fields=fields, custom_fields={})
    again = ingest.issue_one(request_id="k1", fields=fields, custom_fields={})
    assert again.certificate_id == one.certificate_id
    with pytest.raises(Conflict):
        ingest.issue_one(request_id="k2", fields=fields, custom_fields={})
    with pytest.raises(InvalidInput) as info:
        ingest.issue_one(request_id="", fields={**fields, "email": "x"}, custom_fields={})
    assert info.value.violations[0].field == "email"


def test_batch_progress_is_kept_on_ingest_s_rows_idempotent_and_in_any_order(sessions) -> None:
    ingest = make_ingest(sessions)
    batch_id = ingest.upload_csv(CSV, request_id="r", display_name="").batch.batch_id
    with sessions() as session:
        rows = session.scalars(
            select(ingest_tables.Certificate).order_by(ingest_tables.Certificate.id)
        ).all()
        ids, leaves = [r.id for r in rows], [r.leaf_hash for r in rows]
    store = SqlIngestStore(sessions)
    progress = BatchProgress(store, clock=clock)
    tree = MerkleTree.build(leaves)
    window = AnchoredWindowFacts("w1", tree.root, 1337, "0x" + "ab" * 20, "0x" + "cd" * 32, 12)
    anchored = [AnchoredLeaf(cid, pack_proof(tree.proof(i))) for i, cid in enumerate(ids)]

    assert progress.record_anchored(window, anchored[:1]) == 1
    assert ingest.batch_status(batch_id).state == BatchState.ANCHORING
    assert progress.record_anchored(window, anchored) == 1  # the first is not counted again
    other = AnchoredWindowFacts("w2", b"\x02" * 32, 1337, "0x" + "ab" * 20, "0x" + "ef" * 32, 13)
    # the store's own guard: a second window never replaces the first
    store.store_anchorings(other, [AnchoredLeaf(ids[0], b"")], NOW)
    status = ingest.batch_status(batch_id)
    assert (status.anchored_count, status.state) == (2, BatchState.NOTIFYING)

    document = ingest.certificate(ids[0]).document
    proof = read_anchor_proof(document)
    assert proof.merkle_root == tree.root and proof.block_number == 12
    assert verify_proof(leaves[0], proof.merkle_path, tree.root)

    later = NOW + timedelta(minutes=10)
    east = timezone(timedelta(hours=5))
    progress.record_deliveries(
        [
            DeliveryReport(ids[0], DeliveryOutcome.SENT, later, 1),
            DeliveryReport(ids[1], DeliveryOutcome.FAILED, later, 5),
        ]
    )
    assert ingest.batch_status(batch_id).state == BatchState.COMPLETED_WITH_FAILURES
    # an older outcome written late (another offset, the same instant order) changes nothing,
    # even past the use case's check: the store's guard holds it
    store.store_deliveries(
        [
            DeliveryReport(
                ids[1], DeliveryOutcome.REQUEUED, (later - timedelta(1)).astimezone(east), 1
            )
        ]
    )
    assert ingest.batch_status(batch_id).email_failed_count == 1
    progress.record_deliveries(
        [
            DeliveryReport(
                ids[1], DeliveryOutcome.SENT, (later + timedelta(days=1)).astimezone(east), 6
            )
        ]
    )
    status = ingest.batch_status(batch_id)
    assert (status.emailed_count, status.email_failed_count, status.state) == (
        2,
        0,
        BatchState.COMPLETED,
    )
    assert store.stored_delivery_times([ids[1]]) == {ids[1]: later + timedelta(days=1)}


def test_progress_lives_in_narrow_rows_whatever_event_comes_first(sessions) -> None:
    ingest = make_ingest(sessions)
    batch_id = ingest.upload_csv(CSV, request_id="r", display_name="").batch.batch_id
    with sessions() as session:
        ids = sorted(session.scalars(select(ingest_tables.Certificate.id)))
    store = SqlIngestStore(sessions)
    progress = BatchProgress(store, clock=clock)
    window = AnchoredWindowFacts("w1", b"\x01" * 32, 1337, "0x" + "ab" * 20, "0x" + "cd" * 32, 12)

    # a delivery before the anchoring (another consumer, its own pace), and a certificate
    # that is not ingest's: both fine
    progress.record_deliveries([DeliveryReport(ids[0], DeliveryOutcome.SENT, NOW, 1)])
    store.store_deliveries([DeliveryReport("not-ours", DeliveryOutcome.SENT, NOW, 1)])
    store.store_anchorings(window, [AnchoredLeaf("not-ours", b"")], NOW)
    assert progress.record_anchored(window, [AnchoredLeaf(i, b"\x03" * 32) for i in ids]) == 2

    status = ingest.batch_status(batch_id)
    assert (status.anchored_count, status.emailed_count) == (2, 1)
    assert count(sessions, ingest_tables.CertificateProgress) == 2
    with sessions() as session:
        kept = session.get(ingest_tables.CertificateProgress, ids[0])
        assert kept is not None and kept.batch_id == batch_id
        assert (kept.window_id, kept.merkle_path, kept.delivery_outcome) == (
            "w1",
            b"\x03" * 32,
            DeliveryOutcome.SENT.value,
        )
    assert store.stored_windows([*ids, "not-ours"]) == {ids[0]: "w1", ids[1]: "w1"}
    assert read_anchor_proof(ingest.certificate(ids[1]).document).block_number == 12


def test_a_retried_upload_into_a_batch_does_not_take_the_next_rows(sessions) -> None:
    """A pilot of one row, then one more row twice under one request_id (a client retry):
    the batch holds two certificates, not three; the request_id for another upload into the
    batch is refused."""
    ingest = make_ingest(sessions)
    four = (
        "name,email,title,completion_date\n"
        + "".join(f"Person {n},p{n}@example.edu,BSc,2026-06-30\n" for n in range(4))
    ).encode()
    pilot = ingest.upload_csv(
        four, request_id="", display_name="", choice=IntakeChoice(pilot_rows=1)
    )
    one_more = IntakeChoice(batch_id=pilot.batch.batch_id, pilot_rows=1)
    first = ingest.upload_csv(four, request_id="one-more", display_name="", choice=one_more)
    again = ingest.upload_csv(four, request_id="one-more", display_name="", choice=one_more)
    assert first.batch.accepted_count == again.batch.accepted_count == 2
    assert (again.skipped_count, again.held_back_count) == (1, 2)
    assert count(sessions, ingest_tables.Certificate) == 2
    with pytest.raises(Conflict) as refused:
        ingest.upload_csv(
            four,
            request_id="one-more",
            display_name="",
            choice=IntakeChoice(batch_id=pilot.batch.batch_id),
        )
    assert refused.value.reason == "REQUEST_ID_REUSED"
    assert count(sessions, ingest_tables.Certificate) == 2
