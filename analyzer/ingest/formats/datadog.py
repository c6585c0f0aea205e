"""Datadog LLM Observability spans: as ``ddtrace`` sends them, as Datadog's export API returns them, and as a
table (a DDSQL query of ``dd.llm_observability`` saved as CSV).

- ``ddtrace``'s span events: JSON arrays of ``{"_dd.stage", "event_type": "span", "spans": [...]}``, the span's kind,
  model, input and output under ``meta`` (``meta.span.kind``);
- the export API (``GET /api/v2/llm-obs/v1/spans/events``, ``POST .../search``): ``{"data": [{"id", "type": "span",
  "attributes": {...}}], "meta": ...}``, or its ``attributes`` one per line (what ``LLMObs.get_spans()`` returns),
  kind, model and provider beside ``input``/``output``/``metrics``;
- a table with one column per value (``span_kind``, ``model_name``, ``input_tokens``...).

A span of kind ``llm`` is a model call and one of kind ``embedding`` an embedding call; agent, workflow, task, tool and
retrieval spans are skipped and counted. Token counts are ddtrace's: ``input_tokens`` holds the cache's reads and
writes for every provider, ``output_tokens`` the reasoning. Costs (``estimated_total_cost``) are Datadog's
estimate, in nanodollars, read as the logged cost. Times are epoch nanoseconds.
"""

from __future__ import annotations

from typing import Any

from ..records import EMBEDDING_OPERATION, Skipped, to_utc
from . import register
from .generic import (
    chat_request_fields,
    decode_json,
    first,
    guess_provider,
    json_object,
    records_from_rows,
    response_text,
    snake_columns,
    to_float,
    to_int,
)

CALL_KINDS = {"llm": None, "embedding": EMBEDDING_OPERATION}
NANODOLLARS = 1e9
NO_PARENT = ("undefined", "0", "")


def span_fields(span: dict) -> dict:
    """One span's values wherever its shape keeps them: under ``meta`` (ddtrace), beside the metrics (export API), or
    one column each (a table), with the kind as ``kind``."""
    meta = json_object(span.get("meta"))
    merged = {**span, **{k: v for k, v in meta.items() if k not in ("span",)}}
    kind = first(span, "span_kind", "span.kind", "kind") or json_object(meta.get("span")).get("kind") or meta.get("span.kind")
    merged["kind"] = str(kind).lower() if kind is not None else None
    return merged


def _metric(s: dict, metrics: dict, name: str) -> Any:
    """A metric from ``metrics`` or, in a table, its own column."""
    value = metrics.get(name)
    return value if value is not None else s.get(name)


def _messages_or_value(io: Any) -> Any:
    io = decode_json(io)
    if not isinstance(io, dict):
        return io
    if isinstance(io.get("messages"), list):
        return io["messages"]
    documents = io.get("documents")
    if isinstance(documents, list):  # an embedding's inputs
        return "\n".join(str(d.get("text") or "") for d in documents if isinstance(d, dict)) or None
    return io.get("value")


def _answer(output: Any) -> str | None:
    listed = _messages_or_value(output)
    if isinstance(listed, list):
        listed = [m for m in listed if isinstance(m, dict) and (m.get("content") or m.get("tool_calls"))]
        return response_text([{**m, "role": m.get("role") or "assistant"} for m in listed]) if listed else None
    return response_text(listed)


def _tags(span: dict) -> dict:
    """``key:value`` tags as a dict (the last value of a key wins)."""
    out: dict = {}
    tags = span.get("tags")
    for tag in tags if isinstance(tags, list) else ():
        key, sep, value = str(tag).partition(":")
        if sep:
            out[key] = value
    return out


