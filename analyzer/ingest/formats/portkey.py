"""Portkey log exports (format ``portkey``): JSON Lines of logged calls, as Portkey's logs export writes them.

Each line holds the call's bodies (``request``/``response``, each ``{"body": ...}``, or the flattened
``request.body``/``response.body`` columns), read as an app log's pair (OpenAI or Anthropic shape), and Portkey's
columns around them. Portkey documents the export's columns (docs "Logs Export", Exported Data): ``cost`` is "Cost
of the request in cents (USD)", so it is divided by 100; ``response_time`` is in milliseconds; ``is_success`` is
1/0; ``req_units``/``res_units`` are the request's and response's tokens (used when the body has no usage);
``ai_org``/``ai_model`` the provider and model. These lines also fit the ``openai`` reader, which would take
``cost`` as dollars: this format claims them first.
"""

from __future__ import annotations

from ..records import Reject, Skipped, excerpt, first_json_object, maybe_json
from . import register
from .app_calls import line_record
from .app_log import json_values
from .generic import first, to_bool, to_float, to_int

# Columns only Portkey's export has; two of them, with a provider or model column, mark a line as Portkey's.
_MARKERS = {"req_units", "res_units", "total_units", "cost_currency", "is_success", "response_time", "cache_status",
            "retry_success_count", "ai_org"}
_SIDES = {"request.body": "request", "response.body": "response"}


def _is_portkey(obj: dict) -> bool:
    return ("ai_model" in obj or "ai_org" in obj) and len(_MARKERS & set(obj)) >= 2


def portkey_record(obj: dict, number: int | None):
    """One exported Portkey log line as a record."""
    line = dict(obj)
    for flat, side in _SIDES.items():
        if flat in line and side not in line:
            line[side] = {"body": maybe_json(line.pop(flat))}
    record = line_record(line, number)
    if isinstance(record, (Reject, Skipped)):
        return record
    cents = to_float(obj.get("cost"), "cost")
    currency = str(obj.get("cost_currency") or "USD").upper()
    if currency != "USD":
        raise ValueError(f"cost_currency {currency!r}: only USD costs are read")
    record["cost_usd"] = None if cents is None else cents / 100.0
    duration = to_float(obj.get("response_time"), "response_time")
    if duration is not None:
        record["duration_ms"] = duration
    if record.get("model") is None:
        record["model"] = first(obj, "ai_model")
    provider = first(obj, "ai_org", "provider")
    if isinstance(provider, str):
        record["provider"] = provider.lower()
    if record.get("input_tokens") is None and record.get("output_tokens") is None:
        record["input_tokens"] = to_int(obj.get("req_units"), "req_units")
        record["output_tokens"] = to_int(obj.get("res_units"), "res_units")
    code = to_int(obj.get("response_status_code"), "response_status_code")
    if to_bool(obj.get("is_success")) is False or (code is not None and code >= 400):
        record["status"] = "error"
    elif record.get("status") == "no_response" and to_bool(obj.get("is_success")):
        record["status"] = "ok"
    tags = dict(record.get("tags_json") or {}) if isinstance(record.get("tags_json"), dict) else {}
    for key in ("cache_status", "cache_type", "trace_id", "mode", "virtual_key", "config", "prompt_slug"):
        value = first(obj, key)
        if value is not None:
            tags[key] = value
    if code is not None:
        tags["http_status"] = code
    record["tags_json"] = tags or None
    log_id = first(obj, "id", "request_id", "log_id")
    if log_id is not None:
        record["source_id"] = str(log_id)
        record["_dedupe_key"] = f"portkey|{log_id}"
    return record


class PortkeyExport:
    name = "portkey"
    label = "a Portkey log export"
    order = 50

    def sniff(self, src) -> int:
        obj = first_json_object(src)
        return 90 if isinstance(obj, dict) and _is_portkey(obj) else 0

    def parse(self, src, ctx):
        for number, obj in json_values(src):
            if isinstance(obj, Reject):
                yield obj
                continue
            if not isinstance(obj, dict):
                yield Reject(number, "expected a Portkey log object", excerpt(obj))
                continue
            try:
                yield portkey_record(obj, number)
            except (ValueError, TypeError, AttributeError, KeyError) as exc:
                yield Reject(number, str(exc), excerpt(obj))


register(PortkeyExport())
