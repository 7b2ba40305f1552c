import copy
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certflow.core.canonical import canonical_json
from certflow.core.document import (
    AnchorProof,
    CertificateContent,
    IssuerProfile,
    MalformedDocument,
    build_credential,
    email_identity_hash,
    leaf_hash,
    read_anchor_proof,
    recompute_leaf,
    unsigned_part,
    with_anchor_proof,
)
from certflow.core.merkle import MerkleTree

ISSUER = IssuerProfile(id="https://registrar.example.edu", name="Example University")
CONTENT = CertificateContent(
    recipient_name="Zoë Ångström 张伟",
    recipient_email="zoe@example.edu",
    title="MSc Data Science",
    completion_date=date(2026, 6, 30),
    expiry_date=date(2031, 6, 30),
    custom_fields={"grade": "Distinction"},
)
SALT = bytes(range(32))


def make_document() -> dict:
    return build_credential(
        certificate_id="3f1c9a52-0000-4000-8000-000000000001",
        issuer=ISSUER,
        content=CONTENT,
        email_salt="ab" * 16,
        issued_at=datetime(2026, 7, 1, 12, 0, tzinfo=UTC),
    )


def test_document_is_an_open_badges_3_credential():
    doc = make_document()
    assert doc["@context"][0] == "https://www.w3.org/ns/credentials/v2"
    assert doc["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert doc["issuer"]["name"] == "Example University"
    assert doc["validFrom"] == "2026-06-30T00:00:00Z"
    assert doc["validUntil"] == "2031-06-30T00:00:00Z"
    subject = doc["credentialSubject"]
    assert subject["achievement"]["name"] == "MSc Data Science"
    assert subject["customFields"] == {"grade": "Distinction"}
    # the email is never in clear text, only salted and hashed
    assert "zoe@example.edu" not in canonical_json(doc).decode()
    email_id = subject["identifier"][1]
    assert email_id["identityHash"] == email_identity_hash("ZOE@example.edu", "ab" * 16)


def test_email_hash_depends_on_salt():
    assert email_identity_hash("a@b.c", "1") != email_identity_hash("a@b.c", "2")


def anchored_document() -> dict:
    doc = make_document()
    leaf = leaf_hash(canonical_json(doc), SALT)
    other = bytes(32)
    tree = MerkleTree.build([leaf, other])
    proof = AnchorProof(
        leaf_salt=SALT,
        leaf_hash=leaf,
        merkle_root=tree.root,
        merkle_path=tuple(tree.proof(0)),
        chain_id=31337,
        registry_address="0x5FbDB2315678afecb367f032d93F642f64180aa3",
        transaction_hash="0x" + "11" * 32,
        block_number=7,
    )
    return with_anchor_proof(doc, proof)


def test_anchor_proof_round_trips_and_the_leaf_recomputes():
    doc = anchored_document()
    proof = read_anchor_proof(doc)
    assert recompute_leaf(doc, proof.leaf_salt) == proof.leaf_hash
    assert unsigned_part(doc) == make_document()


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_property_changing_any_byte_of_the_document_changes_the_leaf(data):
    doc = make_document()
    canonical = bytearray(canonical_json(doc))
    i = data.draw(st.integers(0, len(canonical) - 1))
    delta = data.draw(st.integers(1, 255))
    canonical[i] = (canonical[i] + delta) % 256
    assert leaf_hash(bytes(canonical), SALT) != leaf_hash(canonical_json(doc), SALT)


def test_any_change_to_a_field_changes_the_leaf():
    doc = anchored_document()
    proof = read_anchor_proof(doc)
    for path, value in [
        (("credentialSubject", "identifier", 0, "identityHash"), "Zoe Angstrom"),
        (("credentialSubject", "achievement", "name"), "PhD Data Science"),
        (("validFrom",), "2026-06-29T00:00:00Z"),
        (("credentialSubject", "customFields", "grade"), "Merit"),
    ]:
        tampered = copy.deepcopy(doc)
        node = tampered
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        assert recompute_leaf(tampered, proof.leaf_salt) != proof.leaf_hash, path


def test_salt_changes_the_leaf():
    canonical = canonical_json(make_document())
    assert leaf_hash(canonical, SALT) != leaf_hash(canonical, bytes(32))
    with pytest.raises(ValueError):
        leaf_hash(canonical, b"short")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("proof"),
        lambda d: d["proof"].update(type="Ed25519Signature2020"),
        lambda d: d["proof"].update(merkleRoot="0x12"),
        lambda d: d["proof"].update(proofPath="0x12"),
        lambda d: d["proof"]["anchor"].update(chainId="1"),
        lambda d: d["proof"]["anchor"].update(blockNumber=-1),
        lambda d: d["proof"].update(salt="0x" + "zz" * 32),
    ],
)
def test_malformed_proofs_are_refused_with_a_reason(mutate):
    doc = anchored_document()
    mutate(doc)
    with pytest.raises(MalformedDocument):
        read_anchor_proof(doc)
