"""docs/test-vectors/v1.json against the project: the file is what its generator writes; its
intermediate values follow docs/merkle.md when recomputed here from the libraries directly
(rfc8785, keccak), not through certflow's helpers; and the verifier gets every expected outcome
and per-check status, with a chain, the issuer's published registries and a clock taken from
the file."""

import hashlib
import importlib.util
import json
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import rfc8785
from eth_hash.auto import keccak

from certflow.core.document import email_identity_hash
from certflow.core.issuer_binding import (
    Publication,
    Published,
    registries_in_profile,
    registries_in_txt,
)
from certflow.core.transactions import MinedTransaction
from certflow.core.verification import ChainView, RevocationIndex, Verifier
from tests.unit.verify.events import PublishedIssuers

VECTORS_DIR = Path(__file__).resolve().parents[3] / "docs" / "test-vectors"
VECTORS: dict[str, Any] = json.loads((VECTORS_DIR / "v1.json").read_text())
CASES = {case["name"]: case for case in VECTORS["cases"]}


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vector_generator", VECTORS_DIR / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_file_is_what_the_generator_writes() -> None:
    assert (VECTORS_DIR / "v1.json").read_text() == generator().render(), (
        "stale: run .venv/bin/python docs/test-vectors/generate.py"
    )


def sorted_pair(a: bytes, b: bytes) -> bytes:
    return keccak(min(a, b) + max(a, b))


def unhex(value: str) -> bytes:
    assert value.startswith("0x") and len(value) == 66
    return bytes.fromhex(value[2:])


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if "document" in c])
def test_intermediate_values_follow_the_documented_convention(name: str) -> None:
    case = CASES[name]
    document = case["document"]
    unsigned = {k: v for k, v in document.items() if k != "proof"}
    canonical = rfc8785.dumps(unsigned)
    assert canonical.hex() == case["canonicalBytesHex"]
    assert canonical.decode() == case["canonicalText"]
    leaf = keccak(unhex(document["proof"]["salt"]) + canonical)
    assert "0x" + leaf.hex() == case["leaf"]
    node = leaf
    for step, sibling in zip(case["pathSteps"], document["proof"]["proofPath"], strict=True):
        assert step["node"] == "0x" + node.hex() and step["sibling"] == sibling
        node = sorted_pair(node, unhex(sibling))
        assert step["parent"] == "0x" + node.hex()
    assert "0x" + node.hex() == case["foldedRoot"]
    assert case["leafMatchesTargetHash"] == ("0x" + leaf.hex() == document["proof"]["targetHash"])
    assert case["rootMatchesMerkleRoot"] == ("0x" + node.hex() == document["proof"]["merkleRoot"])


@pytest.mark.parametrize("window", VECTORS["windows"], ids=lambda w: w["name"])
def test_window_levels_pair_sorted_and_carry_the_odd_node_up(window: dict[str, Any]) -> None:
    level = [unhex(leaf["leaf"]) for leaf in window["leaves"]]
    levels = [level]
    while len(level) > 1:
        parents = [sorted_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = parents + level[len(parents) * 2 :]
        levels.append(level)
    assert [["0x" + n.hex() for n in nodes] for nodes in levels] == window["levels"]
    assert window["root"] == window["levels"][-1][0]


def test_the_email_identity_is_the_casefolded_address_hashed_with_its_salt() -> None:
    identity = VECTORS["emailIdentity"]
    assert (
        identity["casefolded"] != identity["lowercasedWouldBe"]
    )  # the vector shows the difference
    digest = hashlib.sha256((identity["casefolded"] + identity["salt"]).encode()).hexdigest()
    assert identity["identityHash"] == f"sha256${digest}"
    assert email_identity_hash(identity["address"], identity["salt"]) == identity["identityHash"]
    held = CASES[identity["certificate"]]["document"]["credentialSubject"]["identifier"][1]
    assert (held["identityHash"], held["salt"]) == (identity["identityHash"], identity["salt"])


class VectorChain:
    """The registry and chain as the vector file describes them."""

    def __init__(self, chain: dict[str, Any]) -> None:
        self._chain = chain

    async def chain_id(self) -> int:
        return int(self._chain["chainId"])

    async def anchored_at(self, root: bytes) -> tuple[int, int]:
        found = self._chain["anchoredRoots"].get("0x" + root.hex())
        return (found["blockNumber"], found["timestamp"]) if found else (0, 0)

    async def mined(self, transaction_hash: str) -> MinedTransaction | None:
        found = self._chain["minedTransactions"].get(transaction_hash)
        if found is None:
            return None
        return MinedTransaction(
            transaction_hash, found["blockNumber"], "0x" + "00" * 32, 50_000, found["status"] == 1
        )

    async def is_revoked(self, leaf_or_root: bytes) -> bool:
        return "0x" + leaf_or_root.hex() in self._chain["revoked"]

    async def block_number(self) -> int:
        return 100

    async def revoked_since(self, from_block: int, to_block: int) -> list[bytes]:
        return [unhex(h) for h in self._chain["revoked"]]


def vector_verifier() -> Verifier:
    chain = VectorChain(VECTORS["chain"])
    issuer = VECTORS["issuer"]
    issuers = PublishedIssuers(
        Published(
            f"DNS TXT of {issuer['domain']}",
            Publication.LISTS,
            registries_in_txt(issuer["dnsTxt"]),
        ),
        Published(
            f"issuer profile {issuer['profileUrl']}",
            Publication.LISTS,
            registries_in_profile(issuer["profile"]),
        ),
    )
    now = datetime.fromisoformat(VECTORS["now"].replace("Z", "+00:00"))
    revocations = RevocationIndex(chain, poll_seconds=60)  # never synced: asks the chain
    return Verifier(
        ChainView(chain, anchor_seconds=0, revocations=revocations),
        issuers=issuers,
        registry_address=VECTORS["chain"]["registry"],
        now=lambda: now,
    )


@pytest.mark.parametrize("name", list(CASES))
async def test_the_verifier_gets_every_expected_outcome(name: str) -> None:
    case = CASES[name]
    text = case.get("documentJson") or json.dumps(case["document"], ensure_ascii=False)
    result = await vector_verifier().verify_json(text)
    assert result.status.upper() == case["expected"]["status"], result.checks
    got = {c.name: c.status.upper() for c in result.checks if c.name != "display"}
    assert got == case["expected"]["checks"]


def test_the_vectors_cover_what_the_docs_promise() -> None:
    statuses = {c["expected"]["status"] for c in VECTORS["cases"]}
    assert {"VALID", "TAMPERED", "REVOKED", "EXPIRED", "MALFORMED"} <= statuses
    assert {"REGISTRY_NOT_LISTED", "NOT_YET_VALID"} <= statuses
    sizes = {len(w["leaves"]) for w in VECTORS["windows"]}
    assert 1 in sizes and any(size % 2 and size > 1 for size in sizes)
