"""A batch's life through the real stack (nats-server, anvil, SMTP sink, four services):
watched to completion, listed page by page, cancelled before anchoring, its error report
downloaded, fixed and uploaded again, and a request_id reused with another file.

Anchor windows close only when full here (4 leaves; their age limit is far beyond the test),
so a batch of 2 certificates waits, deterministically, until the next 2 arrive."""

import csv
import email
import io
import itertools
from collections import Counter

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2

from certflow.v1 import ingest_service_pb2 as pb
from devstack.client import StackClient, rpc_error_status
from devstack.stack import SERVICES, LocalStack, StackOptions
from tests.conftest import BACKENDS, discard_database, fresh_database_url

HEADER = "name,email,title,completion_date,note\n"
WINDOW_LEAVES = 4
LIFECYCLE_ORDER = [
    pb.BATCH_STATE_ANCHORING,
    pb.BATCH_STATE_NOTIFYING,
    pb.BATCH_STATE_COMPLETED,
]
created: list[str] = []  # every batch this module made, oldest first


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request, tmp_path_factory):
    state = tmp_path_factory.mktemp(f"lifecycle-{request.param}")
    url = fresh_database_url(request.param, state)
    created.clear()
    with LocalStack(
        StackOptions(
            state_dir=state,
            database_url=url,
            window_max_age_seconds=3600,
            window_max_leaves=WINDOW_LEAVES,
            service_env={"CERTFLOW_WATCH_POLL_SECONDS": "30"},  # the hub, not the poll, wakes
        )
    ) as running:
        yield running
    discard_database(url)


@pytest.fixture(scope="module")
def client(stack):
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    yield client
    client.close()


def people(tag: str, count: int) -> str:
    return "".join(
        f"{tag} Person {n},{tag}.{n}@e2e.example,BSc,2026-06-30,\n" for n in range(count)
    )


def upload(client: StackClient, body: str, request_id: str) -> pb.UploadCsvResponse:
    response = client.upload_csv((HEADER + body).encode(), request_id=request_id)
    if response.batch.batch_id not in created:
        created.append(response.batch.batch_id)
    return response


def recipients(stack) -> Counter:
    return Counter(
        email.message_from_bytes(p.read_bytes())["X-Envelope-To"]
        for p in stack.mail_dir.glob("*.eml")
    )


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_error_status(error)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    next(d for d in status.details if d.Is(info.DESCRIPTOR)).Unpack(info)
    return info


def test_a_watch_follows_the_batch_to_completion(stack, client):
    first = upload(client, people("watch", 2), "watch-1").batch  # half a window: it waits
    stream = client.watch_batch(first.batch_id)
    now = next(stream)
    assert (now.state, now.anchored_count) == (pb.BATCH_STATE_ANCHORING, 0)
    upload(client, people("fill", 2), "watch-2")  # the window is full: it is anchored
    seen = [now, *stream]  # the stream ends by itself, at the final state
    assert seen[-1].state == pb.BATCH_STATE_COMPLETED
    assert seen[-1].emailed_count == seen[-1].stored_count == 2
    assert [LIFECYCLE_ORDER.index(b.state) for b in seen] == sorted(
        LIFECYCLE_ORDER.index(b.state) for b in seen
    )
    assert all(a != b for a, b in itertools.pairwise(seen))  # each message a change
    counts = [(b.anchored_count, b.emailed_count) for b in seen]
    assert counts == sorted(counts)


def test_a_batch_cancelled_before_its_window_is_never_anchored_nor_emailed(stack, client):
    doomed = upload(client, people("doomed", 2), "cancel-1").batch
    watching = client.watch_batch(doomed.batch_id)
    assert next(watching).state == pb.BATCH_STATE_ANCHORING  # half a window: it waits
    cancelled = client.cancel_batch(doomed.batch_id)
    # the watch hears of it from the hub (the fallback poll is 30 s here) and ends
    assert [b.state for b in watching] == [pb.BATCH_STATE_CANCELLED]
    assert cancelled.state == pb.BATCH_STATE_CANCELLED
    assert cancelled.cancelled_count == 2 and cancelled.HasField("cancel_time")
    assert client.cancel_batch(doomed.batch_id) == cancelled  # idempotent
    # the next batch fills the window the cancelled leaves were waiting in
    after = upload(client, people("after", 2), "cancel-2").batch
    done = list(client.watch_batch(after.batch_id))[-1]
    assert (done.state, done.anchored_count, done.emailed_count) == (
        pb.BATCH_STATE_COMPLETED,
        2,
        2,
    )
    # anchor placed only the other batch's leaves in that window (cancelled ones left out)
    window = next(w for w in client.anchor_windows() if w.leaf_count == 2)
    assert window.transaction_hash
    final = client.batch(doomed.batch_id)
    assert (final.state, final.anchored_count, final.emailed_count, final.cancelled_count) == (
        pb.BATCH_STATE_CANCELLED,
        0,
        0,
        2,
    )
    assert [b.state for b in client.watch_batch(doomed.batch_id)] == [pb.BATCH_STATE_CANCELLED]
    mailed = recipients(stack)
    assert mailed["after.0@e2e.example"] == mailed["after.1@e2e.example"] == 1
    assert not any(to.startswith("doomed.") for to in mailed)
    # a finished batch cannot be cancelled
    with pytest.raises(grpc.RpcError) as info:
        client.cancel_batch(after.batch_id)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(info.value).reason == "BATCH_FINISHED"


