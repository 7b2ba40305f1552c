import email
import json
from dataclasses import replace
from email.header import decode_header, make_header
from email.message import Message

import pytest

from services.notify.rendering import CertificateEmail, Sender, Unaddressable, UnsafeHeader, render

SENDER = Sender("certificates@uni.example", "Université Exemple", "https://verify.example/")
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


def payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


def decoded(value: str) -> str:
    return str(make_header(decode_header(value)))


def test_rendered_bytes_parse_as_the_intended_mime_message():
    rendered = render(EMAIL, SENDER)
    assert rendered.recipient == "zoe@example.org"
    message = email.message_from_bytes(rendered.data)
    assert decoded(message["To"]) == "Zoë Ångström 张伟 <zoe@example.org>"
    assert decoded(message["From"]) == "Université Exemple <certificates@uni.example>"
    assert decoded(message["Subject"]) == "Your certificate: MSc Données & <Science>"
    assert message["Message-ID"] == "<d1@uni.example>"
    assert message.get_content_type() == "multipart/mixed"
    parts = {p.get_content_type(): p for p in message.walk()}
    text = payload(parts["text/plain"]).decode()
    html = payload(parts["text/html"]).decode()
    assert "https://verify.example/verify/0b8c0d3e-0000-4000-8000-000000000001" in text
    assert "Dear Zoë Ångström 张伟" in text
    assert "&lt;Science&gt;" in html and "<Science>" not in html  # escaped in HTML
    attachment = parts["application/json"]
    assert attachment.get_filename() == "certificate-0b8c0d3e-0000-4000-8000-000000000001.json"
    assert json.loads(payload(attachment)) == EMAIL.document
    assert all(len(line) <= 998 for line in rendered.data.split(b"\r\n"))


@pytest.mark.parametrize(
    "field",
    ["recipient_name", "title", "recipient_email"],
)
@pytest.mark.parametrize(
    "evil", ["x\r\nBcc: victim@example.com", "=?UTF-8?Q?=0A?=Bcc: v@x", "x\x00"]
)
def test_header_injection_is_refused(field, evil):
    with pytest.raises(UnsafeHeader):
        render(replace(EMAIL, **{field: evil}), SENDER)


def test_an_internationalised_domain_goes_out_as_punycode():
    rendered = render(replace(EMAIL, recipient_email="user@Bücher.example"), SENDER)
    assert rendered.recipient == "user@xn--bcher-kva.example"
    assert not rendered.smtputf8  # any relay can take it
    rendered.data.decode("ascii")  # the whole message stays 7-bit
    to = email.message_from_bytes(rendered.data)["To"]
    assert decoded(to) == "Zoë Ångström 张伟 <user@xn--bcher-kva.example>"


def test_a_non_ascii_local_part_needs_smtputf8_and_is_written_as_utf8():
    rendered = render(replace(EMAIL, recipient_email="jösé@bücher.example"), SENDER)
    assert rendered.recipient == "jösé@xn--bcher-kva.example"
    assert rendered.smtputf8
    to_line = next(line for line in rendered.data.split(b"\r\n") if line.startswith(b"To: "))
    assert to_line.endswith("<jösé@xn--bcher-kva.example>".encode())


@pytest.mark.parametrize(
    "address", ["user@bü..cher.example", "user@-bücher.example", "no-at-sign", "@bücher.example"]
)
def test_an_address_that_cannot_go_on_the_wire_is_refused_with_a_reason(address):
    with pytest.raises(Unaddressable):
        render(replace(EMAIL, recipient_email=address), SENDER)


@pytest.mark.parametrize(
    "evil", ["jösé@bücher.example\r\nBcc: v@x", "=?UTF-8?Q?=0A?=@bücher.example"]
)
def test_header_injection_is_refused_in_internationalised_addresses_too(evil):
    with pytest.raises(UnsafeHeader):
        render(replace(EMAIL, recipient_email=evil), SENDER)
