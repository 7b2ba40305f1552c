"""What anchor has not finished, read for the gauges: one indexed query per collection."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.anchor.submission import WindowState
from services.anchor.tables import AnchorWindow


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    leaves: int  # in windows built or sent, not yet confirmed
    oldest_seconds: float  # age of the oldest such window; 0 when none


def unconfirmed(sessions: sessionmaker[Session], now: datetime | None = None) -> Unconfirmed:
    with sessions() as session:
        leaves, oldest = session.execute(
            select(
                func.coalesce(func.sum(AnchorWindow.leaf_count), 0),
                func.min(AnchorWindow.created_at),
            ).where(AnchorWindow.state.in_([WindowState.BUILT, WindowState.SUBMITTED]))
        ).one()
    if oldest is None:
        return Unconfirmed(int(leaves), 0.0)
    if oldest.tzinfo is None:  # SQLite returns naive UTC
        oldest = oldest.replace(tzinfo=UTC)
    return Unconfirmed(int(leaves), max(((now or datetime.now(UTC)) - oldest).total_seconds(), 0.0))
