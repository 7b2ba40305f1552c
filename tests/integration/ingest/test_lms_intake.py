"""LMS intake against real SQLite and PostgreSQL: an achievement whose issue failed stays
pending and is issued once by the retry step; the same statement posted by many callers at
once is stored once and earns one certificate."""

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.document import IssuerProfile
from certflow.core.errors import NotFound, Unavailable
from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from services.ingest import tables
from services.ingest.issuance_rules import IssuanceRule, RuleKind
from services.ingest.lms import (
    AuthKind,
    CreatedSource,
    LmsIntake,
    NotConfigured,
    Source,
    Unauthenticated,
    hmac_secret,
    signature_of,
)
from services.ingest.lms_store import SqlLmsStore, SqlLmsWrites
from services.ingest.store import SqlIngestStore
from services.ingest.usecases import Ingest, IssuedCertificate

ISSUER = IssuerProfile(id="https://uni.example.edu", name="Example University")
COURSE = "https://lms.example/course/101"
EXAM = "https://lms.example/exam/7"
CALLERS = 8


class FlakyIngest(Ingest):
    """The database is unavailable for the first `failures` issues."""

    failures = 1

    def issue_one(self, **fields: Any) -> IssuedCertificate:
        if self.failures:
            self.failures -= 1
            raise Unavailable("DATABASE_UNAVAILABLE", "down for a moment")
        return super().issue_one(**fields)


class BrokenIngest(Ingest):
    """A bug on the issue path (not an outage): every issue raises."""

    def issue_one(self, **fields: Any) -> IssuedCertificate:
        raise RuntimeError("a bug")


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(database_url, ["ingest"])
    engine = make_engine(database_url, pool_size=CALLERS)
    yield make_session_factory(engine)
    engine.dispose()


def intake(
    sessions: sessionmaker[Session],
    ingest_class: type[Ingest] = Ingest,
    *,
    attempts: int = 10,
    secret_key: bytes = b"",
) -> LmsIntake:
    store = SqlLmsStore(sessions)
    lms = LmsIntake(
        store,
        ingest_class(SqlIngestStore(sessions), ISSUER, max_rows=10),
        max_statements=10,
        issue_attempts=attempts,
        secret_key=secret_key,
    )
    source = Source("src-1", "lrs", AuthKind.BEARER, "0" * 64, None, datetime.now(UTC))
    assert store.add_source(source, "") == source
    lms.create_rule(
        IssuanceRule(str(uuid.uuid4()), RuleKind.COMPLETED, COURSE, "Course 101"), request_id=""
    )
    return lms


def completed(email: str, activity: str = COURSE) -> bytes:
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "actor": {"mbox": f"mailto:{email}", "name": "Ada Lovelace"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
            "object": {"id": activity},
        }
    ).encode()


