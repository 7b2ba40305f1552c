"""Bounces on the real stack: a 5xx at send bounces and suppresses, and the next batch to that
address is SUPPRESSED without a send; a delivery status notification sent by SMTP to notify's
bounce listener bounces a sent delivery; forged, garbled and hostile reports are refused or
ignored (and counted) without a crash; a resend to a corrected address sends one email."""

import email
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import grpc
import pytest

from certflow.v1 import notify_service_pb2 as pb
from devstack.client import StackClient
from devstack.processes import free_port
from devstack.smtp_sink import RelayBehaviour
from devstack.stack import DEMO_ISSUER_NAME, SERVICES, LocalStack, StackOptions
from services.notify.bounces import BounceAddresses
from tests.e2e.test_notify_faults import csv_of, mail_to
from tests.unit.notify.dsn_samples import OUT_OF_OFFICE, postfix_dsn

SECRET = "e2e-notify-secret-for-bounces"
BOUNCE_ADDRESS = "bounces@certflow.localhost"
VERP = BounceAddresses(BOUNCE_ADDRESS, SECRET.encode())
GONE = "gone@example.org"
UNSUBSCRIBE_URL = "https://notify.certflow.localhost/unsubscribe/{unsubscribe_token}"
NO_SUCH_USER = "550 5.1.1 <gone@example.org>: no such user"  # relays quote the address


@pytest.fixture(scope="module")
def bounce_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def unsubscribe_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, bounce_port, unsubscribe_port):
    env = {
        "CERTFLOW_CLAIM_LEASE_SECONDS": "2",
        "CERTFLOW_RETRY_BACKOFF_SECONDS": "0.2",
        "CERTFLOW_BOUNCE_ADDRESS": BOUNCE_ADDRESS,
        "CERTFLOW_BOUNCE_LISTEN_HOST": "127.0.0.1",
        "CERTFLOW_BOUNCE_LISTEN_PORT": str(bounce_port),
        "CERTFLOW_BOUNCE_MAX_BYTES": "200000",
        "CERTFLOW_NOTIFY_SECRET": SECRET,
        "CERTFLOW_UNSUBSCRIBE_HTTP_HOST": "127.0.0.1",
        "CERTFLOW_UNSUBSCRIBE_HTTP_PORT": str(unsubscribe_port),
        "CERTFLOW_LIST_UNSUBSCRIBE_URL": UNSUBSCRIBE_URL,
    }
    options = StackOptions(
        state_dir=tmp_path_factory.mktemp("bounces"),
        window_max_age_seconds=0.3,
        service_env=env,
        smtp_behaviour=RelayBehaviour(
            refuse=((GONE, "550 5.1.1 <gone@example.org>: no such user"),)
        ),
    )
    with LocalStack(options) as running:
        yield running


@pytest.fixture(scope="module")
def client(stack):
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    yield client
    client.close()


@pytest.fixture
def metadata(stack):
    return (("authorization", f"Bearer {stack.token}"),)


@pytest.fixture(autouse=True)
def notify_never_exits_on_its_own(stack):
    yield
    notify = stack.processes["notify"]
    assert notify.running, f"notify exited with {notify.popen.returncode}:\n{notify.log_tail()}"


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def by_email(client, batch_id: str, emails: list[str]) -> dict[str, pb.Delivery]:
    """The batch's deliveries by recipient (ListDeliveries lists in upload order)."""
    deliveries = client.deliveries(batch_id)
    assert len(deliveries) == len(emails)
    found = {}
    for d in deliveries:
        preview = client.notify.PreviewEmail(
            pb.PreviewEmailRequest(certificate_id=d.certificate_id),
            metadata=(client._metadata),
            timeout=10,
        )
        found[preview.recipient.lower()] = d
    return found


def history(client, metadata, delivery_id: str) -> pb.Delivery:
    request = pb.GetDeliveryRequest(delivery_id=delivery_id)
    return client.notify.GetDelivery(request, metadata=metadata, timeout=10).delivery


