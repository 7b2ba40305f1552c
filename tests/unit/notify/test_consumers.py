"""The consumers' decisions with an in-memory store: either order of the two subjects, content
missing or no Merkle path yet → nak with a delay and nothing lost, duplicates and redeliveries
store nothing twice, a failed write is a pause, an unreadable message is terminated and
counted."""

import asyncio
from datetime import UTC, datetime

import pytest

from certflow.platform import bus
from certflow.v1 import events_pb2
from services.notify.consumers import (
    IntakeConsumers,
    MalformedEvent,
    read_anchored,
    read_recipients,
)
from tests.unit.notify.fakes import (
    T0,
    FakeMessage,
    InMemoryStore,
    anchored_message,
    recipient,
    recipients_message,
)


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def wakes() -> list[int]:
    return []


@pytest.fixture
def consumers(store, wakes) -> IntakeConsumers:
    return IntakeConsumers(store, deliveries_created=lambda: wakes.append(1), clock=lambda: T0)


CONTENT = [recipient("c1", "a@example.org"), recipient("c2", "b@example.org")]


async def test_recipients_then_anchored_creates_one_delivery_each_and_acks(store, consumers, wakes):
    message = recipients_message(CONTENT)
    await consumers.take_recipients(message)
    assert message.settled == ["ack"] and set(store.content) == {"c1", "c2"}
    anchored = anchored_message(["c1", "c2"])
    await consumers.take_anchored(anchored)
    assert anchored.settled == ["ack"] and wakes == [1]
    assert sorted(store.states()) == ["c1", "c2"]
    claim = store.claim(10, now=T0, lease_until=T0)
    assert all(d.email is not None for d in claim.deliveries)


async def test_anchored_before_its_recipients_is_nakked_with_a_delay_and_not_lost(store, consumers):
    anchored = anchored_message(["c1", "c2"])
    await consumers.take_recipients(recipients_message(CONTENT[:1]))  # c2's content is late
    await consumers.take_anchored(anchored)
    assert anchored.settled == ["nak"] and anchored.nak_delays[0] > 0
    assert list(store.states()) == ["c1"]  # what could be stored stays stored
    await consumers.take_recipients(recipients_message(CONTENT[1:]))
    again = anchored.redelivered()
    await consumers.take_anchored(again)
    assert again.settled == ["ack"]
    assert sorted(store.states()) == ["c1", "c2"] and len(store.rows) == 2


async def test_the_not_ready_delay_grows_with_each_redelivery(store, consumers):
    first = anchored_message(["c9"])
    later = FakeMessage(first.subject, first.data, delivered=5)
    await consumers.take_anchored(first)
    await consumers.take_anchored(later)
    assert first.nak_delays == [bus.retry_delay(1)] and later.nak_delays == [bus.retry_delay(5)]
    assert first.nak_delays[0] < later.nak_delays[0]


async def test_certificates_named_without_a_merkle_path_are_not_ready(store, consumers):
    """An anchor that still sends certificate_ids only: nothing can be emailed yet."""
    await consumers.take_recipients(recipients_message(CONTENT))
    message = anchored_message(["c1"], without_paths=["c2"])
    await consumers.take_anchored(message)
    assert message.settled == ["nak"]
    assert list(store.states()) == ["c1"]  # c1 has its path: its delivery is stored
    only_ids = anchored_message([], without_paths=["c1", "c2"])
    await consumers.take_anchored(only_ids)
    assert only_ids.settled == ["nak"] and len(store.rows) == 1


async def test_duplicate_and_redelivered_events_store_nothing_twice(store, consumers, wakes):
    await consumers.take_recipients(recipients_message(CONTENT + CONTENT))
    await consumers.take_recipients(recipients_message(CONTENT))
    assert len(store.content) == 2
    anchored = anchored_message(["c1", "c2"])
    await consumers.take_anchored(anchored)
    await consumers.take_anchored(anchored.redelivered())
    await consumers.take_anchored(anchored_message(["c1", "c2"], window_id="window-2"))
    assert len(store.rows) == 2 and wakes == [1]  # no new delivery: no wake-up either
    (window, _) = store.proofs["c1"]
    assert window.facts.window_id == "window-1"


