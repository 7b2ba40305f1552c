"""The nesting-depth scan that runs before any JSON parsing of untrusted text."""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certflow.core.json_limits import MAX_JSON_DEPTH, JsonTooDeep, check_json_depth, json_depth


def nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


def deep_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def real_depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((real_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((real_depth(v) for v in value.values()), default=0)
    return 0


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ('"[[[["', 0),
        ("[]", 1),
        ("{}", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('["]"]', 1),  # a closer inside a string
        ('["\\"[[[["]', 1),  # an escaped quote does not end the string
        ('["\\\\", [[]]]', 3),  # an escaped backslash does end it
        ('{"k\\u0022[[": [{}]}', 3),  # a \u escape is one character
        ("[[],[],[[]]]", 3),
        ('[[["unterminated', 3),  # a parser stops in the string: its tail is not counted
        ("[1]]][[[", 1),  # a parser stops at the stray closer, at depth 1
        ("not json at all", 0),
        ("", 0),
    ],
)
def test_depth_is_counted_outside_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth


def test_exactly_at_the_limit_is_accepted_and_one_more_is_refused() -> None:
    check_json_depth(nested(MAX_JSON_DEPTH))
    check_json_depth(deep_object(MAX_JSON_DEPTH))
    with pytest.raises(JsonTooDeep):
        check_json_depth(nested(MAX_JSON_DEPTH + 1))
    with pytest.raises(JsonTooDeep):
        check_json_depth(deep_object(MAX_JSON_DEPTH + 1))


def test_the_crashing_inputs_are_refused() -> None:
    with pytest.raises(JsonTooDeep):
        check_json_depth("[" * 100_000)  # not even valid JSON: refused before parsing
    with pytest.raises(JsonTooDeep):
        check_json_depth('{"a":' * 30_000 + "1" + "}" * 30_000)
    with pytest.raises(JsonTooDeep):
        check_json_depth("[{" * 50)  # mixed containers count together


def test_many_brackets_inside_strings_are_not_depth() -> None:
    check_json_depth(json.dumps({"name": "[" * 10_000, "other": "{" * 10_000}))


def test_a_shallow_document_with_many_containers_is_accepted() -> None:
    check_json_depth(json.dumps([[1, [2]]] * 10_000))


@pytest.mark.timeout(60)
def test_scan_is_linear_on_unterminated_strings_full_of_escaped_quotes() -> None:
    # A plain string-literal regex retries at every escaped quote here: minutes, not ms.
    hostile = '"' + '\\"' * 100_000 + "[" * 100
    check_json_depth(hostile)  # the tail is inside the unterminated string
    assert json_depth('["' + '\\"' * 100_000) == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\u202e'),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\a'), children, max_size=3)
    ),
    max_leaves=30,
)


@given(json_values)
def test_depth_matches_the_structure_for_any_json(value: Any) -> None:
    assert json_depth(json.dumps(value)) == real_depth(value)
    assert json_depth(json.dumps(value, ensure_ascii=False)) == real_depth(value)
