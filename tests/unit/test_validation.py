from datetime import date, datetime

import pytest

from certflow.core.dates import DateOrder
from certflow.core.document import CertificateContent, IssuerProfile, leaf_hash
from certflow.core.issuance import key_requests, plan_certificates
from certflow.core.validation import header_unsafe, name_warnings, validate_certificate

TODAY = date(2026, 11, 29)
GOOD = {
    "name": "  Ada Lovelace ",
    "email": "Ada@Example.COM",
    "title": "BSc Mathematics",
    "completion_date": "2026-06-30",
}


def validate(raw, custom=None):
    return validate_certificate(raw, custom or {}, row_number=2, today=TODAY)


def reasons(result) -> set[tuple[str, str]]:
    assert isinstance(result, list), result
    return {(e.field, e.reason) for e in result}


def test_valid_row_is_normalised():
    content = validate(GOOD, {"grade": " A "})
    assert isinstance(content, CertificateContent)
    assert content.recipient_name == "Ada Lovelace"
    assert content.recipient_email == "Ada@example.com"  # domain lower-cased
    assert content.completion_date == date(2026, 6, 30)
    assert content.custom_fields == {"grade": "A"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": ""}, ("name", "MISSING_VALUE")),
        ({"name": "x" * 201}, ("name", "TOO_LONG")),
        ({"email": "not-an-email"}, ("email", "INVALID_EMAIL")),
        ({"email": "a@b"}, ("email", "INVALID_EMAIL")),
        ({"email": "a@example.com\r\nBcc: x@evil.test"}, ("email", "INVALID_EMAIL")),
        ({"completion_date": "10/06/2026"}, ("completion_date", "AMBIGUOUS_DATE")),
        ({"completion_date": "31/06/2026"}, ("completion_date", "INVALID_DATE")),
        ({"completion_date": "06/31/2026"}, ("completion_date", "INVALID_DATE")),
        ({"completion_date": "2026-02-30"}, ("completion_date", "INVALID_DATE")),
        ({"completion_date": "1850-01-01"}, ("completion_date", "INVALID_DATE")),
        ({"completion_date": "2030-01-01"}, ("completion_date", "DATE_IN_FUTURE")),
        ({"expiry_date": "2026-01-01"}, ("expiry_date", "INVALID_DATE")),
        ({"title": "Cert\nBcc: victim@example.com"}, ("title", "UNSAFE_CHARACTERS")),
        ({"name": "=?UTF-8?Q?=0A?=Bcc: x@evil.test"}, ("name", "UNSAFE_CHARACTERS")),
        ({"name": "Ada\x00"}, ("name", "UNSAFE_CHARACTERS")),
    ],
)
def test_invalid_fields_are_refused_with_reason(change, expected):
    assert expected in reasons(validate({**GOOD, **change}))


def test_all_errors_of_a_row_are_reported_at_once():
    result = validate({"name": "", "email": "x", "title": "", "completion_date": "never"})
    assert {f for f, _ in reasons(result)} == {"name", "email", "title", "completion_date"}


def test_custom_fields_are_checked():
    assert ("Bad Key", "INVALID_FIELD_NAME") in reasons(validate(GOOD, {"Bad Key": "x"}))
    assert ("", "TOO_MANY_FIELDS") in reasons(validate(GOOD, {f"f{i}": "x" for i in range(21)}))
    assert ("note", "TOO_LONG") in reasons(validate(GOOD, {"note": "x" * 1001}))


def test_header_unsafe():
    assert header_unsafe("Ada Lovelace") is None
    assert header_unsafe("Zoë 张伟") is None
    for bad in ("a\rb", "a\nb", "a\x00", "=?utf-8?b?QQ==?=", "a\x1bb"):
        assert header_unsafe(bad)


def test_duplicates_in_one_input_are_refused_first_one_wins():
    a = validate(GOOD)
    b = validate({**GOOD, "email": "ada@EXAMPLE.com", "title": "bsc mathematics"})
    c = validate({**GOOD, "title": "MSc"})
    keyed, errors = key_requests("issuer", [(2, a), (3, b), (4, c)])
    assert [k.row_number for k in keyed] == [2, 4]
    assert [(e.row_number, e.reason) for e in errors] == [(3, "DUPLICATE_IN_FILE")]


def test_planned_certificates_have_unique_salts_and_matching_leaves():
    issuer = IssuerProfile(id="https://x.example", name="X")
    keyed, _ = key_requests("issuer", [(2, validate(GOOD))])
    (planned,) = plan_certificates(issuer, keyed, issued_at=datetime(2026, 7, 1))
    assert planned.leaf_hash == leaf_hash(planned.canonical_document, planned.leaf_salt)
    assert len(planned.leaf_salt) == 32
    again = plan_certificates(issuer, keyed, issued_at=datetime(2026, 7, 1))
    assert again[0].leaf_salt != planned.leaf_salt


