"""LiteLLM: the proxy's `LiteLLM_SpendLogs` exports, and the `StandardLoggingPayload` its logging callbacks write.

- ``litellm``: spend logs as CSV (psql COPY, the UI), JSON (/spend/logs, /spend/logs/v2 {"data": [...]}), JSON Lines
  or Parquet. `messages`, `response`, `metadata`, `request_tags` and `proxy_server_request` may be JSON-encoded
  strings. `spend` is the cost LiteLLM computed for the call, so it is kept as a log-stated cost. `prompt_tokens`
  follows OpenAI's convention (cached input included); cache and reasoning details come from
  `metadata.usage_object`.
- ``litellm-payload``: `StandardLoggingPayload` objects (``kwargs["standard_logging_object"]`` as custom callbacks,
  the S3/GCS loggers and file dumps keep them): one object, a JSON list or JSON Lines, also wrapped as
  ``{"standard_logging_object": {...}}``, or inside the whole ``kwargs`` a custom callback dumps beside its
  ``response_obj`` (``{"kwargs", "response_obj", "start_time", "end_time"}``). The logged `response_cost` wins over any catalogue price; the prompt
  comes from `messages`, the answer and cache details from `response` (a ModelResponse), parameters from
  `model_parameters`, time from `startTime`/`endTime` (epoch seconds) and the outcome from `status`. The payload's
  `id` is the spend log's `request_id`, so both exports of one call are one request.
"""

from __future__ import annotations

from ..records import first_json_object, to_utc
from . import register
from .generic import (
    records_from_rows,
    chat_request_fields,
    decode_json,
    first,
    guess_provider,
    ms_between,
    params_from_body,
    response_text,
    snake_columns,
    snake_keys,
    to_bool,
    to_float,
    to_int,
    usage_fields,
)

_STATUS = {"success": "ok", "failure": "error", "failed": "error", "error": "error"}
# What LiteLLM writes in place of message and answer text when message logging is turned off.
REDACTED = "redacted-by-litellm"


def _drop_redacted(record: dict) -> None:
    """No prompt or answer text where LiteLLM logged its redaction placeholder instead of the text."""
    for key in ("system_prompt", "prompt_text", "response_text"):
        if isinstance(record.get(key), str) and record[key].strip() == REDACTED:
            record.pop(key)
    messages = record.get("messages_json")
    if isinstance(messages, list) and messages and all(
            isinstance(m, dict) and str(m.get("content") or "").strip() in ("", REDACTED) for m in messages):
        record.pop("messages_json")


def _messages_fields(messages, proxy_request) -> dict:
    messages = decode_json(messages)
    if messages not in (None, {}, [], ""):
        fields = chat_request_fields(messages)
        if fields.get("messages_json") or fields.get("prompt_text"):
            return fields
    proxy_request = decode_json(proxy_request)
    if isinstance(proxy_request, dict):
        body = decode_json(proxy_request.get("body")) if isinstance(proxy_request.get("body"), (dict, str)) else proxy_request
        return chat_request_fields(body)
    return {}


