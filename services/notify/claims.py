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

from services.notify.outcome_policy import DeliveryUpdate
from services.notify.rendering import CertificateEmail


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    delivery_id: str
    attempts: int  # counted attempts so far (the relay judged the message this many times)
    email: CertificateEmail | None  # None when the certificate cannot be emailed (not anchored)


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

    def release(self, token: str, delivery_ids: Sequence[str], *, now: datetime) -> int:
        """Gives back deliveries this claim did not try: due at once, attempts untouched."""
        ...
