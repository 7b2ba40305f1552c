import email
import email.policy
import json
from dataclasses import replace
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage, Message

import pytest
from jinja2 import Template

from services.notify.branding import Branding, InvalidBranding
from services.notify.rendering import (
    HTML_TEMPLATE,
    TEXT_TEMPLATE,
    CertificateEmail,
    CertificateMessages,
    Sender,
    Unaddressable,
    UnsafeHeader,
    render_with_jinja,
)

SENDER = Sender("certificates@uni.example", "https://verify.example/")
BRANDING = Branding("Université Exemple")
EMAIL = CertificateEmail(
    certificate_id="0b8c0d3e-0000-4000-8000-000000000001",
    message_id="<d1@uni.example>",
    recipient_name="Zoë Ångström 张伟",
    recipient_email="zoe@example.org",
    issuer_name="Université Exemple",
    title="MSc Données & <Science>",
    completion_date="2026-06-30",
    document={"id": "urn:uuid:0b8c0d3e", "name": "MSc"},
)
NOW = datetime(2026, 7, 1, 9, 30, 5, 123456, tzinfo=UTC)


def messages(branding: Branding = BRANDING) -> CertificateMessages:
    return CertificateMessages(SENDER, branding, clock=lambda: NOW)


def render(message: CertificateEmail = EMAIL, branding: Branding = BRANDING) -> bytes:
    return messages(branding).render(message).data


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


def parts(data: bytes) -> dict[str, Message]:
    return {p.get_content_type(): p for p in email.message_from_bytes(data).walk()}


def decoded(value: str) -> str:
    return str(make_header(decode_header(value)))


def header_lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def test_rendered_bytes_parse_as_the_intended_mime_message():
    rendered = messages().render(EMAIL)
    assert rendered.recipient == "zoe@example.org"
    message = email.message_from_bytes(rendered.data)
    assert decoded(message["To"]) == "Zoë Ångström 张伟 <zoe@example.org>"
    assert decoded(message["From"]) == "Université Exemple <certificates@uni.example>"
    assert decoded(message["Subject"]) == "Your certificate: MSc Données & <Science>"
    assert message["Message-ID"] == "<d1@uni.example>"
    assert message["Date"] == "Wed, 01 Jul 2026 09:30:05 +0000"
    assert message["Reply-To"] is None and message["List-Unsubscribe"] is None
    assert message.get_content_type() == "multipart/mixed"
    found = parts(rendered.data)
    text = payload(found["text/plain"]).decode()
    html = payload(found["text/html"]).decode()
    assert "https://verify.example/verify/0b8c0d3e-0000-4000-8000-000000000001" in text
    assert "Dear Zoë Ångström 张伟" in text
    assert "&lt;Science&gt;" in html and "<Science>" not in html  # escaped in HTML
    attachment = found["application/json"]
    assert attachment.get_filename() == "certificate-0b8c0d3e-0000-4000-8000-000000000001.json"
    assert json.loads(payload(attachment)) == EMAIL.document
    assert all(len(line) <= 78 for line in header_lines(rendered.data))
    assert all(len(line) <= 998 for line in rendered.data.split(b"\r\n"))
    assert b"\n" not in rendered.data.replace(b"\r\n", b"")  # no bare LF anywhere


def test_the_text_reads_alone_and_the_html_uses_tables_and_inline_styles_only():
    found = parts(render())
    text = payload(found["text/plain"]).decode()
    for heading in ("WHAT THIS IS", "HOW TO VERIFY IT", "HOW TO SHARE IT", "QUESTIONS?"):
        assert heading in text
    assert "<" not in text.replace("<Science>", "")  # no markup leaks into the text part
    html = payload(found["text/html"]).decode()
    assert '<table role="presentation"' in html
    for external in ("<style", "<link", "<script", "class="):
        assert external not in html


