"""verify's read model without servers: consumers and look-ups over an in-memory store. Events
come in any order and more than once (at-least-once transport)."""

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from certflow.core.document import read_anchor_proof
from certflow.core.merkle import verify_proof
from certflow.core.verification import VerificationStatus
from certflow.platform import bus
from certflow.v1 import events_pb2
from services.verify.by_id import verify_by_id
from services.verify.consumers import (
    EventConsumer,
    anchored_consumer,
    anchored_records,
    issued_consumer,
    issued_records,
)
from services.verify.lookups import CertificateLookups
from services.verify.read_model import (
    AnchoredCertificate,
    CertificateState,
    IssuedCertificate,
    UnusableEvent,
    anchoring,
    later_anchoring,
    state_of,
)
from tests.unit.verify.events import (
    RECIPIENT_EMAIL,
    Leaf,
    MemoryStore,
    anchored_event,
    issued_event,
    new_leaf,
)
from tests.unit.verify.test_verification import MemoryRegistry, verifier_on


@dataclass
class FakeMessage:
    data: bytes
    settled: list[Any] = field(default_factory=list)

    async def ack(self) -> None:
        self.settled.append("ack")

    async def nak(self, delay: float | None = None) -> None:
        self.settled.append(("nak", delay))

    async def term(self) -> None:
        self.settled.append("term")


async def deliver(consumer: EventConsumer[Any], data: bytes) -> list[Any]:
    message = FakeMessage(data)
    await consumer.take(message)
    return message.settled


def state(store: MemoryStore, leaf: Leaf) -> CertificateState:
    return state_of(store.find(leaf.certificate_id))


# ---- consumers ----


async def test_issued_then_anchored_is_pending_then_anchored() -> None:
    store = MemoryStore()
    leaves = [new_leaf() for _ in range(3)]
    assert await deliver(issued_consumer(store), issued_event(leaves)) == ["ack"]
    assert {state(store, leaf) for leaf in leaves} == {CertificateState.PENDING}
    assert await deliver(anchored_consumer(store), anchored_event(leaves)) == ["ack"]
    assert {state(store, leaf) for leaf in leaves} == {CertificateState.ANCHORED}


async def test_anchored_before_issued_is_kept_and_waits_for_the_credential() -> None:
    store = MemoryStore()
    leaves = [new_leaf() for _ in range(3)]
    assert await deliver(anchored_consumer(store), anchored_event(leaves)) == ["ack"]
    assert {state(store, leaf) for leaf in leaves} == {CertificateState.NOT_FOUND}
    assert await CertificateLookups(store).find(leaves[0].certificate_id) is None
    assert await deliver(issued_consumer(store), issued_event(leaves)) == ["ack"]
    assert {state(store, leaf) for leaf in leaves} == {CertificateState.ANCHORED}


async def test_redelivered_events_change_nothing() -> None:
    store = MemoryStore()
    leaves = [new_leaf(), new_leaf()]
    issued, anchored = issued_event(leaves), anchored_event(leaves)
    for data in (issued, anchored, issued, anchored):
        consumer = issued_consumer(store) if data is issued else anchored_consumer(store)
        assert await deliver(consumer, data) == ["ack"]
    first = {leaf.certificate_id: store.find(leaf.certificate_id) for leaf in leaves}
    # the same certificate issued again with other bytes (a bug upstream) does not replace it
    other = new_leaf(title="Another Title", certificate_id=leaves[0].certificate_id)
    assert await deliver(issued_consumer(store), issued_event([other])) == ["ack"]
    assert {leaf.certificate_id: store.find(leaf.certificate_id) for leaf in leaves} == first
    assert len(store.issued) == len(store.anchored) == 2


