"""Reading one file: a format's records (or the SQL route's leftover lines) turned into incoming rows and rejects.

A file is read in one transaction, or committed in steps of ``tuning.COMMIT_ROWS`` rows (or ``COMMIT_BYTES`` of
text) when it is long (DuckDB keeps an open transaction's small appends in memory)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from . import tuning
from .coerce import normalise_record, record_excerpt
from .incoming import FileResult, IncomingRows
from .records import Held, Reject, Skipped, stable_id
from .rejects import Rejects
from .sources import SourceFile
from .split_calls import HALF, SplitCalls

if TYPE_CHECKING:
    from .s3_bodies import BodyObjects

# _seq orders rows so the first occurrence wins: file number * FILE_SEQ + line * LINE_SEQ + record within the line.
FILE_SEQ = 1 << 40
LINE_SEQ = 1 << 10
_NO_LINE = 1 << 29  # records without a line number come after every numbered line


@dataclass
class IngestContext:
    """State shared by all files of one `plan ingest` run (e.g. batch inputs awaiting their outputs).

    ``deferred`` holds ``(SourceFile, format name, record)`` written after every file was read (unmatched batch
    inputs); a parser that later consumes one sets its record to None or marks it ``record["_consumed"] = True``.
    ``joined`` maps a batch input file to the output files its lines were joined into. ``warnings`` are sentences
    for the user (stderr), ``config`` the loaded plan.toml. ``body_objects`` reads the Bedrock bodies logged as
    objects of their own (None: they are not read)."""

    mapping: dict[str, str] = field(default_factory=dict)
    store: dict = field(default_factory=dict)
    deferred: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    config: dict = field(default_factory=dict)
    joined: dict[str, set] = field(default_factory=dict)
    body_objects: BodyObjects | None = None


def _text_bytes(row: dict) -> int:
    """About what a row's texts (conversation, prompt, answer, tags) weigh: what bounds a batch of long rows."""
    return sum(len(value) for value in row.values() if isinstance(value, str))


