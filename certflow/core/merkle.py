"""Merkle trees over 32-byte leaves, with the OpenZeppelin MerkleProof / OpenAttestation v2
convention: keccak256, each pair sorted before hashing, an odd node carried up unchanged, and a
proof that is the plain list of sibling hashes from the leaf upwards. See docs/merkle.md.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from certflow.core.hashing import keccak256

HASH_SIZE = 32


def hash_pair(a: bytes, b: bytes) -> bytes:
    """Parent of two nodes: keccak256 of the two concatenated in ascending byte order."""
    return keccak256(a + b) if a <= b else keccak256(b + a)


@dataclass(frozen=True, slots=True)
class MerkleTree:
    """All levels of a tree, leaves first; levels[-1] is [root]."""

    levels: tuple[tuple[bytes, ...], ...]

    @classmethod
    def build(cls, leaves: Sequence[bytes]) -> "MerkleTree":
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        for leaf in leaves:
            if len(leaf) != HASH_SIZE:
                raise ValueError(f"leaves must be {HASH_SIZE} bytes, got {len(leaf)}")
        level = tuple(leaves)
        levels = [level]
        while len(level) > 1:
            paired = [hash_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                paired.append(level[-1])  # odd node carried up unchanged
            level = tuple(paired)
            levels.append(level)
        return cls(tuple(levels))

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    @property
    def leaf_count(self) -> int:
        return len(self.levels[0])

    def proof(self, index: int) -> list[bytes]:
        """Sibling hashes from leaf `index` up to (not including) the root; O(log n)."""
        if not 0 <= index < self.leaf_count:
            raise IndexError(f"leaf index {index} out of range 0..{self.leaf_count - 1}")
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index //= 2
        return path

    def proofs(self) -> list[list[bytes]]:
        """Every leaf's proof, in leaf order: O(n log n) total, no search per leaf."""
        return [self.proof(i) for i in range(self.leaf_count)]

    def packed_proofs(self, suffix: bytes = b"") -> list[bytes]:
        """Every leaf's proof packed (pack_proof), followed by `suffix`: the same bytes as
        packing proofs() one by one, in ~2/3 of the time (hot: every window, in anchor and in
        each consumer of certs.anchored)."""
        # per level, each node's sibling (b"" where it has none: it is carried up)
        siblings = [
            [nodes[i ^ 1] if i ^ 1 < len(nodes) else b"" for i in range(len(nodes))]
            for nodes in self.levels[:-1]
        ]
        depth = range(len(siblings))
        return [
            b"".join([siblings[level][i >> level] for level in depth]) + suffix
            for i in range(self.leaf_count)
        ]


def root_from_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def verify_proof(leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """True when `proof` links `leaf` to `root` (what OpenZeppelin's MerkleProof.verify checks)."""
    if len(leaf) != HASH_SIZE or len(root) != HASH_SIZE:
        return False
    if any(len(sibling) != HASH_SIZE for sibling in proof):
        return False
    return root_from_proof(leaf, proof) == root


def pack_proof(proof: Sequence[bytes]) -> bytes:
    """Compact storage form: the siblings concatenated."""
    return b"".join(proof)


def unpack_proof(packed: bytes) -> list[bytes]:
    if len(packed) % HASH_SIZE:
        raise ValueError("packed proof length is not a multiple of 32")
    return [packed[i : i + HASH_SIZE] for i in range(0, len(packed), HASH_SIZE)]


def subtree_path(tree: MerkleTree, level: int, index: int) -> list[bytes]:
    """Sibling hashes from node `index` of `level` up to the root: the part of the proof that
    every leaf under that node shares. levels[level][index] must exist."""
    path = []
    for nodes in tree.levels[level:-1]:
        sibling = index ^ 1
        if sibling < len(nodes):
            path.append(nodes[sibling])
        index //= 2
    return path


def aligned_subtree_proofs(leaves: Sequence[bytes], shared_path: Sequence[bytes]) -> list[bytes]:
    """The packed proofs of a run of leaves that forms one aligned subtree of a larger tree (it
    starts at a multiple of 2**k and holds 2**k leaves, or is the tree's last run): the proof
    inside the run's own tree, then `shared_path` (subtree_path of the run's top node). A run so
    aligned pairs, and carries its odd node up, exactly as the whole tree does."""
    return MerkleTree.build(leaves).packed_proofs(suffix=pack_proof(shared_path))
