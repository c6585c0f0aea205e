"""Pydantic AI message histories (format ``pydantic-ai``): what ``result.all_messages_json()`` (or
``ModelMessagesTypeAdapter.dump_json``) writes, and what apps keep to continue a conversation.

The file is a JSON list of messages, ``ModelRequest`` (``kind: "request"``) and ``ModelResponse`` (``kind:
"response"``), each a list of parts (``part_kind``); or JSON Lines with one such list (a run) per line, or one
message per line.

- **Each response is one model call**: its ``usage`` (``input_tokens``, which counts the cached input too,
  ``cache_read_tokens``, ``cache_write_tokens``, ``output_tokens``, ``output_reasoning_tokens``; releases before 1.0
  wrote ``request_tokens``/``response_tokens``), ``model_name``, ``provider_name``, ``timestamp``, ``duration`` (ISO 8601),
  ``provider_response_id`` as its id; ``usage.cost``, Pydantic AI's own figure for the call, is its logged cost.
- **The conversation** is every part before the response: system prompts and ``instructions`` as the system turn,
  user prompts, earlier answers and tool calls, tool returns and retry prompts as the turns they were. The prompt is
  the last user prompt; the answer its text parts, else its tool calls.
- A request message is no call of its own: skipped and counted.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..records import Reject, Skipped, excerpt, head_objects
from . import register
from .generic import read_histories, file_kind, guess_provider, to_float, to_int
from .openai import split_messages

PARTS = {"system-prompt": "system", "user-prompt": "user", "tool-return": "tool", "retry-prompt": "user", "text": "assistant",
         "tool-call": "assistant", "thinking": None, "builtin-tool-call": None, "builtin-tool-return": None, "file": None}
ISO_DURATION = re.compile(r"P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")
FAILED_FINISH = {"error": "error", "content_filter": "blocked"}


def is_message(obj: Any) -> bool:
    return (isinstance(obj, dict) and obj.get("kind") in ("request", "response") and isinstance(obj.get("parts"), list)
            and all(isinstance(p, dict) and "part_kind" in p for p in obj["parts"]))


def part_text(part: dict) -> str | None:
    """A part's words: a string, or a user prompt's list of contents (text kept, images and files left out)."""
    content = part.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [c for c in content if isinstance(c, str)]
        return "\n".join(texts) if texts else None
    if content is not None and part.get("part_kind") in ("tool-return", "retry-prompt"):
        return json.dumps(content, ensure_ascii=False, default=str)
    return None


def tool_call(part: dict) -> dict:
    args = part.get("args")
    return {"id": part.get("tool_call_id"), "type": "function",
            "function": {"name": part.get("tool_name"), "arguments": args if isinstance(args, str) else json.dumps(args)}}


def turns(message: dict) -> list[dict]:
    """A message's parts as chat turns (a response's text and tool calls are one assistant turn)."""
    out: list[dict] = []
    if message["kind"] == "request" and isinstance(message.get("instructions"), str) and message["instructions"]:
        out.append({"role": "system", "content": message["instructions"]})
    texts, calls = [], []
    for part in message["parts"]:
        role = PARTS.get(part.get("part_kind"))
        if role == "assistant":
            if part["part_kind"] == "tool-call":
                calls.append(tool_call(part))
            elif isinstance(part.get("content"), str):
                texts.append(part["content"])
        elif role is not None and (text := part_text(part)) is not None:
            turn = {"role": role, "content": text}
            if role == "tool":
                turn["tool_call_id"] = part.get("tool_call_id")
            out.append(turn)
    if texts or calls:
        out.append({"role": "assistant", "content": "\n".join(texts) or None, **({"tool_calls": calls} if calls else {})})
    return out


def duration_ms(value: Any) -> float | None:
    match = ISO_DURATION.match(value) if isinstance(value, str) else None
    if not match or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (float(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60_000 + seconds * 1000


def usage_fields(usage: dict) -> dict:
    details: dict = usage["details"] if isinstance(usage.get("details"), dict) else {}
    reasoning = usage.get("output_reasoning_tokens")
    return {
        "input_tokens": to_int(usage.get("input_tokens", usage.get("request_tokens")), "input_tokens"),
        "output_tokens": to_int(usage.get("output_tokens", usage.get("response_tokens")), "output_tokens"),
        "cached_input_tokens": to_int(usage.get("cache_read_tokens", details.get("cached_tokens"))),
        "cache_write_tokens": to_int(usage.get("cache_write_tokens")),
        "cache_write_1h_tokens": to_int(usage.get("cache_write_1h_tokens")) or None,
        "reasoning_tokens": to_int(reasoning if reasoning is not None else details.get("reasoning_tokens")),
        "cost_usd": to_float(usage.get("cost"), "cost"),
    }


def call_record(response: dict, before: list[dict]) -> dict:
    """One ModelResponse, asked with the conversation ``before`` it."""
    answer = turns(response)
    reply = answer[-1] if answer else {}
    text = reply.get("content") or (json.dumps(reply["tool_calls"], ensure_ascii=False) if reply.get("tool_calls") else None)
    system, prompt = split_messages(before)
    usage: dict = response["usage"] if isinstance(response.get("usage"), dict) else {}
    model = response.get("model_name")
    provider = response.get("provider_name")
    return {
        "provider": provider if isinstance(provider, str) and provider else guess_provider(model),
        "model": model, "created_at": response.get("timestamp"), "source_id": response.get("provider_response_id"),
        "system_prompt": system, "prompt_text": prompt, "messages_json": before or None, "response_text": text,
        "duration_ms": duration_ms(response.get("duration")),
        "status": FAILED_FINISH.get(str(response.get("finish_reason")), "ok"), **usage_fields(usage),
    }


class Conversation:
    """The turns so far of one message history."""

    def __init__(self) -> None:
        self.before: list[dict] = []

    def read(self, number: int | None, message: Any):
        if not is_message(message):
            return Reject(number, "expected a Pydantic AI message (kind request/response, parts)", excerpt(message))
        if message["kind"] == "request":
            self.before.extend(turns(message))
            return Skipped(number, "a request message: the call is its response")
        try:
            record = call_record(message, list(self.before))
        except (ValueError, TypeError, AttributeError) as exc:
            return Reject(number, f"unreadable response ({exc})", excerpt(message))
        self.before.extend(turns(message))
        record["_line"] = number
        return record


class PydanticAI:
    """Pydantic AI message histories: a row per ModelResponse."""

    name = "pydantic-ai"
    label = "a Pydantic AI message history (all_messages_json)"
    order = 50
    skipped_hint = "each ModelResponse is a call; request messages are skipped"

    def sniff(self, src) -> int:
        if file_kind(src) != "json":
            return 0
        head = head_objects(src)
        first = head[0] if head else None
        if isinstance(first, list):  # one run's history per line
            first = first[0] if first else None
        return 95 if is_message(first) else 0

    def parse(self, src, ctx):
        return read_histories(src, Conversation)


register(PydanticAI())
