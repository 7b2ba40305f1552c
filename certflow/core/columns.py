"""Which CSV column feeds which certificate field: aliases, an explicit mapping, custom fields.

Headers are compared case-, space-, dash- and underscore-insensitively ("E-mail",
"Email Address", "email_address" are one spelling). An explicit mapping (header → field) wins
over aliases for the fields it names; the remaining core fields are found by alias; every other
column is a custom field under a snake_case key, or dropped when the mapping sends it to "".
"""

import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from certflow.core.errors import FieldViolation

REQUIRED_FIELDS = ("name", "email", "title", "completion_date")
# time_zone: the recipient's IANA zone, for delivery in their business hours (not in the
# credential)
CORE_FIELDS = (*REQUIRED_FIELDS, "expiry_date", "time_zone")
ALIASES: dict[str, tuple[str, ...]] = {
    "name": (
        "name",
        "full name",
        "fullname",
        "recipient",
        "recipient name",
        "student name",
        "learner name",
        "participant name",
        "graduate name",
    ),
    "email": (
        "email",
        "e-mail",
        "email address",
        "e-mail address",
        "mail",
        "recipient email",
        "student email",
        "learner email",
        "participant email",
    ),
    "title": (
        "title",
        "course",
        "course name",
        "course title",
        "certificate",
        "certificate name",
        "certificate title",
        "achievement",
        "qualification",
        "programme",
        "program",
        "degree",
        "award",
    ),
    "completion_date": (
        "completion date",
        "completed",
        "completed on",
        "date completed",
        "date",
        "completion",
        "graduation date",
        "award date",
        "date awarded",
    ),
    "expiry_date": (
        "expiry",
        "expiry date",
        "expires",
        "expires on",
        "expiration",
        "expiration date",
        "valid until",
        "expiry_date",
    ),
    "time_zone": ("time zone", "timezone", "tz", "time_zone"),
}
MAX_MAPPING_ENTRIES = 200
MAX_HEADER_NAME = 256
_SPELLING = re.compile(r"[\s\-_]+")
_NOT_KEY = re.compile(r"[^a-z0-9]+")
CUSTOM_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")


def spelling(header: str) -> str:
    """The form two headers are compared in: "E-Mail Address" → "emailaddress"."""
    return _SPELLING.sub("", unicodedata.normalize("NFC", header).strip().casefold())


_BY_ALIAS = {spelling(alias): field for field, aliases in ALIASES.items() for alias in aliases}


def custom_key(header: str) -> str:
    """A custom column's field key: "Final Grade (%)" → "final_grade", "Résumé" → "resume"."""
    ascii_form = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode()
    return _NOT_KEY.sub("_", ascii_form.lower()).strip("_")


class ColumnError(ValueError):
    """The header and the mapping do not make a readable file; says every problem at once."""

    def __init__(self, reason: str, message: str, violations: list[FieldViolation]) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.violations = violations


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """Per column of the file: the core field or custom key it feeds, or "" (dropped)."""

    headers: tuple[str, ...]
    targets: tuple[str, ...]
    known: tuple[tuple[int, str], ...]  # (column index, core field)
    custom: tuple[tuple[int, str], ...]  # (column index, custom key)

    @property
    def custom_keys(self) -> tuple[str, ...]:
        return tuple(key for _, key in self.custom)


def check_mapping(mapping: Mapping[str, str]) -> None:
    """Refuses a mapping that no file could satisfy, before the file is read."""
    if len(mapping) > MAX_MAPPING_ENTRIES:  # said once, not once per entry
        message = f"column_mapping has {len(mapping)} entries (at most {MAX_MAPPING_ENTRIES})"
        raise ColumnError(
            "INVALID_COLUMN_MAPPING", message, [FieldViolation("column_mapping", message)]
        )
    violations: list[FieldViolation] = []
    by_field: dict[str, list[str]] = defaultdict(list)
    for header, target in mapping.items():
        path = _path(header)
        if not header.strip() or len(header) > MAX_HEADER_NAME:
            violations.append(FieldViolation(path, f"1 to {MAX_HEADER_NAME} characters"))
        elif target and target not in CORE_FIELDS and not CUSTOM_KEY.fullmatch(target):
            violations.append(
                FieldViolation(
                    path,
                    f"{target[:64]!r} is neither a certificate field ({', '.join(CORE_FIELDS)}) "
                    'nor a custom field key ([a-z][a-z0-9_]*, at most 64), nor "" to drop it',
                )
            )
        elif target:
            by_field[target].append(header)
    for target, headers in by_field.items():
        if len(headers) > 1:  # each entry named: a map's order does not survive the wire
            together = ", ".join(repr(h) for h in sorted(headers))
            violations.extend(
                FieldViolation(_path(h), f"{together} are all mapped to {target!r}")
                for h in sorted(headers)
            )
    if violations:
        raise ColumnError("INVALID_COLUMN_MAPPING", _summary(violations), violations)


