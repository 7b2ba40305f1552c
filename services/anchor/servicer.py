"""gRPC transport of anchor: read-only views of windows and proofs."""

import asyncio

import grpc
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from certflow.core.errors import NotFound
from certflow.core.merkle import unpack_proof
from certflow.platform import pagination
from certflow.platform.grpc_errors import translate_errors
from certflow.platform.proto_time import to_timestamp
from certflow.v1 import anchor_service_pb2 as pb
from certflow.v1 import anchor_service_pb2_grpc
from services.anchor import tables as models
from services.anchor.submission import WindowState

_STATES = {
    WindowState.BUILT: pb.ANCHOR_WINDOW_STATE_BUILT,
    WindowState.SUBMITTED: pb.ANCHOR_WINDOW_STATE_SUBMITTED,
    WindowState.CONFIRMED: pb.ANCHOR_WINDOW_STATE_CONFIRMED,
}


class AnchorServicer(anchor_service_pb2_grpc.AnchorServiceServicer):
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @translate_errors
    async def GetAnchorWindow(
        self, request: pb.GetAnchorWindowRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAnchorWindowResponse:
        def load() -> models.AnchorWindow:
            with self._sessions() as session:
                window = session.get(models.AnchorWindow, request.window_id)
            if window is None:
                raise NotFound("WINDOW_NOT_FOUND", f"no anchor window {request.window_id!r}")
            return window

        return pb.GetAnchorWindowResponse(
            anchor_window=window_message(await asyncio.to_thread(load))
        )

    @translate_errors
    async def ListAnchorWindows(
        self, request: pb.ListAnchorWindowsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAnchorWindowsResponse:
        page = pagination.Page(request.page_size, request.page_token)

        def load() -> list[models.AnchorWindow]:
            with self._sessions() as session:
                return list(
                    session.scalars(
                        select(models.AnchorWindow)
                        .order_by(models.AnchorWindow.created_at.desc(), models.AnchorWindow.id)
                        .offset(page.offset)
                        .limit(page.size)
                    )
                )

        windows = await asyncio.to_thread(load)
        return pb.ListAnchorWindowsResponse(
            anchor_windows=[window_message(w) for w in windows],
            next_page_token=page.next_token(len(windows)),
        )

    @translate_errors
    async def GetCertificateProof(
        self, request: pb.GetCertificateProofRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCertificateProofResponse:
        def load() -> tuple[models.CertificateProof, models.AnchorWindow]:
            with self._sessions() as session:
                row = session.execute(
                    select(models.CertificateProof, models.AnchorWindow)
                    .join(
                        models.AnchorWindow,
                        models.AnchorWindow.id == models.CertificateProof.window_id,
                    )
                    .where(models.CertificateProof.certificate_id == request.certificate_id)
                ).first()
            if row is None:
                raise NotFound(
                    "PROOF_NOT_FOUND", f"no proof for certificate {request.certificate_id!r} yet"
                )
            return row[0], row[1]

        proof, window = await asyncio.to_thread(load)
        return pb.GetCertificateProofResponse(
            window_id=window.id,
            leaf_hash=proof.leaf_hash,
            merkle_path=unpack_proof(proof.merkle_path),
            merkle_root=window.merkle_root,
            window_state=_STATES[WindowState(window.state)],
        )


def window_message(window: models.AnchorWindow) -> pb.AnchorWindow:
    message = pb.AnchorWindow(
        name=f"anchorWindows/{window.id}",
        window_id=window.id,
        state=_STATES[WindowState(window.state)],
        leaf_count=window.leaf_count,
        merkle_root=window.merkle_root,
        chain_id=window.chain_id,
        contract_address=window.registry_address,
        transaction_hash=window.transaction_hash or "",
        block_number=window.block_number or 0,
        gas_used=window.gas_used or 0,
    )
    message.create_time.CopyFrom(to_timestamp(window.created_at))
    if window.confirmed_at:
        message.confirm_time.CopyFrom(to_timestamp(window.confirmed_at))
    return message
