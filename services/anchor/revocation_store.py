"""anchor's SQL for revocations: the requests and each certificate's revocation
(RevocationRecords), and the revocation windows on their way to the chain (RevocationLedger).
The "revoked" events go into anchor's one outbox, in the transaction that confirms a window."""

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.transactions import MinedTransaction
from certflow.platform.bus import SUBJECT_REVOKED
from certflow.platform.db.batching import chunked
from services.anchor import tables as t
from services.anchor import window_rows
from services.anchor.anchored_events import AnchoredMessage
from services.anchor.fees import Fees
from services.anchor.revocations import (
    KnownCertificate,
    NewRevocation,
    PendingRevocation,
    RevocationOutcome,
    RevocationReason,
    RevocationRequest,
    RevocationState,
    request_id_reused,
)
from services.anchor.revoker import (
    RevocationToAnnounce,
    RevocationWindowToSend,
    revoked_events,
)
from services.anchor.submission import WindowState

_PENDING = "pending"
_WRITE_ATTEMPTS = 3


class SqlRevocations:
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

    # ---- requests (RevocationRecords) ----

    def request_digest(self, request_id: str) -> tuple[str, RevocationOutcome] | None:
        with self._sessions() as session:
            row = session.get(t.RevocationRequest, request_id)
            if row is None:
                return None
            return row.digest, _outcome(row)

    def batch_certificates(self, batch_id: str) -> list[str]:
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(t.CertificateProof.certificate_id)
                    .where(t.CertificateProof.batch_id == batch_id)
                    .order_by(t.CertificateProof.certificate_id)
                )
            )

    def known(self, certificate_ids: Sequence[str]) -> dict[str, KnownCertificate]:
        found: dict[str, KnownCertificate] = {}
        with self._sessions() as session:
            for chunk in chunked(list(certificate_ids)):
                for cid, leaf, batch in session.execute(
                    select(
                        t.CertificateProof.certificate_id,
                        t.CertificateProof.leaf_hash,
                        t.CertificateProof.batch_id,
                    ).where(t.CertificateProof.certificate_id.in_(chunk))
                ):
                    found[cid] = KnownCertificate(cid, bytes(leaf), batch or "")
        return found

    def revoked(self, certificate_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self._sessions() as session:
            for chunk in chunked(list(certificate_ids)):
                found.update(
                    session.scalars(
                        select(t.CertificateRevocation.certificate_id).where(
                            t.CertificateRevocation.certificate_id.in_(chunk)
                        )
                    )
                )
        return found

    def add_revocations(
        self,
        request: RevocationRequest,
        revocations: Sequence[NewRevocation],
        outcome: RevocationOutcome,
    ) -> RevocationOutcome:
        attempt = 1
        while True:
            try:
                return self._add_revocations(request, revocations, outcome)
            except IntegrityError:
                # a concurrent request stored first (on PostgreSQL both can find a certificate
                # free): answer as our twin did, or count again from what is stored now
                stored = self.request_digest(request.request_id) if request.request_id else None
                if stored is not None:
                    if stored[0] != request.digest():
                        raise request_id_reused() from None
                    return stored[1]
                if attempt == _WRITE_ATTEMPTS:
                    raise
                attempt += 1

    def _add_revocations(
        self,
        request: RevocationRequest,
        revocations: Sequence[NewRevocation],
        outcome: RevocationOutcome,
    ) -> RevocationOutcome:
        with self._sessions.begin() as session:
            # recorded meanwhile by another request: left as it is
            taken: set[str] = set()
            for chunk in chunked([r.certificate_id for r in revocations]):
                taken.update(
                    session.scalars(
                        select(t.CertificateRevocation.certificate_id).where(
                            t.CertificateRevocation.certificate_id.in_(chunk)
                        )
                    )
                )
            fresh = [r for r in revocations if r.certificate_id not in taken]
            if taken:
                outcome = RevocationOutcome(
                    outcome.certificate_count,
                    len(fresh),
                    outcome.certificate_count - len(fresh),
                )
            for part in chunked(fresh):
                session.execute(
                    insert(t.CertificateRevocation),
                    [
                        {
                            "certificate_id": r.certificate_id,
                            "leaf_hash": r.leaf_hash,
                            "batch_id": r.batch_id or None,
                            "reason": r.reason.value,
                            "reason_text": r.reason_text,
                            "replaced_by": r.replaced_by,
                            "request_id": r.request_id,
                            "state": RevocationState.PENDING.value,
                            "requested_at": r.requested_at,
                        }
                        for r in part
                    ],
                )
            if request.replaced_by and request.certificate_ids:
                self._name_replacement(session, request.certificate_ids, request.replaced_by)
            if request.request_id:
                session.add(
                    t.RevocationRequest(
                        request_id=request.request_id,
                        digest=request.digest(),
                        certificate_count=outcome.certificate_count,
                        newly_revoked_count=outcome.newly_revoked_count,
                        already_revoked_count=outcome.already_revoked_count,
                    )
                )
        return outcome

    # ---- revocation windows (RevocationLedger) ----

    def pending_revocations(self) -> list[PendingRevocation]:
        with self._sessions() as session:
            rows = session.execute(
                select(t.CertificateRevocation.certificate_id, t.CertificateRevocation.requested_at)
                .where(t.CertificateRevocation.state == RevocationState.PENDING)
                .order_by(
                    t.CertificateRevocation.requested_at, t.CertificateRevocation.certificate_id
                )
            )
            return [PendingRevocation(cid, _aware(at)) for cid, at in rows]

    def add_revocation_window(self, window_id: str, certificate_ids: Sequence[str]) -> None:
        with self._sessions.begin() as session:
            session.add(
                t.RevocationWindow(
                    id=window_id,
                    state=WindowState.BUILT,
                    leaf_count=len(certificate_ids),
                    chain_id=self._chain_id,
                    registry_address=self._registry,
                )
            )
            session.flush()
            for chunk in chunked(list(certificate_ids)):
                session.execute(
                    update(t.CertificateRevocation)
                    .where(
                        t.CertificateRevocation.certificate_id.in_(chunk),
                        t.CertificateRevocation.state == RevocationState.PENDING,
                    )
                    .values(state=RevocationState.WINDOWED, window_id=window_id)
                    .execution_options(synchronize_session=False)
                )

    def highest_used_nonce(self, sender: str) -> int | None:
        # anchoring and revocation transactions share the signer's nonces (AnchorStore too)
        with self._sessions() as session:
            used = [
                session.scalar(select(func.max(table.nonce)).where(table.sender_address == sender))
                for table in (t.AnchorTransaction, t.RevocationTransaction)
            ]
        return max((n for n in used if n is not None), default=None)

    def unfinished_revocation_windows(self) -> list[RevocationWindowToSend]:
        with self._sessions() as session:
            rows = list(
                session.scalars(
                    select(t.RevocationWindow)
                    .where(t.RevocationWindow.state.in_((WindowState.BUILT, WindowState.SUBMITTED)))
                    .order_by(t.RevocationWindow.created_at, t.RevocationWindow.id)
                )
            )
            result = []
            for row in rows:
                pending = list(
                    session.scalars(
                        select(t.RevocationTransaction)
                        .where(
                            t.RevocationTransaction.window_id == row.id,
                            t.RevocationTransaction.state == _PENDING,
                        )
                        .order_by(t.RevocationTransaction.created_at)
                    )
                )
                latest = next(
                    (tx for tx in pending if tx.transaction_hash == row.transaction_hash), None
                )
                leaves = session.scalars(
                    select(t.CertificateRevocation.leaf_hash)
                    .where(t.CertificateRevocation.window_id == row.id)
                    .order_by(t.CertificateRevocation.certificate_id)
                )
                result.append(
                    RevocationWindowToSend(
                        window_id=row.id,
                        state=WindowState(row.state),
                        leaves=tuple(bytes(leaf) for leaf in leaves),
                        nonce=row.nonce,
                        raw_transaction=row.raw_transaction,
                        transaction_hash=row.transaction_hash,
                        max_fee_per_gas=latest.max_fee_per_gas if latest else 0,
                        max_priority_fee_per_gas=latest.max_priority_fee_per_gas if latest else 0,
                        transaction_hashes=tuple(tx.transaction_hash for tx in pending),
                    )
                )
            return result

    def record_revocation_signed(
        self,
        window_id: str,
        *,
        sender: str,
        nonce: int,
        raw: bytes,
        tx_hash: str,
        fees: Fees,
        replacement: bool = False,
    ) -> None:
        with self._sessions.begin() as session:
            window = session.get(t.RevocationWindow, window_id, with_for_update=True)
            wanted = WindowState.SUBMITTED if replacement else WindowState.BUILT
            assert window is not None and window.state == wanted, "signed once / replaces"
            window.sender_address = sender
            window.nonce = nonce
            window.raw_transaction = raw
            window.transaction_hash = tx_hash
            window.state = WindowState.SUBMITTED
            window.waiting_reason = ""
            session.add(
                t.RevocationTransaction(
                    transaction_hash=tx_hash,
                    window_id=window_id,
                    sender_address=sender,
                    nonce=nonce,
                    raw_transaction=raw,
                    max_fee_per_gas=fees.max_fee_per_gas,
                    max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
                    state=_PENDING,
                )
            )

    def reset_revocation_to_built(
        self, window_id: str, *, outcome: str = "abandoned", reason: str = ""
    ) -> None:
        window_rows.reset_to_built(
            self._sessions,
            t.RevocationWindow,
            t.RevocationTransaction,
            window_id,
            outcome=outcome,
            reason=reason,
        )

    def set_revocation_waiting_reason(self, window_id: str, reason: str) -> None:
        window_rows.set_waiting_reason(self._sessions, t.RevocationWindow, window_id, reason)

    def record_revocation_confirmed(
        self,
        window_id: str,
        mined: MinedTransaction,
        revoked_at: datetime,
        announce: Callable[[Sequence[RevocationToAnnounce]], Sequence[AnchoredMessage]],
    ) -> int | None:
        with self._sessions.begin() as session:
            window = session.get(t.RevocationWindow, window_id, with_for_update=True)
            assert window is not None
            if window.state == WindowState.CONFIRMED:
                return None
            window.state = WindowState.CONFIRMED
            window.transaction_hash = mined.transaction_hash
            window.block_number = mined.block_number
            window.block_hash = mined.block_hash
            window.gas_used = mined.gas_used
            window.effective_gas_price = mined.effective_gas_price or None
            window.confirmed_at = revoked_at
            window.waiting_reason = ""
            for tx in session.scalars(
                select(t.RevocationTransaction).where(
                    t.RevocationTransaction.window_id == window_id
                )
            ):
                if tx.transaction_hash == mined.transaction_hash:
                    tx.state = "mined"
                elif tx.state == _PENDING:
                    tx.state = "replaced"
            # the rows are updated (locked) before they are read for the events: a reissue
            # naming a replacement meanwhile is either in them or sees them revoked
            session.execute(
                update(t.CertificateRevocation)
                .where(t.CertificateRevocation.window_id == window_id)
                .values(state=RevocationState.REVOKED, revoked_at=revoked_at)
                .execution_options(synchronize_session=False)
            )
            revocations = _to_announce(session, t.CertificateRevocation.window_id == window_id)
            self._add_revoked_events(session, announce(revocations))
            return len(revocations)

    def _add_revoked_events(self, session: Session, events: Sequence[AnchoredMessage]) -> None:
        if not events:
            return
        headers = self._trace_headers()
        trace_context = json.dumps(headers) if headers else ""
        session.execute(
            insert(t.AnchorOutbox),
            [
                {
                    "subject": SUBJECT_REVOKED,
                    "msg_id": event.msg_id,
                    "payload": event.payload,
                    "trace_context": trace_context,
                }
                for event in events
            ],
        )

    def _name_replacement(
        self, session: Session, certificate_ids: Sequence[str], replaced_by: str
    ) -> None:
        """A reissue of certificates revoked before it (say for a data correction): each that
        names no replacement yet names this one, keeping its first reason, text and time; one
        already announced is announced again with it."""
        unnamed = (
            t.CertificateRevocation.certificate_id.in_(certificate_ids),
            t.CertificateRevocation.replaced_by == "",
        )
        changed = list(
            session.scalars(select(t.CertificateRevocation.certificate_id).where(*unnamed))
        )
        if not changed:
            return
        session.execute(
            update(t.CertificateRevocation)
            .where(*unnamed)
            .values(replaced_by=replaced_by)
            .execution_options(synchronize_session=False)
        )
        # read after the update: a window confirmed meanwhile is seen confirmed
        named = (
            t.CertificateRevocation.certificate_id.in_(changed),
            t.CertificateRevocation.replaced_by == replaced_by,
            t.CertificateRevocation.state == RevocationState.REVOKED,
        )
        windows = session.execute(
            select(t.RevocationWindow, t.CertificateRevocation.revoked_at)
            .join(
                t.CertificateRevocation, t.CertificateRevocation.window_id == t.RevocationWindow.id
            )
            .where(*named)
        ).all()
        for window, revoked_at in {w.id: (w, at) for w, at in windows}.values():
            mined = MinedTransaction(
                transaction_hash=window.transaction_hash or "",
                block_number=window.block_number or 0,
                block_hash=window.block_hash or "",
                gas_used=window.gas_used or 0,
                succeeded=True,
            )
            events = revoked_events(
                window.id,
                chain_id=self._chain_id,
                mined=mined,
                revoked_at=_aware(revoked_at or window.confirmed_at or datetime.now(UTC)),
                revocations=_to_announce(
                    session, t.CertificateRevocation.window_id == window.id, *named
                ),
                tag=f"by:{replaced_by}:",
            )
            self._add_revoked_events(session, events)

    def revocation_transaction_count(self) -> int:
        """bulkRevoke transactions mined (tests and benchmarks count them)."""
        with self._sessions() as session:
            return len(
                list(
                    session.scalars(
                        select(t.RevocationTransaction.transaction_hash).where(
                            t.RevocationTransaction.state == "mined"
                        )
                    )
                )
            )


def _to_announce(session: Session, *where: Any) -> list[RevocationToAnnounce]:
    rows = session.scalars(
        select(t.CertificateRevocation)
        .where(*where)
        .order_by(t.CertificateRevocation.certificate_id)
        .execution_options(populate_existing=True)
    )
    return [
        RevocationToAnnounce(
            certificate_id=r.certificate_id,
            batch_id=r.batch_id or "",
            reason=RevocationReason(r.reason),
            reason_text=r.reason_text,
            replaced_by=r.replaced_by,
        )
        for r in rows
    ]


def _outcome(row: t.RevocationRequest) -> RevocationOutcome:
    return RevocationOutcome(
        row.certificate_count, row.newly_revoked_count, row.already_revoked_count
    )


def _aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
