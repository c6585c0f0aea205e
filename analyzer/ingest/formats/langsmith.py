"""LangSmith run exports (format ``langsmith``): the Run objects of LangChain's tracing product.

Read as users export them: JSON Lines or a JSON list of runs from the SDK (``client.list_runs(...)`` dumped with
``run.dict()``, ``model_dump_json()`` or ``json.dumps(run, default=str)``), the ``/runs/query`` page
``{"runs": [...]}``, a run loaded with its ``child_runs``, the SDK's batch ingest bodies (``{"post": [...],
"patch": [...]}``, a run's update joined to it by id), and the same fields as CSV or as the Parquet files of
LangSmith's bulk data export (``inputs``, ``outputs``, ``extra`` as JSON text in a cell).

Only model calls are requests, as in ``otel.py``: a run with ``run_type`` ``llm``. An ``embedding`` run is priced but
stored with ``operation='embeddings'`` and no prompt to categorize. Chain, tool, retriever, prompt and parser runs
(a chain repeats its children's tokens and cost) are skipped and counted. Each run is one request, deduplicated by
run id; its trace and parent run are kept. An ``llm`` run's content is read in the shapes LangChain and the SDK's
wrappers write:

- LangChain chat models: ``inputs.messages`` as lists of serialized messages (``{"lc": 1, "type": "constructor",
  "id": [..., "HumanMessage"], "kwargs": {...}}``, ``{"type": "human", "data": {...}}``, or plain ``type``/``role``
  dicts), completion models ``inputs.prompts``; ``outputs.generations`` (text, message with ``usage_metadata`` and
  ``response_metadata``) and ``outputs.llm_output`` (``token_usage``, ``model_name``);
- ``wrap_openai``, ``wrap_anthropic`` and ``@traceable(run_type="llm")`` around a client call: ``inputs`` are the
  request's keyword arguments and ``outputs`` the response object (its ``usage`` moved to ``usage_metadata``),
  read with the OpenAI and Anthropic pair readers of ``app_calls.py``.

The mapping of fields to columns is listed in README.md ("LangSmith runs").
"""

from __future__ import annotations

import json
from typing import Any

from ..records import Skipped, to_utc
from ..sample_rates import SAMPLE_RATE_KEYS
from . import anthropic, openai, register
from .app_calls import looks_anthropic, response_object
from .generic import (READ_ERRORS, chat_request_fields, content_text, decode_json, file_kind, first, guess_provider,
                      json_object, model_call_parents, ms_between, normalize_messages, params_from_body, records_from_rows,
                      response_text, snake_columns, snake_keys, split_conversation, to_float, to_int, usage_fields)
from .otel import PROVIDERS as OTEL_PROVIDERS

MODEL_CALL = "llm"
EMBEDDING = "embedding"
# `ls_provider` values LangChain's integrations set, as plan's provider names; other values are kept as they are.
PROVIDERS = {
    **OTEL_PROVIDERS, "amazon_bedrock": "bedrock", "bedrock": "bedrock", "bedrock_converse": "bedrock",
    "azure": "azure", "azure_openai": "azure", "azure_ai": "azure", "google_vertexai": "google",
    "google_genai": "google", "google_anthropic_vertex": "google", "vertexai": "google", "mistral": "mistral",
    "xai": "xai", "together": "together", "fireworks": "fireworks",
}
# LangChain message classes (and their streamed chunks) as chat roles.
MESSAGE_CLASSES = {"HumanMessage": "user", "AIMessage": "assistant", "SystemMessage": "system", "ToolMessage": "tool",
                   "FunctionMessage": "tool", "ChatMessage": None}
MESSAGE_TYPES = {"human", "ai", "system", "tool", "function", "chat", "developer"}
RUN_MARKS = ("id", "trace_id", "dotted_order")


# ---------------------------------------------------------------------------------------------
# LangChain messages and generations
# ---------------------------------------------------------------------------------------------


