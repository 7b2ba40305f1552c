"""The engines every service uses, on SQLite and PostgreSQL: a database error names the
statement but not the values SQLAlchemy sent (recipients' names and addresses would end up in
logs otherwise). PostgreSQL's own DETAIL line may still quote a duplicate key's value."""

import pytest
from sqlalchemy import Column, MetaData, String, Table, insert
from sqlalchemy.exc import IntegrityError

from certflow.platform.db.engine import make_engine


def test_a_database_error_does_not_carry_the_values(database_url: str) -> None:
    engine = make_engine(database_url)
    table = Table("engine_check", MetaData(), Column("email", String(100), unique=True))
    table.create(engine)
    try:
        with engine.begin() as connection:
            connection.execute(insert(table).values(email="ada.lovelace@example.org"))
        with pytest.raises(IntegrityError) as failed, engine.begin() as connection:
            connection.execute(insert(table).values(email="ada.lovelace@example.org"))
        message = str(failed.value)
        assert "engine_check" in message and "SQL parameters hidden" in message
        if engine.dialect.name == "sqlite":
            assert "ada.lovelace" not in message
    finally:
        table.drop(engine)
        engine.dispose()
