"""Stage 1: read exported provider logs into the `requests` table.

Entry point: ``ingest_paths(con, paths, ...)``. Formats are detected per file (``analyzer.ingest.formats``).
Parsers yield record dicts and ``Reject``s; records are coerced to the column types, staged in a temporary
table, priced there (``analyzer.pricing`` tariffs joined in SQL), deduplicated on a stable id and appended to
`requests`. Bad records go to `rejects` with file, line, reason and excerpt; the good ones still land.

Two routes lead into `requests`, with identical results:

- the Python route: a format's ``parse(src, ctx)`` generator, one record at a time, through the stage;
- the SQL fast route, for JSON Lines files of formats that offer ``fast_select(src)`` and ``parse_line``:
  the file is cut into Arrow chunks of raw lines with their line numbers, DuckDB extracts the fields of every
  line whose shape it fully understands and appends them, priced, straight to `requests`; the few other lines
  (malformed, double-encoded, unusual shapes, duplicates) go through ``parse_line`` and the stage. A new plain
  file goes in as one statement over a stream of its chunks, which DuckDB parses and writes on every core; the
  lines it leaves are read back by number (``LineIndex``). Gzip, a file already partly stored, an overlapping
  export or a file that repeats an id take one statement per chunk. Memory stays flat whatever the file size:
  chunks are bounded (plain files are mapped, not copied), DuckDB writes full row groups to disk as it goes,
  chunked files are committed every ``COMMIT_ROWS`` rows and DuckDB's buffer pool is capped at ``MEMORY_LIMIT``.

Re-ingesting adds nothing: a record's id is a hash of its dedupe key (provider + the log's own id, or its
content). A record that arrives again with fields the stored row lacks (an export with prompts after one with
usage only, a batch output file read again with its input) fills those fields in; a later line of the same file
does not: within one file the first line wins outright, however the file is cut into chunks and flushes. A new
file is one transaction, a file taken in chunks a few: a file that cannot be read adds nothing, or says how much
of it was stored.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Callable, Iterable

import pyarrow as pa

from ..errors import PlanError
from ..progress import say_nothing
from .records import RECORD_FIELDS, Reject, dedupe_key, excerpt, stable_id, to_utc
from .remote import RemoteObjects, RemoteSettings
from .sources import LineIndex, SourceFile, expand_paths, prefetch

BATCH_ROWS = 20_000  # Python-route records per Arrow batch
STAGE_ROWS = 250_000  # staged rows per flush into `requests`
CHUNK_BYTES = 64 << 20  # fast route: bytes of JSON Lines per chunk (each statement costs ~30 ms to plan)
PROBE_LINES = 2_000  # fast route: first lines parsed up front for the models to price and ids already stored
FEW_LINES = 200  # fast route: lines left over from a chunk that go to the Python parser without a second SQL pass
COMMIT_ROWS = 100_000  # a file taken in chunks or by Python is committed in steps (DuckDB holds small appends in memory)
MEMORY_LIMIT = 1 << 30  # DuckDB's buffer pool during ingest (its default is 80% of RAM); at 512 MB it frees and refaults memory

REQUEST_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("source_id", pa.string()),
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
        ("source_format", pa.string()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("created_at", pa.timestamp("us")),
        ("system_prompt", pa.string()),
        ("messages_json", pa.string()),
        ("prompt_text", pa.string()),
        ("response_text", pa.string()),
        ("input_tokens", pa.int64()),
        ("cached_input_tokens", pa.int64()),
        ("cache_write_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("reasoning_tokens", pa.int64()),
        ("cost_usd", pa.float64()),
        ("cost_source", pa.string()),
        ("is_batch", pa.bool_()),
        ("duration_ms", pa.float64()),
        ("status", pa.string()),
        ("user_id", pa.string()),
        ("tags_json", pa.string()),
        ("params_json", pa.string()),
    ]
)
COLUMNS = REQUEST_SCHEMA.names
STAGE_SCHEMA = pa.schema(list(REQUEST_SCHEMA) + [("_seq", pa.int64()), ("_supersedes", pa.int64())])
JSON_COLUMNS = ("messages_json", "tags_json", "params_json")
INT_COLUMNS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
FLOAT_COLUMNS = ("cost_usd", "duration_ms")
TEXT_COLUMNS = ("source_id", "provider", "model", "system_prompt", "prompt_text", "response_text", "status", "user_id", "cost_source")
# Filled in on a stored row when it lacks them and the same call arrives again with them.
ENRICH_COLUMNS = (
    "created_at", "system_prompt", "messages_json", "prompt_text", "response_text", "input_tokens",
    "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens", "duration_ms",
    "user_id", "tags_json", "params_json",
)
PRIVATE_KEYS = {"_dedupe_key", "_supersedes", "_line"}
# _seq orders rows so the first occurrence wins: file number * _FILE_SEQ + line * _LINE_SEQ + record within the line.
_FILE_SEQ = 1 << 40
_LINE_SEQ = 1 << 10
_NO_LINE = 1 << 29  # records without a line number come after every numbered line


@dataclass
class IngestContext:
    """State shared by all files of one `plan ingest` run (e.g. batch inputs awaiting their outputs).

    ``deferred`` holds ``(SourceFile, format name, record)`` written after every file was read (unmatched batch
    inputs); a parser that later consumes one sets its record to None or marks it ``record["_consumed"] = True``.
    ``warnings`` are sentences for the user (stderr), ``config`` the loaded plan.toml."""

    mapping: dict[str, str] = field(default_factory=dict)
    store: dict = field(default_factory=dict)
    deferred: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    config: dict = field(default_factory=dict)


@dataclass
class FileResult:
    path: str
    format: str
    rows_added: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0


# ---------------------------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------------------------


def sniff_scores(src: SourceFile, formats: dict) -> list[tuple[int, str]]:
    scores = []
    for fmt in formats.values():
        try:
            score = fmt.sniff(src)
        except Exception:  # a sniffer must never break detection of the others
            score = 0
        if score:
            scores.append((int(score), fmt.name))
    return sorted(scores, reverse=True)


def detect_format(src: SourceFile, formats: dict | None = None) -> str | None:
    """The best-scoring format for a file, or None when no format recognises it."""
    if formats is None:
        from .formats import load_all

        formats = load_all()
    scores = sniff_scores(src, formats)
    return scores[0][1] if scores else None


def _unknown_format_message(src: SourceFile, formats: dict) -> str:
    return (
        f"{src.display}: not a log format plan recognises. Pass --format NAME "
        f"(one of: {', '.join(sorted(formats))}), or --format generic --map prompt=COL,... for other CSV/JSONL."
    )


# ---------------------------------------------------------------------------------------------
# Coercion of parser output to column types
# ---------------------------------------------------------------------------------------------


def _as_int(value, name: str):
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a number of tokens, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ValueError(f"{name}: {value!r} is not a whole number of tokens")
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = int(text)
        except ValueError:
            try:
                as_float = float(text)
            except ValueError:
                raise ValueError(f"{name}: {value[:40]!r} is not a number") from None
            if not math.isfinite(as_float) or not as_float.is_integer():
                raise ValueError(f"{name}: {value[:40]!r} is not a whole number of tokens") from None
            number = int(as_float)
    else:
        raise ValueError(f"{name}: expected a number, got {type(value).__name__}")
    if number < 0:
        raise ValueError(f"{name}: {number} is negative")
    if number >= 1 << 62:
        raise ValueError(f"{name}: {number} is implausibly large")
    return number


def _as_float(value, name: str):
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if isinstance(value, str):
        text = value.strip().lstrip("$").replace(",", "")
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{name}: {value[:40]!r} is not a number") from None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number, got {type(value).__name__}") from None
    if not math.isfinite(number):
        return None
    return number


def _as_text(value):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _as_json(value, name: str):
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    except ValueError:
        raise ValueError(f"{name}: holds NaN or Infinity, which JSON cannot store") from None


def _as_timestamp(value):
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return to_utc(value)


def normalise_record(record: dict, src: SourceFile, fmt_name: str, seq: int = 0) -> dict:
    """A parser's record as a stage row: known fields only, coerced to column types, with its id."""
    unknown = set(record) - set(RECORD_FIELDS) - PRIVATE_KEYS - {"_consumed"}
    if unknown:
        raise ValueError(f"parser produced unknown fields {sorted(unknown)}")
    out = {k: record.get(k) for k in RECORD_FIELDS}
    for key in INT_COLUMNS:
        out[key] = _as_int(out[key], key)
    for key in FLOAT_COLUMNS:
        out[key] = _as_float(out[key], key)
    for key in TEXT_COLUMNS:
        out[key] = _as_text(out[key])
    for key in JSON_COLUMNS:
        out[key] = _as_json(out[key], key)
    out["created_at"] = _as_timestamp(out["created_at"])
    out["is_batch"] = bool(out["is_batch"]) if out["is_batch"] is not None else False
    line = record.get("_line")
    out["source_file"] = src.display
    out["source_line"] = int(line) if line is not None else None
    out["source_format"] = fmt_name
    out["id"] = stable_id(dedupe_key({**record, **out}))
    out["_seq"] = seq
    out["_supersedes"] = stable_id(record["_supersedes"]) if record.get("_supersedes") else None
    return out


