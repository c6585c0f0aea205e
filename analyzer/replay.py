"""Replay: send a seeded, stratified sample of each top category's requests to a local model.

The experiment the article asks for: the same prompts, through the local model, next to what the frontier
API answered. It is

- **faithful**: the same system prompt and conversation, with temperature, the max-token limit,
  ``response_format``/JSON mode, tools, tool choice, stop sequences and penalties carried over. What cannot
  be carried (images, audio, files, provider-only parameters such as Anthropic's ``top_k`` or ``thinking``,
  server-side tools, prompt-cache markers) is dropped, counted and stored per call in ``not_carried_json``;
- **comparable**: only requests the frontier answered are sampled; guardrail-blocked (status ``blocked``,
  finish reason ``content_filter``), errored and empty ones are left out and counted;
- **reproducible**: the sample per category is ordered by ``md5(seed:request_id)``, distinct prompts first;
  a larger ``--per-category`` extends the same sample;
- **honest about failures**: a failed call is stored as an error, never as an answer, with its class:
  ``transient`` (timeouts, dropped connections, 429, 5xx: a rerun retries it) or ``deterministic`` (the
  endpoint refuses the request as it is). When the endpoint refuses a request field, the call is retried once
  per step of :mod:`analyzer.fallbacks` (``json_schema`` becomes JSON mode with the schema in the system
  message, unsupported ``tools`` are dropped, ...), and the steps are stored on the row;
- **resumable**: each call's row is committed the moment it ends, and a rerun skips every request already
  answered for that model, so Ctrl-C or kill loses at most the calls in flight. Failed calls are retried on
  the next run;
- **private**: the endpoint must resolve to loopback unless ``allow_remote``.

Entry point: ``replay(con, settings, *, progress, say)``; it returns the ``plan replay --json`` payload.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from . import db
from .config import setting
from .endpoints import EMBEDDED, ensure_local, resolve_endpoint, resolve_model
from .errors import PlanError
from .fallbacks import MAX_STEPS, adapt, describe, step_for
from .llm_client import (DEFAULT_BACKOFF_S, DEFAULT_RETRIES, ERROR_CLASSES, TRANSIENT, ChatResult, LLMError, achat,
                         alist_models, error_class, unreachable_message)
from .progress import Say, say_nothing
from .settings import StageSettings, at_least, fraction, option
from .stats import sample_size_for_margin

if TYPE_CHECKING:
    import duckdb

DEFAULT_PER_CATEGORY = 30
CONTEXT_EXCEEDED = "context_exceeded"  # error_kind of a request too long for the endpoint's window (not sent)
CHARS_PER_TOKEN = 4
DEFAULT_CONCURRENCY = 4
DEFAULT_TIMEOUT_S = 600.0

# Standard OpenAI chat parameters every target server (Ollama, llama.cpp, vLLM, LM Studio) accepts.
CARRIED = ("temperature", "top_p", "max_tokens", "presence_penalty", "frequency_penalty", "stop", "seed",
           "response_format", "tools", "tool_choice", "parallel_tool_calls")
RENAMED = {
    "max_completion_tokens": "max_tokens", "max_output_tokens": "max_tokens", "maxTokens": "max_tokens",
    "stop_sequences": "stop", "stopSequences": "stop", "topP": "top_p",
}
# Bookkeeping that does not change the answer: dropped without comment.
IGNORED = {"model", "messages", "system", "stream", "stream_options", "user", "metadata", "store", "service_tier",
           "prompt_cache_key", "safety_identifier", "anthropic_version", "input", "instructions", "n",
           "logprobs", "top_logprobs", "prediction", "previous_response_id", "truncation", "background"}
TEXT_PART_TYPES = {"text", "input_text", "output_text"}
MEDIA_KINDS = {
    "image_url": "image", "image": "image", "input_image": "image",
    "input_audio": "audio", "audio": "audio",
    "file": "file", "input_file": "file", "document": "file", "video": "video",
    "thinking": "thinking_block", "redacted_thinking": "thinking_block", "reasoningContent": "thinking_block",
}


def replay_id(request_id: int, model: str) -> int:
    digest = hashlib.blake2b(f"{request_id}\x1f{model}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFFFFFFFFFF


# ---------------------------------------------------------------- faithful request building

def _loads(value):
    if value is None or value == "":
        return None
    if isinstance(value, (dict, list)):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def _content_text(content, lost: Counter) -> str:
    """Message content as plain text; media and provider-only blocks are dropped and counted in ``lost``."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return str(content)
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            continue
        if "cache_control" in part or "cachePoint" in part:
            lost["cache_control"] += 1
        kind = part.get("type")
        if kind in TEXT_PART_TYPES or (kind is None and isinstance(part.get("text"), str)):
            texts.append(str(part.get("text") or ""))
        elif kind == "refusal":
            texts.append(str(part.get("refusal") or ""))
        elif kind in MEDIA_KINDS or any(k in part for k in ("image", "document", "video", "reasoningContent")):
            lost[MEDIA_KINDS.get(str(kind)) or next(MEDIA_KINDS[k] for k in ("image", "document", "video", "reasoningContent") if k in part)] += 1
        elif kind == "tool_result" or "toolResult" in part:
            texts.append(_content_text((part.get("toolResult") or part).get("content"), lost))
        elif kind is None and "cachePoint" in part:
            pass
        else:
            lost[f"content:{kind}"] += 1
    return "\n".join(t for t in texts if t)


def _tool_call(call_id, name, arguments) -> dict:
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
    return {"id": str(call_id or f"call_{name}"), "type": "function", "function": {"name": str(name or ""), "arguments": arguments}}


