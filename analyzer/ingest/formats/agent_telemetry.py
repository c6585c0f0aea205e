"""Coding agents' own OpenTelemetry events, read by ``otel`` among log records: Claude Code's
``claude_code.api_request`` (with its estimated ``cost_usd``), Codex CLI's ``codex.sse_event`` of kind
``response.completed`` and Gemini CLI's ``gemini_cli.api_response``, one event per model call with its model,
tokens and duration. Teams collect them with an OpenTelemetry collector (``CLAUDE_CODE_ENABLE_TELEMETRY=1``, Codex's
``[otel]`` table, Gemini CLI's ``telemetry`` settings) and its file exporter writes them as OTLP JSON.

Gemini CLI logs the request's contents (``gemini_cli.api_request``, ``request_text``) and the whole response
(``response_text``) when it logs prompts: the call's conversation, answer and response id. Otherwise the telemetry
holds no answer, and the prompt is the agent's ``*.user_prompt`` event when the agent was told to log prompts
(``OTEL_LOG_USER_PROMPTS=1``, ``log_user_prompt``, ``logPrompts``): the one with the call's prompt id, else the
session's latest prompt at or before the call. Every model call of a turn (tool loops, subagents, the small model's
routing and housekeeping calls) is a row of its own, as it is billed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..records import Skipped, maybe_json, to_utc
from .app_log import first_value
from .gemini import gemini_record
from .generic import chat_request_fields, guess_provider, split_conversation, to_float, usage_fields
from .otel_spans import LogEvent

REDACTED = {"<REDACTED>", "[REDACTED]", "REDACTED", "redacted"}


def _claude_usage(a: dict) -> dict:
    # Anthropic's terms: input_tokens leaves out cache reads and writes.
    return usage_fields({"input_tokens": a.get("input_tokens"), "output_tokens": a.get("output_tokens"),
                         "cache_read_input_tokens": a.get("cache_read_tokens"),
                         "cache_creation_input_tokens": a.get("cache_creation_tokens")})


def _codex_usage(a: dict) -> dict:
    # The Responses API's terms: input includes the cached tokens, output the reasoning.
    return usage_fields({"input_tokens": a.get("input_token_count"), "output_tokens": a.get("output_token_count"),
                         "input_tokens_details": {"cached_tokens": a.get("cached_token_count")},
                         "output_tokens_details": {"reasoning_tokens": a.get("reasoning_token_count")}})


def _gemini_usage(a: dict) -> dict:
    # generateContent's terms: thinking is billed as output, the tool-use prompt as input.
    return usage_fields({"promptTokenCount": a.get("input_token_count"), "candidatesTokenCount": a.get("output_token_count"),
                         "cachedContentTokenCount": a.get("cached_content_token_count"),
                         "thoughtsTokenCount": a.get("thoughts_token_count"),
                         "toolUsePromptTokenCount": a.get("tool_token_count")})


def _gemini_answer(attrs: dict) -> tuple[str | None, str | None]:
    """(answer, response id) from ``response_text``: the GenerateContentResponse, or a streamed answer's chunks."""
    response = maybe_json(attrs.get("response_text"))
    if not isinstance(response, (dict, list)):
        return None, None
    read = gemini_record(None, response, {})
    return read.get("response_text"), read.get("source_id")


@dataclass(frozen=True)
class Agent:
    name: str
    call: str  # the event of a model call
    prompt: str  # the event of a person's prompt
    provider: str  # when the model's name does not say
    tokens: Callable[[dict], dict]
    session: tuple[str, ...]
    prompt_id: tuple[str, ...] = ()
    call_id: tuple[str, ...] = ()
    is_call: Callable[[dict], bool] = lambda attrs: True
    request: str | None = None  # the event that logs a call's request body (``request_text``) before its call event
    answer: Callable[[dict], tuple[str | None, str | None]] | None = None  # (answer, response id) of a call event


AGENTS = (
    Agent("claude-code", "claude_code.api_request", "claude_code.user_prompt", "anthropic", _claude_usage,
          session=("session.id",), prompt_id=("prompt.id",), call_id=("request_id",)),
    Agent("codex", "codex.sse_event", "codex.user_prompt", "openai", _codex_usage,
          session=("conversation.id",), call_id=("response.id",),
          is_call=lambda attrs: attrs.get("event.kind") == "response.completed"),
    Agent("gemini-cli", "gemini_cli.api_response", "gemini_cli.user_prompt", "google", _gemini_usage,
          session=("session.id",), prompt_id=("prompt_id", "prompt.id"), request="gemini_cli.api_request",
          answer=_gemini_answer),
)
_BY_EVENT = {name: (agent, kind) for agent in AGENTS
             for name, kind in ((agent.call, "call"), (agent.prompt, "prompt"), (agent.request, "request")) if name}


def agent_event(event: LogEvent) -> tuple[Agent, str] | None:
    """(agent, 'call'|'prompt'|'request') of an agent's event. Claude Code names it in the body and shortly in
    ``event.name`` (``api_request``); a record with only the short name is Claude Code's when its service or scope
    says so, or its attributes are Claude Code's own (cache token counts, a prompt's length and id)."""
    body = event.fields.get("content")
    for name in (event.name, body if isinstance(body, str) else None):
        if name in _BY_EVENT:
            return _BY_EVENT[name]
    if f"claude_code.{event.name}" in _BY_EVENT and _is_claude_code(event):
        return _BY_EVENT[f"claude_code.{event.name}"]
    return None


