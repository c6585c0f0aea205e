"""Generic CSV/JSONL/JSON/Parquet with a column mapping (``--format generic --map prompt=COL,...``).

This module also holds what the tool-specific formats share: streaming readers that turn a
CSV, JSON Lines, JSON (arrays, wrapper objects, concatenated documents) or Parquet file into
numbered rows, value coercion for exports that write numbers as strings, and helpers that pull
text out of the chat shapes providers use (OpenAI, Anthropic, Bedrock Converse, Gemini, ...).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable, Iterator

from ...errors import PlanError
from ..records import Reject, Skipped, excerpt, field_value_row, is_json_lines, loads, maybe_json, starts_cut_short, to_utc
from . import register

CSV_FIELD_LIMIT = 1 << 30
# Objects whose list under one of these keys holds the records: CloudWatch ({"events"}, Logs Insights
# {"results"}, subscription/Firehose {"logEvents"}), paged APIs ({"data"}: Langfuse, LiteLLM /spend/logs/v2).
WRAPPER_KEYS = ("events", "logEvents", "results", "data", "records", "items", "Items", "observations", "rows", "logs")
_WRAPPER_MAX_KEYS = 7
_MAX_ELEMENT_CHARS = 256 << 20

# ---------------------------------------------------------------------------------------------
# Value coercion: CSV cells are strings, empty cells mean "unknown", JSON columns may be encoded.
# ---------------------------------------------------------------------------------------------

_NULLS = {"", "null", "none", "nan", "n/a", "na", "\\n"}


def is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip().lower() in _NULLS
    if isinstance(value, float):
        return math.isnan(value)
    return False


def to_float(value: Any, field: str = "value") -> float | None:
    """A number from a cell: '0.0012', '1,234.5', '$0.10', 3 or Decimal. Empty -> None; garbage -> ValueError."""
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float, Decimal)):
        out = float(value)
    else:
        text = str(value).strip().replace(",", "").replace("_", "").lstrip("$").strip()
        try:
            out = float(text)
        except ValueError:
            raise ValueError(f"{field}: {str(value)[:40]!r} is not a number") from None
    if math.isnan(out) or math.isinf(out):
        return None
    return out


def to_int(value: Any, field: str = "value") -> int | None:
    number = to_float(value, field)
    if number is None:
        return None
    if number < 0:
        raise ValueError(f"{field}: {value!r} is negative")
    return int(round(number))


def to_bool(value: Any) -> bool | None:
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "t", "yes", "y", "1"):
        return True
    if text in ("false", "f", "no", "n", "0"):
        return False
    return None


def blank_to_none(value: Any) -> Any:
    return None if is_blank(value) else value


def decode_json(value: Any) -> Any:
    """JSON held in a string cell, including cells whose quotes were doubled twice by a naive CSV writer."""
    value = maybe_json(value)
    if isinstance(value, str) and '""' in value and value.lstrip()[:1] in "[{":
        value = maybe_json(value.replace('""', '"'))
    return value


@lru_cache(maxsize=4096)
def snake(key: str) -> str:
    """startTime -> start_time, usageDetails -> usage_details, provided_model_name stays."""
    key = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", str(key))
    return key.replace("-", "_").replace(" ", "_").lower()


def snake_keys(row: dict) -> dict:
    out: dict = {}
    for key, value in row.items():
        out.setdefault(snake(key), value)
    return out


def as_dict(value: Any) -> dict:
    """The value when it is an object, else an empty one (a field a log may leave out or write as another type)."""
    return value if isinstance(value, dict) else {}


def first(row: dict, *keys: str) -> Any:
    for key in keys:
        value = row.get(key)
        if not is_blank(value):
            return value
    return None


def ms_between(start, end) -> float | None:
    if start is None or end is None:
        return None
    delta = (end - start).total_seconds() * 1000.0
    return delta if delta >= 0 else None


# ---------------------------------------------------------------------------------------------
# File kinds and readers.
# ---------------------------------------------------------------------------------------------


def file_kind(src) -> str:
    """'parquet', 'sqlite', 'json' (JSON or JSON Lines), 'csv' (or other text) or 'empty'."""
    head = src.head()
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    stripped = head.lstrip()
    if not stripped:
        return "empty"
    if stripped[:1] in (b"{", b"[") or starts_cut_short(stripped):
        return "json"
    return "csv"


def head_text(src) -> str:
    return src.head().decode("utf-8", "replace")


def _csv_dialect(first_line: str):
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d]) if max(counts.values()) > 0 else ","

    class Dialect(csv.excel):
        pass

    Dialect.delimiter = delimiter
    return Dialect


def csv_header(src) -> list[str] | None:
    text = head_text(src)
    first_line = text.split("\n", 1)[0]
    try:
        row = next(csv.reader(io.StringIO(text), _csv_dialect(first_line)))
    except (StopIteration, csv.Error):
        return None
    return [cell.strip() for cell in row]


def iter_csv(src) -> Iterator[tuple[int, Any]]:
    """(line where the row starts, {column: value or None}); a row with more cells than the header is rejected."""
    csv.field_size_limit(CSV_FIELD_LIMIT)
    first_line = head_text(src).split("\n", 1)[0]
    with src.open_text() as fh:
        reader = csv.reader(fh, _csv_dialect(first_line))
        try:
            header = [cell.strip() for cell in next(reader)]
        except StopIteration:
            return
        width = len(header)
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, Reject(start, f"unreadable CSV row ({exc})", "")
                continue
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) > width:
                yield start, Reject(start, f"row has {len(row)} cells but the header has {width} (unquoted comma?)", ",".join(row))
                continue
            if len(row) < width:
                # Writers quote every row to full width; a short row is an export cut off mid-record.
                yield start, Reject(start, f"row has {len(row)} of the header's {width} cells (truncated export?)", ",".join(row))
                continue
            values = {name: (cell if cell.strip() != "" else None) for name, cell in zip(header, row, strict=True)}
            yield start, values


def _unwrap(obj: Any) -> list:
    """Records inside one JSON value: wrapper objects and top-level lists are opened, Logs Insights rows flattened."""
    if isinstance(obj, list):
        out = []
        for item in obj:
            out.extend(_unwrap_item(item))
        return out
    if isinstance(obj, dict) and len(obj) <= _WRAPPER_MAX_KEYS:
        for key in WRAPPER_KEYS:
            inner = obj.get(key)
            # One element of the wrong kind is that element's reject, not a reason to take the page for a record.
            if isinstance(inner, list) and (not inner or any(isinstance(x, (dict, list)) for x in inner)):
                return [rec for item in inner for rec in _unwrap_item(item)]
    return [obj]


def _unwrap_item(item: Any) -> list:
    return [field_value_row(item)]


class _JsonStream:
    """Reads JSON values one at a time from a text stream without loading the file (arrays, objects, concatenations).

    Positions handed out are absolute (`base + index`), so refilling the buffer never invalidates them."""

    # A literal "\n" between values: apps that write json.dumps(record) + "\\n" put the two characters there, not a
    # line break, and nothing but a separator can stand between two JSON values.
    _ws_commas = re.compile(r"(?:[\s,]|\\[nrt])*")
    _ws = re.compile(r"\s*")

    def __init__(self, fh):
        self.fh = fh
        self.buf = ""
        self.base = 0
        self.pos = 0
        self.eof = False
        self._line_pos = 0
        self._line_no = 1
        self.decoder = json.JSONDecoder()

    def fill(self, size: int = 1 << 20) -> bool:
        chunk = self.fh.read(size)
        if not chunk:
            self.eof = True
            return False
        self.line_at(self.pos)
        # keep the current line's indentation: resync after a broken element needs it
        keep = self.buf.rfind("\n", max(0, self.pos - 4096), self.pos)
        keep = self.pos if keep < 0 else keep
        self.buf = self.buf[keep:] + chunk
        self.base += keep
        self.pos -= keep
        self._line_pos -= keep
        return True

    def line_at(self, index: int) -> int:
        if index > self._line_pos:
            self._line_no += self.buf.count("\n", self._line_pos, index)
            self._line_pos = index
        return self._line_no

    @property
    def abs_pos(self) -> int:
        return self.base + self.pos

    def text_at(self, abs_pos: int, length: int = 200) -> str:
        index = max(0, abs_pos - self.base)
        return self.buf[index:index + length]

    def peek(self, skip_commas: bool = False) -> str:
        pattern = self._ws_commas if skip_commas else self._ws
        while True:
            self.pos = pattern.match(self.buf, self.pos).end()  # type: ignore[union-attr]  # matches the empty string
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill():
                return ""

    def value(self):
        grow = 1 << 20
        while True:
            try:
                obj, end = self.decoder.raw_decode(self.buf, self.pos)
                self.pos = end
                return obj
            except RecursionError:
                raise json.JSONDecodeError("JSON nested too deeply to read", self.buf, self.pos) from None
            except json.JSONDecodeError as exc:
                incomplete = exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buf) - 8
                if not self.eof and incomplete and len(self.buf) - self.pos < _MAX_ELEMENT_CHARS:
                    self.fill(grow)
                    grow = min(grow * 2, 64 << 20)
                    continue
                raise

    def skip_to_value(self) -> bool:
        """Past text that is no JSON value (or a document that breaks off), to the next object or array that opens a
        line, as documents written one after another do (a bracket inside the text, or a nested object indented
        under it, is not one); False when none follows."""
        while True:
            match = self._value_start.search(self.buf, self.pos)
            if match:
                self.pos = match.end() - 1
                return True
            self.pos = max(self.pos, len(self.buf) - 1)
            if not self.fill():
                self.pos = len(self.buf)
                return False

    _value_start = re.compile(r"\n[\{\[]")

    def resync(self, start_abs: int) -> bool:
        """After a broken array element, move to the next element written at the same indentation."""
        start = start_abs - self.base
        line_start = self.buf.rfind("\n", 0, start)
        if line_start < 0 or self.buf[line_start + 1:start].strip():
            return False
        indent = self.buf[line_start + 1:start]
        pattern = re.compile("\n" + re.escape(indent) + r"[\{\[]")
        search_from = start + 1
        while True:
            match = pattern.search(self.buf, search_from)
            if match:
                self.pos = match.end() - 1
                return True
            self.pos = max(search_from, len(self.buf) - len(indent) - 2)
            if not self.fill():
                self.pos = len(self.buf)
                return False
            search_from = self.pos


def _stream_json(src, unwrap: bool = True) -> Iterator[tuple[int, Any]]:
    """Top-level values of a JSON document (arrays give their elements). With ``unwrap``, records also stream out
    of wrapper objects (``{"events": [...]}``) and Logs Insights rows are flattened; without, values come whole."""
    with src.open_text() as fh:
        stream = _JsonStream(fh)
        while True:
            char = stream.peek(skip_commas=True)
            if not char:
                return
            start_line = stream.line_at(stream.pos)
            if char == "[":
                stream.pos += 1
                yield from _stream_array(stream, unwrap)
            elif char == "{":
                yield from _stream_object(stream, unwrap)
            else:
                yield start_line, Reject(start_line, "unexpected text outside any JSON value", stream.text_at(stream.abs_pos))
                if not stream.skip_to_value():
                    return


def _stream_array(stream: _JsonStream, unwrap: bool = True) -> Iterator[tuple[int, Any]]:
    while True:
        char = stream.peek(skip_commas=True)
        if char == "]":
            stream.pos += 1
            return
        if not char:
            return
        start = stream.abs_pos
        line = stream.line_at(stream.pos)
        try:
            element = stream.value()
        except json.JSONDecodeError as exc:
            yield line, Reject(line, f"not valid JSON ({exc.msg})", stream.text_at(start))
            if not stream.resync(start):
                return
            continue
        for record in _unwrap_item(element) if unwrap else [element]:
            yield line, record


def _stream_object(stream: _JsonStream, unwrap: bool = True) -> Iterator[tuple[int, Any]]:
    """One top-level object: records stream out of a wrapper key's array; otherwise the object is the record."""
    start = stream.abs_pos
    line = stream.line_at(stream.pos)
    stream.pos += 1
    collected: dict = {}
    streamed = False
    try:
        while True:
            char = stream.peek(skip_commas=True)
            if char == "}":
                stream.pos += 1
                break
            if char != '"':
                raise json.JSONDecodeError("Expecting property name", stream.buf, stream.pos)
            key = stream.value()
            if stream.peek() != ":":
                raise json.JSONDecodeError("Expecting ':' delimiter", stream.buf, stream.pos)
            stream.pos += 1
            if unwrap and key in WRAPPER_KEYS and stream.peek() == "[" and len(collected) < _WRAPPER_MAX_KEYS:
                stream.pos += 1
                streamed = True
                yield from _stream_array(stream)
            else:
                stream.peek()
                collected[key] = stream.value()
    except json.JSONDecodeError as exc:
        yield line, Reject(line, f"not valid JSON ({exc.msg})", stream.text_at(start))
        stream.skip_to_value()  # the documents after a broken one still land
        return
    if not streamed:
        for record in _unwrap(collected) if unwrap else [collected]:
            yield line, record


