"""OpenAI: Chat Completions and Responses API objects and requests, and the Batch API's input and output files.

This module reads OpenAI's shapes; ``app_calls.py`` reads app logs of calls (pairs, bare objects, envelopes) with
it and ``app_log.py``. Formats registered here:

- ``openai-batch-input``: Batch API input files (``{"custom_id", "method", "url", "body"}``) for
  ``/v1/chat/completions`` and ``/v1/responses``.
- ``openai-batch-output``: Batch output and error files (``{"id", "custom_id", "response": {"status_code",
  "request_id", "body"}, "error"}``). Given with their input file, lines join on ``custom_id``; alone, they still
  give model, tokens, cost and the response text. A line with an error, or without usage, is a real request with
  ``status='error'``, not a reject. Output lines alone take the SQL route (``fast_select``).

Token conventions: OpenAI's ``prompt_tokens``/``input_tokens`` already include cached tokens, which is what
``requests.input_tokens`` means, so they are stored as logged.
"""

from __future__ import annotations

import json
from typing import Any

from ..records import (EMBEDDING_OPERATION, OLLAMA_FINGERPRINT, OLLAMA_ID, Reject, billed_tier, content_hash, maybe_json,
                       parse_json_line, to_utc, with_pair_status)
from . import register
from . import app_log_sql
from .generic import as_dict, usage_fields
from .app_log import CHAT_PARAMS, RESPONSES_PARAMS, join_batch_input, nonempty_object, take_batch_input

PROVIDER = "openai"

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
        "tags_json": nonempty_object(req.get("metadata")),
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


def answer_id(resp: dict) -> Any:
    """A ChatCompletion's id, None for Ollama's random numbers (``OLLAMA_ID``)."""
    found = resp.get("id")
    if resp.get("system_fingerprint") == OLLAMA_FINGERPRINT and isinstance(found, str) and OLLAMA_ID.fullmatch(found):
        return None
    return found


def message_text(msg: dict) -> str:
    """An assistant message's answer: its text, else its refusal, else its tool calls (or legacy function call) as
    JSON."""
    text = content_text(msg.get("content"))
    if not text and isinstance(msg.get("refusal"), str):
        text = msg["refusal"]
    if not text and msg.get("tool_calls"):
        text = json.dumps(msg["tool_calls"], ensure_ascii=False)
    if not text and msg.get("function_call"):
        text = json.dumps(msg["function_call"], ensure_ascii=False)
    return text


def completion_fields(resp: dict) -> dict:
    """Response text, model, usage and timing from a ChatCompletion object."""
    choices = resp.get("choices") or []
    texts = []
    blocked = False
    for choice in choices if isinstance(choices, list) else []:
        if not isinstance(choice, dict):
            continue
        text = message_text(as_dict(choice.get("message")))
        if choice.get("finish_reason") == "content_filter":
            blocked = True
        texts.append(text)
    usage = as_dict(resp.get("usage"))
    prompt_details = as_dict(usage.get("prompt_tokens_details"))
    completion_details = as_dict(usage.get("completion_tokens_details"))
    status = "error" if resp.get("error") else ("blocked" if blocked else "ok")
    return {
        **({"provider": "groq"} if resp.get("x_groq") is not None else {}),  # Groq's answers: priced at Groq's rates
        "source_id": answer_id(resp),
        "model": resp.get("model"),
        "created_at": to_utc(resp.get("created")),
        "response_text": "\n".join(t for t in texts if t) or None,
        "input_tokens": usage.get("prompt_tokens"),
        "cached_input_tokens": prompt_details.get("cached_tokens"),
        # Claude through LiteLLM: the cache writes beside prompt_tokens, which counts them
        "cache_write_tokens": usage.get("cache_creation_input_tokens"),
        "output_tokens": usage.get("completion_tokens"),
        "reasoning_tokens": completion_details.get("reasoning_tokens"),
        "cost_usd": gateway_cost(usage),
        "status": status,
        "_service_tier": billed_tier(resp.get("service_tier")),
        **usage_in_other_terms(usage),
        **xai_usage(usage),
    }


