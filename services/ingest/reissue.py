"""Pure: what a reissue (ReissueCertificate) asks for. The new certificate is the old one's
content with the corrections applied, naming the old one in its credential (`replaces`); the
old one's revocation (reason SUPERSEDED) is asked of anchor by a "certs.reissued" event stored
in ingest's outbox in the SAME transaction as the new certificate, so a crash between the two
steps cannot issue the new one and leave the old one valid (a call to anchor's gRPC after the
commit could be lost that way)."""

import hashlib
from collections.abc import Mapping
from datetime import date
from typing import Any

import orjson

from certflow.core.errors import invalid_field
from certflow.platform.bus import SUBJECT_REISSUED
from certflow.v1 import events_pb2
from services.ingest.announcements import OutboxMessage

MAX_REASON_TEXT = 500
CORRECTABLE = ("name", "email", "title", "completion_date", "expiry_date")


def check_reason_text(text: str) -> None:
    if len(text) > MAX_REASON_TEXT or "\x00" in text:
        raise invalid_field(
            "reason_text", f"{len(text)} characters; at most {MAX_REASON_TEXT}, no NUL"
        )


def corrected_fields(
    *,
    recipient_name: str,
    recipient_email: str,
    title: str,
    completion_date: date,
    document: bytes,
    corrections: Mapping[str, str],
) -> tuple[dict[str, str], dict[str, str]]:
    """(fields, custom fields) of the new certificate: the old certificate's, each field given a
    non-empty correction taking it. The expiry date and custom fields come from the old
    credential, as issued."""
    credential: dict[str, Any] = orjson.loads(document)
    valid_until = credential.get("validUntil")
    subject = credential.get("credentialSubject") or {}
    custom = subject.get("customFields") if isinstance(subject, dict) else None
    fields = {
        "name": recipient_name,
        "email": recipient_email,
        "title": title,
        "completion_date": completion_date.isoformat(),
        "expiry_date": valid_until[:10] if isinstance(valid_until, str) else "",
    }
    fields.update({k: v for k, v in corrections.items() if k in CORRECTABLE and v})
    return fields, {str(k): str(v) for k, v in (custom or {}).items()}


def reissue_key(replaced: str) -> str:
    """The new certificate's dedupe key: "the replacement of that certificate", whatever its
    content (its content's key would clash with the old one's: a corrected name keeps email,
    title and date). A certificate is reissued once: a second, different reissue would leave
    two valid replacements while the old one names only the first; the replacement itself is
    what to reissue then."""
    return hashlib.sha256(f"replaces\x1f{replaced}".encode()).hexdigest()


def reissued_message(replaced: str, replacement: str, reason_text: str) -> OutboxMessage:
    return OutboxMessage(
        SUBJECT_REISSUED,
        f"reissued:{replacement}",
        events_pb2.CertificateReissuedEvent(
            certificate_id=replaced,
            replaced_by_certificate_id=replacement,
            reason_text=reason_text,
        ).SerializeToString(),
    )