def _convert_message(msg: dict, lost: Counter) -> list[dict]:
    """One logged message (OpenAI, Anthropic or Bedrock block shapes) -> OpenAI chat messages."""
    role = msg.get("role")
    if role is None and msg.get("type") == "function_call":  # Responses API item
        return [{"role": "assistant", "content": "", "tool_calls": [_tool_call(msg.get("call_id"), msg.get("name"), msg.get("arguments"))]}]
    if role is None and msg.get("type") == "function_call_output":
        return [{"role": "tool", "tool_call_id": str(msg.get("call_id") or ""), "content": _content_text(msg.get("output"), lost)}]
    if role in ("system", "developer"):
        return [{"role": "system", "content": _content_text(msg.get("content"), lost)}]
    content = msg.get("content")
    blocks = content if isinstance(content, list) else []
    tool_uses = [b for b in blocks if isinstance(b, dict) and (b.get("type") == "tool_use" or "toolUse" in b)]
    tool_results = [b for b in blocks if isinstance(b, dict) and (b.get("type") == "tool_result" or "toolResult" in b)]
    rest = [b for b in blocks if b not in tool_uses and b not in tool_results] if blocks else content
    if role == "assistant":
        reply: dict = {"role": "assistant", "content": _content_text(rest, lost)}
        calls = [_tool_call(c.get("id") or c.get("call_id"), c.get("name") or c.get("function", {}).get("name"),
                            (c.get("function") or {}).get("arguments") if "function" in c else c.get("arguments"))
                 for c in (msg.get("tool_calls") or []) if isinstance(c, dict)]
        for block in tool_uses:
            use = block.get("toolUse") or block
            calls.append(_tool_call(use.get("id") or use.get("toolUseId"), use.get("name"), use.get("input")))
        if msg.get("function_call"):
            fc = msg["function_call"]
            calls.append(_tool_call(f"call_{fc.get('name')}", fc.get("name"), fc.get("arguments")))
        if calls:
            reply["tool_calls"] = calls
        return [reply]
    if role in ("tool", "function"):
        return [{"role": "tool", "tool_call_id": str(msg.get("tool_call_id") or msg.get("name") or ""),
                 "content": _content_text(content, lost)}]
    # user (or an unknown role, sent as user)
    if role not in (None, "user"):
        lost[f"role:{role}"] += 1
    out: list[dict] = []
    for block in tool_results:
        result = block.get("toolResult") or block
        out.append({"role": "tool", "tool_call_id": str(result.get("tool_use_id") or result.get("toolUseId") or ""),
                    "content": _content_text(result.get("content"), lost)})
    text = _content_text(rest, lost)
    if text or not out:
        user: dict = {"role": "user", "content": text}
        if isinstance(msg.get("name"), str):
            user["name"] = msg["name"]
        out.append(user)
    return out


def _convert_tool(tool, lost: Counter) -> dict | None:
    if not isinstance(tool, dict):
        return None
    kind = tool.get("type")
    if kind == "function" and isinstance(tool.get("function"), dict):
        return {"type": "function", "function": tool["function"]}
    if kind == "function" and tool.get("name"):  # Responses API, flat
        fn = {k: tool[k] for k in ("name", "description", "parameters", "strict") if k in tool}
        return {"type": "function", "function": fn}
    if "toolSpec" in tool:  # Bedrock Converse
        spec = tool["toolSpec"]
        schema = (spec.get("inputSchema") or {}).get("json") or {"type": "object", "properties": {}}
        return {"type": "function", "function": {"name": spec.get("name"), "description": spec.get("description", ""), "parameters": schema}}
    if tool.get("name") and "input_schema" in tool and kind in (None, "custom"):  # Anthropic client tool
        return {"type": "function", "function": {"name": tool["name"], "description": tool.get("description", ""),
                                                 "parameters": tool["input_schema"]}}
    lost[f"server_tool:{kind or tool.get('name') or 'unknown'}"] += 1
    return None


def _convert_tool_choice(choice, tool_names: set[str]):
    if isinstance(choice, str):
        return {"any": "required"}.get(choice, choice) if choice in ("auto", "none", "required", "any") else None
    if not isinstance(choice, dict):
        return None
    if "auto" in choice:
        return "auto"
    if "any" in choice:
        return "required"
    kind = choice.get("type")
    if kind in ("auto", "none", "required"):
        return kind
    if kind == "any":
        return "required"
    name = (choice.get("function") or {}).get("name") or choice.get("name") or (choice.get("tool") or {}).get("name")
    if name and name in tool_names:
        return {"type": "function", "function": {"name": name}}
    return None


def _convert_response_format(params: dict):
    fmt = params.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema", "text"):
        return fmt
    text = params.get("text")  # Responses API: text.format
    if isinstance(text, dict) and isinstance(text.get("format"), dict):
        f = text["format"]
        if f.get("type") == "json_schema":
            return {"type": "json_schema", "json_schema": {k: f[k] for k in ("name", "schema", "strict", "description") if k in f}}
        if f.get("type") in ("json_object", "text"):
            return {"type": f["type"]}
    return None


def _replay_messages(row: dict, lost: Counter) -> list[dict]:
    """The logged conversation as OpenAI chat messages, with the system prompt, ending before the frontier's answer."""
    raw = _loads(row.get("messages_json"))
    if isinstance(raw, dict):
        raw = raw.get("messages") or raw.get("input") or raw.get("prompt")
    if isinstance(raw, str):
        raw = [{"role": "user", "content": raw}]
    messages: list[dict] = []
    for msg in raw if isinstance(raw, list) else []:
        if isinstance(msg, dict):
            messages.extend(_convert_message(msg, lost))
        elif isinstance(msg, str):
            messages.append({"role": "user", "content": msg})
    if not messages and row.get("prompt_text"):
        messages = [{"role": "user", "content": str(row["prompt_text"])}]
    system = row.get("system_prompt")
    if system and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": str(system)})
    # A logged conversation that already ends with the frontier's own answer would ask the model to continue it.
    response = row.get("response_text")
    if len(messages) > 1 and messages[-1]["role"] == "assistant" and response and messages[-1].get("content") == response:
        messages.pop()
    return messages


