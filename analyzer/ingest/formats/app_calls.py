"""App logs of model calls, whichever provider they call: formats ``openai`` and ``anthropic``.

JSON Lines (or a JSON document) of:

- request/response pairs as apps log them: ``{"request": {...}, "response": {...}}`` with optional envelope keys
  (``timestamp``/``ts``/``created_at``, ``duration_ms``/``latency_ms``, ``cost_usd``, ``user_id``, ``metadata``,
  ``error``; see ``app_log.py``). The pair may also be ``req``/``resp``, ``request_body``/``response_body``,
  ``inputs``/``outputs`` (LangSmith-style) or ``input``/``output`` objects; either side may be wrapped in
  ``{"body": ...}`` (HTTP recorders), double-encoded as a JSON string, or, for the response, a streamed list of
  chunks or the raw SSE text (``data: {...}`` lines);
- bare ``chat.completion`` objects (``response.model_dump()``), Responses API ``response`` objects and Anthropic
  ``message`` objects; ``{"object": "list", "data": [...]}`` pages of stored completions;
- requests logged without their responses, and calls logged flat: the conversation and model at the top of the
  line, the answer as text (under ``response``/``completion``/``output``, ``output_text``, ``answer``, ``reply``),
  usage as an object or token counts;
- the Vercel AI SDK's ``generateText`` results (``ai_sdk.py``), whichever provider they called.

A pair whose response is an Anthropic Message (or whose request is an Anthropic request) is read with
``anthropic.py``, any other with ``openai.py``. Big JSON Lines files take the SQL route (``fast_select``, built in
``app_log_sql.py``); lines it does not take go through ``parse_line``, and both give identical rows.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from .. import split_calls
from ..records import EMBEDDING_OPERATION, Held, Reject, Skipped, content_hash, excerpt, maybe_json, parse_json_line, to_utc
from . import ai_sdk, anthropic, app_log_sql, openai, register, stream_lines
from .app_log import (COST_KEYS, DURATION_MS_KEYS, DURATION_S_KEYS, FAILED_STATUSES, FLAT_ANSWER_KEYS, FLAT_PROMPT_KEYS,
                      FLAT_SYSTEM_KEYS, FLAT_USAGE_ALIASES, FLAT_USAGE_KEYS, REQUEST_KEYS, RESPONSE_KEYS, STATUS_SPACE, TIME_KEYS,
                      USAGE_HOLDERS, cut_wrapper, docker_pieces, envelope, json_values,
                      other_log_line, pair_sides, parse_sse, scalar_keys, sdk_repr_object, unwrap_body, with_otel_model,
                      wrappers_around)
from .generic import (camel_gemini, content_text, file_kind, guess_provider, iter_rows, message_tool_calls, other_shape_record,
                      response_text, to_int, usage_fields)


def response_object(value: Any) -> Any:
    """A logged response as one object: decodes JSON strings, SSE text and lists of stream chunks."""
    value = maybe_json(value)
    if isinstance(value, str):
        if "data:" in value:
            value = parse_sse(value)
        else:
            return sdk_repr_object(value)
    if isinstance(value, list):
        if value and all(isinstance(x, dict) for x in value):
            if any(str(x.get("type", "")).startswith(("message_", "content_block")) for x in value):
                return {"_anthropic_stream": value}
            if any(str(x.get("type", "")).startswith("response.") for x in value):
                return openai.assemble_responses_events(value)
            if any(x.get("object") == "chat.completion.chunk" or "choices" in x for x in value):
                return openai.assemble_chat_chunks(value)
        return None
    return value if isinstance(value, dict) else None


def other_provider(request: Any, response: Any) -> str | None:
    """The provider of a call an app logged through another SDK than OpenAI's or Anthropic's: 'bedrock' (boto3's
    Converse), 'google' (Gemini's generateContent) or 'cohere' (Cohere's chat); None for OpenAI and Anthropic calls."""
    if isinstance(response, dict) and not any(key in response for key in ("choices", "object", "type")):
        usage = maybe_json(response.get("usage"))
        usage = usage if isinstance(usage, dict) else {}
        meta = maybe_json(response.get("meta"))
        if isinstance(response.get("output"), dict) or "inputTokens" in usage or "outputTokens" in usage:
            return "bedrock"
        if "candidates" in response or "usageMetadata" in response:
            return "google"
        if "billed_units" in usage or (isinstance(meta, dict) and "billed_units" in meta):
            return "cohere"
    if response is None and isinstance(request, dict):
        if "modelId" in request and "messages" in request:
            return "bedrock"
        if "contents" in request and "messages" not in request:
            return "google"
    return None


def other_call_record(request: Any, response: Any, provider: str) -> dict:
    """A Converse, Gemini or Cohere call read with the generic readers, with the answer's own id and latency."""
    record = other_shape_record(request, response, provider)
    body = response if isinstance(response, dict) else {}
    metadata = body.get("ResponseMetadata")
    answer_id = (metadata.get("RequestId") if isinstance(metadata, dict) else None) or body.get("responseId") or body.get("id")
    if isinstance(answer_id, str) and answer_id:
        record["source_id"] = answer_id
    metrics = body.get("metrics")
    if isinstance(metrics, dict) and isinstance(metrics.get("latencyMs"), (int, float)):
        record["duration_ms"] = float(metrics["latencyMs"])
    return record


def asks(obj: dict) -> bool:
    """Whether a flat line holds the conversation it sent: ``messages``, a ``prompt`` string or a Responses ``input``."""
    return (isinstance(maybe_json(obj.get("messages")), list) or isinstance(flat_prompt(obj), str)
            or isinstance(obj.get("input"), (str, list)))


