"""The submitter against a fake chain and a fake store: what reaches the chain, in what order,
and what is stored, across restarts, taken nonces, reverts and the confirmation depth."""

import asyncio
import logging

import pytest

from certflow.core.transactions import MinedTransaction
from services.anchor.anchorer import Anchorer
from services.anchor.fees import GWEI, FeePolicy
from services.anchor.submission import WindowState
from services.anchor.windows import WindowToSend, build_window
from tests.unit.anchor.fakes import (
    SENDER,
    FakeChain,
    FakeLease,
    FakeSigner,
    FakeStore,
    StoreDown,
    decode,
    leaf_of,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Rig:
    """One anchor replica's submitter over a shared chain and store."""

    def __init__(
        self,
        *,
        chain: FakeChain | None = None,
        store: FakeStore | None = None,
        lease: FakeLease | None = None,
        confirmations: int = 1,
        fee_cap: int = 100 * GWEI,
    ) -> None:
        self.chain = chain or FakeChain()
        self.store = store or FakeStore(self.chain.log)
        self.signer = FakeSigner()
        self.lease = lease or FakeLease()
        self.clock = Clock()
        self.confirmed = 0
        self.anchorer = Anchorer(
            self.store,
            self.chain,
            self.signer,
            self.lease,
            confirmations=confirmations,
            rebroadcast_seconds=30.0,
            fee_policy=FeePolicy(max_fee_cap=fee_cap),
            replace_after_seconds=60.0,
            low_balance_wei=5 * 10**16,
            on_confirmed=self.count_confirmed,
            clock=self.clock,
        )

    def count_confirmed(self) -> None:
        self.confirmed += 1

    def restarted(self) -> "Rig":
        return Rig(chain=self.chain, store=self.store, lease=self.lease)

    def add_window(self, window_id: str = "w1", size: int = 3) -> None:
        ids = [f"{window_id}-c{i}" for i in range(size)]
        self.store.add_window(build_window(window_id, [(c, leaf_of(c)) for c in ids]))

    async def step(self) -> None:
        await self.anchorer.advance_all()

    def window(self, window_id: str = "w1") -> WindowToSend:
        return self.store.stored[window_id].window


async def test_a_window_is_signed_and_stored_before_it_is_broadcast() -> None:
    rig = Rig()
    rig.add_window()
    await rig.step()
    window = rig.window()
    assert window.state is WindowState.SUBMITTED
    assert rig.chain.log == [
        ("stored", window.transaction_hash),
        ("broadcast", window.transaction_hash),
    ]
    assert rig.chain.sent == [window.raw_transaction]
    assert window.nonce == 0


async def test_a_signature_that_cannot_be_stored_is_never_broadcast() -> None:
    rig = Rig()
    rig.add_window()
    rig.store.fail_signing = True
    with pytest.raises(StoreDown):
        await rig.step()
    assert rig.chain.sent == [] and rig.window().state is WindowState.BUILT
    rig.store.fail_signing = False
    await rig.step()
    assert len(rig.chain.sent) == 1


async def test_after_a_restart_the_stored_bytes_are_sent_again_never_a_new_transaction() -> None:
    rig = Rig()
    rig.add_window()
    await rig.step()
    raw = rig.window().raw_transaction
    rig.chain.drop_mempool()  # the node forgot it while we were down
    again = rig.restarted()
    await again.step()
    assert again.signer.signed == []
    assert rig.chain.sent == [raw, raw]
    rig.chain.mine()
    await again.step()
    assert rig.window().state is WindowState.CONFIRMED
    assert len(rig.signer.signed) == 1


async def test_an_unmined_transaction_is_rebroadcast_only_after_the_configured_wait() -> None:
    rig = Rig()
    rig.add_window()
    await rig.step()
    await rig.step()
    assert len(rig.chain.sent) == 1
    rig.clock.now += 30
    await rig.step()
    assert rig.chain.sent == [rig.window().raw_transaction] * 2


async def test_a_nonce_taken_by_another_transaction_is_signed_again_with_a_new_one() -> None:
    rig = Rig()
    rig.add_window()
    await rig.step()
    first = rig.window()
    rig.chain.use_nonce_elsewhere()  # e.g. an operator's transaction from the same wallet
    rig.clock.now += 30
    await rig.step()  # the re-send is refused and ours is not mined: reset to built
    assert rig.window().state is WindowState.BUILT
    await rig.step()
    second = rig.window()
    assert second.state is WindowState.SUBMITTED
    assert second.nonce == 1 and second.transaction_hash != first.transaction_hash
    rig.chain.mine()
    await rig.step()
    assert rig.window().state is WindowState.CONFIRMED


async def test_a_refused_rebroadcast_of_a_mined_transaction_is_not_re_signed() -> None:
    rig = Rig(confirmations=3)
    rig.add_window()
    await rig.step()
    rig.chain.mine()
    rig.clock.now += 30
    await rig.step()  # mined, waiting for depth: nothing is re-sent, nothing re-signed
    assert len(rig.signer.signed) == 1 and len(rig.chain.sent) == 1
    assert rig.window().state is WindowState.SUBMITTED


async def test_a_reverted_transaction_is_alerted_once_and_retried_after_a_pause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig()
    rig.add_window()
    await rig.step()
    rig.chain.revert = True
    rig.chain.refusal = "NotOwner"  # the registry changed hands before it was mined
    rig.chain.mine()
    with caplog.at_level(logging.ERROR):
        for _ in range(5):
            rig.clock.now += 5
            await rig.step()
    alerts = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(alerts) == 1 and "NotOwner" in alerts[0].getMessage()
    # nothing more is sent while the registry would refuse it: no gas spent finding out
    assert len(rig.signer.signed) == 1 and rig.window().state is WindowState.BUILT
    assert "NotOwner" in rig.store.stored["w1"].waiting_reason
    assert [state for _, state, _ in rig.store.stored["w1"].transactions] == ["reverted"]
    rig.chain.revert, rig.chain.refusal = False, None  # an operator gave the registry back
    rig.clock.now += 30
    await rig.step()
    assert len(rig.signer.signed) == 2 and rig.window().nonce == 1
    rig.chain.mine()
    await rig.step()
    assert rig.window().state is WindowState.CONFIRMED and rig.confirmed == 1
    assert rig.store.stored["w1"].waiting_reason == ""


async def test_confirmed_at_the_configured_depth_then_announced_once() -> None:
    rig = Rig(confirmations=3)
    rig.add_window(size=5)
    await rig.step()
    rig.chain.mine()  # block 101: one confirmation
    await rig.step()
    rig.chain.head += 1  # two
    await rig.step()
    assert rig.window().state is WindowState.SUBMITTED and rig.store.outbox == []
    rig.chain.head += 1  # three
    await rig.step()
    await rig.step()
    assert rig.window().state is WindowState.CONFIRMED
    assert [m.msg_id for m in rig.store.outbox] == ["anchored:w1:0"]
    assert rig.confirmed == 1


async def test_a_block_reorganised_away_before_confirmation_is_not_confirmed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig()
    rig.add_window()
    await rig.step()
    [mined] = rig.chain.mine()
    block = rig.chain.receipts[mined].block_number
    rig.chain.canonical[block] = "0xanother"  # the receipt we read is already stale
    with caplog.at_level(logging.WARNING):
        await rig.step()
    assert rig.window().state is WindowState.SUBMITTED and rig.store.outbox == []
    assert any("left the canonical chain" in r.getMessage() for r in caplog.records)
    del rig.chain.canonical[block]
    await rig.step()
    assert rig.window().state is WindowState.CONFIRMED and rig.confirmed == 1


async def test_the_nonce_follows_stored_transactions_the_node_has_not_seen() -> None:
    rig = Rig()
    rig.add_window("w1")
    rig.add_window("w2")
    await rig.step()
    assert [rig.window(w).nonce for w in ("w1", "w2")] == [0, 1]
    rig.chain.drop_mempool()  # the node lost both: its pending nonce says 0 again
    rig.add_window("w3")
    await rig.step()
    assert rig.window("w3").nonce == 2


async def test_without_the_lease_it_stands_by_and_signs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig(lease=FakeLease(held=False))
    rig.add_window()
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            await rig.step()
    assert rig.signer.signed == [] and rig.chain.sent == []
    assert len([r for r in caplog.records if "standing by" in r.getMessage()]) == 1
    rig.lease.is_held = True
    await rig.step()
    assert rig.window().state is WindowState.SUBMITTED


async def test_a_root_already_on_chain_is_adopted_not_signed_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig()
    rig.add_window()
    rig.chain.roots[rig.window().merkle_root] = 50
    with caplog.at_level(logging.WARNING):
        await rig.step()
        await rig.step()
    assert rig.signer.signed == [] and rig.chain.sent == []
    assert rig.window().state is WindowState.CONFIRMED
    assert rig.window().transaction_hash == "0xforeign" and rig.confirmed == 1
    assert len([r for r in caplog.records if "anchored by transaction" in r.getMessage()]) == 1


async def test_a_revert_because_an_earlier_transaction_anchored_the_root_adopts_that_one() -> None:
    rig = Rig()
    rig.add_window()
    await rig.step()
    first = rig.window().transaction_hash
    assert first is not None
    rig.chain.use_nonce_elsewhere()  # looks taken: the node lost track of our transaction
    rig.clock.now += 30
    await rig.step()
    await rig.step()  # signed again at nonce 1
    assert rig.window().nonce == 1
    # yet the first was mined after all (say on a node that had it): the second reverts
    root = rig.window().merkle_root
    rig.chain.roots[root] = rig.chain.head
    rig.chain.anchored_by[root] = first
    head = rig.chain.head
    rig.chain.receipts[first] = MinedTransaction(first, head, f"0xblock{head}", 50_000, True)
    rig.chain.revert = True
    rig.chain.mine()
    await rig.step()
    assert rig.window().state is WindowState.CONFIRMED
    assert rig.window().transaction_hash == first and rig.confirmed == 1
    assert len(rig.signer.signed) == 2
    # what each one became: the first, thought lost, anchored; the second reverted (gas spent)
    assert [s for _, s, _ in rig.store.stored["w1"].transactions] == ["mined", "reverted"]


async def test_a_fee_above_the_cap_sends_nothing_until_it_falls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig(fee_cap=10 * GWEI)
    rig.chain.base_fee = 50 * GWEI
    rig.add_window()
    rig.add_window("w2")
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            await rig.step()
    assert rig.chain.sent == [] and rig.window().state is WindowState.BUILT
    for window_id in ("w1", "w2"):
        assert "above the cap" in rig.store.stored[window_id].waiting_reason
    # one spike, one warning, however many windows wait for it
    assert len([r for r in caplog.records if "above the cap" in r.getMessage()]) == 1
    rig.chain.base_fee = 2 * GWEI
    await rig.step()
    sent = decode(rig.chain.sent[0])
    assert sent.max_fee <= 10 * GWEI and (sent.max_fee, sent.tip) == (5 * GWEI, GWEI)
    assert rig.store.stored["w1"].waiting_reason == ""


async def test_windows_waiting_out_a_fee_spike_cost_one_fee_read_per_pass_and_no_more() -> None:
    """A spike can last hours while a window closes every few seconds: the waiting ones must
    not each ask the node for fees, anchors and a simulated issue() on every pass."""
    rig = Rig(fee_cap=10 * GWEI)
    rig.chain.base_fee = 50 * GWEI
    for i in range(5):
        rig.add_window(f"w{i}")
    calls: list[str] = []
    for name in ("fees", "anchoring_transaction", "would_revert"):
        method = getattr(rig.chain, name)

        async def counted(*args: object, _name: str = name, _method: object = method) -> object:
            calls.append(_name)
            return await _method(*args)  # type: ignore[operator]

        setattr(rig.chain, name, counted)
    await rig.step()
    assert calls == ["fees"]
    assert all("above the cap" in w.waiting_reason for w in rig.store.stored.values())


async def test_a_transaction_not_mined_by_the_deadline_is_replaced_at_its_nonce() -> None:
    rig = Rig()
    rig.add_window()
    await rig.step()
    original = rig.window()
    rig.clock.now += 59
    await rig.step()
    assert len(rig.signer.signed) == 1
    rig.clock.now += 1
    await rig.step()
    replacement = rig.window()
    assert len(rig.signer.signed) == 2
    assert replacement.nonce == original.nonce
    # geth's rule: both strictly higher and at least +10 %
    assert replacement.max_fee_per_gas >= original.max_fee_per_gas * 110 // 100
    assert replacement.max_priority_fee_per_gas >= original.max_priority_fee_per_gas * 110 // 100
    assert replacement.max_fee_per_gas > original.max_fee_per_gas
    assert replacement.transaction_hashes == (
        original.transaction_hash,
        replacement.transaction_hash,
    )
    rig.chain.mine()
    await rig.step()
    assert rig.window().state is WindowState.CONFIRMED and rig.confirmed == 1
    assert [s for _, s, _ in rig.store.stored["w1"].transactions] == ["replaced", "mined"]


async def test_the_original_mined_after_its_replacement_was_sent_wins() -> None:
    rig = Rig()
    rig.add_window()
    await rig.step()
    original = rig.window().transaction_hash
    mempool = dict(rig.chain.mempool)
    rig.clock.now += 60
    await rig.step()  # replaced
    rig.chain.mempool = mempool  # a miner had the original
    rig.chain.mine()
    await rig.step()
    assert rig.window().state is WindowState.CONFIRMED
    assert rig.window().transaction_hash == original
    assert [s for _, s, _ in rig.store.stored["w1"].transactions] == ["mined", "replaced"]


async def test_a_stuck_transaction_the_registry_would_refuse_is_looked_at_once_per_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Ours waits in the pool while the registry changed hands: no replacement is signed, the
    reason shows, and the chain is asked again after another deadline, not on every pass."""
    rig = Rig()
    rig.add_window()
    await rig.step()
    rig.chain.refusal = "NotOwner"
    asked = []
    would_revert = rig.chain.would_revert

    async def counted(root: bytes, sender: str) -> str | None:
        asked.append(root)
        return await would_revert(root, sender)

    setattr(rig.chain, "would_revert", counted)  # noqa: B010 (a method replaced on the instance)
    rig.clock.now += 60
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            await rig.step()
    assert len(rig.signer.signed) == 1 and len(asked) == 1
    assert "NotOwner" in rig.store.stored["w1"].waiting_reason
    assert len([r for r in caplog.records if "NotOwner" in r.getMessage()]) == 1
    rig.clock.now += 60
    await rig.step()
    assert len(asked) == 2 and len(rig.signer.signed) == 1
    rig.chain.mine()  # ours is mined at last (and reverts, or anchors: the usual path)
    await rig.step()
    assert rig.window().state is WindowState.CONFIRMED


async def test_a_stuck_transaction_that_cannot_be_bumped_under_the_cap_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig(fee_cap=3 * GWEI)  # the first transaction pays the cap already
    rig.add_window()
    await rig.step()
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            rig.clock.now += 60
            await rig.step()
    assert len(rig.signer.signed) == 1
    assert "no replacement fits under the cap" in rig.store.stored["w1"].waiting_reason
    assert len([r for r in caplog.records if "no replacement" in r.getMessage()]) == 1
    rig.chain.mine()
    await rig.step()
    assert rig.window().state is WindowState.CONFIRMED


async def test_a_dropped_transaction_is_sent_again_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig()
    rig.add_window()
    await rig.step()
    raw = rig.window().raw_transaction
    with caplog.at_level(logging.WARNING):
        for _ in range(3):  # dropped again and again (say priced out by the base fee)
            rig.chain.drop_mempool()
            rig.clock.now += 2
            await rig.step()
    assert rig.chain.sent == [raw] * 4 and len(rig.signer.signed) == 1
    assert len([r for r in caplog.records if "dropped" in r.getMessage()]) == 1


async def test_a_low_balance_is_warned_once_and_shown_in_the_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig()
    rig.chain.wallet = 10**16
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            rig.clock.now += 120
            await rig.step()
    assert rig.anchorer.status.balance_low and rig.anchorer.status.balance_wei == 10**16
    assert len([r for r in caplog.records if "running dry" in r.getMessage()]) == 1


async def test_a_chain_outage_is_a_pause_of_the_loop_not_its_end() -> None:
    rig = Rig()
    rig.add_window()
    rig.chain.down = True
    stopping = asyncio.Event()
    loop = asyncio.create_task(rig.anchorer.submit(stopping))
    await asyncio.sleep(0.05)
    assert not loop.done() and rig.chain.sent == []
    rig.chain.down = False
    rig.anchorer.wake()
    for _ in range(100):
        if rig.chain.sent:
            break
        await asyncio.sleep(0.02)
    stopping.set()
    rig.anchorer.wake()
    await asyncio.wait_for(loop, 2)
    assert rig.window().state is WindowState.SUBMITTED
    assert rig.window().nonce == 0 and rig.store.highest_used_nonce(SENDER) == 0
