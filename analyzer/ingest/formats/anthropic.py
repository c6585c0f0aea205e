"""Anthropic: Messages API calls as apps log them, bare Message objects, and Message Batches files.

Formats registered here:

This module reads Anthropic's shapes; app logs of Messages calls (format ``anthropic``: pairs, bare ``message``
objects, error bodies, streamed event lists or SSE text, in the envelopes of ``app_log.py``) are read by
``app_calls.py`` with it. Formats registered here:

- ``anthropic-batch-requests``: the requests a Message Batch was created with, one ``{"custom_id", "params"}``
  per line (how people keep them; the API takes them as a JSON list, which is read too);
- ``anthropic-batch-results``: Message Batches results (``{"custom_id", "result": {"type": "succeeded" |
  "errored" | "canceled" | "expired", ...}}``), joined to the request file on ``custom_id`` when given.

Cache tokens: Anthropic's ``usage.input_tokens`` counts only the input *after* the last cache breakpoint; cache
reads (``cache_read_input_tokens``) and cache writes (``cache_creation_input_tokens``) are separate. Our
``input_tokens`` is all input, so it is ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``;
``cached_input_tokens`` is the cache reads and ``cache_write_tokens`` the cache writes. Thinking tokens are part
of ``output_tokens`` and not reported apart, so ``reasoning_tokens`` stays empty.
"""

from __future__ import annotations

import json
from typing import Any

from ..records import Reject, billed_tier, content_hash, excerpt, is_json_lines, maybe_json, parse_json_line, with_pair_status
from . import app_log_sql, register
from .app_log import ANTHROPIC_PARAMS as PARAMS
from .app_log import iter_documents, join_batch_input, json_values, parse_sse, take_batch_input
from .generic import as_dict

PROVIDER = "anthropic"
_STOP_STATUS = {"refusal": "blocked"}
_RESULT_STATUS = {"succeeded": "ok", "errored": "error", "canceled": "canceled", "expired": "expired"}


def block_text(block: Any, with_tool_results: bool = True) -> str:
    if isinstance(block, str):
        return block
    if not isinstance(block, dict):
        return ""
    kind = block.get("type")
    if kind == "text" or (kind is None and isinstance(block.get("text"), str)):
        return block.get("text") or ""
    if kind == "tool_result" and with_tool_results:
        return blocks_text(block.get("content"))
    if kind == "document" and isinstance(as_dict(block.get("source")).get("data"), str) and as_dict(block.get("source")).get("type") == "text":
        return block["source"]["data"]
    return ""


def blocks_text(content: Any, with_tool_results: bool = True) -> str:
    """Text of a content string or a list of content blocks (images, thinking and tool calls are skipped)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(t for t in (block_text(b, with_tool_results) for b in content) if isinstance(t, str) and t)
    return block_text(content, with_tool_results)


def system_text(system: Any) -> str | None:
    """``system`` as a string or a list of text blocks (often with ``cache_control``)."""
    text = blocks_text(maybe_json(system) if isinstance(system, str) and system.lstrip().startswith("[") else system)
    return text or None


def to_chat_messages(system: Any, messages: list) -> list[dict]:
    """Anthropic messages in the OpenAI chat shape ``messages_json`` uses (text, tool calls, tool results)."""
    out: list[dict] = []
    sys_text = system_text(system)
    if sys_text:
        out.append({"role": "system", "content": sys_text})
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        content = message.get("content")
        if isinstance(content, str) or content is None:
            out.append({"role": role, "content": content or ""})
            continue
        blocks = content if isinstance(content, list) else [content]
        texts, calls, results, images = [], [], [], []
        for block in blocks:
            if not isinstance(block, dict):
                if isinstance(block, str):
                    texts.append(block)
                continue
            kind = block.get("type")
            if kind == "tool_use":
                calls.append({"id": block.get("id"), "type": "function",
                              "function": {"name": block.get("name"), "arguments": json.dumps(block.get("input"), ensure_ascii=False)}})
            elif kind == "tool_result":
                results.append({"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": blocks_text(block.get("content"))})
            elif kind == "image":
                source = as_dict(block.get("source"))
                if source.get("type") == "url":
                    images.append({"type": "image_url", "image_url": {"url": source.get("url")}})
                elif source.get("type") == "base64":
                    images.append({"type": "image_url", "image_url": {"url": f"data:{source.get('media_type')};base64,{source.get('data')}"}})
            else:
                text = block_text(block, with_tool_results=False)
                if text:
                    texts.append(text)
        out.extend(results)
        if texts or calls or images or not results:
            text = "\n".join(texts)
            entry: dict = {"role": role, "content": ([{"type": "text", "text": text}] if text else []) + images if images else text}
            if calls:
                entry["tool_calls"] = calls
            out.append(entry)
    return out


def last_user_text(messages: list) -> str:
    """The text of the last user turn that has any (tool results alone do not represent a request)."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            text = blocks_text(message.get("content"), with_tool_results=False)
            if text:
                return text
    return ""


