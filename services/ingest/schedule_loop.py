"""The loop that fires due schedules (every replica runs it; a firing makes one batch however
many do, schedules.py says how)."""

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from certflow.platform.grpc_runtime import ServiceRuntime
from services.ingest.schedule_store import IngestUploads, SqlScheduleStore
from services.ingest.schedules import ScheduledBatches
from services.ingest.settings import IngestSettings
from services.ingest.store import SqlIngestStore
from services.ingest.usecases import Ingest

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def scheduled_batches(
    settings: IngestSettings,
    sessions: sessionmaker[Session],
    ingest: Ingest,
    clock: Callable[[], datetime] = _utcnow,
) -> ScheduledBatches:
    return ScheduledBatches(
        SqlScheduleStore(sessions),
        IngestUploads(ingest, SqlIngestStore(sessions)),
        max_rows=settings.max_rows_per_upload,
        clock=clock,
    )


def start_scheduler(
    runtime: ServiceRuntime, settings: IngestSettings, schedules: ScheduledBatches
) -> None:
    async def tick() -> None:
        while not runtime.stopping.is_set():
            try:
                await asyncio.to_thread(schedules.fire_due)
            except Exception:  # the next tick tries again (the firing key keeps it single)
                log.exception("firing due schedules failed")
            try:
                await asyncio.wait_for(runtime.stopping.wait(), settings.schedule_tick_seconds)
                return
            except TimeoutError:
                pass

    runtime.spawn(tick(), "scheduled-batches")