async def test_an_older_anchoring_redelivered_late_does_not_replace_a_later_one() -> None:
    store = MemoryStore()
    leaf = new_leaf()
    await deliver(issued_consumer(store), issued_event([leaf]))
    await deliver(anchored_consumer(store), anchored_event([leaf], block_number=9))
    await deliver(anchored_consumer(store), anchored_event([leaf], block_number=7))
    assert store.anchored[leaf.certificate_id].anchoring.block_number == 9
    # re-anchored after a reorg, in a later block: the later one is kept
    await deliver(anchored_consumer(store), anchored_event([leaf], block_number=12))
    assert store.anchored[leaf.certificate_id].anchoring.block_number == 12


async def test_a_failed_write_naks_with_a_growing_delay_and_the_consumer_goes_on() -> None:
    store = MemoryStore(failing=3)
    consumer = issued_consumer(store)
    leaves = [new_leaf()]
    delays = [(await deliver(consumer, issued_event(leaves)))[0] for _ in range(3)]
    assert delays == [("nak", bus.retry_delay(n)) for n in (1, 2, 3)]
    assert delays[0][1] < delays[1][1] < delays[2][1]
    assert await deliver(consumer, issued_event(leaves)) == ["ack"]
    assert consumer.failures == 0 and state(store, leaves[0]) is CertificateState.PENDING


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xff\xff not protobuf",
        events_pb2.CertificatesIssuedEvent(batch_id="b").SerializeToString(),  # no leaves
        # the older shape: ids and leaves without salt or credential
        events_pb2.CertificatesIssuedEvent(
            leaves=[events_pb2.IssuedLeaf(certificate_id="c", leaf_hash=b"h" * 32)]
        ).SerializeToString(),
    ],
)
async def test_an_unreadable_issued_message_is_terminated_and_counted(data: bytes) -> None:
    store = MemoryStore()
    consumer = issued_consumer(store)
    assert await deliver(consumer, data) == ["term"]
    assert consumer.poison_messages == 1 and store.writes == 0


async def test_an_anchored_message_without_merkle_paths_is_terminated() -> None:
    store = MemoryStore()
    consumer = anchored_consumer(store)
    ids_only = events_pb2.CertificatesAnchoredEvent.FromString(anchored_event([new_leaf()]))
    del ids_only.leaves[:]
    assert await deliver(consumer, ids_only.SerializeToString()) == ["term"]
    assert consumer.poison_messages == 1 and store.writes == 0


# ---- what an event must hold ----


def test_an_issued_leaf_must_carry_its_own_credential_without_proof() -> None:
    leaf, other = new_leaf(), new_leaf()
    swapped = Leaf(leaf.certificate_id, other.document, leaf.leaf_salt, leaf.leaf_hash)
    with pytest.raises(UnusableEvent, match="names"):
        issued_records(issued_event([swapped]))
    with_proof = orjson.loads(leaf.document) | {"proof": {}}
    proofed = Leaf(leaf.certificate_id, orjson.dumps(with_proof), leaf.leaf_salt, leaf.leaf_hash)
    with pytest.raises(UnusableEvent, match="proof"):
        issued_records(issued_event([proofed]))
    for salt in (b"", b"s" * 8, b"s" * 33):
        with pytest.raises(UnusableEvent, match="salt"):
            unsalted = Leaf(leaf.certificate_id, leaf.document, salt, b"h" * 32)
            issued_records(issued_event([unsalted]))
    records = issued_records(issued_event([leaf], batch_id="batch-7"))
    assert records == [
        IssuedCertificate(
            leaf.certificate_id, leaf.document, leaf.leaf_salt, leaf.leaf_hash, "batch-7"
        )
    ]


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("merkle_root", b"short"),
        ("chain_id", 0),
        ("chain_id", 2**63),
        ("block_number", 0),
        ("registry_address", "not an address"),
        ("transaction_hash", "0x1234"),
    ],
)
def test_an_anchored_event_with_impossible_facts_is_unusable(field_name: str, value: Any) -> None:
    event = events_pb2.CertificatesAnchoredEvent.FromString(anchored_event([new_leaf()]))
    setattr(event, field_name, value)
    with pytest.raises(UnusableEvent):
        anchored_records(event.SerializeToString())


