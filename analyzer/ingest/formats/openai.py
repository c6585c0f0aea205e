"""OpenAI: Chat Completions and Responses API calls as apps log them, bare response objects, and Batch files.

Formats registered here:

- ``openai``: JSON Lines (or a JSON document) of
  - request/response pairs as apps log them: ``{"request": {...}, "response": {...}}`` with optional envelope keys
    (``timestamp``/``ts``/``created_at``, ``duration_ms``/``latency_ms``, ``cost_usd``, ``user_id``, ``metadata``,
    ``error``). The pair may also be ``req``/``resp``, ``request_body``/``response_body``, ``inputs``/``outputs``
    (LangSmith-style) or ``input``/``output`` objects; either side may be wrapped in ``{"body": ...}`` (HTTP
    recorders), double-encoded as a JSON string, or, for the response, a streamed list of chunks or the raw SSE
    text (``data: {...}`` lines);
  - bare ``chat.completion`` objects (``response.model_dump()``) and bare Responses API ``response`` objects;
  - ``{"object": "list", "data": [...]}`` pages of stored completions;
  - pairs whose response is an Anthropic Message are handed to ``anthropic.pair_record``.
- ``openai-batch-input``: Batch API input files (``{"custom_id", "method", "url", "body"}``) for
  ``/v1/chat/completions`` and ``/v1/responses``.
- ``openai-batch-output``: Batch output and error files (``{"id", "custom_id", "response": {"status_code",
  "request_id", "body"}, "error"}``). Given with their input file, lines join on ``custom_id``; alone, they still
  give model, tokens, cost and the response text. A line with an error, or without usage, is a real request with
  ``status='error'``, not a reject.

Token conventions: OpenAI's ``prompt_tokens``/``input_tokens`` already include cached tokens, which is what
``requests.input_tokens`` means, so they are stored as logged.

Big ``openai`` JSON Lines files take the SQL fast route (``fast_select``): DuckDB extracts the fields of every
line in the common shape (a chat pair or bare chat completion with string contents and integer usage); every
other line goes through ``parse_line``. Both give identical rows (tests/test_ingest_openai.py checks this).
"""

from __future__ import annotations

import json
from typing import Any

from ..records import Reject, content_hash, excerpt, is_json_lines, maybe_json, parse_json_line, to_utc, with_pair_status
from . import register

PROVIDER = "openai"

CHAT_PARAMS = (
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "response_format", "tools", "tool_choice",
    "parallel_tool_calls", "stop", "seed", "n", "frequency_penalty", "presence_penalty", "logit_bias", "logprobs",
    "top_logprobs", "reasoning_effort", "verbosity", "modalities", "prediction", "service_tier", "stream",
    "web_search_options",
)
RESPONSES_PARAMS = (
    "temperature", "top_p", "max_output_tokens", "reasoning", "text", "tools", "tool_choice", "parallel_tool_calls",
    "truncation", "service_tier", "previous_response_id", "prompt", "include", "background", "top_logprobs", "stream",
)
# Envelope keys of app logs, in order of preference.
TIME_KEYS = ("created_at", "timestamp", "ts", "time", "start_time", "startTime", "logged_at", "datetime", "date")
COST_KEYS = ("cost_usd", "cost", "total_cost", "response_cost", "spend")
DURATION_MS_KEYS = ("duration_ms", "latency_ms", "elapsed_ms", "response_ms", "response_time_ms")
DURATION_S_KEYS = ("duration_s", "latency_s", "elapsed_s", "duration_seconds", "latency_seconds")
USER_KEYS = ("user_id", "user", "end_user", "customer_id")
TAG_KEYS = ("metadata", "tags")
REQUEST_KEYS = ("request", "req", "request_body", "inputs", "input")
RESPONSE_KEYS = ("response", "resp", "response_body", "outputs", "completion", "output")
ERROR_KEYS = ("error",)
STATUS_CODE_KEYS = ("status_code", "http_status", "status")

# ---------------------------------------------------------------------------------------------
# Text out of OpenAI shapes
# ---------------------------------------------------------------------------------------------