def _logged_params(row: dict, lost: Counter) -> tuple[dict, dict]:
    """(the logged parameters, flattened; the standard ones among them, renamed), counting what is dropped."""
    logged = _loads(row.get("params_json"))
    logged = logged if isinstance(logged, dict) else {}
    for nested in ("inferenceConfig", "generationConfig"):  # Bedrock Converse, Gemini-style
        if isinstance(logged.get(nested), dict):
            logged = {**logged[nested], **{k: v for k, v in logged.items() if k != nested}}
    params: dict = {}
    for key, value in logged.items():
        if value is None:
            continue
        target = RENAMED.get(key, key)
        if target in CARRIED:
            params.setdefault(target, value)
        elif key == "n":
            if isinstance(value, int) and value > 1:
                lost["n_reduced_to_1"] += 1
        elif key not in IGNORED and key not in ("text", "toolConfig", "functions", "function_call"):
            lost[f"param:{key}"] += 1
    if isinstance(logged.get("functions"), list) and "tools" not in params:  # legacy OpenAI function calling
        params["tools"] = [{"type": "function", "function": f} for f in logged["functions"] if isinstance(f, dict)]
        fc = logged.get("function_call")
        if fc is not None:
            params["tool_choice"] = fc if isinstance(fc, str) else {"type": "function", "function": {"name": fc.get("name")}}
    if isinstance(logged.get("toolConfig"), dict):  # Bedrock Converse keeps tools here
        params.setdefault("tools", logged["toolConfig"].get("tools"))
        if logged["toolConfig"].get("toolChoice"):
            params.setdefault("tool_choice", logged["toolConfig"]["toolChoice"])
    return logged, params


def _carry_format_and_tools(logged: dict, params: dict, lost: Counter) -> None:
    """response_format, tools and tool_choice in the OpenAI shapes every target server reads."""
    fmt = _convert_response_format({**logged, **params})
    if fmt:
        params["response_format"] = fmt
    elif "response_format" in params:
        lost["param:response_format"] += 1
        del params["response_format"]
    if "tools" in params:
        tools = [t for t in (_convert_tool(t, lost) for t in (params["tools"] or [])) if t]
        if tools:
            params["tools"] = tools
        else:
            del params["tools"]
    names = {t["function"].get("name") for t in params.get("tools", [])}
    if "tool_choice" in params:
        choice = _convert_tool_choice(params["tool_choice"], names) if params.get("tools") else None
        if choice is None:
            if params.get("tools"):
                lost["param:tool_choice"] += 1
            del params["tool_choice"]
        else:
            params["tool_choice"] = choice
    if "parallel_tool_calls" in params and not params.get("tools"):
        del params["parallel_tool_calls"]


def _carry_limits(params: dict, lost: Counter, seed: int | None, max_output_tokens: int | None) -> None:
    """Stop sequences, token limit and seed as integers servers accept; the optional output cap applied."""
    if isinstance(params.get("stop"), list):
        params["stop"] = [s for s in params["stop"] if isinstance(s, str)][:4] or None
        if params["stop"] is None:
            del params["stop"]
    for key in ("max_tokens", "seed"):
        if key in params:
            try:
                params[key] = int(params[key])
            except (TypeError, ValueError):
                lost[f"param:{key}"] += 1
                del params[key]
    if max_output_tokens:
        if params.get("max_tokens") is None or params["max_tokens"] > max_output_tokens:
            if params.get("max_tokens") is not None:
                lost["max_tokens_capped"] += 1
            params["max_tokens"] = int(max_output_tokens)
    if seed is not None and "seed" not in params:
        params["seed"] = int(seed)  # reproducible sampling on servers that honour it


def build_replay_request(row: dict, *, seed: int | None = None, max_output_tokens: int | None = None) -> tuple[list[dict], dict, dict]:
    """(messages, params, not_carried) for one logged request.

    ``not_carried`` maps what was dropped to how often (``image``, ``param:top_k``, ``server_tool:web_search``,
    ``cache_control`` ...), plus ``max_tokens_capped`` when ``max_output_tokens`` lowered the logged limit.
    """
    lost: Counter = Counter()
    messages = _replay_messages(row, lost)
    logged, params = _logged_params(row, lost)
    _carry_format_and_tools(logged, params, lost)
    _carry_limits(params, lost, seed, max_output_tokens)
    return messages, params, dict(lost)


# ---------------------------------------------------------------- settings


def _positive(value) -> str | None:
    return None if value is None or value > 0 else "must be more than 0 seconds"


