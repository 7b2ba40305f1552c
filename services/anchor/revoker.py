"""The revoker: closes pending revocations into revocation windows and takes each to the chain
as ONE bulkRevoke transaction, with the anchor submitter's rules — the same pure decisions
(submission.next_step, fees, nonce_for, retry_delay), the signed transaction stored before it
is broadcast, the same signer and lease. It runs inside the submitter's pass (Anchorer's
`after_pass`), so anchoring and revoking never pick a nonce at the same time.

Confirmed at the configured depth, a window's revocations are marked revoked and announced on
"certs.revoked" through the outbox in the same database transaction."""

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from certflow.core.transactions import MinedTransaction
from certflow.v1 import certificate_pb2, events_pb2
from services.anchor.anchored_events import AnchoredMessage
from services.anchor.anchorer import Signer
from services.anchor.fees import GWEI, FeePolicy, Fees, bumped, initial_fees
from services.anchor.revocations import PendingRevocation, RevocationReason, due_windows
from services.anchor.submission import (
    Step,
    WindowState,
    at_depth,
    next_step,
    nonce_for,
    nonce_taken,
    retry_delay,
)

log = logging.getLogger(__name__)

Tx = TypeVar("Tx")
Tx_co = TypeVar("Tx_co", covariant=True)

MAX_REVOCATIONS_PER_EVENT = 500
ALREADY_REVOKED = "AlreadyRevoked"  # the registry's error for a hash revoked before

REASONS = {
    RevocationReason.SUPERSEDED: certificate_pb2.REVOCATION_REASON_SUPERSEDED,
    RevocationReason.ISSUED_IN_ERROR: certificate_pb2.REVOCATION_REASON_ISSUED_IN_ERROR,
    RevocationReason.DATA_CORRECTION: certificate_pb2.REVOCATION_REASON_DATA_CORRECTION,
    RevocationReason.WITHDRAWN: certificate_pb2.REVOCATION_REASON_WITHDRAWN,
    RevocationReason.OTHER: certificate_pb2.REVOCATION_REASON_OTHER,
}
REASON_OF = {value: reason for reason, value in REASONS.items()}  # unspecified: no reason


@dataclass(frozen=True, slots=True)
class RevocationWindowToSend:
    window_id: str
    state: WindowState
    leaves: tuple[bytes, ...]
    nonce: int | None = None
    raw_transaction: bytes | None = None
    transaction_hash: str | None = None
    max_fee_per_gas: int = 0
    max_priority_fee_per_gas: int = 0
    transaction_hashes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RevocationToAnnounce:
    certificate_id: str
    batch_id: str
    reason: RevocationReason
    reason_text: str
    replaced_by: str


def revoked_events(
    window_id: str,
    *,
    chain_id: int,
    mined: MinedTransaction,
    revoked_at: datetime,
    revocations: Sequence[RevocationToAnnounce],
    tag: str = "",
) -> list[AnchoredMessage]:
    """Pure: the "certs.revoked" events of a confirmed revocation window, at most 500
    certificates each (a reason text is at most 500 characters: well under 1 MB), with
    deterministic message ids so a re-announcement is deduplicated; `tag` sets apart a later
    announcement of some of them (a replacement named after the first)."""
    stamp = Timestamp()
    stamp.FromDatetime(revoked_at)
    events = []
    for n, start in enumerate(range(0, len(revocations), MAX_REVOCATIONS_PER_EVENT)):
        chunk = revocations[start : start + MAX_REVOCATIONS_PER_EVENT]
        payload = events_pb2.CertificatesRevokedEvent(
            revocation_window_id=window_id,
            chain_id=chain_id,
            transaction_hash=mined.transaction_hash,
            block_number=mined.block_number,
            certificates=[
                events_pb2.RevokedCertificate(
                    certificate_id=r.certificate_id,
                    batch_id=r.batch_id,
                    reason=REASONS[r.reason],
                    reason_text=r.reason_text,
                    revoke_time=stamp,
                    replaced_by_certificate_id=r.replaced_by,
                )
                for r in chunk
            ],
        ).SerializeToString()
        events.append(AnchoredMessage(msg_id=f"revoked:{window_id}:{tag}{n}", payload=payload))
    return events


