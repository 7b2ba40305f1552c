import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certflow.core.hashing import keccak256
from certflow.core.merkle import (
    MerkleTree,
    aligned_subtree_proofs,
    hash_pair,
    pack_proof,
    subtree_path,
    unpack_proof,
    verify_proof,
)

leaf = st.binary(min_size=32, max_size=32)


def leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(str(i).encode()).digest() for i in range(n)]


def test_keccak_is_ethereum_keccak_not_sha3():
    # keccak256("") as used by Ethereum; NIST SHA3-256("") starts with a7ffc6f8.
    assert keccak256(b"").hex().startswith("c5d2460186f7233c927e7db2dcc703c0")


def test_pair_hash_is_order_independent():
    a, b = leaves(2)
    assert hash_pair(a, b) == hash_pair(b, a) == keccak256(min(a, b) + max(a, b))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 17, 100])
def test_every_proof_checks_for_small_and_odd_sizes(n):
    tree = MerkleTree.build(leaves(n))
    for i, (lf, proof) in enumerate(zip(tree.levels[0], tree.proofs(), strict=True)):
        assert verify_proof(lf, proof, tree.root), i


def test_single_leaf_tree_root_is_the_leaf_and_proof_is_empty():
    (only,) = leaves(1)
    tree = MerkleTree.build([only])
    assert tree.root == only and tree.proof(0) == []


def test_three_leaves_carry_the_odd_node_up_unchanged():
    a, b, c = leaves(3)
    tree = MerkleTree.build([a, b, c])
    assert tree.root == hash_pair(hash_pair(a, b), c)
    assert tree.proof(2) == [hash_pair(a, b)]


@settings(max_examples=60, deadline=None)
@given(st.lists(leaf, min_size=1, max_size=70), st.data())
def test_property_every_leaf_proof_checks_and_other_leaves_do_not(ls, data):
    tree = MerkleTree.build(ls)
    i = data.draw(st.integers(0, len(ls) - 1))
    proof = tree.proof(i)
    assert verify_proof(ls[i], proof, tree.root)
    stranger = data.draw(leaf.filter(lambda x: x not in ls))
    assert not verify_proof(stranger, proof, tree.root)


@settings(max_examples=40, deadline=None)
@given(st.lists(leaf, min_size=2, max_size=40), st.data())
def test_property_flipping_any_bit_of_a_proof_fails(ls, data):
    tree = MerkleTree.build(ls)
    i = data.draw(st.integers(0, len(ls) - 1))
    proof = tree.proof(i)
    if not proof:
        return
    j = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    broken = bytearray(proof[j])
    broken[bit // 8] ^= 1 << (bit % 8)
    proof[j] = bytes(broken)
    assert not verify_proof(ls[i], proof, tree.root)


def test_proof_helpers_reject_bad_input():
    with pytest.raises(ValueError):
        MerkleTree.build([])
    with pytest.raises(ValueError):
        MerkleTree.build([b"short"])
    tree = MerkleTree.build(leaves(4))
    with pytest.raises(IndexError):
        tree.proof(4)
    assert not verify_proof(b"x", [], tree.root)
    assert unpack_proof(pack_proof(tree.proof(1))) == tree.proof(1)
    with pytest.raises(ValueError):
        unpack_proof(b"\x00" * 33)


def test_proof_length_is_logarithmic_for_a_large_tree():
    tree = MerkleTree.build(leaves(100_000))
    assert all(len(tree.proof(i)) <= 17 for i in (0, 1, 65_535, 99_999))
    assert verify_proof(tree.levels[0][99_999], tree.proof(99_999), tree.root)


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70))
@settings(max_examples=60)
def test_property_packed_proofs_are_the_packed_proofs(ls):
    tree = MerkleTree.build(ls)
    assert tree.packed_proofs() == [pack_proof(p) for p in tree.proofs()]
    assert tree.packed_proofs(suffix=b"\x01" * 32) == [
        pack_proof(p) + b"\x01" * 32 for p in tree.proofs()
    ]


@given(st.integers(min_value=1, max_value=300), st.integers(min_value=0, max_value=6))
@settings(max_examples=80)
def test_property_an_aligned_run_with_its_shared_path_gives_the_whole_trees_proofs(n, level):
    leaves = [keccak256(i.to_bytes(2, "big")) for i in range(n)]
    tree = MerkleTree.build(leaves)
    level = min(level, len(tree.levels) - 1)
    size = 1 << level
    recovered = []
    for start in range(0, n, size):
        shared = subtree_path(tree, level, start >> level)
        recovered += aligned_subtree_proofs(leaves[start : start + size], shared)
    assert recovered == [pack_proof(p) for p in tree.proofs()]