def _scrub(value):
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def _records_table(rows: list[dict]) -> pa.Table:
    columns = {name: [r.get(name) for r in rows] for name in STAGE_SCHEMA.names}
    try:
        return pa.table(columns, schema=STAGE_SCHEMA)
    except (UnicodeEncodeError, pa.ArrowInvalid):  # lone surrogates from "\ud83d"-style escapes
        columns = {name: [_scrub(v) for v in values] for name, values in columns.items()}
        return pa.table(columns, schema=STAGE_SCHEMA)


# ---------------------------------------------------------------------------------------------
# The stage: where both routes land before pricing, dedupe and the append to `requests`
# ---------------------------------------------------------------------------------------------

_STAGE_DDL = """
create temp table if not exists _ingest_stage (
    id bigint, source_id varchar, source_file varchar, source_line bigint, source_format varchar,
    provider varchar, model varchar, created_at timestamp, system_prompt varchar, messages_json varchar,
    prompt_text varchar, response_text varchar, input_tokens bigint, cached_input_tokens bigint,
    cache_write_tokens bigint, output_tokens bigint, reasoning_tokens bigint, cost_usd double,
    cost_source varchar, is_batch boolean, duration_ms double, status varchar, user_id varchar,
    tags_json varchar, params_json varchar, _seq bigint, _supersedes bigint, _price double
)
"""
_TARIFF_DDL = """
create temp table if not exists _ingest_tariffs (
    provider varchar, model varchar, is_batch boolean, date_from date, date_to date, tier_lo bigint,
    tier_hi bigint, fixed double, per_input double, per_cached double, per_write double, per_output double
)
"""


def _json_norm(col: str) -> str:
    # Python's json.dumps and DuckDB's serialiser differ in spacing and escapes; store DuckDB's form for both routes.
    return f"coalesce(try(json({col}))::varchar, to_json({col})::varchar)"


