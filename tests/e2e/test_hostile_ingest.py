"""Ingest under attack: a catalogue of hostile uploads and requests against the real ingest
process (and the other services' List methods). Each must get a clear error — INVALID_ARGUMENT
with an ErrorInfo reason and a BadRequest violation, or a row error — write nothing half-way,
and leave the service up."""

import base64
import time
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from certflow.v1 import anchor_service_pb2, ingest_service_pb2, notify_service_pb2
from devstack.client import StackClient, rpc_error_status
from devstack.stack import SERVICES, LocalStack, StackOptions
from tests.conftest import BACKENDS, discard_database, fresh_database_url

HEADER = "name,email,title,completion_date\n"


def rows(prefix: str, count: int) -> str:
    return "".join(
        f"{prefix} {i},{prefix.lower()}{i}@example.org,Hostile Inputs,2026-06-30\n"
        for i in range(count)
    )


@dataclass(frozen=True)
class Refused:
    """The whole file is refused: INVALID_ARGUMENT with this reason, nothing written."""

    reason: str
    message_part: str = ""


@dataclass(frozen=True)
class Issued:
    """The file is read: `accepted` rows issued, the others refused with these row errors."""

    accepted: int
    row_errors: frozenset[tuple[str, str]] = frozenset()  # (field, reason)


UPLOADS: dict[str, tuple[bytes, Refused | Issued]] = {
    "empty file": (b"", Refused("EMPTY_FILE")),
    "header only": (HEADER.encode(), Refused("NO_ROWS")),
    "header and blank lines": ((HEADER + "\n \n\r\n").encode(), Refused("NO_ROWS")),
    "BOM only": (b"\xef\xbb\xbf", Refused("EMPTY_FILE")),
    "binary": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, Refused("BINARY_FILE")),
    "NUL byte": (
        (HEADER + "Ada\x00,a@example.org,T,2026-06-30\n").encode(),
        Refused("BINARY_FILE"),
    ),
    # read since issue 8 (a NUL in every other byte tells UTF-16 and its byte order)
    "UTF-16 without declaration": ((HEADER + rows("Utf", 2)).encode("utf-16-le"), Issued(2)),
    "1 MB single cell": (
        (HEADER + rows("Big", 1) + f"Big,big@example.org,{'x' * 1_000_000},2026-06-30\n").encode(),
        Refused("UNREADABLE_CSV", "line 3"),
    ),
    "50,000 columns": (
        (",".join(f"c{i}" for i in range(50_000)) + "\n").encode(),
        Refused("TOO_MANY_COLUMNS"),
    ),
    "1,000,000-char header line": (
        ("name,email,title,completion_date," + "h" * 1_000_000 + "\n").encode(),
        Refused("HEADER_TOO_LONG"),
    ),
    "unclosed quote mid-file": (
        (HEADER + rows("Quote", 3) + 'Q,"q@example.org,T,2026-06-30\n' + rows("Quote", 8)).encode(),
        Refused("UNREADABLE_CSV", "line 5"),
    ),
    "CR-only line endings": ((HEADER + rows("Mac", 2)).replace("\n", "\r").encode(), Issued(2)),
    # stored as text (documents and emails are not spreadsheets); exports must neutralise them
    "formula cells": (
        (
            HEADER
            + '"=HYPERLINK(""http://evil.example"")",f1@example.org,"=1+1",2026-06-30\n'
            + "+Plus,f2@example.org,+cmd,2026-06-30\n"
            + "-Minus,f3@example.org,-2+3,2026-06-30\n"
            + "@At,f4@example.org,@SUM(A1),2026-06-30\n"
        ).encode(),
        Issued(4),
    ),
    "header injection in names": (
        (
            HEADER
            + '"Eve\r\nBcc: x@evil.example",h1@example.org,T,2026-06-30\n'
            + '"Eve\nBcc: x@evil.example",h2@example.org,T,2026-06-30\n'
            + "=?UTF-8?Q?=0A?=Bcc: x@evil.example,h3@example.org,T,2026-06-30\n"
        ).encode(),
        Issued(0, frozenset({("name", "UNSAFE_CHARACTERS")})),
    ),
    "bidi and zero-width names": (
        (
            HEADER
            + "Ada \u202eecalevoL,b1@example.org,T,2026-06-30\n"
            + "Ada\u200b Lovelace,b2@example.org,T,2026-06-30\n"
            + "Ada\ufeff,b3@example.org,T,2026-06-30\n"
            + "Ada\u200dLovelace,b4@example.org,T,2026-06-30\n"
            + "Ada,b5@example.org,Bsc \u2067Maths\u2069,2026-06-30\n"
            + "क्\u200dष,b6@example.org,T,2026-06-30\n"  # a joiner a script needs: accepted
        ).encode(),
        Issued(1, frozenset({("name", "UNSAFE_CHARACTERS"), ("title", "UNSAFE_CHARACTERS")})),
    ),
    "international addresses": (
        (
            HEADER
            + "Idn,user@bücher.example,T,2026-06-30\n"
            + "Jose,jösé@example.org,T,2026-06-30\n"
        ).encode(),
        Issued(1, frozenset({("email", "UNSUPPORTED_EMAIL")})),
    ),
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    backend = BACKENDS[-1]  # PostgreSQL when configured: where the request-id race was seen
    state = tmp_path_factory.mktemp(f"hostile-{backend}")
    url = fresh_database_url(backend, state)
    with LocalStack(StackOptions(state_dir=state, database_url=url)) as running:
        yield running
    discard_database(url)


