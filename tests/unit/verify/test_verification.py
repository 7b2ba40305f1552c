"""The verify use case without servers: a registry held in memory stands in for the chain (the
e2e module tests/e2e/test_hostile_verify.py does the same against anvil)."""

import asyncio
import logging
import sys
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
from aiohttp.http_exceptions import BadHttpMessage

from certflow.core.canonical import canonical_json
from certflow.core.display import MAX_SHOWN_CHARACTERS
from certflow.core.document import (
    AnchorProof,
    CertificateContent,
    IssuerProfile,
    build_credential,
    leaf_hash,
    with_anchor_proof,
)
from certflow.core.errors import InvalidInput, Unavailable
from certflow.core.issuer_binding import Publication, Published, RegistryRef
from certflow.core.transactions import MinedTransaction
from certflow.core.verification import (
    ChainView,
    RevocationIndex,
    Verification,
    VerificationStatus,
    Verifier,
    next_block_range,
)
from certflow.core.visible_text import displayable
from services.verify.by_id import verify_by_id
from services.verify.http_api import _PAGES, MalformedRequestLogFilter, as_json
from services.verify.read_model import KnownCertificate
from tests.unit.verify.events import PublishedIssuers

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


def verifier_on(
    registry: MemoryRegistry,
    deadline_seconds: float = 5.0,
    issuers: PublishedIssuers | None = None,
    now: datetime | None = None,
) -> Verifier:
    revocations = RevocationIndex(registry, poll_seconds=60)
    chain = ChainView(registry, anchor_seconds=0, revocations=revocations)
    return Verifier(
        chain,
        issuers=issuers or PublishedIssuers(),
        registry_address=REGISTRY,
        deadline_seconds=deadline_seconds,
        now=(lambda: now) if now else (lambda: datetime.now(UTC)),
    )


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


@pytest.mark.parametrize("name", ["میرزا\u200cزاده", "क्\u200dषमा", "Ω\u200cΔ"])
async def test_a_genuine_name_with_joiners_ingest_accepts_is_valid_and_shown_as_it_is(
    name: str,
) -> None:
    registry = MemoryRegistry()
    result = await verifier_on(registry).verify(anchored_document(registry, name))
    assert result.status == "valid", result.checks
    assert [c for c in result.checks if c.status == "failed"] == []
    assert result.recipient_name == name


async def test_a_name_too_long_to_be_ours_is_shown_shortened_and_flagged() -> None:
    registry = MemoryRegistry()
    name = "é" * 4_000_000
    result = await verifier_on(registry).verify(anchored_document(registry, name))
    assert result.recipient_name == "é" * MAX_SHOWN_CHARACTERS + "\u2026"
    assert any(c.name == "display" and c.status == "failed" for c in result.checks)


class RecordingLookups:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def find(self, certificate_id: str) -> KnownCertificate | None:
        self.asked.append(certificate_id)
        return None


@pytest.mark.parametrize(
    "certificate_id",
    ["é" * 4_000_000, "a" * 37, "0B0C8F0E-1F53-4D4A-9B8E-2C6F9C0D7A11", "../../etc", "\u202eabc"],
)
async def test_an_id_that_cannot_be_ours_is_not_found_echoed_at_most_id_long(
    certificate_id: str,
) -> None:
    lookups = RecordingLookups()
    result = await verify_by_id(verifier_on(MemoryRegistry()), lookups, certificate_id)
    assert result.status == "not_found"
    assert len(result.certificate_id) <= 37  # 36 characters and a "…" when cut
    assert lookups.asked == []  # not even asked of the database
    assert any(c.name == "format" and "UUID" in c.message for c in result.checks)


async def test_an_unknown_uuid_is_not_found_and_echoed_whole() -> None:
    lookups = RecordingLookups()
    unknown = "0b0c8f0e-1f53-4d4a-9b8e-2c6f9c0d7a11"
    result = await verify_by_id(verifier_on(MemoryRegistry()), lookups, unknown)
    assert (result.status, result.certificate_id, lookups.asked) == (
        "not_found",
        unknown,
        [unknown],
    )


def test_the_page_shows_neutralised_names() -> None:
    pending = VerificationStatus.PENDING
    result = Verification(pending, recipient_name=SPOOFED_NAME, title="T\u2066itle").finish(pending)
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
        ("tab\tnew\nline", "tab\tnew\ufffdline"),  # ingest accepts a tab, refuses a newline
        ("می\u200cرزا", "می\u200cرزا"),  # Persian: ZWNJ inside a word, as ingest accepts it
        ("क्\u200dष", "क्\u200dष"),  # Devanagari: ZWJ after a virama
        ("Mi\u200crza", "Mi\ufffdrza"),  # a joiner in Latin text only makes a look-alike
        ("\u200cمی", "\ufffdمی"),  # ... or at an edge
        ("\ue000 logo", "\ue000 logo"),  # private use: visible (ingest accepts it)
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


