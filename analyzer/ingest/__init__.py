"""Stage 1: read exported provider logs into the `requests` table.

Entry point: ``ingest_paths(con, paths, ...)``. Formats are detected per file
(``analyzer.ingest.formats``); records are priced (``analyzer.pricing``),
deduplicated on a stable id, and written in Arrow batches. Bad records go to
`rejects` with file, line and reason; the good ones still land.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable, Iterable

import pyarrow as pa

from ..errors import PlanError
from .records import RECORD_FIELDS, Reject, dedupe_key, excerpt, stable_id
from .sources import SourceFile, expand_paths

BATCH_ROWS = 20_000

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


@dataclass
class IngestContext:
    """State shared by all files of one `plan ingest` run (e.g. batch inputs awaiting their outputs)."""

    mapping: dict[str, str] = field(default_factory=dict)
    store: dict = field(default_factory=dict)
    # (SourceFile, format name, record) emitted after every file was read: unmatched batch inputs etc.
    deferred: list = field(default_factory=list)


@dataclass
class FileResult:
    path: str
    format: str
    rows_added: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0


def detect_format(src: SourceFile) -> str:
    from .formats import load_all

    formats = load_all()
    best, best_score = None, 0
    for fmt in formats.values():
        try:
            score = fmt.sniff(src)
        except Exception:  # a sniffer must never break detection of the others
            score = 0
        if score > best_score:
            best, best_score = fmt.name, score
    if best is None:
        raise PlanError(
            f"{src.display}: unknown log format. Pass --format NAME "
            f"(one of: {', '.join(sorted(formats))}), or --format generic with --map for other CSV/JSONL."
        )
    return best


class _Writer:
    """Buffers records and writes them to `requests` in Arrow batches, skipping ids already stored."""

    def __init__(self, con, unknown_models: set):
        self.con = con
        self.unknown_models = unknown_models
        self.buffer: list[dict] = []

    def add(self, record: dict, result: FileResult):
        self.buffer.append(record)
        record["_result"] = result
        if len(self.buffer) >= BATCH_ROWS:
            self.flush()

    def flush(self):
        if not self.buffer:
            return
        from ..pricing import fill_costs

        batch, self.buffer = self.buffer, []
        self.unknown_models.update(fill_costs(batch))
        columns = {name: [r.get(name) for r in batch] for name in COLUMNS}
        table = pa.table(columns, schema=REQUEST_SCHEMA)
        self.con.register("_ingest_batch", table)
        try:
            existing = {
                row[0]
                for row in self.con.execute("select b.id from _ingest_batch b semi join requests r on r.id = b.id").fetchall()
            }
            col_list = ", ".join(COLUMNS)
            self.con.execute(
                f"""
                insert into requests ({col_list})
                select {col_list} from _ingest_batch b
                where not exists (select 1 from requests r where r.id = b.id)
                qualify row_number() over (partition by b.id order by b.source_line) = 1
                """
            )
        finally:
            self.con.unregister("_ingest_batch")
        seen = set(existing)
        for r in batch:
            res = r.pop("_result")
            if r["id"] in seen:
                res.rows_duplicate += 1
            else:
                seen.add(r["id"])
                res.rows_added += 1


def _normalise(record: dict, src: SourceFile, fmt_name: str) -> dict:
    line = record.pop("_line", None)
    unknown = set(record) - set(RECORD_FIELDS) - {"_dedupe_key"}
    if unknown:
        raise ValueError(f"parser produced unknown fields {sorted(unknown)}")
    out = {k: record.get(k) for k in RECORD_FIELDS}
    out["source_file"] = src.display
    out["source_line"] = line
    out["source_format"] = fmt_name
    for key in ("tags_json", "params_json", "messages_json"):
        if out[key] is not None and not isinstance(out[key], str):
            out[key] = json.dumps(out[key], ensure_ascii=False, default=str)
    out["id"] = stable_id(dedupe_key({**record, **out}))
    return out


def _store_reject(con, src: SourceFile, fmt_name: str, reject: Reject) -> bool:
    rid = stable_id("reject", src.display, reject.line, reject.reason)
    exists = con.execute("select 1 from rejects where id = ?", [rid]).fetchall()
    if exists:
        return False
    con.execute(
        "insert into rejects (id, source_file, source_line, source_format, reason, excerpt) values (?, ?, ?, ?, ?, ?)",
        [rid, src.display, reject.line, fmt_name, reject.reason, excerpt(reject.excerpt)],
    )
    return True


def _file_sha256(src: SourceFile) -> str:
    h = hashlib.sha256()
    with open(src.path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ingest_paths(
    con,
    paths: Iterable[str],
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    stdin=None,
    progress: Callable[[SourceFile], object] | None = None,
) -> dict:
    """Ingest files, directories, globs or '-' (stdin). Returns the `plan ingest --json` summary."""
    from .formats import load_all

    formats = load_all()
    if fmt is not None and fmt not in formats:
        raise PlanError(f"Unknown format {fmt!r}. Known formats: {', '.join(sorted(formats))}.")
    sources = expand_paths(list(paths), stdin=stdin)
    if not sources:
        raise PlanError("No files to ingest.")

    ctx = IngestContext(mapping=dict(mapping or {}))
    planned = []
    for src in sources:
        if src.size_bytes == 0:
            planned.append((src, None))
            continue
        planned.append((src, fmt or detect_format(src)))
    planned.sort(key=lambda item: formats[item[1]].order if item[1] else 0)

    unknown_models: set = set()
    writer = _Writer(con, unknown_models)
    results: list[FileResult] = []
    by_display: dict[str, FileResult] = {}
    for src, fmt_name in planned:
        result = FileResult(path=src.display, format=fmt_name or "empty")
        results.append(result)
        by_display[src.display] = result
        if fmt_name is None:
            continue
        parser = formats[fmt_name]
        tracker = progress(src) if progress else None
        try:
            for item in parser.parse(src, ctx):
                if tracker is not None:
                    tracker.update(1)
                if isinstance(item, Reject):
                    if _store_reject(con, src, fmt_name, item):
                        result.rows_rejected += 1
                    continue
                try:
                    record = _normalise(item, src, fmt_name)
                except (ValueError, TypeError) as exc:
                    if _store_reject(con, src, fmt_name, Reject(item.get("_line"), str(exc), str(item)[:200])):
                        result.rows_rejected += 1
                    continue
                writer.add(record, result)
        except UnicodeDecodeError as exc:
            raise PlanError(f"{src.display}: not readable as UTF-8 text ({exc.reason}).") from None
        except OSError as exc:
            raise PlanError(f"{src.display}: cannot read ({exc.strerror or exc}).") from None
        finally:
            if tracker is not None:
                tracker.close()
        writer.flush()

    for src, fmt_name, item in ctx.deferred:
        result = by_display[src.display]
        writer.add(_normalise(item, src, fmt_name), result)
    writer.flush()

    for src, fmt_name in planned:
        r = by_display[src.display]
        con.execute(
            "insert into ingested_files (path, sha256, size_bytes, source_format, rows_added, rows_duplicate, rows_rejected) "
            "values (?, ?, ?, ?, ?, ?, ?)",
            [src.display, _file_sha256(src), src.size_bytes, fmt_name, r.rows_added, r.rows_duplicate, r.rows_rejected],
        )

    return {
        "rows_added": sum(r.rows_added for r in results),
        "rows_duplicate": sum(r.rows_duplicate for r in results),
        "rows_rejected": sum(r.rows_rejected for r in results),
        "files": [
            {
                "path": r.path,
                "format": r.format,
                "rows_added": r.rows_added,
                "rows_duplicate": r.rows_duplicate,
                "rows_rejected": r.rows_rejected,
            }
            for r in results
        ],
        "unknown_models": sorted(m for m in unknown_models if m),
    }
