import email
import json
from email.header import decode_header, make_header

import pytest

from services.notify.rendering import CertificateEmail, Sender, UnsafeHeader, render

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
    text = parts["text/plain"].get_payload(decode=True).decode()
    html = parts["text/html"].get_payload(decode=True).decode()
    assert "https://verify.example/verify/0b8c0d3e-0000-4000-8000-000000000001" in text
    assert "Dear Zoë Ångström 张伟" in text
    assert "&lt;Science&gt;" in html and "<Science>" not in html  # escaped in HTML
    attachment = parts["application/json"]
    assert attachment.get_filename() == "certificate-0b8c0d3e-0000-4000-8000-000000000001.json"
    assert json.loads(attachment.get_payload(decode=True)) == EMAIL.document
    assert all(len(line) <= 998 for line in rendered.data.split(b"\r\n"))


@pytest.mark.parametrize(
    "field",
    ["recipient_name", "title", "recipient_email"],
)
@pytest.mark.parametrize(
    "evil", ["x\r\nBcc: victim@example.com", "=?UTF-8?Q?=0A?=Bcc: v@x", "x\x00"]
)
def test_header_injection_is_refused(field, evil):
    bad = (
        CertificateEmail(**{**EMAIL.__dict__, field: evil}) if hasattr(EMAIL, "__dict__") else None
    )
    if bad is None:
        from dataclasses import replace

        bad = replace(EMAIL, **{field: evil})
    with pytest.raises(UnsafeHeader):
        render(replace(EMAIL, **{field: evil}), SENDER)
