"""Verification, step by step: format, integrity, Merkle proof, issuer (the issuer's own DNS
TXT record or profile lists the proof's registry), registry (this verifier's allow-list and
chain), anchoring, revocation, validity period — the order docs/merkle.md states. A document
needs no database: only the chain and the issuer's published identity. The database only answers
look-ups by id and tells "not anchored yet" apart from "forged".

Shared by the verify service (services/verify wires it to its read model, RegistryClient and
IssuerIdentity) and any standalone verifier: it imports no service, and does no I/O of its own —
the chain and the issuers' published identity come in through the Protocols below.

Refusals of the request itself are errors, not verdicts: a posted text nested deeper than
MAX_JSON_DEPTH is InvalidInput (HTTP 400, gRPC INVALID_ARGUMENT) and is refused before it is
parsed; a chain that does not answer within the deadline, or answers with an error, is
Unavailable with reason CHAIN_UNAVAILABLE (HTTP 503, gRPC UNAVAILABLE): the caller may retry,
and no verdict is given on a document that could not be checked. The same holds when neither
the issuer's DNS nor its profile lists the registry and one of them could not be asked:
ISSUER_UNAVAILABLE (HTTP 503, gRPC UNAVAILABLE).
"""

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from certflow.core.display import shown
from certflow.core.document import (
    AnchorProof,
    MalformedDocument,
    certificate_id_of,
    read_anchor_proof,
    recompute_leaf,
)
from certflow.core.errors import DomainError, FieldViolation, InvalidInput, Unavailable
from certflow.core.issuer_binding import Binding, Published, RegistryRef, decide
from certflow.core.json_limits import MAX_JSON_DEPTH, JsonTooDeep, check_json_depth
from certflow.core.merkle import verify_proof

T = TypeVar("T")
log = logging.getLogger(__name__)
_TRANSACTION_HASH = re.compile(r"0x[0-9a-fA-F]{64}")


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class VerificationStatus(StrEnum):
    VALID = "valid"
    TAMPERED = "tampered"
    REVOKED = "revoked"
    EXPIRED = "expired"
    PENDING = "pending"
    MALFORMED = "malformed"
    NOT_FOUND = "not_found"
    UNKNOWN_ISSUER = "unknown_issuer"
    REGISTRY_NOT_LISTED = "registry_not_listed"
    NOT_YET_VALID = "not_yet_valid"


CHECK_ORDER = (
    "format",
    "integrity",
    "merkle_proof",
    "issuer",
    "registry",
    "anchored",
    "revocation",
    "expiry",
)
# Reported only when names or titles had to be neutralised for display.
DISPLAY_CHECK = "display"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: CheckStatus
    message: str


@dataclass(frozen=True, slots=True)
class RevocationNote:
    """What the issuer recorded with a revocation (the chain records only that a hash is
    revoked): known to a verifier that follows the issuer's revocation events."""

    reason: str  # superseded, issued_in_error, data_correction, withdrawn, other
    reason_text: str = ""
    revoked_at: datetime | None = None
    replaced_by: str = ""  # a reissue: the certificate that replaces this one
    transaction_hash: str = ""


@dataclass
class Verification:
    status: VerificationStatus
    checks: list[Check] = field(default_factory=list)
    certificate_id: str = ""
    issuer_name: str = ""
    recipient_name: str = ""
    title: str = ""
    anchored_at: datetime | None = None
    transaction_hash: str = ""
    chain_id: int = 0
    revocation: RevocationNote | None = None  # with REVOKED, when the reason is known

    def finish(self, status: VerificationStatus) -> "Verification":
        """Stops at a failed step; later steps are reported as skipped. Every text is made safe
        to display, and a neutralised or shortened name or title is flagged."""
        self.status = status
        done = {c.name for c in self.checks}
        self.checks += [
            Check(n, CheckStatus.SKIPPED, "not run") for n in CHECK_ORDER if n not in done
        ]
        self._neutralise_for_display()
        return self

    def _neutralise_for_display(self) -> None:
        texts = [self.issuer_name, self.recipient_name, self.title, self.certificate_id]
        safe = [shown(text) for text in texts]
        self.issuer_name, self.recipient_name, self.title, self.certificate_id = safe
        self.checks = [Check(c.name, c.status, shown(c.message)) for c in self.checks]
        if safe != texts:
            self.checks.append(
                Check(
                    DISPLAY_CHECK,
                    CheckStatus.FAILED,
                    "names or title contain invisible or direction-changing characters, shown"
                    " here as \ufffd, or are too long to show in full (cut with \u2026); the"
                    " document itself was checked as it is",
                )
            )


