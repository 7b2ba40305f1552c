"""The SQL of LMS intake (behind `lms.LmsStore`): sources, rules, statements, achievements."""

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from services.ingest import tables
from services.ingest.issuance_rules import (
    MAX_SESSIONS,
    Evidence,
    IssuanceRule,
    IssueMode,
    RuleKind,
    Verb,
)
from services.ingest.lms import (
    AchievementStatus,
    AuthKind,
    NewAchievement,
    Source,
    StoredRule,
    mapping_json,
    parse_mapping,
)
from services.ingest.usecases import WriteRace
from services.ingest.xapi import Statement

# an actor's history is read whole for each statement: enough for any honest course, and
# well above the most sessions an attended rule may ask for (or it could never fire)
MAX_HISTORY = 5 * MAX_SESSIONS


class SqlLmsStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @contextmanager
    def transaction(self) -> Iterator["SqlLmsWrites"]:
        try:
            with self._sessions.begin() as session:
                yield SqlLmsWrites(session)
        except (IntegrityError, OperationalError) as exc:
            sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
            if isinstance(exc, IntegrityError) or sqlstate in {"40P01", "40001"}:
                # a concurrent request stored the same statement or achievement first
                raise WriteRace(type(exc).__name__) from exc
            raise

    # ---- sources ----

    def add_source(self, source: Source, request_id: str) -> Source | None:
        try:
            with self._sessions.begin() as session:
                session.add(
                    tables.LmsSource(
                        id=source.source_id,
                        name=source.name,
                        auth_kind=source.auth_kind.value,
                        secret_sha256=source.secret_sha256,
                        mapping=mapping_json(source.mapping) if source.mapping else "",
                        request_id=request_id or None,
                        created_at=source.created_at,
                    )
                )
        except IntegrityError:
            if request_id and (earlier := self.source_for_request(request_id)):
                return earlier
            return None
        return source

    def source_for_request(self, request_id: str) -> Source | None:
        return self._source(tables.LmsSource.request_id == request_id)

    def source_by_name(self, name: str) -> Source | None:
        return self._source(tables.LmsSource.name == name)

    def source_by_secret(self, secret_sha256: str) -> Source | None:
        return self._source(tables.LmsSource.secret_sha256 == secret_sha256)

    def _source(self, where: ColumnElement[bool]) -> Source | None:
        with self._sessions() as session:
            row = session.scalar(select(tables.LmsSource).where(where))
            return _source(row) if row else None

    def sources(self, *, offset: int, limit: int) -> list[Source]:
        with self._sessions() as session:
            rows = session.scalars(
                select(tables.LmsSource)
                .order_by(tables.LmsSource.created_at, tables.LmsSource.id)
                .offset(offset)
                .limit(limit)
            )
            return [_source(r) for r in rows]

    def disable_source(self, name: str, now: datetime) -> Source | None:
        with self._sessions.begin() as session:
            row = session.scalar(select(tables.LmsSource).where(tables.LmsSource.name == name))
            if row is None:
                return None
            row.disabled_at = row.disabled_at or now
            return _source(row)

    # ---- rules ----

    def add_rule(self, rule: IssuanceRule, request_id: str, now: datetime) -> StoredRule:
        if request_id and (earlier := self._rule_for_request(request_id)):
            return earlier
        try:
            with self._sessions.begin() as session:
                session.add(_rule_row(rule, request_id, now))
        except IntegrityError:
            if request_id and (earlier := self._rule_for_request(request_id)):
                return earlier
            raise
        return StoredRule(rule, now)

    def _rule_for_request(self, request_id: str) -> StoredRule | None:
        with self._sessions() as session:
            row = session.scalar(
                select(tables.IssuanceRuleRow).where(
                    tables.IssuanceRuleRow.request_id == request_id
                )
            )
            return _stored_rule(row) if row else None

    def rule(self, rule_id: str) -> StoredRule | None:
        with self._sessions() as session:
            row = session.get(tables.IssuanceRuleRow, rule_id)
            return _stored_rule(row) if row else None

    def rules(self, *, offset: int, limit: int) -> list[StoredRule]:
        with self._sessions() as session:
            rows = session.scalars(
                select(tables.IssuanceRuleRow)
                .order_by(tables.IssuanceRuleRow.created_at, tables.IssuanceRuleRow.id)
                .offset(offset)
                .limit(limit)
            )
            return [_stored_rule(r) for r in rows]

    def disable_rule(self, rule_id: str, now: datetime) -> StoredRule | None:
        with self._sessions.begin() as session:
            row = session.get(tables.IssuanceRuleRow, rule_id)
            if row is None:
                return None
            row.disabled_at = row.disabled_at or now
            return _stored_rule(row)

    # ---- statements and achievements ----

    def history(self, actor_key: str) -> list[Evidence]:
        with self._sessions() as session:
            return SqlLmsWrites(session).history(actor_key)

    def pending_achievements(self, limit: int) -> list[NewAchievement]:
        a, r = tables.LmsAchievement, tables.IssuanceRuleRow
        with self._sessions() as session:
            rows = session.execute(
                select(a, r.title)
                .join(r, r.id == a.rule_id)
                .where(a.status == AchievementStatus.PENDING.value)
                # the least tried first: a few that keep failing do not hold up the rest
                .order_by(a.issue_attempts, a.created_at)
                .limit(limit)
            ).all()
            return [_achievement(row, title) for row, title in rows]

    def settle_achievement(
        self,
        achievement_id: str,
        status: AchievementStatus,
        *,
        certificate_id: str | None,
        problem: str,
        now: datetime,
    ) -> None:
        a = tables.LmsAchievement
        with self._sessions.begin() as session:
            session.execute(
                update(a)
                .where(a.id == achievement_id, a.status == AchievementStatus.PENDING.value)
                .values(
                    status=status.value,
                    certificate_id=certificate_id,
                    problem=problem,
                    updated_at=now,
                )
            )

    def failed_attempt(
        self, achievement_id: str, *, problem: str, max_attempts: int, now: datetime
    ) -> int:
        a = tables.LmsAchievement
        with self._sessions.begin() as session:
            attempts = session.scalar(
                update(a)
                .where(a.id == achievement_id, a.status == AchievementStatus.PENDING.value)
                .values(issue_attempts=a.issue_attempts + 1, updated_at=now)
                .returning(a.issue_attempts)
            )
            if attempts is not None and attempts >= max_attempts:
                session.execute(
                    update(a)
                    .where(a.id == achievement_id)
                    .values(status=AchievementStatus.FAILED.value, problem=problem)
                )
            return attempts or 0


