"""The registrar's before and after, on the real stack (nats-server, anvil, SMTP sink, the four
services): a dry run that stores, publishes and anchors nothing; a pilot sample then the rest
of the same file into the same batch; the error report downloaded, fixed and reprocessed into
its batch with nobody issued twice; the completion record; hostile input for each of them."""

import asyncio
import csv
import email
import io
import json
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import nats
import pytest
import sqlalchemy as sa
from google.rpc import error_details_pb2

from certflow.platform.bus import STREAM
from certflow.v1 import ingest_service_pb2 as pb
from devstack.client import StackClient, rpc_error_status
from devstack.stack import SERVICES, LocalStack, StackOptions
from tests.conftest import BACKENDS, discard_database, fresh_database_url

HEADER = "name,email,title,completion_date,student_id\n"
INGEST_TABLES = ("batches", "certificates", "batch_row_errors", "ingest_outbox", "batch_intakes")


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request, tmp_path_factory):
    state = tmp_path_factory.mktemp(f"registrar-{request.param}")
    url = fresh_database_url(request.param, state)
    with LocalStack(
        StackOptions(state_dir=state, database_url=url, window_max_age_seconds=0.3)
    ) as running:
        yield running
    discard_database(url)


@pytest.fixture(scope="module")
def client(stack):
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    yield client
    client.close()


def rows(tag: str, count: int, start: int = 0) -> str:
    return "".join(
        f"Grad {tag} {i},grad.{tag}.{i}@registrar.example,BSc Registrar,2026-06-10,S{i}\n"
        for i in range(start, start + count)
    )


def upload(client: StackClient, text: str, **metadata: object) -> pb.UploadCsvResponse:
    data = text.encode()

    def messages() -> Iterator[pb.UploadCsvRequest]:
        yield pb.UploadCsvRequest(metadata=pb.UploadCsvMetadata(**metadata))  # type: ignore[arg-type]
        yield pb.UploadCsvRequest(chunk=data)

    return client.ingest.UploadCsv(messages(), metadata=client._metadata, timeout=120)


def table_counts(stack) -> dict[str, int]:
    engine = sa.create_engine(stack.database_url_of("ingest"))
    try:
        with engine.connect() as connection:
            return {
                table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in INGEST_TABLES
            }
    finally:
        engine.dispose()


