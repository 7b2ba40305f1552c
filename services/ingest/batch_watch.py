"""WatchBatch's change detection: an in-process hub the writers ring after they commit.

ingest's progress consumers and CancelBatch call `BatchWatchHub.changed(batch_ids)` after their
transaction commits (from worker threads: thread-safe); each watcher waits on its batch's event
and reads the batch once per wake-up, never in a loop of its own. The watchers of one batch
share their reads (`BatchWatchHub.read`): a change costs one query however many watch it, not
one each (during emailing a batch changes several times a second). Another replica's writes
ring no bell here, so a watcher also re-reads after `poll_seconds` without one (the slow
fallback poll); a poll takes a read of the batch begun within the last half poll, so a batch's
polls cost about two queries per `poll_seconds` however many watch it. A watch ends when the
batch reaches a final state or the caller goes.
"""

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager

from services.ingest.progress import BatchStatus

# the changes rung when the read began, when it began (loop clock), the read
_SharedRead = tuple[int, float, "asyncio.Future[BatchStatus]"]


class BatchWatchHub:
    """Bound to the event loop it is created on; `changed` may be called from any thread."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, clock: Callable[[], float] | None = None
    ) -> None:
        self._loop = loop
        self._clock = clock or loop.time
        self._events: dict[str, set[asyncio.Event]] = {}
        self._rings: dict[str, int] = {}  # per watched batch: the changes rung so far
        self._reads: dict[str, _SharedRead] = {}  # per watched batch: its latest read

    def changed(self, batch_ids: Iterable[str]) -> None:
        wanted = set(batch_ids)
        if wanted:
            self._loop.call_soon_threadsafe(self._ring, wanted)

    def _ring(self, batch_ids: set[str]) -> None:
        for batch_id in batch_ids:
            listeners = self._events.get(batch_id)
            if listeners:
                self._rings[batch_id] += 1
                for event in listeners:
                    event.set()

    async def read(
        self,
        batch_id: str,
        read: Callable[[], Awaitable[BatchStatus]],
        *,
        max_age: float | None = None,
    ) -> BatchStatus:
        """The batch as read after the last change rung for it: the latest read is shared if it
        began after that change (so it sees it) and is still in flight, or (a poll: `max_age`)
        began at most `max_age` seconds ago and succeeded; else a new one begins."""
        rung, now = self._rings.get(batch_id, 0), self._clock()
        shared = self._reads.get(batch_id)
        if shared is None or not _usable(shared, rung, now, max_age):
            future = asyncio.ensure_future(read())
            future.add_done_callback(_retrieved)
            shared = self._reads[batch_id] = (rung, now, future)
        # shielded: one watcher going away does not cancel the read the others wait for
        return await asyncio.shield(shared[2])

    @contextmanager
    def listening(self, batch_id: str) -> Iterator[asyncio.Event]:
        """An event set on every change of the batch, while the block runs (loop thread)."""
        event = asyncio.Event()
        self._events.setdefault(batch_id, set()).add(event)
        self._rings.setdefault(batch_id, 0)
        try:
            yield event
        finally:
            listeners = self._events[batch_id]
            listeners.discard(event)
            if not listeners:  # nothing kept for a batch nobody watches
                del self._events[batch_id]
                del self._rings[batch_id]
                self._reads.pop(batch_id, None)

    @property
    def watched(self) -> int:
        return sum(len(listeners) for listeners in self._events.values())


def _usable(shared: _SharedRead, rung: int, now: float, max_age: float | None) -> bool:
    began_rung, began, future = shared
    if began_rung < rung:
        return False
    if not future.done():
        return True
    fresh = max_age is not None and now - began <= max_age
    return fresh and not future.cancelled() and future.exception() is None


def _retrieved(done: "asyncio.Future[BatchStatus]") -> None:
    if not done.cancelled():
        done.exception()  # retrieved: every watcher may have gone before the read failed


async def watch_batch(
    hub: BatchWatchHub,
    batch_id: str,
    read: Callable[[], Awaitable[BatchStatus]],
    *,
    poll_seconds: float,
) -> AsyncGenerator[BatchStatus, None]:
    """The batch now, then each time it differs from what was last sent, until it is final."""
    with hub.listening(batch_id) as changed:
        sent: BatchStatus | None = None
        polling = False
        while True:
            changed.clear()  # before the read: a change committed during it rings again
            status = await hub.read(batch_id, read, max_age=poll_seconds / 2 if polling else None)
            if status != sent:
                yield status
                sent = status
            if status.is_final:
                return
            try:
                await asyncio.wait_for(changed.wait(), timeout=poll_seconds)
                polling = False
            except TimeoutError:  # the fallback poll: a change made by another replica
                polling = True
