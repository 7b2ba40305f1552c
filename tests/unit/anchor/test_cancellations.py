"""Cancelled certificates (certs.cancelled) are left out of the windows built after it."""

from collections.abc import Sequence

import pytest

from certflow.v1 import events_pb2
from services.anchor.cancellations import (
    CancelledCertificates,
    SkippingCancelled,
    cancelled_ids,
)
from services.anchor.windows import NewWindow, place_leaves

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