def test_the_error_report_round_trip_neutralises_formulas(stack, client):
    hostile = (
        '"=HYPERLINK(""http://evil.example"",""x"")",not-an-email,BSc,2026-06-30,+cmd\n'
        "@SUM(1),sum@e2e.example,BSc,2026-13-45,-2\n"
        'Tab Person,tab@e2e.example,,2026-06-30,"\t=1"\n'
        "Late Person,late@e2e.example,BSc,2026-02-30,\r\n"
    )
    response = upload(client, hostile, "report-1")
    assert (response.batch.state, response.batch.rejected_count) == (pb.BATCH_STATE_REJECTED, 4)
    report = client.error_report(response.batch.batch_id).decode("utf-8")
    assert report.startswith("\ufeff")
    header, *rows = list(csv.reader(io.StringIO(report[1:])))
    assert header == [
        "name",
        "email",
        "title",
        "completion_date",
        "note",
        "line",
        "field",
        "code",
        "message",
    ]
    by_line = {int(row[5]): row for row in rows}
    assert sorted(by_line) == [2, 3, 4, 5]
    assert by_line[2][:5] == [
        '\'=HYPERLINK("http://evil.example","x")',
        "not-an-email",
        "BSc",
        "2026-06-30",
        "'+cmd",
    ]
    assert by_line[2][6:8] == ["email", "INVALID_EMAIL"]
    assert (by_line[3][0], by_line[3][4]) == ("'@SUM(1)", "'-2")
    assert by_line[4][4] == "'\t=1"
    # no cell a spreadsheet would run: each starts with none of = + - @ TAB CR
    assert not any(cell[:1] in "=+-@\t\r" and cell for row in rows for cell in row)
    # fix the rows the report names, then upload them again
    fixed = "".join(
        f"Fixed Person {line},fixed.{line}@e2e.example,BSc,2026-06-30,fixed\n"
        for line in sorted(by_line)
    )
    again = upload(client, fixed, "report-2")
    assert (again.batch.accepted_count, again.batch.rejected_count) == (4, 0)
    done = list(client.watch_batch(again.batch.batch_id))[-1]
    assert (done.state, done.emailed_count) == (pb.BATCH_STATE_COMPLETED, 4)
    # a batch with nothing refused has a report of its header alone
    assert client.error_report(again.batch.batch_id).decode().count("\r\n") == 1


def test_a_request_id_reused_with_another_file_is_refused(stack, client):
    first = upload(client, "Nobody,not-an-email,BSc,2026-06-30,\n", "reuse-1").batch
    assert upload(client, "Nobody,not-an-email,BSc,2026-06-30,\n", "reuse-1").batch == first
    with pytest.raises(grpc.RpcError) as info:
        upload(client, "Somebody,not-an-email,BSc,2026-06-30,\n", "reuse-1")
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    detail = error_info(info.value)
    assert (detail.reason, detail.metadata["batch_id"]) == ("REQUEST_ID_REUSED", first.batch_id)


def test_batches_are_listed_page_by_page_newest_first_and_filtered(stack, client):
    listed, token, pages = [], "", 0
    while True:
        page = client.list_batches(page_size=2, page_token=token)
        listed.extend(page.batches)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert [b.batch_id for b in listed] == created[::-1]
    assert pages == len(created) // 2 + 1
    times = [b.create_time.ToDatetime() for b in listed]
    assert times == sorted(times, reverse=True)
    cancelled = client.list_batches(states=(pb.BATCH_STATE_CANCELLED,)).batches
    assert [b.batch_id for b in cancelled] == [created[2]]
    rejected = client.list_batches(states=(pb.BATCH_STATE_REJECTED,)).batches
    assert {b.batch_id for b in rejected} == {created[4], created[6]}
    with pytest.raises(grpc.RpcError) as info:
        client.list_batches(page_token="not-a-token")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def field_violations(error: grpc.RpcError) -> list[str]:
    status = rpc_error_status(error)
    assert status is not None
    request = error_details_pb2.BadRequest()
    next(d for d in status.details if d.Is(request.DESCRIPTOR)).Unpack(request)
    return [v.field for v in request.field_violations]


@pytest.mark.parametrize("batch_id", ["", "x" * 65])
def test_every_new_method_refuses_a_missing_or_oversized_batch_id(client, batch_id):
    calls = [
        lambda: client.cancel_batch(batch_id),
        lambda: list(client.watch_batch(batch_id)),
        lambda: client.error_report(batch_id),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(info.value) == ["batch_id"]


def test_an_unknown_batch_is_not_found_by_every_new_method(client):
    for call in (
        lambda: client.cancel_batch("no-such-batch"),
        lambda: list(client.watch_batch("no-such-batch")),
        lambda: client.error_report("no-such-batch"),
    ):
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        assert error_info(info.value).reason == "BATCH_NOT_FOUND"


def test_list_filters_that_make_no_sense_are_refused(client):
    start, end = Timestamp(seconds=2_000_000_000), Timestamp(seconds=1_000_000_000)
    for request, field in (
        (pb.ListBatchesRequest(states=[99]), "states"),  # type: ignore[list-item]
        (pb.ListBatchesRequest(page_size=-1), "page_size"),
        (pb.ListBatchesRequest(create_time_start=start, create_time_end=end), "create_time_end"),
    ):
        with pytest.raises(grpc.RpcError) as info:
            client.ingest.ListBatches(request, metadata=client._metadata, timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(info.value) == [field]