async def test_a_failed_write_is_a_pause_with_a_growing_delay(store, consumers):
    store.down = True
    first, second = recipients_message(CONTENT), anchored_message(["c1"])
    await consumers.take_recipients(first)
    await consumers.take_anchored(second)
    assert first.settled == ["nak"] and second.settled == ["nak"]
    assert first.nak_delays[0] < second.nak_delays[0]  # consecutive failures
    store.down = False
    third = recipients_message(CONTENT)
    await consumers.take_recipients(third)
    assert third.settled == ["ack"]
    store.down = True
    fourth = recipients_message(CONTENT)
    await consumers.take_recipients(fourth)
    assert fourth.nak_delays == [bus.retry_delay(1)]  # a success reset the count


@pytest.mark.parametrize(
    ("subject", "payload"),
    [
        ("certs.recipients", b"\xff\xff not protobuf"),
        ("certs.anchored", b"\xff\xff not protobuf"),
    ],
)
async def test_an_unreadable_message_is_terminated_and_counted(consumers, subject, payload):
    message = FakeMessage(subject, payload)
    take = consumers.take_recipients if subject == "certs.recipients" else consumers.take_anchored
    await take(message)
    assert message.settled == ["term"] and consumers.poison_messages == 1


async def test_a_recipient_with_a_bad_date_or_salt_makes_the_message_unreadable(consumers):
    bad_date = recipients_message([recipient("c1", "a@example.org")])
    event = read_recipients(bad_date.data)[1][0]
    assert event.completion_date.isoformat() == "2026-06-30"
    broken = bad_date.data.replace(b"2026-06-30", b"2026-13-45")
    message = FakeMessage("certs.recipients", broken)
    await consumers.take_recipients(message)
    assert message.settled == ["term"]


def test_an_anchored_event_is_read_into_paths_and_not_ready_ids():
    window = read_anchored(anchored_message(["c1"], without_paths=["c2", "c1"]).data)
    assert dict(window.paths) == {"c1": b"\x04" * 64} and window.unproven == ("c2",)
    assert window.facts.registry_address == "0x" + "11" * 20 and window.facts.block_number == 7


async def test_the_consume_loop_settles_every_message_it_fetches(consumers):
    stopping = asyncio.Event()
    messages = [recipients_message(CONTENT), FakeMessage("certs.recipients", b"\xff")]
    batches = [messages]

    async def fetch() -> list:
        if not batches:
            stopping.set()
            return []
        return batches.pop()

    await asyncio.wait_for(consumers.consume(fetch, consumers.take_recipients, stopping), timeout=5)
    assert [m.settled for m in messages] == [["ack"], ["term"]]


def test_a_recipient_s_zone_window_and_send_time_are_read_and_an_absurd_zone_refused():
    event = events_pb2.CertificateRecipientsEvent.FromString(
        recipients_message([recipient("c1", "a@example.org")]).data
    )
    r = event.recipients[0]
    r.time_zone, r.business_hours = "Asia/Tokyo", True
    r.send_time.FromDatetime(datetime(2026, 7, 1, 8, 30, tzinfo=UTC))
    [content] = read_recipients(event.SerializeToString())[1]
    assert (content.time_zone, content.business_hours) == ("Asia/Tokyo", True)
    assert content.send_time == datetime(2026, 7, 1, 8, 30, tzinfo=UTC)
    plain = read_recipients(recipients_message([recipient("c2", "b@example.org")]).data)[1][0]
    assert (plain.time_zone, plain.business_hours, plain.send_time) == ("", False, None)
    r.time_zone = "x" * 65
    with pytest.raises(MalformedEvent, match="time zone"):
        read_recipients(event.SerializeToString())
