"""A failed gRPC call becomes one actionable line and the exit code a script branches on."""

import grpc
import pytest

from certflow_cli.connection import RpcFailure, failure_to_error
from certflow_cli.exit_codes import MEANINGS, CliError, ExitCode, exit_code_table

ADDRESS = "127.0.0.1:50051"


def error_of(failure: RpcFailure) -> CliError:
    return failure_to_error(failure, address=ADDRESS, timeout=30)


def test_exit_codes_are_distinct_and_each_is_documented() -> None:
    assert len({int(c) for c in ExitCode}) == len(ExitCode)
    assert set(MEANINGS) == set(ExitCode)
    table = exit_code_table()
    for code in ExitCode:
        assert f"{int(code):>5}  {MEANINGS[code]}" in table.splitlines()
    assert ExitCode.USAGE == 2  # what Click exits with on a usage error


def test_no_connection_is_unreachable_and_names_the_address_and_the_fix() -> None:
    failure = RpcFailure(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses\nmore")
    error = error_of(failure)
    assert error.exit_code is ExitCode.UNREACHABLE
    assert error.reason == "UNREACHABLE"
    assert ADDRESS in error.message and "CERTFLOW_INGEST_ADDRESS" in error.message
    assert "\n" not in error.message


def test_a_service_saying_it_is_unavailable_keeps_its_reason() -> None:
    failure = RpcFailure(
        grpc.StatusCode.UNAVAILABLE, "the database is down", reason="DATABASE_UNAVAILABLE"
    )
    error = error_of(failure)
    assert error.exit_code is ExitCode.UNREACHABLE
    assert error.reason == "DATABASE_UNAVAILABLE"
    assert "the database is down" in error.message


def test_a_deadline_is_unreachable_and_says_how_long_it_waited() -> None:
    error = error_of(RpcFailure(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))
    assert (error.exit_code, error.reason) == (ExitCode.UNREACHABLE, "DEADLINE_EXCEEDED")
    assert "30 s" in error.message and "--timeout" in error.message


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED]
)
def test_a_refused_token_says_where_the_token_comes_from(code: grpc.StatusCode) -> None:
    error = error_of(RpcFailure(code, "missing or invalid bearer token"))
    assert error.exit_code is ExitCode.UNAUTHENTICATED
    assert "CERTFLOW_INTERNAL_TOKEN" in error.message and "--token-file" in error.message


@pytest.mark.parametrize(
    ("code", "exit_code"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, ExitCode.INVALID_INPUT),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, ExitCode.INVALID_INPUT),
        (grpc.StatusCode.NOT_FOUND, ExitCode.NOT_FOUND),
        (grpc.StatusCode.ALREADY_EXISTS, ExitCode.CONFLICT),
        (grpc.StatusCode.FAILED_PRECONDITION, ExitCode.CONFLICT),
        (grpc.StatusCode.INTERNAL, ExitCode.FAILED),
        (grpc.StatusCode.UNKNOWN, ExitCode.FAILED),
    ],
)
def test_service_refusals_map_to_their_exit_code_with_the_services_words(
    code: grpc.StatusCode, exit_code: ExitCode
) -> None:
    error = error_of(RpcFailure(code, "what the service said", reason="SOME_REASON"))
    assert (error.exit_code, error.message, error.reason) == (
        exit_code,
        "what the service said",
        "SOME_REASON",
    )


def test_field_violations_and_metadata_become_detail_lines() -> None:
    failure = RpcFailure(
        grpc.StatusCode.ALREADY_EXISTS,
        "this recipient already has this certificate for this date",
        reason="ALREADY_ISSUED",
        metadata=(("certificate_id", "c-1"),),
        violations=(("recipient_email", "is not an email address"), ("", "row-level")),
    )
    assert error_of(failure).details == (
        "recipient_email: is not an email address",
        "row-level",
        "certificate_id: c-1",
    )


def test_without_a_reason_the_status_code_is_the_reason() -> None:
    error = error_of(RpcFailure(grpc.StatusCode.NOT_FOUND, ""))
    assert (error.reason, error.message) == ("NOT_FOUND", "NOT_FOUND")


def test_an_older_service_without_the_call_is_named() -> None:
    error = error_of(RpcFailure(grpc.StatusCode.UNIMPLEMENTED, "Method not found!"))
    assert error.exit_code is ExitCode.FAILED
    assert "does not offer this call" in error.message
