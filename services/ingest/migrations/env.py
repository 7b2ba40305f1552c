"""Alembic environment of ingest's tables (see certflow.platform.db.migrate)."""

from certflow.platform.db.migrate import run_env
from services.ingest.tables import Base

run_env(Base.metadata)
