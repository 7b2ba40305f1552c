"""Revocation notices without servers: who gets one (decide_notice), the "certs.revoked" payload
read and refused, the notice's subject and body for a revocation and a reissue (the issuer's
hostile text escaped, never in a header, no attachment), and how the consumer settles messages
(term + count poison, nak on a failed write or a first email still on its way, ack otherwise,
nothing at all when notices are off)."""

import email
import email.policy
from datetime import UTC, datetime

import pytest

from certflow.platform.proto_time import to_timestamp
from certflow.v1 import certificate_pb2, events_pb2
from services.notify.branding import Branding
from services.notify.outcome_policy import DeliveryState
from services.notify.rendering import CertificateEmail, CertificateMessages, Sender, UnsafeHeader
from services.notify.revocation_consumer import RevocationConsumer
from services.notify.revocation_notices import (
    NoticeDecision,
    RevocationFacts,
    UnusableRevocation,
    decide_notice,
    notice_subject,
    read_revoked,
)
from tests.unit.notify.fakes import T0, FakeMessage, InMemoryStore, Row, recipient

OLD = "0b3c1f9e-5d8a-4c2b-9f1e-1a2b3c4d5e6f"
NEW = "7f6e5d4c-3b2a-4190-8e7d-6c5b4a392817"
REVOKED_AT = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
WITHDRAWN = certificate_pb2.REVOCATION_REASON_WITHDRAWN


# ---- who gets a notice ----


@pytest.mark.parametrize(
    ("known", "first_email", "suppressed", "expected"),
    [
        (False, None, False, NoticeDecision.UNKNOWN),
        (False, DeliveryState.SENT, False, NoticeDecision.UNKNOWN),
        (True, DeliveryState.SENT, False, NoticeDecision.NOTICE),
        (True, DeliveryState.SENT, True, NoticeDecision.SUPPRESSED),
        (True, None, False, NoticeDecision.NOT_EMAILED),  # never anchored, or cancelled
        (True, DeliveryState.BOUNCED, False, NoticeDecision.NOT_EMAILED),
        (True, DeliveryState.FAILED, False, NoticeDecision.NOT_EMAILED),
        (True, DeliveryState.SUPPRESSED, False, NoticeDecision.NOT_EMAILED),
        (True, DeliveryState.PENDING, False, NoticeDecision.WAIT),
        (True, DeliveryState.SCHEDULED, False, NoticeDecision.WAIT),
        (True, DeliveryState.SENDING, True, NoticeDecision.WAIT),
    ],
)
def test_only_a_recipient_who_received_the_certificate_gets_a_notice(
    known: bool, first_email: DeliveryState | None, suppressed: bool, expected: NoticeDecision
) -> None:
    assert decide_notice(known=known, first_email=first_email, suppressed=suppressed) is expected


# ---- the event ----


def revoked_event(*certificates: events_pb2.RevokedCertificate) -> bytes:
    return events_pb2.CertificatesRevokedEvent(
        revocation_window_id="rw-1",
        chain_id=31337,
        transaction_hash="0x" + "ab" * 32,
        block_number=9,
        certificates=list(certificates),
    ).SerializeToString()


def revoked(
    certificate_id: str = OLD,
    reason: certificate_pb2.RevocationReason = WITHDRAWN,
    text: str = "wrong cohort",
    replaced_by: str = "",
) -> events_pb2.RevokedCertificate:
    return events_pb2.RevokedCertificate(
        certificate_id=certificate_id,
        batch_id="batch-1",
        reason=reason,
        reason_text=text,
        revoke_time=to_timestamp(REVOKED_AT),
        replaced_by_certificate_id=replaced_by,
    )


def test_the_event_is_read_with_reason_text_time_and_replacement() -> None:
    window, certificates = read_revoked(
        revoked_event(
            revoked(),
            revoked(NEW, certificate_pb2.REVOCATION_REASON_SUPERSEDED, "", replaced_by=OLD),
            revoked("c-3", certificate_pb2.REVOCATION_REASON_UNSPECIFIED, ""),  # shown as "other"
        )
    )
    assert window == "rw-1"
    first, second, third = certificates
    assert (first.certificate_id, first.facts.reason, first.facts.reason_text) == (
        OLD,
        "withdrawn",
        "wrong cohort",
    )
    assert first.facts.revoked_at == REVOKED_AT and not first.facts.replaced
    assert second.facts.reason == "superseded" and second.facts.replaced_by == OLD
    assert third.facts.reason == "other"


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\x00 not protobuf",
        revoked_event(),  # no certificates
        revoked_event(revoked("")),
        revoked_event(revoked("x" * 37)),
        revoked_event(revoked("a<b>")),
        revoked_event(revoked(replaced_by="../../evil")),
    ],
)
def test_an_unusable_event_is_refused(payload: bytes) -> None:
    with pytest.raises(UnusableRevocation):
        read_revoked(payload)


def test_an_overlong_reason_text_is_cut_not_refused() -> None:
    _, (certificate,) = read_revoked(revoked_event(revoked(text="x" * 900)))
    assert len(certificate.facts.reason_text) == 500


# ---- the email ----

SENDER = Sender("certificates@uni.example", "https://verify.uni.example/")
BRANDING = Branding(name="Example University", support_email="help@uni.example")
HOSTILE = '<script>alert(1)</script> & "quotes"\r\nBcc: victim@evil.example'


