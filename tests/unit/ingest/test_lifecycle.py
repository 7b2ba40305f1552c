"""Listing, cancelling and the error report, decided without a database (in-memory store)."""

import csv
import io
import itertools
from datetime import timedelta

import pytest

from certflow.core.csv_intake import IntakeOptions
from certflow.core.dates import DateOrder
from certflow.core.errors import Conflict, NotFound
from certflow.platform.bus import SUBJECT_CANCELLED
from certflow.v1 import events_pb2
from services.ingest.lifecycle import (
    BatchLifecycle,
    BatchQuery,
    NotCancellable,
    Refusal,
    cancellation_messages,
    chunked_bytes,
)
from services.ingest.progress import BatchProgress, BatchState, DeliveryOutcome, DeliveryReport
from services.ingest.usecases import Ingest
from tests.unit.ingest.fakes import NOW, FakeIngestStore
from tests.unit.ingest.planning import ISSUER

CSV = (
    b"Name,Email,Title,Completion Date,Grade\n"
    b"Ada Lovelace,ada@example.edu,BSc,2026-06-30,First\n"
    b'=HYPERLINK("http://evil.example"),not-an-email,BSc,2026-06-30,+1\n'
    b"Cy,cy@example.edu,BSc,2026-13-45,@SUM(A1)\n"
    b"Only,two\n"
)


def setup() -> tuple[FakeIngestStore, Ingest, BatchLifecycle, list[set[str]]]:
    store = FakeIngestStore()
    ids = (f"id-{n}" for n in itertools.count())
    times = (NOW + timedelta(minutes=n) for n in itertools.count())
    ingest = Ingest(
        store, ISSUER, max_rows=5_000, clock=lambda: next(times), new_id=lambda: next(ids)
    )
    changed: list[set[str]] = []
    lifecycle = BatchLifecycle(store, clock=lambda: NOW, on_changed=changed.append)
    return store, ingest, lifecycle, changed


def upload(ingest: Ingest, data: bytes = CSV, request_id: str = "r1") -> str:
    return ingest.upload_csv(data, request_id=request_id, display_name="").batch.batch_id


# ---- request_id ----


def test_the_same_request_id_with_the_same_file_returns_the_same_batch() -> None:
    store, ingest, _, _ = setup()
    first = upload(ingest)
    assert upload(ingest) == first
    assert len(store.state.batches) == 1


def test_the_same_request_id_with_another_file_is_refused_and_writes_nothing() -> None:
    store, ingest, _, _ = setup()
    first = upload(ingest)
    with pytest.raises(Conflict) as info:
        upload(ingest, CSV.replace(b"Ada", b"Ava"))
    assert info.value.reason == "REQUEST_ID_REUSED"
    assert info.value.metadata == {"batch_id": first}
    assert "different file" in info.value.message
    assert len(store.state.batches) == 1


@pytest.mark.parametrize(
    "corrected",
    [
        IntakeOptions(date_order=DateOrder.DAY_FIRST),
        IntakeOptions(column_mapping={"Grade": ""}),
        IntakeOptions(encoding="windows-1252"),
    ],
)
def test_the_same_file_read_another_way_under_the_same_request_id_is_refused(
    corrected: IntakeOptions,
) -> None:
    """The registrar's fix for a file refused as ambiguous is the same bytes with a date order:
    answering it with the first batch would say its rows are refused again."""
    store, ingest, _, _ = setup()
    first = upload(ingest)
    with pytest.raises(Conflict) as info:
        ingest.upload_csv(CSV, request_id="r1", display_name="", options=corrected)
    assert info.value.reason == "REQUEST_ID_REUSED"
    assert info.value.metadata == {"batch_id": first}
    assert len(store.state.batches) == 1
    # a retry that sends everything again (the display name is only a label) is answered
    again = ingest.upload_csv(CSV, request_id="r1", display_name="June", options=IntakeOptions())
    assert again.batch.batch_id == first


# ---- cancel ----


def test_cancelling_announces_every_certificate_without_a_final_email_and_rings_the_hub() -> None:
    store, ingest, lifecycle, changed = setup()
    data = b"name,email,title,completion_date\n" + b"".join(
        f"P{n},p{n}@example.edu,BSc,2026-06-30\n".encode() for n in range(3)
    )
    batch_id = upload(ingest, data)
    sent = sorted(store.state.certificates)[0]
    BatchProgress(store, clock=lambda: NOW).record_deliveries(
        [DeliveryReport(sent, DeliveryOutcome.SENT, NOW, 1)]
    )
    status = lifecycle.cancel(batch_id)
    assert status.state == BatchState.CANCELLED
    assert (status.cancelled_at, status.cancelled_count) == (NOW, 3)
    (message,) = [m for m in store.state.outbox if m.subject == SUBJECT_CANCELLED]
    event = events_pb2.CertificatesCancelledEvent.FromString(message.payload)
    assert event.batch_id == batch_id
    assert sorted(event.certificate_ids) == sorted(set(store.state.certificates) - {sent})
    assert changed == [{batch_id}]


def test_cancelling_twice_announces_once() -> None:
    store, ingest, lifecycle, _ = setup()
    batch_id = upload(ingest)
    lifecycle.cancel(batch_id)
    assert lifecycle.cancel(batch_id).state == BatchState.CANCELLED
    assert sum(m.subject == SUBJECT_CANCELLED for m in store.state.outbox) == 1


