"""xAPI statements as an LRS's `POST /statements` receives them: parsed and checked (pure).

Only what issuance needs is read (actor, verb, object, result, timestamp, id); the rest of a
statement is kept as sent. A batch is all or nothing: one bad statement refuses the request,
naming the statement's index and the field (xAPI 1.0.3 §2.1.2: the LRS rejects the batch).
"""

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from certflow.core.errors import FieldViolation, InvalidInput
from certflow.core.json_limits import JsonTooDeep, check_json_depth
from services.ingest.issuance_rules import VERB_IRIS, Evidence

MAX_IRI = 500
MAX_NAME = 200
# "mailto:" then an address; the address itself is checked again when a certificate is issued.
# No control character anywhere: PostgreSQL's text cannot hold NUL (the insert failed: a 500)
_MBOX = re.compile(r"^mailto:[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$")
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_VERSION = re.compile(r"^1\.0(\.\d+)?$")


@dataclass(frozen=True, slots=True)
class Statement:
    evidence: Evidence
    email: str  # "" when the actor's account names no address
    name: str  # "" when the statement names nobody
    timestamp: datetime | None
    verb_iri: str
    raw: bytes  # the statement as sent (canonical JSON, for replays with other content)


def check_version(header: str | None) -> None:
    if header is None or not _VERSION.match(header.strip()):
        raise InvalidInput(
            "XAPI_VERSION_REQUIRED",
            "send the header X-Experience-API-Version: 1.0.3 (any 1.0.x)",
            [FieldViolation("X-Experience-API-Version", "must be 1.0.x")],
        )


def parse_statements(
    body: bytes, *, max_statements: int, new_id: Any = uuid.uuid4
) -> list[Statement]:
    """One statement (an object) or many (an array), each checked; InvalidInput names the
    first problem of every bad statement (at most 20)."""
    try:
        text = body.decode("utf-8")
        check_json_depth(text)
        document = orjson.loads(text)
    except (UnicodeDecodeError, orjson.JSONDecodeError, JsonTooDeep) as exc:
        raise InvalidInput("MALFORMED_JSON", f"the body is not valid JSON: {exc}") from None
    items = document if isinstance(document, list) else [document]
    if not items:
        raise InvalidInput("NO_STATEMENTS", "the array holds no statement")
    if len(items) > max_statements:
        raise InvalidInput(
            "TOO_MANY_STATEMENTS",
            f"{len(items)} statements in one request; send at most {max_statements} at a time",
        )
    statements: list[Statement] = []
    violations: list[FieldViolation] = []
    for index, item in enumerate(items):
        prefix = f"[{index}]." if isinstance(document, list) else ""
        try:
            statements.append(_statement(item, new_id))
        except _Bad as bad:
            violations.append(FieldViolation(prefix + bad.field, bad.problem))
            if len(violations) == 20:
                break
    if violations:
        raise InvalidInput(
            "INVALID_STATEMENT",
            "; ".join(f"{v.field}: {v.description}" for v in violations),
            violations=violations,
        )
    return statements


class _Bad(Exception):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


def _statement(item: object, new_id: Any) -> Statement:
    if not isinstance(item, dict):
        raise _Bad("", "a statement is a JSON object")
    statement_id = item.get("id")
    if statement_id is None:
        statement_id = str(new_id())  # the LRS names statements sent without an id
    elif not isinstance(statement_id, str) or not _is_uuid(statement_id):
        raise _Bad("id", "a statement id is a UUID")
    actor_key, email, name = _actor(item.get("actor"))
    verb = _object(item, "verb")
    verb_iri = _iri(verb, "verb.id")
    target = _object(item, "object")
    if target.get("objectType", "Activity") != "Activity":
        raise _Bad("object.objectType", "only Activity objects are accepted")
    object_id = _iri(target, "object.id")
    success, scaled = _result(item.get("result"))
    timestamp = _timestamp(item.get("timestamp"))
    return Statement(
        evidence=Evidence(
            statement_id=statement_id.lower(),
            actor_key=actor_key,
            verb=VERB_IRIS.get(verb_iri),
            object_id=object_id,
            success=success,
            score_scaled=scaled,
        ),
        email=email,
        name=name,
        timestamp=timestamp,
        verb_iri=verb_iri,
        # the id as stored (lower case): a UUID in upper case is the same statement
        raw=orjson.dumps({**item, "id": statement_id.lower()}, option=orjson.OPT_SORT_KEYS),
    )


