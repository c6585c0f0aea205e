"""The OpenAI Agents SDK's traces as a tracing processor writes them (format ``openai-agents``): ``span.export()`` and
``trace.export()`` objects (``{"object": "trace.span", "id", "trace_id", "parent_id", "started_at", "ended_at",
"span_data": {"type", ...}, "error"}``), one per line or a JSON list.

- **Model calls are the ``response`` and ``generation`` spans**: a response span (the Responses API) holds the
  response id and its usage, not its model or texts (the call is unpriced, its tokens counted); a generation span
  (chat completions) holds the model, the messages it sent, the answer and the usage. Usage is in the Responses API's
  terms (``input_tokens`` counts the cached input).
- A span with ``error`` set is a failed call. The call's time and duration are the span's.
- Agent, turn, task, function, handoff and guardrail spans (turn and task spans repeat their calls' usage as
  subtotals) and the traces themselves are skipped and counted.
"""

from __future__ import annotations

import json
from typing import Any

from ..records import Reject, Skipped, excerpt, head_objects, to_utc
from . import register
from .generic import content_text, file_kind, iter_rows, ms_between, usage_fields
from .openai import chat_request_fields

CALLS = ("response", "generation")


def is_export(obj: Any) -> bool:
    return isinstance(obj, dict) and (obj.get("object") == "trace" and "workflow_name" in obj
                                      or obj.get("object") == "trace.span" and isinstance(obj.get("span_data"), dict))


def answer(output: Any) -> str | None:
    """A generation span's output: the messages it returned (their text, else their tool calls)."""
    if not isinstance(output, list):
        return None
    texts = [content_text(m.get("content")) for m in output if isinstance(m, dict)]
    calls = [c for m in output if isinstance(m, dict) for c in (m.get("tool_calls") or [])]
    return "\n".join(t for t in texts if t) or (json.dumps(calls, ensure_ascii=False, default=str) if calls else None)


def span_record(span: dict) -> dict | Skipped:
    data: dict = span["span_data"] if isinstance(span.get("span_data"), dict) else {}
    kind = data.get("type")
    if span.get("object") != "trace.span" or kind not in CALLS:
        return Skipped(None, f"an Agents SDK {kind or 'trace'} {'span' if kind else 'record'}, not a model call")
    start = to_utc(span.get("started_at"))
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
    record: dict = {"provider": "openai", "created_at": start, "duration_ms": ms_between(start, to_utc(span.get("ended_at"))),
                    "trace_id": span.get("trace_id"), "parent_span_id": span.get("parent_id"),
                    "status": "error" if span.get("error") else "ok", **(usage_fields(usage) if usage else {})}
    if kind == "response":
        record["source_id"] = data.get("response_id") or None
    else:
        messages = data.get("input")
        record.update({k: v for k, v in chat_request_fields({"messages": messages if isinstance(messages, list) else []}).items() if v})
        record.update(model=data.get("model"), response_text=answer(data.get("output")))
    record["_dedupe_key"] = f"openai-agents|{span.get('id') or record.get('source_id')}"
    return record


class OpenAIAgents:
    """The OpenAI Agents SDK's exported spans: a row per response or generation span."""

    name = "openai-agents"
    label = "OpenAI Agents SDK trace spans (span.export())"
    order = 50
    skipped_hint = "response and generation spans are model calls; agent, turn, task, tool spans and traces are skipped"

    def sniff(self, src) -> int:
        if file_kind(src) != "json":
            return 0
        head = head_objects(src)
        return 95 if head and all(is_export(h) for h in head) else 0

    def parse(self, src, ctx):
        for number, span in iter_rows(src):
            if isinstance(span, Reject):
                yield span
            elif not is_export(span):
                yield Reject(number, "expected an Agents SDK span or trace (object trace.span or trace)", excerpt(span))
            else:
                try:
                    record = span_record(span)
                except (ValueError, TypeError, AttributeError, KeyError) as exc:
                    yield Reject(number, f"unreadable span ({exc})", excerpt(span))
                    continue
                if isinstance(record, Skipped):
                    yield Skipped(number, record.reason)
                else:
                    record["_line"] = number
                    yield record


register(OpenAIAgents())
