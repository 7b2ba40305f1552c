"""Writes docs/test-vectors/v1.json: certificates with every intermediate value of their
verification (canonical bytes, leaf, each Merkle step, root) and the outcome each must get, for
anyone writing a verifier from docs/merkle.md and docs/document.md.

Deterministic: salts, ids and times are derived from fixed text, so running it again writes the
same bytes (tests/unit/verify/test_vectors.py checks that the file is up to date, and that the
project's own verifier gets every expected outcome).

    .venv/bin/python docs/test-vectors/generate.py          # rewrite v1.json
    .venv/bin/python docs/test-vectors/generate.py --check  # exit 1 if v1.json is stale

The expected outcomes are written here by hand, from the docs — not computed by the verifier
under test.
"""

import argparse
import copy
import hashlib
import json
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from certflow.core.canonical import canonical_json
from certflow.core.document import (
    AnchorProof,
    CertificateContent,
    IssuerProfile,
    build_credential,
    leaf_hash,
    unsigned_part,
    with_anchor_proof,
)
from certflow.core.hashing import keccak256
from certflow.core.issuer_binding import RegistryRef, profile_document, txt_record
from certflow.core.merkle import MerkleTree, hash_pair

OUTPUT = Path(__file__).with_name("v1.json")
CHAIN_ID = 31337
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
COPY_REGISTRY = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"  # someone else's deployment
ISSUER = IssuerProfile(id="https://registrar.example.edu/issuer", name="Example University")
ISSUER_DOMAIN = "registrar.example.edu"
NOW = "2027-01-01T00:00:00Z"
ISSUED_AT = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
CHECKS = (
    "format",
    "integrity",
    "merkle_proof",
    "issuer",
    "registry",
    "anchored",
    "revocation",
    "expiry",
)


def derived(label: str) -> bytes:
    """32 fixed bytes per label, standing in for the random salts of real issuance."""
    return keccak256(b"certflow test vector v1: " + label.encode())


def tx_hash(label: str) -> str:
    return "0x" + derived("transaction " + label).hex()


@dataclass
class Certificate:
    name: str
    content: CertificateContent
    document: dict[str, Any] = field(default_factory=dict)  # without proof
    leaf_salt: bytes = b""
    leaf: bytes = b""
    email_salt: str = ""

    def build(self) -> "Certificate":
        self.email_salt = derived("email salt " + self.name).hex()
        self.document = build_credential(
            certificate_id=str(uuid.uuid5(uuid.NAMESPACE_URL, "certflow-vector-" + self.name)),
            issuer=ISSUER,
            content=self.content,
            email_salt=self.email_salt,
            issued_at=ISSUED_AT,
        )
        self.leaf_salt = derived("leaf salt " + self.name)
        self.leaf = leaf_hash(canonical_json(self.document), self.leaf_salt)
        return self


