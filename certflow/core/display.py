"""Text from a posted document made safe to show: nothing invisible, nothing that reorders,
nothing longer than a person reads.

A name such as "Alice\u202e gnp.exe" (right-to-left override) or one with zero-width
characters can make a page show something other than what the document says. What is hidden is
decided by the rule ingest refuses by (certflow.core.visible_text), so a certificate ingest
issued is shown untouched. What is verified (the integrity check over the raw document) is not
touched either.
"""

from certflow.core.visible_text import displayable

# Ingest caps names at 200 and titles at 300 characters: longer text is not ours, and showing
# (and scanning) a megabyte of it only costs the public service.
MAX_SHOWN_CHARACTERS = 1000
SHORTENED = "\u2026"  # …


def shown(text: str) -> str:
    """text neutralised for display and cut to MAX_SHOWN_CHARACTERS (marked with …)."""
    if len(text) <= MAX_SHOWN_CHARACTERS:
        return displayable(text)
    # one character more than shown, so that a joiner at the cut still sees its neighbour
    return displayable(text[: MAX_SHOWN_CHARACTERS + 1])[:MAX_SHOWN_CHARACTERS] + SHORTENED
