"""The `certflow` command group: global options, the commands, the exit codes in --help."""

from pathlib import Path

import click

from certflow_cli.commands.automation import schedules, webhooks
from certflow_cli.commands.batches import batch, batches, cancel, errors
from certflow_cli.commands.deliveries import deliveries, resend, suppression
from certflow_cli.commands.export_oa import export_oa
from certflow_cli.commands.issue import issue
from certflow_cli.commands.lms import rules, sources
from certflow_cli.commands.report import report
from certflow_cli.commands.reprocess import reprocess
from certflow_cli.commands.revoke import reissue, revoke
from certflow_cli.commands.upload import upload
from certflow_cli.commands.validate import validate
from certflow_cli.commands.verify import verify
from certflow_cli.commands.watch import watch
from certflow_cli.config import DEFAULT_INGEST_ADDRESS, DEFAULT_TIMEOUT_SECONDS, Flags
from certflow_cli.exit_codes import exit_code_table

EPILOG = f"""\b
Configuration, first found wins: flags; environment (CERTFLOW_INGEST_ADDRESS,
CERTFLOW_TOKEN_FILE, CERTFLOW_TIMEOUT, CERTFLOW_CONFIG); the config file
(TOML, keys ingest_address, token_file, timeout; default
~/.config/certflow/config.toml). The internal token is read from
CERTFLOW_INTERNAL_TOKEN or from a token file, never from a flag.

\b
Exit codes:
{exit_code_table()}
"""


@click.group(
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML config file [default: ~/.config/certflow/config.toml, or CERTFLOW_CONFIG].",
)
@click.option(
    "--ingest-address",
    metavar="HOST:PORT",
    help=f"The ingest service's gRPC address [default: {DEFAULT_INGEST_ADDRESS}].",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the services' internal token.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True, max=86_400),
    help=f"Seconds to wait for each call [default: {DEFAULT_TIMEOUT_SECONDS:g}].",
)
@click.version_option(package_name="certflow", prog_name="certflow")
@click.pass_context
def cli(
    ctx: click.Context,
    config: Path | None,
    ingest_address: str | None,
    token_file: Path | None,
    timeout: float | None,
) -> None:
    """Issue blockchain-anchored certificates in bulk with the certflow services.

    Check a CSV file before sending it (validate), upload it and follow it through
    anchoring and email (upload, watch), list batches (batches), read one (batch) and
    its refused rows (errors), stop one (cancel), or issue one certificate (issue).
    Check a file first (upload --dry-run), issue a pilot (upload --pilot N), add the
    rest or corrected rows to a batch (reprocess), and keep its record (report).
    Withdraw certificates (revoke), or replace one with a corrected copy (reissue).
    See what became of a batch's emails (deliveries), send again (resend), and keep the
    issuer's suppression list of bounced and unsubscribed addresses (suppression).
    Check a certificate file with only a chain RPC and the issuer's DNS (verify), or
    export it for OpenAttestation verifiers (export-oa).
    Connect an LMS (sources) and say what its learners' records earn (rules, rules test).
    Issue collected achievements at set times (schedules) and post events to your
    systems (webhooks).
    Every command takes --json and --help.
    """
    ctx.obj = Flags(
        config=config, ingest_address=ingest_address, token_file=token_file, timeout=timeout
    )


for command in (
    validate,
    upload,
    watch,
    batches,
    batch,
    errors,
    cancel,
    issue,
    reprocess,
    report,
    revoke,
    reissue,
    deliveries,
    resend,
    suppression,
    verify,
    export_oa,
    sources,
    rules,
    schedules,
    webhooks,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="certflow")
