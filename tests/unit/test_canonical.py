import json

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from certflow.core.canonical import canonical_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_property_canonical_json_equals_rfc8785_reference(value):
    assert canonical_json(value) == rfc8785.dumps(value)


def test_astral_keys_sort_by_utf16_like_rfc8785():
    # U+1F600 sorts before U+FF61 in UTF-16 (surrogates) but after it by code point.
    value = {"\U0001f600": 1, "\uff61": 2}
    assert canonical_json(value) == rfc8785.dumps(value)


def test_floats_go_through_the_reference_implementation():
    assert canonical_json({"a": 1.5, "b": 1e21}) == rfc8785.dumps({"a": 1.5, "b": 1e21})


def test_output_is_compact_sorted_utf8():
    out = canonical_json({"b": "é", "a": [1, True, None]})
    assert out == '{"a":[1,true,null],"b":"é"}'.encode()
    assert json.loads(out) == {"b": "é", "a": [1, True, None]}


names = st.text(min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    names,
    st.emails(),
    names,
    st.dates(min_value=__import__("datetime").date(1900, 1, 1)),
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True), st.text(max_size=30), max_size=5
    ),
)
def test_property_credential_fast_path_equals_rfc8785(name, email, title, day, custom):
    from datetime import UTC, datetime

    from certflow.core.canonical import canonical_json_of_credential
    from certflow.core.document import CertificateContent, IssuerProfile, build_credential

    document = build_credential(
        certificate_id="00000000-0000-4000-8000-000000000000",
        issuer=IssuerProfile(id="https://issuer.example", name=title),
        content=CertificateContent(name, email, title, day, None, custom),
        email_salt="00",
        issued_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert canonical_json_of_credential(document) == rfc8785.dumps(document)
