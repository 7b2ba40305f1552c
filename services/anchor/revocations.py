"""Pure: revocation requests and revocation windows. What a request may name, which of its
certificates get revoked (only those anchor has placed; one revocation per certificate, so a
second request is a no-op), and when pending revocations close into a window (one bulkRevoke
transaction each, like an anchor window: on size or on age).

What is revoked on chain is the certificate's LEAF hash: the verifier asks isRevoked of the
proof's leaf and of its root (certflow.core.verification.ChainView.revoked); revoking the root
would revoke every certificate of the anchor window.

The store is a small Protocol; ids and the clock come from the caller."""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from certflow.core.errors import Conflict, FieldViolation, InvalidInput, NotFound

MAX_CERTIFICATE_IDS = 10_000
MAX_REASON_TEXT = 500
MAX_REQUEST_ID = 128
MAX_ID = 36
MAX_SHOWN_UNKNOWN = 20  # ids named in a NOT_FOUND message; the count says how many in all


class RevocationReason(StrEnum):
    SUPERSEDED = "superseded"
    ISSUED_IN_ERROR = "issued_in_error"
    DATA_CORRECTION = "data_correction"
    WITHDRAWN = "withdrawn"
    OTHER = "other"


class RevocationState(StrEnum):
    PENDING = "pending"  # recorded, waiting for a revocation window
    WINDOWED = "windowed"  # in a revocation window on its way to the chain
    REVOKED = "revoked"  # revoked on chain at the confirmation depth; announced


@dataclass(frozen=True, slots=True)
class RevocationRequest:
    request_id: str
    certificate_ids: tuple[str, ...]
    batch_id: str
    reason: RevocationReason
    reason_text: str
    replaced_by: str = ""  # a reissue: the certificate that replaces the revoked one

    def digest(self) -> str:
        """What a repeated request_id must match to be the same request."""
        text = "\n".join(
            (self.batch_id, self.reason, self.reason_text, self.replaced_by, *self.certificate_ids)
        )
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KnownCertificate:
    certificate_id: str
    leaf_hash: bytes
    batch_id: str


@dataclass(frozen=True, slots=True)
class NewRevocation:
    certificate_id: str
    leaf_hash: bytes
    batch_id: str
    reason: RevocationReason
    reason_text: str
    replaced_by: str
    request_id: str
    requested_at: datetime


@dataclass(frozen=True, slots=True)
class RevocationOutcome:
    certificate_count: int
    newly_revoked_count: int
    already_revoked_count: int


def checked_request(
    *,
    request_id: str,
    certificate_ids: Sequence[str],
    batch_id: str,
    reason: RevocationReason | None,
    reason_text: str,
    replaced_by: str = "",
) -> RevocationRequest:
    """The request as the use case takes it; InvalidInput naming every field at fault."""
    violations: list[FieldViolation] = []
    if len(request_id) > MAX_REQUEST_ID or "\x00" in request_id:
        violations.append(
            FieldViolation("request_id", f"at most {MAX_REQUEST_ID} characters, no NUL")
        )
    if bool(certificate_ids) == bool(batch_id):
        violations.append(
            FieldViolation("certificate_ids", "give certificate_ids or batch_id (exactly one)")
        )
    if len(certificate_ids) > MAX_CERTIFICATE_IDS:
        violations.append(
            FieldViolation(
                "certificate_ids",
                f"{len(certificate_ids)} ids; at most {MAX_CERTIFICATE_IDS} per request"
                " (revoke a whole batch with batch_id)",
            )
        )
    elif bad := [c for c in certificate_ids if not _is_id(c)]:
        violations.append(
            FieldViolation(
                "certificate_ids", f"{len(bad)} ids are empty or not ids: {bad[0]!r:.50}"
            )
        )
    if batch_id and not _is_id(batch_id):
        violations.append(FieldViolation("batch_id", "not a batch id"))
    if reason is None:
        violations.append(
            FieldViolation(
                "reason", f"a reason is required: one of {', '.join(r for r in RevocationReason)}"
            )
        )
    if len(reason_text) > MAX_REASON_TEXT or "\x00" in reason_text:
        violations.append(
            FieldViolation(
                "reason_text", f"{len(reason_text)} characters; at most {MAX_REASON_TEXT}, no NUL"
            )
        )
    if violations:
        raise InvalidInput(
            "INVALID_REVOCATION", "; ".join(v.description for v in violations), violations
        )
    assert reason is not None
    return RevocationRequest(
        request_id=request_id,
        certificate_ids=tuple(dict.fromkeys(certificate_ids)),  # a repeated id counts once
        batch_id=batch_id,
        reason=reason,
        reason_text=reason_text,
        replaced_by=replaced_by,
    )


