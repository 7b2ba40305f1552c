"""Anchored certificates written straight into a real database, for notify's store tests."""

import os
import uuid
from datetime import UTC, date, datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from services.anchor import tables as anchor_tables
from services.ingest import tables as ingest_tables


def seed_anchored(
    sessions: sessionmaker[Session], emails: list[str], *, batch_id: str | None = None
) -> tuple[str, list[str]]:
    """One batch of confirmed-anchored certificates, one per email; (batch id, cert ids)."""
    batch_id = batch_id or str(uuid.uuid4())
    issuer_id = str(uuid.uuid4())
    window_id = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in emails]
    with sessions.begin() as session:
        session.execute(
            insert(ingest_tables.Issuer),
            [{"id": issuer_id, "uri": f"https://{issuer_id}.example", "name": "Example U"}],
        )
        session.execute(
            insert(ingest_tables.Batch), [{"id": batch_id, "issuer_id": issuer_id, "source": "api"}]
        )
        session.execute(
            insert(ingest_tables.Certificate),
            [
                {
                    "id": cid,
                    "batch_id": batch_id,
                    "issuer_id": issuer_id,
                    "dedupe_key": cid.replace("-", "") + "0000",
                    "recipient_name": f"Student {n}",
                    "recipient_email": email,
                    "title": "Resilience 101",
                    "completion_date": date(2026, 6, 30),
                    "expiry_date": None,
                    "document": b'{"id": "urn:uuid:x"}',
                    "leaf_salt": os.urandom(32),
                    "leaf_hash": os.urandom(32),
                }
                for n, (cid, email) in enumerate(zip(ids, emails, strict=True))
            ],
        )
        session.execute(
            insert(anchor_tables.AnchorWindow),
            [
                {
                    "id": window_id,
                    "state": "confirmed",
                    "leaf_count": len(ids),
                    "merkle_root": os.urandom(32),
                    "chain_id": 31337,
                    "registry_address": "0x" + "11" * 20,
                    "transaction_hash": "0x" + "22" * 32,
                    "block_number": 7,
                    "confirmed_at": datetime.now(UTC),
                }
            ],
        )
        session.execute(
            insert(anchor_tables.CertificateProof),
            [
                {
                    "certificate_id": cid,
                    "window_id": window_id,
                    "leaf_index": n,
                    "leaf_hash": os.urandom(32),
                    "merkle_path": b"",
                }
                for n, cid in enumerate(ids)
            ],
        )
    return batch_id, ids
