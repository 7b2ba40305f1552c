"""Cancelled certificates (certs.cancelled, from ingest's CancelBatch) get no delivery.

A certificate of a cancelled batch can still be anchored when anchor had built its window
before the cancellation (it stays valid). Its "certs.anchored" event is taken as usual except
that no delivery is created for it, so it is never emailed. The cancelled ids come from
certflow.platform.cancellations (replayed from the stream at every start); the reader catches
up with the stream before an anchored event's deliveries are created.

Not covered: a delivery created BEFORE the cancellation (the certificate was anchored first) is
still sent; stopping it needs a cancelled state on notify's deliveries (store and tables).
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from certflow.platform.cancellations import CancelledCertificates
from services.notify.intake import AnchoredStored, AnchoredWindow, IntakeStore, RecipientContent

log = logging.getLogger(__name__)


class SkippingCancelledIntake:
    """An IntakeStore that stores anchored events without the cancelled certificates."""

    def __init__(
        self,
        inner: IntakeStore,
        cancelled: CancelledCertificates,
        catch_up: Callable[[], None] = lambda: None,
    ) -> None:
        self._inner = inner
        self._cancelled = cancelled
        self._catch_up = catch_up

    def store_recipients(self, recipients: Sequence[RecipientContent]) -> int:
        return self._inner.store_recipients(recipients)

    def remember_batch_trace(self, batch_id: str, trace_context: str) -> None:
        self._inner.remember_batch_trace(batch_id, trace_context)

    def store_anchored(self, window: AnchoredWindow, *, now: datetime) -> AnchoredStored:
        self._catch_up()  # blocks: the intake calls this in a worker thread
        skipped = self._cancelled.among(window.paths)
        if not skipped:
            return self._inner.store_anchored(window, now=now)
        log.info(
            "window %s: %d cancelled certificates get no email",
            window.facts.window_id,
            len(skipped),
        )
        kept = {cid: path for cid, path in window.paths.items() if cid not in skipped}
        if not kept:
            return AnchoredStored(created=0)
        return self._inner.store_anchored(replace(window, paths=kept), now=now)