def iter_json_values(src) -> Iterator[tuple[int, Any]]:
    """Every top-level JSON value of a file whole, numbered by the line it starts on: one per line of JSON Lines,
    the elements of a top-level array, or objects written one after another (pretty-printed or not)."""
    if is_json_lines(src, encoded=False):
        for number, line in src.lines():
            try:
                yield number, loads(line)
            except ValueError as exc:
                msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                yield number, Reject(number, f"not valid JSON ({msg})", line)
        return
    yield from _stream_json(src, unwrap=False)


def iter_json(src, line_fallback: Callable[[str], Any] | None = None, lines: bool | None = None) -> Iterator[tuple[int, Any]]:
    """Records of a JSON Lines file or a JSON document, numbered by the line they start on."""
    if not (lines if lines is not None else is_json_lines(src, encoded=False)):
        yield from group_field_pairs(_stream_json(src))
        return
    yield from group_field_pairs(_json_lines(src, line_fallback))


def _json_lines(src, line_fallback: Callable[[str], Any] | None) -> Iterator[tuple[int, Any]]:
    for number, line in src.lines():
        try:
            obj = loads(line)
        except ValueError as exc:
            obj = line_fallback(line) if line_fallback else None
            if obj is None:
                msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                yield number, Reject(number, f"not valid JSON ({msg})", line)
                continue
        for record in _unwrap(obj):
            yield number, record