def content_text(content: Any) -> str:
    """Message content as text: a string, or the text parts of a content list (images and audio are skipped)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                kind = part.get("type")
                if kind == "refusal" and isinstance(part.get("refusal"), str):
                    parts.append(part["refusal"])
                elif isinstance(part.get("text"), str):
                    parts.append(part["text"])
                elif isinstance(part.get("text"), dict) and isinstance(part["text"].get("value"), str):
                    parts.append(part["text"]["value"])  # Assistants-style {"text": {"value": ...}}
        return "\n".join(p for p in parts if p)
    if isinstance(content, dict):
        return json.dumps(content, ensure_ascii=False)
    return str(content)


def split_messages(messages: list) -> tuple[str | None, str]:
    """(system prompt, text that represents the request: the last user turn)."""
    system = [content_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") in ("system", "developer")]
    users = [content_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return ("\n\n".join(system) or None), (users[-1] if users else "")


def _params(source: dict, keys: tuple) -> dict | None:
    params = {k: source[k] for k in keys if source.get(k) is not None and source.get(k) != [] and source.get(k) != {}}
    return params or None


def _nonempty_object(value: Any) -> Any:
    return value if isinstance(value, (dict, list)) and value else None


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def chat_request_fields(req: dict) -> dict:
    messages = maybe_json(req.get("messages"))
    return _request_fields(req, messages if isinstance(messages, list) else [], CHAT_PARAMS)


def _request_fields(req: dict, messages: list, param_keys) -> dict:
    """The request columns shared by Chat Completions and Responses bodies."""
    system, prompt = split_messages(messages)
    return {
        "system_prompt": system,
        "prompt_text": prompt,
        "messages_json": messages,
        "params_json": _params(req, param_keys),
        "model": req.get("model"),
        "user_id": req.get("user") if req.get("user") is not None else req.get("safety_identifier"),
        "tags_json": _nonempty_object(req.get("metadata")),
    }


def responses_input_messages(instructions: Any, items: Any) -> list[dict]:
    """A Responses API ``instructions`` + ``input`` as a chat-shaped conversation."""
    messages: list[dict] = []
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    elif isinstance(instructions, list):
        messages.extend(responses_input_messages(None, instructions))
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
        return messages
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str):
            messages.append({"role": "user", "content": item})
            continue
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind in (None, "message") and item.get("role"):
            content = item.get("content")
            messages.append({"role": item["role"], "content": content if isinstance(content, str) else content_text(content)})
        elif kind == "function_call":
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": item.get("call_id"), "type": "function",
                         "function": {"name": item.get("name"), "arguments": item.get("arguments")}}
                    ],
                }
            )
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"),
                             "content": output if isinstance(output, str) else content_text(output)})
    return messages


def responses_request_fields(req: dict) -> dict:
    messages = responses_input_messages(req.get("instructions"), maybe_json_list(req.get("input")))
    return _request_fields(req, messages, RESPONSES_PARAMS)


def maybe_json_list(value: Any) -> Any:
    """A Responses ``input`` that is a JSON-encoded *list* is decoded; a string that merely holds JSON text is the
    user's message and stays as it is."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        decoded = maybe_json(value)
        if isinstance(decoded, list) and all(isinstance(x, dict) and ("role" in x or "type" in x) for x in decoded):
            return decoded
    return value


def is_responses_request(req: dict) -> bool:
    return "input" in req and "messages" not in req


def completion_fields(resp: dict) -> dict:
    """Response text, model, usage and timing from a ChatCompletion object."""
    choices = resp.get("choices") or []
    texts = []
    blocked = False
    for choice in choices if isinstance(choices, list) else []:
        if not isinstance(choice, dict):
            continue
        msg = _dict(choice.get("message"))
        text = content_text(msg.get("content"))
        if not text and isinstance(msg.get("refusal"), str):
            text = msg["refusal"]
        if not text and msg.get("tool_calls"):
            text = json.dumps(msg["tool_calls"], ensure_ascii=False)
        if not text and msg.get("function_call"):
            text = json.dumps(msg["function_call"], ensure_ascii=False)
        if choice.get("finish_reason") == "content_filter":
            blocked = True
        texts.append(text)
    usage = _dict(resp.get("usage"))
    prompt_details = _dict(usage.get("prompt_tokens_details"))
    completion_details = _dict(usage.get("completion_tokens_details"))
    status = "error" if resp.get("error") else ("blocked" if blocked else "ok")
    return {
        "source_id": resp.get("id"),
        "model": resp.get("model"),
        "created_at": to_utc(resp.get("created")),
        "response_text": "\n".join(t for t in texts if t) or None,
        "input_tokens": usage.get("prompt_tokens"),
        "cached_input_tokens": prompt_details.get("cached_tokens"),
        "output_tokens": usage.get("completion_tokens"),
        "reasoning_tokens": completion_details.get("reasoning_tokens"),
        "status": status,
    }


_RESPONSE_STATUS = {
    "completed": "ok", "failed": "error", "incomplete": "incomplete", "cancelled": "canceled",
    "canceled": "canceled", "in_progress": "pending", "queued": "pending",
}


