"""certs.reissued into a revocation of the old certificate: recorded once, retried while the
old one is not placed yet, given up (and said so) when it never is."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from certflow.v1 import events_pb2
from services.anchor.reissues import MAX_WAITS, ReissuedConsumer, reissue_revocation
from services.anchor.revocations import RevocationReason
from tests.unit.anchor.test_revocations import Records

NOW = datetime(2026, 11, 29, tzinfo=UTC)


@dataclass
class Message:
    data: bytes
    delivered: int = 1
    settled: list[str] = field(default_factory=list)

    @property
    def metadata(self) -> Any:
        return SimpleNamespace(num_delivered=self.delivered)

    async def ack(self) -> None:
        self.settled.append("ack")

    async def nak(self, delay: float = 0) -> None:
        self.settled.append("nak")

    async def term(self) -> None:
        self.settled.append("term")


def reissued(old: str, new: str = "new-1", text: str = "name misspelt") -> bytes:
    return events_pb2.CertificateReissuedEvent(
        certificate_id=old, replaced_by_certificate_id=new, reason_text=text
    ).SerializeToString()


async def test_the_old_certificate_is_revoked_as_superseded_naming_the_new_one_once() -> None:
    records, woken = Records(), []
    consumer = ReissuedConsumer(records, on_revoked=lambda: woken.append(1), now=lambda: NOW)
    first, again = Message(reissued("a")), Message(reissued("a"))
    await consumer.take(first)
    await consumer.take(again)  # redelivered: the same request id, the same answer
    assert first.settled == again.settled == ["ack"] and woken and len(records.revocations) == 1
    revocation = records.revocations["a"]
    assert revocation.reason is RevocationReason.SUPERSEDED
    assert (revocation.replaced_by, revocation.reason_text) == ("new-1", "name misspelt")


async def test_an_old_certificate_not_placed_yet_comes_back_and_is_given_up_when_never() -> None:
    consumer = ReissuedConsumer(Records(), now=lambda: NOW)
    early = Message(reissued("unknown"))
    await consumer.take(early)
    assert early.settled == ["nak"]
    never = Message(reissued("unknown"), delivered=MAX_WAITS)
    await consumer.take(never)
    assert never.settled == ["term"] and consumer.poison_messages == 1


async def test_unreadable_events_are_terminated() -> None:
    consumer = ReissuedConsumer(Records(), now=lambda: NOW)
    for data in (
        b"\xff\xff",
        reissued("a", new=""),
        reissued("a", new="x\x00y"),
        reissued("a", text="x" * 501),
    ):
        message = Message(data)
        await consumer.take(message)
        assert message.settled == ["term"]
    assert reissue_revocation(reissued("a")) is not None


async def test_a_fault_of_ours_while_reading_brings_the_event_back_not_terminated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # only an unreadable or invalid event is poison: any other failure (a bug, say) would
    # otherwise drop the old certificate's revocation for good
    def broken(**_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("services.anchor.reissues.checked_request", broken)
    records = Records()
    consumer = ReissuedConsumer(records, now=lambda: NOW)
    message = Message(reissued("a"))
    await consumer.take(message)
    assert message.settled == ["nak"] and consumer.poison_messages == 0
    monkeypatch.undo()
    await consumer.take(message)  # fixed: it is revoked
    assert message.settled == ["nak", "ack"] and "a" in records.revocations