def _field_pair(item: Any) -> tuple[str, Any] | None:
    """(field, value) of a Logs Insights ``{"field": ..., "value": ...}`` pair (any case), else None."""
    if not isinstance(item, dict) or len(item) != 2:
        return None
    keys = {str(k).lower(): k for k in item}
    if set(keys) != {"field", "value"}:
        return None
    return str(item[keys["field"]]), item[keys["value"]]


def group_field_pairs(items: Iterator[tuple[int, Any]]) -> Iterator[tuple[Any, Any]]:
    """Logs Insights results flattened into one list of ``{"field", "value"}`` pairs (PowerShell's ConvertTo-Json
    writes them so) as records again: a record starts where a field repeats or at the field that led the first
    record (``@timestamp`` in every export we have seen). Other items pass through unchanged; a record is numbered
    by the line of its first pair."""
    current: dict = {}
    start = None
    leader = None
    for number, item in items:
        pair = _field_pair(item)
        if pair is None:
            if current:
                yield start, current
                current, start = {}, None
            yield number, item
            continue
        field, value = pair
        leader = field if leader is None else leader
        if current and (field in current or field == leader):
            yield start, current
            current = {}
        if not current:
            start = number
        current[field] = value
    if current:
        yield start, current


def _plain(value: Any) -> Any:
    """Arrow values as plain Python: Decimals as floats, map columns (lists of pairs) as dicts."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        if value and all(isinstance(x, tuple) and len(x) == 2 for x in value):
            return {str(k): _plain(v) for k, v in value}
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _parquet_file(src):
    import pyarrow.parquet as pq

    if src.is_gzip:
        raise PlanError(f"{src.display}: a gzipped Parquet file; decompress it first (Parquet compresses itself).")
    return pq.ParquetFile(str(src.path))


def iter_parquet(src, batch_rows: int = 2048) -> Iterator[tuple[int, Any]]:
    """Rows of a Parquet file, read in batches so memory stays bounded; numbered from 1."""
    number = 0
    for batch in _parquet_file(src).iter_batches(batch_size=batch_rows):
        for row in batch.to_pylist():
            number += 1
            yield number, {k: _plain(v) for k, v in row.items()}


def iter_rows(src, line_fallback: Callable[[str], Any] | None = None) -> Iterator[tuple[int, Any]]:
    """(line or record number, row dict or Reject) for a CSV, JSON/JSON Lines or Parquet file."""
    kind = file_kind(src)
    if kind == "parquet":
        return iter_parquet(src)
    if kind == "json":
        return iter_json(src, line_fallback)
    if kind == "csv":
        if line_fallback is not None and _first_line_is_prefixed_json(src, line_fallback):
            return iter_json(src, line_fallback, lines=True)
        return iter_csv(src)
    if kind == "sqlite":
        raise PlanError(f"{src.display}: a SQLite database, not a table export; try --format llm.")
    return iter(())


def iter_values(src) -> Iterator[tuple[int, Any]]:
    """(line or record number, value or Reject): a table's rows (CSV, Parquet), else every JSON value whole (a
    document's wrappers left to the reader, unlike ``iter_rows``)."""
    return iter_rows(src) if file_kind(src) in ("csv", "parquet") else iter_json_values(src)


def read_histories(src, history: Callable[[], Any]) -> Iterator[Any]:
    """What a file of message histories holds, read through ``history()`` objects (``read(number, value)``): one
    history across its records, and a history of its own for each record that is a list (a run saved per line)."""
    shared = history()
    for number, value in iter_rows(src):
        if isinstance(value, Reject):
            yield value
        elif isinstance(value, list):
            own = history()
            yield [own.read(number, item) for item in value]
        else:
            yield shared.read(number, value)


# What reading one record raises on a shape it does not expect: the record is rejected with the reason.
READ_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, AttributeError)


def item_record(number: int | None, item: Any, to_record: Callable[[dict], Any], expected: str, *,
                unreadable: str | None = None, errors: tuple[type[Exception], ...] = READ_ERRORS) -> Any:
    """What ``parse`` yields for one item read from line or record ``number``: ``to_record(item)`` with its line, a
    ``Skipped`` (not a model call) with its line, or a reject when the item is not an object or ``to_record``
    raises one of ``errors`` (the reason, after ``unreadable`` when given); None when ``to_record`` returns None."""
    if not isinstance(item, dict):
        return Reject(number, f"expected {expected}", excerpt(item))
    try:
        record = to_record(item)
    except errors as exc:
        return Reject(number, f"{unreadable} ({exc})" if unreadable else str(exc), excerpt(item))
    if isinstance(record, Skipped):
        return Skipped(number, record.reason)
    if record is not None:
        record["_line"] = number
    return record


