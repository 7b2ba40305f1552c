"""The object graph wired with in-memory fakes: events in, answers out, through the same
entrypoints the servers use, and no server started."""

from typing import Any

import grpc
import orjson
import pytest

from certflow.v1 import verify_service_pb2 as pb
from services.verify.bootstrap import Adapters, build
from services.verify.settings import VerifySettings
from tests.unit.verify.events import (
    REGISTRY,
    MemoryStore,
    PublishedIssuers,
    anchored_event,
    issued_event,
    new_leaf,
)
from tests.unit.verify.test_read_model import deliver
from tests.unit.verify.test_verification import MemoryRegistry


class Context:
    """The little of grpc.aio.ServicerContext the servicer uses."""

    def __init__(self) -> None:
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def peer(self) -> str:
        return "ipv4:127.0.0.1:5000"

    async def abort(self, code: grpc.StatusCode, details: str, *_: Any) -> None:
        self.aborted = (code, details)
        raise grpc.RpcError(details)


async def test_events_through_the_consumers_are_answered_by_the_servicer() -> None:
    store, registry = MemoryStore(), MemoryRegistry()
    service = build(
        VerifySettings(registry_address=REGISTRY), Adapters(store, registry, PublishedIssuers())
    )
    leaves = [new_leaf(), new_leaf(), new_leaf()]
    servicer: Any = service.servicer  # its methods take the context Protocol loosely

    async def by_id(certificate_id: str) -> int:
        request = pb.VerifyCertificateRequest(certificate_id=certificate_id)
        return (await servicer.VerifyCertificate(request, Context())).status

    assert await by_id(leaves[0].certificate_id) == pb.VERIFICATION_STATUS_NOT_FOUND
    await deliver(service.issued, issued_event(leaves))
    assert await by_id(leaves[0].certificate_id) == pb.VERIFICATION_STATUS_PENDING

    await deliver(service.anchored, anchored_event(leaves))
    root = store.anchored[leaves[0].certificate_id].anchoring.merkle_root
    registry.anchored[root] = (7, 1_780_000_000)
    assert await by_id(leaves[0].certificate_id) == pb.VERIFICATION_STATUS_VALID

    request = pb.GetCertificateDocumentRequest(certificate_id=leaves[2].certificate_id)
    document = (await servicer.GetCertificateDocument(request, Context())).document_json
    posted = pb.VerifyCertificateRequest(document_json=document)
    assert (await servicer.VerifyCertificate(posted, Context())).status == (
        pb.VERIFICATION_STATUS_VALID
    )
    assert orjson.loads(document)["proof"]["anchor"]["registry"] == REGISTRY


async def test_a_pending_certificate_has_no_document_yet() -> None:
    store = MemoryStore()
    service = build(
        VerifySettings(registry_address=REGISTRY),
        Adapters(store, MemoryRegistry(), PublishedIssuers()),
    )
    leaf = new_leaf()
    await deliver(service.issued, issued_event([leaf]))
    context = Context()
    request = pb.GetCertificateDocumentRequest(certificate_id=leaf.certificate_id)
    servicer: Any = service.servicer
    with pytest.raises(grpc.RpcError):
        await servicer.GetCertificateDocument(request, context)
    assert context.aborted is not None and context.aborted[0] == grpc.StatusCode.NOT_FOUND
