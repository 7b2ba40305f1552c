"""Pure: the "certs.anchored" events of a confirmed window, with every certificate's Merkle path
(event-carried state: ingest, notify and verify assemble anchored documents from their own copy).

A window can hold up to a million certificates; one NATS message may not exceed 1 MB, so a window
is announced in several events, each under half that. Message ids are deterministic
(`anchored:<window>:<n>`): a re-announcement is deduplicated and consumers are idempotent."""

from collections.abc import Sequence
from dataclasses import dataclass

from certflow.core.anchoring import AnchoredWindowFacts
from certflow.v1 import events_pb2

# A 1,000,000-leaf window has 20-level paths (640 bytes): 500 leaves make about 360 KB.
MAX_LEAVES_PER_EVENT = 500
# Half of NATS's default max_payload (1 MB), leaving room for headers and trace context.
MAX_EVENT_BYTES = 512 * 1024
_WINDOW_FIELDS_BYTES = 1024  # window id, root, chain, registry, transaction, block (~250 B)


@dataclass(frozen=True, slots=True)
class AnchoredMessage:
    msg_id: str
    payload: bytes  # a serialized CertificatesAnchoredEvent


def anchored_events(
    window: AnchoredWindowFacts, leaves: Sequence[tuple[str, bytes]]
) -> list[AnchoredMessage]:
    """`leaves` are (certificate id, packed Merkle path) in leaf order."""
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
                # kept until every consumer reads `leaves` (then the lead removes it)
                certificate_ids=[cid for cid, _ in chunk],
                leaves=[
                    events_pb2.AnchoredLeaf(certificate_id=cid, merkle_path=path)
                    for cid, path in chunk
                ],
            ).SerializeToString(),
        )
        for n, chunk in enumerate(_chunks(leaves))
    ]


def _chunks(leaves: Sequence[tuple[str, bytes]]) -> list[Sequence[tuple[str, bytes]]]:
    """Consecutive runs of at most MAX_LEAVES_PER_EVENT leaves and MAX_EVENT_BYTES encoded."""
    chunks: list[Sequence[tuple[str, bytes]]] = []
    start, size = 0, _WINDOW_FIELDS_BYTES
    for index, (cid, path) in enumerate(leaves):
        # the id twice (certificate_ids and the leaf), the path, and protobuf's tags/lengths
        cost = 2 * len(cid.encode()) + len(path) + 16
        if index > start and (
            index - start >= MAX_LEAVES_PER_EVENT or size + cost > MAX_EVENT_BYTES
        ):
            chunks.append(leaves[start:index])
            start, size = index, _WINDOW_FIELDS_BYTES
        size += cost
    if start < len(leaves):
        chunks.append(leaves[start:])
    return chunks
