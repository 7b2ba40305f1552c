"""The forgery the issuer binding stops, on the real stack (nats-server, anvil, the four
services, and the demo issuer's DNS and profile servers): someone deploys their own copy of the
registry contract, anchors a certificate claiming the demo issuer in it, and asks verify. Every
check a docs-following verifier made before passes (integrity, Merkle proof, anchored on chain,
not revoked); the issuer's published registries do not include the copy.

Also: what the issuer publishes (DNS TXT, profile, both, neither) decides a genuine certificate's
verdict, and an issuer that cannot be asked is no verdict (503), not a forgery."""

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import grpc
import pytest

from certflow.core.canonical import canonical_json
from certflow.core.document import (
    AnchorProof,
    CertificateContent,
    IssuerProfile,
    build_credential,
    leaf_hash,
    new_salt,
    with_anchor_proof,
)
from certflow.platform.chain import RegistryClient, deploy_registry, sign, signer
from certflow.v1 import verify_service_pb2
from devstack.client import StackClient
from devstack.stack import (
    ANVIL_CHAIN_ID,
    DEMO_ISSUER_ID,
    DEMO_ISSUER_NAME,
    SERVICES,
    LocalStack,
    StackOptions,
)
from tests.e2e.test_hostile_verify import grpc_verify, issue_anchored, post_document

# anvil's second dev account: someone who is not the demo issuer (public, well-known key)
FORGER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {
        "CERTFLOW_ISSUER_BINDING_CACHE_SECONDS": "0",  # each verification reads what is published
        "CERTFLOW_ISSUER_BINDING_TIMEOUT_SECONDS": "1",
        "CERTFLOW_HTTP_RATE_BURST": "100000",
        "CERTFLOW_HTTP_RATE_PER_SECOND": "100000",
    }
    options = StackOptions(
        state_dir=tmp_path_factory.mktemp("issuer-binding"),
        window_max_age_seconds=0.3,
        service_env=env,
    )
    with LocalStack(options) as running:
        yield running


@pytest.fixture(scope="module")
def client(stack: LocalStack) -> Iterator[StackClient]:
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    yield client
    client.close()


@pytest.fixture(scope="module")
def genuine(stack: LocalStack, client: StackClient) -> dict[str, Any]:
    return issue_anchored(stack, client, "binding-1", "Amara Okafor", "amara@example.org")


@pytest.fixture
def published_again(stack: LocalStack) -> Iterator[None]:
    """Whatever a test publishes, the demo issuer lists its own registry again afterwards."""
    yield
    stack.publish_issuer_registries([stack.registry_address])


async def anchor_forgery(stack: LocalStack) -> tuple[dict[str, Any], str]:
    """A certificate claiming the demo issuer, anchored by someone else in their own copy of
    the registry; returns it with the copy's address."""
    copy_address = await deploy_registry(stack.rpc_url, FORGER_KEY, "certflow local registry")
    credential = build_credential(
        certificate_id=str(uuid.uuid4()),
        issuer=IssuerProfile(id=DEMO_ISSUER_ID, name=DEMO_ISSUER_NAME),
        content=CertificateContent(
            recipient_name="Mallory Forger",
            recipient_email="mallory@example.org",
            title="MSc Data Science",
            completion_date=date(2026, 4, 30),
        ),
        email_salt=new_salt().hex()[:32],
        issued_at=datetime(2026, 5, 1, tzinfo=UTC),
    )
    salt = new_salt()
    leaf = leaf_hash(canonical_json(credential), salt)
    forger = signer(FORGER_KEY)
    registry = RegistryClient(stack.rpc_url, copy_address)
    try:
        nonce = await registry.pending_nonce(forger.address)
        base_fee, tip = await registry.fees()
        transaction = await registry.build_anchor_transaction(
            leaf, forger.address, nonce, (2 * base_fee + tip, tip)
        )
        raw, tx_hash = sign(forger, transaction)
        assert await registry.send_raw(raw)
        for _ in range(600):
            mined = await registry.mined(tx_hash)
            if mined is not None:
                break
            await asyncio.sleep(0.05)
        assert mined is not None and mined.succeeded
        assert (await registry.anchored_at(leaf))[0] == mined.block_number
    finally:
        await registry.close()
    proof = AnchorProof(
        salt, leaf, leaf, (), ANVIL_CHAIN_ID, copy_address, tx_hash, mined.block_number
    )
    return with_anchor_proof(credential, proof), copy_address


