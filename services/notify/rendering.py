"""Pure: builds the personalised email for one certificate (text + HTML + JSON attachment).

What does not change per recipient is rendered once per branding (`CertificateMessages` keeps
it): the Jinja templates are rendered with a marker where each per-recipient value goes and
become a format string, and the fixed headers and MIME skeleton become bytes. A message is
then the per-recipient values (HTML-escaped for the HTML part, exactly as autoescape would)
put into those, base64, and a few headers.

Every user value that reaches a header was already refused at validation if it could inject
one, and is checked again here; non-ASCII or long names become RFC 2047 encoded words (folded,
never over 76 characters a line, RFC 2047's limit; plain lines stay within RFC 5322's 78).
An internationalised domain travels as punycode (IDNA) in the envelope and the To header; a
non-ASCII local part needs SMTPUTF8 (RFC 6531), which the message then says it needs.
"""

import binascii
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import idna
import orjson
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from markupsafe import escape

from certflow.core.validation import header_unsafe
from services.notify.branding import (
    CERTIFICATE_ID_PLACEHOLDER,
    UNSUBSCRIBE_TOKEN_PLACEHOLDER,
    Branding,
    checked,
)
from services.notify.revocation_notices import (
    RevocationFacts,
    notice_subject,
    reason_words,
    revoked_on,
    verify_url,
)

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html.j2"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
TEXT_TEMPLATE = "certificate_email.txt.j2"
HTML_TEMPLATE = "certificate_email.html.j2"
# a revocation notice: rare, so rendered per message the plain way (autoescaped HTML)
NOTICE_TEXT_TEMPLATE = "revocation_notice.txt.j2"
NOTICE_HTML_TEMPLATE = "revocation_notice.html.j2"
# the values that differ per message; the templates must print them plainly ({{ title }})
PER_RECIPIENT = (
    "recipient_name",
    "issuer_name",
    "title",
    "completion_date",
    "verify_url",
    "attachment_name",
)
_MARK = "\x00"  # around a per-recipient value's name while rendering once; no value holds NUL
_CERTIFICATE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")  # it reaches headers (file name, URL)
# never in an address intake accepts (no quoted local part, no domain literal); in To they would
# start another address ("a@x>, <victim@y")
_NOT_IN_ADDRESS = re.compile(r'[\s<>()\[\],;:"\\]')
HEADER_LINE = 78  # RFC 5322 "SHOULD"; 998 is the hard limit
ENCODED_LINE = 76  # RFC 2047 section 2: a line holding an encoded word
_WORD_BYTES = 39  # base64 of 39 bytes is 52 characters: "=?utf-8?b?" + 52 + "?=" = 64
_BRANDINGS_KEPT = 256


class UnsafeHeader(ValueError):
    pass


class Unaddressable(ValueError):
    """The recipient address cannot be put on the wire (e.g. a domain IDNA refuses)."""


@dataclass(frozen=True, slots=True)
class Sender:
    address: str  # From and the envelope sender; the display name is the branding's
    verify_base_url: str


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    recipient: str  # the envelope address: ASCII, or UTF-8 only when `smtputf8`
    data: bytes
    smtputf8: bool = (
        False  # the local part is not ASCII: only a relay offering SMTPUTF8 may take it
    )
    envelope_from: str = ""  # MAIL FROM (a VERP bounce address); "": the pool's sender


@dataclass(frozen=True, slots=True)
class CertificateEmail:
    certificate_id: str
    message_id: str
    recipient_name: str
    recipient_email: str
    issuer_name: str
    title: str
    completion_date: str
    document: dict
    branding: Branding | None = None  # the issuer's, per template/batch; None: notify's default
    envelope_from: str = ""  # the delivery's VERP bounce address (bounces.py); "": none
    unsubscribe_token: str = ""  # fills {unsubscribe_token} in the List-Unsubscribe URL
    # set: this is the certificate's revocation notice (no attachment; `document` unused)
    revocation: RevocationFacts | None = None


class MessageSigner(Protocol):
    def sign(self, message: bytes) -> bytes:
        """A header line (ending in CRLF) to put in front of the message (DKIM-Signature)."""
        ...