class FileReader:
    """Turns parser output into incoming rows and rejects, flushing and committing as the rows add up."""

    def __init__(self, con, incoming: IncomingRows, rejects: Rejects, results: dict[str, FileResult],
                 ctx: IngestContext, now: datetime):
        self.con = con
        self.incoming = incoming
        self.rejects = rejects
        self.results = results
        self.ctx = ctx
        self.now = now
        self.buffer: list[dict] = []
        self.buffer_bytes = 0  # of the buffered rows' texts
        self._last_line = None
        self._sub = 0
        self._unnumbered = 0
        self.committed: dict[str, int] = {}  # file -> rows already committed while it was being read
        self.on_reread: Callable[[], object] | None = None  # called when a file is read a second time from the start
        self._rows_at_commit = 0
        self._bytes_since_commit = 0
        self._first_logged: dict[int, str] = {}  # content id -> the form it was first logged in, in this file
        self._variants: dict[int, list[str]] = {}  # content id -> every form, in file order, once a second appears
        self._variants_of: str | None = None
        self.held: list[Held] = []  # the file's lines that are pieces of a call, read with their other pieces
        self.split = SplitCalls()  # the file's requests waiting for the answer logged on a later line

    def _seq(self, line, seq_base: int) -> int:
        if line is None:
            self._unnumbered += 1
            return seq_base + (_NO_LINE + self._unnumbered) * LINE_SEQ
        if line == self._last_line:
            self._sub += 1
        else:
            self._last_line, self._sub = line, 0
        return seq_base + int(line) * LINE_SEQ + min(self._sub, LINE_SEQ - 1)

    def take(self, item, src: SourceFile, fmt_name: str, seq_base: int) -> None:
        """One parser item: a record, a Reject, a Skipped (counted), None, or an iterable of those."""
        result = self.results[src.display]
        if item is None:
            return
        if isinstance(item, Reject):
            self.rejects.add(src.identity, src.display, fmt_name, item, result)
            return
        if isinstance(item, Skipped):
            result.rows_skipped += 1
            return
        if isinstance(item, Held):
            self.held.append(item)
            return
        if not isinstance(item, dict):
            for sub in item:
                self.take(sub, src, fmt_name, seq_base)
            return
        if HALF in item:
            self.take(self.split.offer(item), src, fmt_name, seq_base)
            return
        try:
            row = normalise_record(item, src.display, fmt_name, self.now, self._seq(item.get("_line"), seq_base))
        except (ValueError, TypeError, OverflowError) as exc:
            self.rejects.add(src.identity, src.display, fmt_name, Reject(item.get("_line"), str(exc), record_excerpt(item)), result)
            return
        if item.get("_logged") is not None:
            self._number_alike(row, src.display, item["_logged"])
        self.buffer.append(row)
        size = _text_bytes(row)
        self.buffer_bytes += size
        self._bytes_since_commit += size
        if len(self.buffer) >= tuning.BATCH_ROWS or self.buffer_bytes >= tuning.BATCH_BYTES:
            self.spill(src)

    def _number_alike(self, row: dict, display: str, logged: str) -> None:
        """A call without an id is known by what it holds (``records.dedupe_key``); two lines of one file that hold
        the same but were logged differently (another latency, outcome or column the row does not keep) are two
        calls: the second and later variants get keys of their own, numbered in file order (so that a file read
        again, or grown, gives its lines the same keys). A line logged twice alike stays one call."""
        if display != self._variants_of:  # one file's lines at a time: the maps hold one entry per call of it
            self._first_logged, self._variants, self._variants_of = {}, {}, display
        first = self._first_logged.setdefault(row["id"], logged)
        if first == logged:
            return
        variants = self._variants.setdefault(row["id"], [first])
        if logged not in variants:
            variants.append(logged)
        row["id"] = stable_id(f"{row['id']}|variant {variants.index(logged) + 1}")

    def count_text(self, size: int) -> None:
        """Bytes of lines the SQL route stored itself, toward the next commit."""
        self._bytes_since_commit += size

    def _hand_over(self) -> None:
        """The buffered rows into the staging table."""
        if self.buffer:
            self.incoming.add_records(self.buffer, self.buffer_bytes)
            self.buffer, self.buffer_bytes = [], 0

    def spill(self, src: SourceFile | None = None) -> None:
        self._hand_over()
        if self.incoming.full():
            self.finish()
            if src is not None:
                self.maybe_commit(src)

    def settle(self, src: SourceFile) -> None:
        """Between two chunks of the SQL route: hand buffered rows over, flush and commit when due."""
        self._hand_over()
        if self.incoming.full():
            self.finish()
        self.maybe_commit(src)

    def finish(self) -> None:
        self._hand_over()
        self.incoming.flush(self.results)
        self.rejects.flush()

    def maybe_commit(self, src: SourceFile, *, now: bool = False) -> None:
        """Commit a big file in steps: DuckDB keeps an open transaction's rows in memory. ``now``: whatever was stored
        (so that a statement that fails can be undone alone)."""
        result = self.results[src.display]
        rows = self._rows_stored(result) - self._rows_at_commit
        if not now and rows < tuning.COMMIT_ROWS and self._bytes_since_commit < tuning.COMMIT_BYTES:
            return
        self.finish()
        rows = self._rows_stored(result) - self._rows_at_commit  # the staged rows judged too: their bytes are counted
        self.con.execute("commit")
        if self._bytes_since_commit > tuning.LONG_LINES * max(rows, 1):
            # Long texts stay in DuckDB's memory after a commit until a checkpoint writes them out; left to the
            # automatic one, it found the memory full (a 1.2 GB log of 400 KB conversations stopped there). Short
            # rows go without: a checkpoint also rewrites the growing index (10% of a 300,000-line ingest).
            self.con.execute("checkpoint")
        self.con.execute("begin transaction")
        self._rows_at_commit = self._rows_stored(result)
        self._bytes_since_commit = 0
        self.committed[src.display] = result.rows_added

    @staticmethod
    def _rows_stored(result) -> int:
        """Rows of the file judged so far (added, duplicates, conflicts): what commits are counted in."""
        return result.rows_added + result.rows_duplicate + result.rows_conflicting

    def start_file(self) -> None:
        self._rows_at_commit = 0
        self._bytes_since_commit = 0
        self.restart_file()

    def restart_file(self) -> None:
        """Forget what waits for the file's later lines: it is read again from the start."""
        self.held = []
        self.split = SplitCalls()

    def end_file(self, src: SourceFile, fmt_name: str, seq_base: int) -> None:
        """The requests whose answer the file never logged, stored as requests without an answer."""
        self.take(self.split.flush(), src, fmt_name, seq_base)

    def lines_left(self, src: SourceFile, lines: int, window: int = 1 << 20):
        """Numbers of the file's lines (1..lines) with no row stored, a window of lines at a time so that memory
        does not grow with the file."""
        import numpy as np

        for low in range(1, lines + 1, window):
            high = min(low + window - 1, lines)
            done = self.con.execute(
                "select source_line from requests where source_file = ? and source_line between ? and ?",
                [src.display, low, high],
            ).fetchnumpy()["source_line"]
            left = np.ones(high - low + 1, dtype=bool)
            left[done - low] = False
            yield from (np.flatnonzero(left) + low).tolist()

    def python_route(self, parser, src: SourceFile, fmt_name: str, seq_base: int) -> None:
        result = self.results[src.display]
        for item in parser.parse(src, self.ctx):
            if result.lines_to_python is not None:  # a file the SQL route handed over whole: one record a line
                result.lines_to_python += 1
            self.take(item, src, fmt_name, seq_base)

    def parse_lines(self, parser, rows, src: SourceFile, fmt_name: str, seq_base: int) -> None:
        """Lines ``(line_no, text)`` of an Arrow table through the format's ``parse_line`` (the SQL route's leftovers,
        counted in ``lines_to_python``)."""
        parsed = 0
        for number, text in zip(rows.column(0).to_pylist(), rows.column(1).to_pylist(), strict=True):
            line = text.rstrip("\r\n")
            if line.strip():
                parsed += 1
                self.take(parser.parse_line(number, line, self.ctx, src), src, fmt_name, seq_base)
        result = self.results[src.display]
        result.lines_to_python = (result.lines_to_python or 0) + parsed
        if len(self.held) >= tuning.HELD_PIECES:
            self.take_held(parser, src, fmt_name, seq_base)

    def take_held(self, parser, src: SourceFile, fmt_name: str, seq_base: int) -> None:
        """The held pieces of calls, folded by the format (the SQL route's leftovers are read in batches of lines, and
        one call's pieces may fall in several)."""
        held, self.held = self.held, []
        if held:
            self.take(parser.fold_held(held), src, fmt_name, seq_base)
