"""Upload outcomes, decided without a database (in-memory store)."""

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

import pytest

from certflow.core.csv_intake import IntakeOptions
from certflow.core.dates import DateOrder
from certflow.core.errors import Cancelled, InvalidInput
from certflow.platform.bus import SUBJECT_ISSUED, SUBJECT_LEAVES, SUBJECT_RECIPIENTS
from certflow.v1 import events_pb2
from services.ingest.progress import BatchState
from services.ingest.usecases import WRITE_ATTEMPTS, Ingest, WriteRace
from tests.unit.ingest.fakes import NOW, FakeIngestStore, FakeWrites
from tests.unit.ingest.planning import ISSUER

CSV = (
    "name,email,title,completion_date,grade\n"
    "Ada Lovelace,ada@example.edu,BSc Mathematics,2026-06-30,First\n"
    "Zoë Ångström,zoe@example.edu,BSc Mathematics,2026-06-30,Merit\n"
    "Bad Row,not-an-email,BSc Mathematics,2026-06-30,x\n"
    "Ada Lovelace,ADA@example.edu,bsc mathematics,2026-06-30,dup\n"
).encode()


def make_ingest(store: FakeIngestStore, on_committed: Callable[[], None] = lambda: None) -> Ingest:
    ids = (f"id-{n}" for n in itertools.count())
    return Ingest(
        store,
        ISSUER,
        max_rows=1000,
        clock=lambda: NOW,
        new_id=lambda: next(ids),
        on_committed=on_committed,
    )


def test_a_file_that_cannot_be_read_is_refused_whole_and_writes_nothing() -> None:
    store = FakeIngestStore()
    with pytest.raises(InvalidInput) as info:
        make_ingest(store).upload_csv(b"name,email\nA,b\n", request_id="r", display_name="")
    assert info.value.reason == "MISSING_COLUMNS"
    assert info.value.violations[0].field == "file"
    assert not store.state.batches and not store.state.outbox


def test_valid_rows_are_issued_and_every_refused_row_is_reported() -> None:
    store = FakeIngestStore()
    woken: list[int] = []
    result = make_ingest(store, on_committed=lambda: woken.append(1)).upload_csv(
        CSV, request_id="r1", display_name="June"
    )
    batch = result.batch
    assert (batch.row_count, batch.accepted_count, batch.rejected_count) == (4, 2, 2)
    assert batch.state == BatchState.ANCHORING
    assert {(e.row_number, e.reason) for e in result.row_errors} == {
        (4, "INVALID_EMAIL"),
        (5, "DUPLICATE_IN_FILE"),
    }
    assert len(store.state.certificates) == 2
    assert [m.subject for m in store.state.outbox] == [
        SUBJECT_LEAVES,
        SUBJECT_ISSUED,
        SUBJECT_RECIPIENTS,
    ]
    issued = events_pb2.CertificatesIssuedEvent.FromString(store.published()[1].payload)
    assert {leaf.certificate_id for leaf in issued.leaves} == set(store.state.certificates)
    assert woken == [1]


def test_an_earlier_batch_s_certificates_are_refused_as_already_issued() -> None:
    store = FakeIngestStore()
    ingest = make_ingest(store)
    first = ingest.upload_csv(CSV, request_id="first", display_name="")
    again = ingest.upload_csv(CSV, request_id="second", display_name="")
    assert again.batch.accepted_count == 0
    assert again.batch.state == BatchState.REJECTED
    refused = {e.reason for e in again.row_errors}
    assert refused == {"ALREADY_ISSUED", "INVALID_EMAIL", "DUPLICATE_IN_FILE"}
    assert len(store.state.certificates) == 2
    assert len(store.state.outbox) == 3  # nothing announced for the refused batch
    assert first.batch.batch_id != again.batch.batch_id


def test_the_same_request_id_answers_the_first_batch() -> None:
    store = FakeIngestStore()
    ingest = make_ingest(store)
    first = ingest.upload_csv(CSV, request_id="same", display_name="")
    again = ingest.upload_csv(CSV, request_id="same", display_name="")
    assert (again.batch, again.row_errors) == (first.batch, first.row_errors)
    # how the file was read is not stored: a retry does not read it again
    assert (first.encoding, first.delimiter, again.encoding, again.delimiter) == (
        "utf-8",
        ",",
        "",
        "",
    )
    assert len(store.state.batches) == 1


def test_a_cancelled_upload_writes_nothing() -> None:
    class Gone:
        def is_set(self) -> bool:
            return True

    store = FakeIngestStore()
    with pytest.raises(Cancelled):
        make_ingest(store).upload_csv(CSV, request_id="r", display_name="", cancel=Gone())
    assert not store.state.batches


class RacingStore(FakeIngestStore):
    """The first `races` transactions lose a race to a concurrent writer."""

    def __init__(self, races: int) -> None:
        super().__init__()
        self.races = races

    @contextmanager
    def transaction(self) -> Iterator[FakeWrites]:
        with super().transaction() as writes:
            yield writes
            if self.races:
                self.races -= 1
                raise WriteRace("uq_certificates_dedupe")