@dataclass
class Window:
    name: str
    certificates: list[Certificate]
    block_number: int
    anchored: bool = True

    @property
    def tree(self) -> MerkleTree:
        return MerkleTree.build([c.leaf for c in self.certificates])

    @property
    def transaction_hash(self) -> str:
        return tx_hash("window " + self.name)

    def anchored_document(self, index: int) -> dict[str, Any]:
        certificate = self.certificates[index]
        proof = AnchorProof(
            certificate.leaf_salt,
            certificate.leaf,
            self.tree.root,
            tuple(self.tree.proof(index)),
            CHAIN_ID,
            REGISTRY,
            self.transaction_hash,
            self.block_number,
        )
        return with_anchor_proof(certificate.document, proof)

    def levels(self) -> list[list[str]]:
        level = [c.leaf for c in self.certificates]
        levels = [level]
        while len(level) > 1:
            pairs = [hash_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            level = pairs + ([level[-1]] if len(level) % 2 else [])  # the odd one carried up
            levels.append(level)
        return [[_hex(node) for node in nodes] for nodes in levels]


def content(
    name: str,
    email: str,
    title: str,
    completed: date,
    expires: date | None = None,
    **custom: str,
) -> CertificateContent:
    return CertificateContent(name, email, title, completed, expires, custom)


def windows() -> list[Window]:
    five = [
        Certificate(
            "ascii",
            content(
                "Alice Martin",
                "alice.martin@example.org",
                "MSc Data Science",
                date(2026, 6, 30),
                grade="Distinction",
                student_id="S1000042",
            ),
        ),
        # ingest's normalised form of "Jürgen.Straße@EXÄMPLE.de" (email-validator, NFC)
        Certificate(
            "non_ascii_email",
            content(
                "Zoë Ångström",
                "Jürgen.Straße@exämple.de",
                "Maîtrise en génie logiciel",
                date(2026, 6, 30),
            ),
        ),
        Certificate(
            "revoked",
            content("Bob Chen", "bob.chen@example.org", "MSc Data Science", date(2026, 6, 30)),
        ),
        Certificate(
            "not_yet_valid",
            content("Carla Ruiz", "carla@example.org", "Safety 101", date(2027, 3, 1)),
        ),
        Certificate(
            "valid_until_later",
            content(
                "Dev Patel", "dev@example.org", "First Aid", date(2026, 6, 30), date(2031, 6, 30)
            ),
        ),
    ]
    one = [
        Certificate(
            "expired",
            content(
                "Eve Adams",
                "eve@example.org",
                "Forklift Licence",
                date(2020, 6, 30),
                date(2025, 6, 30),
            ),
        )
    ]
    never = [
        Certificate(
            f"unanchored_{i}",
            content(f"Fay {i}", f"fay{i}@example.org", "Safety 101", date(2026, 6, 30)),
        )
        for i in range(3)
    ]
    return [
        Window("five_leaves", [c.build() for c in five], block_number=7),
        Window("one_leaf", [c.build() for c in one], block_number=9),
        Window("never_anchored", [c.build() for c in never], block_number=0, anchored=False),
    ]


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def expected(status: str, failed: str | None) -> dict[str, Any]:
    """The outcome and each check's status: the ones before `failed` passed, the rest skipped."""
    checks: dict[str, str] = {}
    for name in CHECKS:
        if failed is None or CHECKS.index(name) < CHECKS.index(failed):
            checks[name] = "PASSED"
        elif name == failed:
            checks[name] = "FAILED"
        else:
            checks[name] = "SKIPPED"
    return {"status": status, "checks": checks}


def intermediates(document: dict[str, Any]) -> dict[str, Any]:
    """What a verifier computes from the document as given (before comparing anything)."""
    proof = document["proof"]
    canonical = canonical_json(unsigned_part(document))
    leaf = keccak256(bytes.fromhex(proof["salt"][2:]) + canonical)
    node, steps = leaf, []
    for sibling_hex in proof["proofPath"]:
        sibling = bytes.fromhex(sibling_hex[2:])
        parent = hash_pair(node, sibling)
        steps.append({"node": _hex(node), "sibling": sibling_hex, "parent": _hex(parent)})
        node = parent
    return {
        "canonicalText": canonical.decode(),
        "canonicalBytesHex": canonical.hex(),
        "leaf": _hex(leaf),
        "leafMatchesTargetHash": _hex(leaf) == proof["targetHash"],
        "pathSteps": steps,
        "foldedRoot": _hex(node),
        "rootMatchesMerkleRoot": _hex(node) == proof["merkleRoot"],
    }


def case(
    name: str, description: str, document: dict[str, Any], outcome: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "document": document,
        **intermediates(document),
        "expected": outcome,
    }


def vectors() -> dict[str, Any]:
    five, one, never = windows()
    ascii_doc = five.anchored_document(0)
    cases = [
        case(
            "ascii",
            "an ASCII certificate in a five-leaf window",
            ascii_doc,
            expected("VALID", None),
        ),
        case(
            "non_ascii_email",
            "non-ASCII name, title and email (see emailIdentity)",
            five.anchored_document(1),
            expected("VALID", None),
        ),
        case(
            "revoked",
            "its leaf is revoked in the registry",
            five.anchored_document(2),
            expected("REVOKED", "revocation"),
        ),
        case(
            "not_yet_valid",
            f"validFrom 2027-03-01 is after now ({NOW})",
            five.anchored_document(3),
            expected("NOT_YET_VALID", "expiry"),
        ),
        case(
            "valid_until_later",
            "validUntil in the future; the fifth leaf, carried up twice",
            five.anchored_document(4),
            expected("VALID", None),
        ),
        case(
            "expired",
            "a one-leaf window (root = leaf, empty path), validUntil passed",
            one.anchored_document(0),
            expected("EXPIRED", "expiry"),
        ),
        case(
            "root_not_anchored",
            "a correct tree whose root was never anchored in the registry",
            never.anchored_document(1),
            expected("TAMPERED", "anchored"),
        ),
    ]

    def variant(name: str, description: str, change: Any, outcome: dict[str, Any]) -> None:
        document = copy.deepcopy(ascii_doc)
        change(document)
        cases.append(case(name, description, document, outcome))

    def rename(d: dict[str, Any]) -> None:
        d["credentialSubject"]["identifier"][0]["identityHash"] = "Alice Marten"

    def bend_path(d: dict[str, Any]) -> None:
        sibling = d["proof"]["proofPath"][0]
        d["proof"]["proofPath"][0] = sibling[:-1] + ("0" if sibling[-1] != "0" else "1")

    def copy_registry(d: dict[str, Any]) -> None:
        d["proof"]["anchor"]["registry"] = COPY_REGISTRY

    def later_block(d: dict[str, Any]) -> None:
        d["proof"]["anchor"]["blockNumber"] += 1

    def other_transaction(d: dict[str, Any]) -> None:
        d["proof"]["anchor"]["transactionHash"] = tx_hash("never sent")

    def other_network(d: dict[str, Any]) -> None:
        d["proof"]["anchor"]["network"] = "eip155:1"

    def later_expiry(d: dict[str, Any]) -> None:
        d["validUntil"] = "2099-01-01T00:00:00Z"

    variant(
        "tampered_name",
        "the recipient's name changed after anchoring",
        rename,
        expected("TAMPERED", "integrity"),
    )
    variant(
        "tampered_validUntil",
        "an expiry added after anchoring",
        later_expiry,
        expected("TAMPERED", "integrity"),
    )
    variant(
        "tampered_proof_path",
        "one sibling hash changed",
        bend_path,
        expected("TAMPERED", "merkle_proof"),
    )
    variant(
        "copy_of_the_registry",
        "the same document, anchored (see chain.copyRegistry) in a registry the issuer"
        " does not list",
        copy_registry,
        expected("REGISTRY_NOT_LISTED", "issuer"),
    )
    variant(
        "wrong_block_number",
        "proof.anchor.blockNumber does not match the chain",
        later_block,
        expected("TAMPERED", "anchored"),
    )
    variant(
        "wrong_transaction",
        "proof.anchor.transactionHash was never mined",
        other_transaction,
        expected("TAMPERED", "anchored"),
    )
    variant(
        "network_disagrees",
        "anchor.network eip155:1 but chainId 31337",
        other_network,
        expected("MALFORMED", "format"),
    )

    duplicate = json.dumps(ascii_doc, ensure_ascii=False)
    duplicate = duplicate.replace(
        '"name": "MSc Data Science"', '"name": "PhD Physics", "name": "MSc Data Science"', 1
    )
    cases.append(
        {
            "name": "duplicate_key",
            "description": (
                'the top-level "name" twice in the JSON text; a parser keeping the last copy'
                " sees the genuine document"
            ),
            "documentJson": duplicate,
            "expected": expected("MALFORMED", "format"),
        }
    )

    a1 = five.certificates[1]
    email = a1.content.recipient_email
    folded = email.casefold()
    registry = RegistryRef.of(CHAIN_ID, REGISTRY)
    anchored = {
        _hex(w.tree.root): {
            "blockNumber": w.block_number,
            "timestamp": 1_780_000_000 + w.block_number * 12,
            "transactionHash": w.transaction_hash,
        }
        for w in (five, one)
    }
    return {
        "version": 1,
        "description": (
            "certflow verification test vectors: the convention of docs/merkle.md and the "
            "checks of its 'Complete verification' section, in order. Each case gives the "
            "document (or the exact JSON text), the values a verifier computes from it, and the "
            "expected outcome and per-check statuses, with the chain, the issuer's published "
            "registries and the clock below. Generated by docs/test-vectors/generate.py."
        ),
        "now": NOW,
        "chain": {
            "chainId": CHAIN_ID,
            "registry": REGISTRY,
            "anchoredRoots": anchored,
            "minedTransactions": {
                w.transaction_hash: {"blockNumber": w.block_number, "status": 1}
                for w in (five, one)
            },
            "revoked": [_hex(five.certificates[2].leaf)],
            "copyRegistry": {
                "address": COPY_REGISTRY,
                "note": "someone else's deployment of the contract, holding the same root",
                "anchoredRoots": {_hex(five.tree.root): anchored[_hex(five.tree.root)]},
            },
        },
        "issuer": {
            "id": ISSUER.id,
            "domain": ISSUER_DOMAIN,
            "dnsTxt": [txt_record(registry), "v=spf1 -all"],
            "profileUrl": ISSUER.id,
            "profile": profile_document(ISSUER.id, ISSUER.name, [registry]),
        },
        "windows": [
            {
                "name": w.name,
                "anchored": w.anchored,
                "leaves": [
                    {"certificate": c.name, "leafSalt": _hex(c.leaf_salt), "leaf": _hex(c.leaf)}
                    for c in w.certificates
                ],
                "levels": w.levels(),
                "root": _hex(w.tree.root),
            }
            for w in (five, one, never)
        ],
        "emailIdentity": {
            "certificate": a1.name,
            "address": email,
            "casefolded": folded,
            "lowercasedWouldBe": email.lower(),
            "salt": a1.email_salt,
            "sha256Input": folded + a1.email_salt,
            "identityHash": "sha256$"
            + hashlib.sha256((folded + a1.email_salt).encode()).hexdigest(),
        },
        "cases": cases,
    }


def render() -> str:
    return json.dumps(vectors(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        stale = not OUTPUT.exists() or OUTPUT.read_text() != text
        print(f"{OUTPUT} is {'stale' if stale else 'up to date'}")
        sys.exit(1 if stale else 0)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