def model_call_parents(src, items: Callable[[Any], list], call_parent: Callable[[Any], Any]) -> set[str]:
    """A first pass over the file: the ids its model calls sit in. ``items`` gives the rows one read value holds,
    ``call_parent`` a row's parent id when the row is a model call (None otherwise). A model call among those ids is
    a wrapper around calls of its own (LangSmith, Braintrust), skipped so that each call counts once."""
    parents: set[str] = set()
    for _, value in iter_rows(src):
        for item in items(value) if not isinstance(value, Reject) else ():
            parent = call_parent(item) if isinstance(item, dict) else None
            if parent is not None:
                parents.add(str(parent))
    return parents


def records_from_rows(src, to_record: Callable[[dict], Any], expected: str, *,
                      items: Callable[[Any], list] | None = None, unreadable: str | None = None,
                      errors: tuple[type[Exception], ...] = READ_ERRORS,
                      rows: Callable[[Iterator], Iterator] | None = None) -> Iterator:
    """Rows of a CSV/JSON/Parquet export turned into records by ``to_record`` (a ``Skipped``: not a model call);
    a row that is not an object, or that ``to_record`` cannot read, becomes a reject with its line. ``items`` gives
    the records one row holds when it may hold several (a page, a list, nested children); ``rows`` rewrites the
    stream of rows first (several rows that are one call joined into one)."""
    for number, row in iter_rows(src) if rows is None else rows(iter_rows(src)):
        if isinstance(row, (Reject, Skipped)):
            yield row
            continue
        for item in (items(row) if items is not None else [row]):
            record = item_record(number, item, to_record, expected, unreadable=unreadable, errors=errors)
            if record is not None:
                yield record


def json_object(value: Any) -> dict:
    """The JSON object a value or a cell holds, or {} when it holds none."""
    value = decode_json(value)
    return value if isinstance(value, dict) else {}


def _first_line_is_prefixed_json(src, line_fallback) -> bool:
    first_line = head_text(src).split("\n", 1)[0]
    return line_fallback(first_line) is not None


@lru_cache(maxsize=256)
def _columns_cached(path: str, size: int, mtime: int, display: str) -> frozenset:
    from ..sources import SourceFile

    src = SourceFile(path=__import__("pathlib").Path(path), display=display, size_bytes=size)
    kind = file_kind(src)
    if kind == "parquet":
        return frozenset(_parquet_file(src).schema_arrow.names)
    if kind == "csv":
        return frozenset(csv_header(src) or ())
    if kind == "json":
        for _, record in iter_json(src):
            if isinstance(record, dict):
                return frozenset(record)
            if not isinstance(record, Reject):
                return frozenset()
    return frozenset()


def table_columns(src) -> frozenset:
    """Column names (CSV header, Parquet schema) or the first JSON record's keys; cached per file."""
    try:
        mtime = os.stat(src.path).st_mtime_ns
    except OSError:
        return frozenset()
    return _columns_cached(str(src.path), src.size_bytes, mtime, src.display)


def snake_columns(src) -> frozenset:
    return frozenset(snake(c) for c in table_columns(src))


# ---------------------------------------------------------------------------------------------
# Chat shapes: text out of the message/content forms providers and tools write.
# ---------------------------------------------------------------------------------------------

_ROLE_ALIASES = {
    "human": "user",
    "user": "user",
    "ai": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "chatbot": "assistant",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "tool",
    "ipython": "tool",
}


def part_text(part: Any, include_reasoning: bool = False) -> str:
    """Text of one content part in OpenAI, Anthropic, Bedrock Converse or Gemini form; placeholders for media."""
    if part is None:
        return ""
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return str(part)
    kind = part.get("type")
    if kind in ("thinking", "redacted_thinking", "reasoning") or "reasoningContent" in part:
        if not include_reasoning:
            return ""
        inner = part.get("reasoningContent") or {}
        return str(part.get("thinking") or (inner.get("reasoningText") or {}).get("text") or "")
    if isinstance(part.get("text"), str):
        return part["text"]
    if kind in ("image", "image_url", "input_image") or "image" in part or "image_url" in part or "inlineData" in part:
        return "[image]"
    if kind in ("document", "file", "input_file") or "document" in part:
        return "[document]"
    if kind in ("input_audio", "audio") or "audio" in part:
        return "[audio]"
    wrapped_call = part.get("toolUse") or part.get("functionCall") or part.get("function_call")
    if kind in _TOOL_CALL_PARTS or wrapped_call is not None or ("toolName" in part and kind != "tool-result"):
        # Anthropic tool_use, Converse toolUse, Gemini functionCall (function_call as Python SDKs dump it, with the
        # part's other fields null), the GenAI conventions' tool_call part, the AI SDK's tool-call part and toolCalls
        call = wrapped_call or part
        call = call if isinstance(call, dict) else part
        args = call.get("input", call.get("args", call.get("arguments")))
        name = call.get("name", call.get("toolName", ""))
        return f"[tool call {name}: {args if isinstance(args, str) else json.dumps(args, ensure_ascii=False, default=str)}]"
    if kind == "tool_result" or "toolResult" in part or "functionResponse" in part:
        result = part.get("toolResult") or part.get("functionResponse") or part
        inner = result.get("content", result.get("response"))
        return content_text(inner) if not isinstance(inner, dict) else json.dumps(inner, ensure_ascii=False)
    if "json" in part:
        return json.dumps(part["json"], ensure_ascii=False, default=str)
    if "content" in part:
        return content_text(part["content"])
    if isinstance(part.get("parts"), list):  # a Gemini Content where a message's content belongs
        return content_text(part["parts"])
    return ""


_TOOL_CALL_PARTS = ("tool_use", "tool_call", "tool-call", "function_call")


def message_tool_calls(message: dict) -> list | None:
    """An assistant message's tool calls: OpenAI's ``tool_calls``, or LangChain's message dump where the OpenAI
    ones sit under ``additional_kwargs``."""
    calls = message.get("tool_calls")
    if not calls and isinstance(message.get("additional_kwargs"), dict):
        calls = message["additional_kwargs"].get("tool_calls")
    return calls if isinstance(calls, list) and calls else None


def message_text(message: dict) -> str:
    """One message's text (``content``, Gemini's ``parts``, or ``text``), else its tool calls as JSON, as an
    OpenAI answer's tool calls are kept."""
    if "content" in message:
        text = content_text(message.get("content"))
    elif "parts" in message:
        text = content_text(message.get("parts"))
    else:
        text = content_text(message.get("text", message.get("message")))
    calls = None if text else message_tool_calls(message)
    return json.dumps(calls, ensure_ascii=False, default=str) if calls else text