class RevocationChain(Protocol[Tx_co]):
    """What the revoker asks of the registry's chain (RegistryClient)."""

    async def mined(self, transaction_hash: str) -> MinedTransaction | None: ...

    async def block_number(self) -> int: ...

    async def block_hash(self, number: int) -> str | None: ...

    async def send_raw(self, raw_transaction: bytes) -> bool: ...

    async def known(self, transaction_hash: str) -> bool: ...

    async def pending_nonce(self, address: str) -> int: ...

    async def fees(self) -> tuple[int, int]: ...

    async def revoked_among(self, leaves: Sequence[bytes]) -> set[bytes]:
        """Those of the hashes the registry already holds as revoked."""
        ...

    async def revoking_transaction(self, leaf: bytes) -> MinedTransaction | None:
        """The transaction that revoked `leaf`, whoever sent it; None if it is not revoked."""
        ...

    async def would_revert_revoke(self, leaves: Sequence[bytes], sender: str) -> str | None: ...

    async def build_revoke_transaction(
        self, leaves: Sequence[bytes], sender: str, nonce: int, fees: tuple[int, int]
    ) -> Tx_co: ...


class RevocationLedger(Protocol):
    def pending_revocations(self) -> list[PendingRevocation]: ...

    def add_revocation_window(self, window_id: str, certificate_ids: Sequence[str]) -> None: ...

    def unfinished_revocation_windows(self) -> list[RevocationWindowToSend]: ...

    def highest_used_nonce(self, sender: str) -> int | None: ...

    def record_revocation_signed(
        self,
        window_id: str,
        *,
        sender: str,
        nonce: int,
        raw: bytes,
        tx_hash: str,
        fees: Fees,
        replacement: bool = False,
    ) -> None: ...

    def reset_revocation_to_built(
        self, window_id: str, *, outcome: str = "abandoned", reason: str = ""
    ) -> None: ...

    def set_revocation_waiting_reason(self, window_id: str, reason: str) -> None: ...

    def record_revocation_confirmed(
        self,
        window_id: str,
        mined: MinedTransaction,
        revoked_at: datetime,
        announce: Callable[[Sequence[RevocationToAnnounce]], Sequence[AnchoredMessage]],
    ) -> int | None:
        """Marks the window confirmed and its revocations revoked, and puts the events
        `announce` makes of them, as they stand in that same transaction, in the outbox (a
        reissue may name a replacement up to that moment); how many were revoked, None when
        the window was confirmed already."""
        ...


