"""The outbox messages of a batch: references stored in the upload, events rendered at publish
time — both subjects, what each carries, their order and their size."""

import pytest

from certflow.platform.bus import SUBJECT_ISSUED, SUBJECT_LEAVES, SUBJECT_RECIPIENTS
from certflow.v1 import events_pb2
from services.ingest.announcements import (
    CERTIFICATES_PER_MESSAGE,
    AnnouncementReference,
    OutboxMessage,
    announce,
    announced,
    recipient_size,
    reference_of,
    render,
)
from services.ingest.settings import IngestSettings
from tests.unit.ingest.planning import ISSUER, largest, realistic

NATS_MAX_PAYLOAD = 1024 * 1024


def rendered(messages: list[OutboxMessage], certificates) -> list[OutboxMessage]:
    stored = {c.certificate_id: announced(c) for c in certificates}
    out = []
    for m in messages:
        reference = reference_of(m.payload)
        assert reference is not None
        out.append(OutboxMessage(m.subject, m.msg_id, render(m.subject, reference, stored)))
    return out


def test_the_default_is_250_certificates_per_message() -> None:
    assert CERTIFICATES_PER_MESSAGE == 250
    assert IngestSettings.model_fields["leaves_per_message"].default == 250


def test_the_upload_stores_small_references_not_the_credentials() -> None:
    certificates = realistic(250)
    messages = announce("b" * 36, certificates, issuer_name=ISSUER.name)
    credentials = sum(len(c.canonical_document) for c in certificates)
    assert sum(len(m.payload) for m in messages) < credentials / 10
    for certificate in certificates[:5]:
        assert certificate.content.recipient_email.encode() not in messages[1].payload


def test_250_realistic_certificates_render_well_under_1_mb_on_every_subject() -> None:
    certificates = realistic(250)
    messages = rendered(announce("b" * 36, certificates, issuer_name=ISSUER.name), certificates)
    # one each
    assert [m.subject for m in messages] == [SUBJECT_LEAVES, SUBJECT_ISSUED, SUBJECT_RECIPIENTS]
    for message in messages:
        assert len(message.payload) < NATS_MAX_PAYLOAD // 2, (message.subject, len(message.payload))
    leaves = events_pb2.CertificatesIssuedEvent.FromString(messages[0].payload)
    issued = events_pb2.CertificatesIssuedEvent.FromString(messages[1].payload)
    recipients = events_pb2.CertificateRecipientsEvent.FromString(messages[2].payload)
    assert len(leaves.leaves) == len(issued.leaves) == len(recipients.recipients) == 250
    # anchor's leaves: ids and hashes, about 80 bytes a certificate
    assert len(messages[0].payload) < 250 * 90


def test_the_size_estimate_bounds_the_rendered_recipient() -> None:
    for certificate in realistic(20) + largest(5):
        (message,) = [
            m
            for m in rendered(
                announce("b" * 36, [certificate], issuer_name=ISSUER.name), [certificate]
            )
            if m.subject == SUBJECT_RECIPIENTS
        ]
        event = events_pb2.CertificateRecipientsEvent.FromString(message.payload)
        assert event.recipients[0].ByteSize() + 6 <= recipient_size(certificate, ISSUER.name)


def test_the_largest_certificates_validation_allows_still_fit_in_a_message() -> None:
    certificates = largest(40)
    messages = rendered(announce("batch", certificates, issuer_name=ISSUER.name), certificates)
    assert len(messages) > 3  # split by size, not by count
    leaf_ids: list[list[str]] = []
    issued_ids: list[list[str]] = []
    recipient_ids: list[list[str]] = []
    for message in messages:
        assert len(message.payload) < NATS_MAX_PAYLOAD, (message.subject, len(message.payload))
        if message.subject == SUBJECT_RECIPIENTS:
            addressed = events_pb2.CertificateRecipientsEvent.FromString(message.payload)
            recipient_ids.append([r.certificate_id for r in addressed.recipients])
        else:
            event = events_pb2.CertificatesIssuedEvent.FromString(message.payload)
            ids = [leaf.certificate_id for leaf in event.leaves]
            (leaf_ids if message.subject == SUBJECT_LEAVES else issued_ids).append(ids)
    # chunk n of every subject: the same certificates
    assert leaf_ids == issued_ids == recipient_ids
    assert [cid for chunk in issued_ids for cid in chunk] == [
        c.certificate_id for c in certificates
    ]


def test_leaves_then_credentials_then_recipients_each_named_by_batch_and_index() -> None:
    certificates = realistic(5)
    messages = announce("b1", certificates, issuer_name=ISSUER.name, per_message=2)
    assert [m.msg_id for m in messages] == [
        "leaves:b1:0",
        "leaves:b1:1",
        "leaves:b1:2",
        "issued:b1:0",
        "issued:b1:1",
        "issued:b1:2",
        "recipients:b1:0",
        "recipients:b1:1",
        "recipients:b1:2",
    ]


def test_what_each_subject_carries_and_only_recipients_carry_the_address() -> None:
    (certificate,) = realistic(1)
    leaves_message, issued_message, recipients_message = rendered(
        announce("b1", [certificate], issuer_name=ISSUER.name), [certificate]
    )
    (bare,) = events_pb2.CertificatesIssuedEvent.FromString(leaves_message.payload).leaves
    assert (bare.certificate_id, bare.leaf_hash) == (
        certificate.certificate_id,
        certificate.leaf_hash,
    )
    assert (bare.leaf_salt, bare.document) == (b"", b"")
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


def test_a_rendered_event_stored_by_an_earlier_version_goes_out_as_it_is() -> None:
    event = events_pb2.CertificatesIssuedEvent(batch_id="b1").SerializeToString()
    assert reference_of(event) is None


def test_a_reference_to_a_certificate_that_is_not_stored_is_an_error_not_a_short_event() -> None:
    (certificate,) = realistic(1)
    reference = AnnouncementReference("b1", ISSUER.name, (certificate.certificate_id, "gone"))
    with pytest.raises(LookupError, match="gone"):
        render(SUBJECT_ISSUED, reference, {certificate.certificate_id: announced(certificate)})


def test_an_unknown_reference_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown outbox reference"):
        reference_of(b'{"kind": "something/else"}')
