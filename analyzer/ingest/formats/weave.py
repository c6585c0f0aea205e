"""W&B Weave call exports (format ``weave``).

A Weave trace is a tree of calls (``CallSchema``: ``id``, ``op_name``, ``trace_id``, ``parent_id``, ``started_at``,
``ended_at``, ``inputs``, ``output``, ``exception``, ``summary``, ``attributes``), as the SDK's ``client.get_calls()``,
the service API (``/calls/stream_query`` JSON Lines, ``/calls/query`` ``{"calls": [...]}``) and the UI's export give
them: JSON Lines, a JSON list or ``{"calls": [...]}``, and CSV/TSV. Weave does not document the table export's
columns; they are read as the call's keys, nested ones flattened with dots (``inputs.messages``, ``output.choices``,
``summary.usage.<model>.prompt_tokens``), any of them holding an object as a JSON cell.

``op_name`` is a ref (``weave:///entity/project/op/NAME:digest``) or a bare name. A call is a model call when NAME is
an op Weave's integrations patch (``PROVIDER_OPS``: ``openai.chat.completions.create``, ``anthropic.Messages.create``,
``litellm.completion``, ``google.genai.models.Models.generate_content``, ``BedrockRuntime.converse``, ...), or, whatever
its name, when its output is a chat completion, a Responses object or an Anthropic message. Its ``inputs`` (less
``self``) and ``output`` are read as the request/response pair an app log holds (``app_calls.line_record``); outputs
of other shapes (Gemini, Converse, Cohere) through the generic readers. ``openai.embeddings.create`` is stored as an
embedding call (priced, not categorized). Every other call (the app's own ops: chains, agents, tools, evaluations,
scorers) is skipped and counted: its ``summary.usage`` only adds up its children's. An op whose output is the very
completion one of its children returned (a wrapper) is skipped too, so the call counts once.

Tokens missing from the output (a stream without usage) come from ``summary.usage[model]``; google-genai usage in
the SDK's snake_case (``usage_metadata.thoughts_token_count``, as Weave dictifies the response) is read as Gemini's;
Cohere's, which has no summary.usage (its answers name no model), from ``usage``/``meta`` ``billed_units``.
A cost Weave computed (``summary.weave.costs[model]``: ``prompt_tokens_total_cost`` + ``completion_tokens_total_cost``
+ ``cache_read_input_tokens_total_cost`` + ``cache_creation_input_tokens_total_cost``) is the log's cost; where Weave
took cache tokens out of a prompt count that never held them (a negative prompt total) the call is priced again at the
entry's unit prices. An ``exception`` makes the call an error. The call id is the request id (a call exported twice, or in two files, counts
once), with ``trace_id`` and ``parent_id`` as ``parent_span_id``. A call's line is the line it starts on, or in
``{"calls": [...]}`` its position.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..records import Reject, Skipped, excerpt, first_json_object, maybe_json, to_utc
from . import anthropic, openai, register
from .app_calls import line_record
from .generic import (camel_gemini, csv_header, decode_json, file_kind, guess_provider, iter_rows, ms_between,
                      other_shape_record, to_float, usage_fields)

OP_REF = re.compile(r"^weave:///[^/]+/[^/]+/op/([^:/]+)")
# The ops Weave's integrations patch, by the name they log, and the provider each calls (None: named by the model).
PROVIDER_OPS = (
    (re.compile(r"^openai\.(beta\.)?chat\.completions\.(create|parse)$|^openai\.responses\.(create|parse)$"), "openai"),
    (re.compile(r"^anthropic\.(Async)?Messages\.(create|stream)$"), "anthropic"),
    (re.compile(r"^litellm\.a?completion$"), None),
    (re.compile(r"^mistralai\.(async_client\.)?chat\.(complete|stream)$"), "mistral"),
    (re.compile(r"^groq\.(async\.)?chat\.completions\.create$"), "groq"),
    (re.compile(r"^cerebras\.chat\.completions\.create$"), "cerebras"),
    (re.compile(r"^huggingface_hub\.(Async)?InferenceClient\.chat_completion$"), "huggingface"),
    (re.compile(r"^cohere\.(Async)?Client(V2)?\.chat(_stream)?$"), "cohere"),
    (re.compile(r"^google\.genai\.(models\.(Async)?Models\.generate_content(_stream)?|chats\.(Async)?Chat\.send_message)$"
                r"|^(google\.generativeai|vertexai)\.(GenerativeModel\.generate_content|ChatSession\.send_message)(_async)?$"),
     "google"),
    (re.compile(r"^BedrockRuntime\.(converse|converse_stream|invoke)$"), "bedrock"),
)
EMBEDDING_OPS = re.compile(r"^openai\.embeddings\.create$")
# Providers whose answers are neither OpenAI- nor Anthropic-shaped: read with the generic readers.
OTHER_SHAPES = {"google", "bedrock", "cohere"}
FLAT_PREFIXES = ("inputs.", "output.", "summary.", "attributes.")
CALLS_DOCUMENT = re.compile(r'^\s*\{\s*"calls"\s*:\s*\[\s*')
CALL_MARKS = {"started_at", "trace_id", "parent_id"}


def op_short_name(op_name: Any) -> str:
    """``weave:///entity/project/op/NAME:digest`` (or a bare ``NAME:digest``) -> NAME."""
    text = str(op_name or "")
    match = OP_REF.match(text)
    if match:
        return match.group(1)
    return text.rsplit("/", 1)[-1].split(":", 1)[0] if text.startswith("weave:") else text.split(":", 1)[0]


