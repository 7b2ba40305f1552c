"""Each service's Alembic chain builds exactly its tables, on SQLite and PostgreSQL, and the
services can share one database (each chain has its own version table)."""

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from certflow.platform.db.engine import make_engine
from certflow.platform.db.migrate import SERVICES, upgrade


@pytest.mark.parametrize("service", SERVICES)
def test_a_services_migrations_match_its_tables(database_url: str, service: str) -> None:
    upgrade(database_url, [service])
    metadata = importlib.import_module(f"services.{service}.tables").Base.metadata
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": f"alembic_version_{service}"}
        )
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == []


def test_all_services_share_one_database_without_clashing(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)  # a second run is a no-op
    engine = make_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {f"alembic_version_{s}" for s in SERVICES} <= tables
    for service in SERVICES:
        owned = importlib.import_module(f"services.{service}.tables").Base.metadata.tables
        assert set(owned) <= tables
