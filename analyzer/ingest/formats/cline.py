"""Cline task histories (format ``cline``): a task's ``ui_messages.json``, as Cline and its forks (Roo Code, Kilo
Code) keep it under ``tasks/<task id>/``.

The file is one JSON list of the messages the extension showed (``{"ts", "type": "say"|"ask", "say"|"ask", "text",
"modelInfo"}``). Each API request is one ``say: "api_req_started"`` message whose ``text`` is JSON: ``request`` (the
user turn sent: the task, tool results, the person's feedback), ``tokensIn``, ``tokensOut``, ``cacheWrites``,
``cacheReads`` and ``cost`` (USD, as the extension computed it or the gateway returned it), filled in when the
answer has streamed; ``cancelReason`` and ``streamingFailedMessage`` when it did not.

- **Tokens.** ``tokensIn`` leaves the cache reads and writes out (Anthropic's convention, which Cline follows for
  every provider), so the input is their sum; Roo Code marks the requests it counted the OpenAI way
  (``apiProtocol: "openai"``: ``tokensIn`` already holds the cached tokens).
- **The answer** is what the model wrote after the request: its text, its final result, its questions, and its tool
  and command requests (as ``[tool NAME: PATH]`` / ``[command: ...]``); its reasoning is not the answer.
- **The conversation** is the task's turn so far: each request since the person last wrote (the task or their
  feedback) and the answers between them. Cline's system prompt and tool definitions are not in the file, so
  replays lack them. ``prompt_text`` is what the person wrote.
- The model is ``modelInfo.modelId`` (Cline before 3.17 wrote none: the row's model is unknown, its logged cost
  still counts). A request with no cost written is priced from the catalog.
- Every other message (the answer's pieces, checkpoints, command output, retries) is skipped and counted. A request
  is keyed on its time and text, so an earlier copy of the same task (a snapshot) adds nothing.
"""

from __future__ import annotations

import json
from typing import Any

from ..coerce import as_int
from ..records import Reject, Skipped, content_hash, excerpt, head_objects, to_utc
from . import register
from .generic import file_kind, guess_provider, iter_rows, to_float

REQUEST = "api_req_started"
# Cline's provider ids that name an API plan prices under another name; others are taken as they are.
PROVIDERS = {"openai-native": "openai", "cline": "openrouter", "gemini": "google", "vertex": "google",
             "claude-code": "anthropic", "lmstudio": "ollama"}
CANCELED = {"user_cancelled": "canceled", "streaming_failed": "error"}
ANSWER_SAYS = ("text", "completion_result")
PERSON_SAYS = ("task", "user_feedback")


def is_ui_message(obj: Any) -> bool:
    return (isinstance(obj, dict) and isinstance(obj.get("ts"), (int, float)) and obj.get("type") in ("say", "ask")
            and isinstance(obj.get(obj["type"]), str))


def request_info(message: dict) -> dict:
    info = json.loads(message.get("text") or "{}")
    if not isinstance(info, dict):
        raise ValueError("an api_req_started message whose text is not a JSON object")
    return info


def _count(info: dict, key: str) -> int | None:
    """A count Cline wrote (a JSON number: a numeric string is not one of its counts)."""
    value = info.get(key)
    if isinstance(value, str):
        raise ValueError(f"{key} is not a count: {value!r}")
    return as_int(value, key)


def token_fields(info: dict) -> dict:
    tokens_in, out = _count(info, "tokensIn"), _count(info, "tokensOut")
    writes, reads = _count(info, "cacheWrites"), _count(info, "cacheReads")
    if tokens_in is None and out is None:
        return {}
    cached = reads or 0
    written = writes or 0
    total_in = (tokens_in or 0) if info.get("apiProtocol") == "openai" else (tokens_in or 0) + cached + written
    return {"input_tokens": total_in, "output_tokens": out, "cached_input_tokens": cached or None,
            "cache_write_tokens": written or None}


def answer_piece(message: dict) -> str | None:
    """What one message after a request adds to the model's answer (None: not the model's words)."""
    kind, text = message.get(message["type"]), message.get("text")
    if not isinstance(text, str):
        return None
    if message["type"] == "say" and kind in ANSWER_SAYS:
        return text or None
    if kind in ("tool", "command", "followup", "plan_mode_respond"):
        if kind == "command":
            return f"[command: {text}]" if text else None
        try:
            data = json.loads(text)
        except ValueError:
            return text or None
        if not isinstance(data, dict):
            return text or None
        if kind == "tool":
            if message["type"] == "ask" or not data.get("tool"):
                return None  # the ask repeats the say it follows (approval), or holds no call
            return f"[tool {data['tool']}: {data.get('path') or ''}]".replace(": ]", "]")
        said = data.get("question") or data.get("response")
        return said if isinstance(said, str) and said else None
    return None


