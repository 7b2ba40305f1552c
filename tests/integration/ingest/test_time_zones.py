"""A CSV's time_zone column and the batch's delivery timing, stored by ingest on a real
database (SQLite and PostgreSQL) and rendered into "certs.recipients" at publish time."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from certflow.core.document import IssuerProfile
from certflow.platform.bus import SUBJECT_RECIPIENTS
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from certflow.v1 import events_pb2
from services.ingest import tables as ingest_tables
from services.ingest.announcements import DeliveryTiming
from services.ingest.store import SqlIngestStore
from services.ingest.usecases import Ingest

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
SEND_TIME = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
CSV = (
    b"Name,Email,Course,Date,TZ\n"
    b"Ken Sato,ken@uni.example,BSc Physics,2026-06-30,Asia/Tokyo\n"
    b"Amy Ray,amy@uni.example,BSc Physics,2026-06-30,America/Los_Angeles\n"
    b"Ole Berg,ole@uni.example,BSc Physics,2026-06-30,\n"
    b"Nobody,no@uni.example,BSc Physics,2026-06-30,Mars/Olympus_Mons\n"
)


@pytest.fixture
def store(database_url):
    upgrade(database_url, ["ingest"])
    engine = make_engine(database_url)
    yield SqlIngestStore(make_session_factory(engine))
    engine.dispose()


def test_zones_are_stored_per_certificate_and_announced_with_the_batch_timing(store):
    ingest = Ingest(
        store,
        IssuerProfile(id="https://uni.example/issuers/main", name="Uni"),
        max_rows=100,
        clock=lambda: NOW,
        default_time_zone="Europe/Berlin",
    )
    result = ingest.upload_csv(
        CSV,
        request_id="r1",
        display_name="",
        timing=DeliveryTiming(business_hours=True, send_time=SEND_TIME),
    )
    [refused] = result.row_errors
    assert (refused.row_number, refused.field, refused.reason) == (
        5,
        "time_zone",
        "UNKNOWN_TIME_ZONE",
    )
    assert "Mars/Olympus_Mons" in refused.message
    with store._sessions() as session:
        stored = dict(
            session.execute(
                select(
                    ingest_tables.Certificate.recipient_email, ingest_tables.Certificate.time_zone
                )
            ).all()
        )
        outbox = session.scalars(
            select(ingest_tables.IngestOutbox).where(
                ingest_tables.IngestOutbox.subject == SUBJECT_RECIPIENTS
            )
        ).all()
    assert stored == {
        "ken@uni.example": "Asia/Tokyo",
        "amy@uni.example": "America/Los_Angeles",
        "ole@uni.example": "Europe/Berlin",  # the issuer's default
    }
    recipients = [
        r
        for o in outbox
        for r in events_pb2.CertificateRecipientsEvent.FromString(
            store.render_outbox_payload(o.subject, o.payload)
        ).recipients
    ]
    assert {r.recipient_email: r.time_zone for r in recipients} == stored
    assert all(r.business_hours for r in recipients)
    assert {r.send_time.ToDatetime(UTC) for r in recipients} == {SEND_TIME}
