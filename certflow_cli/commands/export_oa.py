"""`certflow export-oa FILE`: one of our certificates as an OpenAttestation v2 document."""

import json
import sys
from pathlib import Path

import click

from certflow_cli.exit_codes import CliError, ExitCode
from certflow_cli.input_files import read_input_file
from certflow_cli.invocation import Invocation, certflow_command
from certflow_cli.output import to_json


@click.command("export-oa")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the document to this file instead of stdout.",
)
@certflow_command
def export_oa(run: Invocation, file: Path, output: Path | None) -> ExitCode:
    """Export an anchored certificate file as an OpenAttestation v2 wrapped document.

    Offline. OpenAttestation verifiers accept the export once its merkleRoot is issued
    in the same registry by the registry's owner (and see it revoked once its
    targetHash or merkleRoot is revoked): docs/document.md. Exit 4 when the file is not
    an anchored certificate that can be exported.
    """
    from certflow.core.document import MalformedDocument, read_anchor_proof
    from certflow.core.json_limits import JsonTooDeep, check_json_depth
    from certflow.core.openattestation import export

    data = read_input_file(file)
    try:
        text = data.decode()
        check_json_depth(text)
        credential = json.loads(text)
        document = export(credential)
    except (ValueError, MalformedDocument, JsonTooDeep) as exc:
        raise CliError(
            ExitCode.INVALID_INPUT, f"{file}: cannot export: {exc}", reason="NOT_EXPORTABLE"
        ) from None
    except (AttributeError, TypeError):  # not a JSON object
        raise CliError(
            ExitCode.INVALID_INPUT,
            f"{file}: cannot export: not an anchored certificate",
            reason="NOT_EXPORTABLE",
        ) from None
    text = to_json(document) + "\n"
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:  # the document as it is, JSON in both modes
        sys.stdout.write(text)
    registry = read_anchor_proof(credential).registry_address
    run.output.note(
        f"for OpenAttestation verifiers, issue 0x{document['signature']['merkleRoot']}"
        f" in registry {registry}"
    )
    return ExitCode.OK
