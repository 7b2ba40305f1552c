"""What every command shares: `--json`, the settings, and one place that turns a CliError or
Ctrl-C into a message and an exit code (never a traceback)."""

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from certflow_cli.config import Flags, Settings, resolve
from certflow_cli.exit_codes import CliError, ExitCode
from certflow_cli.output import Output


@dataclass(frozen=True, slots=True)
class Invocation:
    flags: Flags
    output: Output

    def settings(self) -> Settings:
        """Resolved on first need: `certflow validate` runs with no configuration at all."""
        return resolve(self.flags, os.environ)


CommandBody = Callable[..., ExitCode]


def certflow_command(body: CommandBody) -> Callable[..., None]:
    """Adds --json and runs the body, which returns its exit code or raises CliError."""

    @click.option(
        "--json", "json_mode", is_flag=True, help="Print one JSON document on stdout instead."
    )
    @click.pass_context
    @functools.wraps(body)
    def command(ctx: click.Context, /, json_mode: bool, **options: Any) -> None:
        output = Output(json_mode=json_mode)
        flags = ctx.find_object(Flags) or Flags()
        try:
            code = body(Invocation(flags, output), **options)
        except CliError as error:
            output.error(error)
            code = error.exit_code
        except KeyboardInterrupt:
            output.error(
                CliError(
                    ExitCode.INTERRUPTED,
                    "interrupted; what was already sent to the service goes on",
                    reason="INTERRUPTED",
                )
            )
            code = ExitCode.INTERRUPTED
        ctx.exit(int(code))

    return command
