"""Pure: the issuer's look and contacts in its emails, checked once before any message uses it.

Today one Branding comes from notify's settings; per-batch issuer profiles and certificate
templates (from ingest) will hand one per message (`CertificateEmail.branding`). Every value
here reaches a header, an HTML attribute or a style, so each is checked for what it may hold,
not escaped and hoped for.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from certflow.core.validation import header_unsafe

_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
# a plain addr-spec (dot-atom local part, host name): nothing to quote or encode in a header
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDRESS = re.compile(rf"{_ATOM}(\.{_ATOM})*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
MAX_NAME = 200
MAX_URL = 500
# where the message's certificate id goes in an issuer's unsubscribe URL (optional)
CERTIFICATE_ID_PLACEHOLDER = "{certificate_id}"
# where notify's signed one-click unsubscribe token goes (bounces.py, unsubscribe.py)
UNSUBSCRIBE_TOKEN_PLACEHOLDER = "{unsubscribe_token}"


class InvalidBranding(ValueError):
    """A branding value that must not reach a message; says which field and why."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Branding:
    name: str  # the issuer as recipients know it: From display name, heading, signature
    logo_url: str = ""  # https (http is allowed, for a local stack); shown at the top if set
    primary_colour: str = "#2f6fed"  # header band and button
    primary_text_colour: str = "#ffffff"  # text on the primary colour
    support_email: str = ""
    support_url: str = ""
    reply_to: str = ""  # Reply-To header when set (replies go to people, not the sender)
    # RFC 8058 one-click unsubscribe: an https URL (may hold {certificate_id}) and/or a mailto
    # address; either one enables List-Unsubscribe, the URL also List-Unsubscribe-Post
    unsubscribe_url: str = ""
    unsubscribe_mailto: str = ""

    @property
    def list_unsubscribe(self) -> bool:
        return bool(self.unsubscribe_url or self.unsubscribe_mailto)


def checked(branding: Branding) -> Branding:
    """The branding itself if every value is safe where it goes, else InvalidBranding."""
    for field in CHECKS:
        check(field, getattr(branding, field))
    return branding


def check(field: str, value: str) -> None:
    """One Branding field's value: InvalidBranding naming the field if it is not safe."""
    CHECKS[field](field, value)


def _colour(field: str, value: str) -> None:
    if not _COLOUR.fullmatch(value):
        raise InvalidBranding(field, "must be a colour written #rrggbb")


def _text(field: str, value: str, *, required: bool = False) -> None:
    if required and not value.strip():
        raise InvalidBranding(field, "is required")
    if problem := header_unsafe(value):
        raise InvalidBranding(field, problem)
    if len(value) > MAX_NAME:
        raise InvalidBranding(field, f"is longer than {MAX_NAME} characters")


def _url(field: str, value: str, *, allow_http: bool) -> None:
    if not value:
        return
    if problem := header_unsafe(value):
        raise InvalidBranding(field, problem)
    if len(value) > MAX_URL:
        raise InvalidBranding(field, f"is longer than {MAX_URL} characters")
    # no spaces, quotes or angle brackets: the URL sits in <…> in a header and in href="…"
    if any(ch in value for ch in " \"'<>\\`") or not value.isascii():
        raise InvalidBranding(field, "must be an ASCII URL without spaces, quotes or <>")
    parts = urlsplit(
        value.replace(CERTIFICATE_ID_PLACEHOLDER, "x").replace(UNSUBSCRIBE_TOKEN_PLACEHOLDER, "x")
    )
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise InvalidBranding(field, f"must be an absolute {' or '.join(schemes)} URL")


def _address(field: str, value: str) -> None:
    if not value:
        return
    if problem := header_unsafe(value):
        raise InvalidBranding(field, problem)
    if len(value) > MAX_NAME or not _ADDRESS.fullmatch(value):
        raise InvalidBranding(field, "must be a plain ASCII email address (local@domain)")


CHECKS: dict[str, Callable[[str, str], None]] = {
    "name": lambda field, value: _text(field, value, required=True),
    "logo_url": lambda field, value: _url(field, value, allow_http=True),
    "support_url": lambda field, value: _url(field, value, allow_http=True),
    "unsubscribe_url": lambda field, value: _url(field, value, allow_http=False),  # RFC 8058
    "primary_colour": _colour,
    "primary_text_colour": _colour,
    "support_email": _address,
    "reply_to": _address,
    "unsubscribe_mailto": _address,
}
