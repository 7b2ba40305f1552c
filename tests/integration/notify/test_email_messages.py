"""Messages against real servers: a DKIM-signed email as the real SMTP sink (aiosmtpd) stored it
verifies with dkimpy (the public key handed over through its `dnsfunc` hook) and fails once
tampered; PreviewEmail over a real gRPC server and a real database renders without sending."""

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import dkim
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import select

from certflow.platform.db.engine import make_engine, make_session_factory
from certflow.platform.db.migrate import upgrade
from certflow.v1 import notify_service_pb2 as pb
from certflow.v1 import notify_service_pb2_grpc
from devstack.smtp_sink import RelayBehaviour
from services.notify import tables as notify_tables
from services.notify.branding import Branding
from services.notify.dkim_signing import DkimSigner
from services.notify.outcome_policy import Accepted
from services.notify.rendering import (
    CertificateEmail,
    CertificateMessages,
    RenderedEmail,
    Sender,
)
from services.notify.servicer import NotifyServicer
from services.notify.store import Deliveries
from tests.integration.notify.seeding import seed_anchored, seed_content
from tests.integration.notify.test_relay_catalogue import pool_for, start_relay
from tests.unit.notify.dkim_keys import DkimKeys, new_keys

SENDER = Sender("certificates@uni.example", "https://verify.example")
BRANDING = Branding(
    "Université Exemple",
    reply_to="registrar@uni.example",
    unsubscribe_url="https://uni.example/unsubscribe/{certificate_id}",
    unsubscribe_mailto="unsubscribe@uni.example",
)
EMAIL = CertificateEmail(
    certificate_id="0b8c0d3e-0000-4000-8000-000000000001",
    message_id="<d1@uni.example>",
    recipient_name="Zoë Ångström 张伟",
    recipient_email="zoe@example.org",
    issuer_name="Université Exemple",
    title="MSc Données & <Science>",
    completion_date="2026-06-30",
    document={"id": "urn:uuid:0b8c0d3e-0000-4000-8000-000000000001", "name": "MSc"},
)


@pytest.fixture(scope="module")
def keys() -> DkimKeys:
    return new_keys(bits=2048)


async def captured(tmp_path, message: bytes) -> bytes:
    """`message` sent through the real SMTP pool to the real sink; the file the sink saved."""
    folder = tmp_path / "mail"
    server, port = await start_relay(folder, RelayBehaviour())
    pool = pool_for(port)
    try:
        assert await pool.send(RenderedEmail("zoe@example.org", message)) == Accepted()
    finally:
        await pool.close()
        server.close()
        await server.wait_closed()
    (saved,) = folder.glob("*.eml")
    return saved.read_bytes()


async def test_a_signed_message_captured_by_the_smtp_sink_verifies_and_fails_once_tampered(
    tmp_path, keys
):
    signer = DkimSigner(selector=keys.selector, domain=keys.domain, private_key=keys.private_pem)
    rendered = CertificateMessages(SENDER, BRANDING, signer=signer).render(EMAIL)
    saved = await captured(tmp_path, rendered.data)
    assert saved.startswith(b"X-Envelope-To: zoe@example.org\r\nDKIM-Signature: ")
    assert dkim.verify(saved, dnsfunc=keys.dns())  # the sink's own header is not signed

    message = email.message_from_bytes(saved, policy=email.policy.default)
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    html = next(p for p in message.walk() if p.get_content_type() == "text/html")
    body_start = saved.index(b"\r\n\r\n") + 4
    tampered_body = saved[:body_start] + saved[body_start:].replace(
        b"Content-Type: text/html", b"Content-Type: text/plain", 1
    )
    assert html is not None and tampered_body != saved
    assert not dkim.verify(tampered_body, dnsfunc=keys.dns())
    tampered_header = saved.replace(b"Message-ID: <d1@", b"Message-ID: <d2@", 1)
    assert not dkim.verify(tampered_header, dnsfunc=keys.dns())


# ---- PreviewEmail over gRPC ----


@dataclass
class PreviewService:
    stub: notify_service_pb2_grpc.NotifyServiceStub
    store: Deliveries
    sessions: Any