class CountingFrozenRegistry(MemoryRegistry):
    def __init__(self) -> None:
        super().__init__("frozen")
        self.rounds = 0
        self.third_round = asyncio.Event()

    async def block_number(self) -> int:
        self.rounds += 1
        if self.rounds == 3:
            self.third_round.set()
        return await super().block_number()


@pytest.mark.timeout(60)
async def test_the_revocation_follower_gives_up_a_round_on_a_frozen_chain_and_tries_again() -> None:
    registry = CountingFrozenRegistry()
    revocations = RevocationIndex(registry, poll_seconds=0.01, sync_seconds=0.01)
    stopping = asyncio.Event()
    follower = asyncio.create_task(revocations.follow(stopping))
    await registry.third_round.wait()  # a round that hung would stop the count at 1
    stopping.set()
    await follower


class RangeRecordingRegistry:
    """A chain of `head` blocks whose revocations are in `revoked` (block -> hash); records the
    block ranges asked, and fails every range starting at a block in `failing_from`."""

    def __init__(self, head: int, revoked: dict[int, bytes]) -> None:
        self.head = head
        self.revoked = revoked
        self.asked: list[tuple[int, int]] = []
        self.failing_from: set[int] = set()

    async def block_number(self) -> int:
        return self.head

    async def revoked_since(self, from_block: int, to_block: int) -> list[bytes]:
        self.asked.append((from_block, to_block))
        if from_block in self.failing_from:
            raise TimeoutError("the provider gave up")
        return [h for block, h in self.revoked.items() if from_block <= block <= to_block]


def test_block_ranges_stop_at_the_head() -> None:
    assert next_block_range(0, 12_000, 5_000) == (0, 4_999)
    assert next_block_range(10_000, 12_000, 5_000) == (10_000, 12_000)
    assert next_block_range(12_000, 12_000, 5_000) == (12_000, 12_000)
    assert next_block_range(12_001, 12_000, 5_000) is None


async def test_revocations_are_followed_in_ranges_from_the_first_block() -> None:
    registry = RangeRecordingRegistry(12_345, {1_500: b"a" * 32, 12_345: b"b" * 32})
    revocations = RevocationIndex(registry, first_block=1_000, blocks_per_request=5_000)
    await revocations.sync_once()
    assert registry.asked == [(1_000, 5_999), (6_000, 10_999), (11_000, 12_345)]
    assert revocations.contains(b"a" * 32) and revocations.contains(b"b" * 32)
    assert revocations.fresh
    registry.head = 12_400
    await revocations.sync_once()
    assert registry.asked[3:] == [(12_346, 12_400)]


def test_an_index_never_synced_is_not_fresh_even_just_after_boot(monkeypatch) -> None:
    """time.monotonic() may start near 0 on a machine just booted: an index that never synced
    must still ask the chain (a revoked certificate would otherwise verify as valid)."""
    monkeypatch.setattr(time, "monotonic", lambda: 1.0)
    revocations = RevocationIndex(RangeRecordingRegistry(10, {}), poll_seconds=2)
    assert not revocations.fresh


async def test_a_sync_cut_short_resumes_where_it_stopped() -> None:
    registry = RangeRecordingRegistry(19_999, {19_000: b"c" * 32})
    revocations = RevocationIndex(registry, blocks_per_request=5_000)
    registry.failing_from = {10_000}
    with pytest.raises(TimeoutError):
        await revocations.sync_once()
    assert revocations.next_block == 10_000 and not revocations.fresh
    registry.failing_from = set()
    await revocations.sync_once()
    first_round = [(0, 4_999), (5_000, 9_999), (10_000, 14_999)]
    assert registry.asked == [*first_round, (10_000, 14_999), (15_000, 19_999)]
    assert revocations.contains(b"c" * 32) and revocations.fresh


async def test_deep_json_is_refused_before_parsing_even_with_a_raised_recursion_limit() -> None:
    verifier = verifier_on(MemoryRegistry())
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)  # what web3's import (py_ecc) does: json's guard is gone
    try:
        for text in ("[" * 100_000, '{"a":' * 30_000 + "1" + "}" * 30_000):
            with pytest.raises(InvalidInput) as info:
                await verifier.verify_json(text)
            assert info.value.reason == "DOCUMENT_TOO_DEEP"
    finally:
        sys.setrecursionlimit(limit)


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


def test_malformed_requests_are_not_logged_as_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.server")  # restored after the test
    record = log_record(BadHttpMessage("Invalid method encountered"))
    assert MalformedRequestLogFilter().filter(record) is False
    assert record.levelno == logging.DEBUG and record.exc_info is None
    caplog.set_level(logging.DEBUG, logger="aiohttp.server")
    assert MalformedRequestLogFilter().filter(log_record(BadHttpMessage("x"))) is True