def lc_message(message: Any) -> Any:
    """A serialized LangChain message as a chat message (``role``, ``content``, ``tool_calls``); other values are
    returned as they are. Reads ``dumpd`` form (``lc``/``id``/``kwargs``) and ``messages_to_dict`` form
    (``type``/``data``)."""
    if not isinstance(message, dict):
        return message
    if message.get("lc") is not None and isinstance(message.get("kwargs"), dict):
        body, ids = message["kwargs"], message.get("id")
        class_name = str(ids[-1]) if isinstance(ids, list) and ids else ""
        role = MESSAGE_CLASSES.get(class_name.removesuffix("Chunk"))
    elif isinstance(message.get("data"), dict) and isinstance(message.get("type"), str) and "role" not in message:
        body, role = message["data"], None
        body = {"type": message["type"], **body}
    else:
        return message
    out: dict = {"role": body.get("role") or role or body.get("type") or "user", "content": body.get("content")}
    for key in ("tool_calls", "tool_call_id", "name"):
        if body.get(key) not in (None, "", []):
            out[key] = body[key]
    return out


def _flat_messages(messages: list) -> list:
    """LangChain's batches (``[[msg, msg]]``) as one list, each message in chat shape."""
    flat = [m for batch in messages for m in (batch if isinstance(batch, list) else [batch])]
    return [lc_message(m) for m in flat]


def is_langchain_messages(messages: Any) -> bool:
    """LangChain's chat-model input: lists of messages, or messages marked by ``lc`` or a LangChain ``type``."""
    if not isinstance(messages, list) or not messages:
        return False
    if all(isinstance(m, list) for m in messages):
        return True
    return any(isinstance(m, dict) and (m.get("lc") is not None or ("role" not in m and m.get("type") in MESSAGE_TYPES))
               for m in messages)


def _generations(outputs: dict) -> list[dict]:
    found = outputs.get("generations")
    if not isinstance(found, list):
        return []
    flat = [g for batch in found for g in (batch if isinstance(batch, list) else [batch])]
    return [g for g in flat if isinstance(g, dict)]


def _generation_text(generation: dict) -> str:
    message = lc_message(generation.get("message"))
    message = message if isinstance(message, dict) else {}
    text = generation.get("text") if isinstance(generation.get("text"), str) else ""
    text = text or content_text(message.get("content"))
    if not text and message.get("tool_calls"):
        text = json.dumps(message["tool_calls"], ensure_ascii=False, default=str)
    return text


def _message_body(generation: dict) -> dict:
    """The generation's message's fields (``kwargs`` of a serialized message, or the message itself)."""
    message = json_object(generation.get("message"))
    return json_object(message.get("kwargs")) or json_object(message.get("data")) or message


# ---------------------------------------------------------------------------------------------
# What was asked, what came back
# ---------------------------------------------------------------------------------------------


def _conversation(messages: list[dict]) -> dict:
    system, prompt = split_conversation(messages)
    return {"system_prompt": system, "prompt_text": prompt, "messages_json": messages}


def _lone_text(inputs: dict) -> str | None:
    """``@traceable(run_type="llm")`` around a function of one text argument: that text is the prompt."""
    texts = [v for v in inputs.values() if isinstance(v, str) and v.strip()]
    return texts[0] if len(texts) == 1 and len(inputs) == 1 else None


def langchain_fields(inputs: dict, outputs: dict) -> dict | None:
    """The record's content from a LangChain model run; None when the run is not in LangChain's shapes."""
    messages, prompts = inputs.get("messages"), inputs.get("prompts")
    generations = _generations(outputs)
    if not is_langchain_messages(messages) and not isinstance(prompts, list) and not generations:
        return None
    record: dict = {}
    if isinstance(messages, list) and is_langchain_messages(messages):
        record.update(_conversation(normalize_messages(_flat_messages(messages))))
    elif isinstance(prompts, list) and prompts:
        record.update(_conversation([{"role": "user", "content": p if isinstance(p, str) else content_text(p)}
                                     for p in prompts]))
    texts = [t for t in map(_generation_text, generations) if t]
    record["response_text"] = "\n".join(texts) or None
    bodies = [_message_body(g) for g in generations]
    infos = [json_object(g.get("generation_info")) for g in generations]
    metadata = [json_object(b.get("response_metadata")) for b in bodies]
    llm_output = json_object(outputs.get("llm_output"))
    named = [first(m, "model_name", "model") for m in [llm_output] + metadata + infos]
    record["model"] = next((m for m in named if m), None)
    reasons = [m.get("finish_reason") or m.get("stop_reason") for m in metadata + infos]
    record["_blocked"] = "content_filter" in reasons
    record["_usage"] = next((json_object(b.get("usage_metadata")) for b in bodies if json_object(b.get("usage_metadata"))), {})
    record["_token_usage"] = json_object(llm_output.get("token_usage") or llm_output.get("usage"))
    return record


