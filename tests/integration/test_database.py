"""Schema and ingest storage against real SQLite and PostgreSQL."""

from datetime import date

import pytest
from sqlalchemy import func, select

from certflow.core.document import IssuerProfile
from certflow.core.errors import Conflict, InvalidInput
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from services.ingest import tables as ingest_tables
from services.ingest.usecases import Ingest

ISSUER = IssuerProfile(id="https://uni.example.edu", name="Example University")
CSV = (
    "name,email,title,completion_date,grade\n"
    "Ada Lovelace,ada@example.edu,BSc Mathematics,2026-06-30,First\n"
    "Zoë Ångström,zoe@example.edu,BSc Mathematics,2026-06-30,Merit\n"
    "Bad Row,not-an-email,BSc Mathematics,2026-06-30,x\n"
    "Ada Lovelace,ADA@example.edu,bsc mathematics,2026-06-30,dup\n"
).encode()


@pytest.fixture
def sessions(database_url):
    upgrade(database_url)
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def make_ingest(sessions, **kw) -> Ingest:
    return Ingest(
        sessions,
        ISSUER,
        max_rows=1000,
        leaves_per_message=1,
        today=lambda: date(2026, 11, 29),
        **kw,
    )


def test_upload_stores_batch_certificates_errors_and_outbox_in_one_go(sessions):
    woken = []
    ingest = make_ingest(sessions, on_committed=lambda: woken.append(1))
    result = ingest.upload_csv(CSV, request_id="r1", display_name="June")
    assert (result.batch.row_count, result.batch.accepted_count, result.batch.rejected_count) == (
        4,
        2,
        2,
    )
    assert {(e.row_number, e.reason) for e in result.row_errors} == {
        (4, "INVALID_EMAIL"),
        (5, "DUPLICATE_IN_FILE"),
    }
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ingest_tables.Certificate)) == 2
        outbox = session.scalars(select(ingest_tables.IngestOutbox)).all()
        assert len(outbox) == 2 and all(
            o.published_at is None for o in outbox
        )  # 1 leaf per message
        certificate = session.scalars(select(ingest_tables.Certificate)).first()
        assert b"ada@example.edu" not in certificate.document  # email only as salted hash
    assert woken == [1]


def test_upload_is_idempotent_on_request_id_and_refuses_reissue(sessions):
    ingest = make_ingest(sessions)
    first = ingest.upload_csv(CSV, request_id="same", display_name="")
    again = ingest.upload_csv(CSV, request_id="same", display_name="")
    assert again.batch.batch_id == first.batch.batch_id
    other = ingest.upload_csv(CSV, request_id="other", display_name="")
    assert other.batch.accepted_count == 0
    assert {e.reason for e in other.row_errors} >= {"ALREADY_ISSUED"}
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ingest_tables.Certificate)) == 2


def test_unreadable_file_writes_nothing(sessions):
    ingest = make_ingest(sessions)
    with pytest.raises(InvalidInput) as info:
        ingest.upload_csv(b"name,email\nA,b\n", request_id="", display_name="")
    assert info.value.reason == "MISSING_COLUMNS"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ingest_tables.Batch)) == 0


def test_single_issue_is_idempotent_and_conflicts_on_duplicate(sessions):
    ingest = make_ingest(sessions)
    fields = {
        "name": "Ada",
        "email": "ada@example.edu",
        "title": "Course",
        "completion_date": "2026-01-02",
    }
    one = ingest.issue_one(request_id="k1", fields=fields, custom_fields={})
    assert (
        ingest.issue_one(request_id="k1", fields=fields, custom_fields={}).certificate_id
        == one.certificate_id
    )
    with pytest.raises(Conflict):
        ingest.issue_one(request_id="k2", fields=fields, custom_fields={})
    with pytest.raises(InvalidInput) as info:
        ingest.issue_one(request_id="", fields={**fields, "email": "x"}, custom_fields={})
    assert info.value.violations[0].field == "email"