HOSTILE = [
    "<script>alert(1)</script>",
    "\"quoted\" & 'single' `tick`",
    "%s %(title)s %% 100%",
    "{{ brand.name }} {% raw %}",
    "Ünïcödé 名前 👩‍🎓",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_rendering_once_per_branding_gives_what_jinja_gives_rendering_everything(value):
    message = replace(EMAIL, recipient_name=value, title=value, issuer_name=value)
    brand = Branding(
        "A & B <Uni> 100%",
        logo_url="https://uni.example/logo.png?a=1&b=2",
        support_email="help@uni.example",
        support_url="https://uni.example/help",
    )
    found = parts(render(message, brand))
    expected = render_with_jinja(message, SENDER, brand)
    assert payload(found["text/plain"]).decode() == expected["text"]
    assert payload(found["text/html"]).decode() == expected["html"]
    assert "<script>" not in expected["html"]


def test_the_branding_shows_in_headers_and_both_parts():
    brand = Branding(
        "Uni & Co",
        logo_url="https://uni.example/logo.png",
        primary_colour="#123456",
        primary_text_colour="#fefefe",
        support_email="help@uni.example",
        support_url="https://uni.example/help",
        reply_to="registrar@uni.example",
    )
    data = render(branding=brand)
    message = parsed(data)
    assert str(message["From"]) == "Uni & Co <certificates@uni.example>"
    assert str(message["Reply-To"]) == "registrar@uni.example"
    found = parts(data)
    html = payload(found["text/html"]).decode()
    assert 'src="https://uni.example/logo.png" alt="Uni &amp; Co"' in html
    assert "background-color:#123456" in html and "color:#fefefe" in html
    assert 'href="mailto:help@uni.example"' in html and "https://uni.example/help" in html
    text = payload(found["text/plain"]).decode()
    assert "Contact Uni & Co at help@uni.example or via https://uni.example/help." in text


def test_a_message_may_bring_its_own_branding_and_the_others_keep_the_default():
    renderer = messages()
    other = replace(EMAIL, branding=Branding("Other College", primary_colour="#aa0000"))
    assert str(parsed(renderer.render(other).data)["From"]).startswith("Other College <")
    assert "#aa0000" in payload(parts(renderer.render(other).data)["text/html"]).decode()
    assert str(parsed(renderer.render(EMAIL).data)["From"]).startswith("Université Exemple <")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Uni\r\nBcc: victim@example.com"),
        ("name", "=?utf-8?q?Uni=0D=0ABcc:_v@x?="),
        ("name", ""),
        ("name", "U" * 201),
        ("primary_colour", "red; background:url(https://evil.example)"),
        ("primary_text_colour", "#fff"),
        ("logo_url", "javascript:alert(1)"),
        ("logo_url", 'https://uni.example/x.png" onerror="alert(1)'),
        ("support_url", "https://uni.example/a b"),
        ("support_email", "help@uni.example>, <evil@x.example"),
        ("reply_to", "registrar@uni.example\r\nBcc: v@x.example"),
        ("reply_to", "Registrar <registrar@uni.example>"),
        ("unsubscribe_url", "http://uni.example/unsubscribe"),  # RFC 8058 wants https
        ("unsubscribe_url", "https://uni.example/u>, <https://evil.example"),
        ("unsubscribe_mailto", "u@uni.example?body=x"),
    ],
)
def test_a_branding_value_that_could_leave_its_place_is_refused(field, value):
    brand = replace(BRANDING, **{field: value})
    with pytest.raises(InvalidBranding) as refused:
        messages(brand)  # as the default: notify does not start
    assert refused.value.field == field
    with pytest.raises(InvalidBranding):  # as a message's own branding: that message fails
        messages().render(replace(EMAIL, branding=brand))


def test_list_unsubscribe_is_there_only_when_the_issuer_enables_it():
    assert parsed(render())["List-Unsubscribe"] is None
    both = Branding(
        "Uni",
        unsubscribe_url="https://uni.example/unsubscribe/{certificate_id}",
        unsubscribe_mailto="unsubscribe@uni.example",
    )
    message = parsed(render(branding=both))
    assert str(message["List-Unsubscribe"]) == (
        f"<https://uni.example/unsubscribe/{EMAIL.certificate_id}>, "
        "<mailto:unsubscribe@uni.example?subject=unsubscribe>"
    )
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    mail_only = parsed(render(branding=Branding("Uni", unsubscribe_mailto="u@uni.example")))
    assert str(mail_only["List-Unsubscribe"]) == "<mailto:u@uni.example?subject=unsubscribe>"
    assert mail_only["List-Unsubscribe-Post"] is None  # one-click needs an https URI


