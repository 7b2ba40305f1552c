"""The gRPC messages of LMS management to rules and back (services/ingest/lms_servicer.py)."""

from typing import cast

import pytest

from certflow.core.errors import InvalidInput
from certflow.v1 import ingest_service_pb2 as pb
from services.ingest.issuance_rules import IssueMode, RuleKind
from services.ingest.lms_servicer import rule_of


def test_a_rule_message_becomes_a_rule() -> None:
    message = pb.IssuanceRule(
        kind=pb.ISSUANCE_RULE_KIND_PASSED,
        activity_id=" https://lms.example/exam/7 ",
        title=" Exam 7 ",
        min_score_scaled=0.8,
        mode=pb.ISSUANCE_MODE_COLLECTED,
    )
    rule = rule_of(message, "r-1")
    assert (rule.kind, rule.activity_id, rule.title) == (
        RuleKind.PASSED,
        "https://lms.example/exam/7",
        "Exam 7",
    )
    assert (rule.min_score_scaled, rule.mode, rule.min_sessions) == (0.8, IssueMode.COLLECTED, 1)
    unspecified = pb.IssuanceRule(kind=pb.ISSUANCE_RULE_KIND_COMPLETED, activity_id="a", title="t")
    assert rule_of(unspecified, "r-2").mode is IssueMode.IMMEDIATE


# values this server's enums lack, as a newer client sends them (proto3 enums are open)
@pytest.mark.parametrize(
    ("message", "field"),
    [
        (
            pb.IssuanceRule(kind=cast(pb.IssuanceRuleKind, 99), activity_id="a", title="t"),
            "rule.kind",
        ),
        # a mode this server does not know (a newer client's) was issued immediately
        (
            pb.IssuanceRule(
                kind=pb.ISSUANCE_RULE_KIND_COMPLETED,
                activity_id="a",
                title="t",
                mode=cast(pb.IssuanceMode, 7),
            ),
            "rule.mode",
        ),
    ],
)
def test_unknown_enum_values_are_refused(message: pb.IssuanceRule, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        rule_of(message, "r")
    assert refused.value.violations[0].field == field
