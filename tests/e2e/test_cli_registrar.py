"""`certflow upload --dry-run / --pilot`, `certflow reprocess` and `certflow report`, run as a
subprocess (the installed console script) against the real local stack."""

import csv
import io
import uuid
from pathlib import Path

import pytest

from devstack.stack import LocalStack, StackOptions
from tests.e2e.test_cli import (
    assert_one_line_error,
    base_env,
    certflow,
    graduates_csv,
    write,
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    state = tmp_path_factory.mktemp("cli-registrar-stack")
    with LocalStack(StackOptions(state_dir=state, window_max_age_seconds=0.3)) as running:
        yield running


@pytest.fixture
def env(stack, tmp_path) -> dict[str, str]:
    return {
        **base_env(tmp_path),
        "CERTFLOW_INGEST_ADDRESS": stack.target("ingest"),
        "CERTFLOW_INTERNAL_TOKEN": stack.token,
    }


@pytest.mark.parametrize("command", [["reprocess"], ["report"]])
def test_the_new_commands_have_help(tmp_path: Path, command: list[str]) -> None:
    run = certflow(*command, "--help", env=base_env(tmp_path))
    assert run.code == 0, run.stderr
    assert run.stdout.startswith("Usage: certflow") and "--json" in run.stdout


def test_a_dry_run_shows_the_plan_and_issues_nothing(env, tmp_path) -> None:
    bad = "Bad Row,not-an-address,BSc CLI,2026-06-10,S9\n"
    path = write(tmp_path, "plan.csv", graduates_csv("plan", 4, bad))
    human = certflow("upload", "--dry-run", str(path), env=env)
    assert human.code == 3, human.stderr  # a row would be refused
    assert "nothing was stored, emailed or anchored" in human.stdout
    assert "5 rows: 4 would be issued, 1 refused" in human.stdout
    assert "anchoring: about 1 transaction(s) of up to 200000 certificates" in human.stdout
    # anchor reads the base fee when it first anchors: before that the fee is unknown, said so
    assert "estimated fee" in human.stdout or "fee unknown (anchor has not read" in human.stdout
    plan = certflow("upload", "--dry-run", "--json", "--previews", "1", str(path), env=env).json()
    assert (plan["accepted_count"], plan["rejected_count"]) == (4, 1)
    assert [p["email"]["to"] for p in plan["previews"]] == ["grad-plan-0@example.org"]
    assert plan["previews"][0]["credential"]["name"] == "BSc CLI"
    assert plan["anchoring"]["transaction_count"] == 1
    listed = certflow("batches", "--json", "--limit", "0", env=env).json()
    assert all(b["display_name"] != "plan.csv" for b in listed["batches"])  # no batch made
    clean = write(tmp_path, "clean.csv", graduates_csv("plan-clean", 2))
    assert certflow("upload", "--dry-run", str(clean), env=env).code == 0


def test_a_pilot_then_reprocess_issues_the_rest_and_the_report_records_both(env, tmp_path) -> None:
    path = write(tmp_path, "cohort.csv", graduates_csv("cohort", 6))
    pilot = certflow("upload", "--json", "--pilot", "2", "--name", "=SUM(1)", str(path), env=env)
    assert pilot.code == 0, pilot.stderr
    document = pilot.json()
    batch_id = document["batch"]["batch_id"]
    assert document["held_back_count"] == 4 and document["batch"]["accepted_count"] == 2
    other = write(tmp_path, "other.csv", graduates_csv("cohort-other", 3))
    human = certflow("upload", "--pilot", "1", "--no-wait", str(other), env=env)
    assert "2 accepted rows held back by --pilot" in human.stdout
    assert f"certflow reprocess {human.stdout.splitlines()[0].removeprefix('batch ')}" in (
        human.stdout
    )
    rest = certflow("reprocess", "--json", batch_id, str(path), env=env)
    assert rest.code == 0, rest.stderr
    done = rest.json()
    assert (done["skipped_count"], done["batch"]["accepted_count"]) == (2, 6)
    assert done["batch"]["state"] == "COMPLETED"
    record = certflow("report", "--json", batch_id, env=env).json()
    assert [i["accepted_count"] for i in record["intakes"]] == [2, 4]
    assert record["deliveries"] == {"sent": 6}
    assert sum(t["certificate_count"] for t in record["transactions"]) == 6
    assert record["timings"]["last_emailed"] >= record["timings"]["first_anchored"]
    out = tmp_path / "record.csv"
    written = certflow("report", batch_id, "--csv", str(out), env=env)
    assert written.code == 0, written.stderr
    records = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert records[0] == ["section", "name", "value", "detail"]
    assert ["count", "accepted_count", "6", ""] in records
    assert ["batch", "display_name", "'=SUM(1)", ""] in records  # no formula in a spreadsheet
    assert sum(1 for r in records if r[0] == "transaction") == len(record["transactions"])
    human_report = certflow("report", batch_id, env=env)
    assert human_report.code == 0 and "Anchoring transactions" in human_report.stdout


def test_the_error_report_fixed_and_reprocessed(env, tmp_path) -> None:
    extra = '=HYPERLINK("x"),bad-address,BSc CLI,2026-06-10,S9\n'
    path = write(tmp_path, "fix.csv", graduates_csv("clifix", 2, extra))
    first = certflow("upload", "--json", str(path), env=env)
    assert first.code == 3
    batch_id = first.json()["batch"]["batch_id"]
    report = tmp_path / "errors.csv"
    assert certflow("errors", batch_id, "--csv", str(report), env=env).code == 0
    rows = list(csv.reader(io.StringIO(report.read_text(encoding="utf-8-sig"))))
    assert rows[1][0].startswith("'=")  # neutralised in the report
    rows[1][0] = "Fixed Name"
    rows[1][1] = "fixed.clifix@example.org"
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    fixed = write(tmp_path, "fixed.csv", buffer.getvalue())
    plan = certflow("reprocess", "--dry-run", "--json", batch_id, str(fixed), env=env)
    assert plan.code == 0, plan.stderr
    assert (plan.json()["accepted_count"], plan.json()["resolved_count"]) == (1, 1)
    done = certflow("reprocess", "--json", batch_id, str(fixed), env=env)
    assert done.code == 0, done.stderr
    batch = done.json()["batch"]
    assert (batch["accepted_count"], batch["rejected_count"], batch["state"]) == (
        3,
        0,
        "COMPLETED",
    )


def test_user_mistakes_are_one_line_errors_with_their_exit_codes(env, stack, tmp_path) -> None:
    path = write(tmp_path, "some.csv", graduates_csv("mistake", 1))
    for args, code in [
        (["upload", "--pilot", "0", str(path)], 2),
        (["upload", "--pilot", "-3", str(path)], 2),
        (["upload", "--pilot", "99999999999", str(path)], 2),
        (["upload", "--dry-run", "--previews", "50", str(path)], 2),
        (["reprocess", "x" * 65, str(path)], 2),
        (["reprocess", str(uuid.uuid4()), str(path)], 6),
        (["reprocess", "--dry-run", str(uuid.uuid4()), str(path)], 6),
        (["report", str(uuid.uuid4())], 6),
    ]:
        run = certflow(*args, env=env)
        assert run.code == code, (args, run.stderr)
        assert "Traceback" not in run.stderr
        if code != 2:
            assert_one_line_error(run)
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00" + bytes(range(256)) * 4)
    batch_id = certflow("upload", "--json", "--no-wait", str(path), env=env).json()["batch"][
        "batch_id"
    ]
    for args in (["upload", "--dry-run", str(binary)], ["reprocess", batch_id, str(binary)]):
        run = certflow(*args, env=env)
        assert run.code == 4, run.stderr
        assert_one_line_error(run)
    stray = write(
        tmp_path,
        "stray-report.csv",
        "name,email,title,completion_date,line,field,code,message\n"
        "A B,a.b@example.org,BSc,2026-06-10,2,email,INVALID_EMAIL,bad\n",
    )
    run = certflow("upload", "--json", str(stray), env=env)
    assert run.code == 4 and run.json()["error"]["reason"] == "ERROR_REPORT_WITHOUT_BATCH"
