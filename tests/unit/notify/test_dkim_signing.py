import logging
from dataclasses import replace

import dkim
import pytest

from services.notify.branding import Branding
from services.notify.dkim_signing import DkimKeyError, DkimSigner
from services.notify.rendering import CertificateEmail, CertificateMessages, Sender
from tests.unit.notify.dkim_keys import DkimKeys, new_keys

EMAIL = CertificateEmail(
    certificate_id="0b8c0d3e-0000-4000-8000-000000000001",
    message_id="<d1@uni.example>",
    recipient_name="Zoë Ångström",
    recipient_email="zoe@example.org",
    issuer_name="Université Exemple",
    title="MSc",
    completion_date="2026-06-30",
    document={"id": "urn:uuid:0b8c0d3e"},
)
BRANDING = Branding(
    "Université Exemple",
    reply_to="registrar@uni.example",
    unsubscribe_url="https://uni.example/unsubscribe/{certificate_id}",
)


@pytest.fixture(scope="module")
def keys() -> DkimKeys:
    return new_keys()


def signed(keys: DkimKeys, message: CertificateEmail = EMAIL) -> bytes:
    signer = DkimSigner(selector=keys.selector, domain=keys.domain, private_key=keys.private_pem)
    sender = Sender("certificates@uni.example", "https://verify.example")
    return CertificateMessages(sender, BRANDING, signer=signer).render(message).data


def test_a_signed_message_verifies_with_the_published_key(keys):
    data = signed(keys)
    assert data.startswith(b"DKIM-Signature: ")
    assert dkim.verify(data, dnsfunc=keys.dns())
    tags = dkim.DKIM(data)
    assert tags.verify(dnsfunc=keys.dns())
    signed_headers = {h.strip() for h in tags.signature_fields[b"h"].split(b":")}
    for header in (b"from", b"to", b"subject", b"message-id", b"date", b"reply-to"):
        assert header in signed_headers
    # RFC 8058: both unsubscribe headers must be covered by the signature
    assert {b"list-unsubscribe", b"list-unsubscribe-post"} <= signed_headers


def test_a_non_ascii_recipient_address_is_signed_too(keys):
    data = signed(keys, replace(EMAIL, recipient_email="jösé@bücher.example"))
    assert dkim.verify(data, dnsfunc=keys.dns())


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d.replace(b"Content-Transfer-Encoding: base64\r\n\r\n", b"X", 1),
        lambda d: d[:-40] + d[-40:].replace(b"A", b"B", 1) if b"A" in d[-40:] else d + b"x",
        lambda d: d.replace(b"Message-ID: <d1@uni.example>", b"Message-ID: <d2@uni.example>"),
        lambda d: d.replace(b"Reply-To: registrar@uni.example", b"Reply-To: evil@x.example"),
    ],
    ids=["mime-structure", "body-byte", "message-id", "reply-to"],
)
def test_a_tampered_message_fails_verification(keys, tamper):
    data = signed(keys)
    changed = tamper(data)
    assert changed != data
    assert not dkim.verify(changed, dnsfunc=keys.dns())


@pytest.mark.parametrize(
    "added",
    [
        b"Subject: Your certificate was revoked: pay the fee at https://evil.example\r\n",
        b"Reply-To: evil@x.example\r\n",
        b"To: someone-else@example.org\r\n",
        b"List-Unsubscribe: <https://evil.example/u>\r\n",
        b"Cc: victim@example.org\r\n",
        b"Sender: ceo@uni.example\r\n",
    ],
    ids=["subject", "reply-to", "to", "list-unsubscribe", "cc", "sender"],
)
def test_a_header_added_above_the_signed_ones_fails_verification(keys, added):
    # a client shows the first Subject/Reply-To; without oversigning (each signed header named
    # once more than it occurs, RFC 6376 section 8.15) dkimpy verified the added one as ours
    data = signed(keys)
    assert dkim.verify(data, dnsfunc=keys.dns())
    assert not dkim.verify(added + data, dnsfunc=keys.dns())


def test_another_key_under_the_same_selector_fails(keys):
    impostor = replace(keys, public_der=new_keys().public_der)
    assert not dkim.verify(signed(keys), dnsfunc=impostor.dns())


def test_a_key_file_that_cannot_sign_stops_at_start_without_showing_its_content(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    secret = b"-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWJ1dC1ub3QtYS1rZXk=\n-----END RSA PRIVATE KEY-----\n"  # noqa: E501
    path = tmp_path / "bad.private"
    path.write_bytes(secret)
    with pytest.raises(DkimKeyError) as refused:
        DkimSigner.from_file(path, selector="s", domain="uni.example")
    assert b"c2VjcmV0" not in str(refused.value).encode()
    with pytest.raises(DkimKeyError, match="cannot read the DKIM key file"):
        DkimSigner.from_file(tmp_path / "missing", selector="s", domain="uni.example")


def test_the_signer_never_shows_its_key(keys):
    signer = DkimSigner(selector=keys.selector, domain=keys.domain, private_key=keys.private_pem)
    body = keys.private_pem.split(b"\n")[1].decode()
    assert body not in repr(signer) and body not in str(signer) and "hidden" in repr(signer)