def content_text(content: Any, include_reasoning: bool = False) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part_text(p, include_reasoning) for p in content]
        return "\n".join(t for t in texts if t)
    if isinstance(content, dict):
        return part_text(content, include_reasoning)
    return str(content)


def normalize_messages(messages: Any) -> list[dict]:
    """Messages in OpenAI chat shape with text content: [{"role": "user", "content": "..."}, ...]."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    if not isinstance(messages, list):
        return []
    if messages and all(isinstance(m, list) for m in messages):  # LangChain batches: [[msg, msg]]
        messages = [m for batch in messages for m in batch]
    out = []
    for message in messages:
        if isinstance(message, str):
            out.append({"role": "user", "content": message})
            continue
        if not isinstance(message, dict):
            continue
        raw_role = message.get("role") or message.get("type") or message.get("author") or "user"
        role = _ROLE_ALIASES.get(str(raw_role).lower(), str(raw_role).lower())
        out.append({"role": role, "content": message_text(message)})
    return out


def system_text(system: Any) -> str | None:
    text = content_text(system)
    return text or None


def split_conversation(messages: list[dict]) -> tuple[str | None, str]:
    """(system prompt, the text that represents the request: the last user turn) from normalized messages."""
    system = [m["content"] for m in messages if m.get("role") == "system" and m.get("content")]
    users = [m.get("content") or "" for m in messages if m.get("role") == "user"]
    return ("\n\n".join(system) or None), (users[-1] if users else "")


def chat_request_fields(body: Any) -> dict:
    """system_prompt, messages_json and prompt_text from a request body in any common chat shape."""
    body = decode_json(body)
    if isinstance(body, str):
        return {"prompt_text": body, "messages_json": [{"role": "user", "content": body}]}
    if isinstance(body, list):
        listed = normalize_messages(body)
        system, prompt = split_conversation(listed)
        return {"system_prompt": system, "prompt_text": prompt, "messages_json": listed}
    if not isinstance(body, dict):
        return {}
    messages: list[dict] = []
    system = system_text(body.get("system") or body.get("instructions") or body.get("preamble"))
    system_instruction = body.get("systemInstruction") or body.get("system_instruction")
    if system is None and isinstance(system_instruction, dict):
        system = system_text(system_instruction.get("parts"))
    if system:
        messages.append({"role": "system", "content": system})
    if "messages" in body:
        messages.extend(normalize_messages(decode_json(body.get("messages"))))
    elif "contents" in body:  # Gemini
        messages.extend(normalize_messages(body.get("contents")))
    elif "input" in body:  # Responses API
        messages.extend(normalize_messages(body.get("input")))
    elif isinstance(body.get("prompt"), (str, list)):
        prompt = body["prompt"]
        messages.append({"role": "user", "content": prompt if isinstance(prompt, str) else "\n".join(map(str, prompt))})
    elif isinstance(body.get("message"), str):  # Cohere chat
        messages.extend(normalize_messages(body.get("chat_history") or []))
        messages.append({"role": "user", "content": body["message"]})
    elif "role" in body and ("content" in body or "parts" in body):  # one message on its own
        messages.extend(normalize_messages([body]))
    elif isinstance(body.get("args"), list) or isinstance(body.get("kwargs"), dict):
        return _call_arguments_fields(body)
    if not messages:
        return {}
    sys_prompt, prompt = split_conversation(messages)
    return {"system_prompt": sys_prompt, "prompt_text": prompt, "messages_json": messages}


def _call_arguments_fields(body: dict) -> dict:
    """A decorated function's captured call (``{"args": [...], "kwargs": {...}}``, as Langfuse's ``@observe`` and its
    LlamaIndex integration record a model call): the request is in the keyword arguments, else the first
    positional argument that reads as one (a prompt string, a message list)."""
    kwargs = body.get("kwargs")
    if isinstance(kwargs, dict):
        fields = chat_request_fields(kwargs)
        if fields:
            return fields
    for arg in body.get("args") or []:
        fields = chat_request_fields(arg) if isinstance(arg, (str, list, dict)) else {}
        if fields.get("prompt_text") or fields.get("messages_json"):
            return fields
    return {}


def response_text(body: Any) -> str | None:
    """The answer's text from a response body: ChatCompletion, Anthropic Message, Converse, Responses API,
    Gemini, Titan, Llama, Mistral, Cohere, AI21, a streamed list of chunks, or plain text."""
    body = decode_json(body)
    if body is None:
        return None
    if isinstance(body, str):
        return body
    if isinstance(body, list):
        if all(isinstance(x, dict) and ("role" in x) for x in body):
            texts = [message_text(x) for x in body if x.get("role") in ("assistant", "model", "ai", None)]
            return "\n".join(t for t in texts if t) or None
        if body and all(isinstance(x, dict) and "toolName" in x for x in body):  # the AI SDK's toolCalls
            return content_text(body) or None
        return "".join(_chunk_text(chunk) for chunk in body) or None
    if not isinstance(body, dict):
        return str(body)
    if isinstance(body.get("choices"), list):
        return _choices_text(body["choices"])
    output = body.get("output")
    if isinstance(output, dict) and isinstance(output.get("message"), dict):  # Converse / Nova
        return content_text(output["message"].get("content")) or None
    if isinstance(output, list):  # Responses API
        return body["output_text"] if isinstance(body.get("output_text"), str) else _responses_output_text(output)
    if isinstance(body.get("content"), (list, str)) or ("role" in body and message_tool_calls(body)):
        return message_text(body) or None  # Anthropic Message, or a bare assistant message
    if isinstance(body.get("content"), dict) and isinstance(body["content"].get("parts"), list):
        return content_text(body["content"]["parts"]) or None  # one Gemini candidate, as ADK logs it
    listed = _listed_generations_text(body)
    if listed is not None:
        return listed
    for key in ("generation", "outputText", "completion", "text", "output_text", "response", "answer"):
        if isinstance(body.get(key), str):
            return body[key]
    if isinstance(body.get("message"), dict):
        return content_text(body["message"].get("content")) or None
    if isinstance(output, str):
        return output
    return None


def _choices_text(choices: list) -> str | None:
    texts = []
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        msg = choice.get("message") or choice.get("delta") or {}
        text = content_text(msg.get("content")) if isinstance(msg, dict) else ""
        if not text and isinstance(msg, dict) and msg.get("tool_calls"):
            text = json.dumps(msg["tool_calls"], ensure_ascii=False, default=str)
        texts.append(text or str(choice.get("text") or ""))
    return "\n".join(t for t in texts if t) or None


def _responses_output_text(output: list) -> str | None:
    texts = []
    for item in output:
        if isinstance(item, dict) and item.get("type") == "message":
            texts.append(content_text(item.get("content")))
        elif isinstance(item, dict) and item.get("type") == "function_call":
            texts.append(f"[tool call {item.get('name', '')}: {item.get('arguments', '')}]")
    return "\n".join(t for t in texts if t) or None


# Provider bodies that list their generations under one key: (key, the text of one item).
_GENERATION_LISTS = (
    ("candidates", lambda c: content_text((c.get("content") or {}).get("parts"))),  # Gemini
    ("results", lambda r: str(r.get("outputText") or "")),  # Titan text
    ("outputs", lambda o: str(o.get("text") or "")),  # Mistral text
    ("generations", lambda g: str(g.get("text") or "")),  # Cohere generate
    ("completions", lambda c: str((c.get("data") or {}).get("text") or "")),  # AI21 Jurassic
)


def _listed_generations_text(body: dict) -> str | None:
    for key, text_of in _GENERATION_LISTS:
        items = body.get(key)
        if isinstance(items, list):
            return "\n".join(t for t in (text_of(x) for x in items if isinstance(x, dict)) if t or key != "candidates") or None
    return None


def _chunk_text(chunk: Any) -> str:
    """Text carried by one streamed chunk, whatever the provider."""
    chunk = decode_json(chunk)
    if not isinstance(chunk, dict):
        return chunk if isinstance(chunk, str) else ""
    if isinstance(chunk.get("chunk"), dict) and "bytes" in chunk["chunk"]:
        return _chunk_text(chunk["chunk"]["bytes"])
    delta = chunk.get("delta")
    if isinstance(delta, dict) and isinstance(delta.get("text"), str):  # Anthropic content_block_delta
        return delta["text"]
    block = chunk.get("contentBlockDelta")
    if isinstance(block, dict):  # Converse / Nova stream
        return str((block.get("delta") or {}).get("text") or "")
    if chunk.get("type") == "content_block_start":
        return str((chunk.get("content_block") or {}).get("text") or "")
    if isinstance(chunk.get("choices"), list):
        return "".join(
            str(((c.get("delta") or c.get("message") or {}).get("content")) or c.get("text") or "")
            for c in chunk["choices"]
            if isinstance(c, dict)
        )
    for key in ("outputText", "generation", "completion", "text"):
        if isinstance(chunk.get(key), str):
            return chunk[key]
    if isinstance(chunk.get("outputs"), list):
        return "".join(str(o.get("text") or "") for o in chunk["outputs"] if isinstance(o, dict))
    return ""


REPR_FIELD = re.compile(r"\b([A-Za-z_]\w*)=(\d+|None)\b")


def details(value: Any) -> dict:
    """A usage object's detail counts (``prompt_tokens_details``...): an object, JSON text, or the Python repr that
    ``json.dump(..., default=str)`` writes for the SDK's object (``PromptTokensDetailsWrapper(cached_tokens=1152, ...)``,
    as DSPy's history dumps hold it); {} for anything else."""
    value = decode_json(value)
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and re.match(r"\s*[A-Za-z_]\w*\(", value):
        return {k: (None if v == "None" else int(v)) for k, v in REPR_FIELD.findall(value)}
    return {}