@pytest.fixture(scope="module")
def client(stack):
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    yield client
    client.close()


@pytest.fixture(scope="module")
def metadata(stack) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {stack.token}"),)


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    info = error_details_pb2.ErrorInfo()
    status = rpc_error_status(error)
    assert status is not None, error
    assert any(d.Unpack(info) for d in status.details), status
    return info


def violations(error: grpc.RpcError) -> dict[str, str]:
    bad_request = error_details_pb2.BadRequest()
    status = rpc_error_status(error)
    assert status is not None and any(d.Unpack(bad_request) for d in status.details), status
    return {v.field: v.description for v in bad_request.field_violations}


def assert_request_id_unused(client: StackClient, request_id: str) -> None:
    """Nothing was stored under request_id: an upload with it makes a NEW batch (a stored
    batch would be returned instead, uploads being idempotent on the request id)."""
    probe = (HEADER + "Probe,not-an-email,T,2026-06-30\n").encode()
    response = client.upload_csv(probe, request_id=request_id, display_name="probe")
    assert (response.batch.display_name, response.batch.row_count) == ("probe", 1)


@pytest.mark.parametrize("case", list(UPLOADS))
def test_hostile_upload(client, metadata, case: str) -> None:
    data, expected = UPLOADS[case]
    request_id = f"hostile-{case}"
    if isinstance(expected, Refused):
        with pytest.raises(grpc.RpcError) as refused:
            client.upload_csv(data, request_id=request_id, timeout=120)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
        assert error_info(refused.value).reason == expected.reason
        assert expected.message_part in violations(refused.value)["file"]
        assert_request_id_unused(client, request_id)
        return
    response = client.upload_csv(data, request_id=request_id, timeout=120)
    assert response.batch.accepted_count == expected.accepted
    assert {(e.field, e.reason) for e in response.row_errors} == expected.row_errors
    stored = client.ingest.ListRowErrors(
        ingest_service_pb2.ListRowErrorsRequest(batch_id=response.batch.batch_id),
        metadata=metadata,
    ).row_errors
    assert list(stored) == list(response.row_errors)
    batch = client.batch(response.batch.batch_id)
    assert batch.row_count == batch.accepted_count + batch.rejected_count


def test_a_wide_header_is_refused_as_too_many_columns(client) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        client.upload_csv(UPLOADS["50,000 columns"][0], request_id="wide", timeout=120)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(refused.value).reason == "TOO_MANY_COLUMNS"
    assert "50000 columns" in (refused.value.details() or "")


def metadata_message(request_id: str) -> ingest_service_pb2.UploadCsvRequest:
    return ingest_service_pb2.UploadCsvRequest(
        metadata=ingest_service_pb2.UploadCsvMetadata(request_id=request_id)
    )


