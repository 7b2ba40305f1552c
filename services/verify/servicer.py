"""gRPC transport of verify (public: no internal token needed)."""

from collections.abc import Callable
from typing import Any, TypeVar

import grpc
import orjson
from google.protobuf.message import DecodeError, Message

from certflow.core.errors import FieldViolation, InvalidInput, NotFound, TooLarge, invalid_field
from certflow.core.verification import (
    CheckStatus,
    Verification,
    VerificationStatus,
    Verifier,
)
from certflow.platform.grpc_errors import translate_errors
from certflow.platform.proto_time import to_timestamp
from certflow.platform.rate_limit import KeyedRateLimiter
from certflow.v1 import verify_service_pb2 as pb
from services.verify.by_id import Lookups, echoed_id, verify_by_id
from services.verify.revocation_notes import reason_value

M = TypeVar("M", bound=Message)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["VerifyService"].full_name

_STATUS = {
    VerificationStatus.VALID: pb.VERIFICATION_STATUS_VALID,
    VerificationStatus.TAMPERED: pb.VERIFICATION_STATUS_TAMPERED,
    VerificationStatus.REVOKED: pb.VERIFICATION_STATUS_REVOKED,
    VerificationStatus.EXPIRED: pb.VERIFICATION_STATUS_EXPIRED,
    VerificationStatus.PENDING: pb.VERIFICATION_STATUS_PENDING,
    VerificationStatus.MALFORMED: pb.VERIFICATION_STATUS_MALFORMED,
    VerificationStatus.NOT_FOUND: pb.VERIFICATION_STATUS_NOT_FOUND,
    VerificationStatus.UNKNOWN_ISSUER: pb.VERIFICATION_STATUS_UNKNOWN_ISSUER,
    VerificationStatus.REGISTRY_NOT_LISTED: pb.VERIFICATION_STATUS_REGISTRY_NOT_LISTED,
    VerificationStatus.NOT_YET_VALID: pb.VERIFICATION_STATUS_NOT_YET_VALID,
}
_CHECK = {
    CheckStatus.PASSED: pb.CHECK_STATUS_PASSED,
    CheckStatus.FAILED: pb.CHECK_STATUS_FAILED,
    CheckStatus.SKIPPED: pb.CHECK_STATUS_SKIPPED,
}


class UnreadableRequest:
    """Handed to a method instead of bytes that do not parse as its request message."""


def _tolerant(parse: Callable[[bytes], M]) -> Callable[[bytes], M | UnreadableRequest]:
    def deserialize(data: bytes) -> M | UnreadableRequest:
        try:
            return parse(data)
        except DecodeError:
            return UnreadableRequest()

    return deserialize


def _readable(request: M | UnreadableRequest) -> M:
    if isinstance(request, UnreadableRequest):
        raise invalid_field("request", "not a valid protobuf message (or not UTF-8 text)")
    return request


def add_verify_service(servicer: "VerifyServicer", server: grpc.aio.Server) -> None:
    """As the generated add_VerifyServiceServicer_to_server, except that bytes which are not the
    request message (corrupt wire format, invalid UTF-8 in a string) reach the method, which
    refuses them as INVALID_ARGUMENT; gRPC itself would answer UNKNOWN."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "VerifyCertificate": grpc.unary_unary_rpc_method_handler(
            servicer.VerifyCertificate,
            request_deserializer=_tolerant(pb.VerifyCertificateRequest.FromString),
            response_serializer=pb.VerifyCertificateResponse.SerializeToString,
        ),
        "GetCertificateDocument": grpc.unary_unary_rpc_method_handler(
            servicer.GetCertificateDocument,
            request_deserializer=_tolerant(pb.GetCertificateDocumentRequest.FromString),
            response_serializer=pb.GetCertificateDocumentResponse.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)


class VerifyServicer:
    def __init__(
        self,
        verifier: Verifier,
        lookups: Lookups,
        *,
        max_document_bytes: int,
        limiter: KeyedRateLimiter,
    ) -> None:
        self._limiter = limiter
        self._verifier = verifier
        self._lookups = lookups
        self._max_document_bytes = max_document_bytes

    def _check_rate(self, context: grpc.aio.ServicerContext) -> None:
        if not self._limiter.allow(_client_address(context.peer() or "")):
            raise TooLarge("RATE_LIMITED", "too many requests from this client; slow down")

    @translate_errors
    async def VerifyCertificate(
        self,
        unread: pb.VerifyCertificateRequest | UnreadableRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.VerifyCertificateResponse:
        self._check_rate(context)
        request = _readable(unread)
        target = request.WhichOneof("target")
        if target == "document_json":
            if len(request.document_json.encode()) > self._max_document_bytes:
                raise TooLarge(
                    "DOCUMENT_TOO_LARGE", f"documents are at most {self._max_document_bytes} bytes"
                )
            result = await self._verifier.verify_json(request.document_json)
        elif target == "certificate_id":
            result = await verify_by_id(self._verifier, self._lookups, request.certificate_id)
        else:
            raise InvalidInput(
                "INVALID_REQUEST",
                "give document_json or certificate_id",
                [FieldViolation("target", "one of document_json, certificate_id is required")],
            )
        return verification_message(result)

    @translate_errors
    async def GetCertificateDocument(
        self,
        unread: pb.GetCertificateDocumentRequest | UnreadableRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.GetCertificateDocumentResponse:
        self._check_rate(context)
        request = _readable(unread)
        stored = await self._lookups.find(request.certificate_id)
        if stored is None:
            shown = echoed_id(request.certificate_id)  # keep the status message small
            raise NotFound("CERTIFICATE_NOT_FOUND", f"no certificate {shown!r}")
        if not stored.anchored:
            raise NotFound(
                "NOT_ANCHORED_YET", "the certificate is not anchored yet; try again shortly"
            )
        return pb.GetCertificateDocumentResponse(
            document_json=orjson.dumps(stored.document).decode()
        )


def _client_address(peer: str) -> str:
    """'ipv4:1.2.3.4:5678' → '1.2.3.4' (the port changes per connection)."""
    return peer.rsplit(":", 1)[0] if peer.count(":") >= 2 else peer


def verification_message(result: Verification) -> pb.VerifyCertificateResponse:
    message = pb.VerifyCertificateResponse(
        status=_STATUS[result.status],
        checks=[
            pb.VerificationCheck(check=c.name, status=_CHECK[c.status], message=c.message)
            for c in result.checks
        ],
        certificate_id=result.certificate_id,
        issuer_name=result.issuer_name,
        recipient_name=result.recipient_name,
        title=result.title,
        transaction_hash=result.transaction_hash,
        chain_id=result.chain_id,
    )
    if result.anchored_at:
        message.anchor_time.CopyFrom(to_timestamp(result.anchored_at))
    if (note := result.revocation) is not None:
        message.revocation.CopyFrom(
            pb.RevocationDetails(
                reason=reason_value(note.reason),  # type: ignore[arg-type]
                reason_text=note.reason_text,
                replaced_by_certificate_id=note.replaced_by,
                transaction_hash=note.transaction_hash,
            )
        )
        if note.revoked_at:
            message.revocation.revoke_time.CopyFrom(to_timestamp(note.revoked_at))
    return message