def usage_fields(usage: Any) -> dict:
    """Token counts from a usage object in OpenAI, Anthropic, Converse, Responses API or Gemini form.

    Returned input_tokens always counts all input, cached included: Anthropic and Converse report
    cache reads and writes beside `input_tokens`; OpenAI and Gemini count them inside it."""
    usage = decode_json(usage)
    if not isinstance(usage, dict):
        return {}
    out: dict = {}
    if "prompt_tokens" in usage or "completion_tokens" in usage:  # OpenAI chat (and LiteLLM)
        prompt = details(usage.get("prompt_tokens_details"))
        out["input_tokens"] = to_int(usage.get("prompt_tokens"), "prompt_tokens")
        out["output_tokens"] = to_int(usage.get("completion_tokens"), "completion_tokens")
        cached = prompt.get("cached_tokens")
        if cached is None:  # Anthropic's name through LiteLLM, or CrewAI's own
            cached = usage.get("cache_read_input_tokens", usage.get("cached_prompt_tokens"))
        out["cached_input_tokens"] = to_int(cached)
        written = prompt.get("cache_creation_tokens")
        out["cache_write_tokens"] = to_int(written if written is not None else usage.get("cache_creation_input_tokens"))
        out["reasoning_tokens"] = to_int(details(usage.get("completion_tokens_details")).get("reasoning_tokens"))
    elif "input_tokens_details" in usage:  # Responses API: input_tokens includes cached
        out["input_tokens"] = to_int(usage.get("input_tokens"), "input_tokens")
        out["output_tokens"] = to_int(usage.get("output_tokens"), "output_tokens")
        out["cached_input_tokens"] = to_int(details(usage.get("input_tokens_details")).get("cached_tokens"))
        out["cache_write_tokens"] = to_int(details(usage.get("input_tokens_details")).get("cache_creation_input_tokens"))
        out["reasoning_tokens"] = to_int(details(usage.get("output_tokens_details")).get("reasoning_tokens"))
    elif "input_tokens" in usage or "output_tokens" in usage:  # Anthropic: input excludes cache reads/writes
        base = to_int(usage.get("input_tokens"), "input_tokens")
        read = to_int(usage.get("cache_read_input_tokens"))
        write = to_int(usage.get("cache_creation_input_tokens"))
        out["input_tokens"] = None if base is None else base + (read or 0) + (write or 0)
        out["cached_input_tokens"] = read
        out["cache_write_tokens"] = write
        by_lifetime = decode_json(usage.get("cache_creation"))
        if isinstance(by_lifetime, dict):
            out["cache_write_1h_tokens"] = to_int(by_lifetime.get("ephemeral_1h_input_tokens"))
        server_tools = decode_json(usage.get("server_tool_use"))
        if isinstance(server_tools, dict):
            out["web_searches"] = to_int(server_tools.get("web_search_requests"))
        out["output_tokens"] = to_int(usage.get("output_tokens"), "output_tokens")
    elif "inputTokens" in usage or "outputTokens" in usage:  # Bedrock Converse / Nova
        base = to_int(usage.get("inputTokens"), "inputTokens")
        read = to_int(usage.get("cacheReadInputTokens", usage.get("cacheReadInputTokenCount")))
        write = to_int(usage.get("cacheWriteInputTokens", usage.get("cacheWriteInputTokenCount")))
        out["input_tokens"] = None if base is None else base + (read or 0) + (write or 0)
        out["cached_input_tokens"] = read
        out["cache_write_tokens"] = write
        out["output_tokens"] = to_int(usage.get("outputTokens"), "outputTokens")
    elif "promptTokenCount" in usage or "candidatesTokenCount" in usage:  # Gemini
        out.update(_gemini_usage(usage))
    return {k: v for k, v in out.items() if v is not None}


