"""Revocation notices through the real stack (nats-server, anvil, SMTP sink, the four services):
a revoked certificate's recipient receives exactly one notice after their certificate email,
and replaying every "certs.revoked" event to notify (its durable consumer deleted, notify
restarted) adds none; a reissue sends the old recipient a "replaced" notice naming the new
certificate's verification link, and the new certificate's own email arrives as usual."""

import asyncio
import email
import email.policy
import time
from email.message import EmailMessage
from functools import partial

import nats

from certflow.platform import bus
from certflow.v1 import ingest_service_pb2
from devstack.client import StackClient
from devstack.stack import LocalStack
from services.notify.revocation_consumer import REVOKED_DURABLE
from tests.e2e import test_revocation as revocation
from tests.e2e.test_revocation import (
    WITHDRAWN,
    anchored,
    issue,
    metadata,
    revoke,
    revoked_with_note,
    wait_for,
)

# test_revocation's fixtures: one stack per backend, for this module
stack = revocation.stack
client = revocation.client


def mails_to(stack: LocalStack, address: str) -> list[EmailMessage]:
    found = []
    for path in sorted(stack.mail_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if str(message["X-Envelope-To"]).lower() == address:
            found.append(message)
    return found


def with_subject(stack: LocalStack, address: str, ending: str) -> list[EmailMessage]:
    return [m for m in mails_to(stack, address) if str(m["Subject"]).endswith(ending)]


def certificate_emails(stack: LocalStack, address: str) -> list[EmailMessage]:
    return [
        m for m in mails_to(stack, address) if str(m["Subject"]).startswith("Your certificate:")
    ]


def body(message: EmailMessage, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None
    return str(part.get_content())


def replay_revocations_to_notify(stack: LocalStack) -> None:
    """Every "certs.revoked" event delivered to notify again: its durable consumer deleted (a
    new one starts from the stream's first message), notify restarted, and waited for until it
    has acked them all."""

    async def consumer_state(delete: bool) -> tuple[int, int, int]:
        nc = await nats.connect(stack.nats_url)
        try:
            js = nc.jetstream()
            if delete:
                await js.delete_consumer(bus.STREAM, REVOKED_DURABLE)
                return (0, 0, 0)
            info = await js.consumer_info(bus.STREAM, REVOKED_DURABLE)
            return (
                info.num_pending or 0,
                info.num_ack_pending or 0,
                info.delivered.consumer_seq or 0 if info.delivered else 0,
            )
        finally:
            await nc.close()

    asyncio.run(consumer_state(delete=True))
    stack.restart("notify")

    def replayed() -> bool:
        try:
            pending, unacked, delivered = asyncio.run(consumer_state(delete=False))
        except Exception:  # not made again yet
            return False
        return pending == 0 and unacked == 0 and delivered > 0

    wait_for(replayed, what="notify has taken every certs.revoked event again")


def test_a_revoked_certificate_gets_one_notice_and_a_replayed_event_adds_none(
    stack: LocalStack, client: StackClient
) -> None:
    cid = issue(stack, client, 600)
    address = "person.600@example.org"
    wait_for(partial(anchored, client, cid), what="anchored")
    wait_for(lambda: len(certificate_emails(stack, address)) == 1, what="first email")
    revoke(
        stack,
        client,
        request_id="notice-one",
        certificate_ids=[cid],
        reason=WITHDRAWN,
        reason_text="<b>wrong</b> cohort & co",
    )
    wait_for(partial(revoked_with_note, client, cid), what="revoked")
    wait_for(lambda: with_subject(stack, address, "has been revoked") != [], what="notice")
    (notice,) = with_subject(stack, address, "has been revoked")
    assert notice["Subject"] == 'Your certificate "Revocation Drill" has been revoked'
    assert not [p for p in notice.walk() if p.get_filename()]  # no attachment
    assert "&lt;b&gt;wrong&lt;/b&gt; cohort &amp; co" in body(notice, "html")
    assert "withdrawn by the issuer" in body(notice, "plain")
    assert f"{stack.verify_http_url}/verify/{cid}" in body(notice, "plain")
    assert notice["DKIM-Signature"] is None or "d=" in str(notice["DKIM-Signature"])

    replay_revocations_to_notify(stack)
    time.sleep(1.5)  # a notice created by the replay would be sent within this
    assert len(with_subject(stack, address, "has been revoked")) == 1
    assert len(certificate_emails(stack, address)) == 1


def test_a_reissue_tells_the_old_recipient_where_the_new_certificate_is(
    stack: LocalStack, client: StackClient
) -> None:
    old = issue(stack, client, 601, name="Grace Hoper")
    address = "person.601@example.org"
    wait_for(partial(anchored, client, old), what="old anchored")
    wait_for(lambda: len(certificate_emails(stack, address)) == 1, what="old's email")
    response = client.ingest.ReissueCertificate(
        ingest_service_pb2.ReissueCertificateRequest(
            request_id="notice-reissue",
            certificate_id=old,
            recipient_name="Grace Hopper",
            reason_text="Name misspelt (Hoper)",
        ),
        metadata=metadata(stack),
        timeout=30,
    )
    new = response.certificate.certificate_id
    wait_for(partial(revoked_with_note, client, old), what="old revoked")
    wait_for(lambda: with_subject(stack, address, "has been replaced") != [], what="notice")
    (notice,) = with_subject(stack, address, "has been replaced")
    link = f"{stack.verify_http_url}/verify/{new}"
    assert link in body(notice, "plain") and f'href="{link}"' in body(notice, "html")
    assert "Name misspelt (Hoper)" in body(notice, "plain")
    # the new certificate's own email, with its file, to the same recipient
    wait_for(lambda: len(certificate_emails(stack, address)) == 2, what="new certificate's email")
    attachments = [
        name
        for m in certificate_emails(stack, address)
        for p in m.walk()
        if (name := p.get_filename())
    ]
    assert sorted(attachments) == sorted([f"certificate-{old}.json", f"certificate-{new}.json"])
    assert len(with_subject(stack, address, "has been replaced")) == 1
    assert not with_subject(stack, address, "has been revoked")