def send_report(port: int, recipient: str, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail("", [recipient], data)


def test_a_5xx_bounces_suppresses_and_the_next_batch_skips_the_address(stack, client, metadata):
    emails = [GONE, "kept1@example.org"]
    batch_id = client.upload_csv(csv_of(emails, "Bounce 101"), request_id="b1").batch.batch_id
    batch = client.wait_for_batch(batch_id, until="completed", timeout=90)
    assert (batch.emailed_count, batch.email_failed_count) == (1, 1)
    deliveries = by_email(client, batch_id, emails)
    gone = history(client, metadata, deliveries[GONE].delivery_id)
    assert gone.state == pb.DELIVERY_STATE_BOUNCED and gone.attempts == 1
    assert [(e.state, e.smtp_code) for e in gone.history][-1] == (pb.DELIVERY_STATE_BOUNCED, 550)
    listed = client.notify.ListSuppressions(
        pb.ListSuppressionsRequest(issuer_name=DEMO_ISSUER_NAME), metadata=metadata, timeout=10
    )
    assert [(s.address_hint, s.reason) for s in listed.suppressions] == [
        ("g…@example.org", pb.SUPPRESSION_REASON_BOUNCED)
    ]
    assert GONE not in str(listed)  # the list holds no address

    emails = [GONE.upper(), "kept2@example.org"]
    second = client.upload_csv(csv_of(emails, "Bounce 102"), request_id="b2").batch.batch_id
    batch = client.wait_for_batch(second, until="completed", timeout=90)
    assert (batch.emailed_count, batch.email_failed_count) == (1, 1)
    deliveries = by_email(client, second, [GONE, "kept2@example.org"])
    skipped = history(client, metadata, deliveries[GONE].delivery_id)
    # never handed to the relay: no attempt, no reply code in its history
    assert (skipped.state, skipped.attempts) == (pb.DELIVERY_STATE_SUPPRESSED, 0)
    assert [e.state for e in skipped.history] == [
        pb.DELIVERY_STATE_QUEUED,
        pb.DELIVERY_STATE_SUPPRESSED,
    ]


def test_a_report_by_smtp_to_the_bounce_listener_bounces_a_sent_delivery(
    stack, client, metadata, bounce_port
):
    batch_id = client.upload_csv(
        csv_of(["late@example.org"], "Late 101"), request_id="late"
    ).batch.batch_id
    batch = client.wait_for_batch(batch_id, until="completed", timeout=90)
    assert batch.emailed_count == 1
    (delivery,) = client.deliveries(batch_id)
    report = postfix_dsn(recipient="late@example.org", message_id=delivery.message_id)
    send_report(bounce_port, VERP.sender_for(delivery.delivery_id, 0), report)
    wait_until(
        lambda: history(client, metadata, delivery.delivery_id).state == pb.DELIVERY_STATE_BOUNCED,
        30,
        "the bounce recorded",
    )
    wait_until(
        lambda: client.batch(batch_id).email_failed_count == 1, 30, "ingest counting the bounce"
    )
    assert client.batch(batch_id).emailed_count == 0
    listed = client.notify.ListSuppressions(
        pb.ListSuppressionsRequest(issuer_name=DEMO_ISSUER_NAME), metadata=metadata, timeout=10
    )
    assert "l…@example.org" in [s.address_hint for s in listed.suppressions]
    # the same report again changes nothing
    send_report(bounce_port, VERP.sender_for(delivery.delivery_id, 0), report)
    assert [e.state for e in history(client, metadata, delivery.delivery_id).history].count(
        pb.DELIVERY_STATE_BOUNCED
    ) == 1


def test_forged_garbled_and_hostile_reports_change_nothing(stack, client, metadata, bounce_port):
    batch_id = client.upload_csv(
        csv_of(["safe@example.org"], "Safe 101"), request_id="safe"
    ).batch.batch_id
    client.wait_for_batch(batch_id, until="completed", timeout=90)
    (delivery,) = client.deliveries(batch_id)
    report = postfix_dsn(recipient="safe@example.org", message_id=delivery.message_id)
    genuine = VERP.sender_for(delivery.delivery_id, 0)
    forged = BounceAddresses(BOUNCE_ADDRESS, b"not our secret").sender_for(delivery.delivery_id, 0)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_report(bounce_port, forged, report)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_report(bounce_port, "postmaster@certflow.localhost", report)
    # to a genuine address: an auto-reply, garbage, a report naming someone else
    send_report(bounce_port, genuine, OUT_OF_OFFICE)
    send_report(bounce_port, genuine, b"\x00\xff not mime at all \r\n" * 100)
    send_report(
        bounce_port,
        genuine,
        postfix_dsn(recipient="other@example.org", message_id=delivery.message_id),
    )
    # shaped to make the stdlib parser work (~20 s of CPU per MiB of blank lines, parsed on
    # the event loop every sender shares): not a report, before it is parsed
    send_report(bounce_port, genuine, report.replace(b"\r\n\r\n", b"\r\n" * 80_000, 1))
    send_report(bounce_port, genuine, report.replace(b"\r\n--", b"\r\n--x\r\n--" * 20_000, 1))
    # too big: refused by size (552) before anything is parsed
    with pytest.raises(smtplib.SMTPException):
        send_report(bounce_port, genuine, report + b"X" * 300_000)
    # header injection and odd bytes in the envelope: refused at RCPT, the session goes on
    with smtplib.SMTP("127.0.0.1", bounce_port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.docmd("MAIL FROM:<>")[0] == 250
        for hostile in (
            f"<{genuine}> Bcc: victim@example.org",
            f"<{genuine[:-1]}\x0bBcc:victim@example.org>",
            "<\x00@certflow.localhost>",
            "<" + "a" * 5000 + "@certflow.localhost>",
        ):
            assert smtp.docmd(f"RCPT TO:{hostile}")[0] >= 500, hostile
        assert smtp.docmd(f"RCPT TO:<{genuine}>")[0] == 250
        smtp.docmd("RSET")
    assert history(client, metadata, delivery.delivery_id).state == pb.DELIVERY_STATE_SENT
    log = (stack.logs_dir / "notify.log").read_text(errors="replace")
    assert "refused: not a bounce address" in log
    assert "ignored: not a delivery status report" in log
    assert "ignored: the report names another recipient" in log
    assert "ignored: not a delivery status report (too many blank lines)" in log
    assert "ignored: not a delivery status report (too many MIME boundaries)" in log


def test_a_resend_to_a_corrected_address_sends_one_email(stack, client, metadata):
    emails = ["gone@example.org"]
    batch_id = client.upload_csv(csv_of(emails, "Typo 101"), request_id="typo").batch.batch_id
    client.wait_for_batch(batch_id, until="completed", timeout=90)
    (delivery,) = client.deliveries(batch_id)
    assert delivery.state == pb.DELIVERY_STATE_SUPPRESSED  # suppressed by the first test
    request = pb.ResendDeliveriesRequest(
        certificate_id=delivery.certificate_id,
        recipient_email="corrected@example.org",
        request_id="fix-typo",
    )
    assert client.notify.ResendDeliveries(request, metadata=metadata, timeout=10).resent_count == 1
    assert client.notify.ResendDeliveries(request, metadata=metadata, timeout=10).resent_count == 1
    wait_until(
        lambda: history(client, metadata, delivery.delivery_id).state == pb.DELIVERY_STATE_SENT,
        60,
        "the resend sent",
    )
    wait_until(lambda: client.batch(batch_id).emailed_count == 1, 30, "ingest counting it")
    time.sleep(1)  # a duplicate would arrive within a lease
    assert mail_to(stack, "corrected") == {"corrected@example.org": 1}
    again = history(client, metadata, delivery.delivery_id)
    assert again.recipient_corrected and again.resend_count == 1
    with pytest.raises(grpc.RpcError) as refused:
        client.notify.ResendDeliveries(
            pb.ResendDeliveriesRequest(
                certificate_id=delivery.certificate_id,
                recipient_email="x@example.org\r\nBcc: victim@example.org",
                request_id="inject",
            ),
            metadata=metadata,
            timeout=10,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def unsubscribe_link(stack, recipient: str) -> str:
    (path,) = [
        p
        for p in stack.mail_dir.glob("*.eml")
        if f"X-Envelope-To: {recipient}".encode() in p.read_bytes()
    ]
    header = email.message_from_bytes(path.read_bytes())["List-Unsubscribe"]
    return header.split("<", 1)[1].split(">", 1)[0]


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_one_click_unsubscribe_suppresses_the_address_for_later_batches(
    stack, client, metadata, unsubscribe_port
):
    first = client.upload_csv(
        csv_of(["quitter@example.org"], "Quit 101"), request_id="quit-1"
    ).batch.batch_id
    client.wait_for_batch(first, until="completed", timeout=90)
    link = unsubscribe_link(stack, "quitter@example.org")
    assert link.startswith("https://notify.certflow.localhost/unsubscribe/")
    local = link.replace(
        "https://notify.certflow.localhost", f"http://127.0.0.1:{unsubscribe_port}"
    )
    status, page = http("GET", local)
    assert status == 200 and 'method="post"' in page  # a GET changes nothing
    forged = local[:-1] + ("0" if local[-1] != "0" else "1")
    assert http("POST", forged, b"List-Unsubscribe=One-Click")[0] == 404
    assert http("POST", local, b"")[0] == 400  # not the RFC 8058 body
    listed = client.notify.ListSuppressions(
        pb.ListSuppressionsRequest(issuer_name=DEMO_ISSUER_NAME), metadata=metadata, timeout=10
    )
    assert "q…@example.org" not in [s.address_hint for s in listed.suppressions]
    status, text = http("POST", local, b"List-Unsubscribe=One-Click")
    assert status == 200 and "quitter" not in text
    assert http("POST", local, b"List-Unsubscribe=One-Click")[0] == 200  # a repeat is fine
    listed = client.notify.ListSuppressions(
        pb.ListSuppressionsRequest(issuer_name=DEMO_ISSUER_NAME), metadata=metadata, timeout=10
    )
    assert ("q…@example.org", pb.SUPPRESSION_REASON_UNSUBSCRIBED) in [
        (s.address_hint, s.reason) for s in listed.suppressions
    ]
    (sent,) = client.deliveries(first)
    assert pb.DELIVERY_STATE_UNSUBSCRIBED in [
        e.state for e in history(client, metadata, sent.delivery_id).history
    ]
    second = client.upload_csv(
        csv_of(["quitter@example.org"], "Quit 102"), request_id="quit-2"
    ).batch.batch_id
    client.wait_for_batch(second, until="completed", timeout=90)
    (skipped,) = client.deliveries(second)
    assert skipped.state == pb.DELIVERY_STATE_SUPPRESSED
    assert mail_to(stack, "quitter") == {"quitter@example.org": 1}


def test_the_cli_shows_bounces_resends_and_keeps_the_suppression_list(stack, tmp_path) -> None:
    from tests.e2e.test_cli import base_env, certflow

    env = {
        **base_env(tmp_path),
        "CERTFLOW_NOTIFY_ADDRESS": stack.target("notify"),
        "CERTFLOW_INTERNAL_TOKEN": stack.token,
    }
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    try:
        batch_id = client.upload_csv(
            csv_of([GONE, "cli-ok@example.org"], "CLI 101"), request_id="cli-1"
        ).batch.batch_id
        client.wait_for_batch(batch_id, until="completed", timeout=90)
    finally:
        client.close()
    shown = certflow("deliveries", batch_id, "--json", env=env)
    assert shown.code == 0, shown.stderr
    document = shown.json()
    assert document["counts"] == {"sent": 1, "suppressed": 1}
    assert document["success_rate"] == 0.5
    ((problem,),) = [document["deliveries"]]
    assert problem["state"] == "suppressed"
    listed = certflow("suppression", "list", DEMO_ISSUER_NAME, "--json", env=env)
    assert listed.code == 0 and GONE not in listed.stdout
    assert "g…@example.org" in [s["address_hint"] for s in listed.json()["suppressions"]]
    removed = certflow("suppression", "remove", DEMO_ISSUER_NAME, "--email", GONE, env=env)
    assert removed.code == 0, removed.stderr
    again = certflow("suppression", "remove", DEMO_ISSUER_NAME, "--email", GONE, env=env)
    assert again.code == 6
    resent = certflow(
        "resend", problem["certificate_id"], "--to", "cli-fixed@example.org",
        "--request-id", "cli-fix", "--json", env=env,
    )  # fmt: skip
    assert resent.code == 0 and resent.json() == {"resent_count": 1}, resent.stderr
    wait_until(lambda: mail_to(stack, "cli-fixed") == {"cli-fixed@example.org": 1}, 60, "resent")
    refused = certflow("resend", "--batch", batch_id, "--to", "x@example.org", "--request-id",
                       "r", env=env)  # fmt: skip
    assert refused.code == 4 and "Traceback" not in refused.stderr


def test_a_complaint_suppresses_the_address_only_with_our_return_path(
    stack, client, metadata, bounce_port
):
    from tests.unit.notify.dsn_samples import arf_report

    batch_id = client.upload_csv(
        csv_of(["annoyed@example.org"], "Spam 101"), request_id="spam"
    ).batch.batch_id
    client.wait_for_batch(batch_id, until="completed", timeout=90)
    (delivery,) = client.deliveries(batch_id)
    forged = BounceAddresses(BOUNCE_ADDRESS, b"not our secret").sender_for(delivery.delivery_id, 0)
    send_report(
        bounce_port, BOUNCE_ADDRESS, arf_report(return_path=forged, message_id=delivery.message_id)
    )
    listed = client.notify.ListSuppressions(
        pb.ListSuppressionsRequest(issuer_name=DEMO_ISSUER_NAME), metadata=metadata, timeout=10
    )
    assert "a…@example.org" not in [s.address_hint for s in listed.suppressions]
    genuine = VERP.sender_for(delivery.delivery_id, 0)
    report = arf_report(return_path=genuine, message_id=delivery.message_id)
    send_report(bounce_port, BOUNCE_ADDRESS, report)
    listed = client.notify.ListSuppressions(
        pb.ListSuppressionsRequest(issuer_name=DEMO_ISSUER_NAME), metadata=metadata, timeout=10
    )
    assert ("a…@example.org", pb.SUPPRESSION_REASON_COMPLAINED) in [
        (s.address_hint, s.reason) for s in listed.suppressions
    ]
    shown = history(client, metadata, delivery.delivery_id)
    assert shown.state == pb.DELIVERY_STATE_SENT  # it was delivered; the complaint is history
    assert pb.DELIVERY_STATE_COMPLAINED in [e.state for e in shown.history]
    log = (stack.logs_dir / "notify.log").read_text(errors="replace")
    assert "ignored: a feedback report without our bounce address" in log
