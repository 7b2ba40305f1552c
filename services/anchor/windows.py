"""Anchor windows in the database: built (tree + proofs stored), submitted (signed transaction
stored before broadcast), confirmed (mined at depth, "anchored" events in the outbox).

Every step is idempotent: a certificate already in a window is never put in another, a window's
transaction is signed once and only ever re-sent as the same bytes.
"""

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.merkle import MerkleTree, pack_proof
from certflow.platform.chain import MinedTransaction
from certflow.platform.db.batching import chunked
from certflow.v1 import events_pb2
from services.anchor import tables as models
from services.anchor.submission import WindowState

BUILT, SUBMITTED, CONFIRMED = WindowState.BUILT, WindowState.SUBMITTED, WindowState.CONFIRMED
IDS_PER_EVENT = 1000


@dataclass(frozen=True, slots=True)
class WindowToSend:
    window_id: str
    state: str
    merkle_root: bytes
    nonce: int | None
    raw_transaction: bytes | None
    transaction_hash: str | None


class AnchorWindows:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        chain_id: int,
        registry_address: str,
        trace_headers: Callable[[], dict[str, str]] = dict,
    ) -> None:
        self._sessions = sessions
        self._chain_id = chain_id
        self._registry = registry_address
        self._trace_headers = trace_headers

    def build(self, leaves: Sequence[tuple[str, bytes]]) -> str | None:
        """Stores a new window for the leaves not yet in one; None when all already are."""
        unique = dict(leaves)  # a redelivered message may repeat certificates
        with self._sessions.begin() as session:
            placed = _already_placed(session, list(unique))
            fresh = [(cid, leaf) for cid, leaf in unique.items() if cid not in placed]
            if not fresh:
                return None
            tree = MerkleTree.build([leaf for _, leaf in fresh])
            window_id = str(uuid.uuid4())
            session.add(
                models.AnchorWindow(
                    id=window_id,
                    state=BUILT,
                    leaf_count=len(fresh),
                    merkle_root=tree.root,
                    chain_id=self._chain_id,
                    registry_address=self._registry,
                )
            )
            session.flush()
            session.execute(
                insert(models.CertificateProof),
                [
                    {
                        "certificate_id": cid,
                        "window_id": window_id,
                        "leaf_index": index,
                        "leaf_hash": leaf,
                        "merkle_path": pack_proof(path),
                    }
                    for index, ((cid, leaf), path) in enumerate(
                        zip(fresh, tree.proofs(), strict=True)
                    )
                ],
            )
            return window_id

    def unfinished(self) -> list[WindowToSend]:
        with self._sessions() as session:
            rows = session.scalars(
                select(models.AnchorWindow)
                .where(models.AnchorWindow.state.in_((BUILT, SUBMITTED)))
                .order_by(models.AnchorWindow.created_at, models.AnchorWindow.id)
            )
            return [
                WindowToSend(
                    r.id, r.state, r.merkle_root, r.nonce, r.raw_transaction, r.transaction_hash
                )
                for r in rows
            ]

    def highest_used_nonce(self, sender: str) -> int | None:
        with self._sessions() as session:
            return session.scalar(
                select(models.AnchorWindow.nonce)
                .where(
                    models.AnchorWindow.sender_address == sender,
                    models.AnchorWindow.nonce.is_not(None),
                )
                .order_by(models.AnchorWindow.nonce.desc())
                .limit(1)
            )

    def record_signed(
        self, window_id: str, *, sender: str, nonce: int, raw: bytes, tx_hash: str
    ) -> None:
        with self._sessions.begin() as session:
            window = session.get(models.AnchorWindow, window_id, with_for_update=True)
            assert window is not None and window.state == BUILT, "a window is signed once"
            window.sender_address = sender
            window.nonce = nonce
            window.raw_transaction = raw
            window.transaction_hash = tx_hash
            window.state = SUBMITTED

    def reset_to_built(self, window_id: str) -> None:
        """Forgets a signed transaction that can never be mined (its nonce was used)."""
        with self._sessions.begin() as session:
            window = session.get(models.AnchorWindow, window_id, with_for_update=True)
            if window is not None and window.state == SUBMITTED:
                window.state = BUILT
                window.raw_transaction = None
                window.transaction_hash = None
                window.nonce = None

    def record_confirmed(self, window_id: str, mined: MinedTransaction) -> int:
        """Marks the window confirmed and queues its "anchored" events; returns the leaf count."""
        with self._sessions.begin() as session:
            window = session.get(models.AnchorWindow, window_id, with_for_update=True)
            assert window is not None
            if window.state == CONFIRMED:
                return 0
            window.state = CONFIRMED
            window.transaction_hash = mined.transaction_hash
            window.block_number = mined.block_number
            window.block_hash = mined.block_hash
            window.gas_used = mined.gas_used
            window.confirmed_at = datetime.now(UTC)
            ids = list(
                session.scalars(
                    select(models.CertificateProof.certificate_id)
                    .where(models.CertificateProof.window_id == window_id)
                    .order_by(models.CertificateProof.leaf_index)
                )
            )
            headers = self._trace_headers()
            trace_context = json.dumps(headers) if headers else ""
            rows = []
            for index in range(0, len(ids), IDS_PER_EVENT):
                event = events_pb2.CertificatesAnchoredEvent(
                    window_id=window_id,
                    merkle_root=window.merkle_root,
                    chain_id=window.chain_id,
                    transaction_hash=mined.transaction_hash,
                    block_number=mined.block_number,
                    certificate_ids=ids[index : index + IDS_PER_EVENT],
                )
                rows.append(
                    {
                        "subject": "certs.anchored",
                        "msg_id": f"anchored:{window_id}:{index // IDS_PER_EVENT}",
                        "payload": event.SerializeToString(),
                        "trace_context": trace_context,
                    }
                )
            if rows:
                session.execute(insert(models.AnchorOutbox), rows)
            return len(ids)


def _already_placed(session: Session, certificate_ids: list[str]) -> set[str]:
    placed: set[str] = set()
    for chunk in chunked(certificate_ids):
        placed.update(
            session.scalars(
                select(models.CertificateProof.certificate_id).where(
                    models.CertificateProof.certificate_id.in_(chunk)
                )
            )
        )
    return placed
