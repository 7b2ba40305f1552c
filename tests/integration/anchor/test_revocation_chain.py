# ruff: noqa: F811
"""Revocation windows against a real anvil and the real registry, store (SQLite and PostgreSQL)
and submitter: one bulkRevoke per window, stuck → replaced once at its nonce, hashes revoked
by an earlier transaction left out (bulkRevoke would revert on them) or adopted, and anchoring
and revoking sharing the signer's nonces. Driven pass by pass like test_chain_faults."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from eth_typing import HexStr
from sqlalchemy.orm import Session, sessionmaker
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.types import RPCEndpoint

from certflow.platform.bus import SUBJECT_REVOKED
from certflow.platform.chain import RegistryClient, signer
from certflow.v1 import certificate_pb2, events_pb2
from services.anchor import tables as t
from services.anchor.bootstrap import Anchor, assemble, signer_from
from services.anchor.fees import GWEI
from services.anchor.lease import SignerLeaseHolder
from services.anchor.revocation_store import SqlRevocations
from services.anchor.revocations import RevocationReason, checked_request, revoke
from services.anchor.settings import AnchorSettings
from services.anchor.store import AnchorStore
from services.anchor.windows import build_window

# the anvil, registry and sessions fixtures of test_chain_faults, taken as parameters below
from tests.integration.anchor.test_chain_faults import (  # noqa: F401
    KEY,
    anvil,
    registry,
    sessions,
    store,
)
from tests.unit.anchor.fakes import leaf_of

OWNER = signer(KEY).address


class RevocationRig:
    def __init__(self, anvil: str, registry: str, sessions: sessionmaker[Session], **settings: Any):
        values: dict[str, Any] = {
            "anchor_private_key": KEY,
            "registry_address": registry,
            "eth_rpc_url": anvil,
            "rebroadcast_seconds": 30.0,
            "replace_after_seconds": 60.0,
            "retry_first_seconds": 0.3,
            "balance_check_seconds": 0.0,
            "revocation_window_max_age_seconds": 0.0,
            **settings,
        }
        self.settings = AnchorSettings(**values)
        self.sessions = sessions
        self.store = AnchorStore(sessions, chain_id=31337, registry_address=registry)
        self.revocations = SqlRevocations(sessions, chain_id=31337, registry_address=registry)
        self.chain = RegistryClient(anvil, registry, timeout=2, attempts_per_url=2)
        self.lookups = 0  # isRevoked calls: one per hash, each a round trip in the pass
        is_revoked = self.chain.is_revoked

        async def counted(leaf: bytes) -> bool:
            self.lookups += 1
            return await is_revoked(leaf)

        self.chain.is_revoked = counted  # type: ignore[method-assign, assignment]
        key = signer_from(self.settings)
        self.anchor: Anchor[Any] = assemble(
            self.settings,
            store=self.store,
            chain=self.chain,
            signer=key,
            lease=SignerLeaseHolder(self.store, sender=key.address, holder="test"),
            revocations=self.revocations,
            revocation_chain=self.chain,
            chain_id=31337,
        )
        self.node = AsyncWeb3(AsyncHTTPProvider(anvil))

    async def __aenter__(self) -> "RevocationRig":
        self.first_nonce = await self.nonce()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.chain.close()
        await self.node.provider.disconnect()

    async def rpc(self, method: str, *params: Any) -> Any:
        response = await self.node.provider.make_request(RPCEndpoint(method), list(params))
        assert "error" not in response, response
        return response.get("result")

    async def nonce(self) -> int:
        return await self.node.eth.get_transaction_count(OWNER, "latest")

    async def until(self, condition: Callable[[], bool | Awaitable[bool]], within: float = 30):
        deadline = time.monotonic() + within
        while True:
            held = condition()
            if not isinstance(held, bool):
                held = await held
            if held:
                return
            assert time.monotonic() < deadline, "condition not reached"
            await self.anchor.anchorer.advance_all()
            await asyncio.sleep(0.05)

    def add_window(self, window_id: str, size: int = 5) -> list[str]:
        ids = [f"{window_id}-c{i}" for i in range(size)]
        self.store.add_window(build_window(window_id, [(c, leaf_of(c)) for c in ids], {}))
        return ids

    def anchored(self, window_id: str) -> bool:
        view = self.store.window(window_id)
        return view is not None and view.state == "confirmed"

    def revoke(self, ids: list[str], request_id: str) -> None:
        request = checked_request(
            request_id=request_id,
            certificate_ids=ids,
            batch_id="",
            reason=RevocationReason.WITHDRAWN,
            reason_text="drill",
        )
        revoke(self.revocations, request, lambda: datetime.now(UTC))

    def states(self) -> dict[str, str]:
        with self.sessions() as session:
            return {r.certificate_id: r.state for r in session.query(t.CertificateRevocation)}

    def revocation_waiting_reason(self) -> str:
        with self.sessions() as session:
            reasons = [w.waiting_reason for w in session.query(t.RevocationWindow)]
        return reasons[-1] if reasons else ""

    def revocation_transactions(self) -> list[tuple[str, str]]:
        with self.sessions() as session:
            rows = session.query(t.RevocationTransaction).order_by(
                t.RevocationTransaction.created_at
            )
            return [(r.transaction_hash, r.state) for r in rows]

    def revoked_events(self) -> list[events_pb2.CertificatesRevokedEvent]:
        with self.sessions() as session:
            rows = session.query(t.AnchorOutbox).where(t.AnchorOutbox.subject == SUBJECT_REVOKED)
            return [events_pb2.CertificatesRevokedEvent.FromString(r.payload) for r in rows]

    async def revoking_transactions(self) -> dict[str, int]:
        logs = await self.chain.contract.events.DocumentRevoked.get_logs(from_block=0)
        counts: dict[str, int] = {}
        for log in logs:
            tx = "0x" + bytes(log["transactionHash"]).hex()
            counts[tx] = counts.get(tx, 0) + 1
        return counts


def all_revoked(rig: RevocationRig, ids: list[str]) -> bool:
    states = rig.states()
    return all(states.get(c) == "revoked" for c in ids)


async def test_a_stuck_bulk_revoke_is_replaced_once_and_revokes_the_leaves_only(
    anvil: str, registry: str, sessions: sessionmaker[Session]
) -> None:
    async with RevocationRig(anvil, registry, sessions, replace_after_seconds=1.0) as r:
        ids = r.add_window("w1")
        await r.until(lambda: r.anchored("w1"))
        await r.rpc("evm_setAutomine", False)
        r.revoke(ids[:3], "req-1")
        await r.until(lambda: len(r.revocation_transactions()) == 2)  # past the deadline
        await r.rpc("evm_mine")
        await r.until(lambda: all_revoked(r, ids[:3]))
        [(_, first), (replacement, second)] = r.revocation_transactions()
        assert (first, second) == ("replaced", "mined")
        # signed and replaced on one simulated bulkRevoke each, no hash asked one by one
        assert r.lookups == 0
        assert await r.revoking_transactions() == {replacement: 3}  # one bulkRevoke of three
        for cid in ids:
            assert await r.chain.is_revoked(leaf_of(cid)) is (cid in ids[:3])
        view = r.store.window("w1")
        assert view is not None and not await r.chain.is_revoked(view.merkle_root)
        (event,) = r.revoked_events()
        assert sorted(c.certificate_id for c in event.certificates) == sorted(ids[:3])
        assert event.transaction_hash == replacement
        assert {c.reason for c in event.certificates} == {
            certificate_pb2.REVOCATION_REASON_WITHDRAWN
        }
        assert await r.nonce() - r.first_nonce == 2  # one anchor, one revocation


async def test_hashes_revoked_earlier_are_left_out_and_a_window_of_only_those_adopts_it(
    anvil: str, registry: str, sessions: sessionmaker[Session]
) -> None:
    async with RevocationRig(anvil, registry, sessions) as r:
        ids = r.add_window("w1")
        await r.until(lambda: r.anchored("w1"))
        # an operator (same key) revoked two leaves by hand, outside certflow
        earlier = await r.chain.revoke(signer(KEY), [leaf_of(ids[0]), leaf_of(ids[1])])
        r.revoke(ids[:3], "req-1")  # two of them already revoked on chain
        await r.until(lambda: all_revoked(r, ids[:3]))
        counts = await r.revoking_transactions()
        ours = [tx for tx, _ in r.revocation_transactions()]
        assert counts == {earlier.transaction_hash: 2, ours[0]: 1}  # did not revert
        # a window whose every leaf is already revoked: confirmed by that transaction
        await r.chain.revoke(signer(KEY), [leaf_of(ids[4])])
        r.revoke([ids[4]], "req-2")
        await r.until(lambda: all_revoked(r, [ids[4]]))
        assert len(r.revocation_transactions()) == 1  # nothing more was sent
        assert r.revoked_events()[-1].certificates[0].certificate_id == ids[4]


async def test_anchoring_and_revoking_in_one_pass_share_the_signers_nonces(
    anvil: str, registry: str, sessions: sessionmaker[Session]
) -> None:
    async with RevocationRig(anvil, registry, sessions) as r:
        await r.rpc("evm_setAutomine", False)
        first = r.add_window("w1")
        await r.until(lambda: len(r.store.transactions("w1")) == 1)
        await r.rpc("evm_mine")
        await r.until(lambda: r.anchored("w1"))
        r.add_window("w2")
        r.revoke(first[:2], "req-1")
        # one pass signs both, at consecutive nonces, while neither is mined
        await r.until(
            lambda: len(r.store.transactions("w2")) == 1 and len(r.revocation_transactions()) == 1
        )
        await r.rpc("evm_mine")
        await r.rpc("evm_mine")
        await r.until(lambda: r.anchored("w2") and all_revoked(r, first[:2]))
        assert await r.nonce() - r.first_nonce == 3
        assert [s for _, s in r.revocation_transactions()] == ["mined"]


async def test_a_restart_after_signing_sends_the_stored_transaction_not_a_new_one(
    anvil: str, registry: str, sessions: sessionmaker[Session]
) -> None:
    async with RevocationRig(anvil, registry, sessions) as r:
        ids = r.add_window("w1")
        await r.until(lambda: r.anchored("w1"))
        await r.rpc("evm_setAutomine", False)
        r.revoke(ids[:2], "req-1")
        await r.until(lambda: len(r.revocation_transactions()) == 1)
        [(stored, _)] = r.revocation_transactions()
        # the process dies and the node forgets the transaction (as if never broadcast)
        await r.rpc("anvil_dropTransaction", stored)
        await r.rpc("evm_setAutomine", True)
    async with RevocationRig(anvil, registry, sessions) as again:  # nothing in memory
        await again.until(lambda: all_revoked(again, ids[:2]))
        assert again.revocation_transactions() == [(stored, "mined")]
        assert await again.revoking_transactions() == {stored: 2}


async def test_nothing_is_revoked_while_the_base_fee_is_above_the_cap_then_it_resumes(
    anvil: str, registry: str, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="services.anchor.revoker")
    async with RevocationRig(anvil, registry, sessions, max_fee_per_gas_cap_gwei=5.0) as r:
        ids = r.add_window("w1")
        await r.until(lambda: r.anchored("w1"))
        await r.rpc("anvil_setNextBlockBaseFeePerGas", hex(50 * GWEI))
        r.revoke(ids[:2], "req-1")
        await r.until(lambda: "above the cap" in r.revocation_waiting_reason())
        for _ in range(5):  # it keeps waiting, sending nothing, and says so once
            await r.anchor.anchorer.advance_all()
        assert r.revocation_transactions() == []
        assert len([m for m in caplog.messages if "above the cap" in m]) == 1
        await r.rpc("anvil_setNextBlockBaseFeePerGas", hex(GWEI))  # the spike is over
        await r.until(lambda: all_revoked(r, ids[:2]))
        [(tx_hash, state)] = r.revocation_transactions()
        sent = await r.node.eth.get_transaction(HexStr(tx_hash))
        assert state == "mined" and sent["maxFeePerGas"] <= 5 * GWEI
        assert r.revocation_waiting_reason() == ""