def first_text(obj: dict, keys: tuple) -> str | None:
    return next((obj[key] for key in keys if isinstance(obj.get(key), str)), None)


def flat_prompt(obj: dict) -> str | None:
    """A flat line's prompt string; LangChain's ``prompts`` list when it holds one (a list of several is a batch of
    generations, which one row cannot stand for)."""
    prompts = obj.get("prompts")
    if isinstance(prompts, list) and len(prompts) == 1 and isinstance(prompts[0], str):
        return prompts[0]
    return first_text(obj, FLAT_PROMPT_KEYS)


def flat_answer(obj: dict, request: Any, response: Any, found: bool) -> tuple[bool, str | None]:
    """Whether the line is a call logged flat, and its answer: its model and conversation (``asks``) at the top of
    the line, the answer as text under a response key (``{"model", "messages", "response": "...", "usage"}``) or
    under ``FLAT_ANSWER_KEYS``, usage as an object or as token counts. Without an answer under a response key, the
    line is a call only if it states an answer or its usage (else a request logged alone). A line of a model and its
    usage alone (an app's cost log) is a call without text: its spend counts, it has nothing to categorize or replay."""
    if found:
        answer = maybe_json(response)
        if request is not None or not isinstance(answer, str) or "data:" in answer:
            return False, None
    else:
        answer = next((obj[key] for key in FLAT_ANSWER_KEYS if isinstance(obj.get(key), str)), None)
    if not obj.get("model"):
        # Without its model, only a prompt beside an answer says "model call" (an app that logs one model's calls);
        # input and output alone say it of any traced function (Braintrust, LangSmith and Langfuse rows have them).
        # A dataset's prompt/completion or question/answer pairs (fine-tuning, evals) have no log's marks: a time, a
        # duration, usage or a cost.
        generic = any(key in obj for key in ("input", "inputs", "output", "outputs"))
        logged = any(key in obj for key in LOG_MARKS)
        # An empty answer beside the prompt is still the call's (the model said nothing; its usage and time count).
        return bool(asks(obj) and answer is not None and logged and not generic), answer
    return (found or answer is not None or failed_flat(obj)
            or any(isinstance(maybe_json(obj.get(key)), dict) for key in USAGE_HOLDERS)
            or any(key in obj for key in FLAT_USAGE_KEYS)), answer


REQUEST_COUNTS = ("num_model_requests", "num_requests", "request_count", "requests_count", "n_requests", "total_requests")


def usage_report(obj: dict) -> bool:
    """A page of an admin API's usage or cost report: time buckets (``start_time``, ``end_time``) of results or
    aggregated counts (OpenAI's ``organization.usage.*``/``organization.costs.result``, Anthropic's usage report)."""
    buckets = obj.get("data")
    bucket = buckets[0] if isinstance(buckets, list) and buckets and isinstance(buckets[0], dict) else obj
    if bucket.get("object") == "bucket" or str(obj.get("object", "")).startswith("organization."):
        return True
    results = bucket.get("results")
    if ({"start_time", "end_time"} <= bucket.keys() or {"starting_at", "ending_at"} <= bucket.keys()) and isinstance(results, list):
        return True
    # A report's rows saved as a table (the usage dashboard's export, a script's CSV of the API's results): a count of
    # requests, or Anthropic's uncached input, beside the tokens of a model and a period.
    return any(key in bucket for key in REQUEST_COUNTS) or (
        "uncached_input_tokens" in bucket and bool({"starting_at", "ending_at", "date", "usage_date_utc"} & bucket.keys()))


def prompt_logged_alone(obj: dict) -> bool:
    """A prompt string and its model logged without the answer, with a call's marks (how long it took, or a
    callback's run id and invocation parameters): a callback's log of the request (LangChain's ``on_llm_start``),
    not a dataset's prompt (which may well carry a time)."""
    return (isinstance(flat_prompt(obj), str) and isinstance(obj.get("model"), str) and bool(obj["model"])
            and any(key in obj for key in (*DURATION_MS_KEYS, *DURATION_S_KEYS, *CALLBACK_MARKS)))


def failed_flat(obj: dict) -> bool:
    """A flat line that says its call failed (``"status": "failure"``), with no usage to state."""
    return isinstance(obj.get("status"), str) and obj["status"].strip(STATUS_SPACE).lower() in FAILED_STATUSES


def flat_usage(obj: dict) -> dict:
    """A flat line's token counts: its usage object (under ``usage`` or another holder), else the counts at its top,
    homegrown names read as the API's (``tokens_in``, ``cache_read_tokens``), and counts named from two APIs at once."""
    holder = next((maybe_json(obj[key]) for key in USAGE_HOLDERS if isinstance(maybe_json(obj.get(key)), dict)), None)
    source = holder if holder is not None else obj
    counts = {FLAT_USAGE_ALIASES.get(k, k): source[k] for k in (*FLAT_USAGE_KEYS, *FLAT_USAGE_ALIASES) if k in source}
    usage = (usage_fields(holder) if holder is not None else {}) or usage_fields(counts)
    for column, names in (("input_tokens", ("prompt_tokens", "input_tokens")), ("output_tokens", ("completion_tokens", "output_tokens"))):
        if usage.get(column) is None:
            value = next((counts[name] for name in names if counts.get(name) is not None), None)
            if value is not None:
                usage = {**usage, column: to_int(value, column)}
    return usage


def flat_request(obj: dict) -> dict:
    """A flat line read as the request it sent: its conversation, or a prompt string as the user's turn after a
    system string."""
    request = dict(obj)
    prompt = flat_prompt(obj)
    if not isinstance(maybe_json(obj.get("messages")), list) and prompt is not None:
        system = first_text(obj, FLAT_SYSTEM_KEYS)
        request["messages"] = [*([{"role": "system", "content": system}] if system is not None else []),
                               {"role": "user", "content": prompt}]
    return request


