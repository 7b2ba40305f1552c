"""IssueCertificate follows the CSV rules: dates as people type them, names normalised and
warned about, a certificate expired at issue refused."""

import itertools

import pytest

from certflow.core.dates import DateOrder
from certflow.core.errors import InvalidInput
from services.ingest.usecases import Ingest
from tests.unit.ingest.fakes import NOW, FakeIngestStore
from tests.unit.ingest.planning import ISSUER

FIELDS = {
    "name": "Ada Lovelace",
    "email": "ada@example.edu",
    "title": "Analytical Engines",
    "completion_date": "2026-06-30",
}


def make_ingest(store: FakeIngestStore) -> Ingest:
    ids = (f"id-{n}" for n in itertools.count())
    return Ingest(store, ISSUER, max_rows=10, clock=lambda: NOW, new_id=lambda: next(ids))


def test_a_day_first_date_and_a_spaced_capital_name_are_issued_with_a_warning() -> None:
    store = FakeIngestStore()
    issued = make_ingest(store).issue_one(
        request_id="k1",
        fields={**FIELDS, "name": " ADA \u00a0 LOVELACE ", "completion_date": "10/06/2026"},
        custom_fields={},
        date_order=DateOrder.DAY_FIRST,
    )
    assert issued.recipient_name == "ADA LOVELACE"
    assert issued.document["credentialSubject"]["achievement"]["name"] == "Analytical Engines"
    assert issued.document["validFrom"].startswith("2026-06-10")
    assert [(w.row_number, w.field, w.code) for w in issued.warnings] == [
        (0, "name", "NAME_ALL_CAPITALS")
    ]
    again = make_ingest(store).issue_one(request_id="k1", fields=FIELDS, custom_fields={})
    assert again.warnings == issued.warnings  # the stored name's warnings


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"completion_date": "10/06/2026"}, "ambiguous: 10 June or October 6, 2026"),
        ({"completion_date": "31/06/2026"}, "June 2026 has 30 days, not 31"),
        ({"expiry_date": "2026-11-29"}, "would be expired when issued"),  # the issue date
    ],
)
def test_the_csv_date_rules_refuse_a_single_issue(change: dict[str, str], said: str) -> None:
    store = FakeIngestStore()
    with pytest.raises(InvalidInput) as info:
        make_ingest(store).issue_one(request_id="", fields={**FIELDS, **change}, custom_fields={})
    ((field, description),) = [(v.field, v.description) for v in info.value.violations]
    assert field == next(iter(change))
    assert said in description
    assert not store.state.certificates
