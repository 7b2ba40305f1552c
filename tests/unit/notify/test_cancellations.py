"""Certificates of a cancelled batch (certs.cancelled) get no delivery when their anchored event
arrives; the others of the same event do, and the message is acked either way."""

from certflow.platform.cancellations import CancelledCertificates
from services.notify.bootstrap import assemble
from services.notify.cancellations import SkippingCancelledIntake
from services.notify.consumers import IntakeConsumers
from services.notify.settings import NotifySettings
from tests.unit.notify.fakes import (
    T0,
    FakeRelay,
    InMemoryStore,
    anchored_message,
    recipient,
    recipients_message,
)

CONTENT = [
    recipient("c1", "a@example.org"),
    recipient("c2", "b@example.org"),
    recipient("c3", "c@example.org"),
]


async def take(cancelled: CancelledCertificates, ids: list[str]) -> tuple[InMemoryStore, list]:
    store, caught_up = InMemoryStore(), []
    consumers = IntakeConsumers(
        SkippingCancelledIntake(store, cancelled, lambda: caught_up.append(1)), clock=lambda: T0
    )
    await consumers.take_recipients(recipients_message(CONTENT))
    message = anchored_message(ids)
    await consumers.take_anchored(message)
    assert message.settled == ["ack"] and caught_up == [1]
    return store, message.settled


async def test_cancelled_certificates_get_no_delivery_the_others_do() -> None:
    cancelled = CancelledCertificates()
    cancelled.add(["c2"])
    store, _ = await take(cancelled, ["c1", "c2", "c3"])
    assert sorted(store.states()) == ["c1", "c3"]


async def test_an_event_of_only_cancelled_certificates_creates_nothing_and_is_acked() -> None:
    cancelled = CancelledCertificates()
    cancelled.add(["c1", "c2"])
    store, _ = await take(cancelled, ["c1", "c2"])
    assert store.states() == {}


async def test_nothing_cancelled_changes_nothing() -> None:
    store, _ = await take(CancelledCertificates(), ["c1", "c2", "c3"])
    assert sorted(store.states()) == ["c1", "c2", "c3"]


async def test_the_assembled_intake_skips_what_the_given_set_holds() -> None:
    cancelled = CancelledCertificates()  # empty (falsy) when wired: filled afterwards
    store = InMemoryStore()
    notify = assemble(
        NotifySettings(mail_from="certificates@uni.example", verify_base_url="https://v.example"),
        store=store,
        pool=FakeRelay(),
        clock=lambda: T0,
        cancelled=cancelled,
    )
    cancelled.add(["c3"])
    await notify.consumers.take_recipients(recipients_message(CONTENT))
    await notify.consumers.take_anchored(anchored_message(["c1", "c2", "c3"]))
    assert sorted(store.states()) == ["c1", "c2"]