def flat_call_record(obj: dict, answer: str | None) -> dict:
    """A call logged flat (``flat_answer``): the line read as the request it sent (``flat_request``), the answer, and
    the usage object or the token counts at the top."""
    request = flat_request(obj)
    reader = anthropic.pair_record if looks_anthropic(request, None) else openai.pair_record
    record = reader(request, None)
    if not asks(obj):
        record.update(messages_json=None, prompt_text=None, system_prompt=None)
    if not answer:  # the answer's message itself, flattened into the line: its content, else its tool calls
        calls = message_tool_calls(obj)
        answer = content_text(obj.get("content")) or (json.dumps(calls, ensure_ascii=False, default=str) if calls else None)
    record.update(flat_usage(obj), response_text=answer or None, status="error" if failed_flat(obj) else "ok")
    if not answer and EMBEDDING_MODEL.search(str(record.get("model") or "")):
        # a cost log's line of an embedding call: priced on its input, no prompt for a chat model to answer (the
        # operation alone says so: the row's id, made of what it holds, stays what it was)
        record["operation"] = EMBEDDING_OPERATION
    named = obj.get("provider")  # the app's own name for where the call went ("ollama", "local_qwen") wins a guess
    record["provider"] = (named.strip().lower() if isinstance(named, str) and named.strip() else
                          guess_provider(record.get("model")) or (record["provider"] if record.get("model") else None))
    if isinstance(obj.get("id"), str) and obj["id"]:  # `llm logs --json`: the response's ULID
        record["source_id"] = obj["id"]
    return record


DSPY_KEYS = frozenset({"kwargs", "outputs", "uuid", "model"})


def is_dspy_entry(obj: dict) -> bool:
    """An entry of DSPy's ``lm.history`` as users dump it (``json.dump(lm.history, f, default=str)``): the prompt or
    messages, the call's ``kwargs``, the ``outputs``, LiteLLM's ``usage`` and ``cost``, a ``timestamp`` and ``uuid``."""
    return DSPY_KEYS <= obj.keys() and ("messages" in obj or "prompt" in obj)


def dspy_record(obj: dict) -> dict:
    """A DSPy history entry: the conversation and parameters it sent, the first of its ``outputs`` as the answer (the
    ``response`` is DSPy's or LiteLLM's object written as its repr), the model that answered (``response_model``; ``model``
    is LiteLLM's ``provider/model`` name) and the usage; the envelope (``cost``, ``timestamp``) is read as for any log."""
    messages = maybe_json(obj.get("messages"))
    if not isinstance(messages, list):
        prompt = obj.get("prompt")
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else []
    params = maybe_json(obj.get("kwargs"))
    model = obj.get("response_model") or obj.get("model")
    request = {**(params if isinstance(params, dict) else {}), "messages": messages, "model": model}
    outputs = maybe_json(obj.get("outputs"))
    first = outputs[0] if isinstance(outputs, list) and outputs else None
    answer = first if isinstance(first, str) else first.get("text") if isinstance(first, dict) else None
    record = {"provider": guess_provider(obj.get("model")) or openai.PROVIDER, **openai.chat_request_fields(request)}
    record.update(flat_usage(obj), response_text=answer, status="ok")
    if isinstance(obj.get("uuid"), str) and obj["uuid"]:
        record["source_id"] = obj["uuid"]
    return record


GATEWAYS = ("openrouter",)
CALLBACK_MARKS = ("invocation_params", "run_id")  # what a LangChain callback handler logs beside a request
# Embedding models' names (text-embedding-3-small, nomic-embed-text, amazon.titan-embed-text-v2:0, embed-english-v3.0)
EMBEDDING_MODEL = re.compile(r"(^|[^a-z])embed(dings?)?([^a-z]|$)", re.IGNORECASE)
LOG_MARKS = (*TIME_KEYS, *DURATION_MS_KEYS, *DURATION_S_KEYS, *COST_KEYS, *USAGE_HOLDERS, *FLAT_USAGE_KEYS)


def conversation_asked(obj: dict, response: Any) -> dict:
    """The request of a line whose conversation sits at its top beside a response object under a response key
    (``{"model", "messages", "completion": {ChatCompletion}}``); a last message that is the answer itself (apps
    that append the reply to the history they log) is left out."""
    request = flat_request(obj)
    answered = response_object(unwrap_body(response)[0])
    messages = maybe_json(request.get("messages"))
    answer = response_text(answered)
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        last = messages[-1]
        appended = answer and content_text(last.get("content")) == answer
        # an empty reply too: the app appended what came back, nothing (a request never ends with an empty turn)
        came_back_empty = not answer and not content_text(last.get("content")) and not last.get("tool_calls")
        if last.get("role") == "assistant" and (appended or came_back_empty):
            messages = request["messages"] = messages[:-1]
    if not looks_anthropic(None, answered) and isinstance(messages, list):
        # An OpenAI answer: the line's system string is the conversation's first turn, not an Anthropic request's
        # ``system`` (which would send the pair to the Anthropic reader).
        request = {k: v for k, v in request.items() if k not in ("system", "anthropic_version")}
        system = first_text(obj, FLAT_SYSTEM_KEYS)
        if system is not None:
            request = openai.system_as_first_turn({**request, "system": system})
    return request


def looks_anthropic(request: Any, response: Any) -> bool:
    """Whether a pair is a Messages API call. An OpenAI answer decides it: a request with a ``system`` key beside
    its messages is then an OpenAI-compatible call (``openai.system_as_first_turn``)."""
    if isinstance(response, dict):
        if "_anthropic_stream" in response:
            return True
        if response.get("type") in ("message", "error") and "choices" not in response:
            return True
        if str(response.get("id", "")).startswith("msg_") and isinstance(response.get("content"), list):
            return True
        if response.get("object") in ("chat.completion", "response") or isinstance(response.get("choices"), list):
            return False
    return anthropic.is_request(request)


