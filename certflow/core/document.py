"""The certificate document: a W3C Verifiable Credential 2.0 shaped as an Open Badges 3.0
`OpenBadgeCredential`, with certflow's anchor proof riding inside it (see docs/document.md).
"""

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from certflow.core.canonical import canonical_json
from certflow.core.hashing import keccak256

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
PROOF_TYPE = "CertflowMerkleAnchor2026"
SALT_BYTES = 32  # 256 bits: far beyond guessing, see DESIGN.md "Nothing personal on chain"


class MalformedDocument(ValueError):
    """The document is not a certflow credential, or a required part of it is unreadable."""


@dataclass(frozen=True, slots=True)
class IssuerProfile:
    id: str  # a URI (https URL or DID) identifying the issuer
    name: str
    url: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class CertificateContent:
    """What a certificate says, already validated and normalised."""

    recipient_name: str
    recipient_email: str
    title: str
    completion_date: date
    expiry_date: date | None = None
    custom_fields: Mapping[str, str] = field(default_factory=dict)
    # the recipient's IANA time zone for the email's delivery window: not in the credential
    time_zone: str = ""
    # a reissue: the id of the certificate this one replaces (the credential's `replaces`)
    replaces: str = ""


@dataclass(frozen=True, slots=True)
class AnchorProof:
    """Where a certificate's leaf sits in an anchored Merkle tree."""

    leaf_salt: bytes
    leaf_hash: bytes
    merkle_root: bytes
    merkle_path: tuple[bytes, ...]
    chain_id: int
    registry_address: str
    transaction_hash: str
    block_number: int


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def credential_id(certificate_id: str) -> str:
    return f"urn:uuid:{certificate_id}"


def certificate_id_of(document: Mapping[str, Any]) -> str:
    doc_id = document.get("id")
    if not isinstance(doc_id, str) or not doc_id.startswith("urn:uuid:"):
        raise MalformedDocument("the credential has no urn:uuid id")
    return doc_id.removeprefix("urn:uuid:")


def email_identity_hash(email: str, salt: str) -> str:
    """Open Badges 3.0 hashed identity: 'sha256$' + hex(sha256(identity + salt))."""
    digest = hashlib.sha256((email.casefold() + salt).encode()).hexdigest()
    return f"sha256${digest}"


def _timestamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def build_credential(
    *,
    certificate_id: str,
    issuer: IssuerProfile,
    content: CertificateContent,
    email_salt: str,
    issued_at: datetime,
) -> dict[str, Any]:
    """The credential without its proof: exactly what is canonicalised and hashed."""
    issuer_profile: dict[str, Any] = {"id": issuer.id, "type": ["Profile"], "name": issuer.name}
    if issuer.url:
        issuer_profile["url"] = issuer.url
    if issuer.email:
        issuer_profile["email"] = issuer.email
    subject: dict[str, Any] = {
        "type": ["AchievementSubject"],
        "identifier": [
            {
                "type": "IdentityObject",
                "identityType": "name",
                "hashed": False,
                "identityHash": content.recipient_name,
            },
            {
                "type": "IdentityObject",
                "identityType": "emailAddress",
                "hashed": True,
                "identityHash": email_identity_hash(content.recipient_email, email_salt),
                "salt": email_salt,
            },
        ],
        "achievement": {
            "id": f"{issuer.id.rstrip('/')}/achievements/{_slug(content.title)}",
            "type": ["Achievement"],
            "name": content.title,
            "criteria": {"narrative": f"Completed {content.title}."},
            "description": content.title,
        },
        "activityEndDate": _timestamp(content.completion_date),
    }
    if content.custom_fields:
        subject["customFields"] = dict(content.custom_fields)
    document: dict[str, Any] = {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": credential_id(certificate_id),
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": content.title,
        "issuer": issuer_profile,
        "validFrom": _timestamp(content.completion_date),
        "awardedDate": issued_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "credentialSubject": subject,
    }
    if content.expiry_date:
        document["validUntil"] = _timestamp(content.expiry_date)
    if content.replaces:
        # an issuer-dependent term (VC 2.0's @vocab): the credential this one supersedes,
        # which the issuer revokes with reason "superseded" (docs/document.md)
        document["replaces"] = credential_id(content.replaces)
    return document


