"""All of anchor's SQL: windows and their proofs, the submitter's transaction state, the
"anchored" outbox rows, the signer lease, and the read views. Implements the Protocols the use
cases declare (WindowPlacement, SubmissionStore, LeaseStore, WindowViews)."""

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.transactions import MinedTransaction
from certflow.platform.bus import SUBJECT_ANCHORED
from certflow.platform.db.batching import chunked
from services.anchor import tables as t
from services.anchor import window_rows
from services.anchor.anchored_events import AnchoredMessage
from services.anchor.fees import Fees
from services.anchor.submission import WindowState
from services.anchor.views import ProofView, WindowView
from services.anchor.windows import NewWindow, WindowToSend

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class AnchorStore:
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

    # ---- placing leaves (WindowPlacement) ----

    def placed(self, certificate_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self._sessions() as session:
            for chunk in chunked(list(certificate_ids)):
                found.update(
                    session.scalars(
                        select(t.CertificateProof.certificate_id).where(
                            t.CertificateProof.certificate_id.in_(chunk)
                        )
                    )
                )
        return found

    def add_window(self, window: NewWindow) -> None:
        # certificate_proofs.certificate_id is the primary key: a certificate placed by a
        # concurrent build makes this whole transaction fail, and the messages come back
        with self._sessions.begin() as session:
            session.add(
                t.AnchorWindow(
                    id=window.window_id,
                    state=WindowState.BUILT,
                    leaf_count=len(window.leaves),
                    merkle_root=window.merkle_root,
                    chain_id=self._chain_id,
                    registry_address=self._registry,
                )
            )
            session.flush()
            session.execute(
                insert(t.CertificateProof),
                [
                    {
                        "certificate_id": leaf.certificate_id,
                        "window_id": window.window_id,
                        "leaf_index": leaf.leaf_index,
                        "leaf_hash": leaf.leaf_hash,
                        "merkle_path": leaf.merkle_path,
                        "batch_id": leaf.batch_id or None,
                    }
                    for leaf in window.leaves
                ],
            )

    # ---- submitting (SubmissionStore) ----

    def unfinished(self) -> list[WindowToSend]:
        with self._sessions() as session:
            rows = list(
                session.scalars(
                    select(t.AnchorWindow)
                    .where(t.AnchorWindow.state.in_((WindowState.BUILT, WindowState.SUBMITTED)))
                    .order_by(t.AnchorWindow.created_at, t.AnchorWindow.id)
                )
            )
            pending: dict[str, list[t.AnchorTransaction]] = {}
            for chunk in chunked([r.id for r in rows if r.state == WindowState.SUBMITTED]):
                for tx in session.scalars(
                    select(t.AnchorTransaction)
                    .where(
                        t.AnchorTransaction.window_id.in_(chunk),
                        t.AnchorTransaction.state == _PENDING,
                    )
                    .order_by(t.AnchorTransaction.created_at)
                ):
                    pending.setdefault(tx.window_id, []).append(tx)
            return [_to_send(r, pending.get(r.id, [])) for r in rows]

    def highest_used_nonce(self, sender: str) -> int | None:
        # anchoring and revocation transactions share the signer's nonces
        with self._sessions() as session:
            used = [
                session.scalar(select(func.max(table.nonce)).where(table.sender_address == sender))
                for table in (t.AnchorTransaction, t.RevocationTransaction)
            ]
        return max((n for n in used if n is not None), default=None)

    def record_signed(
        self, window_id: str, *, sender: str, nonce: int, raw: bytes, tx_hash: str, fees: Fees
    ) -> None:
        with self._sessions.begin() as session:
            window = session.get(t.AnchorWindow, window_id, with_for_update=True)
            assert window is not None and window.state == WindowState.BUILT, "signed once"
            window.sender_address = sender
            window.nonce = nonce
            window.raw_transaction = raw
            window.transaction_hash = tx_hash
            window.state = WindowState.SUBMITTED
            window.waiting_reason = ""
            session.add(_transaction(window, fees))

    def record_replacement(self, window_id: str, *, raw: bytes, tx_hash: str, fees: Fees) -> None:
        with self._sessions.begin() as session:
            window = session.get(t.AnchorWindow, window_id, with_for_update=True)
            assert window is not None and window.state == WindowState.SUBMITTED, "replaces"
            window.raw_transaction = raw
            window.transaction_hash = tx_hash
            window.waiting_reason = ""
            session.add(_transaction(window, fees))

    def reset_to_built(
        self, window_id: str, *, outcome: str = "abandoned", reason: str = ""
    ) -> None:
        window_rows.reset_to_built(
            self._sessions,
            t.AnchorWindow,
            t.AnchorTransaction,
            window_id,
            outcome=outcome,
            reason=reason,
        )

    def set_waiting_reason(self, window_id: str, reason: str) -> None:
        window_rows.set_waiting_reason(self._sessions, t.AnchorWindow, window_id, reason)

    def window_leaves(self, window_id: str) -> list[tuple[str, bytes]]:
        with self._sessions() as session:
            rows = session.execute(
                select(t.CertificateProof.certificate_id, t.CertificateProof.leaf_hash)
                .where(t.CertificateProof.window_id == window_id)
                .order_by(t.CertificateProof.leaf_index)
            )
            return [(cid, bytes(leaf)) for cid, leaf in rows]

    def record_confirmed(
        self, window_id: str, mined: MinedTransaction, events: Sequence[AnchoredMessage]
    ) -> bool:
        with self._sessions.begin() as session:
            window = session.get(t.AnchorWindow, window_id, with_for_update=True)
            assert window is not None
            if window.state == WindowState.CONFIRMED:
                return False
            window.state = WindowState.CONFIRMED
            window.transaction_hash = mined.transaction_hash
            window.block_number = mined.block_number
            window.block_hash = mined.block_hash
            window.gas_used = mined.gas_used
            window.effective_gas_price = mined.effective_gas_price or None
            window.confirmed_at = datetime.now(UTC)
            window.waiting_reason = ""
            # one nonce for the pending ones: the mined one won, the others can never be mined;
            # the anchoring one may also be an earlier one given up as abandoned (its nonce
            # looked taken), while reverted ones stay reverted
            for tx in session.scalars(
                select(t.AnchorTransaction).where(t.AnchorTransaction.window_id == window_id)
            ):
                if tx.transaction_hash == mined.transaction_hash:
                    tx.state = "mined"
                elif tx.state == _PENDING:
                    tx.state = "replaced"
            headers = self._trace_headers()
            trace_context = json.dumps(headers) if headers else ""
            if events:
                session.execute(
                    insert(t.AnchorOutbox),
                    [
                        {
                            "subject": SUBJECT_ANCHORED,
                            "msg_id": event.msg_id,
                            "payload": event.payload,
                            "trace_context": trace_context,
                        }
                        for event in events
                    ],
                )
            return True

    # ---- the signer lease (LeaseStore) ----

    def take_lease(self, *, sender: str, holder: str, now: datetime, expires: datetime) -> bool:
        # the comparison happens in SQL, where both backends order timestamps correctly
        with self._sessions.begin() as session:
            # on the connection: a Core UPDATE's result is a cursor result with rowcount
            result = session.connection().execute(
                update(t.SignerLease)
                .where(
                    t.SignerLease.sender_address == sender,
                    or_(t.SignerLease.holder == holder, t.SignerLease.expires_at < now),
                )
                .values(holder=holder, expires_at=expires)
            )
            if result.rowcount == 1:
                return True
        try:
            with self._sessions.begin() as session:
                session.execute(
                    insert(t.SignerLease).values(
                        sender_address=sender, holder=holder, expires_at=expires
                    )
                )
            return True
        except IntegrityError:
            return False  # another replica holds it

    def lease_holder(self, *, sender: str) -> str | None:
        with self._sessions() as session:
            return session.scalar(
                select(t.SignerLease.holder).where(t.SignerLease.sender_address == sender)
            )

    def take_over_lease(
        self, *, sender: str, holder: str, previous: str, expires: datetime
    ) -> bool:
        with self._sessions.begin() as session:
            result = session.connection().execute(
                update(t.SignerLease)
                .where(t.SignerLease.sender_address == sender, t.SignerLease.holder == previous)
                .values(holder=holder, expires_at=expires)
            )
            return result.rowcount == 1

    def release_lease(self, *, sender: str, holder: str) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(t.SignerLease)
                .where(t.SignerLease.sender_address == sender, t.SignerLease.holder == holder)
                .values(expires_at=_EPOCH)
                .execution_options(synchronize_session=False)
            )

    # ---- read views (WindowViews) ----

    def window(self, window_id: str) -> WindowView | None:
        with self._sessions() as session:
            row = session.get(t.AnchorWindow, window_id)
            if row is None:
                return None
            return _window_view(row, self._transaction_counts(session, [row.id])[row.id])

    def windows(self, *, offset: int, limit: int) -> list[WindowView]:
        with self._sessions() as session:
            rows = session.scalars(
                select(t.AnchorWindow)
                .order_by(t.AnchorWindow.created_at.desc(), t.AnchorWindow.id)
                .offset(offset)
                .limit(limit)
            )
            listed = list(rows)
            counts = self._transaction_counts(session, [row.id for row in listed])
            return [_window_view(row, counts[row.id]) for row in listed]

    def _transaction_counts(self, session: Session, window_ids: list[str]) -> dict[str, int]:
        counts = dict.fromkeys(window_ids, 0)
        for chunk in chunked(window_ids):
            for window_id, count in session.execute(
                select(t.AnchorTransaction.window_id, func.count())
                .where(t.AnchorTransaction.window_id.in_(chunk))
                .group_by(t.AnchorTransaction.window_id)
            ):
                counts[window_id] = count
        return counts

    def transactions(self, window_id: str) -> list[tuple[str, str]]:
        """(hash, state) of every transaction signed for the window, oldest first."""
        with self._sessions() as session:
            rows = session.execute(
                select(t.AnchorTransaction.transaction_hash, t.AnchorTransaction.state)
                .where(t.AnchorTransaction.window_id == window_id)
                .order_by(t.AnchorTransaction.created_at, t.AnchorTransaction.nonce)
            )
            return [(h, state) for h, state in rows]

    def proof(self, certificate_id: str) -> ProofView | None:
        with self._sessions() as session:
            row = session.execute(
                select(
                    t.CertificateProof.leaf_hash,
                    t.CertificateProof.merkle_path,
                    t.AnchorWindow.id,
                    t.AnchorWindow.state,
                    t.AnchorWindow.merkle_root,
                )
                .join(t.AnchorWindow, t.AnchorWindow.id == t.CertificateProof.window_id)
                .where(t.CertificateProof.certificate_id == certificate_id)
            ).first()
        if row is None:
            return None
        leaf_hash, path, window_id, state, root = row
        return ProofView(
            window_id=window_id,
            window_state=WindowState(state),
            leaf_hash=bytes(leaf_hash),
            merkle_path=bytes(path),
            merkle_root=bytes(root),
        )