def is_answer_object(value: Any) -> bool:
    """A whole answer as an API returns it: a ChatCompletion, a Responses object or a Claude message."""
    return isinstance(value, dict) and (openai.is_chat_completion(value) or value.get("object") == "response"
                                        or anthropic.is_message(value))


def answer_in_body(obj: dict) -> dict:
    """A line that holds an API's answer alone under ``body`` (the SDK's raw response saved as
    ``{"headers": ..., "body": ...}``) read as that answer, with the line's other keys around it; other lines as they are."""
    body = maybe_json(obj.get("body"))
    if not isinstance(body, dict) or any(key in obj for key in (*REQUEST_KEYS, *RESPONSE_KEYS, "messages")):
        return obj
    if not is_answer_object(body):
        return obj
    return {**{k: v for k, v in obj.items() if k != "body"}, **body}


def prompt_as_messages(obj: dict) -> dict:
    """A line whose ``messages`` is one plain string (CrewAI's and LiteLLM's way of passing a single prompt): that
    string is the user's one turn."""
    messages = obj.get("messages")
    if isinstance(messages, str) and messages.strip() and not isinstance(maybe_json(messages), (list, dict)):
        return {**obj, "messages": [{"role": "user", "content": messages}]}
    return obj


LLAMAINDEX_CALLS = ("LLMChatEndEvent", "LLMCompletionEndEvent")


def blocks_text(message: dict) -> str | None:
    """A LlamaIndex ChatMessage's words: its text blocks (``blocks``), else its ``content``."""
    blocks = message.get("blocks")
    if isinstance(blocks, list):
        texts = [b["text"] for b in blocks if isinstance(b, dict) and isinstance(b.get("text"), str)]
        return "\n".join(texts) if texts else None
    return content_text(message.get("content")) or None


def llamaindex_event(obj: dict) -> dict | Skipped | None:
    """LlamaIndex's instrumentation events as an event handler writes them (``event.dict()`` per line): a chat or
    completion end event, read as the pair it holds (the provider's own answer under ``response.raw``, else the
    answer's text and the counts LlamaIndex kept); its other events skipped. None for any other line."""
    response = obj.get("response")
    name = obj.get("class_name")
    if name is None and {"id_", "span_id"} <= obj.keys() and isinstance(response, dict) and (
            "raw" in response or "message" in response):  # model_dump_json() leaves class_name out
        name = "LLMChatEndEvent" if "messages" in obj else "LLMCompletionEndEvent"
    if not isinstance(name, str) or not name.endswith("Event") or "span_id" not in obj:
        return None
    if name not in LLAMAINDEX_CALLS or not isinstance(response, dict):
        return Skipped(None, f"LlamaIndex's {name}, not a model call's end")
    if name == "LLMChatEndEvent":
        messages = [{"role": m.get("role"), "content": blocks_text(m)} for m in obj.get("messages") or [] if isinstance(m, dict)]
    else:
        messages = [{"role": "user", "content": obj.get("prompt")}]
    raw = maybe_json(response.get("raw"))
    pair: dict = {"timestamp": obj.get("timestamp"), "request": {"messages": messages}}
    if is_answer_object(raw) and raw.get("object") != "chat.completion.chunk":
        pair["request"]["model"] = raw.get("model")
        return {**pair, "response": raw}
    message: dict = response["message"] if isinstance(response.get("message"), dict) else {}
    counts: dict = response["additional_kwargs"] if isinstance(response.get("additional_kwargs"), dict) else {}
    if isinstance(raw, dict) and isinstance(raw.get("usage"), dict):  # a stream's last chunk: its usage in full
        counts = {"usage": raw["usage"]}
    model = raw.get("model") if isinstance(raw, dict) else None
    return {"timestamp": obj.get("timestamp"), "messages": messages, "output": blocks_text(message) or response.get("text"),
            **({"model": model} if model else {}),
            **{k: counts[k] for k in ("prompt_tokens", "completion_tokens", "usage") if k in counts}}


SMOLAGENTS_STEPS = ({"task", "task_images"}, {"plan", "model_input_messages"}, {"output", "is_final_answer"})


def smolagents_step(obj: dict) -> dict | Skipped | None:
    """A smolagents memory step as users save them (``agent.memory.get_full_steps()``, a step's ``dict()`` per line):
    an action step is one model call, read as the pair it holds (``model_input_messages``, the provider's answer under
    ``model_output_message.raw``, else the message and ``token_usage``), timed by its ``timing``; task, planning and
    final-answer steps are skipped. None for any other line."""
    if "step_number" not in obj or "model_output_message" not in obj:
        if any(keys <= obj.keys() for keys in SMOLAGENTS_STEPS) and "messages" not in obj:
            return Skipped(None, "a smolagents step that made no model call of its own")
        return None
    output: dict = obj["model_output_message"] if isinstance(obj.get("model_output_message"), dict) else {}
    timing: dict = obj["timing"] if isinstance(obj.get("timing"), dict) else {}
    envelope_keys = {"timestamp": timing.get("start_time"), "duration_s": timing.get("duration"),
                     **({"error": obj["error"]} if obj.get("error") else {})}
    messages = obj.get("model_input_messages") if isinstance(obj.get("model_input_messages"), list) else []
    raw = maybe_json(output.get("raw"))
    if isinstance(raw, dict) and raw.get("object") == "chat.completion" and raw.get("choices"):
        return {**envelope_keys, "request": {"model": raw.get("model"), "messages": messages}, "response": raw}
    usage = obj.get("token_usage") if isinstance(obj.get("token_usage"), dict) else None
    calls = output.get("tool_calls")
    text = content_text(output.get("content")) or (json.dumps(calls, ensure_ascii=False, default=str) if calls else None)
    model = raw.get("model") if isinstance(raw, dict) else None
    return {**envelope_keys, "messages": messages, "output": text, **({"usage": usage} if usage else {}),
            **({"model": model} if model else {})}


