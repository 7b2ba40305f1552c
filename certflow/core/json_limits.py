"""Limits checked on untrusted JSON text BEFORE it is parsed.

Python's `json` parser recurses once per nested array or object, and its only guard is the
interpreter's recursion limit, which a dependency may raise (py_ecc, imported by web3, sets it
to 100,000): a 200 KB body of "[" then crashes the process with SIGSEGV instead of raising
RecursionError. So the nesting depth is measured here by a linear, non-recursive scan of the
text, whatever the interpreter's settings, and refused above a small limit.
"""

import re
from itertools import accumulate

# Our credentials nest about 6 levels; 64 leaves room for any honest JSON document.
MAX_JSON_DEPTH = 64

# A JSON string literal (escapes included), or an unterminated one running to the end of the
# text: a match attempt never fails once it starts at a quote, so the scan stays linear (the
# plain pattern, failing on '"' + '\\"' * n, retries at every escaped quote: quadratic).
_STRING_LITERAL = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonTooDeep(ValueError):
    """The text nests arrays/objects deeper than allowed."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON nested deeper than {max_depth} levels")
        self.max_depth = max_depth


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text`: the highest running count of openers
    minus closers outside string literals (counted in C: no Python loop per character).

    Exact for valid JSON. For invalid JSON it is never lower than the depth a parser reaches
    before it fails: the parser stops at an unterminated string (whose tail is skipped here too)
    or at a stray or mismatched closer, and up to that point both counts agree.
    """
    brackets = _NOT_A_BRACKET.sub("", _STRING_LITERAL.sub("", text))
    return max(0, max(accumulate(map(_STEP.__getitem__, brackets)), default=0))


def check_json_depth(text: str, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raises JsonTooDeep when `text` nests deeper than `max_depth`."""
    if text.count("[") + text.count("{") <= max_depth:
        return  # fewer openers than the limit, even counting those in strings: no scan needed
    if json_depth(text) > max_depth:
        raise JsonTooDeep(max_depth)