class SqlLmsWrites:
    def __init__(self, session: Session) -> None:
        self._session = session

    def lock_actors(self, actor_keys: Sequence[str]) -> None:
        """PostgreSQL: one request at a time per actor until commit, so two statements of one
        actor in concurrent requests each see the other (READ COMMITTED would let both miss
        it, and a requirements-met rule would never fire). Sorted: no lock-order deadlock.
        SQLite needs none: its transactions begin IMMEDIATE, one writer at a time."""
        if self._session.get_bind().dialect.name != "postgresql":
            return
        for key in sorted(set(actor_keys)):
            self._session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
            )

    def stored_digest(self, statement_id: str) -> str | None:
        return self._session.scalar(
            select(tables.LmsStatement.raw_sha256).where(
                tables.LmsStatement.statement_id == statement_id
            )
        )

    def history(self, actor_key: str) -> list[Evidence]:
        s = tables.LmsStatement
        rows = self._session.execute(
            select(s.statement_id, s.verb, s.object_id, s.success, s.score_scaled)
            .where(s.actor_key == actor_key, s.verb.is_not(None))
            .order_by(s.stored_at.desc())
            .limit(MAX_HISTORY)
        )
        return [
            Evidence(
                statement_id=statement_id,
                actor_key=actor_key,
                verb=Verb(verb) if verb else None,
                object_id=object_id,
                success=success,
                score_scaled=score,
            )
            for statement_id, verb, object_id, success, score in rows
        ]

    def enabled_rules(self) -> list[IssuanceRule]:
        rows = self._session.scalars(
            select(tables.IssuanceRuleRow).where(tables.IssuanceRuleRow.disabled_at.is_(None))
        )
        return [_rule(r) for r in rows]

    def add_statement(self, source_id: str, statement: Statement, digest: str) -> None:
        e = statement.evidence
        self._session.add(
            tables.LmsStatement(
                statement_id=e.statement_id,
                source_id=source_id,
                actor_key=e.actor_key,
                verb=e.verb.value if e.verb else None,
                verb_iri=statement.verb_iri,
                object_id=e.object_id,
                success=e.success,
                score_scaled=e.score_scaled,
                raw_sha256=digest,
                raw=statement.raw,
                stored_at=datetime.now(UTC),
            )
        )
        # flushed now: the next statement of this request reads it in the actor's history
        self._session.flush()

    def add_achievements(self, achievements: Sequence[NewAchievement]) -> list[NewAchievement]:
        a = tables.LmsAchievement
        added = []
        for achievement in achievements:
            exists = self._session.scalar(
                select(a.id).where(
                    a.rule_id == achievement.rule_id, a.actor_key == achievement.actor_key
                )
            )
            if exists:
                continue  # this actor earned it before: never twice
            now = datetime.now(UTC)
            self._session.add(
                a(
                    id=achievement.achievement_id,
                    rule_id=achievement.rule_id,
                    actor_key=achievement.actor_key,
                    source_id=achievement.source_id,
                    statement_id=achievement.statement_id,
                    request_id=achievement.request_id,
                    recipient_email=achievement.recipient_email,
                    recipient_name=achievement.recipient_name,
                    completion_date=achievement.completion_date,
                    status=achievement.status.value,
                    problem=achievement.problem,
                    created_at=now,
                    updated_at=now,
                )
            )
            self._session.flush()
            added.append(achievement)
        return added