def provider_of(name: str) -> tuple[bool, str | None]:
    """(whether an integration patches this op, the provider it calls)."""
    for pattern, provider in PROVIDER_OPS:
        if pattern.match(name):
            return True, provider
    return False, None


def answer_shaped(output: Any) -> bool:
    """A chat completion, a Responses object or an Anthropic message."""
    return openai.is_chat_completion(output) or openai.is_responses_object(output) or anthropic.is_message(output)


# ---------------------------------------------------------------------------------------------
# Flattened rows (the UI's CSV/TSV export) back into calls
# ---------------------------------------------------------------------------------------------

_LITERAL = re.compile(r"^(-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?|true|false)$")
# Cells that hold what was said keep their text even when it reads as a number.
TEXT_KEYS = {"content", "text", "input", "prompt", "system", "instructions", "contents", "message", "exception"}


def _cell(column: str, value: Any) -> Any:
    """A cell's value: JSON objects and arrays decoded; numbers and booleans too, except in text fields."""
    value = decode_json(value)
    if isinstance(value, str) and column.rsplit(".", 1)[-1] not in TEXT_KEYS and _LITERAL.match(value):
        return json.loads(value)
    return value


def _path(column: str, value: Any) -> list[str]:
    """A column's keys. Model names (which hold dots) stay whole under ``summary.usage`` and ``summary.weave.costs``:
    the column ends with the model when its cell is an object, else with one of the model's fields."""
    parts = column.split(".")
    for prefix in (["summary", "usage"], ["summary", "weave", "costs"]):
        n = len(prefix)
        if parts[:n] == prefix and len(parts) > n + 1:
            if isinstance(value, dict):
                return prefix + [".".join(parts[n:])]
            return prefix + [".".join(parts[n:-1]), parts[-1]]
    return parts


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        value = {k: _listify(v) for k, v in value.items()}
        if value and all(k.isdigit() for k in value):
            return [value[k] for k in sorted(value, key=int)]
    return value


def unflatten(row: dict) -> dict:
    """A row whose columns are dotted paths (``output.usage.prompt_tokens``) as the nested call it was."""
    out: dict = {}
    for column, raw in row.items():
        if raw is None or column is None:
            continue
        value = _cell(str(column), raw)
        keys = _path(str(column), value)
        node = out
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            existing = node.get(keys[-1])
            if isinstance(existing, dict) and isinstance(value, dict):
                value = {**value, **existing}
            node[keys[-1]] = value
    return _listify(out)


