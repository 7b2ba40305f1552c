"""The outbox messages that announce a stored batch (pure: no I/O).

Each certificate goes out three times, each subject carrying what its consumer needs: on
"certs.leaves" (id and leaf hash: anchor), on "certs.issued" (id, leaf, salt, credential:
verify; no email address) and on "certs.recipients" (what notify needs to address and render
its email). Many certificates ride in one message, but a message stays well under NATS's 1 MB
payload limit whatever the certificates hold: a chunk closes at `per_message` certificates or
at `max_bytes`, whichever comes first (20 custom fields of 1,000 characters make a credential
of ~90 KB, so a count alone cannot bound a message).

The upload's transaction stores only a *reference* per message (batch, issuer name and the
certificate ids of the chunk); the outbox relay renders the event from ingest's own
certificate rows as it publishes. Those rows are written in the same transaction and never
change, so the published bytes are exactly what an eager copy would have held — without
writing every credential twice more in the upload (26 MB per 10,000 certificates).

A batch's "certs.leaves" messages are queued first (80 bytes a certificate: anchoring starts
at once), then its "certs.issued", then its "certs.recipients" (notify waits for the anchoring
anyway).
"""

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from certflow.core.issuance import PlannedCertificate
from certflow.platform.bus import SUBJECT_ISSUED, SUBJECT_LEAVES, SUBJECT_RECIPIENTS
from certflow.v1 import events_pb2

CERTIFICATES_PER_MESSAGE = 250
# half of NATS's default max_payload (1 MiB): room for headers and a safe margin
MAX_MESSAGE_BYTES = 512 * 1024
# what a recipient adds beyond its variable-length fields: tags and length prefixes of twelve
# fields, two 32-byte hashes, a 36-character id, an ISO date, a flag and a timestamp, with
# room to spare
_FIXED_RECIPIENT_BYTES = 160
_REFERENCE_KIND = "certflow.ingest.announcement/1"


@dataclass(frozen=True, slots=True)
class DeliveryTiming:
    """When a batch's emails may go (notify decides per recipient): only in business hours in
    the recipient's zone, and no earlier than `send_time`."""

    business_hours: bool = False
    send_time: datetime | None = None


SEND_WHEN_ANCHORED = DeliveryTiming()


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    subject: str
    msg_id: str  # Nats-Msg-Id: a re-publish of the same row is deduplicated
    payload: bytes


