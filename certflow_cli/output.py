"""What the commands print: one JSON document on stdout with --json, rich text otherwise.

Progress and errors go to stderr, so stdout carries only the result. Text that came from a
file or a service is shown with hidden characters (controls, bidi overrides) made visible: a
CSV cell must not move the cursor or reorder what the terminal shows.
"""

import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.table import Table
from rich.text import Text

from certflow.v1 import certificate_pb2, ingest_service_pb2
from certflow_cli.exit_codes import CliError

JsonDocument = dict[str, Any]
_C1_CONTROLS = re.compile(r"[\x7f-\x9f]")  # json.dumps escapes only U+0000-U+001F


def to_json(document: JsonDocument) -> str:
    text = json.dumps(document, ensure_ascii=False, indent=2)
    return _C1_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def shown(value: object) -> Text:
    """A value as literal text for a terminal: no rich markup, nothing hidden."""
    return Text(_displayable(str(value)))


def shown_lines(text: str) -> Text:
    """Several lines (a pretty-printed JSON document): each line as `shown` makes it."""
    return Text("\n".join(_displayable(line) for line in text.split("\n")))


def _displayable(text: str) -> str:
    # imported on first use: building its Unicode tables takes ~0.5 s, which --help and
    # --json never need
    from certflow.core.visible_text import displayable

    return displayable(text)


class Output:
    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode
        self.stdout = Console(highlight=False, soft_wrap=True)
        # progress bars and messages; quiet in JSON mode except for errors
        self.stderr = Console(stderr=True, highlight=False, soft_wrap=True)

    def result(self, document: JsonDocument, render: Callable[[Console], None]) -> None:
        if self.json_mode:
            sys.stdout.write(to_json(document) + "\n")
            sys.stdout.flush()
        else:
            render(self.stdout)

    def note(self, message: str) -> None:
        """A line for the person at the terminal (stderr; none in JSON mode)."""
        if not self.json_mode:
            self.stderr.print(shown(message))

    def error(self, error: CliError) -> None:
        if self.json_mode:
            sys.stdout.write(to_json({"error": error_document(error)}) + "\n")
            sys.stdout.flush()
        self.stderr.print(shown(f"certflow: error: {error.message}"))
        for line in error.details:
            self.stderr.print(shown(f"  {line}"))


def error_document(error: CliError) -> JsonDocument:
    return {
        "exit_code": int(error.exit_code),
        "reason": error.reason,
        "message": error.message,
        "details": list(error.details),
    }


# ---- shaping: protobuf messages → JSON-ready dicts ----


def state_name(state: int) -> str:
    return ingest_service_pb2.BatchState.Name(state).removeprefix("BATCH_STATE_")


def batch_document(batch: ingest_service_pb2.Batch) -> JsonDocument:
    return {
        "batch_id": batch.batch_id,
        "display_name": batch.display_name,
        "source": batch.source,
        "state": state_name(batch.state),
        "row_count": batch.row_count,
        "accepted_count": batch.accepted_count,
        "rejected_count": batch.rejected_count,
        "anchored_count": batch.anchored_count,
        "emailed_count": batch.emailed_count,
        "email_failed_count": batch.email_failed_count,
        "email_bounced_count": batch.email_bounced_count,
        "email_suppressed_count": batch.email_suppressed_count,
        "stored_count": batch.stored_count,
        "cancelled_count": batch.cancelled_count,
        "create_time": _time(batch, "create_time"),
        "cancel_time": _time(batch, "cancel_time"),
    }


def _time(message: ingest_service_pb2.Batch, field: str) -> str | None:
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC).isoformat()


def row_error_document(error: certificate_pb2.RowError) -> JsonDocument:
    return {
        "line": error.row_number,
        "field": error.field,
        "reason": error.reason,
        "message": error.message,
    }


def warning_document(warning: ingest_service_pb2.RowWarning) -> JsonDocument:
    return {
        "line": warning.row_number,
        "field": warning.field,
        "code": warning.code,
        "message": warning.message,
    }


def delimiter_name(delimiter: str) -> str:
    return {"\t": "tab", ",": "comma", ";": "semicolon"}.get(delimiter, repr(delimiter))


def certificate_document(certificate: certificate_pb2.Certificate) -> JsonDocument:
    return {
        "certificate_id": certificate.certificate_id,
        "batch_id": certificate.batch_id,
        "recipient_name": certificate.recipient_name,
        "title": certificate.title,
        "state": certificate_pb2.CertificateState.Name(certificate.state).removeprefix(
            "CERTIFICATE_STATE_"
        ),
        "leaf_hash": "0x" + certificate.leaf_hash.hex(),
        "document": json.loads(certificate.document_json) if certificate.document_json else None,
    }


# ---- human rendering ----


def row_errors_table(errors: Iterable[JsonDocument], *, title: str) -> Table:
    table = Table("line", "field", "reason", "message", title=title, title_justify="left")
    for error in errors:
        table.add_row(
            shown(error["line"]),
            shown(error["field"]),
            shown(error["reason"]),
            shown(error["message"]),
        )
    return table


def warnings_table(warnings: Iterable[JsonDocument], *, title: str) -> Table:
    table = Table("line", "field", "code", "message", title=title, title_justify="left")
    for warning in warnings:
        table.add_row(
            shown(warning["line"]),
            shown(warning["field"]),
            shown(warning["code"]),
            shown(warning["message"]),
        )
    return table


def reasons_summary(errors: Iterable[JsonDocument], key: str = "reason") -> str:
    """How many of each reason (or code), the most frequent first: "INVALID_EMAIL ×3, …"."""
    counts = Counter(e[key] for e in errors)
    return ", ".join(f"{reason} ×{n}" for reason, n in counts.most_common())


def batch_table(batch: JsonDocument) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    for label, key in (
        ("state", "state"),
        ("name", "display_name"),
        ("source", "source"),
        ("rows", "row_count"),
        ("accepted", "accepted_count"),
        ("refused", "rejected_count"),
        ("anchored", "anchored_count"),
        ("emailed", "emailed_count"),
        ("emails failed", "email_failed_count"),
        ("  bounced", "email_bounced_count"),
        ("  suppressed", "email_suppressed_count"),
        ("created", "create_time"),
        ("cancelled", "cancel_time"),
        ("never anchored", "cancelled_count"),
    ):
        if key in ("cancel_time", "cancelled_count") and not batch["cancel_time"]:
            continue
        if key in ("email_bounced_count", "email_suppressed_count") and not batch[key]:
            continue  # of the failed: shown when there are some
        table.add_row(label, shown(batch[key] if batch[key] is not None else ""))
    return table
