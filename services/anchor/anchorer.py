"""The submitter: takes each stored window to the chain, asking submission.py what every
answer of the chain means. The database drives it: a window is built (acked) before it gets
here, its transaction is signed and stored before it is broadcast, and confirmed windows are
announced through the outbox in the same transaction, so a crash anywhere resumes from the
stored state and never anchors twice.

The chain, the key, the store and the lease are small Protocols: unit tests pass fakes."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Generic, Protocol, TypeVar

from opentelemetry import trace

from certflow.core.anchoring import AnchoredWindowFacts
from certflow.core.transactions import MinedTransaction
from services.anchor.anchored_events import AnchoredMessage, anchored_events
from services.anchor.fees import GWEI, FeePolicy, Fees, bumped, initial_fees
from services.anchor.observability import (
    leaf_count,
    transaction_sent,
    window_confirmed,
    window_span,
)
from services.anchor.submission import (
    Step,
    WindowState,
    at_depth,
    next_step,
    nonce_for,
    nonce_taken,
    retry_delay,
)
from services.anchor.views import SignerStatus
from services.anchor.windows import WindowToSend

log = logging.getLogger(__name__)
tracer = trace.get_tracer("certflow.anchor")


# an unsigned transaction is opaque here: it goes from the chain client to the signer as is
Tx = TypeVar("Tx")
Tx_co = TypeVar("Tx_co", covariant=True)
Tx_contra = TypeVar("Tx_contra", contravariant=True)


class Chain(Protocol[Tx_co]):
    """What the submitter asks of the registry contract's chain (RegistryClient)."""

    async def mined(self, transaction_hash: str) -> MinedTransaction | None: ...

    async def block_number(self) -> int: ...

    async def block_hash(self, number: int) -> str | None:
        """The canonical chain's block at `number` now (None beyond the head)."""
        ...

    async def send_raw(self, raw_transaction: bytes) -> bool:
        """False when the node refuses it for its nonce (mined, or taken by another)."""
        ...

    async def known(self, transaction_hash: str) -> bool:
        """False once the node has forgotten (dropped) a transaction it was sent."""
        ...

    async def anchoring_transaction(self, root: bytes) -> MinedTransaction | None:
        """The transaction that anchored `root` on chain, whoever sent it; None if none did."""
        ...

    async def would_revert(self, root: bytes, sender: str) -> str | None:
        """The contract's reason to refuse anchoring `root` now (NotOwner, …), None if none."""
        ...

    async def ran_out_of_gas(self, transaction_hash: str) -> bool: ...

    async def pending_nonce(self, address: str) -> int: ...

    async def balance(self, address: str) -> int: ...

    async def fees(self) -> tuple[int, int]:
        """(next block's base fee, suggested tip), in wei."""
        ...

    async def build_anchor_transaction(
        self, root: bytes, sender: str, nonce: int, fees: tuple[int, int]
    ) -> Tx_co: ...


class Signer(Protocol[Tx_contra]):
    @property
    def address(self) -> str: ...

    async def sign(self, transaction: Tx_contra) -> tuple[bytes, str]:
        """(raw signed transaction, its 0x hash): a local key, or a remote signer."""
        ...


class Lease(Protocol):
    def held(self) -> bool: ...


class SubmissionStore(Protocol):
    def unfinished(self) -> list[WindowToSend]:
        """Built and submitted windows, oldest first."""
        ...

    def highest_used_nonce(self, sender: str) -> int | None: ...

    def record_signed(
        self, window_id: str, *, sender: str, nonce: int, raw: bytes, tx_hash: str, fees: Fees
    ) -> None: ...

    def record_replacement(self, window_id: str, *, raw: bytes, tx_hash: str, fees: Fees) -> None:
        """Another transaction at the window's nonce, now the latest; the others stay watched."""
        ...

    def reset_to_built(
        self, window_id: str, *, outcome: str = "abandoned", reason: str = ""
    ) -> None:
        """Gives up the window's transactions, which can never be mined (their nonce was used
        by another, or they reverted), marking them `outcome`; the window waits for `reason`."""
        ...

    def set_waiting_reason(self, window_id: str, reason: str) -> None: ...

    def window_leaves(self, window_id: str) -> list[tuple[str, bytes]]:
        """(certificate id, leaf hash) of the window's leaves, in leaf order."""
        ...

    def record_confirmed(
        self, window_id: str, mined: MinedTransaction, events: Sequence[AnchoredMessage]
    ) -> bool:
        """Marks the window confirmed and puts the events in the outbox, in one transaction;
        False when it already was confirmed (nothing written)."""
        ...