_PENDING = "pending"


def _transaction(window: t.AnchorWindow, fees: Fees) -> t.AnchorTransaction:
    assert window.transaction_hash and window.raw_transaction and window.nonce is not None
    return t.AnchorTransaction(
        transaction_hash=window.transaction_hash,
        window_id=window.id,
        sender_address=window.sender_address,
        nonce=window.nonce,
        raw_transaction=window.raw_transaction,
        max_fee_per_gas=fees.max_fee_per_gas,
        max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
        state=_PENDING,
    )


def _to_send(row: t.AnchorWindow, pending: list[t.AnchorTransaction]) -> WindowToSend:
    latest = next((tx for tx in pending if tx.transaction_hash == row.transaction_hash), None)
    return WindowToSend(
        window_id=row.id,
        state=WindowState(row.state),
        merkle_root=row.merkle_root,
        chain_id=row.chain_id,
        registry_address=row.registry_address,
        nonce=row.nonce,
        raw_transaction=row.raw_transaction,
        transaction_hash=row.transaction_hash,
        max_fee_per_gas=latest.max_fee_per_gas if latest else 0,
        max_priority_fee_per_gas=latest.max_priority_fee_per_gas if latest else 0,
        transaction_hashes=tuple(tx.transaction_hash for tx in pending),
    )


def _window_view(row: t.AnchorWindow, transaction_count: int = 0) -> WindowView:
    return WindowView(
        window_id=row.id,
        state=WindowState(row.state),
        leaf_count=row.leaf_count,
        merkle_root=bytes(row.merkle_root),
        chain_id=row.chain_id,
        registry_address=row.registry_address,
        transaction_hash=row.transaction_hash,
        block_number=row.block_number,
        gas_used=row.gas_used,
        effective_gas_price=row.effective_gas_price,
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
        waiting_reason=row.waiting_reason,
        transaction_count=transaction_count,
    )
