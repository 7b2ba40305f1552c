"""The "certs.issued" consumer against a fake store: what is stored, and how each message is
settled (ack after the window is stored, nak with a growing delay on a database error, term for
what cannot be parsed)."""

import asyncio
from collections.abc import Sequence

from certflow.core.merkle import unpack_proof, verify_proof
from certflow.v1 import events_pb2
from services.anchor.consumers import IssuedConsumer, parse_issued
from services.anchor.window_buffer import WindowBuffer
from services.anchor.windows import NewWindow
from tests.unit.anchor.fakes import FakeMessage, FakeStore, Ids, issued, leaf_of


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def consumer(
    store: FakeStore, *, max_leaves: int = 1000, clock: Clock | None = None
) -> tuple[IssuedConsumer, list[str]]:
    built: list[str] = []
    return (
        IssuedConsumer(
            store,
            WindowBuffer(max_leaves, max_age_seconds=2.0),
            new_id=Ids(),
            on_built=lambda: built.append("built"),
            clock=clock or Clock(),
        ),
        built,
    )


def ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


async def test_a_full_window_is_stored_then_its_messages_acked() -> None:
    store = FakeStore()
    anchor, built = consumer(store, max_leaves=4)
    first, second = issued(ids("a", 2)), issued(ids("b", 2))
    await anchor.handle([first, second])
    assert store.leaf_counts() == [4] and built == ["built"]
    assert first.settled == second.settled == ["ack"]
    window = store.stored["w1"]
    for cid, _, leaf, path in window.leaves:
        assert leaf == leaf_of(cid)
        assert verify_proof(leaf, unpack_proof(path), window.window.merkle_root)


async def test_a_window_closes_on_age_with_what_it_holds() -> None:
    store, clock = FakeStore(), Clock()
    anchor, _ = consumer(store, clock=clock)
    message = issued(ids("a", 3))
    await anchor.handle([message])
    assert store.leaf_counts() == [] and message.settled == []
    clock.now = 2.0
    await anchor.handle([])
    assert store.leaf_counts() == [3] and message.settled == ["ack"]


async def test_a_poison_message_is_terminated_and_counted_and_the_rest_go_on() -> None:
    store = FakeStore()
    anchor, _ = consumer(store, max_leaves=2)
    garbage = FakeMessage(b"\xff\x00 not a protobuf")
    short_leaf = events_pb2.CertificatesIssuedEvent(
        leaves=[events_pb2.IssuedLeaf(certificate_id="x", leaf_hash=b"\x00" * 31)]
    )
    bad_leaf = FakeMessage(short_leaf.SerializeToString())
    good = issued(ids("a", 2))
    await anchor.handle([garbage, bad_leaf, good])
    assert garbage.settled == ["term"] and bad_leaf.settled == ["term"]
    assert anchor.poison_messages == 2
    assert good.settled == ["ack"] and store.leaf_counts() == [2]


async def test_a_database_error_naks_with_a_growing_delay_and_the_loop_goes_on() -> None:
    store = FakeStore()
    store.fail_writes = 2
    anchor, _ = consumer(store, max_leaves=2)
    deliveries = [issued(ids("a", 2)), issued(ids("a", 2)), issued(ids("a", 2))]  # redeliveries
    batches: list[Sequence[FakeMessage]] = [[m] for m in deliveries]
    stopping = asyncio.Event()

    async def fetch() -> Sequence[FakeMessage]:
        if not batches:
            stopping.set()
            return []
        return batches.pop(0)

    await asyncio.wait_for(anchor.run(fetch, stopping), 2)
    assert [m.settled for m in deliveries] == [["nak"], ["nak"], ["ack"]]
    assert deliveries[1].nak_delays[0] > deliveries[0].nak_delays[0] > 0
    assert store.leaf_counts() == [2]


async def test_a_window_cap_is_respected_when_one_message_carries_more() -> None:
    store = FakeStore()
    anchor, built = consumer(store, max_leaves=1000)
    big = issued(ids("c", 2500))
    await anchor.handle([big])
    assert store.leaf_counts() == [1000, 1000, 500] and len(built) == 3
    assert big.settled == ["ack"]  # once, after every window is stored


async def test_a_partly_stored_message_comes_back_and_only_the_rest_is_placed() -> None:
    store = FakeStore()
    anchor, _ = consumer(store, max_leaves=1000)
    original = issued(ids("c", 1500))
    real_add = store.add_window
    calls = 0

    def add_then_fail(window: NewWindow) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("database went away between two windows")
        real_add(window)

    store.add_window = add_then_fail  # type: ignore[method-assign]
    await anchor.handle([original])
    assert original.settled == ["nak"] and store.leaf_counts() == [1000]
    redelivered = issued(ids("c", 1500))
    await anchor.handle([redelivered])
    assert redelivered.settled == ["ack"] and store.leaf_counts() == [1000, 500]
    assert len(store.proofs) == 1500


async def test_a_redelivered_message_whose_window_is_stored_adds_nothing_and_is_acked() -> None:
    store = FakeStore()
    anchor, built = consumer(store, max_leaves=3)
    await anchor.handle([issued(ids("a", 3))])
    again = issued(ids("a", 3))
    await anchor.handle([again])
    assert again.settled == ["ack"] and store.leaf_counts() == [3] and built == ["built"]


async def test_stopping_stores_what_the_buffer_holds() -> None:
    store = FakeStore()
    anchor, _ = consumer(store)
    held = issued(ids("a", 2))
    stopping = asyncio.Event()
    batches = [[held]]

    async def fetch() -> list[FakeMessage]:
        if batches:
            return batches.pop()
        stopping.set()
        return []

    await anchor.run(fetch, stopping)
    assert held.settled == ["ack"] and store.leaf_counts() == [2]


def test_the_new_fields_of_issued_leaves_are_ignored_and_malformed_leaves_refused() -> None:
    assert parse_issued(issued(["a", "b"]).data) == [("a", leaf_of("a")), ("b", leaf_of("b"))]
    assert parse_issued(issued([]).data) is None
    assert parse_issued(issued(["x" * 37]).data) is None