@dataclass(frozen=True)
class ReplaySettings(StageSettings):
    """Everything ``plan replay`` needs, resolved once (flag > environment > plan.toml [replay] > default).

    ``endpoint`` follows ``--endpoint`` > ``PLAN_ENDPOINT`` > ``OLLAMA_HOST`` > plan.toml > Ollama's default;
    ``params`` are fields added to every request (plan.toml [replay.params], then ``--param`` on top), for
    server switches a log cannot know, e.g. ``{"reasoning_effort": "none"}`` to stop Ollama's Qwen thinking.
    """

    section: ClassVar[str] = "replay"
    endpoint: str = option(None)
    model: str = option(None)
    per_category: int | None = option(None, convert=int, check=at_least(1))
    margin: float | None = option(None, convert=float, check=fraction())
    concurrency: int = option(DEFAULT_CONCURRENCY, convert=int, check=at_least(1))
    timeout: float = option(DEFAULT_TIMEOUT_S, convert=float, check=_positive)
    seed: int = option(0, convert=int)
    limit: int | None = option(None, convert=int, check=at_least(0))
    allow_remote: bool = option(False, convert=bool)
    stream: bool = option(True, convert=bool)
    include_other: bool = option(False, convert=bool)
    categories: tuple = option(default_factory=tuple, convert=tuple, flag="category")
    max_output_tokens: int | None = option(None, convert=int, check=at_least(1))
    gguf: str | None = option(None, key="serve.gguf")
    ctx: int | None = option(None, key="serve.ctx", convert=int)
    # The endpoint's context window in tokens, when known (the embedded server's is its --ctx): a prompt that
    # cannot fit is recorded as not replayable without a call (Ollama would cut it silently, llama.cpp refuse it).
    context_tokens: int | None = option(None, convert=int, check=at_least(1))
    params: dict = option(default_factory=dict, flag="param")
    retries: int = option(DEFAULT_RETRIES, convert=int, check=at_least(0))
    backoff: float = option(DEFAULT_BACKOFF_S, convert=float, check=at_least(0))

    @classmethod
    def resolve(cls, config: dict | None = None, **flags: Any) -> "ReplaySettings":
        config = config or {}
        if flags.get("per_category") is not None and flags.get("margin") is not None:
            raise PlanError("Give either --per-category or --margin, not both.")
        extra = flags.pop("params", None) or {}
        settings = super().resolve(config, **flags)
        per_category, margin = settings.per_category, settings.margin
        if flags.get("margin") is not None:
            per_category = None  # a margin on the command line beats a per_category in plan.toml
        elif per_category is not None:
            margin = None
        return dataclasses.replace(
            # Prompts leave the machine only on the command line's say-so, never a config file's.
            settings, allow_remote=bool(flags.get("allow_remote")),
            endpoint=resolve_endpoint(flags.get("endpoint"), config),
            model=resolve_model(flags.get("model"), config), per_category=per_category, margin=margin,
            params={**(setting(config, "replay.params") or {}), **extra},
        )

    def sample_size(self) -> tuple[int, float | None]:
        """(requests per category, the margin it was sized for)."""
        if self.margin is not None:
            try:
                return sample_size_for_margin(float(self.margin)), float(self.margin)
            except ValueError as exc:
                raise PlanError(f"--margin {self.margin}: {exc}.") from exc
        return int(self.per_category if self.per_category is not None else DEFAULT_PER_CATEGORY), None


# ---------------------------------------------------------------- sampling

# A request is comparable when the frontier answered it: not blocked by a guardrail, not failed, not empty.
BLOCKED_STATUSES = ("blocked", "content_filter", "content_filtered", "filtered", "refusal", "refused",
                    "guardrail_intervened", "moderated", "safety")
ERRORED_STATUSES = ("error", "errored", "failed", "failure", "no_response", "canceled", "cancelled", "expired",
                    "timeout", "timed_out", "pending", "rate_limited")
NOT_COMPARABLE = ("blocked", "errored", "empty")


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def frontier_outcome_sql(alias: str = "r") -> str:
    """SQL for why request ``alias`` has no frontier answer to compare with: 'blocked', 'errored', 'empty', or
    NULL when it has one. One definition for replay's sample and judge's cases."""
    status = f"lower(trim(coalesce({alias}.status, '')))"
    return (f"case when {status} in ({_quoted(BLOCKED_STATUSES)}) then 'blocked' "
            f"when {status} in ({_quoted(ERRORED_STATUSES)}) or coalesce(try_cast({status} as integer), 0) >= 400 "
            f"then 'errored' "
            f"when coalesce(length(trim({alias}.response_text)), 0) = 0 then 'empty' end")


def _require_categories(con) -> None:
    if not db.table_exists(con, "categories") or not db.scalar(con, "select count(*) from request_categories"):
        raise PlanError("No categories yet: run `plan categorize` first, then `plan replay`.")


def _category_filter(categories, params: list) -> str:
    if not categories:
        return ""
    ids = [int(c) for c in categories if str(c).lstrip("-").isdigit()]
    names = [str(c).lower() for c in categories if not str(c).lstrip("-").isdigit()]
    params += [ids, names]
    return " and (c.category_id in (select unnest(?::integer[])) or lower(c.name) in (select unnest(?::varchar[])))"


def sample_requests(con, *, per_category: int, seed: int = 0, include_other: bool = False,
                    categories: list | tuple | None = None) -> list[dict]:
    """The seeded stratified sample of comparable requests, interleaved across categories (rank 1 of every
    category, then rank 2 ...), so a run cut short by --limit or Ctrl-C still covers every category."""
    params: list = [str(seed), include_other]
    where_cat = _category_filter(categories, params)
    params.append(int(per_category))
    sql = f"""
        with base as (
            select r.id as request_id, rc.category_id, c.name as category_name,
                   coalesce(c.spend_rank, 1000000) as spend_rank, coalesce(c.spend_usd, 0) as spend_usd,
                   md5(coalesce(r.system_prompt, '') || chr(31) || coalesce(r.messages_json, r.prompt_text, '')) as content_key,
                   md5(? || ':' || cast(r.id as varchar)) as draw,
                   r.system_prompt, r.messages_json, r.prompt_text, r.params_json, r.response_text,
               r.input_tokens as logged_input_tokens
            from request_categories rc
            join categories c on c.category_id = rc.category_id
            join requests r on r.id = rc.request_id
            where (not coalesce(c.is_other, false) or ?)
              and (r.messages_json is not null or r.prompt_text is not null)
              and ({frontier_outcome_sql('r')}) is null{where_cat}
        ), copies as (
            select *, row_number() over (partition by category_id, content_key order by draw) as copy_rank
            from base
        ), ranked as (
            select *, row_number() over (partition by category_id order by copy_rank = 1 desc, copy_rank, draw) as sample_rank,
                      count(*) over (partition by category_id) as available
            from copies
        )
        select request_id, category_id, category_name, spend_rank, sample_rank, available, true as has_response,
               system_prompt, messages_json, prompt_text, params_json, response_text, logged_input_tokens
        from ranked where sample_rank <= ?
        order by sample_rank, spend_rank, spend_usd desc, category_id
    """
    return db.dicts(con, sql, params)


