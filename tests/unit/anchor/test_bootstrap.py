"""The wired graph with in-memory fakes: issued leaves go through the consumer, the submitter
and the chain, and come out as "anchored" events whose paths prove every leaf; the gRPC views
read the same store."""

from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from certflow.core.merkle import unpack_proof, verify_proof
from certflow.platform.anchored_event import read_anchored_event
from certflow.v1 import anchor_service_pb2 as pb
from services.anchor.bootstrap import assemble
from services.anchor.fees import GWEI
from services.anchor.settings import AnchorSettings
from services.anchor.submission import WindowState
from services.anchor.views import get_proof, get_window
from tests.unit.anchor.fakes import (
    REGISTRY,
    SENDER,
    FakeChain,
    FakeLease,
    FakeSigner,
    FakeStore,
    Ids,
    issued,
    leaf_of,
)


def settings(**overrides: object) -> AnchorSettings:
    values: dict[str, object] = {
        "anchor_private_key": SecretStr("0x" + "11" * 32),
        "registry_address": REGISTRY,
        "window_max_leaves": 600,
        "confirmations": 2,
        **overrides,
    }
    return AnchorSettings(**values)  # type: ignore[arg-type]


async def test_issued_leaves_come_out_anchored_with_proofs_of_every_leaf() -> None:
    chain, store, woken = FakeChain(), FakeStore(), []
    anchor = assemble(
        settings(),
        store=store,
        chain=chain,
        signer=FakeSigner(),
        lease=FakeLease(),
        on_confirmed=lambda: woken.append("relay"),
        new_id=Ids(),
    )
    ids = [f"cert-{i}" for i in range(1_000)]
    message = issued(ids)
    await anchor.consumer.handle([message])
    assert message.settled == ["ack"] and store.leaf_counts() == [600, 400]
    await anchor.anchorer.advance_all()
    chain.mine()
    chain.head += 1  # the second confirmation
    await anchor.anchorer.advance_all()
    assert store.states() == [WindowState.CONFIRMED] * 2 and woken == ["relay", "relay"]
    assert [m.msg_id for m in store.outbox] == ["anchored:w1:0", "anchored:w2:0"]
    announced = [read_anchored_event(m.payload) for m in store.outbox]
    assert sorted(c for a in announced for c, _ in a.paths) == sorted(ids)
    for window in announced:
        assert window.facts.registry_address == REGISTRY and window.facts.block_number > 100
        for certificate_id, path in window.paths:
            assert verify_proof(
                leaf_of(certificate_id), unpack_proof(path), window.facts.merkle_root
            )
    proof = get_proof(store, "cert-7")
    assert proof.window_state is WindowState.CONFIRMED
    assert get_window(store, proof.window_id).leaf_count == 600


async def test_the_fee_cap_and_the_signers_status_reach_the_grpc_views() -> None:
    chain, store = FakeChain(base_fee=30 * GWEI, wallet=10**16), FakeStore()
    anchor = assemble(
        settings(
            window_max_leaves=2,
            max_fee_per_gas_cap_gwei=20,
            low_balance_eth=0.05,
            balance_check_seconds=0,
        ),
        store=store,
        chain=chain,
        signer=FakeSigner(),
        lease=FakeLease(),
        new_id=Ids(),
        rpc_url=lambda: "http://rpc-b",
    )
    await anchor.consumer.handle([issued(["a", "b"])])
    await anchor.anchorer.advance_all()
    servicer: Any = anchor.servicer  # its methods take the context loosely
    listed = await servicer.ListAnchorWindows(pb.ListAnchorWindowsRequest(), None)
    [window] = listed.anchor_windows
    assert window.state == pb.ANCHOR_WINDOW_STATE_BUILT and window.transaction_count == 0
    assert window.waiting_reason == "base fee 30.000 gwei is above the cap 20.000 gwei"
    status = await servicer.GetSignerStatus(pb.GetSignerStatusRequest(), None)
    assert (status.signer_address, status.rpc_url) == (SENDER, "http://rpc-b")
    assert (status.balance_wei, status.balance_low) == (str(10**16), True)
    assert status.low_balance_threshold_wei == str(5 * 10**16)
    assert (status.next_base_fee_wei, status.max_fee_per_gas_cap_wei) == (
        str(30 * GWEI),
        str(20 * GWEI),
    )
    chain.base_fee = GWEI  # the spike is over
    await anchor.anchorer.advance_all()
    got = await servicer.GetAnchorWindow(pb.GetAnchorWindowRequest(window_id="w1"), None)
    assert got.anchor_window.state == pb.ANCHOR_WINDOW_STATE_SUBMITTED
    assert (got.anchor_window.waiting_reason, got.anchor_window.transaction_count) == ("", 1)


def test_exactly_one_signer_is_configured() -> None:
    remote = {"remote_signer_url": "http://signer:9000", "remote_signer_address": SENDER}
    assert settings(anchor_private_key=None, **remote).remote_signer_url
    with pytest.raises(ValidationError, match="exactly one signer"):
        settings(**remote)  # a key as well
    with pytest.raises(ValidationError, match="exactly one signer"):
        settings(anchor_private_key=None)  # neither
    with pytest.raises(ValidationError, match="_ADDRESS both"):
        settings(anchor_private_key=None, remote_signer_url="http://signer:9000")


@pytest.mark.parametrize("leaves", [0, -1, 1_001, 5_000])
def test_a_revocation_window_that_could_never_be_sent_is_refused_at_start(leaves: int) -> None:
    # ~24,200 gas a revoked hash: 1,000 fit a 30M-gas block, more never would (every window
    # then failed its gas estimate pass after pass, with no reason given)
    with pytest.raises(ValidationError, match="revocation_window_max_leaves"):
        settings(revocation_window_max_leaves=leaves)
    assert settings(revocation_window_max_leaves=1_000).revocation_window_max_leaves == 1_000


def test_a_windows_fee_is_gas_times_the_price_paid_shared_out_rounded_up() -> None:
    from datetime import UTC, datetime

    from services.anchor.servicer import window_message
    from services.anchor.views import WindowView

    def view(**fields: Any) -> WindowView:
        base: dict[str, Any] = {
            "window_id": "w",
            "state": WindowState.CONFIRMED,
            "leaf_count": 3,
            "merkle_root": b"\x01" * 32,
            "chain_id": 1,
            "registry_address": REGISTRY,
            "transaction_hash": "0x" + "ab" * 32,
            "block_number": 9,
            "gas_used": 50_001,
            "created_at": datetime(2026, 11, 29, tzinfo=UTC),
            "confirmed_at": datetime(2026, 11, 29, tzinfo=UTC),
        }
        return WindowView(**(base | fields))

    paid = view(effective_gas_price=2 * 10**9)
    assert paid.fee_wei == 100_002 * 10**9
    assert paid.fee_per_certificate_wei == 33_334 * 10**9
    message = window_message(paid)
    assert (message.fee_wei, message.fee_per_certificate_wei) == (
        "100002000000000",
        "33334000000000",
    )
    unknown = window_message(view(effective_gas_price=None))
    assert (unknown.fee_wei, unknown.fee_per_certificate_wei) == ("", "")
