"""xAPI statements parsed and checked (services/ingest/xapi.py), and webhook events mapped to
statements and signed (services/ingest/lms.py's pure parts)."""

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from certflow.core.errors import InvalidInput
from services.ingest.issuance_rules import Verb
from services.ingest.lms import (
    AuthKind,
    Source,
    Unauthenticated,
    achievement_request_id,
    check_signature,
    hmac_secret,
    mapping_json,
    parse_mapping,
    pointer,
    signature_of,
    webhook_statement,
)
from services.ingest.xapi import check_version, parse_statements

ID = "3f1c2a4e-8b7d-4c1e-9f00-123456789abc"
GOOD = {
    "id": ID,
    "actor": {"mbox": "mailto:Ada@Example.org", "name": " Ada Lovelace "},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"},
    "object": {"id": "https://lms.example/exam/7"},
    "result": {"score": {"scaled": 0.85}, "success": True},
    "timestamp": "2026-06-30T10:00:00Z",
}


def parse(document: object, max_statements: int = 10) -> list:
    return parse_statements(json.dumps(document).encode(), max_statements=max_statements)


def problem(document: object) -> tuple[str, str]:
    with pytest.raises(InvalidInput) as refused:
        parse(document)
    violation = refused.value.violations[0]
    return refused.value.reason, violation.field


def test_a_statement_becomes_evidence() -> None:
    (statement,) = parse(GOOD)
    assert statement.evidence.statement_id == ID
    assert statement.evidence.actor_key == "mailto:ada@example.org"
    assert statement.evidence.verb is Verb.PASSED
    assert statement.evidence.score_scaled == 0.85 and statement.evidence.success is True
    assert (statement.email, statement.name) == ("Ada@Example.org", "Ada Lovelace")
    assert statement.timestamp == datetime(2026, 6, 30, 10, tzinfo=UTC)


def test_a_statement_id_is_one_whatever_its_case() -> None:
    """UUIDs compare case-insensitively: the same statement with its id upper-cased is a
    replay, not other content under a stored id (409)."""
    (lower,) = parse(GOOD)
    (upper,) = parse({**GOOD, "id": ID.upper()})
    assert upper.evidence.statement_id == lower.evidence.statement_id
    assert upper.raw == lower.raw


def test_an_array_keeps_its_order_and_unknown_verbs_have_none() -> None:
    other = {**GOOD, "id": str(uuid.uuid4()), "verb": {"id": "http://example.org/verbs/liked"}}
    first, second = parse([GOOD, other])
    assert first.evidence.statement_id == ID
    assert second.evidence.verb is None and second.verb_iri == "http://example.org/verbs/liked"


def test_a_statement_without_id_gets_one() -> None:
    (statement,) = parse({k: v for k, v in GOOD.items() if k != "id"})
    assert uuid.UUID(statement.evidence.statement_id)


def test_an_account_named_by_an_address_is_its_recipient() -> None:
    actor = {"account": {"homePage": "https://lms.example", "name": "ada@example.org"}}
    (statement,) = parse({**GOOD, "actor": actor})
    assert statement.evidence.actor_key == "account:https://lms.example|ada@example.org"
    assert statement.email == "ada@example.org"
    other = {"account": {"homePage": "https://lms.example", "name": "u-1234"}}
    assert parse({**GOOD, "actor": other})[0].email == ""


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"actor": None}, "actor"),
        ({"actor": {"name": "x"}}, "actor"),
        ({"actor": {"mbox": "ada@example.org"}}, "actor.mbox"),
        ({"actor": {"objectType": "Group", "mbox": "mailto:a@b.c"}}, "actor.objectType"),
        ({"actor": {"mbox": "mailto:a@b.c", "name": 7}}, "actor.name"),
        ({"actor": {"account": {"homePage": "lms", "name": "a"}}}, "actor.account.homePage"),
        ({"verb": "passed"}, "verb"),
        ({"verb": {"id": "passed"}}, "verb.id"),
        ({"object": {"id": 7}}, "object.id"),
        ({"object": {"id": "https://x", "objectType": "Agent"}}, "object.objectType"),
        ({"result": {"score": {"scaled": "0.9"}}}, "result.score.scaled"),
        ({"result": {"score": {"scaled": True}}}, "result.score.scaled"),
        ({"result": {"score": {"scaled": -1.01}}}, "result.score.scaled"),
        ({"result": {"success": 1}}, "result.success"),
        ({"result": []}, "result"),
        ({"id": "123"}, "id"),
        ({"timestamp": "2026-06-30T10:00:00"}, "timestamp"),
        ({"timestamp": 1700000000}, "timestamp"),
        # NUL cannot be stored in PostgreSQL's text (a 500): nor any control character in ids
        ({"object": {"id": "https://x/\u0000"}}, "object.id"),
        ({"verb": {"id": "https://x/v\u0007"}}, "verb.id"),
        ({"actor": {"mbox": "mailto:a\u0000@b.example"}}, "actor.mbox"),
        ({"actor": {"mbox": "mailto:a@b.example", "name": "A\u0000"}}, "actor.name"),
        (
            {"actor": {"account": {"homePage": "https://x", "name": "u\u0000"}}},
            "actor.account.name",
        ),
        # valid ISO 8601 whose UTC time is outside years 1-9999 (OverflowError: a 500)
        ({"timestamp": "9999-12-31T23:59:59-23:59"}, "timestamp"),
        ({"timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp"),
    ],
)
def test_bad_statements_name_the_field(change: dict, field: str) -> None:
    assert problem({**GOOD, **change}) == ("INVALID_STATEMENT", field)


