"""Validation and normalisation of one certificate's fields, from a CSV row or an API call."""

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from email_validator import EmailNotValidError, validate_email

from certflow.core.dates import DateOrder, DateProblem, parse_date
from certflow.core.document import CertificateContent
from certflow.core.time_zones import UnknownTimeZone, iana_zone
from certflow.core.visible_text import first_invisible_formatting

MAX_NAME_LENGTH = 200
MAX_TITLE_LENGTH = 300
MAX_EMAIL_LENGTH = 254
MAX_CUSTOM_FIELDS = 20
MAX_CUSTOM_VALUE_LENGTH = 1000
CUSTOM_FIELD_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# runs of spaces, tabs and no-break spaces in a name become one space; line breaks and other
# separators stay, to be refused (they must never reach an email header)
_NAME_SPACES = re.compile(r"[\t \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_UNUSUAL_SPACE = re.compile(r"[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_DIGIT = re.compile(r"\d")
# Unicode category Cc is exactly U+0000–U+001F and U+007F–U+009F; a regex is ~10x faster
# than unicodedata.category per character on the hot path
_CONTROL_EXCEPT_TAB = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTROL_EXCEPT_TAB_LF = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class RowError:
    row_number: int  # line in the CSV file (header = 1); 0 for a request-level error
    field: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class RowWarning:
    """Something that looks wrong in an accepted row: the certificate is still issued."""

    row_number: int  # line in the CSV file (header = 1); 0 for a single issue
    field: str
    code: str
    message: str


def header_unsafe(value: str) -> str | None:
    """Why a value must not reach an email header, or None.

    Python 3.11.7 still lets an encoded newline through (CVE-2024-6923), so besides CR, LF and
    NUL we refuse the encoded-word opener '=?' outright.
    """
    if any(ch in value for ch in "\r\n\x00"):
        return "contains a line break or NUL"
    if "=?" in value:
        return "contains '=?' (an encoded-word opener)"
    if _CONTROL_EXCEPT_TAB.search(value):
        return "contains a control character"
    return None


def invisible_formatting(value: str) -> str | None:
    """The first display-altering invisible character in value, as "U+XXXX (NAME)", or None.

    The rule is shared with verify's display (certflow.core.visible_text): ZWNJ/ZWJ are allowed
    between two non-Latin letters or marks (a Devanagari virama, a Persian word), where scripts
    need them; anywhere else they only hide or spoof.
    """
    character = first_invisible_formatting(value)
    if character is None:
        return None
    return f"U+{ord(character):04X} ({unicodedata.name(character, 'FORMAT CHARACTER')})"


def _unsafe_text(value: str) -> str | None:
    if problem := header_unsafe(value):
        return problem
    if character := invisible_formatting(value):
        return f"contains {character}, an invisible character that changes how text is shown"
    return None


def _text_field(
    raw: Mapping[str, str], key: str, row: int, max_length: int, errors: list[RowError]
) -> str:
    value = unicodedata.normalize("NFC", (raw.get(key) or "").strip())
    if key == "name" and ("  " in value or _UNUSUAL_SPACE.search(value)):
        value = _NAME_SPACES.sub(" ", value)
    if not value:
        errors.append(RowError(row, key, "MISSING_VALUE", f"{key} is empty"))
    elif len(value) > max_length:
        errors.append(
            RowError(row, key, "TOO_LONG", f"{key} has {len(value)} characters (max {max_length})")
        )
    elif problem := _unsafe_text(value):
        errors.append(RowError(row, key, "UNSAFE_CHARACTERS", f"{key} {problem}"))
    return value


def _date_field(
    raw: Mapping[str, str],
    key: str,
    row: int,
    errors: list[RowError],
    required: bool,
    order: DateOrder,
) -> date | None:
    text = (raw.get(key) or "").strip()
    if not text:
        if required:
            errors.append(RowError(row, key, "MISSING_VALUE", f"{key} is empty"))
        return None
    value = parse_date(text, order)
    if isinstance(value, DateProblem):
        errors.append(RowError(row, key, value.reason, f"{key} {value.message}"))
        return None
    return value


def _email_field(
    raw: Mapping[str, str], row: int, errors: list[RowError], allow_smtputf8: bool
) -> str:
    """The address in normalised Unicode form: IDN domains are kept as Unicode (notify converts
    them to punycode); a non-ASCII local part needs SMTPUTF8 all the way, so it is opt-in."""
    text = (raw.get("email") or "").strip()
    if not text:
        errors.append(RowError(row, "email", "MISSING_VALUE", "email is empty"))
        return ""
    if len(text) > MAX_EMAIL_LENGTH:
        errors.append(RowError(row, "email", "INVALID_EMAIL", "email is over 254 characters"))
        return ""
    if header_unsafe(text):
        errors.append(RowError(row, "email", "INVALID_EMAIL", "email contains unsafe characters"))
        return ""
    if character := invisible_formatting(text):
        errors.append(RowError(row, "email", "UNSAFE_CHARACTERS", f"email contains {character}"))
        return ""
    try:
        address = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        errors.append(RowError(row, "email", "INVALID_EMAIL", f"{text!r}: {exc}"))
        return ""
    if address.smtputf8 and not allow_smtputf8:
        errors.append(
            RowError(
                row,
                "email",
                "UNSUPPORTED_EMAIL",
                f"{text!r} has non-ASCII characters before the @; delivering it needs SMTPUTF8, "
                "which the mail relay may not support (an ASCII address for this recipient, or "
                "CERTFLOW_ALLOW_SMTPUTF8_ADDRESSES=true if the relay supports it)",
            )
        )
        return ""
    return address.normalized


def validate_certificate(
    raw: Mapping[str, str],
    custom: Mapping[str, str],
    *,
    row_number: int,
    today: date,
    allow_smtputf8: bool = False,
    date_order: DateOrder = DateOrder.UNSPECIFIED,
    default_time_zone: str = "",
) -> CertificateContent | list[RowError]:
    """Validated, normalised content, or every reason the input is refused.

    `today` is the issue date: a certificate that would be expired by then is refused. A row
    without a time zone gets `default_time_zone` (the issuer's; "" leaves it to notify)."""
    errors: list[RowError] = []
    name = _text_field(raw, "name", row_number, MAX_NAME_LENGTH, errors)
    email = _email_field(raw, row_number, errors, allow_smtputf8)
    title = _text_field(raw, "title", row_number, MAX_TITLE_LENGTH, errors)
    completed = _date_field(raw, "completion_date", row_number, errors, True, date_order)
    expires = _date_field(raw, "expiry_date", row_number, errors, False, date_order)
    # one day of grace for time zones ahead of UTC
    if completed and completed > today + timedelta(days=1):
        errors.append(
            RowError(row_number, "completion_date", "DATE_IN_FUTURE", f"{completed} is ahead")
        )
    if completed and expires and expires <= completed:
        errors.append(
            RowError(row_number, "expiry_date", "INVALID_DATE", "expiry is not after completion")
        )
    elif expires and expires <= today:
        errors.append(
            RowError(
                row_number,
                "expiry_date",
                "EXPIRED_AT_ISSUE",
                f"expiry_date {expires} is not after the issue date {today}: the certificate "
                "would be expired when issued",
            )
        )
    custom_fields = _custom_fields(custom, row_number, errors)
    zone = _time_zone_field(raw, row_number, errors) or default_time_zone
    if errors:
        return errors
    assert completed is not None
    return CertificateContent(
        recipient_name=name,
        recipient_email=email,
        title=title,
        completion_date=completed,
        expiry_date=expires,
        custom_fields=custom_fields,
        time_zone=zone,
    )


def _time_zone_field(raw: Mapping[str, str], row: int, errors: list[RowError]) -> str:
    """The row's IANA time zone name, "" when the cell is empty or absent."""
    text = (raw.get("time_zone") or "").strip()
    if not text:
        return ""
    try:
        iana_zone(text)
    except UnknownTimeZone as exc:
        errors.append(RowError(row, "time_zone", "UNKNOWN_TIME_ZONE", f"time_zone {exc}"))
        return ""
    return text


def name_warnings(name: str, row_number: int) -> list[RowWarning]:
    """What looks wrong in an accepted name (a typing slip or a shifted column, usually)."""
    letters_only = name.replace(" ", "")
    if letters_only.isalpha() and len(letters_only) > 1 and not letters_only.isupper():
        return []  # the usual name: the hot path stops here
    warnings: list[RowWarning] = []

    def warn(code: str, message: str) -> None:
        warnings.append(RowWarning(row_number, "name", code, f"name {name[:64]!r} {message}"))

    if "@" in name:
        warn("NAME_LOOKS_LIKE_EMAIL", "looks like an email address")
    if _DIGIT.search(name):
        warn("NAME_HAS_DIGITS", "has digits")
    letters = sum(1 for c in name if c.isalpha())
    if letters == 1:
        warn("NAME_SINGLE_LETTER", "has a single letter")
    elif letters > 1 and name.isupper():
        warn("NAME_ALL_CAPITALS", "is all capitals")
    return warnings


def _custom_fields(custom: Mapping[str, str], row: int, errors: list[RowError]) -> dict[str, str]:
    if len(custom) > MAX_CUSTOM_FIELDS:
        errors.append(
            RowError(row, "", "TOO_MANY_FIELDS", f"at most {MAX_CUSTOM_FIELDS} custom fields")
        )
        return {}
    fields: dict[str, str] = {}
    for key, raw_value in custom.items():
        if not CUSTOM_FIELD_KEY.match(key):
            errors.append(
                RowError(row, key, "INVALID_FIELD_NAME", "custom field names are [a-z][a-z0-9_]*")
            )
            continue
        value = unicodedata.normalize("NFC", (raw_value or "").strip())
        if len(value) > MAX_CUSTOM_VALUE_LENGTH:
            errors.append(RowError(row, key, "TOO_LONG", f"{key} is longer than 1000 characters"))
        elif _CONTROL_EXCEPT_TAB_LF.search(value):
            errors.append(RowError(row, key, "UNSAFE_CHARACTERS", f"{key} has control characters"))
        elif character := invisible_formatting(value):
            errors.append(RowError(row, key, "UNSAFE_CHARACTERS", f"{key} contains {character}"))
        elif value:
            fields[key] = value
    return fields


def dedupe_key(issuer_id: str, content: CertificateContent) -> str:
    """Same recipient, same title, same completion date = the same certificate."""
    material = "\x1f".join(
        (
            issuer_id,
            content.recipient_email.casefold(),
            content.title.casefold(),
            content.completion_date.isoformat(),
        )
    )
    return hashlib.sha256(material.encode()).hexdigest()
