"""What an upload does beyond issuing a file whole: check only (dry run), issue a pilot sample,
add rows to an existing batch (a pilot's rest, corrected rows, an edited error report).

Pure decisions, no I/O: the use case (usecases.py) reads what they need inside its transaction
and writes what they decide. One path for every kind of upload, so a dry run plans exactly what
the upload would do.

A batch's state always describes all of its certificates: rows added to a COMPLETED batch
move it back to ANCHORING, then NOTIFYING, then COMPLETED again (WatchBatch follows it), and
its report keeps each intake with its time and counts, so the history is not lost.
"""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from certflow.core.columns import custom_key
from certflow.core.csv_intake import CsvRow
from certflow.core.errors import DomainError, FieldViolation, InvalidInput, invalid_field
from certflow.core.issuance import PlannedCertificate
from certflow.core.spreadsheet import FORMULA_STARTS
from certflow.core.validation import RowError, RowWarning

DEFAULT_PREVIEWS = 3
MAX_PREVIEWS = 20
# refusals and warnings listed by a dry run (all are counted): ~1.5 MB of the 4 MB a gRPC
# client accepts by default
MAX_PLAN_ITEMS = 5_000
# the error report's last columns (lifecycle.REPORT_COLUMNS) as custom field keys
REPORT_TAIL = ("line", "field", "code", "message")
MAX_LINE = 10_000_000  # a `line` cell beyond any file an upload accepts
# a gas figure for one anchoring transaction (bulk anchor of one root; measured ~72k on anvil)
GAS_PER_ANCHOR_TRANSACTION = 72_000


class BatchClosed(DomainError):
    """Rows cannot join a cancelled batch (FAILED_PRECONDITION)."""


@dataclass(frozen=True, slots=True)
class IntakeChoice:
    """What the caller asked of an upload besides the file and how to read it."""

    dry_run: bool = False
    pilot_rows: int = 0  # 0: issue every accepted row
    batch_id: str = ""  # add to this batch instead of creating one
    preview_count: int = DEFAULT_PREVIEWS


WHOLE_FILE = IntakeChoice()  # a new batch of every accepted row


def intake_choice(
    *, dry_run: bool, pilot_rows: int, batch_id: str, preview_count: int, max_rows: int
) -> IntakeChoice:
    """Refuses what no upload could do (INVALID_ARGUMENT with the field)."""
    if pilot_rows < 0:
        raise invalid_field("metadata.pilot_rows", "pilot_rows cannot be negative (0: all rows)")
    if pilot_rows > max_rows:
        raise invalid_field(
            "metadata.pilot_rows", f"pilot_rows is at most {max_rows} (an upload's row limit)"
        )
    if not 0 <= preview_count <= MAX_PREVIEWS:
        raise invalid_field("metadata.preview_count", f"preview_count is 0 to {MAX_PREVIEWS}")
    if len(batch_id) > 64 or (batch_id and not batch_id.isprintable()):
        raise invalid_field("metadata.batch_id", "not a batch id (at most 64 characters)")
    return IntakeChoice(
        dry_run=dry_run,
        pilot_rows=pilot_rows,
        batch_id=batch_id,
        preview_count=preview_count or DEFAULT_PREVIEWS,
    )


def is_error_report(header: Sequence[str]) -> bool:
    """An error report downloaded from ingest: the file's columns, then line, field, code and
    message (custom_key spelling: "Line" and " line " match too)."""
    return len(header) > len(REPORT_TAIL) and (
        tuple(custom_key(h) for h in header[-len(REPORT_TAIL) :]) == REPORT_TAIL
    )


def check_columns(header: Sequence[str], batch_columns: Sequence[str]) -> None:
    """Rows joining a batch come in its columns (an error report: then line, field, code and
    message), in its order, spelled alike as custom_key reads them: their refused cells are
    stored as uploaded and its error report shows them under the batch's header (an email
    under "name" otherwise, and that report reprocessed would read them into the wrong
    fields). Batches stored before their header was recorded are not checked."""
    own = header[: -len(REPORT_TAIL)] if is_error_report(header) else header
    if not batch_columns or [custom_key(h) for h in own] == [custom_key(h) for h in batch_columns]:
        return

    def listed(columns: Sequence[str]) -> str:
        shown = ", ".join(c[:40] for c in columns[:20])
        return shown + (f", … ({len(columns)} in all)" if len(columns) > 20 else "")

    message = (
        f"this file's columns ({listed(own)}) are not its batch's ({listed(batch_columns)}): "
        "rows joining a batch come in its columns, in its order"
    )
    raise InvalidInput(
        "COLUMNS_DIFFER_FROM_BATCH", message, violations=[FieldViolation("file", message)]
    )