def rows(sessions: sessionmaker[Session], table: type[tables.Base]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def statuses(sessions: sessionmaker[Session]) -> list[tuple[str, str | None]]:
    with sessions() as session:
        a = tables.LmsAchievement
        return [(s, c) for s, c in session.execute(select(a.status, a.certificate_id))]


def test_an_issue_that_failed_stays_pending_and_is_issued_once_later(
    sessions: sessionmaker[Session],
) -> None:
    lms = intake(sessions, FlakyIngest)
    source = SqlLmsStore(sessions).source_by_name("lrs")
    assert source is not None
    stored = lms.receive_statements(source, completed("ada@example.edu"))
    assert stored.new == 1
    # the statement and its achievement are stored; the certificate is not there yet
    assert statuses(sessions) == [("pending", None)]
    assert rows(sessions, tables.Certificate) == 0
    assert lms.issue_pending() == 1
    ((status, certificate_id),) = statuses(sessions)
    assert status == "issued" and certificate_id
    assert lms.issue_pending() == 0  # nothing left: the next round issues nothing again
    assert rows(sessions, tables.Certificate) == 1


def test_an_achievement_hitting_a_bug_is_failed_after_its_attempts(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    """Tried by the request and then by each retry step, it was retried for ever (and the
    request answered 500 although its statements were stored); now the request answers,
    and after 3 attempts the achievement is failed, logged once as an error."""
    lms = intake(sessions, BrokenIngest, attempts=3)
    source = SqlLmsStore(sessions).source_by_name("lrs")
    assert source is not None
    stored = lms.receive_statements(source, completed("di@example.edu"))  # attempt 1
    assert stored.new == 1
    assert statuses(sessions) == [("pending", None)]
    assert lms.issue_pending() == 1  # attempt 2
    assert statuses(sessions) == [("pending", None)]
    caplog.clear()
    assert lms.issue_pending() == 1  # attempt 3: given up
    assert statuses(sessions) == [("failed", None)]
    with sessions() as session:
        problem = session.scalar(select(tables.LmsAchievement.problem))
    assert problem == "INTERNAL: RuntimeError on 3 attempts; not retried"
    given_up = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(given_up) == 1 and "not retried" in given_up[0].getMessage()
    assert lms.issue_pending() == 0
    assert rows(sessions, tables.Certificate) == 0


def test_the_retry_step_takes_the_least_tried_first(sessions: sessionmaker[Session]) -> None:
    """Oldest first, a full page of achievements that keep failing was all it ever read."""

    class DownTwice(FlakyIngest):
        failures = 2  # both stay pending (an outage)

    lms = intake(sessions, DownTwice)
    store = SqlLmsStore(sessions)
    source = store.source_by_name("lrs")
    assert source is not None
    lms.receive_statements(source, completed("old@example.edu"))
    lms.receive_statements(source, completed("new@example.edu"))
    (older,) = store.pending_achievements(1)
    assert older.recipient_email == "old@example.edu"
    now = datetime.now(UTC)
    assert store.failed_attempt(older.achievement_id, problem="", max_attempts=5, now=now) == 1
    (first,) = store.pending_achievements(1)
    assert first.recipient_email == "new@example.edu"


def test_one_statement_from_many_callers_at_once_is_stored_once(
    sessions: sessionmaker[Session],
) -> None:
    lms = intake(sessions)
    source = SqlLmsStore(sessions).source_by_name("lrs")
    assert source is not None
    body = completed("bo@example.edu")
    with ThreadPoolExecutor(CALLERS) as pool:
        results = list(pool.map(lambda _: lms.receive_statements(source, body), range(CALLERS)))
    assert sum(r.new for r in results) == 1
    assert rows(sessions, tables.LmsStatement) == 1
    assert [s for s, _ in statuses(sessions)] == ["issued"]
    assert rows(sessions, tables.Certificate) == 1


def test_requirements_met_in_two_concurrent_requests_fire_once(
    sessions: sessionmaker[Session],
) -> None:
    """Each request reads the actor's history before storing its own statement: without a
    per-actor lock both can miss the other's, and the programme is never earned."""
    lms = intake(sessions)
    rule = IssuanceRule(
        str(uuid.uuid4()),
        RuleKind.REQUIREMENTS_MET,
        "",
        "Programme",
        required_activities=frozenset({COURSE, EXAM}),
    )
    lms.create_rule(rule, request_id="")
    source = SqlLmsStore(sessions).source_by_name("lrs")
    assert source is not None
    rounds = 15
    with ThreadPoolExecutor(2) as pool:
        for n in range(rounds):
            email = f"cy{n}@example.edu"
            bodies = [completed(email), completed(email, EXAM)]
            list(pool.map(lambda body: lms.receive_statements(source, body), bodies))
    with sessions() as session:
        a = tables.LmsAchievement
        earned = session.scalar(
            select(func.count()).select_from(a).where(a.rule_id == rule.rule_id)
        )
    assert earned == rounds


def test_achievements_without_a_name_or_address_are_failed_with_why(
    sessions: sessionmaker[Session],
) -> None:
    lms = intake(sessions)
    source = SqlLmsStore(sessions).source_by_name("lrs")
    assert source is not None
    verb = {"id": "http://adlnet.gov/expapi/verbs/completed"}
    nameless = {"actor": {"mbox": "mailto:nn@example.edu"}, "verb": verb, "object": {"id": COURSE}}
    opaque = {
        "actor": {"account": {"homePage": "https://lms.example", "name": "u-77"}, "name": "Al"},
        "verb": verb,
        "object": {"id": COURSE},
    }
    ahead = {
        "actor": {"mbox": "mailto:fu@example.edu", "name": "Fu Ture"},
        "verb": verb,
        "object": {"id": COURSE},
        "timestamp": "2999-01-01T00:00:00Z",  # a sender's clock far ahead of ours
    }
    lms.receive_statements(source, json.dumps([nameless, opaque, ahead]).encode())
    with sessions() as session:
        a = tables.LmsAchievement
        found = {
            key: (status, problem.split(":")[0], day)
            for key, status, problem, day in session.execute(
                select(a.actor_key, a.status, a.problem, a.completion_date)
            )
        }
    today = datetime.now(UTC).date()
    assert found == {
        "mailto:nn@example.edu": ("failed", "NO_NAME", today),
        "account:https://lms.example|u-77": ("failed", "NO_EMAIL", today),
        "mailto:fu@example.edu": ("issued", "", today),
    }
    assert rows(sessions, tables.Certificate) == 1


def test_webhooks_are_refused_while_no_secret_key_is_set(sessions: sessionmaker[Session]) -> None:
    """An HMAC source created under a key, then the key unset: its secret would be derived
    from an empty key, which anyone who learns the source id can compute."""
    mapping = json.dumps(
        {
            "email": "/email",
            "name": "/name",
            "course_id": "/course",
            "event_type": "/type",
            "events": {"done": "completed"},
        }
    )
    ingest = Ingest(SqlIngestStore(sessions), ISSUER, max_rows=10)
    keyed = LmsIntake(SqlLmsStore(sessions), ingest, max_statements=10, secret_key=b"k")
    source = keyed.create_source(
        name="moodle", auth_kind=AuthKind.HMAC, mapping=mapping, request_id=""
    ).source
    keyed.create_rule(
        IssuanceRule(str(uuid.uuid4()), RuleKind.COMPLETED, COURSE, "Course 101"), request_id=""
    )
    body = json.dumps(
        {"email": "ed@example.edu", "name": "Ed", "course": COURSE, "type": "done"}
    ).encode()
    stamp = str(int(datetime.now(UTC).timestamp()))
    forged = signature_of(hmac_secret(b"", source.source_id), stamp, body)
    unkeyed = LmsIntake(SqlLmsStore(sessions), ingest, max_statements=10)
    with pytest.raises(NotConfigured):
        unkeyed.receive_webhook("moodle", body, signature=f"t={stamp},v1={forged}")
    assert rows(sessions, tables.LmsStatement) == 0
    # under its key the same event is taken
    genuine = signature_of(hmac_secret(b"k", source.source_id), stamp, body)
    assert keyed.receive_webhook("moodle", body, signature=f"t={stamp},v1={genuine}").new == 1


class LateStore(SqlLmsStore):
    """A twin call with the same request id commits between our look-up and our insert."""

    late = False  # the next look-up misses the twin's source (then it is committed)

    def source_for_request(self, request_id: str) -> Source | None:
        if self.late:
            self.late = False
            return None
        return super().source_for_request(request_id)


@pytest.mark.parametrize("kind", [AuthKind.BASIC, AuthKind.HMAC])
def test_a_retried_create_source_never_shows_a_secret_again(
    sessions: sessionmaker[Session], kind: AuthKind
) -> None:
    """A secret is shown once: a retry by request id showed an HMAC source's again, and a twin
    racing the first call was shown its own generated secret, which is not the stored one."""
    mapping = json.dumps(
        {"email": "/e", "course_id": "/c", "event_type": "/t", "events": {"d": "completed"}}
    )
    store = LateStore(sessions)
    ingest = Ingest(SqlIngestStore(sessions), ISSUER, max_rows=10)
    lms = LmsIntake(store, ingest, max_statements=10, secret_key=b"k")

    def create() -> CreatedSource:
        return lms.create_source(name="lrs", auth_kind=kind, mapping=mapping, request_id="req-1")

    first = create()
    assert first.secret
    again = create()
    assert again.source.source_id == first.source.source_id and again.secret == ""
    store.late = True
    twin = create()
    assert twin.source.source_id == first.source.source_id and twin.secret == ""


def test_names_and_ids_with_a_nul_are_unknown_not_a_database_error(
    sessions: sessionmaker[Session],
) -> None:
    """A source name from a Basic user name or the webhook path, a rule id from a gRPC field:
    looked up as sent, PostgreSQL refused the NUL (psycopg DataError: a 500 / INTERNAL)."""
    lms = intake(sessions, secret_key=b"k")
    with pytest.raises(Unauthenticated):
        lms.authenticate(basic=("lrs\x00", "secret"), bearer=None)
    with pytest.raises(Unauthenticated):
        lms.receive_webhook("lrs\x00", b"{}", signature="t=1,v1=00")
    with pytest.raises(NotFound):
        lms.disable_source("lrs\x00")
    with pytest.raises(NotFound):
        lms.disable_rule("r\x00")
    with pytest.raises(NotFound):
        lms.test_rule("r\x00", completed("a@example.edu"))


def test_a_request_reads_each_actor_s_history_once(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read again for every statement, 500 statements of an actor with 5,000 stored records
    took over a minute; the statements of the request itself still count (the third session
    in the same request reaches an attended rule's minimum of three)."""
    lms = intake(sessions)
    workshop = "https://lms.example/workshop/3"
    lms.create_rule(
        IssuanceRule(str(uuid.uuid4()), RuleKind.ATTENDED, workshop, "Workshop", min_sessions=3),
        request_id="",
    )
    source = SqlLmsStore(sessions).source_by_name("lrs")
    assert source is not None
    reads: list[str] = []
    history = SqlLmsWrites.history

    def counted(self: SqlLmsWrites, actor_key: str) -> list[Any]:
        reads.append(actor_key)
        return history(self, actor_key)

    monkeypatch.setattr(SqlLmsWrites, "history", counted)

    def attended(email: str) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "actor": {"mbox": f"mailto:{email}", "name": "Ada Lovelace"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/attended"},
            "object": {"id": workshop},
        }

    body = [attended("ab@example.edu") for _ in range(3)] + [attended("cd@example.edu")]
    body.append(json.loads(completed("cd@example.edu")))
    assert lms.receive_statements(source, json.dumps(body).encode()).new == 5
    assert sorted(reads) == ["mailto:ab@example.edu", "mailto:cd@example.edu"]
    with sessions() as session:
        a = tables.LmsAchievement
        earned = set(session.execute(select(a.actor_key, a.status)))
    assert earned == {("mailto:ab@example.edu", "issued"), ("mailto:cd@example.edu", "issued")}
