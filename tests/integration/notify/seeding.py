"""Anchored certificates put into notify's own store the way its consumers do (recipients,
then the anchored window), for the store and sender-loop tests."""

import os
import uuid
from datetime import UTC, date, datetime

import orjson

from certflow.core.anchoring import AnchoredWindowFacts
from services.notify.intake import AnchoredWindow, RecipientContent
from services.notify.store import Deliveries


def recipients(emails: list[str], *, batch_id: str) -> list[RecipientContent]:
    return [
        RecipientContent(
            certificate_id=(cid := str(uuid.uuid4())),
            batch_id=batch_id,
            recipient_name=f"Student {n}",
            recipient_email=email,
            title="Resilience 101",
            completion_date=date(2026, 6, 30),
            issuer_name="Example U",
            document=orjson.dumps({"id": f"urn:uuid:{cid}", "name": "Resilience 101"}),
            leaf_salt=os.urandom(32),
            leaf_hash=os.urandom(32),
        )
        for n, email in enumerate(emails)
    ]


def window_of(certificate_ids: list[str]) -> AnchoredWindow:
    facts = AnchoredWindowFacts(
        window_id=str(uuid.uuid4()),
        merkle_root=os.urandom(32),
        chain_id=31337,
        registry_address="0x" + "11" * 20,
        transaction_hash="0x" + "22" * 32,
        block_number=7,
    )
    return AnchoredWindow(facts, {cid: os.urandom(64) for cid in certificate_ids})


def seed_content(
    store: Deliveries, emails: list[str], *, batch_id: str | None = None
) -> tuple[str, list[str]]:
    """Recipient content only (not anchored yet); (batch id, certificate ids)."""
    batch_id = batch_id or str(uuid.uuid4())
    content = recipients(emails, batch_id=batch_id)
    store.store_recipients(content)
    return batch_id, [c.certificate_id for c in content]


def seed_anchored(
    store: Deliveries, emails: list[str], *, batch_id: str | None = None
) -> tuple[str, list[str]]:
    """A batch of anchored certificates with their deliveries; (batch id, certificate ids)."""
    batch_id, ids = seed_content(store, emails, batch_id=batch_id)
    stored = store.store_anchored(window_of(ids), now=datetime.now(UTC))
    assert stored.created == len(ids) and not stored.missing
    return batch_id, ids
