"""Throw-away PostgreSQL databases for tests and benchmarks."""

import uuid

import psycopg
from sqlalchemy.engine import make_url


def create_database(admin_url: str) -> str:
    """Creates an empty database on the server of `admin_url`; returns its URL."""
    url = make_url(admin_url)
    name = f"certflow_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(admin_url), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    with psycopg.connect(_libpq(admin_url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _libpq(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)