def as_uploaded(cell: str) -> str:
    """A report cell as it was uploaded: the report prefixed a quote to a cell a spreadsheet
    would run as a formula (certflow/core/spreadsheet.py), e.g. a phone number "+44…"."""
    if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS):
        return cell[1:]
    return cell


@dataclass(frozen=True, slots=True)
class ReportRows:
    rows: list[CsvRow]  # as the lines they correct
    errors: list[RowError]  # about the report itself: shown, never recorded on the batch
    corrected: frozenset[int]  # refused lines of the batch the rows correct
    unknown: frozenset[int]  # lines that are not refusals of the batch (see `decide`)


def report_rows(
    rows: Sequence[CsvRow], width: int, refused: Mapping[int, tuple[str, ...]]
) -> ReportRows:
    """The rows of an uploaded error report as the rows they correct: each takes the line
    number in its `line` cell (the line of the original file, so refusals keep pointing there)
    and loses the report's columns. `width`: the file's own columns; `refused`: the batch's
    refused lines → their cells as uploaded (() when not recorded).

    Cells the report neutralised against formulas are read as they were uploaded. A row
    refused for two reasons is listed twice: identical copies are one row; when copies
    differ, the one edited (unlike the cells stored) is taken, and two different edits are
    refused. A line that is not a refusal of the batch (corrected by an earlier reprocess, or
    a report of another batch) is kept apart: `decide` skips it when the batch holds its
    certificate and refuses it otherwise."""
    by_line: dict[int, list[CsvRow]] = defaultdict(list)
    errors: list[RowError] = []
    for row in rows:
        cell = row.custom.get("line", "").strip().lstrip("'")
        # ASCII digits only, few of them: int() refuses "²" and 5,000 digits (a 500)
        if not (cell.isascii() and cell.isdigit() and len(cell) <= 8) or not (
            2 <= int(cell) <= MAX_LINE
        ):
            errors.append(
                RowError(
                    row.row_number, "line", "INVALID_LINE", f"line {cell[:20]!r} is not a line"
                )
            )
            continue
        line = int(cell)
        known = {k: as_uploaded(v) for k, v in row.known.items()}
        custom = {k: as_uploaded(v) for k, v in row.custom.items() if k not in REPORT_TAIL}
        cells = tuple(as_uploaded(c) for c in row.cells[:width])
        by_line[line].append(replace(row, row_number=line, known=known, custom=custom, cells=cells))
    chosen: list[CsvRow] = []
    for line, copies in by_line.items():
        distinct = list(dict.fromkeys(c.cells for c in copies))
        if len(distinct) > 1:
            distinct = [cells for cells in distinct if cells != refused.get(line)]
        if len(distinct) > 1:
            errors.append(
                RowError(
                    line,
                    "",
                    "CONFLICTING_CORRECTIONS",
                    f"line {line} is corrected in {len(distinct)} different ways; keep one",
                )
            )
            continue
        chosen.append(next(c for c in copies if c.cells == distinct[0]))
    chosen.sort(key=lambda r: r.row_number)
    lines = {r.row_number for r in chosen}
    return ReportRows(
        chosen,
        errors,
        corrected=frozenset(lines & refused.keys()),
        unknown=frozenset(lines - refused.keys()),
    )


@dataclass(frozen=True, slots=True)
class IntakeDecision:
    """What an upload stores: decided from the rows and what the database holds."""

    issue: list[PlannedCertificate]
    refused: list[RowError]  # to record (identical refusals already on the batch left out)
    skipped: int  # rows whose certificate the batch already holds
    held_back: int  # accepted rows the pilot leaves for later
    already_issued: int  # refused: an earlier batch issued them
    resolved_lines: frozenset[int]  # refused lines of the batch corrected by this upload
    replaced_lines: frozenset[int]  # refused lines whose stored refusals this upload replaces
    new_rows: int  # rows the batch takes in for the first time (Batch.row_count grows by it)
    not_recorded: list[RowError]  # refusals of this upload only (lines of no refusal)
    # this file's refusals the batch already holds (the pilot recorded them): answered, not
    # recorded again
    recorded_before: list[RowError] = field(default_factory=list)


