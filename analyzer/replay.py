"""Replay: send a seeded, stratified sample of each top category's requests to a local model.

The experiment the article asks for: the same prompts, through the local model, next to what the frontier
API answered. It is

- **faithful**: the same system prompt and conversation, with temperature, the max-token limit,
  ``response_format``/JSON mode, tools, tool choice, stop sequences and penalties carried over. What cannot
  be carried (images, audio, files, provider-only parameters such as Anthropic's ``top_k`` or ``thinking``,
  server-side tools, prompt-cache markers) is dropped, counted and stored per call in ``not_carried_json``;
- **reproducible**: the sample per category is ordered by ``md5(seed:request_id)``, distinct prompts first,
  requests with a frontier answer first; a larger ``--per-category`` extends the same sample;
- **resumable**: each call's row is committed the moment it ends, and a rerun skips every request already
  answered for that model, so Ctrl-C or kill loses at most the calls in flight. Failed calls are retried on
  the next run;
- **private**: the endpoint must resolve to loopback unless ``allow_remote``.

Entry point: ``replay(con, ...)``; it returns the ``plan replay --json`` payload.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from . import db
from .config import setting
from .endpoints import EMBEDDED, ensure_local, resolve_endpoint, resolve_model
from .errors import PlanError
from .llm_client import DEFAULT_BACKOFF_S, DEFAULT_RETRIES, LLMError, achat, alist_models, unreachable_message
from .stats import sample_size_for_margin

DEFAULT_PER_CATEGORY = 30
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
            lost[MEDIA_KINDS.get(kind) or next(MEDIA_KINDS[k] for k in ("image", "document", "video", "reasoningContent") if k in part)] += 1
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
        out = {"role": "assistant", "content": _content_text(rest, lost)}
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
            out["tool_calls"] = calls
        return [out]
    if role in ("tool", "function"):
        return [{"role": "tool", "tool_call_id": str(msg.get("tool_call_id") or msg.get("name") or ""),
                 "content": _content_text(content, lost)}]
    # user (or an unknown role, sent as user)
    if role not in (None, "user"):
        lost[f"role:{role}"] += 1
    out = []
    for block in tool_results:
        result = block.get("toolResult") or block
        out.append({"role": "tool", "tool_call_id": str(result.get("tool_use_id") or result.get("toolUseId") or ""),
                    "content": _content_text(result.get("content"), lost)})
    text = _content_text(rest, lost)
    if text or not out:
        user = {"role": "user", "content": text}
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


def build_replay_request(row: dict, *, seed: int | None = None, max_output_tokens: int | None = None) -> tuple[list[dict], dict, dict]:
    """(messages, params, not_carried) for one logged request.

    ``not_carried`` maps what was dropped to how often (``image``, ``param:top_k``, ``server_tool:web_search``,
    ``cache_control`` ...), plus ``max_tokens_capped`` when ``max_output_tokens`` lowered the logged limit.
    """
    lost: Counter = Counter()
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
            if target not in params:
                params[target] = value
        elif key == "n":
            if isinstance(value, int) and value > 1:
                lost["n_reduced_to_1"] += 1
        elif key in ("text", "toolConfig", "functions", "function_call"):
            pass  # handled below
        elif key not in IGNORED:
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
    return messages, params, dict(lost)


# ---------------------------------------------------------------- sampling

def _require_categories(con) -> None:
    if not db.table_exists(con, "categories") or not db.scalar(con, "select count(*) from request_categories"):
        raise PlanError("No categories yet: run `plan categorize` first, then `plan replay`.")


def sample_requests(con, *, per_category: int, seed: int = 0, include_other: bool = False,
                    categories: list | None = None) -> list[dict]:
    """The seeded stratified sample, interleaved across categories (rank 1 of every category, then rank 2 ...),
    so a run cut short by --limit or Ctrl-C still covers every category."""
    where_cat = ""
    params: list = [str(seed), include_other]
    if categories:
        ids = [int(c) for c in categories if str(c).lstrip("-").isdigit()]
        names = [str(c).lower() for c in categories if not str(c).lstrip("-").isdigit()]
        where_cat = " and (c.category_id in (select unnest(?::integer[])) or lower(c.name) in (select unnest(?::varchar[])))"
        params += [ids, names]
    params.append(int(per_category))
    sql = f"""
        with base as (
            select r.id as request_id, rc.category_id, c.name as category_name,
                   coalesce(c.spend_rank, 1000000) as spend_rank, coalesce(c.spend_usd, 0) as spend_usd,
                   coalesce(length(trim(r.response_text)), 0) > 0 as has_response,
                   md5(coalesce(r.system_prompt, '') || chr(31) || coalesce(r.messages_json, r.prompt_text, '')) as content_key,
                   md5(? || ':' || cast(r.id as varchar)) as draw,
                   r.system_prompt, r.messages_json, r.prompt_text, r.params_json, r.response_text
            from request_categories rc
            join categories c on c.category_id = rc.category_id
            join requests r on r.id = rc.request_id
            where (not coalesce(c.is_other, false) or ?)
              and (r.messages_json is not null or r.prompt_text is not null){where_cat}
        ), copies as (
            select *, row_number() over (partition by category_id, content_key order by has_response desc, draw) as copy_rank
            from base
        ), ranked as (
            select *, row_number() over (partition by category_id
                                         order by copy_rank = 1 desc, has_response desc, copy_rank, draw) as sample_rank,
                      count(*) over (partition by category_id) as available
            from copies
        )
        select request_id, category_id, category_name, spend_rank, sample_rank, available, has_response,
               system_prompt, messages_json, prompt_text, params_json, response_text
        from ranked where sample_rank <= ?
        order by sample_rank, spend_rank, spend_usd desc, category_id
    """
    return db.dicts(con, sql, params)


def sample_size(per_category: int | None, margin: float | None, config: dict | None = None) -> tuple[int, float | None]:
    if per_category is not None and margin is not None:
        raise PlanError("Give either --per-category or --margin, not both.")
    if per_category is None and margin is None:
        per_category = setting(config or {}, "replay.per_category")
        margin = setting(config or {}, "replay.margin") if per_category is None else None
    if margin is not None:
        try:
            return sample_size_for_margin(float(margin)), float(margin)
        except ValueError as exc:
            raise PlanError(f"--margin {margin}: {exc}.") from exc
    n = int(per_category if per_category is not None else DEFAULT_PER_CATEGORY)
    if n < 1:
        raise PlanError("--per-category must be at least 1.")
    return n, None


# ---------------------------------------------------------------- the run

INSERT_SQL = """
    insert or replace into replays (id, request_id, category_id, model, endpoint, output_text, reasoning_text,
        tool_calls_json, input_tokens, output_tokens, tokens_estimated, latency_ms, ttft_ms, output_tokens_per_s,
        finish_reason, error, error_kind, params_json, not_carried_json, seed, stream, attempts, started_at, finished_at)
    values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class _Run:
    def __init__(self, con, items, *, endpoint_label, connect_url, model, concurrency, timeout, stream, retries,
                 backoff, seed, progress):
        self.con = con
        self.items = items
        self.endpoint_label = endpoint_label
        self.connect_url = connect_url
        self.model = model
        self.concurrency = concurrency
        self.timeout = timeout
        self.stream = stream
        self.retries = retries
        self.backoff = backoff
        self.seed = seed
        self.progress = progress
        self.made = 0
        self.failed = 0
        self.output_tokens = 0
        self.estimated_calls = 0
        self.succeeded = 0
        self.errors: Counter = Counter()
        self.fatal: LLMError | None = None
        self.first_sent: float | None = None
        self.last_done: float | None = None
        self.bar = None
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-writer")

    async def write(self, item, started_at, result=None, error: LLMError | None = None, kind=None, message=None) -> None:
        """Commit the call's row now (resumability), on the one writer thread so other answers keep streaming
        and their latencies are not inflated by the commit."""
        row = self._row(item, started_at, result, error, kind, message)
        await asyncio.get_running_loop().run_in_executor(self.writer, self._insert, row)

    def _insert(self, row: list) -> None:
        self.con.execute(INSERT_SQL, row).fetchall()

    def _row(self, item, started_at, result, error, kind, message) -> list:
        r = result
        return [
            replay_id(item["request_id"], self.model), item["request_id"], item["category_id"], self.model,
            self.endpoint_label,
            r.text if r else None,
            r.reasoning if r else None,
            json.dumps(r.tool_calls, ensure_ascii=False) if r and r.tool_calls else None,
            r.input_tokens if r else None, r.output_tokens if r else None, r.tokens_estimated if r else None,
            r.latency_ms if r else None, r.ttft_ms if r else None, r.output_tokens_per_s if r else None,
            r.finish_reason if r else None,
            (str(error) if error else message) if not r else None,
            (error.kind if error else kind) if not r else None,
            json.dumps(item["params"], ensure_ascii=False),
            json.dumps(item["not_carried"]) if item["not_carried"] else None,
            item["params"].get("seed"), self.stream,
            (r.attempts if r else (error.attempts if error else 0)),
            started_at, _utcnow(),
        ]

    async def call(self, client, item) -> None:
        started_at = _utcnow()
        if not item["messages"]:
            await self.write(item, started_at, kind="not_replayable", message="The logged request has no messages to replay.")
            self.failed += 1
            self.errors["not_replayable"] += 1
            return
        if self.first_sent is None:
            self.first_sent = time.perf_counter()
        try:
            result = await achat(self.connect_url, self.model, item["messages"], params=item["params"], timeout=self.timeout,
                                 stream=self.stream, retries=self.retries, backoff=self.backoff, client=client)
        except LLMError as exc:
            if exc.fatal:
                raise
            await self.write(item, started_at, error=exc)
            self.made += 1
            self.failed += 1
            self.errors[exc.kind] += 1
        else:
            await self.write(item, started_at, result=result)
            self.made += 1
            self.succeeded += 1
            self.output_tokens += result.output_tokens or 0
            self.estimated_calls += bool(result.tokens_estimated)
        self.last_done = time.perf_counter()

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
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        timeout = httpx.Timeout(self.timeout, connect=min(10.0, self.timeout))
        async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False) as client:
            workers = [asyncio.create_task(self.worker(client, queue)) for _ in range(min(self.concurrency, len(self.items)))]
            try:
                done, pending = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    if task.exception() is not None:
                        raise task.exception()
            finally:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)


