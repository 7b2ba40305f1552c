"""verify's SQL store on SQLite and PostgreSQL: the same scenarios as the in-memory store of the
unit tests (tests/unit/verify/events.py), so both keep one meaning."""

from collections.abc import Iterator

import pytest
from sqlalchemy import inspect

from certflow.core.document import read_anchor_proof
from certflow.core.merkle import verify_proof
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from services.verify.consumers import anchored_records, issued_records
from services.verify.lookups import CertificateLookups
from services.verify.read_model import CertificateState, CertificateStore, state_of
from services.verify.store import ROWS_PER_STATEMENT, SqlCertificateStore
from tests.unit.verify.events import Leaf, MemoryStore, anchored_event, issued_event, new_leaf


@pytest.fixture(params=["sql", "memory"])
def store(request: pytest.FixtureRequest, database_url: str) -> Iterator[CertificateStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    upgrade(database_url, ["verify"])
    writer = make_engine(database_url)
    reader = make_engine(database_url, sqlite_writer=False)
    yield SqlCertificateStore(make_session_factory(writer), make_session_factory(reader))
    writer.dispose()
    reader.dispose()


def states(store: CertificateStore, leaves: list[Leaf]) -> set[CertificateState]:
    return {state_of(store.find(leaf.certificate_id)) for leaf in leaves}


def test_either_order_ends_anchored(store: CertificateStore) -> None:
    first, second = [new_leaf() for _ in range(3)], [new_leaf() for _ in range(3)]
    store.add_issued(issued_records(issued_event(first)))
    assert states(store, first) == {CertificateState.PENDING}
    store.add_anchored(anchored_records(anchored_event(first)))
    store.add_anchored(anchored_records(anchored_event(second)))
    assert states(store, second) == {CertificateState.NOT_FOUND}
    store.add_issued(issued_records(issued_event(second)))
    assert states(store, first + second) == {CertificateState.ANCHORED}


def test_redelivery_and_duplicates_in_one_event_change_nothing(store: CertificateStore) -> None:
    leaves = [new_leaf() for _ in range(4)]
    twice = issued_records(issued_event([*leaves, leaves[0]]))
    store.add_issued(twice)
    store.add_anchored(anchored_records(anchored_event(leaves)))
    before = [store.find(leaf.certificate_id) for leaf in leaves]
    other = new_leaf(title="Another Title", certificate_id=leaves[1].certificate_id)
    store.add_issued(issued_records(issued_event([leaves[1]])))
    store.add_issued(issued_records(issued_event([other])))
    store.add_anchored(anchored_records(anchored_event(leaves)))
    store.add_anchored(anchored_records(anchored_event(leaves[:1], block_number=3)))
    assert [store.find(leaf.certificate_id) for leaf in leaves] == before


def test_a_later_block_replaces_the_anchoring(store: CertificateStore) -> None:
    leaf = new_leaf()
    store.add_issued(issued_records(issued_event([leaf])))
    store.add_anchored(anchored_records(anchored_event([leaf], block_number=9)))
    store.add_anchored(anchored_records(anchored_event([leaf], block_number=12)))
    stored = store.find(leaf.certificate_id)
    assert stored is not None and stored.anchored is not None
    assert stored.anchored.anchoring.block_number == 12


async def test_many_certificates_in_one_event(store: CertificateStore) -> None:
    leaves = [new_leaf() for _ in range(ROWS_PER_STATEMENT + 7)]
    store.add_anchored(anchored_records(anchored_event(leaves)))
    store.add_issued(issued_records(issued_event(leaves)))
    assert states(store, leaves) == {CertificateState.ANCHORED}
    found = await CertificateLookups(store).find(leaves[-1].certificate_id)
    assert found is not None
    proof = read_anchor_proof(found.document)
    assert verify_proof(proof.leaf_hash, proof.merkle_path, proof.merkle_root)


def test_the_table_holds_no_email(database_url: str) -> None:
    upgrade(database_url, ["verify"])
    engine = make_engine(database_url)
    inspector = inspect(engine)
    tables = set(inspector.get_table_names()) - {"alembic_version_verify"}
    columns = [c["name"] for table in sorted(tables) for c in inspector.get_columns(table)]
    engine.dispose()
    assert tables == {
        "verify_certificates",
        "verify_proofs",
        "verify_problem_reports",
        "verify_revocations",
    }
    # a problem reporter's own address, only when they give one (services/verify/reports.py)
    assert [name for name in columns if "email" in name.lower()] == ["contact_email"]