def agno_run(obj: dict) -> dict | None:
    """An Agno run's output as ``RunOutput.to_dict()`` writes it: the model, the messages (the answer appended), the
    answer as ``content`` and the usage under ``metrics`` (the input counting its cache reads, as OpenAI's does)."""
    metrics = obj.get("metrics")
    if "run_id" not in obj or not isinstance(metrics, dict) or not isinstance(obj.get("messages"), list) or not obj.get("model"):
        return None
    messages = [m for m in obj["messages"] if isinstance(m, dict)]
    while messages and messages[-1].get("role") == "assistant":  # the answer, appended
        messages.pop()
    answer = obj.get("content")
    usage = {"prompt_tokens": metrics.get("input_tokens"), "completion_tokens": metrics.get("output_tokens"),
             "prompt_tokens_details": {"cached_tokens": metrics.get("cache_read_tokens")},
             "completion_tokens_details": {"reasoning_tokens": metrics.get("reasoning_tokens")}}
    return {"timestamp": obj.get("created_at"), "model": obj["model"], "messages": messages, "duration_s": metrics.get("duration"),
            "output": answer if isinstance(answer, str) else json.dumps(answer, default=str) if answer is not None else None,
            "status": obj.get("status"), "usage": usage}


def haystack_reply(obj: dict) -> dict | None:
    """A Haystack ChatMessage the chat generator returned, as ``to_dict()`` writes it: its text parts, the model and
    usage under ``meta``."""
    meta = obj.get("meta", obj.get("_meta"))
    if obj.get("role", obj.get("_role")) != "assistant" or not isinstance(meta, dict) or not isinstance(meta.get("usage"), dict):
        return None
    parts = obj.get("content", obj.get("_content"))
    texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)] if isinstance(parts, list) else []
    return {"model": meta.get("model"), "usage": meta["usage"], "output": "\n".join(texts) if texts else None,
            **({"status": "blocked"} if meta.get("finish_reason") == "content_filter" else {})}