def excluded_requests(con, *, include_other: bool = False, categories: list | tuple | None = None) -> dict[int, dict]:
    """Per category, the requests left out of the sample because the frontier did not answer them."""
    params: list = [include_other]
    where_cat = _category_filter(categories, params)
    out: dict[int, dict] = {}
    for cat_id, outcome, n in db.rows(con, f"""
            select rc.category_id, {frontier_outcome_sql('r')} as outcome, count(*)
            from request_categories rc join categories c on c.category_id = rc.category_id
            join requests r on r.id = rc.request_id
            where (not coalesce(c.is_other, false) or ?){where_cat}
            group by all having outcome is not null
        """, params):
        out.setdefault(cat_id, dict.fromkeys(NOT_COMPARABLE, 0))[outcome] = n
    return out


def sample_size(per_category: int | None, margin: float | None, config: dict | None = None) -> tuple[int, float | None]:
    """(requests per category, margin) from flags and plan.toml, as ``plan replay`` sizes its sample."""
    return ReplaySettings.resolve(config or {}, per_category=per_category, margin=margin).sample_size()


# ---------------------------------------------------------------- the run

# The class of a stored failure; rows written before replays had an error_class take it from their kind.
ERROR_CLASS_SQL = ("coalesce(error_class, case when error_kind in ("
                   + ", ".join(f"'{k}'" for k in sorted(TRANSIENT)) + ") then 'transient' else 'deterministic' end)")

INSERT_SQL = """
    insert or replace into replays (id, request_id, category_id, model, endpoint, output_text, reasoning_text,
        tool_calls_json, input_tokens, output_tokens, tokens_estimated, latency_ms, ttft_ms, output_tokens_per_s,
        finish_reason, error, error_kind, params_json, not_carried_json, seed, stream, attempts, started_at,
        finished_at, error_class, downgrades_json)
    values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class _Outcome:
    """One sampled request's call: the answer or the error, what was sent, and the ladder steps taken."""

    params: dict
    downgrades: list[str]
    result: ChatResult | None = None
    error: LLMError | None = None
    kind: str | None = None
    message: str | None = None


class _Run:
    def __init__(self, con, items: list[dict], settings: ReplaySettings, *, endpoint_label: str, connect_url: str,
                 model: str):
        self.con = con
        self.items = items
        self.settings = settings
        self.endpoint_label = endpoint_label
        self.connect_url = connect_url
        self.model = model
        self.steps: list[str] = []  # fields this endpoint refused, as fallback steps learned during the run
        self.made = 0
        self.failed = 0
        self.output_tokens = 0
        self.estimated_calls = 0
        self.succeeded = 0
        self.errors: Counter = Counter()
        self.error_classes: Counter = Counter()
        self.downgrades: Counter = Counter()
        self.deterministic_example: str | None = None
        self.fatal: LLMError | None = None
        self.first_sent: float | None = None
        self.last_done: float | None = None
        self.bar = None
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-writer")

    async def write(self, item: dict, started_at: datetime, outcome: _Outcome) -> None:
        """Commit the call's row now (resumability), on the one writer thread so other answers keep streaming
        and their latencies are not inflated by the commit."""
        row = self._row(item, started_at, outcome)
        await asyncio.get_running_loop().run_in_executor(self.writer, self._insert, row)

    def _insert(self, row: list) -> None:
        self.con.execute(INSERT_SQL, row).fetchall()

    def _row(self, item: dict, started_at: datetime, o: _Outcome) -> list:
        r, error = o.result, o.error
        kind = (error.kind if error else o.kind) if not r else None
        return [
            replay_id(item["request_id"], self.model), item["request_id"], item["category_id"], self.model,
            self.endpoint_label,
            r.text if r else None,
            r.reasoning if r else None,
            json.dumps(r.tool_calls, ensure_ascii=False) if r and r.tool_calls else None,
            r.input_tokens if r else None, r.output_tokens if r else None, r.tokens_estimated if r else None,
            r.latency_ms if r else None, r.ttft_ms if r else None, r.output_tokens_per_s if r else None,
            r.finish_reason if r else None,
            (str(error) if error else o.message) if not r else None,
            kind,
            json.dumps(o.params, ensure_ascii=False),
            json.dumps(item["not_carried"]) if item["not_carried"] else None,
            o.params.get("seed"), self.settings.stream,
            (r.attempts if r else (error.attempts if error else 0)),
            started_at, _utcnow(),
            error_class(kind) if kind else None,
            json.dumps(o.downgrades) if o.downgrades else None,
        ]

    async def ask(self, client, item: dict) -> _Outcome:
        """The call, stepping down the fallback ladder once per field the endpoint refuses."""
        s = self.settings
        outcome = _Outcome(item["params"], [], kind="not_replayable", message="No form of the request was accepted.")
        for _ in range(MAX_STEPS):
            messages, params, applied = adapt(item["messages"], item["params"], self.steps)
            try:
                result = await achat(self.connect_url, self.model, messages, params=params, timeout=s.timeout,
                                     stream=s.stream, retries=s.retries, backoff=s.backoff, client=client)
                return _Outcome(params, applied, result=result)
            except LLMError as exc:
                if exc.fatal:
                    raise
                outcome = _Outcome(params, applied, error=exc)
                step = step_for(exc.param, params) if exc.kind == "unsupported_param" and exc.param else None
                if step is None or step in applied:
                    return outcome
                if step not in self.steps:
                    self.steps.append(step)
        return outcome

    async def call(self, client, item: dict) -> None:
        started_at = _utcnow()
        unsent = (("not_replayable", "The logged request has no messages to replay.") if not item["messages"]
                  else (CONTEXT_EXCEEDED, item["too_long"]) if item.get("too_long") else None)
        if unsent is not None:
            outcome = _Outcome(item["params"], [], kind=unsent[0], message=unsent[1])
            await self.write(item, started_at, outcome)
            self._count_failure(unsent[0], outcome.message)
            return
        if self.first_sent is None:
            self.first_sent = time.perf_counter()
        outcome = await self.ask(client, item)
        await self.write(item, started_at, outcome)
        self.made += 1
        self.downgrades.update(outcome.downgrades)
        if outcome.result is None:
            self._count_failure(outcome.error.kind if outcome.error else "not_replayable", str(outcome.error or outcome.message))
        else:
            self.succeeded += 1
            self.output_tokens += outcome.result.output_tokens or 0
            self.estimated_calls += bool(outcome.result.tokens_estimated)
        self.last_done = time.perf_counter()

    def _count_failure(self, kind: str, message: str | None) -> None:
        self.failed += 1
        self.errors[kind] += 1
        self.error_classes[error_class(kind)] += 1
        if error_class(kind) == "deterministic" and self.deterministic_example is None:
            self.deterministic_example = message

    async def worker(self, client, queue: asyncio.Queue) -> None:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await self.call(client, item)
            if self.bar is not None:
                self.bar.update(1)
                if self.failed:
                    self.bar.set_postfix(failed=self.failed, refresh=False)

    async def run(self) -> None:
        import httpx

        queue: asyncio.Queue = asyncio.Queue()
        for item in self.items:
            queue.put_nowait(item)
        n = self.settings.concurrency
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        timeout = httpx.Timeout(self.settings.timeout, connect=min(10.0, self.settings.timeout))
        async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False) as client:
            workers = [asyncio.create_task(self.worker(client, queue)) for _ in range(min(n, len(self.items)))]
            try:
                done, pending = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    failure = task.exception()
                    if failure is not None:
                        raise failure
            finally:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)


