"""The whole job through the real stack: nats-server, anvil, SMTP sink and four service
processes, on SQLite and (when configured) PostgreSQL. Nothing is mocked."""

import copy
import email
import json
from collections import Counter
from email.message import Message
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2

from certflow.v1 import ingest_service_pb2
from devstack.client import StackClient, rpc_error_status, status_name
from devstack.stack import SERVICES, LocalStack, StackOptions
from tests.conftest import BACKENDS, discard_database, fresh_database_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request, tmp_path_factory):
    state = tmp_path_factory.mktemp(f"stack-{request.param}")
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


@pytest.fixture(scope="module")
def graduates(stack, client):
    response = client.upload_csv(
        (ROOT / "examples" / "graduates.csv").read_bytes(), request_id="e2e-1"
    )
    batch = client.wait_for_batch(response.batch.batch_id, until="completed", timeout=120)
    return response, batch


def mails_to(stack) -> list[Message]:
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(stack.mail_dir.glob("*.eml"))]


def attachment(message: Message) -> dict:
    part = next(p for p in message.walk() if p.get_filename())
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return json.loads(payload)


def test_invalid_rows_are_refused_with_reasons(graduates):
    response, batch = graduates
    assert (batch.row_count, batch.accepted_count, batch.rejected_count) == (48, 43, 5)
    reasons = {(e.row_number, e.reason) for e in response.row_errors}
    assert reasons == {
        (7, "INVALID_EMAIL"),
        (14, "INVALID_DATE"),
        (22, "MISSING_VALUE"),
        (35, "INVALID_DATE"),
        (49, "DUPLICATE_IN_FILE"),
    }


def test_every_valid_row_is_anchored_in_one_transaction_and_emailed_once(stack, client, graduates):
    _, batch = graduates
    assert batch.state == ingest_service_pb2.BATCH_STATE_COMPLETED
    assert batch.anchored_count == batch.emailed_count == 43
    windows = [w for w in client.anchor_windows() if w.leaf_count]
    assert sum(w.leaf_count for w in windows) == 43
    assert all(w.transaction_hash and w.block_number for w in windows)
    mails = mails_to(stack)
    recipients = Counter(m["X-Envelope-To"] for m in mails)
    assert len(recipients) == 43 and set(recipients.values()) == {1}
    deliveries = client.deliveries(batch.batch_id)
    assert len(deliveries) == 43 and {d.message_id for d in deliveries} == {
        m["Message-ID"] for m in mails
    }


def test_emailed_certificates_verify_and_tampered_copies_do_not(stack, client, graduates):
    mails = mails_to(stack)
    message = next(
        m
        for m in mails
        if "Zoë" in str(email.header.make_header(email.header.decode_header(m["To"])))
    )
    document = attachment(message)
    assert "Your certificate" in str(
        email.header.make_header(email.header.decode_header(message["Subject"]))
    )
    verified = client.verify_document(json.dumps(document))
    assert status_name(verified.status) == "VALID", verified
    assert verified.recipient_name.startswith("Zoë")
    assert [c.check for c in verified.checks][:3] == ["format", "integrity", "merkle_proof"]
    by_id = client.verify_id(document["id"].removeprefix("urn:uuid:"))
    assert status_name(by_id.status) == "VALID"

    for path, value in [
        (("credentialSubject", "achievement", "name"), "PhD Astrophysics"),
        (("credentialSubject", "identifier", 0, "identityHash"), "Mallory"),
        (("validFrom",), "2020-01-01T00:00:00Z"),
        (("proof", "salt"), "0x" + "00" * 32),
    ]:
        tampered = copy.deepcopy(document)
        node = tampered
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        result = client.verify_document(json.dumps(tampered))
        assert status_name(result.status) == "TAMPERED", path


def test_a_proof_for_a_root_never_anchored_is_tampered(client, graduates, stack):
    document = attachment(mails_to(stack)[0])
    forged = copy.deepcopy(document)
    forged["proof"]["merkleRoot"] = forged["proof"]["targetHash"]
    forged["proof"]["proofPath"] = []
    assert status_name(client.verify_document(json.dumps(forged)).status) == "TAMPERED"


