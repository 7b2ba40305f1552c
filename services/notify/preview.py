"""The operator's preview: the exact message notify would send, without sending it.

A preview renders through the same CertificateMessages as the sender loops (same branding,
same headers) and reads the bytes back, so what it shows is what a recipient would get, except
the DKIM signature: it says whether the real message is signed but is not signed itself (a
signed preview of made-up values would be an email anyone holding it could pass off as ours).
Either a certificate notify knows (by id: its content, its anchor proof once it has one, its
delivery's Message-ID), or sample values.
"""

import email
import email.policy
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage
from typing import Protocol

from email_validator import EmailNotValidError, validate_email

from certflow.core.document import CertificateContent, IssuerProfile, build_credential
from certflow.core.errors import Conflict, NotFound, invalid_field
from certflow.core.validation import header_unsafe
from services.notify.rendering import (
    CertificateEmail,
    CertificateMessages,
    RenderedEmail,
    Unaddressable,
    UnsafeHeader,
)

SAMPLE_CERTIFICATE_ID = "00000000-0000-4000-8000-000000000000"
MAX_SAMPLE_VALUE = 500
# what notify's certificate ids are (String(36) columns; rendering allows no other characters)
_CERTIFICATE_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_BETWEEN_ENCODED_WORDS = re.compile(r"(?<=\?=)[ \t]+(?==\?)")
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


@dataclass(frozen=True, slots=True)
class EmailSample:
    recipient_name: str
    recipient_email: str
    title: str
    completion_date: str  # ISO 8601 date
    issuer_name: str = ""  # empty: the branding's name


@dataclass(frozen=True, slots=True)
class EmailPreview:
    recipient: str  # the envelope recipient
    subject: str  # decoded
    headers: list[tuple[str, str]]  # in message order, decoded (RFC 2047) for reading
    text_body: str
    html_body: str
    attachment_names: list[str]
    smtputf8: bool
    size_bytes: int  # unsigned: a signature adds ~500 bytes
    dkim_signed: bool  # the real message is


class PreviewStore(Protocol):
    def preview_email(self, certificate_id: str, *, message_id: str) -> CertificateEmail | None:
        """The certificate's email as notify holds it now (with its anchor proof once stored,
        its delivery's Message-ID once it has one, else `message_id`), or None if notify has
        no content for it."""
        ...


def preview_certificate(
    store: PreviewStore, messages: CertificateMessages, certificate_id: str
) -> EmailPreview:
    if not certificate_id:
        raise invalid_field("certificate_id", "certificate_id is required")
    if not _CERTIFICATE_ID.fullmatch(certificate_id):
        raise invalid_field(
            "certificate_id", "certificate_id is letters, digits and '-', at most 36 characters"
        )
    found = store.preview_email(certificate_id, message_id=f"<preview-{certificate_id}@preview>")
    if found is None:
        raise NotFound(
            "CERTIFICATE_NOT_FOUND",
            f"notify has no certificate {certificate_id} (not yet received, or unknown)",
            metadata={"certificate_id": certificate_id},
        )
    try:
        return read_back(messages.render(found, sign=False), dkim_signed=messages.signs)
    except (UnsafeHeader, Unaddressable) as exc:
        # the sender loops would mark this delivery failed with the same reason
        raise Conflict(
            "EMAIL_UNSENDABLE", f"this certificate's email cannot be sent: {exc}"
        ) from None


def preview_sample(messages: CertificateMessages, sample: EmailSample) -> EmailPreview:
    for field in ("recipient_name", "recipient_email", "title", "issuer_name"):
        value = getattr(sample, field)
        if not value and field != "issuer_name":
            raise invalid_field(f"sample.{field}", f"sample.{field} is required")
        if len(value) > MAX_SAMPLE_VALUE:
            raise invalid_field(
                f"sample.{field}", f"sample.{field} is longer than {MAX_SAMPLE_VALUE} characters"
            )
        if problem := header_unsafe(value):
            raise invalid_field(f"sample.{field}", f"sample.{field} {problem}")
    try:  # what intake accepts: a plain address, nothing that could add one to To
        recipient_email = validate_email(
            sample.recipient_email, check_deliverability=False
        ).normalized
    except EmailNotValidError as exc:
        raise invalid_field("sample.recipient_email", f"sample.recipient_email: {exc}") from None
    try:
        completed = date.fromisoformat(sample.completion_date)
    except ValueError:
        raise invalid_field(
            "sample.completion_date", "sample.completion_date must be a date (YYYY-MM-DD)"
        ) from None
    issuer_name = sample.issuer_name or messages.default_branding.name
    document = build_credential(
        certificate_id=SAMPLE_CERTIFICATE_ID,
        issuer=IssuerProfile(id="https://issuer.example.invalid", name=issuer_name),
        content=CertificateContent(sample.recipient_name, recipient_email, sample.title, completed),
        email_salt="preview",
        issued_at=datetime.now(UTC),
    )
    found = CertificateEmail(
        certificate_id=SAMPLE_CERTIFICATE_ID,
        message_id="<preview@preview>",
        recipient_name=sample.recipient_name,
        recipient_email=recipient_email,
        issuer_name=issuer_name,
        title=sample.title,
        completion_date=completed.isoformat(),
        document=document,
    )
    try:
        return read_back(messages.render(found, sign=False), dkim_signed=messages.signs)
    except Unaddressable as exc:
        raise invalid_field("sample.recipient_email", str(exc)) from None


def read_back(rendered: RenderedEmail, *, dkim_signed: bool) -> EmailPreview:
    """The rendered bytes parsed as a mail client would: decoded headers and parts."""
    message = email.message_from_bytes(rendered.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text = html = ""
    attachments = []
    for part in message.walk():
        if part.is_multipart():
            continue
        assert isinstance(part, EmailMessage)
        if filename := part.get_filename():
            attachments.append(filename)
        elif part.get_content_type() == "text/plain":
            text = part.get_content()
        elif part.get_content_type() == "text/html":
            html = part.get_content()
    headers = [(name, readable(value)) for name, value in message.raw_items()]
    return EmailPreview(
        recipient=rendered.recipient,
        subject=next(value for name, value in headers if name == "Subject"),
        headers=headers,
        text_body=text,
        html_body=html,
        attachment_names=attachments,
        smtputf8=rendered.smtputf8,
        size_bytes=len(rendered.data),
        dkim_signed=dkim_signed,
    )


def readable(raw: str) -> str:
    """A header's raw value as mail clients show it: unfolded, UTF-8 (RFC 6532) read, encoded
    words decoded with the white space between two of them dropped (RFC 2047 section 6.2;
    CPython's policy.default keeps it as a space inside a display name: "Br ødsgård")."""
    text = raw.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    text = _BETWEEN_ENCODED_WORDS.sub("", _FOLD.sub("", text))
    return _ENCODED_WORD.sub(lambda word: str(make_header(decode_header(word[0]))), text)
