"""Why a certificate is revoked: anchor's "certs.revoked" events kept in verify's own table, and
a Verifier that adds the reason, text, time and replacement to a REVOKED verdict.

The verdict itself still comes from the chain (a revocation made outside certflow is REVOKED
with no reason); the note only explains it. Every path — gRPC, HTTP JSON, the page, the CLI —
goes through the same Verifier, so all show the same note."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.display import shown
from certflow.core.verification import (
    Check,
    CheckStatus,
    RevocationNote,
    Verification,
    VerificationStatus,
    Verifier,
)
from certflow.platform import bus
from certflow.v1 import certificate_pb2, events_pb2
from services.verify.consumers import EventConsumer
from services.verify.read_model import MAX_CERTIFICATE_ID, UnusableEvent
from services.verify.tables import VerifyRevocation

REVOKED = bus.ConsumerSpec(durable="verify-revoked", subject=bus.SUBJECT_REVOKED)
_PREFIX = "REVOCATION_REASON_"
MAX_REASON_TEXT = 500

# how each reason reads in a sentence
REASON_WORDS = {
    "superseded": "superseded by a corrected certificate",
    "issued_in_error": "issued in error",
    "data_correction": "its data is being corrected",
    "withdrawn": "withdrawn by the issuer",
    "other": "other reason",
}


def reason_name(value: int) -> str:
    """certificate_pb2.RevocationReason value → "superseded" (… "" for unspecified)."""
    try:
        name = certificate_pb2.RevocationReason.Name(value)
    except ValueError:
        return ""
    return "" if name.endswith("UNSPECIFIED") else name.removeprefix(_PREFIX).lower()


def reason_value(name: str) -> int:
    try:
        return int(certificate_pb2.RevocationReason.Value(_PREFIX + name.upper()))
    except ValueError:
        return certificate_pb2.REVOCATION_REASON_UNSPECIFIED


@dataclass(frozen=True, slots=True)
class NotedRevocation:
    certificate_id: str
    note: RevocationNote


def revoked_records(data: bytes) -> list[NotedRevocation]:
    """A "certs.revoked" payload as rows; raises UnusableEvent."""
    try:
        event = events_pb2.CertificatesRevokedEvent.FromString(data)
    except Exception as exc:
        raise UnusableEvent(f"not a CertificatesRevokedEvent: {exc}") from exc
    if not event.certificates:
        raise UnusableEvent("no certificates")
    records = []
    for c in event.certificates:
        if not 0 < len(c.certificate_id) <= MAX_CERTIFICATE_ID:
            raise UnusableEvent(f"certificate id {c.certificate_id[:50]!r} is not an id")
        revoked_at = c.revoke_time.ToDatetime(tzinfo=UTC) if c.HasField("revoke_time") else None
        records.append(
            NotedRevocation(
                c.certificate_id,
                RevocationNote(
                    reason=reason_name(c.reason) or "other",
                    reason_text=c.reason_text[:MAX_REASON_TEXT],
                    revoked_at=revoked_at,
                    replaced_by=c.replaced_by_certificate_id[:MAX_CERTIFICATE_ID],
                    transaction_hash=event.transaction_hash[:66],
                ),
            )
        )
    return records


class RevocationNotes(Protocol):
    def add_notes(self, notes: Sequence[NotedRevocation]) -> None:
        """Stores each note unless the certificate has one (a revocation happens once); a
        replacement named later is added to a note that names none."""
        ...

    def note(self, certificate_id: str) -> RevocationNote | None: ...


class SqlRevocationNotes:
    def __init__(
        self, writes: sessionmaker[Session], reads: sessionmaker[Session] | None = None
    ) -> None:
        self._writes = writes
        self._reads = reads or writes

    def add_notes(self, notes: Sequence[NotedRevocation]) -> None:
        rows: dict[str, dict[str, Any]] = {}
        for n in notes:
            rows.setdefault(
                n.certificate_id,
                {
                    "certificate_id": n.certificate_id,
                    "reason": n.note.reason,
                    "reason_text": n.note.reason_text,
                    "revoked_at": n.note.revoked_at,
                    "replaced_by": n.note.replaced_by,
                    "transaction_hash": n.note.transaction_hash,
                },
            )
        if not rows:
            return
        with self._writes.begin() as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            proposed = insert(VerifyRevocation)
            # the first note stays; only a replacement named later (a certificate revoked,
            # then reissued) is added to it
            statement = proposed.on_conflict_do_update(
                index_elements=[VerifyRevocation.certificate_id],
                set_={"replaced_by": proposed.excluded.replaced_by},
                where=(VerifyRevocation.replaced_by == "") & (proposed.excluded.replaced_by != ""),
            )
            values = list(rows.values())
            for start in range(0, len(values), 500):
                session.execute(statement, values[start : start + 500])

    def note(self, certificate_id: str) -> RevocationNote | None:
        with self._reads() as session:
            row = session.scalars(
                select(VerifyRevocation).where(VerifyRevocation.certificate_id == certificate_id)
            ).first()
            if row is None:
                return None
            revoked_at = row.revoked_at
            if revoked_at is not None and revoked_at.tzinfo is None:
                revoked_at = revoked_at.replace(tzinfo=UTC)  # SQLite drops the zone
            return RevocationNote(
                reason=row.reason,
                reason_text=row.reason_text,
                revoked_at=revoked_at,
                replaced_by=row.replaced_by,
                transaction_hash=row.transaction_hash,
            )


def revoked_consumer(notes: RevocationNotes) -> EventConsumer[NotedRevocation]:
    return EventConsumer("verify-revoked", revoked_records, notes.add_notes)


def revocation_message(note: RevocationNote) -> str:
    """The revocation check's message: when, why, the issuer's words, and the replacement."""
    parts = ["revoked by the issuer"]
    if note.revoked_at is not None:
        parts[0] += f" on {note.revoked_at.date().isoformat()}"
    parts.append(REASON_WORDS.get(note.reason, note.reason))
    if note.reason_text:
        parts.append(f"“{note.reason_text}”")
    if note.replaced_by:
        parts.append(f"replaced by certificate {note.replaced_by}")
    return ": ".join(parts[:2]) + "".join(f"; {p}" for p in parts[2:])


def with_note(result: Verification, note: RevocationNote) -> Verification:
    """A REVOKED verdict explained: the note (its texts made safe to display) and the check's
    message saying it."""
    safe = replace(note, reason_text=shown(note.reason_text), replaced_by=shown(note.replaced_by))
    result.revocation = safe
    result.checks = [
        Check(c.name, c.status, shown(revocation_message(safe)))
        if c.name == "revocation" and c.status is CheckStatus.FAILED
        else c
        for c in result.checks
    ]
    return result


class NotedVerifier(Verifier):
    """The Verifier, with the issuer's note added to a REVOKED verdict."""

    def __init__(self, *args: Any, notes: RevocationNotes, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._notes = notes

    async def verify(self, document: Any) -> Verification:
        result = await super().verify(document)
        if result.status is VerificationStatus.REVOKED and result.certificate_id:
            note = await asyncio.to_thread(self._notes.note, result.certificate_id)
            if note is not None:
                return with_note(result, note)
        return result
