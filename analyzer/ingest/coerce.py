"""A parser's record as a row of `requests`: known fields only, each coerced to its column's type and checked.

Impossible values are errors here (the caller turns them into rejects): a negative or fractional token count, a
NaN cost in JSON, a time before 2015 or more than a day in the future (year 9999, epoch 0)."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa

from .records import EMBEDDING_OPERATION, RECORD_FIELDS, dedupe_key, stable_id, to_utc
from .sample_rates import as_sample_rate

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
        ("operation", pa.string()),
        ("trace_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("sample_rate", pa.float64()),  # stated by the export; --sample-rate is applied per file (sample_rates.py)
        ("cache_write_1h_tokens", pa.int64()),  # of cache_write_tokens, those kept an hour (priced higher)
        ("web_searches", pa.int64()),  # web searches the model ran for the call, billed per search
    ]
)
COLUMNS = REQUEST_SCHEMA.names
# Staged rows also carry their order (the first occurrence wins), the id of a less complete row they replace, and the
# service tier they were billed at when not the standard one (priced request by request: ``incoming._price_tiers``).
STAGE_SCHEMA = pa.schema(list(REQUEST_SCHEMA) + [("_seq", pa.int64()), ("_supersedes", pa.int64()), ("_tier", pa.string())])
JSON_COLUMNS = ("messages_json", "tags_json", "params_json")
INT_COLUMNS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
               "cache_write_1h_tokens", "web_searches")
FLOAT_COLUMNS = ("cost_usd", "duration_ms")
MAX_CALL_COST_USD = 1e6  # a logged cost at or past this (or below zero) is an impossible value, rejected
TEXT_COLUMNS = (
    "source_id", "provider", "model", "system_prompt", "prompt_text", "response_text", "status", "user_id",
    "cost_source", "operation", "trace_id", "parent_span_id",
)
# Filled in on a stored row when it lacks them and the same call arrives again with them.
ENRICH_COLUMNS = (
    "provider", "model", "created_at", "system_prompt", "messages_json", "prompt_text", "response_text", "input_tokens",
    "cached_input_tokens", "cache_write_tokens", "cache_write_1h_tokens", "web_searches", "output_tokens", "reasoning_tokens", "duration_ms",
    "user_id", "tags_json", "params_json", "operation", "trace_id", "parent_span_id",
)
# Two records of one call (same format) that both state one of these, differently, are a conflict: the first is
# kept. Input tokens are left out: exports of one call count cached input in or out (Helicone's CSV vs its JSON).
CONFLICT_COLUMNS = ("prompt_text", "response_text", "output_tokens")
PRIVATE_KEYS = {"_dedupe_key", "_supersedes", "_line", "_consumed", "_embedded", "_logged", "_half", "_service_tier"}

EARLIEST = datetime(2015, 1, 1)  # no LLM API served calls before this
FUTURE_SLACK = timedelta(days=1)  # clocks and time zones differ; a day ahead is the most a real log can be


def as_int(value, name: str):
    """A token count: a whole, non-negative number (also a numeric string); None when empty."""
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
        parsed = _int_from_text(value, name)
        if parsed is None:
            return None
        number = parsed
    else:
        raise ValueError(f"{name}: expected a number, got {type(value).__name__}")
    if number < 0:
        raise ValueError(f"{name}: {number} is negative")
    if number >= 1 << 62:
        raise ValueError(f"{name}: {number} is implausibly large")
    return number


def _int_from_text(value: str, name: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        as_float = float(text)
    except ValueError:
        raise ValueError(f"{name}: {value[:40]!r} is not a number") from None
    if not math.isfinite(as_float) or not as_float.is_integer():
        raise ValueError(f"{name}: {value[:40]!r} is not a whole number of tokens") from None
    return int(as_float)


def as_float(value, name: str):
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
    if name == "cost_usd" and not 0 <= number < MAX_CALL_COST_USD:
        raise ValueError(f"cost_usd: {number:g} is not what one call can cost")
    return number


def as_text(value):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def as_json(value, name: str):
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    except ValueError:
        raise ValueError(f"{name}: holds NaN or Infinity, which JSON cannot store") from None
    except RecursionError:
        raise ValueError(f"{name}: nested too deeply to store") from None


def as_timestamp(value):
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return to_utc(value)


def check_time(when: datetime | None, now: datetime) -> None:
    """An impossible time is an error: it would stretch the date range and move spend between months."""
    if when is None:
        return
    if when < EARLIEST:
        raise ValueError(f"created_at {when:%Y-%m-%d %H:%M:%S} is before 2015, too early for a real API call")
    if when > now + FUTURE_SLACK:
        raise ValueError(f"created_at {when:%Y-%m-%d %H:%M:%S} is more than a day after now ({now:%Y-%m-%d})")


def normalise_record(record: dict, display: str, fmt_name: str, now: datetime, seq: int = 0) -> dict:
    """A parser's record as a stage row: known fields only, coerced to column types, checked, with its id."""
    unknown = set(record) - set(RECORD_FIELDS) - PRIVATE_KEYS
    if unknown:
        raise ValueError(f"parser produced unknown fields {sorted(unknown)}")
    out = {k: record.get(k) for k in RECORD_FIELDS}
    for key in INT_COLUMNS:
        out[key] = as_int(out[key], key)
    for key in FLOAT_COLUMNS:
        out[key] = as_float(out[key], key)
    for key in TEXT_COLUMNS:
        out[key] = as_text(out[key])
    for key in JSON_COLUMNS:
        out[key] = as_json(out[key], key)
    out["created_at"] = as_timestamp(out["created_at"])
    check_time(out["created_at"], now)
    out["sample_rate"] = as_sample_rate(out["sample_rate"])
    if out["operation"] == EMBEDDING_OPERATION:  # priced, but no prompt to categorize or answer to judge
        out["system_prompt"] = out["prompt_text"] = out["response_text"] = None
    out["is_batch"] = bool(out["is_batch"]) if out["is_batch"] is not None else False
    line = record.get("_line")
    out["source_file"] = display
    out["source_line"] = int(line) if line is not None else None
    out["source_format"] = fmt_name
    out["id"] = stable_id(dedupe_key({**record, **out}))
    out["_seq"] = seq
    out["_supersedes"] = stable_id(record["_supersedes"]) if record.get("_supersedes") else None
    out["_tier"] = as_text(record.get("_service_tier"))
    return out


def scrub(value):
    """Text Arrow can store: lone surrogates (from "\\ud83d"-style escapes) become replacement characters."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def records_table(rows: list[dict]) -> pa.Table:
    columns = {name: [r.get(name) for r in rows] for name in STAGE_SCHEMA.names}
    try:
        return pa.table(columns, schema=STAGE_SCHEMA)
    except (UnicodeEncodeError, pa.ArrowInvalid):
        columns = {name: [scrub(v) for v in values] for name, values in columns.items()}
        return pa.table(columns, schema=STAGE_SCHEMA)


def record_excerpt(item: dict) -> str:
    shown = {k: v for k, v in item.items() if not k.startswith("_")}
    try:
        return json.dumps(shown, ensure_ascii=False, default=str)[:200]
    except RecursionError:
        return "(nested too deeply to show)"
