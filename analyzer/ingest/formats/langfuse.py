"""Langfuse observations and generations: the public API's camelCase JSON ({"data": [...]} pages or lists),
UI batch exports (CSV/JSON) and blob-storage exports in snake_case (CSV, JSON, JSON Lines or Parquet,
legacy `observations/` and enriched `observations_v2/`).

Only GENERATION (and EMBEDDING) observations are model calls; spans, events, tools and the rest are
skipped, not rejected. Token counts follow Langfuse's own rule: every usage key naming "input" adds to
input and every key naming "output" to output, so cached and audio tokens are counted once. The cost
Langfuse recorded (costDetails.total, totalCost or calculatedTotalCost) is kept as the log's cost.
"""

from __future__ import annotations

from ..records import to_utc
from . import register
from .generic import (
    records_from_rows,
    chat_request_fields,
    decode_json,
    first,
    guess_provider,
    ms_between,
    response_text,
    snake_columns,
    snake_keys,
    to_float,
    to_int,
)

MODEL_CALL_TYPES = {"GENERATION", "EMBEDDING"}


def usage_from_details(details) -> dict:
    """input/cached/cache-write/output/reasoning totals from a Langfuse usage or usageDetails mapping."""
    details = decode_json(details)
    if not isinstance(details, dict):
        return {}
    sums = {"input": None, "cached": None, "write": None, "output": None, "reasoning": None}

    def add(slot, value):
        sums[slot] = (sums[slot] or 0) + value

    for key, raw in details.items():
        name = str(key).lower()
        if any(word in name for word in ("cost", "price", "unit")):
            continue
        try:
            value = to_int(raw, key)
        except ValueError:
            continue
        if value is None:
            continue
        if name in ("prompt_tokens", "prompttokens"):
            name = "input"
        elif name in ("completion_tokens", "completiontokens"):
            name = "output"
        if "input" in name:
            add("input", value)
            if "cache_read" in name or "cached" in name:
                add("cached", value)
            elif "cache_creation" in name or "cache_write" in name:
                add("write", value)
        elif "output" in name:
            add("output", value)
            if "reasoning" in name:
                add("reasoning", value)
    return {
        "input_tokens": sums["input"],
        "cached_input_tokens": sums["cached"],
        "cache_write_tokens": sums["write"],
        "output_tokens": sums["output"],
        "reasoning_tokens": sums["reasoning"],
    }


def _cost(r: dict) -> float | None:
    details = decode_json(r.get("cost_details"))
    if isinstance(details, dict) and details:
        if details.get("total") is not None:
            return to_float(details["total"], "costDetails.total")
        values = [to_float(v) for k, v in details.items() if to_float(v) is not None]
        if values:
            return sum(values)
    cost = to_float(first(r, "total_cost", "calculated_total_cost"), "totalCost")
    if cost is not None:
        return cost
    usage = decode_json(r.get("usage"))
    if isinstance(usage, dict) and usage.get("totalCost") is not None:
        return to_float(usage["totalCost"], "usage.totalCost")
    for pair in (("input_cost", "output_cost"), ("calculated_input_cost", "calculated_output_cost")):
        parts = [to_float(r.get(k), k) for k in pair]
        if any(p is not None for p in parts):
            return sum(p or 0.0 for p in parts)
    return None


def observation_record(row: dict) -> dict | None:
    """A `requests` record for a generation; None for observations that are not model calls."""
    r = snake_keys(row)
    kind = str(first(r, "type") or "").upper()
    if kind and kind not in MODEL_CALL_TYPES:
        return None
    obs_id = first(r, "id", "observation_id", "span_id")
    if obs_id is None:
        raise ValueError("observation without id")
    metadata = decode_json(r.get("metadata"))
    metadata = metadata if isinstance(metadata, dict) else {}
    model = first(r, "provided_model_name", "model")
    start = to_utc(first(r, "start_time", "timestamp"))
    record: dict = {
        "source_id": str(obs_id),
        "model": model,
        "provider": metadata.get("ls_provider") or metadata.get("provider") or guess_provider(model),
        "created_at": start,
        "cost_usd": _cost(r),
    }
    usage = usage_from_details(r.get("usage_details"))
    if not any(v is not None for v in usage.values()):
        usage = usage_from_details(r.get("usage"))
    if not any(v is not None for v in usage.values()):
        usage = {
            "input_tokens": to_int(first(r, "input_tokens", "prompt_tokens", "input_usage"), "inputTokens"),
            "output_tokens": to_int(first(r, "output_tokens", "completion_tokens", "output_usage"), "outputTokens"),
        }
    record.update({k: v for k, v in usage.items() if v is not None})

    request = chat_request_fields(decode_json(r.get("input")))
    record.update({k: v for k, v in request.items() if v})
    answer = response_text(decode_json(r.get("output")))
    if answer:
        record["response_text"] = answer
    params = decode_json(r.get("model_parameters"))
    if isinstance(params, dict) and params:
        record["params_json"] = params

    duration = ms_between(start, to_utc(first(r, "end_time")))
    if duration is None and first(r, "latency") is not None:
        duration = to_float(r["latency"], "latency") * 1000.0  # exported in seconds
    record["duration_ms"] = duration
    level = str(first(r, "level") or "").upper()
    record["status"] = "error" if level == "ERROR" else "ok"
    record["user_id"] = first(r, "user_id") or metadata.get("user_id") or metadata.get("langfuse_user_id")
    tags = {
        "trace_id": first(r, "trace_id"),
        "name": first(r, "name"),
        "type": kind or None,
        "session_id": first(r, "session_id"),
        "trace_name": first(r, "trace_name"),
        "tags": decode_json(r.get("tags")) or None,
        "environment": first(r, "environment"),
        "prompt_name": first(r, "prompt_name"),
        "status_message": first(r, "status_message"),
    }
    record["tags_json"] = {k: v for k, v in tags.items() if v not in (None, "", [], {}, "default")} or None
    record["_dedupe_key"] = f"langfuse|{obs_id}"
    return record


class Langfuse:
    name = "langfuse"
    order = 50

    def sniff(self, src) -> int:
        columns = snake_columns(src)
        if "trace_id" not in columns or "id" not in columns or {"response_cost", "call_type"} & columns:
            return 0  # LiteLLM's StandardLoggingPayload has a trace_id, id, startTime and model too
        if {"type", "start_time"} <= columns:
            return 92
        if "start_time" in columns and ({"model", "provided_model_name", "usage", "usage_details"} & columns):
            return 88
        return 0

    def parse(self, src, ctx):
        return records_from_rows(src, observation_record, "an observation object")


register(Langfuse())
