"""Pure: where one anchor window's root is on chain — the facts every certificate in the window
shares, as anchor announces them in `certs.anchored` and the consumers keep them — and how a
window's leaves are cut into announcements that each consumer can prove on its own."""

from collections.abc import Sequence
from dataclasses import dataclass

from certflow.core.merkle import MerkleTree, subtree_path


@dataclass(frozen=True, slots=True)
class AnchoredWindowFacts:
    window_id: str
    merkle_root: bytes
    chain_id: int
    registry_address: str
    transaction_hash: str
    block_number: int


@dataclass(frozen=True, slots=True)
class LeafRun:
    """Consecutive leaves of a window forming one aligned subtree, and the sibling hashes from
    that subtree's top up to the window's root. From these alone a consumer computes every
    leaf's Merkle path (merkle.aligned_subtree_proofs) and checks it reaches the root."""

    leaves: Sequence[tuple[str, bytes]]  # (certificate id, leaf hash), in leaf order
    shared_path: list[bytes]


def leaf_runs(leaves: Sequence[tuple[str, bytes]], max_leaves: int) -> list[LeafRun]:
    """The window's leaves cut into aligned runs of the largest power of two ≤ `max_leaves`.
    An announcement carries ~70 bytes a certificate instead of its whole path (~450 bytes at
    10,000 leaves, growing with the window), and the paths are computed where they are kept."""
    if not leaves:
        return []
    level = max(max_leaves, 1).bit_length() - 1  # run = 2**level leaves
    tree = MerkleTree.build([leaf for _, leaf in leaves])
    level = min(level, len(tree.levels) - 1)
    size = 1 << level
    return [
        LeafRun(leaves[start : start + size], subtree_path(tree, level, start >> level))
        for start in range(0, len(leaves), size)
    ]
