"""OpenRouter: the activity export, and generation objects from its API.

- ``openrouter``: the activity export (openrouter.ai/activity, "Export" as CSV; also JSON/JSONL of the same rows).
- ``openrouter-generation``: what ``GET /api/v1/generation?id=...`` returns, ``{"data": {...}}`` (snake_case, or
  camelCase as OpenRouter's SDKs hand it back), one response, a JSON list or JSON Lines of them, or the bare objects.
  Tokens are the provider's own counts (``native_tokens_*``; ``tokens_*``, OpenRouter's normalised counts, only
  when those are missing). ``total_cost`` is what OpenRouter charged; with bring-your-own-key (``is_byok``) the
  upstream provider's ``upstream_inference_cost`` was charged on top, so the request's cost is their sum.
  A generation has the same id in both exports, so it is stored once whichever is ingested.

The activity export:

One row per generation, usage and cost only: there is no prompt or response text. Columns are read by
header name, so reordered or added columns do not matter. `cost_total` is what OpenRouter charged;
with bring-your-own-key, `byok_usage_inference` is what the upstream provider charged on top, so the
request's cost is their sum. `tokens_prompt` includes `tokens_cached`, `tokens_completion` includes
`tokens_reasoning` (OpenAI's conventions, which OpenRouter follows).
"""

from __future__ import annotations

from ..records import to_utc
from . import register
from ..records import first_json_object
from .generic import decode_json, first, records_from_rows, snake_columns, snake_keys, to_bool, to_float, to_int

_ERROR_FINISH = {"error", "failed"}


def activity_record(row: dict) -> dict:
    r = snake_keys(row)
    generation_id = first(r, "generation_id", "id")
    if generation_id is None:
        raise ValueError("no generation_id")
    created = to_utc(first(r, "created_at", "date"))
    if created is None:
        raise ValueError("no created_at")
    cost = to_float(r.get("cost_total"), "cost_total")
    byok = to_float(r.get("byok_usage_inference"), "byok_usage_inference")
    if byok:
        cost = (cost or 0.0) + byok
    record: dict = {
        "source_id": str(generation_id),
        "provider": "openrouter",
        "model": first(r, "model_permaslug", "model", "model_slug"),
        "created_at": created,
        "cost_usd": cost,
        "input_tokens": to_int(r.get("tokens_prompt"), "tokens_prompt"),
        "cached_input_tokens": to_int(r.get("tokens_cached"), "tokens_cached"),
        "output_tokens": to_int(r.get("tokens_completion"), "tokens_completion"),
        "reasoning_tokens": to_int(r.get("tokens_reasoning"), "tokens_reasoning"),
        "duration_ms": to_float(r.get("generation_time_ms"), "generation_time_ms"),
        "user_id": first(r, "user"),
    }
    finish = str(first(r, "finish_reason_normalized", "finish_reason_raw") or "").lower()
    if to_bool(r.get("cancelled")):
        record["status"] = "cancelled"
    elif finish in _ERROR_FINISH:
        record["status"] = "error"
    else:
        record["status"] = "ok"
    tags = {
        "upstream_provider": first(r, "provider_name"),
        "variant": first(r, "variant"),
        "api_key_name": first(r, "api_key_name"),
        "app_name": first(r, "app_name"),
        "finish_reason": finish or None,
        "streamed": to_bool(r.get("streamed")),
        "time_to_first_token_ms": to_float(r.get("time_to_first_token_ms"), "time_to_first_token_ms"),
        "byok_usage_inference": byok or None,
        "cost_web_search": to_float(r.get("cost_web_search"), "cost_web_search") or None,
        "cost_cache": to_float(r.get("cost_cache"), "cost_cache") or None,
    }
    record["tags_json"] = {k: v for k, v in tags.items() if v is not None} or None
    record["_dedupe_key"] = f"openrouter|{generation_id}"
    return record


