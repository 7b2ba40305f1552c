"""WatchBatch's change detection: an in-process hub the writers ring after they commit.

ingest's progress consumers and CancelBatch call `BatchWatchHub.changed(batch_ids)` after their
transaction commits (from worker threads: thread-safe); each watcher waits on its batch's event
and reads the batch once per wake-up, never in a loop of its own. The watchers of one batch
share their reads (`BatchWatchHub.read`): a change costs one query however many watch it, not
one each (during emailing a batch changes several times a second). Another replica's writes
ring no bell here, so a watcher also re-reads after `poll_seconds` without one (the slow
fallback poll). A watch ends when the batch reaches a final state or the caller goes.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager

from services.ingest.progress import BatchStatus

_SharedRead = tuple[int, "asyncio.Future[BatchStatus]"]


class BatchWatchHub:
    """Bound to the event loop it is created on; `changed` may be called from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._events: dict[str, set[asyncio.Event]] = {}
        self._rings: dict[str, int] = {}  # per watched batch: the changes rung so far
        self._reads: dict[str, _SharedRead] = {}  # per watched batch: the read in flight

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

    async def read(self, batch_id: str, read: Callable[[], Awaitable[BatchStatus]]) -> BatchStatus:
        """The batch as read after the last change rung for it: a read already in flight is
        shared if it began after that change (so it sees it); else a new one begins."""
        rung = self._rings.get(batch_id, 0)
        shared = self._reads.get(batch_id)
        if shared is None or shared[0] < rung:
            future = asyncio.ensure_future(read())
            entry = shared = (rung, future)
            self._reads[batch_id] = entry

            def forget(done: "asyncio.Future[BatchStatus]") -> None:
                if self._reads.get(batch_id) is entry:
                    del self._reads[batch_id]
                if not done.cancelled():
                    done.exception()  # retrieved: every watcher may have gone meanwhile

            future.add_done_callback(forget)
        # shielded: one watcher going away does not cancel the read the others wait for
        return await asyncio.shield(shared[1])

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


async def watch_batch(
    hub: BatchWatchHub,
    batch_id: str,
    read: Callable[[], Awaitable[BatchStatus]],
    *,
    poll_seconds: float,
) -> AsyncIterator[BatchStatus]:
    """The batch now, then each time it differs from what was last sent, until it is final."""
    with hub.listening(batch_id) as changed:
        sent: BatchStatus | None = None
        while True:
            changed.clear()  # before the read: a change committed during it rings again
            status = await hub.read(batch_id, read)
            if status != sent:
                yield status
                sent = status
            if status.is_final:
                return
            # on timeout, the fallback poll: a change made by another replica
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=poll_seconds)
