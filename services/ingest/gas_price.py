"""The gas price a dry run's fee estimate uses: the next block's base fee as anchor last read it
(anchor's GetSignerStatus over gRPC). Never fails a plan: an unset address, an unreachable or
slow anchor, or a base fee not read yet all give "unknown" with the reason."""

from dataclasses import dataclass

import grpc

from certflow.v1 import anchor_service_pb2, anchor_service_pb2_grpc

ASK_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class BaseFee:
    wei: int | None  # None: unknown
    note: str = ""  # why it is unknown


class AnchorBaseFee:
    """Asks anchor for its last read base fee; one channel for the process's life."""

    def __init__(self, address: str, token: str, timeout: float = ASK_TIMEOUT_SECONDS) -> None:
        self._address = address
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._timeout = timeout
        self._channel: grpc.aio.Channel | None = None

    async def __call__(self) -> BaseFee:
        if not self._address:
            return BaseFee(None, "anchor's address is not configured (CERTFLOW_ANCHOR_ADDRESS)")
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self._address)
        stub = anchor_service_pb2_grpc.AnchorServiceStub(self._channel)
        try:
            status = await stub.GetSignerStatus(
                anchor_service_pb2.GetSignerStatusRequest(),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            return BaseFee(None, f"anchor did not answer ({exc.code().name})")
        if not status.next_base_fee_wei.isdigit():
            return BaseFee(None, "anchor has not read the chain's base fee yet")
        return BaseFee(int(status.next_base_fee_wei))

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
