"""Kong AI Gateway's logs: calls through its AI plugins, as Kong's logging plugins write them (3.6 and later).

A log entry (``file-log`` JSON Lines, an ``http-log`` body, a JSON array when batched, the same lines on a Docker
container's stdout) is Kong's usual one (``request``/``response`` are HTTP metadata, ``started_at`` epoch ms,
``latencies.request`` ms, ``consumer``) with an ``ai`` section: one block per plugin that called a model, each a call
of its own (``ai.proxy``, 3.9+; ``ai["ai-proxy"]``, 3.7-3.8; the AI request and response transformers' blocks, whose
calls rewrite a request or an answer) or, in 3.6, ``ai.meta``/``ai.usage``/``ai.payload`` for the whole entry. A block
holds ``meta`` (``provider_name``, ``request_model``, ``response_model``), ``usage`` (``prompt_tokens`` and
``completion_tokens``, 3.7's ``prompt_token``/``completion_token``; cached and reasoning tokens from 3.11) and, with
``log_payloads``, ``payload.request``/``payload.response`` (JSON text; a stream's answer as Kong assembled it).

Kong's ``usage.cost`` is tokens times the prices an administrator typed into the plugin (any currency, 0 when none
were typed): a positive one is the logged cost, 0 is no cost at all; a proxy's cost equal to a transformer's in the
same entry is Kong repeating the transformer's (3.9), left to the catalogue. A semantic cache ``Hit`` was answered
by Kong, not paid for: skipped. A failed call logs Kong's estimate of its prompt, not a count: left unknown. An entry
without ``ai`` is other traffic, skipped; unless it failed on a model API's path (3.6-3.8 leave the ``ai`` section
out of a failed call), which is a failed call of unknown model.
"""

from __future__ import annotations

import re
from typing import Any

from ..records import EMBEDDING_OPERATION, Reject, Skipped, excerpt, to_utc
from . import register
from .app_calls import EMBEDDING_MODEL, bodies_record, response_object
from .app_log import docker_pieces, held_records
from .generic import as_dict, iter_rows, first, guess_provider, item_record, maybe_json, to_float, to_int

UNSPECIFIED = "UNSPECIFIED"  # a transformer's request model: the one its plugin is configured with
PROVIDERS = {"openai": "openai", "azure": "azure", "anthropic": "anthropic", "cohere": "cohere", "mistral": "mistral",
             "gemini": "google", "bedrock": "bedrock", "huggingface": None, "llama2": None}
_MODEL_API_PATH = re.compile(r"/(chat/completions|completions|embeddings|responses|messages|converse(-stream)?)(\?|$)|:(stream)?generateContent")


def is_transformer(name: str) -> bool:
    """ai["ai-request-transformer"], ai["ai-response-transformer"]: calls that rewrite a request or an answer."""
    return name.endswith("-transformer")

FLAT = "ai"  # 3.6: one block for the whole entry


def blocks(ai: dict) -> list[tuple[str, dict]]:
    """(plugin name, block) of each model call in an entry's ``ai`` section."""
    if "usage" in ai or "meta" in ai:
        return [(FLAT, ai)]
    return [(name, block) for name, block in ai.items()
            if isinstance(block, dict) and ("usage" in block or "meta" in block or isinstance(block.get("payload"), dict))]


def _model(meta: dict, record: dict) -> Any:
    for value in (meta.get("response_model"), record.get("model"), meta.get("request_model")):
        if value not in (None, "", UNSPECIFIED):
            return value
    return None


def _cost(name: str, usage: dict, ai: dict) -> float | None:
    """Kong's cost when it is one: positive, and not the transformer's repeated in the proxy's block."""
    cost = to_float(usage.get("cost"), "usage.cost")
    if not cost:
        return None
    if not is_transformer(name):
        for other, block in ai.items():
            if is_transformer(other) and isinstance(block, dict) and to_float(
                    as_dict(block.get("usage")).get("cost"), "usage.cost") == cost:
                return None
    return cost