def test_forged_anchor_details_and_ambiguous_json_are_not_valid(client, graduates, stack):
    document = attachment(mails_to(stack)[1])
    text = json.dumps(document)
    assert status_name(client.verify_document(text).status) == "VALID"
    forged_tx = copy.deepcopy(document)
    forged_tx["proof"]["anchor"]["transactionHash"] = "0x" + "bb" * 32
    assert status_name(client.verify_document(json.dumps(forged_tx)).status) == "TAMPERED"
    forged_block = copy.deepcopy(document)
    forged_block["proof"]["anchor"]["blockNumber"] += 1
    assert status_name(client.verify_document(json.dumps(forged_block)).status) == "TAMPERED"
    # a second "name" that one parser would show and another would ignore
    ambiguous = '{"name": "PhD in Physics", ' + text[1:]
    assert status_name(client.verify_document(ambiguous).status) == "MALFORMED"
    huge_number = copy.deepcopy(document)
    huge_number["credentialSubject"]["customFields"] = {"n": 2**60}
    assert status_name(client.verify_document(json.dumps(huge_number)).status) == "MALFORMED"
    wrong_shape = copy.deepcopy(document)
    wrong_shape["type"] = 5
    assert status_name(client.verify_document(json.dumps(wrong_shape)).status) == "MALFORMED"


def test_malformed_and_unknown_documents(client, graduates):
    assert status_name(client.verify_document("not json").status) == "MALFORMED"
    assert status_name(client.verify_document("[]").status) == "MALFORMED"
    assert (
        status_name(client.verify_id("00000000-0000-4000-8000-000000000000").status) == "NOT_FOUND"
    )
    assert status_name(client.verify_id("'; DROP TABLE certificates; --").status) == "NOT_FOUND"


def test_reupload_with_same_request_id_returns_the_same_batch(client, graduates):
    response, _ = graduates
    again = client.upload_csv(
        (ROOT / "examples" / "graduates.csv").read_bytes(), request_id="e2e-1"
    )
    assert again.batch.batch_id == response.batch.batch_id


def test_bad_uploads_get_clear_grpc_errors(client, stack):
    with pytest.raises(grpc.RpcError) as info:
        client.upload_csv(b"\x00\xff\xfe garbage", request_id="bad-1")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_error_status(info.value)
    assert status is not None
    details = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
    info_detail = error_details_pb2.ErrorInfo()
    details[0].Unpack(info_detail)
    assert info_detail.reason == "BINARY_FILE"

    with pytest.raises(grpc.RpcError) as info:
        client.upload_csv(b"", request_id="bad-2")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_internal_apis_require_the_token(stack):
    intruder = StackClient({s: stack.target(s) for s in SERVICES}, "wrong-token")
    try:
        with pytest.raises(grpc.RpcError) as info:
            intruder.upload_csv(b"name,email,title,completion_date\n", request_id="x")
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as info:
            intruder.anchor_windows()
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # verification is public
        assert status_name(intruder.verify_document("{}").status) == "MALFORMED"
    finally:
        intruder.close()