def replay(
    con,
    *,
    endpoint: str | None = None,
    model: str | None = None,
    per_category: int | None = None,
    margin: float | None = None,
    concurrency: int | None = None,
    timeout: float | None = None,
    seed: int = 0,
    limit: int | None = None,
    allow_remote: bool = False,
    stream: bool = True,
    progress: bool = True,
    include_other: bool = False,
    categories: list | None = None,
    max_output_tokens: int | None = None,
    gguf: str | None = None,
    extra_params: dict | None = None,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF_S,
    config: dict | None = None,
) -> dict:
    """Replay the sample against the endpoint and return the ``--json`` summary.

    ``endpoint="embedded"`` starts the bundled model (or ``gguf``) on a free loopback port for the run.
    ``extra_params`` (and ``plan.toml [replay.params]``) are added to every request after the logged ones, for
    server switches the log cannot know, e.g. ``{"reasoning_effort": "none"}`` to stop Ollama's Qwen thinking.
    Raises ``PlanError`` with one clear sentence when categorize has not run, the endpoint is not loopback,
    the server cannot be reached, or the model is missing.
    """
    config = config or {}
    _require_categories(con)
    n, margin = sample_size(per_category, margin, config)
    endpoint = resolve_endpoint(endpoint, config)
    concurrency = int(concurrency if concurrency is not None else setting(config, "replay.concurrency", DEFAULT_CONCURRENCY))
    timeout = float(timeout if timeout is not None else setting(config, "replay.timeout", DEFAULT_TIMEOUT_S))
    if concurrency < 1:
        raise PlanError("--concurrency must be at least 1.")
    if timeout <= 0:
        raise PlanError("--timeout must be more than 0 seconds.")
    if limit is not None and limit < 0:
        raise PlanError("--limit must be 0 or more.")

    server = None
    if endpoint == EMBEDDED:
        from .serve import EmbeddedServer

        server = EmbeddedServer(gguf or setting(config, "serve.gguf"), ctx=setting(config, "serve.ctx"))
        model = server.model
        endpoint_label = EMBEDDED
    else:
        model = resolve_model(model, config)
        endpoint_label = endpoint
        connect_url = ensure_local(endpoint, allow_remote)

    started_at = _utcnow()
    sample = sample_requests(con, per_category=n, seed=seed, include_other=include_other, categories=categories)
    if not sample:
        if categories:
            raise PlanError(f"No top category matches --category {', '.join(map(str, categories))} with replayable requests; "
                            "`plan categorize --json` lists ids and names.")
        raise PlanError("No replayable requests in the top categories (none has messages or prompt text).")
    ids = [s["request_id"] for s in sample]
    done_ids = {r[0] for r in db.rows(
        con, "select request_id from replays where model = ? and error is null and request_id in (select unnest(?::bigint[]))",
        [model, ids])}
    todo = [s for s in sample if s["request_id"] not in done_ids]
    if limit is not None:
        todo = todo[:limit]
    extra = {**(setting(config, "replay.params") or {}), **(extra_params or {})}
    not_carried: Counter = Counter()
    affected = 0
    for item in todo:
        item["messages"], item["params"], item["not_carried"] = build_replay_request(item, seed=seed, max_output_tokens=max_output_tokens)
        item["params"].update(extra)
        not_carried.update({k: 1 for k in item["not_carried"]})
        affected += bool(item["not_carried"])

    run = None
    interrupted = False
    try:
        if todo:
            if server is not None:
                if progress:
                    print(f"Starting the embedded model {server.model} on 127.0.0.1 ...", file=sys.stderr)
                server.start()
                connect_url = server.url
            run = _Run(con, todo, endpoint_label=endpoint_label, connect_url=connect_url, model=model,
                       concurrency=concurrency, timeout=timeout, stream=stream, retries=retries, backoff=backoff,
                       seed=seed, progress=progress)
            asyncio.run(_preflight(connect_url, endpoint_label, model))
            if progress:
                from .progress import bar

                run.bar = bar(total=len(todo), desc=f"replay {model}", unit="call")
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
        if server is not None:
            server.stop()

    made = run.made if run else 0
    wall_s = (run.last_done - run.first_sent) if run and run.first_sent and run.last_done else None
    per_s = (run.output_tokens / wall_s) if run and wall_s and run.succeeded else None
    if run and run.succeeded and wall_s:
        con.execute(
            "insert into endpoint_throughput (endpoint, model, concurrency, calls, output_tokens, tokens_estimated, wall_s, output_tokens_per_s) "
            "values (?, ?, ?, ?, ?, ?, ?, ?)",
            [endpoint_label, model, concurrency, run.succeeded, run.output_tokens, run.estimated_calls > 0, wall_s, per_s],
        )
    summary = {
        "endpoint": endpoint_label,
        "model": model,
        "calls_made": made,
        "calls_failed": run.failed if run else 0,
        "skipped_already_done": len(done_ids),
        "output_tokens_per_s": per_s,
        "output_tokens": run.output_tokens if run else 0,
        "tokens_estimated_calls": run.estimated_calls if run else 0,
        "wall_s": wall_s,
        "concurrency": concurrency,
        "per_category": n,
        "margin": margin,
        "seed": seed,
        "stream": stream,
        "timeout_s": timeout,
        "limit": limit,
        "sampled": len(sample),
        "remaining": 0,
        "errors": dict(run.errors) if run else {},
        "not_carried": dict(sorted(not_carried.items())),
        "requests_with_not_carried": affected,
        "categories": _category_summary(con, sample, model),
        "interrupted": interrupted,
    }
    summary["remaining"] = sum(c["sampled"] - c["done"] for c in summary["categories"])
    db.record_stage_run(con, "replay", {
        "endpoint": endpoint_label, "model": model, "per_category": n, "margin": margin, "seed": seed,
        "concurrency": concurrency, "timeout_s": timeout, "limit": limit, "stream": stream,
        "include_other": include_other, "categories": categories, "max_output_tokens": max_output_tokens,
        "extra_params": extra,
    }, {k: summary[k] for k in ("calls_made", "calls_failed", "skipped_already_done", "output_tokens_per_s", "interrupted")},
        started_at=started_at)
    if interrupted:
        raise ReplayInterrupted(summary)
    if run and run.fatal:
        saved = f" {made} answers from this run are saved; run the command again to resume." if made else ""
        message = str(run.fatal)
        if server is None:
            message = message.replace(connect_url, endpoint_label)  # name the endpoint as the user wrote it
        raise PlanError(message + saved)
    return summary


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


def _category_summary(con, sample: list[dict], model: str) -> list[dict]:
    by_cat: dict[int, dict] = {}
    for s in sample:
        c = by_cat.setdefault(s["category_id"], {"category_id": s["category_id"], "name": s["category_name"],
                                                 "available": s["available"], "sampled": 0, "_ids": []})
        c["sampled"] += 1
        c["_ids"].append(s["request_id"])
    status = {}
    for cat_id, ok, failed in db.rows(con, """
            select category_id, count(*) filter (where error is null), count(*) filter (where error is not null)
            from replays where model = ? and request_id in (select unnest(?::bigint[])) group by category_id
        """, [model, [s["request_id"] for s in sample]]):
        status[cat_id] = (ok, failed)
    out = []
    for c in by_cat.values():
        c.pop("_ids")
        c["done"], c["failed"] = status.get(c["category_id"], (0, 0))
        out.append(c)
    return out