def plan_columns(header: Sequence[str], mapping: Mapping[str, str] | None = None) -> ColumnPlan:
    """Which field each column feeds; raises ColumnError naming every problem of the header."""
    mapping = mapping or {}
    check_mapping(mapping)
    headers = tuple(h.strip() for h in header)
    named = len(headers)
    while named and not headers[named - 1]:  # trailing empty headers: Excel's extra delimiters
        named -= 1
    spelled = [spelling(h) for h in headers[:named]]
    violations = _header_problems(headers[:named], spelled)
    if violations:  # the rest would only repeat these
        raise ColumnError("INVALID_HEADER", _summary(violations), violations)
    targets: list[str | None] = [None] * named
    column_of = {s: i for i, s in enumerate(spelled)}
    for wanted, target in mapping.items():
        index = column_of.get(spelling(wanted))
        if index is None:
            violations.append(
                FieldViolation(
                    _path(wanted),
                    f"the file has no column {wanted[:64]!r} (its columns: "
                    f"{', '.join(repr(h[:64]) for h in headers[:named][:20])})",
                )
            )
        else:
            targets[index] = target
    mapped = {t for t in targets if t}
    by_alias: dict[str, list[int]] = defaultdict(list)
    for index, spelled_header in enumerate(spelled):
        field = _BY_ALIAS.get(spelled_header)
        if targets[index] is None and field and field not in mapped:
            by_alias[field].append(index)
    for field, indexes in by_alias.items():
        if len(indexes) > 1:
            names = ", ".join(repr(headers[i]) for i in indexes)
            violations.append(
                FieldViolation(
                    "file",
                    f"columns {names} could each be {field!r}; send a column_mapping naming one",
                )
            )
        targets[indexes[0]] = field
    for index, chosen in enumerate(targets):
        if chosen is None:
            key = custom_key(headers[index])
            targets[index] = key
            if key in CORE_FIELDS:  # an alias of a field the mapping gave another column
                violations.append(
                    FieldViolation(
                        "file",
                        f"column {headers[index][:64]!r} would be read as {key!r}, which "
                        "column_mapping gives another column; map it too (to a custom field "
                        'key, or to "" to drop it)',
                    )
                )
            elif not CUSTOM_KEY.fullmatch(key):
                violations.append(
                    FieldViolation(
                        "file",
                        f"column {headers[index][:64]!r} cannot be a custom field name (ASCII "
                        "letters and digits, starting with a letter); rename it or map it in "
                        "column_mapping",
                    )
                )
    final = tuple(t or "" for t in targets)
    custom_seen: dict[str, int] = {}
    for index, target in enumerate(final):
        if target and target not in CORE_FIELDS:
            if target in custom_seen:
                violations.append(
                    FieldViolation(
                        "file",
                        f"columns {headers[custom_seen[target]]!r} and {headers[index]!r} "
                        f"both make the custom field {target!r}",
                    )
                )
            custom_seen[target] = index
    missing = [f for f in REQUIRED_FIELDS if f not in final]
    if missing:  # the first thing to fix: said first, with the header's other problems
        hints = "; ".join(f"{f}: {', '.join(repr(a) for a in ALIASES[f][:4])}…" for f in missing)
        message = (
            f"missing required columns: {', '.join(missing)} (accepted headers — {hints}; "
            "or name the column in column_mapping)"
        )
        raise ColumnError(
            "MISSING_COLUMNS",
            message,
            [FieldViolation("file", f"no column for {f!r}") for f in missing] + violations,
        )
    if violations:
        raise ColumnError("INVALID_HEADER", _summary(violations), violations)
    return ColumnPlan(
        headers=headers,
        targets=final,
        known=tuple((i, t) for i, t in enumerate(final) if t in CORE_FIELDS),
        custom=tuple((i, t) for i, t in enumerate(final) if t and t not in CORE_FIELDS),
    )


def _header_problems(headers: Sequence[str], spelled: Sequence[str]) -> list[FieldViolation]:
    """Empty names and headers that are the same column spelled differently ("Name", "name")."""
    violations = [
        FieldViolation("file", f"column {i + 1} has an empty name")
        for i, s in enumerate(spelled)
        if not s
    ]
    seen: dict[str, int] = {}
    for index, spelled_header in enumerate(spelled):
        if not spelled_header:
            continue
        if spelled_header in seen:
            first = seen[spelled_header]
            violations.append(
                FieldViolation(
                    "file",
                    f"duplicate columns: {headers[first][:64]!r} (column {first + 1}) and "
                    f"{headers[index][:64]!r} (column {index + 1}) are the same column",
                )
            )
        else:
            seen[spelled_header] = index
    return violations


def _path(header: str) -> str:
    return f"column_mapping[{header[:64]!r}]"


def _summary(violations: list[FieldViolation]) -> str:
    return "; ".join(v.description for v in violations)