def responses_text(output: Any) -> str | None:
    texts, calls = [], []
    for item in output if isinstance(output, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            text = content_text(item.get("content"))
            if text:
                texts.append(text)
        elif kind in ("function_call", "custom_tool_call"):
            calls.append({"name": item.get("name"), "arguments": item.get("arguments", item.get("input"))})
    if texts:
        return "\n".join(texts)
    if calls:
        return json.dumps(calls, ensure_ascii=False)
    return None


def responses_fields(resp: dict) -> dict:
    """The same fields from a Responses API ``response`` object."""
    usage = _dict(resp.get("usage"))
    input_details = _dict(usage.get("input_tokens_details"))
    output_details = _dict(usage.get("output_tokens_details"))
    status = _RESPONSE_STATUS.get(resp.get("status"), "ok")
    if resp.get("error"):
        status = "error"
    out = {
        "source_id": resp.get("id"),
        "model": resp.get("model"),
        "created_at": to_utc(resp.get("created_at")),
        "response_text": responses_text(resp.get("output")),
        "input_tokens": usage.get("input_tokens"),
        "cached_input_tokens": input_details.get("cached_tokens"),
        "output_tokens": usage.get("output_tokens"),
        "reasoning_tokens": output_details.get("reasoning_tokens"),
        "status": status,
        "params_json": _params(resp, RESPONSES_PARAMS),
        "user_id": resp.get("user") if resp.get("user") is not None else resp.get("safety_identifier"),
        "tags_json": _nonempty_object(resp.get("metadata")),
    }
    instructions = resp.get("instructions")
    if instructions:
        system, _ = split_messages(responses_input_messages(instructions, None))
        out["system_prompt"] = system
    return out


def is_chat_completion(obj: Any) -> bool:
    return isinstance(obj, dict) and (obj.get("object") == "chat.completion" or ("choices" in obj and "usage" in obj))


def is_responses_object(obj: Any) -> bool:
    return isinstance(obj, dict) and (obj.get("object") == "response" or (isinstance(obj.get("output"), list) and "usage" in obj and "choices" not in obj))


# ---------------------------------------------------------------------------------------------
# Streams: lists of chunks, or the raw server-sent-events text
# ---------------------------------------------------------------------------------------------


def parse_sse(text: str) -> list:
    """The JSON payloads of ``data:`` lines in server-sent-events text."""
    events = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if not payload or payload == "[DONE]":
            continue
        try:
            events.append(json.loads(payload))
        except ValueError:
            continue
    return events


def assemble_chat_chunks(chunks: list) -> dict:
    """``chat.completion.chunk`` objects folded into one ChatCompletion."""
    out: dict = {"object": "chat.completion"}
    slots: dict[int, dict] = {}
    for chunk in chunks:
        if not isinstance(chunk, dict):
            continue
        for key in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if chunk.get(key) is not None:
                out.setdefault(key, chunk[key])
        if chunk.get("usage"):
            out["usage"] = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            slot = slots.setdefault(index, {"content": None, "refusal": None, "tools": {}, "finish_reason": None})
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                slot["content"] = (slot["content"] or "") + delta["content"]
            if isinstance(delta.get("refusal"), str):
                slot["refusal"] = (slot["refusal"] or "") + delta["refusal"]
            for call in delta.get("tool_calls") or []:
                tool = slot["tools"].setdefault(call.get("index", 0), {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
                if call.get("id"):
                    tool["id"] = call["id"]
                function = call.get("function") or {}
                if function.get("name"):
                    tool["function"]["name"] += function["name"]
                if function.get("arguments"):
                    tool["function"]["arguments"] += function["arguments"]
            if choice.get("finish_reason"):
                slot["finish_reason"] = choice["finish_reason"]
    choices = []
    for index in sorted(slots):
        slot = slots[index]
        message: dict = {"role": "assistant", "content": slot["content"]}
        if slot["refusal"]:
            message["refusal"] = slot["refusal"]
        if slot["tools"]:
            message["tool_calls"] = [slot["tools"][k] for k in sorted(slot["tools"])]
        choices.append({"index": index, "message": message, "finish_reason": slot["finish_reason"]})
    out["choices"] = choices
    return out


def assemble_responses_events(events: list) -> dict | None:
    """Responses API stream events: the final ``response`` object they carry, with streamed text as a fallback."""
    final = None
    text = []
    for event in events:
        if not isinstance(event, dict):
            continue
        if isinstance(event.get("response"), dict):
            final = event["response"]
        if event.get("type") == "response.output_text.delta" and isinstance(event.get("delta"), str):
            text.append(event["delta"])
    if final is None:
        return None
    if not final.get("output") and text:
        final = {**final, "output": [{"type": "message", "content": [{"type": "output_text", "text": "".join(text)}]}]}
    return final


def response_object(value: Any) -> Any:
    """A logged response as one object: decodes JSON strings, SSE text and lists of stream chunks."""
    value = maybe_json(value)
    if isinstance(value, str):
        if "data:" in value:
            value = parse_sse(value)
        else:
            return None
    if isinstance(value, list):
        if value and all(isinstance(x, dict) for x in value):
            if any(str(x.get("type", "")).startswith(("message_", "content_block")) for x in value):
                return {"_anthropic_stream": value}
            if any(str(x.get("type", "")).startswith("response.") for x in value):
                return assemble_responses_events(value)
            if any(x.get("object") == "chat.completion.chunk" or "choices" in x for x in value):
                return assemble_chat_chunks(value)
        return None
    return value if isinstance(value, dict) else None


# ---------------------------------------------------------------------------------------------
# One logged call -> one record
# ---------------------------------------------------------------------------------------------


def _first(obj: dict, keys: tuple) -> Any:
    for key in keys:
        value = obj.get(key)
        if value is not None and value != "":
            return value
    return None


def _unwrap_body(value: Any) -> tuple[Any, Any]:
    """(body, HTTP status) of an HTTP recorder's ``{"body": ..., "status_code": ...}`` wrapper."""
    value = maybe_json(value)
    if isinstance(value, dict) and "body" in value and not any(k in value for k in ("messages", "input", "choices", "output", "object", "content")):
        status = _first(value, STATUS_CODE_KEYS)
        body = value["body"]
        if isinstance(body, dict) and isinstance(body.get("string"), str):  # VCR cassettes
            body = body["string"]
        return body, status
    return value, None


def _pair_sides(obj: dict) -> tuple[Any, Any, bool]:
    """(request, response, found) of a request/response pair log line."""
    request = response = None
    found = False
    for key in REQUEST_KEYS:
        if key in obj:
            value = maybe_json(obj[key])
            if key == "input" and not (isinstance(value, dict) and ("messages" in value or "body" in value)):
                continue
            request, found = value, True
            break
    for key in RESPONSE_KEYS:
        if key in obj:
            value = obj[key]
            if key == "output" and not isinstance(maybe_json(value), (dict, str)):
                continue
            response, found = value, True
            break
    return request, response, found


def _looks_anthropic(request: Any, response: Any) -> bool:
    if isinstance(response, dict):
        if "_anthropic_stream" in response:
            return True
        if response.get("type") in ("message", "error") and "choices" not in response:
            return True
        if str(response.get("id", "")).startswith("msg_") and isinstance(response.get("content"), list):
            return True
    if isinstance(request, dict) and (request.get("anthropic_version") is not None
                                      or (request.get("system") is not None and "messages" in request)):
        return True
    return False


def _envelope(record: dict, obj: dict) -> dict:
    """Keys around the call in an app's log line: when, how long, what it cost, who, tags, errors."""
    if record.get("created_at") is None:
        when = _first(obj, TIME_KEYS)
        if when is not None:
            record["created_at"] = to_utc(when)
    cost = _first(obj, COST_KEYS)
    if cost is not None and not isinstance(cost, (dict, list)):
        record["cost_usd"] = float(cost)
    duration = _first(obj, DURATION_MS_KEYS)
    if duration is not None:
        record["duration_ms"] = float(duration)
    else:
        seconds = _first(obj, DURATION_S_KEYS)
        if seconds is not None:
            record["duration_ms"] = float(seconds) * 1000.0
    if record.get("user_id") is None:
        user = _first(obj, USER_KEYS)
        if user is not None and not isinstance(user, (dict, list)):
            record["user_id"] = user
    if record.get("tags_json") is None:
        for key in TAG_KEYS:
            tags = _nonempty_object(obj.get(key))
            if tags is not None:
                record["tags_json"] = tags
                break
    error = obj.get("error")
    if error:
        record["status"] = "error"
    code = _first(obj, ("status_code", "http_status"))
    if isinstance(code, (int, float)) and code >= 400:
        record["status"] = "error"
    return record


def request_fields(req: dict) -> dict:
    return responses_request_fields(req) if is_responses_request(req) else chat_request_fields(req)


def response_fields(resp: dict) -> dict:
    if is_responses_object(resp):
        return responses_fields(resp)
    if isinstance(resp.get("error"), (dict, str)) and "choices" not in resp:
        return {"status": "error"}  # an error body: {"error": {"message": ..., "type": ...}}
    return completion_fields(resp)


def pair_record(request: Any, response: Any, status_code: Any = None) -> dict:
    """A record from a request body and a response body (either may be None)."""
    record: dict = {"provider": PROVIDER}
    if isinstance(response, dict):
        record.update({k: v for k, v in response_fields(response).items() if v is not None})
    if isinstance(request, dict):
        fields = request_fields(request)
        response_model = record.get("model")
        for key, value in fields.items():
            if key == "model":
                continue
            if value is not None or key not in record:
                record[key] = value
        record["model"] = response_model if response_model is not None else fields.get("model")
    return with_pair_status(record, response, status_code)


def line_record(obj: dict, number: int | None) -> dict | Reject:
    """One logged OpenAI call (or Anthropic call logged the same way) as a record."""
    from .anthropic import is_message, message_fields, pair_record as anthropic_pair

    request, response, found = _pair_sides(obj)
    if is_chat_completion(obj) and not found:
        record = {"provider": PROVIDER, **completion_fields(obj)}
    elif obj.get("object") == "response" and not found:
        record = {"provider": PROVIDER, **responses_fields(obj)}
    elif is_message(obj) and not found:
        record = {"provider": "anthropic", **message_fields(obj)}
    elif found:
        request, request_status = _unwrap_body(request)
        request = maybe_json(request)
        response, response_status = _unwrap_body(response)
        response = response_object(response)
        code = response_status if response_status is not None else request_status
        if _looks_anthropic(request, response):
            record = anthropic_pair(request if isinstance(request, dict) else None, response, code)
        else:
            record = pair_record(request if isinstance(request, dict) else None, response, code)
        if not isinstance(request, dict) and not isinstance(response, dict):
            return Reject(number, "neither the request nor the response is a JSON object", excerpt(obj))
        if record.get("model") is None and isinstance(obj.get("model"), str):
            record["model"] = obj["model"]
    elif isinstance(obj.get("messages"), list) and obj.get("model"):
        record = {"provider": PROVIDER, **chat_request_fields(obj), "status": "no_response"}
    elif "input" in obj and obj.get("model") and not isinstance(obj.get("output"), list):
        record = {"provider": PROVIDER, **responses_request_fields(obj), "status": "no_response"}
    else:
        return Reject(number, "not an OpenAI chat completion, Responses object or request/response pair", excerpt(obj))
    record = _envelope(record, obj)
    record["_line"] = number
    return record


def _records_of(obj: Any, number: int | None):
    """A line's value may hold several calls: ``{"object": "list", "data": [...]}`` pages or a JSON array."""
    if isinstance(obj, list):
        if not obj or not all(isinstance(maybe_json(x), dict) for x in obj):
            return [Reject(number, f"expected a JSON object, got a list of {len(obj)} values", excerpt(obj))]
        items = obj
    elif isinstance(obj, dict) and obj.get("object") == "list" and isinstance(obj.get("data"), list):
        items = obj["data"]
    else:
        items = [obj]
    out = []
    for item in items:
        item = maybe_json(item)
        if not isinstance(item, dict):
            out.append(Reject(number, "expected a JSON object", excerpt(item)))
            continue
        try:
            out.append(line_record(item, number))
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
            out.append(Reject(number, f"unreadable record ({exc})", excerpt(item)))
    return out


def iter_documents(src):
    """(record number, value) of a JSON document (array, wrapper object, pretty-printed object)."""
    from .generic import iter_json

    yield from iter_json(src)


def json_values(src):
    """(number, value or Reject) per line of a JSON Lines file, or per record of a JSON document."""
    if is_json_lines(src):
        return ((number, parse_json_line(number, line)) for number, line in src.lines())
    return iter_documents(src)


def app_log_records(src):
    """Records of an app log of OpenAI or Anthropic calls (pairs or bare objects): JSON Lines, or a JSON document."""
    for number, obj in json_values(src):
        if isinstance(obj, Reject):
            yield obj
            continue
        yield from _records_of(obj, number)


# ---------------------------------------------------------------------------------------------
# Format: app logs and bare objects (with the SQL fast route)
# ---------------------------------------------------------------------------------------------


# The fast route handles the common shape of each kind of line exactly; anything else is left to Python.
_FAST_ENVELOPE = COST_KEYS + DURATION_MS_KEYS[1:] + DURATION_S_KEYS + USER_KEYS + TAG_KEYS + ERROR_KEYS + (
    "status_code", "http_status", "data",
)
_FAST_PARAMS = CHAT_PARAMS


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _struct(spec: dict) -> str:
    def render(node):
        if node == "J":
            return '"JSON"'
        if isinstance(node, str):
            return f'"{node}"'
        if isinstance(node, list):
            return "[" + render(node[0]) + "]"
        return "{" + ", ".join(f'"{k}": {render(v)}' for k, v in node.items()) + "}"

    return _sql_str(render(spec))


def _fast_select_sql(shape: str, messages_mode: str = "reparse") -> str:
    """DuckDB SELECT over ``_lines(line_no, text)`` for lines of one shape: ``pair`` or ``bare`` completions.

    One ``from_json`` parse per line into typed values (the conversation as its raw JSON, parsed again for roles
    and texts).
    Only lines whose every field has the type the Python route expects are returned, and for those the Python
    route gives the same row. Small fields come out as JSON text, so their type is checked exactly from the first
    character; long texts come out as VARCHAR, whose lenient conversion of non-strings (lists, objects, booleans,
    numbers) is recognised by value and left to Python, as are genuine strings that look like those. Run it with
    the ``filter_pushdown`` optimizer disabled (the core does): pushed into the projection, the checks would
    parse every line a second time."""
    from ..records import sql_stable_id

    completion = {
        "id": "VARCHAR", "object": "VARCHAR", "created": "J", "model": "VARCHAR", "error": "J", "type": "J", "content": "J",
        "choices": [{"finish_reason": "VARCHAR", "message": {"content": "VARCHAR", "refusal": "J", "tool_calls": "J", "function_call": "J"}}],
        "usage": {"prompt_tokens": "J", "completion_tokens": "J", "prompt_tokens_details": {"cached_tokens": "J"},
                  "completion_tokens_details": {"reasoning_tokens": "J"}},
    }
    envelope = {k: "J" for k in _FAST_ENVELOPE if k not in completion}
    if shape == "pair":
        messages = "J" if messages_mode == "reparse" else [{"role": "VARCHAR", "content": "VARCHAR"}]
        request = {"model": "VARCHAR", "messages": messages, "user": "VARCHAR", "safety_identifier": "VARCHAR", "metadata": "J",
                   "system": "J", "anthropic_version": "J", **{k: "J" for k in _FAST_PARAMS}}
        spec = {"request": request, "response": completion, "model": "VARCHAR", "duration_ms": "J", **envelope}
        c = "j.response"
    else:
        spec = {**completion, "duration_ms": "J", **envelope}
        c = "j"

    def plain(x: str) -> str:
        """A VARCHAR that held a JSON string: not what DuckDB makes of a list, object, boolean or number."""
        return (f"({x} is null or not (starts_with({x}, '[') or starts_with({x}, '{{') or {x} in ('true', 'false')"
                f" or regexp_full_match({x}, '-?[0-9][0-9.eE+-]*')))")

    def count_ok(x: str) -> str:
        return f"({x} is null or (regexp_full_match({x}, '[0-9]{{1,18}}') and {x}::bigint < 4611686018427387904))"

    checks = [
        f"{c}.object = 'chat.completion'",
        f"{c}.id <> '' and {plain(c + '.id')}",
        f"regexp_full_match({c}.created, '[0-9]{{1,11}}') and {c}.created::bigint <= 100000000000",
        plain(f"{c}.model"),
        f"{c}.error is null and {c}.type is null and {c}.content is null",
        *(count_ok(f"{c}.usage.{f}") for f in ("prompt_tokens", "completion_tokens")),
        count_ok(f"{c}.usage.prompt_tokens_details.cached_tokens"),
        count_ok(f"{c}.usage.completion_tokens_details.reasoning_tokens"),
        "(j.duration_ms is null or try_cast(j.duration_ms as double) is not null)",
        *(f'j."{k}" is null' for k in envelope),
    ]
    if shape == "pair":
        checks += [
            "j.request.system is null and j.request.anthropic_version is null",
            plain("j.request.model"), plain("j.request.user"), plain("j.request.safety_identifier"), plain("j.model"),
        ]
    else:
        # Python treats a line with any of these keys as a pair, even when the value is null.
        keys = "|".join(REQUEST_KEYS + RESPONSE_KEYS)
        checks.append(f"not regexp_matches(text, '\"({keys})\"\\s*:')")
    choice_ok = ("@.message.refusal is null and @.message.tool_calls is null and @.message.function_call is null"
                 " and " + plain("@.message.content"))
    # One choice is the common case: checked without a lambda, which costs DuckDB more than the check itself.
    checks.append(
        f"(case when len({c}.choices) = 1 then {choice_ok.replace('@', c + '.choices[1]')}"
        f" else ({c}.choices is null or list_bool_and(list_transform({c}.choices, lambda ch: {choice_ok.replace('@', 'ch')}))) end)"
    )
    if shape == "pair":
        # {"key":value,...} of the parameters present: JSON text joined as DuckDB would serialise it.
        params = ", ".join(
            f"case when j.request.\"{k}\" not in ('[]', '{{}}') then '\"{k}\":' || j.request.\"{k}\" end" for k in _FAST_PARAMS
        )
        if messages_mode == "reparse":
            msgs = "from_json(j.request.messages, '[{\"role\": \"VARCHAR\", \"content\": \"VARCHAR\"}]')"
            raw = "j.request.messages"
            # Every content a string or null: in DuckDB's own serialisation of the conversation no "content" key
            # is followed by a list, an object, a boolean or a number (inside strings, quotes are escaped).
            checks.append("starts_with(j.request.messages, '[')")
            checks.append("not regexp_matches(j.request.messages, '\"content\":[[{tf0-9-]')")
            outer = ""
        else:
            msgs = "j.request.messages"
            raw = "json_extract(text, '$.request.messages')"
            outer = (f"where j.request.messages is not null and (len(msgs) = 0 or list_bool_and(list_transform(msgs, "
                     f"lambda m: {plain('m.content')})))")
        request_columns = f"""
        nullif(array_to_string(list_transform(list_filter(msgs, lambda m: m.role in ('system', 'developer')),
            lambda m: coalesce(m.content, '')), chr(10) || chr(10)), '') as system_prompt,
        raw_messages::varchar as messages_json,
        coalesce(list_filter(msgs, lambda m: m.role = 'user')[-1].content, '') as prompt_text,
        coalesce(j.request.user, j.request.safety_identifier) as user_id,
        case when j.request.metadata like '{{%' or j.request.metadata like '[%'
             then nullif(nullif(j.request.metadata, '{{}}'), '[]') end as tags_json,
        nullif('{{' || concat_ws(',', {params}) || '}}', '{{}}') as params_json,
        coalesce({c}.model, j.request.model, j.model) as model,"""
        inner = f"select line_no, j, {msgs} as msgs, {raw} as raw_messages"
        outer_filter = outer
    else:
        request_columns = f"""
        null::varchar as system_prompt, null::varchar as messages_json, null::varchar as prompt_text,
        null::varchar as user_id, null::varchar as tags_json, null::varchar as params_json,
        {c}.model as model,"""
        inner = "select line_no, j"
        outer_filter = ""
    return f"""
select
    {sql_stable_id("'openai|id|' || " + c + ".id")} as id,
    {c}.id as source_id,
    line_no as source_line,
    'openai' as provider,{request_columns}
    make_timestamp({c}.created::bigint * 1000000) as created_at,
    case when len({c}.choices) = 1 then nullif({c}.choices[1].message.content, '')
         else nullif(array_to_string(list_filter(list_transform({c}.choices, lambda ch: ch.message.content),
                     lambda t: t is not null and t <> ''), chr(10)), '') end as response_text,
    {c}.usage.prompt_tokens::bigint as input_tokens,
    {c}.usage.prompt_tokens_details.cached_tokens::bigint as cached_input_tokens,
    null::bigint as cache_write_tokens,
    {c}.usage.completion_tokens::bigint as output_tokens,
    {c}.usage.completion_tokens_details.reasoning_tokens::bigint as reasoning_tokens,
    null::double as cost_usd,
    false as is_batch,
    j.duration_ms::double as duration_ms,
    case when len({c}.choices) = 1 then (case when {c}.choices[1].finish_reason = 'content_filter' then 'blocked' else 'ok' end)
         when list_contains(list_transform({c}.choices, lambda ch: ch.finish_reason), 'content_filter') then 'blocked'
         else 'ok' end as status,
    null::bigint as _supersedes
from (
    {inner}
    from (select line_no, text, try(from_json(text, {_struct(spec)})) as j from _lines)
    where j is not null and {" and ".join(checks)}
)
{outer_filter}
"""


class OpenAIApp:
    """App logs of OpenAI calls (pairs or bare objects), one JSON object per line or a JSON document."""

    name = "openai"
    order = 50

    def __init__(self):
        self._fast_sql: dict[str, str] = {}

    def sniff(self, src) -> int:
        from ..records import first_json_object

        obj = first_json_object(src)
        if not isinstance(obj, dict):
            return 0
        if "custom_id" in obj:
            return 0
        if obj.get("object") == "chat.completion":
            return 85
        if obj.get("object") == "response" and "output" in obj:
            return 85
        request, response, found = _pair_sides(obj)
        if not found:
            # Requests logged without their responses still say what was asked.
            return 40 if isinstance(obj.get("messages"), list) and obj.get("model") else 0
        request, _ = _unwrap_body(request)
        response, _ = _unwrap_body(response)
        request = maybe_json(request)
        response = response_object(response)
        if _looks_anthropic(request if isinstance(request, dict) else None, response):
            return 0
        if isinstance(response, dict) and (is_chat_completion(response) or is_responses_object(response)):
            return 80
        if isinstance(request, dict) and ("messages" in request or "input" in request):
            return 70
        return 0

    def parse_line(self, number: int, line: str, ctx=None, src=None):
        obj = parse_json_line(number, line)
        if isinstance(obj, Reject):
            return [obj]
        return _records_of(obj, number)

    def parse(self, src, ctx):
        yield from app_log_records(src)

    def fast_select(self, src=None) -> str:
        """SQL for the fast route, specialised to the shape of the file's first record (pairs or bare objects)."""
        from ..records import first_json_object

        first = first_json_object(src) if src is not None else None
        shape = "bare" if isinstance(first, dict) and first.get("object") == "chat.completion" else "pair"
        if shape not in self._fast_sql:
            self._fast_sql[shape] = _fast_select_sql(shape)
        return self._fast_sql[shape]


# ---------------------------------------------------------------------------------------------
# Formats: Batch input and output files
# ---------------------------------------------------------------------------------------------


def _batch_lines(src, kind: str):
    """(line number, line, object with a custom_id) per line of a Batch file, or a Reject in its place."""
    for number, line in src.lines():
        obj = parse_json_line(number, line)
        if not isinstance(obj, Reject) and (not isinstance(obj, dict) or not obj.get("custom_id")):
            obj = Reject(number, f"a batch {kind} line needs a custom_id", line)
        yield number, line, obj


BATCH_STORE = "openai-batch"
GENERATION_URLS = ("/v1/chat/completions", "/v1/responses", "/chat/completions", "/responses")


def _batch_input_key(custom_id: str, body: Any) -> str:
    return f"openai|batch-input|{custom_id}|{content_hash(body)}"


def _model_family(model: Any) -> str:
    from ...pricing import catalog_names

    return catalog_names(str(model))[-1].lower() if model else ""


class OpenAIBatchInput:
    """Batch API input: ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {...}}``."""

    name = "openai-batch-input"
    order = 10

    def sniff(self, src) -> int:
        from ..records import first_json_object

        obj = first_json_object(src)
        if not isinstance(obj, dict) or "custom_id" not in obj or not isinstance(obj.get("body"), dict):
            return 0
        body = obj["body"]
        if "messages" in body or "input" in body or str(obj.get("url", "")).endswith(("/completions", "/responses")):
            return 90
        return 0

    def parse(self, src, ctx):
        pending = ctx.store.setdefault(BATCH_STORE, {})
        for number, line, obj in _batch_lines(src, "input"):
            if isinstance(obj, Reject):
                yield obj
                continue
            body = maybe_json(obj.get("body"))
            url = str(obj.get("url") or "")
            if not isinstance(body, dict):
                yield Reject(number, "a batch input line needs a body object", line)
                continue
            if url and not url.rstrip("/").endswith(GENERATION_URLS):
                yield Reject(number, f"{url} requests are not chat or Responses calls; skipped", line)
                continue
            try:
                record = {"provider": PROVIDER, **request_fields(body)}
            except (ValueError, TypeError, AttributeError) as exc:
                yield Reject(number, f"unreadable batch request ({exc})", line)
                continue
            custom_id = str(obj["custom_id"])
            record.update(
                source_id=custom_id, is_batch=True, status="no_response", _line=number,
                _dedupe_key=_batch_input_key(custom_id, body),
            )
            entry = [src, self.name, record]
            pending.setdefault(custom_id, []).append(entry)
            ctx.deferred.append(entry)


def _batch_output_key(obj: dict, body: Any, custom_id: str) -> str:
    response = obj.get("response") if isinstance(obj.get("response"), dict) else {}
    line_id = obj.get("id") or response.get("request_id") or (body.get("id") if isinstance(body, dict) else None)
    return f"openai|batch|{custom_id}|{line_id or content_hash(obj)}"


def take_batch_input(ctx, store_name: str, custom_id: str, model: Any):
    """The pending input line for ``custom_id`` (same model family when several batches reuse ids), or None."""
    entries = [e for e in ctx.store.get(store_name, {}).get(custom_id, []) if e[2] is not None]
    if not entries:
        return None
    if len(entries) > 1 and model:
        family = _model_family(model)
        matching = [e for e in entries if _model_family(e[2].get("model")) == family]
        if len(matching) == 1:
            entries = matching
        elif len(matching) > 1:
            entries = matching
    if len(entries) > 1:
        ctx.warnings.append(
            f"custom_id {custom_id!r} appears in {len(entries)} batch input files; its output was joined to the first."
        )
    entry = entries[0]
    record = entry[2]
    entry[2] = None  # consumed: not written as an unanswered input
    return record


def join_batch_input(record: dict, source: dict) -> None:
    """Fill a batch result with what its input line sent: the conversation, parameters, user and tags."""
    for key in ("system_prompt", "prompt_text", "messages_json"):
        record[key] = source.get(key)
    for key in ("params_json", "user_id", "tags_json"):
        if source.get(key) is not None:
            record[key] = source[key]
    if record.get("model") is None:
        record["model"] = source.get("model")
    record["_supersedes"] = source["_dedupe_key"]


class OpenAIBatchOutput:
    """Batch API output and error files, joined to their input file on ``custom_id`` when it is given too."""

    name = "openai-batch-output"
    order = 60

    def sniff(self, src) -> int:
        from ..records import first_json_object

        obj = first_json_object(src)
        if not isinstance(obj, dict) or "custom_id" not in obj:
            return 0
        response = obj.get("response")
        if isinstance(response, dict) and ("status_code" in response or "body" in response):
            return 90
        if response is None and isinstance(obj.get("error"), dict):
            return 85
        return 0

    def parse(self, src, ctx):
        for number, line, obj in _batch_lines(src, "output"):
            if isinstance(obj, Reject):
                yield obj
                continue
            try:
                yield self.record(obj, number, ctx)
            except (ValueError, TypeError, AttributeError, KeyError) as exc:
                yield Reject(number, f"unreadable batch output line ({exc})", line)

    def record(self, obj: dict, number: int, ctx) -> dict:
        custom_id = str(obj["custom_id"])
        response = maybe_json(obj.get("response"))
        response = response if isinstance(response, dict) else {}
        body = maybe_json(response.get("body"))
        code = response.get("status_code")
        record: dict = {"provider": PROVIDER}
        if isinstance(body, dict):
            record.update({k: v for k, v in response_fields(body).items() if v is not None})
        failed = bool(obj.get("error")) or (isinstance(code, (int, float)) and code >= 400) or not isinstance(body, dict)
        if failed or (isinstance(body, dict) and body.get("error") and not body.get("usage")):
            record["status"] = "error"
        record.setdefault("status", "ok")
        source = take_batch_input(ctx, BATCH_STORE, custom_id, record.get("model"))
        if source is not None:
            join_batch_input(record, source)
        record.update(source_id=custom_id, is_batch=True, _line=number,
                      _dedupe_key=_batch_output_key(obj, body, custom_id))
        return record


register(OpenAIApp())
register(OpenAIBatchInput())
register(OpenAIBatchOutput())
