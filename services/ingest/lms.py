"""LMS intake use cases: sources, issuance rules, xAPI statements and webhook events.

Knows no HTTP, gRPC or SQL (lms_http.py, the servicer and lms_store.py do). A request's
statements, and the achievements the rules decide from them, are written in ONE transaction;
an immediate achievement is issued afterwards through `Ingest.issue_one` with a request id
derived from (source, rule, actor), so a crash in between leaves it pending and the retry loop
issues it exactly once. Secrets: a basic/bearer source keeps the SHA-256 of a generated
256-bit secret (shown once, at creation); an HMAC source's secret is derived from the
CERTFLOW_LMS_SECRET_KEY setting and the source id, so it is never stored. Neither is logged.
"""

import hashlib
import hmac
import json
import logging
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Protocol

import orjson

from certflow.core.errors import (
    Conflict,
    DomainError,
    FieldViolation,
    InvalidInput,
    NotFound,
    Unavailable,
    invalid_field,
)
from certflow.core.json_limits import JsonTooDeep, check_json_depth
from certflow.core.validation import MAX_EMAIL_LENGTH, MAX_NAME_LENGTH
from services.ingest.issuance_rules import (
    MAX_ACTIVITY_ID,
    Evidence,
    IssuanceRule,
    IssueMode,
    RuleKind,
    RuleOutcome,
    Verb,
    check_rule,
    evaluate,
    fired_rules,
)
from services.ingest.usecases import Ingest, WriteRace
from services.ingest.xapi import Statement, parse_statements

log = logging.getLogger(__name__)

# the HTTP Basic user name and the webhook path segment: nothing to escape in either
_SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
WRITE_ATTEMPTS = 3


class AuthKind(StrEnum):
    BASIC = "basic"  # HTTP Basic: the source's name and its secret
    BEARER = "bearer"  # Authorization: Bearer <secret>
    HMAC = "hmac"  # webhooks: HMAC-SHA256 of the timestamp and raw body


class AchievementStatus(StrEnum):
    PENDING = "pending"  # immediate, not issued yet (issued right after, or by the retry loop)
    COLLECTED = "collected"  # waits for a scheduled batch (the scheduler is not built yet)
    ISSUED = "issued"
    FAILED = "failed"  # cannot be issued as it stands (no email, no name, refused content)


class NotConfigured(DomainError):
    """A setting the request needs is missing (FAILED_PRECONDITION)."""


class Unauthenticated(DomainError):
    """Credentials missing, wrong, or of a disabled source: 401, nothing stored."""


@dataclass(frozen=True, slots=True)
class WebhookMapping:
    """Where a source's completion event keeps what a rule needs: JSON pointers (RFC 6901)."""

    email: str
    course_id: str
    event_type: str
    # event type value → the verb it means (e.g. "\\core\\event\\course_completed" → completed)
    events: Mapping[str, Verb]
    name: str = ""
    event_id: str = ""  # "" : the raw body's SHA-256 identifies the event
    score_scaled: str = ""
    timestamp: str = ""  # ISO 8601 text or Unix seconds
    activity_prefix: str = ""  # prefixed to the course id to make the rule's activity id


@dataclass(frozen=True, slots=True)
class Source:
    source_id: str
    name: str
    auth_kind: AuthKind
    secret_sha256: str
    mapping: WebhookMapping | None
    created_at: datetime
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class CreatedSource:
    source: Source
    secret: str  # shown once


@dataclass(frozen=True, slots=True)
class StoredRule:
    rule: IssuanceRule
    created_at: datetime
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class NewAchievement:
    achievement_id: str
    rule_id: str
    actor_key: str
    source_id: str
    statement_id: str
    request_id: str
    recipient_email: str
    recipient_name: str
    completion_date: date
    title: str
    status: AchievementStatus
    problem: str = ""


@dataclass(frozen=True, slots=True)
class StoredStatements:
    statement_ids: list[str]
    new: int
    replayed: int
    achievements: list[NewAchievement] = field(default_factory=list)


Decide = Callable[[Statement, Sequence[Evidence], Sequence[IssuanceRule]], list[NewAchievement]]