def wire_address(address: str) -> tuple[str, bool]:
    """The address as it goes on the wire, and whether it needs SMTPUTF8.

    The domain becomes its IDNA A-label (`bücher.example` -> `xn--bcher-kva.example`), which
    every relay understands; a non-ASCII local part has no ASCII form, so it needs SMTPUTF8.
    """
    local, separator, domain = address.rpartition("@")
    if not separator or not local or not domain:
        raise Unaddressable("the recipient address has no local part or domain")
    if _NOT_IN_ADDRESS.search(address):
        raise Unaddressable("the recipient address holds a space, quote, bracket or separator")
    try:
        ascii_domain = domain if domain.isascii() else idna.encode(domain, uts46=True).decode()
    except idna.IDNAError as exc:
        raise Unaddressable(f"the recipient domain is not a valid IDNA name: {exc}") from exc
    return f"{local}@{ascii_domain}", not local.isascii()


def address_header(field: str, name: str, address: str) -> str:
    """`Name <address>`: plain when the name is short ASCII (quoted as needed), otherwise the
    name as folded RFC 2047 encoded words, so no line passes 76 characters whatever its length
    or script (unless the address alone is longer). A non-ASCII address (SMTPUTF8) is written
    as UTF-8 (RFC 6532)."""
    if name.isascii() and address.isascii():
        plain = formataddr((name, address))
        if len(field) + 2 + len(plain) <= HEADER_LINE:
            return plain
    words = encoded_words(name)
    last_line = words.rsplit("\r\n ", 1)[-1]
    separator = " " if len(field) + len(last_line) + len(address) + 5 <= ENCODED_LINE else "\r\n "
    return f"{words}{separator}<{address}>"


def text_header(field: str, value: str) -> str:
    """An unstructured header (Subject): plain when short ASCII, else folded encoded words."""
    if value.isascii() and len(field) + 2 + len(value) <= HEADER_LINE:
        return value
    return encoded_words(value)


def encoded_words(value: str) -> str:
    """RFC 2047 "B" encoded words, one per line (folded with CRLF + space, which decoding
    drops between words), each whole characters of at most _WORD_BYTES UTF-8 bytes, so a word
    is 64 characters and any header name up to 10 characters keeps its line within 76."""
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for character in value:
        width = len(character.encode())
        if size + width > _WORD_BYTES:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(character)
        size += width
    words.append("".join(chunk))
    return "\r\n ".join(
        f"=?utf-8?b?{binascii.b2a_base64(word.encode(), newline=False).decode()}?="
        for word in words
    )


class _Body:
    """One template rendered once for a branding: a %-format string of the per-recipient
    values (the markers' places), filled per message."""

    def __init__(self, template: Template, brand: Branding) -> None:
        markers = {name: f"{_MARK}{name}{_MARK}" for name in PER_RECIPIENT}
        pieces = template.render(brand=brand, **markers).split(_MARK)
        literals, names = pieces[0::2], pieces[1::2]
        unknown = set(names) - set(PER_RECIPIENT)
        if unknown:  # a filter or a test applied to a marker would corrupt it
            raise ValueError(f"{template.name} prints per-recipient values with a filter")
        fmt = [literals[0].replace("%", "%%")]
        for name, literal in zip(names, literals[1:], strict=True):
            fmt += (f"%({name})s", literal.replace("%", "%%"))
        self._format = "".join(fmt)

    def fill(self, values: dict[str, str]) -> str:
        return self._format % values


class _Compiled:
    """Everything about a message that one branding fixes, built once."""

    def __init__(self, sender: Sender, brand: Branding) -> None:
        self.brand = brand
        self.text = _Body(_TEMPLATES.get_template(TEXT_TEMPLATE), brand)
        self.html = _Body(_TEMPLATES.get_template(HTML_TEMPLATE), brand)
        # base64 lines never contain '-', so a fixed boundary never occurs inside a part
        outer, inner = f"mixed-{secrets.token_hex(12)}", f"alt-{secrets.token_hex(12)}"
        self.outer, self.inner = outer, inner
        headers = [("From", address_header("From", brand.name, sender.address))]
        if brand.reply_to:
            headers.append(("Reply-To", brand.reply_to))
        self.unsubscribe = _list_unsubscribe(brand)
        if self.unsubscribe and brand.unsubscribe_url:
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        headers += [
            ("MIME-Version", "1.0"),
            ("Content-Type", f'multipart/mixed; boundary="{outer}"'),
        ]
        self.fixed_headers = b"".join(f"{n}: {v}\r\n".encode() for n, v in headers)
        self.before_text = _lines(
            "",
            f"--{outer}",
            f'Content-Type: multipart/alternative; boundary="{inner}"',
            "",
            f"--{inner}",
            'Content-Type: text/plain; charset="utf-8"',
            "Content-Transfer-Encoding: base64",
            "",
        )
        self.before_html = _lines(
            f"--{inner}",
            'Content-Type: text/html; charset="utf-8"',
            "Content-Transfer-Encoding: base64",
            "",
        )
        self.before_attachment = _lines(f"--{inner}--", f"--{outer}")
        self.end = _lines(f"--{outer}--")