def issuer_unavailable(detail: str) -> Unavailable:
    return Unavailable("ISSUER_UNAVAILABLE", f"{detail}; try again shortly")


class IssuerDirectory(Protocol):
    """What the issuers publish about their registries (certflow.platform.issuer_identity)."""

    async def published(self, issuer_id: str) -> Sequence[Published]: ...


def chain_unavailable(detail: str) -> Unavailable:
    return Unavailable(
        "CHAIN_UNAVAILABLE", f"the chain could not be asked ({detail}); try again shortly"
    )


class TtlCache:
    def __init__(self, seconds: float, max_entries: int = 100_000) -> None:
        self._seconds = seconds
        self._max = max_entries
        self._entries: dict[bytes, tuple[float, Any]] = {}

    async def get(self, key: bytes, load: Callable[[], Awaitable[Any]]) -> Any:
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit and hit[0] > now:
            return hit[1]
        value = await load()
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = (now + self._seconds, value)
        return value

    def forget(self, key: bytes) -> None:
        self._entries.pop(key, None)


class RevocationSource(Protocol):
    """What the revocation index asks of the registry."""

    async def block_number(self) -> int: ...

    async def revoked_since(self, from_block: int, to_block: int) -> list[bytes]: ...


def next_block_range(next_block: int, head: int, blocks_per_request: int) -> tuple[int, int] | None:
    """The blocks [first, last] to ask next, at most blocks_per_request of them; None when the
    index has reached the head."""
    if next_block > head:
        return None
    return next_block, min(next_block + blocks_per_request - 1, head)


