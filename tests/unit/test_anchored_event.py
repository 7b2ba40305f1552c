"""Reading "certs.anchored" as its three consumers do: the paths proven against the root, the
events of earlier anchors (whole paths, or ids alone) still read, and nothing kept from an event
that does not prove its certificates."""

from typing import Any

import pytest

from certflow.core.anchoring import AnchoredWindowFacts
from certflow.core.hashing import keccak256
from certflow.core.merkle import MerkleTree, pack_proof
from certflow.platform.anchored_event import MalformedAnchoredEvent, read_anchored_event
from certflow.v1 import events_pb2
from services.anchor.anchored_events import anchored_events

LEAVES = [(f"c{i}", keccak256(bytes([i]))) for i in range(10)]
TREE = MerkleTree.build([leaf for _, leaf in LEAVES])
WINDOW = AnchoredWindowFacts("w1", TREE.root, 31337, "0x" + "ab" * 20, "0x" + "cd" * 32, 9)
PATHS = [(cid, pack_proof(p)) for (cid, _), p in zip(LEAVES, TREE.proofs(), strict=True)]


def event(**fields: Any) -> bytes:
    base: dict[str, Any] = {
        "window_id": "w1",
        "merkle_root": TREE.root,
        "chain_id": 31337,
        "registry_address": "0x" + "ab" * 20,
        "transaction_hash": "0x" + "cd" * 32,
        "block_number": 9,
    }
    return events_pb2.CertificatesAnchoredEvent(**(base | fields)).SerializeToString()


def run_of(leaves: list[tuple[str, bytes]], shared_path: bytes = b"") -> bytes:
    return event(
        leaves=[events_pb2.AnchoredLeaf(certificate_id=c, leaf_hash=h) for c, h in leaves],
        shared_path=shared_path,
    )


def test_a_current_event_gives_each_certificate_its_path_in_the_windows_tree() -> None:
    [message] = anchored_events(WINDOW, LEAVES)
    announced = read_anchored_event(message.payload)
    assert announced.facts == WINDOW
    assert announced.paths == PATHS and announced.unproven == ()


def test_a_run_below_the_top_is_completed_with_the_shared_path() -> None:
    # leaves 8..9 are the last aligned run of 2 (level 1); above it one sibling: levels' node 0
    shared = pack_proof([TREE.levels[3][0]])
    announced = read_anchored_event(run_of(LEAVES[8:], shared))
    assert announced.paths == PATHS[8:]


@pytest.mark.parametrize(
    "payload",
    [
        # one leaf altered: the run no longer leads to the root
        run_of([LEAVES[0], ("c1", b"\x00" * 32), *LEAVES[2:]]),
        # a run without the path above it
        run_of(LEAVES[8:]),
        run_of(LEAVES, shared_path=b"\x01" * 31),  # not whole hashes
        run_of([("c0", b"\x01" * 31)]),  # a short leaf
        run_of([("", LEAVES[0][1])]),  # no id
        run_of([("x" * 37, LEAVES[0][1])]),  # longer than any certificate id
        event(merkle_root=b"\x01" * 31, leaves=[events_pb2.AnchoredLeaf(certificate_id="c0")]),
        event(),  # names no certificate
        b"\xff\xff not protobuf",
    ],
)
def test_an_event_that_does_not_prove_its_certificates_is_refused_whole(payload: bytes) -> None:
    with pytest.raises(MalformedAnchoredEvent):
        read_anchored_event(payload)


def test_events_of_earlier_anchors_still_read_during_an_upgrade() -> None:
    whole_paths = event(
        leaves=[events_pb2.AnchoredLeaf(certificate_id=c, merkle_path=p) for c, p in PATHS],
        certificate_ids=[c for c, _ in PATHS],
    )
    assert read_anchored_event(whole_paths).paths == PATHS
    ids_alone = read_anchored_event(event(certificate_ids=["c0", "c1", "c0"]))
    assert ids_alone.paths == [] and ids_alone.unproven == ("c0", "c1")
    ragged = event(leaves=[events_pb2.AnchoredLeaf(certificate_id="c0", merkle_path=b"\x01" * 33)])
    with pytest.raises(MalformedAnchoredEvent):
        read_anchored_event(ragged)
