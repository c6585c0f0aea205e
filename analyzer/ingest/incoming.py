"""Rows read from the logs but not yet in `requests`: priced, deduplicated and judged against what is stored.

Both routes land here (the Python route always; the SQL route with the lines its statements did not store). A
flush decides, for every call id, which record is kept and what the others are:

- the kept record is the one already stored, else the first occurrence (file order, then line order);
- within one file the first line wins outright, also over a later line the SQL route stored before it;
- another occurrence is a **duplicate** when it agrees with the kept record on every field both state, and a
  **conflict** when it is of the same format and states the prompt, the response or the output tokens differently
  (listed in `conflicts`). Exports of one call in different formats extract texts differently by design, and
  input tokens are counted with or without cached input: those differences are not conflicts;
- a duplicate from another file (or the same line read again) fills in fields the kept record lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from . import tuning
from .coerce import COLUMNS, CONFLICT_COLUMNS, ENRICH_COLUMNS, JSON_COLUMNS, STAGE_SCHEMA, records_table
from .priced import Tariffs, priced_select

INCOMING = "_ingest_incoming"
_INCOMING_DDL = f"""
create temp table if not exists {INCOMING} (
    id bigint, source_id varchar, source_file varchar, source_line bigint, source_format varchar,
    provider varchar, model varchar, created_at timestamp, system_prompt varchar, messages_json varchar,
    prompt_text varchar, response_text varchar, input_tokens bigint, cached_input_tokens bigint,
    cache_write_tokens bigint, output_tokens bigint, reasoning_tokens bigint, cost_usd double,
    cost_source varchar, is_batch boolean, duration_ms double, status varchar, user_id varchar,
    tags_json varchar, params_json varchar, operation varchar, trace_id varchar, parent_span_id varchar,
    sample_rate double, cache_write_1h_tokens bigint, web_searches bigint, _seq bigint, _supersedes bigint, _price double,
    _tier varchar
)
"""


def running(row: str = "") -> str:
    """SQL: the row is a call's state while it still ran (a background response polled as ``queued`` or
    ``in_progress``: status ``pending``), which gives way to its finished state wherever that comes."""
    prefix = f"{row}." if row else ""
    return f"coalesce({prefix}status = 'pending', false)"


def kept_first(row: str = "", order: str = "_seq") -> str:
    """ORDER BY of the occurrences of one id, the one kept first: the first in ``order``, a finished state before the
    states of the call while it ran (``running``)."""
    prefix = f"{row}." if row else ""
    return f"{running(row)}, {prefix}{order}"


CONFLICT_EXAMPLES = 20  # conflicts listed by `plan ingest --json` (all are in the `conflicts` table)


@dataclass
class FileResult:
    path: str
    format: str
    rows_added: int = 0
    rows_duplicate: int = 0
    rows_conflicting: int = 0
    rows_rejected: int = 0
    rows_skipped: int = 0
    rows_filled_in: int = 0  # stored rows whose empty fields this file's repeats of them filled in
    joined_into: list[str] = field(default_factory=list)
    note: str | None = None
    s3_bodies: dict | None = None  # Bedrock records whose bodies are objects beside the log (s3_bodies.FileBodies)
    # A file the SQL route read: how many of its lines the Python parser took (shapes SQL does not read exactly,
    # malformed lines); None for files the SQL route did not read.
    lines_to_python: int | None = None


def json_normalised(col: str) -> str:
    # Python's json.dumps and DuckDB's serialiser differ in spacing and escapes; both routes store DuckDB's form.
    return f"coalesce(try(json({col}))::varchar, to_json({col})::varchar)"


def differs(a: str, b: str) -> str:
    """SQL: rows ``a`` and ``b`` state one of the conflict fields differently (both non-null)."""
    return " or ".join(f"({a}.{c} is not null and {b}.{c} is not null and {a}.{c} <> {b}.{c})" for c in CONFLICT_COLUMNS)


def differing_fields(a: str, b: str) -> str:
    """SQL: the names of the conflict fields ``a`` and ``b`` state differently, comma separated."""
    parts = [f"case when {a}.{c} is not null and {b}.{c} is not null and {a}.{c} <> {b}.{c} then '{c}' end"
             for c in CONFLICT_COLUMNS]
    return f"concat_ws(', ', {', '.join(parts)})"


class IncomingRows:
    """The temporary table ``_ingest_incoming`` and the flush that moves its rows into `requests`."""

    def __init__(self, con, tariffs: Tariffs, run_stamp):
        self.con = con
        self.tariffs = tariffs
        self.run_stamp = run_stamp  # `ingested_at` of every row this run stores
        self.rows = 0
        self.text_bytes = 0  # of the staged rows' texts
        self.conflict_examples: list[dict] = []
        con.execute(_INCOMING_DDL)
        con.execute(f"delete from {INCOMING}")

    def add_records(self, rows: list[dict], text_bytes: int = 0) -> None:
        if not rows:
            return
        table = records_table(rows)
        cols = [json_normalised(n) if n in JSON_COLUMNS else n for n in STAGE_SCHEMA.names]
        self.con.register("_ingest_py", table)
        try:
            self.con.execute(
                f"insert into {INCOMING} ({', '.join(STAGE_SCHEMA.names)}) select {', '.join(cols)} from _ingest_py"
            )
        finally:
            self.con.unregister("_ingest_py")
        self.rows += len(rows)
        self.text_bytes += text_bytes

    def full(self) -> bool:
        """Whether the staged rows are due to be flushed into `requests`."""
        return self.rows >= tuning.STAGE_ROWS or self.text_bytes >= tuning.STAGE_BYTES

    def add_moved(self, moved: int) -> None:
        """Rows the SQL route put into the table itself."""
        self.rows += moved

    # -- pricing ------------------------------------------------------------------------------
    def _price(self) -> None:
        keys = self.con.execute(
            f"""
            select distinct coalesce(provider, ''), model, is_batch from {INCOMING}
            where cost_usd is null and model is not null and (input_tokens is not null or output_tokens is not null)
            """
        ).fetchall()
        self.tariffs.learn(keys)
        self._set_prices(*self.tariffs.tier_prices(self._unpriced("_tier is not null")))
        if self.tariffs.exact_keys:
            self._set_prices(*self.tariffs.exact_prices(self._unpriced()))

    def _unpriced(self, where: str = "true") -> list:
        """Rows still without a price, as ``Tariffs.exact_prices`` and ``tier_prices`` take them, each keyed by its
        rowid (``_seq`` repeats past ``LINE_SEQ`` records of one line)."""
        return self.con.execute(
            f"""
            select rowid, provider, model, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens,
                   is_batch, created_at, cache_write_1h_tokens, web_searches, _tier
            from {INCOMING}
            where cost_usd is null and _price is null and model is not null
              and (input_tokens is not null or output_tokens is not null) and {where}
            """
        ).fetchall()

    def _set_prices(self, rowids: list, prices: list) -> None:
        """Prices of rows priced one request at a time (time-of-day pricing, another service tier than the standard)."""
        if not rowids:
            return
        self.con.register("_ingest_exact", pa.table({"row": pa.array(rowids, pa.int64()), "price": pa.array(prices, pa.float64())}))
        try:
            self.con.execute(f"update {INCOMING} s set _price = e.price from _ingest_exact e where s.rowid = e.row")
        finally:
            self.con.unregister("_ingest_exact")

    # -- flush --------------------------------------------------------------------------------
    def flush(self, results: dict[str, FileResult]) -> None:
        if not self.rows:
            return
        self._price()
        displaced = self._displace_later_lines()
        self._judge_occurrences()
        replaced = self._supersede_counts()
        filled = self._fill_in()
        self._insert_new()
        if replaced:
            self._drop_superseded()
        self._count(results, displaced, dict(replaced))
        for source_file, count in filled.items():
            results[source_file].rows_filled_in += count
        self._record_conflicts()
        for table in ("_ingest_displaced", "_ingest_kept", "_ingest_others"):
            self.con.execute(f"drop table if exists {table}")
        self.con.execute(f"delete from {INCOMING}")
        self.rows = 0
        self.text_bytes = 0

    def _displace_later_lines(self) -> dict[str, int]:
        """Stored rows that an incoming line of the same file and id comes before in ``kept_first`` order (an earlier
        line; a finished state of a call stored while it still ran): the incoming line wins, and the stored one becomes
        an occurrence judged against it. Returns their number per file."""
        self.con.execute(
            f"""
            create or replace temp table _ingest_displaced as
            select r.* from requests r
            join (select id, source_file, min(source_line) as line,
                         min(source_line) filter (where not {running()}) as finished_line
                  from {INCOMING} group by 1, 2) s
              on r.id = s.id and r.source_file = s.source_file
             and case when {running('r')} then s.finished_line is not null or r.source_line > s.line
                      else r.source_line > s.finished_line end
            """
        )
        counts = self.con.execute("select source_file, count(*) from _ingest_displaced group by 1").fetchall()
        if counts:
            self.con.execute("delete from requests where id in (select id from _ingest_displaced)")
        return dict(counts)

    def _judge_occurrences(self) -> None:
        """``_ingest_kept``: per id, the record kept; ``_ingest_others``: every other occurrence, judged."""
        conflict_cols = ", ".join(CONFLICT_COLUMNS)
        self.con.execute(
            f"""
            create or replace temp table _ingest_kept as
            select id, source_file as kept_file, source_line as kept_line, source_format as kept_format, true as stored,
                   {conflict_cols}
            from requests where id in (select id from {INCOMING})
            union all
            select id, source_file, source_line, source_format, false, {conflict_cols} from (
                select * from {INCOMING} where id not in (select id from requests)
                qualify row_number() over (partition by id order by {kept_first()}) = 1)
            """
        )
        self.con.execute(
            f"""
            create or replace temp table _ingest_others as
            select o.*, k.kept_file, k.kept_line,
                   (o.source_format = k.kept_format and ({differs('o', 'k')})) as conflicting,
                   {differing_fields('o', 'k')} as fields
            from (
                select id, source_id, source_file, source_line, source_format, {conflict_cols}
                from (select *, row_number() over (partition by id order by {kept_first()}) as rank from {INCOMING})
                where rank > 1 or id in (select id from _ingest_kept where stored)
                union all
                select id, source_id, source_file, source_line, source_format, {conflict_cols} from _ingest_displaced
            ) o join _ingest_kept k using (id)
            """
        )

    def _supersede_counts(self) -> list[tuple]:
        return self.con.execute(
            f"""
            select s.source_file, count(distinct s._supersedes) from {INCOMING} s
            join requests r on r.id = s._supersedes
            where s.id not in (select id from _ingest_kept where stored)
            group by 1
            """
        ).fetchall()

    def _first_priced(self, ids: str) -> str:
        """The first occurrence of each incoming id among ``ids`` (a query of ids), priced (parameter ``$now``). The ids
        are picked before pricing: a re-read file's rows are all stored, and pricing them copied every text."""
        rows = f"(select * from {INCOMING} where id in ({ids}))"
        priced = priced_select(rows, "s") + f" qualify row_number() over (partition by s.id order by {kept_first('s')}) = 1"
        return f"select * replace (coalesce(cost_source, 'unknown') as cost_source) from ({priced})"

    def _fill_in(self) -> dict[str, int]:
        """A stored row lacking fields takes them from a consistent occurrence from another file or the same line;
        returns how many stored rows each file filled in."""
        if not self.con.execute("select count(*) from _ingest_kept where stored").fetchall()[0][0]:
            return {}
        sets = ", ".join(f"{c} = coalesce(r.{c}, p.{c})" for c in ENRICH_COLUMNS)
        # A call stored while it still ran takes its finished state's status too.
        def finishes(row: str) -> str:
            return f"({running('r')} and not {running(row)})"

        # A cost the log states wins over a catalog price, whichever file states it. Priced rows (p) say which cost
        # is logged; an incoming row (s) holds no other.
        def logged_over_catalog(logged: str) -> str:
            return f"(r.cost_source is distinct from 'log' and {logged})"

        priced_log = "p.cost_source = 'log'"

        wanted = " or ".join([f"(r.{c} is null and p.{c} is not null)" for c in ENRICH_COLUMNS + ("cost_usd",)]
                             + [finishes("p"), logged_over_catalog(priced_log)])
        # Only the incoming rows of stored ids can fill anything in (the rest are inserted by ``_insert_new``), and
        # only ids one of whose rows holds a field the stored row lacks, or tokens to price it by.
        lacking = " or ".join([f"(r.{c} is null and s.{c} is not null)" for c in ENRICH_COLUMNS]
                              + ["(r.cost_usd is null and (s.cost_usd is not null or s.input_tokens is not null"
                                 " or s.output_tokens is not null))", finishes("s"),
                                 logged_over_catalog("s.cost_usd is not null")])
        ids = f"select s.id from {INCOMING} s join requests r on r.id = s.id where {lacking}"
        self.con.execute(f"create or replace temp table _ingest_fill as {self._first_priced(ids)}", {"now": self.tariffs.now})
        where = f"""r.id = p.id and ({wanted}) and not (r.source_format = p.source_format and ({differs('r', 'p')}))
              and (r.source_file is distinct from p.source_file or r.source_line is not distinct from p.source_line)"""
        filled = self.con.execute(
            f"select p.source_file, count(*) from requests r join _ingest_fill p on r.id = p.id where {where} group by 1"
        ).fetchall()
        self.con.execute(
            f"""
            update requests r set {sets},
                status = case when {finishes("p")} then p.status else r.status end,
                cost_source = case when (r.cost_usd is null and p.cost_usd is not null) or {logged_over_catalog(priced_log)}
                                   then p.cost_source else r.cost_source end,
                cost_usd = case when {logged_over_catalog(priced_log)} then p.cost_usd else coalesce(r.cost_usd, p.cost_usd) end
            from _ingest_fill p where {where}
            """
        )
        self.con.execute("drop table _ingest_fill")
        return {source_file: count for source_file, count in filled}

    def _insert_new(self) -> None:
        cols = ", ".join(COLUMNS)
        self.con.execute(
            f"""insert into requests ({cols}, ingested_at) select {cols}, $stamp::timestamp
                from ({self._first_priced("select id from _ingest_kept where not stored")}) p""",
            {"stamp": self.run_stamp, "now": self.tariffs.now},
        )

    def _drop_superseded(self) -> None:
        self.con.execute(
            f"""
            delete from requests where id in (
                select _supersedes from {INCOMING} where _supersedes is not null
                and _supersedes not in (select id from {INCOMING}))
            """
        )

    def _count(self, results: dict[str, FileResult], displaced: dict[str, int], replaced: dict[str, int]) -> None:
        added = self.con.execute(
            "select kept_file, count(*) from _ingest_kept where not stored group by 1"
        ).fetchall()
        judged = self.con.execute(
            "select source_file, count(*) filter (where not conflicting), count(*) filter (where conflicting) "
            "from _ingest_others group by 1"
        ).fetchall()
        for source_file, count in added:
            results[source_file].rows_added += count
        for source_file, duplicates, conflicts in judged:
            results[source_file].rows_duplicate += duplicates
            results[source_file].rows_conflicting += conflicts
        for source_file, count in replaced.items():  # a joined batch result takes the place of its stored input
            results[source_file].rows_added -= count
            results[source_file].rows_duplicate += count
        for source_file, count in displaced.items():  # counted as added when stored, judged just now
            results[source_file].rows_added -= count

    def _record_conflicts(self) -> None:
        examples = self.con.execute(
            """
            select source_id, source_file, source_line, kept_file, kept_line, fields from _ingest_others
            where conflicting order by source_file, source_line limit ?
            """,
            [CONFLICT_EXAMPLES],
        ).fetchall()
        room = CONFLICT_EXAMPLES - len(self.conflict_examples)
        for source_id, source_file, line, kept_file, kept_line, fields in examples[:max(room, 0)]:
            self.conflict_examples.append({"source_id": source_id, "file": source_file, "line": line,
                                           "kept_file": kept_file, "kept_line": kept_line, "fields": fields})
        self.con.execute(
            """
            insert into conflicts (request_id, source_id, source_file, source_line, source_format, kept_file, kept_line, fields)
            select id, source_id, source_file, source_line, source_format, kept_file, kept_line, fields
            from _ingest_others o where conflicting and not exists (
                select 1 from conflicts c where c.request_id = o.id and c.source_file = o.source_file
                and c.source_line is not distinct from o.source_line)
            qualify row_number() over (partition by id, source_file, source_line) = 1
            """
        )
