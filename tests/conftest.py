"""Shared fixtures: databases on SQLite and (when CERTFLOW_TEST_DATABASE_URL is set) PostgreSQL."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.databases import create_database, drop_database

POSTGRES_ADMIN_URL = os.environ.get("CERTFLOW_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_ADMIN_URL else [])]


def fresh_database_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'certflow.db'}"
    return create_database(POSTGRES_ADMIN_URL)


def discard_database(url: str) -> None:
    if url.startswith("postgresql"):
        drop_database(POSTGRES_ADMIN_URL, url)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(request.param, tmp_path)
    yield url
    discard_database(url)
