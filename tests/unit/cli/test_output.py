"""Output shaping: protobuf messages to JSON documents, and text made safe for a terminal."""

import json
from datetime import UTC, datetime

from certflow.v1 import certificate_pb2, ingest_service_pb2
from certflow_cli.exit_codes import CliError, ExitCode
from certflow_cli.output import (
    batch_document,
    certificate_document,
    error_document,
    reasons_summary,
    row_error_document,
    shown,
    to_json,
)


def test_a_batch_document_carries_every_count_and_the_state_by_name() -> None:
    batch = ingest_service_pb2.Batch(
        batch_id="b-1",
        display_name="June",
        source="csv",
        state=ingest_service_pb2.BATCH_STATE_COMPLETED_WITH_FAILURES,
        row_count=10,
        accepted_count=8,
        rejected_count=2,
        anchored_count=8,
        emailed_count=7,
        email_failed_count=1,
        stored_count=8,
    )
    batch.create_time.FromDatetime(datetime(2026, 6, 10, 12, 0, tzinfo=UTC))
    assert batch_document(batch) == {
        "batch_id": "b-1",
        "display_name": "June",
        "source": "csv",
        "state": "COMPLETED_WITH_FAILURES",
        "row_count": 10,
        "accepted_count": 8,
        "rejected_count": 2,
        "anchored_count": 8,
        "emailed_count": 7,
        "email_failed_count": 1,
        "email_bounced_count": 0,
        "email_suppressed_count": 0,
        "stored_count": 8,
        "cancelled_count": 0,
        "create_time": "2026-06-10T12:00:00+00:00",
        "cancel_time": None,
    }
    assert batch_document(ingest_service_pb2.Batch())["create_time"] is None


def test_a_row_error_document_names_the_line() -> None:
    error = certificate_pb2.RowError(row_number=7, field="email", reason="R", message="m")
    assert row_error_document(error) == {"line": 7, "field": "email", "reason": "R", "message": "m"}


def test_a_certificate_document_holds_the_credential_parsed_and_the_leaf_in_hex() -> None:
    certificate = certificate_pb2.Certificate(
        certificate_id="c-1",
        batch_id="b-1",
        recipient_name="Ana",
        title="BSc",
        state=certificate_pb2.CERTIFICATE_STATE_ISSUED,
        document_json='{"id": "urn:uuid:c-1"}',
        leaf_hash=bytes.fromhex("ab" * 32),
    )
    document = certificate_document(certificate)
    assert document["state"] == "ISSUED"
    assert document["document"] == {"id": "urn:uuid:c-1"}
    assert document["leaf_hash"] == "0x" + "ab" * 32


def test_json_output_escapes_every_control_character_and_keeps_other_text() -> None:
    text = to_json({"name": "Zoë\x1b[2J\x9b31m"})
    assert "\x1b" not in text and "\x9b" not in text
    assert "Zoë" in text
    assert json.loads(text) == {"name": "Zoë\x1b[2J\x9b31m"}


def test_shown_text_hides_nothing_and_reads_no_markup() -> None:
    assert shown("[bold]x[/]").plain == "[bold]x[/]"
    assert shown("a\x1b[31mb\u202ec").plain == "a\ufffd[31mb\ufffdc"


def test_reasons_are_summarised_most_frequent_first() -> None:
    errors = [{"reason": r} for r in ("B", "A", "A", "C", "A", "B")]
    assert reasons_summary(errors) == "A ×3, B ×2, C ×1"


def test_an_error_document_has_the_exit_code_reason_and_details() -> None:
    error = CliError(ExitCode.NOT_FOUND, "no batch 'x'", reason="BATCH_NOT_FOUND", details=("d",))
    assert error_document(error) == {
        "exit_code": 6,
        "reason": "BATCH_NOT_FOUND",
        "message": "no batch 'x'",
        "details": ["d"],
    }
    assert CliError(ExitCode.UNREACHABLE, "m").reason == "UNREACHABLE"
