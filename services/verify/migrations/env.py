"""Alembic environment of verify's tables (see certflow.platform.db.migrate)."""

from certflow.platform.db.migrate import run_env
from services.verify.tables import Base

run_env(Base.metadata)
