"""Group commit of delivery outcomes, shared by every sender loop of the process.

A send's outcome is queued here once the relay answered (its SMTP connection is already free
for the next message); a write takes everything queued once `batch_size` outcomes wait or the
first has waited `linger` seconds, whichever claim they belong to (each row carries its claim
token). Writing each outcome at once cost a transaction per 1.7 messages (measured), which
on SQLite made the writes, not the relay, the pipeline's cost. A crash loses the
outcomes not yet written: those messages may be sent again when their lease runs out. The
sender loops bound how many there can be with one process-wide semaphore (see worker.py).
"""

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class OutcomeRecorder(Generic[T]):
    def __init__(
        self, write: Callable[[Sequence[T]], object], *, batch_size: int, linger: float
    ) -> None:
        self._write = write  # blocking; runs in a worker thread
        self._batch_size = max(batch_size, 1)
        self._linger = linger
        self._queued: list[tuple[T, asyncio.Future[None]]] = []
        self._full = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    async def record(self, outcome: T) -> None:
        """Returns once the outcome is stored; raises what the write raised."""
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append((outcome, stored))
        if len(self._queued) >= self._batch_size:
            self._full.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued())
        await stored

    async def _write_queued(self) -> None:
        while self._queued:
            if len(self._queued) < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._linger)
            self._full.clear()
            batch, self._queued = self._queued, []
            try:
                await asyncio.to_thread(self._write, [outcome for outcome, _ in batch])
            except Exception as exc:
                for _, stored in batch:
                    if not stored.done():
                        stored.set_exception(exc)
            else:
                for _, stored in batch:
                    if not stored.done():
                        stored.set_result(None)
