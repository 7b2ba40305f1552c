"""Issuance rules: which of an issuer's rules a learning record fires (pure: no I/O, no clock).

A record is one xAPI statement or one webhook completion event, reduced to what the rules read
(`Evidence`). The caller passes the actor's stored history (their earlier records, every
source) and the enabled rules; the result is the rules that fire. A rule that fires again
later (a second "completed", the eleventh session of ten) is still reported: the caller's
achievement key (rule, actor) makes the second firing a no-op, so no rule needs to know
whether it fired before.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from certflow.core.validation import MAX_TITLE_LENGTH, header_unsafe, invisible_formatting

# the widths of issuance_rules' columns and of what a statement can name (xapi.MAX_IRI)
MAX_ACTIVITY_ID = 500
MAX_TEMPLATE = 100
MAX_REQUIRED_ACTIVITIES = 100
# an attended rule counts the actor's stored history, which is read up to lms_store.MAX_HISTORY
# records (5 x this): a minimum above what is read could never be reached
MAX_SESSIONS = 1_000
# no control character in what is stored (PostgreSQL's text cannot even hold NUL); a webhook's
# course id may hold spaces, so an activity id may too
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Verb(StrEnum):
    """The verbs rules read; any other verb IRI is stored with verb None and fires nothing."""

    COMPLETED = "completed"
    PASSED = "passed"
    FAILED = "failed"
    ATTENDED = "attended"


# ADL's verb IRIs (xAPI 1.0.3 vocabulary) and their newer w3id.org aliases
VERB_IRIS: dict[str, Verb] = {
    f"{base}{verb.value}": verb
    for base in ("http://adlnet.gov/expapi/verbs/", "https://w3id.org/xapi/adl/verbs/")
    for verb in Verb
}


class RuleKind(StrEnum):
    COMPLETED = "completed"
    PASSED = "passed"
    ATTENDED = "attended"
    REQUIREMENTS_MET = "requirements_met"


class IssueMode(StrEnum):
    IMMEDIATE = "immediate"  # issued as soon as the rule fires
    COLLECTED = "collected"  # stored as pending for the next scheduled batch


@dataclass(frozen=True, slots=True)
class Evidence:
    """One learning record of one actor."""

    statement_id: str
    actor_key: str  # "mailto:a@b.example" or "account:<homePage>|<name>"
    verb: Verb | None  # None: a verb no rule reads
    object_id: str  # the activity (course, module, session) IRI or the webhook's course id
    success: bool | None = None
    score_scaled: float | None = None


@dataclass(frozen=True, slots=True)
class IssuanceRule:
    rule_id: str
    kind: RuleKind
    activity_id: str  # COMPLETED/PASSED/ATTENDED: the activity; REQUIREMENTS_MET: unused
    title: str
    mode: IssueMode = IssueMode.IMMEDIATE
    template: str = ""
    min_score_scaled: float | None = None  # PASSED only
    min_sessions: int = 1  # ATTENDED only
    required_activities: frozenset[str] = field(default_factory=frozenset)  # REQUIREMENTS_MET


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    rule: IssuanceRule
    fires: bool
    reason: str  # why (not): what TestIssuanceRule shows


def fired_rules(
    record: Evidence, history: Sequence[Evidence], rules: Iterable[IssuanceRule]
) -> list[IssuanceRule]:
    return [o.rule for o in evaluate(record, history, rules) if o.fires]


def evaluate(
    record: Evidence, history: Sequence[Evidence], rules: Iterable[IssuanceRule]
) -> list[RuleOutcome]:
    """Each rule's outcome for `record` given the actor's earlier records."""
    earlier = [h for h in history if h.actor_key == record.actor_key]
    replayed = any(h.statement_id == record.statement_id for h in earlier)
    outcomes = []
    for rule in rules:
        if replayed:
            # a statement seen before already had its chance; its replay changes nothing
            outcomes.append(RuleOutcome(rule, False, "statement already stored (a replay)"))
        elif record.verb is None:
            outcomes.append(RuleOutcome(rule, False, "the verb is not one rules read"))
        else:
            outcomes.append(_outcome(rule, record, [*earlier, record]))
    return outcomes


def _outcome(rule: IssuanceRule, record: Evidence, records: list[Evidence]) -> RuleOutcome:
    def result(fires: bool, reason: str) -> RuleOutcome:
        return RuleOutcome(rule, fires, reason)

    if rule.kind is RuleKind.REQUIREMENTS_MET:
        if record.object_id not in rule.required_activities or not _achieves(record):
            return result(False, "the statement completes or passes none of the required")
        done = {r.object_id for r in records if _achieves(r)}
        missing = sorted(rule.required_activities - done)
        if missing:
            return result(False, f"{len(missing)} required still missing: {', '.join(missing)}")
        return result(True, "every required activity completed or passed")
    if record.object_id != rule.activity_id:
        return result(False, "another activity")
    if rule.kind is RuleKind.COMPLETED:
        if record.verb is not Verb.COMPLETED:
            return result(False, f"verb {record.verb}, the rule wants completed")
        return result(True, "completed")
    if rule.kind is RuleKind.PASSED:
        if record.verb is not Verb.PASSED or record.success is False:
            return result(False, f"verb {record.verb}, the rule wants passed")
        if rule.min_score_scaled is not None:
            if record.score_scaled is None:
                return result(False, f"no result.score.scaled (minimum {rule.min_score_scaled})")
            if record.score_scaled < rule.min_score_scaled:
                return result(
                    False, f"score {record.score_scaled} below minimum {rule.min_score_scaled}"
                )
        return result(True, "passed")
    # ATTENDED: sessions are counted by distinct statement
    if record.verb is not Verb.ATTENDED:
        return result(False, f"verb {record.verb}, the rule wants attended")
    sessions = len(
        {
            r.statement_id
            for r in records
            if r.verb is Verb.ATTENDED and r.object_id == rule.activity_id
        }
    )
    if sessions < rule.min_sessions:
        return result(False, f"{sessions} of {rule.min_sessions} sessions attended")
    return result(True, f"{sessions} of {rule.min_sessions} sessions attended")


def _achieves(record: Evidence) -> bool:
    """Counts toward a set of requirements: completed, or passed (not marked unsuccessful)."""
    if record.verb is Verb.COMPLETED:
        return record.success is not False
    return record.verb is Verb.PASSED and record.success is not False


def check_rule(rule: IssuanceRule) -> list[tuple[str, str]]:
    """(field, problem) for each way the rule cannot work; empty when it is sound."""
    problems: list[tuple[str, str]] = []
    # the title is checked as a certificate's would be: one it refuses fails every achievement
    if not rule.title.strip():
        problems.append(("title", "a rule names the certificate title"))
    elif len(rule.title) > MAX_TITLE_LENGTH:
        problems.append(("title", f"at most {MAX_TITLE_LENGTH} characters"))
    elif problem := header_unsafe(rule.title):
        problems.append(("title", f"the title {problem}"))
    elif character := invisible_formatting(rule.title):
        problems.append(("title", f"the title contains {character}, an invisible character"))
    if len(rule.template) > MAX_TEMPLATE or _CONTROL.search(rule.template):
        problems.append(("template", f"at most {MAX_TEMPLATE} characters, no control ones"))
    if rule.kind is RuleKind.REQUIREMENTS_MET:
        required = rule.required_activities
        if not 1 <= len(required) <= MAX_REQUIRED_ACTIVITIES:
            problems.append(
                ("required_activity_ids", f"list 1 to {MAX_REQUIRED_ACTIVITIES} activities")
            )
        elif not all(_sound_id(a) for a in required):
            problems.append(
                (
                    "required_activity_ids",
                    f"each an id of 1 to {MAX_ACTIVITY_ID} characters, no control ones",
                )
            )
    elif not rule.activity_id:
        problems.append(("activity_id", "name the course or activity id"))
    elif not _sound_id(rule.activity_id):
        problems.append(("activity_id", f"at most {MAX_ACTIVITY_ID} characters, no control ones"))
    if rule.min_score_scaled is not None:
        if rule.kind is not RuleKind.PASSED:
            problems.append(("min_score_scaled", "only a passed rule has a minimum score"))
        elif not -1.0 <= rule.min_score_scaled <= 1.0:
            problems.append(("min_score_scaled", "a scaled score is between -1 and 1"))
    if rule.kind is RuleKind.ATTENDED and not 1 <= rule.min_sessions <= MAX_SESSIONS:
        problems.append(("min_sessions", f"between 1 and {MAX_SESSIONS} sessions"))
    return problems


def _sound_id(activity_id: str) -> bool:
    return 0 < len(activity_id) <= MAX_ACTIVITY_ID and not _CONTROL.search(activity_id)
