"""Exit codes scripts can rely on, and the one error type every command raises."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # anything not listed below (a service's internal error, a bug)
    USAGE = 2  # a command-line mistake (Click's own code)
    ROWS_REFUSED = 3  # the command ran, and some rows (or all) were refused
    INVALID_INPUT = 4  # the file, a value or the configuration is refused as a whole
    UNREACHABLE = 5  # the service cannot be reached, or says it is unavailable: retry later
    NOT_FOUND = 6  # no such batch / certificate
    UNAUTHENTICATED = 7  # the service refused the internal token
    CONFLICT = 8  # conflicts with what exists (ALREADY_EXISTS, ABORTED, FAILED_PRECONDITION)
    EMAILS_FAILED = 9  # every row issued, but some emails could not be delivered
    CANCELLED = 10  # the batch was cancelled before all of it was anchored
    # `certflow verify`'s verdicts other than valid (a malformed file is INVALID_INPUT; a chain
    # or issuer identity that could not be asked is UNREACHABLE: no verdict)
    NOT_AUTHENTIC = 11  # tampered, not anchored, or a registry not listed (issuer, --registry)
    REVOKED = 12  # revoked by the issuer
    NOT_IN_VALIDITY = 13  # expired, or not valid yet
    PENDING = 14  # issued, not anchored yet
    INTERRUPTED = 130  # Ctrl-C; work already sent to the service goes on


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "done",
    ExitCode.FAILED: "failed for another reason (the message says which)",
    ExitCode.USAGE: "usage error (unknown option, missing argument)",
    ExitCode.ROWS_REFUSED: "some rows were refused (the others were issued / are valid)",
    ExitCode.INVALID_INPUT: "invalid file or input, refused as a whole; or a bad configuration",
    ExitCode.UNREACHABLE: "service unreachable or unavailable; verify: the chain or the issuer's"
    " DNS/profile (retry later)",
    ExitCode.NOT_FOUND: "no such batch or certificate",
    ExitCode.UNAUTHENTICATED: "the service refused the internal token",
    ExitCode.CONFLICT: "conflicts with what exists (e.g. this certificate was already issued)",
    ExitCode.EMAILS_FAILED: "issued and anchored, but some emails failed",
    ExitCode.CANCELLED: "the batch was cancelled",
    ExitCode.NOT_AUTHENTIC: "verify: tampered, forged or not anchored (not the issuer's registry)",
    ExitCode.REVOKED: "verify: revoked by the issuer",
    ExitCode.NOT_IN_VALIDITY: "verify: expired, or not valid yet",
    ExitCode.PENDING: "verify: issued but not anchored yet (try again later)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


def exit_code_table() -> str:
    """The table shown at the end of `certflow --help`."""
    return "\n".join(f"{int(code):>5}  {MEANINGS[code]}" for code in ExitCode)


class CliError(Exception):
    """A failure explained in one line, ending the command with `exit_code`.

    `reason` is stable and machine-readable (the service's ErrorInfo reason when there is one);
    `details` are extra lines (e.g. the fields a service refused).
    """

    def __init__(
        self,
        exit_code: ExitCode,
        message: str,
        *,
        reason: str = "",
        details: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message
        self.reason = reason or exit_code.name
        self.details = details
