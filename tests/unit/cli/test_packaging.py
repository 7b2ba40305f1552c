"""The CLI ships as the `certflow` console script with the `cli` extra, outside the images."""

import re
import sys
import tomllib
from pathlib import Path

import pytest

from certflow_cli.__main__ import main as certflow_main
from tests.unit.test_lock_files import pins

ROOT = Path(__file__).resolve().parents[3]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_console_script_runs_the_cli() -> None:
    assert PROJECT["scripts"]["certflow"] == "certflow_cli.__main__:main"


def test_the_cli_extra_is_locked_for_make_install_and_kept_out_of_the_runtime_lock() -> None:
    cli = pins("\n".join(PROJECT["optional-dependencies"]["cli"]))
    assert set(cli) == {"click", "rich"}
    dev_lock = pins((ROOT / "requirements-dev.lock").read_text())
    assert {name: dev_lock.get(name) for name in cli} == cli
    assert not set(cli) & set(pins((ROOT / "requirements.lock").read_text()))


def test_no_service_or_shared_library_imports_the_cli() -> None:
    importing = re.compile(r"^\s*(from|import)\s+certflow_cli\b", re.MULTILINE)
    offenders = [
        path
        for folder in ("certflow", "services")
        for path in (ROOT / folder).rglob("*.py")
        if importing.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_without_the_cli_extra_the_command_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "click", None)  # import click → ImportError
    with pytest.raises(SystemExit) as stopped:
        certflow_main()
    assert "pip install 'certflow[cli]'" in str(stopped.value.code)
