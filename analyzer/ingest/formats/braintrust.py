"""Braintrust project-log exports (format ``braintrust``): the spans of Braintrust's logs.

A Braintrust trace is a tree of spans, each one row of the project's logs (the API's ``ProjectLogsEvent``: ``id``,
``span_id``, ``root_span_id``, ``span_parents``, ``created``, ``span_attributes`` with ``name`` and ``type``, ``input``,
``output``, ``expected``, ``error``, ``scores``, ``metadata``, ``metrics``, ``tags``), read as users export them: JSON
Lines (``bt sync``, the cloud-storage export of "Logs (spans)"), a JSON list (the UI's JSON download, an SDK dump),
and the API's pages, ``{"events": [...]}`` from ``/v1/project_logs/{id}/fetch`` and ``{"data": [...]}`` from
``/btql`` (also experiment rows, which have the same fields). The UI's CSV download is not read: Braintrust does not
document its columns; a CSV with Braintrust's columns is told to export JSON instead.

Only model calls are requests: a span whose ``span_attributes.type`` is ``llm``, as the SDKs' wrappers (OpenAI,
Anthropic, LiteLLM, Gemini, the AI SDK, ...) write them. An ``llm`` span named ``Embedding`` (or whose output is the
wrappers' ``{"embedding_length": N}``) is an embedding call: priced, stored with ``operation='embeddings'`` and no
prompt. Every other span (``task``, ``function``, ``tool``, ``eval``, ``score``, ``automation``, ``facet``, untyped) is
skipped and counted: its metrics roll up its children's tokens. The row id is the request id (a span exported twice, or
in two files, counts once), with ``root_span_id`` as the trace and the first of ``span_parents`` as the parent.

What was asked and answered, in the shapes the wrappers log:

- ``input``: an OpenAI messages list (``wrap_anthropic`` appends the ``system`` prompt to it as a system message), a
  Responses ``input``, text, or a request's keyword arguments (``messages``, ``system``, ``contents``, ``prompt``);
  ``metadata.system`` (or the Responses API's ``instructions``) is the system prompt when the messages hold none;
- ``output``: a list of choices (chat completions), the Responses API's output items, an Anthropic ``{role, content}``
  message or its content blocks, text; a whole provider response (chat completion, Responses object, Anthropic
  message) is read with its request as the pair an app log holds (``app_calls.line_record``).

Model from ``metadata.model`` (a whole response's own model first); provider from ``metadata.provider`` (the AI SDK's ``openai.chat`` -> openai; LiteLLM's
from the model), else the model name. Tokens from ``metrics``: ``prompt_tokens`` counts all input, as OpenAI's does
(Braintrust's Anthropic wrappers add the cache reads and writes into it; the Python wrapper before May 2025 kept them
apart as ``cache_read_input_tokens``/``cache_creation_input_tokens``, and they are added), ``prompt_cached_tokens``,
``prompt_cache_creation_tokens`` (or its ``_5m``/``_1h`` split), ``completion_tokens`` and
``completion_reasoning_tokens`` (inside ``completion_tokens``, except Gemini's, which the Gemini wrappers count apart and
which are added, as ``gemini.py`` reads them). ``metrics.estimated_cost`` is the log's cost. ``created_at`` is
``created`` (else ``metrics.start``), ``duration_ms`` is ``end`` minus ``start``, and an ``error`` makes the call an
error. The mapping of fields to columns is listed in README.md ("Braintrust logs").
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..records import Reject, Skipped, excerpt, first_json_object, to_utc
from ..sample_rates import SAMPLE_RATE_KEYS
from . import anthropic, openai, register
from .app_calls import line_record
from .generic import (READ_ERRORS, chat_request_fields, csv_header, decode_json, file_kind, first, guess_provider,
                      head_text, json_object, model_call_parents, params_from_body, records_from_rows, response_text, to_float,
                      to_int,
                      usage_fields)
from .otel import PROVIDERS as OTEL_PROVIDERS

MODEL_CALL = "llm"
# Keys that, beside span_id and root_span_id, mark a row of Braintrust's logs.
EVENT_MARKS = frozenset({"span_attributes", "span_parents", "_xact_id", "log_id", "is_root"})
PAGE_KEYS = ("events", "data")
PAGE_DOCUMENT = re.compile(r'^\s*\{\s*"(?:events|data)"\s*:\s*\[\s*')
EMBEDDING_NAMES = frozenset({"embedding", "embeddings", "embed", "embedmany"})
ROUTERS = frozenset({"litellm"})  # providers that route to others: the model names the one called
# Output items of the Responses API, and content blocks of an Anthropic message.
RESPONSES_ITEMS = frozenset({"message", "function_call", "reasoning", "web_search_call", "file_search_call"})
ANTHROPIC_BLOCKS = frozenset({"text", "tool_use", "thinking", "redacted_thinking", "server_tool_use"})
TOKEN_KEYS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens")


def is_event(keys) -> bool:
    """A Braintrust log row: ``span_id`` and ``root_span_id``, with ``span_attributes``, ``span_parents``, ``_xact_id``,
    ``log_id`` or ``is_root``."""
    keys = set(keys)
    return {"span_id", "root_span_id"} <= keys and bool(EVENT_MARKS & keys)


def events_in(value: Any) -> list:
    """The rows one value read from the file holds: a row, a list of rows, or a fetch/BTQL page."""
    if isinstance(value, list):
        return [row for item in value for row in events_in(item)]
    if isinstance(value, dict) and "span_id" not in value:
        for key in PAGE_KEYS:
            if isinstance(value.get(key), list):
                return list(value[key])
    return [value]


# ---------------------------------------------------------------------------------------------
# What was asked, what came back
# ---------------------------------------------------------------------------------------------


def whole_response(output: Any) -> bool:
    """A provider's whole response logged as the output: a chat completion, a Responses object, an Anthropic message."""
    return openai.is_chat_completion(output) or openai.is_responses_object(output) or anthropic.is_message(output)