class CertificateMessages:
    """Renders certificate emails. Each branding's fixed parts are built on first use and kept;
    a message without a branding of its own gets the default (notify's settings)."""

    def __init__(
        self,
        sender: Sender,
        branding: Branding,
        *,
        signer: MessageSigner | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sender = sender
        self._default = branding
        self._signer = signer
        self._clock = clock
        self._compiled: dict[Branding, _Compiled] = {}
        self._date = (0, "")
        self._compile(branding)  # a bad default branding fails at start

    @property
    def default_branding(self) -> Branding:
        return self._default

    @property
    def signs(self) -> bool:
        """Messages are DKIM-signed (a signer is configured)."""
        return self._signer is not None

    def render(self, email: CertificateEmail, *, sign: bool = True) -> RenderedEmail:
        """The complete RFC 5322 message as bytes, built directly: the stdlib's email
        generator costs ~500 µs per message, which capped a notify replica below 1,500/s.
        `sign=False` leaves the DKIM signature off (previews)."""
        for value in (email.recipient_name, email.recipient_email, email.title, email.message_id):
            if problem := header_unsafe(value):
                raise UnsafeHeader(f"refusing a header value that {problem}")
        if not _CERTIFICATE_ID.fullmatch(email.certificate_id):
            raise UnsafeHeader("refusing a certificate id that is not letters, digits and '-'")
        compiled = self._compile(email.branding or self._default)
        recipient, smtputf8 = wire_address(email.recipient_email)
        attachment_name = f"certificate-{email.certificate_id}.json"
        values = {
            "recipient_name": email.recipient_name,
            "issuer_name": email.issuer_name,
            "title": email.title,
            "completion_date": email.completion_date,
            "verify_url": f"{self._sender.verify_base_url.rstrip('/')}/verify/"
            f"{email.certificate_id}",
            "attachment_name": attachment_name,
        }
        html_values = {name: str(escape(value)) for name, value in values.items()}
        headers = [
            f"To: {address_header('To', email.recipient_name, recipient)}",
            f"Subject: {text_header('Subject', _subject(email))}",
            f"Date: {self._now()}",
            f"Message-ID: {email.message_id}",
        ]
        if compiled.unsubscribe:
            unsubscribe = compiled.unsubscribe.replace(
                CERTIFICATE_ID_PLACEHOLDER, email.certificate_id
            ).replace(UNSUBSCRIBE_TOKEN_PLACEHOLDER, email.unsubscribe_token)
            headers.append(f"List-Unsubscribe: {unsubscribe}")
        if email.revocation is not None:
            data = b"".join(
                (
                    "\r\n".join(headers).encode(),
                    b"\r\n",
                    compiled.fixed_headers,
                    *self._notice_parts(email, email.revocation, compiled),
                )
            )
            if sign and self._signer is not None:
                data = self._signer.sign(data) + data
            return RenderedEmail(recipient, data, smtputf8, envelope_from=email.envelope_from)
        data = b"".join(
            (
                "\r\n".join(headers).encode(),
                b"\r\n",
                compiled.fixed_headers,
                compiled.before_text,
                _base64(compiled.text.fill(values).encode()),
                compiled.before_html,
                _base64(compiled.html.fill(html_values).encode()),
                compiled.before_attachment,
                _lines(
                    f'Content-Type: application/json; name="{attachment_name}"',
                    "Content-Transfer-Encoding: base64",
                    f'Content-Disposition: attachment; filename="{attachment_name}"',
                    "",
                ),
                _base64(orjson.dumps(email.document, option=orjson.OPT_INDENT_2)),
                compiled.end,
            )
        )
        if sign and self._signer is not None:
            data = self._signer.sign(data) + data
        return RenderedEmail(recipient, data, smtputf8, envelope_from=email.envelope_from)

    def _notice_parts(
        self, email: CertificateEmail, facts: RevocationFacts, compiled: _Compiled
    ) -> tuple[bytes, ...]:
        """A revocation notice's text and HTML in the branding's MIME skeleton, without the
        attachment part. The issuer's text is only in the body (escaped in HTML)."""
        if facts.replaced_by and not _CERTIFICATE_ID.fullmatch(facts.replaced_by):
            raise UnsafeHeader("refusing a replacement id that is not letters, digits and '-'")
        parts = render_notice(email, facts, self._sender, email.branding or self._default)
        return (
            compiled.before_text,
            _base64(parts["text"].encode()),
            compiled.before_html,
            _base64(parts["html"].encode()),
            _lines(f"--{compiled.inner}--", f"--{compiled.outer}--"),
        )

    def _compile(self, brand: Branding) -> _Compiled:
        compiled = self._compiled.get(brand)
        if compiled is None:
            if len(self._compiled) >= _BRANDINGS_KEPT:
                self._compiled.clear()
            compiled = self._compiled[brand] = _Compiled(self._sender, checked(brand))
        return compiled

    def _now(self) -> str:
        """The Date header, formatted once per second."""
        now = self._clock()
        second = int(now.timestamp())
        if self._date[0] != second:
            self._date = (second, format_datetime(now.astimezone(UTC).replace(microsecond=0)))
        return self._date[1]


def render_with_jinja(email: CertificateEmail, sender: Sender, brand: Branding) -> dict[str, str]:
    """The text and HTML parts rendered the plain way (every value through Jinja at once): what
    the fast path must equal. For tests and template work; the sender loops never call it."""
    context: dict[str, Any] = {
        "brand": brand,
        "recipient_name": email.recipient_name,
        "issuer_name": email.issuer_name,
        "title": email.title,
        "completion_date": email.completion_date,
        "verify_url": f"{sender.verify_base_url.rstrip('/')}/verify/{email.certificate_id}",
        "attachment_name": f"certificate-{email.certificate_id}.json",
    }
    return {
        "text": _TEMPLATES.get_template(TEXT_TEMPLATE).render(context),
        "html": _TEMPLATES.get_template(HTML_TEMPLATE).render(context),
    }


def render_notice(
    email: CertificateEmail, facts: RevocationFacts, sender: Sender, brand: Branding
) -> dict[str, str]:
    """A revocation notice's text and HTML parts (Jinja; HTML autoescaped)."""
    context: dict[str, Any] = {
        "brand": brand,
        "recipient_name": email.recipient_name,
        "issuer_name": email.issuer_name,
        "title": email.title,
        "completion_date": email.completion_date,
        "verify_url": verify_url(sender.verify_base_url, email.certificate_id),
        "replaced": facts.replaced,
        "replacement_url": (
            verify_url(sender.verify_base_url, facts.replaced_by) if facts.replaced else ""
        ),
        "reason_words": reason_words(facts),
        "reason_text": facts.reason_text,
        "revoked_on": revoked_on(facts),
    }
    return {
        "text": _TEMPLATES.get_template(NOTICE_TEXT_TEMPLATE).render(context),
        "html": _TEMPLATES.get_template(NOTICE_HTML_TEMPLATE).render(context),
    }


def _subject(email: CertificateEmail) -> str:
    if email.revocation is not None:
        return notice_subject(email.title, email.revocation)
    return f"Your certificate: {email.title}"


def _list_unsubscribe(brand: Branding) -> str:
    """The List-Unsubscribe value (RFC 2369), the https URL first (RFC 8058 one-click)."""
    targets = []
    if brand.unsubscribe_url:
        targets.append(f"<{brand.unsubscribe_url}>")
    if brand.unsubscribe_mailto:
        targets.append(f"<mailto:{quote(brand.unsubscribe_mailto, safe='@')}?subject=unsubscribe>")
    return ",\r\n ".join(targets)


def _lines(*lines: str) -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode()


def _b64(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False)


def _base64(body: bytes) -> bytes:
    # 76-character lines; '-' is not in the base64 alphabet, so no line can look like a boundary
    encoded = _b64(body)
    lines = [encoded[start : start + 76] for start in range(0, len(encoded), 76)]
    lines.append(b"")
    return b"\r\n".join(lines)
