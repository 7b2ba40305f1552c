"""`certflow verify` run as a subprocess (the installed console script) against the real local
stack: certificates are issued through ingest, anchored on anvil and their documents read from
verify (GetCertificateDocument); then every certflow service is stopped, and the command checks
the files with only anvil's RPC and the demo issuer's DNS and profile servers.

Valid, a tampered copy, a revoked one (the registry's owner revokes its leaf on chain), a
forgery anchored in someone else's copy of the registry (tests/e2e/test_issuer_binding.py), the
--registry allow-list, and a chain that does not answer."""

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from certflow.core.verification import CHECK_ORDER
from devstack.client import StackClient
from devstack.processes import free_port
from devstack.stack import DEMO_ISSUER_NAME, SERVICES, LocalStack, StackOptions
from tests.e2e.test_hostile_verify import issue_anchored, revoke_on_chain
from tests.e2e.test_issuer_binding import anchor_forgery

CERTFLOW = Path(sys.executable).parent / "certflow"


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.stdout)
        return result


@dataclass(frozen=True)
class Issued:
    genuine: dict[str, Any]
    to_revoke: dict[str, Any]
    forgery: dict[str, Any]
    copy_address: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    options = StackOptions(
        state_dir=tmp_path_factory.mktemp("standalone-verifier"), window_max_age_seconds=0.3
    )
    with LocalStack(options) as running:
        yield running


@pytest.fixture(scope="module")
def issued(stack: LocalStack) -> Issued:
    """Two genuine certificates and a forgery; afterwards no certflow service runs."""
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    try:
        genuine = issue_anchored(stack, client, "standalone-1", "Amara Okafor", "amara@example.org")
        to_revoke = issue_anchored(stack, client, "standalone-2", "Ravi Menon", "ravi@example.org")
    finally:
        client.close()
    forgery, copy_address = asyncio.run(anchor_forgery(stack))
    for service in reversed(SERVICES):
        stack.processes[service].stop()
    assert not any(stack.processes[s].running for s in SERVICES)
    revoke_on_chain(stack, bytes.fromhex(to_revoke["proof"]["targetHash"][2:]))
    return Issued(genuine, to_revoke, forgery, copy_address)


def certflow_verify(
    stack: LocalStack, tmp_path: Path, document: dict[str, Any], *extra: str, rpc: str = ""
) -> Run:
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    args = [
        str(CERTFLOW),
        "verify",
        str(path),
        "--rpc",
        rpc or stack.rpc_url,
        "--dns-resolver",
        f"127.0.0.1:{stack.ports['dns']}",
        "--profile-base-url",
        f"http://127.0.0.1:{stack.ports['identity']}",
        *extra,
    ]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200"}
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    return Run(done.returncode, done.stdout, done.stderr)


def statuses(run: Run) -> dict[str, str]:
    return {c["check"]: c["status"] for c in run.json()["checks"]}


def test_a_genuine_certificate_is_valid_with_no_certflow_service_running(
    stack: LocalStack, issued: Issued, tmp_path: Path
) -> None:
    run = certflow_verify(stack, tmp_path, issued.genuine, "--json")
    assert run.code == 0, run
    result = run.json()
    assert result["status"] == "VALID" and result["valid"] is True
    assert [c["check"] for c in result["checks"]] == list(CHECK_ORDER)
    assert set(statuses(run).values()) == {"PASSED"}
    anchor = issued.genuine["proof"]["anchor"]
    assert result["transaction_hash"] == anchor["transactionHash"]
    assert result["registry"] == anchor["registry"]
    assert result["issuer_name"] == DEMO_ISSUER_NAME
    assert result["anchored_at"]
    issuer = next(c for c in result["checks"] if c["check"] == "issuer")
    assert stack.registry_address.lower() in issuer["message"]


def test_the_text_output_shows_each_check_and_whole_hashes(
    stack: LocalStack, issued: Issued, tmp_path: Path
) -> None:
    run = certflow_verify(stack, tmp_path, issued.genuine)
    assert run.code == 0, run
    lines = run.stdout.splitlines()
    assert lines[0].endswith(": VALID")
    assert [line.split()[:2] for line in lines[1:9]] == [["PASSED", n] for n in CHECK_ORDER]
    assert issued.genuine["proof"]["anchor"]["transactionHash"] in run.stdout


def test_a_tampered_copy_exits_11(stack: LocalStack, issued: Issued, tmp_path: Path) -> None:
    tampered = json.loads(json.dumps(issued.genuine))
    tampered["credentialSubject"]["identifier"][0]["identityHash"] = "Amara Okafor-Smith"
    run = certflow_verify(stack, tmp_path, tampered, "--json")
    assert run.code == 11, run
    assert run.json()["status"] == "TAMPERED"
    assert statuses(run)["integrity"] == "FAILED"


def test_a_revoked_certificate_exits_12(stack: LocalStack, issued: Issued, tmp_path: Path) -> None:
    run = certflow_verify(stack, tmp_path, issued.to_revoke, "--json")
    assert run.code == 12, run
    assert run.json()["status"] == "REVOKED"
    assert statuses(run)["anchored"] == "PASSED"
    assert statuses(run)["revocation"] == "FAILED"


def test_a_forgery_in_a_copy_of_the_registry_exits_11(
    stack: LocalStack, issued: Issued, tmp_path: Path
) -> None:
    run = certflow_verify(stack, tmp_path, issued.forgery, "--json")
    assert run.code == 11, run
    assert run.json()["status"] == "REGISTRY_NOT_LISTED"
    assert statuses(run)["issuer"] == "FAILED"
    issuer = next(c for c in run.json()["checks"] if c["check"] == "issuer")
    assert issued.copy_address.lower() in issuer["message"]


def test_the_registry_allow_list(stack: LocalStack, issued: Issued, tmp_path: Path) -> None:
    listed = certflow_verify(
        stack, tmp_path, issued.genuine, "--json", "--registry", stack.registry_address.lower()
    )
    assert listed.code == 0, listed
    other = certflow_verify(
        stack, tmp_path, issued.genuine, "--json", "--registry", issued.copy_address
    )
    assert other.code == 11, other
    assert other.json()["status"] == "UNKNOWN_ISSUER"
    assert statuses(other)["issuer"] == "PASSED"
    assert statuses(other)["registry"] == "FAILED"


def test_a_chain_that_does_not_answer_is_no_verdict(
    stack: LocalStack, issued: Issued, tmp_path: Path
) -> None:
    run = certflow_verify(
        stack, tmp_path, issued.genuine, "--json", rpc=f"http://127.0.0.1:{free_port()}"
    )
    assert run.code == 5, run
    assert run.json()["error"]["reason"] == "CHAIN_UNAVAILABLE"
    assert "Traceback" not in run.stderr
    assert run.stderr.startswith("certflow: error: "), run.stderr
