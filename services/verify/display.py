"""Text from a posted document made safe to show: nothing invisible, nothing that reorders.

A name such as "Alice\u202e gnp.exe" (right-to-left override) or one with zero-width
characters can make a page show something other than what the document says. What is shown is
neutralised; what is verified (the integrity check over the raw document) is not touched.
"""

import unicodedata

# Format (bidi overrides and isolates, zero-width joiners, BOM...), control, surrogate (a lone
# \\ud800 escape in JSON), private-use, and line/paragraph separator characters.
_HIDDEN_CATEGORIES = frozenset({"Cf", "Cc", "Cs", "Co", "Zl", "Zp"})
MARKER = "\ufffd"


def is_hidden(character: str) -> bool:
    return unicodedata.category(character) in _HIDDEN_CATEGORIES


def displayable(text: str) -> str:
    """`text` with every invisible or direction-changing character replaced by a visible �."""
    if text.isascii() and text.isprintable():
        return text  # the common case, without a per-character look-up
    return "".join(MARKER if is_hidden(c) else c for c in text)
