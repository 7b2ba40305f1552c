"""Each service's Alembic chain builds exactly its tables, on SQLite and PostgreSQL, and the
services can share one database (each chain has its own version table)."""

import importlib
from datetime import UTC, date, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, Table, insert, inspect, text

from certflow.platform.db.engine import make_engine
from certflow.platform.db.migrate import SERVICES, alembic_config, upgrade


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


def test_notify_s_stored_proofs_move_to_their_own_table_and_back(database_url: str) -> None:
    """0002 moves the proofs off the wide content rows: a certificate anchored before the
    upgrade keeps its proof (its email may still be due); downgrade puts it back."""
    config = alembic_config(database_url, "notify")
    command.upgrade(config, "0001")
    engine = make_engine(database_url)
    content = {
        "certificate_id": "c-1",
        "batch_id": "b-1",
        "recipient_name": "Zoë",
        "recipient_email": "zoe@example.org",
        "title": "T",
        "completion_date": date(2026, 6, 30),
        "issuer_name": "U",
        "document": b"{}",
        "leaf_salt": b"s" * 32,
        "leaf_hash": b"l" * 32,
        "created_at": datetime.now(UTC),
    }
    proof = {
        "merkle_root": b"r" * 32,
        "merkle_path": b"p" * 64,
        "chain_id": 31337,
        "registry_address": "0x" + "11" * 20,
        "transaction_hash": "0x" + "22" * 32,
        "block_number": 7,
    }
    old_content = Table("notify_certificates", MetaData(), autoload_with=engine)
    with engine.begin() as connection:
        connection.execute(insert(old_content), [{**content, **proof}])
        connection.execute(insert(old_content), [{**content, "certificate_id": "c-2"}])
    command.upgrade(config, "head")
    with engine.connect() as connection:
        proofs = connection.execute(text("SELECT * FROM notify_proofs")).mappings().all()
    assert [dict(p) for p in proofs] == [{"certificate_id": "c-1", **proof}]
    command.downgrade(config, "0001")
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT certificate_id, merkle_root, block_number FROM notify_certificates")
        ).all()
    engine.dispose()
    assert sorted(tuple(r) for r in rows) == [("c-1", b"r" * 32, 7), ("c-2", None, None)]


def test_verify_s_proofs_move_to_their_own_table_and_back(database_url: str) -> None:
    """0004 moves the proofs off the wide credential rows: a certificate anchored before the
    upgrade still verifies from its proof, one whose proof came before its credential too;
    downgrade puts them back."""
    config = alembic_config(database_url, "verify")
    command.upgrade(config, "0003")
    engine = make_engine(database_url)
    proof = {
        "merkle_root": b"r" * 32,
        "merkle_path": b"p" * 64,
        "chain_id": 31337,
        "registry_address": "0x" + "11" * 20,
        "transaction_hash": "0x" + "22" * 32,
        "block_number": 7,
    }
    issued = {"document": b"{}", "leaf_salt": b"s" * 32, "leaf_hash": b"l" * 32, "batch_id": "b"}
    old_rows = Table("verify_certificates", MetaData(), autoload_with=engine)
    with engine.begin() as connection:
        connection.execute(insert(old_rows), [{"certificate_id": "c-1", **issued, **proof}])
        connection.execute(insert(old_rows), [{"certificate_id": "c-2", **issued}])
        connection.execute(insert(old_rows), [{"certificate_id": "c-3", **proof}])
    command.upgrade(config, "head")
    with engine.connect() as connection:
        proofs = connection.execute(
            text("SELECT * FROM verify_proofs ORDER BY certificate_id")
        ).mappings()
        assert [dict(p) for p in proofs] == [
            {"certificate_id": "c-1", **proof},
            {"certificate_id": "c-3", **proof},
        ]
        connection.execute(text("DELETE FROM verify_certificates WHERE certificate_id = 'c-3'"))
        connection.commit()
    command.downgrade(config, "0003")
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT certificate_id, merkle_root, block_number, document "
                "FROM verify_certificates"
            )
        ).all()
    engine.dispose()
    assert sorted(tuple(r) for r in rows) == [
        ("c-1", b"r" * 32, 7, b"{}"),
        ("c-2", None, None, b"{}"),
        ("c-3", b"r" * 32, 7, None),
    ]
