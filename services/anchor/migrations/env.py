"""Alembic environment of anchor's tables (see certflow.platform.db.migrate)."""

from certflow.platform.db.migrate import run_env
from services.anchor.tables import Base

run_env(Base.metadata)