def provider_fields(inputs: dict, outputs: Any) -> dict:
    """The record's content from a client call's kwargs and response (``wrap_openai``, ``wrap_anthropic``)."""
    response = response_object(outputs) if outputs not in (None, {}) else None
    request = inputs if isinstance(inputs, dict) else None
    if looks_anthropic(request, response):
        record = anthropic.pair_record(request, response)
    else:
        record = openai.pair_record(request, response)
    record["_blocked"] = record.pop("status", None) == "blocked"  # otherwise the run's own status says how it ended
    if record.get("response_text") is None and isinstance(outputs, (dict, str)):
        record["response_text"] = response_text(outputs)
    record["_usage"] = json_object(outputs.get("usage_metadata")) if isinstance(outputs, dict) else {}
    return record


def content_fields(inputs: Any, outputs: Any) -> dict:
    """system_prompt, messages_json, prompt_text, response_text, model and the usage found, from a run's inputs and
    outputs in whichever shape wrote them."""
    inputs, outputs = decode_json(inputs), decode_json(outputs)
    if not isinstance(inputs, dict):
        record = chat_request_fields(inputs) if inputs not in (None, "") else {}
        return {**record, "response_text": response_text(outputs)}
    found = langchain_fields(inputs, outputs if isinstance(outputs, dict) else {})
    record = found if found is not None else provider_fields(inputs, outputs)
    if found is None:
        lone = _lone_text(inputs)
        if not record.get("messages_json") and lone is not None:
            record.update(_conversation([{"role": "user", "content": lone}]))
    messages = record.get("messages_json")
    if not record.get("system_prompt") and messages:  # wrap_anthropic moves `system` into the messages
        record["system_prompt"] = split_conversation(messages)[0]
    return record


# ---------------------------------------------------------------------------------------------
# Model, tokens, cost, links
# ---------------------------------------------------------------------------------------------


def _provider(metadata: dict, invocation: dict, model: Any) -> str | None:
    """``ls_provider`` (LangChain's integrations set it), else what the model name implies, else the prefix of
    LangChain's ``_type`` (``openai-chat``, ``anthropic-chat``)."""
    named = first(metadata, "ls_provider") or first(invocation, "ls_provider")
    if named is None:
        guessed = guess_provider(model)
        kind = first(invocation, "_type")
        if guessed is not None or kind is None:
            return guessed
        named = str(kind).split("-")[0]
    name = str(named).lower()
    return PROVIDERS.get(name, name)


def _details(value: Any) -> dict:
    """A token-details object: ``{category: count}``, or the v2 API's ``{"raw": {category: count}}``."""
    details = json_object(value)
    return json_object(details.get("raw")) if set(details) == {"raw"} else details


def _category(details: dict, name: str) -> int | None:
    """A category's count, with its service-tier variants (``priority_cache_read``, ``flex_reasoning``: the SDK's
    OpenAI wrapper names them so for the priority and flex tiers)."""
    found = [to_int(v) for k, v in details.items() if k in (name, f"priority_{name}", f"flex_{name}")]
    present = [v for v in found if v is not None]
    return sum(present) if present else None


