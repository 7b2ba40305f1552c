"""verify's tables: its read model (fed from events; no personal data beyond the credential)."""

from sqlalchemy.orm import DeclarativeBase

from certflow.platform.db.tables import service_metadata


class Base(DeclarativeBase):
    metadata = service_metadata()
