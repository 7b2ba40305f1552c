"""WatchBatch's change detection: an in-process hub the writers ring after they commit.

ingest's progress consumers and CancelBatch call `BatchWatchHub.changed(batch_ids)` after their
transaction commits (from worker threads: thread-safe); each watcher waits on its batch's event
and reads the batch once per wake-up, never in a loop of its own. Another replica's writes
ring no bell here, so a watcher also re-reads after `poll_seconds` without one (the slow
fallback poll). A watch ends when the batch reaches a final state or the caller goes.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager

from services.ingest.progress import BatchStatus


class BatchWatchHub:
    """Bound to the event loop it is created on; `changed` may be called from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._events: dict[str, set[asyncio.Event]] = {}

    def changed(self, batch_ids: Iterable[str]) -> None:
        wanted = set(batch_ids)
        if wanted:
            self._loop.call_soon_threadsafe(self._ring, wanted)

    def _ring(self, batch_ids: set[str]) -> None:
        for batch_id in batch_ids:
            for event in self._events.get(batch_id, ()):
                event.set()

    @contextmanager
    def listening(self, batch_id: str) -> Iterator[asyncio.Event]:
        """An event set on every change of the batch, while the block runs (loop thread)."""
        event = asyncio.Event()
        self._events.setdefault(batch_id, set()).add(event)
        try:
            yield event
        finally:
            listeners = self._events[batch_id]
            listeners.discard(event)
            if not listeners:
                del self._events[batch_id]

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
            status = await read()
            if status != sent:
                yield status
                sent = status
            if status.is_final:
                return
            # on timeout, the fallback poll: a change made by another replica
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=poll_seconds)