def _counts(usage: dict) -> dict:
    """LangChain's ``usage_metadata``: input_tokens counts all input, cache reads and writes included. Cache writes
    are ``cache_creation``, or, when Anthropic split them by lifetime (LangChain then sets ``cache_creation`` to 0),
    ``ephemeral_5m_input_tokens`` plus ``ephemeral_1h_input_tokens``."""
    details_in, details_out = _details(usage.get("input_token_details")), _details(usage.get("output_token_details"))
    written = to_int(details_in.get("cache_creation"))
    by_lifetime = [to_int(details_in.get(k)) for k in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")]
    if not written and any(v is not None for v in by_lifetime):
        written = sum(v or 0 for v in by_lifetime)
    return {"input_tokens": to_int(usage.get("input_tokens"), "usage_metadata.input_tokens"),
            "output_tokens": to_int(usage.get("output_tokens"), "usage_metadata.output_tokens"),
            "cached_input_tokens": _category(details_in, "cache_read"),
            "cache_write_tokens": written,
            "cache_write_1h_tokens": to_int(details_in.get("ephemeral_1h_input_tokens")),
            "reasoning_tokens": _category(details_out, "reasoning")}


def token_fields(r: dict, content: dict) -> dict:
    """Token counts: the run's own ``prompt_tokens``/``completion_tokens`` (with ``prompt_token_details``), else the
    message's ``usage_metadata``, else the one set on the run (``extra.metadata.usage_metadata``: LangChain's tracer
    and ``RunTree.set`` put it there), else ``llm_output.token_usage``, else the provider response's usage. A source of
    zeros gives way to one that counted."""
    top = _counts({"input_tokens": r.get("prompt_tokens"), "output_tokens": r.get("completion_tokens"),
                   "input_token_details": r.get("prompt_token_details"),
                   "output_token_details": r.get("completion_token_details")})
    provider = {k: content.get(k) for k in ("input_tokens", "output_tokens", "cached_input_tokens",
                                            "cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens")}
    candidates = [top, _counts(content.get("_usage") or {}), _counts(json_object(content.get("_run_usage"))),
                  usage_fields(content.get("_token_usage")), provider]
    counted = [c for c in candidates if c.get("input_tokens") is not None or c.get("output_tokens") is not None]
    chosen = next((c for c in counted if c.get("input_tokens") or c.get("output_tokens")), counted[0] if counted else {})
    out = {k: chosen.get(k) for k in ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
                                      "cache_write_1h_tokens", "reasoning_tokens")}
    for key in ("cached_input_tokens", "cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens"):  # any source
        if out[key] is None:
            out[key] = next((c.get(key) for c in candidates if c.get(key) is not None), None)
    read, write, total = out["cached_input_tokens"] or 0, out["cache_write_tokens"] or 0, out["input_tokens"]
    if total is not None and read + write > total:
        out["input_tokens"] = total + read + write  # a count that left the cache out (as otel.py reads it)
    return out


def _cost(r: dict, usage: Any) -> float | None:
    """The run's ``total_cost`` (else prompt plus completion cost); else the cost set with its usage
    (``usage_metadata.total_cost``, or ``input_cost`` plus ``output_cost``) by an SDK-side dump."""
    for source, keys in ((r, ("prompt_cost", "completion_cost")), (json_object(usage), ("input_cost", "output_cost"))):
        total = to_float(source.get("total_cost"), "total_cost")
        if total is not None:
            return total
        parts = [to_float(source.get(k), k) for k in keys]
        if any(p is not None for p in parts):
            return sum(p or 0.0 for p in parts)
    return None


def _dotted_ids(dotted: Any) -> list[str]:
    """The run ids of a dotted order ``<time>Z<root id>.<time>Z<child id>...``, root first."""
    if not isinstance(dotted, str):
        return []
    return [part.partition("Z")[2] for part in dotted.split(".") if "Z" in part]


def _dotted_links(dotted: Any) -> tuple[str | None, str | None]:
    """(trace id, parent run id) from a dotted order."""
    ids = _dotted_ids(dotted)
    return (ids[0] if ids else None), (ids[-2] if len(ids) > 1 else None)


def parent_of(r: dict) -> Any:
    """The run's parent: ``parent_run_id``, else the last of ``parent_run_ids`` (the v2 API lists the ancestors from
    the root down), else the one before last in its dotted order."""
    ancestors = decode_json(r.get("parent_run_ids"))
    from_list = str(ancestors[-1]) if isinstance(ancestors, list) and ancestors else None
    return first(r, "parent_run_id") or from_list or _dotted_links(first(r, "dotted_order"))[1]


def _duration_ms(r: dict, start, end) -> float | None:
    duration = ms_between(start, end)
    if duration is None:
        latency = to_float(first(r, "latency", "latency_seconds"), "latency")
        duration = latency * 1000.0 if latency is not None else None  # seconds in the API's and UI's tables
    return duration