def _bodies(payload: dict, ai: dict) -> dict:
    """The call's request and answer from its logged payloads; a streamed answer Kong kept as plain text is the text."""
    request = maybe_json(payload.get("request", as_dict(ai.get("payload")).get("request")))
    answer_text = payload.get("response")
    answer = response_object(answer_text)
    record = bodies_record(request, answer)
    plain = answer is None and isinstance(answer_text, str) and bool(answer_text.strip()) and not answer_text.lstrip().startswith(("{", "["))
    if plain:
        record["response_text"] = answer_text
    # A stream's answer as Kong assembled it (3.8: the text; 3.9+: a ChatCompletion without id or model)
    record["_streamed"] = plain or (isinstance(answer, dict) and "response" in answer and "id" not in answer)
    return record


def entry_key(entry: dict, answer_id: Any = None) -> str:
    """What tells one entry's call apart: Kong's request id, else the answer's id, else when and from where it came."""
    request = as_dict(entry.get("request"))
    return str(request.get("id") or answer_id or (entry.get("started_at"), entry.get("client_ip"), as_dict(entry.get("latencies")).get("request")))


def entry_fields(entry: dict) -> dict:
    """What the entry says of any call in it: its HTTP status (``response.status``), time, duration and user."""
    return {"http_status": to_int(as_dict(entry.get("response")).get("status"), "response.status"),
            "created_at": to_utc(entry.get("started_at")),
            "duration_ms": to_float(as_dict(entry.get("latencies")).get("request"), "latency"),
            "user_id": first(as_dict(entry.get("consumer")), "username", "custom_id", "id"),
            "route": first(as_dict(entry.get("route")), "name", "id")}


def block_record(entry: dict, name: str, block: dict) -> dict | Skipped:
    """One plugin's model call of an entry."""
    ai = entry["ai"]
    cache = as_dict(block.get("cache"))
    if str(cache.get("cache_status", "")).lower() == "hit":
        return Skipped(None, "a Kong semantic cache hit: answered by Kong, not a paid call")
    meta = as_dict(block.get("meta"))
    usage = as_dict(block.get("usage"))
    payload = as_dict(block.get("payload"))
    shared = entry_fields(entry)
    status = shared["http_status"]
    failed = not is_transformer(name) and status is not None and status >= 400
    record = _bodies(payload, ai)
    streamed = record.pop("_streamed")
    model = _model(meta, record)
    request = as_dict(entry.get("request"))
    kong_id = request.get("id")
    named = meta.get("provider_name")
    record.update({
        "_dedupe_key": f"kong|{entry_key(entry, record.get('source_id'))}|{name}",
        "source_id": record.get("source_id") or (f"{kong_id}/{name}" if kong_id and is_transformer(name) else kong_id),
        "provider": PROVIDERS.get(named, named) if named else record.get("provider") or guess_provider(model),
        "model": model,
        "created_at": shared["created_at"],
        "duration_ms": to_float(meta.get("llm_latency"), "latency") if is_transformer(name) else shared["duration_ms"],
        "status": "error" if failed or record.get("status") == "error" else "ok",
        "user_id": shared["user_id"],
        "cost_usd": None if failed else _cost(name, usage, ai),
    })
    if not failed:
        details = as_dict(usage.get("prompt_tokens_details"))
        reasoning = as_dict(usage.get("completion_tokens_details"))
        record.update({
            "input_tokens": to_int(first(usage, "prompt_tokens", "prompt_token"), "prompt_tokens"),
            "output_tokens": to_int(first(usage, "completion_tokens", "completion_token"), "completion_tokens"),
            "cached_input_tokens": to_int(details.get("cached_tokens"), "cached_tokens") or record.get("cached_input_tokens"),
            "reasoning_tokens": to_int(reasoning.get("reasoning_tokens"), "reasoning_tokens") or record.get("reasoning_tokens"),
        })
    else:
        record.update(input_tokens=None, output_tokens=None, cached_input_tokens=None, reasoning_tokens=None)
    if EMBEDDING_MODEL.search(str(model or "")) or str(entry.get("upstream_uri", "")).startswith("/v1/embeddings"):
        record.update(operation=EMBEDDING_OPERATION, prompt_text=None, messages_json=None, system_prompt=None)
    tags = {"plugin": name, "route": shared["route"],
            "service": first(as_dict(entry.get("service")), "name", "id"),
            "requested_model": meta.get("request_model") if meta.get("request_model") not in (None, UNSPECIFIED) else None,
            "kong_cost": usage.get("cost"), "request_mode": meta.get("request_mode"),
            "cache": cache.get("cache_status"),
            # Kong counts a stream's tokens itself (words and characters) for providers whose streams carry no usage
            "tokens": "Kong's estimate" if streamed and record["provider"] in ("openai", "azure", "mistral") and not failed else None}
    record["tags_json"] = {k: v for k, v in tags.items() if v not in (None, "")} or None
    return record