def chunk(data: str) -> ingest_service_pb2.UploadCsvRequest:
    return ingest_service_pb2.UploadCsvRequest(chunk=data.encode())


def chunks(data: str, size: int = 1 << 20) -> list[ingest_service_pb2.UploadCsvRequest]:
    """A large file as several messages, each under the gRPC message limit."""
    encoded = data.encode()
    return [
        ingest_service_pb2.UploadCsvRequest(chunk=encoded[i : i + size])
        for i in range(0, len(encoded), size)
    ]


STREAMS: dict[str, tuple[list[ingest_service_pb2.UploadCsvRequest], str]] = {
    "missing metadata message": ([chunk(HEADER + rows("Nometa", 1))], "metadata"),
    "two metadata messages": (
        [metadata_message("two-1"), metadata_message("two-2"), chunk(HEADER + rows("Two", 1))],
        "metadata",
    ),
    "metadata after a chunk": (
        [chunk(HEADER), metadata_message("late"), chunk(rows("Late", 1))],
        "metadata",
    ),
    "very long request id": (
        [metadata_message("r" * 100_000), chunk(HEADER + rows("Longid", 1))],
        "request_id",
    ),
}


@pytest.mark.parametrize("case", list(STREAMS))
def test_malformed_upload_stream(client, metadata, case: str) -> None:
    messages, field = STREAMS[case]
    with pytest.raises(grpc.RpcError) as refused:
        client.ingest.UploadCsv(iter(messages), metadata=metadata, timeout=60)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations(refused.value)


GOOD_ISSUE: dict[str, Any] = {
    "recipient_name": "Ada Lovelace",
    "recipient_email": "ada.issue@example.org",
    "title": "Hostile Inputs",
    "completion_date": "2026-06-30",
}
ISSUES: dict[str, tuple[dict[str, object], str]] = {
    "bidi override in name": ({"recipient_name": "Ada \u202eecalevoL"}, "name"),
    "zero-width space in title": ({"title": "Hostile\u200b Inputs"}, "title"),
    "CRLF in title": ({"title": "Cert\r\nBcc: x@evil.example"}, "title"),
    "encoded word in name": ({"recipient_name": "=?UTF-8?Q?=0A?=Bcc: x"}, "name"),
    "zero-width email": ({"recipient_email": "ada\u200b@example.org"}, "email"),
    "non-ASCII local part": ({"recipient_email": "jösé@example.org"}, "email"),
    "bidi in a custom field": ({"custom_fields": {"note": "a\u202eb"}}, "note"),
    "very long request id": ({"request_id": "r" * 100_000}, "request_id"),
    "nothing at all": (
        {"recipient_name": "", "recipient_email": "", "title": "", "completion_date": ""},
        "name",
    ),
}


@pytest.mark.parametrize("case", list(ISSUES))
def test_hostile_single_issue(client, metadata, case: str) -> None:
    change, field = ISSUES[case]
    request = ingest_service_pb2.IssueCertificateRequest(
        **{"request_id": f"issue-{case}", **GOOD_ISSUE, **change}
    )
    with pytest.raises(grpc.RpcError) as refused:
        client.ingest.IssueCertificate(request, metadata=metadata, timeout=60)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations(refused.value)


