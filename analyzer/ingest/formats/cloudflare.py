"""Cloudflare AI Gateway: logs as its API returns them (format ``cloudflare-ai-gateway``).

``GET /accounts/{account}/ai-gateway/gateways/{gateway}/logs`` answers pages
``{"result": [log, ...], "result_info": {...}, "success": true, "errors": [], "messages": []}``; ``GET .../logs/{id}``
answers ``{"result": log}``. Read: one page, a JSON list of pages, JSON Lines of pages, or the log objects themselves
(one per line or a JSON list). A log (Cloudflare's API schema, as its SDKs type it: ``LogListResponse``/``LogGetResponse``)
has ``id``, ``created_at``, ``provider``, ``model``, ``path``, ``success``, ``cached``, ``duration``, ``tokens_in``,
``tokens_out``, optionally ``cost``, ``custom_cost``, ``metadata`` (a JSON string), ``status_code``, ``request_type``,
``model_type``, ``step``, and in the detail ``request_head``/``response_head`` (the bodies' beginnings, whole when
``*_head_complete``).

- ``cost`` is Cloudflare's estimate in US dollars (its custom-cost docs price "$1 per million input tokens" as
  ``per_token_in: 0.000001``); it is the request's cost (``cost_source`` 'log'); with ``custom_cost`` it is the
  negotiated price the request set. A log without ``cost`` is priced from the catalog.
- ``duration`` is an integer of milliseconds (what the dashboard shows; the API schema states no unit).
- ``cached``: the gateway answered from its own cache, so no model was called and the provider charged nothing.
  Such a log is not a model call: it is skipped and counted (``rows_skipped``), not stored.
- ``success`` false, or a ``status_code`` of 400 and above, is stored with status ``error``.
- Bodies: a log carrying the request and response bodies (``request``/``response``, also ``request_body``/
  ``response_body``, as ``GET .../logs/{id}/request`` and ``/response`` return them: the provider's own JSON, or a
  streamed answer's SSE text), or complete ``request_head``/``response_head``, is read as an app log's pair (OpenAI
  or Anthropic shape): prompt, parameters, answer, and the provider's usage (cached and reasoning tokens included),
  which then gives the token counts; without usage in the body, ``tokens_in``/``tokens_out`` are the counts.
- ``metadata`` (custom metadata set with ``cf-aig-metadata``) goes to the tags; its ``user_id``/``userId``/``user``
  is the request's user.
"""

from __future__ import annotations

from typing import Any

from ..records import Skipped, first_json_object, maybe_json, to_utc
from . import anthropic, openai, register
from .app_log import unwrap_body
from .generic import decode_json, first, records_from_rows, to_bool, to_float, to_int

FORMAT = "cloudflare-ai-gateway"
CACHED = "served from the AI Gateway cache (no model call)"
_LOG_KEYS = {"id", "created_at", "provider", "model"}
_GATEWAY_KEYS = {"tokens_in", "tokens_out", "cached", "duration", "path", "request_type", "custom_cost"}


def _is_log(obj: Any) -> bool:
    return isinstance(obj, dict) and _LOG_KEYS <= set(obj) and len(_GATEWAY_KEYS & set(obj)) >= 2


def logs_of(row: dict) -> list:
    """The logs one row holds: a page's ``result`` list, a detail's ``result`` object, or the row itself."""
    if not isinstance(row, dict):
        return [row]  # not an object: the reader rejects it
    result = row.get("result")
    if "result" in row and not _is_log(row):
        if isinstance(result, list):
            return result
        if isinstance(result, dict):
            return [result]
        return [row]  # a page that failed, {"success": false, "errors": [...], "result": null}: rejected with its errors
    return [row]


def _body(log: dict, side: str) -> Any:
    value = first(log, side, f"{side}_body")
    if value is None and to_bool(log.get(f"{side}_head_complete")):
        value = log.get(f"{side}_head")
    body, _ = unwrap_body(value)
    return maybe_json(body)


def _bodies_record(request: Any, response: Any) -> dict:
    from .app_calls import looks_anthropic, response_object

    response = response_object(response) if response is not None else None
    request = request if isinstance(request, dict) else None
    if request is None and not isinstance(response, dict):
        return {}
    if looks_anthropic(request, response):
        return anthropic.pair_record(request, response)
    return openai.pair_record(request, response)


def log_record(log: dict) -> dict | Skipped:
    """A `requests` record from one AI Gateway log (a Skipped for a response served from the gateway's cache)."""
    if "result" in log and not _is_log(log):
        raise ValueError(f"an API answer without logs (success: {log.get('success')}, errors: {log.get('errors')})")
    log_id = first(log, "id")
    if log_id is None:
        raise ValueError("a log needs its id")
    if to_bool(log.get("cached")):
        return Skipped(None, CACHED)
    created = to_utc(first(log, "created_at"))
    if created is None:
        raise ValueError("no created_at")
    provider = first(log, "provider")
    record: dict = {
        "source_id": str(log_id),
        "provider": str(provider).lower() if provider is not None else None,
        "model": first(log, "model"),
        "created_at": created,
        "cost_usd": to_float(log.get("cost"), "cost"),
        "input_tokens": to_int(log.get("tokens_in"), "tokens_in"),
        "output_tokens": to_int(log.get("tokens_out"), "tokens_out"),
        "duration_ms": to_float(log.get("duration"), "duration"),
    }
    bodies = _bodies_record(_body(log, "request"), _body(log, "response"))
    for key in ("system_prompt", "messages_json", "prompt_text", "response_text", "params_json", "operation"):
        if bodies.get(key) is not None:
            record[key] = bodies[key]
    if bodies.get("input_tokens") is not None or bodies.get("output_tokens") is not None:
        for key in ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens"):
            if bodies.get(key) is not None:
                record[key] = bodies[key]
    if record["model"] is None:
        record["model"] = bodies.get("model")

    code = to_int(log.get("status_code"), "status_code")
    failed = to_bool(log.get("success")) is False or (code is not None and code >= 400)
    # a body's error or block counts; a log holding only the request body is still a call that was answered
    record["status"] = "error" if failed else (bodies["status"] if bodies.get("status") in ("error", "blocked") else "ok")
    metadata = decode_json(log.get("metadata"))
    if isinstance(metadata, dict):
        user = first(metadata, "user_id", "userId", "user")
        if user is not None and not isinstance(user, (dict, list)):
            record["user_id"] = str(user)
    tags = {
        "gateway": "cloudflare-ai-gateway",
        "path": first(log, "path"),
        "request_type": first(log, "request_type"),
        "model_type": first(log, "model_type"),
        "http_status": code,
        "step": to_int(log.get("step"), "step"),
        "custom_cost": True if to_bool(log.get("custom_cost")) else None,
        "event_id": first(log, "event_id"),
        "metadata": metadata if isinstance(metadata, dict) and metadata else None,
    }
    record["tags_json"] = {k: v for k, v in tags.items() if v is not None}
    record["_dedupe_key"] = f"{FORMAT}|{log_id}"
    return record


class CloudflareAIGateway:
    """Logs of Cloudflare AI Gateway, as its logs API returns them."""

    name = FORMAT
    label = "Cloudflare AI Gateway logs"
    order = 50

    def sniff(self, src) -> int:
        obj = first_json_object(src)
        if not isinstance(obj, dict):
            return 0
        logs = logs_of(obj)
        if logs and _is_log(logs[0]):
            return 95
        return 0

    def parse(self, src, ctx):
        return records_from_rows(src, log_record, "an AI Gateway log object", items=logs_of)


register(CloudflareAIGateway())