# ---------------------------------------------------------------- the stage


def replay(con: duckdb.DuckDBPyConnection, settings: ReplaySettings, *, progress: bool = True, say: Say = say_nothing) -> dict:
    """Replay the sample against the endpoint and return the ``plan replay --json`` summary.

    ``settings.endpoint == "embedded"`` starts the bundled model (or ``settings.gguf``) on a free loopback port
    for the run. Raises ``PlanError`` with one clear sentence when categorize has not run, the endpoint is not
    loopback, the server cannot be reached, or the model is missing; ``ReplayInterrupted`` on Ctrl-C.

    Example::

        from analyzer.db import connect
        from analyzer.replay import ReplaySettings, replay
        summary = replay(connect("plan.duckdb"), ReplaySettings.resolve({}, per_category=10), progress=False)
    """
    _require_categories(con)
    n, margin = settings.sample_size()
    started_at = _utcnow()
    target = _Target(settings)
    sample = sample_requests(con, per_category=n, seed=settings.seed, include_other=settings.include_other,
                             categories=settings.categories)
    if not sample:
        if settings.categories:
            raise PlanError(f"No top category matches --category {', '.join(map(str, settings.categories))} with "
                            "replayable requests; `plan categorize --json` lists ids and names.")
        raise PlanError("No replayable requests in the top categories (none has messages or prompt text and a "
                        "frontier answer to compare with).")
    todo, done_ids = _todo(con, sample, settings, target.model, target.context_tokens)
    not_carried: Counter = Counter()
    for item in todo:
        not_carried.update({k: 1 for k in item["not_carried"]})
    run, interrupted = _run_calls(con, todo, settings, target, progress=progress, say=say)
    summary = _summary(con, settings, target, sample, run, n=n, margin=margin, done_ids=done_ids,
                       not_carried=not_carried, affected=sum(bool(i["not_carried"]) for i in todo))
    summary["interrupted"] = interrupted
    _record(con, settings, target, summary, n=n, margin=margin, started_at=started_at)
    if interrupted:
        raise ReplayInterrupted(summary)
    if run and run.fatal:
        saved = f" {run.made} answers from this run are saved; run the command again to resume." if run.made else ""
        message = str(run.fatal)
        if target.server is None:
            message = message.replace(target.connect_url, target.label)  # name the endpoint as the user wrote it
        raise PlanError(message + saved)
    return summary


class _Target:
    """Where the calls go: a loopback endpoint, or the embedded server started for the run."""

    def __init__(self, settings: ReplaySettings):
        self.server = None
        self.context_tokens = settings.context_tokens
        if settings.endpoint == EMBEDDED:
            from .serve import EmbeddedServer

            # as many slots as calls in flight: the server batches them instead of queueing them
            self.server = EmbeddedServer(settings.gguf, ctx=settings.ctx, parallel=settings.concurrency)
            self.model, self.label, self.connect_url = self.server.model, EMBEDDED, ""
            self.context_tokens = self.server.ctx
        else:
            self.model, self.label = settings.model, settings.endpoint
            self.connect_url = ensure_local(settings.endpoint, settings.allow_remote)


