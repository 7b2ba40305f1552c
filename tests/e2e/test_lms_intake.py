"""LMS intake on the real stack: xAPI statements and signed webhook events issue exactly the
certificates the issuance rules say (VALID once anchored), and hostile requests are refused with
a clear 4xx and nothing half-stored (counted in ingest's database). SQLite and PostgreSQL."""

import base64
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from sqlalchemy import Engine, text

from certflow.platform.db.engine import make_engine
from certflow.v1 import ingest_service_pb2 as pb
from devstack.client import StackClient, status_name
from devstack.processes import free_port
from devstack.stack import SERVICES, LocalStack, StackOptions
from tests.conftest import BACKENDS, discard_database, fresh_database_url
from tests.e2e.test_cli import base_env, certflow

COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
PASSED = "http://adlnet.gov/expapi/verbs/passed"
ATTENDED = "http://adlnet.gov/expapi/verbs/attended"
COURSE = "https://lms.example/course/101"
EXAM = "https://lms.example/exam/7"
WORKSHOP = "https://lms.example/workshop/3"
BASICS = "https://lms.example/course/basics"
FINAL = "https://lms.example/exam/final"
LATER = "https://lms.example/course/later"
MOODLE_MAPPING = {
    "email": "/other/user/email",
    "name": "/other/user/fullname",
    "course_id": "/courseid",
    "event_type": "/eventname",
    "event_id": "/other/id",
    "timestamp": "/timecreated",
    "events": {"\\core\\event\\course_completed": "completed"},
    "activity_prefix": "moodle:course:",
}


@dataclass
class Lms:
    url: str
    basic: str  # Authorization header values
    bearer: str
    hmac_secret: str
    rules: dict[str, str]  # title → rule id
    engine: Engine


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request, tmp_path_factory) -> Iterator[LocalStack]:
    state = tmp_path_factory.mktemp(f"lms-{request.param}")
    url = fresh_database_url(request.param, state)
    port = free_port()
    env = {
        "CERTFLOW_LMS_HTTP_HOST": "127.0.0.1",
        "CERTFLOW_LMS_HTTP_PORT": str(port),
        "CERTFLOW_LMS_SECRET_KEY": "e2e-lms-secret-key",
        "CERTFLOW_LMS_RETRY_SECONDS": "1",
    }
    options = StackOptions(
        state_dir=state, database_url=url, window_max_age_seconds=0.3, service_env=env
    )
    with LocalStack(options) as running:
        yield running
    discard_database(url)


@pytest.fixture(scope="module")
def client(stack) -> Iterator[StackClient]:
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    yield client
    client.close()


def rpc(client: StackClient, method: str, request):
    return getattr(client.ingest, method)(request, metadata=client._metadata, timeout=30)


def new_source(client: StackClient, name: str, kind: pb.SourceAuthKind, mapping: str = "") -> str:
    created = rpc(
        client,
        "CreateSource",
        pb.CreateSourceRequest(
            request_id=f"src-{name}", name=name, auth_kind=kind, mapping_json=mapping
        ),
    )
    assert created.source.name == name and created.secret
    return created.secret


def new_rule(client: StackClient, **fields) -> str:
    created = rpc(
        client,
        "CreateIssuanceRule",
        pb.CreateIssuanceRuleRequest(
            request_id=f"rule-{fields['title']}", rule=pb.IssuanceRule(**fields)
        ),
    )
    return created.rule.rule_id