def test_a_finished_batch_cannot_be_cancelled() -> None:
    store, ingest, lifecycle, _ = setup()
    batch_id = upload(ingest)
    (certificate,) = store.state.certificates
    BatchProgress(store, clock=lambda: NOW).record_deliveries(
        [DeliveryReport(certificate, DeliveryOutcome.FAILED, NOW, 3)]
    )
    with pytest.raises(NotCancellable) as info:
        lifecycle.cancel(batch_id)
    assert info.value.reason == "BATCH_FINISHED"
    assert info.value.metadata == {"state": "completed_with_failures"}
    assert not any(m.subject == SUBJECT_CANCELLED for m in store.state.outbox)


def test_cancelling_an_unknown_batch_is_not_found() -> None:
    _, _, lifecycle, _ = setup()
    with pytest.raises(NotFound):
        lifecycle.cancel("nope")


def test_a_large_cancellation_is_split_under_the_message_limit() -> None:
    ids = [f"{n:036d}" for n in range(25_001)]
    messages = cancellation_messages("b", ids)
    assert [m.msg_id for m in messages] == ["cancelled:b:0", "cancelled:b:1", "cancelled:b:2"]
    assert all(len(m.payload) < 512 * 1024 for m in messages)
    parsed = [events_pb2.CertificatesCancelledEvent.FromString(m.payload) for m in messages]
    assert [cid for e in parsed for cid in e.certificate_ids] == ids
    assert cancellation_messages("b", []) == []


# ---- list ----


def test_batches_are_listed_newest_first_and_filtered_by_state_and_time() -> None:
    _, ingest, lifecycle, _ = setup()
    first = upload(ingest, request_id="a")
    rejected = upload(ingest, b"name,email,title,completion_date\nX,bad,BSc,2026-06-30\n", "b")
    cancelled = upload(ingest, CSV.replace(b"ada@", b"bea@"), "c")
    lifecycle.cancel(cancelled)
    everything = lifecycle.list_batches(BatchQuery(), offset=0, limit=10)
    assert [b.batch_id for b in everything] == [cancelled, rejected, first]
    only = lifecycle.list_batches(
        BatchQuery(states=frozenset({BatchState.CANCELLED, BatchState.REJECTED})),
        offset=0,
        limit=10,
    )
    assert [b.batch_id for b in only] == [cancelled, rejected]
    middle = everything[1].created_at
    assert [
        b.batch_id
        for b in lifecycle.list_batches(BatchQuery(created_from=middle), offset=0, limit=10)
    ] == [cancelled, rejected]
    assert [
        b.batch_id
        for b in lifecycle.list_batches(BatchQuery(created_before=middle), offset=0, limit=10)
    ] == [first]


# ---- error report ----


def report_rows(lifecycle: BatchLifecycle, batch_id: str) -> list[list[str]]:
    text = b"".join(lifecycle.error_report(batch_id)).decode()
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_the_report_holds_the_original_cells_then_line_field_code_message() -> None:
    _, ingest, lifecycle, _ = setup()
    batch_id = upload(ingest)
    header, *rows = report_rows(lifecycle, batch_id)
    assert header == [
        "Name",
        "Email",
        "Title",
        "Completion Date",
        "Grade",
        *["line", "field", "code", "message"],
    ]
    by_line = {row[5]: row for row in rows}
    assert by_line["3"][:5] == [
        '\'=HYPERLINK("http://evil.example")',
        "not-an-email",
        "BSc",
        "2026-06-30",
        "'+1",
    ]
    assert by_line["3"][6:8] == ["email", "INVALID_EMAIL"]
    assert by_line["4"][4] == "'@SUM(A1)"
    assert by_line["5"][:5] == ["Only", "two", "", "", ""]  # a short row, padded
    assert [row[5] for row in rows] == sorted((row[5] for row in rows), key=int)


def test_the_report_of_an_unknown_batch_is_not_found_before_any_byte() -> None:
    _, _, lifecycle, _ = setup()
    with pytest.raises(NotFound):
        lifecycle.error_report("nope")


def test_the_report_is_paged_and_chunked_never_whole() -> None:
    store, ingest, lifecycle, _ = setup()
    rows = "".join(f"N{n},bad-{n},BSc,2026-06-30\n" for n in range(2_500))
    batch_id = upload(ingest, ("name,email,title,completion_date\n" + rows).encode())
    pages: list[int] = []
    read_page = store.refusals

    def counting(batch_id: str, *, after: int, limit: int) -> list[Refusal]:
        pages.append(after)
        return read_page(batch_id, after=after, limit=limit)

    store.refusals = counting  # type: ignore[method-assign]
    chunks = list(lifecycle.error_report(batch_id))
    assert len(pages) == 3 and len(chunks) > 1  # 1,000 refusals a page, 64 KB a chunk
    _, *records = list(csv.reader(io.StringIO(b"".join(chunks).decode()[1:])))
    assert [r[1] for r in records] == [f"bad-{n}" for n in range(2_500)]


def test_chunks_hold_whole_lines() -> None:
    chunks = list(chunked_bytes(iter(["ab\r\n", "cd\r\n", "ef\r\n"]), size=5))
    assert chunks == [b"ab\r\ncd\r\n", b"ef\r\n"]