def _lone_prompt(inputs: Any) -> dict:
    """A traced function's own arguments, when they are no chat request: its text (other values as JSON)."""
    values = inputs.values() if isinstance(inputs, dict) else [inputs]
    texts = [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
             for v in values if v not in (None, "", [], {})]
    text = "\n".join(texts)
    return {"prompt_text": text, "messages_json": [{"role": "user", "content": text}]} if text else {}


def conversation_fields(inputs: Any, metadata: dict) -> dict:
    """system_prompt, messages_json and prompt_text from a span's input, system messages first (wrap_anthropic
    appends its system prompt last)."""
    fields = chat_request_fields(inputs) if inputs not in (None, "") else {}
    if not fields.get("messages_json"):
        fields = _lone_prompt(inputs) if inputs not in (None, "") else {}
    messages = list(fields.get("messages_json") or [])
    system = metadata.get("system") or metadata.get("instructions")  # Anthropic's, the Responses API's
    if not fields.get("system_prompt") and isinstance(system, (str, list)):
        fields = chat_request_fields({"system": system, "messages": messages})
        messages = list(fields.get("messages_json") or [])
    if messages:
        fields["messages_json"] = ([m for m in messages if m.get("role") == "system"]
                                   + [m for m in messages if m.get("role") != "system"])
    return {k: v for k, v in fields.items() if v not in (None, "", [])}


def answer_text(output: Any) -> str | None:
    """The answer's text from what the wrappers log as the output."""
    if isinstance(output, list) and output and all(isinstance(x, dict) for x in output):
        if any("message" in x or "finish_reason" in x or "delta" in x for x in output):
            return response_text({"choices": output})
        kinds = {x.get("type") for x in output}
        if kinds & RESPONSES_ITEMS:
            return response_text({"output": output})
        if kinds & ANTHROPIC_BLOCKS:
            return response_text({"content": output})
    if isinstance(output, dict) and "embedding_length" in output:
        return None
    return response_text(output)


def _blocked(output: Any) -> bool:
    choices = output if isinstance(output, list) else json_object(output).get("choices")
    return isinstance(choices, list) and any(isinstance(c, dict) and c.get("finish_reason") == "content_filter"
                                             for c in choices)


def content_fields(inputs: Any, output: Any, metadata: dict) -> dict:
    """The record's content: what was asked from the span's input; the answer from its output, a whole provider
    response read with its request as an app log's pair (its model, usage and finish), other shapes by the generic
    readers."""
    inputs, output = decode_json(inputs), decode_json(output)
    record = conversation_fields(inputs, metadata)
    if whole_response(output):
        request = inputs if isinstance(inputs, dict) else ({"messages": inputs} if isinstance(inputs, list) else {})
        asked = {k: v for k, v in metadata.items() if k not in ("provider", "system")}
        found = line_record({"request": {**asked, **request}, "response": output}, None)
        if not isinstance(found, Reject):
            record.update({k: found.get(k) for k in (*TOKEN_KEYS, "model", "response_text", "params_json")})
            record["_blocked"] = found.get("status") == "blocked"
            return record
    record["response_text"] = answer_text(output) if output is not None else None
    record["_blocked"] = _blocked(output)
    return record


# ---------------------------------------------------------------------------------------------
# Model, tokens, cost, links
# ---------------------------------------------------------------------------------------------


def provider_of(metadata: dict, model: Any) -> str | None:
    """``metadata.provider`` as plan names providers (the AI SDK's ``openai.chat`` -> openai; a router's from the
    model), else what the model name implies."""
    named = first(metadata, "provider")
    if named is None:
        return guess_provider(model)
    name = str(named).strip().lower()
    if name in ROUTERS:
        return guess_provider(model) or name
    if name not in OTEL_PROVIDERS:
        name = name.split(".", 1)[0]
    return OTEL_PROVIDERS.get(name, name)


