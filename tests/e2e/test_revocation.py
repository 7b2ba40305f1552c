"""Revocation and reissue through the real stack (nats-server, anvil, SMTP sink, the four
services): revoked certificates verify as REVOKED with their reason over gRPC and HTTP, one
bulkRevoke transaction per revocation window, a second request revokes nothing again, bad
requests are refused with nothing stored; a reissue revokes the old certificate (superseded,
pointing at the new one) and the new one verifies as VALID."""

import asyncio
import email
import json
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import pytest
from web3 import AsyncHTTPProvider, AsyncWeb3

from certflow.contracts import registry_artifact
from certflow.v1 import anchor_service_pb2 as apb
from certflow.v1 import certificate_pb2, ingest_service_pb2, verify_service_pb2
from devstack.client import StackClient
from devstack.stack import SERVICES, LocalStack, StackOptions
from tests.conftest import BACKENDS, discard_database, fresh_database_url
from tests.e2e.test_cli import assert_one_line_error, base_env, certflow

REVOKED = verify_service_pb2.VERIFICATION_STATUS_REVOKED
VALID = verify_service_pb2.VERIFICATION_STATUS_VALID
WITHDRAWN = certificate_pb2.REVOCATION_REASON_WITHDRAWN
SUPERSEDED = certificate_pb2.REVOCATION_REASON_SUPERSEDED


