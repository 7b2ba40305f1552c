"""A batch's delivery window and send time, and each recipient's time zone, reach notify on
"certs.recipients": stored in the upload's references, rendered at publish time."""

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from certflow.core.csv_intake import DETECT_ALL
from certflow.core.errors import InvalidInput
from certflow.platform.bus import SUBJECT_RECIPIENTS
from certflow.v1 import events_pb2
from certflow.v1 import ingest_service_pb2 as pb
from services.ingest.announcements import (
    SEND_WHEN_ANCHORED,
    DeliveryTiming,
    announce,
    announced,
    reference_of,
    render,
)
from services.ingest.servicer import delivery_timing
from services.ingest.usecases import upload_digest
from tests.unit.ingest.planning import realistic

SEND_TIME = datetime(2026, 7, 1, 8, 30, tzinfo=UTC)


def recipients_of(certificates, timing: DeliveryTiming) -> list[events_pb2.CertificateRecipient]:
    messages = announce("b1", certificates, issuer_name="Uni", timing=timing)
    stored = {c.certificate_id: announced(c) for c in certificates}
    found: list[events_pb2.CertificateRecipient] = []
    for m in messages:
        if m.subject == SUBJECT_RECIPIENTS:
            reference = reference_of(m.payload)
            assert reference is not None
            event = events_pb2.CertificateRecipientsEvent.FromString(
                render(m.subject, reference, stored)
            )
            found += event.recipients
    return found


def test_business_hours_send_time_and_each_recipient_s_zone_are_announced():
    certificates = [
        dataclasses.replace(c, content=dataclasses.replace(c.content, time_zone=zone))
        for c, zone in zip(realistic(2), ["Asia/Tokyo", ""], strict=True)
    ]
    timing = DeliveryTiming(business_hours=True, send_time=SEND_TIME)
    tokyo, default = recipients_of(certificates, timing)
    assert (tokyo.time_zone, default.time_zone) == ("Asia/Tokyo", "")
    assert tokyo.business_hours and default.business_hours
    assert tokyo.send_time.ToDatetime(UTC) == SEND_TIME


def test_a_batch_sent_when_anchored_announces_no_window_and_no_send_time():
    [recipient] = recipients_of(realistic(1), SEND_WHEN_ANCHORED)
    assert not recipient.business_hours and not recipient.HasField("send_time")


def test_a_reference_stored_before_delivery_timing_existed_reads_as_send_when_anchored():
    old = json.dumps(
        {
            "kind": "certflow.ingest.announcement/1",
            "batch_id": "b0",
            "issuer_name": "Uni",
            "certificate_ids": ["c1"],
        }
    ).encode()
    reference = reference_of(old)
    assert reference is not None and reference.timing == SEND_WHEN_ANCHORED


def test_the_upload_metadata_gives_the_timing_and_an_unknown_window_is_refused():
    metadata = pb.UploadCsvMetadata(delivery_window=pb.DELIVERY_WINDOW_BUSINESS_HOURS)
    metadata.send_time.FromDatetime(SEND_TIME)
    assert delivery_timing(metadata) == DeliveryTiming(True, SEND_TIME)
    assert delivery_timing(pb.UploadCsvMetadata()) == SEND_WHEN_ANCHORED
    with pytest.raises(InvalidInput) as refused:
        delivery_timing(pb.UploadCsvMetadata(delivery_window=7))  # type: ignore[arg-type]
    assert refused.value.violations[0].field == "metadata.delivery_window"


def test_the_same_request_id_with_another_delivery_timing_is_another_upload():
    data = b"name,email,title,completion_date\n"
    plain = upload_digest(data, DETECT_ALL)
    assert upload_digest(data, DETECT_ALL, SEND_WHEN_ANCHORED) == plain  # stored digests hold
    assert upload_digest(data, DETECT_ALL, DeliveryTiming(business_hours=True)) != plain
    later = DeliveryTiming(send_time=SEND_TIME)
    assert upload_digest(data, DETECT_ALL, later) not in {plain, upload_digest(data, DETECT_ALL)}
