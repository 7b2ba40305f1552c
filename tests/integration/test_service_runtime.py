"""The shared service lifecycle on a real gRPC server: a failed background loop is a failed
process, and reflection is behind the internal token (or off)."""

import asyncio
import subprocess
import sys
import textwrap
from typing import Any

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from certflow.platform.grpc_runtime import BackgroundTaskFailed, ServiceRuntime

TOKEN = "runtime-test-token"


async def _fail_soon() -> None:
    await asyncio.sleep(0.05)
    raise OSError("database went away")


async def test_a_failed_background_task_stops_the_runtime_with_an_error() -> None:
    runtime = ServiceRuntime("test", port=0, host="127.0.0.1", token=TOKEN, grace_seconds=1)
    runtime.spawn(_fail_soon(), "doomed-loop")
    with pytest.raises(BackgroundTaskFailed, match="doomed-loop"):
        await asyncio.wait_for(runtime.run(), timeout=30)


def test_a_service_whose_background_task_failed_exits_non_zero(tmp_path) -> None:
    script = textwrap.dedent(
        """
        import asyncio
        from certflow.platform.grpc_runtime import ServiceRuntime
        from certflow.platform.service_setup import run_service
        from certflow.platform.settings import CommonSettings

        async def fail():
            await asyncio.sleep(0.05)
            raise RuntimeError("boom")

        async def serve(settings):
            runtime = ServiceRuntime("t", port=0, host="127.0.0.1", token=None, grace_seconds=1)
            runtime.spawn(fail(), "loop")
            await runtime.run()

        run_service("t", CommonSettings, serve)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"OTEL_TRACES_EXPORTER": "none", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "background task loop failed" in done.stdout + done.stderr


def _list_services(port: int, metadata: tuple[tuple[str, str], ...] = ()) -> list[str]:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        info: Any = stub.ServerReflectionInfo  # typed Incomplete in types-grpcio-reflection
        responses = info(iter([request]), metadata=metadata, timeout=10)
        return [s.name for r in responses for s in r.list_services_response.service]


async def _serving(reflection: bool) -> tuple[ServiceRuntime, asyncio.Task[None]]:
    runtime = ServiceRuntime(
        "test", port=0, host="127.0.0.1", token=TOKEN, grace_seconds=1, reflection=reflection
    )
    task = asyncio.create_task(runtime.run())
    await asyncio.wait_for(runtime.serving.wait(), timeout=30)  # port 0: bound by the server
    return runtime, task


async def test_reflection_needs_the_internal_token() -> None:
    runtime, task = await _serving(reflection=True)
    try:
        with pytest.raises(grpc.RpcError) as refused:
            await asyncio.to_thread(_list_services, runtime.port)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        names = await asyncio.to_thread(
            _list_services, runtime.port, (("authorization", f"Bearer {TOKEN}"),)
        )
        assert "grpc.health.v1.Health" in names
    finally:
        runtime.stopping.set()
        await task


async def test_reflection_can_be_switched_off() -> None:
    runtime, task = await _serving(reflection=False)
    try:
        with pytest.raises(grpc.RpcError) as refused:
            await asyncio.to_thread(
                _list_services, runtime.port, (("authorization", f"Bearer {TOKEN}"),)
            )
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        runtime.stopping.set()
        await task
