"""WatchBatch's loop: the batch now, then on each change rung by the hub, until it is final."""

import asyncio
import threading
from dataclasses import replace

import pytest

from services.ingest.batch_watch import BatchWatchHub, watch_batch
from services.ingest.progress import BatchStatus
from tests.unit.ingest.fakes import NOW

ISSUING = BatchStatus("b1", "", "csv", 2, 2, 0, 0, 0, 0, NOW)
ANCHORED = replace(ISSUING, anchored_count=2)
DONE = replace(ANCHORED, emailed_count=2)


class Batch:
    """What the store would answer, and how many times it was asked."""

    def __init__(self) -> None:
        self.status = ISSUING
        self.reads = 0

    async def read(self) -> BatchStatus:
        self.reads += 1
        return self.status


async def test_each_change_rung_by_the_hub_is_sent_once_then_the_watch_ends() -> None:
    hub, batch = BatchWatchHub(asyncio.get_running_loop()), Batch()
    sent: list[BatchStatus] = []
    # a poll that never fires within the test: only the hub can make it read again
    watching = watch_batch(hub, "b1", batch.read, poll_seconds=3600)
    sent.append(await anext(watching))
    assert hub.watched == 1
    for status in (ANCHORED, DONE):
        batch.status = status
        # rung from a worker thread, as the consumers do after their commit
        threading.Thread(target=hub.changed, args=({"b1", "other"},)).start()
        sent.append(await anext(watching))
    assert sent == [ISSUING, ANCHORED, DONE]
    assert [s async for s in watching] == []  # final: the stream ends
    assert hub.watched == 0
    assert batch.reads == 3


async def test_a_ring_for_another_batch_reads_nothing() -> None:
    hub, batch = BatchWatchHub(asyncio.get_running_loop()), Batch()
    watching = watch_batch(hub, "b1", batch.read, poll_seconds=3600)
    await anext(watching)
    hub.changed({"b2"})
    next_one = asyncio.ensure_future(anext(watching))
    await asyncio.sleep(0)  # let the ring run
    await asyncio.sleep(0)
    assert batch.reads == 1 and not next_one.done()
    next_one.cancel()


async def test_without_a_ring_the_slow_poll_finds_another_replicas_change() -> None:
    hub, batch = BatchWatchHub(asyncio.get_running_loop()), Batch()
    watching = watch_batch(hub, "b1", batch.read, poll_seconds=0.01)
    assert await anext(watching) == ISSUING
    batch.status = DONE
    assert await anext(watching) == DONE


async def test_an_unchanged_batch_is_not_sent_again() -> None:
    hub, batch = BatchWatchHub(asyncio.get_running_loop()), Batch()
    watching = watch_batch(hub, "b1", batch.read, poll_seconds=3600)
    await anext(watching)
    hub.changed({"b1"})  # rung, but nothing a client sees changed
    await asyncio.sleep(0)
    batch.status = DONE
    hub.changed({"b1"})
    assert await anext(watching) == DONE
    assert batch.reads >= 2


async def test_a_watch_that_starts_final_sends_it_once() -> None:
    hub, batch = BatchWatchHub(asyncio.get_running_loop()), Batch()
    batch.status = DONE
    assert [s async for s in watch_batch(hub, "b1", batch.read, poll_seconds=3600)] == [DONE]


async def test_the_watchers_of_a_batch_share_one_read_per_change() -> None:
    """50 watchers cost one query for the batch now and one per change, not 50 each."""
    hub, batch = BatchWatchHub(asyncio.get_running_loop()), Batch()
    watchers = [watch_batch(hub, "b1", batch.read, poll_seconds=3600) for _ in range(50)]
    assert await asyncio.gather(*(anext(w) for w in watchers)) == [ISSUING] * 50
    batch.status = ANCHORED
    hub.changed({"b1"})
    assert await asyncio.gather(*(anext(w) for w in watchers)) == [ANCHORED] * 50
    assert batch.reads == 2
    for watching in watchers:
        await watching.aclose()
    assert hub.watched == 0


async def test_a_read_begun_before_a_change_is_not_shared_with_a_watcher_woken_by_it() -> None:
    hub, batch = BatchWatchHub(asyncio.get_running_loop()), Batch()
    gate, looked = asyncio.Event(), asyncio.Event()

    async def slow_read() -> BatchStatus:
        status = batch.status  # what the query sees when it runs
        batch.reads += 1
        looked.set()
        await gate.wait()
        return status

    with hub.listening("b1") as rung:  # keeps the batch watched while the reads run
        first = asyncio.ensure_future(hub.read("b1", slow_read))
        await looked.wait()
        batch.status = DONE
        hub.changed({"b1"})
        await rung.wait()  # the ring has run
        second = asyncio.ensure_future(hub.read("b1", slow_read))
        looked.clear()
        await looked.wait()
        gate.set()
        assert (await first, await second) == (ISSUING, DONE)
        assert batch.reads == 2


async def test_a_watcher_going_away_does_not_cancel_the_read_another_waits_for() -> None:
    hub, batch = BatchWatchHub(asyncio.get_running_loop()), Batch()
    gate = asyncio.Event()

    async def slow_read() -> BatchStatus:
        batch.reads += 1
        await gate.wait()
        return batch.status

    with hub.listening("b1"):
        gone = asyncio.ensure_future(hub.read("b1", slow_read))
        staying = asyncio.ensure_future(hub.read("b1", slow_read))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        gate.set()
        assert await staying == ISSUING
        assert batch.reads == 1


async def test_a_poll_takes_a_read_begun_within_its_max_age_unless_a_change_was_rung() -> None:
    """Watchers polling at their own moments share reads: about two per poll interval."""
    now = [100.0]
    hub, batch = BatchWatchHub(asyncio.get_running_loop(), clock=lambda: now[0]), Batch()
    with hub.listening("b1") as rung:
        assert await hub.read("b1", batch.read) == ISSUING
        batch.status = ANCHORED
        now[0] += 1.0
        assert await hub.read("b1", batch.read, max_age=1.0) == ISSUING  # the read of 1 s ago
        assert batch.reads == 1
        now[0] += 0.5
        assert await hub.read("b1", batch.read, max_age=1.0) == ANCHORED  # too old: read again
        assert batch.reads == 2
        batch.status = DONE
        hub.changed({"b1"})
        await rung.wait()
        assert await hub.read("b1", batch.read, max_age=1.0) == DONE  # rung since: read again
        assert await hub.read("b1", batch.read) == DONE  # not a poll: never a finished read
        assert batch.reads == 4


async def test_a_failed_read_is_not_given_to_a_later_poll() -> None:
    hub, batch = BatchWatchHub(asyncio.get_running_loop(), clock=lambda: 0.0), Batch()

    async def failing() -> BatchStatus:
        raise ConnectionError("database gone")

    with hub.listening("b1"):
        with pytest.raises(ConnectionError):
            await hub.read("b1", failing)
        assert await hub.read("b1", batch.read, max_age=60) == ISSUING
