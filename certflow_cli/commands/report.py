"""`certflow report BATCH`: a batch's completion record, as text, JSON or a CSV file."""

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import click
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.table import Table

from certflow.v1 import ingest_service_pb2 as pb
from certflow_cli.commands.batches import write_csv
from certflow_cli.connection import connected
from certflow_cli.exit_codes import ExitCode
from certflow_cli.invocation import Invocation, certflow_command
from certflow_cli.output import JsonDocument, batch_document, batch_table, shown

CSV_COLUMNS = ("section", "name", "value", "detail")
COUNTS = (
    "row_count",
    "accepted_count",
    "rejected_count",
    "anchored_count",
    "emailed_count",
    "email_failed_count",
    "cancelled_count",
)


def _time(message: Message, field: str) -> str | None:
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC).isoformat()


def report_document(report: pb.BatchReport) -> JsonDocument:
    return {
        "batch": batch_document(report.batch),
        "refused_row_count": report.refused_row_count,
        "intakes": [
            {
                "sequence": i.sequence,
                "create_time": _time(i, "create_time"),
                "row_count": i.row_count,
                "accepted_count": i.accepted_count,
                "rejected_count": i.rejected_count,
                "skipped_count": i.skipped_count,
                "held_back_count": i.held_back_count,
                "resolved_count": i.resolved_count,
            }
            for i in report.intakes
        ],
        "transactions": [
            {
                "transaction_hash": t.transaction_hash,
                "chain_id": t.chain_id,
                "block_number": t.block_number,
                "window_id": t.window_id,
                "merkle_root": "0x" + t.merkle_root.hex(),
                "certificate_count": t.certificate_count,
                "anchor_time": _time(t, "anchor_time"),
            }
            for t in report.transactions
        ],
        "deliveries": {d.outcome: d.count for d in report.deliveries},
        "timings": {
            "created": _time(report.batch, "create_time"),
            "first_anchored": _time(report, "first_anchor_time"),
            "last_anchored": _time(report, "last_anchor_time"),
            "last_emailed": _time(report, "last_email_time"),
        },
    }


def csv_records(document: JsonDocument) -> Iterator[list[str]]:
    """One flat table: section, name, value, detail (every cell neutralised on writing)."""
    batch = document["batch"]
    yield list(CSV_COLUMNS)
    for key in ("batch_id", "display_name", "source", "state"):
        yield ["batch", key, str(batch[key]), ""]
    for key in COUNTS:
        yield ["count", key, str(batch[key]), ""]
    yield ["count", "refused_row_count", str(document["refused_row_count"]), ""]
    for name, at in document["timings"].items():
        yield ["time", name, at or "", ""]
    for outcome, count in document["deliveries"].items():
        yield ["delivery", outcome, str(count), ""]
    for t in document["transactions"]:
        yield [
            "transaction",
            t["transaction_hash"],
            str(t["certificate_count"]),
            f"chain {t['chain_id']} block {t['block_number']} window {t['window_id']} "
            f"root {t['merkle_root']} at {t['anchor_time']}",
        ]
    for i in document["intakes"]:
        yield [
            "intake",
            str(i["sequence"]),
            i["create_time"] or "",
            f"rows {i['row_count']}, issued {i['accepted_count']}, refused "
            f"{i['rejected_count']}, skipped {i['skipped_count']}, held back "
            f"{i['held_back_count']}, corrected {i['resolved_count']}",
        ]


@click.command()
@click.argument("batch_id", metavar="BATCH")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the record to this CSV file (section, name, value, detail); safe to open "
    "in a spreadsheet.",
)
@certflow_command
def report(run: Invocation, batch_id: str, csv_path: Path | None) -> ExitCode:
    """A batch's completion record: counts, refused rows, every upload into it, the
    anchoring transactions (hashes, blocks), delivery outcomes and timings.

    Exit 0 when the batch was found (whatever its state), 6 when not.
    """
    with connected(run.settings()) as client:
        document = report_document(client.get_batch_report(batch_id))
    if csv_path is not None:
        count = write_csv(csv_path, csv_records(document))
        written: JsonDocument = {"batch_id": batch_id, "csv": str(csv_path), "count": count}
        run.output.result(
            written, lambda c: c.print(shown(f"{count} lines of the record written to {csv_path}"))
        )
        return ExitCode.OK
    run.output.result(document, lambda console: render_report(console, document))
    return ExitCode.OK


def render_report(console: Console, document: JsonDocument) -> None:
    batch = document["batch"]
    console.print(shown(f"batch {batch['batch_id']}"))
    console.print(batch_table(batch))
    console.print(shown(f"refused lines: {document['refused_row_count']}"))
    timings = document["timings"]
    console.print(
        shown(
            "created "
            + (timings["created"] or "-")
            + ", first anchored "
            + (timings["first_anchored"] or "-")
            + ", last emailed "
            + (timings["last_emailed"] or "-")
        )
    )
    deliveries = document["deliveries"]
    if deliveries:
        console.print(shown(", ".join(f"{k} {v}" for k, v in deliveries.items())))
    if document["transactions"]:
        table = Table("transaction", "block", "certificates", title="Anchoring transactions")
        for t in document["transactions"]:
            table.add_row(
                shown(t["transaction_hash"]),
                shown(t["block_number"]),
                shown(t["certificate_count"]),
            )
        console.print(table)
    if document["intakes"]:
        table = Table(
            "#",
            "time",
            "rows",
            "issued",
            "refused",
            "skipped",
            "held back",
            "corrected",
            title="Uploads into the batch",
        )
        for i in document["intakes"]:
            table.add_row(
                *(
                    shown(i[k] or "")
                    for k in (
                        "sequence",
                        "create_time",
                        "row_count",
                        "accepted_count",
                        "rejected_count",
                        "skipped_count",
                        "held_back_count",
                        "resolved_count",
                    )
                )
            )
        console.print(table)