@pytest.mark.parametrize(
    "name",
    [
        "A" * 300,
        "Doe, \"Jane\" (Dr.) <x> 'q'",
        "张" * 200,
        "Ünïcödé " * 40,
        "👩‍🎓" * 30,
    ],
)
def test_any_name_or_title_folds_within_78_columns_and_reads_back_whole(name):
    data = render(replace(EMAIL, recipient_name=name, title=name))
    assert all(len(line) <= 78 for line in header_lines(data))
    # RFC 2047 section 2: a line holding an encoded word is at most 76 characters
    assert all(len(line) <= 76 for line in header_lines(data) if b"=?" in line)
    message = parsed(data)
    (to,) = message["To"].addresses
    assert to.addr_spec == "zoe@example.org"
    # RFC 2047 §6.2: the folding between two encoded words is not text. CPython's newer parser
    # (policy.default) keeps it as a space inside a display name, so read the name as RFC
    # 2047 says, with the classic decoder
    raw_to = email.message_from_bytes(data)["To"]
    if "=?" in raw_to:
        assert decoded(raw_to) == f"{name} <zoe@example.org>"
    else:  # a short ASCII name: quoted, which policy.default reads correctly
        assert to.display_name == name
    assert str(message["Subject"]) == f"Your certificate: {name}"
    assert message.get_all("Bcc") is None and len(message.get_all("To") or []) == 1


def test_a_short_ascii_name_stays_plain_and_is_quoted_when_it_needs_to_be():
    lines = header_lines(render(replace(EMAIL, recipient_name="Doe, Jane", title="MSc")))
    assert b'To: "Doe, Jane" <zoe@example.org>' in lines
    assert b"Subject: Your certificate: MSc" in lines


@pytest.mark.parametrize(
    "field", ["recipient_name", "title", "recipient_email", "message_id", "certificate_id"]
)
@pytest.mark.parametrize(
    "evil", ["x\r\nBcc: victim@example.com", "=?UTF-8?Q?=0A?=Bcc: v@x", "x\x00", "x\nBcc: v@x"]
)
def test_header_injection_is_refused(field, evil):
    with pytest.raises(UnsafeHeader):
        render(replace(EMAIL, **{field: evil}))


def test_an_internationalised_domain_goes_out_as_punycode():
    rendered = messages().render(replace(EMAIL, recipient_email="user@Bücher.example"))
    assert rendered.recipient == "user@xn--bcher-kva.example"
    assert not rendered.smtputf8  # any relay can take it
    rendered.data.decode("ascii")  # the whole message stays 7-bit
    to = email.message_from_bytes(rendered.data)["To"]
    assert decoded(to) == "Zoë Ångström 张伟 <user@xn--bcher-kva.example>"


def test_a_non_ascii_local_part_needs_smtputf8_and_is_written_as_utf8():
    rendered = messages().render(replace(EMAIL, recipient_email="jösé@bücher.example"))
    assert rendered.recipient == "jösé@xn--bcher-kva.example"
    assert rendered.smtputf8
    lines = header_lines(rendered.data)
    to_at = next(i for i, line in enumerate(lines) if line.startswith(b"To: "))
    to_end = next(i for i in range(to_at + 1, len(lines)) if not lines[i].startswith(b" "))
    assert lines[to_end - 1].endswith("<jösé@xn--bcher-kva.example>".encode())


@pytest.mark.parametrize(
    "address", ["user@bü..cher.example", "user@-bücher.example", "no-at-sign", "@bücher.example"]
)
def test_an_address_that_cannot_go_on_the_wire_is_refused_with_a_reason(address):
    with pytest.raises(Unaddressable):
        render(replace(EMAIL, recipient_email=address))


@pytest.mark.parametrize(
    "address",
    [
        "a@uni.example>, <victim@evil.example",
        "Victim <victim@evil.example>",
        "a@uni.example, victim@evil.example",
        "two words@example.org",
        '"quoted"@example.org',
    ],
)
def test_an_address_that_would_add_another_to_the_to_header_is_refused(address):
    # intake's validation lets none of these through; rendering is the last line before SMTP
    with pytest.raises(Unaddressable):
        render(replace(EMAIL, recipient_email=address))


@pytest.mark.parametrize(
    "evil", ["jösé@bücher.example\r\nBcc: v@x", "=?UTF-8?Q?=0A?=@bücher.example"]
)
def test_header_injection_is_refused_in_internationalised_addresses_too(evil):
    with pytest.raises(UnsafeHeader):
        render(replace(EMAIL, recipient_email=evil))


def test_the_templates_are_rendered_once_per_branding_not_per_message(monkeypatch):
    renders: list[str] = []
    original = Template.render

    def counting(self, *args, **kwargs):
        renders.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Template, "render", counting)
    renderer = messages()
    other = Branding("Other College")
    for n in range(20):
        renderer.render(replace(EMAIL, recipient_name=f"Student {n}"))
        renderer.render(replace(EMAIL, recipient_name=f"Student {n}", branding=other))
    assert sorted(renders) == sorted([HTML_TEMPLATE, TEXT_TEMPLATE] * 2)  # two brandings
