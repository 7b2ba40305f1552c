"""gRPC transport of anchor: views of windows and proofs, and RevokeCertificates. Translates
only: the use cases are in views.py and revocations.py, domain errors become statuses in
translate_errors."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import grpc

from certflow.core.errors import Unavailable
from certflow.core.merkle import unpack_proof
from certflow.platform import pagination
from certflow.platform.grpc_errors import translate_errors
from certflow.platform.proto_time import to_timestamp
from certflow.v1 import anchor_service_pb2 as pb
from certflow.v1 import anchor_service_pb2_grpc
from services.anchor.revocations import RevocationRecords, checked_request, revoke
from services.anchor.revoker import REASON_OF
from services.anchor.submission import WindowState
from services.anchor.views import (
    SignerStatus,
    WindowView,
    WindowViews,
    get_proof,
    get_window,
)

_STATES = {
    WindowState.BUILT: pb.ANCHOR_WINDOW_STATE_BUILT,
    WindowState.SUBMITTED: pb.ANCHOR_WINDOW_STATE_SUBMITTED,
    WindowState.CONFIRMED: pb.ANCHOR_WINDOW_STATE_CONFIRMED,
}


class AnchorServicer(anchor_service_pb2_grpc.AnchorServiceServicer):
    def __init__(
        self,
        views: WindowViews,
        *,
        signer_status: Callable[[], SignerStatus | None] = lambda: None,
        revocations: RevocationRecords | None = None,
        on_revoked: Callable[[], None] = lambda: None,
    ) -> None:
        self._views = views
        self._signer_status = signer_status
        self._revocations = revocations
        self._on_revoked = on_revoked

    @translate_errors
    async def RevokeCertificates(
        self, request: pb.RevokeCertificatesRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeCertificatesResponse:
        if self._revocations is None:
            raise Unavailable("REVOCATION_UNAVAILABLE", "revocation is not configured")
        checked = checked_request(
            request_id=request.request_id,
            certificate_ids=list(request.certificate_ids),
            batch_id=request.batch_id,
            reason=REASON_OF.get(request.reason),
            reason_text=request.reason_text,
        )
        records = self._revocations
        outcome = await asyncio.to_thread(revoke, records, checked, lambda: datetime.now(UTC))
        if outcome.newly_revoked_count:
            self._on_revoked()
        return pb.RevokeCertificatesResponse(
            certificate_count=outcome.certificate_count,
            newly_revoked_count=outcome.newly_revoked_count,
            already_revoked_count=outcome.already_revoked_count,
        )

    @translate_errors
    async def GetSignerStatus(
        self, request: pb.GetSignerStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSignerStatusResponse:
        status = self._signer_status()
        if status is None:
            return pb.GetSignerStatusResponse()
        return pb.GetSignerStatusResponse(
            signer_address=status.address,
            balance_wei=_decimal(status.balance_wei),
            balance_low=status.balance_low,
            low_balance_threshold_wei=str(status.low_balance_wei),
            next_base_fee_wei=_decimal(status.next_base_fee_wei),
            max_fee_per_gas_cap_wei=str(status.max_fee_cap_wei),
            rpc_url=status.rpc_url,
        )

    @translate_errors
    async def GetAnchorWindow(
        self, request: pb.GetAnchorWindowRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAnchorWindowResponse:
        window = await asyncio.to_thread(get_window, self._views, request.window_id)
        return pb.GetAnchorWindowResponse(anchor_window=window_message(window))

    @translate_errors
    async def ListAnchorWindows(
        self, request: pb.ListAnchorWindowsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAnchorWindowsResponse:
        page = pagination.Page(request.page_size, request.page_token)
        windows = await asyncio.to_thread(
            lambda: self._views.windows(offset=page.offset, limit=page.size)
        )
        return pb.ListAnchorWindowsResponse(
            anchor_windows=[window_message(w) for w in windows],
            next_page_token=page.next_token(len(windows)),
        )

    @translate_errors
    async def GetCertificateProof(
        self, request: pb.GetCertificateProofRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCertificateProofResponse:
        proof = await asyncio.to_thread(get_proof, self._views, request.certificate_id)
        return pb.GetCertificateProofResponse(
            window_id=proof.window_id,
            leaf_hash=proof.leaf_hash,
            merkle_path=unpack_proof(proof.merkle_path),
            merkle_root=proof.merkle_root,
            window_state=_STATES[proof.window_state],
        )


def window_message(window: WindowView) -> pb.AnchorWindow:
    message = pb.AnchorWindow(
        name=f"anchorWindows/{window.window_id}",
        window_id=window.window_id,
        state=_STATES[window.state],
        leaf_count=window.leaf_count,
        merkle_root=window.merkle_root,
        chain_id=window.chain_id,
        contract_address=window.registry_address,
        transaction_hash=window.transaction_hash or "",
        block_number=window.block_number or 0,
        gas_used=window.gas_used or 0,
        waiting_reason=window.waiting_reason,
        transaction_count=window.transaction_count,
        fee_wei=_decimal(window.fee_wei),
        fee_per_certificate_wei=_decimal(window.fee_per_certificate_wei),
    )
    message.create_time.CopyFrom(to_timestamp(window.created_at))
    if window.confirmed_at:
        message.confirm_time.CopyFrom(to_timestamp(window.confirmed_at))
    return message


def _decimal(value: int | None) -> str:
    return "" if value is None else str(value)
