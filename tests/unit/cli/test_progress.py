"""A batch's stages and final states, and the upload's request stream and exit code."""

import io
from collections.abc import Iterator, Sequence

import pytest

from certflow.v1 import ingest_service_pb2 as pb
from certflow_cli.commands.upload import upload_requests
from certflow_cli.commands.watch import follow, outcome
from certflow_cli.exit_codes import CliError, ExitCode
from certflow_cli.progress import FINAL_STATES, Stage, is_final, size_text, stages


def test_final_states_are_the_ones_after_which_nothing_changes() -> None:
    names = {pb.BatchState.Name(v).removeprefix("BATCH_STATE_") for v in pb.BatchState.values()}
    final = {n for n in names if is_final(pb.Batch(state=f"BATCH_STATE_{n}"))}
    assert final == names & FINAL_STATES
    assert {"COMPLETED", "COMPLETED_WITH_FAILURES", "REJECTED"} <= final
    assert not is_final(pb.Batch())


def test_each_stage_counts_out_of_the_accepted_certificates() -> None:
    batch = pb.Batch(accepted_count=10, anchored_count=6, emailed_count=3, email_failed_count=1)
    assert stages(batch) == [
        Stage("stored", 10, 10),
        Stage("anchored", 6, 10),
        Stage("emailed", 4, 10),  # a failed email has reached its end too
    ]


def test_sizes_read_as_people_write_them() -> None:
    assert [size_text(n) for n in (0, 1023, 1536, 5 * 1024 * 1024)] == [
        "0 B",
        "1023 B",
        "1.5 KiB",
        "5.0 MiB",
    ]


def test_the_upload_stream_is_the_metadata_then_the_file_in_chunks() -> None:
    data = bytes(range(256)) * 2049  # two full 256 KiB chunks and a bit
    sent: list[int] = []
    metadata = pb.UploadCsvMetadata(request_id="r-1", display_name="June")
    requests = list(upload_requests(io.BytesIO(data), metadata, sent.append))
    assert requests[0].WhichOneof("payload") == "metadata"
    assert requests[0].metadata == metadata
    chunks = [r.chunk for r in requests[1:]]
    assert b"".join(chunks) == data
    assert [len(c) for c in chunks] == [262_144, 262_144, len(data) - 524_288]
    assert sent == [262_144, 524_288, len(data)]


def test_an_empty_file_is_sent_as_the_metadata_alone() -> None:
    requests = list(upload_requests(io.BytesIO(b""), pb.UploadCsvMetadata(), lambda _: None))
    assert len(requests) == 1


class ScriptedIngest:
    """WatchBatch pushing `pushed` (or refusing with `watch_error`), then GetBatch answering
    with `polled`, in order."""

    def __init__(
        self,
        pushed: list[pb.Batch],
        polled: Sequence[pb.Batch] = (),
        watch_error: CliError | None = None,
    ) -> None:
        self.pushed, self.polled = pushed, list(polled)
        self.watch_error = watch_error
        self.calls: list[str] = []

    def watch_batch(self, batch_id: str) -> Iterator[pb.Batch]:
        self.calls.append(f"watch {batch_id}")
        if self.watch_error:
            raise self.watch_error
        yield from self.pushed

    def get_batch(self, batch_id: str) -> pb.Batch:
        self.calls.append(f"get {batch_id}")
        return self.polled.pop(0)


ANCHORING = pb.Batch(batch_id="b", state=pb.BATCH_STATE_ANCHORING, accepted_count=2)
HALF = pb.Batch(batch_id="b", state=pb.BATCH_STATE_ANCHORING, accepted_count=2, anchored_count=1)
DONE = pb.Batch(batch_id="b", state=pb.BATCH_STATE_COMPLETED, accepted_count=2)


def follow_with(client: ScriptedIngest) -> tuple[pb.Batch, list[pb.Batch], list[float]]:
    shown: list[pb.Batch] = []
    sleeps: list[float] = []
    final = follow(client, ANCHORING, shown.append, sleep=sleeps.append)  # type: ignore[arg-type]
    return final, shown, sleeps


def test_following_shows_what_watch_batch_pushes_until_a_final_state() -> None:
    client = ScriptedIngest([ANCHORING, HALF, DONE])
    final, shown, sleeps = follow_with(client)
    assert (final, shown, sleeps) == (DONE, [ANCHORING, HALF, DONE], [])
    assert client.calls == ["watch b"]


def test_a_service_without_watch_batch_is_polled_every_half_second() -> None:
    unimplemented = CliError(ExitCode.FAILED, "no such call", reason="UNIMPLEMENTED")
    client = ScriptedIngest([], polled=[HALF, DONE], watch_error=unimplemented)
    final, shown, sleeps = follow_with(client)
    assert (final, shown, sleeps) == (DONE, [HALF, DONE], [0.5, 0.5])
    assert client.calls == ["watch b", "get b", "get b"]


def test_a_watch_that_ends_early_is_continued_by_polling() -> None:
    client = ScriptedIngest([HALF], polled=[DONE])
    final, shown, _ = follow_with(client)
    assert (final, shown) == (DONE, [HALF, DONE])


def test_a_lost_service_while_watching_is_the_commands_error() -> None:
    lost = CliError(ExitCode.UNREACHABLE, "cannot reach", reason="UNREACHABLE")
    with pytest.raises(CliError) as raised:
        follow_with(ScriptedIngest([], watch_error=lost))
    assert raised.value is lost


def test_a_final_batch_is_not_followed() -> None:
    client = ScriptedIngest([])
    done = pb.Batch(batch_id="b", state=pb.BATCH_STATE_REJECTED)
    assert follow(client, done, lambda _: None, sleep=lambda _: None) == done  # type: ignore[arg-type]
    assert client.calls == []


@pytest.mark.parametrize(
    ("rejected", "failed", "code"),
    [
        (0, 0, ExitCode.OK),
        (2, 0, ExitCode.ROWS_REFUSED),
        (0, 1, ExitCode.EMAILS_FAILED),
        (2, 1, ExitCode.ROWS_REFUSED),  # refused rows are the first thing to fix
    ],
)
def test_the_exit_code_of_a_followed_batch(rejected: int, failed: int, code: ExitCode) -> None:
    batch = pb.Batch(rejected_count=rejected, email_failed_count=failed)
    assert outcome(batch) is code
    cancelled = pb.Batch(state=pb.BATCH_STATE_CANCELLED, rejected_count=rejected)
    assert outcome(cancelled) is ExitCode.CANCELLED