def _gemini_usage(usage: dict) -> dict:
    """Gemini counts the model's thinking (``thoughtsTokenCount``) apart from the answer (``candidatesTokenCount``)
    and bills both as output; the tool-use prompt is input; ``promptTokenCount`` includes cached content."""
    prompt = to_int(usage.get("promptTokenCount"), "promptTokenCount")
    tool_prompt = to_int(usage.get("toolUsePromptTokenCount"), "toolUsePromptTokenCount")
    answer = to_int(usage.get("candidatesTokenCount"), "candidatesTokenCount")
    thoughts = to_int(usage.get("thoughtsTokenCount"), "thoughtsTokenCount")
    return {
        "input_tokens": None if prompt is None and tool_prompt is None else (prompt or 0) + (tool_prompt or 0),
        "cached_input_tokens": to_int(usage.get("cachedContentTokenCount"), "cachedContentTokenCount"),
        "output_tokens": None if answer is None and thoughts is None else (answer or 0) + (thoughts or 0),
        "reasoning_tokens": thoughts,
    }


def params_from_body(body: Any) -> dict | None:
    """Sampling parameters worth carrying to a replay, under OpenAI names."""
    if not isinstance(body, dict):
        return None
    names = {
        "temperature": "temperature",
        "top_p": "top_p",
        "topP": "top_p",
        "top_k": "top_k",
        "max_tokens": "max_tokens",
        "maxTokens": "max_tokens",
        "max_completion_tokens": "max_completion_tokens",
        "max_output_tokens": "max_tokens",
        "max_gen_len": "max_tokens",
        "maxTokenCount": "max_tokens",
        "stop": "stop",
        "stop_sequences": "stop",
        "stopSequences": "stop",
        "response_format": "response_format",
        "tools": "tools",
        "tool_choice": "tool_choice",
        "seed": "seed",
    }
    out: dict = {}
    for source in (body, body.get("inferenceConfig"), body.get("textGenerationConfig"), body.get("generationConfig")):
        if isinstance(source, dict):
            for key, name in names.items():
                if key in source and source[key] not in (None, [], {}):
                    out.setdefault(name, source[key])
    if isinstance(body.get("toolConfig"), dict):
        out.setdefault("tools", body["toolConfig"].get("tools"))
    return out or None


_PROVIDER_PATTERNS = (
    (re.compile(r"^(?:(?:us|eu|apac|global|jp|au|ca|us-gov)\.)?(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek|writer|qwen)\.[\w.-]+(?::\d+)?$"), "bedrock"),
    # Ollama's name:tag (llama3:latest, qwen2:1.5b, gpt-oss:20b, mistral:7b-instruct-q4_0): a model run locally
    (re.compile(r"^[a-z][\w.-]*:(?:latest|mini|small|medium|large|\d+(?:\.\d+)?[bm](?:[-_][\w.-]*)?|[\w.-]*-q\d[\w.-]*)$"), "ollama"),
    (re.compile(r"^(?:openai/)?(?:gpt-|o\d|chatgpt|text-embedding|davinci|babbage|gpt4|ft:gpt)"), "openai"),
    (re.compile(r"^(?:anthropic/)?claude"), "anthropic"),
    (re.compile(r"^(?:google/|gemini/|vertex_ai/)?(?:gemini|gemma|palm)"), "google"),
    (re.compile(r"^(?:mistral/|mistralai/)?(?:mistral|mixtral|codestral|ministral|pixtral|magistral|devstral)"), "mistral"),
    (re.compile(r"^(?:groq|together_ai|fireworks_ai|openrouter|azure|bedrock|vertex_ai|ollama|deepseek|xai|perplexity|cohere)/"), None),
)


GEMINI_SNAKE = re.compile(r"^(prompt|candidates|thoughts|cached_content|tool_use_prompt|total)_token_count$")


def camel_gemini(usage: Any) -> Any:
    """google-genai's ``usage_metadata`` as the SDK's objects name it (``prompt_token_count``, as Weave dictifies the
    response and, before 2025, summed it) in the REST API's camelCase, which ``usage_fields`` reads."""
    usage = maybe_json(usage)
    if not isinstance(usage, dict) or not any(isinstance(k, str) and GEMINI_SNAKE.match(k) for k in usage):
        return usage
    return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k) if isinstance(k, str) and GEMINI_SNAKE.match(k) else k: v
            for k, v in usage.items()}


def other_shape_record(request: Any, output: Any, provider: str | None) -> dict:
    """A Gemini, Converse or Cohere call (or one without an answer) read with the generic readers."""
    body = output if isinstance(output, dict) else {}
    ask = request if isinstance(request, dict) else {}
    usage = usage_fields(camel_gemini(body.get("usage") or body.get("usage_metadata") or body.get("usageMetadata")))
    if not usage:  # Cohere: v2's usage, v1's meta, each with billed_units (what is charged) beside raw tokens
        for holder in (maybe_json(body.get("usage")), maybe_json(body.get("meta"))):
            if isinstance(holder, dict) and not usage:
                usage = usage_fields(holder.get("billed_units") or holder.get("tokens"))
    model = body.get("model") or body.get("model_version") or body.get("modelVersion") or ask.get("model") or ask.get("modelId")
    record = {"provider": provider, "model": model, "response_text": response_text(output) if output is not None else None,
              "params_json": params_from_body(ask.get("config") or ask.get("inferenceConfig") or ask), **usage}
    record.update({k: v for k, v in chat_request_fields(request).items() if v})
    record["status"] = "ok" if output is not None else "no_response"
    return record


# A Vertex AI model named by its resource path (OpenInference's Vertex instrumentation, Vertex's own logs):
# projects/P/locations/L/publishers/google/models/gemini-2.5-flash, perhaps with the method (":generateContent").
VERTEX_RESOURCE = re.compile(r"^projects/[^/]+/locations/[^/]+/publishers/([^/]+)/models/([^/:]+)")


