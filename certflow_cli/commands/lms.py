"""`certflow sources …` and `certflow rules …`: connect LMSs and say what their learners'
records earn (ingest's CreateSource … TestIssuanceRule)."""

import json
from pathlib import Path
from typing import BinaryIO

import click
from google.protobuf.json_format import MessageToDict
from rich import box
from rich.console import Console
from rich.table import Table

from certflow.v1 import ingest_service_pb2 as pb
from certflow_cli.commands.upload import MAX_REQUEST_ID
from certflow_cli.connection import connected
from certflow_cli.exit_codes import CliError, ExitCode
from certflow_cli.invocation import Invocation, certflow_command
from certflow_cli.output import JsonDocument, shown

AUTH_KINDS = {
    "basic": pb.SOURCE_AUTH_KIND_BASIC,
    "bearer": pb.SOURCE_AUTH_KIND_BEARER,
    "hmac": pb.SOURCE_AUTH_KIND_HMAC,
}
RULE_KINDS = {
    "completed": pb.ISSUANCE_RULE_KIND_COMPLETED,
    "passed": pb.ISSUANCE_RULE_KIND_PASSED,
    "attended": pb.ISSUANCE_RULE_KIND_ATTENDED,
    "requirements-met": pb.ISSUANCE_RULE_KIND_REQUIREMENTS_MET,
}
MAX_PAGE_SIZE = 1000
MAX_STATEMENT_BYTES = 64 * 1024
# ingest's limit (services/ingest/issuance_rules.py; the CLI imports no service)
MAX_SESSIONS = 1_000


def _document(message: object) -> JsonDocument:
    return MessageToDict(message, preserving_proto_field_name=True)  # type: ignore[arg-type]


def _request_id(value: str) -> str:
    if len(value) > MAX_REQUEST_ID:
        raise click.BadParameter(f"at most {MAX_REQUEST_ID} characters", param_hint="--request-id")
    return value


@click.group()
def sources() -> None:
    """Connected LMSs: xAPI senders (basic, bearer) and webhook senders (hmac)."""


@sources.command("create")
@click.argument("name")
@click.option("--auth", "auth", type=click.Choice(sorted(AUTH_KINDS)), required=True)
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="hmac: the JSON file saying where an event keeps email, name, course and type.",
)
@click.option("--request-id", default="", help="Idempotency key.")
@certflow_command
def create_source(
    run: Invocation, name: str, auth: str, mapping: Path | None, request_id: str
) -> ExitCode:
    """Connect an LMS. Its secret is printed once: put it in the LMS now.

    Exit 0 when created, 8 when the name is taken, 4 when refused.
    """
    mapping_text = mapping.read_text(encoding="utf-8") if mapping else ""
    request = pb.CreateSourceRequest(
        request_id=_request_id(request_id),
        name=name,
        auth_kind=AUTH_KINDS[auth],
        mapping_json=mapping_text,
    )
    with connected(run.settings()) as client:
        created = client.create_source(request)
    document = {"source": _document(created.source), "secret": created.secret}

    def render(console: Console) -> None:
        console.print(shown(f"source {created.source.name} ({auth}) {created.source.source_id}"))
        if created.secret:
            console.print(shown(f"secret (shown once): {created.secret}"))
        else:
            console.print("secret: not shown again (an earlier call with this request id)")

    run.output.result(document, render)
    return ExitCode.OK


@sources.command("list")
@certflow_command
def list_sources(run: Invocation) -> ExitCode:
    """List connected LMSs (never their secrets). Exit 0."""
    found: list[pb.LmsSource] = []
    request = pb.ListSourcesRequest(page_size=MAX_PAGE_SIZE)
    with connected(run.settings()) as client:
        while True:
            page = client.list_sources(request)
            found.extend(page.sources)
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token
    document = {"sources": [_document(s) for s in found]}

    def render(console: Console) -> None:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("name", "auth", "state", "id"):
            table.add_column(column, no_wrap=True)
        for s in found:
            kind = pb.SourceAuthKind.Name(s.auth_kind).removeprefix("SOURCE_AUTH_KIND_").lower()
            state = "disabled" if s.disabled else "enabled"
            table.add_row(shown(s.name), shown(kind), shown(state), shown(s.source_id))
        console.print(table if found else "no sources")

    run.output.result(document, render)
    return ExitCode.OK


@sources.command("disable")
@click.argument("name")
@certflow_command
def disable_source(run: Invocation, name: str) -> ExitCode:
    """Refuse a source's requests from now on. Exit 0, 6 when there is no such source."""
    with connected(run.settings()) as client:
        source = client.disable_source(name)
    run.output.result(
        {"source": _document(source)},
        lambda console: console.print(shown(f"source {source.name} disabled")),
    )
    return ExitCode.OK


@click.group()
def rules() -> None:
    """Issuance rules: which learner records earn which certificate."""


