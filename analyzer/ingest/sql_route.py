"""The SQL route: JSON Lines files of formats that offer ``fast_select`` go into `requests` from DuckDB directly.

The file is cut into Arrow chunks of raw lines with their line numbers (``SourceFile.line_chunks``); the format's
``fast_select()`` extracts the fields of every line whose shape it fully understands, and the statements below
price them and append them to `requests`. Lines a statement does not store (malformed, unusual shapes, repeated
ids) take the careful way: extracted into a temporary table, repeats handed to the incoming rows (which judge
them as duplicates or conflicts), lines SQL does not understand to the format's ``parse_line``.

- **A new plain file** goes in as one statement over a stream of its chunks (``whole_file``), which DuckDB parses
  and writes on every core; the lines it leaves are read back by number (``LineIndex``).
- **A path already partly stored, an export that overlaps what is stored, a file that repeats an id, lines of long
  conversations** take one statement per chunk (``chunked``). A gzip file takes the whole-file statement too: its
  leftover lines are read back in one more pass of its decompressed stream.

Every statement is built by a function below with its inputs as arguments, and runs with named parameters:
``$source_file``, ``$source_format``, ``$now`` (the date of rows without one) and ``$stamp`` (``ingested_at``).
"""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa

from . import tuning
from .coerce import COLUMNS, EARLIEST, FUTURE_SLACK
from .incoming import kept_first, running
from .priced import price_stored, priced_select
from .reader import LINE_SEQ, FileReader
from .formats.app_log_sql import TOP_KEYS_SQL, define_macros, keys_sql
from .sources import LineIndex, SourceFile, prefetch

EXTRACTED = "_ingest_extracted"  # the careful way's table: lines SQL understood, not yet stored
_COLS = ", ".join(COLUMNS)


# ---------------------------------------------------------------------------------------------
# Statements
# ---------------------------------------------------------------------------------------------


def rows_of_lines(select: str) -> str:
    """The format's rows of ``_lines`` with what every route adds (file, format, no cost source, no exact price),
    leaving out rows with an impossible time: the Python route rejects those with the reason."""
    return (
        "(select f.*, $source_file::varchar as source_file, $source_format::varchar as source_format,"
        f" null::varchar as cost_source, null::double as _price from ({select}) f"
        f" where f.created_at is null or (f.created_at >= '{EARLIEST:%Y-%m-%d}'::timestamp"
        f" and f.created_at <= $now::timestamp + interval {FUTURE_SLACK.days} day))"
    )


def insert_new_rows(select: str) -> str:
    """All rows of ``_lines`` whose id is not stored, in one statement (a repeated id fails it)."""
    return (
        f"insert into requests ({_COLS}, ingested_at) select {_COLS}, $stamp::timestamp"
        f" from ({priced_select(rows_of_lines(select), 'f')}) f where f.id not in (select id from requests)"
    )


def insert_first_of_each_id(select: str) -> str:
    """Rows of ``_lines`` whose id is not stored, the first line of each id only (a call's finished state before its
    states while it ran, ``incoming.kept_first``); returns the lines stored."""
    return f"""
        insert into requests ({_COLS}, ingested_at)
        with e as materialized ({priced_select(rows_of_lines(select), 'f')})
        select {_COLS}, $stamp::timestamp from e
        semi join (select id, coalesce(min(source_line) filter (where not {running()}), min(source_line)) as line
                   from e group by id) first
          on e.id = first.id and e.source_line = first.line
        where e.id not in (select id from requests)
        returning source_line, cost_source is null as unpriced
    """


def extract_rows(select: str) -> str:
    """The rows SQL understands of ``_lines``, priced, into the careful way's table."""
    return f"create or replace temp table {EXTRACTED} as {priced_select(rows_of_lines(select), 'f')}"


def insert_extracted(*, repeats_inside: bool, stored_ids: bool) -> str:
    """The extracted rows into `requests`: the first line of each id when ids repeat among them, and leaving out
    ids already stored when there are any (each test costs a join, so it is made only when needed)."""
    rows = (f"(select * from {EXTRACTED} qualify row_number() over (partition by id order by {kept_first(order='source_line')}) = 1)"
            if repeats_inside else EXTRACTED)
    where = "where f.id not in (select id from requests)" if stored_ids else ""
    return f"""
        insert into requests ({_COLS}, ingested_at) select {_COLS}, $stamp::timestamp from {rows} f {where}
        returning source_line, cost_source is null as unpriced
    """