def resource_model(model: Any) -> Any:
    """The model a Vertex AI resource path names (``gemini-2.5-flash``); any other value as it is."""
    found = VERTEX_RESOURCE.match(model.strip()) if isinstance(model, str) else None
    return found.group(2) if found else model


def guess_provider(model: Any) -> str | None:
    """The API provider a model name implies ('openai', 'anthropic', ...), or None when it does not say."""
    if not isinstance(model, str) or not model:
        return None
    name = model.strip().lower()
    resource = VERTEX_RESOURCE.match(name)
    if resource:
        return guess_provider(resource.group(2)) or resource.group(1)
    for pattern, provider in _PROVIDER_PATTERNS:
        if pattern.match(name):
            return provider or name.split("/", 1)[0]
    if "/" in name:
        return name.split("/", 1)[0]
    return None


# ---------------------------------------------------------------------------------------------
# The generic format.
# ---------------------------------------------------------------------------------------------

MAP_FIELDS = {
    "id": "source_id",
    "prompt": "prompt_text",
    "response": "response_text",
    "system": "system_prompt",
    "messages": "messages_json",
    "model": "model",
    "provider": "provider",
    "created_at": "created_at",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cached_input_tokens": "cached_input_tokens",
    "cache_write_tokens": "cache_write_tokens",
    "reasoning_tokens": "reasoning_tokens",
    "cost_usd": "cost_usd",
    "duration_ms": "duration_ms",
    "status": "status",
    "user_id": "user_id",
    "tags": "tags_json",
    "sample_rate": "sample_rate",  # the fraction of traffic the export kept (or 1 in N), checked by coerce
}
_CONTENT_FIELDS = ("prompt", "response", "messages", "input_tokens", "output_tokens", "cost_usd")
_INT_FIELDS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens")


def _lookup(row: dict, column: str) -> tuple[bool, Any]:
    """(found, value) for a column name, or a dotted path into nested JSON (usage.prompt_tokens, choices.0.text)."""
    if column in row:
        return True, row[column]
    value: Any = row
    for part in column.split("."):
        value = decode_json(value)
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


class Generic:
    """Any CSV, JSON Lines, JSON or Parquet table, read through the user's --map of fields to columns."""

    name = "generic"
    order = 50

    def sniff(self, src) -> int:
        return 0  # only on request: a mapping is needed to read it

    def _check_mapping(self, src, mapping: dict) -> None:
        if not mapping:
            raise PlanError(
                "--format generic needs --map FIELD=COLUMN,... naming your columns, e.g. "
                "--map prompt=input,response=output,model=model,created_at=timestamp"
            )
        unknown = sorted(set(mapping) - set(MAP_FIELDS))
        if unknown:
            raise PlanError(f"--map: unknown field(s) {', '.join(unknown)}. Known fields: {', '.join(MAP_FIELDS)}.")
        if not any(f in mapping for f in _CONTENT_FIELDS):
            raise PlanError(f"--map must name at least one of {', '.join(_CONTENT_FIELDS)}.")
        kind = file_kind(src)
        if kind in ("csv", "parquet"):
            columns = table_columns(src)
            missing = [f"{field}={col}" for field, col in mapping.items() if col not in columns and col.split(".")[0] not in columns]
        elif kind == "json":
            seen: set = set()
            rows = 0
            for _, row in iter_json(src):
                if isinstance(row, dict):
                    rows += 1
                    seen.update(f for f, col in mapping.items() if _lookup(row, col)[0])
                if rows >= 200 or len(seen) == len(mapping):
                    break
            columns = table_columns(src)
            missing = [f"{field}={col}" for field, col in mapping.items() if field not in seen] if rows else []
        else:
            return
        if missing:
            shown = ", ".join(sorted(columns)[:30]) or "none found"
            raise PlanError(f"{src.display}: --map names columns that are not in the file: {', '.join(missing)}. Columns: {shown}.")

    def parse(self, src, ctx):
        mapping = dict(ctx.mapping or {})
        self._check_mapping(src, mapping)
        for number, row in iter_rows(src):
            if isinstance(row, Reject):
                yield row
                continue
            if not isinstance(row, dict):
                yield Reject(number, "expected an object or a table row", excerpt(row))
                continue
            try:
                record = self._record(row, mapping)
            except (ValueError, TypeError) as exc:
                yield Reject(number, str(exc), excerpt(row))
                continue
            if record is None:
                yield Reject(number, "none of the mapped columns has a value in this row", excerpt(row))
                continue
            record["_line"] = number
            yield record

    def _record(self, row: dict, mapping: dict) -> dict | None:
        values = {field: blank_to_none(_lookup(row, column)[1]) for field, column in mapping.items()}
        if all(values.get(f) is None for f in _CONTENT_FIELDS):
            return None
        record: dict = {}
        for field, value in values.items():
            if value is None:
                continue
            target = MAP_FIELDS[field]
            if field in _INT_FIELDS:
                record[target] = to_int(value, field)
            elif field in ("cost_usd", "duration_ms"):
                record[target] = to_float(value, field)
            elif field == "sample_rate":
                record[target] = value
            elif field == "created_at":
                record[target] = to_utc(value)
            elif field == "messages":
                messages = normalize_messages(decode_json(value))
                record[target] = messages or None
                system, prompt = split_conversation(messages)
                if "prompt" not in values:
                    record["prompt_text"] = prompt
                if "system" not in values and system:
                    record["system_prompt"] = system
            elif field == "response":
                record[target] = response_text(value) if not isinstance(value, str) else value
            elif field == "prompt":
                decoded = decode_json(value)
                record[target] = value if isinstance(value, str) and not isinstance(decoded, (list, dict)) else (
                    chat_request_fields(decoded).get("prompt_text") or json.dumps(decoded, ensure_ascii=False)
                )
            elif field == "tags":
                record[target] = decode_json(value)
            else:
                record[target] = str(value)
        if record.get("prompt_text") and not record.get("messages_json"):
            messages = [{"role": "system", "content": record["system_prompt"]}] if record.get("system_prompt") else []
            record["messages_json"] = messages + [{"role": "user", "content": record["prompt_text"]}]
        record.setdefault("provider", guess_provider(record.get("model")))
        record.setdefault("status", "ok")
        if record.get("source_id"):
            record["_dedupe_key"] = f"generic|{record.get('provider') or ''}|{record['source_id']}"
        return record


register(Generic())