def person_words(message: dict) -> str | None:
    if message["type"] == "say" and message.get("say") in PERSON_SAYS and isinstance(message.get("text"), str):
        return message["text"] or None
    return None


def task_text(request: str) -> str | None:
    """The person's task inside the first request (``<task>...</task>``), when the file has no ``say: task``."""
    start, end = request.find("<task>"), request.find("</task>")
    return request[start + 6:end].strip() or None if 0 <= start < end else None


class Task:
    """The requests of one task file, each completed by the answer that follows it."""

    def __init__(self):
        self.pending: dict | None = None
        self.answer: list[str] = []
        self.turn: list[dict] = []
        self.person: str | None = None

    def person_wrote(self, text: str) -> None:
        self.person = text
        self.turn = []

    def start(self, number: int, message: dict, info: dict) -> dict | None:
        """The request that starts here (read whole first: one that cannot be read leaves the previous one pending),
        and the previous request, now answered."""
        request: str = info["request"] if isinstance(info.get("request"), str) else ""
        model_info: dict = message["modelInfo"] if isinstance(message.get("modelInfo"), dict) else {}
        model = model_info.get("modelId") if isinstance(model_info.get("modelId"), str) else None
        named = str(model_info.get("providerId") or "").lower()
        status = "error" if info.get("streamingFailedMessage") else CANCELED.get(str(info.get("cancelReason")), "ok")
        record = {
            "_line": number, "_dedupe_key": f"cline|{message['ts']}|{content_hash(request)}",
            "created_at": to_utc(message["ts"]), "model": model or None,
            "provider": PROVIDERS.get(named) or guess_provider(model) or named or None,
            "cost_usd": to_float(info.get("cost"), "cost"), "status": status,
            "tags_json": {k: v for k, v in {"mode": model_info.get("mode"),
                                             "api_protocol": info.get("apiProtocol")}.items() if v} or None,
            **token_fields(info),
        }
        done = self.finish()
        task = task_text(request)
        if self.person is None and task:
            self.person_wrote(task)
        self.turn.append({"role": "user", "content": request})
        record.update(prompt_text=self.person or request or None, messages_json=list(self.turn))
        self.pending, self.answer = record, []
        return done

    def finish(self) -> dict | None:
        record, self.pending = self.pending, None
        if record is None:
            return None
        text = "\n".join(self.answer) or None
        record["response_text"] = text
        if text:
            self.turn.append({"role": "assistant", "content": text})
        return record


class Cline:
    """Cline (and Roo Code, Kilo Code) task histories: a row per API request."""

    name = "cline"
    label = "a Cline task history (ui_messages.json)"
    order = 50
    skipped_hint = "each API request is one api_req_started message; the messages around it are skipped"

    def sniff(self, src) -> int:
        if file_kind(src) != "json":
            return 0
        head = head_objects(src)
        if head and all(is_ui_message(m) for m in head) and any(m.get("say") in (REQUEST, "task") for m in head):
            return 96
        return 70 if head and is_ui_message(head[0]) else 0

    def parse(self, src, ctx):
        task = Task()
        for number, message in iter_rows(src):
            if isinstance(message, Reject):
                yield message
                continue
            if not is_ui_message(message):
                yield Reject(number, "expected a Cline message (ts, type say/ask)", excerpt(message))
                continue
            if message.get("say") == REQUEST:
                try:
                    info = request_info(message)
                    done = task.start(number, message, info)
                except (ValueError, TypeError) as exc:
                    yield Reject(number, f"unreadable api_req_started ({exc})", excerpt(message))
                    continue
                if done is not None:
                    yield done
                continue
            words = person_words(message)
            if words is not None:
                yield from _finished(task)
                task.person_wrote(words)
            elif task.pending is not None:
                piece = answer_piece(message)
                if piece:
                    task.answer.append(piece)
            yield Skipped(number, f"a Cline {message['type']} message ({message.get(message['type'])}), not an API request")
        yield from _finished(task)


def _finished(task: Task):
    done = task.finish()
    if done is not None:
        yield done


register(Cline())
