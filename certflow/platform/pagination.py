"""Opaque page tokens (AIP-158). Offset-based for now; the token format can change freely."""

import base64
import binascii
import re

from certflow.core.errors import FieldViolation, InvalidInput

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# Offsets we issue stay far below this (a batch has at most a few hundred thousand rows); the
# cap keeps any decoded value inside a 32-bit signed integer for every database
MAX_OFFSET = 2**31 - 1
MAX_TOKEN_CHARS = 32  # base64 of "o:" + 10 digits is 16 characters
_TOKEN = re.compile(r"o:(0|[1-9][0-9]{0,9})")


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidInput(
            "INVALID_PAGE_SIZE",
            "page_size must not be negative",
            [FieldViolation("page_size", "< 0")],
        )
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def decode_token(token: str) -> int:
    """The offset a token of ours carries; anything else is INVALID_ARGUMENT, never a crash
    further down (an offset too big for the database's integer used to surface as INTERNAL)."""
    if not token:
        return 0
    if len(token) > MAX_TOKEN_CHARS:
        raise _unreadable_token(f"page_token is longer than {MAX_TOKEN_CHARS} characters")
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii")
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise _unreadable_token("page_token is not a token this service issued") from exc
    match = _TOKEN.fullmatch(text)
    if match is None or int(match[1]) > MAX_OFFSET:
        raise _unreadable_token("page_token is not a token this service issued")
    return int(match[1])


def _unreadable_token(message: str) -> InvalidInput:
    return InvalidInput("INVALID_PAGE_TOKEN", message, [FieldViolation("page_token", message)])


def next_token(offset: int, returned: int, size: int) -> str:
    return encode_token(offset + returned) if returned == size else ""


class Page:
    """One page request: its offset and size, and the token of the page after it."""

    def __init__(self, requested_size: int, token: str) -> None:
        self.size = page_size(requested_size)
        self.offset = decode_token(token)

    def next_token(self, returned: int) -> str:
        return next_token(self.offset, returned, self.size)
