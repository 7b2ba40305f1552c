"""The outbox messages of a batch: both subjects, what each carries, and their size."""

from certflow.platform.bus import SUBJECT_ISSUED, SUBJECT_RECIPIENTS
from certflow.v1 import events_pb2
from services.ingest.announcements import CERTIFICATES_PER_MESSAGE, announce
from services.ingest.settings import IngestSettings
from tests.unit.ingest.planning import ISSUER, largest, realistic

NATS_MAX_PAYLOAD = 1024 * 1024


def test_the_default_is_250_certificates_per_message() -> None:
    assert CERTIFICATES_PER_MESSAGE == 250
    assert IngestSettings.model_fields["leaves_per_message"].default == 250


def test_250_realistic_certificates_serialise_well_under_1_mb_on_both_subjects() -> None:
    certificates = realistic(250)
    messages = announce("b" * 36, certificates, issuer_name=ISSUER.name)
    assert [m.subject for m in messages] == [SUBJECT_ISSUED, SUBJECT_RECIPIENTS]  # one each
    for message in messages:
        assert len(message.payload) < NATS_MAX_PAYLOAD // 2, (message.subject, len(message.payload))
    issued = events_pb2.CertificatesIssuedEvent.FromString(messages[0].payload)
    recipients = events_pb2.CertificateRecipientsEvent.FromString(messages[1].payload)
    assert len(issued.leaves) == len(recipients.recipients) == 250


def test_the_largest_certificates_validation_allows_still_fit_in_a_message() -> None:
    certificates = largest(40)
    messages = announce("batch", certificates, issuer_name=ISSUER.name)
    assert len(messages) > 2  # split by size, not by count
    issued_ids: list[list[str]] = []
    recipient_ids: list[list[str]] = []
    for message in messages:
        assert len(message.payload) < NATS_MAX_PAYLOAD, (message.subject, len(message.payload))
        if message.subject == SUBJECT_ISSUED:
            event = events_pb2.CertificatesIssuedEvent.FromString(message.payload)
            issued_ids.append([leaf.certificate_id for leaf in event.leaves])
        else:
            addressed = events_pb2.CertificateRecipientsEvent.FromString(message.payload)
            recipient_ids.append([r.certificate_id for r in addressed.recipients])
    assert issued_ids == recipient_ids  # chunk n of both subjects: the same certificates
    assert [cid for chunk in issued_ids for cid in chunk] == [
        c.certificate_id for c in certificates
    ]


def test_chunks_close_at_the_count_and_are_named_by_batch_and_index() -> None:
    certificates = realistic(5)
    messages = announce("b1", certificates, issuer_name=ISSUER.name, per_message=2)
    assert [m.msg_id for m in messages] == [
        "issued:b1:0",
        "recipients:b1:0",
        "issued:b1:1",
        "recipients:b1:1",
        "issued:b1:2",
        "recipients:b1:2",
    ]


def test_issued_leaves_carry_the_credential_and_no_email_recipients_carry_the_address() -> None:
    (certificate,) = realistic(1)
    issued_message, recipients_message = announce("b1", [certificate], issuer_name=ISSUER.name)
    (leaf,) = events_pb2.CertificatesIssuedEvent.FromString(issued_message.payload).leaves
    assert leaf.certificate_id == certificate.certificate_id
    assert (leaf.leaf_hash, leaf.leaf_salt) == (certificate.leaf_hash, certificate.leaf_salt)
    assert leaf.document == certificate.canonical_document
    assert certificate.content.recipient_email.encode() not in issued_message.payload
    (recipient,) = events_pb2.CertificateRecipientsEvent.FromString(
        recipients_message.payload
    ).recipients
    assert recipient.recipient_email == certificate.content.recipient_email
    assert recipient.recipient_name == certificate.content.recipient_name
    assert recipient.title == certificate.content.title
    assert recipient.completion_date == "2026-06-30"
    assert recipient.issuer_name == ISSUER.name
    assert recipient.document == certificate.canonical_document
    assert (recipient.leaf_salt, recipient.leaf_hash) == (
        certificate.leaf_salt,
        certificate.leaf_hash,
    )
