"""Configuration precedence: flag, then environment, then the TOML file, then the default."""

from pathlib import Path

import pytest

from certflow_cli.config import (
    DEFAULT_INGEST_ADDRESS,
    DEFAULT_TIMEOUT_SECONDS,
    Flags,
    default_config_path,
    resolve,
)
from certflow_cli.exit_codes import CliError, ExitCode


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment whose default config file location is inside tmp_path."""
    return {"HOME": str(tmp_path / "home")}


def default_file(env: dict[str, str], text: str) -> Path:
    path = default_config_path(env)
    path.parent.mkdir(parents=True)
    return write(path, text)


def test_defaults_without_flags_environment_or_file(home: dict[str, str]) -> None:
    settings = resolve(Flags(), home)
    assert settings.ingest_address == DEFAULT_INGEST_ADDRESS
    assert settings.timeout_seconds == DEFAULT_TIMEOUT_SECONDS
    assert (settings.token, settings.token_source, settings.config_file) == (None, "none", None)


def test_the_default_file_is_under_xdg_config_home_when_set(tmp_path: Path) -> None:
    env = {"HOME": "/nowhere", "XDG_CONFIG_HOME": str(tmp_path)}
    assert default_config_path(env) == tmp_path / "certflow" / "config.toml"
    assert default_config_path({"HOME": "/h"}) == Path("/h/.config/certflow/config.toml")


def test_flag_beats_environment_beats_file(home: dict[str, str]) -> None:
    path = default_file(home, 'ingest_address = "file:1"\ntimeout = 7\n')
    from_file = resolve(Flags(), home)
    assert (from_file.ingest_address, from_file.timeout_seconds) == ("file:1", 7.0)
    assert from_file.config_file == path

    env = {**home, "CERTFLOW_INGEST_ADDRESS": "env:2", "CERTFLOW_TIMEOUT": "8.5"}
    from_env = resolve(Flags(), env)
    assert (from_env.ingest_address, from_env.timeout_seconds) == ("env:2", 8.5)

    from_flags = resolve(Flags(ingest_address="flag:3", timeout=9), env)
    assert (from_flags.ingest_address, from_flags.timeout_seconds) == ("flag:3", 9.0)


def test_config_flag_and_variable_name_the_file_and_it_must_exist(
    tmp_path: Path, home: dict[str, str]
) -> None:
    default_file(home, 'ingest_address = "default:1"\n')
    named = write(tmp_path / "other.toml", 'ingest_address = "named:2"\n')
    env = {**home, "CERTFLOW_CONFIG": str(named)}
    assert resolve(Flags(), env).ingest_address == "named:2"
    flagged = write(tmp_path / "flag.toml", 'ingest_address = "flag:3"\n')
    assert resolve(Flags(config=flagged), env).ingest_address == "flag:3"
    with pytest.raises(CliError) as missing:
        resolve(Flags(config=tmp_path / "absent.toml"), home)
    assert missing.value.exit_code is ExitCode.INVALID_INPUT
    assert "absent.toml" in missing.value.message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("ingest_adress = 'typo:1'\n", "unknown keys: ingest_adress"),
        ("ingest_address = \n", "not valid TOML"),
        ("ingest_address = 50051\n", "must be a string"),
        ("timeout = 'soon'\n", "number of seconds"),
        ("timeout = true\n", "number of seconds"),
        ("timeout = -1\n", "between 0 and 86400"),
    ],
)
def test_a_bad_config_file_is_refused_with_what_is_wrong(
    tmp_path: Path, text: str, words: str
) -> None:
    path = write(tmp_path / "config.toml", text)
    with pytest.raises(CliError) as refused:
        resolve(Flags(config=path), {})
    assert refused.value.exit_code is ExitCode.INVALID_INPUT
    assert refused.value.reason == "INVALID_CONFIGURATION"
    assert words in refused.value.message


def test_a_bad_timeout_in_the_environment_is_refused(home: dict[str, str]) -> None:
    with pytest.raises(CliError, match="CERTFLOW_TIMEOUT must be a number"):
        resolve(Flags(), {**home, "CERTFLOW_TIMEOUT": "ten"})


def test_token_from_the_environment(home: dict[str, str]) -> None:
    settings = resolve(Flags(), {**home, "CERTFLOW_INTERNAL_TOKEN": " s3cret \n"})
    assert (settings.token, settings.token_source) == ("s3cret", "CERTFLOW_INTERNAL_TOKEN")
    assert "s3cret" not in repr(settings)


def test_token_file_flag_beats_the_environment_beats_the_config_file(
    tmp_path: Path, home: dict[str, str]
) -> None:
    flag_file = write(tmp_path / "flag-token", "from-flag\n")
    env_file = write(tmp_path / "env-token", "from-env-file\n")
    write(tmp_path / "config-token", "from-config\n")
    config = write(tmp_path / "config.toml", 'token_file = "config-token"\n')

    # token_file in the config file is relative to the config file
    assert resolve(Flags(config=config), home).token == "from-config"
    env = {**home, "CERTFLOW_TOKEN_FILE": str(env_file)}
    assert resolve(Flags(config=config), env).token == "from-env-file"
    env["CERTFLOW_INTERNAL_TOKEN"] = "from-env"
    assert resolve(Flags(config=config), env).token == "from-env"
    settings = resolve(Flags(config=config, token_file=flag_file), env)
    assert (settings.token, settings.token_source) == ("from-flag", f"file {flag_file}")


@pytest.mark.parametrize(
    ("content", "words"), [("", "is empty"), ("  \n", "is empty"), ("a b\n", "more than one")]
)
def test_a_token_file_must_hold_one_token(tmp_path: Path, content: str, words: str) -> None:
    path = write(tmp_path / "token", content)
    with pytest.raises(CliError, match=words) as refused:
        resolve(Flags(token_file=path), {})
    assert refused.value.exit_code is ExitCode.INVALID_INPUT


@pytest.mark.parametrize(
    ("token", "words"),
    [
        ("a\nb", "more than one"),
        ("caf\u00e9", "not visible ASCII"),
        ("a\x7fb", "not visible ASCII"),
    ],
)
def test_a_token_gRPC_cannot_send_is_refused_wherever_it_comes_from(
    tmp_path: Path, token: str, words: str
) -> None:
    """Before the call, with its origin named (it would fail as "Invalid metadata", exit 1)."""
    with pytest.raises(CliError, match=f"CERTFLOW_INTERNAL_TOKEN .*{words}") as refused:
        resolve(Flags(), {"CERTFLOW_INTERNAL_TOKEN": token})
    assert refused.value.exit_code is ExitCode.INVALID_INPUT
    with pytest.raises(CliError, match=words):
        resolve(Flags(token_file=write(tmp_path / "token", token)), {})


def test_a_missing_token_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CliError, match=r"cannot read the token file .*absent.*--token-file"):
        resolve(Flags(token_file=tmp_path / "absent"), {})
