"""The dry run's fee line: an estimate, shown as one, never rounded to nothing."""

from rich.console import Console

from certflow.v1 import certificate_pb2
from certflow.v1 import ingest_service_pb2 as pb
from certflow_cli.plan import fee_text, plan_document, render_plan


def anchoring(base_fee_wei: str | None, fee_wei: str | None, note: str = "") -> dict[str, object]:
    return {"base_fee_wei": base_fee_wei, "estimated_fee_wei": fee_wei, "fee_note": note}


def test_a_tiny_fee_is_shown_exactly_not_as_zero() -> None:
    # 72,000 gas at a base fee of 7 wei (an idle anvil): 504,000 wei, not "0.00000000 ETH"
    text = fee_text(anchoring("7", "504000"))
    assert "0.000000000000504 ETH" in text and "0.000000007 gwei" in text
    assert text.startswith("estimated fee") and "tip excluded" in text


def test_an_ordinary_fee_reads_in_eth_and_gwei() -> None:
    text = fee_text(anchoring("20000000000", "1440000000000000"))
    assert "0.00144 ETH" in text and "20 gwei" in text


def test_an_unknown_fee_says_why() -> None:
    assert fee_text(anchoring(None, None, "anchor did not answer (UNAVAILABLE)")) == (
        "fee unknown (anchor did not answer (UNAVAILABLE))"
    )


def test_the_refusals_shown_say_how_many_the_json_has() -> None:
    plan = pb.UploadPlan(
        row_count=9000,
        rejected_count=9000,
        row_errors=[
            certificate_pb2.RowError(row_number=n, field="email", reason="INVALID_EMAIL")
            for n in range(2, 5002)
        ],
    )
    console = Console(record=True, width=200)
    render_plan(console, plan_document(plan))
    shown = " ".join(console.export_text().split())  # a table title wraps
    assert "--json lists the first 5000" in shown and "them all" not in shown
