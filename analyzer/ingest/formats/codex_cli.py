"""OpenAI Codex CLI session rollouts (format ``codex-cli``): ``~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl``.

Codex writes one JSON line per item of a session, ``{"timestamp", "type", "payload"}``: the session's metadata
(``session_meta``: its id, working directory, CLI version, subagent parent), each turn's settings (``turn_context``:
the model), the conversation's items (``response_item``: messages, reasoning, function calls and their outputs) and
events (``event_msg``: the person's ``user_message``, and after each model response a ``token_count``).

A model call is a ``token_count`` event: ``info.last_token_usage`` is that call's usage (the Responses API's terms:
input with its cached part inside, output with its reasoning inside), ``info.total_token_usage`` the session's running
total. Codex writes some counts twice; a count whose running total did not move is the same call again and is
skipped. When ``last_token_usage`` is missing (older versions), the call's usage is the difference of the totals.
Each call is keyed on its time and running total, so a forked or resumed session that copies earlier lines adds
nothing.

The call's model is the latest ``turn_context``'s; its prompt is the person's latest ``user_message`` (what the
turn is about, the text a category is made of); its conversation is that turn so far (the person's message, the
model's earlier answers and tool calls in the turn, and the tools' outputs); its answer is what the model wrote
since the previous call (its message, or its tool calls). Codex's instructions and tool definitions are not
written per call, so replays of these calls lack them. Other lines are skipped and counted.
"""

from __future__ import annotations

import json
from typing import Any

from ..records import Reject, Skipped, excerpt, head_records, to_utc
from . import register
from .app_log import json_values
from .generic import content_text, guess_provider, usage_fields

LINE_TYPES = {"session_meta", "turn_context", "response_item", "event_msg", "compacted"}
USAGE_KEYS = ("input_tokens", "cached_input_tokens", "cache_write_input_tokens", "output_tokens", "reasoning_output_tokens")


def is_rollout_line(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("type") in LINE_TYPES and isinstance(obj.get("payload"), dict)


def _usage(counts: dict) -> dict:
    read = usage_fields({"input_tokens": counts.get("input_tokens"), "output_tokens": counts.get("output_tokens"),
                         "input_tokens_details": {"cached_tokens": counts.get("cached_input_tokens")},
                         "output_tokens_details": {"reasoning_tokens": counts.get("reasoning_output_tokens")}})
    if counts.get("cache_write_input_tokens"):
        read["cache_write_tokens"] = int(counts["cache_write_input_tokens"])
    return read


def _difference(total: dict, before: dict | None) -> dict:
    return {k: (total.get(k) or 0) - ((before or {}).get(k) or 0) for k in USAGE_KEYS if total.get(k) is not None}


class Rollout:
    """The state of one session file as its lines are read."""

    def __init__(self) -> None:
        self.meta: dict = {}
        self.model: Any = None
        self.provider: Any = None  # the turn's or session's ``model_provider`` (openai, azure, openrouter, ollama...)
        self.effort: Any = None
        self.prompt: str | None = None
        self.turn: list[dict] = []  # the turn so far, as chat messages: inputs of the next call
        self.answer: list[dict] = []  # what the model wrote since the previous call
        self.total: dict | None = None  # the running total at the previous call

    def item(self, payload: dict) -> None:
        kind, role = payload.get("type"), payload.get("role")
        if kind == "message" and role == "assistant":
            self.answer.append({"role": "assistant", "content": content_text(payload.get("content"))})
        elif kind in ("function_call", "custom_tool_call", "local_shell_call"):
            arguments = payload.get("arguments", payload.get("input", payload.get("action")))
            self.answer.append({"role": "assistant", "content": None, "tool_calls": [{
                "id": payload.get("call_id"), "type": "function", "function": {
                    "name": payload.get("name") or kind,
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)}}]})
        elif kind in ("function_call_output", "custom_tool_call_output", "local_shell_call_output"):
            self._settle_answer()
            output = payload.get("output")
            output = output.get("content") if isinstance(output, dict) else output
            self.turn.append({"role": "tool", "tool_call_id": payload.get("call_id"),
                              "content": output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)})

    def user_message(self, payload: dict) -> None:
        message = payload.get("message")
        self.prompt = message if isinstance(message, str) and message.strip() else self.prompt
        self.turn = [{"role": "user", "content": message}] if isinstance(message, str) else []
        self.answer = []

    def _settle_answer(self) -> None:
        """The model's writing since the last call becomes part of the turn (the next call's input)."""
        self.turn.extend(self.answer)
        self.answer = []

    def call(self, number: int, stamp: Any, info: dict) -> dict | Skipped:
        total = info.get("total_token_usage") if isinstance(info.get("total_token_usage"), dict) else None
        if total is not None and total == self.total:
            return Skipped(number, "a token count written again for the same call")
        last = info.get("last_token_usage")
        counts = last if isinstance(last, dict) and last else _difference(total, self.total) if total else {}
        self.total = total if total is not None else self.total
        record: dict = {
            "model": self.model, "provider": self.provider or guess_provider(self.model) or "openai",
            "created_at": to_utc(stamp), "status": "ok", "trace_id": self.meta.get("id"),
            "tags_json": self._tags(), **_usage(counts),
            # A line without its time (older rollouts) is keyed on its session and line instead.
            "_dedupe_key": f"codex|{stamp or (self.meta.get('id'), number)}|{json.dumps(total or counts, sort_keys=True)}",
        }
        answer = [m["content"] or json.dumps(m.get("tool_calls"), ensure_ascii=False) for m in self.answer]
        record["response_text"] = "\n".join(a for a in answer if a) or None
        if self.prompt is not None:
            record.update(prompt_text=self.prompt, messages_json=list(self.turn) or [{"role": "user", "content": self.prompt}])
        self._settle_answer()
        return record

    def _tags(self) -> dict | None:
        source: dict = self.meta["source"] if isinstance(self.meta.get("source"), dict) else {}
        subagent = source.get("subagent") if isinstance(source.get("subagent"), dict) else None
        tags = {"agent": "codex", "cwd": self.meta.get("cwd"), "codex_version": self.meta.get("cli_version"),
                "originator": self.meta.get("originator"), "effort": self.effort,
                "subagent": bool(subagent or self.meta.get("parent_thread_id")) or None}
        return {k: v for k, v in tags.items() if v not in (None, "")} or None


