"""LangChain messages and results saved to a file (format ``langchain``): the answers a chat model returned, with the
usage and model LangChain keeps on them.

The shapes users write:
- a conversation's messages, as ``message.model_dump()`` (``{"type": "ai", "content", "response_metadata",
  "usage_metadata", ...}``), as ``messages_to_dict`` and the chat message histories keep them (``FileChatMessageHistory``:
  ``{"type": "ai", "data": {...}}``), or as ``dumpd(message)`` (``{"lc": 1, "type": "constructor", "id": [...,
  "AIMessage"], "kwargs": {...}}``): a JSON list, or one per line;
- a callback handler's ``on_llm_end`` results, ``LLMResult.model_dump()`` (``generations``, ``llm_output``), one per
  line.

- **Each AI message with usage or a model is one call.** Tokens from ``usage_metadata`` (LangChain's own terms: the
  input counts the cache reads and writes, ``input_token_details.cache_read``/``cache_creation``; the output counts
  the reasoning, ``output_token_details.reasoning``), else the provider's usage in ``response_metadata``
  (``token_usage`` or ``usage``, each in its API's terms), else a result's ``llm_output.token_usage``. The model is
  ``response_metadata.model_name`` (``model``, ``model_id``), the provider ``model_provider`` or a guess from the
  model, the id the provider's (``response_metadata.id``), else LangChain's message id.
- **The conversation** is the messages before it in the same list (a callback's result holds none: no prompt). The
  answer is the message's text, else its tool calls. LangChain keeps no time on a message: the time is unknown.
- Human, system and tool messages, and AI messages without usage or a model (written by the app), are skipped and
  counted.
"""

from __future__ import annotations

import json
from typing import Any

from ..records import Reject, Skipped, excerpt, head_objects
from . import register
from .generic import as_dict, read_histories, content_text, file_kind, guess_provider, to_int, usage_fields
from .openai import split_messages

ROLES = {"human": "user", "user": "user", "system": "system", "ai": "assistant", "AIMessageChunk": "assistant",
         "tool": "tool", "function": "tool", "chat": "user"}
CLASS_TYPES = {"AIMessage": "ai", "AIMessageChunk": "ai", "HumanMessage": "human", "SystemMessage": "system",
               "ToolMessage": "tool", "FunctionMessage": "function", "ChatMessage": "chat"}
BLOCKED = {"content_filter", "SAFETY", "refusal"}


def message_of(obj: Any) -> dict | None:
    """A LangChain message in any of its dumps, as ``{"type", **fields}``; None for anything else."""
    if not isinstance(obj, dict):
        return None
    if obj.get("lc") == 1 and obj.get("type") == "constructor" and isinstance(obj.get("id"), list) and obj["id"]:
        kind = CLASS_TYPES.get(str(obj["id"][-1]))
        fields = obj.get("kwargs")
        return {**fields, "type": kind} if kind and isinstance(fields, dict) else None
    if obj.get("type") in ROLES and isinstance(obj.get("data"), dict) and "content" in obj["data"]:
        return {**obj["data"], "type": obj["type"]}
    if obj.get("type") in ROLES and "content" in obj and ("additional_kwargs" in obj or "response_metadata" in obj):
        return obj
    return None


def is_result(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("generations"), list) and "llm_output" in obj


def token_fields(message: dict, llm_output: dict) -> dict:
    usage = as_dict(message.get("usage_metadata"))
    if usage.get("input_tokens") is not None or usage.get("output_tokens") is not None:
        inputs, outputs = as_dict(usage.get("input_token_details")), as_dict(usage.get("output_token_details"))
        return {"input_tokens": to_int(usage.get("input_tokens"), "input_tokens"),
                "output_tokens": to_int(usage.get("output_tokens"), "output_tokens"),
                "cached_input_tokens": to_int(inputs.get("cache_read")), "cache_write_tokens": to_int(inputs.get("cache_creation")),
                "reasoning_tokens": to_int(outputs.get("reasoning"))}
    meta = as_dict(message.get("response_metadata"))
    for holder in (meta.get("token_usage"), meta.get("usage"), llm_output.get("token_usage"), llm_output.get("usage")):
        if isinstance(holder, dict) and (fields := usage_fields(holder)):
            return fields
    return {}