def too_long_for_context(messages: list[dict], params: dict, logged_input_tokens: int | None,
                         context_tokens: int | None) -> str | None:
    """Why a request cannot fit the endpoint's context window, or None. Only clear cases: both what is sent
    (about 4 characters a token) and the frontier's logged input tokens, when logged, must exceed the window
    (the local model's tokenizer is rarely more compact than a frontier model's). A borderline request is
    sent, and a server's refusal is stored like any other."""
    if not context_tokens:
        return None
    sent_chars = sum(len(str(m.get("content") or "")) + len(json.dumps(m.get("tool_calls") or "")) for m in messages)
    sent_chars += len(json.dumps(params.get("tools") or ""))
    estimate = sent_chars // CHARS_PER_TOKEN
    if estimate < context_tokens or (logged_input_tokens is not None and logged_input_tokens < context_tokens):
        return None
    size = f"{logged_input_tokens:,} input tokens logged" if logged_input_tokens is not None else f"about {estimate:,} tokens"
    return (f"The prompt ({size}) is longer than the model's context window of {context_tokens:,} tokens; not sent. "
            "Serve the model with a larger context to measure it.")


def _todo(con, sample: list[dict], settings: ReplaySettings, model: str,
          context_tokens: int | None = None) -> tuple[list[dict], set]:
    """The sampled requests not answered yet by this model, built into requests to send."""
    ids = [s["request_id"] for s in sample]
    done_ids = {r[0] for r in db.rows(
        con, "select request_id from replays where model = ? and error is null and request_id in (select unnest(?::bigint[]))",
        [model, ids])}
    todo = [s for s in sample if s["request_id"] not in done_ids]
    if settings.limit is not None:
        todo = todo[:settings.limit]
    for item in todo:
        item["messages"], item["params"], item["not_carried"] = build_replay_request(
            item, seed=settings.seed, max_output_tokens=settings.max_output_tokens)
        item["params"].update(settings.params)
        item["too_long"] = too_long_for_context(item["messages"], item["params"], item.get("logged_input_tokens"),
                                                context_tokens)
    return todo, done_ids


def _run_calls(con, todo: list[dict], settings: ReplaySettings, target: _Target, *, progress: bool,
               say: Say) -> tuple[_Run | None, bool]:
    """Send the calls (starting the embedded server first when asked); (the run, whether Ctrl-C stopped it)."""
    if not todo:
        return None, False
    run = None
    interrupted = False
    try:
        if target.server is not None:
            say(f"Starting the embedded model {target.server.model} on 127.0.0.1 ...")
            target.server.start()
            if target.server.threads:
                say(f"The machine is busy: the model server runs on {target.server.threads} CPU thread"
                    f"{'' if target.server.threads == 1 else 's'} (the free cores).")
            target.connect_url = target.server.url
        run = _Run(con, todo, settings, endpoint_label=target.label, connect_url=target.connect_url,
                   model=target.model)
        asyncio.run(_preflight(target.connect_url, target.label, target.model))
        if progress:
            from .progress import bar

            run.bar = bar(total=len(todo), desc=f"replay {target.model}", unit="call")
        try:
            asyncio.run(run.run())
        except LLMError as exc:
            run.fatal = exc
        except KeyboardInterrupt:
            interrupted = True
        finally:
            run.writer.shutdown(wait=True)  # a commit in flight finishes before the connection is used again
            if run.bar is not None:
                run.bar.close()
    finally:
        if target.server is not None:
            target.server.stop()
    return run, interrupted


def _throughput(con, run: _Run | None, target: _Target, concurrency: int) -> tuple[float | None, float | None]:
    """(wall seconds, output tokens per second) of this run, stored for the cost model."""
    wall_s = (run.last_done - run.first_sent) if run and run.first_sent and run.last_done else None
    per_s = (run.output_tokens / wall_s) if run and wall_s and run.succeeded else None
    if run and run.succeeded and wall_s:
        con.execute(
            "insert into endpoint_throughput (endpoint, model, concurrency, calls, output_tokens, tokens_estimated, "
            "wall_s, output_tokens_per_s) values (?, ?, ?, ?, ?, ?, ?, ?)",
            [target.label, target.model, concurrency, run.succeeded, run.output_tokens, run.estimated_calls > 0,
             wall_s, per_s],
        )
    return wall_s, per_s


def _summary(con, settings: ReplaySettings, target: _Target, sample: list[dict], run: _Run | None, *, n: int,
             margin: float | None, done_ids: set, not_carried: Counter, affected: int) -> dict:
    wall_s, per_s = _throughput(con, run, target, settings.concurrency)
    excluded = excluded_requests(con, include_other=settings.include_other, categories=settings.categories)
    categories = _category_summary(con, sample, target.model, excluded)
    totals = {k: sum(c[k] for c in excluded.values()) for k in NOT_COMPARABLE}
    summary = {
        "endpoint": target.label,
        "model": target.model,
        "calls_made": run.made if run else 0,
        "calls_failed": run.failed if run else 0,
        "skipped_already_done": len(done_ids),
        "output_tokens_per_s": per_s,
        "output_tokens": run.output_tokens if run else 0,
        "tokens_estimated_calls": run.estimated_calls if run else 0,
        "wall_s": wall_s,
        "concurrency": settings.concurrency,
        "context_tokens": target.context_tokens,
        "per_category": n,
        "margin": margin,
        "seed": settings.seed,
        "stream": settings.stream,
        "timeout_s": settings.timeout,
        "limit": settings.limit,
        "sampled": len(sample),
        "remaining": sum(c["sampled"] - c["done"] for c in categories),
        "remaining_retriable": sum(max(0, c["sampled"] - c["done"] - c["failed_deterministic"]) for c in categories),
        "errors": dict(run.errors) if run else {},
        "errors_by_class": {k: (run.error_classes[k] if run else 0) for k in ERROR_CLASSES},
        "downgrades": dict(sorted(run.downgrades.items())) if run else {},
        "excluded": {**totals, "total": sum(totals.values())},
        "not_carried": dict(sorted(not_carried.items())),
        "requests_with_not_carried": affected,
        "categories": categories,
        "stand_in": is_stand_in(target.model),
    }
    summary["advice"] = advice(summary, run.deterministic_example if run else None)
    return summary