def move_unstored_to_incoming(seq_base: int) -> str:
    """Extracted rows a statement did not store (repeats) into the incoming rows, ordered like the Python route's."""
    return f"""
        insert into _ingest_incoming by name
        select * exclude (cost_usd, cost_source), case when cost_source = 'log' then cost_usd end as cost_usd,
               source_line * {LINE_SEQ} + {int(seq_base)} as _seq
        from {EXTRACTED} where source_line not in (select line from _ingest_done)
    """


def probe_models(select: str) -> str:
    """Per model in the first lines: how many lines there are, how many are stored, how many the catalog prices (they
    state usage, not a cost)."""
    return f"""
        select provider, model, is_batch, count(*) filter (where id in (select id from requests)) as stored,
               count(*) as seen,
               count(*) filter (where (input_tokens is not null or output_tokens is not null) and cost_usd is null) as to_price
        from ({select}) group by all
    """


# ---------------------------------------------------------------------------------------------
# Running them
# ---------------------------------------------------------------------------------------------


class SqlRoute:
    """One file through the SQL route; rows land through ``reader`` like the Python route's."""

    def __init__(self, reader: FileReader, parser, src: SourceFile, fmt_name: str, seq_base: int):
        self.reader = reader
        self.con = reader.con
        define_macros(self.con)
        self.parser = parser
        self.src = src
        self.fmt_name = fmt_name
        self.seq_base = seq_base
        self.select = parser.fast_select(src)  # every family; narrowed to the file's own by ``specialise``
        self.careful_select = self.select
        self.result = reader.results[src.display]
        self._whole_file_rows = 0  # rows of the whole-file statements counted so far
        self.tariffs = reader.incoming.tariffs
        self.params = {"source_file": src.display, "source_format": fmt_name, "now": self.tariffs.now,
                       "stamp": reader.incoming.run_stamp}

    def run(self) -> None:
        self.result.lines_to_python = 0
        try:
            done = self.whole_file()
            if done is None:  # the first lines hold no call SQL reads: the file is the Python parser's
                self._reread()
                self.reader.python_route(self.parser, self.src, self.fmt_name, self.seq_base)
            elif not done:
                self._reread()
                self.chunked()
            self.reader.take_held(self.parser, self.src, self.fmt_name, self.seq_base)
        finally:
            self.con.execute(f"drop table if exists {EXTRACTED}")

    def _reread(self) -> None:
        self.reader.restart_file()
        if self.reader.on_reread is not None:
            self.reader.on_reread()

    def execute(self, statement: str, params: dict | None = None, *, stream: bool = False, fetch: str | None = None):
        """One statement with the optimizer settings the route needs, undone on failure.

        Pushed below the projection, the shape checks would parse every line a second time; keeping insertion
        order would make DuckDB read the Arrow batches on one thread. A stream's length is unknown to DuckDB,
        which then takes it for the small side of the tariffs join and holds all of it in a hash table: join
        order is left as written for streams."""
        import duckdb

        disabled = "filter_pushdown,join_order,build_side_probe_side" if stream else "filter_pushdown"
        self.con.execute(f"set disabled_optimizers = '{disabled}'")
        self.con.execute("set preserve_insertion_order = false")
        try:
            cursor = self.con.execute(statement, self.params if params is None else params)
            if fetch == "rows":
                return cursor.fetchall()
            return cursor.fetchnumpy() if fetch == "numpy" else None
        except duckdb.Error:
            # A failed statement aborts the transaction: undo it now, so that the settings can be reset and the
            # caller decide (a repeated id in a whole-file statement means reading the file in chunks).
            self.con.execute("rollback")
            self.con.execute("begin transaction")
            raise
        finally:
            self.con.execute("reset disabled_optimizers")
            self.con.execute("reset preserve_insertion_order")

    def specialise(self, lines) -> bool:
        """Narrow the statement to the families of logged call the first lines show (binding a statement for every
        family costs more than reading a small file); lines of other families still take the careful way. False
        when none of the first lines is of a family SQL reads."""
        if not hasattr(self.parser, "fast_families"):
            return True
        narrowed, split = self._narrowed(lines)
        if split:  # some calls are logged as two lines: Python joins them (``split_calls``)
            self.careful_select = self.parser.fast_select(self.src, split=True)
        if narrowed is not None:
            self.select = narrowed
        return narrowed is not None

    def _narrowed(self, lines) -> tuple[str | None, bool]:
        """(the statement for the families and optional keys the first of ``lines`` show, None when none of them is
        of a family SQL reads; whether some calls among them are logged as two lines)."""
        self.con.register("_lines", lines.slice(0, tuning.PROBE_LINES))
        try:
            pair, found = self._families_found()
            present = frozenset(row[0] for row in self.execute(keys_sql(*pair), {}, fetch="rows") if row[0] is not None)
            split = hasattr(self.parser, "fast_split") and self.execute(self.parser.fast_split(), {}, fetch="rows")[0][0] > 0
        finally:
            self.con.unregister("_lines")
        if not found:
            return None, split
        return self.parser.fast_select(self.src, found, present, *pair, **({"split": True} if split else {})), split

    def _families_found(self) -> tuple[tuple, list[str]]:
        """(pair keys, families) that read most of the first lines: the usual ``request``/``response`` pairs and bare
        calls, or a pair under other keys (``req``/``resp``, ``input``/``output``...) when the lines use one."""
        def found(*pair) -> tuple[int, list[str]]:
            counts = [(name, count) for name, count in self.execute(self.parser.fast_families(*pair), {}, fetch="rows")
                      if name and count]
            return sum(count for _, count in counts), [name for name, _ in counts]

        best: tuple = ((), *found())
        if hasattr(self.parser, "fast_pairs"):
            for pair in self.parser.fast_pairs(self.execute(TOP_KEYS_SQL, {}, fetch="rows"))[:1]:
                lines, names = found(pair)
                if lines > best[1]:
                    best = ((pair,), lines, names)
        return best[0], best[2]

    def _named(self, *names: str) -> dict:
        return {name: self.params[name] for name in names}

    def stored(self, inserted) -> np.ndarray:
        """Count the lines a statement stored; price those whose model was not known yet."""
        done = inserted["source_line"]
        self.result.rows_added += len(done)
        if len(done) and bool(np.any(inserted["unpriced"])):
            price_stored(self.con, self.tariffs, self.src.display, int(done.min()), int(done.max()))
        return done

    def to_python(self, rows) -> None:
        self.reader.parse_lines(self.parser, rows, self.src, self.fmt_name, self.seq_base)

    # -- the careful way ----------------------------------------------------------------------
    def careful(self, lines, select: str | None = None) -> bool:
        """Lines that may repeat stored ids or each other, read by ``select`` (default: every family); the lines a
        narrower ``select`` leaves go through every family's, or to Python when few. True when most were new."""
        numbers = lines.column(0).to_numpy()
        select = select or self.careful_select
        self.con.register("_lines", lines)
        try:
            self.execute(extract_rows(select), self._named("source_file", "source_format", "now"))
        finally:
            self.con.unregister("_lines")
        # Probing the stored ids with the chunk's (not the other way round) keeps this cheap as the table grows.
        repeated, already = self.con.execute(
            f"""select (select count(*) - count(distinct id) from {EXTRACTED}),
                      (select count(*) from {EXTRACTED} semi join requests using (id))"""
        ).fetchall()[0]
        statement = insert_extracted(repeats_inside=bool(repeated), stored_ids=bool(already))
        done = self.stored(self.con.execute(statement, self._named("stamp")).fetchnumpy())
        handled = self.con.execute(f"select source_line from {EXTRACTED}").fetchnumpy()["source_line"]
        if len(handled) > len(done):
            # Understood but not stored: repeats, which the incoming rows judge (duplicate or conflict).
            self.con.register("_ingest_done", pa.table({"line": pa.array(done, pa.int64())}))
            try:
                moved = self.con.execute(move_unstored_to_incoming(self.seq_base)).fetchall()
            finally:
                self.con.unregister("_ingest_done")
            self.reader.incoming.add_moved(moved[0][0] if moved else 0)
        rest = np.setdiff1d(numbers, handled, assume_unique=True)
        if len(rest):
            rest_lines = lines.take(pa.array(np.searchsorted(numbers, rest)))
            if select is not self.careful_select and len(rest) > tuning.FEW_LINES:
                self.careful(rest_lines)
            else:
                self.to_python(rest_lines)
        return len(done) * 2 >= len(handled) and len(handled) * 2 >= len(numbers)

    # -- a new file in one statement ----------------------------------------------------------
    def whole_file(self) -> bool | None:
        """The whole file in one statement that DuckDB runs on every core, reading the lines from a stream of
        chunks. False, with nothing stored, when it does not apply (rows of this path already
        stored, a first chunk mostly stored already) or the file repeats an id (counted after the statement, which
        is then undone); the chunked route then reads the file. None when the first lines hold no call SQL reads."""
        src = self.src
        if self.con.execute("select count(*) from requests where source_file = ?", [src.display]).fetchall()[0][0]:
            return False
        index = LineIndex(src.path, compressed=src.is_gzip)
        chunks = prefetch(src.line_chunks(tuning.CHUNK_BYTES, index=index))
        try:
            first = next(chunks, None)
            if first is None:
                return True
            if first.nbytes > tuning.LONG_LINES * first.num_rows:
                return False  # one statement would hold every row of long conversations in memory until it ends
            if not self.specialise(first):
                return None
            if not self._probe(first):
                return False
            if not self._stream_statement(self.select, first, chunks):
                return False
            self._after_whole_file(index)
            return True
        finally:
            chunks.close()
            index.close()

    def _probe(self, first) -> bool:
        """Load the tariffs of the models in the first lines (others are priced after the statement); False when
        this is an export that overlaps what is stored (the chunked route handles that well). A small file is not
        probed: planning the probe cost as much as its statement (a directory of a hundred 4 MB logs spent a third of
        its time there); its rows are priced after the statement, and lines whose ids are stored already are judged
        by the careful way, as for any file."""
        if not self.src.is_gzip and 0 < self.src.size_bytes < tuning.PROBE_MIN_BYTES:
            self._commit()
            return True
        self.con.register("_lines", first.slice(0, tuning.PROBE_LINES))
        try:
            probe = self.execute(probe_models(self.select), {}, fetch="rows")
        finally:
            self.con.unregister("_lines")
        if sum(r[3] for r in probe) * 2 > sum(r[4] for r in probe):
            return False
        # As the incoming rows do: only models with token counts and no logged cost are priced (or reported as unknown).
        self.tariffs.learn([(p or "", m, bool(b)) for p, m, b, _, _, to_price in probe if m is not None and to_price])
        self._commit()
        return True

    def _commit(self) -> None:
        """What is stored so far committed, so that a whole-file statement that repeats an id can be undone alone."""
        self.reader.finish()
        self.con.execute("commit")
        self.con.execute("begin transaction")

    def _stream_statement(self, select: str, first, chunks) -> bool:
        """``select``'s rows of the lines of ``first`` and ``chunks`` in one statement; False, with the statement undone,
        when it stored an id twice (the caller committed just before)."""
        import duckdb

        failure: list[BaseException] = []

        def batches():
            try:
                yield from first.to_batches()
                for chunk in chunks:
                    yield from chunk.to_batches()
            except GeneratorExit:  # DuckDB stopped reading (its statement failed): its own error is the one to raise
                raise
            except BaseException as exc:  # DuckDB reports it as its own error; the caller needs the original
                failure.append(exc)
                raise

        self.con.register("_lines", pa.RecordBatchReader.from_batches(first.schema, batches()))
        try:
            self.execute(insert_new_rows(select), stream=True)
        except duckdb.Error:
            if failure:
                raise failure[0] from None
            raise
        finally:
            self.con.unregister("_lines")
        if self._repeats_an_id():
            self.con.execute("rollback")  # committed just before: this undoes the statement alone
            self.con.execute("begin transaction")
            return False
        # Committed before the lines it left are stored: rows appended to the statement's last row group in the same
        # transaction made the checkpoint rewrite that row group (0.8 s for 200,000 rows and a few hundred more).
        self._count_whole_file()
        self.reader.maybe_commit(self.src, now=True)
        return True

    def _repeats_an_id(self) -> bool:
        """Whether the whole-file statement stored one id twice (the file repeats it: the chunked route judges which
        line is kept and which are duplicates or conflicts). Every row of this path came from that statement."""
        return bool(self.con.execute("select count(*) > count(distinct id) from requests where source_file = ?",
                                     [self.src.display]).fetchall()[0][0])

    def _after_whole_file(self, index: LineIndex) -> None:
        """The lines the whole-file statement left: when they are many (their keys or family were not among the first
        lines), a second statement narrowed to what they show; then the careful way for what remains."""
        leftovers = index.read(self._lines_left(index))
        first = next(leftovers, None)
        select = self._leftover_select(first) if first is not None else self.careful_select
        # Lines of long conversations go chunk by chunk: one statement would hold all their rows in memory.
        if first is not None and select is not self.careful_select and first.nbytes <= tuning.LONG_LINES * first.num_rows:
            self._stream_statement(select, first, leftovers)
            leftovers = index.read(self._lines_left(index))
            first = next(leftovers, None)
        for lines in itertools.chain([first] if first is not None else [], leftovers):
            if lines.num_rows <= tuning.FEW_LINES:
                self.to_python(lines)
            else:
                self.careful(lines, select)
            self.reader.settle(self.src)

    def _lines_left(self, index: LineIndex) -> np.ndarray:
        """The numbers of the lines no row is stored for, read before a statement streams those lines: the query must not
        run on the connection while the statement does."""
        return np.fromiter(self.reader.lines_left(self.src, index.lines), dtype=np.int64)

    def _count_whole_file(self) -> None:
        """Count the rows the whole-file statements stored since the last count; price those whose model was not known."""
        added, unpriced, low, high = self.con.execute(
            """select count(*), count(*) filter (where cost_source is null), min(source_line), max(source_line)
               from requests where source_file = ?""",
            [self.src.display],
        ).fetchall()[0]
        self.result.rows_added += added - self._whole_file_rows
        self._whole_file_rows = added
        if unpriced:
            price_stored(self.con, self.tariffs, self.src.display, low, high)

    def _leftover_select(self, lines) -> str:
        """The statement for the lines the whole-file statement left, when more than a few: one narrowed to the
        families and keys they show (the first lines did not show them: parameters a feature adds later in the day, an
        outage's errors). Every family's statement costs several times more a line and about a second to plan."""
        if lines.num_rows <= tuning.FEW_LINES or not hasattr(self.parser, "fast_families"):
            return self.careful_select
        narrowed, split = self._narrowed(lines)
        return self.careful_select if narrowed is None or split else narrowed

    # -- chunk by chunk -----------------------------------------------------------------------
    def chunked(self) -> None:
        """Chunk by chunk: a chunk is first appended in one statement that leaves out every line whose id is already
        stored or came earlier in the chunk. The lines it did not store (few, in a new file) then take the careful
        way. When most of a chunk is left over (a file ingested again), the following chunks take the careful way
        directly rather than being extracted twice."""
        use_direct = True
        for number, chunk in enumerate(prefetch(self.src.line_chunks(tuning.CHUNK_BYTES))):
            if number == 0 and self.select is self.careful_select and not self.specialise(chunk):
                self._reread()
                self.reader.python_route(self.parser, self.src, self.fmt_name, self.seq_base)
                return
            lines = chunk
            if use_direct:
                lines, use_direct = self._direct(chunk)
            if lines.num_rows:
                use_direct = self.careful(lines, self.select) or use_direct
            self.reader.count_text(chunk.nbytes)
            self.reader.settle(self.src)

    def _direct(self, chunk):
        """(lines left for the careful way, whether the next chunk should be tried directly too)."""
        self.con.register("_lines", chunk)
        try:
            done = self.stored(self.execute(insert_first_of_each_id(self.select), fetch="numpy"))
        finally:
            self.con.unregister("_lines")
        numbers = chunk.column(0).to_numpy()
        left = np.setdiff1d(numbers, done, assume_unique=True)
        use_direct = len(left) * 2 < len(numbers)
        lines = chunk.take(pa.array(np.searchsorted(numbers, left))) if len(left) < len(numbers) else chunk
        if len(left) <= tuning.FEW_LINES:
            # Planning the SQL costs more than parsing a few lines in Python, which stores the same rows.
            self.to_python(lines)
            lines = lines.slice(0, 0)
        return lines, use_direct