def decide(
    planned: Sequence[PlannedCertificate],
    errors: Sequence[RowError],
    issued: Mapping[str, tuple[str, str]],
    *,
    batch_id: str,
    pilot_rows: int,
    stored_refusals: frozenset[tuple[int, str, str, str]] = frozenset(),
    report_lines: frozenset[int] = frozenset(),
    unknown_lines: frozenset[int] = frozenset(),
) -> IntakeDecision:
    """`issued`: dedupe key → (certificate id, its batch) of what is stored; `batch_id`: the
    batch the rows join ("" for a new one). `report_lines`: the refused lines an uploaded error
    report names (their stored refusals are replaced by this upload's verdict on them);
    `unknown_lines`: lines it names that are no refusal of the batch: skipped when the batch
    holds their certificate (a report reprocessed again), refused for this upload otherwise."""
    fresh: list[PlannedCertificate] = []
    refused = [e for e in errors if e.row_number not in unknown_lines]
    not_recorded = [
        RowError(line, "line", "UNKNOWN_REFUSAL", f"line {line} is not a refused row of this batch")
        for line in sorted(unknown_lines)
    ]
    skipped = already = 0
    for p in planned:
        found = issued.get(p.dedupe_key)
        if batch_id and found is not None and found[1] == batch_id:
            skipped += 1
            not_recorded = [e for e in not_recorded if e.row_number != p.row_number]
        elif p.row_number in unknown_lines:
            continue
        elif found is None:
            fresh.append(p)
        else:
            already += 1
            refused.append(
                RowError(
                    p.row_number, "", "ALREADY_ISSUED", f"already issued as certificate {found[0]}"
                )
            )
    refused.sort(key=lambda e: e.row_number)
    issue = fresh[:pilot_rows] if pilot_rows else fresh
    held_back = len(fresh) - len(issue)
    is_report = bool(report_lines or unknown_lines)
    recorded_before: list[RowError] = []
    if not is_report:
        # the same file again (a pilot's rest): its refusals are already recorded
        recorded_before = [
            e for e in refused if (e.row_number, e.field, e.reason, e.message) in stored_refusals
        ]
        refused = [
            e
            for e in refused
            if (e.row_number, e.field, e.reason, e.message) not in stored_refusals
        ]
    refused_lines = {e.row_number for e in refused}
    if is_report:
        new_rows = 0  # every line of a report was taken in by the batch before
    else:
        known_lines = {line for line, _, _, _ in stored_refusals}
        new_rows = len(issue) + len(refused_lines - known_lines)
    return IntakeDecision(
        issue=issue,
        refused=refused,
        skipped=skipped,
        held_back=held_back,
        already_issued=already,
        resolved_lines=frozenset(report_lines - refused_lines),
        replaced_lines=report_lines,
        new_rows=new_rows,
        not_recorded=not_recorded,
        recorded_before=recorded_before,
    )


def warnings_of(
    warnings: Sequence[RowWarning], issued: Sequence[PlannedCertificate]
) -> list[RowWarning]:
    rows = {p.row_number for p in issued}
    return [w for w in warnings if w.row_number in rows]


@dataclass(frozen=True, slots=True)
class AnchoringEstimate:
    window_size: int
    transaction_count: int
    gas_per_transaction: int
    base_fee_wei: int | None  # None: unknown
    fee_note: str = ""

    @property
    def estimated_fee_wei(self) -> int | None:
        if self.base_fee_wei is None:
            return None
        return self.transaction_count * self.gas_per_transaction * self.base_fee_wei


def anchoring_estimate(
    certificates: int,
    *,
    window_size: int,
    gas_per_transaction: int = GAS_PER_ANCHOR_TRANSACTION,
    base_fee_wei: int | None,
    fee_note: str = "",
) -> AnchoringEstimate:
    """The fewest anchoring transactions these certificates need (windows also close on age
    and are shared with other uploads: an estimate), and their fee at the given base fee."""
    size = max(window_size, 1)
    return AnchoringEstimate(
        window_size=size,
        transaction_count=-(-certificates // size),
        gas_per_transaction=gas_per_transaction,
        base_fee_wei=base_fee_wei,
        fee_note=fee_note if base_fee_wei is None else "",
    )
