"""Group commit of delivery outcomes, shared by every sender loop of the process.

A send's outcome is queued here once the relay answered (its SMTP connection is already free
for the next message); the outcomes that arrive while one write runs go together in the next
write, whichever claim they belong to (each row carries its claim token). A crash loses the
outcomes not yet written: those messages may be sent again when their lease runs out. The
sender loops bound how many there can be with one process-wide semaphore (see worker.py).
"""

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class OutcomeRecorder(Generic[T]):
    def __init__(self, write: Callable[[Sequence[T]], object]) -> None:
        self._write = write  # blocking; runs in a worker thread
        self._queued: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, outcome: T) -> None:
        """Returns once the outcome is stored; raises what the write raised."""
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append((outcome, stored))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued())
        await stored

    async def _write_queued(self) -> None:
        while self._queued:
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
