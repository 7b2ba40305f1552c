"""The emails themselves, end to end on the real stack: notify configured with a branding, a
Reply-To, one-click unsubscribe and a DKIM key file; every captured email verifies (dkimpy,
public key through `dnsfunc`), carries the headers its delivery says, and reads as a preview
of the same certificate said it would. Header injection through the upload never reaches a
message."""

import csv
import email
import email.policy
import io
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest

from certflow.v1 import notify_service_pb2
from devstack.client import StackClient
from devstack.stack import SERVICES, LocalStack, StackOptions
from tests.unit.notify.dkim_keys import DkimKeys, new_keys

NAMES = [
    "Zoë Ångström",
    "Maximilian Ærøskøbing-Ångström von Brødsgård-Østergaard der Jüngere",
    "Doe, Jane",
    "王秀英",
]


@pytest.fixture(scope="module")
def keys() -> DkimKeys:
    return new_keys(selector="e2e", domain="certflow.localhost", bits=2048)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, keys):
    state = tmp_path_factory.mktemp("email-messages")
    key_path = keys.write_private(state)
    env = {
        "CERTFLOW_MAIL_FROM_NAME": "Université Exemple",
        "CERTFLOW_REPLY_TO": "registrar@certflow.localhost",
        "CERTFLOW_SUPPORT_EMAIL": "help@certflow.localhost",
        "CERTFLOW_LIST_UNSUBSCRIBE_URL": "https://uni.example/unsubscribe/{certificate_id}",
        "CERTFLOW_DKIM_PRIVATE_KEY_PATH": str(key_path),
        "CERTFLOW_DKIM_SELECTOR": keys.selector,
    }
    options = StackOptions(state_dir=state, window_max_age_seconds=0.3, service_env=env)
    with LocalStack(options) as running:
        yield running


@pytest.fixture(scope="module")
def client(stack):
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    yield client
    client.close()


def csv_of(rows: list[tuple[str, str]], title: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "email", "title", "completion_date"])
    writer.writerows((name, address, title, "2026-06-30") for name, address in rows)
    return out.getvalue().encode()


def captured(mail_dir: Path, prefix: str) -> dict[str, bytes]:
    """Raw messages the SMTP sink stored, by envelope recipient starting with `prefix`."""
    found = {}
    for path in mail_dir.glob("*.eml"):
        raw = path.read_bytes()
        recipient = raw.split(b"\r\n", 1)[0].removeprefix(b"X-Envelope-To: ").decode()
        if recipient.startswith(prefix):
            assert recipient not in found, f"{recipient} emailed twice"
            found[recipient] = raw
    return found


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_every_email_is_signed_branded_and_what_its_preview_showed(stack, client, keys):
    rows = [(name, f"msg{i}@example.org") for i, name in enumerate(NAMES)]
    title = "MSc Données & <Science>"
    batch_id = client.upload_csv(csv_of(rows, title), request_id="messages").batch.batch_id
    batch = client.wait_for_batch(batch_id, until="completed", timeout=120)
    assert (batch.emailed_count, batch.email_failed_count) == (len(rows), 0)
    mails = captured(stack.mail_dir, "msg")
    assert set(mails) == {address for _, address in rows}
    deliveries = {d.certificate_id: d for d in client.deliveries(batch_id)}
    for name, address in rows:
        raw = mails[address]
        assert dkim.verify(raw, dnsfunc=keys.dns()), f"DKIM fails for {address}"
        message = parsed(raw)
        to = str(make_header(decode_header(email.message_from_bytes(raw)["To"])))
        assert to in (f"{name} <{address}>", f'"{name}" <{address}>')
        assert str(message["Subject"]) == f"Your certificate: {title}"
        assert str(message["From"]) == "Université Exemple <certificates@certflow.localhost>"
        assert str(message["Reply-To"]) == "registrar@certflow.localhost"
        assert message["Date"] is not None and message["Date"].datetime is not None
        attachment = next(p for p in message.walk() if p.get_filename())
        filename = attachment.get_filename() or ""
        certificate_id = filename.removeprefix("certificate-").removesuffix(".json")
        assert str(message["Message-ID"]) == deliveries[certificate_id].message_id
        assert str(message["List-Unsubscribe"]) == (
            f"<https://uni.example/unsubscribe/{certificate_id}>"
        )
        assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        html = next(p for p in message.walk() if p.get_content_type() == "text/html")
        assert "MSc Données &amp; &lt;Science&gt;" in html.get_content()

        shown = client.notify.PreviewEmail(
            notify_service_pb2.PreviewEmailRequest(certificate_id=certificate_id),
            metadata=(("authorization", f"Bearer {stack.token}"),),
        )
        headers = {h.name: h.value for h in shown.headers}
        for field in ("From", "Reply-To", "Message-ID", "List-Unsubscribe", "Subject"):
            assert headers[field] == str(message[field]), field
        text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
        assert shown.text_body == text.get_content()
        assert list(shown.attachment_names) == [filename]
        # the real message is signed, the preview says so but is not: a signed preview of
        # sample values would be an email that passes as ours in anyone's hands
        assert shown.dkim_signed and "DKIM-Signature" not in headers
        assert str(message["DKIM-Signature"])


@pytest.mark.parametrize(
    "name",
    [
        "Mallory\r\nBcc: victim@example.com",
        "Mallory\nBcc: victim@example.com",
        "=?utf-8?q?Mallory=0D=0ABcc:_victim@example.com?=",
    ],
    ids=["crlf", "lf", "encoded-word"],
)
def test_a_name_trying_to_add_a_header_is_a_row_error_and_never_emailed(stack, client, name):
    label = name.encode().hex()[:16]
    victim, honest = f"inject-{label}@example.org", f"honest-{label}@example.org"
    rows = [(name, victim), ("Honest Person", honest)]
    response = client.upload_csv(csv_of(rows, "Injection 101"), request_id=f"inject-{label}")
    assert (response.batch.accepted_count, len(response.row_errors)) == (1, 1)
    assert response.row_errors[0].field == "name"
    client.wait_for_batch(response.batch.batch_id, until="completed", timeout=120)
    assert not captured(stack.mail_dir, victim)
    mails = captured(stack.mail_dir, honest)
    assert list(mails) == [honest]
    assert b"victim" not in mails[honest] and parsed(mails[honest])["Bcc"] is None