def _slug(text: str) -> str:
    """A stable, URL-safe id for an achievement title (hash, so any script works)."""
    return hashlib.sha256(text.casefold().encode()).hexdigest()[:16]


def leaf_hash(canonical_document: bytes, leaf_salt: bytes) -> bytes:
    """The Merkle leaf: keccak256(salt || RFC 8785 bytes of the credential without `proof`)."""
    if len(leaf_salt) != SALT_BYTES:
        raise ValueError(f"leaf salt must be {SALT_BYTES} bytes")
    return keccak256(leaf_salt + canonical_document)


def unsigned_part(document: Mapping[str, Any]) -> dict[str, Any]:
    """The credential without its `proof`: what the leaf commits to."""
    return {k: v for k, v in document.items() if k != "proof"}


def with_anchor_proof(document: Mapping[str, Any], proof: AnchorProof) -> dict[str, Any]:
    anchored = unsigned_part(document)
    anchored["proof"] = {
        "type": PROOF_TYPE,
        "proofPurpose": "assertionMethod",
        "salt": "0x" + proof.leaf_salt.hex(),
        "targetHash": "0x" + proof.leaf_hash.hex(),
        "merkleRoot": "0x" + proof.merkle_root.hex(),
        "proofPath": ["0x" + sibling.hex() for sibling in proof.merkle_path],
        "anchor": {
            "network": f"eip155:{proof.chain_id}",
            "chainId": proof.chain_id,
            "registry": proof.registry_address,
            "transactionHash": proof.transaction_hash,
            "blockNumber": proof.block_number,
        },
    }
    return anchored


def read_anchor_proof(document: Mapping[str, Any]) -> AnchorProof:
    """Parses the `proof` of an anchored credential, or raises MalformedDocument."""
    proof = document.get("proof")
    if not isinstance(proof, Mapping):
        raise MalformedDocument("the credential has no proof: it is not anchored yet")
    if proof.get("type") != PROOF_TYPE:
        raise MalformedDocument(f"unsupported proof type {proof.get('type')!r}")
    anchor = proof.get("anchor")
    if not isinstance(anchor, Mapping):
        raise MalformedDocument("the proof has no anchor")
    path = proof.get("proofPath")
    if not isinstance(path, list):
        raise MalformedDocument("proof.proofPath must be a list")
    chain_id = anchor.get("chainId")
    block_number = anchor.get("blockNumber")
    if not isinstance(chain_id, int) or isinstance(chain_id, bool) or chain_id <= 0:
        raise MalformedDocument("proof.anchor.chainId must be a positive integer")
    if not isinstance(block_number, int) or isinstance(block_number, bool) or block_number < 0:
        raise MalformedDocument("proof.anchor.blockNumber must be an integer")
    # two names for one chain: if they could disagree, two verifiers could read two chains
    if anchor.get("network") != f"eip155:{chain_id}":
        raise MalformedDocument(
            f"proof.anchor.network must be 'eip155:{chain_id}', the chainId it names"
        )
    registry = anchor.get("registry")
    tx_hash = anchor.get("transactionHash")
    if not isinstance(registry, str) or not isinstance(tx_hash, str):
        raise MalformedDocument("proof.anchor needs registry and transactionHash")
    return AnchorProof(
        leaf_salt=_hex32(proof.get("salt"), "proof.salt"),
        leaf_hash=_hex32(proof.get("targetHash"), "proof.targetHash"),
        merkle_root=_hex32(proof.get("merkleRoot"), "proof.merkleRoot"),
        merkle_path=tuple(_hex32(s, "proof.proofPath[]") for s in path),
        chain_id=chain_id,
        registry_address=registry,
        transaction_hash=tx_hash,
        block_number=block_number,
    )


def _hex32(value: object, where: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise MalformedDocument(f"{where} must be a 0x-prefixed 32-byte hex string")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise MalformedDocument(f"{where} is not hex") from exc


def recompute_leaf(document: Mapping[str, Any], leaf_salt: bytes) -> bytes:
    return leaf_hash(canonical_json(unsigned_part(document)), leaf_salt)
