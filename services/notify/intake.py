"""What notify keeps from the events it consumes, and what it decides about each event.

"certs.recipients" (from ingest) brings what each email shows; "certs.anchored" (from anchor)
brings each certificate's proof and makes its email due. The two subjects are consumed
independently, so an anchored certificate may arrive before its recipient: its delivery waits
(the message comes back later) rather than being lost. Both are idempotent: a redelivered or
repeated event stores nothing twice (keys: certificate id; certificate id + kind).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from certflow.core.anchoring import AnchoredWindowFacts


@dataclass(frozen=True, slots=True)
class RecipientContent:
    """One certificate's email content: whom it goes to and what it shows."""

    certificate_id: str
    batch_id: str
    recipient_name: str
    recipient_email: str
    title: str
    completion_date: date
    issuer_name: str
    document: bytes  # RFC 8785 bytes of the credential without its anchor proof
    leaf_salt: bytes
    leaf_hash: bytes
    # when it may go (claim_timing.py): the recipient's IANA zone ("" for notify's default),
    # business hours only, no earlier than send_time
    time_zone: str = ""
    business_hours: bool = False
    send_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class AnchoredWindow:
    facts: AnchoredWindowFacts
    paths: Mapping[str, bytes]  # certificate id -> its Merkle path (siblings concatenated)
    # named by the event without a path (an anchor that does not send paths yet): not ready
    unproven: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AnchoredStored:
    created: int  # deliveries that did not exist before
    missing: tuple[str, ...] = ()  # certificates whose recipient content has not arrived


@dataclass(frozen=True, slots=True)
class AnchoredTaken:
    created: int
    missing: tuple[str, ...] = ()
    unproven: tuple[str, ...] = ()

    @property
    def waiting(self) -> int:
        return len(self.missing) + len(self.unproven)

    @property
    def complete(self) -> bool:
        """Every certificate of the event has its delivery: the message may be acked. Otherwise
        it comes back later (what was stored stays; storing it again adds nothing)."""
        return self.waiting == 0


class IntakeStore(Protocol):
    def store_recipients(self, recipients: Sequence[RecipientContent]) -> int:
        """Upserts content rows by certificate id; returns how many were written."""
        ...

    def remember_batch_trace(self, batch_id: str, trace_context: str) -> None:
        """Keeps the first trace context seen for a batch (telemetry, observability.py)."""
        ...

    def store_anchored(self, window: AnchoredWindow, *, now: datetime) -> AnchoredStored:
        """In one transaction: the proof on the content rows present and their deliveries
        (unique per certificate and kind); names the certificates without content."""
        ...


def take_recipients(store: IntakeStore, recipients: Sequence[RecipientContent]) -> int:
    return store.store_recipients(recipients) if recipients else 0


def take_anchored(store: IntakeStore, window: AnchoredWindow, *, now: datetime) -> AnchoredTaken:
    stored = store.store_anchored(window, now=now) if window.paths else AnchoredStored(0)
    return AnchoredTaken(stored.created, stored.missing, window.unproven)
