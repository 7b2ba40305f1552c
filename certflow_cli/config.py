"""Where the CLI connects and with which token: flags, then environment, then a TOML file.

The token itself is never a flag (a flag's value is visible to every user in `ps`): it comes
from CERTFLOW_INTERNAL_TOKEN or from a file (`--token-file`, CERTFLOW_TOKEN_FILE, or
`token_file` in the config file).
"""

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from certflow_cli.exit_codes import CliError, ExitCode

DEFAULT_INGEST_ADDRESS = "127.0.0.1:50051"  # ingest's default port (CERTFLOW_INGEST_PORT)
DEFAULT_TIMEOUT_SECONDS = 30.0
# the same variable the services read their token from (certflow/platform/settings.py)
TOKEN_ENV = "CERTFLOW_INTERNAL_TOKEN"
ENV = {
    "config": "CERTFLOW_CONFIG",
    "ingest_address": "CERTFLOW_INGEST_ADDRESS",
    "token_file": "CERTFLOW_TOKEN_FILE",
    "timeout": "CERTFLOW_TIMEOUT",
}
FILE_KEYS = ("ingest_address", "token_file", "timeout")


@dataclass(frozen=True, slots=True)
class Flags:
    """What was given on the command line (None: not given)."""

    config: Path | None = None
    ingest_address: str | None = None
    token_file: Path | None = None
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    ingest_address: str
    timeout_seconds: float
    token: str | None = field(repr=False)  # None: calls go without a token (a dev stack)
    token_source: str  # where the token came from, for messages: never the token itself
    config_file: Path | None


def default_config_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "certflow" / "config.toml"


def read_config_file(path: Path, read_text: Callable[[Path], str]) -> dict[str, object]:
    try:
        values = tomllib.loads(read_text(path))
    except OSError as exc:
        raise _config_error(f"cannot read the config file {path}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _config_error(f"the config file {path} is not valid TOML: {exc}") from exc
    unknown = sorted(set(values) - set(FILE_KEYS))
    if unknown:
        raise _config_error(
            f"the config file {path} has unknown keys: {', '.join(unknown)} "
            f"(known: {', '.join(FILE_KEYS)})"
        )
    for key in ("ingest_address", "token_file"):
        if key in values and not isinstance(values[key], str):
            raise _config_error(f"{key} in {path} must be a string")
    if "timeout" in values and (
        isinstance(values["timeout"], bool) or not isinstance(values["timeout"], int | float)
    ):
        raise _config_error(f"timeout in {path} must be a number of seconds")
    return values


def resolve(
    flags: Flags,
    env: Mapping[str, str],
    *,
    read_text: Callable[[Path], str] = lambda p: p.read_text(encoding="utf-8"),
    exists: Callable[[Path], bool] = Path.is_file,
) -> Settings:
    """Each setting from the first of: flag, environment, config file, default."""
    config_path, explicit = _config_path(flags, env)
    file_values: dict[str, object] = {}
    if config_path is not None and (explicit or exists(config_path)):
        file_values = read_config_file(config_path, read_text)

    address = (
        flags.ingest_address or env.get(ENV["ingest_address"]) or file_values.get("ingest_address")
    )
    timeout = _timeout(flags, env, file_values)
    token, source = _token(flags, env, file_values, config_path, read_text)
    return Settings(
        ingest_address=str(address or DEFAULT_INGEST_ADDRESS),
        timeout_seconds=timeout,
        token=token,
        token_source=source,
        config_file=config_path if file_values else None,
    )


def _config_path(flags: Flags, env: Mapping[str, str]) -> tuple[Path | None, bool]:
    """The config file to read, and whether it was named (a named file must exist)."""
    if flags.config is not None:
        return flags.config.expanduser(), True
    if env.get(ENV["config"]):
        return Path(env[ENV["config"]]).expanduser(), True
    return default_config_path(env), False


def _timeout(flags: Flags, env: Mapping[str, str], file_values: Mapping[str, object]) -> float:
    if flags.timeout is not None:
        value: object = flags.timeout
        origin = "--timeout"
    elif env.get(ENV["timeout"]):
        value, origin = env[ENV["timeout"]], ENV["timeout"]
    elif "timeout" in file_values:
        value, origin = file_values["timeout"], "timeout in the config file"
    else:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        seconds = float(value)  # type: ignore[arg-type]  # str, int or float, checked above
    except ValueError:
        raise _config_error(f"{origin} must be a number of seconds, not {value!r}") from None
    if not 0 < seconds <= 86_400:
        raise _config_error(f"{origin} must be between 0 and 86400 seconds, not {seconds:g}")
    return seconds


def _token(
    flags: Flags,
    env: Mapping[str, str],
    file_values: Mapping[str, object],
    config_path: Path | None,
    read_text: Callable[[Path], str],
) -> tuple[str | None, str]:
    if flags.token_file is not None:
        return _read_token(flags.token_file.expanduser(), "--token-file", read_text)
    if env.get(TOKEN_ENV):
        return _one_token(env[TOKEN_ENV], TOKEN_ENV), TOKEN_ENV
    if env.get(ENV["token_file"]):
        path = Path(env[ENV["token_file"]]).expanduser()
        return _read_token(path, ENV["token_file"], read_text)
    if "token_file" in file_values:
        path = Path(str(file_values["token_file"])).expanduser()
        if not path.is_absolute() and config_path is not None:
            path = config_path.parent / path  # relative to the config file, not the cwd
        return _read_token(path, f"token_file in {config_path}", read_text)
    return None, "none"


def _read_token(path: Path, origin: str, read_text: Callable[[Path], str]) -> tuple[str, str]:
    try:
        token = read_text(path).strip()
    except OSError as exc:
        raise _config_error(
            f"cannot read the token file {path} ({origin}): {exc.strerror or exc}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise _config_error(f"the token file {path} ({origin}) is not text") from exc
    return _one_token(token, f"the token file {path} ({origin})"), f"file {path}"


def _one_token(text: str, origin: str) -> str:
    """The token, refused unless it is one word of visible ASCII: gRPC sends it as a header
    value, and anything else fails every call with a bare "Invalid metadata"."""
    token = text.strip()
    if not token:
        raise _config_error(f"{origin} is empty")
    if any(ch.isspace() for ch in token):
        raise _config_error(f"{origin} holds more than one word")
    if not (token.isascii() and token.isprintable()):
        raise _config_error(f"{origin} holds characters a token cannot have (not visible ASCII)")
    return token


def _config_error(message: str) -> CliError:
    return CliError(ExitCode.INVALID_INPUT, message, reason="INVALID_CONFIGURATION")


def from_environment(flags: Flags) -> Settings:
    return resolve(flags, os.environ)