class CodexRollout:
    """Codex CLI session rollouts: a row per model call (a token count), with the turn before it as its prompt."""

    name = "codex-cli"
    label = "a Codex CLI session rollout"
    order = 50
    skipped_hint = ("a rollout's messages, reasoning, tool calls and events are skipped; its model calls are its "
                    "token_count events, and a session without any made none")

    def sniff(self, src) -> int:
        records = head_records(src)
        if any(is_rollout_line(r) and r["type"] == "session_meta" for r in records):
            return 95
        return 85 if records and all(is_rollout_line(r) for r in records) else 0

    def parse(self, src, ctx):
        rollout = Rollout()
        for number, obj in json_values(src):
            if isinstance(obj, Reject):
                yield obj
                continue
            if not is_rollout_line(obj):
                yield Reject(number, "expected a Codex rollout line (a type and a payload object)", excerpt(obj))
                continue
            try:
                yield self._line(rollout, number, obj)
            except (ValueError, TypeError, AttributeError) as exc:
                yield Reject(number, f"unreadable Codex rollout line ({exc})", excerpt(obj))

    @staticmethod
    def _line(rollout: Rollout, number: int, obj: dict) -> dict | Skipped:
        kind, payload = obj["type"], obj["payload"]
        if kind == "session_meta":
            rollout.meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else payload
            rollout.model = rollout.model or rollout.meta.get("model")
            rollout.provider = rollout.provider or rollout.meta.get("model_provider")
        elif kind == "turn_context":
            rollout.model = payload.get("model") or rollout.model
            rollout.provider = payload.get("model_provider") or rollout.provider
            rollout.effort = payload.get("effort") or payload.get("reasoning_effort") or rollout.effort
        elif kind == "response_item":
            rollout.item(payload)
        elif kind == "event_msg" and payload.get("type") == "user_message":
            rollout.user_message(payload)
        elif kind == "event_msg" and payload.get("type") == "token_count" and isinstance(payload.get("info"), dict):
            return rollout.call(number, obj.get("timestamp"), payload["info"])
        return Skipped(number, f"a Codex {payload.get('type') or kind} line, not a model call")


register(CodexRollout())