class Stage:
    """Rows waiting to be priced, deduplicated and appended to `requests`."""

    def __init__(self, con, pricing, now: datetime):
        self.con = con
        self.pricing = pricing
        self.now = now
        self.rows = 0
        self.priced_keys: set[tuple] = set()
        self.exact_keys: set[tuple] = set()
        self.unknown_models: set[str] = set()
        con.execute(_STAGE_DDL)
        con.execute(_TARIFF_DDL)
        con.execute("delete from _ingest_stage")
        con.execute("delete from _ingest_tariffs")  # another run may have had other prices (plan.toml)

    def add_records(self, rows: list[dict]) -> None:
        if not rows:
            return
        table = _records_table(rows)
        cols = []
        for name in STAGE_SCHEMA.names:
            cols.append(_json_norm(name) if name in JSON_COLUMNS else name)
        self.con.register("_ingest_py", table)
        try:
            self.con.execute(
                f"insert into _ingest_stage ({', '.join(STAGE_SCHEMA.names)}) select {', '.join(cols)} from _ingest_py"
            )
        finally:
            self.con.unregister("_ingest_py")
        self.rows += len(rows)

    # -- pricing ------------------------------------------------------------------------------
    def _price(self) -> None:
        keys = self.con.execute(
            """
            select distinct coalesce(provider, ''), model, is_batch from _ingest_stage
            where cost_usd is null and model is not null and (input_tokens is not null or output_tokens is not null)
            """
        ).fetchall()
        self.learn(keys)
        if self.exact_keys:
            self._price_exact()

    def _price_exact(self) -> None:
        """Models whose price is not linear (time-of-day pricing): one calc_price per request."""
        keys = pa.table(
            {
                "provider": [k[0] for k in self.exact_keys],
                "model": [k[1] for k in self.exact_keys],
                "is_batch": [bool(k[2]) for k in self.exact_keys],
            }
        )
        self.con.register("_ingest_exact_keys", keys)
        try:
            todo = self.con.execute(
                """
                select s._seq, s.provider, s.model, s.input_tokens, s.output_tokens, s.cached_input_tokens,
                       s.cache_write_tokens, s.is_batch, s.created_at
                from _ingest_stage s join _ingest_exact_keys k
                  on k.provider = coalesce(s.provider, '') and k.model = s.model and k.is_batch = s.is_batch
                where s.cost_usd is null and s._price is null and (s.input_tokens is not null or s.output_tokens is not null)
                """
            ).fetchall()
        finally:
            self.con.unregister("_ingest_exact_keys")
        if not todo:
            return
        seqs, prices = [], []
        for seq, provider, model, inp, out, cached, write, is_batch, created in todo:
            seqs.append(seq)
            prices.append(self.pricing.price(provider, model, inp, out, cached, write, is_batch, created))
        self.con.register("_ingest_exact", pa.table({"seq": seqs, "price": pa.array(prices, pa.float64())}))
        try:
            self.con.execute("update _ingest_stage s set _price = e.price from _ingest_exact e where s._seq = e.seq")
        finally:
            self.con.unregister("_ingest_exact")

    # -- flush --------------------------------------------------------------------------------
    @staticmethod
    def priced_select(alias: str = "s") -> str:
        """Rows of ``{source}`` (stage-shaped) with ``cost_usd``/``cost_source`` from the log, an exact price or the
        tariffs; ``cost_source`` is NULL where the tariffs do not know the model yet. Parameters: now, now."""
        s = alias
        return f"""
            select {s}.* exclude (cost_usd, cost_source, _price),
                coalesce({s}.cost_usd, {s}._price,
                    t.fixed + t.per_input * coalesce({s}.input_tokens, 0) + t.per_cached * coalesce({s}.cached_input_tokens, 0)
                    + t.per_write * coalesce({s}.cache_write_tokens, 0) + t.per_output * coalesce({s}.output_tokens, 0)) as cost_usd,
                case when {s}.cost_usd is not null then 'log'
                     when {s}._price is not null or t.model is not null then 'catalog'
                     when ({s}.input_tokens is null and {s}.output_tokens is null) or {s}.model is null then 'unknown'
                end as cost_source
            from {{source}} {s}
            left join _ingest_tariffs t
              on {s}.cost_usd is null and {s}._price is null and t.provider = coalesce({s}.provider, '') and t.model = {s}.model
             and t.is_batch = {s}.is_batch
             and coalesce({s}.input_tokens, 0) > t.tier_lo and coalesce({s}.input_tokens, 0) <= t.tier_hi
             and coalesce({s}.created_at, ?::timestamp) >= t.date_from and coalesce({s}.created_at, ?::timestamp) < t.date_to
             and ({s}.input_tokens is not null or {s}.output_tokens is not null)
        """

    def learn(self, keys: list[tuple]) -> None:
        """Load the tariffs of these (provider, model, is_batch) keys, so that SQL prices their rows."""
        new = [k for k in keys if k not in self.priced_keys]
        if not new:
            return
        rows, exact = self.pricing.tariff_rows(new)
        self.priced_keys.update(new)
        self.exact_keys.update(exact)
        if rows:
            self.con.executemany("insert into _ingest_tariffs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        covered = {(r[0], r[1], r[2]) for r in rows} | exact
        self.unknown_models.update(k[1] for k in new if k not in covered)

    def price_stored(self, source_file: str, first_line: int, last_line: int) -> None:
        """Price rows the fast route stored before their model's tariffs were known."""
        where = "r.source_file = ? and r.source_line between ? and ? and r.cost_source is null"
        args = [source_file, first_line, last_line]
        keys = self.con.execute(
            f"select distinct coalesce(r.provider, ''), r.model, r.is_batch from requests r where {where}", args
        ).fetchall()
        self.learn(keys)
        self.con.execute(
            f"""
            update requests r set cost_source = 'catalog',
                cost_usd = t.fixed + t.per_input * coalesce(r.input_tokens, 0) + t.per_cached * coalesce(r.cached_input_tokens, 0)
                    + t.per_write * coalesce(r.cache_write_tokens, 0) + t.per_output * coalesce(r.output_tokens, 0)
            from _ingest_tariffs t
            where {where} and t.provider = coalesce(r.provider, '') and t.model = r.model and t.is_batch = r.is_batch
              and coalesce(r.input_tokens, 0) > t.tier_lo and coalesce(r.input_tokens, 0) <= t.tier_hi
              and coalesce(r.created_at, ?::timestamp) >= t.date_from and coalesce(r.created_at, ?::timestamp) < t.date_to
            """,
            args + [self.now, self.now],
        )
        exact_rows = self.con.execute(
            f"""select r.id, r.provider, r.model, r.input_tokens, r.output_tokens, r.cached_input_tokens,
                       r.cache_write_tokens, r.is_batch, r.created_at from requests r where {where}""",
            args,
        ).fetchall()
        ids, prices = [], []
        for rid, provider, model, inp, out, cached, write, is_batch, created in exact_rows:
            if (provider or "", model, is_batch) in self.exact_keys:
                price = self.pricing.price(provider, model, inp, out, cached, write, is_batch, created)
                if price is not None:
                    ids.append(rid)
                    prices.append(price)
        if ids:
            self.con.register("_ingest_exact", pa.table({"id": pa.array(ids, pa.int64()), "price": pa.array(prices, pa.float64())}))
            try:
                self.con.execute("update requests r set cost_usd = e.price, cost_source = 'catalog' from _ingest_exact e where r.id = e.id")
            finally:
                self.con.unregister("_ingest_exact")
        self.con.execute(f"update requests r set cost_source = 'unknown' where {where}", args)

    def flush(self, results: dict[str, FileResult]) -> None:
        if not self.rows:
            return
        con = self.con
        self._price()
        priced = self.priced_select("s").replace("{source}", "_ingest_stage") + (
            " qualify row_number() over (partition by s.id order by s._seq) = 1"
        )
        priced = f"select * replace (coalesce(cost_source, 'unknown') as cost_source) from ({priced})"
        now = [self.now, self.now]
        # Within one file the first line wins, also over a later line the fast route stored first.
        earlier = con.execute(
            """
            select r.source_file, count(*) from requests r
            join (select id, source_file, min(source_line) as line from _ingest_stage group by 1, 2) s
              on r.id = s.id and r.source_file = s.source_file and r.source_line > s.line
            group by 1
            """
        ).fetchall()
        if earlier:
            con.execute(
                """
                delete from requests where id in (
                    select r.id from requests r
                    join (select id, source_file, min(source_line) as line from _ingest_stage group by 1, 2) s
                      on r.id = s.id and r.source_file = s.source_file and r.source_line > s.line)
                """
            )
        con.execute("create or replace temp table _ingest_dups as select distinct id from _ingest_stage semi join requests using (id)")
        has_dups = con.execute("select count(*) from _ingest_dups").fetchall()[0][0] > 0
        counts = con.execute(
            """
            select s.source_file, count(*) as seen,
                   count(*) filter (where s.first and d.id is null) as added
            from (select source_file, id, row_number() over (partition by id order by _seq) = 1 as first from _ingest_stage) s
            left join _ingest_dups d using (id)
            group by 1
            """
        ).fetchall()
        replaced = con.execute(
            """
            select s.source_file, count(distinct s._supersedes) from _ingest_stage s
            join requests r on r.id = s._supersedes
            where s.id not in (select id from _ingest_dups)
            group by 1
            """
        ).fetchall()
        if has_dups:
            sets = ", ".join(f"{c} = coalesce(r.{c}, p.{c})" for c in ENRICH_COLUMNS)
            wanted = " or ".join(f"(r.{c} is null and p.{c} is not null)" for c in ENRICH_COLUMNS + ("cost_usd",))
            con.execute(
                f"""
                update requests r set {sets},
                    cost_source = case when r.cost_usd is null and p.cost_usd is not null then p.cost_source else r.cost_source end,
                    cost_usd = coalesce(r.cost_usd, p.cost_usd)
                from ({priced}) p
                where r.id = p.id and ({wanted})
                  and (r.source_file is distinct from p.source_file or r.source_line is not distinct from p.source_line)
                """,
                now,
            )
        cols = ", ".join(COLUMNS)
        con.execute(
            f"insert into requests ({cols}) select {cols} from ({priced}) p where p.id not in (select id from _ingest_dups)",
            now,
        )
        if replaced:
            con.execute(
                """
                delete from requests where id in (
                    select _supersedes from _ingest_stage where _supersedes is not null
                    and _supersedes not in (select id from _ingest_stage))
                """
            )
        replaced_by = dict(replaced)
        earlier_by = dict(earlier)
        for source_file, seen, added in counts:
            result = results[source_file]
            net = added - replaced_by.get(source_file, 0)
            result.rows_added += net - earlier_by.get(source_file, 0)
            result.rows_duplicate += seen - net + earlier_by.get(source_file, 0)
        con.execute("delete from _ingest_stage")
        con.execute("drop table if exists _ingest_dups")
        self.rows = 0


# ---------------------------------------------------------------------------------------------
# Rejects
# ---------------------------------------------------------------------------------------------


class Rejects:
    def __init__(self, con):
        self.con = con
        self.buffer: list[tuple] = []

    def add(self, src: SourceFile, fmt_name: str, reject: Reject, result: FileResult) -> None:
        line = int(reject.line) if reject.line is not None else None
        rid = stable_id("reject", src.identity, line, reject.reason)
        self.buffer.append((rid, src.display, line, fmt_name, str(reject.reason), excerpt(reject.excerpt)))
        result.rows_rejected += 1
        if len(self.buffer) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        ids, files, lines, fmts, reasons, excerpts = zip(*self.buffer, strict=True)
        self.buffer = []
        table = pa.table(
            {
                "id": pa.array(ids, pa.int64()),
                "source_file": pa.array(files, pa.string()),
                "source_line": pa.array(lines, pa.int64()),
                "source_format": pa.array(fmts, pa.string()),
                "reason": pa.array([_scrub(r) for r in reasons], pa.string()),
                "excerpt": pa.array([_scrub(e) for e in excerpts], pa.string()),
            }
        )
        self.con.register("_ingest_rejects", table)
        try:
            self.con.execute(
                """
                insert into rejects (id, source_file, source_line, source_format, reason, excerpt)
                select * from _ingest_rejects b where b.id not in (select id from rejects)
                qualify row_number() over (partition by b.id) = 1
                """
            )
        finally:
            self.con.unregister("_ingest_rejects")


# ---------------------------------------------------------------------------------------------
# Reading one file
# ---------------------------------------------------------------------------------------------


class _Digest:
    """sha256 of the bytes on disk, computed while the file is read once; recomputed if it was not."""

    def __init__(self, src: SourceFile):
        self.src = src
        self.reset()

    def update(self, data) -> None:
        self.hash.update(data)
        self.count += len(data)

    def reset(self) -> None:
        self.hash = hashlib.sha256()
        self.count = 0

    def hexdigest(self) -> str:
        if self.count == self.src.size_bytes:
            return self.hash.hexdigest()
        full = hashlib.sha256()
        with open(self.src.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                full.update(block)
        return full.hexdigest()


class _Reader:
    """Turns one file's parser output into stage rows and rejects."""

    def __init__(self, con, stage: Stage, rejects: Rejects, results: dict, ctx: IngestContext):
        self.con = con
        self.stage = stage
        self.rejects = rejects
        self.results = results
        self.ctx = ctx
        self.now = stage.now
        self.buffer: list[dict] = []
        self._last_line = None
        self._sub = 0
        self._unnumbered = 0
        self.committed: dict[str, int] = {}  # file -> rows already committed while it was being read
        self.on_reread: Callable[[], object] | None = None  # called when a file is read a second time from the start
        self._rows_at_commit = 0

    def _seq(self, line, seq_base: int) -> int:
        if line is None:
            self._unnumbered += 1
            return seq_base + (_NO_LINE + self._unnumbered) * _LINE_SEQ
        if line == self._last_line:
            self._sub += 1
        else:
            self._last_line, self._sub = line, 0
        return seq_base + int(line) * _LINE_SEQ + min(self._sub, _LINE_SEQ - 1)

    def take(self, item, src: SourceFile, fmt_name: str, seq_base: int) -> None:
        result = self.results[src.display]
        if item is None:
            return
        if isinstance(item, Reject):
            self.rejects.add(src, fmt_name, item, result)
            return
        if not isinstance(item, dict):
            for sub in item:
                self.take(sub, src, fmt_name, seq_base)
            return
        try:
            row = normalise_record(item, src, fmt_name, self._seq(item.get("_line"), seq_base))
        except (ValueError, TypeError, OverflowError) as exc:
            self.rejects.add(src, fmt_name, Reject(item.get("_line"), str(exc), _record_excerpt(item)), result)
            return
        self.buffer.append(row)
        if len(self.buffer) >= BATCH_ROWS:
            self.spill(src)

    def spill(self, src: SourceFile | None = None) -> None:
        self.stage.add_records(self.buffer)
        self.buffer = []
        if self.stage.rows >= STAGE_ROWS:
            self.finish()
            if src is not None:
                self.maybe_commit(src)

    def finish(self) -> None:
        if self.buffer:
            self.stage.add_records(self.buffer)
            self.buffer = []
        self.stage.flush(self.results)
        self.rejects.flush()

    def maybe_commit(self, src: SourceFile) -> None:
        """Commit a big file in steps: DuckDB keeps an open transaction's rows in memory."""
        result = self.results[src.display]
        if result.rows_added + result.rows_duplicate - self._rows_at_commit < COMMIT_ROWS:
            return
        self.finish()
        self.con.execute("commit")
        self.con.execute("begin transaction")
        self._rows_at_commit = result.rows_added + result.rows_duplicate
        self.committed[src.display] = result.rows_added

    def start_file(self) -> None:
        self._rows_at_commit = 0

    def _lines_left(self, src: SourceFile, lines: int, window: int = 1 << 20):
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
        for item in parser.parse(src, self.ctx):
            self.take(item, src, fmt_name, seq_base)

    def fast_route(self, parser, src: SourceFile, fmt_name: str, seq_base: int) -> None:
        """JSON Lines: lines the format's SQL understands go straight into `requests`, priced on the way;
        the rest (duplicates, other shapes, malformed lines) go through the stage like any record.

        A new plain file is one statement (``whole_file``). Otherwise, chunk by chunk: a chunk is first appended in
        one statement that leaves out every line whose id is already stored or came earlier in the chunk (no table
        of the chunk's rows in between). The lines it did not store (few, in a new file) then take the careful way:
        extracted into a temporary table, duplicates sent to the stage, lines SQL does not understand to the
        Python parser. When most of a chunk is left over (a file ingested again), the following chunks take the
        careful way directly rather than being extracted twice."""
        import duckdb
        import numpy as np

        select = parser.fast_select(src)
        cols = ", ".join(COLUMNS)
        source = (
            "(select f.*, ?::varchar as source_file, ?::varchar as source_format, null::varchar as cost_source,"
            f" null::double as _price from ({select}) f)"
        )
        priced = self.stage.priced_select("f").replace("{source}", source)
        direct = f"""
            insert into requests ({cols})
            with e as materialized ({priced})
            select {cols} from e
            semi join (select id, min(source_line) as line from e group by id) first on e.id = first.id and e.source_line = first.line
            where e.id not in (select id from requests)
            returning source_line, cost_source is null as unpriced
        """
        whole = f"insert into requests ({cols}) select {cols} from ({priced}) f where f.id not in (select id from requests)"
        extract = f"create or replace temp table _ingest_fast as {priced}"
        insert = f"""
            insert into requests ({cols}) select {cols} from {{fast}} f
            where f.id not in (select id from requests)
            returning source_line, cost_source is null as unpriced
        """
        first_only = "(select * from _ingest_fast qualify row_number() over (partition by id order by source_line) = 1)"
        result = self.results[src.display]
        params = [src.display, fmt_name, self.now, self.now]
        use_direct = True

        def run(statement: str, fetch: bool | str = False, args: list | None = None, stream: bool = False):
            # Pushed below the projection, the shape checks would parse every line a second time; and keeping
            # insertion order would make DuckDB read the Arrow batches on one thread. A stream's length is unknown
            # to DuckDB, which then takes it for the small side of the tariffs join and holds all of it in a hash
            # table: join order is left as written for streams.
            disabled = "filter_pushdown,join_order,build_side_probe_side" if stream else "filter_pushdown"
            self.con.execute(f"set disabled_optimizers = '{disabled}'")
            self.con.execute("set preserve_insertion_order = false")
            try:
                cursor = self.con.execute(statement, params if args is None else args)
                if fetch == "rows":
                    return cursor.fetchall()
                return cursor.fetchnumpy() if fetch else None
            except duckdb.Error:
                # A failed statement aborts the transaction: undo it now, so that the settings can be reset and the
                # caller decide (a repeated id in a whole-file statement means reading the file in chunks).
                self.con.execute("rollback")
                self.con.execute("begin transaction")
                raise
            finally:
                self.con.execute("reset disabled_optimizers")
                self.con.execute("reset preserve_insertion_order")

        def stored(inserted) -> np.ndarray:
            done = inserted["source_line"]
            result.rows_added += len(done)
            if len(done) and bool(np.any(inserted["unpriced"])):
                self.stage.price_stored(src.display, int(done.min()), int(done.max()))
            return done

        def to_python(rows) -> None:
            for number, text in zip(rows.column(0).to_pylist(), rows.column(1).to_pylist(), strict=True):
                line = text.rstrip("\r\n")
                if line.strip():
                    self.take(parser.parse_line(number, line, self.ctx, src), src, fmt_name, seq_base)

        def careful(lines) -> bool:
            """Lines that may repeat stored ids or each other; True when most of them were new."""
            numbers = lines.column(0).to_numpy()
            self.con.register("_lines", lines)
            try:
                run(extract)
            finally:
                self.con.unregister("_lines")
            # Probing the stored ids with the chunk's (not the other way round) keeps this cheap as the table grows.
            repeated, already = self.con.execute(
                """select (select count(*) - count(distinct id) from _ingest_fast),
                          (select count(*) from _ingest_fast semi join requests using (id))"""
            ).fetchall()[0]
            statement = insert.replace("{fast}", first_only if repeated else "_ingest_fast")
            if not already:
                statement = statement.replace("where f.id not in (select id from requests)", "")
            done = stored(self.con.execute(statement).fetchnumpy())
            handled = self.con.execute("select source_line from _ingest_fast").fetchnumpy()["source_line"]
            if len(handled) > len(done):
                # Understood but not inserted: duplicates. The stage counts them and fills in what stored rows lack.
                self.con.register("_ingest_done", pa.table({"line": pa.array(done, pa.int64())}))
                try:
                    moved = self.con.execute(
                        f"""
                        insert into _ingest_stage by name
                        select * exclude (cost_usd, cost_source), null::double as cost_usd,
                               source_line * {_LINE_SEQ} + ? as _seq
                        from _ingest_fast where source_line not in (select line from _ingest_done)
                        """,
                        [seq_base],
                    ).fetchall()
                finally:
                    self.con.unregister("_ingest_done")
                self.stage.rows += moved[0][0] if moved else 0
            rest = np.setdiff1d(numbers, handled, assume_unique=True)
            if len(rest):
                to_python(lines.take(pa.array(np.searchsorted(numbers, rest))))
            return len(done) * 2 >= len(handled) and len(handled) * 2 >= len(numbers)

        def settle() -> None:
            if self.buffer:
                self.stage.add_records(self.buffer)
                self.buffer = []
            if self.stage.rows >= STAGE_ROWS:
                self.finish()
            self.maybe_commit(src)

        def whole_file() -> bool:
            """The whole file in one statement that DuckDB runs on every core, reading the lines from a stream
            of chunks. False, with nothing stored, when it does not apply (compressed file, rows of this path
            already stored, a first chunk mostly stored already) or the file repeats an id (a primary-key
            violation undoes the statement); the chunked route below then reads the file."""
            if src.is_gzip or self.con.execute("select count(*) from requests where source_file = ?", [src.display]).fetchall()[0][0]:
                return False
            index = LineIndex(src.path)
            chunks = prefetch(src.line_chunks(CHUNK_BYTES, index=index))
            failure: list[BaseException] = []
            try:
                first = next(chunks, None)
                if first is None:
                    return True
                # The first lines tell which models to price in the statement (others are priced after it) and
                # whether this is an export that overlaps what is stored (the chunked route handles that well).
                self.con.register("_lines", first.slice(0, PROBE_LINES))
                try:
                    probe = run(
                        f"""select provider, model, is_batch, count(*) filter (where id in (select id from requests)) as stored,
                                   count(*) as seen,
                                   count(*) filter (where input_tokens is not null or output_tokens is not null) as with_usage
                            from ({select}) group by all""",
                        fetch="rows", args=[],
                    )
                finally:
                    self.con.unregister("_lines")
                if sum(r[3] for r in probe) * 2 > sum(r[4] for r in probe):
                    return False
                # As the stage does: only models with token counts are priced (or reported as unknown).
                self.stage.learn([(p or "", m, bool(b)) for p, m, b, _, _, usage in probe if m is not None and usage])
                self.finish()
                self.con.execute("commit")
                self.con.execute("begin transaction")

                def batches():
                    try:
                        yield from first.to_batches()
                        for chunk in chunks:
                            yield from chunk.to_batches()
                    except BaseException as exc:  # DuckDB reports it as its own error; the caller needs the original
                        failure.append(exc)
                        raise

                self.con.register("_lines", pa.RecordBatchReader.from_batches(first.schema, batches()))
                try:
                    run(whole, stream=True)
                except duckdb.Error as exc:
                    if failure:
                        raise failure[0] from None
                    if isinstance(exc, duckdb.ConstraintException):
                        return False
                    raise
                finally:
                    self.con.unregister("_lines")
                added, unpriced, low, high = self.con.execute(
                    """select count(*), count(*) filter (where cost_source is null), min(source_line), max(source_line)
                       from requests where source_file = ?""",
                    [src.display],
                ).fetchall()[0]
                result.rows_added += added
                if unpriced:
                    self.stage.price_stored(src.display, low, high)
                for lines in index.read(self._lines_left(src, index.lines)):
                    if lines.num_rows <= FEW_LINES:
                        to_python(lines)
                    else:
                        careful(lines)
                    settle()
                return True
            finally:
                chunks.close()
                index.close()

        if whole_file():
            self.con.execute("drop table if exists _ingest_fast")
            return
        if self.on_reread is not None:
            self.on_reread()
        for chunk in prefetch(src.line_chunks(CHUNK_BYTES)):
            lines = chunk
            if use_direct:
                self.con.register("_lines", chunk)
                try:
                    done = stored(run(direct, fetch=True))
                finally:
                    self.con.unregister("_lines")
                numbers = chunk.column(0).to_numpy()
                left = np.setdiff1d(numbers, done, assume_unique=True)
                use_direct = len(left) * 2 < len(numbers)
                lines = chunk.take(pa.array(np.searchsorted(numbers, left))) if len(left) < len(numbers) else chunk
                if len(left) <= FEW_LINES:
                    # Planning the SQL costs more than parsing a few lines in Python, which stores the same rows.
                    to_python(lines)
                    lines = lines.slice(0, 0)
            if lines.num_rows:
                use_direct = careful(lines) or use_direct
            settle()
        self.con.execute("drop table if exists _ingest_fast")


def _record_excerpt(item: dict) -> str:
    shown = {k: v for k, v in item.items() if not k.startswith("_")}
    return json.dumps(shown, ensure_ascii=False, default=str)[:200]


def _use_fast_route(parser, src: SourceFile, fast: bool) -> bool:
    if not fast or not hasattr(parser, "fast_select") or not hasattr(parser, "parse_line"):
        return False
    from .records import is_json_lines

    return is_json_lines(src)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def ingest_paths(
    con,
    paths: Iterable[str],
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    stdin=None,
    progress: Callable[[SourceFile], object] | None = None,
    config: dict | None = None,
    fast: bool = True,
    warn: Callable[[str], object] | None = None,
    since=None,
) -> dict:
    """Ingest files, directories, globs, '-' (stdin) or s3://, gs://, az:// URLs. Returns the `plan ingest --json`
    summary.

    ``progress(src)`` may return a bar with ``update(n_bytes)``/``close()``; ``config`` is the loaded plan.toml
    (for ``[prices]``); ``fast=False`` forces the Python route everywhere (used to test both agree);
    ``warn`` receives sentences about skipped files and unmatched batch lines; ``since`` (a datetime, date or age
    such as "7d") leaves out files and objects last modified before it."""
    from ..db import record_stage_run
    from ..pricing import Pricing
    from .formats import load_all

    formats = load_all()
    if fmt is not None and fmt not in formats:
        raise PlanError(f"Unknown format {fmt!r}. Known formats: {', '.join(sorted(formats))}.")
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    objects = RemoteObjects(con, RemoteSettings.resolve(config, since=since), fmt=fmt, say=warn or say_nothing)
    previous_limit = None
    sources: list[SourceFile] = []
    try:
        sources = objects.since_filter(expand_paths(list(paths), stdin=stdin, expand_url=objects.expand))
        if not sources and (objects.listings or objects.local_before_since):
            return _nothing_new(con, paths, fmt, mapping, objects, started, record_stage_run)
        previous_limit = _cap_memory(con)
        summary = _ingest_sources(con, sources, formats, fmt, mapping, progress, config, fast, warn, started, record_stage_run, Pricing)
        return {**summary, **objects.summary()}
    finally:
        objects.close()
        if previous_limit is not None:
            con.execute(f"set memory_limit = '{previous_limit}'")
        for src in sources:
            if src.temporary:
                try:
                    os.unlink(src.path)
                except OSError:
                    pass


def _nothing_new(con, paths, fmt, mapping, objects: RemoteObjects, started, record_stage_run) -> dict:
    """Every object was read before (or is older than --since): a run that adds nothing, and says so."""
    summary = {"rows_added": 0, "rows_duplicate": 0, "rows_rejected": 0, "files": [], "unknown_models": [], **objects.summary()}
    params = {"paths": list(paths), "format": fmt, "map": mapping or {}}
    record_stage_run(con, "ingest", params, {**summary, "files": 0}, started_at=started)
    return summary


def _ingest_sources(con, sources, formats, fmt, mapping, progress, config, fast, warn, started, record_stage_run, Pricing):
    if not sources:
        raise PlanError("No files to ingest: the paths given hold no files.")
    ctx = IngestContext(mapping=dict(mapping or {}), config=dict(config or {}))
    pricing = Pricing(ctx.config, now=started)

    planned: list[tuple[SourceFile, str | None]] = []
    skipped: list[SourceFile] = []
    for src in sources:
        try:
            if src.size_bytes == 0 or not src.head().strip():
                planned.append((src, None))
                continue
            name = fmt or detect_format(src, formats)
        except OSError as exc:
            raise PlanError(f"{src.display}: cannot read ({exc.strerror or exc}).") from None
        except EOFError:
            raise PlanError(f"{src.display}: cannot read (the gzip file is truncated).") from None
        if name is None:
            if src.explicit:
                raise PlanError(_unknown_format_message(src, formats))
            skipped.append(src)
            continue
        planned.append((src, name))
    if not any(name for _, name in planned) and skipped:
        raise PlanError(_unknown_format_message(skipped[0], formats) if len(skipped) == 1 else (
            f"None of the {len(skipped)} files found is a log format plan recognises "
            f"(e.g. {skipped[0].display}). Pass --format NAME, or --format generic --map ... for other CSV/JSONL."
        ))
    for src in skipped:
        ctx.warnings.append(f"{src.display}: skipped, not a log format plan recognises.")
    planned.sort(key=lambda item: formats[item[1]].order if item[1] else 0)

    results: dict[str, FileResult] = {}
    for src, name in planned:
        results[src.display] = FileResult(path=src.display, format=name or "empty")
    for src in skipped:
        results[src.display] = FileResult(path=src.display, format="unknown")

    stage = Stage(con, pricing, started)
    rejects = Rejects(con)
    reader = _Reader(con, stage, rejects, results, ctx)
    digests: dict[str, str] = {}
    seq_bases = {src.display: number * _FILE_SEQ for number, (src, _) in enumerate(planned, start=1)}
    for src, name in planned:
        if name is None:
            continue
        parser = formats[name]
        seq_base = seq_bases[src.display]
        digest = _Digest(src)
        bar = progress(src) if progress else None

        def on_read(n, _bar=bar):
            if _bar is not None:
                _bar.update(n)

        def reread(_bar=bar, _digest=digest):
            _digest.reset()
            if _bar is not None and hasattr(_bar, "reset"):
                _bar.reset()

        src.on_read = on_read
        _set_digest(src, digest)
        reader.on_reread = reread
        con.execute("begin transaction")
        reader.start_file()
        try:
            if _use_fast_route(parser, src, fast):
                reader.fast_route(parser, src, name, seq_base)
            else:
                reader.python_route(parser, src, name, seq_base)
            reader.finish()
            con.execute("commit")
        except PlanError:
            con.execute("rollback")
            raise
        except (OSError, EOFError) as exc:
            con.execute("rollback")
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            stored = reader.committed.get(src.display)
            if stored is None:
                raise PlanError(f"{src.display}: cannot read ({reason}); nothing from this file was stored.") from None
            raise PlanError(
                f"{src.display}: cannot read ({reason}) after {stored:,} of its requests were stored; fix or "
                "re-download it and ingest it again (requests already stored are not added twice)."
            ) from None
        except BaseException:
            con.execute("rollback")
            raise
        finally:
            src.on_read = None
            _set_digest(src, None)
            if bar is not None:
                bar.close()
        digests[src.display] = digest.hexdigest()
        if src.truncated:
            ctx.warnings.append(
                f"{src.display}: the gzip file is cut short; every complete record before the cut was read, "
                "and the cut-off last record is rejected. Re-download it to get the rest."
            )

    pending = [(s, n, r) for s, n, r in ctx.deferred if r is not None and not r.get("_consumed")]
    if pending:
        con.execute("begin transaction")
        try:
            for src, name, record in pending:
                reader.take(record, src, name, seq_bases.get(src.display, 0))
            reader.finish()
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise

    for src, name in planned:
        r = results[src.display]
        con.execute(
            "insert into ingested_files (path, sha256, size_bytes, source_format, rows_added, rows_duplicate, rows_rejected,"
            " object_version) values (?, ?, ?, ?, ?, ?, ?, ?)",
            [src.display, digests.get(src.display), src.size_bytes, name or "empty", r.rows_added, r.rows_duplicate,
             r.rows_rejected, src.version],
        )

    ordered = [results[src.display] for src in sources if src.display in results]
    summary = {
        "rows_added": sum(r.rows_added for r in ordered),
        "rows_duplicate": sum(r.rows_duplicate for r in ordered),
        "rows_rejected": sum(r.rows_rejected for r in ordered),
        "files": [
            {"path": r.path, "format": r.format, "rows_added": r.rows_added, "rows_rejected": r.rows_rejected}
            for r in ordered
        ],
        "unknown_models": sorted(m for m in stage.unknown_models if m),
    }
    record_stage_run(
        con,
        "ingest",
        {"paths": [s.display for s in sources], "format": fmt, "map": mapping or {}},
        {**summary, "files": len(summary["files"]), "rows_duplicate_by_file": {r.path: r.rows_duplicate for r in ordered}},
        started_at=started,
    )
    if warn is not None:
        for sentence in ctx.warnings:
            warn(sentence)
    return summary


_UNITS = {"b": 1, "bytes": 1, "kb": 1e3, "kib": 1 << 10, "mb": 1e6, "mib": 1 << 20, "gb": 1e9, "gib": 1 << 30, "tb": 1e12, "tib": 1 << 40}


def _cap_memory(con) -> str | None:
    """Lower DuckDB's buffer pool to MEMORY_LIMIT for the run; returns the setting to restore, if changed."""
    current = con.execute("select current_setting('memory_limit')").fetchall()[0][0]
    number, _, unit = str(current).strip().partition(" ")
    try:
        size = float(number) * _UNITS.get(unit.strip().lower() or "b", 1)
    except ValueError:
        return None
    if size <= MEMORY_LIMIT:
        return None
    con.execute(f"set memory_limit = '{MEMORY_LIMIT >> 20}MB'")
    return current


def _set_digest(src: SourceFile, digest: _Digest | None) -> None:
    src.digest = digest  # fed by SourceFile's counting reader
