"""The `certflow` command, run as a subprocess (the installed console script) against the real
local stack: nats-server, anvil, the SMTP sink and the four services. One stack for the module;
`validate` and `--help` run with no stack at all."""

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.processes import free_port
from devstack.stack import LocalStack, StackOptions

ROOT = Path(__file__).resolve().parents[2]
CERTFLOW = Path(sys.executable).parent / "certflow"
GRADUATES = ROOT / "examples" / "graduates.csv"
COMMANDS = ["validate", "upload", "watch", "batches", "batch", "errors", "cancel", "issue"]
HEADER = "name,email,title,completion_date,student_id\n"


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)


def certflow(*args: str, env: dict[str, str], timeout: float = 180) -> Run:
    done = subprocess.run(
        [str(CERTFLOW), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    return Run(done.returncode, done.stdout, done.stderr)


def base_env(tmp_path: Path) -> dict[str, str]:
    """No configuration from this machine's user: a fresh HOME, no CERTFLOW_* inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTFLOW_")}
    env["HOME"] = str(tmp_path / "home")
    env.pop("XDG_CONFIG_HOME", None)
    env["COLUMNS"] = "200"
    return env


def assert_one_line_error(run: Run) -> None:
    assert "Traceback" not in run.stderr, run.stderr
    assert run.stderr.startswith("certflow: error: "), run.stderr


def graduates_csv(tag: str, valid: int, extra: str = "") -> str:
    """`valid` rows no earlier upload issued (fresh addresses), then `extra`."""
    rows = "".join(
        f"Grad {tag} {i},grad-{tag}-{i}@example.org,BSc CLI,2026-06-10,S{i}\n" for i in range(valid)
    )
    return HEADER + rows + extra


# ---- without a stack ----


@pytest.mark.parametrize("command", [[], *[[c] for c in COMMANDS]])
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    run = certflow(*command, "--help", env=base_env(tmp_path))
    assert run.code == 0, run.stderr
    assert run.stdout.startswith("Usage: certflow")
    if command:
        assert "--json" in run.stdout
    else:
        assert "Exit codes:" in run.stdout and "CERTFLOW_INTERNAL_TOKEN" in run.stdout


def test_validate_works_offline_with_the_services_rules(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "CERTFLOW_INGEST_ADDRESS": f"127.0.0.1:{free_port()}"}
    human = certflow("validate", str(GRADUATES), env=env)
    assert human.code == 3, human.stderr
    assert "48 rows, 43 valid, 5 refused" in human.stdout
    report = certflow("validate", "--json", str(GRADUATES), env=env).json()
    assert (report["row_count"], report["valid_count"], report["duplicates_in_file"]) == (48, 43, 1)
    assert {(e["line"], e["reason"]) for e in report["row_errors"]} == {
        (7, "INVALID_EMAIL"),
        (14, "INVALID_DATE"),
        (22, "MISSING_VALUE"),
        (35, "INVALID_DATE"),
        (49, "DUPLICATE_IN_FILE"),
    }


def test_validate_refuses_a_file_whole_with_exit_4(tmp_path: Path) -> None:
    path = tmp_path / "not.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    run = certflow("validate", str(path), env=base_env(tmp_path))
    assert run.code == 4
    assert_one_line_error(run)


def test_an_unreachable_service_is_exit_5_with_what_to_do(tmp_path: Path) -> None:
    env = {
        **base_env(tmp_path),
        "CERTFLOW_INGEST_ADDRESS": f"127.0.0.1:{free_port()}",  # nobody listens there
        "CERTFLOW_INTERNAL_TOKEN": "t",
    }
    run = certflow("batch", "b-1", env=env)
    assert run.code == 5
    assert_one_line_error(run)
    assert (
        "cannot reach the ingest service" in run.stderr and "CERTFLOW_INGEST_ADDRESS" in run.stderr
    )
    as_json = certflow("upload", "--json", str(GRADUATES), env=env)
    assert as_json.code == 5
    assert as_json.json()["error"]["reason"] == "UNREACHABLE"


# ---- against the stack ----


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    state = tmp_path_factory.mktemp("cli-stack")
    with LocalStack(StackOptions(state_dir=state, window_max_age_seconds=0.3)) as running:
        yield running


@pytest.fixture
def env(stack, tmp_path) -> dict[str, str]:
    return {
        **base_env(tmp_path),
        "CERTFLOW_INGEST_ADDRESS": stack.target("ingest"),
        "CERTFLOW_INTERNAL_TOKEN": stack.token,
    }


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_upload_shows_progress_to_completion_and_the_batch_id_whole(env, tmp_path) -> None:
    path = write(tmp_path, "june.csv", graduates_csv("progress", 12))
    run = certflow("upload", str(path), env=env)
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("batch ")
    batch_id = lines[0].removeprefix("batch ")
    assert str(uuid.UUID(batch_id)) == batch_id
    assert "COMPLETED: 12 rows, 12 accepted, 0 refused; 12 anchored, 12 emailed" in run.stdout
    # the bars' last state (stderr is not a terminal: rich prints it once, when done)
    for stage in ("upload", "stored", "anchored", "emailed"):
        assert stage in run.stderr
    assert run.stderr.count("12/12") == 3, run.stderr


def test_upload_json_matches_what_validate_found_offline(env, tmp_path) -> None:
    extra = (
        "Bad Date,bad-date-json@example.org,BSc CLI,2026-13-45,S1\n"
        "No Email,,BSc CLI,2026-06-10,S2\n"
        "Grad json 0,grad-json-0@example.org,BSc CLI,2026-06-10,S3\n"  # repeats line 2
    )
    path = write(tmp_path, "mixed.csv", graduates_csv("json", 5, extra))
    offline = certflow("validate", "--json", str(path), env=env)
    assert offline.code == 3
    run = certflow(
        "upload", "--json", "--name", "Mixed", "--request-id", "cli-json", str(path), env=env
    )
    assert run.code == 3, run.stderr  # some rows refused
    assert run.stderr == ""  # no progress bars in JSON mode
    document = run.json()
    batch = document["batch"]
    assert batch["state"] == "COMPLETED" and batch["display_name"] == "Mixed"
    assert (batch["row_count"], batch["accepted_count"], batch["rejected_count"]) == (8, 5, 3)
    assert (batch["anchored_count"], batch["emailed_count"]) == (5, 5)
    online = {(e["line"], e["field"], e["reason"]) for e in document["row_errors"]}
    assert online == {(e["line"], e["field"], e["reason"]) for e in offline.json()["row_errors"]}
    assert len(online) == 3

    again = certflow("upload", "--json", "--request-id", "cli-json", str(path), env=env)
    assert again.json()["batch"]["batch_id"] == batch["batch_id"]  # idempotent, nothing twice

    read = certflow("batch", "--json", batch["batch_id"], env=env)
    assert read.code == 0 and read.json()["batch"] == batch
    listed = certflow("batches", "--json", "--state", "completed", "--limit", "0", env=env)
    assert batch["batch_id"] in {b["batch_id"] for b in listed.json()["batches"]}
    watched = certflow("watch", "--json", batch["batch_id"], env=env)
    assert watched.code == 3 and watched.json()["batch"] == batch


def test_upload_no_wait_returns_once_stored(env, tmp_path) -> None:
    path = write(tmp_path, "quick.csv", graduates_csv("nowait", 3))
    run = certflow("upload", "--json", "--no-wait", str(path), env=env)
    assert run.code == 0, run.stderr
    batch = run.json()["batch"]
    assert batch["accepted_count"] == 3
    watched = certflow("watch", batch["batch_id"], env=env)
    assert watched.code == 0, watched.stderr
    assert "COMPLETED" in watched.stdout


def test_errors_csv_is_the_report_with_formulas_neutralised(env, tmp_path) -> None:
    extra = (
        '"=HYPERLINK(""http://evil.example"",""x"")",not-an-email,BSc CLI,2026-06-10,@S9\n'
        "Ok Name,-@example.org,+BSc,2026-99-99,S10\n"
    )
    path = write(tmp_path, "hostile.csv", graduates_csv("errors", 2, extra))
    uploaded = certflow("upload", "--json", "--no-wait", str(path), env=env)
    assert uploaded.code == 3, uploaded.stderr
    batch_id = uploaded.json()["batch"]["batch_id"]

    listed = certflow("errors", "--json", batch_id, env=env)
    assert listed.code == 0
    assert {(e["line"], e["field"]) for e in listed.json()["row_errors"]} >= {
        (4, "email"),
        (5, "completion_date"),
    }

    out = tmp_path / "refused.csv"
    run = certflow("errors", "--csv", str(out), batch_id, env=env)
    assert run.code == 0, run.stderr
    records = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"), newline="")))
    assert records[0][:5] == ["name", "email", "title", "completion_date", "student_id"]
    assert len(records) - 1 == len(listed.json()["row_errors"])
    cells = [cell for record in records[1:] for cell in record]
    assert '\'=HYPERLINK("http://evil.example","x")' in cells
    assert "'@S9" in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert f"{len(records) - 1} refused rows written to {out}" in run.stdout


def test_issue_prints_the_id_and_the_credential_whole(env) -> None:
    args = ["issue", "--name", "Ada Lovelace", "--email", "ada-cli@example.org"]
    args += ["--title", "Analytical Engines", "--date", "2026-06-10", "--field", "grade=A"]
    run = certflow(*args, env=env)
    assert run.code == 0, run.stderr
    first = run.stdout.splitlines()[0]
    certificate_id = first.removeprefix("certificate ")
    assert run.stdout.splitlines()[1].startswith("batch ")
    assert run.stdout.splitlines()[2] == "state ISSUED"
    credential = json.loads(run.stdout[run.stdout.index("{") :])
    assert credential["id"] == f"urn:uuid:{certificate_id}"
    assert credential["credentialSubject"]["achievement"]["name"] == "Analytical Engines"

    again = certflow(*args, "--json", env=env)
    assert again.code == 8  # already issued to this recipient for this date
    assert again.json()["error"]["reason"] == "ALREADY_ISSUED"
    assert any(certificate_id in d for d in again.json()["error"]["details"])

    bad_args = ["issue", "--name", "X Y", "--email", "nope", "--title", "T", "--date", "2026-06-10"]
    bad = certflow(*bad_args, env=env)
    assert bad.code == 4
    assert_one_line_error(bad)
    assert "email" in bad.stderr


def test_a_file_refused_whole_by_the_service_is_exit_4(env, tmp_path) -> None:
    path = write(tmp_path, "columns.csv", "name,email\nAda,ada@example.org\n")
    run = certflow("upload", str(path), env=env)
    assert run.code == 4
    assert_one_line_error(run)
    assert "missing required columns" in run.stderr


def test_an_unknown_batch_is_exit_6(env) -> None:
    for command in ("batch", "errors", "watch", "cancel"):
        run = certflow(command, "no-such-batch", env=env)
        assert run.code == 6, (command, run.stderr)
        assert_one_line_error(run)
    as_json = certflow("batch", "--json", "no-such-batch", env=env)
    assert as_json.json()["error"]["reason"] == "BATCH_NOT_FOUND"


def test_the_token_from_a_file_and_a_wrong_or_missing_token(env, stack, tmp_path) -> None:
    without = {k: v for k, v in env.items() if k != "CERTFLOW_INTERNAL_TOKEN"}
    token_file = write(tmp_path, "token", stack.token + "\n")
    assert certflow("--token-file", str(token_file), "batches", env=without).code == 0
    assert certflow("batches", env={**without, "CERTFLOW_TOKEN_FILE": str(token_file)}).code == 0
    config = write(tmp_path, "config.toml", 'token_file = "token"\n')
    assert certflow("--config", str(config), "batches", env=without).code == 0

    missing = certflow("batches", env=without)
    assert missing.code == 7
    assert_one_line_error(missing)
    assert "CERTFLOW_INTERNAL_TOKEN" in missing.stderr
    wrong = certflow("batches", env={**env, "CERTFLOW_INTERNAL_TOKEN": "not-the-token"})
    assert wrong.code == 7
    assert stack.token not in wrong.stderr + wrong.stdout


def test_cancel_stops_a_batch_and_watch_says_so(env, stack, tmp_path) -> None:
    anchor = stack.processes["anchor"]
    anchor.stop()  # nothing is anchored meanwhile: the cancel always comes first
    try:
        path = write(tmp_path, "cancel.csv", graduates_csv("cancel", 3))
        uploaded = certflow("upload", "--json", "--no-wait", str(path), env=env)
        assert uploaded.code == 0, uploaded.stderr
        batch_id = uploaded.json()["batch"]["batch_id"]
        cancelled = certflow("cancel", "--json", batch_id, env=env)
        assert cancelled.code == 0, cancelled.stderr
        batch = cancelled.json()["batch"]
        assert (batch["state"], batch["cancelled_count"], batch["anchored_count"]) == (
            "CANCELLED",
            3,
            0,
        )
        assert batch["cancel_time"]
        watched = certflow("watch", batch_id, env=env)
        assert watched.code == 10, watched.stderr
        assert "CANCELLED" in watched.stdout
    finally:
        anchor.start()
        stack.wait_healthy("anchor")


def test_a_finished_batch_cannot_be_cancelled(env, tmp_path) -> None:
    path = write(tmp_path, "done.csv", graduates_csv("done", 2))
    batch_id = certflow("upload", "--json", str(path), env=env).json()["batch"]["batch_id"]
    refused = certflow("cancel", batch_id, env=env)
    assert refused.code == 8, refused.stderr
    assert_one_line_error(refused)
