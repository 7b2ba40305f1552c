"""Verification, step by step: format, integrity, Merkle proof, issuer, anchoring, revocation,
expiry. A document needs no database: only the chain. The database only answers look-ups by id
and tells "not anchored yet" apart from "forged".
"""

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from certflow.core.document import (
    MalformedDocument,
    certificate_id_of,
    read_anchor_proof,
    recompute_leaf,
)
from certflow.core.merkle import verify_proof

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
VALID, TAMPERED, REVOKED, EXPIRED, PENDING = "valid", "tampered", "revoked", "expired", "pending"
MALFORMED, NOT_FOUND, UNKNOWN_ISSUER = "malformed", "not_found", "unknown_issuer"
CHECK_ORDER = ("format", "integrity", "merkle_proof", "issuer", "anchored", "revocation", "expiry")


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str
    message: str


@dataclass
class Verification:
    status: str
    checks: list[Check] = field(default_factory=list)
    certificate_id: str = ""
    issuer_name: str = ""
    recipient_name: str = ""
    title: str = ""
    anchored_at: datetime | None = None
    transaction_hash: str = ""
    chain_id: int = 0

    def finish(self, status: str) -> "Verification":
        """Stops at a failed step; later steps are reported as skipped."""
        self.status = status
        done = {c.name for c in self.checks}
        self.checks += [Check(n, SKIPPED, "not run") for n in CHECK_ORDER if n not in done]
        return self


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


class RevocationIndex:
    """Every hash revoked in the registry, kept current by following DocumentRevoked events, so
    a look-up needs no chain call. `stale_after` bounds how old the index may be before a
    look-up falls back to asking the chain directly."""

    def __init__(self, registry: Any, *, poll_seconds: float = 2.0) -> None:
        self._registry = registry
        self._poll_seconds = poll_seconds
        self._revoked: set[bytes] = set()
        self._next_block = 0
        self._synced_at = 0.0

    @property
    def fresh(self) -> bool:
        return time.monotonic() - self._synced_at < self._poll_seconds * 3

    async def sync_once(self) -> None:
        head = await self._registry.block_number()
        if head >= self._next_block:
            self._revoked.update(await self._registry.revoked_since(self._next_block, head))
            self._next_block = head + 1
        self._synced_at = time.monotonic()

    async def follow(self, stopping: Any) -> None:
        while not stopping.is_set():
            # the chain may be briefly unreachable: look-ups fall back to asking it directly
            with contextlib.suppress(Exception):
                await self.sync_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self._poll_seconds)

    def contains(self, *hashes: bytes) -> bool:
        return any(h in self._revoked for h in hashes)


class ChainView:
    """What the verifier asks the chain: anchoring (cached: final once mined at depth) and
    revocation (from the followed index, or the chain itself when the index is stale)."""

    def __init__(
        self, registry: Any, *, anchor_seconds: float, revocations: RevocationIndex
    ) -> None:
        self._registry = registry
        self._anchors = TtlCache(anchor_seconds)
        self._revocations = revocations

    async def anchored_at(self, root: bytes) -> tuple[int, int]:
        result = await self._anchors.get(root, lambda: self._registry.anchored_at(root))
        if result[0] == 0:
            self._anchors.forget(root)  # not yet anchored: ask again next time
        return result

    async def transaction_block(self, transaction_hash: str) -> int | None:
        """The block that mined this transaction, None when unknown (or not a hash)."""
        if not (transaction_hash.startswith("0x") and len(transaction_hash) == 66):
            return None

        async def load() -> int | None:
            try:
                mined = await self._registry.mined(transaction_hash)
            except ValueError:
                return None
            return mined.block_number if mined and mined.succeeded else None

        block = await self._anchors.get(transaction_hash.encode(), load)
        if block is None:
            self._anchors.forget(transaction_hash.encode())  # do not remember a miss
        return block

    async def revoked(self, leaf: bytes, root: bytes) -> bool:
        if self._revocations.fresh:
            return self._revocations.contains(leaf, root)
        return await self._registry.is_revoked(leaf) or await self._registry.is_revoked(root)


