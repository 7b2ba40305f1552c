"""A dry run's plan (UploadPlan) as a JSON document and as text for a person."""

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import click
from rich.console import Console

from certflow.v1 import ingest_service_pb2 as pb
from certflow_cli.output import (
    JsonDocument,
    delimiter_name,
    reasons_summary,
    row_error_document,
    row_errors_table,
    shown,
    shown_lines,
    warning_document,
    warnings_table,
)

F = TypeVar("F", bound=Callable[..., Any])
MAX_PREVIEWS = 20  # what ingest previews at most
SHOWN_REFUSALS = 50  # in text; --json has every one the service sent
WEI_PER_ETH = 10**18
WEI_PER_GWEI = 10**9


def dry_run_options(function: F) -> F:
    """--dry-run and --previews."""
    function = click.option(
        "--previews",
        type=click.IntRange(min=1, max=MAX_PREVIEWS),
        default=3,
        show_default=True,
        help="With --dry-run: how many certificates to preview.",
    )(function)
    return click.option(
        "--dry-run",
        is_flag=True,
        help="Check only: what the upload would do, with nothing stored, emailed or anchored.",
    )(function)


def plan_document(plan: pb.UploadPlan, *, batch_id: str = "") -> JsonDocument:
    anchoring = plan.anchoring
    return {
        "dry_run": True,
        "batch_id": batch_id or None,  # the batch the rows would join; None: a new one
        "row_count": plan.row_count,
        "accepted_count": plan.accepted_count,
        "rejected_count": plan.rejected_count,
        "duplicates_in_file": plan.duplicates_in_file_count,
        "already_issued": plan.already_issued_count,
        "skipped_count": plan.skipped_count,
        "held_back_count": plan.held_back_count,
        "resolved_count": plan.resolved_count,
        "row_errors": [row_error_document(e) for e in plan.row_errors],
        "warning_count": plan.warning_count,
        "warnings": [warning_document(w) for w in plan.warnings],
        "previews": [
            {
                "line": p.row_number,
                "credential": json.loads(p.credential_json) if p.credential_json else None,
                # notify renders the email from these (PreviewEmail shows the exact message)
                "email": {
                    "to": p.email.recipient_email,
                    "recipient_name": p.email.recipient_name,
                    "title": p.email.title,
                    "completion_date": p.email.completion_date,
                    "issuer_name": p.email.issuer_name,
                },
            }
            for p in plan.previews
        ],
        "anchoring": {
            "window_size": anchoring.window_size,
            "transaction_count": anchoring.transaction_count,  # an estimate
            "gas_per_transaction": anchoring.gas_per_transaction,
            "base_fee_wei": anchoring.base_fee_wei or None,
            "estimated_fee_wei": anchoring.estimated_fee_wei or None,  # None: unknown
            "fee_note": anchoring.fee_note,
        },
        "encoding": plan.encoding,
        "delimiter": plan.delimiter,
    }


def fee_text(anchoring: JsonDocument) -> str:
    if anchoring["estimated_fee_wei"] is None:
        return f"fee unknown ({anchoring['fee_note'] or 'no base fee'})"
    fee = exact(int(anchoring["estimated_fee_wei"]), WEI_PER_ETH)
    gwei = exact(int(anchoring["base_fee_wei"]), WEI_PER_GWEI)
    return f"estimated fee {fee} ETH at a base fee of {gwei} gwei, tip excluded"


def exact(wei: int, unit: int) -> str:
    """Every digit: 504,000 wei (an idle chain's fee) is 0.000000000000504 ETH, not 0.00000000."""
    return f"{Decimal(wei) / unit:f}"


def render_plan(console: Console, plan: JsonDocument) -> None:
    where = f"into batch {plan['batch_id']}" if plan["batch_id"] else "as a new batch"
    console.print(shown(f"dry run {where}: nothing was stored, emailed or anchored"))
    console.print(
        shown(
            f"{plan['row_count']} rows: {plan['accepted_count']} would be issued, "
            f"{plan['rejected_count']} refused ({plan['duplicates_in_file']} repeated in the "
            f"file, {plan['already_issued']} already issued)"
        )
    )
    if plan["skipped_count"] or plan["resolved_count"]:
        console.print(
            shown(
                f"{plan['skipped_count']} rows already in the batch (skipped), "
                f"{plan['resolved_count']} earlier refusals would be corrected"
            )
        )
    if plan["held_back_count"]:
        console.print(shown(f"{plan['held_back_count']} accepted rows held back by --pilot"))
    anchoring = plan["anchoring"]
    console.print(
        shown(
            f"anchoring: about {anchoring['transaction_count']} transaction(s) of up to "
            f"{anchoring['window_size']} certificates; {fee_text(anchoring)}"
        )
    )
    if plan["encoding"]:
        console.print(
            shown(f"read as {plan['encoding']}, {delimiter_name(plan['delimiter'])}-separated")
        )
    errors = plan["row_errors"]
    if errors:
        console.print(shown(f"refused: {reasons_summary(errors)}"))
        # the service lists at most 5,000 (rejected_count counts them all)
        listed = "them all" if len(errors) == plan["rejected_count"] else f"the first {len(errors)}"
        title = "Refused rows" + (
            f" (the first {SHOWN_REFUSALS}; --json lists {listed})"
            if len(errors) > SHOWN_REFUSALS
            else ""
        )
        console.print(row_errors_table(errors[:SHOWN_REFUSALS], title=title))
    if plan["warnings"]:
        console.print(
            shown(
                f"warnings ({plan['warning_count']}): {reasons_summary(plan['warnings'], 'code')}"
            )
        )
        console.print(warnings_table(plan["warnings"][:SHOWN_REFUSALS], title="Warnings"))
    for preview in plan["previews"]:
        email = preview["email"]
        console.print(
            shown(
                f"line {preview['line']}: to {email['to']} — {email['recipient_name']}, "
                f"{email['title']} ({email['completion_date']}), from {email['issuer_name']}"
            )
        )
        console.print(shown_lines(json.dumps(preview["credential"], indent=2, ensure_ascii=False)))