def _sum(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def token_fields(metrics: dict, provider: str | None) -> dict:
    """Counts from Braintrust's metrics; empty when the span states no prompt or completion tokens."""
    prompt = to_int(metrics.get("prompt_tokens"), "metrics.prompt_tokens")
    completion = to_int(metrics.get("completion_tokens"), "metrics.completion_tokens")
    if prompt is None and completion is None:
        return {}
    written = to_int(metrics.get("prompt_cache_creation_tokens"), "metrics.prompt_cache_creation_tokens")
    if written is None:
        written = _sum(to_int(metrics.get("prompt_cache_creation_5m_tokens")),
                       to_int(metrics.get("prompt_cache_creation_1h_tokens")))
    out = usage_fields({
        "prompt_tokens": prompt, "completion_tokens": completion,
        "prompt_tokens_details": {"cached_tokens": to_int(metrics.get("prompt_cached_tokens")),
                                  "cache_creation_tokens": written},
        "completion_tokens_details": {"reasoning_tokens": to_int(metrics.get("completion_reasoning_tokens"))},
    })
    out = {k: out.get(k) for k in TOKEN_KEYS}
    # wrap_anthropic before May 2025: Anthropic's own cache counts, left out of prompt_tokens.
    legacy_read = to_int(metrics.get("cache_read_input_tokens"))
    legacy_write = to_int(metrics.get("cache_creation_input_tokens"))
    if legacy_read is not None or legacy_write is not None:
        out["cached_input_tokens"] = _sum(out["cached_input_tokens"], legacy_read)
        out["cache_write_tokens"] = _sum(out["cache_write_tokens"], legacy_write)
        out["input_tokens"] = _sum(out["input_tokens"], legacy_read, legacy_write)
    read, write, total = out["cached_input_tokens"] or 0, out["cache_write_tokens"] or 0, out["input_tokens"]
    if total is not None and read + write > total:
        out["input_tokens"] = total + read + write  # a count that left the cache out (as otel.py reads it)
    hour = to_int(metrics.get("prompt_cache_creation_1h_tokens"))
    if hour is not None and out["cache_write_tokens"]:
        out["cache_write_1h_tokens"] = min(hour, out["cache_write_tokens"])  # priced at the hour rate
    if provider == "google" and out["reasoning_tokens"]:
        out["output_tokens"] = (out["output_tokens"] or 0) + out["reasoning_tokens"]  # thoughts beside candidates
    return out


def _times(metrics: dict, created: Any) -> tuple[Any, float | None]:
    """(when the call started, how long it took in ms): ``created`` (else ``metrics.start``), and end minus start."""
    start, end = to_float(metrics.get("start"), "metrics.start"), to_float(metrics.get("end"), "metrics.end")
    when = to_utc(created) if created not in (None, "") else to_utc(start)
    if start is None or end is None or end < start:
        return when, None
    return when, round((end - start) * 1000.0, 3)


def _tags(row: dict, attributes: dict, metadata: dict) -> dict | None:
    error, scores = row.get("error"), json_object(row.get("scores"))
    tags = {
        "span_name": attributes.get("name"), "tags": decode_json(row.get("tags")) or None,
        "project_id": row.get("project_id"), "experiment_id": row.get("experiment_id"),
        "conversation_id": first(metadata, "thread_id", "session_id", "conversation_id"),
        "scores": {k: v for k, v in scores.items() if v is not None} or None,
        "error": excerpt(error, 500) if error not in (None, "") else None,
    }
    return {k: v for k, v in tags.items() if v not in (None, "", [], {})} or None


def _parent(row: dict) -> Any:
    parents = decode_json(row.get("span_parents"))
    if isinstance(parents, list):
        return parents[0] if parents else None
    return parents or None


# ---------------------------------------------------------------------------------------------
# One row -> one record
# ---------------------------------------------------------------------------------------------


def is_embedding(attributes: dict, output: Any) -> bool:
    name = str(attributes.get("name") or "").strip().lower().replace(" ", "")
    return name in EMBEDDING_NAMES or "embedding_length" in json_object(output)


def _span_type(row: dict) -> str:
    return str(json_object(row.get("span_attributes")).get("type") or "").strip().lower()


def model_call_parent(row: dict) -> Any:
    """The span an ``llm`` span sits in; None for any other span. An ``llm`` span that holds one is a wrapper around
    model calls of its own: the AI SDK's ``generateText``/``streamText`` span around its ``doGenerate``/``doStream``
    spans (one per step of a tool loop; until February 2026 the outer span also logged the steps' usage summed), or a
    traced function typed ``llm`` around a wrapped client. The calls inside are the requests; the wrapper is skipped."""
    return _parent(row) if _span_type(row) == MODEL_CALL else None


def span_record(row: dict) -> dict | Skipped:
    """A `requests` record for an ``llm`` span; ``Skipped`` for the spans around it."""
    row_id = first(row, "id", "span_id")
    if row_id is None:
        raise ValueError("a Braintrust span without an id")
    attributes = json_object(row.get("span_attributes"))
    span_type = _span_type(row)
    if span_type != MODEL_CALL:
        return Skipped(None, f"a Braintrust {span_type} span, not a model call" if span_type
                       else "a Braintrust span without a type, not a model call")
    metadata, metrics = json_object(row.get("metadata")), json_object(row.get("metrics"))
    embedding = is_embedding(attributes, row.get("output"))
    content = {} if embedding else content_fields(row.get("input"), row.get("output"), metadata)
    model = content.get("model") or first(metadata, "model") or json_object(row.get("input")).get("model")
    provider = provider_of(metadata, model)
    tokens = token_fields(metrics, provider) or {k: content.get(k) for k in TOKEN_KEYS}
    created_at, duration_ms = _times(metrics, row.get("created"))
    failed = row.get("error") not in (None, "", {}, [])
    answered = row.get("output") is not None
    record: dict = {
        "source_id": str(row_id), "provider": provider, "model": model, "created_at": created_at,
        "duration_ms": duration_ms, "cost_usd": to_float(metrics.get("estimated_cost"), "metrics.estimated_cost"),
        "status": "error" if failed else ("blocked" if content.get("_blocked") else ("ok" if answered else "no_response")),
        "operation": "embeddings" if embedding else None,
        "trace_id": first(row, "root_span_id"), "parent_span_id": _parent(row),
        "user_id": first(metadata, "user_id", "user", "userId"),
        "tags_json": _tags(row, attributes, metadata),
        "params_json": content.get("params_json") or params_from_body(metadata),
        "sample_rate": first(metadata, *SAMPLE_RATE_KEYS),
        **tokens,
    }
    for key in ("system_prompt", "messages_json", "prompt_text", "response_text"):
        if content.get(key):
            record[key] = content[key]
    record["_dedupe_key"] = f"braintrust|{row_id}"
    return record


# ---------------------------------------------------------------------------------------------
# Format
# ---------------------------------------------------------------------------------------------


def _first_row(src) -> Any:
    """The file's first row, also inside a fetch/BTQL page too long for the head to decode whole."""
    obj = first_json_object(src)
    if isinstance(obj, dict) and "span_id" not in obj:
        page = next((obj[k] for k in PAGE_KEYS if isinstance(obj.get(k), list) and obj[k]), None)
        return page[0] if page else obj
    head = head_text(src)
    match = PAGE_DOCUMENT.match(head) if obj is None else None
    if match:
        try:
            obj, _ = json.JSONDecoder().raw_decode(head, match.end())
        except ValueError:
            return None
    return obj


class Braintrust:
    """Braintrust's project logs: llm spans stored, the spans around them skipped and counted."""

    name = "braintrust"
    label = "a Braintrust log export"
    order = 50
    skipped_hint = ("task, function, tool, eval and score spans are skipped; a model call is a span whose "
                    "span_attributes.type is llm. A \"Logs (traces)\" export holds each trace's root span only: "
                    "export \"Logs (spans)\"")

    def sniff(self, src) -> int:
        if file_kind(src) != "json":
            return 0
        row = _first_row(src)
        if isinstance(row, dict):
            return 95 if is_event(row) else 0
        # A first row too long for the head: its keys still show.
        head = head_text(src)
        return 85 if '"span_attributes"' in head and '"root_span_id"' in head and '"span_id"' in head else 0

    def near_miss(self, src) -> str | None:
        """Braintrust's CSV download, whose columns Braintrust does not document."""
        if file_kind(src) != "csv" or not is_event(csv_header(src) or ()):
            return None
        return ("it looks like Braintrust's CSV download of logs, whose columns Braintrust does not document: export "
                "JSON instead (the Logs page's JSON download, the fetch API, BTQL or bt sync)")

    def parse(self, src, ctx):
        wrappers = model_call_parents(src, events_in, model_call_parent)

        def to_record(row: dict) -> dict | Skipped:
            if str(row.get("span_id")) in wrappers and _span_type(row) == MODEL_CALL:
                return Skipped(None, "an llm span around the model calls of its own llm spans")
            return span_record(row)

        return records_from_rows(src, to_record, "a Braintrust log row (a span object)", items=events_in,
                                 unreadable="unreadable Braintrust span",
                                 errors=(*READ_ERRORS, KeyError, OverflowError))


register(Braintrust())
