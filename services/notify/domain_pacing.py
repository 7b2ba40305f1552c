"""Pure: per-recipient-domain pacing (at most N messages a minute to gmail.com, …) as slots.

Each domain has one stored value, the earliest time its next message may go (`next_slot`, a
GCRA "theoretical arrival time"). A claim grants a domain's deliveries consecutive slots
`next_slot, next_slot + spacing, …` starting no earlier than now and no later than now +
`lookahead` (the claim's holder waits for each slot before sending), and moves `next_slot` past
them. The rest of that domain's due deliveries are pushed to the slots after those (projected,
not reserved), so they leave the head of the queue instead of being re-read by every claim.

Shared by several notify replicas because `next_slot` lives in notify's database and is read
and moved in the claim's transaction, under a row lock (PostgreSQL: SELECT … FOR UPDATE) or the
database write lock (SQLite: BEGIN IMMEDIATE). A slot granted but not used (a crash, a release)
is lost, never given twice: the rate can only be undershot.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class DomainRates:
    """Messages per minute per recipient domain: `default` unless overridden; 0 = unpaced."""

    default_per_minute: float = 0.0
    overrides: Mapping[str, float] = field(default_factory=dict)  # lower-case domain -> rate

    def spacing(self, domain: str) -> timedelta | None:
        """Time between two messages to `domain`, or None when it is not paced."""
        rate = self.overrides.get(domain.lower(), self.default_per_minute)
        return timedelta(minutes=1) / rate if rate > 0 else None


@dataclass(frozen=True, slots=True)
class Slots:
    granted: list[datetime]  # send no earlier than these, one per granted delivery, in order
    deferred: list[datetime]  # projected due times of the ones not granted now
    next_slot: datetime  # the domain's stored next slot after this claim


def grant(
    next_slot: datetime | None,
    wanted: int,
    *,
    spacing: timedelta,
    now: datetime,
    lookahead: timedelta,
) -> Slots:
    """Slots for `wanted` due deliveries to one domain whose stored next slot is `next_slot`
    (None: never paced yet)."""
    slot = now if next_slot is None or next_slot < now else next_slot
    granted: list[datetime] = []
    while len(granted) < wanted and slot <= now + lookahead:
        granted.append(slot)
        slot += spacing
    deferred = [slot + spacing * i for i in range(wanted - len(granted))]
    return Slots(granted, deferred, slot)


def recipient_domain(email: str) -> str:
    """The domain paced for an address: after the last @, lower-cased (IDNs as given)."""
    return email.rpartition("@")[2].strip().lower()


def pace(
    wanted: Mapping[str, int],
    next_slots: Mapping[str, datetime],
    rates: DomainRates,
    *,
    now: datetime,
    lookahead: timedelta,
) -> dict[str, Slots]:
    """`grant` for every paced domain among `wanted` (domain -> due deliveries); unpaced
    domains are absent from the answer (all of theirs may go)."""
    plans: dict[str, Slots] = {}
    for domain, count in wanted.items():
        spacing = rates.spacing(domain)
        if spacing is not None:
            plans[domain] = grant(
                next_slots.get(domain), count, spacing=spacing, now=now, lookahead=lookahead
            )
    return plans