class Verifier:
    def __init__(
        self,
        chain: ChainView,
        *,
        chain_id: int,
        registry_address: str,
        is_pending: Callable[[str], Awaitable[bool]] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._chain = chain
        self._chain_id = chain_id
        self._registry = registry_address.lower()
        self._is_pending = is_pending
        self._now = now

    async def verify_json(self, document_json: str | bytes) -> Verification:
        try:
            document = json.loads(document_json, object_pairs_hook=_refuse_duplicate_keys)
        except (ValueError, RecursionError) as exc:
            result = Verification(MALFORMED, [Check("format", FAILED, f"not readable JSON: {exc}")])
            return result.finish(MALFORMED)
        return await self.verify(document)

    async def verify(self, document: Any) -> Verification:
        try:
            return await self._verify(document)
        except (ValueError, TypeError, AttributeError) as exc:  # odd shapes and number domains
            result = Verification(
                MALFORMED, [Check("format", FAILED, f"unreadable credential: {exc}")]
            )
            return result.finish(MALFORMED)

    async def _verify(self, document: Any) -> Verification:
        result = Verification(MALFORMED)
        if not isinstance(document, dict) or "OpenBadgeCredential" not in (
            document.get("type") or []
        ):
            result.checks.append(Check("format", FAILED, "not an Open Badges 3.0 credential"))
            return result.finish(MALFORMED)
        _describe(result, document)
        try:
            result.certificate_id = certificate_id_of(document)
            proof = read_anchor_proof(document)
        except MalformedDocument as exc:
            unanchored = "not anchored yet" in str(exc) and result.certificate_id
            if unanchored and self._is_pending and await self._is_pending(result.certificate_id):
                result.checks.append(Check("format", PASSED, "credential without proof yet"))
                return result.finish(PENDING)
            result.checks.append(Check("format", FAILED, str(exc)))
            return result.finish(MALFORMED)
        result.checks.append(
            Check("format", PASSED, "Open Badges 3.0 credential with an anchor proof")
        )
        result.transaction_hash = proof.transaction_hash
        result.chain_id = proof.chain_id

        if recompute_leaf(document, proof.leaf_salt) != proof.leaf_hash:
            result.checks.append(
                Check("integrity", FAILED, "the content does not match its fingerprint")
            )
            return result.finish(TAMPERED)
        result.checks.append(Check("integrity", PASSED, "content matches its fingerprint"))

        if not verify_proof(proof.leaf_hash, proof.merkle_path, proof.merkle_root):
            result.checks.append(
                Check("merkle_proof", FAILED, "the Merkle proof does not lead to the root")
            )
            return result.finish(TAMPERED)
        result.checks.append(
            Check("merkle_proof", PASSED, f"{len(proof.merkle_path)} steps to the root")
        )

        if proof.chain_id != self._chain_id or proof.registry_address.lower() != self._registry:
            result.checks.append(
                Check(
                    "issuer",
                    FAILED,
                    f"registry {proof.registry_address} on chain {proof.chain_id} is not trusted",
                )
            )
            return result.finish(UNKNOWN_ISSUER)
        result.checks.append(
            Check("issuer", PASSED, f"registry {proof.registry_address} on chain {proof.chain_id}")
        )

        block, timestamp = await self._chain.anchored_at(proof.merkle_root)
        if block == 0:
            if self._is_pending and await self._is_pending(result.certificate_id):
                result.checks.append(
                    Check("anchored", FAILED, "not anchored yet; try again shortly")
                )
                return result.finish(PENDING)
            result.checks.append(
                Check("anchored", FAILED, "the root is not anchored in the registry")
            )
            return result.finish(TAMPERED)
        if (
            block != proof.block_number
            or await self._chain.transaction_block(proof.transaction_hash) != block
        ):
            result.checks.append(
                Check(
                    "anchored", FAILED, "the proof's block or transaction does not match the chain"
                )
            )
            return result.finish(TAMPERED)
        result.anchored_at = datetime.fromtimestamp(timestamp, UTC)
        result.checks.append(Check("anchored", PASSED, f"anchored in block {block}"))

        if await self._chain.revoked(proof.leaf_hash, proof.merkle_root):
            result.checks.append(Check("revocation", FAILED, "revoked by the issuer"))
            return result.finish(REVOKED)
        result.checks.append(Check("revocation", PASSED, "not revoked"))

        valid_until = document.get("validUntil")
        if isinstance(valid_until, str):
            try:
                expires = datetime.fromisoformat(valid_until.replace("Z", "+00:00"))
            except ValueError:
                result.checks.append(Check("expiry", FAILED, "validUntil is not a date"))
                return result.finish(MALFORMED)
            if expires <= self._now():
                result.checks.append(Check("expiry", FAILED, f"expired on {valid_until[:10]}"))
                return result.finish(EXPIRED)
            result.checks.append(Check("expiry", PASSED, f"valid until {valid_until[:10]}"))
        else:
            result.checks.append(Check("expiry", PASSED, "does not expire"))
        return result.finish(VALID)


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Parsers disagree on duplicate keys (first or last wins); a credential must have none."""
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def _describe(result: Verification, document: dict[str, Any]) -> None:
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
