"""`certflow verify` offline: every test vector whose outcome is decided before the issuer or
the chain is asked gets its expected status, per-check statuses and exit code with an RPC URL
and a DNS server that do not answer (were either asked, the exit code would be 5); bad files
end in one line and exit 4, never a traceback. On the real stack: tests/e2e."""

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from certflow.core.verification import VerificationStatus
from certflow_cli.app import cli
from certflow_cli.commands.verify import EXIT_CODES, NO_REGISTRY, trusted_registry
from certflow_cli.exit_codes import ExitCode
from devstack.processes import free_port

ROOT = Path(__file__).resolve().parents[3]
VECTORS: dict[str, Any] = json.loads((ROOT / "docs" / "test-vectors" / "v1.json").read_text())
OFFLINE = [c for c in VECTORS["cases"] if c["expected"]["checks"]["issuer"] == "SKIPPED"]
REGISTRY = VECTORS["chain"]["registry"]


def verify(path: Path, *extra: str) -> Result:
    nobody = f"127.0.0.1:{free_port()}"  # nothing listens: asking it would fail the test
    args = ["--timeout", "2", "verify", "--json", str(path), "--rpc", f"http://{nobody}"]
    return CliRunner().invoke(
        cli, [*args, "--dns-resolver", nobody, *extra], catch_exceptions=False
    )


def written(tmp_path: Path, case: dict[str, Any]) -> Path:
    path = tmp_path / f"{case['name']}.json"
    text = case.get("documentJson") or json.dumps(case["document"], ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_offline_vectors_are_the_ones_expected() -> None:
    assert {c["name"] for c in OFFLINE} == {
        "tampered_name",
        "tampered_validUntil",
        "tampered_proof_path",
        "network_disagrees",
        "duplicate_key",
    }


@pytest.mark.parametrize("case", OFFLINE, ids=[c["name"] for c in OFFLINE])
def test_a_vector_decided_offline(tmp_path: Path, case: dict[str, Any]) -> None:
    result = verify(written(tmp_path, case))
    document = json.loads(result.stdout)
    expected = case["expected"]
    assert document["status"] == expected["status"], document
    assert {c["check"]: c["status"] for c in document["checks"]} == expected["checks"]
    assert [c["check"] for c in document["checks"]] == list(expected["checks"])  # in order
    assert result.exit_code == EXIT_CODES[VerificationStatus[expected["status"]]]
    assert document["valid"] is False


def test_a_tampered_copy_exits_11_and_shows_whole_hashes(tmp_path: Path) -> None:
    case = next(c for c in OFFLINE if c["name"] == "tampered_name")
    result = verify(written(tmp_path, case))
    assert result.exit_code == ExitCode.NOT_AUTHENTIC == 11
    document = json.loads(result.stdout)
    anchor = case["document"]["proof"]["anchor"]
    assert document["transaction_hash"] == anchor["transactionHash"]  # 66 characters, whole
    assert document["registry"] == anchor["registry"]
    assert document["chain_id"] == anchor["chainId"]


def test_the_text_output_lists_each_check_with_its_message(tmp_path: Path) -> None:
    case = next(c for c in OFFLINE if c["name"] == "tampered_proof_path")
    nobody = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(
        cli, ["verify", str(written(tmp_path, case)), "--rpc", nobody], catch_exceptions=False
    )
    assert result.exit_code == 11
    lines = result.stdout.splitlines()
    assert lines[0].endswith(": TAMPERED")
    assert lines[1].split()[:2] == ["PASSED", "format"]
    assert lines[2].split()[:2] == ["PASSED", "integrity"]
    assert lines[3].split()[:2] == ["FAILED", "merkle_proof"]
    assert case["document"]["proof"]["anchor"]["transactionHash"] in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{", "not readable JSON"),
        (b"\xff\xfe not text", "not UTF-8"),
        (b"[1, 2]", "not an Open Badges 3.0 credential"),
        (b'{"type": ["OpenBadgeCredential"], "id": "urn:uuid:x"}', "issuer"),
    ],
)
def test_a_bad_file_exits_4_with_its_reason_and_no_traceback(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result = verify(path)
    assert result.exit_code == ExitCode.INVALID_INPUT
    document = json.loads(result.stdout)
    assert document["status"] == "MALFORMED"
    assert message in document["checks"][0]["message"]
    assert "Traceback" not in result.output


def test_a_document_nested_too_deep_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    result = verify(path)
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert json.loads(result.stdout)["error"]["reason"] == "DOCUMENT_TOO_DEEP"


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = verify(tmp_path / "nothing.json")
    assert result.exit_code == ExitCode.USAGE


def test_every_verdict_has_its_exit_code_and_the_classes_are_distinct() -> None:
    assert set(EXIT_CODES) == set(VerificationStatus)
    classes = {
        ExitCode.OK,
        ExitCode.NOT_AUTHENTIC,
        ExitCode.REVOKED,
        ExitCode.NOT_IN_VALIDITY,
        ExitCode.PENDING,
        ExitCode.INVALID_INPUT,
    }
    assert set(EXIT_CODES.values()) == classes


def test_the_verify_exit_codes_are_in_the_top_help() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    for code in (11, 12, 13, 14):
        assert f" {code}  verify: " in result.stdout


@pytest.mark.parametrize(
    ("claimed", "allowed", "trusted"),
    [
        (REGISTRY, (), REGISTRY),  # no allow-list: the issuer binding decides
        (REGISTRY, (REGISTRY.lower(),), REGISTRY),  # listed, in any case
        (REGISTRY, ("0x" + "11" * 20,), NO_REGISTRY),  # not listed: the registry check fails
        ("", (), NO_REGISTRY),  # none readable: the verifier stops before the chain
    ],
)
def test_the_registry_the_verifier_is_told_to_trust(
    claimed: str, allowed: tuple[str, ...], trusted: str
) -> None:
    assert trusted_registry(claimed, allowed) == trusted


@pytest.mark.parametrize(
    "option",
    [
        ["--dns-resolver", "abc"],
        ["--dns-resolver", "resolver.example:53"],
        ["--dns-resolver", "127.0.0.1:99999"],
        ["--rpc", "127.0.0.1:8545"],
        ["--profile-base-url", "ftp://127.0.0.1"],
    ],
)
def test_a_bad_source_is_a_usage_error_before_anything_is_asked(
    tmp_path: Path, option: list[str]
) -> None:
    path = written(tmp_path, OFFLINE[0])
    result = CliRunner().invoke(cli, ["verify", str(path), *option], catch_exceptions=False)
    assert result.exit_code == ExitCode.USAGE
    assert option[0] in result.stderr and "Traceback" not in result.stderr
