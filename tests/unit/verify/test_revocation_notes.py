"""The issuer's note on a revocation: read from certs.revoked, added to a REVOKED verdict only,
and shown safely."""

from datetime import UTC, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from certflow.core.verification import (
    Check,
    CheckStatus,
    RevocationNote,
    Verification,
    VerificationStatus,
)
from certflow.v1 import certificate_pb2, events_pb2
from services.verify.read_model import UnusableEvent
from services.verify.revocation_notes import (
    reason_name,
    reason_value,
    revocation_message,
    revoked_records,
    with_note,
)

WHEN = datetime(2026, 11, 29, 12, 30, tzinfo=UTC)


def event(**certificate: object) -> bytes:
    stamp = Timestamp()
    stamp.FromDatetime(WHEN)
    values: dict[str, object] = {
        "certificate_id": "11111111-1111-4111-8111-111111111111",
        "reason": certificate_pb2.REVOCATION_REASON_SUPERSEDED,
        "reason_text": "name misspelt",
        "revoke_time": stamp,
        "replaced_by_certificate_id": "22222222-2222-4222-8222-222222222222",
        **certificate,
    }
    return events_pb2.CertificatesRevokedEvent(
        transaction_hash="0x" + "ab" * 32,
        certificates=[events_pb2.RevokedCertificate(**values)],  # type: ignore[arg-type]
    ).SerializeToString()


def test_a_revoked_event_becomes_a_note_with_reason_text_time_and_replacement() -> None:
    (record,) = revoked_records(event())
    assert record.note == RevocationNote(
        "superseded",
        "name misspelt",
        WHEN,
        "22222222-2222-4222-8222-222222222222",
        "0x" + "ab" * 32,
    )


def test_unreadable_or_empty_events_are_poison() -> None:
    with pytest.raises(UnusableEvent):
        revoked_records(b"\xff\xff")
    with pytest.raises(UnusableEvent):
        revoked_records(events_pb2.CertificatesRevokedEvent().SerializeToString())
    with pytest.raises(UnusableEvent):
        revoked_records(event(certificate_id="x" * 37))


def test_reason_names_round_trip_and_unknown_values_read_as_other() -> None:
    for value in (1, 2, 3, 4, 5):
        assert reason_value(reason_name(value)) == value
    assert reason_name(0) == "" and reason_name(99) == ""
    (record,) = revoked_records(event(reason=0))
    assert record.note.reason == "other"


def revoked() -> Verification:
    result = Verification(VerificationStatus.REVOKED, certificate_id="c")
    result.checks = [
        Check("anchored", CheckStatus.PASSED, "anchored in block 3"),
        Check("revocation", CheckStatus.FAILED, "revoked by the issuer"),
    ]
    return result


def test_the_note_explains_the_revocation_check() -> None:
    note = RevocationNote("superseded", "name misspelt", WHEN, "new-id", "0xab")
    result = with_note(revoked(), note)
    assert result.revocation == note
    assert result.checks[0].message == "anchored in block 3"
    assert result.checks[1].message == (
        "revoked by the issuer on 2026-11-29: superseded by a corrected certificate;"
        " “name misspelt”; replaced by certificate new-id"
    )
    assert revocation_message(RevocationNote("withdrawn")) == (
        "revoked by the issuer: withdrawn by the issuer"
    )


def test_an_issuers_text_is_neutralised_for_display() -> None:
    note = RevocationNote("other", "a\u202eb\x1b[31m", WHEN)
    result = with_note(revoked(), note)
    assert result.revocation is not None
    assert "\u202e" not in result.revocation.reason_text and "\x1b" not in result.checks[1].message
