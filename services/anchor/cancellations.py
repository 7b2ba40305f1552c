"""Cancelled certificates (certs.cancelled, from ingest's CancelBatch) are never placed.

A cancelled certificate whose leaf is still waiting in the window buffer is left out of the
window when it is built (reported as already placed, so its message is acked and it is never
anchored); a window already built goes to the chain as it is, and its certificates stay valid.
The cancelled ids come from certflow.platform.cancellations (replayed from the stream at every
start); the reader catches up with the stream before each window is built.
"""

import logging
from collections.abc import Callable, Sequence

from certflow.platform.cancellations import CancelledCertificates
from services.anchor.windows import NewWindow, WindowPlacement

log = logging.getLogger(__name__)


class SkippingCancelled:
    """A WindowPlacement that reports cancelled certificates as placed, so `place_leaves`
    leaves them out; `catch_up` is called first (it blocks: place_leaves runs in a thread)."""

    def __init__(
        self,
        inner: WindowPlacement,
        cancelled: CancelledCertificates,
        catch_up: Callable[[], None] = lambda: None,
    ) -> None:
        self._inner = inner
        self._cancelled = cancelled
        self._catch_up = catch_up

    def placed(self, certificate_ids: Sequence[str]) -> set[str]:
        self._catch_up()
        skipped = self._cancelled.among(certificate_ids)
        if skipped:
            log.info("%d cancelled certificates left out of the next window", len(skipped))
        return self._inner.placed(certificate_ids) | skipped

    def add_window(self, window: NewWindow) -> None:
        self._inner.add_window(window)