def spend_log_record(row: dict) -> dict:
    r = snake_keys(row)
    request_id = first(r, "request_id")
    if request_id is None:
        raise ValueError("no request_id")
    metadata = decode_json(r.get("metadata"))
    metadata = metadata if isinstance(metadata, dict) else {}
    model = first(r, "model", "model_group")
    provider = first(r, "custom_llm_provider") or guess_provider(model)
    record: dict = {
        "source_id": str(request_id),
        "model": model,
        "provider": provider,
        "created_at": to_utc(first(r, "start_time", "starttime")),
        "cost_usd": to_float(r.get("spend"), "spend"),
        "input_tokens": to_int(r.get("prompt_tokens"), "prompt_tokens"),
        "output_tokens": to_int(r.get("completion_tokens"), "completion_tokens"),
    }
    usage = usage_fields(metadata.get("usage_object"))
    for key in ("cached_input_tokens", "cache_write_tokens", "reasoning_tokens"):
        if usage.get(key) is not None:
            record[key] = usage[key]
    if record["input_tokens"] is None and usage.get("input_tokens") is not None:
        record["input_tokens"] = usage["input_tokens"]
    if record["output_tokens"] is None and usage.get("output_tokens") is not None:
        record["output_tokens"] = usage["output_tokens"]

    record.update({k: v for k, v in _messages_fields(r.get("messages"), r.get("proxy_server_request")).items() if v})
    proxy_request = decode_json(r.get("proxy_server_request"))
    params = params_from_body(proxy_request) if isinstance(proxy_request, dict) else None
    if params:
        record["params_json"] = params
    answer = response_text(decode_json(r.get("response")))
    if not answer and isinstance(r.get("output"), list):  # the GCS/PubSub logger: the choices, each as JSON text
        answer = response_text({"choices": [decode_json(choice) for choice in r["output"]]})
    if answer:
        record["response_text"] = answer
    _drop_redacted(record)

    duration = to_float(r.get("request_duration_ms"), "request_duration_ms")
    if duration is None:
        duration = ms_between(record["created_at"], to_utc(first(r, "end_time", "endtime")))
    record["duration_ms"] = duration
    status = str(first(r, "status") or metadata.get("status") or "success").lower()
    record["status"] = _STATUS.get(status, status)
    record["user_id"] = first(r, "end_user", "user") or metadata.get("user_api_key_end_user_id") or metadata.get("user_api_key_user_id")
    tags = {
        "call_type": r.get("call_type"),
        "request_tags": decode_json(r.get("request_tags")) or None,
        "team_id": first(r, "team_id") or metadata.get("user_api_key_team_id"),
        "api_key_alias": metadata.get("user_api_key_alias"),
        "model_group": first(r, "model_group"),
        "session_id": first(r, "session_id"),
        "cache_hit": to_bool(r.get("cache_hit")),
        "spend_logs_metadata": metadata.get("spend_logs_metadata"),
        "error": (metadata.get("error_information") or {}).get("error_message") if isinstance(metadata.get("error_information"), dict) else None,
    }
    record["tags_json"] = {k: v for k, v in tags.items() if v not in (None, "", [], {})} or None
    if str(r.get("call_type") or "").lower().endswith("embedding"):
        record["tags_json"] = {**(record["tags_json"] or {}), "embedding": True}
    record["_dedupe_key"] = f"litellm|{request_id}"
    return record


class LiteLLMSpendLogs:
    name = "litellm"
    label = "a LiteLLM spend log"
    order = 50

    def sniff(self, src) -> int:
        columns = snake_columns(src)
        if {"request_id", "call_type", "spend"} <= columns:
            return 92 if ("start_time" in columns or "starttime" in columns) else 85
        return 0

    def parse(self, src, ctx):
        return records_from_rows(src, spend_log_record, "a spend-log row object")


_OPERATIONS = {"completion": "chat", "acompletion": "chat", "text_completion": "text_completion",
               "atext_completion": "text_completion", "embedding": "embeddings", "aembedding": "embeddings"}
PAYLOAD_KEY = "standard_logging_object"


def _payload(row: dict) -> dict:
    """The payload of a row: the row itself, or what it holds under ``standard_logging_object``, at the top or in the
    ``kwargs`` a custom callback's ``log_success_event``/``log_failure_event`` was given (and dumped beside
    ``response_obj``, ``start_time`` and ``end_time``)."""
    for holder in (row, decode_json(row.get("kwargs"))):
        inner = decode_json(holder.get(PAYLOAD_KEY)) if isinstance(holder, dict) else None
        if isinstance(inner, dict):
            return inner
    return row


def holds_callback_payload(obj) -> bool:
    """A custom callback's dump, ``{"kwargs": {..., "standard_logging_object": {...}}, "response_obj": ...}``."""
    kwargs = decode_json(obj.get("kwargs")) if isinstance(obj, dict) else None
    return isinstance(kwargs, dict) and isinstance(decode_json(kwargs.get(PAYLOAD_KEY)), dict)