def answer_text(message: dict) -> str | None:
    text = content_text(message.get("content"))
    if text:
        return text
    calls = message.get("tool_calls")
    return json.dumps(calls, ensure_ascii=False, default=str) if calls else None


def as_turn(message: dict) -> dict | None:
    role = ROLES.get(str(message.get("type")))
    if role is None:
        return None
    turn: dict = {"role": message.get("role") if message["type"] == "chat" and message.get("role") else role,
                  "content": message.get("content")}
    if role == "tool" and message.get("tool_call_id"):
        turn["tool_call_id"] = message["tool_call_id"]
    if role == "assistant" and message.get("tool_calls"):
        turn["tool_calls"] = message["tool_calls"]
    return turn


def call_record(message: dict, before: list[dict], llm_output: dict) -> dict | None:
    """An AI message as a call, or None when it holds neither usage nor a model (an app's own message)."""
    meta = as_dict(message.get("response_metadata"))
    model = meta.get("model_name") or meta.get("model") or meta.get("model_id") or llm_output.get("model_name")
    tokens = token_fields(message, llm_output)
    if not model and not tokens:
        return None
    provider = meta.get("model_provider") or meta.get("ls_provider")
    if not any(turn["role"] == "user" for turn in before):
        before = []  # answers saved without what was asked: no conversation to replay
    system, prompt = split_messages(before)
    finish = meta.get("finish_reason") or meta.get("stop_reason")
    source_id = meta.get("id") or llm_output.get("id") or message.get("id")
    return {"provider": provider if isinstance(provider, str) and provider else guess_provider(model), "model": model,
            "source_id": source_id if isinstance(source_id, str) and source_id else None,
            "system_prompt": system, "prompt_text": prompt or None, "messages_json": before or None,
            "response_text": answer_text(message), "status": "blocked" if finish in BLOCKED else "ok", **tokens}


class Conversation:
    """The messages so far of one list."""

    def __init__(self) -> None:
        self.before: list[dict] = []

    def read(self, number: int | None, value: Any):
        if is_result(value):
            return self.result(number, value)
        message = message_of(value)
        if message is None:
            return Reject(number, "expected a LangChain message or an LLMResult", excerpt(value))
        record = call_record(message, list(self.before), {}) if message["type"] == "ai" else None
        turn = as_turn(message)
        if turn is not None:
            self.before.append(turn)
        if record is None:
            return Skipped(number, f"a {message['type']} message, not a model's answer")
        record["_line"] = number
        return record

    @staticmethod
    def result(number: int | None, value: dict) -> list:
        """A callback's result: one call per generation's message (a result of several prompts holds several)."""
        llm_output = as_dict(value.get("llm_output"))
        out: list = []
        for generations in value["generations"]:
            for generation in generations if isinstance(generations, list) else []:
                message = message_of(as_dict(generation).get("message"))
                record = call_record(message, [], llm_output) if message is not None else None
                if record is None:
                    out.append(Reject(number, "a generation without a message holding its usage or model", excerpt(generation)))
                    continue
                record["_line"] = number
                out.append(record)
                llm_output = {k: v for k, v in llm_output.items() if k not in ("token_usage", "usage")}  # counted once
        return out


class LangChainMessages:
    """LangChain messages and LLMResults saved to a file: a row per answer a chat model returned."""

    name = "langchain"
    label = "LangChain messages or results (model_dump, messages_to_dict, dumpd, LLMResult)"
    order = 50
    skipped_hint = "each AI message with usage or a model is a call; the other messages are skipped"

    def sniff(self, src) -> int:
        if file_kind(src) != "json":
            return 0
        head = head_objects(src)
        values = [v for h in head for v in (h if isinstance(h, list) else [h])]
        if values and all(message_of(v) is not None or is_result(v) for v in values):
            return 92
        return 0

    def parse(self, src, ctx):
        return read_histories(src, Conversation)


register(LangChainMessages())