@pytest.fixture(scope="module", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    state = tmp_path_factory.mktemp(f"revocation-{request.param}")
    url = fresh_database_url(request.param, state)
    options = StackOptions(
        state_dir=state,
        database_url=url,
        window_max_age_seconds=0.3,
        service_env={"CERTFLOW_REVOCATION_WINDOW_MAX_AGE_SECONDS": "0.5"},
    )
    with LocalStack(options) as running:
        yield running
    discard_database(url)


@pytest.fixture(scope="module")
def client(stack: LocalStack) -> Iterator[StackClient]:
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    yield client
    client.close()


def metadata(stack: LocalStack) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {stack.token}"),)


def issue(stack: LocalStack, client: StackClient, n: int, name: str = "Ada Lovelace") -> str:
    response = client.ingest.IssueCertificate(
        ingest_service_pb2.IssueCertificateRequest(
            request_id=f"rev-issue-{n}",
            recipient_name=name,
            recipient_email=f"person.{n}@example.org",
            title="Revocation Drill",
            completion_date="2026-11-20",
        ),
        metadata=metadata(stack),
        timeout=30,
    )
    return response.certificate.certificate_id


def wait_for(check: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what or "condition not met")
        time.sleep(0.2)


def anchored(client: StackClient, certificate_id: str) -> bool:
    return client.verify_id(certificate_id).status == VALID


def revoke(stack: LocalStack, client: StackClient, **fields: Any) -> apb.RevokeCertificatesResponse:
    response: apb.RevokeCertificatesResponse = client.anchor.RevokeCertificates(
        apb.RevokeCertificatesRequest(**fields), metadata=metadata(stack), timeout=30
    )
    return response


def http_verification(stack: LocalStack, certificate_id: str) -> dict[str, Any]:
    url = f"{stack.verify_http_url}/api/v1/certificates/{certificate_id}/verification"
    with urllib.request.urlopen(url, timeout=30) as reply:
        result: dict[str, Any] = json.loads(reply.read())
    return result


def revoked_with_note(client: StackClient, certificate_id: str) -> bool:
    result = client.verify_id(certificate_id)
    return result.status == REVOKED and result.HasField("revocation")


def revoked_on_chain(stack: LocalStack) -> dict[str, frozenset[str]]:
    """Transaction hash → the hashes it revoked, from the registry's DocumentRevoked events
    (the chain's own record, not the services' word)."""

    async def read() -> dict[str, frozenset[str]]:
        w3 = AsyncWeb3(AsyncHTTPProvider(stack.rpc_url))
        contract = w3.eth.contract(
            address=AsyncWeb3.to_checksum_address(stack.registry_address),
            abi=registry_artifact()["abi"],
        )
        logs = await contract.events.DocumentRevoked.get_logs(from_block=0)
        await w3.provider.disconnect()
        revoked: dict[str, set[str]] = {}
        for log in logs:
            tx = "0x" + bytes(log["transactionHash"]).hex()
            revoked.setdefault(tx, set()).add("0x" + bytes(log["args"]["document"]).hex())
        return {tx: frozenset(hashes) for tx, hashes in revoked.items()}

    return asyncio.run(read())


def new_revocations(stack: LocalStack, before: dict[str, frozenset[str]]) -> list[frozenset[str]]:
    """The hashes each bulkRevoke sent since `before` revoked (in a stable order)."""
    return in_order(hashes for tx, hashes in revoked_on_chain(stack).items() if tx not in before)


def in_order(windows: Iterable[frozenset[str]]) -> list[frozenset[str]]:
    return sorted(windows, key=lambda hashes: (len(hashes), sorted(hashes)))


def leaf_and_root(client: StackClient, certificate_id: str) -> tuple[str, str]:
    """The certificate's leaf hash and its window's root, from its anchored document."""
    proof = json.loads(client.document(certificate_id))["proof"]
    return str(proof["targetHash"]).lower(), str(proof["merkleRoot"]).lower()


def leaves(client: StackClient, certificate_ids: list[str]) -> frozenset[str]:
    return frozenset(leaf_and_root(client, cid)[0] for cid in certificate_ids)


def window_roots(client: StackClient, certificate_ids: list[str]) -> set[str]:
    """The roots of their anchor windows, but for a window of one certificate, whose root is
    its leaf (revoking that leaf cannot but revoke the root)."""
    pairs = [leaf_and_root(client, cid) for cid in certificate_ids]
    return {root for _, root in pairs} - {leaf for leaf, _ in pairs}


def revoked_hashes(stack: LocalStack) -> frozenset[str]:
    return frozenset().union(*revoked_on_chain(stack).values())


def test_revoking_one_and_many_is_one_bulk_revoke_each_and_shown_everywhere(
    stack: LocalStack, client: StackClient
) -> None:
    ids = [issue(stack, client, n) for n in range(4)]
    for cid in ids:
        wait_for(partial(anchored, client, cid), what=f"{cid} anchored")
    before = revoked_on_chain(stack)

    one = revoke(
        stack,
        client,
        request_id="revoke-one",
        certificate_ids=[ids[0]],
        reason=WITHDRAWN,
        reason_text="awarded by mistake to the wrong cohort",
    )
    assert (one.certificate_count, one.newly_revoked_count, one.already_revoked_count) == (1, 1, 0)
    wait_for(lambda: revoked_with_note(client, ids[0]), what="one revoked")
    result = client.verify_id(ids[0])
    assert result.revocation.reason == WITHDRAWN
    assert result.revocation.reason_text == "awarded by mistake to the wrong cohort"
    assert result.revocation.revoke_time.seconds > 0 and result.revocation.transaction_hash
    failed = [c for c in result.checks if c.check == "revocation"]
    assert "withdrawn by the issuer" in failed[0].message
    # the same through the document itself, and over HTTP
    document = client.document(ids[0])
    assert client.verify_document(document).revocation.reason == WITHDRAWN
    shown = http_verification(stack, ids[0])
    assert shown["status"] == "REVOKED" and shown["revocation"]["reason"] == "WITHDRAWN"
    assert shown["revocation"]["reasonText"] == "awarded by mistake to the wrong cohort"

    many = revoke(
        stack,
        client,
        request_id="revoke-many",
        certificate_ids=ids[1:3],
        reason=certificate_pb2.REVOCATION_REASON_DATA_CORRECTION,
    )
    assert many.newly_revoked_count == 2
    for cid in ids[1:3]:
        wait_for(partial(revoked_with_note, client, cid), what=f"{cid} revoked")
    assert client.verify_id(ids[3]).status == VALID  # not named: untouched

    # on chain: one bulkRevoke of the one's leaf, one of the two's; no root, nothing else
    assert new_revocations(stack, before) == [leaves(client, ids[:1]), leaves(client, ids[1:3])]
    on_chain = revoked_hashes(stack)
    assert leaf_and_root(client, ids[3])[0] not in on_chain
    assert not window_roots(client, ids) & on_chain

    # the same request again answers the same, and nothing more goes on chain
    again = revoke(
        stack,
        client,
        request_id="revoke-one",
        certificate_ids=[ids[0]],
        reason=WITHDRAWN,
        reason_text="awarded by mistake to the wrong cohort",
    )
    assert again.newly_revoked_count == 1
    # another request naming revoked certificates is a no-op for them
    twice = revoke(
        stack,
        client,
        request_id="revoke-twice",
        certificate_ids=ids[:2],
        reason=certificate_pb2.REVOCATION_REASON_OTHER,
    )
    assert (twice.newly_revoked_count, twice.already_revoked_count) == (0, 2)
    # revocations go out in the order asked: once a later one is on chain, any the two
    # requests above had recorded would be too
    revoke(stack, client, request_id="revoke-last", certificate_ids=[ids[3]], reason=WITHDRAWN)
    wait_for(lambda: leaf_and_root(client, ids[3])[0] in revoked_hashes(stack), what="last")
    assert new_revocations(stack, before) == in_order(
        [leaves(client, ids[:1]), leaves(client, ids[1:3]), leaves(client, ids[3:])]
    )
    assert client.verify_id(ids[0]).revocation.reason == WITHDRAWN  # the first reason stays


def test_a_whole_batch_is_revoked_by_its_id(stack: LocalStack, client: StackClient) -> None:
    rows = "\n".join(f"Person {i},batch.{i}@example.org,Batch Drill,2026-11-21" for i in range(5))
    upload = client.upload_csv(
        f"name,email,title,completion_date\n{rows}\n".encode(), request_id="rev-batch"
    )
    batch_id = upload.batch.batch_id
    client.wait_for_batch(batch_id, until="completed", timeout=120)
    before = revoked_on_chain(stack)
    response = revoke(
        stack,
        client,
        request_id="revoke-batch",
        batch_id=batch_id,
        reason=certificate_pb2.REVOCATION_REASON_ISSUED_IN_ERROR,
        reason_text="the exam was void",
    )
    assert (response.certificate_count, response.newly_revoked_count) == (5, 5)
    ids = batch_certificate_ids(stack, "Batch Drill")
    assert len(ids) == 5
    for cid in ids:
        wait_for(partial(revoked_with_note, client, cid), what=f"{cid} revoked")
        assert http_verification(stack, cid)["revocation"]["reason"] == "ISSUED_IN_ERROR"
    assert new_revocations(stack, before) == [leaves(client, ids)]  # one bulkRevoke, 5 leaves
    assert not window_roots(client, ids) & revoked_hashes(stack)


def batch_certificate_ids(stack: LocalStack, title: str) -> list[str]:
    """The ids of the certificates emailed with this title (from their attachments)."""
    ids = []
    for path in sorted(stack.mail_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes())
        for part in message.walk():
            if (part.get_filename() or "").endswith(".json"):
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                credential = json.loads(payload)
                if credential.get("name") == title or title in json.dumps(credential):
                    ids.append(str(credential["id"]).removeprefix("urn:uuid:"))
    return sorted(set(ids))


HOSTILE = [
    ({"certificate_ids": ["00000000-0000-4000-8000-000000000000"]}, grpc.StatusCode.NOT_FOUND),
    ({"certificate_ids": []}, grpc.StatusCode.INVALID_ARGUMENT),
    ({"certificate_ids": [f"id-{i}" for i in range(10_001)]}, grpc.StatusCode.INVALID_ARGUMENT),
    ({"reason_text": "x" * 501}, grpc.StatusCode.INVALID_ARGUMENT),
    ({"reason": 0}, grpc.StatusCode.INVALID_ARGUMENT),
    ({"reason": 77}, grpc.StatusCode.INVALID_ARGUMENT),
    ({"batch_id": "no-such-batch", "certificate_ids": []}, grpc.StatusCode.NOT_FOUND),
]


@pytest.mark.parametrize(
    ("n", "fields", "code"), [(100 + i, fields, code) for i, (fields, code) in enumerate(HOSTILE)]
)
def test_hostile_requests_are_refused_clearly_and_store_nothing(
    stack: LocalStack, client: StackClient, n: int, fields: dict[str, Any], code: grpc.StatusCode
) -> None:
    victim = issue(stack, client, n, name="Victim Person")  # one each: revoked at the end
    wait_for(lambda: anchored(client, victim), what="victim anchored")
    request: dict[str, Any] = {
        "request_id": f"hostile-{code.name}-{len(str(fields))}",
        "certificate_ids": [victim],
        "reason": WITHDRAWN,
        **fields,
    }
    if fields.get("certificate_ids") and "00000000" in fields["certificate_ids"][0]:
        request["certificate_ids"] = [victim, *fields["certificate_ids"]]  # one known, one not
    with pytest.raises(grpc.RpcError) as refused:
        revoke(stack, client, **request)
    assert refused.value.code() == code
    assert refused.value.details()  # says what is wrong
    # nothing half-written: the request id was not stored (the same request is refused the
    # same way, not answered) and no revocation of the victim was recorded
    with pytest.raises(grpc.RpcError) as again:
        revoke(stack, client, **request)
    assert again.value.code() == code
    after = revoke(
        stack,
        client,
        request_id=f"after-hostile-{n}",
        certificate_ids=[victim],
        reason=certificate_pb2.REVOCATION_REASON_OTHER,
    )
    assert (after.newly_revoked_count, after.already_revoked_count) == (1, 0)
    # on chain before the next test counts the transactions it makes
    wait_for(lambda: leaf_and_root(client, victim)[0] in revoked_hashes(stack), what="victim")


def test_a_reissue_revokes_the_old_certificate_pointing_at_the_new_one(
    stack: LocalStack, client: StackClient
) -> None:
    old = issue(stack, client, 200, name="Ada Lovelase")
    wait_for(partial(anchored, client, old), what="old anchored")
    request = ingest_service_pb2.ReissueCertificateRequest(
        request_id="reissue-ada",
        certificate_id=old,
        recipient_name="Ada Lovelace",
        reason_text="Name misspelt (Lovelase)",
    )
    response = client.ingest.ReissueCertificate(request, metadata=metadata(stack), timeout=30)
    new = response.certificate.certificate_id
    assert new != old and response.replaced_certificate_id == old
    assert response.certificate.recipient_name == "Ada Lovelace"
    credential = json.loads(response.certificate.document_json)
    assert credential["replaces"] == f"urn:uuid:{old}"
    # the same request again: the same new certificate, no third one
    again = client.ingest.ReissueCertificate(request, metadata=metadata(stack), timeout=30)
    assert again.certificate.certificate_id == new

    wait_for(partial(anchored, client, new), what="new anchored")
    wait_for(partial(revoked_with_note, client, old), what="old revoked")
    result = client.verify_id(old)
    assert result.revocation.reason == SUPERSEDED
    assert result.revocation.replaced_by_certificate_id == new
    assert result.revocation.reason_text == "Name misspelt (Lovelase)"
    shown = http_verification(stack, old)
    assert shown["revocation"]["replacedBy"] == new
    assert shown["revocation"]["replacedByPage"] == f"/verify/{new}"
    page_url = f"{stack.verify_http_url}/verify/{old}"
    with urllib.request.urlopen(page_url, timeout=30) as reply:
        page = reply.read().decode()
    assert f'href="/verify/{new}"' in page and "Name misspelt (Lovelase)" in page
    assert "Revoked by the issuer on " in page
    assert client.verify_id(new).status == VALID
    # on chain: the old leaf revoked, the new certificate's leaf and root not
    on_chain = revoked_hashes(stack)
    assert leaf_and_root(client, old)[0] in on_chain
    assert not set(leaf_and_root(client, new)) & on_chain

    # a second reissue of the same content is refused; an unknown one is NOT_FOUND
    with pytest.raises(grpc.RpcError) as refused:
        client.ingest.ReissueCertificate(
            ingest_service_pb2.ReissueCertificateRequest(
                request_id="reissue-ada-2", certificate_id=old, recipient_name="Ada Lovelace"
            ),
            metadata=metadata(stack),
            timeout=30,
        )
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.RpcError) as refused:
        client.ingest.ReissueCertificate(
            ingest_service_pb2.ReissueCertificateRequest(
                request_id="reissue-nobody",
                certificate_id="00000000-0000-4000-8000-000000000000",
                recipient_name="Nobody",
            ),
            metadata=metadata(stack),
            timeout=30,
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_certificate_revoked_for_correction_then_reissued_points_at_its_replacement(
    stack: LocalStack, client: StackClient
) -> None:
    old = issue(stack, client, 250, name="Ada Lovelase")
    wait_for(partial(anchored, client, old), what="old anchored")
    revoke(
        stack,
        client,
        request_id="correct-then-reissue",
        certificate_ids=[old],
        reason=certificate_pb2.REVOCATION_REASON_DATA_CORRECTION,
        reason_text="Name misspelt",
    )
    wait_for(partial(revoked_with_note, client, old), what="old revoked")
    before = revoked_on_chain(stack)
    response = client.ingest.ReissueCertificate(
        ingest_service_pb2.ReissueCertificateRequest(
            request_id="reissue-after-correction", certificate_id=old, recipient_name="Ada King"
        ),
        metadata=metadata(stack),
        timeout=30,
    )
    new = response.certificate.certificate_id
    wait_for(
        lambda: client.verify_id(old).revocation.replaced_by_certificate_id == new,
        what="the old one names its replacement",
    )
    result = client.verify_id(old)
    assert result.revocation.reason == certificate_pb2.REVOCATION_REASON_DATA_CORRECTION
    assert result.revocation.reason_text == "Name misspelt"  # the first revocation's, kept
    assert http_verification(stack, old)["revocation"]["replacedBy"] == new
    wait_for(partial(anchored, client, new), what="new anchored")
    assert new_revocations(stack, before) == []  # revoked once on chain, not again


def test_the_cli_revokes_and_reissues_with_clear_output_and_exit_codes(
    stack: LocalStack, client: StackClient, tmp_path: Path
) -> None:
    env = base_env(tmp_path)
    env["CERTFLOW_INTERNAL_TOKEN"] = stack.token
    env["CERTFLOW_INGEST_ADDRESS"] = stack.target("ingest")
    env["CERTFLOW_ANCHOR_ADDRESS"] = stack.target("anchor")
    first, second = issue(stack, client, 300), issue(stack, client, 301, name="Grace Hoper")
    for cid in (first, second):
        wait_for(partial(anchored, client, cid), what=f"{cid} anchored")

    done = certflow("revoke", first, "--reason", "withdrawn", "--text", "void exam", env=env)
    assert done.code == 0, done.stderr
    assert first in done.stdout and "revoking 1 of 1" in done.stdout
    again = certflow("revoke", first, "--reason", "other", "--json", env=env)
    assert again.code == 0 and again.json()["already_revoked_count"] == 1
    unknown = certflow(
        "revoke", "00000000-0000-4000-8000-000000000000", "--reason", "other", env=env
    )
    assert unknown.code == 6 and "00000000-0000-4000-8000-000000000000" in unknown.stderr
    assert_one_line_error(unknown)
    long_text = certflow("revoke", second, "--reason", "other", "--text", "x" * 501, env=env)
    assert long_text.code == 2 and "Traceback" not in long_text.stderr
    wait_for(partial(revoked_with_note, client, first), what="revoked through the CLI")

    reissued = certflow("reissue", second, "--name", "Grace Hopper", "--json", env=env)
    assert reissued.code == 0, reissued.stderr
    new = reissued.json()["certificate"]["certificate_id"]
    assert reissued.json()["replaced_certificate_id"] == second
    twice = certflow("reissue", second, "--name", "Grace Hopper", env=env)
    assert twice.code == 8
    assert_one_line_error(twice)
    wait_for(partial(revoked_with_note, client, second), what="reissued through the CLI")
    assert client.verify_id(second).revocation.replaced_by_certificate_id == new


def test_anchor_killed_right_after_a_revocation_request_revokes_once_after_restart(
    stack: LocalStack, client: StackClient
) -> None:
    ids = [issue(stack, client, n) for n in range(400, 403)]
    for cid in ids:
        wait_for(partial(anchored, client, cid), what=f"{cid} anchored")
    before = revoked_on_chain(stack)
    revoke(
        stack,
        client,
        request_id="revoke-then-crash",
        certificate_ids=ids,
        reason=certificate_pb2.REVOCATION_REASON_DATA_CORRECTION,
    )
    stack.restart("anchor", crash=True)  # SIGKILL: recorded, maybe signed, maybe sent
    for cid in ids:
        wait_for(partial(revoked_with_note, client, cid), what=f"{cid} revoked after restart")
    # one transaction revoked the three leaves, once
    assert new_revocations(stack, before) == [leaves(client, ids)]


def test_certflow_verify_shows_the_issuers_reason_next_to_the_chains_verdict(
    stack: LocalStack, client: StackClient, tmp_path: Path
) -> None:
    old = issue(stack, client, 500, name="Alan Turnig")
    wait_for(partial(anchored, client, old), what="anchored")
    response = client.ingest.ReissueCertificate(
        ingest_service_pb2.ReissueCertificateRequest(
            request_id="reissue-alan", certificate_id=old, recipient_name="Alan Turing"
        ),
        metadata=metadata(stack),
        timeout=30,
    )
    new = response.certificate.certificate_id
    wait_for(partial(revoked_with_note, client, old), what="old revoked")
    path = tmp_path / "old.json"
    path.write_text(client.document(old), encoding="utf-8")
    args = [
        "verify",
        str(path),
        "--rpc",
        stack.rpc_url,
        "--dns-resolver",
        f"127.0.0.1:{stack.ports['dns']}",
        "--profile-base-url",
        f"http://127.0.0.1:{stack.ports['identity']}",
    ]
    env = base_env(tmp_path)
    plain = certflow(*args, env=env)
    assert plain.code == 12 and "issuer's note" not in plain.stdout  # the chain has no reason
    noted = certflow(*args, "--verify-url", stack.verify_http_url, env=env)
    assert noted.code == 12, noted.stderr
    assert "superseded by a corrected certificate" in noted.stdout
    assert f"replaced by: {new}" in noted.stdout
    as_json = certflow(*args, "--verify-url", stack.verify_http_url, "--json", env=env).json()
    assert as_json["revocation"]["reason"] == "SUPERSEDED"
    assert as_json["revocation"]["replacedBy"] == new
