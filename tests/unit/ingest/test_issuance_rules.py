"""Which issuance rules a learning record fires (services/ingest/issuance_rules.py)."""

import pytest

from services.ingest.issuance_rules import (
    VERB_IRIS,
    Evidence,
    IssuanceRule,
    IssueMode,
    RuleKind,
    Verb,
    check_rule,
    evaluate,
    fired_rules,
)

ACTOR = "mailto:ada@example.org"
COURSE = "https://lms.example/course/101"
EXAM = "https://lms.example/exam/7"
SESSION = "https://lms.example/workshop/3"

COMPLETED = IssuanceRule("r-completed", RuleKind.COMPLETED, COURSE, "Course 101")
PASSED = IssuanceRule("r-passed", RuleKind.PASSED, EXAM, "Exam 7", min_score_scaled=0.8)
PASSED_ANY = IssuanceRule("r-passed-any", RuleKind.PASSED, EXAM, "Exam 7 taken")
ATTENDED = IssuanceRule("r-attended", RuleKind.ATTENDED, SESSION, "Workshop", min_sessions=3)
PROGRAMME = IssuanceRule(
    "r-programme",
    RuleKind.REQUIREMENTS_MET,
    "",
    "Programme",
    mode=IssueMode.COLLECTED,
    required_activities=frozenset({COURSE, EXAM}),
)
ALL = [COMPLETED, PASSED, PASSED_ANY, ATTENDED, PROGRAMME]


def record(
    statement_id: str,
    verb: Verb | None,
    object_id: str,
    *,
    actor: str = ACTOR,
    success: bool | None = None,
    score: float | None = None,
) -> Evidence:
    return Evidence(statement_id, actor, verb, object_id, success, score)


def fired(rec: Evidence, history: list[Evidence] = []) -> set[str]:  # noqa: B006 - read only
    return {r.rule_id for r in fired_rules(rec, history, ALL)}


def test_completed_fires_its_rule_only() -> None:
    assert fired(record("s1", Verb.COMPLETED, COURSE)) == {"r-completed"}


def test_completed_of_another_activity_fires_nothing() -> None:
    assert fired(record("s1", Verb.COMPLETED, "https://lms.example/course/999")) == set()


def test_passed_at_or_above_the_minimum_fires() -> None:
    assert fired(record("s1", Verb.PASSED, EXAM, score=0.8)) == {"r-passed", "r-passed-any"}
    assert fired(record("s1", Verb.PASSED, EXAM, score=1.0)) == {"r-passed", "r-passed-any"}


def test_failing_score_fires_only_the_rule_without_a_minimum() -> None:
    assert fired(record("s1", Verb.PASSED, EXAM, score=0.79)) == {"r-passed-any"}


def test_passed_without_a_score_fails_a_minimum() -> None:
    (outcome,) = evaluate(record("s1", Verb.PASSED, EXAM), [], [PASSED])
    assert not outcome.fires and "no result.score.scaled" in outcome.reason


def test_passed_marked_unsuccessful_and_failed_verb_fire_nothing() -> None:
    assert fired(record("s1", Verb.PASSED, EXAM, success=False, score=0.9)) == set()
    assert fired(record("s1", Verb.FAILED, EXAM, score=0.9)) == set()


def test_negative_minimum_accepts_negative_scores_above_it() -> None:
    rule = IssuanceRule("r", RuleKind.PASSED, EXAM, "t", min_score_scaled=-0.5)
    assert fired_rules(record("s1", Verb.PASSED, EXAM, score=-0.5), [], [rule]) == [rule]
    assert fired_rules(record("s1", Verb.PASSED, EXAM, score=-0.6), [], [rule]) == []


def test_replayed_statement_fires_nothing() -> None:
    first = record("s1", Verb.COMPLETED, COURSE)
    assert fired(first) == {"r-completed"}
    assert fired(first, [first]) == set()
    outcomes = evaluate(first, [first], ALL)
    assert all("replay" in o.reason for o in outcomes)


def test_unknown_verb_fires_nothing() -> None:
    assert fired(record("s1", None, COURSE)) == set()


def test_verb_iris_are_recognised() -> None:
    assert VERB_IRIS["http://adlnet.gov/expapi/verbs/completed"] is Verb.COMPLETED
    assert VERB_IRIS["https://w3id.org/xapi/adl/verbs/attended"] is Verb.ATTENDED
    assert "http://adlnet.gov/expapi/verbs/experienced" not in VERB_IRIS


def test_attended_fires_when_the_count_is_reached() -> None:
    sessions = [record(f"s{i}", Verb.ATTENDED, SESSION) for i in range(1, 5)]
    assert fired(sessions[0]) == set()
    assert fired(sessions[1], sessions[:1]) == set()
    assert fired(sessions[2], sessions[:2]) == {"r-attended"}
    # beyond the count it still fires: the achievement key makes that a no-op
    assert fired(sessions[3], sessions[:3]) == {"r-attended"}


