"""Pure: the "certs.anchored" events of a confirmed window (event-carried state: ingest, notify
and verify assemble anchored documents from their own copy).

Each event carries one aligned run of the window's leaves — certificate ids and leaf hashes —
and the sibling hashes from that run up to the root; each consumer computes the paths itself
(certflow.platform.anchored_event). That is ~70 bytes a certificate whatever the window's size,
where whole paths were ~450 bytes at 10,000 leaves: less to publish, carry and parse three
times, and every consumer checks the run against the root before keeping anything.

A window can hold up to a million certificates; one NATS message may not exceed 1 MB, so a
window is announced in several events, each under half that. Message ids are deterministic
(`anchored:<window>:<n>`): a re-announcement is deduplicated and consumers are idempotent."""

from collections.abc import Sequence
from dataclasses import dataclass

from certflow.core.anchoring import AnchoredWindowFacts, leaf_runs
from certflow.v1 import events_pb2

# Half of NATS's default max_payload (1 MB), leaving room for headers and trace context.
MAX_EVENT_BYTES = 512 * 1024
# window id, root, chain, registry, transaction, block (~250 B) and a 40-level shared path
_WINDOW_FIELDS_BYTES = 1024 + 40 * 32
# a leaf's protobuf framing and its 32-byte hash, besides its id
_LEAF_BYTES = 32 + 12


@dataclass(frozen=True, slots=True)
class AnchoredMessage:
    msg_id: str
    payload: bytes  # a serialized CertificatesAnchoredEvent


def anchored_events(
    window: AnchoredWindowFacts, leaves: Sequence[tuple[str, bytes]]
) -> list[AnchoredMessage]:
    """`leaves` are (certificate id, leaf hash) in leaf order."""
    return [
        AnchoredMessage(
            msg_id=f"anchored:{window.window_id}:{n}",
            payload=events_pb2.CertificatesAnchoredEvent(
                window_id=window.window_id,
                merkle_root=window.merkle_root,
                chain_id=window.chain_id,
                transaction_hash=window.transaction_hash,
                block_number=window.block_number,
                registry_address=window.registry_address,
                leaves=[
                    events_pb2.AnchoredLeaf(certificate_id=cid, leaf_hash=leaf)
                    for cid, leaf in run.leaves
                ],
                shared_path=b"".join(run.shared_path),
            ).SerializeToString(),
        )
        for n, run in enumerate(leaf_runs(leaves, max_leaves_per_event(leaves)))
    ]


def max_leaves_per_event(leaves: Sequence[tuple[str, bytes]]) -> int:
    """As many leaves as fit MAX_EVENT_BYTES with the longest id of the window."""
    longest_id = max((len(cid.encode()) for cid, _ in leaves), default=0)
    return max((MAX_EVENT_BYTES - _WINDOW_FIELDS_BYTES) // (longest_id + _LEAF_BYTES), 1)