@dataclass(frozen=True, slots=True)
class AnnouncementReference:
    """What an outbox row stores for one message: the event is rendered from these rows."""

    batch_id: str
    issuer_name: str
    certificate_ids: tuple[str, ...]
    timing: DeliveryTiming = SEND_WHEN_ANCHORED  # the batch's, stored with its references

    def encode(self) -> bytes:
        data: dict[str, object] = {
            "kind": _REFERENCE_KIND,
            "batch_id": self.batch_id,
            "issuer_name": self.issuer_name,
            "certificate_ids": self.certificate_ids,
        }
        if self.timing.business_hours:  # absent keys: rows written before timing existed
            data["business_hours"] = True
        if self.timing.send_time is not None:
            data["send_time"] = self.timing.send_time.isoformat()
        return json.dumps(data, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class AnnouncedCertificate:
    """A stored certificate as an announcement renders it."""

    certificate_id: str
    recipient_name: str
    recipient_email: str
    title: str
    completion_date: str  # ISO 8601
    document: bytes  # RFC 8785 bytes of the credential without its anchor proof
    leaf_salt: bytes
    leaf_hash: bytes
    time_zone: str = ""  # IANA name, "" for notify's default


def reference_of(payload: bytes) -> AnnouncementReference | None:
    """The reference an outbox row holds, or None for a row holding a rendered event (a
    serialised event starts with field 1's tag, 0x0A, never with "{")."""
    if not payload.startswith(b"{"):
        return None
    data = json.loads(payload)
    if data.get("kind") != _REFERENCE_KIND:
        raise ValueError(f"unknown outbox reference kind {data.get('kind')!r}")
    send_time = data.get("send_time")
    return AnnouncementReference(
        batch_id=data["batch_id"],
        issuer_name=data["issuer_name"],
        certificate_ids=tuple(data["certificate_ids"]),
        timing=DeliveryTiming(
            business_hours=bool(data.get("business_hours", False)),
            send_time=datetime.fromisoformat(send_time) if send_time else None,
        ),
    )


def render(
    subject: str,
    reference: AnnouncementReference,
    certificates: Mapping[str, AnnouncedCertificate],
) -> bytes:
    """The event of one reference, its certificates in the reference's order."""
    missing = [cid for cid in reference.certificate_ids if cid not in certificates]
    if missing:
        raise LookupError(f"announced certificates not stored: {', '.join(missing[:5])}")
    chunk = [certificates[cid] for cid in reference.certificate_ids]
    if subject == SUBJECT_LEAVES:
        return events_pb2.CertificatesIssuedEvent(
            batch_id=reference.batch_id,
            leaves=[
                events_pb2.IssuedLeaf(certificate_id=c.certificate_id, leaf_hash=c.leaf_hash)
                for c in chunk
            ],
        ).SerializeToString()
    if subject == SUBJECT_ISSUED:
        return events_pb2.CertificatesIssuedEvent(
            batch_id=reference.batch_id, leaves=[_issued_leaf(c) for c in chunk]
        ).SerializeToString()
    if subject == SUBJECT_RECIPIENTS:
        return events_pb2.CertificateRecipientsEvent(
            batch_id=reference.batch_id,
            recipients=[_recipient(c, reference.issuer_name, reference.timing) for c in chunk],
        ).SerializeToString()
    raise ValueError(f"no announcement is published on {subject!r}")


def _issued_leaf(certificate: AnnouncedCertificate) -> events_pb2.IssuedLeaf:
    return events_pb2.IssuedLeaf(
        certificate_id=certificate.certificate_id,
        leaf_hash=certificate.leaf_hash,
        leaf_salt=certificate.leaf_salt,
        document=certificate.document,
    )


def _recipient(
    certificate: AnnouncedCertificate, issuer_name: str, timing: DeliveryTiming
) -> events_pb2.CertificateRecipient:
    recipient = events_pb2.CertificateRecipient(
        certificate_id=certificate.certificate_id,
        recipient_name=certificate.recipient_name,
        recipient_email=certificate.recipient_email,
        title=certificate.title,
        completion_date=certificate.completion_date,
        issuer_name=issuer_name,
        document=certificate.document,
        leaf_salt=certificate.leaf_salt,
        leaf_hash=certificate.leaf_hash,
        time_zone=certificate.time_zone,
        business_hours=timing.business_hours,
    )
    if timing.send_time is not None:
        recipient.send_time.FromDatetime(timing.send_time)
    return recipient


def announced(certificate: PlannedCertificate) -> AnnouncedCertificate:
    content = certificate.content
    return AnnouncedCertificate(
        certificate_id=certificate.certificate_id,
        recipient_name=content.recipient_name,
        recipient_email=content.recipient_email,
        title=content.title,
        completion_date=content.completion_date.isoformat(),
        document=certificate.canonical_document,
        leaf_salt=certificate.leaf_salt,
        leaf_hash=certificate.leaf_hash,
        time_zone=content.time_zone,
    )


def announce(
    batch_id: str,
    certificates: Sequence[PlannedCertificate],
    *,
    issuer_name: str,
    per_message: int = CERTIFICATES_PER_MESSAGE,
    max_bytes: int = MAX_MESSAGE_BYTES,
    timing: DeliveryTiming = SEND_WHEN_ANCHORED,
) -> list[OutboxMessage]:
    """The references of a batch's "certs.leaves" messages, then of its "certs.issued", then of
    its "certs.recipients": chunk n of each holds the same certificates (leaves:<batch>:<n>,
    issued:<batch>:<n>, recipients:<batch>:<n>)."""
    references = [
        AnnouncementReference(
            batch_id,
            issuer_name,
            tuple(c.certificate_id for c in certificates[start:end]),
            timing,
        )
        for start, end in _chunks(certificates, issuer_name, per_message, max_bytes)
    ]
    return [
        OutboxMessage(subject, f"{prefix}:{batch_id}:{index}", reference.encode())
        for subject, prefix in (
            (SUBJECT_LEAVES, "leaves"),
            (SUBJECT_ISSUED, "issued"),
            (SUBJECT_RECIPIENTS, "recipients"),
        )
        for index, reference in enumerate(references)
    ]


def recipient_size(certificate: PlannedCertificate, issuer_name: str) -> int:
    """An upper bound of the bytes a certificate adds to its "certs.recipients" message, the
    larger of the two (a recipient carries everything an issued leaf does and more)."""
    content = certificate.content
    return (
        len(certificate.canonical_document)
        + len(content.recipient_name.encode())
        + len(content.recipient_email.encode())
        + len(content.title.encode())
        + len(issuer_name.encode())
        + len(content.time_zone)
        + _FIXED_RECIPIENT_BYTES
    )


def _chunks(
    certificates: Sequence[PlannedCertificate], issuer_name: str, per_message: int, max_bytes: int
) -> Iterator[tuple[int, int]]:
    """[start, end) ranges closing at `per_message` certificates or `max_bytes`."""
    start, size = 0, 0
    for index, certificate in enumerate(certificates):
        item_size = recipient_size(certificate, issuer_name)
        if index > start and (index - start >= per_message or size + item_size > max_bytes):
            yield start, index
            start, size = index, 0
        size += item_size
    if start < len(certificates):
        yield start, len(certificates)
