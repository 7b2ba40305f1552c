"""verify's revocation notes on SQLite and PostgreSQL: a revocation happens once, so its first
note stays — except that a certificate revoked first (say for a data correction) and reissued
afterwards gets its replacement named when anchor announces it again."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from certflow.core.verification import RevocationNote
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from services.verify.revocation_notes import NotedRevocation, SqlRevocationNotes

OLD = "11111111-1111-4111-8111-111111111111"
NEW, OTHER = "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
WHEN = datetime(2026, 11, 29, 12, 30, tzinfo=UTC)
TX = "0x" + "ab" * 32


@pytest.fixture
def notes(database_url: str) -> Iterator[SqlRevocationNotes]:
    upgrade(database_url, ["verify"])
    engine = make_engine(database_url)
    yield SqlRevocationNotes(make_session_factory(engine))
    engine.dispose()


def noted(reason: str, replaced_by: str = "", text: str = "name misspelt") -> NotedRevocation:
    return NotedRevocation(OLD, RevocationNote(reason, text, WHEN, replaced_by, TX))


def test_a_replacement_announced_later_is_added_to_the_first_note(
    notes: SqlRevocationNotes,
) -> None:
    notes.add_notes([noted("data_correction")])
    notes.add_notes([noted("data_correction", replaced_by=NEW)])
    assert notes.note(OLD) == RevocationNote("data_correction", "name misspelt", WHEN, NEW, TX)


def test_the_first_note_otherwise_stays(notes: SqlRevocationNotes) -> None:
    notes.add_notes([noted("withdrawn", replaced_by=NEW)])
    notes.add_notes([noted("other", replaced_by=OTHER, text="changed")])  # redelivered or odd
    notes.add_notes([noted("other")])
    assert notes.note(OLD) == RevocationNote("withdrawn", "name misspelt", WHEN, NEW, TX)
