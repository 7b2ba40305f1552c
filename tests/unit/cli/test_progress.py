"""A batch's stages and final states, and the upload's request stream and exit code."""

import io

import pytest

from certflow.v1 import ingest_service_pb2 as pb
from certflow_cli.commands.upload import follow, outcome, upload_requests
from certflow_cli.exit_codes import ExitCode
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
    """GetBatch answering with the batches given, in order."""

    def __init__(self, batches: list[pb.Batch]) -> None:
        self.batches = batches
        self.asked: list[str] = []

    def get_batch(self, batch_id: str) -> pb.Batch:
        self.asked.append(batch_id)
        return self.batches.pop(0)


def test_following_polls_until_a_final_state_and_shows_every_answer() -> None:
    anchoring = pb.Batch(batch_id="b", state=pb.BATCH_STATE_ANCHORING, accepted_count=2)
    later = [
        pb.Batch(batch_id="b", state=pb.BATCH_STATE_ANCHORING, accepted_count=2, anchored_count=1),
        pb.Batch(batch_id="b", state=pb.BATCH_STATE_COMPLETED, accepted_count=2),
    ]
    client = ScriptedIngest(list(later))
    shown: list[pb.Batch] = []
    sleeps: list[float] = []
    final = follow(client, anchoring, shown.append, sleep=sleeps.append)  # type: ignore[arg-type]
    assert final == later[-1] and shown == later
    assert client.asked == ["b", "b"] and sleeps == [0.5, 0.5]


def test_a_final_batch_is_not_polled() -> None:
    client = ScriptedIngest([])
    done = pb.Batch(batch_id="b", state=pb.BATCH_STATE_REJECTED)
    assert follow(client, done, lambda _: None, sleep=lambda _: None) == done  # type: ignore[arg-type]
    assert client.asked == []


@pytest.mark.parametrize(
    ("rejected", "failed", "code"),
    [
        (0, 0, ExitCode.OK),
        (2, 0, ExitCode.ROWS_REFUSED),
        (0, 1, ExitCode.EMAILS_FAILED),
        (2, 1, ExitCode.ROWS_REFUSED),  # refused rows are the first thing to fix
    ],
)
def test_the_upload_exit_code(rejected: int, failed: int, code: ExitCode) -> None:
    batch = pb.Batch(rejected_count=rejected, email_failed_count=failed)
    assert outcome(batch) is code
