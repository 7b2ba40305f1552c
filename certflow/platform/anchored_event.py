"""Reading a "certs.anchored" event, for each of its consumers (ingest, notify, verify): the
window's facts and every certificate's Merkle path, proven against the window's root.

Current anchors send a run of leaf hashes and the path shared above the run (see
services/anchor/anchored_events.py); anchors before 0.3 sent each certificate's path, and such
events may still be in the stream during an upgrade, so both are read. A run is checked
against the root before anything is returned: an event that does not prove its certificates is
refused whole, never kept in part."""

from dataclasses import dataclass

from certflow.core.anchoring import AnchoredWindowFacts
from certflow.core.merkle import HASH_SIZE, aligned_subtree_proofs, unpack_proof, verify_proof
from certflow.v1 import events_pb2

MAX_CERTIFICATE_ID = 36  # certificate ids are UUIDs (String(36) columns everywhere)


class MalformedAnchoredEvent(ValueError):
    """The payload is not a usable "certs.anchored" event (the consumer terminates it)."""


@dataclass(frozen=True, slots=True)
class AnchoredAnnouncement:
    facts: AnchoredWindowFacts
    paths: list[tuple[str, bytes]]  # (certificate id, packed Merkle path), in leaf order
    # named without a path (anchors before 0.2 sent ids alone): not provable from this event
    unproven: tuple[str, ...] = ()


def read_anchored_event(payload: bytes) -> AnchoredAnnouncement:
    try:
        event = events_pb2.CertificatesAnchoredEvent.FromString(payload)
    except Exception as exc:  # DecodeError, or invalid UTF-8 in a string field
        raise MalformedAnchoredEvent(f"not a CertificatesAnchoredEvent: {exc}") from exc
    if len(event.merkle_root) != HASH_SIZE:
        raise MalformedAnchoredEvent("the Merkle root is not 32 bytes")
    facts = AnchoredWindowFacts(
        window_id=event.window_id,
        merkle_root=bytes(event.merkle_root),
        chain_id=event.chain_id,
        registry_address=event.registry_address,
        transaction_hash=event.transaction_hash,
        block_number=event.block_number,
    )
    for leaf in event.leaves:
        _check_id(leaf.certificate_id)
    if any(leaf.leaf_hash for leaf in event.leaves):
        paths = _paths_of_run(event)
    else:
        paths = [(leaf.certificate_id, bytes(leaf.merkle_path)) for leaf in event.leaves]
        if any(len(path) % HASH_SIZE for _, path in paths):
            raise MalformedAnchoredEvent("a Merkle path is not a whole number of hashes")
    proven = {cid for cid, _ in paths}
    for certificate_id in event.certificate_ids:
        _check_id(certificate_id)
    unproven = tuple(dict.fromkeys(c for c in event.certificate_ids if c not in proven))
    if not paths and not unproven:
        raise MalformedAnchoredEvent("an anchored event naming no certificate")
    return AnchoredAnnouncement(facts, paths, unproven)


def _paths_of_run(event: events_pb2.CertificatesAnchoredEvent) -> list[tuple[str, bytes]]:
    hashes = [bytes(leaf.leaf_hash) for leaf in event.leaves]
    if any(len(leaf) != HASH_SIZE for leaf in hashes):
        raise MalformedAnchoredEvent("a leaf hash is not 32 bytes (or a leaf has none)")
    if len(event.shared_path) % HASH_SIZE:
        raise MalformedAnchoredEvent("the shared path is not a whole number of hashes")
    paths = aligned_subtree_proofs(hashes, unpack_proof(bytes(event.shared_path)))
    # one leaf reaching the root proves the run: every leaf's path shares the run's top node
    if not verify_proof(hashes[0], unpack_proof(paths[0]), event.merkle_root):
        raise MalformedAnchoredEvent(f"the leaves do not lead to root {event.merkle_root.hex()}")
    return [(leaf.certificate_id, path) for leaf, path in zip(event.leaves, paths, strict=True)]


def _check_id(certificate_id: str) -> None:
    if not certificate_id or len(certificate_id) > MAX_CERTIFICATE_ID:
        raise MalformedAnchoredEvent(f"not a certificate id: {certificate_id[:40]!r}")
