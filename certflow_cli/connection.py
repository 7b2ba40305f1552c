"""The gRPC connection to ingest: one channel, the bearer token, and failures as CliErrors."""

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from certflow.v1 import ingest_service_pb2 as pb
from certflow.v1 import ingest_service_pb2_grpc
from certflow_cli.config import Settings
from certflow_cli.exit_codes import CliError, ExitCode

# an upload is parsed, validated and stored before the service answers (100,000 rows: ~20 s)
UPLOAD_DEADLINE_SECONDS = 900.0
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RpcFailure:
    """What a failed call said, read from its google.rpc.Status when the service sent one."""

    code: grpc.StatusCode
    message: str
    reason: str = ""  # ErrorInfo.reason; empty when the failure did not come from a service
    metadata: tuple[tuple[str, str], ...] = ()
    violations: tuple[tuple[str, str], ...] = ()  # BadRequest (field, description)


def rpc_failure(error: grpc.RpcError) -> RpcFailure:
    call = cast(grpc.Call, error)  # a raised RpcError is also a Call
    code, message = call.code(), call.details() or ""
    reason = ""
    metadata: tuple[tuple[str, str], ...] = ()
    violations: tuple[tuple[str, str], ...] = ()
    try:
        status = rpc_status.from_call(call)
    except ValueError:  # a status whose code or message disagree with the call's
        status = None
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(info):
            reason, metadata = info.reason, tuple(sorted(info.metadata.items()))
        elif detail.Unpack(bad_request):
            violations = tuple((v.field, v.description) for v in bad_request.field_violations)
    return RpcFailure(code, message, reason, metadata, violations)


def failure_to_error(
    failure: RpcFailure,
    *,
    address: str,
    timeout: float,
    service: str = "ingest",
    address_hint: str = "--ingest-address or CERTFLOW_INGEST_ADDRESS",
) -> CliError:
    """One line a person can act on, and the exit code a script can branch on."""
    code = failure.code
    details = tuple(f"{f}: {d}" if f else d for f, d in failure.violations) + tuple(
        f"{k}: {v}" for k, v in failure.metadata
    )
    if code == grpc.StatusCode.UNAVAILABLE and not failure.reason:
        return CliError(
            ExitCode.UNREACHABLE,
            f"cannot reach the {service} service at {address} ({_first_line(failure.message)}); "
            f"is it running? Set {address_hint}",
            reason="UNREACHABLE",
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return CliError(
            ExitCode.UNREACHABLE,
            f"the {service} service at {address} did not answer within {timeout:g} s; "
            "retry later or raise --timeout",
            reason="DEADLINE_EXCEEDED",
        )
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return CliError(
            ExitCode.UNAUTHENTICATED,
            f"the {service} service at {address} refused the call ({failure.message}); "
            "set CERTFLOW_INTERNAL_TOKEN or --token-file to the services' internal token",
            reason=failure.reason or "UNAUTHENTICATED",
        )
    exit_code = _EXIT_CODES.get(code, ExitCode.FAILED)
    if code == grpc.StatusCode.UNIMPLEMENTED:
        message = f"the {service} service at {address} does not offer this call (an older version?)"
    elif exit_code is ExitCode.UNREACHABLE:
        message = f"the {service} service at {address} is unavailable: {failure.message}"
    else:
        message = failure.message or code.name
    return CliError(exit_code, message, reason=failure.reason or code.name, details=details)


_EXIT_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT: ExitCode.INVALID_INPUT,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ExitCode.INVALID_INPUT,  # e.g. FILE_TOO_LARGE
    grpc.StatusCode.OUT_OF_RANGE: ExitCode.INVALID_INPUT,
    grpc.StatusCode.NOT_FOUND: ExitCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: ExitCode.CONFLICT,
    grpc.StatusCode.ABORTED: ExitCode.CONFLICT,
    grpc.StatusCode.FAILED_PRECONDITION: ExitCode.CONFLICT,
    grpc.StatusCode.UNAVAILABLE: ExitCode.UNREACHABLE,
}


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no answer"


