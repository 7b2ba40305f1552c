"""The verify use case without servers: a registry held in memory stands in for the chain (the
e2e module tests/e2e/test_hostile_verify.py does the same against anvil)."""

import asyncio
import logging
import sys
from datetime import UTC, date, datetime
from typing import Any

import pytest
import web3  # noqa: F401  (imported for its side effect: py_ecc raises the recursion limit)
from aiohttp.http_exceptions import BadHttpMessage

from certflow.chain import MinedTransaction
from certflow.core.canonical import canonical_json
from certflow.core.document import (
    AnchorProof,
    CertificateContent,
    IssuerProfile,
    build_credential,
    leaf_hash,
    with_anchor_proof,
)
from certflow.errors import InvalidInput, Unavailable
from services.verify.display import displayable
from services.verify.http_api import _PAGES, MalformedRequestLogFilter, as_json
from services.verify.verification import (
    PENDING,
    ChainView,
    RevocationIndex,
    Verification,
    Verifier,
)

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHAIN_ID = 31337
TX_HASH = "0x" + "ab" * 32
SPOOFED_NAME = "Alice \u202egnp.exe\u200b"


class MemoryRegistry:
    """The registry calls the verifier makes, answered from memory; `mode` makes the node
    frozen (never answers) or broken (every call fails)."""

    def __init__(self, mode: str = "up") -> None:
        self.mode = mode
        self.anchored: dict[bytes, tuple[int, int]] = {}

    async def _answer(self, value: Any) -> Any:
        if self.mode == "frozen":
            await asyncio.Event().wait()
        if self.mode == "broken":
            raise ConnectionRefusedError("node down")
        return value

    async def chain_id(self) -> int:
        return await self._answer(CHAIN_ID)

    async def anchored_at(self, root: bytes) -> tuple[int, int]:
        return await self._answer(self.anchored.get(root, (0, 0)))

    async def mined(self, transaction_hash: str) -> MinedTransaction | None:
        mined = MinedTransaction(transaction_hash, 7, "0x" + "00" * 32, 21000, True)
        return await self._answer(mined)

    async def is_revoked(self, leaf_or_root: bytes) -> bool:
        return await self._answer(False)

    async def block_number(self) -> int:
        return await self._answer(7)

    async def revoked_since(self, from_block: int, to_block: int) -> list[bytes]:
        return await self._answer([])


def anchored_document(registry: MemoryRegistry, recipient_name: str) -> dict[str, Any]:
    """A credential anchored alone (its leaf is the root) in block 7 of the memory registry."""
    document = build_credential(
        certificate_id="0b0c8f0e-1f53-4d4a-9b8e-2c6f9c0d7a11",
        issuer=IssuerProfile(id="https://academy.example", name="Example Academy"),
        content=CertificateContent(
            recipient_name=recipient_name,
            recipient_email="alice@example.org",
            title="Safety 101",
            completion_date=date(2026, 5, 1),
        ),
        email_salt="s" * 32,
        issued_at=datetime(2026, 5, 2, tzinfo=UTC),
    )
    salt = bytes(range(32))
    leaf = leaf_hash(canonical_json(document), salt)
    registry.anchored[leaf] = (7, 1_780_000_000)
    proof = AnchorProof(salt, leaf, leaf, (), CHAIN_ID, REGISTRY, TX_HASH, 7)
    return with_anchor_proof(document, proof)


def verifier_on(registry: MemoryRegistry, deadline_seconds: float = 5.0) -> Verifier:
    revocations = RevocationIndex(registry, poll_seconds=60)
    chain = ChainView(registry, anchor_seconds=0, revocations=revocations)
    return Verifier(chain, registry_address=REGISTRY, deadline_seconds=deadline_seconds)


async def test_a_genuine_document_is_valid() -> None:
    registry = MemoryRegistry()
    result = await verifier_on(registry).verify(anchored_document(registry, "Alice Martin"))
    assert result.status == "valid", result.checks
    assert "display" not in [c.name for c in result.checks]


async def test_spoofing_characters_are_neutralised_for_display_not_for_verification() -> None:
    registry = MemoryRegistry()
    document = anchored_document(registry, SPOOFED_NAME)
    result = await verifier_on(registry).verify(document)
    assert result.status == "valid"  # the integrity check ran on the raw document
    assert result.recipient_name == "Alice \ufffdgnp.exe\ufffd"
    display = next(c for c in result.checks if c.name == "display")
    assert display.status == "failed"
    identity = document["credentialSubject"]["identifier"][0]
    assert identity["identityHash"] == SPOOFED_NAME  # the document is not touched


