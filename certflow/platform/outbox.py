"""Transactional outbox relay: publishes rows committed with the data they announce.

A crash between commit and publish loses nothing (the row stays unpublished); a crash between
publish and marking re-publishes with the same Nats-Msg-Id, and consumers are idempotent anyway.

A service may store a small reference in a row instead of the message and give the relay a
`render` that turns it into the payload at publish time, from rows committed in the same
transaction that never change (ingest does this for the credentials it announces).
"""

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from nats.js import JetStreamContext
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from certflow.platform.bus import publish
from certflow.platform.db.tables import OutboxColumns
from certflow.platform.telemetry import extract_context, inject_context

log = logging.getLogger(__name__)
tracer = trace.get_tracer("certflow.outbox")

OutboxTable = type[OutboxColumns]  # a service's outbox table (OutboxColumns on its Base)
RenderPayload = Callable[[str, bytes], bytes]  # (subject, stored payload) → published payload


def _as_stored(subject: str, payload: bytes) -> bytes:
    return payload


class OutboxRelay:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        table: OutboxTable,
        js: JetStreamContext,
        *,
        batch_size: int = 200,
        poll_seconds: float = 0.5,
        group_size: int = 16,
        render: RenderPayload = _as_stored,
    ) -> None:
        self._sessions = sessions
        self._table = table
        self._js = js
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._group_size = group_size
        self._render = render
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Called after a commit that wrote outbox rows, so they go out at once."""
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                published = await self.publish_pending()
            except Exception:
                log.exception("outbox relay failed; retrying")
                published = 0
            if published == self._batch_size:
                continue  # more are waiting
            self._wake.clear()
            waits = [
                asyncio.ensure_future(self._wake.wait()),
                asyncio.ensure_future(stopping.wait()),
            ]
            await asyncio.wait(
                waits, timeout=self._poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waits:
                waiter.cancel()
        await self.publish_pending()  # flush what was committed before the stop

    async def publish_pending(self) -> int:
        """Publishes up to `batch_size` rows in order, a group at a time: a group is rendered,
        published concurrently and marked before the next is rendered, so the first rows go out
        without waiting for the rest to render and at most a group's payloads are in memory."""
        rows = await asyncio.to_thread(self._pending)
        for start in range(0, len(rows), self._group_size):
            group = rows[start : start + self._group_size]
            payloads = await asyncio.to_thread(self._rendered, group)
            await asyncio.gather(
                *(
                    self._publish(subject, payload, msg_id, trace_context)
                    for (_, subject, msg_id, _, trace_context), payload in zip(
                        group, payloads, strict=True
                    )
                )
            )
            await asyncio.to_thread(self._mark_published, [row[0] for row in group])
        return len(rows)

    async def _publish(self, subject: str, payload: bytes, msg_id: str, trace_context: str) -> None:
        """A row written with a trace context is published in a producer span continuing it
        (the batch's or window's trace); a row without one goes out untraced."""
        if not trace_context:
            await publish(self._js, subject, payload, msg_id=msg_id)
            return
        with tracer.start_as_current_span(
            f"publish {subject}",
            context=extract_context(json.loads(trace_context)),
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "send",
                "messaging.destination.name": subject,
                "messaging.message.id": msg_id,
            },
        ):
            await publish(self._js, subject, payload, msg_id=msg_id, headers=inject_context())

    def _pending(self) -> list[tuple[int, str, str, bytes, str]]:
        table = self._table
        with self._sessions() as session:
            result = session.execute(
                select(table.id, table.subject, table.msg_id, table.payload, table.trace_context)
                .where(table.published_at.is_(None))
                .order_by(table.id)
                .limit(self._batch_size)
            )
            return [tuple(row) for row in result]  # type: ignore[misc]

    def _rendered(self, rows: list[tuple[int, str, str, bytes, str]]) -> list[bytes]:
        return [self._render(subject, payload) for _, subject, _, payload, _ in rows]

    def _mark_published(self, ids: list[int]) -> None:
        table = self._table
        with self._sessions.begin() as session:
            session.execute(
                update(table).where(table.id.in_(ids)).values(published_at=datetime.now(UTC))
            )
