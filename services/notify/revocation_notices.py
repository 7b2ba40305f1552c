"""Pure: telling a recipient that their certificate was revoked or replaced (issue 10).

anchor publishes "certs.revoked" once a bulkRevoke is confirmed; notify keeps each revoked
certificate's reason (notify_revocations) and decides, per certificate, whether its recipient
gets ONE notice — a delivery of kind REVOCATION_NOTICE, unique per certificate and kind like
every delivery, so a redelivered event creates nothing twice. The notice goes through the same
claims, delivery windows, rate limits, retries, outcomes and DKIM as the first email.

Who gets a notice (`decide_notice`): only a recipient who received the certificate — its first
email was SENT. A certificate notify holds no content for, one never emailed (not anchored in
notify's view, cancelled), one whose first email bounced, failed or was suppressed, and a
suppressed address get none. While the first email is still on its way (pending, scheduled
for its delivery window, being sent) the decision waits: the event comes back later, as an
anchored event waits for its recipients.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from certflow.v1 import certificate_pb2, events_pb2
from services.notify.outcome_policy import DeliveryState

MAX_REASON_TEXT = 500  # anchor refuses longer texts; a longer one here is cut, not refused
_REASON_PREFIX = "REVOCATION_REASON_"
_CERTIFICATE_ID = re.compile(r"[A-Za-z0-9-]{1,36}")  # ids reach URLs and Message-IDs

# how each reason reads in the notice ("… because it was {words}")
REASON_WORDS = {
    "superseded": "replaced by a corrected certificate",
    "issued_in_error": "issued in error",
    "data_correction": "its data is being corrected",
    "withdrawn": "withdrawn by the issuer",
    "other": "revoked by the issuer",
}


class UnusableRevocation(ValueError):
    """A "certs.revoked" payload notify cannot use: terminated, never retried."""


@dataclass(frozen=True, slots=True)
class RevocationFacts:
    """What a notice says about one revocation."""

    reason: str  # a REASON_WORDS key
    reason_text: str = ""  # the issuer's words, as given (escaped where shown)
    replaced_by: str = ""  # a reissue: the replacing certificate's id
    revoked_at: datetime | None = None

    @property
    def replaced(self) -> bool:
        return bool(self.replaced_by)


@dataclass(frozen=True, slots=True)
class RevokedCertificate:
    certificate_id: str
    facts: RevocationFacts


def reason_name(value: int) -> str:
    """certificate_pb2.RevocationReason value → "superseded" …; "other" for unknown ones."""
    try:
        name = certificate_pb2.RevocationReason.Name(value)
    except ValueError:
        return "other"
    if name.endswith("UNSPECIFIED"):
        return "other"
    return name.removeprefix(_REASON_PREFIX).lower()


def read_revoked(payload: bytes) -> tuple[str, list[RevokedCertificate]]:
    """A "certs.revoked" payload as (revocation window id, certificates); raises
    UnusableRevocation for one that is not a usable CertificatesRevokedEvent."""
    try:
        event = events_pb2.CertificatesRevokedEvent.FromString(payload)
    except Exception as exc:
        raise UnusableRevocation(f"not a CertificatesRevokedEvent: {exc}") from exc
    if not event.certificates:
        raise UnusableRevocation("no certificates")
    revoked = []
    for c in event.certificates:
        if not _CERTIFICATE_ID.fullmatch(c.certificate_id):
            raise UnusableRevocation(f"certificate id {c.certificate_id[:40]!r} is not an id")
        if c.replaced_by_certificate_id and not _CERTIFICATE_ID.fullmatch(
            c.replaced_by_certificate_id
        ):
            raise UnusableRevocation(
                f"certificate {c.certificate_id}: replacement "
                f"{c.replaced_by_certificate_id[:40]!r} is not an id"
            )
        revoked.append(
            RevokedCertificate(
                c.certificate_id,
                RevocationFacts(
                    reason=reason_name(c.reason),
                    reason_text=c.reason_text[:MAX_REASON_TEXT],
                    replaced_by=c.replaced_by_certificate_id,
                    revoked_at=(
                        c.revoke_time.ToDatetime(tzinfo=UTC) if c.HasField("revoke_time") else None
                    ),
                ),
            )
        )
    return event.revocation_window_id[:64], revoked


class NoticeDecision(StrEnum):
    """What one revoked certificate's recipient gets."""

    NOTICE = "notice"  # a notice delivery is created (or exists: unique per kind)
    WAIT = "wait"  # the first email is still on its way: decided once it ends
    UNKNOWN = "unknown"  # notify holds no content for it
    NOT_EMAILED = "not_emailed"  # no first email, or it never reached the recipient
    SUPPRESSED = "suppressed"  # the address is on the issuer's suppression list


_ON_ITS_WAY = (DeliveryState.PENDING, DeliveryState.SCHEDULED, DeliveryState.SENDING)


def decide_notice(
    *, known: bool, first_email: DeliveryState | None, suppressed: bool
) -> NoticeDecision:
    """`first_email`: the state of the certificate's ISSUED delivery (None: there is none)."""
    if not known:
        return NoticeDecision.UNKNOWN
    if first_email in _ON_ITS_WAY:
        return NoticeDecision.WAIT
    if first_email is not DeliveryState.SENT:
        return NoticeDecision.NOT_EMAILED
    if suppressed:
        return NoticeDecision.SUPPRESSED
    return NoticeDecision.NOTICE


@dataclass(frozen=True, slots=True)
class RevocationsTaken:
    """What storing one event did: notices created, and the certificates by decision."""

    created: int
    decisions: dict[str, NoticeDecision]

    def among(self, decision: NoticeDecision) -> list[str]:
        return [cid for cid, d in self.decisions.items() if d is decision]

    @property
    def complete(self) -> bool:
        """Nothing waits for its first email: the event may be acked."""
        return not self.among(NoticeDecision.WAIT)


def notice_subject(title: str, facts: RevocationFacts) -> str:
    """The Subject: nothing of the issuer's text, only the (header-checked) title."""
    return f'Your certificate "{title}" has been {"replaced" if facts.replaced else "revoked"}'


def reason_words(facts: RevocationFacts) -> str:
    return REASON_WORDS.get(facts.reason, REASON_WORDS["other"])


def verify_url(base_url: str, certificate_id: str) -> str:
    return f"{base_url.rstrip('/')}/verify/{certificate_id}"


def revoked_on(facts: RevocationFacts) -> str:
    return "" if facts.revoked_at is None else facts.revoked_at.date().isoformat()


def store_rows(revoked: Sequence[RevokedCertificate], known: set[str]) -> list[dict[str, object]]:
    """notify_revocations rows for the certificates notify knows (the first event wins)."""
    rows: dict[str, dict[str, object]] = {}
    for r in revoked:
        if r.certificate_id in known:
            rows.setdefault(
                r.certificate_id,
                {
                    "certificate_id": r.certificate_id,
                    "reason": r.facts.reason,
                    "reason_text": r.facts.reason_text,
                    "replaced_by": r.facts.replaced_by,
                    "revoked_at": r.facts.revoked_at,
                },
            )
    return list(rows.values())