@pytest.fixture(scope="module")
def forgery(stack: LocalStack) -> tuple[dict[str, Any], str]:
    return asyncio.run(anchor_forgery(stack))


def verdict(stack: LocalStack, document: dict[str, Any]) -> dict[str, Any]:
    answer = post_document(stack, json.dumps(document))
    assert answer.status == 200, answer
    result: dict[str, Any] = answer.json()
    return result


def checks(result: dict[str, Any]) -> dict[str, str]:
    return {c["check"]: c["status"] for c in result["checks"]}


def test_a_genuine_certificate_is_valid_through_the_published_binding(
    stack: LocalStack, genuine: dict[str, Any]
) -> None:
    result = verdict(stack, genuine)
    assert result["status"] == "VALID", result
    issuer = next(c for c in result["checks"] if c["check"] == "issuer")
    assert stack.registry_address.lower() in issuer["message"]


def test_a_forgery_in_a_copy_of_the_registry_is_refused(
    stack: LocalStack, forgery: tuple[dict[str, Any], str]
) -> None:
    document, copy_address = forgery
    result = verdict(stack, document)
    assert result["status"] == "REGISTRY_NOT_LISTED", result
    assert result["issuerName"] == DEMO_ISSUER_NAME  # the claim, which is what is refused
    assert checks(result) == {
        "format": "PASSED",
        "integrity": "PASSED",
        "merkle_proof": "PASSED",
        "issuer": "FAILED",
        "registry": "SKIPPED",
        "anchored": "SKIPPED",
        "revocation": "SKIPPED",
        "expiry": "SKIPPED",
    }
    issuer = next(c for c in result["checks"] if c["check"] == "issuer")
    assert copy_address.lower() in issuer["message"]
    assert stack.registry_address.lower() in issuer["message"]  # what the issuer does list
    answer = grpc_verify(stack, document_json=json.dumps(document))
    assert answer.status == verify_service_pb2.VERIFICATION_STATUS_REGISTRY_NOT_LISTED


def test_the_forgery_is_really_anchored_in_its_copy(
    stack: LocalStack, forgery: tuple[dict[str, Any], str], published_again: None
) -> None:
    """What the binding alone stops: were the copy listed by the issuer, every later step
    passes up to this verifier's own allow-list."""
    document, copy_address = forgery
    stack.publish_issuer_registries([stack.registry_address, copy_address])
    result = verdict(stack, document)
    assert result["status"] == "UNKNOWN_ISSUER", result
    assert checks(result)["issuer"] == "PASSED"
    assert checks(result)["registry"] == "FAILED"


@pytest.mark.parametrize(
    ("dns", "profile"), [(True, False), (False, True)], ids=["dns-only", "profile-only"]
)
def test_either_way_of_publishing_is_enough(
    stack: LocalStack, genuine: dict[str, Any], published_again: None, dns: bool, profile: bool
) -> None:
    stack.publish_issuer_registries([stack.registry_address], dns=dns, profile=profile)
    result = verdict(stack, genuine)
    assert result["status"] == "VALID", result
    issuer = next(c for c in result["checks"] if c["check"] == "issuer")
    assert issuer["message"].startswith("DNS TXT" if dns else "issuer profile")


def test_an_issuer_publishing_nothing_or_another_registry_binds_nothing(
    stack: LocalStack, genuine: dict[str, Any], published_again: None
) -> None:
    stack.publish_issuer_registries([], dns=False, profile=False)  # NXDOMAIN and 404
    assert verdict(stack, genuine)["status"] == "REGISTRY_NOT_LISTED"
    stack.publish_issuer_registries(["0x" + "c0" * 20])  # both list only another registry
    assert verdict(stack, genuine)["status"] == "REGISTRY_NOT_LISTED"


def test_an_issuer_that_cannot_be_asked_is_no_verdict(
    stack: LocalStack, genuine: dict[str, Any]
) -> None:
    identity = stack.processes["identity"]
    identity.stop()  # DNS and profile server gone: nothing answers
    try:
        answer = post_document(stack, json.dumps(genuine))
        assert answer.status == 503, answer
        assert answer.json()["error"] == "ISSUER_UNAVAILABLE"
        with pytest.raises(grpc.RpcError) as info:
            grpc_verify(stack, document_json=json.dumps(genuine))
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        stack.restart("identity")
    assert verdict(stack, genuine)["status"] == "VALID"
