"""What every service's tables share: the naming convention, the clock default and the outbox
columns. Each service declares its own tables on its own `Base` (services/<name>/tables.py) and
migrates them with its own Alembic chain; no service imports another's tables.
"""

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, MetaData, String, Text
from sqlalchemy.orm import Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def service_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING)


class OutboxColumns:
    """Messages committed with the data they announce, published by the relay. Each service
    that publishes has its own outbox table with these columns."""

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    subject: Mapped[str] = mapped_column(String(100))
    msg_id: Mapped[str] = mapped_column(String(100), unique=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    trace_context: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