def _is_flat(obj: dict) -> bool:
    return any(isinstance(k, str) and k.startswith(FLAT_PREFIXES) for k in obj)


def looks_like_call(keys) -> bool:
    keys = set(keys)
    has_inputs = "inputs" in keys or any(str(k).startswith("inputs.") for k in keys)
    return "op_name" in keys and has_inputs and bool(CALL_MARKS & keys)


# ---------------------------------------------------------------------------------------------
# One call -> one record
# ---------------------------------------------------------------------------------------------


def _summary(call: dict) -> dict:
    summary = maybe_json(call.get("summary"))
    return summary if isinstance(summary, dict) else {}


def summary_tokens(summary: dict, model: Any) -> dict:
    """Token counts Weave summed for the call, ``summary.usage[model]`` (all models' when the model is not there)."""
    usage = maybe_json(summary.get("usage"))
    if not isinstance(usage, dict) or not usage:
        return {}
    entries = [usage[model]] if model in usage else list(usage.values())
    totals: dict = {}
    for entry in entries:
        counts = {k: v for k, v in entry.items() if k not in ("requests", "total_tokens")} if isinstance(entry, dict) else {}
        for key, value in usage_fields(camel_gemini(counts)).items():
            totals[key] = totals.get(key, 0) + value
    return totals


# What Weave's cost query writes per model: uncached prompt, completion, and (since 2025) cache reads and writes.
COST_PARTS = ("prompt_tokens_total_cost", "completion_tokens_total_cost", "cache_read_input_tokens_total_cost",
              "cache_creation_input_tokens_total_cost")


