"""The command surface without a service: validate, usage errors, --help (Click's runner)."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from certflow.v1 import ingest_service_pb2 as pb
from certflow_cli.app import cli
from certflow_cli.commands.batches import list_batches
from certflow_cli.commands.issue import parse_fields

ROOT = Path(__file__).resolve().parents[3]
GRADUATES = ROOT / "examples" / "graduates.csv"
COMMANDS = ["validate", "upload", "watch", "batches", "batch", "errors", "cancel", "issue"]


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_validate_json_is_one_document_with_every_refused_row() -> None:
    result = run("validate", "--json", str(GRADUATES))
    assert result.exit_code == 3
    document = json.loads(result.stdout)
    assert (document["row_count"], document["valid_count"], document["refused_count"]) == (
        48,
        43,
        5,
    )
    assert {e["line"] for e in document["row_errors"]} == {7, 14, 22, 35, 49}


def test_validate_of_a_clean_file_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("name,email,title,completion_date\nAna,ana@example.org,BSc,2026-01-10\n")
    result = run("validate", str(path))
    assert result.exit_code == 0, result.output
    assert "1 rows, 1 valid, 0 refused" in result.stdout


def test_a_file_refused_whole_exits_4_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"name;email\nAna;ana@example.org\n")
    result = run("validate", str(path))
    assert result.exit_code == 4
    assert result.stderr.startswith("certflow: error: ")
    assert "missing required columns" in result.stderr and "Traceback" not in result.stderr
    as_json = run("validate", "--json", str(path))
    assert json.loads(as_json.stdout)["error"]["reason"] == "MISSING_COLUMNS"


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path / "absent.csv"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_validate_needs_no_configuration_even_a_broken_one(tmp_path: Path) -> None:
    broken = tmp_path / "config.toml"
    broken.write_text("this is not toml")
    result = run("--config", str(broken), "validate", str(GRADUATES))
    assert result.exit_code == 3


def test_a_broken_config_file_stops_a_command_that_connects(tmp_path: Path) -> None:
    broken = tmp_path / "config.toml"
    broken.write_text("this is not toml")
    result = run("--config", str(broken), "batch", "--json", "b-1")
    assert result.exit_code == 4
    assert json.loads(result.stdout)["error"]["reason"] == "INVALID_CONFIGURATION"


@pytest.mark.parametrize("command", [[], *[[c] for c in COMMANDS]])
def test_every_command_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: ")
    if command:
        assert "--json" in result.stdout


def test_the_exit_codes_and_the_token_sources_are_in_the_top_help() -> None:
    text = run("--help").stdout
    for line in ("0  done", "3  some rows were refused", "5  service unreachable"):
        assert line in text
    assert "CERTFLOW_INTERNAL_TOKEN" in text and "never from a flag" in text


def test_fields_are_key_value_pairs() -> None:
    assert parse_fields(("grade=A", "note=a=b", "empty=")) == {
        "grade": "A",
        "note": "a=b",
        "empty": "",
    }


@pytest.mark.parametrize("bad", ["grade", "=A"])
def test_a_field_without_a_key_is_a_usage_error_before_any_call(bad: str) -> None:
    result = run(
        "--ingest-address", "127.0.0.1:9", "issue", "--name", "A", "--email", "a@b.org",
        "--title", "T", "--date", "2026-01-01", "--field", bad,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.stderr


class PagedIngest:
    """ListBatches over `total` batches, serving at most 1000 a page like the service."""

    def __init__(self, total: int) -> None:
        self.batches = [pb.Batch(batch_id=f"b-{i}") for i in range(total)]
        self.page_sizes: list[int] = []

    def list_batches(self, request: pb.ListBatchesRequest) -> pb.ListBatchesResponse:
        self.page_sizes.append(request.page_size)
        start = int(request.page_token or 0)
        end = start + min(request.page_size or 100, 1000)
        token = str(end) if end < len(self.batches) else ""
        return pb.ListBatchesResponse(batches=self.batches[start:end], next_page_token=token)


@pytest.mark.parametrize(
    ("total", "limit", "count", "more", "page_sizes"),
    [
        (5, 50, 5, False, [50]),
        (50, 50, 50, False, [50]),
        (51, 50, 50, True, [50]),
        (2500, 0, 2500, False, [1000, 1000, 1000]),
        (2500, 1500, 1500, True, [1000, 500]),
        (0, 0, 0, False, [1000]),
    ],
)
def test_batches_are_read_page_by_page_up_to_the_limit(
    total: int, limit: int, count: int, more: bool, page_sizes: list[int]
) -> None:
    client = PagedIngest(total)
    found, has_more = list_batches(client, pb.ListBatchesRequest(), limit)  # type: ignore[arg-type]
    assert [b.batch_id for b in found] == [f"b-{i}" for i in range(count)]
    assert (has_more, client.page_sizes) == (more, page_sizes)


class InterruptedUpload:
    """A connection on which Ctrl-C arrives while the file is being sent."""

    def upload_csv(self, requests: object) -> pb.UploadCsvResponse:
        raise KeyboardInterrupt


@pytest.mark.parametrize("request_id", ["", "term-2026"])
def test_ctrl_c_during_the_upload_does_not_claim_the_batch_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request_id: str
) -> None:
    @contextmanager
    def connected(_: object) -> Iterator[InterruptedUpload]:
        yield InterruptedUpload()

    monkeypatch.setattr("certflow_cli.commands.upload.connected", connected)
    result = run("upload", str(GRADUATES), "--request-id", request_id, env={"HOME": str(tmp_path)})
    assert result.exit_code == 130
    assert result.stderr.startswith("certflow: error: interrupted while uploading")
    assert "may not have been stored" in result.stderr and "goes on" not in result.stderr
    assert (f"--request-id {request_id}" in result.stderr) == bool(request_id)