class IngestClient:
    """Synchronous calls to IngestService; every failure surfaces as a CliError."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._channel = grpc.insecure_channel(settings.ingest_address)
        self._stub = ingest_service_pb2_grpc.IngestServiceStub(self._channel)
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {settings.token}"),) if settings.token else ()
        )

    def close(self) -> None:
        self._channel.close()

    def upload_csv(self, requests: Iterable[pb.UploadCsvRequest]) -> pb.UploadCsvResponse:
        return self._call(
            lambda: self._stub.UploadCsv(
                iter(requests), metadata=self._metadata, timeout=UPLOAD_DEADLINE_SECONDS
            ),
            timeout=UPLOAD_DEADLINE_SECONDS,
        )

    def get_batch(self, batch_id: str) -> pb.Batch:
        request = pb.GetBatchRequest(batch_id=batch_id)
        return self._unary(self._stub.GetBatch, request).batch

    def list_row_errors(self, batch_id: str, page_token: str) -> pb.ListRowErrorsResponse:
        request = pb.ListRowErrorsRequest(batch_id=batch_id, page_size=1000, page_token=page_token)
        return self._unary(self._stub.ListRowErrors, request)

    def issue_certificate(self, request: pb.IssueCertificateRequest) -> pb.IssueCertificateResponse:
        return self._unary(self._stub.IssueCertificate, request)

    def reissue_certificate(
        self, request: pb.ReissueCertificateRequest
    ) -> pb.ReissueCertificateResponse:
        return self._unary(self._stub.ReissueCertificate, request)

    def get_batch_report(self, batch_id: str) -> pb.BatchReport:
        request = pb.GetBatchReportRequest(batch_id=batch_id)
        return self._unary(self._stub.GetBatchReport, request).report

    def cancel_batch(self, batch_id: str) -> pb.Batch:
        return self._unary(self._stub.CancelBatch, pb.CancelBatchRequest(batch_id=batch_id)).batch

    def list_batches(self, request: pb.ListBatchesRequest) -> pb.ListBatchesResponse:
        return self._unary(self._stub.ListBatches, request)

    # LMS intake's sources and issuance rules (certflow sources / rules)

    def create_source(self, request: pb.CreateSourceRequest) -> pb.CreateSourceResponse:
        return self._unary(self._stub.CreateSource, request)

    def list_sources(self, request: pb.ListSourcesRequest) -> pb.ListSourcesResponse:
        return self._unary(self._stub.ListSources, request)

    def disable_source(self, name: str) -> pb.LmsSource:
        request = pb.DisableSourceRequest(name=name)
        return self._unary(self._stub.DisableSource, request).source

    def create_issuance_rule(self, request: pb.CreateIssuanceRuleRequest) -> pb.IssuanceRule:
        return self._unary(self._stub.CreateIssuanceRule, request).rule

    def list_issuance_rules(
        self, request: pb.ListIssuanceRulesRequest
    ) -> pb.ListIssuanceRulesResponse:
        return self._unary(self._stub.ListIssuanceRules, request)

    def disable_issuance_rule(self, rule_id: str) -> pb.IssuanceRule:
        request = pb.DisableIssuanceRuleRequest(rule_id=rule_id)
        return self._unary(self._stub.DisableIssuanceRule, request).rule

    def test_issuance_rule(self, rule_id: str, statement_json: str) -> pb.TestIssuanceRuleResponse:
        request = pb.TestIssuanceRuleRequest(rule_id=rule_id, statement_json=statement_json)
        return self._unary(self._stub.TestIssuanceRule, request)

    # schedules and webhooks (certflow schedules / webhooks): the response of the named RPC

    def automation(self, rpc: str, request: object) -> Any:
        return self._unary(getattr(self._stub, rpc), request)

    def watch_batch(self, batch_id: str) -> Iterator[pb.Batch]:
        """The batch now and on every change, until a final state; no deadline (a batch may
        take hours to email), but a lost connection ends it with UNREACHABLE."""
        stream = self._stub.WatchBatch(
            pb.WatchBatchRequest(batch_id=batch_id), metadata=self._metadata
        )
        try:
            yield from self._streamed(lambda: (m.batch for m in stream), timeout=0)
        finally:
            stream.cancel()  # a no-op once the stream has ended; stops it on Ctrl-C or an error

    def download_error_report(self, batch_id: str) -> Iterator[bytes]:
        stream = self._stub.DownloadErrorReport(
            pb.DownloadErrorReportRequest(batch_id=batch_id),
            metadata=self._metadata,
            timeout=UPLOAD_DEADLINE_SECONDS,
        )
        try:
            yield from self._streamed(
                lambda: (m.chunk for m in stream), timeout=UPLOAD_DEADLINE_SECONDS
            )
        finally:
            stream.cancel()

    def _unary(self, method: Callable[..., T], request: object) -> T:
        timeout = self._settings.timeout_seconds
        return self._call(
            lambda: method(request, metadata=self._metadata, timeout=timeout), timeout=timeout
        )

    def _call(self, call: Callable[[], T], *, timeout: float) -> T:
        try:
            return call()
        except grpc.RpcError as error:
            raise self._error(error, timeout) from None

    def _streamed(self, messages: Callable[[], Iterator[T]], *, timeout: float) -> Iterator[T]:
        try:
            yield from messages()
        except grpc.RpcError as error:
            raise self._error(error, timeout) from None

    def _error(self, error: grpc.RpcError, timeout: float) -> CliError:
        return failure_to_error(
            rpc_failure(error), address=self._settings.ingest_address, timeout=timeout
        )


@contextmanager
def connected(settings: Settings) -> Iterator[IngestClient]:
    client = IngestClient(settings)
    try:
        yield client
    finally:
        client.close()