def _is_id(text: str) -> bool:
    return 0 < len(text) <= MAX_ID and text.isprintable() and not text.isspace()


def plan_revocations(
    request: RevocationRequest,
    named: Sequence[str],
    known: dict[str, KnownCertificate],
    already: set[str],
    now: datetime,
) -> tuple[list[NewRevocation], RevocationOutcome]:
    """The revocations to record for the certificates `named` (the request's ids, or its
    batch's): NotFound listing the unknown ones (nothing is recorded then); those `already`
    revoked or pending are left as they are."""
    unknown = [cid for cid in named if cid not in known]
    if unknown:
        shown = ", ".join(unknown[:MAX_SHOWN_UNKNOWN])
        more = (
            f" and {len(unknown) - MAX_SHOWN_UNKNOWN} more"
            if len(unknown) > MAX_SHOWN_UNKNOWN
            else ""
        )
        raise NotFound(
            "CERTIFICATES_NOT_FOUND",
            f"{len(unknown)} certificates are not known to anchor (never issued, or not yet in"
            f" an anchor window): {shown}{more}; nothing was revoked",
            metadata={"unknown_count": str(len(unknown)), "unknown": shown},
        )
    fresh = [
        NewRevocation(
            certificate_id=cid,
            leaf_hash=known[cid].leaf_hash,
            batch_id=known[cid].batch_id,
            reason=request.reason,
            reason_text=request.reason_text,
            replaced_by=request.replaced_by,
            request_id=request.request_id,
            requested_at=now,
        )
        for cid in named
        if cid not in already
    ]
    return fresh, RevocationOutcome(len(named), len(fresh), len(named) - len(fresh))


@dataclass(frozen=True, slots=True)
class PendingRevocation:
    certificate_id: str
    requested_at: datetime


def due_windows(
    pending: Sequence[PendingRevocation], *, max_leaves: int, max_age: timedelta, now: datetime
) -> list[list[str]]:
    """Pending revocations (oldest first) grouped into windows of at most `max_leaves`: every
    full one, and the rest once its oldest has waited `max_age` (many requests share one
    transaction, as many batches share an anchor window)."""
    size = max(max_leaves, 1)
    ids = [p.certificate_id for p in pending]
    groups = [ids[i : i + size] for i in range(0, len(ids), size)]
    if groups and len(groups[-1]) < size and now - pending[-len(groups[-1])].requested_at < max_age:
        groups.pop()  # not full and not old enough: it waits for more
    return groups


class RevocationRecords(Protocol):
    def request_digest(self, request_id: str) -> tuple[str, RevocationOutcome] | None:
        """The digest and outcome stored for a request id, None if it is new."""
        ...

    def batch_certificates(self, batch_id: str) -> list[str]: ...

    def known(self, certificate_ids: Sequence[str]) -> dict[str, KnownCertificate]: ...

    def revoked(self, certificate_ids: Sequence[str]) -> set[str]:
        """Those with a revocation recorded (pending, windowed or revoked)."""
        ...

    def add_revocations(
        self,
        request: RevocationRequest,
        revocations: Sequence[NewRevocation],
        outcome: RevocationOutcome,
    ) -> RevocationOutcome:
        """Stores the revocations (skipping any recorded meanwhile) and the request, in one
        transaction; the outcome stored for the request id (a concurrent twin's, if it won)."""
        ...


def request_id_reused() -> Conflict:
    return Conflict("REQUEST_ID_REUSED", "this request_id was used for another revocation request")


def revoke(
    records: RevocationRecords, request: RevocationRequest, now: Callable[[], datetime]
) -> RevocationOutcome:
    """Records the revocations a request asks for. The same request_id again answers as the
    first time; with other content it is REQUEST_ID_REUSED."""
    if request.request_id and (stored := records.request_digest(request.request_id)):
        digest, outcome = stored
        if digest != request.digest():
            raise request_id_reused()
        return outcome
    named = list(request.certificate_ids)
    if request.batch_id:
        named = records.batch_certificates(request.batch_id)
        if not named:
            raise NotFound(
                "BATCH_NOT_FOUND",
                f"anchor knows no certificate of batch {request.batch_id!r} (unknown, or none"
                " anchored yet); nothing was revoked",
            )
    fresh, outcome = plan_revocations(
        request, named, records.known(named), records.revoked(named), now()
    )
    return records.add_revocations(request, fresh, outcome)