def request_fields(req: dict) -> dict:
    messages = maybe_json(req.get("messages"))
    if not isinstance(messages, list):
        messages = []
    params = {k: req[k] for k in PARAMS if req.get(k) is not None and req.get(k) != [] and req.get(k) != {}}
    metadata = as_dict(req.get("metadata"))
    return {
        "system_prompt": system_text(req.get("system")),
        "prompt_text": last_user_text(messages),
        "messages_json": to_chat_messages(req.get("system"), messages),
        "params_json": params or None,
        "model": req.get("model"),
        "user_id": metadata.get("user_id"),
    }


USAGE_PARTS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")


def usage_fields(usage: Any) -> dict:
    """Tokens of a Message's usage: cache reads and writes are input too. A call that compacted its context first
    (``usage.iterations``) billed the compaction's tokens beside the answer's, which the top-level counts leave out."""
    usage = as_dict(usage)
    counts = {key: _count(usage.get(key)) for key in USAGE_PARTS}
    for step in usage.get("iterations") if isinstance(usage.get("iterations"), list) else []:
        if isinstance(step, dict) and step.get("type") == "compaction":
            for key in USAGE_PARTS:
                step_count = _count(step.get(key))
                if step_count is not None:
                    counts[key] = (counts[key] or 0) + step_count
    inputs = [counts[k] for k in USAGE_PARTS[:3] if counts[k] is not None]
    return {
        "input_tokens": sum(inputs) if inputs else None,
        "cached_input_tokens": counts["cache_read_input_tokens"] if usage.get("iterations") else usage.get("cache_read_input_tokens"),
        "cache_write_tokens": counts["cache_creation_input_tokens"] if usage.get("iterations") else usage.get("cache_creation_input_tokens"),
        "cache_write_1h_tokens": as_dict(usage.get("cache_creation")).get("ephemeral_1h_input_tokens"),
        "web_searches": as_dict(usage.get("server_tool_use")).get("web_search_requests"),
        "output_tokens": counts["output_tokens"] if usage.get("iterations") else usage.get("output_tokens"),
    }


