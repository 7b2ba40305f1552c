"""Reissue: the corrected certificate names the one it replaces, and the old one's revocation
is asked in the same write (the outbox), so neither can happen without the other."""

import itertools
from datetime import date

import orjson
import pytest

from certflow.core.errors import Conflict, InvalidInput, NotFound
from certflow.platform.bus import SUBJECT_REISSUED
from certflow.v1 import events_pb2
from services.ingest.reissue import corrected_fields, reissue_key
from services.ingest.usecases import Ingest
from tests.unit.ingest.fakes import NOW, FakeIngestStore
from tests.unit.ingest.planning import ISSUER

FIELDS = {
    "name": "Ada Lovelase",
    "email": "ada@example.edu",
    "title": "Analytical Engines",
    "completion_date": "2026-06-30",
    "expiry_date": "2030-06-30",
}


def make_ingest(store: FakeIngestStore) -> Ingest:
    ids = (f"id-{n}" for n in itertools.count())
    return Ingest(store, ISSUER, max_rows=10, clock=lambda: NOW, new_id=lambda: next(ids))


def test_the_new_certificate_replaces_the_old_and_its_revocation_is_in_the_same_write() -> None:
    store = FakeIngestStore()
    ingest = make_ingest(store)
    old = ingest.issue_one(request_id="k1", fields=FIELDS, custom_fields={"grade": "A"})
    written = len(store.state.outbox)
    new = ingest.reissue_one(
        request_id="r1",
        certificate_id=old.certificate_id,
        corrections={"name": "Ada Lovelace"},
        reason_text="name misspelt",
    )
    assert new.certificate_id != old.certificate_id and new.recipient_name == "Ada Lovelace"
    assert new.document["replaces"] == f"urn:uuid:{old.certificate_id}"
    assert new.document["validUntil"].startswith("2030-06-30")  # kept from the old one
    assert new.document["credentialSubject"]["customFields"] == {"grade": "A"}
    (event,) = [m for m in store.state.outbox[written:] if m.subject == SUBJECT_REISSUED]
    asked = events_pb2.CertificateReissuedEvent.FromString(event.payload)
    assert (asked.certificate_id, asked.replaced_by_certificate_id, asked.reason_text) == (
        old.certificate_id,
        new.certificate_id,
        "name misspelt",
    )
    # the same request again: the same certificate, nothing more written
    count = len(store.state.outbox)
    again = ingest.reissue_one(
        request_id="r1",
        certificate_id=old.certificate_id,
        corrections={"name": "Ada Lovelace"},
        reason_text="name misspelt",
    )
    assert again.certificate_id == new.certificate_id and len(store.state.outbox) == count


def test_a_second_reissue_of_the_same_content_is_a_conflict_and_writes_nothing() -> None:
    store = FakeIngestStore()
    ingest = make_ingest(store)
    old = ingest.issue_one(request_id="k1", fields=FIELDS, custom_fields={})
    ingest.reissue_one(
        request_id="r1", certificate_id=old.certificate_id, corrections={}, reason_text=""
    )
    count = len(store.state.certificates)
    with pytest.raises(Conflict):
        ingest.reissue_one(
            request_id="r2", certificate_id=old.certificate_id, corrections={}, reason_text=""
        )
    assert len(store.state.certificates) == count


def test_a_certificate_is_reissued_once_even_with_other_corrections() -> None:
    # a second, different reissue of A would leave two valid replacements (A names only the
    # first): the issuer reissues the replacement instead
    store = FakeIngestStore()
    ingest = make_ingest(store)
    old = ingest.issue_one(request_id="k1", fields=FIELDS, custom_fields={})
    first = ingest.reissue_one(
        request_id="r1",
        certificate_id=old.certificate_id,
        corrections={"name": "Ada Lovelace"},
        reason_text="",
    )
    certificates, outbox = len(store.state.certificates), len(store.state.outbox)
    with pytest.raises(Conflict) as refused:
        ingest.reissue_one(
            request_id="r2",
            certificate_id=old.certificate_id,
            corrections={"title": "Analytical Engines II"},
            reason_text="",
        )
    assert refused.value.reason == "ALREADY_REISSUED"
    assert refused.value.metadata["certificate_id"] == first.certificate_id
    assert (len(store.state.certificates), len(store.state.outbox)) == (certificates, outbox)
    # the replacement itself can be reissued
    second = ingest.reissue_one(
        request_id="r3",
        certificate_id=first.certificate_id,
        corrections={"name": "Augusta Ada King"},
        reason_text="",
    )
    assert second.document["replaces"] == f"urn:uuid:{first.certificate_id}"


def test_a_request_id_reused_for_another_certificate_is_refused_not_answered() -> None:
    store = FakeIngestStore()
    ingest = make_ingest(store)
    one = ingest.issue_one(request_id="k1", fields=FIELDS, custom_fields={})
    other = ingest.issue_one(
        request_id="k2", fields={**FIELDS, "email": "grace@example.edu"}, custom_fields={}
    )
    ingest.reissue_one(
        request_id="r1", certificate_id=one.certificate_id, corrections={}, reason_text=""
    )
    outbox = len(store.state.outbox)
    with pytest.raises(Conflict) as refused:
        ingest.reissue_one(
            request_id="r1", certificate_id=other.certificate_id, corrections={}, reason_text=""
        )
    assert refused.value.reason == "REQUEST_ID_REUSED"
    assert len(store.state.outbox) == outbox  # nothing asks anchor to revoke anything


def test_unknown_certificates_bad_corrections_and_long_texts_are_refused() -> None:
    store = FakeIngestStore()
    ingest = make_ingest(store)
    old = ingest.issue_one(request_id="k1", fields=FIELDS, custom_fields={})
    with pytest.raises(NotFound):
        ingest.reissue_one(request_id="", certificate_id="nope", corrections={}, reason_text="")
    with pytest.raises(InvalidInput):
        ingest.reissue_one(
            request_id="",
            certificate_id=old.certificate_id,
            corrections={"email": "not an address"},
            reason_text="",
        )
    with pytest.raises(InvalidInput):
        ingest.reissue_one(
            request_id="", certificate_id=old.certificate_id, corrections={}, reason_text="x" * 501
        )
    assert len(store.state.certificates) == 1


def test_corrections_take_each_non_empty_field_and_keep_the_rest() -> None:
    document = orjson.dumps({"validUntil": "2031-01-01T00:00:00Z", "credentialSubject": {}})
    fields, custom = corrected_fields(
        recipient_name="Old",
        recipient_email="a@example.org",
        title="T",
        completion_date=date(2026, 1, 2),
        document=document,
        corrections={"name": "New", "title": "", "unknown": "x"},
    )
    assert fields == {
        "name": "New",
        "email": "a@example.org",
        "title": "T",
        "completion_date": "2026-01-02",
        "expiry_date": "2031-01-01",
    }
    assert custom == {}
    assert reissue_key("a") != reissue_key("b") != "a"
