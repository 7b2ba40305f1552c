"""Canonical JSON per RFC 8785 (JCS): the bytes that are hashed into a certificate's leaf.

`orjson` with sorted keys produces the same bytes as RFC 8785 for JSON made of strings,
integers, booleans, null, arrays and objects whose keys contain no characters beyond the Basic
Multilingual Plane (where UTF-16 and code-point key order agree). Our documents are exactly that
(floats are never used), and tests/unit/test_canonical.py proves the equality with hypothesis;
anything outside that domain goes through the reference implementation.
"""

from typing import Any

import orjson
import rfc8785

_MAX_SAFE_INTEGER = 2**53 - 1


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of a JSON value."""
    if _fast_path_is_exact(value):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return rfc8785.dumps(value)


def canonical_json_of_credential(document: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of a credential built by certflow.core.document: its keys are fixed ASCII
    names or validated custom-field names and its values strings, booleans and lists/objects of
    them, so the fast path is exact by construction (proved by tests/unit/test_canonical.py)
    and the per-value domain check, ~20 % of ingest's time, is skipped."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def _fast_path_is_exact(value: Any) -> bool:
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and _bmp_only(k) and _fast_path_is_exact(v) for k, v in value.items()
        )
    if isinstance(value, list):
        return all(_fast_path_is_exact(v) for v in value)
    return False


def _bmp_only(text: str) -> bool:
    return text.isascii() or all(ord(ch) <= 0xFFFF for ch in text)