def test_a_lost_race_is_run_again_and_stores_the_batch_once() -> None:
    store = RacingStore(races=WRITE_ATTEMPTS - 1)
    result = make_ingest(store).upload_csv(CSV, request_id="r", display_name="")
    assert result.batch.accepted_count == 2
    assert len(store.state.batches) == 1


def test_losing_every_attempt_is_unavailable_not_a_crash() -> None:
    store = RacingStore(races=WRITE_ATTEMPTS)
    with pytest.raises(WriteRace) as info:
        make_ingest(store).upload_csv(CSV, request_id="r", display_name="")
    assert info.value.reason == "WRITE_CONFLICT"
    assert not store.state.batches


# A registrar's export: Windows-1252, semicolons, aliased headers, day-first dates, an extra
# column, a name in capitals, CRLF and trailing blank lines.
EXPORT = (
    "Full Name;E-mail;Course Name;Completion Date;Expires;Student ID\r\n"
    "José Müller;jose@example.edu;Café Management;10/06/2026;10/06/2030;S1\r\n"
    "ZOË  ÅNGSTRÖM;zoe@example.edu;Café Management;11.06.2026;;S2\r\n"
    "Ada Lovelace;ada@example.edu;Café Management;12/06/2026;20/11/2026;S3\r\n"
    "\r\n\r\n"
).encode("cp1252")


def test_an_export_in_windows_1252_with_aliases_and_day_first_dates_is_issued() -> None:
    store = FakeIngestStore()
    result = make_ingest(store).upload_csv(
        EXPORT,
        request_id="export",
        display_name="",
        options=IntakeOptions(date_order=DateOrder.DAY_FIRST),
    )
    assert (result.encoding, result.delimiter) == ("windows-1252", ";")
    assert result.batch.accepted_count == 2
    # the expiry date is before the issue date (NOW): refused, not issued and emailed
    assert [(e.row_number, e.field, e.reason) for e in result.row_errors] == [
        (4, "expiry_date", "EXPIRED_AT_ISSUE")
    ]
    stored = {c.record.recipient_name: c.record for c in store.state.certificates.values()}
    assert set(stored) == {"José Müller", "ZOË ÅNGSTRÖM"}  # whitespace collapsed
    assert stored["José Müller"].completion_date == date(2026, 6, 10)
    assert b'"validUntil":"2030-06-10' in stored["José Müller"].document  # ISO 8601
    assert [(w.row_number, w.code) for w in result.warnings] == [(3, "NAME_ALL_CAPITALS")]
    assert result.warning_count == 1


def test_without_a_date_order_an_ambiguous_date_is_a_row_error() -> None:
    result = make_ingest(FakeIngestStore()).upload_csv(EXPORT, request_id="r", display_name="")
    refused = {(e.row_number, e.field, e.reason) for e in result.row_errors}
    assert (2, "completion_date", "AMBIGUOUS_DATE") in refused
    assert (3, "completion_date", "AMBIGUOUS_DATE") in refused
    message = next(e.message for e in result.row_errors if e.row_number == 2)
    assert "10 June or October 6, 2026" in message


def test_an_explicit_mapping_names_the_columns_and_drops_one() -> None:
    data = (
        b"Student,Contact,Programme Title,Finished,Internal Note\n"
        b"Ada Lovelace,ada@example.edu,BSc,2026-06-30,do not print\n"
    )
    store = FakeIngestStore()
    mapping = {
        "Student": "name",
        "contact": "email",
        "programme title": "title",
        "Finished": "completion_date",
        "Internal Note": "",
    }
    result = make_ingest(store).upload_csv(
        data, request_id="m", display_name="", options=IntakeOptions(column_mapping=mapping)
    )
    assert result.batch.accepted_count == 1
    (certificate,) = store.state.certificates.values()
    assert certificate.record.recipient_name == "Ada Lovelace"
    assert b"do not print" not in certificate.record.document


def test_a_mapping_naming_absent_columns_is_refused_with_a_violation_each() -> None:
    store = FakeIngestStore()
    with pytest.raises(InvalidInput) as info:
        make_ingest(store).upload_csv(
            CSV,
            request_id="m",
            display_name="",
            options=IntakeOptions(column_mapping={"Student": "name", "Mail": "email"}),
        )
    assert info.value.reason == "INVALID_HEADER"
    assert {v.field for v in info.value.violations} == {
        "column_mapping['Student']",
        "column_mapping['Mail']",
    }
    assert not store.state.batches


def test_an_unknown_declared_encoding_is_a_violation_of_that_field() -> None:
    with pytest.raises(InvalidInput) as info:
        make_ingest(FakeIngestStore()).upload_csv(
            CSV, request_id="e", display_name="", options=IntakeOptions(encoding="klingon-8")
        )
    assert info.value.reason == "UNKNOWN_ENCODING"
    assert [v.field for v in info.value.violations] == ["encoding"]
