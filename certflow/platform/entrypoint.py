"""The command line every service shares: `--help` lists the settings, `--version` prints the
version, and a missing or invalid setting is one clear line and exit status 2, not a traceback."""

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

S = TypeVar("S", bound=BaseSettings)


def package_version() -> str:
    try:
        return version("certflow")
    except PackageNotFoundError:
        return "unknown"


def settings_help(settings_class: type[BaseSettings]) -> str:
    prefix = settings_class.model_config.get("env_prefix", "")
    lines = ["settings (environment variables):"]
    for name, field in settings_class.model_fields.items():
        if field.is_required():
            default = "required"
        elif field.default is None:
            default = "unset by default"
        else:
            default = f"default {field.default!r}"
        lines.append(f"  {(prefix + name).upper():<40} {default}")
    return "\n".join(lines)


def parse_command_line(
    program: str, description: str, settings_class: type[BaseSettings], argv: Sequence[str]
) -> None:
    parser = argparse.ArgumentParser(
        prog=program,
        description=description,
        epilog=settings_help(settings_class),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.parse_args(argv)


def load_settings(program: str, settings_class: type[S]) -> S:
    try:
        return settings_class()
    except ValidationError as exc:
        prefix = settings_class.model_config.get("env_prefix", "")
        for error in exc.errors():
            variable = (prefix + "_".join(str(p) for p in error["loc"])).upper()
            print(f"{program}: {variable}: {error['msg']}", file=sys.stderr)
        print(f"{program}: see `{program} --help` for every setting", file=sys.stderr)
        raise SystemExit(2) from None
