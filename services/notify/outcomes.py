"""Outcomes after sending: bounce reports, a delivery's history, resends and the suppression list.

The decisions are pure (`bounce_effect`, `check_resend`); the store (store.Deliveries) applies
them in one transaction each, with the "certs.deliveries" event of what changed.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from email_validator import EmailNotValidError, validate_email

from certflow.core.errors import NotFound, invalid_field
from certflow.core.validation import header_unsafe, invisible_formatting
from services.notify.bounces import (
    BounceKind,
    RecipientStatus,
    SuppressionReason,
    bounce_kind,
    excerpt,
    normalise_address,
    reply_code,
    suppresses,
)
from services.notify.operations import MAX_REQUEST_ID, DeliveryView, check_batch_id
from services.notify.outcome_policy import DeliveryState

MAX_ISSUER_NAME = 512
MAX_PAGE = 1000
MAX_EMAIL = 254


# ---- a bounce report against its delivery (pure) ----


@dataclass(frozen=True, slots=True)
class BouncedDelivery:
    """What a bounce is checked against: the delivery as stored and the address it went to."""

    delivery_id: str
    certificate_id: str
    batch_id: str
    state: DeliveryState
    generation: int
    attempts: int
    address: str
    issuer_name: str


@dataclass(frozen=True, slots=True)
class BounceEffect:
    bounced: bool  # the delivery becomes BOUNCED (else: a history entry only)
    history_state: DeliveryState
    code: int
    detail: str
    suppress: bool


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str


def bounce_effect(
    delivery: BouncedDelivery, generation: int, statuses: Sequence[RecipientStatus]
) -> BounceEffect | Ignored:
    """What a report's per-recipient statuses mean for the delivery its bounce address named
    (`generation`: the send it named)."""
    if generation != delivery.generation:
        return Ignored("stale: a bounce of an earlier send")
    address = normalise_address(delivery.address)
    ours = [s for s in statuses if s.final_recipient in ("", address)]
    if not ours:
        return Ignored("the report names another recipient")
    for status in ours:
        kind = bounce_kind(status)
        if kind is None:
            continue
        code = reply_code(status.diagnostic.partition(";")[2]) or reply_code(status.diagnostic)
        detail = excerpt(f"{status.status} {status.diagnostic}")
        if kind is BounceKind.DELAYED:
            return BounceEffect(False, DeliveryState.DEFERRED, code, detail, suppress=False)
        if delivery.state is DeliveryState.BOUNCED:
            return Ignored("duplicate: already bounced")
        if delivery.state is not DeliveryState.SENT:
            return Ignored(f"the delivery is {delivery.state}, not sent")
        permanent = kind is BounceKind.PERMANENT
        return BounceEffect(
            True,
            DeliveryState.BOUNCED,
            code,
            detail,
            suppress=permanent and suppresses(status.status),
        )
    return Ignored("no failure reported")


# ---- the operator's use cases ----


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    at: datetime
    state: DeliveryState
    code: int
    detail: str


@dataclass(frozen=True, slots=True)
class DeliveryHistory:
    delivery: DeliveryView
    events: list[HistoryEvent]
    recipient_corrected: bool
    resend_count: int


@dataclass(frozen=True, slots=True)
class ResendRequest:
    certificate_id: str
    batch_id: str
    recipient_email: str  # "" keeps the address
    request_id: str

    @property
    def digest(self) -> str:
        """What the request asked: a replay with other values is another request."""
        asked = "\x00".join((self.certificate_id, self.batch_id, self.recipient_email))
        return hashlib.sha256(asked.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SuppressionEntry:
    key: str
    issuer_name: str
    address_hint: str
    reason: SuppressionReason
    detail: str
    certificate_id: str
    created_at: datetime


class OutcomeStore(Protocol):
    def history(self, *, delivery_id: str, certificate_id: str) -> DeliveryHistory | None: ...

    def resend(self, request: ResendRequest, *, now: datetime) -> int:
        """Queues the request's deliveries again (new generation, corrected address), with
        their REQUEUED event, once per request_id; raises NotFound / Conflict."""
        ...

    def list_suppressions(
        self, issuer_name: str, *, offset: int, limit: int
    ) -> list[SuppressionEntry]: ...

    def delete_suppression(self, issuer_name: str, *, key: str, email: str) -> bool: ...


def delivery_history(
    store: OutcomeStore, *, delivery_id: str, certificate_id: str
) -> DeliveryHistory:
    given = delivery_id or certificate_id
    if not given:
        raise invalid_field("delivery", "give a delivery_id or a certificate_id")
    if len(given) > 36 or "\x00" in given:
        raise invalid_field("delivery", "not a delivery or certificate id")
    found = store.history(delivery_id=delivery_id, certificate_id=certificate_id)
    if found is None:
        raise NotFound("DELIVERY_NOT_FOUND", f"no delivery for {given!r}")
    return found


def check_resend(request: ResendRequest) -> ResendRequest:
    """A resend names one certificate (maybe with a corrected address) or one batch, and
    carries a request id; a corrected address is checked like an uploaded one."""
    if not request.request_id:
        raise invalid_field("request_id", "request_id is required: a resend sends email")
    if len(request.request_id) > MAX_REQUEST_ID or "\x00" in request.request_id:
        raise invalid_field(
            "request_id", f"request_id: at most {MAX_REQUEST_ID} characters, no NUL"
        )
    if bool(request.certificate_id) == bool(request.batch_id):
        raise invalid_field("target", "give a certificate_id or a batch_id")
    if request.batch_id:
        check_batch_id(request.batch_id)
        if request.recipient_email:
            raise invalid_field(
                "recipient_email", "a corrected address is for one certificate, not a batch"
            )
        return request
    if len(request.certificate_id) > 36 or "\x00" in request.certificate_id:
        raise invalid_field("certificate_id", "not a certificate id")
    if not request.recipient_email:
        return request
    return ResendRequest(
        request.certificate_id, "", corrected_address(request.recipient_email), request.request_id
    )


def corrected_address(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_EMAIL:
        raise invalid_field("recipient_email", f"recipient_email is over {MAX_EMAIL} characters")
    if header_unsafe(text) or invisible_formatting(text):
        raise invalid_field("recipient_email", "recipient_email contains unsafe characters")
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise invalid_field("recipient_email", f"recipient_email: {exc}") from None


def resend(store: OutcomeStore, request: ResendRequest, *, now: datetime) -> int:
    return store.resend(check_resend(request), now=now)


def check_issuer(issuer_name: str) -> None:
    if not issuer_name:
        raise invalid_field("issuer_name", "issuer_name is required")
    if len(issuer_name) > MAX_ISSUER_NAME or "\x00" in issuer_name:
        raise invalid_field("issuer_name", f"issuer_name: at most {MAX_ISSUER_NAME} characters")


def list_suppressions(
    store: OutcomeStore, issuer_name: str, *, offset: int, limit: int
) -> list[SuppressionEntry]:
    check_issuer(issuer_name)
    return store.list_suppressions(issuer_name, offset=offset, limit=limit)


def delete_suppression(store: OutcomeStore, issuer_name: str, *, key: str, email: str) -> bool:
    check_issuer(issuer_name)
    if bool(key) == bool(email):
        raise invalid_field("entry", "give the entry's key or the email address")
    if len(key) > 64 or len(email) > MAX_EMAIL or "\x00" in key + email:
        raise invalid_field("entry", "not a suppression key or an address")
    return store.delete_suppression(issuer_name, key=key, email=email)