class Revoker(Generic[Tx]):
    def __init__(
        self,
        ledger: RevocationLedger,
        chain: RevocationChain[Tx],
        signer: Signer[Tx],  # the anchor's: same key, same nonces
        *,
        chain_id: int,
        confirmations: int,
        rebroadcast_seconds: float,
        fee_policy: FeePolicy,
        window_max_leaves: int = 500,
        window_max_age_seconds: float = 2.0,
        replace_after_seconds: float = 180.0,
        retry_first_seconds: float = 30.0,
        retry_longest_seconds: float = 1800.0,
        on_confirmed: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._ledger = ledger
        self._chain = chain
        self._signer = signer
        self._chain_id = chain_id
        self._confirmations = max(confirmations, 1)
        self._rebroadcast_seconds = rebroadcast_seconds
        self._fee_policy = fee_policy
        self._max_leaves = window_max_leaves
        self._max_age = timedelta(seconds=window_max_age_seconds)
        self._replace_after = replace_after_seconds
        self._retry_first = retry_first_seconds
        self._retry_longest = retry_longest_seconds
        self._on_confirmed = on_confirmed
        self._clock = clock
        self._wall_clock = wall_clock
        self._new_id = new_id
        self._last_broadcast: dict[str, float] = {}
        self._sent_at: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        self._reasons: dict[str, str] = {}
        self._reported: set[tuple[str, str]] = set()  # (window, fault) logged once

    async def advance_all(self) -> None:
        """One pass (the caller holds the signer lease): close due windows, then move every
        unfinished one a step."""
        pending = await asyncio.to_thread(self._ledger.pending_revocations)
        for group in due_windows(
            pending, max_leaves=self._max_leaves, max_age=self._max_age, now=self._wall_clock()
        ):
            window_id = self._new_id()
            await asyncio.to_thread(self._ledger.add_revocation_window, window_id, group)
            log.info("revocation window %s built with %d leaves", window_id, len(group))
        for window in await asyncio.to_thread(self._ledger.unfinished_revocation_windows):
            await self._advance(window)

    async def _advance(self, window: RevocationWindowToSend) -> None:
        if window.state == WindowState.BUILT:
            if self._clock() >= self._retry_at.get(window.window_id, 0.0):
                await self._sign_and_send(window)
            return
        assert window.transaction_hash and window.raw_transaction
        mined = head = None
        for tx_hash in window.transaction_hashes or (window.transaction_hash,):
            mined = await self._chain.mined(tx_hash)
            if mined is not None:
                break
        if mined is not None and mined.succeeded:
            head = await self._chain.block_number()
        known = mined is not None or await self._chain.known(window.transaction_hash)
        step = next_step(
            state=window.state,
            mined=mined,
            head=head,
            confirmations=self._confirmations,
            last_broadcast=self._last_broadcast.get(window.window_id),
            now=self._clock(),
            rebroadcast_seconds=self._rebroadcast_seconds,
            known=known,
            sent_at=self._sent_at.get(window.transaction_hash),
            replace_after_seconds=self._replace_after,
            dropped_resend_seconds=2.0,
        )
        if step is Step.REBROADCAST:
            await self._rebroadcast(window)
        elif step is Step.REPLACE:
            await self._replace(window)
        elif step is Step.REVERTED:
            assert mined is not None
            await asyncio.to_thread(
                self._ledger.reset_revocation_to_built,
                window.window_id,
                outcome="reverted",
                reason=f"transaction {mined.transaction_hash} reverted",
            )
            await self._fault(window, f"transaction {mined.transaction_hash} reverted")
        elif step is Step.CONFIRM:
            assert mined is not None
            if await self._chain.block_hash(mined.block_number) == mined.block_hash:
                await self._confirm(window, mined)

    async def _sign_and_send(self, window: RevocationWindowToSend) -> None:
        sender = self._signer.address
        base_fee, tip = await self._chain.fees()
        fees = initial_fees(self._fee_policy, base_fee=base_fee, suggested_tip=tip)
        if fees is None:
            await self._wait_for(
                window,
                f"base fee {base_fee / GWEI:.3f} gwei is above the cap"
                f" {self._fee_policy.max_fee_cap / GWEI:.3f} gwei",
                key="fee above the cap",
            )
            return
        remaining, refusal = await self._not_yet_revoked(window, sender)
        if not remaining:
            # all revoked by an earlier transaction: the window is confirmed by it
            earlier = await self._chain.revoking_transaction(window.leaves[0])
            if earlier is not None and earlier.succeeded:
                head = await self._chain.block_number()
                if at_depth(head, earlier.block_number, self._confirmations):
                    await self._confirm(window, earlier)
            return
        if refusal is not None:
            await self._fault(window, f"the registry refuses it: {refusal}")
            return
        chain_nonce = await self._chain.pending_nonce(sender)
        stored = await asyncio.to_thread(self._ledger.highest_used_nonce, sender)
        nonce = nonce_for(chain_nonce, stored)
        transaction = await self._chain.build_revoke_transaction(
            remaining, sender, nonce, (fees.max_fee_per_gas, fees.max_priority_fee_per_gas)
        )
        raw, tx_hash = await self._signer.sign(transaction)
        # stored before broadcast: a crash after this point re-sends these bytes, never new ones
        await asyncio.to_thread(
            self._ledger.record_revocation_signed,
            window.window_id,
            sender=sender,
            nonce=nonce,
            raw=raw,
            tx_hash=tx_hash,
            fees=fees,
        )
        self._reasons.pop(window.window_id, None)
        await self._chain.send_raw(raw)  # if this fails, the next pass re-sends at once
        self._last_broadcast[window.window_id] = self._sent_at[tx_hash] = self._clock()
        log.info(
            "revocation window %s: bulkRevoke of %d leaves sent as %s (nonce %d)",
            window.window_id,
            len(remaining),
            tx_hash,
            nonce,
        )

    async def _not_yet_revoked(
        self, window: RevocationWindowToSend, sender: str
    ) -> tuple[list[bytes], str | None]:
        """The window's hashes not revoked yet, and why bulkRevoke of them would revert (None:
        it would not). bulkRevoke reverts as a whole on one hash already revoked
        (AlreadyRevoked): those revoked by an earlier transaction (ours whose nonce looked
        lost, or an operator's) are left out. One simulated bulkRevoke answers for the whole
        window; only when it says AlreadyRevoked are the hashes asked one by one (500 isRevoked
        calls took 12-15 s on this machine, in the submitter's pass)."""
        remaining = list(window.leaves)
        refusal = await self._chain.would_revert_revoke(remaining, sender)
        if refusal == ALREADY_REVOKED:
            already = await self._chain.revoked_among(window.leaves)
            remaining = [leaf for leaf in window.leaves if leaf not in already]
            if not remaining:
                return remaining, None
            refusal = await self._chain.would_revert_revoke(remaining, sender)
        return remaining, refusal

    async def _rebroadcast(self, window: RevocationWindowToSend) -> None:
        assert window.transaction_hash and window.raw_transaction
        accepted = await self._chain.send_raw(window.raw_transaction)
        now = self._clock()
        self._last_broadcast[window.window_id] = now
        self._sent_at.setdefault(window.transaction_hash, now)
        if accepted:
            return
        mined_now = False
        for tx_hash in window.transaction_hashes or (window.transaction_hash,):
            if await self._chain.mined(tx_hash) is not None:
                mined_now = True
                break
        if nonce_taken(rebroadcast_accepted=accepted, mined_now=mined_now):
            log.error(
                "nonce of revocation window %s was used by another transaction; re-signing",
                window.window_id,
            )
            await asyncio.to_thread(self._ledger.reset_revocation_to_built, window.window_id)
            self._last_broadcast.pop(window.window_id, None)

    async def _replace(self, window: RevocationWindowToSend) -> None:
        assert window.transaction_hash and window.nonce is not None
        base_fee, tip = await self._chain.fees()
        previous = Fees(window.max_fee_per_gas, window.max_priority_fee_per_gas)
        fees = bumped(previous, self._fee_policy, base_fee=base_fee, suggested_tip=tip)
        if fees is None:
            self._sent_at[window.transaction_hash] = self._clock()
            await self._wait_for(
                window, "stuck and no replacement fits under the fee cap", key="no replacement"
            )
            return
        remaining, _ = await self._not_yet_revoked(window, self._signer.address)
        if not remaining:  # mined meanwhile: the next pass sees its receipt
            self._sent_at[window.transaction_hash] = self._clock()
            return
        transaction = await self._chain.build_revoke_transaction(
            remaining,
            self._signer.address,
            window.nonce,
            (fees.max_fee_per_gas, fees.max_priority_fee_per_gas),
        )
        raw, tx_hash = await self._signer.sign(transaction)
        await asyncio.to_thread(
            self._ledger.record_revocation_signed,
            window.window_id,
            sender=self._signer.address,
            nonce=window.nonce,
            raw=raw,
            tx_hash=tx_hash,
            fees=fees,
            replacement=True,
        )
        log.warning(
            "revocation transaction %s not mined in time; replaced by %s at nonce %d",
            window.transaction_hash,
            tx_hash,
            window.nonce,
        )
        await self._chain.send_raw(raw)
        self._last_broadcast[window.window_id] = self._sent_at[tx_hash] = self._clock()

    async def _fault(self, window: RevocationWindowToSend, reason: str) -> None:
        failures = self._failures.get(window.window_id, 0) + 1
        self._failures[window.window_id] = failures
        delay = retry_delay(failures, first=self._retry_first, longest=self._retry_longest)
        self._retry_at[window.window_id] = self._clock() + delay
        self._last_broadcast.pop(window.window_id, None)
        await self._wait_for(
            window, f"{reason}; retry {failures} in {delay:.0f}s", logging.ERROR, key=reason
        )

    async def _wait_for(
        self,
        window: RevocationWindowToSend,
        reason: str,
        level: int = logging.WARNING,
        *,
        key: str,
    ) -> None:
        """Stores why the window waits whenever that changes; logs it once per window and
        `key` (a fee spike's figures change every block: one line, not one per pass)."""
        if (window.window_id, key) not in self._reported:
            self._reported.add((window.window_id, key))
            log.log(level, "revocation window %s waits: %s", window.window_id, reason)
        if self._reasons.get(window.window_id) != reason:
            self._reasons[window.window_id] = reason
            await asyncio.to_thread(
                self._ledger.set_revocation_waiting_reason, window.window_id, reason
            )

    async def _confirm(self, window: RevocationWindowToSend, mined: MinedTransaction) -> None:
        revoked_at = self._wall_clock()

        def announce(revocations: Sequence[RevocationToAnnounce]) -> list[AnchoredMessage]:
            return revoked_events(
                window.window_id,
                chain_id=self._chain_id,
                mined=mined,
                revoked_at=revoked_at,
                revocations=revocations,
            )

        confirmed = await asyncio.to_thread(
            self._ledger.record_revocation_confirmed, window.window_id, mined, revoked_at, announce
        )
        for tx_hash in (*window.transaction_hashes, window.transaction_hash or ""):
            self._sent_at.pop(tx_hash, None)
        for per_window in (self._last_broadcast, self._failures, self._retry_at, self._reasons):
            per_window.pop(window.window_id, None)
        self._reported = {r for r in self._reported if r[0] != window.window_id}
        if confirmed is not None:
            log.info(
                "revocation window %s confirmed: %d certificates revoked, tx %s, block %d, gas %d",
                window.window_id,
                confirmed,
                mined.transaction_hash,
                mined.block_number,
                mined.gas_used,
            )
            self._on_confirmed()