def _source(row: tables.LmsSource) -> Source:
    return Source(
        source_id=row.id,
        name=row.name,
        auth_kind=AuthKind(row.auth_kind),
        secret_sha256=row.secret_sha256,
        mapping=parse_mapping(row.mapping) if row.mapping else None,
        created_at=row.created_at,
        enabled=row.disabled_at is None,
    )


def _rule_row(rule: IssuanceRule, request_id: str, now: datetime) -> tables.IssuanceRuleRow:
    return tables.IssuanceRuleRow(
        id=rule.rule_id,
        kind=rule.kind.value,
        activity_id=rule.activity_id,
        required_activities=json.dumps(sorted(rule.required_activities)),
        min_score_scaled=rule.min_score_scaled,
        min_sessions=rule.min_sessions,
        title=rule.title,
        template=rule.template,
        mode=rule.mode.value,
        request_id=request_id or None,
        created_at=now,
    )


def _rule(row: tables.IssuanceRuleRow) -> IssuanceRule:
    return IssuanceRule(
        rule_id=row.id,
        kind=RuleKind(row.kind),
        activity_id=row.activity_id,
        title=row.title,
        mode=IssueMode(row.mode),
        template=row.template,
        min_score_scaled=row.min_score_scaled,
        min_sessions=row.min_sessions,
        required_activities=frozenset(json.loads(row.required_activities)),
    )


def _stored_rule(row: tables.IssuanceRuleRow) -> StoredRule:
    return StoredRule(_rule(row), row.created_at, enabled=row.disabled_at is None)


def _achievement(row: tables.LmsAchievement, title: str) -> NewAchievement:
    return NewAchievement(
        achievement_id=row.id,
        rule_id=row.rule_id,
        actor_key=row.actor_key,
        source_id=row.source_id,
        statement_id=row.statement_id,
        request_id=row.request_id,
        recipient_email=row.recipient_email,
        recipient_name=row.recipient_name,
        completion_date=row.completion_date,
        title=title,
        status=AchievementStatus(row.status),
        problem=row.problem,
    )
