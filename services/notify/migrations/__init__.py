"""Alembic migrations of this service's tables (python -m certflow.platform.db.migrate)."""
