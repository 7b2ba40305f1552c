"""verify's read model: what it keeps of each certificate, fed by two events that may come in
any order and more than once, and how a stored certificate becomes an answer. No I/O here: the
store behind `CertificateStore` holds the rows.

- "certs.issued" gives the credential (RFC 8785 bytes, without proof), its salt and leaf;
- "certs.anchored" gives the window's root, chain, registry and transaction, and each
  certificate's Merkle path.

A certificate is NOT_FOUND until its credential is known (a proof that came first is kept and
waits for it), PENDING while the credential has no proof, ANCHORED once both are known.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import orjson

from certflow.core.document import (
    AnchorProof,
    MalformedDocument,
    certificate_id_of,
    with_anchor_proof,
)
from certflow.core.merkle import unpack_proof

HASH_SIZE = 32
MIN_SALT_SIZE = 16  # the design asks for at least 128 bits
# what the columns hold (see tables.py); a bigger value is not ours
MAX_CERTIFICATE_ID = 36
MAX_SQL_BIGINT = 2**63 - 1
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_TRANSACTION_HASH = re.compile(r"0x[0-9a-fA-F]{64}")


class CertificateState(StrEnum):
    NOT_FOUND = "not_found"  # no credential known (perhaps only its proof, which came first)
    PENDING = "pending"  # issued, not anchored yet
    ANCHORED = "anchored"


class UnusableEvent(ValueError):
    """An event that can never be stored (a poison message): it is terminated, not retried."""


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    certificate_id: str
    document: bytes  # RFC 8785 bytes of the credential without its proof
    leaf_salt: bytes
    leaf_hash: bytes
    batch_id: str = ""  # the batch of the "issued" event ("" for rows stored before it was kept)


@dataclass(frozen=True, slots=True)
class Anchoring:
    """Where a window's root is anchored: the same for every certificate of the window."""

    merkle_root: bytes
    chain_id: int
    registry_address: str
    transaction_hash: str
    block_number: int


@dataclass(frozen=True, slots=True)
class AnchoredCertificate:
    certificate_id: str
    merkle_path: bytes  # sibling hashes, 32 bytes each, concatenated (empty: the leaf is the root)
    anchoring: Anchoring


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    """A row of the read model: either half may be missing."""

    certificate_id: str
    issued: IssuedCertificate | None
    anchored: AnchoredCertificate | None


@dataclass(frozen=True, slots=True)
class KnownCertificate:
    """A certificate as look-ups answer it."""

    certificate_id: str
    state: CertificateState
    document: dict[str, Any]  # the credential, with its anchor proof once anchored

    @property
    def anchored(self) -> bool:
        return self.state is CertificateState.ANCHORED


class CertificateStore(Protocol):
    """verify's rows. Both writes are idempotent upserts keyed by certificate id: a redelivered
    event changes nothing, and either event may come first."""

    def add_issued(self, certificates: Sequence[IssuedCertificate]) -> None:
        """Stores each credential unless the certificate already has one."""
        ...

    def add_anchored(self, certificates: Sequence[AnchoredCertificate]) -> None:
        """Stores each proof unless the certificate already has one in the same or a later
        block (a root anchored again after a reorg moves to the later block)."""
        ...

    def find(self, certificate_id: str) -> StoredCertificate | None: ...


def state_of(stored: StoredCertificate | None) -> CertificateState:
    if stored is None or stored.issued is None:
        return CertificateState.NOT_FOUND
    if stored.anchored is None:
        return CertificateState.PENDING
    return CertificateState.ANCHORED


def known_certificate(stored: StoredCertificate | None) -> KnownCertificate | None:
    """The answer for a stored row: None when its credential is not known."""
    if stored is None or stored.issued is None:
        return None
    issued = stored.issued
    document: dict[str, Any] = orjson.loads(issued.document)
    if stored.anchored is not None:
        anchoring = stored.anchored.anchoring
        document = with_anchor_proof(
            document,
            AnchorProof(
                leaf_salt=issued.leaf_salt,
                leaf_hash=issued.leaf_hash,
                merkle_root=anchoring.merkle_root,
                merkle_path=tuple(unpack_proof(stored.anchored.merkle_path)),
                chain_id=anchoring.chain_id,
                registry_address=anchoring.registry_address,
                transaction_hash=anchoring.transaction_hash,
                block_number=anchoring.block_number,
            ),
        )
    return KnownCertificate(stored.certificate_id, state_of(stored), document)


def later_anchoring(stored: Anchoring | None, incoming: Anchoring) -> bool:
    """Whether an incoming anchoring replaces the stored one: the first one, or one in a later
    block (a re-anchoring after a reorg). A redelivered or older event changes nothing."""
    return stored is None or incoming.block_number > stored.block_number


# ---- what an event must hold to be stored (anything else is a poison message) ----


def issued_certificate(
    certificate_id: str, document: bytes, leaf_salt: bytes, leaf_hash: bytes, batch_id: str = ""
) -> IssuedCertificate:
    _check_id(certificate_id)
    if len(leaf_hash) != HASH_SIZE:
        raise UnusableEvent(f"leaf of {certificate_id} is not {HASH_SIZE} bytes")
    if not MIN_SALT_SIZE <= len(leaf_salt) <= HASH_SIZE:
        raise UnusableEvent(f"salt of {certificate_id} is missing or not 16 to 32 bytes")
    try:
        credential = orjson.loads(document)
        named = certificate_id_of(credential) if isinstance(credential, dict) else None
    except (orjson.JSONDecodeError, MalformedDocument) as exc:
        raise UnusableEvent(f"credential of {certificate_id} is not readable: {exc}") from exc
    if named != certificate_id:
        raise UnusableEvent(f"the credential sent for {certificate_id} names {named!r}")
    if "proof" in credential:
        raise UnusableEvent(f"the credential of {certificate_id} is sent with a proof")
    return IssuedCertificate(certificate_id, document, leaf_salt, leaf_hash, batch_id[:64])


def anchoring(
    merkle_root: bytes,
    chain_id: int,
    registry_address: str,
    transaction_hash: str,
    block_number: int,
) -> Anchoring:
    if len(merkle_root) != HASH_SIZE:
        raise UnusableEvent(f"merkle root is not {HASH_SIZE} bytes")
    if not 0 < chain_id <= MAX_SQL_BIGINT or not 0 < block_number <= MAX_SQL_BIGINT:
        raise UnusableEvent(f"chain id {chain_id} or block {block_number} out of range")
    if not _ADDRESS.fullmatch(registry_address):
        raise UnusableEvent(f"registry address {registry_address[:50]!r} is not an address")
    if not _TRANSACTION_HASH.fullmatch(transaction_hash):
        raise UnusableEvent(f"transaction hash {transaction_hash[:70]!r} is not a hash")
    return Anchoring(merkle_root, chain_id, registry_address, transaction_hash, block_number)


def anchored_certificate(
    certificate_id: str, merkle_path: bytes, window: Anchoring
) -> AnchoredCertificate:
    _check_id(certificate_id)
    if len(merkle_path) % HASH_SIZE:
        raise UnusableEvent(f"merkle path of {certificate_id} is not whole 32-byte hashes")
    return AnchoredCertificate(certificate_id, merkle_path, window)


def _check_id(certificate_id: str) -> None:
    if not 0 < len(certificate_id) <= MAX_CERTIFICATE_ID:
        raise UnusableEvent(f"certificate id {certificate_id[:50]!r} is not an id")
