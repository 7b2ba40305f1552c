"""The wired graph with in-memory fakes: recipients and anchored events go through the
consumers, the sender loop emails each certificate once with its anchored document, and the
outcomes come out as "certs.deliveries" updates; the operator's calls read the same store."""

import asyncio
import email

import dkim
import orjson
import pytest

from certflow.core.document import read_anchor_proof
from certflow.v1 import events_pb2
from services.notify import operations
from services.notify.bootstrap import Notify, assemble
from services.notify.branding import InvalidBranding
from services.notify.outcome_policy import DeliveryState, Refused
from services.notify.settings import NotifySettings
from tests.unit.notify.dkim_keys import new_keys
from tests.unit.notify.fakes import (
    T0,
    FakeRelay,
    InMemoryStore,
    anchored_message,
    recipient,
    recipients_message,
)


def settings() -> NotifySettings:
    return NotifySettings(
        mail_from="certificates@uni.example",
        verify_base_url="https://verify.example",
        claim_lease_seconds=10,
        max_attempts=3,
    )


async def send_until_settled(notify: Notify, store: InMemoryStore) -> None:
    """Runs one sender loop until no delivery is pending or sending."""
    stopping = asyncio.Event()
    loop = asyncio.create_task(notify.notifier.send(stopping))
    try:
        for _ in range(200):
            states = set(store.states().values())
            if not states & {DeliveryState.PENDING, DeliveryState.SENDING}:
                break
            await asyncio.sleep(0.02)
        else:
            raise TimeoutError(f"deliveries still open: {store.states()}")
    finally:
        stopping.set()
        notify.notifier.wake()  # out of its idle wait at once
        await asyncio.wait_for(loop, timeout=5)


def attachment(message: bytes) -> dict:
    parsed = email.message_from_bytes(message)
    for part in parsed.walk():
        if part.get_content_type() == "application/json":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return orjson.loads(payload)
    raise AssertionError("no certificate attached")


async def test_events_in_emails_out_each_once_with_its_anchored_document() -> None:
    store, relay = InMemoryStore(), FakeRelay()
    relay.answers["bad@example.org"] = Refused(550, "5.7.1 rejected by policy")
    notify = assemble(settings(), store=store, pool=relay)
    content = [recipient(f"c{n}", f"s{n}@example.org") for n in range(5)]
    content.append(recipient("c-bad", "bad@example.org"))
    ids = [c.certificate_id for c in content]
    await notify.consumers.take_anchored(early := anchored_message(ids))  # before recipients
    assert early.settled == ["nak"] and store.rows == {}
    await notify.consumers.take_recipients(recipients_message(content))
    await notify.consumers.take_anchored(early.redelivered())
    await send_until_settled(notify, store)

    assert sorted(m.recipient for m in relay.received) == sorted(c.recipient_email for c in content)
    for message in relay.received:
        document = attachment(message.data)
        proof = read_anchor_proof(document)
        assert proof.merkle_root == b"\x03" * 32 and proof.block_number == 7
    outcomes = {u.certificate_id: u.outcome for u in store.announced()}
    assert outcomes == {
        **{cid: events_pb2.DELIVERY_OUTCOME_SENT for cid in ids if cid != "c-bad"},
        "c-bad": events_pb2.DELIVERY_OUTCOME_BOUNCED,
    }

    # the operator re-drives the failure; it is announced, sent again and announced again
    relay.answers.clear()
    assert operations.retry_failed(store, "batch-1", "op-1", now=T0) == 1
    assert operations.retry_failed(store, "batch-1", "op-1", now=T0) == 1  # a replay
    notify.notifier.wake()
    await send_until_settled(notify, store)
    bad = [u.outcome for u in store.announced() if u.certificate_id == "c-bad"]
    assert bad == [
        events_pb2.DELIVERY_OUTCOME_BOUNCED,
        events_pb2.DELIVERY_OUTCOME_REQUEUED,
        events_pb2.DELIVERY_OUTCOME_SENT,
    ]
    views = operations.list_deliveries(store, "batch-1", offset=0, limit=50)
    assert {v.state for v in views} == {DeliveryState.SENT} and len(views) == 6
    assert len({m.msg_id for m in store.outbox}) == len(store.outbox)


async def test_the_settings_branding_and_dkim_key_file_shape_every_message(tmp_path) -> None:
    keys = new_keys(domain="uni.example")
    configured = settings().model_copy(
        update={
            "mail_from_name": "Example University",
            "reply_to": "registrar@uni.example",
            "list_unsubscribe_url": "https://uni.example/unsubscribe/{certificate_id}",
            "dkim_private_key_path": keys.write_private(tmp_path),
            "dkim_selector": keys.selector,
        }
    )
    store, relay = InMemoryStore(), FakeRelay()
    notify = assemble(configured, store=store, pool=relay)
    await notify.consumers.take_recipients(recipients_message([recipient("c1", "s1@example.org")]))
    await notify.consumers.take_anchored(anchored_message(["c1"]))
    await send_until_settled(notify, store)
    (sent,) = relay.received
    message = email.message_from_bytes(sent.data)
    assert message["From"] == "Example University <certificates@uni.example>"
    assert message["Reply-To"] == "registrar@uni.example"
    assert message["List-Unsubscribe"] == "<https://uni.example/unsubscribe/c1>"
    assert dkim.verify(sent.data, dnsfunc=keys.dns())  # d= is mail_from's domain by default


def test_a_bad_branding_setting_stops_notify_at_start() -> None:
    with pytest.raises(InvalidBranding) as refused:
        assemble(
            settings().model_copy(update={"brand_primary_colour": "red;x:y"}),
            store=InMemoryStore(),
            pool=FakeRelay(),
        )
    assert refused.value.field == "primary_colour"
