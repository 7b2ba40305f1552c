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
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from opentelemetry import trace

from certflow.core.anchoring import AnchoredWindowFacts
from certflow.core.transactions import MinedTransaction
from services.anchor.anchored_events import AnchoredMessage, anchored_events
from services.anchor.submission import Step, WindowState, next_step, nonce_for, nonce_taken
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

    async def send_raw(self, raw_transaction: bytes) -> bool:
        """False when the node refuses it for its nonce (mined, or taken by another)."""
        ...

    async def anchored_at(self, root: bytes) -> tuple[int, int]: ...

    async def pending_nonce(self, address: str) -> int: ...

    async def build_anchor_transaction(self, root: bytes, sender: str, nonce: int) -> Tx_co: ...


class Signer(Protocol[Tx_contra]):
    @property
    def address(self) -> str: ...

    def sign(self, transaction: Tx_contra) -> tuple[bytes, str]:
        """(raw signed transaction, its 0x hash)."""
        ...


class Lease(Protocol):
    def held(self) -> bool: ...


class SubmissionStore(Protocol):
    def unfinished(self) -> list[WindowToSend]:
        """Built and submitted windows, oldest first."""
        ...

    def highest_used_nonce(self, sender: str) -> int | None: ...

    def record_signed(
        self, window_id: str, *, sender: str, nonce: int, raw: bytes, tx_hash: str
    ) -> None: ...

    def reset_to_built(self, window_id: str) -> None:
        """Forgets a signed transaction that can never be mined (its nonce was used)."""
        ...

    def window_paths(self, window_id: str) -> list[tuple[str, bytes]]:
        """(certificate id, packed Merkle path) of the window's leaves, in leaf order."""
        ...

    def record_confirmed(
        self, window_id: str, mined: MinedTransaction, events: Sequence[AnchoredMessage]
    ) -> bool:
        """Marks the window confirmed and puts the events in the outbox, in one transaction;
        False when it already was confirmed (nothing written)."""
        ...


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
        on_confirmed: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._chain = chain
        self._signer = signer
        self._lease = lease
        self._confirmations = max(confirmations, 1)
        self._rebroadcast_seconds = rebroadcast_seconds
        self._on_confirmed = on_confirmed
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._last_broadcast: dict[str, float] = {}
        self._reported: set[str] = set()  # windows an operator must look at, logged once
        self._standing_by = False

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
        for window in await asyncio.to_thread(self._store.unfinished):
            await self._advance(window)

    async def _advance(self, window: WindowToSend) -> None:
        mined = head = None
        if window.state != WindowState.BUILT:
            assert window.transaction_hash and window.raw_transaction
            mined = await self._chain.mined(window.transaction_hash)
            if mined is not None and mined.succeeded:
                head = await self._chain.block_number()
        step = next_step(
            state=window.state,
            mined=mined,
            head=head,
            confirmations=self._confirmations,
            last_broadcast=self._last_broadcast.get(window.window_id),
            now=self._clock(),
            rebroadcast_seconds=self._rebroadcast_seconds,
        )
        if step is Step.SIGN:
            await self._sign_and_send(window)
        elif step is Step.REBROADCAST:
            await self._rebroadcast(window)
        elif step is Step.REVERTED:
            assert mined is not None
            # a revert is a configuration fault (e.g. the key does not own the registry):
            # report it once and leave the window for an operator rather than spin on it
            self._report_once(
                window,
                "anchor transaction %s of window %s reverted; its certificates wait",
                mined.transaction_hash,
                window.window_id,
            )
        elif step is Step.CONFIRM:
            assert mined is not None
            await self._confirm(window, mined)

    async def _sign_and_send(self, window: WindowToSend) -> None:
        sender = self._signer.address
        anchored_block, _ = await self._chain.anchored_at(window.merkle_root)
        if anchored_block:
            self._report_once(
                window,
                "root of window %s is already on chain without a stored transaction",
                window.window_id,
            )
            return
        chain_nonce = await self._chain.pending_nonce(sender)
        stored = await asyncio.to_thread(self._store.highest_used_nonce, sender)
        nonce = nonce_for(chain_nonce, stored)
        transaction = await self._chain.build_anchor_transaction(window.merkle_root, sender, nonce)
        raw, tx_hash = self._signer.sign(transaction)
        # stored before broadcast: a crash after this point re-sends these bytes, never new ones
        await asyncio.to_thread(
            self._store.record_signed,
            window.window_id,
            sender=sender,
            nonce=nonce,
            raw=raw,
            tx_hash=tx_hash,
        )
        await self._chain.send_raw(raw)  # if this fails, the next pass re-sends at once
        self._last_broadcast[window.window_id] = self._clock()
        self._wakeup.set()

    async def _rebroadcast(self, window: WindowToSend) -> None:
        """After a restart, or a node that dropped it: the same signed bytes again."""
        assert window.transaction_hash and window.raw_transaction
        accepted = await self._chain.send_raw(window.raw_transaction)
        self._last_broadcast[window.window_id] = self._clock()
        if accepted:
            return
        mined_now = await self._chain.mined(window.transaction_hash) is not None
        if nonce_taken(rebroadcast_accepted=accepted, mined_now=mined_now):
            log.error(
                "nonce of window %s was used by another transaction; re-signing", window.window_id
            )
            await asyncio.to_thread(self._store.reset_to_built, window.window_id)
            self._last_broadcast.pop(window.window_id, None)
            self._wakeup.set()

    async def _confirm(self, window: WindowToSend, mined: MinedTransaction) -> None:
        with tracer.start_as_current_span("anchor.confirm_window"):
            paths = await asyncio.to_thread(self._store.window_paths, window.window_id)
            events = anchored_events(
                AnchoredWindowFacts(
                    window_id=window.window_id,
                    merkle_root=window.merkle_root,
                    chain_id=window.chain_id,
                    registry_address=window.registry_address,
                    transaction_hash=mined.transaction_hash,
                    block_number=mined.block_number,
                ),
                paths,
            )
            confirmed = await asyncio.to_thread(
                self._store.record_confirmed, window.window_id, mined, events
            )
        self._last_broadcast.pop(window.window_id, None)
        if not confirmed:
            return
        log.info(
            "window %s anchored: %d certificates in %d events, tx %s, block %d, gas %d",
            window.window_id,
            len(paths),
            len(events),
            mined.transaction_hash,
            mined.block_number,
            mined.gas_used,
        )
        self._on_confirmed()

    def _report_once(self, window: WindowToSend, message: str, *args: object) -> None:
        if window.window_id in self._reported:
            return
        self._reported.add(window.window_id)
        log.error(message, *args)
