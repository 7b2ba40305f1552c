"""The "certs.anchored" events: every certificate's path carried, split so that each message
stays well under NATS's 1 MB limit, with deterministic message ids."""

import uuid

import pytest

from certflow.core.anchoring import AnchoredWindowFacts
from certflow.core.merkle import MerkleTree, pack_proof, unpack_proof, verify_proof
from certflow.v1 import events_pb2
from services.anchor.anchored_events import MAX_EVENT_BYTES, MAX_LEAVES_PER_EVENT, anchored_events

NATS_MAX_PAYLOAD = 1024 * 1024
WINDOW = AnchoredWindowFacts(
    window_id=str(uuid.UUID(int=7)),
    merkle_root=b"\x11" * 32,
    chain_id=2**63,  # the widest varints: the worst case
    registry_address="0x" + "Ab" * 20,
    transaction_hash="0x" + "cd" * 32,
    block_number=2**63,
)


def worst_case_leaves(count: int, depth: int) -> list[tuple[str, bytes]]:
    """Uuid-length ids (36 characters, the most a leaf may carry) and `depth`-level paths."""
    return [(str(uuid.UUID(int=i)), bytes([i % 251]) * 32 * depth) for i in range(count)]


def decoded(payload: bytes) -> events_pb2.CertificatesAnchoredEvent:
    return events_pb2.CertificatesAnchoredEvent.FromString(payload)


def test_a_million_leaf_window_is_announced_in_events_well_under_the_nats_limit() -> None:
    # a 1,000,000-leaf window has 20-level paths; 2,000 of its leaves are enough to fill events
    leaves = worst_case_leaves(2_000, depth=20)
    events = anchored_events(WINDOW, leaves)
    assert [e.msg_id for e in events] == [f"anchored:{WINDOW.window_id}:{n}" for n in range(4)]
    for event in events:
        assert len(event.payload) <= MAX_EVENT_BYTES < NATS_MAX_PAYLOAD // 2 + 1
        assert len(decoded(event.payload).leaves) <= MAX_LEAVES_PER_EVENT
    assert max(len(e.payload) for e in events) < 400_000  # 361 KB measured


@pytest.mark.parametrize("depth", [32, 64, 200])
def test_deeper_paths_are_split_by_size_not_only_by_count(depth: int) -> None:
    leaves = worst_case_leaves(1_200, depth=depth)
    events = anchored_events(WINDOW, leaves)
    assert all(len(e.payload) <= MAX_EVENT_BYTES for e in events)
    carried = [
        (leaf.certificate_id, leaf.merkle_path)
        for e in events
        for leaf in decoded(e.payload).leaves
    ]
    assert carried == leaves


def test_every_event_carries_the_window_the_registry_and_each_certificates_path() -> None:
    hashes = [bytes([i]) * 32 for i in range(1, 8)]
    tree = MerkleTree.build(hashes)
    ids = [f"cert-{i}" for i in range(7)]
    window = AnchoredWindowFacts("w", tree.root, 31337, "0x" + "Ab" * 20, "0x" + "cd" * 32, 42)
    [event] = anchored_events(
        window, [(c, pack_proof(p)) for c, p in zip(ids, tree.proofs(), strict=True)]
    )
    message = decoded(event.payload)
    assert (message.window_id, message.merkle_root, message.chain_id) == ("w", tree.root, 31337)
    assert (message.registry_address, message.block_number) == ("0x" + "Ab" * 20, 42)
    assert message.transaction_hash == "0x" + "cd" * 32
    assert list(message.certificate_ids) == ids  # kept until every consumer reads `leaves`
    assert [leaf.certificate_id for leaf in message.leaves] == ids
    for leaf_hash, leaf in zip(hashes, message.leaves, strict=True):
        assert verify_proof(leaf_hash, unpack_proof(leaf.merkle_path), tree.root)


def test_the_same_window_gives_the_same_messages() -> None:
    leaves = worst_case_leaves(1_001, depth=10)
    first, again = anchored_events(WINDOW, leaves), anchored_events(WINDOW, leaves)
    assert first == again
    assert [len(decoded(e.payload).leaves) for e in first] == [500, 500, 1]


def test_a_one_leaf_window_has_an_empty_path_and_one_event() -> None:
    [event] = anchored_events(WINDOW, [("only", b"")])
    assert decoded(event.payload).leaves[0].merkle_path == b""
