"""Reading the file a command was given: an unreadable one is the user's mistake (exit 4)."""

from pathlib import Path

from certflow_cli.exit_codes import CliError, ExitCode


def read_input_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(
            ExitCode.INVALID_INPUT,
            f"cannot read {path}: {exc.strerror or exc}",
            reason="UNREADABLE_FILE",
        ) from None