def test_public_http_verification(stack, graduates):
    import urllib.error
    import urllib.request

    document = attachment(mails_to(stack)[0])
    certificate_id = document["id"].removeprefix("urn:uuid:")
    with urllib.request.urlopen(
        f"{stack.verify_http_url}/api/v1/certificates/{certificate_id}/verification"
    ) as r:
        assert json.load(r)["status"] == "VALID"
    request = urllib.request.Request(
        f"{stack.verify_http_url}/api/v1/verify", data=json.dumps(document).encode(), method="POST"
    )
    with urllib.request.urlopen(request) as r:
        assert json.load(r)["status"] == "VALID"
    with urllib.request.urlopen(f"{stack.verify_http_url}/verify/{certificate_id}") as r:
        page = r.read().decode()
        assert 'data-status="VALID"' in page and r.headers["X-Content-Type-Options"] == "nosniff"
    huge = urllib.request.Request(
        f"{stack.verify_http_url}/api/v1/verify", data=b" " * 2_000_000, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(huge)
    assert info.value.code == 413


def test_revocation_on_chain_shows_in_verification(stack, client, graduates):
    import asyncio
    import time

    from certflow.platform.chain import RegistryClient, signer
    from devstack import tools

    document = attachment(mails_to(stack)[-1])
    leaf = bytes.fromhex(document["proof"]["targetHash"][2:])

    async def revoke() -> None:
        registry = RegistryClient(stack.rpc_url, stack.registry_address)
        try:
            await registry.revoke(signer(tools.ANVIL_DEV_PRIVATE_KEY), [leaf])
        finally:
            await registry.close()

    assert status_name(client.verify_document(json.dumps(document)).status) == "VALID"
    asyncio.run(revoke())
    deadline = time.monotonic() + 30
    status = ""
    while time.monotonic() < deadline and status != "REVOKED":
        status = status_name(client.verify_document(json.dumps(document)).status)
        time.sleep(0.2)
    assert status == "REVOKED"


def test_single_real_time_issue_joins_a_window_and_is_idempotent(stack, client, graduates):
    from certflow.v1 import ingest_service_pb2 as pb

    metadata = (("authorization", f"Bearer {stack.token}"),)
    request = pb.IssueCertificateRequest(
        request_id="lms-completion-77",
        recipient_name="Kenji Watanabe",
        recipient_email="kenji@example.jp",
        title="Fire Warden Training",
        completion_date="2026-11-20",
        expiry_date="2027-11-20",
        custom_fields={"course_code": "FW-101"},
    )
    first = client.ingest.IssueCertificate(request, metadata=metadata).certificate
    again = client.ingest.IssueCertificate(request, metadata=metadata).certificate
    assert first.certificate_id == again.certificate_id
    client.wait_for_batch(first.batch_id, until="completed", timeout=60)
    document = json.loads(client.document(first.certificate_id))
    assert document["validUntil"] == "2027-11-20T00:00:00Z"
    assert document["credentialSubject"]["customFields"] == {"course_code": "FW-101"}
    assert status_name(client.verify_document(json.dumps(document)).status) == "VALID"

    with pytest.raises(grpc.RpcError) as info:  # same certificate under another request id
        client.ingest.IssueCertificate(
            pb.IssueCertificateRequest(**{**_fields(request), "request_id": "other"}),
            metadata=metadata,
        )
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS

    with pytest.raises(grpc.RpcError) as info:
        client.ingest.IssueCertificate(
            pb.IssueCertificateRequest(
                **{**_fields(request), "request_id": "x", "recipient_email": "nope"}
            ),
            metadata=metadata,
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = error_details_pb2.BadRequest()
    status = rpc_error_status(info.value)
    assert status is not None
    next(d for d in status.details if d.Unpack(violations))
    assert violations.field_violations[0].field == "email"


def _fields(request) -> dict:
    return {
        "request_id": request.request_id,
        "recipient_name": request.recipient_name,
        "recipient_email": request.recipient_email,
        "title": request.title,
        "completion_date": request.completion_date,
        "custom_fields": dict(request.custom_fields),
    }


def test_hostile_uploads_are_refused_without_writing(stack, client):
    from certflow.v1 import ingest_service_pb2 as pb

    metadata = (("authorization", f"Bearer {stack.token}"),)
    with pytest.raises(grpc.RpcError) as info:  # no metadata message first
        client.ingest.UploadCsv(iter([pb.UploadCsvRequest(chunk=b"name\n")]), metadata=metadata)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as info:
        client.upload_csv(b"name,email,title,completion_date\n", request_id="r" * 500)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    def endless():  # 70 MB, over the 64 MB limit, in 4 MB chunks
        yield pb.UploadCsvRequest(metadata=pb.UploadCsvMetadata(request_id="huge"))
        for _ in range(18):
            yield pb.UploadCsvRequest(chunk=b"x" * (4 * 1024 * 1024))

    with pytest.raises(grpc.RpcError) as info:
        client.ingest.UploadCsv(endless(), metadata=metadata, timeout=60)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    formula = (
        "name,email,title,completion_date\n"
        '"=HYPERLINK(""http://evil.example"")",a@example.org,"=1+1",2026-01-01\n'
        'Bob,b@example.org,"Cert\r\nBcc: x@evil.example",2026-01-01\n'
    )
    response = client.upload_csv(formula.encode(), request_id="hostile-formula")
    assert response.batch.accepted_count == 1  # stored as text; exports must neutralise it
    assert {e.reason for e in response.row_errors} == {"UNSAFE_CHARACTERS"}


def test_public_endpoints_are_rate_limited_per_client(stack, client):
    from certflow.v1 import verify_service_pb2 as pb

    # the stack's verify allows 50/s with a burst of 100 per client address: 300 calls in
    # flight at once cannot all be served, however slow the machine
    request = pb.VerifyCertificateRequest(document_json="{}")
    calls = [client.verify.VerifyCertificate.future(request, timeout=30) for _ in range(300)]
    codes = []
    for call in calls:
        try:
            call.result()
            codes.append("ok")
        except grpc.RpcError as error:
            codes.append(error.code().name)
    assert "RESOURCE_EXHAUSTED" in codes and "ok" in codes