def test_the_page_shows_neutralised_names() -> None:
    result = Verification(PENDING, recipient_name=SPOOFED_NAME, title="T\u2066itle").finish(PENDING)
    page = _PAGES.get_template("verify.html").render(result=as_json(result))
    assert "\u202e" not in page and "\u2066" not in page and "\u200b" not in page
    assert "Alice \ufffdgnp.exe" in page


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Zoë Ng", "Zoë Ng"),
        ("محمد", "محمد"),  # right-to-left script is not spoofing; only the invisible controls
        ("a\u202eb", "a\ufffdb"),
        ("a\u200b\u200c\u200d\u2060b", "a\ufffd\ufffd\ufffd\ufffdb"),
        ("tab\tnew\nline", "tab\ufffdnew\ufffdline"),
        ("lone \ud800 half", "lone \ufffd half"),
        ("para\u2029graph", "para\ufffdgraph"),
    ],
)
def test_displayable(raw: str, shown: str) -> None:
    assert displayable(raw) == shown


@pytest.mark.timeout(60)
async def test_a_frozen_chain_is_unavailable_at_the_deadline() -> None:
    registry = MemoryRegistry()
    document = anchored_document(registry, "Alice Martin")
    registry.mode = "frozen"
    with pytest.raises(Unavailable) as info:
        await verifier_on(registry, deadline_seconds=0.05).verify(document)
    assert info.value.reason == "CHAIN_UNAVAILABLE"


async def test_a_failing_chain_is_unavailable_not_a_verdict() -> None:
    registry = MemoryRegistry()
    document = anchored_document(registry, "Alice Martin")
    registry.mode = "broken"
    with pytest.raises(Unavailable) as info:
        await verifier_on(registry).verify(document)
    assert info.value.reason == "CHAIN_UNAVAILABLE"


@pytest.mark.timeout(60)
async def test_the_revocation_follower_does_not_hang_on_a_frozen_chain() -> None:
    revocations = RevocationIndex(MemoryRegistry("frozen"), poll_seconds=0.01, sync_seconds=0.01)
    stopping = asyncio.Event()
    follower = asyncio.create_task(revocations.follow(stopping))
    await asyncio.sleep(0.1)  # several rounds, each given up after sync_seconds
    stopping.set()
    await follower
    assert not revocations.fresh


async def test_deep_json_is_refused_before_parsing_even_with_a_raised_recursion_limit() -> None:
    assert sys.getrecursionlimit() >= 100_000  # what web3's import did: json's guard is gone
    verifier = verifier_on(MemoryRegistry())
    for text in ("[" * 100_000, '{"a":' * 30_000 + "1" + "}" * 30_000):
        with pytest.raises(InvalidInput) as info:
            await verifier.verify_json(text)
        assert info.value.reason == "DOCUMENT_TOO_DEEP"


async def test_text_that_is_not_utf8_or_not_json_is_malformed() -> None:
    verifier = verifier_on(MemoryRegistry())
    for text in (b'{"a": "\xff"}', "\ufeff{}", '{"a": 1, "a": 2}', "", "nul\x00"):
        result = await verifier.verify_json(text)
        assert result.status == "malformed", text


def log_record(error: BaseException) -> logging.LogRecord:
    return logging.LogRecord(
        "aiohttp.server",
        logging.ERROR,
        __file__,
        1,
        "Error handling request from %s",
        ("127.0.0.1",),
        (type(error), error, None),
    )


def test_malformed_requests_are_not_logged_as_errors() -> None:
    logging.getLogger("aiohttp.server").setLevel(logging.INFO)
    record = log_record(BadHttpMessage("Invalid method encountered"))
    assert MalformedRequestLogFilter().filter(record) is False
    assert record.levelno == logging.DEBUG and record.exc_info is None
    logging.getLogger("aiohttp.server").setLevel(logging.DEBUG)
    assert MalformedRequestLogFilter().filter(log_record(BadHttpMessage("x"))) is True
    logging.getLogger("aiohttp.server").setLevel(logging.NOTSET)


def test_real_server_errors_are_still_logged() -> None:
    record = log_record(RuntimeError("a bug"))
    assert MalformedRequestLogFilter().filter(record) is True
    assert record.levelno == logging.ERROR and record.exc_info is not None
