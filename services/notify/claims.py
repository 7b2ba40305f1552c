"""What a sender loop holds and the store it claims from (implemented by store.Deliveries).

A delivery is claimed by moving it to "sending" under a claim token with a short lease
(next_attempt_at in the future). The holder renews the lease with a heartbeat while it works
and records each outcome as it happens; a notify that dies stops renewing, so its unfinished
deliveries return to the queue within one lease. A retry carries the same Message-ID so
receiving systems can recognise a repeat.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.notify.outcome_policy import DeliveryKind, DeliveryState, DeliveryUpdate
from services.notify.rendering import CertificateEmail


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    delivery_id: str
    attempts: int  # counted attempts so far (the relay judged the message this many times)
    email: CertificateEmail | None  # None when the certificate cannot be emailed (not anchored)
    # its recipient domain's pacing slot (domain_pacing.py): not sent before; None: at once
    send_at: datetime | None = None
    batch_id: str = ""  # whose trace the sending span links to


@dataclass(frozen=True, slots=True)
class Claim:
    token: str
    lease_until: datetime
    deliveries: list[ClaimedDelivery]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A delivery's new state, stored only if the claim `claim_token` still holds it."""

    claim_token: str
    delivery_id: str
    update: DeliveryUpdate


@dataclass(frozen=True, slots=True)
class Holder:
    """A claimed row as a recording write finds it."""

    claim_token: str
    certificate_id: str
    batch_id: str
    kind: str = DeliveryKind.ISSUED  # only a certificate's first email is announced


def is_due(state: str, next_attempt_at: datetime, *, now: datetime) -> bool:
    """Claimable: pending and its retry time has come, scheduled and its window opened (the
    claim checks the window again), or sending and its lease ran out."""
    claimable = (DeliveryState.PENDING, DeliveryState.SCHEDULED, DeliveryState.SENDING)
    return state in claimable and next_attempt_at <= now


def holds(state: str, claim_token: str, token: str) -> bool:
    """The claim `token` still holds the row: claimed by it and not yet given an outcome."""
    return state == DeliveryState.SENDING and claim_token == token


def outcomes_to_store(
    outcomes: Sequence[Outcome], holders: dict[str, Holder]
) -> list[tuple[Outcome, Holder]]:
    """The outcomes a write stores: each only while its claim still holds the row (a lease that
    ran out may have been re-claimed by another sender, whose outcome then counts). `holders`:
    the claimed ("sending") rows among the outcomes' deliveries, by delivery id."""
    stored = []
    for outcome in outcomes:
        holder = holders.get(outcome.delivery_id)
        if holder is not None and holder.claim_token == outcome.claim_token:
            stored.append((outcome, holder))
    return stored


class DeliveryStore(Protocol):
    def claim(self, limit: int, *, now: datetime, lease_until: datetime) -> Claim:
        """Takes up to `limit` due deliveries: pending ones whose retry time has come and
        sending ones whose holder's lease ran out (it died or lost the database)."""
        ...

    def extend(self, token: str, *, lease_until: datetime) -> set[str]:
        """The heartbeat: renews the lease of what this claim still holds, returns those ids."""
        ...

    def record(self, outcomes: Sequence[Outcome], *, now: datetime) -> int:
        """Stores outcomes (of any claims), each only if its claim still holds the row, with
        the "certs.deliveries" event of what it stored, in one transaction. Returns rows
        stored."""
        ...

    def batch_traces(self, batch_ids: Sequence[str]) -> dict[str, str]:
        """The trace context (JSON) each of these batches' recipients came in, where known."""
        ...

    def release(self, token: str, delivery_ids: Sequence[str], *, now: datetime) -> int:
        """Gives back deliveries this claim did not try: due at once, attempts untouched."""
        ...