@pytest.fixture
async def service(database_url) -> AsyncIterator[PreviewService]:
    upgrade(database_url, ["notify"])
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    store = Deliveries(sessions, message_id_domain="uni.example")
    server = grpc.aio.server()
    notify_service_pb2_grpc.add_NotifyServiceServicer_to_server(
        NotifyServicer(store, CertificateMessages(SENDER, BRANDING)), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield PreviewService(notify_service_pb2_grpc.NotifyServiceStub(channel), store, sessions)
    finally:
        await channel.close()
        await server.stop(None)
        engine.dispose()


def delivery_rows(sessions) -> list[tuple[str, int]]:
    with sessions() as session:
        rows = session.execute(
            select(notify_tables.Delivery.state, notify_tables.Delivery.attempts)
        )
        return [(state, attempts) for state, attempts in rows]


async def test_preview_of_an_anchored_certificate_shows_the_message_and_sends_nothing(service):
    _, (certificate_id,) = await asyncio.to_thread(
        seed_anchored, service.store, ["ada@bücher.example"]
    )
    before = delivery_rows(service.sessions)
    shown = await service.stub.PreviewEmail(pb.PreviewEmailRequest(certificate_id=certificate_id))
    headers = {h.name: h.value for h in shown.headers}
    assert shown.recipient == "ada@xn--bcher-kva.example"
    assert shown.subject == "Your certificate: Resilience 101"
    assert headers["To"] == "Student 0 <ada@xn--bcher-kva.example>"
    assert headers["From"] == "Université Exemple <certificates@uni.example>"
    assert headers["Reply-To"] == "registrar@uni.example"
    assert headers["List-Unsubscribe"].startswith(
        f"<https://uni.example/unsubscribe/{certificate_id}>"
    )
    with service.sessions() as session:
        message_id = session.scalar(select(notify_tables.Delivery.message_id))
    assert headers["Message-ID"] == message_id  # the one the real email will carry
    assert f"https://verify.example/verify/{certificate_id}" in shown.text_body
    assert "Dear Student 0" in shown.html_body
    assert list(shown.attachment_names) == [f"certificate-{certificate_id}.json"]
    assert not shown.smtputf8_required and shown.size_bytes > 1000
    assert not shown.dkim_signed  # this notify has no DKIM key
    assert delivery_rows(service.sessions) == before == [("pending", 0)]


async def test_preview_of_a_certificate_not_yet_anchored_attaches_the_document_without_proof(
    service,
):
    _, (certificate_id,) = await asyncio.to_thread(seed_content, service.store, ["ada@example.org"])
    shown = await service.stub.PreviewEmail(pb.PreviewEmailRequest(certificate_id=certificate_id))
    assert list(shown.attachment_names) == [f"certificate-{certificate_id}.json"]
    assert dict((h.name, h.value) for h in shown.headers)["Message-ID"] == (
        f"<preview-{certificate_id}@preview>"
    )


async def test_preview_of_sample_values(service):
    sample = pb.EmailSample(
        recipient_name="Zoë <b>Ångström</b>",
        recipient_email="zoe@example.org",
        title="MSc Data",
        completion_date="2026-06-30",
    )
    shown = await service.stub.PreviewEmail(pb.PreviewEmailRequest(sample=sample))
    assert "Zoë &lt;b&gt;Ångström&lt;/b&gt;" in shown.html_body
    assert "Dear Zoë <b>Ångström</b>," in shown.text_body
    assert delivery_rows(service.sessions) == []


def violation_of(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    next(d for d in status.details if d.Unpack(bad_request))
    return bad_request.field_violations[0].field


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        (pb.PreviewEmailRequest(), grpc.StatusCode.INVALID_ARGUMENT, "source"),
        (
            pb.PreviewEmailRequest(certificate_id="no-such-certificate"),
            grpc.StatusCode.NOT_FOUND,
            "",
        ),
        (
            pb.PreviewEmailRequest(
                sample=pb.EmailSample(
                    recipient_name="x\r\nBcc: victim@example.com",
                    recipient_email="zoe@example.org",
                    title="MSc",
                    completion_date="2026-06-30",
                )
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "sample.recipient_name",
        ),
        (
            pb.PreviewEmailRequest(
                sample=pb.EmailSample(
                    recipient_name="Zoë",
                    recipient_email="zoe@example.org",
                    title="MSc",
                    completion_date="tomorrow",
                )
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "sample.completion_date",
        ),
        # PostgreSQL's driver refuses a NUL in a parameter: this was INTERNAL there
        (
            pb.PreviewEmailRequest(certificate_id="c1\x00"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "certificate_id",
        ),
    ],
    ids=["no-source", "unknown-certificate", "header-injection", "bad-date", "nul-in-id"],
)
async def test_bad_preview_requests_get_a_clear_status(service, request_, code, field):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await service.stub.PreviewEmail(request_)
    assert refused.value.code() == code
    if field:
        assert violation_of(refused.value) == field
