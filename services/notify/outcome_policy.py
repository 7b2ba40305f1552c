"""Pure: what one send attempt means for its delivery, and how big a claim may be.

An attempt is counted when the relay judged the message (a reply to this message's RCPT/DATA)
or may have taken it (the body went out and no answer came back). A relay that cannot be
reached, that closes the channel (421) or that refuses our sender (MAIL FROM: a reply about
our account) says nothing about the message, so the delivery goes back to the queue with its
attempts untouched and the sender pauses instead (see relay_breaker.py).
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.notify.bounces import suppresses

SERVICE_CLOSING = 421  # RFC 5321: the relay is shutting the channel, not judging the message


@dataclass(frozen=True, slots=True)
class Accepted:
    """The relay took responsibility for the message (250 after DATA)."""


@dataclass(frozen=True, slots=True)
class Refused:
    """The relay answered this message with an error reply."""

    code: int
    text: str


@dataclass(frozen=True, slots=True)
class RelayUnavailable:
    """No judgement on the message: connect/login failure, timeout, dropped connection."""

    reason: str


@dataclass(frozen=True, slots=True)
class SenderRefused:
    """The relay refused MAIL FROM: our sender address or account, not this message."""

    code: int
    text: str


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """The body went out but no answer came (timeout, dropped connection): the relay may have
    stored it, so this counts as an attempt and waits its backoff before any re-send."""

    reason: str


@dataclass(frozen=True, slots=True)
class Unsendable:
    """We cannot send this message at all (rendering refused it, no SMTPUTF8, not anchored)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Unexpected:
    """A bug or an unforeseen error while sending: counted, so it cannot loop for ever."""

    reason: str


SendResult = (
    Accepted | Refused | RelayUnavailable | SenderRefused | Unconfirmed | Unsendable | Unexpected
)


class DeliveryKind(StrEnum):
    """What an email is about: one delivery per certificate and kind."""

    ISSUED = "issued"
    # the certificate was revoked or replaced after its first email (revocation_notices.py)
    REVOCATION_NOTICE = "revocation_notice"


class DeliveryState(StrEnum):
    """A delivery's state, as stored (deliveries.state) and mapped to the API's enum."""

    PENDING = "pending"  # due at next_attempt_at
    SCHEDULED = "scheduled"  # waiting for its delivery window: due at next_attempt_at
    SENDING = "sending"  # claimed: next_attempt_at is the claim's lease
    SENT = "sent"  # the relay accepted it
    FAILED = "failed"  # for good (attempts spent, unsendable), until an operator re-drives it
    # refused for good by the relay (5xx) or bounced later (an RFC 3464 report, bounces.py)
    BOUNCED = "bounced"
    # never sent: the address is on the issuer's suppression list (bounced or unsubscribed)
    SUPPRESSED = "suppressed"
    # history and API only, never stored in deliveries.state: "deferred" is a pending row
    # after a counted attempt (a 4xx waiting its backoff); "unsubscribed" is the recipient's
    # one-click unsubscribe after this delivery was sent
    DEFERRED = "deferred"
    UNSUBSCRIBED = "unsubscribed"
    COMPLAINED = "complained"  # history only: marked as spam (an ARF report) after it was sent
    QUEUED = "queued"  # history: created, or sent again (resend, re-drive)


class Verdict(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    PERMANENT = "permanent"
    RELAY_UNAVAILABLE = "relay_unavailable"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_base: timedelta = timedelta(seconds=10)
    backoff_max: timedelta = timedelta(hours=1)

    def delay(self, attempts: int) -> timedelta:
        """Exponential backoff after the n-th counted attempt: base, 2·base, 4·base … capped."""
        return min(self.backoff_base * 2 ** max(attempts - 1, 0), self.backoff_max)


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    verdict: Verdict
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    error: str
    code: int = 0  # the relay's reply code, when it judged the message
    suppress: bool = False  # a permanent refusal of the address: on the suppression list

    @property
    def history_state(self) -> DeliveryState:
        """What the delivery's history records for this outcome."""
        if self.state is DeliveryState.PENDING and self.verdict is Verdict.RETRY:
            return DeliveryState.DEFERRED
        return self.state


def decide(
    result: SendResult, *, attempts: int, policy: RetryPolicy, now: datetime
) -> DeliveryUpdate:
    """The new state of a delivery that had `attempts` counted attempts before this one."""
    if isinstance(result, Accepted):
        return DeliveryUpdate(Verdict.SENT, DeliveryState.SENT, attempts + 1, now, "")
    unavailable = relay_unavailable_reason(result)
    # (the isinstance is implied by the reason; it tells the type checker what remains below)
    if unavailable is not None or isinstance(result, RelayUnavailable | SenderRefused):
        return DeliveryUpdate(
            Verdict.RELAY_UNAVAILABLE,
            DeliveryState.PENDING,
            attempts,
            now,
            f"relay unavailable: {unavailable}",
        )
    if isinstance(result, Unconfirmed):
        return _retry_or_give_up(f"unconfirmed: {result.reason}", attempts + 1, policy, now)
    if isinstance(result, Unsendable):
        return DeliveryUpdate(
            Verdict.PERMANENT, DeliveryState.FAILED, attempts + 1, now, result.reason
        )
    if isinstance(result, Refused) and result.code >= 500:
        return DeliveryUpdate(
            Verdict.PERMANENT,
            DeliveryState.BOUNCED,
            attempts + 1,
            now,
            _reply(result),
            code=result.code,
            suppress=suppresses(_reply(result)),
        )
    if isinstance(result, Refused):
        retry = _retry_or_give_up(_reply(result), attempts + 1, policy, now)
        return replace(retry, code=result.code)
    return _retry_or_give_up(f"unexpected error: {result.reason}", attempts + 1, policy, now)


def relay_unavailable_reason(result: SendResult) -> str | None:
    """Why this result says nothing about the message, or None when it does."""
    if isinstance(result, RelayUnavailable):
        return result.reason
    if isinstance(result, Refused) and result.code == SERVICE_CLOSING:
        return _reply(result)
    if isinstance(result, SenderRefused):
        return f"sender refused: {result.code} {result.text}"
    return None


def _reply(refused: Refused) -> str:
    return f"{refused.code} {refused.text}"


def _retry_or_give_up(
    error: str, attempts: int, policy: RetryPolicy, now: datetime
) -> DeliveryUpdate:
    if attempts >= policy.max_attempts:
        return DeliveryUpdate(
            Verdict.PERMANENT,
            DeliveryState.FAILED,
            attempts,
            now,
            f"{error} (gave up after {attempts} attempts)",
        )
    return DeliveryUpdate(
        Verdict.RETRY, DeliveryState.PENDING, attempts, now + policy.delay(attempts), error
    )


def claim_size(
    *, rate_per_second: float, lease_seconds: float, sender_loops: int, ceiling: int
) -> int:
    """How many deliveries one claim may take: what the shared rate can send in half a lease,
    so a claim is finished well inside its lease even before any heartbeat extends it."""
    affordable = int(rate_per_second * lease_seconds / (2 * max(sender_loops, 1)))
    return max(1, min(ceiling, affordable))


def may_start_send(*, now: datetime, lease_until: datetime, send_margin: timedelta) -> bool:
    """A send may start only if it can finish (within its deadline, send_margin) before the
    lease ends: after that another sender may own the delivery and would send it again."""
    return now + send_margin < lease_until
