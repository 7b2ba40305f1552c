"""`make run`: the whole job on one machine, end to end, with a summary.

Starts nats-server, anvil (with a freshly deployed registry), an SMTP sink and the four
services; issues examples/graduates.csv; waits until every certificate is anchored and emailed;
verifies one; prints what happened; stops everything (or keeps it up with --keep-running).
"""

import argparse
import email
import email.policy
import json
import os
import shutil
import signal
import sys
import time
from email.header import decode_header, make_header
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from certflow.v1 import verify_service_pb2
from devstack import tools
from devstack.client import StackClient, status_name
from devstack.stack import SERVICES, LocalStack, StackOptions

console = Console()
CERTFLOW = str(Path(sys.executable).parent / "certflow")  # the console script `make install` made


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--csv", type=Path, default=tools.PROJECT_ROOT / "examples" / "graduates.csv"
    )
    parser.add_argument("--state-dir", type=Path, default=tools.PROJECT_ROOT / ".state" / "run")
    parser.add_argument("--database-url", default="", help="default: SQLite in the state folder")
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the stack up until Ctrl-C"
    )
    args = parser.parse_args()

    shutil.rmtree(args.state_dir, ignore_errors=True)  # a fresh chain needs a fresh database
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    options = StackOptions(
        state_dir=args.state_dir, database_url=args.database_url, window_max_age_seconds=1.0
    )
    with console.status("starting nats-server, anvil, SMTP sink and the four services…"):
        stack = LocalStack(options)
        started = time.monotonic()
        stack.__enter__()
    try:
        console.print(f"[green]stack up[/] in {time.monotonic() - started:.1f}s")
        print_addresses(stack)
        client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
        run_job(client, stack, args.csv)
        if args.keep_running:
            console.print("\n[bold]Stack running.[/]")
            print_addresses(stack)
            print_cli_usage(stack)
            console.print("Press Ctrl-C to stop.")
            while True:
                time.sleep(3600)
        console.print(
            f"\n{CERTFLOW} validate examples/graduates.csv checks a file offline; "
            "`make up` keeps the stack up and shows how to point the certflow command at it.",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    except KeyboardInterrupt:
        console.print("interrupted")
    finally:
        with console.status("stopping everything…"):
            stack.__exit__(None, None, None)
        console.print("stopped.")


def print_addresses(stack: LocalStack) -> None:
    """Whole values on lines of their own: people paste them into other tools."""
    rows = {
        "chain RPC": stack.rpc_url,
        "registry": stack.registry_address,
        "verification page": f"{stack.verify_http_url}/verify",
        "emails saved in": str(stack.mail_dir),
        "logs": str(stack.logs_dir),
        **{f"{s} gRPC": stack.target(s) for s in SERVICES},
    }
    for label, value in rows.items():
        console.print(f"  {label + ':':<20} {value}", soft_wrap=True, highlight=False)


def print_cli_usage(stack: LocalStack) -> None:
    """The `certflow` command against this stack: the token in a file, never on a command line."""
    token_file = stack.state_dir / "internal-token"
    descriptor = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(stack.token + "\n")
    console.print("\n[bold]The certflow command[/], from another shell:")
    for line in (
        f"export CERTFLOW_INGEST_ADDRESS={stack.target('ingest')}",
        f"export CERTFLOW_TOKEN_FILE={token_file}",
        f"{CERTFLOW} batches",
        f"{CERTFLOW} errors BATCH --csv refused.csv",
        f"{CERTFLOW} upload FILE.csv      ({CERTFLOW} --help for the rest)",
    ):
        console.print(f"  {line}", soft_wrap=True, highlight=False, markup=False)


def run_job(client: StackClient, stack: LocalStack, csv_path: Path) -> None:
    data = csv_path.read_bytes()
    started = time.monotonic()
    response = client.upload_csv(
        data, request_id=f"demo-{int(time.time())}", display_name=csv_path.name
    )
    batch = response.batch
    console.print(
        f"\n[bold]Uploaded {csv_path.name}[/]: {batch.row_count} rows → "
        f"[green]{batch.accepted_count} accepted[/], [red]{batch.rejected_count} rejected[/]"
    )
    if response.row_errors:
        table = Table("line", "field", "reason", "message", title="Rejected rows")
        for error in response.row_errors:
            table.add_row(str(error.row_number), error.field, error.reason, error.message)
        console.print(table)
    with console.status("anchoring on chain and emailing recipients…"):
        batch = client.wait_for_batch(batch.batch_id, until="completed", timeout=180)
    elapsed = time.monotonic() - started
    windows = [w for w in client.anchor_windows() if w.state]
    summary = Table("", "", title="Batch summary", show_header=False)
    summary.add_row("batch", batch.batch_id)
    summary.add_row("accepted / rejected", f"{batch.accepted_count} / {batch.rejected_count}")
    summary.add_row("anchored", str(batch.anchored_count))
    for window in windows:
        summary.add_row(
            "anchor window",
            f"block {window.block_number}, {window.leaf_count} certificates, "
            f"gas {window.gas_used:,} = {window.gas_used / max(window.leaf_count, 1):,.0f}/cert",
        )
    mails = sorted(stack.mail_dir.glob("*.eml"))
    summary.add_row("emails sent / failed", f"{batch.emailed_count} / {batch.email_failed_count}")
    summary.add_row("emails saved", f"{len(mails)} files")
    summary.add_row("upload → all emailed", f"{elapsed:.1f}s")
    console.print(summary)
    for window in windows:
        # outside the table: a table would cut the hash at the terminal's width
        console.print(
            f"anchor transaction: {window.transaction_hash}", soft_wrap=True, highlight=False
        )
    if mails:
        show_verification(client, stack, mails[0])


def readable_header(raw_message: bytes, name: str) -> str:
    """A header as people read it: "Ana López <…>", not "=?utf-8?b?…?=". The classic decoder
    joins a long name's encoded words as RFC 2047 says; CPython's policy.default puts a space
    between them inside an address's display name."""
    value = email.message_from_bytes(raw_message)[name]
    return "" if value is None else str(make_header(decode_header(value)))


def show_verification(client: StackClient, stack: LocalStack, mail_path: Path) -> None:
    raw = mail_path.read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    recipient = readable_header(raw, "To")
    attachment = next(p for p in message.walk() if p.get_filename())
    payload = attachment.get_payload(decode=True)
    assert isinstance(payload, bytes)
    document = json.loads(payload)
    certificate_id = document["id"].removeprefix("urn:uuid:")
    result = client.verify_document(json.dumps(document))
    title = f"Verifying the certificate attached to {escape(recipient)}"
    table = Table("check", "result", title=title)
    # fold, never cut: hashes and addresses in the detail are copied whole
    table.add_column("detail", overflow="fold")
    for check in result.checks:
        table.add_row(
            check.check,
            verify_service_pb2.CheckStatus.Name(check.status).removeprefix("CHECK_STATUS_"),
            check.message,
        )
    console.print(table)
    console.print(
        f"verdict: [bold]{status_name(result.status)}[/] — {result.title}, {result.recipient_name}"
    )
    document["credentialSubject"]["achievement"]["name"] = "PhD " + document["name"]
    tampered = client.verify_document(json.dumps(document))
    console.print(
        f"the same file with its title changed: [bold red]{status_name(tampered.status)}[/]"
    )
    console.print(
        f"verification page: {stack.verify_http_url}/verify/{certificate_id}",
        soft_wrap=True,
        highlight=False,
    )


if __name__ == "__main__":
    main()