@pytest.fixture(scope="module")
def lms(stack, client) -> Iterator[Lms]:
    basic_secret = new_source(client, "academy-lrs", pb.SOURCE_AUTH_KIND_BASIC)
    bearer_secret = new_source(client, "other-lrs", pb.SOURCE_AUTH_KIND_BEARER)
    hmac_secret = new_source(client, "moodle", pb.SOURCE_AUTH_KIND_HMAC, json.dumps(MOODLE_MAPPING))
    rules = {
        "Course 101": new_rule(
            client, kind=pb.ISSUANCE_RULE_KIND_COMPLETED, activity_id=COURSE, title="Course 101"
        ),
        "Exam 7": new_rule(
            client,
            kind=pb.ISSUANCE_RULE_KIND_PASSED,
            activity_id=EXAM,
            min_score_scaled=0.8,
            title="Exam 7",
        ),
        "Workshop": new_rule(
            client,
            kind=pb.ISSUANCE_RULE_KIND_ATTENDED,
            activity_id=WORKSHOP,
            min_sessions=2,
            title="Workshop",
        ),
        "Programme": new_rule(
            client,
            kind=pb.ISSUANCE_RULE_KIND_REQUIREMENTS_MET,
            required_activity_ids=[BASICS, FINAL],
            title="Programme",
        ),
        "Moodle 42": new_rule(
            client,
            kind=pb.ISSUANCE_RULE_KIND_COMPLETED,
            activity_id="moodle:course:42",
            title="Moodle 42",
        ),
        "Later": new_rule(
            client,
            kind=pb.ISSUANCE_RULE_KIND_COMPLETED,
            activity_id=LATER,
            title="Later",
            mode=pb.ISSUANCE_MODE_COLLECTED,
        ),
    }
    basic = "Basic " + base64.b64encode(f"academy-lrs:{basic_secret}".encode()).decode()
    engine = make_engine(stack.database_url_of("ingest"))
    port = stack.options.service_env["CERTFLOW_LMS_HTTP_PORT"]
    yield Lms(
        f"http://127.0.0.1:{port}", basic, f"Bearer {bearer_secret}", hmac_secret, rules, engine
    )
    engine.dispose()


def statement(
    email: str | None, verb: str, activity: str, *, score: float | None = None, **extra
) -> dict:
    body: dict = {
        "id": str(uuid.uuid4()),
        "verb": {"id": verb},
        "object": {"id": activity, "objectType": "Activity"},
    }
    if email is not None:
        body["actor"] = {"mbox": f"mailto:{email}", "name": email.split("@")[0].title()}
    if score is not None:
        body["result"] = {"score": {"scaled": score}, "success": True}
    return {**body, **extra}


def post(
    url: str, body: bytes, headers: dict[str, str], *, method: str = "POST"
) -> tuple[int, object]:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def post_statements(
    lms: Lms, payload: object, *, auth: str | None = None, raw: bytes | None = None
):
    headers = {
        "Content-Type": "application/json",
        "X-Experience-API-Version": "1.0.3",
        "Authorization": auth if auth is not None else lms.basic,
    }
    body = raw if raw is not None else json.dumps(payload).encode()
    return post(f"{lms.url}/xapi/statements", body, headers)


def signed(lms: Lms, body: bytes, *, stamp: int | None = None, secret: str | None = None) -> dict:
    moment = str(stamp if stamp is not None else int(time.time()))
    mac = hmac.new(
        (secret or lms.hmac_secret).encode(), moment.encode() + b"." + body, "sha256"
    ).hexdigest()
    return {"Content-Type": "application/json", "X-Certflow-Signature": f"t={moment},v1={mac}"}


def counts(lms: Lms) -> list[int]:
    """Rows in lms_statements, lms_achievements and certificates."""
    with lms.engine.connect() as connection:
        return [
            connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("lms_statements", "lms_achievements", "certificates")
        ]