def _is_claude_code(event: LogEvent) -> bool:
    attrs = event.attributes
    return (event.resource.get("service.name") == "claude-code" or str(event.scope or "").startswith("com.anthropic.claude_code")
            or "cache_read_tokens" in attrs or "cache_creation_tokens" in attrs or {"prompt_length", "prompt.id"} <= attrs.keys())


class AgentPrompts:
    """The prompts of a file's agent events, by prompt id and by session (in time order). A prompt the agent did
    not log (redacted, or only its length) is None: its calls have no prompt rather than an earlier one. And the
    request bodies an agent logs before its calls, by prompt id and model in file order (``request``)."""

    def __init__(self) -> None:
        self.by_id: dict[str, str | None] = {}
        self.by_session: dict[str, list[tuple[Any, str | None]]] = {}
        self.requests: dict[tuple, list[Any]] = {}

    def see(self, event: LogEvent) -> None:
        found = agent_event(event)
        if found is not None and found[1] == "request":
            key = (found[0].name, first_value(event.attributes, found[0].prompt_id), event.attributes.get("model"))
            self.requests.setdefault(key, []).append(event.attributes.get("request_text"))
        if found is None or found[1] != "prompt":
            return
        agent, attrs = found[0], event.attributes
        text = attrs.get("prompt")
        if not isinstance(text, str) or not text.strip() or text.strip() in REDACTED:
            text = None
        prompt_id, session = first_value(attrs, agent.prompt_id), first_value(attrs, agent.session)
        if prompt_id is not None:
            self.by_id[str(prompt_id)] = self.by_id.get(str(prompt_id)) or text
        if session is not None:
            self.by_session.setdefault(str(session), []).append((_when(event), text))

    def of(self, agent: Agent, attrs: dict, when) -> str | None:
        prompt_id = first_value(attrs, agent.prompt_id)
        if prompt_id is not None and str(prompt_id) in self.by_id:
            return self.by_id[str(prompt_id)]
        if prompt_id is not None and self.by_id:
            return None  # the agent links its calls to prompts, and this call's prompt is not in the file
        earlier = [(t, text) for t, text in self.by_session.get(str(first_value(attrs, agent.session)), [])
                   if t is None or when is None or t <= when]
        return max(earlier, key=lambda p: (p[0] is not None, p[0] or 0))[1] if earlier else None

    def request(self, agent: Agent, attrs: dict) -> Any:
        """The earliest request body not yet given to a call of the same prompt and model."""
        waiting = self.requests.get((agent.name, first_value(attrs, agent.prompt_id), attrs.get("model")))
        return waiting.pop(0) if waiting else None


def _when(event: LogEvent):
    stamp = event.attributes.get("event.timestamp")
    return to_utc(stamp) if stamp not in (None, "") else event.time


def agent_record(number: int, event: LogEvent, prompts: AgentPrompts) -> dict | Skipped | None:
    """The request an agent's call event stands for; a Skipped for its other events; None when it is not an
    agent's event."""
    found = agent_event(event)
    if found is None:
        return None
    agent, kind = found
    attrs = event.attributes
    if kind != "call" or not agent.is_call(attrs):
        return Skipped(number, f"a {agent.name} telemetry event, not a model call")
    model, when, session = attrs.get("model"), _when(event), first_value(attrs, agent.session)
    status = attrs.get("status_code")
    record: dict = {
        "source_id": first_value(attrs, agent.call_id), "trace_id": session, "model": model,
        "provider": guess_provider(model) or agent.provider, "created_at": when, "operation": "chat",
        "duration_ms": to_float(attrs.get("duration_ms"), "duration_ms"),
        "cost_usd": to_float(attrs.get("cost_usd"), "cost_usd"),
        "status": "error" if attrs.get("error") or (status not in (None, "") and str(status) != "200") else "ok",
        "user_id": first_value(attrs, ("user.account_uuid", "user.account_id", "user.id", "user.email")),
        "tags_json": _tags(agent, attrs, event),
        **agent.tokens(attrs),
    }
    _conversation(record, agent, attrs, prompts, when)
    if agent.answer is not None:
        record["response_text"], response_id = agent.answer(attrs)
        record["source_id"] = record["source_id"] or response_id
    sequence = attrs.get("event.sequence")
    if record["source_id"] is not None:
        record["_dedupe_key"] = f"{agent.name}|{record['source_id']}"
    elif session is not None and sequence is not None:
        record["_dedupe_key"] = f"{agent.name}|{session}|{sequence}"
    record["_line"] = number
    return record


def _conversation(record: dict, agent: Agent, attrs: dict, prompts: AgentPrompts, when) -> None:
    """The call's messages from the request body its agent logged, else the person's prompt alone."""
    contents = maybe_json(prompts.request(agent, attrs))
    messages = chat_request_fields({"contents": contents}).get("messages_json") if isinstance(contents, list) else None
    if messages:
        system, prompt = split_conversation(messages)
        record.update(messages_json=messages, system_prompt=system, prompt_text=prompt)
        return
    asked = prompts.of(agent, attrs, when)
    if asked is not None:
        record.update(messages_json=[{"role": "user", "content": asked}], prompt_text=asked)


def _tags(agent: Agent, attrs: dict, event: LogEvent) -> dict:
    tags = {"agent": agent.name, "session": first_value(attrs, agent.session), "prompt_id": first_value(attrs, agent.prompt_id),
            "version": first_value({**event.resource, **attrs}, ("app.version", "service.version")),
            "query_source": attrs.get("query_source"), "subagent": attrs.get("agent.name"),
            "terminal": attrs.get("terminal.type"), "organization": attrs.get("organization.id")}
    return {k: v for k, v in tags.items() if v not in (None, "")}