def payload_record(row: dict) -> dict:
    """A `requests` record from one StandardLoggingPayload."""
    p = _payload(row)
    call_id = first(p, "id")
    if call_id is None:
        raise ValueError("a StandardLoggingPayload needs its id")
    metadata = decode_json(p.get("metadata"))
    metadata = metadata if isinstance(metadata, dict) else {}
    hidden = decode_json(p.get("hidden_params"))
    hidden = hidden if isinstance(hidden, dict) else {}
    model = first(p, "model") or hidden.get("litellm_model_name")
    response = decode_json(p.get("response"))
    usage = usage_fields(response.get("usage")) if isinstance(response, dict) else {}
    # a redacted, failed or streamed call can log no usable response: LiteLLM keeps its usage in the metadata too
    logged_usage = usage_fields(metadata.get("usage_object"))
    usage = {**logged_usage, **usage}
    start = to_utc(p.get("startTime"))
    record: dict = {
        "source_id": str(call_id),
        "model": model,
        "provider": first(p, "custom_llm_provider") or guess_provider(model),
        "created_at": start,
        "duration_ms": ms_between(start, to_utc(p.get("endTime"))),
        "cost_usd": to_float(p.get("response_cost"), "response_cost"),
        "input_tokens": to_int(p.get("prompt_tokens"), "prompt_tokens"),
        "output_tokens": to_int(p.get("completion_tokens"), "completion_tokens"),
        "operation": _OPERATIONS.get(str(p.get("call_type") or "").lower()),
        "trace_id": first(p, "trace_id"),
    }
    for key in ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens"):
        if record.get(key) is None and usage.get(key) is not None:
            record[key] = usage[key]
    record.update({k: v for k, v in chat_request_fields(decode_json(p.get("messages"))).items() if v})
    answer = response_text(response) if response not in (None, "", {}) else None
    if answer:
        record["response_text"] = answer
    _drop_redacted(record)
    params = decode_json(p.get("model_parameters"))
    if isinstance(params, dict) and params:
        record["params_json"] = params
    record["status"] = _STATUS.get(str(p.get("status") or "success").lower(), str(p.get("status")))
    record["user_id"] = first(p, "end_user") or metadata.get("user_api_key_end_user_id") or metadata.get("user_api_key_user_id")
    record["tags_json"] = _payload_tags(p, metadata)
    record["_dedupe_key"] = f"litellm|{call_id}"
    return record


def _payload_tags(p: dict, metadata: dict) -> dict | None:
    error = decode_json(p.get("error_information"))
    tags = {
        "call_type": p.get("call_type"),
        "request_tags": decode_json(p.get("request_tags")) or None,
        "team_id": metadata.get("user_api_key_team_id"),
        "api_key_alias": metadata.get("user_api_key_alias"),
        "model_group": first(p, "model_group"),
        "cache_hit": to_bool(p.get("cache_hit")),
        "spend_logs_metadata": metadata.get("spend_logs_metadata"),
        "error": first(p, "error_str") or (error.get("error_message") if isinstance(error, dict) else None),
    }
    return {k: v for k, v in tags.items() if v not in (None, "", [], {})} or None


class LiteLLMPayload:
    """StandardLoggingPayload objects, as LiteLLM's logging callbacks write them."""

    name = "litellm-payload"
    label = "a LiteLLM StandardLoggingPayload log"
    order = 50

    def sniff(self, src) -> int:
        columns = snake_columns(src)
        if PAYLOAD_KEY in columns:
            return 95
        if "kwargs" in columns and holds_callback_payload(first_json_object(src)):
            return 96  # PromptLayer's pairs use `kwargs` too, beside `request_response`
        if "response_cost" in columns and "id" in columns and ({"call_type", "messages", "start_time"} & columns):
            return 95
        return 0

    def parse(self, src, ctx):
        return records_from_rows(src, payload_record, "a StandardLoggingPayload object")


register(LiteLLMSpendLogs())
register(LiteLLMPayload())