def achievements(lms: Lms) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(email, title) → (status, certificate id)."""
    with lms.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT a.recipient_email, r.title, a.status, a.certificate_id "
                "FROM lms_achievements a JOIN issuance_rules r ON r.id = a.rule_id"
            )
        ).all()
    return {(email, title): (status, cid) for email, title, status, cid in rows}


def wait_valid(client: StackClient, certificate_id: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        verdict = status_name(client.verify_id(certificate_id).status)
        if verdict == "VALID":
            return
        assert time.monotonic() < deadline, f"{certificate_id} still {verdict}"
        time.sleep(0.3)


def wait_issued(lms: Lms, keys: set[tuple[str, str]], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = achievements(lms)
        if all(found.get(k, ("",))[0] == "issued" for k in keys):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.2)


def test_statements_issue_exactly_what_the_rules_say(lms: Lms, client: StackClient) -> None:
    ada = statement("ada@example.org", COMPLETED, COURSE)
    assert post_statements(lms, ada) == (200, [ada["id"]])
    batch = [
        statement("bob@example.org", PASSED, EXAM, score=0.9),
        statement("carl@example.org", PASSED, EXAM, score=0.5),  # failing score
        statement("dana@example.org", ATTENDED, WORKSHOP),
        statement("dana@example.org", ATTENDED, WORKSHOP),  # the second session: reached
        statement("eve@example.org", COMPLETED, BASICS),  # requirements partly met
        statement("fay@example.org", "http://adlnet.gov/expapi/verbs/experienced", COURSE),
        statement("gus@example.org", COMPLETED, LATER),  # collected: waits for a schedule
    ]
    status, ids = post_statements(lms, batch, auth=lms.bearer)
    assert status == 200 and ids == [s["id"] for s in batch]
    assert ("eve@example.org", "Programme") not in achievements(lms)
    eve = statement("eve@example.org", PASSED, FINAL, score=0.7)
    assert post_statements(lms, eve)[0] == 200
    before = counts(lms)
    # a replay is answered like the first time and changes nothing
    assert post_statements(lms, ada) == (200, [ada["id"]])
    assert post_statements(lms, batch, auth=lms.bearer)[0] == 200
    assert counts(lms) == before

    issued = {
        ("ada@example.org", "Course 101"),
        ("bob@example.org", "Exam 7"),
        ("dana@example.org", "Workshop"),
        ("eve@example.org", "Programme"),
    }
    found = wait_issued(lms, issued)
    assert set(found) == issued | {("gus@example.org", "Later")}
    assert found[("gus@example.org", "Later")] == ("collected", None)
    with lms.engine.connect() as connection:
        stored = connection.execute(
            text(
                "SELECT c.id, c.recipient_email, c.title FROM certificates c "
                "JOIN batches b ON b.id = c.batch_id WHERE b.source = 'lms'"
            )
        ).all()
    assert {(email, title) for _, email, title in stored} == issued
    assert len(stored) == len(issued)  # one certificate each, never twice
    for certificate_id, _, _ in stored:
        wait_valid(client, certificate_id)


def test_a_signed_webhook_issues_and_a_bad_signature_stores_nothing(
    lms: Lms, client: StackClient
) -> None:
    event = {
        "eventname": "\\core\\event\\course_completed",
        "courseid": 42,
        "timecreated": int(time.time()),
        "other": {"id": 9001, "user": {"email": "hal@example.org", "fullname": "Hal Jordan"}},
    }
    body = json.dumps(event).encode()
    url = f"{lms.url}/webhooks/moodle"
    before = counts(lms)
    forged = signed(lms, body, secret="not-the-secret")
    assert post(url, body, forged)[0] == 401
    assert post(url, body, {"Content-Type": "application/json"})[0] == 401
    stale = signed(lms, body, stamp=int(time.time()) - 3600)
    assert post(url, body, stale) == (
        401,
        {"error": "SIGNATURE_EXPIRED", "message": "the signature's time is more than 300 s off"},
    )
    tampered = body.replace(b"hal@", b"mallory@")
    assert post(url, tampered, signed(lms, body))[0] == 401
    assert post(f"{lms.url}/webhooks/academy-lrs", body, signed(lms, body))[0] == 401
    # a header with non-ASCII text (latin-1 on the wire) was a 500: compare_digest's TypeError
    not_ascii = {"X-Certflow-Signature": f"t={int(time.time())},v1=\u00e9"}
    assert post(url, body, not_ascii) == (
        401,
        {"error": "UNAUTHENTICATED", "message": "unknown source or bad signature"},
    )
    assert counts(lms) == before

    status, answer = post(url, body, signed(lms, body))
    assert status == 200 and answer["new"] == 1  # type: ignore[index]
    # the same event again (Moodle retries): stored once, issued once
    status, answer = post(url, body, signed(lms, body))
    assert status == 200 and answer["new"] == 0  # type: ignore[index]
    found = wait_issued(lms, {("hal@example.org", "Moodle 42")})
    certificate_id = found[("hal@example.org", "Moodle 42")][1]
    assert certificate_id
    wait_valid(client, certificate_id)


def test_hostile_requests_get_a_clear_4xx_and_store_nothing(lms: Lms) -> None:
    before = counts(lms)
    good = statement("ivy@example.org", COMPLETED, COURSE)

    def refused(payload: object = None, *, raw: bytes | None = None, auth: str | None = None):
        status, answer = post_statements(lms, payload, raw=raw, auth=auth)
        assert isinstance(answer, dict), answer
        return status, answer["error"]

    assert refused(raw=b'{"actor": ') == (400, "MALFORMED_JSON")
    assert refused(raw=b"[" * 100_000) == (400, "MALFORMED_JSON")
    assert refused([]) == (400, "NO_STATEMENTS")
    assert refused([{}] * 10_000) == (400, "TOO_MANY_STATEMENTS")
    no_actor = {
        k: v for k, v in statement("x@example.org", COMPLETED, COURSE).items() if k != "actor"
    }
    assert refused(no_actor) == (400, "INVALID_STATEMENT")
    # one bad statement refuses its whole batch: the good one beside it is not stored
    assert refused([good, no_actor]) == (400, "INVALID_STATEMENT")
    wrong_types = [
        {**good, "verb": "completed"},
        {**good, "object": {"id": 42}},
        {**good, "actor": {"mbox": "ivy@example.org"}},
        {
            **good,
            "actor": {"mbox": "mailto:a@b.c", "account": {"homePage": "https://x", "name": "a"}},
        },
        {**good, "result": {"score": {"scaled": "high"}}},
        {**good, "result": {"score": {"scaled": 1.5}}},
        {**good, "result": {"success": "yes"}},
        {**good, "id": "not-a-uuid"},
        {**good, "timestamp": "yesterday"},
    ]
    for bad in wrong_types:
        assert refused(bad) == (400, "INVALID_STATEMENT"), bad
    status, answer = post_statements(lms, [good, *wrong_types])
    assert status == 400 and isinstance(answer, dict)
    assert len(answer["message"].split("; ")) == len(wrong_types)
    oversized = json.dumps({**good, "context": {"extensions": {"x": "a" * 1_100_000}}}).encode()
    assert refused(raw=oversized) == (413, "BODY_TOO_LARGE")
    assert refused(good, auth="Basic " + base64.b64encode(b"academy-lrs:wrong").decode()) == (
        401,
        "UNAUTHENTICATED",
    )
    assert refused(good, auth="Bearer wrong") == (401, "UNAUTHENTICATED")
    assert refused(good, auth="") == (401, "UNAUTHENTICATED")
    no_version = {"Authorization": lms.basic, "Content-Type": "application/json"}
    status, answer = post(f"{lms.url}/xapi/statements", json.dumps(good).encode(), no_version)
    assert (status, answer["error"]) == (400, "XAPI_VERSION_REQUIRED")  # type: ignore[index]
    request = urllib.request.Request(
        f"{lms.url}/xapi/statements", data=b"{}", headers=no_version, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as answered:
        urllib.request.urlopen(request, timeout=30)
    assert answered.value.headers["X-Experience-API-Version"] == "1.0.3"
    # the same statement id with other content is a conflict, not a replay
    assert post_statements(lms, good)[0] == 200
    changed = {**good, "object": {"id": EXAM}}
    assert refused(changed) == (409, "STATEMENT_ID_REUSED")
    after = counts(lms)
    assert after[0] == before[0] + 1  # only the good statement
    wait_issued(lms, {("ivy@example.org", "Course 101")})


def test_sources_and_rules_are_managed_over_grpc(lms: Lms, client: StackClient) -> None:
    listed = rpc(client, "ListSources", pb.ListSourcesRequest())
    assert {s.name for s in listed.sources} >= {"academy-lrs", "other-lrs", "moodle"}
    assert all("secret" not in s.mapping_json for s in listed.sources)
    again = rpc(
        client,
        "CreateSource",
        pb.CreateSourceRequest(
            request_id="src-other-lrs", name="other-lrs", auth_kind=pb.SOURCE_AUTH_KIND_BEARER
        ),
    )
    assert again.secret == ""  # a retry never shows a stored-as-hash secret again
    with pytest.raises(grpc.RpcError) as taken:
        rpc(
            client,
            "CreateSource",
            pb.CreateSourceRequest(name="moodle", auth_kind=pb.SOURCE_AUTH_KIND_BASIC),
        )
    assert taken.value.code() == grpc.StatusCode.ALREADY_EXISTS
    for name, kind in [
        ("../moodle", pb.SOURCE_AUTH_KIND_BASIC),
        ("moodle-ü", pb.SOURCE_AUTH_KIND_BASIC),
        ("-lead", pb.SOURCE_AUTH_KIND_BASIC),
        ("x" * 65, pb.SOURCE_AUTH_KIND_BASIC),
        ("no-mapping", pb.SOURCE_AUTH_KIND_HMAC),
        ("no-kind", pb.SOURCE_AUTH_KIND_UNSPECIFIED),
    ]:
        with pytest.raises(grpc.RpcError) as bad:
            rpc(client, "CreateSource", pb.CreateSourceRequest(name=name, auth_kind=kind))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT, name
    with pytest.raises(grpc.RpcError) as unsound:
        new_rule(
            client,
            kind=pb.ISSUANCE_RULE_KIND_PASSED,
            activity_id=EXAM,
            title="x",
            min_score_scaled=2,
        )
    assert unsound.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    before = counts(lms)
    sample = statement("jo@example.org", PASSED, EXAM, score=0.6)
    tested = rpc(
        client,
        "TestIssuanceRule",
        pb.TestIssuanceRuleRequest(rule_id=lms.rules["Exam 7"], statement_json=json.dumps(sample)),
    )
    assert (tested.fires, tested.reason) == (False, "score 0.6 below minimum 0.8")
    sample["result"]["score"]["scaled"] = 0.95
    tested = rpc(
        client,
        "TestIssuanceRule",
        pb.TestIssuanceRuleRequest(rule_id=lms.rules["Exam 7"], statement_json=json.dumps(sample)),
    )
    assert tested.fires
    assert counts(lms) == before  # a test stores and issues nothing

    rule = rpc(
        client, "DisableIssuanceRule", pb.DisableIssuanceRuleRequest(rule_id=lms.rules["Exam 7"])
    )
    assert rule.rule.disabled
    assert post_statements(lms, sample, auth=lms.bearer)[0] == 200
    assert ("jo@example.org", "Exam 7") not in achievements(lms)
    listed_rules = rpc(client, "ListIssuanceRules", pb.ListIssuanceRulesRequest(page_size=2))
    assert len(listed_rules.rules) == 2 and listed_rules.next_page_token

    disabled = rpc(client, "DisableSource", pb.DisableSourceRequest(name="other-lrs"))
    assert disabled.source.disabled
    fresh = statement("kim@example.org", COMPLETED, COURSE)
    assert post_statements(lms, fresh, auth=lms.bearer)[0] == 401


def test_the_cli_manages_sources_and_rules(lms: Lms, stack: LocalStack, tmp_path: Path) -> None:
    env = {
        **base_env(tmp_path),
        "CERTFLOW_INGEST_ADDRESS": stack.target("ingest"),
        "CERTFLOW_INTERNAL_TOKEN": stack.token,
    }
    created = certflow("sources", "create", "cli-lrs", "--auth", "bearer", "--json", env=env)
    assert created.code == 0, created.stderr
    secret = created.json()["secret"]
    assert len(secret) >= 40
    listed = certflow("sources", "list", "--json", env=env)
    assert listed.code == 0, listed.stderr
    assert "cli-lrs" in {s["name"] for s in listed.json()["sources"]}
    assert secret not in listed.stdout
    assert certflow("sources", "create", "cli-lrs", "--auth", "basic", env=env).code == 8

    rule = certflow(
        "rules", "create", "--kind", "passed", "--activity", "https://lms.example/cli",
        "--min-score", "0.5", "--title", "CLI exam", "--json", env=env,
    )  # fmt: skip
    assert rule.code == 0, rule.stderr
    rule_id = rule.json()["rule"]["rule_id"]
    sample = tmp_path / "statement.json"
    failing = statement("lee@example.org", PASSED, "https://lms.example/cli", score=0.4)
    sample.write_text(json.dumps(failing))
    tested = certflow("rules", "test", rule_id, str(sample), env=env)
    assert (tested.code, tested.stdout.strip()) == (
        0,
        "does not fire: score 0.4 below minimum 0.5",
    )
    sample.write_text("{not json")
    assert certflow("rules", "test", rule_id, str(sample), env=env).code == 4
    sample.write_text(json.dumps({**failing, "actor": None}))
    refused = certflow("rules", "test", rule_id, str(sample), env=env)
    assert refused.code == 4 and "actor" in refused.stderr
    assert certflow("rules", "test", "no-such-rule", str(sample), env=env).code == 6
    rules_listed = certflow("rules", "list", "--json", env=env).json()["rules"]
    assert "CLI exam" in {r["title"] for r in rules_listed}
    assert certflow("rules", "disable", rule_id, env=env).code == 0
    assert certflow("sources", "disable", "cli-lrs", env=env).code == 0
    assert certflow("sources", "disable", "no-such-source", env=env).code == 6