class LmsWrites(Protocol):
    def lock_actors(self, actor_keys: Sequence[str]) -> None:
        """Holds off other requests about these actors until this transaction ends."""

    def stored_digest(self, statement_id: str) -> str | None:
        """The SHA-256 of a stored statement's raw text, None when it is not stored."""

    def history(self, actor_key: str) -> list[Evidence]: ...

    def enabled_rules(self) -> list[IssuanceRule]: ...

    def add_statement(self, source_id: str, statement: Statement, digest: str) -> None: ...

    def add_achievements(self, achievements: Sequence[NewAchievement]) -> list[NewAchievement]:
        """Stores those whose (rule, actor) has none yet; returns them."""


class LmsStore(Protocol):
    def transaction(self) -> AbstractContextManager[LmsWrites]: ...

    def add_source(self, source: Source, request_id: str) -> Source | None:
        """None when the name is taken; the source stored earlier with this request id."""

    def source_for_request(self, request_id: str) -> Source | None: ...

    def source_by_name(self, name: str) -> Source | None: ...

    def source_by_secret(self, secret_sha256: str) -> Source | None: ...

    def sources(self, *, offset: int, limit: int) -> list[Source]: ...

    def disable_source(self, name: str, now: datetime) -> Source | None: ...

    def add_rule(self, rule: IssuanceRule, request_id: str, now: datetime) -> StoredRule: ...

    def rule(self, rule_id: str) -> StoredRule | None: ...

    def rules(self, *, offset: int, limit: int) -> list[StoredRule]: ...

    def disable_rule(self, rule_id: str, now: datetime) -> StoredRule | None: ...

    def history(self, actor_key: str) -> list[Evidence]: ...

    def pending_achievements(self, limit: int) -> list[NewAchievement]: ...

    def settle_achievement(
        self,
        achievement_id: str,
        status: AchievementStatus,
        *,
        certificate_id: str | None,
        problem: str,
        now: datetime,
    ) -> None: ...

    def failed_attempt(
        self, achievement_id: str, *, problem: str, max_attempts: int, now: datetime
    ) -> int:
        """Counts an attempt that hit an unexpected error; at `max_attempts` the achievement
        is failed with `problem`. The count, 0 when it is no longer pending."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hmac_secret(master_key: bytes, source_id: str) -> str:
    """An HMAC source's webhook secret: derived, so nothing secret is stored per source."""
    return hmac.new(
        master_key, b"certflow-lms-webhook\n" + source_id.encode(), "sha256"
    ).hexdigest()


def achievement_request_id(source_id: str, rule_id: str, actor_key: str) -> str:
    digest = hashlib.sha256(f"{source_id}\n{rule_id}\n{actor_key}".encode()).hexdigest()
    return f"lms-{digest[:60]}"


def signature_of(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, "sha256").hexdigest()


def check_signature(
    secret: str, body: bytes, header: str | None, *, now: float, tolerance: float
) -> None:
    """Unauthenticated unless `header` (t=<unix seconds>,v1=<hex>) signs `body` with `secret`
    at a time within `tolerance` seconds of `now`."""
    parts = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    # ASCII only: compare_digest raises TypeError on other text, and isdigit() takes digits
    # int() does not ("²")
    if not (stamp.isascii() and stamp.isdigit() and given.isascii() and given):
        raise Unauthenticated("UNAUTHENTICATED", "unknown source or bad signature")
    if not hmac.compare_digest(signature_of(secret, stamp, body), given.lower()):
        raise Unauthenticated("UNAUTHENTICATED", "unknown source or bad signature")
    # checked after the signature: an old but genuine request is a replay, said so
    if abs(now - int(stamp)) > tolerance:
        raise Unauthenticated(
            "SIGNATURE_EXPIRED", f"the signature's time is more than {tolerance:.0f} s off"
        )