@pytest.mark.parametrize(
    ("field", "value", "code_point"),
    [
        ("name", "Ada \u202eecalevoL", "U+202E"),  # right-to-left override
        ("name", "Ada\u2066 Lovelace\u2069", "U+2066"),  # left-to-right isolate
        ("title", "BSc\u200b Mathematics", "U+200B"),  # zero width space
        ("title", "BSc Mathematics\ufeff", "U+FEFF"),  # zero width no-break space
        ("name", "Ada\u2060Lovelace", "U+2060"),  # word joiner
        ("name", "Ada\u200dLovelace", "U+200D"),  # a joiner between Latin letters
        ("name", "\u200cAda", "U+200C"),  # a joiner at the start
        ("title", "Soft\u00adhyphen", "U+00AD"),  # any other Cf
        ("name", "Ada\U000e0041", "U+E0041"),  # tag characters
        ("title", "Line\u2028separator", "U+2028"),
    ],
)
def test_invisible_formatting_characters_are_refused_naming_the_code_point(
    field, value, code_point
):
    result = validate({**GOOD, field: value})
    assert (field, "UNSAFE_CHARACTERS") in reasons(result)
    assert code_point in next(e.message for e in result if e.field == field)


def test_invisible_formatting_in_custom_fields_and_email_is_refused():
    assert ("note", "UNSAFE_CHARACTERS") in reasons(validate(GOOD, {"note": "a\u202eb"}))
    assert ("email", "UNSAFE_CHARACTERS") in reasons(
        validate({**GOOD, "email": "ada\u200b@example.com"})
    )


@pytest.mark.parametrize(
    "name",
    [
        "क्\u200dष",  # Devanagari: ZWJ after a virama (a mark), before a letter
        "می\u200cخواهم",  # Persian: ZWNJ inside a word
        "Zoë 张伟 Ångström",
    ],
)
def test_joiners_inside_words_of_scripts_that_need_them_are_accepted(name):
    assert isinstance(validate({**GOOD, "name": name}), CertificateContent)


def test_idn_domains_are_accepted_in_unicode_form():
    content = validate({**GOOD, "email": "user@BÜCHER.example"})
    assert isinstance(content, CertificateContent)
    assert content.recipient_email == "user@bücher.example"


def test_non_ascii_local_part_is_refused_unless_smtputf8_is_allowed():
    row = {**GOOD, "email": "jösé@example.org"}
    refused = validate(row)
    assert reasons(refused) == {("email", "UNSUPPORTED_EMAIL")}
    assert "SMTPUTF8" in refused[0].message
    allowed = validate_certificate(row, {}, row_number=2, today=TODAY, allow_smtputf8=True)
    assert isinstance(allowed, CertificateContent)
    assert allowed.recipient_email == "jösé@example.org"


def test_names_are_trimmed_nfc_and_their_inner_whitespace_collapsed():
    content = validate({**GOOD, "name": " Zoe\u0308 \u00a0 \t Ångström  "})
    assert isinstance(content, CertificateContent)
    assert content.recipient_name == "Zoë Ångström"  # NFC: one code point for ë


@pytest.mark.parametrize(
    "name", ["Ada\r\nLovelace", "Ada\nBcc: x@evil.example", "Ada\u2028Lovelace"]
)
def test_line_breaks_in_names_are_refused_not_collapsed(name):
    assert ("name", "UNSAFE_CHARACTERS") in reasons(validate({**GOOD, "name": name}))


def test_a_certificate_expired_at_issue_is_refused():
    on_issue_day = validate({**GOOD, "expiry_date": TODAY.isoformat()})
    assert reasons(on_issue_day) == {("expiry_date", "EXPIRED_AT_ISSUE")}
    assert "would be expired when issued" in on_issue_day[0].message
    assert isinstance(validate({**GOOD, "expiry_date": "2026-11-30"}), CertificateContent)


def test_dates_follow_the_declared_order():
    row = {**GOOD, "completion_date": "10/06/2026", "expiry_date": "06/10/2031"}
    assert reasons(validate(row)) == {
        ("completion_date", "AMBIGUOUS_DATE"),
        ("expiry_date", "AMBIGUOUS_DATE"),
    }
    day_first = validate_certificate(
        row, {}, row_number=2, today=TODAY, date_order=DateOrder.DAY_FIRST
    )
    assert isinstance(day_first, CertificateContent)
    assert (day_first.completion_date, day_first.expiry_date) == (
        date(2026, 6, 10),
        date(2031, 10, 6),
    )
    month_first = validate_certificate(
        row, {}, row_number=2, today=TODAY, date_order=DateOrder.MONTH_FIRST
    )
    assert isinstance(month_first, CertificateContent)
    assert month_first.completion_date == date(2026, 10, 6)


@pytest.mark.parametrize(
    ("name", "codes"),
    [
        ("Ada Lovelace", []),
        ("Zoë Ångström", []),
        ("张伟", []),
        ("Jean-Pierre O'Neil", []),
        ("Henry VIII", []),
        ("ADA LOVELACE", ["NAME_ALL_CAPITALS"]),
        ("ADA", ["NAME_ALL_CAPITALS"]),
        ("Ada Lovelace 2", ["NAME_HAS_DIGITS"]),
        ("A", ["NAME_SINGLE_LETTER"]),
        ("J.", ["NAME_SINGLE_LETTER"]),
        ("ada@example.org", ["NAME_LOOKS_LIKE_EMAIL"]),
        ("ADA99@EXAMPLE.ORG", ["NAME_LOOKS_LIKE_EMAIL", "NAME_HAS_DIGITS", "NAME_ALL_CAPITALS"]),
    ],
)
def test_names_that_look_wrong_are_warned_about(name, codes):
    warnings = name_warnings(name, 7)
    assert [w.code for w in warnings] == codes
    assert all((w.row_number, w.field) == (7, "name") for w in warnings)


def test_warned_names_are_still_valid():
    assert isinstance(validate({**GOOD, "name": "ADA LOVELACE 2"}), CertificateContent)