def chain_block(stack) -> int:
    request = urllib.request.Request(
        stack.rpc_url,
        data=json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(json.load(answer)["result"], 16)


def stream_last_seq(stack) -> int:
    async def read() -> int:
        nc = await nats.connect(stack.nats_url)
        try:
            return (await nc.jetstream().stream_info(STREAM)).state.last_seq
        finally:
            await nc.close()

    return asyncio.run(read())


def recipients(stack) -> Counter:
    return Counter(
        email.message_from_bytes(p.read_bytes())["X-Envelope-To"]
        for p in stack.mail_dir.glob("*.eml")
    )


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_error_status(error)
    assert status is not None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    raise AssertionError("no ErrorInfo")


def violations(error: grpc.RpcError) -> dict[str, str]:
    status = rpc_error_status(error)
    assert status is not None
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            return {v.field: v.description for v in bad.field_violations}
    return {}


def settle(client: StackClient, batch_id: str) -> pb.Batch:
    return client.wait_for_batch(batch_id, until="completed", timeout=120)


# ---- before: the dry run ----


def test_a_dry_run_reports_everything_and_writes_publishes_and_anchors_nothing(
    stack, client
) -> None:
    issued = upload(client, HEADER + rows("dry-old", 2), request_id="dry-old")
    settle(client, issued.batch.batch_id)  # anchored and emailed: the chain and stream settle
    before = (table_counts(stack), stream_last_seq(stack), chain_block(stack))
    text = (
        HEADER
        + rows("dry-old", 1)  # issued by the batch above
        + rows("dry", 5)
        + "Grad dry 0,grad.dry.0@registrar.example,BSc Registrar,2026-06-10,S0\n"  # repeat
        + "JOHN SMITH,not-an-address,BSc Registrar,2026-06-10,S9\n"
        + "MARY JONES,mary.jones.dry@registrar.example,BSc Registrar,2026-06-10,S8\n"
    )
    response = upload(client, text, request_id="dry-plan", dry_run=True, preview_count=2)
    plan = response.plan
    assert not response.HasField("batch")
    assert (plan.row_count, plan.accepted_count, plan.rejected_count) == (9, 6, 3)
    assert (plan.duplicates_in_file_count, plan.already_issued_count) == (1, 1)
    assert {(e.row_number, e.reason) for e in plan.row_errors} == {
        (2, "ALREADY_ISSUED"),
        (8, "DUPLICATE_IN_FILE"),
        (9, "INVALID_EMAIL"),
    }
    # the digits in the made-up names, and MARY JONES (JOHN SMITH is refused: not warned)
    assert Counter(w.code for w in plan.warnings) == {"NAME_HAS_DIGITS": 5, "NAME_ALL_CAPITALS": 1}
    assert plan.warning_count == 6
    assert len(plan.previews) == 2
    first = plan.previews[0]
    credential = json.loads(first.credential_json)
    assert first.row_number == 3
    assert credential["credentialSubject"]["identifier"][0]["identityHash"] == "Grad dry 0"
    assert credential["name"] == "BSc Registrar" and "proof" not in credential
    assert first.email.recipient_email == "grad.dry.0@registrar.example"
    assert first.email.issuer_name and first.email.title == "BSc Registrar"
    anchoring = plan.anchoring
    assert anchoring.transaction_count == 1 and anchoring.window_size == 200_000
    assert anchoring.gas_per_transaction > 0
    # anchor answers on the stack: a base fee, and the fee it makes
    assert anchoring.base_fee_wei.isdigit(), anchoring.fee_note
    assert int(anchoring.estimated_fee_wei) == anchoring.gas_per_transaction * int(
        anchoring.base_fee_wei
    )
    assert (plan.encoding, plan.delimiter) == ("utf-8", ",")
    assert (table_counts(stack), stream_last_seq(stack), chain_block(stack)) == before
    # the request id was not used: the real upload with it issues what the plan said
    real = upload(client, text, request_id="dry-plan")
    assert real.batch.accepted_count == plan.accepted_count == 6
    assert real.batch.rejected_count == plan.rejected_count


def test_a_dry_run_with_a_pilot_plans_the_pilot(stack, client) -> None:
    plan = upload(client, HEADER + rows("dry-pilot", 7), dry_run=True, pilot_rows=3).plan
    assert (plan.accepted_count, plan.held_back_count, plan.row_count) == (3, 4, 3)
    assert len(plan.previews) == 3


# ---- before: pilot, then the rest ----


def test_a_pilot_then_the_rest_of_the_same_file_issues_everyone_once(stack, client) -> None:
    text = HEADER + rows("pilot", 8) + "Bad Row,bad-address,BSc Registrar,2026-06-10,S99\n"
    pilot = upload(client, text, request_id="pilot-1", pilot_rows=3)
    batch_id = pilot.batch.batch_id
    assert pilot.held_back_count == 5
    assert (pilot.batch.accepted_count, pilot.batch.rejected_count) == (3, 1)
    assert settle(client, batch_id).state == pb.BATCH_STATE_COMPLETED
    rest = upload(client, text, batch_id=batch_id)
    assert (rest.skipped_count, rest.held_back_count) == (3, 0)
    assert rest.batch.batch_id == batch_id
    assert (rest.batch.accepted_count, rest.batch.rejected_count) == (8, 1)
    assert rest.batch.row_count == 9  # every line of the file once
    # the batch went back to work and completes again
    assert rest.batch.state in (pb.BATCH_STATE_ANCHORING, pb.BATCH_STATE_NOTIFYING)
    assert settle(client, batch_id).state == pb.BATCH_STATE_COMPLETED
    again = upload(client, text, batch_id=batch_id)  # the same file a third time: nothing new
    assert (again.skipped_count, again.batch.accepted_count) == (8, 8)
    assert again.batch.rejected_count == 1
    mail = recipients(stack)
    assert all(mail[f"grad.pilot.{i}@registrar.example"] == 1 for i in range(8))
    report = client.ingest.GetBatchReport(
        pb.GetBatchReportRequest(batch_id=batch_id), metadata=client._metadata, timeout=30
    ).report
    assert [(i.sequence, i.accepted_count, i.held_back_count) for i in report.intakes] == [
        (1, 3, 5),
        (2, 5, 0),
        (3, 0, 0),
    ]


# ---- after: error report → fix → reprocess ----


def download_report(client: StackClient, batch_id: str) -> list[list[str]]:
    chunks = client.ingest.DownloadErrorReport(
        pb.DownloadErrorReportRequest(batch_id=batch_id), metadata=client._metadata, timeout=30
    )
    text = b"".join(c.chunk for c in chunks).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_the_error_report_fixed_and_reprocessed_joins_its_batch_once(stack, client) -> None:
    text = (
        HEADER
        + rows("fix", 3)
        + "Fix Me One,fix-one-at-example,BSc Registrar,2026-06-10,F1\n"  # line 5
        + "Fix Me Two,fix.two@registrar.example,BSc Registrar,31/31/2026,F2\n"  # line 6
        + "Fix Me Three,,BSc Registrar,not a date,F3\n"  # line 7: two refusals
    )
    first = upload(client, text, request_id="fix-1")
    batch_id = first.batch.batch_id
    assert (first.batch.accepted_count, first.batch.rejected_count) == (3, 4)
    settle(client, batch_id)
    report = download_report(client, batch_id)
    assert report[0] == [
        "name",
        "email",
        "title",
        "completion_date",
        "student_id",
        "line",
        "field",
        "code",
        "message",
    ]
    assert [r[5] for r in report[1:]] == ["5", "6", "7", "7"]
    fixed = [report[0]]
    for record in report[1:]:
        record = list(record)
        if record[5] == "5":
            record[1] = "fix.one@registrar.example"
        if record[5] == "6":
            record[3] = "2026-06-10"
        fixed.append(record)  # line 7 is left as it was: still refused, twice
    buffer = io.StringIO()
    csv.writer(buffer).writerows(fixed)
    plan = upload(client, buffer.getvalue(), batch_id=batch_id, dry_run=True).plan
    assert (plan.accepted_count, plan.resolved_count, plan.rejected_count) == (2, 2, 2)
    again = upload(client, buffer.getvalue(), batch_id=batch_id)
    assert (again.resolved_count, again.batch.accepted_count) == (2, 5)
    assert again.batch.rejected_count == 2  # line 7's two refusals, replaced by the same two
    assert again.batch.row_count == 6
    assert sorted({e.row_number for e in again.row_errors}) == [7]
    assert settle(client, batch_id).state == pb.BATCH_STATE_COMPLETED
    assert [r[5] for r in download_report(client, batch_id)[1:]] == ["7", "7"]
    # reprocessed twice: nothing more
    twice = upload(client, buffer.getvalue(), batch_id=batch_id)
    assert (twice.batch.accepted_count, twice.skipped_count) == (5, 2)
    mail = recipients(stack)
    assert mail["fix.one@registrar.example"] == 1 and mail["fix.two@registrar.example"] == 1


def test_corrected_rows_without_a_report_join_the_batch(stack, client) -> None:
    first = upload(client, HEADER + rows("plain", 2) + "Plain Bad,bad,BSc Registrar,2026-06-10,P\n")
    batch_id = first.batch.batch_id
    fixed = (
        HEADER
        + rows("plain", 2)
        + "Plain Bad,plain.bad@registrar.example,BSc Registrar,2026-06-10,P\n"
    )
    again = upload(client, fixed, batch_id=batch_id)
    assert (again.skipped_count, again.batch.accepted_count) == (2, 3)
    # the old refusal stays: only an error report's line ties a row to the refusal it fixes
    assert again.batch.rejected_count == 1


# ---- the completion record ----


def test_the_report_lists_transactions_deliveries_and_timings(stack, client) -> None:
    first = upload(client, HEADER + rows("record", 4) + "X,bad,BSc Registrar,2026-06-10,S\n")
    batch_id = first.batch.batch_id
    settle(client, batch_id)
    report = client.ingest.GetBatchReport(
        pb.GetBatchReportRequest(batch_id=batch_id), metadata=client._metadata, timeout=30
    ).report
    assert report.batch.batch_id == batch_id and report.refused_row_count == 1
    assert sum(t.certificate_count for t in report.transactions) == 4
    assert all(t.transaction_hash.startswith("0x") and t.block_number for t in report.transactions)
    assert {d.outcome: d.count for d in report.deliveries} == {"sent": 4}
    created = report.batch.create_time.ToDatetime()
    first_anchor = report.first_anchor_time.ToDatetime()
    assert created <= first_anchor <= report.last_anchor_time.ToDatetime()
    assert report.last_email_time.ToDatetime() >= first_anchor
    assert [
        (i.sequence, i.row_count, i.accepted_count, i.rejected_count) for i in report.intakes
    ] == [(1, 5, 4, 1)]


# ---- hostile input ----


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"pilot_rows": -1}, "metadata.pilot_rows"),
        ({"pilot_rows": 10**12}, "metadata.pilot_rows"),
        ({"preview_count": 21}, "metadata.preview_count"),
        ({"preview_count": -1}, "metadata.preview_count"),
        ({"batch_id": "b" * 65}, "metadata.batch_id"),
        ({"batch_id": "bad\nid"}, "metadata.batch_id"),
    ],
)
def test_bad_choices_are_invalid_arguments_with_the_field(stack, client, metadata, field) -> None:
    before = table_counts(stack)
    with pytest.raises(grpc.RpcError) as caught:
        upload(client, HEADER + rows("hostile", 1), **metadata)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations(caught.value)
    assert table_counts(stack) == before