def _actor(actor: object) -> tuple[str, str, str]:
    """(actor key, email, name)."""
    if not isinstance(actor, dict):
        raise _Bad("actor", "the actor is missing (an Agent object with mbox or account)")
    if actor.get("objectType", "Agent") != "Agent":
        raise _Bad("actor.objectType", "the actor is an Agent (groups cannot earn certificates)")
    name = actor.get("name", "")
    if not isinstance(name, str) or len(name) > MAX_NAME or _CONTROL.search(name):
        raise _Bad("actor.name", f"a string of at most {MAX_NAME} characters, no control ones")
    mbox, account = actor.get("mbox"), actor.get("account")
    if (mbox is None) == (account is None):
        raise _Bad("actor", "identify the actor by exactly one of mbox or account")
    if mbox is not None:
        if not isinstance(mbox, str) or len(mbox) > 261 or not _MBOX.match(mbox):
            raise _Bad("actor.mbox", 'a "mailto:" IRI with an email address')
        email = mbox.removeprefix("mailto:").strip()
        return f"mailto:{email.lower()}", email, name.strip()
    if not isinstance(account, dict):
        raise _Bad("actor.account", "an object with homePage and name")
    home, account_name = account.get("homePage"), account.get("name")
    if not isinstance(home, str) or not _IRI.match(home) or len(home) > MAX_IRI:
        raise _Bad("actor.account.homePage", "an IRI")
    if (
        not isinstance(account_name, str)
        or not account_name.strip()
        or len(account_name) > 254
        or _CONTROL.search(account_name)
    ):
        raise _Bad("actor.account.name", "a non-empty string without control characters")
    # an account named by an address is that address's recipient; otherwise a roster would be
    # needed to find one (not built: such an actor's achievements wait with NO_EMAIL)
    email = account_name.strip() if "@" in account_name else ""
    return f"account:{home}|{account_name}", email, name.strip()


def _object(item: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = item.get(key)
    if not isinstance(value, dict):
        raise _Bad(key, f"the {key} is missing (an object with an id)")
    return value


def _iri(holder: Mapping[str, object], field: str) -> str:
    value = holder.get("id")
    if not isinstance(value, str) or len(value) > MAX_IRI or not _IRI.match(value):
        raise _Bad(field, f"an IRI of at most {MAX_IRI} characters")
    return value


def _result(result: object) -> tuple[bool | None, float | None]:
    if result is None:
        return None, None
    if not isinstance(result, dict):
        raise _Bad("result", "an object")
    success = result.get("success")
    if success is not None and not isinstance(success, bool):
        raise _Bad("result.success", "true or false")
    score = result.get("score")
    if score is None:
        return success, None
    if not isinstance(score, dict):
        raise _Bad("result.score", "an object")
    scaled = score.get("scaled")
    if scaled is None:
        return success, None
    if isinstance(scaled, bool) or not isinstance(scaled, int | float) or not -1 <= scaled <= 1:
        raise _Bad("result.score.scaled", "a number from -1 to 1")
    return success, float(scaled)


def _timestamp(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise _Bad("timestamp", "an ISO 8601 date and time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Bad("timestamp", "an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        raise _Bad("timestamp", "a time with its offset (Z or +hh:mm)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is in year 10000 in UTC
        raise _Bad("timestamp", "a time between the years 1 and 9999 in UTC") from None


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36
