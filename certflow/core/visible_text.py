"""Characters that hide or reorder text: ONE rule for what ingest refuses and what verify
neutralises on display, so that a certificate ingest accepted is never flagged by verify.

Invisible formatting: every format character (Cf: bidi overrides and isolates, zero-width
characters, BOM, tags...) and the line/paragraph separators (Zl, Zp). ZWNJ and ZWJ are the
exception between two non-Latin letters or marks, where Persian, Arabic and Indic scripts need
them ("می‌رزا", "क्‍ष"); in Latin text, or at an edge, they only hide or make look-alikes.

Hidden on display: invisible formatting, control characters except tab (ingest refuses those in
names and titles) and lone surrogates (a JSON escape such as \\ud800; never valid UTF-8 input).

Each rule is one compiled regular expression led by one character class: re scans for it in C,
linear even on a hostile megabyte (a per-character Python loop took 0.43 s on 4M characters).
"""

import re
import unicodedata
from collections.abc import Iterable

MARKER = "\ufffd"
_JOINERS = "\u200c\u200d"  # ZWNJ, ZWJ
_FIRST_NON_LATIN = 0x0370  # Latin text never needs a joiner
# Unicode assigns letters, marks and format characters only in planes 0-3 and 14 (planes 4-13
# are unassigned, 15-16 private use): scanning those is ~3x cheaper than all 1.1M code points.
# tests/unit/test_visible_text.py checks this against the running Python's Unicode database.
SCANNED_PLANES = (range(0x0, 0x40000), range(0xE0000, 0xF0000))
_ASTRAL = (0x10000, 0x10FFFF)

Span = tuple[int, int]


def _spans(code_points: Iterable[int]) -> list[Span]:
    """Ascending code points as (first, last) runs."""
    spans: list[Span] = []
    for c in code_points:
        if spans and spans[-1][1] == c - 1:
            spans[-1] = (spans[-1][0], c)
        else:
            spans.append((c, c))
    return spans


def _class(spans: list[Span]) -> str:
    members = "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in spans)
    return f"[{members}]"


def _binary_search(spans: list[Span]) -> str:
    """One of spans, tested in log2(len) one-range steps: re tests a class holding characters
    beyond U+FFFF range by range, ~300 ranges for the astral letters (1 s on 2M emoji)."""
    if len(spans) == 1:
        return _class(spans)
    middle = len(spans) // 2
    lower = _class([(spans[0][0], spans[middle - 1][1])])
    low, high = _binary_search(spans[:middle]), _binary_search(spans[middle:])
    return f"(?:(?={lower}){low}|(?!{lower}){high})"


def _one_of(code_points: list[int]) -> str:
    """A pattern matching one of code_points, quick for any character."""
    basic = _class(_spans(c for c in code_points if c < _ASTRAL[0]))  # a bitmap in re
    astral = _spans(c for c in code_points if c >= _ASTRAL[0])
    if not astral:
        return basic
    return f"(?:{basic}|(?={_class([_ASTRAL])}){_binary_search(astral)})"


def _format_and_word_letters() -> tuple[str, str]:
    """(the ranges of every format character but the joiners, a pattern matching one non-Latin
    letter or mark), from one scan of the Unicode database."""
    formats: list[int] = []
    word_letters: list[int] = []
    for plane in SCANNED_PLANES:
        for c in plane:
            category = unicodedata.category(chr(c))
            if category == "Cf" and chr(c) not in _JOINERS:
                formats.append(c)
            elif category[0] in "LM" and c >= _FIRST_NON_LATIN:
                word_letters.append(c)
    return _class(_spans(formats))[1:-1], _one_of(word_letters)


_FORMAT, _WORD_LETTER = _format_and_word_letters()
# A joiner is hidden unless it sits between two word letters: i.e. when the character before it
# is not a word letter, or the one after it is not. Other characters of the class always are.
_UNLESS_JOINING_A_WORD = f"(?:(?<![{_JOINERS}])|(?<!{_WORD_LETTER}[{_JOINERS}])|(?!{_WORD_LETTER}))"
_SEPARATORS = "\u2028\u2029"  # Zl, Zp
_CONTROLS_AND_SURROGATES = "\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff"  # tab is shown as it is
INVISIBLE_FORMATTING = re.compile(f"[{_FORMAT}{_JOINERS}{_SEPARATORS}]{_UNLESS_JOINING_A_WORD}")
HIDDEN = re.compile(
    f"[{_FORMAT}{_JOINERS}{_SEPARATORS}{_CONTROLS_AND_SURROGATES}]{_UNLESS_JOINING_A_WORD}"
)


def first_invisible_formatting(text: str) -> str | None:
    """The first invisible formatting character in text (what ingest refuses), or None."""
    match = INVISIBLE_FORMATTING.search(text)
    return match.group() if match else None


def displayable(text: str) -> str:
    """text with every hidden character replaced by a visible �; nothing else is touched."""
    return HIDDEN.sub(MARKER, text)
