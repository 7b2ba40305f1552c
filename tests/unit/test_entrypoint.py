"""Every service's command line, run as a user would: help, version, a missing setting."""

import subprocess
import sys

import pytest

SERVICES = ("ingest", "anchor", "notify", "verify")


def run(service: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "OTEL_TRACES_EXPORTER": "none"}
    return subprocess.run(
        [sys.executable, "-m", f"services.{service}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_help_lists_the_settings_and_starts_nothing(service: str) -> None:
    done = run(service, "--help")
    assert done.returncode == 0, done.stderr
    assert f"certflow-{service}" in done.stdout
    assert "CERTFLOW_DATABASE_URL" in done.stdout
    assert "serving" not in done.stdout + done.stderr


def test_version() -> None:
    done = run("ingest", "--version")
    assert done.returncode == 0 and done.stdout.startswith("certflow-ingest ")


def test_a_missing_setting_is_one_clear_line_not_a_traceback() -> None:
    done = run("anchor")
    assert done.returncode == 2
    assert "CERTFLOW_REGISTRY_ADDRESS: Field required" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_option_is_refused() -> None:
    done = run("verify", "--frobnicate")
    assert done.returncode == 2 and "unrecognized arguments" in done.stderr
