"""NATS entrypoint: "certs.leaves" leaves into anchor windows.

Acknowledgement order: a message is acked only once its certificates are stored in a built
window (tree and proofs committed). From then on the database drives the window to the chain.
A database error is a pause, not the end of the consumer: the messages are nak'ed with a
growing delay and come back (place_leaves skips what a partly stored attempt already placed).
A message that cannot be parsed is terminated and counted."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from opentelemetry import trace

from certflow.platform import bus
from certflow.platform.telemetry import batch_links
from certflow.v1 import events_pb2
from services.anchor.observability import window_built
from services.anchor.window_buffer import WindowBuffer
from services.anchor.windows import Leaf, WindowPlacement, place_leaves

log = logging.getLogger(__name__)
tracer = trace.get_tracer("certflow.anchor")


Fetch = Callable[[], Awaitable[Sequence[Any]]]  # the next messages (bus.fetch on a pull consumer)


class IssuedConsumer:
    def __init__(
        self,
        store: WindowPlacement,
        buffer: WindowBuffer,
        *,
        new_id: Callable[[], str],
        on_built: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._buffer = buffer
        self._new_id = new_id
        self._on_built = on_built
        self._clock = clock
        self._failures = 0  # in a row: the nak delay grows with them
        self._batches: dict[str, str] = {}  # certificate → batch, of the leaves buffered
        self.poison_messages = 0

    @property
    def buffered_leaves(self) -> int:
        """Leaves held for the next window (read by the pending-leaves gauge)."""
        return len(self._buffer.leaves)

    async def run(self, fetch: Fetch, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await self.handle(await fetch())
        if self._buffer.messages:
            await self.close_window()  # persist what we hold rather than wait for redelivery

    async def handle(self, messages: Sequence[Any]) -> None:
        """One fetched batch: buffer each message's leaves, storing windows as they close."""
        for message in messages:
            parsed = parse_leaves(message.data)
            if parsed is None:
                self.poison_messages += 1
                log.error(
                    "poison message on %s terminated (%d so far)",
                    message.subject,
                    self.poison_messages,
                )
                await bus.settle(message.term())
                continue
            leaves, batch_id = parsed
            if batch_id:
                self._batches.update(dict.fromkeys((cid for cid, _ in leaves), batch_id))
            self._buffer.add(leaves, message, self._clock())
            if self._buffer.should_close(self._clock()):
                await self.close_window()  # full: do not let one fetch overfill it
        if self._buffer.should_close(self._clock()):
            await self.close_window()

    async def close_window(self) -> None:
        """Stores the held leaves as capped windows, then acks their messages."""
        windows, messages = self._buffer.take()
        batches, self._batches = self._batches, {}
        try:
            await self._store_windows(windows, messages, batches)
        except Exception as exc:
            self._failures += 1
            delay = bus.retry_delay(self._failures)
            log.warning(
                "storing a window failed (%s); %d messages come back in %.1fs",
                exc,
                len(messages),
                delay,
            )
            for message in messages:
                await bus.settle(message.nak(delay=delay))
            return
        self._failures = 0
        for message in messages:
            await bus.settle(message.ack())

    async def _store_windows(
        self, windows: list[list[Leaf]], messages: list[Any], batches: dict[str, str]
    ) -> None:
        # one window serves many batches: it links to each batch's trace
        parent, links = batch_links(getattr(m, "headers", None) for m in messages)
        for leaves in windows:
            started = time.monotonic()
            batch_ids = sorted({batches[c] for c, _ in leaves if c in batches})
            with tracer.start_as_current_span(
                "anchor.build_window",
                context=parent,
                links=links,
                attributes={
                    "certflow.leaf_count": len(leaves),
                    # the first hundred: the links lead to every batch anyway
                    "certflow.batch_ids": batch_ids[:100],
                },
            ) as span:

                def new_window_id() -> str:
                    window_id = self._new_id()
                    span.set_attribute("certflow.window_id", window_id)
                    return window_id

                # a crash between two windows: the redelivered messages' leaves already placed
                # are skipped, so the rest forms the next window and none is doubled
                window = await asyncio.to_thread(
                    place_leaves, self._store, leaves, new_window_id, batches
                )
            if window is not None:
                log.info("window %s built with %d leaves", window.window_id, len(window.leaves))
                window_built(window.window_id, len(window.leaves), span, time.monotonic() - started)
                self._on_built()


def parse_issued(data: bytes) -> list[Leaf] | None:
    """The leaves of a "certs.leaves" event (a CertificatesIssuedEvent with only ids and leaf
    hashes; a full "certs.issued" one parses the same); None when it cannot be parsed or a leaf
    is malformed."""
    parsed = parse_leaves(data)
    return None if parsed is None else parsed[0]


def parse_leaves(data: bytes) -> tuple[list[Leaf], str] | None:
    """parse_issued, and the event's batch id ("" when absent or not an id)."""
    try:
        event = events_pb2.CertificatesIssuedEvent.FromString(data)
    except Exception:
        return None
    leaves = [(leaf.certificate_id, bytes(leaf.leaf_hash)) for leaf in event.leaves]
    if not leaves or any(len(h) != 32 or not 0 < len(c) <= 36 for c, h in leaves):
        return None
    return leaves, event.batch_id if len(event.batch_id) <= 36 else ""