class OpenRouterActivity:
    name = "openrouter"
    order = 50

    def sniff(self, src) -> int:
        columns = snake_columns(src)
        if "generation_id" in columns and ({"cost_total", "tokens_prompt", "model_permaslug"} & columns):
            return 95
        return 0

    def parse(self, src, ctx):
        return records_from_rows(src, activity_record, "an activity row")


def _status(r: dict, finish: str) -> str:
    if to_bool(r.get("cancelled")):
        return "cancelled"
    return "error" if finish in _ERROR_FINISH else "ok"


def _generation(row: dict) -> dict:
    inner = decode_json(row.get("data"))
    return inner if isinstance(inner, dict) else row


def generation_record(row: dict) -> dict:
    """A `requests` record from one /api/v1/generation object."""
    r = snake_keys(_generation(row))
    generation_id = first(r, "id")
    if generation_id is None:
        raise ValueError("a generation needs its id")
    created = to_utc(first(r, "created_at"))
    if created is None:
        raise ValueError("no created_at")
    cost = to_float(r.get("total_cost"), "total_cost")
    if cost is None:
        cost = to_float(r.get("usage"), "usage")
    upstream = to_float(r.get("upstream_inference_cost"), "upstream_inference_cost")
    byok = bool(to_bool(r.get("is_byok")))
    if byok and upstream:
        cost = (cost or 0.0) + upstream

    def tokens(kind: str) -> int | None:
        native = to_int(r.get(f"native_tokens_{kind}"), f"native_tokens_{kind}")
        return native if native is not None else to_int(r.get(f"tokens_{kind}"), f"tokens_{kind}")

    finish = str(first(r, "finish_reason") or "").lower()
    latency = to_float(r.get("latency"), "latency")
    record: dict = {
        "source_id": str(generation_id),
        "provider": "openrouter",
        "model": first(r, "model"),
        "created_at": created,
        "cost_usd": cost,
        "input_tokens": tokens("prompt"),
        "cached_input_tokens": to_int(r.get("native_tokens_cached"), "native_tokens_cached"),
        "output_tokens": tokens("completion"),
        "reasoning_tokens": to_int(r.get("native_tokens_reasoning"), "native_tokens_reasoning"),
        "duration_ms": latency if latency is not None else to_float(r.get("generation_time"), "generation_time"),
        "user_id": first(r, "external_user", "user"),
        "status": _status(r, finish),
    }
    tags = {
        "upstream_provider": first(r, "provider_name"),
        "upstream_id": first(r, "upstream_id"),
        "finish_reason": finish or None,
        "native_finish_reason": first(r, "native_finish_reason"),
        "streamed": to_bool(r.get("streamed")),
        "byok_usage_inference": upstream if byok and upstream else None,
        "cache_discount": to_float(r.get("cache_discount"), "cache_discount") or None,
        "generation_time_ms": to_float(r.get("generation_time"), "generation_time"),
        "router": first(r, "router"),
        "api_type": first(r, "api_type"),
        "origin": first(r, "origin"),
        "num_search_results": to_int(r.get("num_search_results"), "num_search_results") or None,
    }
    record["tags_json"] = {k: v for k, v in tags.items() if v is not None} or None
    record["_dedupe_key"] = f"openrouter|{generation_id}"  # the activity export's generation_id
    return record


class OpenRouterGeneration:
    """Generation objects from OpenRouter's /api/v1/generation endpoint."""

    name = "openrouter-generation"
    label = "OpenRouter generation objects"
    order = 50

    def sniff(self, src) -> int:
        obj = first_json_object(src)
        keys = set(snake_keys(_generation(obj))) if isinstance(obj, dict) else set(snake_columns(src))
        if {"id", "total_cost", "created_at"} <= keys and {"native_tokens_prompt", "tokens_prompt"} & keys:
            return 95
        return 0

    def parse(self, src, ctx):
        return records_from_rows(src, generation_record, "a generation object")


register(OpenRouterActivity())
register(OpenRouterGeneration())
