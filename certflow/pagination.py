"""Opaque page tokens (AIP-158). Offset-based for now; the token format can change freely."""

import base64
import binascii

from certflow.errors import FieldViolation, InvalidInput

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


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
    if not token:
        return 0
    try:
        kind, value = base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)
        offset = int(value)
        if kind != "o" or offset < 0:
            raise ValueError(token)
        return offset
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidInput(
            "INVALID_PAGE_TOKEN",
            "page_token is not a token this service issued",
            [FieldViolation("page_token", "unreadable")],
        ) from exc


def next_token(offset: int, returned: int, size: int) -> str:
    return encode_token(offset + returned) if returned == size else ""


class Page:
    """One page request: its offset and size, and the token of the page after it."""

    def __init__(self, requested_size: int, token: str) -> None:
        self.size = page_size(requested_size)
        self.offset = decode_token(token)

    def next_token(self, returned: int) -> str:
        return next_token(self.offset, returned, self.size)