def entry_records(entry: dict) -> list:
    """The model calls of one log entry; a skip when it holds none."""
    ai = entry.get("ai")
    if isinstance(ai, dict) and ai:
        return [block_record(entry, name, block) for name, block in blocks(ai)] or [
            Skipped(None, "a Kong log entry whose ai section holds no model call")]
    if _MODEL_API_PATH.search(str(entry.get("upstream_uri") or "")):
        return [unlogged_call(entry)]
    return [Skipped(None, "a Kong log entry without an ai section: not a model call")]


def unlogged_call(entry: dict) -> dict:
    """A call to a model API whose entry has no ai section (the plugin's ``logging.log_statistics`` off, Kong's
    default; 3.6-3.8 leave it out of a failed call too): its time, duration, user and status, its model and usage
    unknown."""
    shared = entry_fields(entry)
    status = shared["http_status"]
    return {"_dedupe_key": f"kong|{entry_key(entry)}|unlogged", "source_id": as_dict(entry.get("request")).get("id"),
            "created_at": shared["created_at"], "status": "error" if status is not None and status >= 400 else "ok",
            "duration_ms": shared["duration_ms"], "user_id": shared["user_id"],
            "tags_json": {"route": shared["route"], "http_status": status,
                          "usage": "not logged: turn on the AI plugin's logging.log_statistics"}}


def _entries(value: Any) -> list:
    """The log entries a value holds: itself, an http-log batch's, or the entry a log store keeps it in (a Docker
    line's ``log``, CloudWatch's ``message``, Elasticsearch's ``_source``, Cloud Logging's ``jsonPayload``, Datadog's
    ``attributes``: ``app_log.held_records``); a Docker line of other output is skipped."""
    return [Skipped(None, "a line of Kong's access log or another program's output")
            if isinstance(item, dict) and not is_kong_entry(item) and isinstance(item.get("log"), str) else item
            for item in held_records(value, is_kong_entry)]


def is_kong_entry(value: Any) -> bool:
    return isinstance(value, dict) and "started_at" in value and "latencies" in value and "request" in value


class Kong:
    name = "kong"
    label = "Kong AI Gateway logs"
    skipped_hint = "calls are the blocks of an entry's ai section (ai.proxy, ai-proxy, the AI transformers)"
    order = 50

    def sniff(self, src) -> int:
        head = src.head().replace(b'\\"', b'"')
        if b'"started_at"' in head and b'"latencies"' in head and (b'"ai"' in head or b'"upstream_uri"' in head):
            return 91 if b'"ai"' in head else 60
        return 0

    def parse(self, src, ctx):
        for number, value in docker_pieces(iter_rows(src)):
            if isinstance(value, Reject) and not value.excerpt.lstrip().startswith(("{", "[")):
                yield Skipped(number, "a line of Kong's access or error log or another program's output")
                continue
            if isinstance(value, (Reject, Skipped)):
                yield value
                continue
            for entry in _entries(value):
                if isinstance(entry, Skipped):
                    yield Skipped(number, entry.reason)
                elif not is_kong_entry(entry):
                    yield Reject(number, "not a Kong log entry (started_at, latencies, request)", excerpt(entry))
                else:
                    read = item_record(number, entry, lambda e: {"calls": entry_records(e)}, "a Kong log entry")
                    yield from (_numbered(item, number) for item in read["calls"]) if isinstance(read, dict) else [read]


def _numbered(item: Any, number: int) -> Any:
    if isinstance(item, Skipped):
        return Skipped(number, item.reason)
    if isinstance(item, dict):
        item["_line"] = number
    return item


register(Kong())