def test_attended_counts_distinct_statements_of_that_session_and_actor() -> None:
    one = record("s1", Verb.ATTENDED, SESSION)
    history = [
        one,
        record("s2", Verb.ATTENDED, "https://lms.example/workshop/other"),
        record("s3", Verb.ATTENDED, SESSION, actor="mailto:bob@example.org"),
        record("s4", Verb.COMPLETED, SESSION),
    ]
    (outcome,) = evaluate(record("s5", Verb.ATTENDED, SESSION), history, [ATTENDED])
    assert not outcome.fires and outcome.reason == "2 of 3 sessions attended"


def test_requirements_partially_met_then_met() -> None:
    course = record("s1", Verb.COMPLETED, COURSE)
    assert "r-programme" not in fired(course)
    (outcome,) = evaluate(course, [], [PROGRAMME])
    assert outcome.reason == f"1 required still missing: {EXAM}"
    exam = record("s2", Verb.PASSED, EXAM, score=0.9)
    assert fired(exam, [course]) == {"r-programme", "r-passed", "r-passed-any"}


def test_requirements_need_the_same_actor() -> None:
    someone_else = record("s1", Verb.COMPLETED, COURSE, actor="mailto:bob@example.org")
    assert "r-programme" not in fired(record("s2", Verb.PASSED, EXAM), [someone_else])


def test_requirements_ignore_failed_attempts() -> None:
    course = record("s1", Verb.COMPLETED, COURSE)
    failed = record("s2", Verb.PASSED, EXAM, success=False)
    assert "r-programme" not in fired(failed, [course])
    assert "r-programme" not in fired(record("s3", Verb.FAILED, EXAM), [course, failed])


def test_requirements_fire_only_on_a_required_activity() -> None:
    history = [record("s1", Verb.COMPLETED, COURSE), record("s2", Verb.PASSED, EXAM)]
    assert fired(record("s3", Verb.COMPLETED, "https://lms.example/x"), history) == set()


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (IssuanceRule("r", RuleKind.COMPLETED, COURSE, " "), "title"),
        (IssuanceRule("r", RuleKind.COMPLETED, "", "t"), "activity_id"),
        (IssuanceRule("r", RuleKind.REQUIREMENTS_MET, "", "t"), "required_activity_ids"),
        (IssuanceRule("r", RuleKind.PASSED, EXAM, "t", min_score_scaled=1.5), "min_score_scaled"),
        (
            IssuanceRule("r", RuleKind.COMPLETED, COURSE, "t", min_score_scaled=0.5),
            "min_score_scaled",
        ),
        (IssuanceRule("r", RuleKind.ATTENDED, SESSION, "t", min_sessions=0), "min_sessions"),
        # more than the history read (5,000 records) could ever count: it was accepted
        (IssuanceRule("r", RuleKind.ATTENDED, SESSION, "t", min_sessions=5_001), "min_sessions"),
        # hostile sizes: each would not fit its column (PostgreSQL refuses the insert: INTERNAL)
        (IssuanceRule("r", RuleKind.COMPLETED, COURSE, "t" * 301), "title"),
        (IssuanceRule("r", RuleKind.COMPLETED, "https://x/" + "a" * 491, "t"), "activity_id"),
        (IssuanceRule("r", RuleKind.COMPLETED, COURSE, "t", template="x" * 101), "template"),
        # a title no certificate could carry: every achievement of the rule would fail
        (IssuanceRule("r", RuleKind.COMPLETED, COURSE, "Course\n101"), "title"),
        (IssuanceRule("r", RuleKind.COMPLETED, COURSE, "Course\u202e101"), "title"),
        (
            IssuanceRule(
                "r", RuleKind.REQUIREMENTS_MET, "", "t", required_activities=frozenset({""})
            ),
            "required_activity_ids",
        ),
        (
            IssuanceRule(
                "r",
                RuleKind.REQUIREMENTS_MET,
                "",
                "t",
                required_activities=frozenset({COURSE, "https://x/" + "a" * 491}),
            ),
            "required_activity_ids",
        ),
        (
            IssuanceRule(
                "r",
                RuleKind.REQUIREMENTS_MET,
                "",
                "t",
                required_activities=frozenset(f"https://x/{n}" for n in range(101)),
            ),
            "required_activity_ids",
        ),
        (IssuanceRule("r", RuleKind.COMPLETED, "https://x/\u0000", "t"), "activity_id"),
        (IssuanceRule("r", RuleKind.COMPLETED, COURSE, "t", template="a\u0000"), "template"),
        (
            IssuanceRule(
                "r", RuleKind.REQUIREMENTS_MET, "", "t", required_activities=frozenset({"a\nb"})
            ),
            "required_activity_ids",
        ),
        (
            IssuanceRule("r", RuleKind.PASSED, EXAM, "t", min_score_scaled=float("nan")),
            "min_score_scaled",
        ),
    ],
)
def test_unsound_rules_are_refused(rule: IssuanceRule, field: str) -> None:
    assert [f for f, _ in check_rule(rule)] == [field]


def test_sound_rules_pass_the_check() -> None:
    assert all(check_rule(rule) == [] for rule in ALL)
    at_the_limits = IssuanceRule(
        "r",
        RuleKind.REQUIREMENTS_MET,
        "",
        "t" * 300,
        template="x" * 100,
        required_activities=frozenset(f"https://x/{n:0490}" for n in range(100)),
    )
    assert check_rule(at_the_limits) == []
