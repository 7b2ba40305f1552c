"""anchor's store against real SQLite and PostgreSQL: a certificate is in one window at most,
a window is signed once and confirmed once (its events written to the outbox with it), the
signer lease has one holder, and the read views."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.anchoring import AnchoredWindowFacts
from certflow.core.merkle import unpack_proof, verify_proof
from certflow.core.transactions import MinedTransaction
from certflow.platform.anchored_event import read_anchored_event
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from services.anchor import tables as t
from services.anchor.anchored_events import AnchoredMessage
from services.anchor.fees import GWEI, Fees
from services.anchor.lease import SignerLeaseHolder
from services.anchor.store import AnchorStore
from services.anchor.submission import WindowState
from services.anchor.windows import build_window, place_leaves
from tests.unit.anchor.fakes import leaf_of

REGISTRY = "0x" + "2E" * 20
FEES = Fees(3 * GWEI, GWEI)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(database_url, ["anchor"])
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def store(sessions: sessionmaker[Session]) -> AnchorStore:
    return AnchorStore(sessions, chain_id=31337, registry_address=REGISTRY)


def leaves(prefix: str, count: int) -> list[tuple[str, bytes]]:
    return [(f"{prefix}{i}", leaf_of(f"{prefix}{i}")) for i in range(count)]


def mined(block: int = 7) -> MinedTransaction:
    return MinedTransaction("0x" + "ab" * 32, block, "0x" + "cd" * 32, 51_000, True)


def test_a_certificate_is_placed_in_one_window_only(store: AnchorStore) -> None:
    first = place_leaves(store, leaves("c", 5), lambda: "w1")
    assert first is not None
    again = place_leaves(store, [*leaves("c", 5), *leaves("d", 2)], lambda: "w2")
    assert again is not None and [x.certificate_id for x in again.leaves] == ["d0", "d1"]
    assert place_leaves(store, leaves("c", 5), lambda: "w3") is None
    assert store.placed(["c0", "d1", "zz"]) == {"c0", "d1"}


def test_a_concurrent_build_of_the_same_certificate_stores_nothing(
    store: AnchorStore, sessions: sessionmaker[Session]
) -> None:
    store.add_window(build_window("w1", leaves("c", 3)))
    with pytest.raises(IntegrityError):
        store.add_window(build_window("w2", [*leaves("d", 2), *leaves("c", 1)]))
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(t.AnchorWindow)) == 1
        assert session.scalar(select(func.count()).select_from(t.CertificateProof)) == 3


def test_a_window_is_signed_once_reset_when_its_nonce_is_taken_and_confirmed_once(
    store: AnchorStore, sessions: sessionmaker[Session]
) -> None:
    store.add_window(build_window("w1", leaves("c", 3)))
    [built] = store.unfinished()
    assert (built.state, built.chain_id, built.registry_address) == (
        WindowState.BUILT,
        31337,
        REGISTRY,
    )
    store.record_signed("w1", sender="0xS", nonce=4, raw=b"raw", tx_hash="0x1", fees=FEES)
    with pytest.raises(AssertionError):
        store.record_signed("w1", sender="0xS", nonce=5, raw=b"other", tx_hash="0x2", fees=FEES)
    [submitted] = store.unfinished()
    assert (submitted.state, submitted.raw_transaction, submitted.nonce) == (
        WindowState.SUBMITTED,
        b"raw",
        4,
    )
    assert store.highest_used_nonce("0xS") == 4 and store.highest_used_nonce("0xT") is None
    store.reset_to_built("w1")
    assert store.unfinished()[0].state == WindowState.BUILT
    # the given-up transaction's nonce stays used: the next one is above it
    assert store.highest_used_nonce("0xS") == 4
    assert store.transactions("w1") == [("0x1", "abandoned")]
    store.record_signed(
        "w1", sender="0xS", nonce=5, raw=b"raw5", tx_hash="0x" + "ab" * 32, fees=FEES
    )
    events = [AnchoredMessage("anchored:w1:0", b"one"), AnchoredMessage("anchored:w1:1", b"two")]
    assert store.record_confirmed("w1", mined(), events)
    assert not store.record_confirmed("w1", mined(), events)  # a second confirm writes nothing
    assert store.unfinished() == []
    with sessions() as session:
        rows = session.execute(select(t.AnchorOutbox.subject, t.AnchorOutbox.msg_id)).all()
    assert sorted(rows) == [
        ("certs.anchored", "anchored:w1:0"),
        ("certs.anchored", "anchored:w1:1"),
    ]


def test_replacements_are_watched_together_and_the_mined_one_wins(store: AnchorStore) -> None:
    store.add_window(build_window("w1", leaves("c", 2)))
    store.record_signed("w1", sender="0xS", nonce=7, raw=b"a", tx_hash="0xa", fees=FEES)
    store.set_waiting_reason("w1", "stuck at 3 gwei")
    store.record_replacement("w1", raw=b"b", tx_hash="0xb", fees=Fees(4 * GWEI, 2 * GWEI))
    [window] = store.unfinished()
    assert (window.transaction_hash, window.raw_transaction, window.nonce) == ("0xb", b"b", 7)
    assert (window.max_fee_per_gas, window.max_priority_fee_per_gas) == (4 * GWEI, 2 * GWEI)
    assert window.transaction_hashes == ("0xa", "0xb")
    view = store.window("w1")
    assert view is not None and (view.transaction_count, view.waiting_reason) == (2, "")
    # the original was mined after all: it is the window's transaction, the other replaced
    original = MinedTransaction("0xa", 9, "0x" + "cd" * 32, 51_000, True)
    assert store.record_confirmed("w1", original, [])
    assert store.transactions("w1") == [("0xa", "mined"), ("0xb", "replaced")]
    view = store.window("w1")
    assert view is not None and view.transaction_hash == "0xa"


def test_a_reverted_transaction_is_kept_and_the_window_shows_why_it_waits(
    store: AnchorStore,
) -> None:
    store.add_window(build_window("w1", leaves("c", 2)))
    store.record_signed("w1", sender="0xS", nonce=0, raw=b"a", tx_hash="0xa", fees=FEES)
    store.reset_to_built("w1", outcome="reverted", reason="reverted: NotOwner")
    [window] = store.unfinished()
    assert window.state == WindowState.BUILT and window.transaction_hashes == ()
    [view] = store.windows(offset=0, limit=5)
    assert (view.waiting_reason, view.transaction_count) == ("reverted: NotOwner", 1)
    store.record_signed("w1", sender="0xS", nonce=1, raw=b"b", tx_hash="0xb", fees=FEES)
    assert store.transactions("w1") == [("0xa", "reverted"), ("0xb", "pending")]
    assert store.highest_used_nonce("0xS") == 1


def test_an_abandoned_transaction_that_anchored_after_all_is_recorded_as_mined(
    store: AnchorStore,
) -> None:
    """Its nonce looked taken, so the window was signed again; that second one reverted, and
    the first turns out to be the anchor: mined, and the reverted one stays reverted."""
    store.add_window(build_window("w1", leaves("c", 2)))
    store.record_signed("w1", sender="0xS", nonce=0, raw=b"a", tx_hash="0xa", fees=FEES)
    store.reset_to_built("w1")
    store.record_signed("w1", sender="0xS", nonce=1, raw=b"b", tx_hash="0xb", fees=FEES)
    store.reset_to_built("w1", outcome="reverted")
    first = MinedTransaction("0xa", 9, "0x" + "cd" * 32, 51_000, True)
    assert store.record_confirmed("w1", first, [])
    assert store.transactions("w1") == [("0xa", "mined"), ("0xb", "reverted")]


def test_paths_and_views_come_back_as_stored(store: AnchorStore) -> None:
    window = build_window("w1", leaves("c", 5))
    store.add_window(window)
    assert store.window_leaves("w1") == [(f"c{i}", leaf_of(f"c{i}")) for i in range(5)]
    for placed in window.leaves:
        stored_proof = store.proof(placed.certificate_id)
        assert stored_proof is not None and stored_proof.merkle_path == placed.merkle_path
        assert verify_proof(placed.leaf_hash, unpack_proof(placed.merkle_path), window.merkle_root)
    proof = store.proof("c3")
    assert proof is not None and proof.window_state == WindowState.BUILT
    assert proof.merkle_root == window.merkle_root and proof.leaf_hash == leaf_of("c3")
    assert store.proof("nope") is None and store.window("nope") is None
    store.add_window(build_window("w2", leaves("d", 1)))
    store.record_signed("w2", sender="0xS", nonce=0, raw=b"r", tx_hash="0x" + "ab" * 32, fees=FEES)
    store.record_confirmed("w2", mined(9), [])
    view = store.window("w2")
    assert view is not None and view.state == WindowState.CONFIRMED
    assert (view.block_number, view.gas_used, view.leaf_count) == (9, 51_000, 1)
    assert view.confirmed_at is not None
    assert {w.window_id for w in store.windows(offset=0, limit=10)} == {"w1", "w2"}
    assert len(store.windows(offset=1, limit=10)) == 1


def test_the_anchored_events_written_on_confirmation_prove_every_path(
    store: AnchorStore, sessions: sessionmaker[Session]
) -> None:
    from services.anchor.anchored_events import anchored_events

    window = build_window("w1", leaves("c", 1_200))
    store.add_window(window)
    store.record_signed("w1", sender="0xS", nonce=0, raw=b"r", tx_hash="0x" + "ab" * 32, fees=FEES)
    confirmed = AnchoredWindowFacts("w1", window.merkle_root, 31337, REGISTRY, "0x" + "ab" * 32, 7)
    store.record_confirmed("w1", mined(), anchored_events(confirmed, store.window_leaves("w1")))
    with sessions() as session:
        payloads = list(session.scalars(select(t.AnchorOutbox.payload).order_by(t.AnchorOutbox.id)))
    carried = {cid: path for p in payloads for cid, path in read_anchored_event(p).paths}
    assert len(payloads) == 1 and len(carried) == 1_200
    for cid, path in carried.items():
        assert verify_proof(leaf_of(cid), unpack_proof(path), window.merkle_root)


def test_signer_lease_has_one_holder_until_it_expires_or_is_released(
    store: AnchorStore,
) -> None:
    first = SignerLeaseHolder(store, sender="0xabc", holder="replica-1", ttl_seconds=0.5)
    second = SignerLeaseHolder(store, sender="0xabc", holder="replica-2", ttl_seconds=0.5)
    other_wallet = SignerLeaseHolder(store, sender="0xdef", holder="replica-2", ttl_seconds=0.5)
    assert first.held()
    assert not second.held()
    assert other_wallet.held()
    time.sleep(0.6)  # replica-1 stopped renewing: its lease runs out
    assert second.held()
    assert not first.held()
    second.release()
    assert first.held()


def test_an_unexpired_lease_of_another_holder_is_not_taken(store: AnchorStore) -> None:
    now = datetime.now(UTC)
    later = now + timedelta(seconds=30)
    assert store.take_lease(sender="0xabc", holder="a", now=now, expires=later)
    assert not store.take_lease(sender="0xabc", holder="b", now=now, expires=later)
    assert store.take_lease(sender="0xabc", holder="a", now=now, expires=later)  # renewal
    assert store.take_lease(
        sender="0xabc",
        holder="b",
        now=later + timedelta(seconds=1),
        expires=later + timedelta(seconds=31),
    )