def encoded(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


PAGE_TOKENS = {
    "huge offset": encoded(f"o:{10**30}"),
    "offset past the cap": encoded(f"o:{2**63}"),
    "huge token": "A" * 1_000_000,
    "garbage": "!!not a token!!",
    "negative offset": encoded("o:-5"),
}


@pytest.mark.parametrize("case", list(PAGE_TOKENS))
def test_page_tokens_we_did_not_issue_are_invalid_arguments(client, metadata, case: str) -> None:
    token = PAGE_TOKENS[case]
    batch_id = client.upload_csv(
        (HEADER + "Tok,not-an-email,T,2026-06-30\n").encode(), request_id=f"token-{case}"
    ).batch.batch_id
    calls = [
        lambda: client.ingest.ListRowErrors(
            ingest_service_pb2.ListRowErrorsRequest(batch_id=batch_id, page_token=token),
            metadata=metadata,
            timeout=30,
        ),
        lambda: client.anchor.ListAnchorWindows(
            anchor_service_pb2.ListAnchorWindowsRequest(page_token=token),
            metadata=metadata,
            timeout=30,
        ),
        lambda: client.notify.ListDeliveries(
            notify_service_pb2.ListDeliveriesRequest(batch_id=batch_id, page_token=token),
            metadata=metadata,
            timeout=30,
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as refused:
            call()
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
        assert error_info(refused.value).reason == "INVALID_PAGE_TOKEN"
        assert "page_token" in violations(refused.value)


def test_concurrent_issues_with_one_request_id_get_one_certificate(client, metadata) -> None:
    request = ingest_service_pb2.IssueCertificateRequest(
        request_id="concurrent-1", **{**GOOD_ISSUE, "recipient_email": "same@example.org"}
    )
    calls = [
        client.ingest.IssueCertificate.future(request, metadata=metadata, timeout=120)
        for _ in range(20)
    ]
    certificate_ids = {call.result().certificate.certificate_id for call in calls}
    assert len(certificate_ids) == 1


HEAVY_UPLOADS = 6  # as many as the default executor had threads (2 cores + 4)
# near the row limit: each upload takes many seconds to process, far longer than the others
# take to arrive, so none can finish before GetBatch has answered (they are cancelled after)
HEAVY_ROWS = 190_000


def heavy_upload(index: int) -> str:
    row = f"Heavy {index},heavy{index}@example.org,Load Test,2026-06-30\n"
    return HEADER + row * HEAVY_ROWS


def wait_for_log_lines(
    stack: LocalStack, service: str, text: str, count: int, *, timeout: float
) -> None:
    log_file = stack.logs_dir / f"{service}.log"
    deadline = time.monotonic() + timeout
    while log_file.read_text(errors="replace").count(text) < count:
        assert time.monotonic() < deadline, f"fewer than {count} log lines with {text!r}"
        time.sleep(0.05)


def test_get_batch_answers_while_uploads_are_processed(stack, client, metadata) -> None:
    known = client.upload_csv(
        (HEADER + "Known,not-an-email,T,2026-06-30\n").encode(), request_id="known"
    ).batch.batch_id
    uploads = [
        client.ingest.UploadCsv.future(
            iter([metadata_message(f"heavy-{i}"), *chunks(heavy_upload(i))]),
            metadata=metadata,
            timeout=600,
        )
        for i in range(HEAVY_UPLOADS)
    ]
    try:
        # ingest logs each upload when it hands it to a worker: all of them are in processing
        wait_for_log_lines(stack, "ingest", "'heavy-", HEAVY_UPLOADS, timeout=120)
        batch = client.batch(known)
        still_running = sum(not upload.done() for upload in uploads)
        assert batch.batch_id == known
        # before: the uploads held every thread of the executor GetBatch also waits for, so it
        # answered only once one of them had finished
        assert still_running == HEAVY_UPLOADS, "GetBatch waited for uploads to finish"
        log = (stack.logs_dir / "ingest.log").read_text(errors="replace")
        assert f"({len(heavy_upload(0).encode())} bytes)" in log  # whole files, not refusals
    finally:
        for upload in uploads:
            upload.cancel()
    for i in range(HEAVY_UPLOADS):
        assert_request_id_unused(client, f"heavy-{i}")  # cancelled: nothing was written


def test_an_upload_cancelled_by_its_client_stops_and_writes_nothing(
    stack, client, metadata
) -> None:
    row = "Cancelled,cancelled@example.org,Load Test,2026-06-30\n"
    upload = client.ingest.UploadCsv.future(
        iter([metadata_message("cancel-me"), chunk(HEADER + row * 150_000)]),
        metadata=metadata,
        timeout=600,
    )
    wait_for_log_lines(stack, "ingest", "'cancel-me' received", 1, timeout=120)
    upload.cancel()
    wait_for_log_lines(stack, "ingest", "'cancel-me' stopped", 1, timeout=120)
    assert_request_id_unused(client, "cancel-me")


def test_ingest_is_still_up_and_serving(stack) -> None:
    stack.processes["ingest"].check_alive()
    with grpc.insecure_channel(stack.target("ingest")) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs package misses Check
        response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=30)
    assert response.status == health_pb2.HealthCheckResponse.SERVING