def test_a_merkle_path_must_be_whole_hashes() -> None:
    event = events_pb2.CertificatesAnchoredEvent.FromString(anchored_event([new_leaf()]))
    event.leaves[0].merkle_path = b"x" * 33
    with pytest.raises(UnusableEvent, match="Merkle path"):
        anchored_records(event.SerializeToString())


def test_the_first_anchoring_or_a_later_block_wins() -> None:
    def at(block: int) -> AnchoredCertificate:
        window = anchoring(b"r" * 32, 1, "0x" + "00" * 20, "0x" + "ab" * 32, block)
        return AnchoredCertificate("c", b"", window)

    assert later_anchoring(None, at(5).anchoring)
    assert later_anchoring(at(5).anchoring, at(6).anchoring)
    assert not later_anchoring(at(5).anchoring, at(5).anchoring)
    assert not later_anchoring(at(6).anchoring, at(5).anchoring)


# ---- look-ups ----


async def test_a_look_up_assembles_the_anchored_credential_from_the_read_model() -> None:
    store = MemoryStore()
    leaves = [new_leaf() for _ in range(5)]
    await deliver(anchored_consumer(store), anchored_event(leaves))
    await deliver(issued_consumer(store), issued_event(leaves))
    found = await CertificateLookups(store).find(leaves[3].certificate_id)
    assert found is not None and found.anchored
    proof = read_anchor_proof(found.document)
    assert proof.leaf_hash == leaves[3].leaf_hash and proof.block_number == 7
    assert verify_proof(proof.leaf_hash, proof.merkle_path, proof.merkle_root)
    assert RECIPIENT_EMAIL not in orjson.dumps(found.document).decode()


async def test_by_id_pending_shows_the_credential_and_unknown_is_not_found() -> None:
    store = MemoryStore()
    lookups = CertificateLookups(store)
    leaf = new_leaf(name="Zoë Ng", title="Forklift Basics")
    verifier = verifier_on(MemoryRegistry())
    unknown = await verify_by_id(verifier, lookups, leaf.certificate_id)
    assert unknown.status is VerificationStatus.NOT_FOUND
    await deliver(issued_consumer(store), issued_event([leaf]))
    pending = await verify_by_id(verifier, lookups, leaf.certificate_id)
    assert pending.status is VerificationStatus.PENDING
    assert (pending.recipient_name, pending.title, pending.issuer_name) == (
        "Zoë Ng",
        "Forklift Basics",
        "Example Academy",
    )
    assert await lookups.is_pending(leaf.certificate_id)


async def test_by_id_an_anchored_certificate_is_verified_on_the_chain() -> None:
    store = MemoryStore()
    registry = MemoryRegistry()
    leaves = [new_leaf(), new_leaf()]
    await deliver(issued_consumer(store), issued_event(leaves))
    await deliver(anchored_consumer(store), anchored_event(leaves))
    anchored = store.anchored[leaves[0].certificate_id].anchoring
    registry.anchored[anchored.merkle_root] = (7, 1_780_000_000)
    lookups = CertificateLookups(store)
    result = await verify_by_id(verifier_on(registry), lookups, leaves[1].certificate_id)
    assert result.status is VerificationStatus.VALID, result.checks
    assert not await lookups.is_pending(leaves[1].certificate_id)


def test_the_consumers_run_until_stopped() -> None:
    class Subscription:
        def __init__(self) -> None:
            self.batches = [[FakeMessage(issued_event([new_leaf()]))]]

        async def fetch(self, batch: int, **_: float) -> list[FakeMessage]:
            if self.batches:
                return self.batches.pop()
            stopping.set()
            return []

    store = MemoryStore()
    stopping = asyncio.Event()
    asyncio.run(issued_consumer(store).run(Subscription(), stopping))
    assert len(store.issued) == 1
