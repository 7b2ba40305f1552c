"""Group commit of delivery outcomes: each sender waits until its outcome is stored, and the
outcomes that arrive while one write is running go together in the next write.

So a message's sending slot is held until its outcome is durable: a crash at any moment
re-sends at most the messages in flight (one per slot), while a fast relay still gets
many outcomes per database write.
"""

import asyncio
from collections.abc import Callable, Sequence

from services.notify.outcome_policy import DeliveryUpdate

Outcome = tuple[str, DeliveryUpdate]  # (delivery id, its new state)


class OutcomeRecorder:
    def __init__(self, write: Callable[[Sequence[Outcome]], object]) -> None:
        self._write = write  # blocking; runs in a worker thread
        self._queued: list[tuple[Outcome, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, delivery_id: str, update: DeliveryUpdate) -> None:
        """Returns once the outcome is stored; raises what the write raised."""
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append(((delivery_id, update), stored))
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