def test_an_unknown_batch_is_not_found_for_an_upload_and_a_dry_run(stack, client) -> None:
    for dry_run in (False, True):
        with pytest.raises(grpc.RpcError) as caught:
            upload(client, HEADER + rows("nobatch", 1), batch_id="no-such-batch", dry_run=dry_run)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert error_info(caught.value).reason == "BATCH_NOT_FOUND"
    with pytest.raises(grpc.RpcError) as caught:
        client.ingest.GetBatchReport(
            pb.GetBatchReportRequest(batch_id="no-such-batch"),
            metadata=client._metadata,
            timeout=30,
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as caught:
        client.ingest.GetBatchReport(
            pb.GetBatchReportRequest(batch_id=""), metadata=client._metadata, timeout=30
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "batch_id" in violations(caught.value)


def test_a_cancelled_batch_takes_no_rows(stack, client) -> None:
    # a window of 200,000 leaves closing after 0.3 s: cancelled at once, before it is anchored
    first = upload(client, HEADER + rows("cancelled", 2))
    batch_id = first.batch.batch_id
    cancelled = client.ingest.CancelBatch(
        pb.CancelBatchRequest(batch_id=batch_id), metadata=client._metadata, timeout=30
    ).batch
    if cancelled.state != pb.BATCH_STATE_CANCELLED:
        pytest.skip("the batch was anchored before the cancel (a slow machine)")
    before = table_counts(stack)
    with pytest.raises(grpc.RpcError) as caught:
        upload(client, HEADER + rows("cancelled", 3), batch_id=batch_id)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(caught.value).reason == "BATCH_CANCELLED"
    assert table_counts(stack) == before
    # its record counts what the cancel stopped as cancelled, not as emails still to come
    report = client.ingest.GetBatchReport(
        pb.GetBatchReportRequest(batch_id=batch_id), metadata=client._metadata, timeout=30
    ).report
    deliveries = {d.outcome: d.count for d in report.deliveries}
    assert deliveries.get("cancelled", 0) == report.batch.cancelled_count
    assert sum(deliveries.values()) == 2


def test_binary_files_and_stray_reports_are_refused_whole(stack, client) -> None:
    existing = upload(client, HEADER + rows("binary", 1)).batch.batch_id
    before = table_counts(stack)
    binary = "\x89PNG\r\n\x1a\n\x00\x00" + "".join(chr(i) for i in range(1, 32)) * 8
    for metadata in ({"dry_run": True}, {"batch_id": existing}, {"pilot_rows": 1}):
        with pytest.raises(grpc.RpcError) as caught:
            upload(client, binary, **metadata)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    report_text = (
        "name,email,title,completion_date,line,field,code,message\n"
        "A B,a.b@registrar.example,BSc,2026-06-10,2,email,INVALID_EMAIL,bad\n"
    )
    with pytest.raises(grpc.RpcError) as caught:
        upload(client, report_text)
    assert error_info(caught.value).reason == "ERROR_REPORT_WITHOUT_BATCH"
    assert "metadata.batch_id" in violations(caught.value)
    assert table_counts(stack) == before
    # a report of other columns than the batch's (no student_id): refused whole
    with pytest.raises(grpc.RpcError) as caught:
        upload(client, report_text, batch_id=existing)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(caught.value).reason == "COLUMNS_DIFFER_FROM_BATCH"
    # a batch IssueCertificate made takes no rows
    one = client.ingest.IssueCertificate(
        pb.IssueCertificateRequest(
            recipient_name="One Off",
            recipient_email="one.off@registrar.example",
            title="BSc Registrar",
            completion_date="2026-06-10",
        ),
        metadata=client._metadata,
        timeout=30,
    ).certificate
    after_one = table_counts(stack)
    with pytest.raises(grpc.RpcError) as caught:
        upload(client, HEADER + rows("one-off", 1), batch_id=one.batch_id)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(caught.value).reason == "NOT_AN_UPLOADED_BATCH"
    assert table_counts(stack) == after_one
    # a report naming lines that are not refusals of the batch: those rows are refused
    own_report = report_text.replace("completion_date,", "completion_date,student_id,").replace(
        "2026-06-10,2,", "2026-06-10,S1,40,"
    )
    stray = upload(client, own_report, batch_id=existing)
    assert [e.reason for e in stray.row_errors] == ["UNKNOWN_REFUSAL"]
    assert stray.batch.accepted_count == 1
    # a line in digits int() refuses: that row is refused (it was an INTERNAL for the file)
    odd = upload(client, own_report.replace(",40,", ",²,"), batch_id=existing)
    assert [e.reason for e in odd.row_errors] == ["INVALID_LINE"]


def test_concurrent_uploads_into_one_batch_issue_and_refuse_each_row_once(stack, client) -> None:
    text = HEADER + rows("race", 30) + "Race Bad,race-bad,BSc Registrar,2026-06-10,S\n"
    pilot = upload(client, text, pilot_rows=1)
    batch_id = pilot.batch.batch_id
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: upload(client, text, batch_id=batch_id), range(4)))
    assert sorted(r.skipped_count for r in results) == [1, 30, 30, 30]
    final = client.batch(batch_id)
    assert (final.accepted_count, final.rejected_count, final.row_count) == (30, 1, 31)
    # every intake after the pilot skipped what the others had issued
    report = client.ingest.GetBatchReport(
        pb.GetBatchReportRequest(batch_id=batch_id), metadata=client._metadata, timeout=30
    ).report
    assert sorted(i.accepted_count for i in report.intakes) == [0, 0, 0, 1, 29]
    assert sorted(i.rejected_count for i in report.intakes) == [0, 0, 0, 0, 1]
    assert [i.sequence for i in report.intakes] == [1, 2, 3, 4, 5]
    settle(client, batch_id)
    mail = recipients(stack)
    assert all(mail[f"grad.race.{i}@registrar.example"] == 1 for i in range(30))