def adk_event(obj: dict) -> dict | Skipped | None:
    """A Google ADK event as ``event.model_dump_json()`` writes it (a runner's events, a session's): an event with
    ``usage_metadata`` (Gemini's counts, whatever model answered) or an ``error_code`` is a model call, its answer the
    text (else the function calls) of its ``content``; the person's and the tools' events are skipped. None for any
    other line."""
    if "invocation_id" not in obj or "author" not in obj or "content" not in obj or "actions" not in obj:
        return None
    usage = obj.get("usage_metadata")
    if not isinstance(usage, dict) and not obj.get("error_code"):
        return Skipped(None, f"an ADK event of {obj.get('author')!r} that made no model call (a message, a tool's result)")
    content: dict = obj["content"] if isinstance(obj.get("content"), dict) else {}
    parts = [p for p in content.get("parts") or [] if isinstance(p, dict)]
    texts = [p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")]
    calls = [p["function_call"] for p in parts if p.get("function_call")]
    counts = camel_gemini(usage) if isinstance(usage, dict) else None
    counted = bool(counts) and any(v is not None for v in usage_fields(counts).values())
    answer = "\n".join(texts) or (json.dumps(calls, ensure_ascii=False, default=str) if calls else None)
    if obj.get("error_code") and not counted:  # a call that failed: nothing but the error to read
        return {FINAL: True, "provider": guess_provider(obj.get("model_version")), "model": obj.get("model_version"),
                "created_at": to_utc(obj.get("timestamp")), "status": "error",
                "tags_json": {"error": str(obj.get("error_message") or obj["error_code"])[:500]}}
    return {"timestamp": obj.get("timestamp"), "model": obj.get("model_version"), "output": answer,
            **({"usage": counts} if counted else {})}


FINAL = "_final"  # a framework's record read whole: no pair or flat call to read it through


def framework_record(obj: dict) -> dict | Skipped | None:
    """A framework's own record of a model call (LlamaIndex's events, smolagents' steps, Agno's runs, Haystack's
    replies, ADK's events) read as the pair or flat call it holds; None for any other line."""
    return llamaindex_event(obj) or smolagents_step(obj) or agno_run(obj) or haystack_reply(obj) or adk_event(obj)


def autogen_event(obj: dict) -> dict | Skipped | None:
    """AutoGen's event log lines that are not a whole call: the runtime's messages between agents (skipped), and a
    streamed call's ``LLMStreamStart`` (the messages sent, no model) and ``LLMStreamEnd`` (the answer and usage), which
    ``split_calls`` joins by the agent that made them (``correlation_id``). None for any other line."""
    kind = obj.get("type")
    if kind == "Message" and str(obj.get("kind", "")).startswith("MessageKind.") and "delivery_stage" in obj:
        return Skipped(None, "AutoGen's runtime message between agents, not a model call")
    if kind == "LLMStreamStart" and isinstance(obj.get("messages"), list):
        return {"provider": openai.PROVIDER, **openai.chat_request_fields(obj), "status": "no_response"}
    if kind == "LLMStreamEnd" and isinstance(obj.get("response"), dict):
        result = obj["response"]
        usage = result.get("usage") if isinstance(result.get("usage"), dict) else obj
        return {"response_text": content_text(result.get("content")) or None, "status": "ok",
                "input_tokens": to_int(usage.get("prompt_tokens"), "prompt_tokens"),
                "output_tokens": to_int(usage.get("completion_tokens"), "completion_tokens")}
    return None


def bodies_record(request: Any, response: Any, code: Any = None) -> dict:
    """A call from the request and response bodies sent and received (decoded: ``response_object``), whichever
    provider's API they are: Converse, Gemini, Cohere, Anthropic's Messages, else OpenAI's; {} when neither is an
    object."""
    if not isinstance(request, dict) and not isinstance(response, dict):
        return {}
    if provider := other_provider(request, response):
        return other_call_record(request, response, provider)
    if looks_anthropic(request, response):
        return anthropic.pair_record(request if isinstance(request, dict) else None, response, code)
    return openai.pair_record(request if isinstance(request, dict) else None, response, code)


def line_record(obj: dict, number: int | None) -> dict | Reject:
    """One logged OpenAI call (or Anthropic call logged the same way) as a record."""
    if isinstance(event := autogen_event(obj), dict):
        return {**envelope(event, obj), "_line": number}
    obj = prompt_as_messages(answer_in_body(with_otel_model(obj)))
    request, response, found = pair_sides(obj)
    if ai_sdk.is_result(obj):
        record = ai_sdk.result_record(obj)
    elif openai.is_embeddings_list(obj) and not found:
        record = openai.embedding_fields(None, obj)
    elif openai.is_chat_completion(obj) and not found:
        record = {"provider": openai.PROVIDER, **openai.completion_fields(obj)}
    elif obj.get("object") == "response" and not found:
        record = {"provider": openai.PROVIDER, **openai.responses_fields(obj)}
    elif anthropic.is_message(obj) and not found:
        record = {"provider": "anthropic", **anthropic.message_fields(obj)}
    elif is_dspy_entry(obj):
        record = dspy_record(obj)
    elif (flat := flat_answer(obj, request, response, found))[0]:
        record = flat_call_record(obj, flat[1])
        if not record.get("source_id"):
            record["_logged"] = content_hash(obj)  # what tells apart two such calls of alike content
    elif found and request is None and maybe_json(response) is None and asks(obj) and obj.get("model"):
        record = {"provider": openai.PROVIDER, **openai.request_fields(flat_request(obj)), "status": "no_response"}
    elif found:
        if request is None and asks(obj):
            request = conversation_asked(obj, response)
        if request is None and isinstance(body := maybe_json(obj.get("prompt")), dict) and ("messages" in body or "input" in body):
            request = body  # {"prompt": {request body}, "completion": {response}}: the body it sent under `prompt`
        request, request_status = unwrap_body(request)
        request = maybe_json(request)
        response, response_status = unwrap_body(response)
        response = response_object(response)
        record = bodies_record(request, response, response_status if response_status is not None else request_status)
        if not isinstance(request, dict) and not isinstance(response, dict):
            return Reject(number, "neither the request nor the response is a JSON object", excerpt(obj))
        if record.get("model") is None and isinstance(obj.get("model"), str):
            record["model"] = obj["model"]
        if (gateway := guess_provider(obj.get("model"))) in GATEWAYS:  # LiteLLM's "openrouter/<vendor>/<model>"
            record["provider"] = gateway  # billed by the gateway
    elif isinstance(obj.get("messages"), list) and obj.get("model"):
        record = {"provider": openai.PROVIDER, **openai.chat_request_fields(obj), "status": "no_response"}
    elif prompt_logged_alone(obj):
        record = {**flat_call_record(obj, None), "status": "no_response"}
    elif openai.is_embeddings_request(obj):
        record = {**openai.embedding_fields(obj, None), "status": "no_response"}
    elif "input" in obj and obj.get("model") and not isinstance(obj.get("output"), list):
        record = {"provider": openai.PROVIDER, **openai.responses_request_fields(obj), "status": "no_response"}
    elif chain := wrappers_around(obj, holds_call):
        return wrapped_record(chain, number)
    elif key := cut_wrapper(obj):
        return Reject(number, f"the JSON line under {key!r} is cut short or malformed (loggers such as Docker split "
                              "lines longer than 16 KB into several entries)", excerpt(obj))
    else:
        return Reject(number, "not an OpenAI chat completion, Responses object or request/response pair", excerpt(obj))
    record = envelope(record, obj)
    record["_line"] = number
    return record


def wrapped_record(chain: list[dict], number: int | None) -> dict | Reject:
    """The call nested in a logger's or log store's wrappers (``wrappers_around``), with what each wrapper says
    about it (time, user, cost, tags) where the call's own object did not say it, innermost wrapper first."""
    record = line_record(chain[-1], number)
    if not isinstance(record, dict):
        return record
    for wrapper in reversed(chain[:-1]):
        envelope(record, scalar_keys(wrapper))
    return record


def openai_call_score(obj: dict) -> int:
    """How surely ``obj`` is one logged OpenAI call (0: not one)."""
    if "custom_id" in obj or usage_report(obj):  # a report's totals are many calls: none to read one by one
        return 0
    if ai_sdk.is_result(obj):  # whichever provider it called: the app-log reader reads them all
        return 80
    if is_dspy_entry(obj):
        return 80
    if isinstance(autogen_event(obj), dict):
        return 60  # half of a streamed call in AutoGen's event log
    if isinstance(framework_record(obj), dict):
        return 75
    obj = answer_in_body(obj)
    if obj.get("object") == "chat.completion":
        return 85
    if stream_lines.piece_of(obj) == ("chat", obj.get("id") or None):
        return 75  # a streamed answer's chunk: a dump of streams, one chunk per line
    if obj.get("object") == "response" and "output" in obj:
        return 85
    if openai.is_embeddings_list(obj):
        return 80
    obj = with_otel_model(obj)
    request, response, found = pair_sides(obj)
    if flat_answer(obj, request, response, found)[0]:
        if not obj.get("model"):
            return 25  # a prompt and an answer without the model: any format that knows the record wins
        return 70 if asks(obj) else 30  # a model and its usage alone: any format that knows the record wins
    requested = ((isinstance(obj.get("messages"), list) and obj.get("model")) or openai.is_embeddings_request(obj)
                 or prompt_logged_alone(obj))
    if not found or (request is None and maybe_json(response) is None):
        # Requests logged without their responses still say what was asked.
        return 40 if requested else 0
    request, _ = unwrap_body(request)
    response, _ = unwrap_body(response)
    request = maybe_json(request)
    response = response_object(response)
    if looks_anthropic(request if isinstance(request, dict) else None, response):
        return 0
    if isinstance(response, dict) and (openai.is_chat_completion(response) or openai.is_responses_object(response)):
        return 80
    if isinstance(request, dict) and ("messages" in request or "input" in request):
        return 70
    return 0


def anthropic_call_score(obj: dict) -> int:
    """How surely ``obj`` is one logged Messages API call (0: not one)."""
    if "custom_id" in obj:
        return 0
    if anthropic.is_message(answer_in_body(obj)):
        return 85
    request, response, found = pair_sides(obj)
    if not found:
        return 0
    request = maybe_json(unwrap_body(request)[0])
    response = response_object(unwrap_body(response)[0])
    return 80 if looks_anthropic(request if isinstance(request, dict) else None, response) else 0


def holds_call(obj: dict) -> bool:
    return openai_call_score(obj) > 0 or anthropic_call_score(obj) > 0


# A call found inside a wrapper is less sure than one at the top: a format that reads the whole record wins.
WRAPPED_DOUBT = 10


def table_rows(src):
    """(row number, row or Reject) of a table export (CSV, Parquet): a warehouse's log table, whose request and
    response columns hold the bodies as JSON text (Databricks inference tables, BigQuery or Snowflake exports)."""
    for number, row in iter_rows(src):
        if isinstance(row, dict):
            row = {key: None if value == "" else maybe_json(value) if isinstance(value, str) and value[:1] in "{[" else value
                   for key, value in row.items()}
        yield number, row


def is_table(src) -> bool:
    """A table export; not JSON Lines whose first line is not JSON (a log's garbage line or banner)."""
    from ..records import is_json_lines

    kind = file_kind(src)
    return kind == "parquet" or (kind == "csv" and not is_json_lines(src))


def sniff_score(src, score) -> int:
    """``score`` of the first record; else, a little less sure, of the first call among the first records, at their
    top or nested in a wrapper (a log store's export, or an app's log, may open with other lines), or of a table
    export's first row (a format that knows the table's columns wins)."""
    from ..records import first_json_object, head_records

    sse = stream_lines.is_sse(src)
    if not sse and is_table(src):
        first_row = next((row for _, row in table_rows(src)), None)
        return max(0, score(first_row) - WRAPPED_DOUBT) if isinstance(first_row, dict) else 0
    sse_head = [obj for _, obj in itertools.islice(stream_lines.sse_values(src), 20)] if sse else []
    first = (sse_head[0] if sse_head else None) if sse else first_json_object(src)
    direct = score(first) if isinstance(first, dict) else 0
    if direct:
        return direct
    for obj in sse_head if sse else head_records(src):
        # An app's log may open with lines that are not calls (failures, progress) before its first call.
        found = score(obj) or (score(chain[-1]) if (chain := wrappers_around(obj, holds_call)) else 0)
        if found:
            return max(0, found - WRAPPED_DOUBT)
    return 0


def traced_calls(obj: dict, number: int | None) -> list[dict]:
    """The model calls of the trace an answer carries (a Databricks agent endpoint's ``databricks_output.trace``, an
    MLflow trace, bare or as its inference table's ``response``): the answer itself names no model or usage, its
    calls do."""
    from . import otel

    for holder in (obj, maybe_json(obj.get("response"))):
        output = maybe_json(holder.get(app_log_sql.TRACE_HOLDERS[0])) if isinstance(holder, dict) else None
        trace = maybe_json(output.get("trace")) if isinstance(output, dict) else None
        if isinstance(trace, dict):
            return otel.trace_records(trace, number)
    return []


def answer_line(obj: dict, number: int | None) -> dict:
    """A line that is no call on its own read as the answer part of one: its answer text (also under ``text``),
    usage and envelope (an error, a status of 400 or more); empty when it cannot be read so."""
    try:
        answer = first_text(obj, (*FLAT_ANSWER_KEYS, "text"))
        return envelope({**flat_call_record(obj, answer), "_line": number}, obj)
    except (ValueError, TypeError, AttributeError, KeyError, OverflowError):
        return {}


def records_of(obj: Any, number: int | None):
    """A line's value may hold several calls: ``{"object": "list", "data": [...]}`` pages or a JSON array."""
    if isinstance(obj, list):
        if not obj or not all(isinstance(maybe_json(x), dict) for x in obj):
            return [Reject(number, f"expected a JSON object, got a list of {len(obj)} values", excerpt(obj))]
        items = obj
    elif isinstance(obj, dict) and obj.get("object") == "list" and isinstance(obj.get("data"), list) and not openai.is_embeddings_list(obj):
        items = obj["data"]
    else:
        items = [obj]
    out: list = []
    for item in items:
        item = maybe_json(item)
        if not isinstance(item, dict):
            out.append(Reject(number, "expected a JSON object", excerpt(item)))
            continue
        try:
            traced = traced_calls(item, number)
            if traced:
                out.extend(traced)
                continue
            if isinstance(event := autogen_event(item), Skipped):
                out.append(Skipped(number, event.reason))
                continue
            if (event := framework_record(item)) is not None:
                if isinstance(event, Skipped):
                    out.append(Skipped(number, event.reason))
                    continue
                if event.pop(FINAL, False):
                    out.append({**event, "_line": number})
                    continue
                item = event
            record: Any = line_record(item, number)
            split_calls.mark(record, item)
            if isinstance(record, Reject) and other_log_line(item):
                record = Skipped(number, "a log line that is not a model call")
            if not isinstance(record, dict) and split_calls.correlation_id(item) is not None:
                record = split_calls.answer_alone(record, item, answer_line(item, number))
            out.append(record)
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
            out.append(Reject(number, f"unreadable record ({exc})", excerpt(item)))
    return out


def app_log_values(src):
    """(number, value) of an app log: a table export's rows, the data of a file of server-sent events, or the values
    of JSON Lines or a JSON document (Docker's pieces of a long line joined again); a streamed answer's pieces one
    per line folded into the call they make."""
    if stream_lines.is_sse(src):
        return stream_lines.fold_stream_lines(stream_lines.sse_values(src))
    if is_table(src):
        return table_rows(src)
    return stream_lines.fold_stream_lines(docker_pieces(json_values(src)))


def app_log_records(src):
    """Records of an app log of OpenAI or Anthropic calls (pairs or bare objects)."""
    for number, obj in app_log_values(src):
        if isinstance(obj, (Reject, Skipped)):
            yield obj
            continue
        yield from records_of(obj, number)


# ---------------------------------------------------------------------------------------------
# Formats
# ---------------------------------------------------------------------------------------------


class AppLogStatements:
    """The SQL route's statements (``app_log_sql``) of the app-log formats."""

    def fast_select(self, src=None, families=None, present=None, pair=app_log_sql.DEFAULT_PAIR, split=False) -> str:
        """The statement for these families of logged call (default: all), reading the optional keys ``present``
        (default: all) and the request/response pair under ``pair``'s keys; with ``split``, lines that may be half a
        call logged on two lines are left to Python, which joins them."""
        return app_log_sql.APP_LOGS.select(families, present, pair, split)

    def fast_split(self) -> str:
        """A statement counting the call ids named both on a line that holds only a request and on another line that
        holds its answer (``app_log_sql.SPLIT_PROBE``)."""
        return app_log_sql.SPLIT_PROBE

    def fast_families(self, pair=app_log_sql.DEFAULT_PAIR) -> str:
        """A statement counting the lines of each family, to pick the ones a file needs."""
        return app_log_sql.APP_LOGS.probe(pair)

    def fast_pairs(self, top_keys) -> list[tuple[str, ...]]:
        """Other pair keys than ``request``/``response`` that lines with these top-level keys (rows of
        ``app_log_sql.TOP_KEYS_SQL``) use, most lines first."""
        return app_log_sql.alias_pairs(top_keys)

    def parse_line(self, number: int, line: str, ctx=None, src=None):
        """One line the SQL route left; a piece of a streamed answer is held until the file's other lines are read."""
        obj = parse_json_line(number, line)
        if isinstance(obj, Reject):
            return [obj]
        if stream_lines.piece_of(obj) is not None:
            return Held(number, obj)
        return records_of(obj, number)

    def fold_held(self, held: list[Held]):
        """The held pieces of streamed answers, each call's folded into one response, as ``app_log_values`` folds them."""
        for number, value in stream_lines.fold_stream_lines((h.line, h.value) for h in held):
            yield value if isinstance(value, (Reject, Skipped)) else records_of(value, number)


class OpenAIApp(AppLogStatements):
    """App logs of OpenAI calls (pairs or bare objects), one JSON object per line or a JSON document."""

    name = "openai"
    label = "an OpenAI app log"
    order = 50

    def sniff(self, src) -> int:
        return sniff_score(src, openai_call_score)

    def parse(self, src, ctx):
        yield from app_log_records(src)

    def near_miss(self, src) -> str | None:
        """Records shaped like OpenAI calls that lack what makes one."""
        from ..records import first_json_object

        obj = next((row for _, row in table_rows(src)), None) if is_table(src) else first_json_object(src)
        if not isinstance(obj, dict):
            return None
        if isinstance(obj.get("choices"), list) and "usage" not in obj and obj.get("object") != "chat.completion":
            return ("it looks like OpenAI chat completions, but its records carry neither \"object\": "
                    "\"chat.completion\" nor usage")
        if isinstance(obj.get("messages"), list) and not obj.get("model"):
            return "it looks like an OpenAI request log, but its records name no model"
        if isinstance(maybe_json(obj.get("properties")), dict) and {"category", "operationName"} <= obj.keys():
            return (f"it looks like an Azure resource log (category {obj['category']}), which for Azure OpenAI names the "
                    "deployment and request sizes but holds no prompt, answer or token counts; API Management's "
                    "gateway logs (requestBody, responseBody) or the app's own log hold them")
        if usage_report(obj):
            return ("it looks like a usage or cost report (OpenAI's organization usage and costs API, Anthropic's "
                    "usage report): totals per time bucket, not calls, so there is nothing to categorize or replay")
        return None



class AnthropicApp(AppLogStatements):
    """App logs of Messages API calls (pairs or bare Messages), one JSON object per line or a JSON document."""

    name = "anthropic"
    label = "an Anthropic Messages log"
    order = 50

    def sniff(self, src) -> int:
        return sniff_score(src, anthropic_call_score)

    def parse(self, src, ctx):
        yield from app_log_records(src)



OPENAI_APP = register(OpenAIApp())
register(AnthropicApp())
