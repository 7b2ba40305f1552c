"""Revocation decisions: what a request may name, which certificates get revoked, idempotency,
and how pending revocations close into windows (one bulkRevoke each)."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from certflow.core.errors import Conflict, InvalidInput, NotFound
from certflow.core.transactions import MinedTransaction
from certflow.v1 import certificate_pb2, events_pb2
from services.anchor.revocations import (
    MAX_CERTIFICATE_IDS,
    MAX_REASON_TEXT,
    KnownCertificate,
    NewRevocation,
    PendingRevocation,
    RevocationOutcome,
    RevocationReason,
    RevocationRequest,
    checked_request,
    due_windows,
    revoke,
)
from services.anchor.revoker import RevocationToAnnounce, revoked_events

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def request(ids: Sequence[str] = ("a",), **overrides: object) -> RevocationRequest:
    values: dict[str, object] = {
        "request_id": "r1",
        "certificate_ids": list(ids),
        "batch_id": "",
        "reason": RevocationReason.WITHDRAWN,
        "reason_text": "misconduct",
        **overrides,
    }
    return checked_request(**values)  # type: ignore[arg-type]


class Records:
    """In-memory RevocationRecords: certificates a..e known (batch b1: a, b, c)."""

    def __init__(self) -> None:
        self.certificates = {
            cid: KnownCertificate(cid, cid.encode() * 32, "b1" if cid in "abc" else "b2")
            for cid in "abcde"
        }
        self.revocations: dict[str, NewRevocation] = {}
        self.requests: dict[str, tuple[str, RevocationOutcome]] = {}

    def request_digest(self, request_id: str) -> tuple[str, RevocationOutcome] | None:
        return self.requests.get(request_id)

    def batch_certificates(self, batch_id: str) -> list[str]:
        return sorted(c for c, k in self.certificates.items() if k.batch_id == batch_id)

    def known(self, certificate_ids: Sequence[str]) -> dict[str, KnownCertificate]:
        return {c: self.certificates[c] for c in certificate_ids if c in self.certificates}

    def revoked(self, certificate_ids: Sequence[str]) -> set[str]:
        return {c for c in certificate_ids if c in self.revocations}

    def add_revocations(
        self,
        request: RevocationRequest,
        revocations: Sequence[NewRevocation],
        outcome: RevocationOutcome,
    ) -> RevocationOutcome:
        self.revocations.update({r.certificate_id: r for r in revocations})
        if request.request_id:
            self.requests[request.request_id] = (request.digest(), outcome)
        return outcome


def test_revokes_the_named_certificates_leaf_with_reason_and_time() -> None:
    records = Records()
    outcome = revoke(records, request(["a", "b"]), lambda: NOW)
    assert outcome == RevocationOutcome(2, 2, 0)
    a = records.revocations["a"]
    # the leaf, not the root: revoking a root would revoke the whole anchor window
    assert a.leaf_hash == b"a" * 32 and a.reason is RevocationReason.WITHDRAWN
    assert a.reason_text == "misconduct" and a.requested_at == NOW and a.batch_id == "b1"


def test_revoking_twice_is_a_no_op_for_the_certificates_already_revoked() -> None:
    records = Records()
    revoke(records, request(["a"]), lambda: NOW)
    first = records.revocations["a"]
    outcome = revoke(
        records,
        request(["a", "d"], request_id="r2", reason=RevocationReason.OTHER),
        lambda: NOW + timedelta(hours=1),
    )
    assert outcome == RevocationOutcome(2, 1, 1)
    assert records.revocations["a"] is first  # its reason and time are the first request's


def test_the_same_request_id_answers_as_the_first_time_and_refuses_other_content() -> None:
    records = Records()
    assert revoke(records, request(["a"]), lambda: NOW) == RevocationOutcome(1, 1, 0)
    assert revoke(records, request(["a"]), lambda: NOW) == RevocationOutcome(1, 1, 0)
    with pytest.raises(Conflict) as refused:
        revoke(records, request(["b"]), lambda: NOW)
    assert refused.value.reason == "REQUEST_ID_REUSED" and "b" not in records.revocations


def test_unknown_ids_are_listed_and_nothing_is_revoked() -> None:
    records = Records()
    with pytest.raises(NotFound) as refused:
        revoke(records, request(["a", "zz-1", "zz-2"]), lambda: NOW)
    assert refused.value.reason == "CERTIFICATES_NOT_FOUND"
    assert "zz-1" in refused.value.message and "zz-2" in refused.value.message
    assert refused.value.metadata["unknown_count"] == "2"
    assert records.revocations == {} and records.requests == {}


def test_many_unknown_ids_are_counted_and_the_message_stays_short() -> None:
    with pytest.raises(NotFound) as refused:
        revoke(Records(), request([f"unknown-{i}" for i in range(5_000)]), lambda: NOW)
    assert "and 4980 more" in refused.value.message and len(refused.value.message) < 1_000


def test_a_batch_revokes_every_certificate_of_it_that_anchor_knows() -> None:
    records = Records()
    outcome = revoke(records, request([], batch_id="b1"), lambda: NOW)
    assert outcome == RevocationOutcome(3, 3, 0) and sorted(records.revocations) == ["a", "b", "c"]
    with pytest.raises(NotFound) as refused:
        revoke(records, request([], batch_id="nope", request_id="r3"), lambda: NOW)
    assert refused.value.reason == "BATCH_NOT_FOUND"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"certificate_ids": []}, "certificate_ids"),  # neither ids nor a batch
        ({"batch_id": "b1"}, "certificate_ids"),  # both
        ({"certificate_ids": ["x"] * (MAX_CERTIFICATE_IDS + 1)}, "certificate_ids"),
        ({"certificate_ids": [""]}, "certificate_ids"),
        ({"certificate_ids": ["x" * 37]}, "certificate_ids"),
        ({"reason": None}, "reason"),
        ({"reason_text": "x" * (MAX_REASON_TEXT + 1)}, "reason_text"),
        ({"reason_text": "a\x00b"}, "reason_text"),
        ({"request_id": "r" * 129}, "request_id"),
    ],
)
def test_a_bad_request_is_refused_naming_its_field(
    overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        request(**overrides)  # type: ignore[arg-type]
    assert field in [v.field for v in refused.value.violations]


def test_a_repeated_id_in_one_request_counts_once() -> None:
    assert request(["a", "b", "a"]).certificate_ids == ("a", "b")


def pending(ages: Sequence[float]) -> list[PendingRevocation]:
    return [PendingRevocation(f"c{i}", NOW - timedelta(seconds=age)) for i, age in enumerate(ages)]


def test_pending_revocations_wait_until_the_window_is_full_or_old_enough() -> None:
    young = pending([1.0, 0.5])
    assert due_windows(young, max_leaves=500, max_age=timedelta(seconds=2), now=NOW) == []
    old = pending([2.5, 0.5])
    assert due_windows(old, max_leaves=500, max_age=timedelta(seconds=2), now=NOW) == [["c0", "c1"]]


def test_full_windows_close_at_once_and_the_young_rest_waits() -> None:
    many = pending([0.1] * 1_201)
    windows = due_windows(many, max_leaves=500, max_age=timedelta(seconds=2), now=NOW)
    assert [len(w) for w in windows] == [500, 500]  # 201 wait for more, or for their age
    assert due_windows([], max_leaves=500, max_age=timedelta(seconds=2), now=NOW) == []


def test_revoked_events_carry_reason_text_time_transaction_and_replacement() -> None:
    mined = MinedTransaction("0x" + "ab" * 32, 42, "0x" + "cd" * 32, 50_000, True)
    revocations = [
        RevocationToAnnounce(f"c{i}", "b1", RevocationReason.SUPERSEDED, "name misspelt", "new")
        for i in range(1_001)
    ]
    events = revoked_events(
        "rw1", chain_id=1337, mined=mined, revoked_at=NOW, revocations=revocations
    )
    assert [e.msg_id for e in events] == ["revoked:rw1:0", "revoked:rw1:1", "revoked:rw1:2"]
    parsed = [events_pb2.CertificatesRevokedEvent.FromString(e.payload) for e in events]
    assert sum(len(p.certificates) for p in parsed) == 1_001
    first = parsed[0].certificates[0]
    assert parsed[0].transaction_hash == mined.transaction_hash and parsed[0].block_number == 42
    assert first.reason == certificate_pb2.REVOCATION_REASON_SUPERSEDED
    assert first.reason_text == "name misspelt" and first.replaced_by_certificate_id == "new"
    assert first.revoke_time.ToDatetime(tzinfo=UTC) == NOW
