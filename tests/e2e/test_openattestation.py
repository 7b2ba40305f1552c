"""The OpenAttestation v2 export checked by OpenAttestation's own verifier (npm
@govtechsg/oa-verify, run by tests/openattestation/oa_verify.cjs as a subprocess) against our
registry contract on a real anvil (chain id 1337, as OpenAttestation's DNS check expects of a
local chain): valid once its root is issued in the registry, invalid when tampered with, when
revoked, and when its root was never issued. The issuer's DNS TXT record is answered by a
resolver the script injects, with the record the issuer publishes."""

import asyncio
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from certflow.core.canonical import canonical_json
from certflow.core.document import (
    AnchorProof,
    CertificateContent,
    IssuerProfile,
    build_credential,
    leaf_hash,
    new_salt,
    with_anchor_proof,
)
from certflow.core.openattestation import export
from certflow.platform.chain import RegistryClient, deploy_registry, sign, signer
from devstack import tools
from devstack.processes import ManagedProcess, free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "openattestation" / "oa_verify.cjs"
CHAIN_ID = 1337
ISSUER = IssuerProfile(id="https://registrar.example.edu/issuer", name="Example University")

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None
    or not (ROOT / "node_modules" / "@govtechsg" / "oa-verify").is_dir(),
    reason="node and npm's @govtechsg/oa-verify (make install) are needed",
)


@dataclass(frozen=True)
class Chain:
    rpc_url: str
    registry: str


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    state = tmp_path_factory.mktemp("openattestation")
    port = free_port()
    anvil = ManagedProcess(
        "anvil",
        [
            tools.anvil(),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--chain-id",
            str(CHAIN_ID),
            "--prune-history",
            "--cache-path",
            str(state / "anvil-cache"),
        ],
        state / "anvil.log",
    ).start()
    try:
        wait_for_port(port, 30, anvil)
        rpc_url = f"http://127.0.0.1:{port}"
        registry = asyncio.run(
            deploy_registry(rpc_url, tools.ANVIL_DEV_PRIVATE_KEY, "certflow local registry")
        )
        yield Chain(rpc_url, registry)
    finally:
        anvil.stop()


async def _issue(chain: Chain, root: bytes) -> tuple[str, int]:
    """issue(root) in the registry by its owner; (transaction hash, block)."""
    owner = signer(tools.ANVIL_DEV_PRIVATE_KEY)
    registry = RegistryClient(chain.rpc_url, chain.registry)
    try:
        nonce = await registry.pending_nonce(owner.address)
        base_fee, tip = await registry.fees()
        transaction = await registry.build_anchor_transaction(
            root, owner.address, nonce, (2 * base_fee + tip, tip)
        )
        raw, tx_hash = sign(owner, transaction)
        assert await registry.send_raw(raw)
        for _ in range(600):
            mined = await registry.mined(tx_hash)
            if mined is not None:
                assert mined.succeeded
                return tx_hash, mined.block_number
            await asyncio.sleep(0.05)
        raise AssertionError("the issue transaction was never mined")
    finally:
        await registry.close()


def issue(chain: Chain, root: bytes) -> tuple[str, int]:
    return asyncio.run(_issue(chain, root))


def revoke(chain: Chain, document: bytes) -> None:
    async def run() -> None:
        registry = RegistryClient(chain.rpc_url, chain.registry)
        try:
            await registry.revoke(signer(tools.ANVIL_DEV_PRIVATE_KEY), [document])
        finally:
            await registry.close()

    asyncio.run(run())


def anchored_credential(chain: Chain, name: str) -> dict[str, Any]:
    """One of our credentials, its own leaf anchored in the registry (a one-leaf window)."""
    credential = build_credential(
        certificate_id=str(uuid.uuid4()),
        issuer=ISSUER,
        content=CertificateContent(
            recipient_name=name,
            recipient_email="zoe@example.org",
            title="Maîtrise en génie logiciel",
            completion_date=date(2026, 6, 30),
        ),
        email_salt=new_salt().hex()[:32],
        issued_at=datetime(2026, 7, 1, tzinfo=UTC),
    )
    salt = new_salt()
    leaf = leaf_hash(canonical_json(credential), salt)
    tx_hash, block = issue(chain, leaf)
    proof = AnchorProof(salt, leaf, leaf, (), CHAIN_ID, chain.registry, tx_hash, block)
    return with_anchor_proof(credential, proof)


def oa_verify(chain: Chain, tmp_path: Path, document: dict[str, Any]) -> tuple[int, Any]:
    path = tmp_path / f"oa-{uuid.uuid4()}.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    record = f"openatts net=ethereum netId={CHAIN_ID} addr={chain.registry}"
    done = subprocess.run(
        ["node", str(SCRIPT), str(path), chain.rpc_url, record],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def statuses(result: Any) -> dict[str, str]:
    return {f["name"]: f["status"] for f in result["fragments"] if f["status"] != "SKIPPED"}


def exported_and_issued(chain: Chain, name: str) -> dict[str, Any]:
    document = export(anchored_credential(chain, name))
    issue(chain, bytes.fromhex(document["signature"]["merkleRoot"]))
    return document


def test_an_export_whose_root_is_issued_is_valid_for_openattestation(
    chain: Chain, tmp_path: Path
) -> None:
    document = exported_and_issued(chain, "Zoë Ångström")
    code, result = oa_verify(chain, tmp_path, document)
    assert code == 0, result
    assert result["valid"] is True
    assert statuses(result) == {
        "OpenAttestationHash": "VALID",
        "OpenAttestationEthereumDocumentStoreStatus": "VALID",
        "OpenAttestationDnsTxtIdentityProof": "VALID",
    }


def test_a_tampered_export_is_invalid(chain: Chain, tmp_path: Path) -> None:
    document = exported_and_issued(chain, "Amara Okafor")
    salted = document["data"]["recipient"]["name"]
    document["data"]["recipient"]["name"] = salted.replace("Amara Okafor", "Amara Okafor-Smith")
    code, result = oa_verify(chain, tmp_path, document)
    assert code == 1
    assert statuses(result)["OpenAttestationHash"] == "INVALID"


def test_a_revoked_export_is_invalid(chain: Chain, tmp_path: Path) -> None:
    document = exported_and_issued(chain, "Ravi Menon")
    revoke(chain, bytes.fromhex(document["signature"]["targetHash"]))
    code, result = oa_verify(chain, tmp_path, document)
    assert code == 1
    assert statuses(result)["OpenAttestationHash"] == "VALID"
    assert statuses(result)["OpenAttestationEthereumDocumentStoreStatus"] == "INVALID"
    status = next(
        f for f in result["fragments"] if f["name"] == "OpenAttestationEthereumDocumentStoreStatus"
    )
    assert "revoked" in json.dumps(status).lower()


def test_an_export_whose_root_was_never_issued_is_invalid(chain: Chain, tmp_path: Path) -> None:
    document = export(anchored_credential(chain, "Lin Wei"))
    code, result = oa_verify(chain, tmp_path, document)
    assert code == 1
    assert statuses(result)["OpenAttestationHash"] == "VALID"
    assert statuses(result)["OpenAttestationEthereumDocumentStoreStatus"] == "INVALID"
