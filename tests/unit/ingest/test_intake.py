"""The pure decisions of dry runs, pilots and uploads into an existing batch (intake.py)."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from certflow.core.csv_intake import CsvRow
from certflow.core.errors import Conflict, InvalidInput
from certflow.core.issuance import PlannedCertificate, key_requests, plan_certificates
from certflow.core.validation import RowError
from services.ingest.intake import (
    BatchClosed,
    IntakeChoice,
    anchoring_estimate,
    decide,
    intake_choice,
    is_error_report,
    report_rows,
)
from tests.unit.ingest.fakes import FakeIngestStore
from tests.unit.ingest.planning import ISSUER, realistic
from tests.unit.ingest.test_uploads import CSV, make_ingest

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def planned(count: int) -> list[PlannedCertificate]:
    """`count` certificates on lines 2, 3, …"""
    contents = [p.content for p in realistic(count)]
    keyed, _ = key_requests(ISSUER.id, list(enumerate(contents, start=2)))
    return plan_certificates(ISSUER, keyed, issued_at=NOW)


def test_a_new_batch_issues_what_no_batch_holds_and_refuses_the_rest() -> None:
    rows = planned(4)
    decision = decide(
        rows,
        [RowError(6, "email", "INVALID_EMAIL", "bad")],
        {rows[1].dedupe_key: ("c-1", "other-batch")},
        batch_id="",
        pilot_rows=0,
    )
    assert [p.row_number for p in decision.issue] == [2, 4, 5]
    assert [(e.row_number, e.reason) for e in decision.refused] == [
        (3, "ALREADY_ISSUED"),
        (6, "INVALID_EMAIL"),
    ]
    assert (decision.skipped, decision.held_back, decision.already_issued) == (0, 0, 1)


def test_a_pilot_takes_the_first_accepted_rows_and_its_rest_skips_them() -> None:
    rows = planned(5)
    pilot = decide(rows, [], {}, batch_id="", pilot_rows=2)
    assert ([p.row_number for p in pilot.issue], pilot.held_back) == ([2, 3], 3)
    issued = {p.dedupe_key: (p.certificate_id, "b-1") for p in pilot.issue}
    rest = decide(rows, [], issued, batch_id="b-1", pilot_rows=0)
    assert [p.row_number for p in rest.issue] == [4, 5, 6]
    assert (rest.skipped, rest.held_back, rest.new_rows) == (2, 0, 3)
    assert rest.refused == []  # held in this batch: skipped, not refused as already issued


def test_the_same_refusals_again_are_not_recorded_twice() -> None:
    refusal = RowError(7, "email", "INVALID_EMAIL", "bad")
    stored = frozenset({(7, "email", "INVALID_EMAIL", "bad")})
    again = decide([], [refusal], {}, batch_id="b-1", pilot_rows=0, stored_refusals=stored)
    assert (again.refused, again.new_rows) == ([], 0)
    other = RowError(8, "", "MISSING_VALUE", "empty")
    new = decide([], [refusal, other], {}, batch_id="b-1", pilot_rows=0, stored_refusals=stored)
    assert (new.refused, new.new_rows) == ([other], 1)


def test_a_report_replaces_its_lines_and_resolves_those_now_issued() -> None:
    rows = planned(2)  # lines 2 and 3, both corrected
    still = RowError(4, "completion_date", "INVALID_DATE", "not a date")
    decision = decide(
        rows,
        [still],
        {},
        batch_id="b-1",
        pilot_rows=0,
        stored_refusals=frozenset({(4, "completion_date", "INVALID_DATE", "not a date")}),
        report_lines=frozenset({2, 3, 4}),
    )
    assert [p.row_number for p in decision.issue] == [2, 3]
    assert decision.refused == [still]  # recorded again: its old refusals are replaced
    assert decision.resolved_lines == {2, 3} and decision.replaced_lines == {2, 3, 4}
    assert decision.new_rows == 0


def test_report_lines_that_are_no_refusal_are_skipped_if_held_else_refused_unrecorded() -> None:
    rows = planned(2)
    held = {rows[0].dedupe_key: ("c-1", "b-1")}
    decision = decide(rows, [], held, batch_id="b-1", pilot_rows=0, unknown_lines=frozenset({2, 3}))
    assert decision.issue == [] and decision.skipped == 1
    assert [(e.row_number, e.reason) for e in decision.not_recorded] == [(3, "UNKNOWN_REFUSAL")]
    assert decision.refused == []


def row(number: int, cells: tuple[str, ...], line: str) -> CsvRow:
    return CsvRow(number, {}, {"line": line, "field": "f", "code": "C", "message": "m"}, "", cells)


def test_report_rows_take_their_original_line_and_collapse_copies() -> None:
    refused = {7: ("A", "bad"), 9: ("B", "bad")}
    report = report_rows(
        [
            row(2, ("A", "good", "7", "email", "C", "m"), "7"),
            row(3, ("A", "bad", "7", "date", "C", "m"), "7"),  # the copy left as it was
            row(4, ("B", "x", "9", "", "C", "m"), "9"),
            row(5, ("B", "y", "9", "", "C", "m"), "9"),  # two different edits of line 9
            row(6, ("C", "z", "30", "", "C", "m"), "30"),
            row(7, ("D", "w", "x", "", "C", "m"), "x"),
        ],
        2,
        refused,
    )
    assert [(r.row_number, r.cells, r.custom) for r in report.rows] == [
        (7, ("A", "good"), {}),
        (30, ("C", "z"), {}),
    ]
    assert [(e.row_number, e.reason) for e in report.errors] == [
        (7, "INVALID_LINE"),
        (9, "CONFLICTING_CORRECTIONS"),
    ]
    assert (report.corrected, report.unknown) == ({7}, {30})


def test_an_error_report_is_known_by_its_last_columns() -> None:
    assert is_error_report(["name", "email", "Line", "Field", "Code", "Message"])
    assert not is_error_report(["line", "field", "code", "message"])  # nothing of its own
    assert not is_error_report(["name", "email", "line", "code", "field", "message"])


@pytest.mark.parametrize(
    ("pilot", "previews", "batch_id", "field"),
    [
        (-1, 0, "", "metadata.pilot_rows"),
        (1001, 0, "", "metadata.pilot_rows"),
        (0, 21, "", "metadata.preview_count"),
        (0, -1, "", "metadata.preview_count"),
        (0, 0, "x" * 65, "metadata.batch_id"),
        (0, 0, "a\u202eb", "metadata.batch_id"),
    ],
)
def test_impossible_choices_name_their_field(
    pilot: int, previews: int, batch_id: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        intake_choice(
            dry_run=False,
            pilot_rows=pilot,
            batch_id=batch_id,
            preview_count=previews,
            max_rows=1000,
        )
    assert [v.field for v in caught.value.violations] == [field]


def test_the_anchoring_estimate_rounds_up_and_knows_when_the_fee_is_unknown() -> None:
    known = anchoring_estimate(
        10_001, window_size=5_000, gas_per_transaction=70_000, base_fee_wei=3
    )
    assert (known.transaction_count, known.estimated_fee_wei, known.fee_note) == (3, 630_000, "")
    unknown = anchoring_estimate(0, window_size=5_000, base_fee_wei=None, fee_note="down")
    assert (unknown.transaction_count, unknown.estimated_fee_wei) == (0, None)
    assert unknown.fee_note == "down"


# ---- the use cases over the in-memory store ----


def test_a_dry_run_writes_nothing_and_plans_what_the_upload_then_does() -> None:
    store = FakeIngestStore()
    ingest = make_ingest(store)
    plan = ingest.plan_upload(CSV, choice=IntakeChoice(dry_run=True, preview_count=1))
    assert (plan.row_count, plan.accepted_count, plan.rejected_count) == (4, 2, 2)
    assert [p.recipient_email for p in plan.previews] == ["ada@example.edu"]
    assert not store.state.batches and not store.state.outbox and not store.state.certificates
    done = ingest.upload_csv(CSV, request_id="", display_name="")
    assert (done.batch.accepted_count, done.batch.rejected_count) == (2, 2)


def test_a_pilot_and_its_rest_announce_under_message_ids_of_their_own() -> None:
    store = FakeIngestStore()
    ingest = make_ingest(store)
    pilot = ingest.upload_csv(
        CSV, request_id="p", display_name="", choice=IntakeChoice(pilot_rows=1)
    )
    batch_id = pilot.batch.batch_id
    assert (pilot.batch.accepted_count, pilot.held_back_count) == (1, 1)
    rest = ingest.upload_csv(
        CSV, request_id="", display_name="", choice=IntakeChoice(batch_id=batch_id)
    )
    assert (rest.batch.accepted_count, rest.batch.rejected_count, rest.skipped_count) == (2, 2, 1)
    assert rest.batch.row_count == 4
    ids = [m.msg_id for m in store.state.outbox]
    assert len(ids) == len(set(ids)) == 6  # leaves, issued, recipients for each intake
    store.state.cancelled[batch_id] = NOW
    with pytest.raises(BatchClosed):
        ingest.upload_csv(
            CSV, request_id="", display_name="", choice=IntakeChoice(batch_id=batch_id)
        )


def test_a_request_id_retried_with_another_pilot_is_a_new_request() -> None:
    ingest = make_ingest(FakeIngestStore())
    first = ingest.upload_csv(
        CSV, request_id="r", display_name="", choice=IntakeChoice(pilot_rows=1)
    )
    again = ingest.upload_csv(
        CSV, request_id="r", display_name="", choice=IntakeChoice(pilot_rows=1)
    )
    assert again.batch.batch_id == first.batch.batch_id
    with pytest.raises(Conflict) as refused:
        ingest.upload_csv(CSV, request_id="r", display_name="")
    assert refused.value.reason == "REQUEST_ID_REUSED"


def test_a_retried_upload_into_a_batch_is_answered_not_applied_again() -> None:
    # a pilot of 1, then its rest with pilot_rows=1 sent twice (a client retry): the retry
    # must not take the next row as if it were a new request
    store = FakeIngestStore()
    ingest = make_ingest(store)
    pilot = ingest.upload_csv(
        CSV, request_id="", display_name="", choice=IntakeChoice(pilot_rows=1)
    )
    more = IntakeChoice(batch_id=pilot.batch.batch_id, pilot_rows=1)
    first = ingest.upload_csv(CSV, request_id="more-1", display_name="", choice=more)
    outbox = len(store.state.outbox)
    again = ingest.upload_csv(CSV, request_id="more-1", display_name="", choice=more)
    assert first.batch.accepted_count == again.batch.accepted_count == 2
    assert (again.skipped_count, again.held_back_count) == (
        first.skipped_count,
        first.held_back_count,
    )
    assert len(store.state.outbox) == outbox  # nothing announced again
    with pytest.raises(Conflict) as refused:  # the same key for another upload
        ingest.upload_csv(
            CSV, request_id="more-1", display_name="", choice=replace(more, pilot_rows=0)
        )
    assert refused.value.reason == "REQUEST_ID_REUSED"


def test_report_cells_neutralised_against_formulas_are_read_as_uploaded() -> None:
    neutralised = CsvRow(
        2,
        {"name": "Ann Lee", "email": "'@x"},
        {"phone": "'+44 20 7946 0000", "note": "'plain", "line": "'5"},
        "",
        ("Ann Lee", "'@x", "'+44 20 7946 0000", "'plain", "5", "f", "C", "m"),
    )
    report = report_rows([neutralised], 4, {5: ()})
    (row,) = report.rows
    assert row.known == {"name": "Ann Lee", "email": "@x"}
    assert row.custom == {"phone": "+44 20 7946 0000", "note": "'plain"}
    assert row.cells == ("Ann Lee", "@x", "+44 20 7946 0000", "'plain")


@pytest.mark.parametrize("line", ["²", "9" * 5000, "٣", "1_0", " 5 x"])
def test_a_line_cell_that_is_no_plain_number_is_an_invalid_line(line: str) -> None:
    # digits Python's int() refuses (a superscript, 5,000 of them) or reads (Arabic-Indic)
    report = report_rows([row(2, ("A", "b", line, "f", "C", "m"), line)], 2, {3: ()})
    assert report.rows == []
    assert [(e.row_number, e.reason) for e in report.errors] == [(2, "INVALID_LINE")]


def test_the_rest_of_a_pilot_answers_with_the_file_s_refusals_recorded_by_the_pilot() -> None:
    # recorded once (by the pilot), but the rest's answer and its dry run still name them:
    # they are refusals of this file, and "0 refused" would tell the registrar all went in
    store = FakeIngestStore()
    ingest = make_ingest(store)
    pilot = ingest.upload_csv(
        CSV, request_id="", display_name="", choice=IntakeChoice(pilot_rows=1)
    )
    rest = IntakeChoice(batch_id=pilot.batch.batch_id)
    plan = ingest.plan_upload(CSV, choice=replace(rest, dry_run=True))
    assert [(e.row_number, e.reason) for e in plan.row_errors] == [
        (4, "INVALID_EMAIL"),
        (5, "DUPLICATE_IN_FILE"),
    ]
    assert (plan.rejected_count, plan.accepted_count, plan.row_count) == (2, 1, 1)
    done = ingest.upload_csv(CSV, request_id="", display_name="", choice=rest)
    assert [(e.row_number, e.reason) for e in done.row_errors] == [
        (4, "INVALID_EMAIL"),
        (5, "DUPLICATE_IN_FILE"),
    ]
    assert done.batch.rejected_count == 2  # not recorded twice
    assert len(store.state.batches[pilot.batch.batch_id].refused) == 2


REORDERED = (
    "email,name,title,completion_date,grade\n"
    "ada@example.edu,Ada Lovelace,BSc Mathematics,2026-06-30,First\n"
    "zoe@example.edu,Zoë Ångström,BSc Mathematics,2026-06-30,Merit\n"
    "not-an-email,Bad Row,BSc Mathematics,2026-06-30,x\n"
).encode()


def test_rows_in_other_columns_than_the_batch_s_are_refused_whole_and_write_nothing() -> None:
    # their refused cells would sit under the batch's header in its error report (an email
    # under "name"), and that report reprocessed would read them into the wrong fields
    store = FakeIngestStore()
    ingest = make_ingest(store)
    batch_id = ingest.upload_csv(CSV, request_id="", display_name="").batch.batch_id
    before = (len(store.state.certificates), len(store.state.outbox))
    report = (
        b"email,name,title,completion_date,grade,line,field,code,message\n"
        b"x@example.edu,X Y,BSc Mathematics,2026-06-30,x,4,email,INVALID_EMAIL,bad\n"
    )
    for data in (
        REORDERED,
        report,
        b"name,email,title,completion_date\nA B,a@b.example,T,2026-06-30\n",
    ):
        for dry_run in (False, True):
            choice = IntakeChoice(batch_id=batch_id, dry_run=dry_run)
            with pytest.raises(InvalidInput) as caught:
                if dry_run:
                    ingest.plan_upload(data, choice=choice)
                else:
                    ingest.upload_csv(data, request_id="", display_name="", choice=choice)
            assert caught.value.reason == "COLUMNS_DIFFER_FROM_BATCH"
            assert [v.field for v in caught.value.violations] == ["file"]
            assert "name, email, title, completion_date, grade" in caught.value.message
    assert (len(store.state.certificates), len(store.state.outbox)) == before
    # the same columns spelled another way are the same columns
    same = CSV.replace(b"name,email,title", b" Name ,EMAIL,Title", 1)
    again = ingest.upload_csv(
        same, request_id="", display_name="", choice=IntakeChoice(batch_id=batch_id)
    )
    assert again.skipped_count == 2


def test_a_batch_not_uploaded_as_a_file_takes_no_rows() -> None:
    store = FakeIngestStore()
    ingest = make_ingest(store)
    one = ingest.issue_one(
        request_id="",
        fields={
            "name": "Ada Lovelace",
            "email": "ada@example.edu",
            "title": "BSc Mathematics",
            "completion_date": "2026-06-30",
        },
        custom_fields={},
    )
    for dry_run in (False, True):
        choice = IntakeChoice(batch_id=one.batch_id, dry_run=dry_run)
        with pytest.raises(BatchClosed) as caught:
            if dry_run:
                ingest.plan_upload(CSV, choice=choice)
            else:
                ingest.upload_csv(CSV, request_id="", display_name="", choice=choice)
        assert caught.value.reason == "NOT_AN_UPLOADED_BATCH"
    assert len(store.state.certificates) == 1
