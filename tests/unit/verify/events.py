"""Builders of verify's inputs (the "issued" and "anchored" events of events.proto, with real
credentials, leaves and Merkle paths) and an in-memory CertificateStore, for unit and
integration tests."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from certflow.core.canonical import canonical_json
from certflow.core.document import (
    CertificateContent,
    IssuerProfile,
    build_credential,
    leaf_hash,
    new_salt,
)
from certflow.core.issuer_binding import Publication, Published, RegistryRef
from certflow.core.merkle import MerkleTree, pack_proof
from certflow.v1 import events_pb2
from services.verify.read_model import (
    AnchoredCertificate,
    IssuedCertificate,
    StoredCertificate,
    later_anchoring,
)

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHAIN_ID = 31337
RECIPIENT_EMAIL = "alice.martin@example.org"


class PublishedIssuers:
    """The issuers' published registries, held in memory (an IssuerDirectory): by default every
    issuer's DNS TXT record lists REGISTRY on CHAIN_ID."""

    def __init__(self, *published: Published) -> None:
        self.answers = published or (
            Published(
                "DNS TXT", Publication.LISTS, frozenset({RegistryRef.of(CHAIN_ID, REGISTRY)})
            ),
        )
        self.asked: list[str] = []

    async def published(self, issuer_id: str) -> tuple[Published, ...]:
        self.asked.append(issuer_id)
        return self.answers


@dataclass(frozen=True)
class Leaf:
    certificate_id: str
    document: bytes
    leaf_salt: bytes
    leaf_hash: bytes


def new_leaf(
    name: str = "Alice Martin", title: str = "Safety 101", certificate_id: str = ""
) -> Leaf:
    certificate_id = certificate_id or str(uuid.uuid4())
    credential = build_credential(
        certificate_id=certificate_id,
        issuer=IssuerProfile(id="https://academy.example", name="Example Academy"),
        content=CertificateContent(
            recipient_name=name,
            recipient_email=RECIPIENT_EMAIL,
            title=title,
            completion_date=date(2026, 5, 1),
        ),
        email_salt="s" * 32,
        issued_at=datetime(2026, 5, 2, tzinfo=UTC),
    )
    document = canonical_json(credential)
    salt = new_salt()
    return Leaf(certificate_id, document, salt, leaf_hash(document, salt))


def issued_event(leaves: Sequence[Leaf], batch_id: str = "batch-1") -> bytes:
    return events_pb2.CertificatesIssuedEvent(
        batch_id=batch_id,
        leaves=[
            events_pb2.IssuedLeaf(
                certificate_id=leaf.certificate_id,
                leaf_hash=leaf.leaf_hash,
                leaf_salt=leaf.leaf_salt,
                document=leaf.document,
            )
            for leaf in leaves
        ],
    ).SerializeToString()


def anchored_event(
    leaves: Sequence[Leaf],
    *,
    block_number: int = 7,
    transaction_hash: str = "0x" + "ab" * 32,
    window_id: str = "window-1",
) -> bytes:
    tree = MerkleTree.build([leaf.leaf_hash for leaf in leaves])
    return events_pb2.CertificatesAnchoredEvent(
        window_id=window_id,
        merkle_root=tree.root,
        chain_id=CHAIN_ID,
        transaction_hash=transaction_hash,
        block_number=block_number,
        certificate_ids=[leaf.certificate_id for leaf in leaves],
        registry_address=REGISTRY,
        leaves=[
            events_pb2.AnchoredLeaf(
                certificate_id=leaf.certificate_id, merkle_path=pack_proof(tree.proof(index))
            )
            for index, leaf in enumerate(leaves)
        ],
    ).SerializeToString()


@dataclass
class MemoryStore:
    """CertificateStore in memory, with the semantics the SQL store has (the same scenarios run
    against both: tests/integration/verify/test_store.py)."""

    issued: dict[str, IssuedCertificate] = field(default_factory=dict)
    anchored: dict[str, AnchoredCertificate] = field(default_factory=dict)
    failing: int = 0  # the next this many writes raise, like a database that is down
    writes: int = 0

    def _write(self) -> None:
        self.writes += 1
        if self.failing:
            self.failing -= 1
            raise ConnectionError("database unavailable")

    def add_issued(self, certificates: Sequence[IssuedCertificate]) -> None:
        self._write()
        for certificate in certificates:
            self.issued.setdefault(certificate.certificate_id, certificate)

    def add_anchored(self, certificates: Sequence[AnchoredCertificate]) -> None:
        self._write()
        for certificate in certificates:
            stored = self.anchored.get(certificate.certificate_id)
            if later_anchoring(stored.anchoring if stored else None, certificate.anchoring):
                self.anchored[certificate.certificate_id] = certificate

    def find(self, certificate_id: str) -> StoredCertificate | None:
        issued, anchored = self.issued.get(certificate_id), self.anchored.get(certificate_id)
        if issued is None and anchored is None:
            return None
        return StoredCertificate(certificate_id, issued, anchored)
