"""Splitting long id lists: keeps IN (...) lists and bind parameters within every backend's
limits (SQLite allows 32,766 parameters; 500 keeps each statement small)."""

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
IN_LIST_SIZE = 500


def chunked(items: Sequence[T], size: int = IN_LIST_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
