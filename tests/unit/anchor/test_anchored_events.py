"""The "certs.anchored" events: runs of leaf hashes with the path they share, split so that each
message stays well under NATS's 1 MB limit, with deterministic message ids — and from which a
consumer recovers exactly the paths of the window's tree."""

import uuid

import pytest

from certflow.core.anchoring import AnchoredWindowFacts
from certflow.core.hashing import keccak256
from certflow.core.merkle import MerkleTree, pack_proof
from certflow.platform.anchored_event import read_anchored_event
from certflow.v1 import events_pb2
from services.anchor.anchored_events import MAX_EVENT_BYTES, anchored_events

NATS_MAX_PAYLOAD = 1024 * 1024


def window_of(leaves: list[tuple[str, bytes]]) -> AnchoredWindowFacts:
    return AnchoredWindowFacts(
        window_id=str(uuid.UUID(int=7)),
        merkle_root=MerkleTree.build([leaf for _, leaf in leaves]).root,
        chain_id=2**63,  # the widest varints: the worst case
        registry_address="0x" + "Ab" * 20,
        transaction_hash="0x" + "cd" * 32,
        block_number=2**63,
    )


def uuid_leaves(count: int) -> list[tuple[str, bytes]]:
    """Uuid-length ids (36 characters, the most a leaf may carry) and distinct leaf hashes."""
    return [(str(uuid.UUID(int=i)), keccak256(i.to_bytes(4, "big"))) for i in range(count)]


def decoded(payload: bytes) -> events_pb2.CertificatesAnchoredEvent:
    return events_pb2.CertificatesAnchoredEvent.FromString(payload)


def recovered(events: list) -> list[tuple[str, bytes]]:
    return [pair for e in events for pair in read_anchored_event(e.payload).paths]


def test_a_large_window_is_announced_in_aligned_runs_well_under_the_nats_limit() -> None:
    leaves = uuid_leaves(20_000)
    events = anchored_events(window_of(leaves), leaves)
    # runs of 4,096 (the largest power of two that fits 36-character ids): 5 events
    assert [len(decoded(e.payload).leaves) for e in events] == [4096] * 4 + [3616]
    assert [e.msg_id for e in events] == [f"anchored:{uuid.UUID(int=7)}:{n}" for n in range(5)]
    for event in events:
        assert len(event.payload) <= MAX_EVENT_BYTES < NATS_MAX_PAYLOAD // 2 + 1
    # ~80 bytes a certificate, where every path was ~550 bytes at this size
    assert sum(len(e.payload) for e in events) < 20_000 * 90


@pytest.mark.parametrize("count", [1, 2, 3, 7, 4096, 4097, 9_999])
def test_the_consumer_recovers_every_path_of_the_windows_tree(count: int) -> None:
    leaves = uuid_leaves(count)
    tree = MerkleTree.build([leaf for _, leaf in leaves])
    expected = [(cid, pack_proof(p)) for (cid, _), p in zip(leaves, tree.proofs(), strict=True)]
    assert recovered(anchored_events(window_of(leaves), leaves)) == expected


def test_every_event_carries_the_window_and_the_registry() -> None:
    leaves = [(f"cert-{i}", bytes([i]) * 32) for i in range(1, 8)]
    window = window_of(leaves)
    [event] = anchored_events(window, leaves)
    message = decoded(event.payload)
    assert (message.window_id, message.merkle_root) == (window.window_id, window.merkle_root)
    assert (message.registry_address, message.block_number) == ("0x" + "Ab" * 20, 2**63)
    assert (message.chain_id, message.transaction_hash) == (2**63, "0x" + "cd" * 32)
    assert [(leaf.certificate_id, leaf.leaf_hash) for leaf in message.leaves] == leaves
    assert message.shared_path == b""  # one run is the whole tree
    assert read_anchored_event(event.payload).facts == window


def test_the_same_window_gives_the_same_messages() -> None:
    leaves = uuid_leaves(5_000)
    first, again = (
        anchored_events(window_of(leaves), leaves),
        anchored_events(window_of(leaves), leaves),
    )
    assert first == again
    assert [len(decoded(e.payload).leaves) for e in first] == [4096, 904]
