"""Single real-time issues: idempotency decisions and the document from ingest's own copy."""

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from certflow.core.anchoring import AnchoredWindowFacts
from certflow.core.document import read_anchor_proof, recompute_leaf
from certflow.core.errors import Conflict, InvalidInput
from certflow.core.merkle import MerkleTree, pack_proof, verify_proof
from certflow.platform.bus import SUBJECT_ISSUED, SUBJECT_LEAVES, SUBJECT_RECIPIENTS
from services.ingest.progress import AnchoredLeaf, BatchProgress
from services.ingest.usecases import Ingest
from tests.unit.ingest.fakes import NOW, FakeIngestStore, FakeWrites
from tests.unit.ingest.planning import ISSUER

FIELDS = {
    "name": "Ada Lovelace",
    "email": "ada@example.edu",
    "title": "Analytical Engines",
    "completion_date": "2026-06-30",
}


def make_ingest(store: FakeIngestStore) -> Ingest:
    ids = (f"id-{n}" for n in itertools.count())
    return Ingest(store, ISSUER, max_rows=10, clock=lambda: NOW, new_id=lambda: next(ids))


def test_the_same_request_id_gets_the_same_certificate_and_stores_one() -> None:
    store = FakeIngestStore()
    ingest = make_ingest(store)
    first = ingest.issue_one(request_id="k1", fields=FIELDS, custom_fields={})
    again = ingest.issue_one(request_id="k1", fields=FIELDS, custom_fields={})
    assert again == first
    assert len(store.state.certificates) == 1
    assert [m.subject for m in store.state.outbox] == [
        SUBJECT_LEAVES,
        SUBJECT_ISSUED,
        SUBJECT_RECIPIENTS,
    ]


def test_the_same_certificate_under_another_request_id_is_a_conflict_naming_it() -> None:
    store = FakeIngestStore()
    ingest = make_ingest(store)
    first = ingest.issue_one(request_id="k1", fields=FIELDS, custom_fields={})
    with pytest.raises(Conflict) as info:
        ingest.issue_one(
            request_id="k2", fields={**FIELDS, "email": "ADA@example.edu"}, custom_fields={}
        )
    assert info.value.reason == "ALREADY_ISSUED"
    assert info.value.metadata == {"certificate_id": first.certificate_id}
    assert len(store.state.certificates) == 1


def test_an_invalid_request_names_the_field_and_writes_nothing() -> None:
    store = FakeIngestStore()
    with pytest.raises(InvalidInput) as info:
        make_ingest(store).issue_one(
            request_id="", fields={**FIELDS, "email": "x"}, custom_fields={}
        )
    assert info.value.violations[0].field == "email"
    assert not store.state.certificates


class LateRequestStore(FakeIngestStore):
    """A concurrent call with the same request id commits between our check and our write."""

    def __init__(self, winner: str) -> None:
        super().__init__()
        self.winner = winner

    def certificate_for_request(self, request_id: str) -> str | None:
        return None  # the check before planning sees nothing yet

    @contextmanager
    def transaction(self) -> Iterator[FakeWrites]:
        with super().transaction() as writes:
            writes.state.issue_requests.setdefault("k1", self.winner)
            yield writes


def test_a_concurrent_call_s_certificate_is_answered_instead_of_a_second_one() -> None:
    winner_store = FakeIngestStore()
    winner = make_ingest(winner_store).issue_one(request_id="k1", fields=FIELDS, custom_fields={})
    store = LateRequestStore(winner.certificate_id)
    store.state = winner_store.state
    store.state.issue_requests.clear()  # our first look does not see it
    answered = make_ingest(store).issue_one(request_id="k1", fields=FIELDS, custom_fields={})
    assert answered.certificate_id == winner.certificate_id
    assert len(store.state.certificates) == 1


def test_the_document_gets_its_anchor_proof_from_ingest_s_own_copy() -> None:
    store = FakeIngestStore()
    ingest = make_ingest(store)
    one = ingest.issue_one(request_id="a", fields=FIELDS, custom_fields={})
    two = ingest.issue_one(
        request_id="b", fields={**FIELDS, "email": "bob@example.edu"}, custom_fields={}
    )
    assert not one.anchored and "proof" not in one.document
    tree = MerkleTree.build([one.leaf_hash, two.leaf_hash])
    window = AnchoredWindowFacts("w1", tree.root, 1337, "0x" + "ab" * 20, "0x" + "cd" * 32, 42)
    BatchProgress(store, clock=lambda: NOW).record_anchored(
        window,
        [
            AnchoredLeaf(one.certificate_id, pack_proof(tree.proof(0))),
            AnchoredLeaf(two.certificate_id, pack_proof(tree.proof(1))),
        ],
    )
    anchored = ingest.certificate(one.certificate_id)
    assert anchored.anchored
    proof = read_anchor_proof(anchored.document)
    assert (proof.merkle_root, proof.chain_id, proof.block_number) == (tree.root, 1337, 42)
    assert proof.registry_address == window.registry_address
    assert proof.transaction_hash == window.transaction_hash
    assert recompute_leaf(anchored.document, proof.leaf_salt) == one.leaf_hash
    assert verify_proof(one.leaf_hash, proof.merkle_path, tree.root)
    # the same request id now answers the anchored document
    assert ingest.issue_one(request_id="a", fields=FIELDS, custom_fields={}) == anchored
