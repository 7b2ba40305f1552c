"""Revocation notices in notify's store against a real database (SQLite and PostgreSQL): one
notice per revoked certificate whose first email was sent (none twice on a redelivered event,
none for unknown, suppressed, unsent ones; a first email on its way waits), the notice claimed
with its reason and rendered without an attachment, its outcome not announced as the batch's
progress, and a resend of the certificate's email leaving the notice alone."""

import email
import email.policy
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from services.notify import tables
from services.notify.bounces import VerpToken, parse_report
from services.notify.branding import Branding
from services.notify.claims import Outcome
from services.notify.outcome_policy import (
    Accepted,
    DeliveryKind,
    DeliveryState,
    RetryPolicy,
    decide,
)
from services.notify.outcomes import ResendRequest
from services.notify.rendering import CertificateMessages, Sender
from services.notify.revocation_notices import (
    NoticeDecision,
    RevocationFacts,
    RevokedCertificate,
)
from services.notify.store import Deliveries
from tests.integration.notify.seeding import seed_content, window_of
from tests.unit.notify.dsn_samples import postfix_dsn

T0 = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=10)


@pytest.fixture
def sessions(database_url):
    upgrade(database_url, ["notify"])
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def store(sessions):
    return Deliveries(sessions, message_id_domain="uni.example")


def send_all(store: Deliveries, now: datetime) -> list[str]:
    """Claims what is due and records each as accepted; the claimed delivery ids."""
    claim = store.claim(50, now=now, lease_until=now + LEASE)
    store.record(
        [
            Outcome(
                claim.token,
                d.delivery_id,
                decide(Accepted(), attempts=0, policy=RetryPolicy(), now=now),
            )
            for d in claim.deliveries
        ],
        now=now,
    )
    return [d.delivery_id for d in claim.deliveries]


def kinds(sessions) -> list[tuple[str, str, str]]:
    with sessions() as session:
        return sorted(
            session.execute(
                select(tables.Delivery.certificate_id, tables.Delivery.kind, tables.Delivery.state)
            ).all()
        )


def outbox_size(sessions) -> int:
    with sessions() as session:
        return len(session.scalars(select(tables.NotifyOutbox.id)).all())


def revocation(certificate_id: str, **facts) -> RevokedCertificate:
    return RevokedCertificate(certificate_id, RevocationFacts(**{"reason": "withdrawn", **facts}))


def test_only_recipients_who_got_their_certificate_get_one_notice(store, sessions):
    _, (sent, suppressed, waiting, unanchored) = seed_content(
        store, ["a@example.org", "b@example.org", "c@example.org", "d@example.org"]
    )
    store.store_anchored(window_of([sent, suppressed]), now=T0)
    send_all(store, T0)  # the first emails of `sent` and `suppressed` went out
    store.store_anchored(window_of([waiting]), now=T0)  # its email still on its way
    with sessions.begin() as session:  # b@ unsubscribed since
        session.execute(
            insert(tables.Suppression).values(
                key=store._keys.key("Example U", "b@example.org"),
                issuer_name="Example U",
                address_hint="b…@example.org",
                reason="unsubscribed",
                created_at=T0,
            )
        )
    announced_before = outbox_size(sessions)
    unknown = "00000000-0000-4000-8000-000000000000"
    event = [
        revocation(sent, reason_text="wrong cohort"),
        revocation(suppressed),
        revocation(waiting),
        revocation(unanchored),
        revocation(unknown),
    ]
    taken = store.store_revocations(event, now=T0)
    assert taken.created == 1
    assert taken.decisions == {
        sent: NoticeDecision.NOTICE,
        suppressed: NoticeDecision.SUPPRESSED,
        waiting: NoticeDecision.WAIT,
        unanchored: NoticeDecision.NOT_EMAILED,
        unknown: NoticeDecision.UNKNOWN,
    }
    again = store.store_revocations(event, now=T0)  # redelivered
    assert again.created == 0 and again.decisions == taken.decisions
    notices = [k for k in kinds(sessions) if k[1] == DeliveryKind.REVOCATION_NOTICE]
    assert notices == [(sent, DeliveryKind.REVOCATION_NOTICE, DeliveryState.PENDING)]
    with sessions() as session:  # reasons kept for the certificates notify knows
        assert set(session.scalars(select(tables.NotifyRevocation.certificate_id))) == {
            sent,
            suppressed,
            waiting,
            unanchored,
        }

    # the waiting certificate's email goes out; the event comes back and now gives a notice
    send_all(store, T0)
    assert store.store_revocations(event, now=T0).decisions[waiting] is NoticeDecision.NOTICE
    assert outbox_size(sessions) == announced_before + 1  # the first email of `waiting` only