def _tags(r: dict, metadata: dict, run_type: str) -> dict | None:
    error = first(r, "error")
    tags = {
        "run_name": first(r, "name"), "run_type": run_type, "tags": decode_json(r.get("tags")) or None,
        "session_id": first(r, "session_id"), "session_name": first(r, "session_name"),
        "conversation_id": first(metadata, "thread_id", "session_id", "conversation_id"),
        "error": str(error)[:500] if error is not None else None,
    }
    return {k: v for k, v in tags.items() if v not in (None, "", [], {})} or None


def _model(content: dict, invocation: dict, metadata: dict) -> Any:
    """The response's exact model name, else the one asked for, else LangSmith's ``ls_model_name``."""
    return (content.get("model") or first(invocation, "model", "model_name", "model_id")
            or first(metadata, "ls_model_name"))


# ---------------------------------------------------------------------------------------------
# One run -> one record
# ---------------------------------------------------------------------------------------------


def run_record(row: dict) -> dict | Skipped:
    """A `requests` record for a model call; ``Skipped`` for the runs around it."""
    r = snake_keys(row)
    run_type = str(first(r, "run_type") or "").lower()
    if not run_type:
        raise ValueError("not a LangSmith run (no run_type)")
    if run_type not in (MODEL_CALL, EMBEDDING):
        return Skipped(None, f"a LangSmith {run_type} run, not a model call")
    run_id = first(r, "id", "run_id")
    if run_id is None:
        raise ValueError("run without id")
    extra = json_object(r.get("extra"))
    metadata = {**json_object(r.get("metadata")), **json_object(extra.get("metadata"))}
    invocation = json_object(extra.get("invocation_params"))
    content = content_fields(r.get("inputs"), r.get("outputs"))
    content["_run_usage"] = metadata.get("usage_metadata")  # the usage set on the run; outputs may be hidden
    model = _model(content, invocation, metadata)
    start, end = to_utc(first(r, "start_time")), to_utc(first(r, "end_time"))
    error = first(r, "error")
    failed = error is not None or str(first(r, "status") or "").lower() == "error"
    dotted_trace = _dotted_links(first(r, "dotted_order"))[0]
    parent = parent_of(r)
    record: dict = {
        "source_id": str(run_id), "provider": _provider(metadata, invocation, model), "model": model,
        "created_at": start, "duration_ms": _duration_ms(r, start, end), "cost_usd": _cost(r, content.get("_run_usage") or content.get("_usage")),
        "status": "error" if failed else ("blocked" if content.get("_blocked") else "ok"),
        "operation": "embeddings" if run_type == EMBEDDING else None,
        "trace_id": first(r, "trace_id") or dotted_trace or (str(run_id) if parent is None else None),
        "parent_span_id": parent,
        "user_id": first(metadata, "user_id", "user", "ls_user_id"),
        "tags_json": _tags(r, metadata, run_type),
        "params_json": content.get("params_json") or params_from_body(invocation),
        "sample_rate": first(metadata, *SAMPLE_RATE_KEYS),
        **token_fields(r, content),
    }
    for key in ("system_prompt", "messages_json", "prompt_text", "response_text"):
        if content.get(key):
            record[key] = content[key]
    record["_dedupe_key"] = f"langsmith|{run_id}"
    return record


def runs_in(value: Any) -> list:
    """The runs one JSON value holds: a run, a list of runs, a ``{"runs": [...]}`` page; and the ``child_runs`` of
    a run loaded with its children, after it."""
    out: list = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict) and "run_type" not in item and isinstance(item.get("runs"), list):
            stack.extend(reversed(item["runs"]))
        elif isinstance(item, dict) and "run_type" not in item and is_batch_body(item):
            stack.extend(reversed(batch_runs(item)))
        else:
            out.append(item)
            children = item.get("child_runs") if isinstance(item, dict) else None
            if isinstance(children, list):
                stack.extend(reversed(children))
    return out


def is_batch_body(item: dict) -> bool:
    return isinstance(item.get("post"), list) or isinstance(item.get("patch"), list)


