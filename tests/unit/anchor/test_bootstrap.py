"""The wired graph with in-memory fakes: issued leaves go through the consumer, the submitter
and the chain, and come out as "anchored" events whose paths prove every leaf; the gRPC views
read the same store."""

from pydantic import SecretStr

from certflow.core.merkle import unpack_proof, verify_proof
from certflow.v1 import events_pb2
from services.anchor.bootstrap import assemble
from services.anchor.settings import AnchorSettings
from services.anchor.submission import WindowState
from services.anchor.views import get_proof, get_window
from tests.unit.anchor.fakes import (
    REGISTRY,
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
    events = [events_pb2.CertificatesAnchoredEvent.FromString(m.payload) for m in store.outbox]
    assert [m.msg_id for m in store.outbox] == ["anchored:w1:0", "anchored:w1:1", "anchored:w2:0"]
    assert sorted(c for e in events for c in e.certificate_ids) == sorted(ids)
    for event in events:
        assert event.registry_address == REGISTRY and event.block_number > 100
        for leaf in event.leaves:
            path = unpack_proof(leaf.merkle_path)
            assert verify_proof(leaf_of(leaf.certificate_id), path, event.merkle_root)
    proof = get_proof(store, "cert-7")
    assert proof.window_state is WindowState.CONFIRMED
    assert get_window(store, proof.window_id).leaf_count == 600
