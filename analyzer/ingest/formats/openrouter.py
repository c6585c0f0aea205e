"""OpenRouter activity export (openrouter.ai/activity, "Export" as CSV; also JSON/JSONL of the same rows).

One row per generation, usage and cost only: there is no prompt or response text. Columns are read by
header name, so reordered or added columns do not matter. `cost_total` is what OpenRouter charged;
with bring-your-own-key, `byok_usage_inference` is what the upstream provider charged on top, so the
request's cost is their sum. `tokens_prompt` includes `tokens_cached`, `tokens_completion` includes
`tokens_reasoning` (OpenAI's conventions, which OpenRouter follows).
"""

from __future__ import annotations

from ..records import to_utc
from . import register
from .generic import first, records_from_rows, snake_columns, snake_keys, to_bool, to_float, to_int

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


register(OpenRouterActivity())
