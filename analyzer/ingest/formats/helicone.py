"""Helicone request exports: `npx @helicone/export` JSON Lines or JSON (records of the
/v1/request/query-clickhouse API, with request and response bodies when --include-body was given)
and its CSV (no response body; JSON cells whose quotes the exporter doubled twice).

Bodies are read in whatever provider shape they carry (OpenAI, Anthropic, Gemini, Responses API).
Token counts come from the response body's usage when it is there; otherwise from Helicone's columns,
where cache reads and writes sit beside `prompt_tokens`. `cost` is Helicone's cost in USD.
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
    params_from_body,
    response_text,
    snake_columns,
    snake_keys,
    to_float,
    to_int,
    usage_fields,
)


def _body(value):
    body = decode_json(value)
    if isinstance(body, dict) and "helicone_message" in body and len(body) == 1:
        return None  # placeholder: the body lives behind signed_body_url
    return body


def helicone_record(row: dict) -> dict:
    r = snake_keys(row)
    source_id = first(r, "request_id", "response_id")
    if source_id is None:
        raise ValueError("no request_id or response_id")
    request = _body(r.get("request_body"))
    response = _body(r.get("response_body"))
    model = first(r, "model", "response_model", "request_model", "model_override")
    if model is None:
        for body in (response, request):
            if isinstance(body, dict) and isinstance(body.get("model"), str):
                model = body["model"]
                break
    provider = first(r, "provider")
    record: dict = {
        "source_id": str(source_id),
        "model": model,
        "provider": str(provider).lower() if provider else guess_provider(model),
        "created_at": to_utc(first(r, "request_created_at", "response_created_at", "created_at")),
        "cost_usd": to_float(first(r, "cost", "cost_usd"), "cost"),
        "duration_ms": to_float(first(r, "delay_ms", "latency"), "latency"),
        "user_id": first(r, "request_user_id", "helicone_user", "user_id"),
    }
    record.update({k: v for k, v in chat_request_fields(request).items() if v})
    params = params_from_body(request)
    if params:
        record["params_json"] = params
    answer = response_text(response)
    if answer:
        record["response_text"] = answer

    usage = {}
    if isinstance(response, dict):
        usage = usage_fields(response.get("usage")) or usage_fields(response.get("usageMetadata"))
    if usage.get("input_tokens") is not None or usage.get("output_tokens") is not None:
        record.update(usage)
    else:
        prompt = to_int(r.get("prompt_tokens"), "prompt_tokens")
        read = to_int(r.get("prompt_cache_read_tokens"), "prompt_cache_read_tokens")
        write = to_int(r.get("prompt_cache_write_tokens"), "prompt_cache_write_tokens")
        record["input_tokens"] = None if prompt is None else prompt + (read or 0) + (write or 0)
        record["cached_input_tokens"] = read
        record["cache_write_tokens"] = write
        record["output_tokens"] = to_int(r.get("completion_tokens"), "completion_tokens")
        record["reasoning_tokens"] = to_int(r.get("reasoning_tokens"), "reasoning_tokens")
        if record["input_tokens"] is None and record["output_tokens"] is None and r.get("total_tokens") is not None:
            record["tags_json"] = {"total_tokens": to_int(r.get("total_tokens"))}

    raw_status = first(r, "response_status", "status")
    try:
        status = int(float(raw_status)) if raw_status is not None else None
    except (TypeError, ValueError, OverflowError):  # a status of Infinity is none
        status = None
    failed = isinstance(response, dict) and isinstance(response.get("error"), (dict, str))
    record["status"] = "error" if failed or (status is not None and not 200 <= status < 300) else "ok"
    tags = dict(record.get("tags_json") or {})
    properties = decode_json(first(r, "request_properties", "properties"))
    if isinstance(properties, dict) and properties:
        tags["properties"] = properties
    for key in ("request_path", "target_url", "time_to_first_token", "cache_reference_id", "prompt_id"):
        value = first(r, key)
        if value is not None:
            tags[key] = value
    scores = decode_json(r.get("scores"))
    if isinstance(scores, dict) and scores:
        tags["scores"] = scores
    if status is not None:
        tags["http_status"] = status
    record["tags_json"] = tags or None
    # the CSV export has no request_id column, so both exports are matched on the response id
    record["_dedupe_key"] = f"helicone|{first(r, 'response_id', 'request_id')}"
    return record


class Helicone:
    name = "helicone"
    order = 50

    def sniff(self, src) -> int:
        columns = snake_columns(src)
        if not ({"request_id", "response_id"} & columns):
            return 0
        if "request_created_at" in columns and ("response_created_at" in columns or "request_body" in columns):
            return 92
        if {"request_body", "response_body"} <= columns:
            return 85
        return 0

    def parse(self, src, ctx):
        return records_from_rows(src, helicone_record, "a request object")


register(Helicone())