def _record(con, settings: ReplaySettings, target: _Target, summary: dict, *, n: int, margin: float | None,
            started_at: datetime) -> None:
    db.record_stage_run(con, "replay", {
        "endpoint": target.label, "model": target.model, "per_category": n, "margin": margin, "seed": settings.seed,
        "concurrency": settings.concurrency, "timeout_s": settings.timeout, "limit": settings.limit,
        "stream": settings.stream, "include_other": settings.include_other,
        "categories": list(settings.categories) or None, "max_output_tokens": settings.max_output_tokens,
        "context_tokens": target.context_tokens,
        "extra_params": settings.params,
    }, {k: summary[k] for k in ("calls_made", "calls_failed", "skipped_already_done", "output_tokens_per_s",
                                "interrupted", "errors_by_class", "downgrades", "excluded")},
        started_at=started_at)


STAND_IN = re.compile(r"smollm", re.I)


def is_stand_in(model: str | None) -> bool:
    """Whether the model is the bundled SmolLM2 (or another SmolLM): a real but weak stand-in for Qwen."""
    return bool(model and STAND_IN.search(model))


def deterministic_hint(message: str | None) -> str:
    """What to change when the endpoint refuses requests as they are (running again as is will not help)."""
    text = (message or "").lower()
    if "--jinja" in text:
        return "start llama.cpp's server with --jinja, then run `plan replay` again"
    if "context" in text and any(w in text for w in ("length", "window", "exceed", "too long", "maximum")):
        return ("serve the model with a larger context (llama.cpp -c, Ollama num_ctx) or lower --max-output-tokens, "
                "then run `plan replay` again")
    if "no messages" in text:
        return "these logged requests hold no conversation to replay"
    return "change what the server's message names (its settings or the model), then run `plan replay` again"


def advice(summary: dict, deterministic_example: str | None) -> list[str]:
    """One sentence per kind of failure: retry only what a retry can fix."""
    out = []
    by_class = summary["errors_by_class"]
    if by_class.get("transient"):
        out.append(f"{by_class['transient']} calls failed for reasons that can pass (timeouts, dropped connections, "
                   "HTTP 429 or 5xx): run the same command again to retry them"
                   + (" (a higher --timeout or a lower --concurrency helps with timeouts)." if summary["errors"].get("timeout") else "."))
    if by_class.get("deterministic"):
        unsent = summary["errors"].get("context_exceeded", 0) == by_class["deterministic"]
        what = "were not sent, too long for the model's context window" if unsent else "were refused by the endpoint"
        out.append(f"{by_class['deterministic']} calls {what} ({deterministic_example}); "
                   f"running again as it is will not help: {deterministic_hint(deterministic_example)}.")
    if summary["downgrades"]:
        steps = ", ".join(f"{describe(k)} ({v})" for k, v in summary["downgrades"].items())
        out.append(f"The endpoint refused some request fields, so the nearest form it takes was sent: {steps}. "
                   "The checks the requests asked for still apply.")
    if summary["excluded"]["total"]:
        e = summary["excluded"]
        out.append(f"{e['total']} requests the frontier did not answer were left out of the sample "
                   f"({e['blocked']} blocked, {e['errored']} errored, {e['empty']} empty): there is nothing to compare with.")
    return out


class ReplayInterrupted(KeyboardInterrupt):
    """Ctrl-C during a replay: every finished call is saved; ``summary`` says how far it got."""

    def __init__(self, summary: dict):
        super().__init__("replay interrupted")
        self.summary = summary


async def _preflight(url: str, label: str, model: str) -> None:
    """Fail with one sentence before starting many calls when nothing listens at the endpoint."""
    try:
        await alist_models(url, timeout=10.0)
    except LLMError as exc:
        if exc.kind == "unreachable":
            raise PlanError(unreachable_message(label, model, str(exc))) from None
        raise


def _category_summary(con, sample: list[dict], model: str, excluded: dict[int, dict]) -> list[dict]:
    by_cat: dict[int, dict] = {}
    for s in sample:
        c = by_cat.setdefault(s["category_id"], {"category_id": s["category_id"], "name": s["category_name"],
                                                 "available": s["available"], "sampled": 0})
        c["sampled"] += 1
    status = {r[0]: r[1:] for r in db.rows(con, f"""
            select category_id, count(*) filter (where error is null), count(*) filter (where error is not null),
                   count(*) filter (where error is not null and {ERROR_CLASS_SQL} = 'transient'),
                   count(*) filter (where error is not null and {ERROR_CLASS_SQL} = 'deterministic'),
                   count(*) filter (where downgrades_json is not null)
            from replays where model = ? and request_id in (select unnest(?::bigint[])) group by category_id
        """, [model, [s["request_id"] for s in sample]])}
    out = []
    for c in by_cat.values():
        done, failed, transient, deterministic, downgraded = status.get(c["category_id"], (0, 0, 0, 0, 0))
        c.update(done=done, failed=failed, failed_transient=transient, failed_deterministic=deterministic,
                 downgraded=downgraded, excluded=excluded.get(c["category_id"], dict.fromkeys(NOT_COMPARABLE, 0)))
        out.append(c)
    return out