class RevocationIndex:
    """Every hash revoked in the registry, kept current by following DocumentRevoked events, so
    a look-up needs no chain call. When the index is older than three polls (the chain did not
    answer, or the first sync is still catching up), look-ups ask the chain directly, within
    their deadline.

    Events are asked in ranges of blocks_per_request blocks (providers cap the range of one
    getLogs, and a whole chain in one call would not finish within a request's timeout),
    starting at first_block (the registry's deployment block), and the index advances after
    each range: a round cut short by sync_seconds resumes where it stopped, not from the start.
    """

    def __init__(
        self,
        registry: RevocationSource,
        *,
        first_block: int = 0,
        blocks_per_request: int = 5_000,
        poll_seconds: float = 2.0,
        sync_seconds: float = 30.0,
    ) -> None:
        self._registry = registry
        self._blocks_per_request = blocks_per_request
        self._poll_seconds = poll_seconds
        self._sync_seconds = sync_seconds
        self._revoked: set[bytes] = set()
        self._next_block = first_block
        self._synced_at: float | None = None  # monotonic time of the last complete sync

    @property
    def fresh(self) -> bool:
        # never synced is never fresh (monotonic time may start near 0 after a boot)
        return (
            self._synced_at is not None
            and time.monotonic() - self._synced_at < self._poll_seconds * 3
        )

    @property
    def next_block(self) -> int:
        """The first block whose revocations are not in the index yet."""
        return self._next_block

    async def sync_once(self) -> None:
        """Follows the registry up to its current head, one range of blocks at a time."""
        head = await self._registry.block_number()
        while blocks := next_block_range(self._next_block, head, self._blocks_per_request):
            first, last = blocks
            self._revoked.update(await self._registry.revoked_since(first, last))
            self._next_block = last + 1
        if self._synced_at is None:
            log.info("revocation index caught up with the chain at block %d", head)
        self._synced_at = time.monotonic()

    async def follow(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            # a down or frozen chain: give up this round after sync_seconds and try again
            try:
                async with asyncio.timeout(self._sync_seconds):
                    await self.sync_once()
            except Exception as exc:
                log.debug("revocation sync stopped at block %d: %r", self._next_block, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self._poll_seconds)

    def contains(self, *hashes: bytes) -> bool:
        return any(h in self._revoked for h in hashes)


class MinedFacts(Protocol):
    """What the verifier reads of a mined transaction."""

    @property
    def block_number(self) -> int: ...

    @property
    def succeeded(self) -> bool: ...


class RegistryReader(RevocationSource, Protocol):
    """What the verifier asks of the registry and its chain (certflow.platform.chain)."""

    async def chain_id(self) -> int: ...

    async def anchored_at(self, root: bytes) -> tuple[int, int]: ...

    async def mined(self, transaction_hash: str) -> MinedFacts | None: ...

    async def is_revoked(self, leaf_or_root: bytes) -> bool: ...


@dataclass(frozen=True, slots=True)
class ChainFacts:
    """What the chain says about one proof's anchor."""

    anchored_block: int  # 0: the root was never anchored (then nothing else was asked)
    anchored_timestamp: int = 0
    transaction_block: int | None = None  # the block that mined the proof's transaction
    revoked: bool = False


class ChainView:
    """What the verifier asks the chain: its id, anchoring (cached: final once mined at depth)
    and revocation (from the followed index, or the chain itself when the index is stale). Any
    failure of the chain is raised as Unavailable (CHAIN_UNAVAILABLE), never as a verdict."""

    def __init__(
        self, registry: RegistryReader, *, anchor_seconds: float, revocations: RevocationIndex
    ) -> None:
        self._registry = registry
        self._anchors = TtlCache(anchor_seconds)
        self._revocations = revocations
        self._chain_id: int | None = None

    async def chain_id(self) -> int:
        """Asked on first use (not at start-up, so a frozen node cannot hold the start)."""
        if self._chain_id is None:
            self._chain_id = int(await _ask_chain(self._registry.chain_id))
        return self._chain_id

    async def facts(self, proof: AnchorProof) -> ChainFacts:
        block, timestamp = await self.anchored_at(proof.merkle_root)
        if block == 0:
            return ChainFacts(anchored_block=0)
        return ChainFacts(
            anchored_block=block,
            anchored_timestamp=timestamp,
            transaction_block=await self.transaction_block(proof.transaction_hash),
            revoked=await self.revoked(proof.leaf_hash, proof.merkle_root),
        )

    async def anchored_at(self, root: bytes) -> tuple[int, int]:
        result = await self._anchors.get(
            root, lambda: _ask_chain(lambda: self._registry.anchored_at(root))
        )
        if result[0] == 0:
            self._anchors.forget(root)  # not yet anchored: ask again next time
        return result

    async def transaction_block(self, transaction_hash: str) -> int | None:
        """The block that mined this transaction, None when unknown (or not a hash)."""
        if not _TRANSACTION_HASH.fullmatch(transaction_hash):
            return None

        async def load() -> int | None:
            mined = await _ask_chain(lambda: self._registry.mined(transaction_hash))
            return mined.block_number if mined and mined.succeeded else None

        block = await self._anchors.get(transaction_hash.encode(), load)
        if block is None:
            self._anchors.forget(transaction_hash.encode())  # do not remember a miss
        return block

    async def revoked(self, leaf: bytes, root: bytes) -> bool:
        if self._revocations.fresh:
            return self._revocations.contains(leaf, root)

        async def ask() -> bool:
            return bool(
                await self._registry.is_revoked(leaf) or await self._registry.is_revoked(root)
            )

        return await _ask_chain(ask)


async def _ask_chain(call: Callable[[], Awaitable[T]]) -> T:
    """Any error of the node or the registry (refused connection, RPC error, no contract code
    at the address) is the chain being unavailable; its details stay in our log."""
    try:
        return await call()
    except DomainError:
        raise
    except Exception as exc:
        log.warning("chain call failed: %s: %s", type(exc).__name__, exc)
        raise chain_unavailable(type(exc).__name__) from exc


class Verifier:
    def __init__(
        self,
        chain: ChainView,
        *,
        issuers: IssuerDirectory,
        registry_address: str,
        deadline_seconds: float = 5.0,
        max_depth: int = MAX_JSON_DEPTH,
        is_pending: Callable[[str], Awaitable[bool]] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._chain = chain
        self._issuers = issuers
        self._registry = registry_address.lower()
        self._deadline_seconds = deadline_seconds
        self._max_depth = max_depth
        self._is_pending = is_pending
        self._now = now

    async def verify_json(self, document_json: str | bytes) -> Verification:
        """Verifies posted text. Raises InvalidInput when it nests deeper than the limit: that is
        checked on the text, before parsing, since the parser recurses per level."""
        try:
            text = document_json.decode() if isinstance(document_json, bytes) else document_json
        except UnicodeDecodeError as exc:
            return malformed(f"not UTF-8 text (byte {exc.start})")
        try:
            check_json_depth(text, self._max_depth)
        except JsonTooDeep as exc:
            raise InvalidInput(
                "DOCUMENT_TOO_DEEP", str(exc), [FieldViolation("document_json", str(exc))]
            ) from exc
        try:
            document = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
        except (ValueError, RecursionError) as exc:
            return malformed(f"not readable JSON: {exc}")
        return await self.verify(document)

    async def verify(self, document: Any) -> Verification:
        """Verifies a parsed document. Raises Unavailable when the chain does not answer within
        the deadline (counted from now) or fails."""
        deadline = asyncio.get_running_loop().time() + self._deadline_seconds
        try:
            return await self._verify(document, deadline)
        except (ValueError, TypeError, AttributeError) as exc:  # odd shapes and number domains
            return malformed(f"unreadable credential: {exc}")

    async def _within(self, deadline: float, call: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout_at(deadline):
                return await call
        except TimeoutError as exc:
            raise chain_unavailable(f"no answer within {self._deadline_seconds:g} s") from exc

    async def _verify(self, document: Any, deadline: float) -> Verification:
        result = Verification(VerificationStatus.MALFORMED)
        if not isinstance(document, dict) or "OpenBadgeCredential" not in (
            document.get("type") or []
        ):
            result.checks.append(
                Check("format", CheckStatus.FAILED, "not an Open Badges 3.0 credential")
            )
            return result.finish(VerificationStatus.MALFORMED)
        describe(result, document)
        try:
            result.certificate_id = certificate_id_of(document)
            issuer_id = issuer_id_of(document)
            proof = read_anchor_proof(document)
        except MalformedDocument as exc:
            unanchored = "not anchored yet" in str(exc) and result.certificate_id
            if unanchored and self._is_pending and await self._is_pending(result.certificate_id):
                result.checks.append(
                    Check("format", CheckStatus.PASSED, "credential without proof yet")
                )
                return result.finish(VerificationStatus.PENDING)
            result.checks.append(Check("format", CheckStatus.FAILED, str(exc)))
            return result.finish(VerificationStatus.MALFORMED)
        result.checks.append(
            Check("format", CheckStatus.PASSED, "Open Badges 3.0 credential with an anchor proof")
        )
        result.transaction_hash = proof.transaction_hash
        result.chain_id = proof.chain_id

        if recompute_leaf(document, proof.leaf_salt) != proof.leaf_hash:
            result.checks.append(
                Check("integrity", CheckStatus.FAILED, "the content does not match its fingerprint")
            )
            return result.finish(VerificationStatus.TAMPERED)
        result.checks.append(
            Check("integrity", CheckStatus.PASSED, "content matches its fingerprint")
        )

        if not verify_proof(proof.leaf_hash, proof.merkle_path, proof.merkle_root):
            result.checks.append(
                Check(
                    "merkle_proof", CheckStatus.FAILED, "the Merkle proof does not lead to the root"
                )
            )
            return result.finish(VerificationStatus.TAMPERED)
        result.checks.append(
            Check("merkle_proof", CheckStatus.PASSED, f"{len(proof.merkle_path)} steps to the root")
        )

        # the issuer's own word on its registries: a copy of the contract is not theirs
        registry = RegistryRef.of(proof.chain_id, proof.registry_address)
        try:
            async with asyncio.timeout_at(deadline):
                published = await self._issuers.published(issuer_id)
        except TimeoutError as exc:
            raise issuer_unavailable(
                f"the issuer's published registries could not be read within"
                f" {self._deadline_seconds:g} s"
            ) from exc
        binding = decide(registry, published)
        if binding.binding is Binding.UNKNOWN:
            raise issuer_unavailable(binding.message)
        if binding.binding is Binding.NOT_LISTED:
            result.checks.append(Check("issuer", CheckStatus.FAILED, binding.message))
            return result.finish(VerificationStatus.REGISTRY_NOT_LISTED)
        result.checks.append(Check("issuer", CheckStatus.PASSED, binding.message))

        # this verifier's own allow-list, and the chain it can read
        trusted = proof.registry_address.lower() == self._registry and (
            proof.chain_id == await self._within(deadline, self._chain.chain_id())
        )
        if not trusted:
            result.checks.append(
                Check(
                    "registry",
                    CheckStatus.FAILED,
                    f"registry {proof.registry_address} on chain {proof.chain_id} is not one"
                    " this verifier trusts",
                )
            )
            return result.finish(VerificationStatus.UNKNOWN_ISSUER)
        result.checks.append(
            Check(
                "registry",
                CheckStatus.PASSED,
                f"registry {proof.registry_address} on chain {proof.chain_id}",
            )
        )

        facts = await self._within(deadline, self._chain.facts(proof))
        if facts.anchored_block == 0:
            if self._is_pending and await self._is_pending(result.certificate_id):
                result.checks.append(
                    Check("anchored", CheckStatus.FAILED, "not anchored yet; try again shortly")
                )
                return result.finish(VerificationStatus.PENDING)
            result.checks.append(
                Check("anchored", CheckStatus.FAILED, "the root is not anchored in the registry")
            )
            return result.finish(VerificationStatus.TAMPERED)
        if (
            facts.anchored_block != proof.block_number
            or facts.transaction_block != facts.anchored_block
        ):
            result.checks.append(
                Check(
                    "anchored",
                    CheckStatus.FAILED,
                    "the proof's block or transaction does not match the chain",
                )
            )
            return result.finish(VerificationStatus.TAMPERED)
        result.anchored_at = datetime.fromtimestamp(facts.anchored_timestamp, UTC)
        result.checks.append(
            Check("anchored", CheckStatus.PASSED, f"anchored in block {facts.anchored_block}")
        )

        if facts.revoked:
            result.checks.append(Check("revocation", CheckStatus.FAILED, "revoked by the issuer"))
            return result.finish(VerificationStatus.REVOKED)
        result.checks.append(Check("revocation", CheckStatus.PASSED, "not revoked"))

        return self._validity_period(result, document)

    def _validity_period(self, result: Verification, document: dict[str, Any]) -> Verification:
        """validFrom must have come (a future one is NOT_YET_VALID), validUntil not passed."""
        now = self._now()
        valid_from = document.get("validFrom")
        if valid_from is not None:
            starts = _instant(valid_from)
            if starts is None:
                result.checks.append(
                    Check("expiry", CheckStatus.FAILED, "validFrom is not a date-time")
                )
                return result.finish(VerificationStatus.MALFORMED)
            if starts > now:
                result.checks.append(
                    Check("expiry", CheckStatus.FAILED, f"not valid before {valid_from}")
                )
                return result.finish(VerificationStatus.NOT_YET_VALID)
        valid_until = document.get("validUntil")
        if valid_until is not None:
            expires = _instant(valid_until)
            if expires is None:
                result.checks.append(
                    Check("expiry", CheckStatus.FAILED, "validUntil is not a date-time")
                )
                return result.finish(VerificationStatus.MALFORMED)
            if expires <= now:
                result.checks.append(
                    Check("expiry", CheckStatus.FAILED, f"expired on {str(valid_until)[:10]}")
                )
                return result.finish(VerificationStatus.EXPIRED)
            result.checks.append(
                Check("expiry", CheckStatus.PASSED, f"valid until {str(valid_until)[:10]}")
            )
        else:
            result.checks.append(Check("expiry", CheckStatus.PASSED, "does not expire"))
        return result.finish(VerificationStatus.VALID)


def _instant(value: object) -> datetime | None:
    """An RFC 3339 date-time with a zone (VC 2.0 dateTimeStamp); None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def issuer_id_of(document: dict[str, Any]) -> str:
    """The issuer's id: `issuer.id`, or `issuer` itself when it is a URL string (VC 2.0)."""
    issuer = document.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if not isinstance(issuer_id, str) or not issuer_id:
        raise MalformedDocument("the credential names no issuer id")
    return issuer_id


def malformed(reason: str) -> Verification:
    return Verification(
        VerificationStatus.MALFORMED, [Check("format", CheckStatus.FAILED, reason)]
    ).finish(VerificationStatus.MALFORMED)


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Parsers disagree on duplicate keys (first or last wins); a credential must have none."""
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def describe(result: Verification, document: dict[str, Any]) -> None:
    """Fills in the issuer, title and recipient's name as the credential states them."""
    issuer = document.get("issuer")
    if isinstance(issuer, dict) and isinstance(issuer.get("name"), str):
        result.issuer_name = issuer["name"]
    if isinstance(document.get("name"), str):
        result.title = document["name"]
    subject = document.get("credentialSubject")
    if isinstance(subject, dict):
        for identity in subject.get("identifier") or []:
            if isinstance(identity, dict) and identity.get("identityType") == "name":
                name = identity.get("identityHash")
                result.recipient_name = name if isinstance(name, str) else ""
