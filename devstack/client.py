"""A small synchronous client of the running stack, for the demo, tests and benchmark."""

import time
from collections.abc import Iterator
from typing import cast

import grpc
from google.rpc import status_pb2
from grpc_status import rpc_status

from certflow.v1 import (
    anchor_service_pb2,
    anchor_service_pb2_grpc,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    notify_service_pb2,
    notify_service_pb2_grpc,
    verify_service_pb2,
    verify_service_pb2_grpc,
)

CHUNK_BYTES = 256 * 1024


class StackClient:
    def __init__(self, targets: dict[str, str], token: str) -> None:
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._channels = {name: grpc.insecure_channel(target) for name, target in targets.items()}
        self.ingest = ingest_service_pb2_grpc.IngestServiceStub(self._channels["ingest"])
        self.anchor = anchor_service_pb2_grpc.AnchorServiceStub(self._channels["anchor"])
        self.notify = notify_service_pb2_grpc.NotifyServiceStub(self._channels["notify"])
        self.verify = verify_service_pb2_grpc.VerifyServiceStub(self._channels["verify"])

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()

    def upload_csv(
        self, data: bytes, *, request_id: str = "", display_name: str = "", timeout: float = 600
    ) -> ingest_service_pb2.UploadCsvResponse:
        def messages() -> Iterator[ingest_service_pb2.UploadCsvRequest]:
            yield ingest_service_pb2.UploadCsvRequest(
                metadata=ingest_service_pb2.UploadCsvMetadata(
                    request_id=request_id, display_name=display_name
                )
            )
            for start in range(0, len(data), CHUNK_BYTES):
                yield ingest_service_pb2.UploadCsvRequest(chunk=data[start : start + CHUNK_BYTES])

        return self.ingest.UploadCsv(messages(), metadata=self._metadata, timeout=timeout)

    def batch(self, batch_id: str) -> ingest_service_pb2.Batch:
        request = ingest_service_pb2.GetBatchRequest(batch_id=batch_id)
        return self.ingest.GetBatch(request, metadata=self._metadata, timeout=30).batch

    def wait_for_batch(
        self, batch_id: str, *, until: str = "completed", timeout: float = 120, poll: float = 0.2
    ) -> ingest_service_pb2.Batch:
        """Waits until every accepted certificate is anchored (`until="anchored"`) or has a
        final delivery status (`until="completed"`)."""
        deadline = time.monotonic() + timeout
        while True:
            batch = self.batch(batch_id)
            anchored = batch.anchored_count >= batch.accepted_count
            delivered = batch.emailed_count + batch.email_failed_count >= batch.accepted_count
            if anchored and (until == "anchored" or delivered):
                return batch
            if time.monotonic() > deadline:
                raise TimeoutError(f"batch {batch_id} not {until} after {timeout}s: {batch}")
            time.sleep(poll)

    def list_batches(
        self,
        *,
        page_size: int = 0,
        page_token: str = "",
        states: tuple["ingest_service_pb2.BatchState", ...] = (),
    ) -> ingest_service_pb2.ListBatchesResponse:
        request = ingest_service_pb2.ListBatchesRequest(
            page_size=page_size, page_token=page_token, states=states
        )
        return self.ingest.ListBatches(request, metadata=self._metadata, timeout=30)

    def watch_batch(
        self, batch_id: str, timeout: float = 120
    ) -> Iterator[ingest_service_pb2.Batch]:
        """The batch as WatchBatch sends it: now, then on every change until it is final."""
        request = ingest_service_pb2.WatchBatchRequest(batch_id=batch_id)
        for response in self.ingest.WatchBatch(request, metadata=self._metadata, timeout=timeout):
            yield response.batch

    def cancel_batch(self, batch_id: str) -> ingest_service_pb2.Batch:
        request = ingest_service_pb2.CancelBatchRequest(batch_id=batch_id)
        return self.ingest.CancelBatch(request, metadata=self._metadata, timeout=30).batch

    def error_report(self, batch_id: str, timeout: float = 120) -> bytes:
        request = ingest_service_pb2.DownloadErrorReportRequest(batch_id=batch_id)
        return b"".join(
            response.chunk
            for response in self.ingest.DownloadErrorReport(
                request, metadata=self._metadata, timeout=timeout
            )
        )

    def anchor_windows(self) -> list[anchor_service_pb2.AnchorWindow]:
        request = anchor_service_pb2.ListAnchorWindowsRequest(page_size=1000)
        return list(self.anchor.ListAnchorWindows(request, metadata=self._metadata).anchor_windows)

    def deliveries(self, batch_id: str) -> list[notify_service_pb2.Delivery]:
        found: list[notify_service_pb2.Delivery] = []
        token = ""
        while True:
            response = self.notify.ListDeliveries(
                notify_service_pb2.ListDeliveriesRequest(
                    batch_id=batch_id, page_size=1000, page_token=token
                ),
                metadata=self._metadata,
            )
            found.extend(response.deliveries)
            token = response.next_page_token
            if not token:
                return found

    def verify_id(self, certificate_id: str) -> verify_service_pb2.VerifyCertificateResponse:
        request = verify_service_pb2.VerifyCertificateRequest(certificate_id=certificate_id)
        return self.verify.VerifyCertificate(request, timeout=30)

    def verify_document(self, document_json: str) -> verify_service_pb2.VerifyCertificateResponse:
        request = verify_service_pb2.VerifyCertificateRequest(document_json=document_json)
        return self.verify.VerifyCertificate(request, timeout=30)

    def document(self, certificate_id: str) -> str:
        request = verify_service_pb2.GetCertificateDocumentRequest(certificate_id=certificate_id)
        return self.verify.GetCertificateDocument(request, timeout=30).document_json


def rpc_error_status(error: grpc.RpcError) -> status_pb2.Status | None:
    """The google.rpc.Status (ErrorInfo, BadRequest…) of a failed call, if the server sent one."""
    return rpc_status.from_call(cast(grpc.Call, error))  # a raised RpcError is also a Call


def status_name(status: int) -> str:
    return verify_service_pb2.VerificationStatus.Name(status).removeprefix("VERIFICATION_STATUS_")
