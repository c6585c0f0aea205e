"""Comet Opik span exports (format ``opik``): the spans of Opik's traces as its REST API and SDK return them
(``SpanPublic``: ``id``, ``trace_id``, ``parent_span_id``, ``name``, ``type``, ``start_time``, ``end_time``, ``input``,
``output``, ``metadata``, ``model``, ``provider``, ``usage``, ``total_estimated_cost``, ``duration``, ``error_info``),
one per line, a JSON list or the API's pages (``{"content": [...], "page", "size", "total"}``).

Only ``llm`` spans are model calls; ``general``, ``tool`` and ``guardrail`` spans, and traces (which sum their spans'
usage), are skipped and counted. The conversation is the request's ``input`` (``messages``, ``contents``, a prompt),
the answer the response's ``output``. Tokens come from the provider's own usage, which Opik keeps flattened as
``usage["original_usage.*"]``, read in that provider's terms: Opik's OpenAI-style ``prompt_tokens`` and
``completion_tokens`` are only used without it, since for Claude Opik counts cache writes into ``completion_tokens``.
``total_estimated_cost`` is Opik's estimate, kept as the logged cost.
"""

from __future__ import annotations

from typing import Any

from ..records import Skipped, head_objects, to_utc
from . import register
from .generic import (chat_request_fields, file_kind, guess_provider, model_call_parents, ms_between, records_from_rows,
                      response_text, split_conversation, to_float, usage_fields)

SPAN_TYPES = {"llm", "general", "tool", "guardrail"}
PAGE_KEYS = ("content", "spans", "data")
PROVIDERS = {"google_vertexai": "google", "google_ai": "google", "gemini": "google", "vertex_ai": "google",
             "bedrock": "bedrock", "azure": "azure", "azure_openai": "azure"}
# Gemini's usage as Opik flattens it (snake_case) in the API's terms usage_fields reads.
GEMINI_KEYS = {"prompt_token_count": "promptTokenCount", "candidates_token_count": "candidatesTokenCount",
               "cached_content_token_count": "cachedContentTokenCount", "thoughts_token_count": "thoughtsTokenCount",
               "tool_use_prompt_token_count": "toolUsePromptTokenCount", "total_token_count": "totalTokenCount"}


def is_span(row: Any) -> bool:
    return (isinstance(row, dict) and row.get("type") in SPAN_TYPES and "trace_id" in row and "start_time" in row
            and ("input" in row or "output" in row or "usage" in row))


def is_trace(row: Any) -> bool:
    return isinstance(row, dict) and "trace_id" not in row and ("llm_span_count" in row or "span_count" in row)


def rows_in(value: Any) -> list:
    """The spans one value read from the file holds: a span, a list of them, or an API page."""
    if isinstance(value, list):
        return [row for item in value for row in rows_in(item)]
    if isinstance(value, dict) and "trace_id" not in value and not is_trace(value):
        for key in PAGE_KEYS:
            if isinstance(value.get(key), list):
                return list(value[key])
    return [value]


def original_usage(usage: dict) -> dict:
    """The provider's usage object Opik flattened under ``original_usage.``, nested again."""
    out: dict = {}
    for key, value in usage.items():
        if not key.startswith("original_usage."):
            continue
        node = out
        *path, leaf = key[len("original_usage."):].split(".")
        for part in path:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
        node[leaf] = value
    if any(key in out for key in GEMINI_KEYS):
        out = {GEMINI_KEYS.get(key, key): value for key, value in out.items()}
    return out


def span_usage(usage: Any) -> dict:
    if not isinstance(usage, dict):
        return {}
    return usage_fields(original_usage(usage)) or usage_fields(
        {"prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": usage.get("completion_tokens")})


def span_record(row: dict) -> dict | Skipped:
    if is_trace(row):
        return Skipped(None, "an Opik trace (its model calls are its llm spans)")
    if not is_span(row):
        raise ValueError("expected an Opik span (type, trace_id, start_time)")
    if row["type"] != "llm":
        return Skipped(None, f"an Opik {row['type']} span, not a model call")
    request: dict = row["input"] if isinstance(row.get("input"), dict) else {"prompt": row.get("input")}
    model = row.get("model") or request.get("model")
    named = str(row.get("provider") or "").lower()
    start, end = to_utc(row.get("start_time")), to_utc(row.get("end_time"))
    record: dict = {
        "source_id": row.get("id"), "trace_id": row.get("trace_id"), "parent_span_id": row.get("parent_span_id"),
        "model": model, "provider": guess_provider(model) or PROVIDERS.get(named) or named or None,
        "created_at": start, "duration_ms": to_float(row.get("duration"), "duration") or ms_between(start, end),
        "cost_usd": to_float(row.get("total_estimated_cost"), "total_estimated_cost"), "operation": "chat",
        "status": "error" if row.get("error_info") else "ok",
        "tags_json": {k: v for k, v in {"span_name": row.get("name"), "project": row.get("project_name"),
                                         "tags": row.get("tags") or None}.items() if v} or None,
        **span_usage(row.get("usage")),
    }
    messages = chat_request_fields(request).get("messages_json") or []
    if messages:
        system, prompt = split_conversation(messages)
        record.update(messages_json=messages, system_prompt=system, prompt_text=prompt)
    output = row.get("output")
    record["response_text"] = response_text(output) if isinstance(output, (dict, list)) else output
    if row.get("id"):
        record["_dedupe_key"] = f"opik|{row['id']}"
    return record


class OpikSpans:
    """Comet Opik span exports: llm spans are requests; other spans and traces are skipped."""

    name = "opik"
    label = "an Opik span export"
    order = 50
    skipped_hint = "only llm spans are model calls; general, tool and guardrail spans and traces are skipped"

    def sniff(self, src) -> int:
        if file_kind(src) != "json":
            return 0
        head = head_objects(src, limit=5)
        rows = [row for value in head for row in rows_in(value)]
        return 93 if rows and (is_span(rows[0]) or is_trace(rows[0]) and "project_id" in rows[0]) else 0

    def parse(self, src, ctx):
        # An llm span holding an llm span of its own (LangChain's tracer around the OpenAI integration) is one call,
        # counted at the inner span.
        wrappers = model_call_parents(src, rows_in, lambda row: row.get("parent_span_id") if _is_call(row) else None)

        def to_record(row: dict) -> dict | Skipped:
            if _is_call(row) and str(row.get("id")) in wrappers:
                return Skipped(None, "an Opik llm span around an llm span of its own (counted at the inner one)")
            return span_record(row)

        return records_from_rows(src, to_record, "an Opik span object", items=rows_in)


def _is_call(row: Any) -> bool:
    return is_span(row) and row["type"] == "llm"


register(OpikSpans())