@rules.command("create")
@click.option("--kind", type=click.Choice(list(RULE_KINDS)), required=True)
@click.option("--title", required=True, help="The certificate's title.")
@click.option("--activity", default="", help="The course or activity id (not requirements-met).")
@click.option(
    "--requires", multiple=True, help="requirements-met: an activity id (repeat for each)."
)
@click.option("--min-score", type=click.FloatRange(-1, 1), help="passed: lowest scaled score.")
@click.option("--min-sessions", type=click.IntRange(1, MAX_SESSIONS), default=1, show_default=True)
@click.option("--template", default="", help="The certificate template, when templates exist.")
@click.option(
    "--collected",
    is_flag=True,
    help="Keep fired achievements for the next scheduled batch instead of issuing at once.",
)
@click.option("--request-id", default="", help="Idempotency key.")
@certflow_command
def create_rule(
    run: Invocation,
    kind: str,
    title: str,
    activity: str,
    requires: tuple[str, ...],
    min_score: float | None,
    min_sessions: int,
    template: str,
    collected: bool,
    request_id: str,
) -> ExitCode:
    """Add an issuance rule. Exit 0 when added, 4 when it cannot work as given."""
    rule = pb.IssuanceRule(
        kind=RULE_KINDS[kind],
        title=title,
        activity_id=activity,
        required_activity_ids=list(requires),
        min_sessions=min_sessions,
        template=template,
        mode=pb.ISSUANCE_MODE_COLLECTED if collected else pb.ISSUANCE_MODE_IMMEDIATE,
    )
    if min_score is not None:
        rule.min_score_scaled = min_score
    request = pb.CreateIssuanceRuleRequest(request_id=_request_id(request_id), rule=rule)
    with connected(run.settings()) as client:
        created = client.create_issuance_rule(request)
    run.output.result(
        {"rule": _document(created)},
        lambda console: console.print(shown(f"rule {created.rule_id} ({kind}) {title}")),
    )
    return ExitCode.OK


@rules.command("list")
@certflow_command
def list_rules(run: Invocation) -> ExitCode:
    """List issuance rules, oldest first. Exit 0."""
    found: list[pb.IssuanceRule] = []
    request = pb.ListIssuanceRulesRequest(page_size=MAX_PAGE_SIZE)
    with connected(run.settings()) as client:
        while True:
            page = client.list_issuance_rules(request)
            found.extend(page.rules)
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token
    document = {"rules": [_document(r) for r in found]}

    def render(console: Console) -> None:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("rule", "kind", "activity", "title", "mode", "state"):
            table.add_column(column, no_wrap=column in {"rule", "kind", "mode", "state"})
        for r in found:
            kind = pb.IssuanceRuleKind.Name(r.kind).removeprefix("ISSUANCE_RULE_KIND_").lower()
            mode = pb.IssuanceMode.Name(r.mode).removeprefix("ISSUANCE_MODE_").lower()
            activity = r.activity_id or " + ".join(r.required_activity_ids)
            state = "disabled" if r.disabled else "enabled"
            table.add_row(*(shown(v) for v in (r.rule_id, kind, activity, r.title, mode, state)))
        console.print(table if found else "no rules")

    run.output.result(document, render)
    return ExitCode.OK


@rules.command("disable")
@click.argument("rule_id", metavar="RULE")
@certflow_command
def disable_rule(run: Invocation, rule_id: str) -> ExitCode:
    """Stop a rule from firing. Exit 0, 6 when there is no such rule."""
    with connected(run.settings()) as client:
        disabled = client.disable_issuance_rule(rule_id)
    run.output.result(
        {"rule": _document(disabled)},
        lambda console: console.print(shown(f"rule {disabled.rule_id} disabled")),
    )
    return ExitCode.OK


@rules.command("test")
@click.argument("rule_id", metavar="RULE")
@click.argument("statement", type=click.File("rb"), metavar="STATEMENT.json")
@certflow_command
def test_rule(run: Invocation, rule_id: str, statement: BinaryIO) -> ExitCode:
    """Would this xAPI statement (a file, or - for stdin) fire the rule, given what its actor
    already did? Nothing is stored or issued. Exit 0 either way (the answer says), 4 when
    the statement is refused, 6 when there is no such rule.
    """
    data = statement.read(MAX_STATEMENT_BYTES + 1)
    if len(data) > MAX_STATEMENT_BYTES:
        raise CliError(
            ExitCode.INVALID_INPUT,
            f"the statement exceeds {MAX_STATEMENT_BYTES} bytes",
            reason="STATEMENT_TOO_LARGE",
        )
    try:
        text = data.decode("utf-8")
        json.loads(text)
    except ValueError:
        raise CliError(
            ExitCode.INVALID_INPUT, "the statement is not JSON", reason="MALFORMED_JSON"
        ) from None
    with connected(run.settings()) as client:
        outcome = client.test_issuance_rule(rule_id, text)
    verdict = "fires" if outcome.fires else "does not fire"
    run.output.result(
        {"fires": outcome.fires, "reason": outcome.reason},
        lambda console: console.print(shown(f"{verdict}: {outcome.reason}")),
    )
    return ExitCode.OK
