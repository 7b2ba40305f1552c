"""Cross-service reads: assembling an anchored document from ingest's and anchor's tables."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from certflow.core.document import AnchorProof, with_anchor_proof
from certflow.core.merkle import unpack_proof
from certflow.platform.db.batching import chunked

# transitional: each service assembles documents from its own copy once events carry the state
from services.anchor.tables import AnchorWindow, CertificateProof
from services.ingest.tables import Certificate

CONFIRMED = "confirmed"


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    certificate_id: str
    batch_id: str
    recipient_name: str
    recipient_email: str
    title: str
    completion_date: date
    leaf_hash: bytes
    document: dict[str, Any]  # with its anchor proof when anchored
    anchored: bool
    window_state: str | None


def load_certificates(session: Session, ids: Iterable[str]) -> dict[str, StoredCertificate]:
    ids = list(ids)
    found: dict[str, StoredCertificate] = {}
    for chunk in chunked(ids):
        rows = session.execute(
            select(Certificate, CertificateProof, AnchorWindow)
            .outerjoin(CertificateProof, CertificateProof.certificate_id == Certificate.id)
            .outerjoin(AnchorWindow, AnchorWindow.id == CertificateProof.window_id)
            .where(Certificate.id.in_(chunk))
        )
        for certificate, proof, window in rows:
            found[certificate.id] = _assemble(certificate, proof, window)
    return found


def load_certificate(session: Session, certificate_id: str) -> StoredCertificate | None:
    return load_certificates(session, [certificate_id]).get(certificate_id)


def _assemble(
    certificate: Certificate, proof: CertificateProof | None, window: AnchorWindow | None
) -> StoredCertificate:
    document: Mapping[str, Any] = orjson.loads(certificate.document)
    anchored = window is not None and window.state == CONFIRMED and proof is not None
    if anchored:
        assert proof is not None and window is not None
        document = with_anchor_proof(
            document,
            AnchorProof(
                leaf_salt=certificate.leaf_salt,
                leaf_hash=certificate.leaf_hash,
                merkle_root=window.merkle_root,
                merkle_path=tuple(unpack_proof(proof.merkle_path)),
                chain_id=window.chain_id,
                registry_address=window.registry_address,
                transaction_hash=window.transaction_hash or "",
                block_number=window.block_number or 0,
            ),
        )
    return StoredCertificate(
        certificate_id=certificate.id,
        batch_id=certificate.batch_id,
        recipient_name=certificate.recipient_name,
        recipient_email=certificate.recipient_email,
        title=certificate.title,
        completion_date=certificate.completion_date,
        leaf_hash=certificate.leaf_hash,
        document=dict(document),
        anchored=anchored,
        window_state=window.state if window else None,
    )
