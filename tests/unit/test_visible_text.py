"""The one rule of hidden characters, shared by ingest (refuses) and verify (neutralises)."""

import itertools
import unicodedata

import pytest

from certflow.core.validation import header_unsafe, invisible_formatting
from certflow.core.visible_text import (
    MARKER,
    SCANNED_PLANES,
    displayable,
    first_invisible_formatting,
)

JOINERS = "\u200c\u200d"
# neighbours that matter: Latin/ASCII, non-Latin letters and marks in and beyond the BMP,
# format characters, controls, a tab, an emoji, private use
ALPHABET = [
    "a", "é", " ", "\t", "\n", "\x1b", "ب", "\u094d", "क", "Ω", "\U00011103", "\U0001d400",
    "\U0001f600", "\ue000", "\u200b", "\u202e", "\u2028", "\ufeff", "\U000e0041", *JOINERS,
]  # fmt: skip


def reference_hidden(text: str, index: int) -> bool:
    """The rule written one character at a time, as ingest first had it."""
    character = text[index]
    category = unicodedata.category(character)
    if character in JOINERS:
        neighbours = text[index - 1 : index] + text[index + 1 : index + 2]
        return not (len(neighbours) == 2 and index > 0 and all(map(_word_letter, neighbours)))
    if category == "Cc":
        return character != "\t"
    return category in {"Cf", "Cs", "Zl", "Zp"}


def _word_letter(character: str) -> bool:
    return ord(character) >= 0x370 and unicodedata.category(character)[0] in "LM"


def reference_displayable(text: str) -> str:
    return "".join(MARKER if reference_hidden(text, i) else c for i, c in enumerate(text))


def test_the_scanned_planes_hold_every_format_character_letter_and_mark() -> None:
    scanned = set(itertools.chain.from_iterable(SCANNED_PLANES))
    elsewhere = [
        c
        for c in range(0x110000)
        if c not in scanned
        and (unicodedata.category(chr(c))[0] in "LM" or unicodedata.category(chr(c)) == "Cf")
    ]
    assert elsewhere == [], f"{len(elsewhere)} code points outside the scanned planes"


def test_the_rule_matches_its_definition_on_every_short_text() -> None:
    for length in (1, 2, 3):
        for letters in itertools.product(ALPHABET, repeat=length):
            text = "".join(letters)
            assert displayable(text) == reference_displayable(text), ascii(text)


def test_every_format_character_is_hidden_alone() -> None:
    for plane in SCANNED_PLANES:
        for c in plane:
            if unicodedata.category(chr(c)) == "Cf":
                assert first_invisible_formatting(f"x{chr(c)}y") == chr(c), hex(c)


@pytest.mark.parametrize(
    "name",
    ["میرزا\u200cزاده", "क्\u200dष", "Zoë Ng", "محمد", "Alice\u200bBob", "Mi\u200crza", "a\u202eb"],
)
def test_verify_flags_exactly_what_ingest_refuses(name: str) -> None:
    accepted_by_ingest = header_unsafe(name) is None and invisible_formatting(name) is None
    shown_untouched = displayable(name) == name
    assert accepted_by_ingest == shown_untouched


def test_ingest_and_verify_agree_on_every_short_text() -> None:
    for letters in itertools.product(ALPHABET, repeat=3):
        text = "".join(letters)
        accepted = header_unsafe(text) is None and invisible_formatting(text) is None
        assert accepted == (displayable(text) == text), ascii(text)