def notice(facts: RevocationFacts, title: str = "Data Science 101") -> email.message.Message:
    rendered = CertificateMessages(SENDER, BRANDING).render(
        CertificateEmail(
            certificate_id=OLD,
            message_id="<n1@uni.example>",
            recipient_name="Ada Lovelace",
            recipient_email="ada@example.org",
            issuer_name="Example University",
            title=title,
            completion_date="2026-11-20",
            document={},
            revocation=facts,
        )
    )
    return email.message_from_bytes(rendered.data, policy=email.policy.default)


def parts(message: email.message.Message) -> dict[str, str]:
    found = {}
    for part in message.walk():
        if part.get_content_maintype() != "multipart":
            found[part.get_content_type()] = part.get_content()  # type: ignore[attr-defined]
    return found


def test_a_revocation_notice_says_revoked_why_and_has_no_attachment() -> None:
    message = notice(RevocationFacts("withdrawn", "wrong cohort", revoked_at=REVOKED_AT))
    assert message["Subject"] == 'Your certificate "Data Science 101" has been revoked'
    assert message["To"] == "Ada Lovelace <ada@example.org>"
    body = parts(message)
    assert set(body) == {"text/plain", "text/html"}  # no attachment
    text = body["text/plain"]
    assert "Example University has revoked your certificate" in text
    assert "withdrawn by the issuer" in text and "wrong cohort" in text
    assert "(since 2026-11-29)" in text
    assert f"https://verify.uni.example/verify/{OLD}" in text
    assert "corrected certificate" not in text
    assert "withdrawn by the issuer" in body["text/html"]


def test_a_reissue_notice_says_replaced_and_links_the_new_certificate() -> None:
    message = notice(RevocationFacts("superseded", "Name misspelt", replaced_by=NEW))
    assert message["Subject"] == 'Your certificate "Data Science 101" has been replaced'
    body = parts(message)
    new_link = f"https://verify.uni.example/verify/{NEW}"
    assert new_link in body["text/plain"] and f'href="{new_link}"' in body["text/html"]
    assert "replaced by a corrected certificate" in body["text/plain"]
    assert "Name misspelt" in body["text/plain"]


def test_the_issuers_hostile_text_is_escaped_and_never_reaches_a_header() -> None:
    message = notice(RevocationFacts("other", HOSTILE))
    assert message["Bcc"] is None
    assert all("victim" not in str(value) for value in message.values())
    html = parts(message)["text/html"]
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quotes&#34;" in html
    assert HOSTILE in parts(message)["text/plain"]  # plain text is not markup


def test_a_title_that_could_inject_a_header_is_refused() -> None:
    with pytest.raises(UnsafeHeader):
        notice(RevocationFacts("withdrawn"), title="Course\r\nBcc: victim@evil.example")


def test_the_subject_never_carries_the_issuers_text() -> None:
    subject = notice_subject("T", RevocationFacts("other", reason_text="secret words"))
    assert "secret" not in subject


# ---- the consumer ----


def consumer(store: InMemoryStore, *, enabled: bool = True) -> RevocationConsumer:
    return RevocationConsumer(store, clock=lambda: T0, enabled=enabled)


def with_first_email(store: InMemoryStore, state: DeliveryState) -> None:
    store.content[OLD] = recipient(OLD, "ada@example.org")
    store.rows["d1"] = Row("d1", OLD, "batch-1", state=state)


async def test_a_sent_certificate_gets_one_notice_and_a_redelivery_adds_none() -> None:
    store = InMemoryStore()
    with_first_email(store, DeliveryState.SENT)
    wakes: list[int] = []
    taking = RevocationConsumer(store, clock=lambda: T0, deliveries_created=lambda: wakes.append(1))
    message = FakeMessage("certs.revoked", revoked_event(revoked()))
    await taking.take_revoked(message)
    await taking.take_revoked(message.redelivered())
    assert message.settled == ["ack"] and store.noticed == {OLD} and wakes == [1]


async def test_an_unknown_certificate_is_acked_with_no_notice() -> None:
    store = InMemoryStore()
    message = FakeMessage("certs.revoked", revoked_event(revoked()))
    await consumer(store).take_revoked(message)
    assert message.settled == ["ack"] and not store.noticed and not store.revocations


async def test_a_first_email_on_its_way_makes_the_event_come_back() -> None:
    store = InMemoryStore()
    with_first_email(store, DeliveryState.SCHEDULED)
    message = FakeMessage("certs.revoked", revoked_event(revoked()))
    await consumer(store).take_revoked(message)
    assert message.settled == ["nak"] and message.nak_delays[0] > 0 and not store.noticed
    store.rows["d1"].state = DeliveryState.SENT
    again = message.redelivered()
    await consumer(store).take_revoked(again)
    assert again.settled == ["ack"] and store.noticed == {OLD}


async def test_a_failed_write_is_a_nak_with_a_growing_delay() -> None:
    store = InMemoryStore(down=True)
    taking = consumer(store)
    first, second = (FakeMessage("certs.revoked", revoked_event(revoked())) for _ in range(2))
    await taking.take_revoked(first)
    await taking.take_revoked(second)
    assert first.settled == second.settled == ["nak"]
    assert second.nak_delays[0] > first.nak_delays[0]


async def test_a_poison_message_is_terminated_and_counted() -> None:
    taking = consumer(InMemoryStore())
    message = FakeMessage("certs.revoked", b"\xff not an event")
    await taking.take_revoked(message)
    assert message.settled == ["term"] and taking.poison_messages == 1


async def test_notices_off_acks_and_stores_nothing() -> None:
    store = InMemoryStore()
    with_first_email(store, DeliveryState.SENT)
    message = FakeMessage("certs.revoked", revoked_event(revoked()))
    await consumer(store, enabled=False).take_revoked(message)
    assert message.settled == ["ack"] and not store.noticed and not store.revocations
