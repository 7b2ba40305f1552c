"""A batch's way through stored → anchored → emailed: what is final, and the live bars."""

from dataclasses import dataclass
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from certflow.v1 import ingest_service_pb2
from certflow_cli.output import state_name

# states after which nothing changes any more (by name: newer services may add states)
FINAL_STATES = frozenset({"COMPLETED", "COMPLETED_WITH_FAILURES", "REJECTED", "CANCELLED"})
STAGES = ("stored", "anchored", "emailed")


def is_final(batch: ingest_service_pb2.Batch) -> bool:
    return state_name(batch.state) in FINAL_STATES


@dataclass(frozen=True, slots=True)
class Stage:
    label: str
    done: int
    total: int


def stages(batch: ingest_service_pb2.Batch) -> list[Stage]:
    """Each stage out of the accepted certificates; a failed email has reached its end too."""
    total = batch.accepted_count
    # stored_count trails accepted_count while a file is still being stored (VALIDATING)
    stored = batch.stored_count if batch.stored_count else total
    return [
        Stage("stored", stored, total),
        Stage("anchored", batch.anchored_count, total),
        Stage("emailed", batch.emailed_count + batch.email_failed_count, total),
    ]


def size_text(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"


class BatchProgress:
    """Bars on stderr: bytes sent, then each stage. Shows nothing when `enabled` is false."""

    def __init__(self, console: Console, *, file_size: int | None, enabled: bool) -> None:
        self._enabled = enabled
        self._console = console
        # redrawn in place on a terminal only; elsewhere each redraw would be a new line
        self._live = enabled and console.is_terminal
        self._file_size = file_size or 0
        self._progress = Progress(
            TextColumn("{task.description:<9}"),
            BarColumn(),
            TextColumn("{task.fields[figure]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
        )
        if file_size is not None:  # None: following a batch uploaded before
            self._upload = self._progress.add_task(
                "upload", total=max(file_size, 1), figure=f"0 B / {size_text(file_size)}"
            )
        self._stages: dict[str, TaskID] = {}

    def __enter__(self) -> "BatchProgress":
        if self._live:
            self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live:
            if error is not None:  # the error's one line is what to read, not half-filled bars
                self._progress.live.transient = True
            self._progress.stop()
        elif self._enabled and error is None:  # a log, not a terminal: the bars once, at the end
            self._console.print(self._progress.get_renderable())

    def sent(self, byte_count: int) -> None:
        """Called from gRPC's sending thread as chunks go out (rich's Progress is thread-safe)."""
        self._progress.update(
            self._upload,
            completed=byte_count,
            figure=f"{size_text(byte_count)} / {size_text(self._file_size)}",
        )

    def show(self, batch: ingest_service_pb2.Batch) -> None:
        for stage in stages(batch):
            figure = f"{stage.done:,}/{stage.total:,}"
            if stage.label not in self._stages:
                self._stages[stage.label] = self._progress.add_task(
                    stage.label, total=max(stage.total, 1), figure=figure
                )
            self._progress.update(
                self._stages[stage.label],
                completed=stage.done if stage.total else 1,
                total=max(stage.total, 1),
                figure=figure,
            )
