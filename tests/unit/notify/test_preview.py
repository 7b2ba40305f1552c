"""The operator's preview, on in-memory fakes: the same message the sender loops would send,
read back; unknown certificates and bad sample values are refused with the field named."""

from dataclasses import replace

import pytest

from certflow.core.errors import Conflict, InvalidInput, NotFound
from services.notify.branding import Branding
from services.notify.consumers import IntakeConsumers
from services.notify.dkim_signing import DkimSigner
from services.notify.outcome_policy import DeliveryState
from services.notify.preview import EmailSample, preview_certificate, preview_sample
from services.notify.rendering import CertificateMessages, Sender
from tests.unit.notify.dkim_keys import new_keys
from tests.unit.notify.fakes import InMemoryStore, anchored_message, recipient

MESSAGES = CertificateMessages(
    Sender("certificates@uni.example", "https://verify.example"),
    Branding("Example U", reply_to="registrar@uni.example"),
)
SAMPLE = EmailSample("Zoë Ångström", "zoe@bücher.example", "MSc <Data>", "2026-06-30")


def header(preview, name: str) -> str:
    return next(value for field, value in preview.headers if field == name)


def test_a_known_certificate_is_previewed_as_it_would_be_sent_before_it_is_anchored():
    store = InMemoryStore()
    store.store_recipients([recipient("c1", "s1@example.org")])
    shown = preview_certificate(store, MESSAGES, "c1")
    assert shown.recipient == "s1@example.org"
    assert shown.subject == "Your certificate: Resilience 101"
    assert header(shown, "To") == "Student c1 <s1@example.org>"
    assert header(shown, "Reply-To") == "registrar@uni.example"
    assert header(shown, "Message-ID") == "<preview-c1@preview>"  # no delivery yet
    assert (
        "Dear Student c1" in shown.text_body
        and "https://verify.example/verify/c1" in shown.text_body
    )
    assert "Dear Student c1" in shown.html_body
    assert shown.attachment_names == ["certificate-c1.json"]
    assert store.states() == {}  # nothing was queued or sent


async def test_an_anchored_certificate_is_previewed_with_its_delivery_message_id():
    store = InMemoryStore()
    consumers = IntakeConsumers(store, deliveries_created=lambda: None)
    store.store_recipients([recipient("c1", "s1@example.org")])
    await consumers.take_anchored(anchored_message(["c1"]))
    (row,) = store.rows.values()
    shown = preview_certificate(store, MESSAGES, "c1")
    assert header(shown, "Message-ID") == f"<{row.id}@uni.example>"
    assert store.states() == {"c1": DeliveryState.PENDING}  # still just queued


def test_an_unknown_certificate_is_not_found_and_an_empty_id_is_a_field_error():
    with pytest.raises(NotFound):
        preview_certificate(InMemoryStore(), MESSAGES, "nope")
    with pytest.raises(InvalidInput) as refused:
        preview_certificate(InMemoryStore(), MESSAGES, "")
    assert refused.value.violations[0].field == "certificate_id"


@pytest.mark.parametrize("certificate_id", ["c1\x00", "c" * 37, "c1>, <x@evil.example"])
def test_a_certificate_id_no_certificate_can_have_is_a_field_error_before_any_read(
    certificate_id,
):
    # a NUL failed PostgreSQL's driver (INTERNAL), a long one came back whole in the error
    with pytest.raises(InvalidInput) as refused:
        preview_certificate(InMemoryStore(), MESSAGES, certificate_id)
    assert refused.value.violations[0].field == "certificate_id"


def test_long_names_read_back_as_mail_clients_show_them():
    # two encoded words: RFC 2047 drops the folding between them, CPython's policy.default
    # put a space there ("Br ødsgård"), so the preview showed a name the email does not have
    name = "Maximilian Ærøskøbing-Ångström von Brødsgård-Østergaard der Jüngere"
    issuer = "Université Exemple avec un nom très long qui se plie sur deux lignes"
    messages = CertificateMessages(
        Sender("certificates@uni.example", "https://verify.example"), Branding(issuer)
    )
    shown = preview_sample(
        messages, replace(SAMPLE, recipient_name=name, recipient_email="zoë@bücher.example")
    )
    assert header(shown, "To") == f"{name} <zoë@xn--bcher-kva.example>"
    assert header(shown, "From") == f"{issuer} <certificates@uni.example>"
    assert shown.subject == header(shown, "Subject") == f"Your certificate: {SAMPLE.title}"


def test_a_stored_certificate_that_cannot_be_sent_says_why():
    store = InMemoryStore()
    store.store_recipients([recipient("c1", "s1@bü..cher.example")])
    with pytest.raises(Conflict, match="cannot be sent"):
        preview_certificate(store, MESSAGES, "c1")


def test_a_preview_is_never_signed_but_says_whether_the_real_message_is():
    keys = new_keys()
    signer = DkimSigner(selector=keys.selector, domain=keys.domain, private_key=keys.private_pem)
    signing = CertificateMessages(
        Sender("certificates@uni.example", "https://verify.example"),
        Branding("Example U"),
        signer=signer,
    )
    store = InMemoryStore()
    store.store_recipients([recipient("c1", "s1@example.org")])
    for shown in (preview_sample(signing, SAMPLE), preview_certificate(store, signing, "c1")):
        assert shown.dkim_signed
        assert "DKIM-Signature" not in dict(shown.headers)
    assert not preview_sample(MESSAGES, SAMPLE).dkim_signed


def test_sample_values_are_rendered_with_the_branding_and_escaped():
    shown = preview_sample(MESSAGES, SAMPLE)
    assert shown.recipient == "zoe@xn--bcher-kva.example"
    assert shown.subject == "Your certificate: MSc <Data>"
    assert "MSc &lt;Data&gt;" in shown.html_body and "<Data>" not in shown.html_body
    assert "Example U" in shown.text_body  # the branding's name stands in for the issuer
    assert shown.attachment_names == ["certificate-00000000-0000-4000-8000-000000000000.json"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("recipient_name", ""),
        ("recipient_name", "x\r\nBcc: v@x.example"),
        ("title", "=?utf-8?q?x?="),
        ("issuer_name", "I" * 501),
        ("recipient_email", "no-at-sign"),
        # intake refuses it; rendered, it put a second address in To
        ("recipient_email", "a@uni.example>, <victim@evil.example"),
        ("recipient_email", "two words@example.org"),
        ("completion_date", "30/06/2026"),
    ],
)
def test_a_bad_sample_value_is_refused_naming_its_field(field, value):
    with pytest.raises(InvalidInput) as refused:
        preview_sample(MESSAGES, replace(SAMPLE, **{field: value}))
    assert refused.value.violations[0].field == f"sample.{field}"