def _count(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def is_message(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("type") == "message" and isinstance(obj.get("content"), list)


def is_request(obj: Any) -> bool:
    """A Messages API request body: it names an ``anthropic_version`` or puts the system prompt beside the messages."""
    return isinstance(obj, dict) and (obj.get("anthropic_version") is not None
                                      or (obj.get("system") is not None and "messages" in obj))


def message_fields(msg: dict) -> dict:
    """Response text, model, usage and status from a Message (or an error body)."""
    if msg.get("type") == "error" or (isinstance(msg.get("error"), dict) and "content" not in msg):
        return {"status": "error"}
    content = msg.get("content")
    text = blocks_text(content, with_tool_results=False)
    if not text and isinstance(content, list):
        calls = [{"name": b.get("name"), "input": b.get("input")} for b in content if isinstance(b, dict) and b.get("type") in ("tool_use", "server_tool_use")]
        if calls:
            text = json.dumps(calls, ensure_ascii=False)
    return {
        "source_id": msg.get("id"),
        "model": msg.get("model"),
        "response_text": text or None,
        **usage_fields(msg.get("usage")),
        "status": _STOP_STATUS.get(str(msg.get("stop_reason")), "ok"),
        "_service_tier": billed_tier(as_dict(msg.get("usage")).get("service_tier")),
    }


def assemble_stream(events: list) -> dict | None:
    """Messages streaming events folded into one Message."""
    message: dict | None = None
    blocks: dict[int, dict] = {}
    partial_json: dict[int, str] = {}
    for event in events:
        if not isinstance(event, dict):
            continue
        kind = event.get("type")
        if kind == "message_start" and isinstance(event.get("message"), dict):
            message = dict(event["message"])
            message["usage"] = dict(as_dict(message.get("usage")))
        elif kind == "content_block_start":
            blocks[event.get("index", 0)] = dict(as_dict(event.get("content_block")))
        elif kind == "content_block_delta":
            index = event.get("index", 0)
            block = blocks.setdefault(index, {"type": "text", "text": ""})
            delta = as_dict(event.get("delta"))
            if delta.get("type") == "text_delta":
                block["text"] = (block.get("text") or "") + (delta.get("text") or "")
            elif delta.get("type") == "input_json_delta":
                partial_json[index] = partial_json.get(index, "") + (delta.get("partial_json") or "")
            elif delta.get("type") == "thinking_delta":
                block["thinking"] = (block.get("thinking") or "") + (delta.get("thinking") or "")
        elif kind == "message_delta" and message is not None:
            message.update({k: v for k, v in as_dict(event.get("delta")).items() if v is not None})
            message["usage"].update({k: v for k, v in as_dict(event.get("usage")).items() if v is not None})
        elif kind == "error":
            return {"type": "error", "error": event.get("error")}
    if message is None:
        return None
    for index, text in partial_json.items():
        if index in blocks:
            try:
                blocks[index]["input"] = json.loads(text) if text else {}
            except ValueError:
                blocks[index]["input"] = text
    message["content"] = [blocks[i] for i in sorted(blocks)]
    return message


def _response(value: Any) -> Any:
    value = maybe_json(value)
    if isinstance(value, dict) and "_anthropic_stream" in value:
        return assemble_stream(value["_anthropic_stream"])
    if isinstance(value, str) and "data:" in value:
        return assemble_stream(parse_sse(value))
    if isinstance(value, list):
        return assemble_stream(value)
    return value if isinstance(value, dict) else None


def pair_record(request: dict | None, response: Any, status_code: Any = None) -> dict:
    record: dict = {"provider": PROVIDER}
    response = _response(response)
    if isinstance(response, dict):
        record.update({k: v for k, v in message_fields(response).items() if v is not None})
    if isinstance(request, dict):
        fields = request_fields(request)
        served = record.get("model")
        record.update({k: v for k, v in fields.items() if k != "model"})
        record["model"] = served if served is not None else fields.get("model")
    return with_pair_status(record, response, status_code)


BATCH_STORE = "anthropic-batch"


def _request_key(custom_id: str, params: Any) -> str:
    return f"anthropic|batch-input|{custom_id}|{content_hash(params)}"


class AnthropicBatchRequests:
    """The requests of a Message Batch: ``{"custom_id": ..., "params": {model, max_tokens, messages, ...}}``."""

    name = "anthropic-batch-requests"
    order = 10

    def sniff(self, src) -> int:
        from ..records import first_json_object

        obj = first_json_object(src)
        if isinstance(obj, dict) and "custom_id" in obj and isinstance(obj.get("params"), dict):
            return 90
        return 0

    def _items(self, src):
        if is_json_lines(src):
            for number, line in src.lines():
                yield number, parse_json_line(number, line)
            return
        for number, obj in iter_documents(src):
            if isinstance(obj, dict) and isinstance(obj.get("requests"), list):  # the create-batch request body
                for item in obj["requests"]:
                    yield number, item
            else:
                yield number, obj

    def parse(self, src, ctx):
        pending = ctx.store.setdefault(BATCH_STORE, {})
        for number, obj in self._items(src):
            if isinstance(obj, Reject):
                yield obj
                continue
            params = maybe_json(obj.get("params")) if isinstance(obj, dict) else None
            if not isinstance(obj, dict) or not obj.get("custom_id") or not isinstance(params, dict):
                yield Reject(number, "a batch request needs a custom_id and a params object", excerpt(obj))
                continue
            custom_id = str(obj["custom_id"])
            try:
                record = {"provider": PROVIDER, **request_fields(params)}
            except (ValueError, TypeError, AttributeError) as exc:
                yield Reject(number, f"unreadable batch request ({exc})", excerpt(obj))
                continue
            record.update(source_id=custom_id, is_batch=True, status="no_response", _line=number,
                          _dedupe_key=_request_key(custom_id, params))
            entry = [src, self.name, record]
            pending.setdefault(custom_id, []).append(entry)
            ctx.deferred.append(entry)


class AnthropicBatchResults(app_log_sql.BatchStatements):
    """Message Batches results; ``errored``, ``canceled`` and ``expired`` lines are requests that did not succeed."""

    name = "anthropic-batch-results"
    statements = app_log_sql.BATCH_RESULTS
    batch_store = BATCH_STORE
    order = 60

    def sniff(self, src) -> int:
        from ..records import first_json_object

        obj = first_json_object(src)
        if isinstance(obj, dict) and "custom_id" in obj and isinstance(obj.get("result"), dict) and "type" in obj["result"]:
            return 90
        return 0

    def parse(self, src, ctx):
        for number, obj in json_values(src):
            yield self.record(number, obj, ctx, src.display)

    def parse_line(self, number: int, line: str, ctx=None, src=None):
        """One line the SQL route left (a result that did not succeed, or one it does not read exactly)."""
        return self.record(number, parse_json_line(number, line), ctx, src.display if src is not None else None)

    def record(self, number: int, obj: Any, ctx, into: str | None):
        if isinstance(obj, Reject):
            return obj
        result = maybe_json(obj.get("result")) if isinstance(obj, dict) else None
        if not isinstance(obj, dict) or not obj.get("custom_id") or not isinstance(result, dict):
            return Reject(number, "a batch result needs a custom_id and a result object", excerpt(obj))
        custom_id = str(obj["custom_id"])
        kind = result.get("type")
        record: dict = {"provider": PROVIDER}
        message = maybe_json(result.get("message"))
        if isinstance(message, dict):
            record.update({k: v for k, v in message_fields(message).items() if v is not None})
        record["status"] = _RESULT_STATUS.get(str(kind), str(kind or "unknown")) if kind != "succeeded" else record.get("status", "ok")
        source = take_batch_input(ctx, BATCH_STORE, custom_id, record.get("model"), into)
        if source is not None:
            join_batch_input(record, source)
        message_id = message.get("id") if isinstance(message, dict) else None
        record.update(
            source_id=custom_id, is_batch=True, _line=number,
            _dedupe_key=f"anthropic|batch|{custom_id}|{message_id or (str(kind) + '|' + content_hash(result))}",
        )
        return record


register(AnthropicBatchRequests())
register(AnthropicBatchResults())