def test_a_bad_statement_in_an_array_is_named_by_index() -> None:
    assert problem([GOOD, {**GOOD, "verb": None}]) == ("INVALID_STATEMENT", "[1].verb")


def test_bodies_that_are_not_statements() -> None:
    for body in (b"{", b"\xff", b"[" * 10_000):
        with pytest.raises(InvalidInput) as refused:
            parse_statements(body, max_statements=10)
        assert refused.value.reason == "MALFORMED_JSON"
    assert problem(42) == ("INVALID_STATEMENT", "")
    with pytest.raises(InvalidInput, match="no statement"):
        parse([])
    with pytest.raises(InvalidInput, match="at most 10") as refused:
        parse([{}] * 11)
    assert refused.value.reason == "TOO_MANY_STATEMENTS"


@pytest.mark.parametrize("header", ["1.0.3", "1.0", "1.0.0", " 1.0.1 "])
def test_versions_accepted(header: str) -> None:
    check_version(header)


@pytest.mark.parametrize("header", [None, "", "0.95", "2.0.0", "1.0.x"])
def test_versions_refused(header: str | None) -> None:
    with pytest.raises(InvalidInput):
        check_version(header)


MAPPING = {
    "email": "/other/user/email",
    "name": "/other/user/fullname",
    "course_id": "/courseid",
    "event_type": "/eventname",
    "event_id": "/other/id",
    "timestamp": "/timecreated",
    "events": {"\\core\\event\\course_completed": "completed"},
    "activity_prefix": "moodle:course:",
}
SOURCE = Source("src-1", "moodle", AuthKind.HMAC, "", None, datetime(2026, 1, 1, tzinfo=UTC))
EVENT: dict[str, Any] = {
    "eventname": "\\core\\event\\course_completed",
    "courseid": 42,
    "timecreated": 1782813600,
    "other": {"id": 9001, "user": {"email": "hal@example.org", "fullname": "Hal Jordan"}},
}


def test_a_moodle_event_is_a_completed_statement() -> None:
    mapping = parse_mapping(json.dumps(MAPPING))
    assert parse_mapping(mapping_json(mapping)) == mapping
    statement = webhook_statement(SOURCE, mapping, json.dumps(EVENT).encode())
    assert statement.evidence.verb is Verb.COMPLETED
    assert statement.evidence.object_id == "moodle:course:42"
    assert statement.evidence.actor_key == "mailto:hal@example.org"
    assert statement.name == "Hal Jordan"
    assert statement.timestamp == datetime.fromtimestamp(1782813600, UTC)
    # the same event id is the same statement, whatever else the body says
    again = webhook_statement(SOURCE, mapping, json.dumps({**EVENT, "x": 1}).encode())
    assert again.evidence.statement_id == statement.evidence.statement_id
    other = webhook_statement(
        SOURCE, mapping, json.dumps({**EVENT, "other": {**EVENT["other"], "id": 2}}).encode()
    )
    assert other.evidence.statement_id != statement.evidence.statement_id


