"""The progress consumers: ack after the effect is stored, nak on a failed write, term what
cannot be read."""

import itertools

from google.protobuf.timestamp_pb2 import Timestamp

from certflow.platform import bus
from certflow.v1 import events_pb2
from services.ingest.consumers import (
    anchored_consumer,
    deliveries_consumer,
    parse_anchored,
    parse_deliveries,
)
from services.ingest.progress import BatchProgress, DeliveryOutcome
from services.ingest.usecases import Ingest
from tests.unit.ingest.fakes import NOW, FakeIngestStore
from tests.unit.ingest.planning import ISSUER


class FakeMessage:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.settled: list[tuple[str, float | None]] = []

    async def ack(self) -> None:
        self.settled.append(("ack", None))

    async def nak(self, delay: float | None = None) -> None:
        self.settled.append(("nak", delay))

    async def term(self) -> None:
        self.settled.append(("term", None))


def stored_certificate() -> tuple[FakeIngestStore, BatchProgress, str]:
    store = FakeIngestStore()
    ids = (f"id-{n}" for n in itertools.count())
    ingest = Ingest(store, ISSUER, max_rows=10, clock=lambda: NOW, new_id=lambda: next(ids))
    fields = {
        "name": "Ada",
        "email": "a@example.edu",
        "title": "T",
        "completion_date": "2026-01-02",
    }
    certificate = ingest.issue_one(request_id="", fields=fields, custom_fields={})
    return store, BatchProgress(store, clock=lambda: NOW), certificate.certificate_id


def anchored_payload(certificate_id: str, **overrides: object) -> bytes:
    event = events_pb2.CertificatesAnchoredEvent(
        window_id="w1",
        merkle_root=b"\x01" * 32,
        chain_id=1337,
        transaction_hash="0x" + "cd" * 32,
        block_number=3,
        certificate_ids=[certificate_id],
        registry_address="0x" + "ab" * 20,
        leaves=[events_pb2.AnchoredLeaf(certificate_id=certificate_id, merkle_path=b"\x02" * 64)],
    )
    for name, value in overrides.items():
        if name == "leaves":
            del event.leaves[:]
        else:
            setattr(event, name, value)
    return event.SerializeToString()


def deliveries_payload(
    certificate_id: str,
    outcome: events_pb2.DeliveryOutcome = events_pb2.DELIVERY_OUTCOME_SENT,
) -> bytes:
    stamp = Timestamp()
    stamp.FromDatetime(NOW)
    return events_pb2.DeliveriesUpdatedEvent(
        updates=[
            events_pb2.DeliveryUpdate(
                certificate_id=certificate_id,
                batch_id="b",
                outcome=outcome,
                update_time=stamp,
                attempts=2,
            )
        ]
    ).SerializeToString()


async def test_an_anchored_event_is_stored_then_acked_and_a_redelivery_is_acked_too() -> None:
    store, progress, certificate_id = stored_certificate()
    consumer = anchored_consumer(progress)
    for _ in range(2):
        message = FakeMessage(anchored_payload(certificate_id))
        await consumer.handle(message)
        assert message.settled == [("ack", None)]
    record = store.certificate(certificate_id)
    assert record is not None and record.anchoring is not None
    assert record.anchoring.merkle_path == b"\x02" * 64


async def test_a_failed_write_is_nakked_with_a_growing_delay_and_the_consumer_goes_on() -> None:
    store, progress, certificate_id = stored_certificate()
    consumer = anchored_consumer(progress)
    store.fail_writes = 2
    settled = []
    for _ in range(3):
        message = FakeMessage(anchored_payload(certificate_id))
        await consumer.handle(message)
        settled.extend(message.settled)
    assert settled == [
        ("nak", bus.retry_delay(1)),
        ("nak", bus.retry_delay(2)),
        ("ack", None),
    ]
    assert store.anchoring_of(certificate_id) is not None


async def test_unreadable_messages_are_terminated_and_counted() -> None:
    store, progress, certificate_id = stored_certificate()
    anchored = anchored_consumer(progress)
    for payload in [
        b"\xff\xff\xff",
        anchored_payload(certificate_id, leaves=[]),  # names a certificate without its proof
        anchored_payload(certificate_id, merkle_root=b"\x01" * 31),
        anchored_payload(certificate_id, registry_address=""),
    ]:
        message = FakeMessage(payload)
        await anchored.handle(message)
        assert message.settled == [("term", None)]
    assert anchored.unreadable_messages == 4
    deliveries = deliveries_consumer(progress)
    message = FakeMessage(
        deliveries_payload(certificate_id, events_pb2.DELIVERY_OUTCOME_UNSPECIFIED)
    )
    await deliveries.handle(message)
    assert message.settled == [("term", None)] and deliveries.unreadable_messages == 1
    assert store.anchoring_of(certificate_id) is None


async def test_a_delivery_update_is_stored_then_acked() -> None:
    store, progress, certificate_id = stored_certificate()
    message = FakeMessage(deliveries_payload(certificate_id))
    await deliveries_consumer(progress).handle(message)
    assert message.settled == [("ack", None)]
    delivery = store.state.certificates[certificate_id].delivery
    assert delivery is not None and delivery.outcome == DeliveryOutcome.SENT
    assert delivery.update_time == NOW and delivery.attempts == 2


def test_parsing_translates_the_events() -> None:
    event = parse_anchored(anchored_payload("c1"))
    assert event is not None
    assert (event.window.window_id, event.window.chain_id, event.window.block_number) == (
        "w1",
        1337,
        3,
    )
    assert [(leaf.certificate_id, len(leaf.merkle_path)) for leaf in event.leaves] == [("c1", 64)]
    reports = parse_deliveries(deliveries_payload("c1", events_pb2.DELIVERY_OUTCOME_FAILED))
    assert reports is not None and reports[0].outcome == DeliveryOutcome.FAILED
    assert reports[0].update_time.tzinfo is not None