def xai_usage(usage: dict) -> dict:
    """xAI's chat usage: its completion count leaves the reasoning out (the total is prompt + completion + reasoning)
    and it states the cost in ticks of 1e-10 dollars (``cost_in_usd_ticks``)."""
    out: dict = {}
    prompt, completion = _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
    reasoning = _int(as_dict(usage.get("completion_tokens_details")).get("reasoning_tokens"))
    if prompt is not None and completion is not None and reasoning and _int(usage.get("total_tokens")) == prompt + completion + reasoning:
        out["output_tokens"] = completion + reasoning
    ticks = _int(usage.get("cost_in_usd_ticks"))
    if ticks is not None:
        out["cost_usd"] = ticks / 1e10
    return out


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_in_other_terms(usage: dict) -> dict:
    """A chat-shaped answer whose usage is in the Responses API's terms (inspect_ai's ModelOutput, as eval harnesses
    log it: ``input_tokens``/``output_tokens``), where it names no ``prompt_tokens`` or ``completion_tokens``."""
    if "prompt_tokens" in usage or "completion_tokens" in usage or not {"input_tokens", "output_tokens"} & usage.keys():
        return {}
    return {k: v for k, v in usage_fields(usage).items()
            if k in ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")}


def gateway_cost(usage: dict) -> float | None:
    """The cost a gateway wrote into the usage it returned (OpenRouter's usage accounting: ``cost``, plus the
    provider's own charge when the key is the user's, ``is_byok``; some apps record it as ``total_cost``), or the
    total of a provider's cost broken down (``stated_total``)."""
    stated = stated_total(usage)
    if stated is not None:
        return stated
    cost = next((usage[key] for key in ("cost", "total_cost") if isinstance(usage.get(key), (int, float))
                 and not isinstance(usage.get(key), bool)), None)
    if cost is None:
        return None
    upstream = as_dict(usage.get("cost_details")).get("upstream_inference_cost")
    if usage.get("is_byok") is True and isinstance(upstream, (int, float)) and not isinstance(upstream, bool):
        cost += upstream
    return float(cost)


def stated_total(usage: dict) -> float | None:
    """Perplexity's ``usage.cost``: the call's cost broken down (tokens, the request fee, its searches), ``total_cost``
    included: what the call cost."""
    cost = usage.get("cost")
    total = cost.get("total_cost") if isinstance(cost, dict) else None
    return float(total) if isinstance(total, (int, float)) and not isinstance(total, bool) else None


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


def web_search_calls(output: Any) -> int | None:
    """How many web searches a Responses answer ran (its ``web_search_call`` items, billed per call); None for none."""
    count = sum(1 for item in output if isinstance(item, dict) and item.get("type") == "web_search_call") if isinstance(output, list) else 0
    return count or None


def responses_fields(resp: dict) -> dict:
    """The same fields from a Responses API ``response`` object."""
    usage = as_dict(resp.get("usage"))
    input_details = as_dict(usage.get("input_tokens_details"))
    output_details = as_dict(usage.get("output_tokens_details"))
    status = _RESPONSE_STATUS.get(str(resp.get("status")), "ok")
    if resp.get("error"):
        status = "error"
    out = {
        "source_id": resp.get("id"),
        "model": resp.get("model"),
        "created_at": to_utc(resp.get("created_at")),
        "response_text": responses_text(resp.get("output")),
        "input_tokens": usage.get("input_tokens"),
        "cached_input_tokens": input_details.get("cached_tokens"),
        "cache_write_tokens": input_details.get("cache_creation_input_tokens"),  # Perplexity's Agent API
        "output_tokens": usage.get("output_tokens"),
        "reasoning_tokens": output_details.get("reasoning_tokens"),
        "web_searches": web_search_calls(resp.get("output")),
        "cost_usd": stated_total(usage),
        "status": status,
        "_service_tier": billed_tier(resp.get("service_tier")),
        "params_json": _params(resp, RESPONSES_PARAMS),
        "user_id": resp.get("user") if resp.get("user") is not None else resp.get("safety_identifier"),
        "tags_json": nonempty_object(resp.get("metadata")),
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


def is_embeddings_list(obj: Any) -> bool:
    """The Embeddings API's answer: ``{"object": "list", "data": [{"object": "embedding", ...}], "usage": ...}``."""
    data = obj.get("data") if isinstance(obj, dict) and obj.get("object") == "list" else None
    return isinstance(data, list) and bool(data) and all(isinstance(d, dict) and d.get("object") == "embedding" for d in data)


def is_embeddings_request(obj: Any) -> bool:
    """An Embeddings API request: ``input`` to embed, no messages, and an embedding model."""
    return (isinstance(obj, dict) and "input" in obj and "messages" not in obj and "instructions" not in obj
            and "embed" in str(obj.get("model") or "").lower())


def embedding_fields(request: dict | None, response: dict | None) -> dict:
    """An Embeddings API call: priced on its input tokens, stored with ``operation='embeddings'`` and no prompt (its
    input is text to embed, not a request a chat model would answer). Identical calls are one: ``_embedded``, the
    input's hash, stands for the text the row does not keep (``records.dedupe_key``)."""
    request, response = request or {}, response or {}
    usage = as_dict(response.get("usage"))
    model = response.get("model") or request.get("model")
    return {"provider": PROVIDER, "model": model, "operation": EMBEDDING_OPERATION, "status": "ok",
            "input_tokens": usage.get("prompt_tokens", usage.get("total_tokens")),
            "user_id": request.get("user"), "tags_json": nonempty_object(request.get("metadata")),
            "_embedded": content_hash(request["input"] if request.get("input") is not None else response.get("data"))}


# ---------------------------------------------------------------------------------------------
# Streams: lists of chunks
# ---------------------------------------------------------------------------------------------


def is_azure_filter_chunk(chunk: Any) -> bool:
    """Azure's first chunk of a stream: the prompt's filter results, its id empty and its time 0 (not the call's)."""
    return isinstance(chunk, dict) and chunk.get("choices") == [] and "prompt_filter_results" in chunk and not chunk.get("id")


def assemble_chat_chunks(chunks: list) -> dict:
    """``chat.completion.chunk`` objects folded into one ChatCompletion."""
    out: dict = {"object": "chat.completion"}
    slots: dict[int, dict] = {}
    for chunk in chunks:
        if not isinstance(chunk, dict) or is_azure_filter_chunk(chunk):
            continue
        for key in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if chunk.get(key) is not None:
                out.setdefault(key, chunk[key])
        # Groq gives a stream's usage in its last chunk's x_groq.
        usage = chunk.get("usage") or as_dict(chunk.get("x_groq")).get("usage")
        if usage:
            out["usage"] = usage
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index") or 0  # a null index is the first choice
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


def request_fields(req: dict) -> dict:
    return responses_request_fields(req) if is_responses_request(req) else chat_request_fields(req)


def response_fields(resp: dict) -> dict:
    if is_responses_object(resp):
        return responses_fields(resp)
    if isinstance(resp.get("error"), (dict, str)) and "choices" not in resp:
        return {"status": "error"}  # an error body: {"error": {"message": ..., "type": ...}}
    return completion_fields(resp)


def system_as_first_turn(req: dict) -> dict:
    """A chat request whose system prompt sits beside its messages, as an Anthropic request's does (apps that call
    OpenAI-compatible endpoints through one client for both): the system prompt as the conversation's first turn,
    unless the conversation opens with one."""
    system = req.get("system")
    messages = maybe_json(req.get("messages"))
    if isinstance(system, list):
        system = content_text(system) or None
    if not isinstance(system, str) or not isinstance(messages, list):
        return req
    rest = {k: v for k, v in req.items() if k != "system"}
    if any(isinstance(m, dict) and m.get("role") in ("system", "developer") for m in messages):
        return rest
    return {**rest, "messages": [{"role": "system", "content": system}, *messages]}


def pair_record(request: Any, response: Any, status_code: Any = None) -> dict:
    """A record from a request body and a response body (either may be None); an Embeddings API call is one."""
    if is_embeddings_list(response) or is_embeddings_request(request):
        answer = response if is_embeddings_list(response) else None
        return with_pair_status(embedding_fields(request if isinstance(request, dict) else None, answer), response, status_code)
    record: dict = {"provider": PROVIDER}
    if isinstance(response, dict):
        record.update({k: v for k, v in response_fields(response).items() if v is not None})
    if isinstance(request, dict):
        fields = request_fields(system_as_first_turn(request))
        response_model = record.get("model")
        for key, value in fields.items():
            if key == "model":
                continue
            if value is not None or key not in record:
                record[key] = value
        record["model"] = response_model if response_model is not None else fields.get("model")
    return with_pair_status(record, response, status_code)


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
EMBEDDING_URLS = ("/v1/embeddings", "/embeddings")


def _batch_input_key(custom_id: str, body: Any) -> str:
    return f"openai|batch-input|{custom_id}|{content_hash(body)}"


class OpenAIBatchInput:
    """Batch API input: ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {...}}``."""

    name = "openai-batch-input"
    label = "an OpenAI Batch input file"
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
            embeddings = url.rstrip("/").endswith(EMBEDDING_URLS) or (not url and is_embeddings_request(body))
            if url and not embeddings and not url.rstrip("/").endswith(GENERATION_URLS):
                yield Reject(number, f"{url} requests are not chat or Responses calls; skipped", line)
                continue
            try:
                record = embedding_fields(body, None) if embeddings else {"provider": PROVIDER, **request_fields(body)}
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
    response = obj["response"] if isinstance(obj.get("response"), dict) else {}
    line_id = obj.get("id") or response.get("request_id") or (body.get("id") if isinstance(body, dict) else None)
    return f"openai|batch|{custom_id}|{line_id or content_hash(obj)}"


class OpenAIBatchOutput(app_log_sql.BatchStatements):
    """Batch API output and error files, joined to their input file on ``custom_id`` when it is given too."""

    name = "openai-batch-output"
    statements = app_log_sql.BATCH_OUTPUT
    batch_store = BATCH_STORE
    label = "an OpenAI Batch output file"
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
            yield self._line(number, line, obj, ctx, src)

    def _line(self, number: int, line: str, obj, ctx, src):
        if isinstance(obj, Reject):
            return obj
        try:
            return self.record(obj, number, ctx, src.display if src is not None else None)
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:  # a time past year 9999 overflows
            return Reject(number, f"unreadable batch output line ({exc})", line)

    def parse_line(self, number: int, line: str, ctx=None, src=None):
        obj = parse_json_line(number, line)
        if not isinstance(obj, Reject) and (not isinstance(obj, dict) or not obj.get("custom_id")):
            obj = Reject(number, "a batch output line needs a custom_id", line)
        return self._line(number, line, obj, ctx, src)

    def record(self, obj: dict, number: int, ctx, into: str | None = None) -> dict:
        custom_id = str(obj["custom_id"])
        response = maybe_json(obj.get("response"))
        response = response if isinstance(response, dict) else {}
        body = maybe_json(response.get("body"))
        code = response.get("status_code")
        # Groq's Batch API writes OpenAI's format, its own extras under x_groq: its calls are priced at Groq's rates.
        record: dict = {"provider": "groq" if isinstance(body, dict) and body.get("x_groq") is not None else PROVIDER}
        if is_embeddings_list(body):
            record.update({k: v for k, v in embedding_fields(None, body).items() if v is not None})
        elif isinstance(body, dict):
            record.update({k: v for k, v in response_fields(body).items() if v is not None})
        failed = bool(obj.get("error")) or (isinstance(code, (int, float)) and code >= 400) or not isinstance(body, dict)
        if failed or (isinstance(body, dict) and body.get("error") and not body.get("usage")):
            record["status"] = "error"
        record.setdefault("status", "ok")
        source = take_batch_input(ctx, BATCH_STORE, custom_id, record.get("model"), into)
        if source is not None:
            join_batch_input(record, source)
        record.update(source_id=custom_id, is_batch=True, _line=number,
                      _dedupe_key=_batch_output_key(obj, body, custom_id))
        return record


register(OpenAIBatchInput())
register(OpenAIBatchOutput())