def test_the_notice_is_claimed_with_its_reason_rendered_and_not_announced(store, sessions):
    _, (old,) = seed_content(store, ["ada@example.org"])
    store.store_anchored(window_of([old]), now=T0)
    send_all(store, T0)
    new = "7f6e5d4c-3b2a-4190-8e7d-6c5b4a392817"
    store.store_revocations(
        [revocation(old, reason="superseded", reason_text="Name <b>misspelt</b>", replaced_by=new)],
        now=T0,
    )
    before = outbox_size(sessions)
    claim = store.claim(10, now=T0, lease_until=T0 + LEASE)
    (delivery,) = claim.deliveries
    notice = delivery.email
    assert notice is not None and notice.revocation is not None
    assert notice.revocation.replaced_by == new and notice.recipient_email == "ada@example.org"
    rendered = CertificateMessages(
        Sender("certificates@uni.example", "https://verify.uni.example"), Branding(name="Uni")
    ).render(notice)
    message = email.message_from_bytes(rendered.data, policy=email.policy.default)
    assert message["Subject"] == 'Your certificate "Resilience 101" has been replaced'
    assert not [p for p in message.walk() if p.get_filename()]  # no attachment
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f"https://verify.uni.example/verify/{new}" in html
    assert "Name &lt;b&gt;misspelt&lt;/b&gt;" in html
    store.record(
        [
            Outcome(
                claim.token,
                delivery.delivery_id,
                decide(Accepted(), attempts=0, policy=RetryPolicy(), now=T0),
            )
        ],
        now=T0,
    )
    assert outbox_size(sessions) == before  # a notice is not the batch's progress
    assert (old, DeliveryKind.REVOCATION_NOTICE, DeliveryState.SENT) in kinds(sessions)


def test_a_resend_of_the_certificate_email_leaves_its_notice_alone(store, sessions):
    _, (old,) = seed_content(store, ["ada@example.org"])
    store.store_anchored(window_of([old]), now=T0)
    send_all(store, T0)
    store.store_revocations([revocation(old)], now=T0)
    send_all(store, T0)  # the notice
    resent = store.resend(
        ResendRequest(
            certificate_id=old, batch_id="", recipient_email="ada@new.example", request_id="r-1"
        ),
        now=T0,
    )
    assert resent == 1
    assert sorted(k[1:] for k in kinds(sessions)) == [
        (DeliveryKind.ISSUED, DeliveryState.PENDING),
        (DeliveryKind.REVOCATION_NOTICE, DeliveryState.SENT),
    ]


def test_a_certificates_email_and_its_notice_in_one_claim_each_render_their_own(store):
    _, (old,) = seed_content(store, ["ada@example.org"])
    store.store_anchored(window_of([old]), now=T0)
    send_all(store, T0)
    store.store_revocations([revocation(old)], now=T0)
    store.resend(
        ResendRequest(certificate_id=old, batch_id="", recipient_email="", request_id="r-2"),
        now=T0,
    )
    claim = store.claim(10, now=T0, lease_until=T0 + LEASE)
    assert len(claim.deliveries) == 2
    emails = [d.email for d in claim.deliveries]
    assert all(e is not None and e.certificate_id == old for e in emails)
    notices = [e for e in emails if e is not None and e.revocation is not None]
    firsts = [e for e in emails if e is not None and e.revocation is None]
    assert len(notices) == len(firsts) == 1
    assert firsts[0].document["id"] == f"urn:uuid:{old}" and notices[0].document == {}
    assert notices[0].message_id != firsts[0].message_id


def test_a_late_bounce_of_a_notice_bounces_it_but_is_not_the_batchs_progress(store, sessions):
    _, (old,) = seed_content(store, ["ada@example.org"])
    store.store_anchored(window_of([old]), now=T0)
    send_all(store, T0)
    store.store_revocations([revocation(old)], now=T0)
    (notice_id,) = send_all(store, T0)
    before = outbox_size(sessions)
    report = parse_report(postfix_dsn(recipient="ada@example.org", message_id="<x@y>"))
    store.record_bounce(VerpToken(notice_id, 0), report.recipients, now=T0)
    assert (old, DeliveryKind.REVOCATION_NOTICE, DeliveryState.BOUNCED) in kinds(sessions)
    assert outbox_size(sessions) == before  # the certificate's own email stays SENT for ingest
