"""Alembic environment of notify's tables (see certflow.platform.db.migrate)."""

from certflow.platform.db.migrate import run_env
from services.notify.tables import Base

run_env(Base.metadata)