def test_real_server_errors_are_still_logged() -> None:
    record = log_record(RuntimeError("a bug"))
    assert MalformedRequestLogFilter().filter(record) is True
    assert record.levelno == logging.ERROR and record.exc_info is not None


# ---- issuer binding, validity period, anchor network ----


async def test_a_registry_the_issuer_does_not_list_is_refused_before_the_chain_is_asked() -> None:
    registry = MemoryRegistry()
    document = anchored_document(registry, "Alice Martin")
    copy = RegistryRef.of(CHAIN_ID, "0x" + "c0" * 20)
    issuers = PublishedIssuers(
        Published("DNS TXT of academy.example", Publication.LISTS, frozenset({copy}))
    )
    registry.mode = "broken"  # asking the chain would fail the test with Unavailable
    result = await verifier_on(registry, issuers=issuers).verify(document)
    assert result.status == VerificationStatus.REGISTRY_NOT_LISTED
    assert issuers.asked == ["https://academy.example"]
    statuses = {c.name: c.status for c in result.checks}
    assert statuses["issuer"] == "failed"
    assert [statuses[n] for n in ("registry", "anchored", "revocation", "expiry")] == [
        "skipped"
    ] * 4
    issuer_check = next(c for c in result.checks if c.name == "issuer")
    assert REGISTRY.lower() in issuer_check.message and str(copy) in issuer_check.message


async def test_a_listed_registry_this_verifier_does_not_trust_is_unknown_issuer() -> None:
    registry = MemoryRegistry()
    document = anchored_document(registry, "Alice Martin")
    other = "0x" + "c0" * 20
    document["proof"]["anchor"]["registry"] = other  # outside the fingerprint
    issuers = PublishedIssuers(
        Published("DNS TXT", Publication.LISTS, frozenset({RegistryRef.of(CHAIN_ID, other)}))
    )
    result = await verifier_on(registry, issuers=issuers).verify(document)
    assert result.status == VerificationStatus.UNKNOWN_ISSUER
    assert {c.name: c.status for c in result.checks}["issuer"] == "passed"


async def test_an_issuer_that_cannot_be_asked_gives_no_verdict() -> None:
    registry = MemoryRegistry()
    document = anchored_document(registry, "Alice Martin")
    issuers = PublishedIssuers(
        Published.absent("DNS TXT of academy.example"),
        Published.unreachable("issuer profile https://academy.example"),
    )
    with pytest.raises(Unavailable) as info:
        await verifier_on(registry, issuers=issuers).verify(document)
    assert info.value.reason == "ISSUER_UNAVAILABLE"


async def test_a_credential_naming_no_issuer_id_is_malformed() -> None:
    registry = MemoryRegistry()
    document = anchored_document(registry, "Alice Martin")
    del document["issuer"]["id"]
    result = await verifier_on(registry).verify(document)
    assert result.status == VerificationStatus.MALFORMED
    assert "issuer id" in result.checks[0].message


async def test_validity_period_from_and_until() -> None:
    registry = MemoryRegistry()
    document = anchored_document(registry, "Alice Martin")  # validFrom 2026-05-01T00:00:00Z
    before = datetime(2026, 4, 30, 23, 59, 59, tzinfo=UTC)
    result = await verifier_on(registry, now=before).verify(document)
    assert result.status == VerificationStatus.NOT_YET_VALID
    assert next(c for c in result.checks if c.name == "expiry").message == (
        "not valid before 2026-05-01T00:00:00Z"
    )
    at_start = datetime(2026, 5, 1, tzinfo=UTC)
    assert (await verifier_on(registry, now=at_start).verify(document)).status == "valid"


async def test_an_anchor_network_that_disagrees_with_its_chain_id_is_malformed() -> None:
    registry = MemoryRegistry()
    document = anchored_document(registry, "Alice Martin")
    document["proof"]["anchor"]["network"] = "eip155:1"
    result = await verifier_on(registry).verify(document)
    assert result.status == VerificationStatus.MALFORMED
    assert "eip155:31337" in result.checks[0].message


class SilentIssuers(PublishedIssuers):
    """An issuer directory that never answers (a DNS server dropping every query)."""

    async def published(self, issuer_id: str) -> tuple[Published, ...]:
        await asyncio.Event().wait()
        return ()


async def test_an_issuer_directory_that_never_answers_is_unavailable_within_the_deadline() -> None:
    registry = MemoryRegistry()
    document = anchored_document(registry, "Alice Martin")
    verifier = verifier_on(registry, deadline_seconds=0.05, issuers=SilentIssuers())
    with pytest.raises(Unavailable) as info:
        await verifier.verify(document)
    assert info.value.reason == "ISSUER_UNAVAILABLE"