_DEFAULT_FEES = FeePolicy(max_fee_cap=500 * GWEI)
_FEE_SPIKE = "base fee above the cap"
# a transaction the node forgot is re-sent at once, then at most this often while still unknown
_DROPPED_RESEND_SECONDS = 2.0


class Anchorer(Generic[Tx]):
    def __init__(
        self,
        store: SubmissionStore,
        chain: Chain[Tx],
        signer: Signer[Tx],
        lease: Lease,
        *,
        confirmations: int,
        rebroadcast_seconds: float,
        fee_policy: FeePolicy = _DEFAULT_FEES,
        replace_after_seconds: float = 180.0,
        retry_first_seconds: float = 30.0,
        retry_longest_seconds: float = 1800.0,
        low_balance_wei: int = 0,
        balance_check_seconds: float = 60.0,
        rpc_url: Callable[[], str] = str,
        on_confirmed: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        after_pass: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        # more work for the same signer (the revoker): run in the pass, so nonces are picked
        # by one writer at a time
        self._after_pass = after_pass
        self._chain = chain
        self._signer = signer
        self._lease = lease
        self._confirmations = max(confirmations, 1)
        self._rebroadcast_seconds = rebroadcast_seconds
        self._fee_policy = fee_policy
        self._replace_after = replace_after_seconds
        self._retry_first = retry_first_seconds
        self._retry_longest = retry_longest_seconds
        self._balance_every = balance_check_seconds
        self._rpc_url = rpc_url
        self._on_confirmed = on_confirmed
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._last_broadcast: dict[str, float] = {}  # by window
        self._sent_at: dict[str, float] = {}  # by transaction: its replacement deadline runs
        self._failures: dict[str, int] = {}  # reverts and refusals per window
        self._retry_at: dict[str, float] = {}  # a window to sign again no sooner than this
        self._reasons: dict[str, str] = {}  # waiting reason last stored per window
        self._reported: set[tuple[str, str]] = set()  # (window, fault) logged at ERROR once
        self._standing_by = False
        self._balance_checked: float | None = None
        self._pass_fees: tuple[int, int] | None = None  # (base fee, tip) read in this pass
        self.status = SignerStatus(
            address=signer.address,
            low_balance_wei=low_balance_wei,
            max_fee_cap_wei=fee_policy.max_fee_cap,
        )

    def wake(self) -> None:
        """A window was built: look at it now rather than at the next poll."""
        self._wakeup.set()

    async def submit(self, stopping: asyncio.Event) -> None:
        backoff = 0.5
        while not stopping.is_set():
            try:
                await self.advance_all()
                backoff, wait = 0.5, 0.2
            except Exception as exc:
                # an RPC or database outage is a pause: the stored state is where we resume
                log.warning("chain step failed, retrying in %.1fs: %s", backoff, exc)
                wait, backoff = backoff, min(backoff * 2, 15)
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=wait)

    async def advance_all(self) -> None:
        """One pass: every unfinished window one step further, if this replica may sign."""
        if not await asyncio.to_thread(self._lease.held):
            if not self._standing_by:
                self._standing_by = True
                log.warning("another anchor replica holds the signer lease; standing by")
            return
        self._standing_by = False
        self._pass_fees = None
        await self._check_balance()
        for window in await asyncio.to_thread(self._store.unfinished):
            await self._advance(window)
        if self._after_pass is not None:
            await self._after_pass()

    async def _fees(self) -> tuple[int, int]:
        """(next block's base fee, tip), read once per pass, not per window: a fee spike can
        last hours while a window closes every few seconds, all of them waiting."""
        if self._pass_fees is None:
            self._pass_fees = await self._chain.fees()
            self.status = replace(self.status, next_base_fee_wei=self._pass_fees[0])
        return self._pass_fees

    async def _check_balance(self) -> None:
        now = self._clock()
        if self._balance_checked is not None and now - self._balance_checked < self._balance_every:
            return
        self._balance_checked = now
        was_low = self.status.balance_low
        balance = await self._chain.balance(self._signer.address)
        self.status = replace(self.status, balance_wei=balance, rpc_url=self._rpc_url())
        if self.status.balance_low and not was_low:
            log.warning(
                "signing account %s is running dry: %.6f ETH left, below the %.6f ETH threshold;"
                " top it up before anchoring stops",
                self._signer.address,
                balance / 10**18,
                self.status.low_balance_wei / 10**18,
            )

    async def _advance(self, window: WindowToSend) -> None:
        if window.state == WindowState.BUILT:
            if self._clock() >= self._retry_at.get(window.window_id, 0.0):
                await self._sign_and_send(window)
            return
        assert window.transaction_hash and window.raw_transaction
        mined = head = None
        # the original and its replacements share the nonce: at most one can be mined
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
            dropped_resend_seconds=_DROPPED_RESEND_SECONDS,
        )
        if step is Step.REBROADCAST:
            dropped = (window.window_id, f"dropped {window.transaction_hash}")
            if not known and dropped not in self._reported:  # once: a priced-out one repeats
                self._reported.add(dropped)
                log.warning(
                    "node dropped transaction %s of window %s; re-sending the stored bytes",
                    window.transaction_hash,
                    window.window_id,
                )
            await self._rebroadcast(window)
        elif step is Step.REPLACE:
            with window_span("anchor.replace_transaction", window.window_id):
                await self._replace(window)
        elif step is Step.REVERTED:
            assert mined is not None
            await self._reverted(window, mined)
        elif step is Step.CONFIRM:
            assert mined is not None
            if await self._still_canonical(mined):
                await self._confirm(window, mined)

    async def _still_canonical(self, mined: MinedTransaction) -> bool:
        """A reorg between the receipt and now moved the transaction: look again next pass
        (its receipt then names the new block, or none and the stored bytes are re-sent)."""
        if await self._chain.block_hash(mined.block_number) == mined.block_hash:
            return True
        log.warning(
            "block %d of transaction %s left the canonical chain before its confirmation depth",
            mined.block_number,
            mined.transaction_hash,
        )
        return False

    async def _sign_and_send(self, window: WindowToSend) -> None:
        sender = self._signer.address
        # the fee first: while it is above the cap a waiting window costs no RPC call at all
        base_fee, tip = await self._fees()
        fees = initial_fees(self._fee_policy, base_fee=base_fee, suggested_tip=tip)
        if fees is None:
            await self._wait_for(
                window,
                f"base fee {base_fee / GWEI:.3f} gwei is above the cap"
                f" {self._fee_policy.max_fee_cap / GWEI:.3f} gwei",
                logging.WARNING,
                key=_FEE_SPIKE,
            )
            return
        # a span only once the fee allows a transaction: a window waiting out a fee spike is
        # looked at every pass and would make one each time
        with window_span("anchor.sign_and_send", window.window_id):
            await self._send_at(window, sender, fees)

    async def _send_at(self, window: WindowToSend, sender: str, fees: Fees) -> None:
        if await self._anchored_already(window):
            return
        refusal = await self._chain.would_revert(window.merkle_root, sender)
        if refusal is not None:
            # e.g. NotOwner: the key no longer owns the registry; no gas is spent finding out
            await self._fault(window, f"the registry refuses it: {refusal}")
            return
        chain_nonce = await self._chain.pending_nonce(sender)
        stored = await asyncio.to_thread(self._store.highest_used_nonce, sender)
        nonce = nonce_for(chain_nonce, stored)
        transaction = await self._chain.build_anchor_transaction(
            window.merkle_root, sender, nonce, (fees.max_fee_per_gas, fees.max_priority_fee_per_gas)
        )
        raw, tx_hash = await self._signer.sign(transaction)
        # stored before broadcast: a crash after this point re-sends these bytes, never new ones
        await asyncio.to_thread(
            self._store.record_signed,
            window.window_id,
            sender=sender,
            nonce=nonce,
            raw=raw,
            tx_hash=tx_hash,
            fees=fees,
        )
        self._reasons.pop(window.window_id, None)
        self._reported.discard(("*", _FEE_SPIKE))  # a later spike is news again
        await self._chain.send_raw(raw)  # if this fails, the next pass re-sends at once
        self._last_broadcast[window.window_id] = self._sent_at[tx_hash] = self._clock()
        transaction_sent(tx_hash, "broadcast")
        self._wakeup.set()

    async def _rebroadcast(self, window: WindowToSend) -> None:
        """After a restart, or a node that dropped it: the same signed bytes again."""
        assert window.transaction_hash and window.raw_transaction
        accepted = await self._chain.send_raw(window.raw_transaction)
        now = self._clock()
        self._last_broadcast[window.window_id] = now
        self._sent_at.setdefault(window.transaction_hash, now)  # after a restart: from now
        if accepted:
            return
        mined_now = False
        for tx_hash in window.transaction_hashes or (window.transaction_hash,):
            if await self._chain.mined(tx_hash) is not None:
                mined_now = True
                break
        if nonce_taken(rebroadcast_accepted=accepted, mined_now=mined_now):
            log.error(
                "nonce of window %s was used by another transaction; re-signing", window.window_id
            )
            await asyncio.to_thread(self._store.reset_to_built, window.window_id)
            self._last_broadcast.pop(window.window_id, None)
            self._wakeup.set()

    async def _replace(self, window: WindowToSend) -> None:
        """Not mined by the deadline: the same nonce again, fees bumped as the pool requires."""
        assert window.transaction_hash and window.nonce is not None
        now = self._clock()
        base_fee, tip = await self._fees()
        previous = Fees(window.max_fee_per_gas, window.max_priority_fee_per_gas)
        fees = bumped(previous, self._fee_policy, base_fee=base_fee, suggested_tip=tip)
        if fees is None:
            self._sent_at[window.transaction_hash] = now  # look again after another deadline
            await self._wait_for(
                window,
                f"stuck at {previous.max_fee_per_gas / GWEI:.3f} gwei and no replacement fits"
                f" under the cap {self._fee_policy.max_fee_cap / GWEI:.3f} gwei"
                f" (base fee {base_fee / GWEI:.3f} gwei)",
                logging.WARNING,
                key="no replacement under the cap",
            )
            return
        refusal = await self._chain.would_revert(window.merkle_root, self._signer.address)
        if refusal is not None:
            # mined meanwhile (the next pass sees its receipt), or the registry would refuse
            # any transaction of ours (NotOwner): not replaced; asked again after a deadline
            self._sent_at[window.transaction_hash] = now
            await self._wait_for(
                window,
                f"not replaced: the registry would refuse it now ({refusal})",
                logging.WARNING,
                key="replacement refused",
            )
            return
        transaction = await self._chain.build_anchor_transaction(
            window.merkle_root,
            self._signer.address,
            window.nonce,
            (fees.max_fee_per_gas, fees.max_priority_fee_per_gas),
        )
        raw, tx_hash = await self._signer.sign(transaction)
        # stored before broadcast, like the original; both stay watched until one is mined
        await asyncio.to_thread(
            self._store.record_replacement, window.window_id, raw=raw, tx_hash=tx_hash, fees=fees
        )
        self._reasons.pop(window.window_id, None)
        log.warning(
            "transaction %s of window %s not mined after %.0fs; replaced by %s at nonce %d,"
            " max fee %.3f → %.3f gwei, tip %.3f → %.3f gwei",
            window.transaction_hash,
            window.window_id,
            self._replace_after,
            tx_hash,
            window.nonce,
            previous.max_fee_per_gas / GWEI,
            fees.max_fee_per_gas / GWEI,
            previous.max_priority_fee_per_gas / GWEI,
            fees.max_priority_fee_per_gas / GWEI,
        )
        await self._chain.send_raw(raw)  # refused when the original was just mined: it wins
        transaction_sent(tx_hash, "replaced")
        self._last_broadcast[window.window_id] = self._sent_at[tx_hash] = self._clock()

    async def _reverted(self, window: WindowToSend, mined: MinedTransaction) -> None:
        """Diagnosed: a root anchored by an earlier transaction is adopted; any other cause is
        an operator's alert, and the window is signed again after a growing pause."""
        transaction_sent(mined.transaction_hash, "reverted")
        # it used its nonce and its gas whatever the cause: kept as reverted, the window built
        # again (an adopted anchor is then confirmed from there, at depth, never re-signed)
        await asyncio.to_thread(
            self._store.reset_to_built,
            window.window_id,
            outcome="reverted",
            reason=f"transaction {mined.transaction_hash} reverted",
        )
        if await self._anchored_already(window):
            return
        if await self._chain.ran_out_of_gas(mined.transaction_hash):
            cause = "out of gas"
        else:
            cause = (
                await self._chain.would_revert(window.merkle_root, self._signer.address)
                or "no reason the registry gives now"
            )
        await self._fault(window, f"transaction {mined.transaction_hash} reverted: {cause}")

    async def _anchored_already(self, window: WindowToSend) -> bool:
        """The root is on chain (an earlier transaction of ours, say one whose nonce we thought
        lost): the window is anchored by that transaction, at depth like any other."""
        earlier = await self._chain.anchoring_transaction(window.merkle_root)
        if earlier is None or not earlier.succeeded:
            return False
        ours = earlier.transaction_hash in (
            *window.transaction_hashes,
            window.transaction_hash or "",
        )
        key = (window.window_id, "adopted")
        if not ours and key not in self._reported:
            self._reported.add(key)
            log.warning(
                "root of window %s was anchored by transaction %s in block %d; the window is"
                " anchored by it",
                window.window_id,
                earlier.transaction_hash,
                earlier.block_number,
            )
        head = await self._chain.block_number()
        if at_depth(head, earlier.block_number, self._confirmations) and (
            await self._still_canonical(earlier)
        ):
            await self._confirm(window, earlier)
        return True

    async def _fault(self, window: WindowToSend, reason: str) -> None:
        """An operator must look (ERROR once per fault); the window is retried with backoff,
        never left waiting for ever."""
        failures = self._failures.get(window.window_id, 0) + 1
        self._failures[window.window_id] = failures
        delay = retry_delay(failures, first=self._retry_first, longest=self._retry_longest)
        self._retry_at[window.window_id] = self._clock() + delay
        self._last_broadcast.pop(window.window_id, None)
        await self._wait_for(
            window, f"{reason}; retry {failures} in {delay:.0f}s", logging.ERROR, key=reason
        )

    async def _wait_for(self, window: WindowToSend, reason: str, level: int, *, key: str) -> None:
        """Shows why the window waits (stored, so ListAnchorWindows shows it) and logs it once
        per window and `key` — a fee spike once for all windows until one is sent again."""
        fault = ("*" if key == _FEE_SPIKE else window.window_id, key)
        if fault not in self._reported:
            self._reported.add(fault)
            log.log(level, "window %s waits: %s", window.window_id, reason)
        if self._reasons.get(window.window_id) != reason:
            self._reasons[window.window_id] = reason
            await asyncio.to_thread(self._store.set_waiting_reason, window.window_id, reason)

    async def _confirm(self, window: WindowToSend, mined: MinedTransaction) -> None:
        with window_span("anchor.confirm_window", window.window_id):
            leaves = await asyncio.to_thread(self._store.window_leaves, window.window_id)
            events = anchored_events(
                AnchoredWindowFacts(
                    window_id=window.window_id,
                    merkle_root=window.merkle_root,
                    chain_id=window.chain_id,
                    registry_address=window.registry_address,
                    transaction_hash=mined.transaction_hash,
                    block_number=mined.block_number,
                ),
                leaves,
            )
            confirmed = await asyncio.to_thread(
                self._store.record_confirmed, window.window_id, mined, events
            )
            if confirmed:
                window_confirmed(window.window_id, mined, certificates=leaf_count(window.window_id))
        self._forget(window)
        if not confirmed:
            return
        log.info(
            "window %s anchored: %d certificates in %d events, tx %s, block %d, gas %d",
            window.window_id,
            len(leaves),
            len(events),
            mined.transaction_hash,
            mined.block_number,
            mined.gas_used,
        )
        self._on_confirmed()

    def _forget(self, window: WindowToSend) -> None:
        for tx_hash in (*window.transaction_hashes, window.transaction_hash or ""):
            self._sent_at.pop(tx_hash, None)
        for per_window in (self._last_broadcast, self._failures, self._retry_at, self._reasons):
            per_window.pop(window.window_id, None)
        self._reported = {r for r in self._reported if r[0] != window.window_id}