def datadog_record(span: dict) -> dict | Skipped:
    s = span_fields(span)
    kind = s["kind"]
    if kind not in CALL_KINDS:
        return Skipped(None, f"a Datadog {kind or 'unnamed'} span, not a model call")
    span_id = first(s, "span_id", "id")
    if span_id is None:
        raise ValueError("a Datadog span without span_id")
    metrics = json_object(s.get("metrics"))
    tags = _tags(s)
    model = first(s, "model_name")
    provider = first(s, "model_provider")
    cost = to_float(_metric(s, metrics, "estimated_total_cost"), "estimated_total_cost")
    duration = to_float(s.get("duration"), "duration")  # nanoseconds
    error = json_object(s.get("error"))
    parent = first(s, "parent_id")
    record: dict = {
        "source_id": str(span_id),
        "model": model,
        "provider": str(provider).lower() if provider and provider != "unknown" else guess_provider(model),
        "created_at": to_utc(first(s, "start_ns", "ts", "timestamp", "start_time")),  # ddtrace: nanoseconds
        "input_tokens": to_int(_metric(s, metrics, "input_tokens"), "input_tokens"),
        "cached_input_tokens": to_int(_metric(s, metrics, "cache_read_input_tokens"), "cache_read_input_tokens"),
        "cache_write_tokens": to_int(_metric(s, metrics, "cache_write_input_tokens"), "cache_write_input_tokens"),
        "cache_write_1h_tokens": to_int(_metric(s, metrics, "ephemeral_1h_input_tokens"), "ephemeral_1h_input_tokens") or None,
        "output_tokens": to_int(_metric(s, metrics, "output_tokens"), "output_tokens"),
        "reasoning_tokens": to_int(_metric(s, metrics, "reasoning_output_tokens"), "reasoning_output_tokens"),
        "cost_usd": None if cost is None else cost / NANODOLLARS,
        "duration_ms": None if duration is None else duration / 1e6,
        "status": "error" if str(first(s, "status", "span_status") or "").lower() == "error" else "ok",
        "user_id": first(tags, "user_id", "usr.id"),
        "trace_id": first(s, "trace_id"),
        "parent_span_id": None if parent is None or str(parent) in NO_PARENT else str(parent),
        "operation": CALL_KINDS[kind],
        "_dedupe_key": f"datadog|{span_id}",
    }
    request = chat_request_fields(_messages_or_value(s.get("input")))
    record.update({k: v for k, v in request.items() if v})
    answer = _answer(s.get("output")) if kind == "llm" else None
    if answer:
        record["response_text"] = answer
    params = {k: v for k, v in json_object(s.get("metadata")).items() if k not in ("finish_reason",)}
    record["params_json"] = params or None
    extra = {
        "name": first(s, "name", "span_name"),
        "ml_app": first(s, "ml_app") or tags.get("ml_app"),
        "session_id": first(s, "session_id") or tags.get("session_id"),
        "env": tags.get("env"),
        "service": tags.get("service"),
        "error_type": first(error, "type") or tags.get("error_type"),
        "error": first(error, "message"),
    }
    record["tags_json"] = {k: v for k, v in extra.items() if v not in (None, "")} or None
    return record


def _spans_of(row: Any) -> list:
    """The spans one read value holds: ddtrace's event (its ``spans``), the export API's item (its ``attributes``), or
    a span itself."""
    if not isinstance(row, dict):
        return [row]
    if isinstance(row.get("spans"), list) and "event_type" in row:
        return row["spans"]
    attributes = row.get("attributes")
    if row.get("type") == "span" and isinstance(attributes, dict):
        return [{"span_id": row.get("id"), **attributes}]
    return [row]


def _looks_like_span(columns: frozenset) -> bool:
    return "span_id" in columns and bool({"span_kind", "meta", "ml_app"} & columns) and bool(
        {"metrics", "model_name", "input_tokens", "start_ns", "ml_app"} & columns)


class Datadog:
    name = "datadog"
    label = "Datadog LLM Observability spans"
    skipped_hint = "its model calls are spans of kind llm or embedding; agent, workflow, task, tool and retrieval spans are skipped"
    order = 50

    def sniff(self, src) -> int:
        columns = snake_columns(src)
        if {"event_type", "spans"} <= columns and b'"_dd' in src.head():
            return 92
        if {"type", "attributes"} <= columns and b'"span_kind"' in src.head() and b'"ml_app"' in src.head():
            return 92
        if _looks_like_span(columns):
            return 90
        return 0

    def parse(self, src, ctx):
        return records_from_rows(src, datadog_record, "a Datadog span", items=_spans_of)


register(Datadog())
