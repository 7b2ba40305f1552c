"""gRPC transport of LMS intake's management (sources and issuance rules), mixed into
IngestServicer: requests become `LmsIntake` calls, results become messages."""

import asyncio
import uuid

import grpc

from certflow.core.errors import invalid_field
from certflow.platform import pagination
from certflow.platform.grpc_errors import translate_errors
from certflow.platform.proto_time import to_timestamp
from certflow.v1 import ingest_service_pb2 as pb
from services.ingest.issuance_rules import IssuanceRule, IssueMode, RuleKind
from services.ingest.lms import AuthKind, LmsIntake, Source, StoredRule, mapping_json

AUTH_KINDS = {
    AuthKind.BASIC: pb.SOURCE_AUTH_KIND_BASIC,
    AuthKind.BEARER: pb.SOURCE_AUTH_KIND_BEARER,
    AuthKind.HMAC: pb.SOURCE_AUTH_KIND_HMAC,
}
RULE_KINDS = {
    RuleKind.COMPLETED: pb.ISSUANCE_RULE_KIND_COMPLETED,
    RuleKind.PASSED: pb.ISSUANCE_RULE_KIND_PASSED,
    RuleKind.ATTENDED: pb.ISSUANCE_RULE_KIND_ATTENDED,
    RuleKind.REQUIREMENTS_MET: pb.ISSUANCE_RULE_KIND_REQUIREMENTS_MET,
}
MODES = {
    IssueMode.IMMEDIATE: pb.ISSUANCE_MODE_IMMEDIATE,
    IssueMode.COLLECTED: pb.ISSUANCE_MODE_COLLECTED,
}
MAX_REQUEST_ID = 128
MAX_STATEMENT_JSON = 64 * 1024


def source_message(source: Source) -> pb.LmsSource:
    return pb.LmsSource(
        source_id=source.source_id,
        name=source.name,
        auth_kind=AUTH_KINDS[source.auth_kind],
        mapping_json=mapping_json(source.mapping) if source.mapping else "",
        disabled=not source.enabled,
        create_time=to_timestamp(source.created_at),
    )


def rule_message(stored: StoredRule) -> pb.IssuanceRule:
    rule = stored.rule
    message = pb.IssuanceRule(
        rule_id=rule.rule_id,
        kind=RULE_KINDS[rule.kind],
        activity_id=rule.activity_id,
        required_activity_ids=sorted(rule.required_activities),
        min_sessions=rule.min_sessions,
        title=rule.title,
        template=rule.template,
        mode=MODES[rule.mode],
        disabled=not stored.enabled,
        create_time=to_timestamp(stored.created_at),
    )
    if rule.min_score_scaled is not None:
        message.min_score_scaled = rule.min_score_scaled
    return message


def rule_of(message: pb.IssuanceRule, rule_id: str) -> IssuanceRule:
    kind = next((k for k, v in RULE_KINDS.items() if v == message.kind), None)
    if kind is None:
        raise invalid_field("rule.kind", "completed, passed, attended or requirements_met")
    mode = next((m for m, v in MODES.items() if v == message.mode), None)
    if mode is None and message.mode != pb.ISSUANCE_MODE_UNSPECIFIED:
        # a mode unknown here (say a newer client's) must not become immediate issuance
        raise invalid_field("rule.mode", "immediate or collected")
    return IssuanceRule(
        rule_id=rule_id,
        kind=kind,
        activity_id=message.activity_id.strip(),
        title=message.title.strip(),
        mode=mode or IssueMode.IMMEDIATE,
        template=message.template.strip(),
        min_score_scaled=(
            message.min_score_scaled if message.HasField("min_score_scaled") else None
        ),
        min_sessions=message.min_sessions or 1,
        required_activities=frozenset(a.strip() for a in message.required_activity_ids),
    )


def _request_id(value: str) -> str:
    if len(value) > MAX_REQUEST_ID:
        raise invalid_field("request_id", f"at most {MAX_REQUEST_ID} characters")
    return value


class LmsRpcs:
    """IngestService's LMS methods; `_lms` is set by IngestServicer."""

    _lms: LmsIntake

    @translate_errors
    async def CreateSource(
        self, request: pb.CreateSourceRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateSourceResponse:
        kind = next((k for k, v in AUTH_KINDS.items() if v == request.auth_kind), None)
        if kind is None:
            raise invalid_field("auth_kind", "basic, bearer or hmac")
        created = await asyncio.to_thread(
            self._lms.create_source,
            name=request.name,
            auth_kind=kind,
            mapping=request.mapping_json,
            request_id=_request_id(request.request_id),
        )
        return pb.CreateSourceResponse(source=source_message(created.source), secret=created.secret)

    @translate_errors
    async def ListSources(
        self, request: pb.ListSourcesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSourcesResponse:
        page = pagination.Page(request.page_size, request.page_token)
        sources = await asyncio.to_thread(
            self._lms.list_sources, offset=page.offset, limit=page.size
        )
        return pb.ListSourcesResponse(
            sources=[source_message(s) for s in sources],
            next_page_token=page.next_token(len(sources)),
        )

    @translate_errors
    async def DisableSource(
        self, request: pb.DisableSourceRequest, context: grpc.aio.ServicerContext
    ) -> pb.DisableSourceResponse:
        source = await asyncio.to_thread(self._lms.disable_source, request.name)
        return pb.DisableSourceResponse(source=source_message(source))

    @translate_errors
    async def CreateIssuanceRule(
        self, request: pb.CreateIssuanceRuleRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateIssuanceRuleResponse:
        rule = rule_of(request.rule, str(uuid.uuid4()))
        stored = await asyncio.to_thread(
            self._lms.create_rule, rule, request_id=_request_id(request.request_id)
        )
        return pb.CreateIssuanceRuleResponse(rule=rule_message(stored))

    @translate_errors
    async def ListIssuanceRules(
        self, request: pb.ListIssuanceRulesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListIssuanceRulesResponse:
        page = pagination.Page(request.page_size, request.page_token)
        rules = await asyncio.to_thread(self._lms.list_rules, offset=page.offset, limit=page.size)
        return pb.ListIssuanceRulesResponse(
            rules=[rule_message(r) for r in rules], next_page_token=page.next_token(len(rules))
        )

    @translate_errors
    async def DisableIssuanceRule(
        self, request: pb.DisableIssuanceRuleRequest, context: grpc.aio.ServicerContext
    ) -> pb.DisableIssuanceRuleResponse:
        rule = await asyncio.to_thread(self._lms.disable_rule, request.rule_id)
        return pb.DisableIssuanceRuleResponse(rule=rule_message(rule))

    @translate_errors
    async def TestIssuanceRule(
        self, request: pb.TestIssuanceRuleRequest, context: grpc.aio.ServicerContext
    ) -> pb.TestIssuanceRuleResponse:
        if len(request.statement_json) > MAX_STATEMENT_JSON:
            raise invalid_field("statement_json", f"at most {MAX_STATEMENT_JSON} characters")
        outcome = await asyncio.to_thread(
            self._lms.test_rule, request.rule_id, request.statement_json.encode()
        )
        return pb.TestIssuanceRuleResponse(fires=outcome.fires, reason=outcome.reason)
