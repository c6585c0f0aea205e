"""OpenAI: chat-completions request/response pairs as apps log them, and bare ChatCompletion objects (JSONL)."""

from __future__ import annotations

import json

from ..records import Reject, excerpt, maybe_json, to_utc
from . import register

PARAM_KEYS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "response_format", "tools", "tool_choice", "stop", "seed", "n")


def content_text(content) -> str:
    """Message content as text: a string, or the text parts of a content list."""
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
                if part.get("type") in ("text", "input_text", "output_text") or "text" in part:
                    parts.append(str(part.get("text") or ""))
        return "\n".join(p for p in parts if p)
    return str(content)


def split_messages(messages: list) -> tuple[str | None, str]:
    """(system prompt, text that represents the request: the last user turn)."""
    system = [content_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") in ("system", "developer")]
    users = [content_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return ("\n\n".join(system) or None), (users[-1] if users else "")


def completion_fields(resp: dict) -> dict:
    """Response text, model, usage and timing from a ChatCompletion object."""
    choices = resp.get("choices") or []
    texts = []
    for choice in choices:
        msg = choice.get("message") or {}
        text = content_text(msg.get("content"))
        if not text and msg.get("tool_calls"):
            text = json.dumps(msg["tool_calls"], ensure_ascii=False)
        texts.append(text)
    usage = resp.get("usage") or {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return {
        "source_id": resp.get("id"),
        "model": resp.get("model"),
        "created_at": to_utc(resp.get("created")),
        "response_text": "\n".join(t for t in texts if t) or None,
        "input_tokens": usage.get("prompt_tokens"),
        "cached_input_tokens": prompt_details.get("cached_tokens"),
        "output_tokens": usage.get("completion_tokens"),
        "reasoning_tokens": completion_details.get("reasoning_tokens"),
        "status": "ok",
    }


def chat_record(request: dict | None, response: dict | None) -> dict:
    record: dict = {"provider": "openai"}
    if response:
        record.update({k: v for k, v in completion_fields(response).items() if v is not None})
    if request:
        messages = request.get("messages") or []
        system, prompt = split_messages(messages)
        record["system_prompt"] = system
        record["prompt_text"] = prompt
        record["messages_json"] = messages
        record["params_json"] = {k: request[k] for k in PARAM_KEYS if k in request} or None
        record.setdefault("model", request.get("model"))
        if request.get("user"):
            record["user_id"] = request["user"]
        if request.get("metadata"):
            record["tags_json"] = request["metadata"]
    return record


class OpenAIChat:
    """One JSON object per line: {"request": {...}, "response": {...}} or a bare ChatCompletion."""

    name = "openai-chat"
    order = 50

    def sniff(self, src) -> int:
        head = src.head().decode("utf-8", "replace")
        first = next((line for line in head.splitlines() if line.strip()), "")
        try:
            obj = json.loads(first)
        except ValueError:
            return 0
        if not isinstance(obj, dict):
            return 0
        if obj.get("object") == "chat.completion":
            return 80
        req, resp = obj.get("request"), obj.get("response")
        if isinstance(req, dict) and "messages" in req and (resp is None or isinstance(resp, dict) and "choices" in resp):
            return 70
        return 0

    def parse(self, src, ctx):
        for number, line in src.lines():
            try:
                obj = maybe_json(json.loads(line))
            except ValueError as exc:
                yield Reject(number, f"not valid JSON ({exc.msg} at column {exc.colno})", line)
                continue
            if not isinstance(obj, dict):
                yield Reject(number, "expected a JSON object", line)
                continue
            try:
                if obj.get("object") == "chat.completion":
                    record = chat_record(None, obj)
                elif "request" in obj or "response" in obj:
                    request = maybe_json(obj.get("request"))
                    response = maybe_json(obj.get("response"))
                    if not isinstance(request, dict) and not isinstance(response, dict):
                        yield Reject(number, "neither request nor response is an object", line)
                        continue
                    record = chat_record(request if isinstance(request, dict) else None, response if isinstance(response, dict) else None)
                    if isinstance(obj.get("error") or (response or {}).get("error") if isinstance(response, dict) else None, dict):
                        record["status"] = "error"
                    for key in ("duration_ms", "latency_ms"):
                        if obj.get(key) is not None:
                            record["duration_ms"] = float(obj[key])
                    if obj.get("created_at") and not record.get("created_at"):
                        record["created_at"] = to_utc(obj["created_at"])
                else:
                    yield Reject(number, "no chat completion or request/response pair in this object", excerpt(line))
                    continue
            except (ValueError, TypeError, AttributeError) as exc:
                yield Reject(number, str(exc), line)
                continue
            record["_line"] = number
            yield record


register(OpenAIChat())
