"""The outbox messages that announce a stored batch (pure: no I/O).

Each certificate goes out twice: on "certs.issued" (id, leaf, salt, credential: anchor and
verify; no email address) and on "certs.recipients" (what notify needs to address and render
its email). Many certificates ride in one message, but a message stays well under NATS's 1 MB
payload limit whatever the certificates hold: a chunk closes at `per_message` certificates or
at `max_bytes`, whichever comes first (20 custom fields of 1,000 characters make a credential
of ~90 KB, so a count alone cannot bound a message).
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from certflow.core.issuance import PlannedCertificate
from certflow.platform.bus import SUBJECT_ISSUED, SUBJECT_RECIPIENTS
from certflow.v1 import events_pb2

CERTIFICATES_PER_MESSAGE = 250
# half of NATS's default max_payload (1 MiB): room for headers and a safe margin
MAX_MESSAGE_BYTES = 512 * 1024
_FIELD_OVERHEAD = 6  # a repeated field's tag and length prefix, at most


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    subject: str
    msg_id: str  # Nats-Msg-Id: a re-publish of the same row is deduplicated
    payload: bytes


def issued_leaf(certificate: PlannedCertificate) -> events_pb2.IssuedLeaf:
    return events_pb2.IssuedLeaf(
        certificate_id=certificate.certificate_id,
        leaf_hash=certificate.leaf_hash,
        leaf_salt=certificate.leaf_salt,
        document=certificate.canonical_document,
    )


def recipient(certificate: PlannedCertificate, issuer_name: str) -> events_pb2.CertificateRecipient:
    content = certificate.content
    return events_pb2.CertificateRecipient(
        certificate_id=certificate.certificate_id,
        recipient_name=content.recipient_name,
        recipient_email=content.recipient_email,
        title=content.title,
        completion_date=content.completion_date.isoformat(),
        issuer_name=issuer_name,
        document=certificate.canonical_document,
        leaf_salt=certificate.leaf_salt,
        leaf_hash=certificate.leaf_hash,
    )


def announce(
    batch_id: str,
    certificates: Sequence[PlannedCertificate],
    *,
    issuer_name: str,
    per_message: int = CERTIFICATES_PER_MESSAGE,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> list[OutboxMessage]:
    """The "certs.issued" and "certs.recipients" messages of one batch, chunk by chunk (the
    same certificates in issued:<batch>:<n> and recipients:<batch>:<n>)."""
    messages: list[OutboxMessage] = []
    recipients = [recipient(c, issuer_name) for c in certificates]
    for index, (start, end) in enumerate(_chunks(recipients, per_message, max_bytes)):
        issued = events_pb2.CertificatesIssuedEvent(
            batch_id=batch_id, leaves=[issued_leaf(c) for c in certificates[start:end]]
        )
        addressed = events_pb2.CertificateRecipientsEvent(
            batch_id=batch_id, recipients=recipients[start:end]
        )
        messages.append(
            OutboxMessage(SUBJECT_ISSUED, f"issued:{batch_id}:{index}", issued.SerializeToString())
        )
        messages.append(
            OutboxMessage(
                SUBJECT_RECIPIENTS, f"recipients:{batch_id}:{index}", addressed.SerializeToString()
            )
        )
    return messages


def _chunks(
    recipients: Sequence[events_pb2.CertificateRecipient], per_message: int, max_bytes: int
) -> Iterator[tuple[int, int]]:
    """[start, end) ranges by the recipients' size: a recipient carries everything an issued
    leaf does and more, so the "certs.issued" message of a range is the smaller of the two."""
    start, size = 0, 0
    for index, item in enumerate(recipients):
        item_size = item.ByteSize() + _FIELD_OVERHEAD
        if index > start and (index - start >= per_message or size + item_size > max_bytes):
            yield start, index
            start, size = index, 0
        size += item_size
    if start < len(recipients):
        yield start, len(recipients)
