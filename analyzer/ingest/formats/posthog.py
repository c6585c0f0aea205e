"""PostHog LLM analytics: the ``$ai_generation`` and ``$ai_embedding`` events its SDKs capture, as PostHog exports them.

Shapes read (each a list of events, one object per event):

- a batch export to S3 or a file: JSON Lines of ``{uuid, event, properties, distinct_id, timestamp, ...}``, with
  ``properties`` an object or JSON text;
- the events API (``{"results": [...], "next": ...}``) and the query API (``{"columns": [...], "results": [[...]]}``,
  rows as lists beside their column names);
- a CSV of the events table, properties in one JSON cell or one column each (``properties.$ai_model``);
- what an SDK sends (``{"api_key", "batch": [...]}``), kept by a proxy.

An event is a model call; ``$ai_trace``, ``$ai_span``, ``$ai_metric``, ``$ai_feedback`` and any other event are
skipped and counted. Token counts are the SDK's: where ``$ai_cache_reporting_exclusive`` says so (else for Anthropic,
Bedrock and Vertex) ``$ai_input_tokens`` leaves out cache reads and writes, which are added here as for every
Anthropic source; ``$ai_total_cost_usd`` is the cost
PostHog computed when the event landed, read as the logged cost.
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
    table_columns,
    to_bool,
    to_float,
    to_int,
    usage_fields,
)

CALL_EVENTS = {"$ai_generation": None, "$ai_embedding": EMBEDDING_OPERATION}
# Providers whose SDK usage counts input tokens without the cache's (PostHog copies usage.input_tokens as it is).
CACHE_APART = ("anthropic", "bedrock", "vertex")
PROPERTY_PREFIXES = ("properties.", "properties_")
STAR = "*."  # the events table's CSV export: the event's fields under its "*" column
NOT_A_CALL = "a PostHog event that is not a model call"


def event_properties(row: dict) -> dict:
    """The event's properties: an object, JSON text, or columns of their own (``properties.$ai_model``, or the
    ``$ai_*`` names bare, as a query selecting them returns them)."""
    properties = dict(json_object(row.get("properties")))
    for key, value in row.items():
        name = str(key)
        for prefix in PROPERTY_PREFIXES:
            if name.startswith(prefix):
                properties.setdefault(name[len(prefix):], decode_json(value))
        if name.startswith("$ai_"):
            properties.setdefault(name, decode_json(value))
    return properties


def _input_tokens(p: dict, provider: str | None) -> tuple[int | None, int | None, int | None]:
    """(input tokens with the cache's, cache reads, cache writes). PostHog marks a count that leaves the cache out
    (``$ai_cache_reporting_exclusive``); without the mark, the provider says."""
    tokens = to_int(p.get("$ai_input_tokens"), "$ai_input_tokens")
    read = to_int(p.get("$ai_cache_read_input_tokens"), "$ai_cache_read_input_tokens")
    write = to_int(p.get("$ai_cache_creation_input_tokens"), "$ai_cache_creation_input_tokens")
    exclusive = to_bool(p.get("$ai_cache_reporting_exclusive"))
    if exclusive is None:
        exclusive = provider is not None and provider.startswith(CACHE_APART)
    if tokens is not None and exclusive:
        tokens += (read or 0) + (write or 0)
    return tokens, read, write


def _cost(p: dict) -> float | None:
    total = to_float(p.get("$ai_total_cost_usd"), "$ai_total_cost_usd")
    if total is not None:
        return total
    parts = [to_float(p.get(key), key) for key in ("$ai_input_cost_usd", "$ai_output_cost_usd")]
    return None if None in parts else sum(part for part in parts if part is not None)


def _failed(p: dict) -> bool:
    status = to_int(p.get("$ai_http_status"), "$ai_http_status")
    return bool(to_bool(p.get("$ai_is_error"))) or (status is not None and status >= 400) or bool(first(p, "$ai_error"))


def _params(p: dict) -> dict | None:
    params = dict(json_object(p.get("$ai_model_parameters")))
    for key in ("temperature", "max_tokens", "stream"):
        value = p.get(f"$ai_{key}")
        if value is not None:
            params.setdefault(key, value)
    tools = decode_json(p.get("$ai_tools"))
    if tools:
        params["tools"] = tools
    return params or None


def posthog_record(row: dict) -> dict | Skipped:
    event = first(row, "event")
    if event not in CALL_EVENTS:
        return Skipped(None, NOT_A_CALL if str(event or "").startswith("$ai_") else "a PostHog event that is not LLM analytics")
    p = event_properties(row)
    source_id = first(row, "uuid", "id") or first(p, "$insert_id", "$ai_generation_id", "$ai_span_id")
    if source_id is None:
        raise ValueError(f"a PostHog {event} event without uuid")
    model = first(p, "$ai_model", "$ai_model_name")
    provider = first(p, "$ai_provider")
    provider = str(provider).lower() if provider else guess_provider(model)
    input_tokens, read, write = _input_tokens(p, provider)
    latency = to_float(p.get("$ai_latency"), "$ai_latency")  # seconds
    record: dict = {
        "source_id": str(source_id),
        "model": model,
        "provider": provider,
        "created_at": to_utc(first(row, "timestamp", "created_at") or first(p, "$time", "timestamp")),
        "input_tokens": input_tokens,
        "cached_input_tokens": read,
        "cache_write_tokens": write,
        # the provider's own usage, when the SDK kept it: the cache writes kept for an hour
        "cache_write_1h_tokens": usage_fields(json_object(p.get("$ai_usage"))).get("cache_write_1h_tokens") or None,
        "output_tokens": to_int(p.get("$ai_output_tokens"), "$ai_output_tokens"),
        "reasoning_tokens": to_int(p.get("$ai_reasoning_tokens"), "$ai_reasoning_tokens"),
        "cost_usd": _cost(p),
        "duration_ms": None if latency is None else latency * 1000.0,
        "status": "error" if _failed(p) else "ok",
        # Without a person, the SDK sends the trace id as distinct_id (and no person profile): not a user.
        "user_id": first(row, "distinct_id") if to_bool(p.get("$process_person_profile")) is not False else None,
        "trace_id": first(p, "$ai_trace_id"),
        "parent_span_id": first(p, "$ai_parent_id"),
        "operation": CALL_EVENTS[event],
        "params_json": _params(p),
        "_dedupe_key": f"posthog|{source_id}",
    }
    request = chat_request_fields(decode_json(p.get("$ai_input")))
    record.update({k: v for k, v in request.items() if v})
    answer = response_text(decode_json(p.get("$ai_output_choices")))
    if answer:
        record["response_text"] = answer
    tags = {
        "event": event,
        "span_id": first(p, "$ai_span_id"),
        "span_name": first(p, "$ai_span_name"),
        "session_id": first(p, "$ai_session_id", "$session_id"),
        "base_url": first(p, "$ai_base_url"),
        "http_status": to_int(p.get("$ai_http_status"), "$ai_http_status"),
        "error": first(p, "$ai_error"),
        "framework": first(p, "$ai_framework"),
        "lib": first(p, "$lib"),
    }
    record["tags_json"] = {k: v for k, v in tags.items() if v is not None}
    return record


def unflatten(flat: dict) -> dict:
    """Nested values from dotted names, numbered parts as list items: ``properties.$ai_input.0.content`` (how the
    events table's CSV export spells what its ``*`` column held)."""
    root: dict = {}
    for name, value in flat.items():
        if value is None:
            continue
        parts = str(name).split(".")
        node: Any = root
        for part, after in zip(parts, parts[1:], strict=False):
            default: Any = [] if after.isdigit() else {}
            if isinstance(node, list):
                index = int(part)
                node.extend({} for _ in range(index + 1 - len(node)))
                if not isinstance(node[index], (dict, list)) or (node[index] == {} and isinstance(default, list)):
                    node[index] = default
                node = node[index]
            else:
                if not isinstance(node.get(part), (dict, list)):
                    node[part] = default
                node = node[part]
        last = parts[-1]
        if isinstance(node, list):
            index = int(last)
            node.extend(None for _ in range(index + 1 - len(node)))
            node[index] = value
        else:
            node[last] = value
    return root


def _events_of(row: Any) -> list:
    """The events one read value holds: a query result's rows beside its column names, an SDK's batch, a row of the
    events table's CSV export (its ``*`` column spread over dotted columns), or itself."""
    if not isinstance(row, dict):
        return [row]
    if any(str(key).startswith(STAR) for key in row):
        event = unflatten({key[len(STAR):]: value for key, value in row.items() if str(key).startswith(STAR)})
        return [{**{k: v for k, v in row.items() if not str(k).startswith(STAR)}, **event}]
    columns, results = row.get("columns"), row.get("results")
    if isinstance(columns, list) and isinstance(results, list):
        return [dict(zip(columns, values, strict=False)) if isinstance(values, list) else values for values in results]
    batch = row.get("batch")
    if isinstance(batch, list) and "event" not in row:
        return batch
    return [row]


def _marks(columns: frozenset) -> bool:
    return "event" in columns and bool({"properties", "distinct_id", "uuid"} & columns)


class PostHog:
    name = "posthog"
    label = "PostHog events"
    skipped_hint = "PostHog's model calls are its $ai_generation and $ai_embedding events, from LLM analytics"
    order = 50

    def sniff(self, src) -> int:
        columns = table_columns(src)
        if _marks(columns):
            # An export of every event (pageviews first, LLM analytics further on; Parquet, whose first bytes are
            # compressed) is still PostHog's: its other events are skipped and counted.
            return 90 if b"$ai_" in src.head() else 60
        if b"$ai_" not in src.head():
            return 0
        if any(str(c).startswith(PROPERTY_PREFIXES + (STAR,)) for c in columns):
            return 90
        if {"columns", "results"} <= columns or ("batch" in columns and "api_key" in columns):
            return 90
        return 0

    def parse(self, src, ctx):
        return records_from_rows(src, posthog_record, "a PostHog event", items=_events_of)


register(PostHog())