def test_other_event_types_are_statements_that_fire_nothing() -> None:
    mapping = parse_mapping(json.dumps(MAPPING))
    viewed = webhook_statement(
        SOURCE, mapping, json.dumps({**EVENT, "eventname": "\\core\\event\\course_viewed"}).encode()
    )
    assert viewed.evidence.verb is None


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({**EVENT, "other": {"id": 1}}, "email"),
        ({**EVENT, "other": {"user": {"email": "not-an-address"}}}, "email"),
        ({k: v for k, v in EVENT.items() if k != "courseid"}, "course_id"),
        ({**EVENT, "courseid": {"id": 42}}, "course_id"),
        ({**EVENT, "eventname": None}, "event_type"),
        ({**EVENT, "timecreated": "last week"}, "timestamp"),
        # longer than what is stored (PostgreSQL refused the insert: a 500), not cut short
        ({**EVENT, "other": {"user": {"email": "a" * 250 + "@b.example"}}}, "email"),
        ({**EVENT, "courseid": "c" * 490}, "course_id"),  # with "moodle:course:", over 500
        ({**EVENT, "other": {"user": {"email": "a@b.example", "fullname": "n" * 201}}}, "name"),
        ({**EVENT, "other": {"user": {"email": "a@b.example", "fullname": "N\u0000"}}}, "name"),
        ({**EVENT, "courseid": "42\u0000"}, "course_id"),
        ({**EVENT, "eventname": "\u0000"}, "event_type"),
        ({**EVENT, "timecreated": "9" * 30}, "timestamp"),  # OverflowError: a 500
        ({**EVENT, "timecreated": "\u00b2"}, "timestamp"),  # a digit to isdigit(), not int()
        ({**EVENT, "timecreated": "9999-12-31T23:59:59-23:59"}, "timestamp"),
    ],
)
def test_events_missing_what_the_mapping_names_are_refused(event: dict, field: str) -> None:
    mapping = parse_mapping(json.dumps(MAPPING))
    with pytest.raises(InvalidInput) as refused:
        webhook_statement(SOURCE, mapping, json.dumps(event).encode())
    assert refused.value.violations[0].field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "other.user.email"}, "mapping.email"),
        ({"course_id": ""}, "mapping.course_id"),
        ({"events": {}}, "mapping.events"),
        ({"events": {"x": "enrolled"}}, "mapping.events.x"),
        ({"activity_prefix": 7}, "mapping.activity_prefix"),
    ],
)
def test_unsound_mappings_are_refused(change: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_mapping(json.dumps({**MAPPING, **change}))
    assert refused.value.violations[0].field == field


def test_json_pointer() -> None:
    document = {"a": {"b/c": [10, {"~d": 4}]}}
    assert pointer(document, "/a/b~1c/0") == 10
    assert pointer(document, "/a/b~1c/1/~0d") == 4
    missing = pointer(document, "/a/x")
    assert missing is not None and missing is pointer(document, "/a/b~1c/9")
    assert pointer(document, "/a/b~1c/x") is missing


def test_secrets_and_keys_are_derived_stably() -> None:
    assert hmac_secret(b"k", "src-1") == hmac_secret(b"k", "src-1")
    assert hmac_secret(b"k", "src-1") != hmac_secret(b"k", "src-2")
    assert hmac_secret(b"k", "src-1") != hmac_secret(b"k2", "src-1")
    key = achievement_request_id("src-1", "rule-1", "mailto:a@b.c")
    assert key.startswith("lms-") and len(key) <= 128
    assert key != achievement_request_id("src-1", "rule-2", "mailto:a@b.c")
    assert signature_of("s", "1", b"body") != signature_of("s", "2", b"body")


NOW = 1_782_813_600.0


def signature_header(secret: str, stamp: int, body: bytes) -> str:
    return f"t={stamp},v1={signature_of(secret, str(stamp), body)}"


def test_a_good_signature_within_the_window_passes() -> None:
    body = b'{"x": 1}'
    for stamp in (int(NOW), int(NOW) - 300, int(NOW) + 300):
        check_signature("s", body, signature_header("s", stamp, body), now=NOW, tolerance=300)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "UNAUTHENTICATED"),
        ("", "UNAUTHENTICATED"),
        ("v1=" + "0" * 64, "UNAUTHENTICATED"),
        (f"t={int(NOW)}", "UNAUTHENTICATED"),
        (f"t={int(NOW)},v1=" + "0" * 64, "UNAUTHENTICATED"),
        (signature_header("other", int(NOW), b'{"x": 1}'), "UNAUTHENTICATED"),
        (signature_header("s", int(NOW), b'{"x": 2}'), "UNAUTHENTICATED"),
        # not ASCII: hmac.compare_digest raised TypeError on such text (a 500, not a 401)
        (f"t={int(NOW)},v1=\u00e9" + "0" * 63, "UNAUTHENTICATED"),
        ("t=\u00b2,v1=" + "0" * 64, "UNAUTHENTICATED"),  # a digit to isdigit(), not to int()
        (signature_header("s", int(NOW) - 301, b'{"x": 1}'), "SIGNATURE_EXPIRED"),
        (signature_header("s", int(NOW) + 301, b'{"x": 1}'), "SIGNATURE_EXPIRED"),
    ],
)
def test_bad_signatures_are_refused(header: str | None, reason: str) -> None:
    with pytest.raises(Unauthenticated) as refused:
        check_signature("s", b'{"x": 1}', header, now=NOW, tolerance=300)
    assert refused.value.reason == reason
