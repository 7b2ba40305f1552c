"""Batch progress from anchor's and notify's events: idempotent, in any order."""

import itertools
from datetime import timedelta

from certflow.core.anchoring import AnchoredWindowFacts
from services.ingest.progress import (
    AnchoredLeaf,
    BatchProgress,
    BatchState,
    DeliveryOutcome,
    DeliveryReport,
    anchorings_to_store,
    deliveries_to_store,
)
from services.ingest.usecases import Ingest
from tests.unit.ingest.fakes import NOW, FakeIngestStore
from tests.unit.ingest.planning import ISSUER

CSV = (
    b"name,email,title,completion_date\n"
    b"Ada,ada@example.edu,BSc,2026-06-30\n"
    b"Bob,bob@example.edu,BSc,2026-06-30\n"
    b"Cy,cy@example.edu,BSc,2026-06-30\n"
)
WINDOW = AnchoredWindowFacts("w1", b"\x01" * 32, 1337, "0x" + "ab" * 20, "0x" + "cd" * 32, 7)
OTHER_WINDOW = AnchoredWindowFacts("w2", b"\x02" * 32, 1337, "0x" + "ab" * 20, "0x" + "ef" * 32, 9)
T0 = NOW + timedelta(minutes=5)


def uploaded() -> tuple[FakeIngestStore, Ingest, BatchProgress, str, list[str]]:
    store = FakeIngestStore()
    ids = (f"id-{n}" for n in itertools.count())
    ingest = Ingest(store, ISSUER, max_rows=10, clock=lambda: NOW, new_id=lambda: next(ids))
    batch_id = ingest.upload_csv(CSV, request_id="r", display_name="").batch.batch_id
    certificates = sorted(store.state.certificates)
    return store, ingest, BatchProgress(store, clock=lambda: T0), batch_id, certificates


def leaf(certificate_id: str, path: bytes = b"\x09" * 32) -> AnchoredLeaf:
    return AnchoredLeaf(certificate_id, path)


def report(certificate_id: str, outcome: DeliveryOutcome, minutes: int) -> DeliveryReport:
    return DeliveryReport(certificate_id, outcome, T0 + timedelta(minutes=minutes), attempts=1)


# ---- pure decisions ----


def test_only_known_certificates_not_yet_anchored_are_stored_first_leaf_wins() -> None:
    stored = {"new": None, "done": "w0"}
    chosen = anchorings_to_store(
        stored, [leaf("new", b"\x01" * 32), leaf("done"), leaf("stranger"), leaf("new")]
    )
    assert chosen == [leaf("new", b"\x01" * 32)]


def test_the_newest_report_per_certificate_wins_over_older_and_equal_ones() -> None:
    stored = {"a": None, "b": T0 + timedelta(minutes=5), "c": T0 + timedelta(minutes=5)}
    chosen = deliveries_to_store(
        stored,
        [
            report("a", DeliveryOutcome.FAILED, 1),
            report("a", DeliveryOutcome.SENT, 3),
            report("a", DeliveryOutcome.REQUEUED, 2),
            report("b", DeliveryOutcome.SENT, 4),  # older than the stored one
            report("c", DeliveryOutcome.SENT, 5),  # the same time: a redelivery
            report("stranger", DeliveryOutcome.SENT, 9),
        ],
    )
    assert chosen == [report("a", DeliveryOutcome.SENT, 3)]


# ---- applied through the use cases ----


def test_anchored_event_counts_once_even_when_redelivered() -> None:
    store, ingest, progress, batch_id, certificates = uploaded()
    leaves = [leaf(cid) for cid in certificates]
    assert progress.record_anchored(WINDOW, leaves[:2]) == 2
    assert ingest.batch_status(batch_id).anchored_count == 2
    assert ingest.batch_status(batch_id).state == BatchState.ANCHORING
    assert progress.record_anchored(WINDOW, leaves[:2]) == 0  # redelivery
    assert progress.record_anchored(WINDOW, leaves) == 1
    status = ingest.batch_status(batch_id)
    assert (status.anchored_count, status.state) == (3, BatchState.NOTIFYING)
    anchoring = store.anchoring_of(certificates[0])
    assert anchoring is not None and anchoring.window == WINDOW and anchoring.anchored_at == T0


def test_a_second_window_naming_an_anchored_certificate_changes_nothing() -> None:
    store, _ingest, progress, _batch_id, certificates = uploaded()
    progress.record_anchored(WINDOW, [leaf(certificates[0])])
    assert progress.record_anchored(OTHER_WINDOW, [leaf(certificates[0], b"\x07" * 64)]) == 0
    record = store.certificate(certificates[0])
    assert record is not None and record.anchoring is not None
    assert record.anchoring.window == WINDOW and record.anchoring.merkle_path == b"\x09" * 32


def test_deliveries_complete_the_batch_and_an_older_outcome_arriving_late_is_ignored() -> None:
    _store, ingest, progress, batch_id, certificates = uploaded()
    progress.record_anchored(WINDOW, [leaf(cid) for cid in certificates])
    a, b, c = certificates
    progress.record_deliveries(
        [report(a, DeliveryOutcome.SENT, 1), report(b, DeliveryOutcome.FAILED, 1)]
    )
    assert ingest.batch_status(batch_id).state == BatchState.NOTIFYING
    progress.record_deliveries([report(c, DeliveryOutcome.SENT, 2)])
    status = ingest.batch_status(batch_id)
    assert (status.emailed_count, status.email_failed_count) == (2, 1)
    assert status.state == BatchState.COMPLETED_WITH_FAILURES
    # an operator re-drives b, and it is sent ...
    progress.record_deliveries([report(b, DeliveryOutcome.REQUEUED, 3)])
    assert ingest.batch_status(batch_id).state == BatchState.NOTIFYING
    progress.record_deliveries([report(b, DeliveryOutcome.SENT, 4)])
    # ... then the old "failed" and "requeued" arrive again, late: nothing changes
    assert (
        progress.record_deliveries(
            [report(b, DeliveryOutcome.FAILED, 1), report(b, DeliveryOutcome.REQUEUED, 3)]
        )
        == 0
    )
    status = ingest.batch_status(batch_id)
    assert (status.emailed_count, status.email_failed_count, status.state) == (
        3,
        0,
        BatchState.COMPLETED,
    )


def test_a_delivery_before_its_anchoring_is_kept_too() -> None:
    _store, ingest, progress, batch_id, certificates = uploaded()
    progress.record_deliveries([report(cid, DeliveryOutcome.SENT, 1) for cid in certificates])
    progress.record_anchored(WINDOW, [leaf(cid) for cid in certificates])
    assert ingest.batch_status(batch_id).state == BatchState.COMPLETED


def test_the_batches_whose_progress_changed_are_told_after_the_write() -> None:
    store, _, _, batch_id, certificates = uploaded()
    changed: list[set[str]] = []
    progress = BatchProgress(store, clock=lambda: T0, on_changed=changed.append)
    progress.record_anchored(WINDOW, [leaf(certificates[0])])
    progress.record_anchored(WINDOW, [leaf(certificates[0])])  # a redelivery changes nothing
    progress.record_deliveries([report(certificates[0], DeliveryOutcome.SENT, 1)])
    assert changed == [{batch_id}, {batch_id}]
