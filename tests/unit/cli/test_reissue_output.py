"""What `certflow reissue` tells the issuer about the old certificate: it is revoked on chain in
the next revocation window and points at the new one; a revocation made before keeps its reason
(it is not re-labelled superseded), so the output does not promise "superseded"."""

from rich.console import Console

from certflow_cli.commands.revoke import render_reissued


def test_the_old_certificate_is_said_to_point_at_the_new_one_without_promising_a_reason() -> None:
    console = Console(record=True, width=200)
    document = {
        "certificate": {"certificate_id": "new-1", "batch_id": "b1", "document": {"id": "x"}},
        "replaced_certificate_id": "old-1",
    }
    render_reissued(console, document)
    shown = " ".join(console.export_text().split())
    assert "old-1 is revoked on chain in the next revocation window" in shown
    assert "its verification points at new-1" in shown
    assert "revocation transaction is confirmed" not in shown