def _repriced(entry: dict, record: dict) -> float | None:
    """The call's cost at the unit prices Weave stated, on the call's own tokens: uncached input at the prompt price,
    cache reads and writes at theirs, output at the completion price. None when a price it needs is missing."""
    tokens = {k: record.get(k) or 0 for k in ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")}
    uncached = tokens["input_tokens"] - tokens["cached_input_tokens"] - tokens["cache_write_tokens"]
    total = 0.0
    for count, key in ((uncached, "prompt_token_cost"), (tokens["output_tokens"], "completion_token_cost"),
                       (tokens["cached_input_tokens"], "cache_read_input_token_cost"),
                       (tokens["cache_write_tokens"], "cache_creation_input_token_cost")):
        if count:
            price = to_float(entry.get(key), key)
            if price is None or price < 0 or count < 0:
                return None
            total += count * price
    return total


def logged_cost(summary: dict, record: dict) -> float | None:
    """What Weave priced the call at: the sum over ``summary.weave.costs[model]`` of its prompt, completion, cache-read
    and cache-write totals. Weave takes the cache tokens out of the prompt tokens; for usage that never counted them
    in (Anthropic's ``input_tokens`` before ``gross_input_tokens``) its prompt total comes out negative: that call is
    priced again at the unit prices the entry states, or left to the catalog."""
    weave = maybe_json(summary.get("weave"))
    costs = maybe_json(weave.get("costs")) if isinstance(weave, dict) else None
    if not isinstance(costs, dict):
        return None
    entries = [entry for entry in costs.values() if isinstance(entry, dict)]
    total, found = 0.0, False
    for entry in entries:
        parts = [p for p in (to_float(entry.get(key), key) for key in COST_PARTS) if p is not None]
        if any(p < 0 for p in parts):
            repriced = _repriced(entry, record) if len(entries) == 1 else None
            if repriced is None:
                return None
            parts = [repriced]
        if parts:
            total, found = total + sum(parts), True
    return total if found else None


def _sides(call: dict, name: str) -> tuple[Any, Any]:
    """(request, answer): the call's inputs less ``self``, and its output; Bedrock's InvokeModel keeps both in
    ``body`` (the model id beside the request body)."""
    inputs, output = maybe_json(call.get("inputs")), maybe_json(call.get("output"))
    request = {k: v for k, v in inputs.items() if k != "self"} if isinstance(inputs, dict) else inputs
    if name == "BedrockRuntime.invoke" and isinstance(request, dict) and isinstance(maybe_json(request.get("body")), dict):
        request = {"model": request.get("modelId"), **maybe_json(request["body"])}
        output = maybe_json(output.get("body")) if isinstance(output, dict) else output
    return request, output


def _embedding_record(request: Any, output: Any, provider: str | None) -> dict:
    body = output if isinstance(output, dict) else {}
    ask = request if isinstance(request, dict) else {}
    usage = body.get("usage")
    return {"provider": provider, "model": body.get("model") or ask.get("model"), "operation": "embeddings",
            "input_tokens": usage.get("prompt_tokens") if isinstance(usage, dict) else None,
            "status": "ok" if output is not None else "no_response"}


def _inputs_prompt(request: Any) -> dict:
    """An op of the app's own that returned a model's answer was called with its own arguments, not a chat request:
    those arguments (text as it is, other values as JSON) are what it was asked."""
    values = request.values() if isinstance(request, dict) else [request]
    texts = [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
             for v in values if v not in (None, "", [], {})]
    text = "\n".join(texts)
    return {"prompt_text": text, "messages_json": [{"role": "user", "content": text}]} if text else {}


def _tags(call: dict, name: str, output: Any, logged: Any) -> dict | None:
    """The answer's own metadata (a Responses object's), then where the call sat in Weave."""
    tags = {
        **(logged if isinstance(logged, dict) else {}),
        "op_name": name, "display_name": call.get("display_name"), "project_id": call.get("project_id"),
        "thread_id": call.get("thread_id"), "turn_id": call.get("turn_id"),
        "response_id": output.get("id") if isinstance(output, dict) else None,
        "exception": excerpt(call["exception"], 300) if call.get("exception") not in (None, "") else None,
    }
    return {k: v for k, v in tags.items() if v not in (None, "")} or None


def call_record(call: dict, number: int | None, name: str, provider: str | None, kind: str) -> dict | Reject:
    """A model call (``kind`` 'model': a patched op; 'shaped': a model call by its output; 'embedding') as a record:
    the pair reader's fields, then the call's own ids, times, usage and cost."""
    request, output = _sides(call, name)
    started = to_utc(call.get("started_at"))
    if kind == "embedding":
        record: dict | Reject = _embedding_record(request, output, provider)
    elif provider in OTHER_SHAPES and not answer_shaped(output):
        record = other_shape_record(request, output, provider)
    else:
        record = line_record({"request": request, "response": output}, number)
    if isinstance(record, Reject):
        return record
    if kind == "shaped" and not record.get("prompt_text") and not record.get("messages_json"):
        record.update(_inputs_prompt(request))
    if provider is not None and provider not in ("openai", "anthropic"):
        record["provider"] = provider
    elif name.startswith("litellm."):
        record["provider"] = guess_provider(record.get("model")) or record.get("provider")
    summary = _summary(call)
    if record.get("input_tokens") is None and record.get("output_tokens") is None:
        record.update(summary_tokens(summary, record.get("model")))
    if record.get("model") is None and isinstance(summary.get("usage"), dict) and len(summary["usage"]) == 1:
        record["model"] = next(iter(summary["usage"]))
    cost = logged_cost(summary, record)
    if cost is not None:
        record["cost_usd"] = cost
    record.update(
        source_id=str(call["id"]), trace_id=call.get("trace_id"), parent_span_id=call.get("parent_id"),
        created_at=started or record.get("created_at"), duration_ms=ms_between(started, to_utc(call.get("ended_at"))),
        tags_json=_tags(call, name, output, record.get("tags_json")), _line=number, _dedupe_key=f"weave|{call['id']}",
    )
    if call.get("exception") not in (None, ""):
        record["status"] = "error"
    return record


def read_call(call: dict, number: int | None) -> tuple[str, Any]:
    """(how the call was read, what it gives): 'model' (a patched op or an embedding) or 'shaped' (a model call by
    its output alone) with a record or Reject; 'skipped' with a Skipped (the app's own op) or a Reject."""
    if call.get("id") in (None, ""):
        return "skipped", Reject(number, "a Weave call without an id", excerpt(call))
    name = op_short_name(call.get("op_name"))
    patched, provider = provider_of(name)
    if EMBEDDING_OPS.match(name):
        return "model", call_record(call, number, name, "openai", "embedding")
    if patched:
        return "model", call_record(call, number, name, provider, "model")
    if answer_shaped(maybe_json(call.get("output"))):
        return "shaped", call_record(call, number, name, None, "shaped")
    return "skipped", Skipped(number, f"Weave op {name or '?'!r} is not a model call")


def calls_in(number: int, value: Any) -> list[tuple[int, Any]]:
    """(record number, call) of one value read from the file: a call, or the calls of ``{"calls": [...]}``."""
    if isinstance(value, dict) and isinstance(value.get("calls"), list) and "op_name" not in value:
        found = list(enumerate(value["calls"], start=1))
    else:
        found = [(number, value)]
    return [(n, unflatten(c) if isinstance(c, dict) and _is_flat(c) else c) for n, c in found]


# ---------------------------------------------------------------------------------------------
# Format
# ---------------------------------------------------------------------------------------------


class Weave:
    """W&B Weave calls: model calls stored, the app's own ops skipped and counted."""

    name = "weave"
    label = "a W&B Weave calls export"
    order = 50

    def sniff(self, src) -> int:
        if file_kind(src) == "csv":
            return 92 if looks_like_call(csv_header(src) or ()) else 0
        obj = first_json_object(src)
        head = src.head().decode("utf-8", "replace")
        if isinstance(obj, dict) and isinstance(obj.get("calls"), list) and obj["calls"]:
            obj = obj["calls"][0]
        elif obj is None and CALLS_DOCUMENT.match(head):
            try:
                obj, _ = json.JSONDecoder().raw_decode(head, CALLS_DOCUMENT.match(head).end())  # type: ignore[union-attr]
            except ValueError:
                obj = None
        if isinstance(obj, dict):
            if not looks_like_call(obj):
                return 0
            return 95 if str(obj.get("op_name", "")).startswith("weave:///") else 90
        # A first call too long for the head: its keys still show.
        return 85 if '"op_name"' in head and '"weave:///' in head and '"inputs"' in head else 0

    skipped_hint = ("the app's own ops are skipped; a model call is an op Weave's integrations patch, such as "
                    "openai.chat.completions.create or anthropic.Messages.create, or one whose output is a chat "
                    "completion, Responses object or message")

    def parse(self, src, ctx):
        answered: set = set()  # the response ids of the patched calls read
        held: list = []  # calls read by their output's shape alone: kept unless a patched call returned the same answer
        for number, value in iter_rows(src):
            if isinstance(value, Reject):
                yield value
                continue
            for position, call in calls_in(number, value):
                if not isinstance(call, dict):
                    yield Reject(position, "expected a Weave call object", excerpt(call))
                    continue
                try:
                    kind, result = read_call(call, position)
                except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
                    yield Reject(position, f"unreadable Weave call ({exc})", excerpt(call))
                    continue
                response_id = (result.get("tags_json") or {}).get("response_id") if isinstance(result, dict) else None
                if kind == "shaped" and isinstance(result, dict):
                    held.append((position, response_id, result))
                    continue
                if response_id is not None:
                    answered.add(response_id)
                yield result
        for position, response_id, record in held:
            if response_id is not None and response_id in answered:
                yield Skipped(position, "an op returning the answer of a model call it made")
            else:
                yield record


register(Weave())