def batch_runs(body: dict) -> list:
    """The runs of a batch ingest body as the SDK sends it to ``/runs/batch`` (``{"post": [...], "patch": [...]}``):
    each posted run with its update (end time, outputs, error) applied, by run id; an update whose run was posted
    in another body stays on its own (a run without ``run_type`` is no model call to count)."""
    posted = [dict(run) for run in body.get("post") or [] if isinstance(run, dict)]
    by_id = {run_id(run): run for run in posted if run_id(run) is not None}
    alone = []
    for update in body.get("patch") or []:
        if isinstance(update, dict) and run_id(update) in by_id:
            by_id[run_id(update)].update(given(update))
        else:
            alone.append(update)
    return [*posted, *alone]


def run_id(run: dict) -> Any:
    """A run's id; the JS SDK's update (the body of ``PATCH /runs/{id}``) holds it only at the end of its dotted order."""
    if run.get("id") is not None:
        return run["id"] if isinstance(run["id"], (str, int)) else json.dumps(run["id"], default=str)  # a key, always
    dotted = run.get("dotted_order")
    ids = _dotted_ids(dotted.rsplit(".", 1)[-1] if isinstance(dotted, str) else None)
    return ids[0] or None if ids else None


def given(update: dict) -> dict:
    """An update's fields that say something: a null in an update does not erase what the run was posted with."""
    return {k: v for k, v in update.items() if v is not None}


def is_update(run: dict) -> bool:
    """A run's update as a batch body's ``patch`` sends it: no ``run_type``, its end time or outputs."""
    return "run_type" not in run and bool({"end_time", "outputs", "error"} & set(run))


def model_call_parent(run: dict) -> Any:
    """The run a model call (an ``llm`` or ``embedding`` run) sits in; None for any other run. An ``llm`` run that
    holds one is a wrapper (``@traceable(run_type="llm")`` around a ``wrap_openai`` client or a chat model), whose
    tokens and cost LangSmith adds up from the calls inside it: those calls are the requests, the wrapper is skipped."""
    r = snake_keys(run)
    return parent_of(r) if str(first(r, "run_type") or "").lower() in (MODEL_CALL, EMBEDDING) else None


def is_run(keys) -> bool:
    """A LangSmith run's fields: ``run_type`` with ``inputs`` or ``outputs`` and an id, trace id or dotted order."""
    keys = set(keys)
    return "run_type" in keys and bool({"inputs", "outputs"} & keys) and bool(set(RUN_MARKS) & keys)


class LangSmith:
    name = "langsmith"
    label = "a LangSmith run export"
    order = 50
    skipped_hint = ("chain, tool, retriever, prompt and parser runs are skipped; a model call is a run whose "
                    "run_type is llm or embedding")

    def sniff(self, src) -> int:
        from ..records import first_json_object

        if file_kind(src) in ("csv", "parquet"):
            return 95 if is_run(snake_columns(src)) else 0
        obj = first_json_object(src)
        if isinstance(obj, dict) and isinstance(obj.get("runs"), list) and obj["runs"]:
            obj = obj["runs"][0]
        elif isinstance(obj, dict) and isinstance(obj.get("post"), list) and obj["post"]:
            obj = obj["post"][0]
        return 95 if isinstance(obj, dict) and is_run(snake_keys(obj)) else 0

    def parse(self, src, ctx):
        # Batch bodies may send a run's update in a later body than the run: both are joined by id.
        updates: dict = {}
        posted: set = set()

        def noting_updates(run: dict) -> Any:
            if "run_type" in run:
                posted.add(run_id(run))
            elif run_id(run) is not None and is_update(run):
                updates.setdefault(run_id(run), {}).update(given(run))
            return model_call_parent(run)

        wrappers = model_call_parents(src, runs_in, noting_updates)

        def to_record(row: dict) -> dict | Skipped:
            if "run_type" not in row and is_update(row):
                return Skipped(None, "the update of a run sent in another batch body" + (
                    " (joined to it)" if run_id(row) in posted else ", which this file does not hold"))
            if "run_type" in row and run_id(row) in updates:
                row = {**row, **updates[run_id(row)]}
            record = run_record(row)
            if isinstance(record, dict) and record["source_id"] in wrappers:
                return Skipped(None, "an llm run around the model calls of its own llm runs")
            return record

        return records_from_rows(src, to_record, "a LangSmith run object", items=runs_in, unreadable="unreadable run",
                                 errors=(*READ_ERRORS, OverflowError))


register(LangSmith())