class LmsIntake:
    def __init__(
        self,
        store: LmsStore,
        ingest: Ingest,
        *,
        max_statements: int,
        secret_key: bytes = b"",
        signature_tolerance_seconds: float = 300.0,
        issue_attempts: int = 10,
        clock: Callable[[], datetime] = _utcnow,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._store = store
        self._ingest = ingest
        self._max_statements = max_statements
        self._secret_key = secret_key
        self._tolerance = signature_tolerance_seconds
        self._issue_attempts = issue_attempts
        self._clock = clock
        self._new_id = new_id

    # ---- sources ----

    def create_source(
        self, *, name: str, auth_kind: AuthKind, mapping: str, request_id: str
    ) -> CreatedSource:
        if request_id and (earlier := self._store.source_for_request(request_id)):
            # a secret is shown once (a basic/bearer one is not even kept): not to a retry
            return CreatedSource(earlier, "")
        if not _SOURCE_NAME.fullmatch(name):
            raise invalid_field("name", "ASCII letters, digits and '-' (not first), at most 64")
        if auth_kind is AuthKind.HMAC and not self._secret_key:
            raise NotConfigured(
                "LMS_SECRET_KEY_MISSING", "set CERTFLOW_LMS_SECRET_KEY to connect HMAC sources"
            )
        webhook = parse_mapping(mapping) if mapping else None
        if auth_kind is AuthKind.HMAC and webhook is None:
            raise invalid_field("mapping", "a webhook source needs its event mapping")
        source_id = self._new_id()
        secret = secrets.token_urlsafe(32) if auth_kind is not AuthKind.HMAC else ""
        source = Source(
            source_id=source_id,
            name=name,
            auth_kind=auth_kind,
            secret_sha256=secret_digest(secret) if secret else "",
            mapping=webhook,
            created_at=self._clock(),
        )
        stored = self._store.add_source(source, request_id)
        if stored is None:
            raise Conflict("SOURCE_EXISTS", f"a source named {name!r} exists")
        if stored.source_id != source_id:
            # a twin call with this request id stored its source first: our secret is not its
            return CreatedSource(stored, "")
        if auth_kind is AuthKind.HMAC:
            return CreatedSource(stored, hmac_secret(self._secret_key, source_id))
        return CreatedSource(stored, secret)

    def list_sources(self, *, offset: int, limit: int) -> list[Source]:
        return self._store.sources(offset=offset, limit=limit)

    def disable_source(self, name: str) -> Source:
        known = _SOURCE_NAME.fullmatch(name)  # others are not looked up (NUL breaks PostgreSQL)
        source = self._store.disable_source(name, self._clock()) if known else None
        if source is None:
            raise NotFound("SOURCE_NOT_FOUND", f"no source {name!r}")
        return source

    # ---- rules ----

    def create_rule(self, rule: IssuanceRule, *, request_id: str) -> StoredRule:
        problems = check_rule(rule)
        if problems:
            raise InvalidInput(
                "INVALID_RULE",
                "; ".join(f"{f}: {p}" for f, p in problems),
                [FieldViolation(f, p) for f, p in problems],
            )
        return self._store.add_rule(rule, request_id, self._clock())

    def list_rules(self, *, offset: int, limit: int) -> list[StoredRule]:
        return self._store.rules(offset=offset, limit=limit)

    def disable_rule(self, rule_id: str) -> StoredRule:
        rule = (
            None if _CONTROL.search(rule_id) else self._store.disable_rule(rule_id, self._clock())
        )
        if rule is None:
            raise NotFound("RULE_NOT_FOUND", f"no rule {rule_id!r}")
        return rule

    def test_rule(self, rule_id: str, statement_json: bytes) -> RuleOutcome:
        """The rule's outcome for a sample statement against the actor's stored history;
        nothing is stored."""
        stored = None if _CONTROL.search(rule_id) else self._store.rule(rule_id)
        if stored is None:
            raise NotFound("RULE_NOT_FOUND", f"no rule {rule_id!r}")
        (statement,) = parse_statements(statement_json, max_statements=1)
        history = self._store.history(statement.evidence.actor_key)
        (outcome,) = evaluate(statement.evidence, history, [stored.rule])
        return outcome

    # ---- intake ----

    def authenticate(self, *, basic: tuple[str, str] | None, bearer: str | None) -> Source:
        source: Source | None = None
        if basic is not None:
            source = self._source_named(basic[0])
            presented = secret_digest(basic[1])
            if source and source.auth_kind is not AuthKind.BASIC:
                source = None
            if source and not hmac.compare_digest(source.secret_sha256, presented):
                source = None
        elif bearer:
            source = self._store.source_by_secret(secret_digest(bearer))
            if source and source.auth_kind is not AuthKind.BEARER:
                source = None
        if source is None or not source.enabled:
            raise Unauthenticated("UNAUTHENTICATED", "wrong or missing credentials")
        return source

    def receive_statements(self, source: Source, body: bytes) -> StoredStatements:
        statements = parse_statements(body, max_statements=self._max_statements)
        return self._store_and_issue(source, statements)

    def receive_webhook(
        self, source_name: str, body: bytes, *, signature: str | None
    ) -> StoredStatements:
        if not self._secret_key:
            # every HMAC secret would be derived from an empty key: anyone could sign
            raise NotConfigured(
                "LMS_SECRET_KEY_MISSING", "webhooks are off: CERTFLOW_LMS_SECRET_KEY is not set"
            )
        source = self._source_named(source_name)
        if source is None or source.auth_kind is not AuthKind.HMAC or not source.enabled:
            raise Unauthenticated("UNAUTHENTICATED", "unknown source or bad signature")
        check_signature(
            hmac_secret(self._secret_key, source.source_id),
            body,
            signature,
            now=self._clock().timestamp(),
            tolerance=self._tolerance,
        )
        assert source.mapping is not None  # an HMAC source is created with its mapping
        statement = webhook_statement(source, source.mapping, body)
        return self._store_and_issue(source, [statement])

    def _source_named(self, name: str) -> Source | None:
        """None for a name no source can have, unlooked-up (NUL breaks PostgreSQL's text)."""
        return self._store.source_by_name(name) if _SOURCE_NAME.fullmatch(name) else None

    def _store_and_issue(self, source: Source, statements: list[Statement]) -> StoredStatements:
        stored = self._retrying(lambda: self._store_all(source, statements))
        self.issue(a for a in stored.achievements if a.status is AchievementStatus.PENDING)
        return stored

    def _store_all(self, source: Source, statements: list[Statement]) -> StoredStatements:
        new = replayed = 0
        achievements: list[NewAchievement] = []
        # each actor's history is read once a request and kept up to date here: read again for
        # every statement, 500 statements of an actor with 5,000 records took over a minute
        histories: dict[str, list[Evidence]] = {}
        with self._store.transaction() as tx:
            tx.lock_actors([s.evidence.actor_key for s in statements])
            rules = tx.enabled_rules()
            for statement in statements:
                digest = hashlib.sha256(statement.raw).hexdigest()
                known = tx.stored_digest(statement.evidence.statement_id)
                if known is not None:
                    if known != digest:
                        raise Conflict(
                            "STATEMENT_ID_REUSED",
                            f"statement {statement.evidence.statement_id} is stored with "
                            "other content",
                        )
                    replayed += 1
                    continue
                actor = statement.evidence.actor_key
                if actor not in histories:
                    histories[actor] = tx.history(actor)
                tx.add_statement(source.source_id, statement, digest)
                new += 1
                decided = self._decide(source, statement, histories[actor], rules)
                achievements += tx.add_achievements(decided)
                if statement.evidence.verb is not None:  # as tx.history reads them
                    histories[actor].append(statement.evidence)
        return StoredStatements(
            [s.evidence.statement_id for s in statements], new, replayed, achievements
        )

    def _decide(
        self,
        source: Source,
        statement: Statement,
        history: Sequence[Evidence],
        rules: Sequence[IssuanceRule],
    ) -> list[NewAchievement]:
        now = self._clock()
        when = statement.timestamp.astimezone(UTC) if statement.timestamp else now
        completed = min(when, now).date()  # a clock ahead of ours is not a future date
        decided = []
        for rule in fired_rules(statement.evidence, history, rules):
            status = (
                AchievementStatus.COLLECTED
                if rule.mode is IssueMode.COLLECTED
                else AchievementStatus.PENDING
            )
            problem = ""
            if not statement.email:
                status, problem = AchievementStatus.FAILED, "NO_EMAIL: the actor has no address"
            elif not statement.name:
                status, problem = AchievementStatus.FAILED, "NO_NAME: the statement names nobody"
            decided.append(
                NewAchievement(
                    achievement_id=self._new_id(),
                    rule_id=rule.rule_id,
                    actor_key=statement.evidence.actor_key,
                    source_id=source.source_id,
                    statement_id=statement.evidence.statement_id,
                    request_id=achievement_request_id(
                        source.source_id, rule.rule_id, statement.evidence.actor_key
                    ),
                    recipient_email=statement.email,
                    recipient_name=statement.name,
                    completion_date=completed,
                    title=rule.title,
                    status=status,
                    problem=problem,
                )
            )
        return decided

    def issue(self, achievements: Iterable[NewAchievement]) -> None:
        """Issues pending achievements by their request id, each on its own; one that the
        database cannot take now stays pending for the retry loop, one that hits an
        unexpected error too, until it has done so `issue_attempts` times (then failed)."""
        for achievement in achievements:
            try:
                self._issue(achievement)
            except Exception as exc:  # a bug: the statements are stored, the rest go on
                self._count_failed_attempt(achievement, exc)

    def _count_failed_attempt(self, achievement: NewAchievement, exc: Exception) -> None:
        problem = f"INTERNAL: {type(exc).__name__} on {self._issue_attempts} attempts; not retried"
        try:
            attempts = self._store.failed_attempt(
                achievement.achievement_id,
                problem=problem,
                max_attempts=self._issue_attempts,
                now=self._clock(),
            )
        except Exception:
            log.exception(
                "achievement %s: its failed attempt not counted", achievement.achievement_id
            )
            attempts = 0
        if attempts >= self._issue_attempts:
            log.error(
                "achievement %s failed on %d attempts; marked failed, not retried",
                achievement.achievement_id,
                attempts,
                exc_info=exc,
            )
        else:
            log.warning(
                "issuing achievement %s failed (attempt %d of %d); retried later",
                achievement.achievement_id,
                attempts,
                self._issue_attempts,
                exc_info=exc,
            )

    def _issue(self, achievement: NewAchievement) -> None:
        try:
            issued = self._ingest.issue_one(
                request_id=achievement.request_id,
                fields={
                    "name": achievement.recipient_name,
                    "email": achievement.recipient_email,
                    "title": achievement.title,
                    "completion_date": achievement.completion_date.isoformat(),
                    "expiry_date": "",
                },
                custom_fields={},
                source="lms",
            )
        except Unavailable:
            log.warning(
                "achievement %s stays pending: store unavailable", achievement.achievement_id
            )
            return
        except Conflict as exc:
            # issued before by another path (e.g. a CSV): that certificate is this one
            certificate_id = exc.metadata.get("certificate_id")
            status = AchievementStatus.ISSUED if certificate_id else AchievementStatus.FAILED
            self._store.settle_achievement(
                achievement.achievement_id,
                status,
                certificate_id=certificate_id,
                problem=f"{exc.reason}: {exc.message}",
                now=self._clock(),
            )
            return
        except InvalidInput as exc:
            self._store.settle_achievement(
                achievement.achievement_id,
                AchievementStatus.FAILED,
                certificate_id=None,
                problem=f"{exc.reason}: {exc.message}"[:2000],
                now=self._clock(),
            )
            return
        self._store.settle_achievement(
            achievement.achievement_id,
            AchievementStatus.ISSUED,
            certificate_id=issued.certificate_id,
            problem="",
            now=self._clock(),
        )

    def issue_pending(self, limit: int = 100) -> int:
        """The retry loop's step: pending achievements left by a crash, an outage or an
        unexpected error (each counted by `issue`)."""
        pending = self._store.pending_achievements(limit)
        self.issue(pending)
        return len(pending)

    def _retrying(self, write: Callable[[], StoredStatements]) -> StoredStatements:
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return write()
            except WriteRace:
                if attempt == WRITE_ATTEMPTS:
                    raise
                time.sleep(0.01 * attempt)
        raise AssertionError("unreachable")


# ---- webhook events ----


def parse_mapping(text: str) -> WebhookMapping:
    """A source's mapping from its JSON text; InvalidInput naming what is wrong."""
    try:
        raw = json.loads(text)
    except ValueError:
        raise invalid_field("mapping", "the mapping is JSON") from None
    if not isinstance(raw, dict):
        raise invalid_field("mapping", "the mapping is a JSON object")
    pointers = {}
    for key in (
        "email",
        "course_id",
        "event_type",
        "name",
        "event_id",
        "score_scaled",
        "timestamp",
    ):
        value = raw.get(key, "")
        if not isinstance(value, str) or (value and not value.startswith("/")):
            raise invalid_field(f"mapping.{key}", "a JSON pointer such as /user/email")
        pointers[key] = value
    for key in ("email", "course_id", "event_type"):
        if not pointers[key]:
            raise invalid_field(f"mapping.{key}", "required")
    events = raw.get("events")
    if not isinstance(events, dict) or not events:
        raise invalid_field("mapping.events", 'an object: event type → "completed"|"passed"|…')
    verbs = {}
    for event_type, verb in events.items():
        if verb not in {v.value for v in Verb}:
            raise invalid_field(
                f"mapping.events.{event_type}", "completed, passed, failed or attended"
            )
        verbs[event_type] = Verb(verb)
    prefix = raw.get("activity_prefix", "")
    if not isinstance(prefix, str) or len(prefix) > 200:
        raise invalid_field("mapping.activity_prefix", "a string of at most 200 characters")
    return WebhookMapping(events=verbs, activity_prefix=prefix, **pointers)


def mapping_json(mapping: WebhookMapping) -> str:
    return json.dumps(
        {
            "email": mapping.email,
            "course_id": mapping.course_id,
            "event_type": mapping.event_type,
            "events": {k: v.value for k, v in mapping.events.items()},
            "name": mapping.name,
            "event_id": mapping.event_id,
            "score_scaled": mapping.score_scaled,
            "timestamp": mapping.timestamp,
            "activity_prefix": mapping.activity_prefix,
        },
        sort_keys=True,
    )


_ABSENT = object()


def pointer(document: object, path: str) -> object:
    """RFC 6901: the value at `path`, or _ABSENT."""
    value = document
    for token in path.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return _ABSENT
    return value


def webhook_statement(source: Source, mapping: WebhookMapping, body: bytes) -> Statement:
    """A webhook event as the statement it stands for (verb from the event type)."""
    try:
        text = body.decode("utf-8")
        check_json_depth(text)
        event = orjson.loads(text)
    except (UnicodeDecodeError, orjson.JSONDecodeError, JsonTooDeep) as exc:
        raise InvalidInput("MALFORMED_JSON", f"the body is not valid JSON: {exc}") from None

    def text_at(key: str, path: str, *, required: bool, limit: int = MAX_ACTIVITY_ID) -> str:
        value = pointer(event, path) if path else _ABSENT
        if value is _ABSENT or value is None or value == "":
            if required:
                raise invalid_field(key, f"the event has nothing at {path}")
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise invalid_field(key, f"{path} is not text or a number")
        text = str(value).strip()
        if len(text) > limit:  # refused, not cut: a cut id or address is another one
            raise invalid_field(key, f"{path} is longer than {limit} characters")
        if _CONTROL.search(text):  # PostgreSQL's text cannot hold NUL (a 500)
            raise invalid_field(key, f"{path} contains a control character")
        return text

    email = text_at("email", mapping.email, required=True, limit=MAX_EMAIL_LENGTH)
    if "@" not in email:
        raise invalid_field("email", f"{mapping.email} is not an email address")
    event_type = text_at("event_type", mapping.event_type, required=True)
    course = text_at(
        "course_id",
        mapping.course_id,
        required=True,
        limit=MAX_ACTIVITY_ID - len(mapping.activity_prefix),
    )
    name = text_at("name", mapping.name, required=False, limit=MAX_NAME_LENGTH)
    event_id = text_at("event_id", mapping.event_id, required=False)
    scaled: float | None = None
    if mapping.score_scaled:
        raw_score = pointer(event, mapping.score_scaled)
        if raw_score is not _ABSENT and raw_score is not None:
            if isinstance(raw_score, bool) or not isinstance(raw_score, int | float):
                raise invalid_field("score_scaled", "a number from -1 to 1")
            if not -1 <= raw_score <= 1:
                raise invalid_field("score_scaled", "a number from -1 to 1")
            scaled = float(raw_score)
    timestamp = _event_time(text_at("timestamp", mapping.timestamp, required=False))
    identity = event_id or hashlib.sha256(body).hexdigest()
    statement_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"certflow:{source.source_id}:{identity}"))
    verb = mapping.events.get(event_type)
    return Statement(
        evidence=Evidence(
            statement_id=statement_id,
            actor_key=f"mailto:{email.lower()}",
            verb=verb,
            object_id=f"{mapping.activity_prefix}{course}",
            success=None,
            score_scaled=scaled,
        ),
        email=email,
        name=name,
        timestamp=timestamp,
        verb_iri=f"webhook:{event_type}"[:500],
        raw=orjson.dumps(event, option=orjson.OPT_SORT_KEYS),
    )


def _event_time(value: str) -> datetime | None:
    if not value:
        return None
    try:
        if value.isascii() and value.isdigit():
            return datetime.fromtimestamp(int(value), UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):  # not a time, or not one in years 1-9999
        raise invalid_field("timestamp", "ISO 8601 or Unix seconds, years 1 to 9999") from None


def rule_kind(value: str) -> RuleKind:
    try:
        return RuleKind(value)
    except ValueError:
        raise invalid_field("kind", "completed, passed, attended or requirements_met") from None


def issue_mode(value: str) -> IssueMode:
    try:
        return IssueMode(value or IssueMode.IMMEDIATE)
    except ValueError:
        raise invalid_field("mode", "immediate or collected") from None
