"""All of verify's SQL: the read model's upserts and look-ups (the `CertificateStore` of
read_model.py), on SQLite and PostgreSQL.

Writes are single `INSERT … ON CONFLICT (certificate_id) DO UPDATE … WHERE` statements: each
event fills only its own columns, a redelivery matches the WHERE of nothing, and two replicas
storing the same event at once cannot fail on the key.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from services.verify.read_model import (
    AnchoredCertificate,
    Anchoring,
    IssuedCertificate,
    StoredCertificate,
)
from services.verify.reports import CATEGORIES, ProblemReport
from services.verify.tables import VerifyCertificate, VerifyProblemReport, VerifyProof

ROWS_PER_STATEMENT = 500  # keeps bind parameters within every backend's limits

T = VerifyCertificate
P = VerifyProof
_ISSUED = ("document", "leaf_salt", "leaf_hash", "batch_id")
_ANCHORED = (
    "merkle_root",
    "merkle_path",
    "chain_id",
    "registry_address",
    "transaction_hash",
    "block_number",
)


class SqlCertificateStore:
    """`reads` may be a separate, non-locking engine's sessions (SQLite: look-ups must not queue
    behind the write lock); by default the writer's."""

    def __init__(
        self, writes: sessionmaker[Session], reads: sessionmaker[Session] | None = None
    ) -> None:
        self._writes = writes
        self._reads = reads or writes

    def add_issued(self, certificates: Sequence[IssuedCertificate]) -> None:
        rows = [
            {
                "certificate_id": c.certificate_id,
                "document": c.document,
                "leaf_salt": c.leaf_salt,
                "leaf_hash": c.leaf_hash,
                "batch_id": c.batch_id or None,
            }
            for c in certificates
        ]
        self._upsert(T, rows, _ISSUED, lambda excluded: T.document.is_(None))

    def add_anchored(self, certificates: Sequence[AnchoredCertificate]) -> None:
        rows = [
            {
                "certificate_id": c.certificate_id,
                "merkle_root": c.anchoring.merkle_root,
                "merkle_path": c.merkle_path,
                "chain_id": c.anchoring.chain_id,
                "registry_address": c.anchoring.registry_address,
                "transaction_hash": c.anchoring.transaction_hash,
                "block_number": c.anchoring.block_number,
            }
            for c in certificates
        ]
        # read_model.later_anchoring, in SQL
        self._upsert(P, rows, _ANCHORED, lambda excluded: P.block_number < excluded.block_number)

    def _upsert(
        self,
        table: type[VerifyCertificate] | type[VerifyProof],
        rows: list[dict[str, Any]],
        columns: tuple[str, ...],
        when: Callable[[Any], Any],
    ) -> None:
        if not rows:
            return
        # one statement may not touch a row twice (PostgreSQL refuses it): the first one counts
        first: dict[str, dict[str, Any]] = {}
        for row in rows:
            first.setdefault(row["certificate_id"], row)
        rows = list(first.values())
        with self._writes.begin() as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            statement = insert(table)
            excluded = statement.excluded
            statement = statement.on_conflict_do_update(
                index_elements=[table.certificate_id],
                set_={name: excluded[name] for name in columns},
                where=when(excluded),
            )
            for start in range(0, len(rows), ROWS_PER_STATEMENT):
                session.execute(statement, rows[start : start + ROWS_PER_STATEMENT])

    def find(self, certificate_id: str) -> StoredCertificate | None:
        with self._reads() as session:
            row = session.get(T, certificate_id)
            proof = session.get(P, certificate_id)
            if row is None and proof is None:
                return None
            return StoredCertificate(certificate_id, _issued(row), _anchored(proof))


def _issued(row: VerifyCertificate | None) -> IssuedCertificate | None:
    if row is None or row.document is None or row.leaf_salt is None or row.leaf_hash is None:
        return None
    return IssuedCertificate(
        row.certificate_id, row.document, row.leaf_salt, row.leaf_hash, row.batch_id or ""
    )


def _anchored(proof: VerifyProof | None) -> AnchoredCertificate | None:
    if proof is None:
        return None
    anchoring = Anchoring(
        proof.merkle_root,
        proof.chain_id,
        proof.registry_address,
        proof.transaction_hash,
        proof.block_number,
    )
    return AnchoredCertificate(proof.certificate_id, proof.merkle_path, anchoring)


class SqlProblemReports:
    """verify_problem_reports: one row per report, with the batch of its certificate."""

    def __init__(self, writes: sessionmaker[Session]) -> None:
        self._writes = writes

    def add_report(self, report: ProblemReport) -> bool:
        with self._writes.begin() as session:
            found = session.execute(
                select(T.batch_id).where(
                    T.certificate_id == report.certificate_id, T.document.is_not(None)
                )
            ).first()
            if found is None:
                return False
            session.add(
                VerifyProblemReport(
                    certificate_id=report.certificate_id,
                    batch_id=found.batch_id,
                    category=report.category,
                    message=report.message,
                    contact_email=report.contact_email,
                    created_at=datetime.now(UTC),
                )
            )
            return True

    def count_for_batch(self, batch_id: str) -> dict[str, int]:
        with self._writes() as session:
            R = VerifyProblemReport
            rows = session.execute(
                select(R.category, func.count()).where(R.batch_id == batch_id).group_by(R.category)
            ).all()
        counts = dict.fromkeys(CATEGORIES, 0)
        counts.update({category: int(n) for category, n in rows})
        return counts
