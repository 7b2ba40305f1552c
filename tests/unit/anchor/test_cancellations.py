"""Cancelled certificates (certs.cancelled) are left out of the windows built after it."""

from collections.abc import Sequence

import pytest
from pydantic import SecretStr

from certflow.platform.cancellations import CancelledCertificates, cancelled_ids
from certflow.v1 import events_pb2
from services.anchor.bootstrap import assemble
from services.anchor.cancellations import SkippingCancelled
from services.anchor.settings import AnchorSettings
from services.anchor.windows import NewWindow, place_leaves
from tests.unit.anchor.fakes import (
    REGISTRY,
    FakeChain,
    FakeLease,
    FakeSigner,
    FakeStore,
    Ids,
    issued,
)

LEAF = b"\x01" * 32


class Placement:
    def __init__(self) -> None:
        self.windows: list[NewWindow] = []

    def placed(self, certificate_ids: Sequence[str]) -> set[str]:
        held = {leaf.certificate_id for w in self.windows for leaf in w.leaves}
        return held & set(certificate_ids)

    def add_window(self, window: NewWindow) -> None:
        self.windows.append(window)


def event(batch_id: str, ids: list[str]) -> bytes:
    return events_pb2.CertificatesCancelledEvent(
        batch_id=batch_id, certificate_ids=ids
    ).SerializeToString()


def test_cancelled_leaves_are_left_out_and_the_rest_forms_the_window() -> None:
    store, cancelled = Placement(), CancelledCertificates()
    cancelled.apply(event("b1", ["a", "b"]))
    window = place_leaves(
        SkippingCancelled(store, cancelled), [("a", LEAF), ("c", LEAF), ("b", LEAF)], lambda: "w1"
    )
    assert window is not None
    assert [leaf.certificate_id for leaf in window.leaves] == ["c"]


def test_a_window_of_only_cancelled_leaves_is_not_built() -> None:
    store, cancelled = Placement(), CancelledCertificates()
    cancelled.add(["a"])
    assert place_leaves(SkippingCancelled(store, cancelled), [("a", LEAF)], lambda: "w1") is None
    assert store.windows == []


def test_the_reader_catches_up_before_the_cancelled_set_is_consulted() -> None:
    store, cancelled = Placement(), CancelledCertificates()

    def catch_up() -> None:  # the cancellation arrives while catching up
        cancelled.add(["a"])

    window = place_leaves(
        SkippingCancelled(store, cancelled, catch_up), [("a", LEAF), ("b", LEAF)], lambda: "w1"
    )
    assert window is not None and [x.certificate_id for x in window.leaves] == ["b"]


def test_a_failed_catch_up_builds_nothing() -> None:
    store = Placement()

    def unreachable() -> None:
        raise TimeoutError("NATS unreachable")

    skipping = SkippingCancelled(store, CancelledCertificates(), unreachable)
    with pytest.raises(TimeoutError):
        place_leaves(skipping, [("a", LEAF)], lambda: "w1")
    assert store.windows == []


def test_unreadable_events_are_counted_and_change_nothing() -> None:
    cancelled = CancelledCertificates()
    cancelled.apply(b"\xff\xff")
    cancelled.apply(event("", ["a"]))  # no batch
    cancelled.apply(event("b1", ["x" * 37]))  # not an id of ours
    assert (cancelled.unreadable_messages, len(cancelled)) == (3, 0)
    assert cancelled_ids(event("b1", [])) == []


async def test_the_wired_consumer_leaves_out_what_the_given_set_holds() -> None:
    cancelled = CancelledCertificates()  # empty (falsy) when wired: filled afterwards
    caught_up: list[int] = []
    store = FakeStore()
    anchor = assemble(
        AnchorSettings(
            anchor_private_key=SecretStr("0x" + "11" * 32),
            registry_address=REGISTRY,
            window_max_leaves=3,
        ),
        store=store,
        chain=FakeChain(),
        signer=FakeSigner(),
        lease=FakeLease(),
        new_id=Ids(),
        cancelled=cancelled,
        catch_up_cancellations=lambda: caught_up.append(1),
    )
    cancelled.add(["cert-1"])
    message = issued(["cert-0", "cert-1", "cert-2"])
    await anchor.consumer.handle([message])
    assert message.settled == ["ack"] and store.leaf_counts() == [2] and caught_up
