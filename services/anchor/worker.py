"""The anchoring loops: consume issued leaves into windows, then take each window on chain.

Acknowledgement order: a "certs.issued" message is acked only once its certificates are stored
in a built window (tree and proofs committed). From then on the database drives the window to
the chain, so a crash at any point resumes from the stored state and never anchors twice.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from eth_account.signers.local import LocalAccount
from nats.aio.msg import Msg
from opentelemetry import trace

from certflow.platform import bus
from certflow.platform.chain import MinedTransaction, RegistryClient, sign
from certflow.platform.telemetry import extract_context
from certflow.v1 import events_pb2
from services.anchor.lease import SignerLeaseHolder
from services.anchor.submission import Step, WindowState, next_step, nonce_for, nonce_taken
from services.anchor.window_buffer import WindowBuffer
from services.anchor.windows import AnchorWindows, WindowToSend

log = logging.getLogger(__name__)
tracer = trace.get_tracer("certflow.anchor")


class Anchorer:
    def __init__(
        self,
        windows: AnchorWindows,
        registry: RegistryClient,
        account: LocalAccount,
        *,
        buffer: WindowBuffer,
        confirmations: int,
        rebroadcast_seconds: float,
        fetch_batch: int,
        on_confirmed: Callable[[], None],
        lease: SignerLeaseHolder,
    ) -> None:
        self._lease = lease
        self._waiting_for_lease = False
        self._windows = windows
        self._registry = registry
        self._account = account
        self._buffer = buffer
        self._confirmations = max(confirmations, 1)
        self._rebroadcast_seconds = rebroadcast_seconds
        self._fetch_batch = fetch_batch
        self._on_confirmed = on_confirmed
        self._submit_wakeup = asyncio.Event()
        self._last_broadcast: dict[str, float] = {}
        self._reverted: set[str] = set()
        self._build_failures = 0  # in a row: the nak delay grows with them
        self.poison_messages = 0

    # ---- consuming ----

    async def consume(self, subscription, stopping: asyncio.Event) -> None:  # type: ignore[no-untyped-def]
        while not stopping.is_set():
            messages = await bus.fetch(subscription, self._fetch_batch, wait_seconds=0.25)
            for message in messages:
                leaves = _parse_issued(message.data)
                if leaves is None:
                    self.poison_messages += 1
                    log.error(
                        "poison message on %s terminated (%d so far)",
                        message.subject,
                        self.poison_messages,
                    )
                    await bus.settle(message.term())
                    continue
                self._buffer.add(leaves, message, time.monotonic())
                if self._buffer.should_close(time.monotonic()):
                    await self._close_window()  # full: do not let one fetch overfill it
            if self._buffer.should_close(time.monotonic()):
                await self._close_window()
        if self._buffer.messages:
            await self._close_window()  # persist what we hold rather than wait for redelivery

    async def _close_window(self) -> None:
        """Stores the held leaves as windows, then acks their messages. A database error is a
        pause, not the end of the consumer: the messages are nak'ed with a growing delay and
        come back (build() skips the leaves a partly stored attempt already placed)."""
        windows, messages = self._buffer.take()
        try:
            await self._build_windows(windows, messages)
        except Exception as exc:
            self._build_failures += 1
            delay = bus.retry_delay(self._build_failures)
            log.warning(
                "storing a window failed (%s); %d messages come back in %.1fs",
                exc,
                len(messages),
                delay,
            )
            for message in messages:
                await bus.settle(message.nak(delay=delay))
            return
        self._build_failures = 0
        for message in messages:
            await bus.settle(message.ack())

    async def _build_windows(
        self, windows: list[list[tuple[str, bytes]]], messages: list[Msg]
    ) -> None:
        parent = extract_context(messages[0].headers) if messages else None
        for leaves in windows:
            with tracer.start_as_current_span(
                "anchor.build_window",
                context=parent,
                attributes={"certflow.leaf_count": len(leaves)},
            ):
                # a crash between two windows: the redelivered messages' leaves already placed
                # are skipped by build(), so the rest forms the next window and none is doubled
                window_id = await asyncio.to_thread(self._windows.build, leaves)
            if window_id:
                log.info("window %s built with %d leaves", window_id, len(leaves))
                self._submit_wakeup.set()

    # ---- submitting ----

    async def submit(self, stopping: asyncio.Event) -> None:
        backoff = 0.5
        while not stopping.is_set():
            try:
                if await asyncio.to_thread(self._lease.held):
                    self._waiting_for_lease = False
                    for window in await asyncio.to_thread(self._windows.unfinished):
                        await self._advance(window)
                elif not self._waiting_for_lease:
                    self._waiting_for_lease = True
                    log.warning("another anchor replica holds the signer lease; standing by")
                backoff = 0.5
                wait = 0.2
            except Exception as exc:
                log.warning("chain step failed, retrying in %.1fs: %s", backoff, exc)
                wait, backoff = backoff, min(backoff * 2, 15)
            self._submit_wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._submit_wakeup.wait(), timeout=wait)

    async def _advance(self, window: WindowToSend) -> None:
        mined = head = None
        if window.state != WindowState.BUILT:
            assert window.transaction_hash and window.raw_transaction
            mined = await self._registry.mined(window.transaction_hash)
            if mined is not None and mined.succeeded:
                head = await self._registry.block_number()
        step = next_step(
            state=window.state,
            mined=mined,
            head=head,
            confirmations=self._confirmations,
            last_broadcast=self._last_broadcast.get(window.window_id),
            now=time.monotonic(),
            rebroadcast_seconds=self._rebroadcast_seconds,
        )
        if step is Step.SIGN:
            await self._sign_and_send(window)
        elif step is Step.REBROADCAST:
            await self._rebroadcast(window)
        elif step is Step.REVERTED:
            assert mined is not None
            self._report_revert(window, mined)
        elif step is Step.CONFIRM:
            assert mined is not None
            await self._confirm(window, mined)

    async def _rebroadcast(self, window: WindowToSend) -> None:
        """After a restart, or a node that dropped it: the same signed bytes again."""
        assert window.transaction_hash and window.raw_transaction
        accepted = await self._registry.send_raw(window.raw_transaction)
        self._last_broadcast[window.window_id] = time.monotonic()
        if accepted:
            return
        mined_now = await self._registry.mined(window.transaction_hash) is not None
        if nonce_taken(rebroadcast_accepted=accepted, mined_now=mined_now):
            log.error(
                "nonce of window %s was used by another transaction; re-signing", window.window_id
            )
            await asyncio.to_thread(self._windows.reset_to_built, window.window_id)
            self._submit_wakeup.set()

    def _report_revert(self, window: WindowToSend, mined: MinedTransaction) -> None:
        # a revert is a configuration fault (e.g. the key does not own the registry):
        # report it once and leave the window for an operator rather than spin on it
        if window.window_id in self._reverted:
            return
        self._reverted.add(window.window_id)
        log.error(
            "anchor transaction %s of window %s reverted; its certificates wait",
            mined.transaction_hash,
            window.window_id,
        )

    async def _confirm(self, window: WindowToSend, mined: MinedTransaction) -> None:
        with tracer.start_as_current_span("anchor.confirm_window"):
            count = await asyncio.to_thread(self._windows.record_confirmed, window.window_id, mined)
        self._last_broadcast.pop(window.window_id, None)
        log.info(
            "window %s anchored: %d certificates, tx %s, block %d, gas %d",
            window.window_id,
            count,
            mined.transaction_hash,
            mined.block_number,
            mined.gas_used,
        )
        self._on_confirmed()

    async def _sign_and_send(self, window: WindowToSend) -> None:
        sender = self._account.address
        anchored_block, _ = await self._registry.anchored_at(window.merkle_root)
        if anchored_block:
            log.error(
                "root of window %s is already on chain without a stored transaction",
                window.window_id,
            )
            return
        chain_nonce = await self._registry.pending_nonce(sender)
        stored = await asyncio.to_thread(self._windows.highest_used_nonce, sender)
        nonce = nonce_for(chain_nonce, stored)
        transaction = await self._registry.build_anchor_transaction(
            window.merkle_root, sender, nonce
        )
        raw, tx_hash = sign(self._account, transaction)
        # stored before broadcast: a crash after this point re-sends these bytes, never new ones
        await asyncio.to_thread(
            self._windows.record_signed,
            window.window_id,
            sender=sender,
            nonce=nonce,
            raw=raw,
            tx_hash=tx_hash,
        )
        await self._registry.send_raw(raw)
        self._last_broadcast[window.window_id] = time.monotonic()
        self._submit_wakeup.set()


def _parse_issued(data: bytes) -> list[tuple[str, bytes]] | None:
    try:
        event = events_pb2.CertificatesIssuedEvent.FromString(data)
    except Exception:
        return None
    leaves = [(leaf.certificate_id, bytes(leaf.leaf_hash)) for leaf in event.leaves]
    if not leaves or any(len(h) != 32 or not 0 < len(c) <= 36 for c, h in leaves):
        return None
    return leaves
