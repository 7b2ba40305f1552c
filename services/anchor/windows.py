"""Pure: an anchor window built from pending leaves (tree, root, every certificate's proof), and
the use case that places leaves in new windows without ever putting a certificate in two.

The store is a small Protocol; the window id comes from the caller, so a test decides it."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from certflow.core.merkle import MerkleTree
from services.anchor.submission import WindowState

Leaf = tuple[str, bytes]  # (certificate id, 32-byte leaf hash)


@dataclass(frozen=True, slots=True)
class PlacedLeaf:
    certificate_id: str
    leaf_index: int
    leaf_hash: bytes
    merkle_path: bytes  # sibling hashes from the leaf up, concatenated
    batch_id: str = ""  # from certs.leaves: a whole batch can be revoked by its id


@dataclass(frozen=True, slots=True)
class NewWindow:
    window_id: str
    merkle_root: bytes
    leaves: tuple[PlacedLeaf, ...]


@dataclass(frozen=True, slots=True)
class WindowToSend:
    """A window on its way to the chain, as the submitter sees it."""

    window_id: str
    state: WindowState
    merkle_root: bytes
    chain_id: int
    registry_address: str
    nonce: int | None = None
    raw_transaction: bytes | None = None
    transaction_hash: str | None = None  # the latest transaction: the one re-sent or replaced
    # its fees (wei), which a replacement must outbid
    max_fee_per_gas: int = 0
    max_priority_fee_per_gas: int = 0
    # every transaction at the window's nonce still in the race: the original and replacements
    transaction_hashes: tuple[str, ...] = ()


def build_window(
    window_id: str, leaves: Sequence[Leaf], batches: Mapping[str, str] | None = None
) -> NewWindow:
    """The tree over the leaves in the given order, and each leaf's proof (linear time);
    `batches` names each certificate's batch where known."""
    batches = batches or {}
    tree = MerkleTree.build([leaf for _, leaf in leaves])
    return NewWindow(
        window_id=window_id,
        merkle_root=tree.root,
        leaves=tuple(
            PlacedLeaf(cid, index, leaf, path, batches.get(cid, ""))
            for index, ((cid, leaf), path) in enumerate(
                zip(leaves, tree.packed_proofs(), strict=True)
            )
        ),
    )


class WindowPlacement(Protocol):
    def placed(self, certificate_ids: Sequence[str]) -> set[str]:
        """Those of the ids already in a window."""
        ...

    def add_window(self, window: NewWindow) -> None:
        """Stores the window (state built) and its proofs in one transaction; fails, storing
        nothing, when one of its certificates is already in a window (a concurrent build)."""
        ...


def place_leaves(
    store: WindowPlacement,
    leaves: Sequence[Leaf],
    new_id: Callable[[], str],
    batches: Mapping[str, str] | None = None,
) -> NewWindow | None:
    """A new window for the leaves not yet in one; None when every one already is (a message
    redelivered after its window was stored)."""
    unique = dict(leaves)  # a redelivered message may repeat certificates
    placed = store.placed(list(unique))
    fresh = [(cid, leaf) for cid, leaf in unique.items() if cid not in placed]
    if not fresh:
        return None
    window = build_window(new_id(), fresh, batches)
    store.add_window(window)
    return window
