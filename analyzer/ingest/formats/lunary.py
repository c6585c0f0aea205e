"""Lunary runs: as its API and its dashboard's exports return them, and as its SDKs send them.

- runs: ``GET /v1/runs`` pages (``{"page", "limit", "data": [...]}``), the dashboard's raw JSON Lines export and its
  CSV (nested values as JSON in their cells): ``type``, ``name`` (the model of an ``llm`` run), ``input``/``output``,
  ``tokens`` (``prompt``, ``cachedPrompt``, ``completion``), ``cost`` (Lunary's, in USD: the logged cost),
  ``createdAt``/``endedAt``, ``duration`` (an interval such as ``00:00:00.609``), ``status``, ``error``, ``user``;
- the SDKs' event batches (``{"events": [...]}`` per request): an ``llm`` run is its ``start`` event (input, model,
  params, user) with its ``end`` (output, ``tokensUsage``, metadata) or ``error`` event, joined by ``runId``.

Only ``llm`` runs are calls; agent, tool, chain and thread runs, chat messages and feedback are skipped and counted.
Token counts are the SDK's: OpenAI's prompt count holds the cached tokens; Anthropic's leaves the cache out and
``cachedPrompt`` adds its reads and writes together, which the run's ``metadata`` (``cacheReadInputTokens``,
``cacheCreationInputTokens``) tells apart.
"""

from __future__ import annotations

import re
from datetime import datetime

from ..records import Reject, Skipped, to_utc
from . import register
from .generic import (
    chat_request_fields,
    decode_json,
    first,
    guess_provider,
    item_record,
    iter_rows,
    json_object,
    response_text,
    snake_columns,
    table_columns,
    to_float,
    to_int,
)

CALL_TYPE = "llm"
ASKED = {"input", "name", "params", "userId", "userProps", "tags", "parentRunId", "timestamp", "templateId"}
_INTERVAL = re.compile(r"^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$")
RUN_MARKS = {"siblingRunId", "templateVersionId", "isPublic", "parentFeedback"}


def _duration_ms(run: dict, start: datetime | None, end: datetime | None) -> float | None:
    """``duration`` as Lunary's API writes it (a Postgres interval, ``00:00:00.609``) or milliseconds; else the span
    of the run's times."""
    value = run.get("duration")
    match = _INTERVAL.match(str(value).strip()) if isinstance(value, str) else None
    if match:
        hours, minutes, seconds = match.groups()
        return (int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 1000.0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return (end - start).total_seconds() * 1000.0 if start and end else None


def _tokens(usage: dict, metadata: dict, provider: str | None) -> dict:
    """Input tokens with the cache's, reads and writes apart where Anthropic's metadata tells them."""
    prompt = to_int(usage.get("prompt"), "tokens.prompt")
    cached = to_int(first(usage, "cachedPrompt", "promptCached"), "tokens.cachedPrompt")
    read = to_int(metadata.get("cacheReadInputTokens"), "cacheReadInputTokens")
    write = to_int(metadata.get("cacheCreationInputTokens"), "cacheCreationInputTokens")
    out = {"output_tokens": to_int(usage.get("completion"), "tokens.completion"), "input_tokens": prompt}
    if read is not None or write is not None or provider == "anthropic":
        if prompt is not None:
            out["input_tokens"] = prompt + ((read or 0) + (write or 0) if read is not None or write is not None else cached or 0)
        out["cached_input_tokens"], out["cache_write_tokens"] = read, write
    else:
        out["cached_input_tokens"] = cached
    return out


def run_record(run: dict) -> dict | Skipped:
    """One run (of the API, an export, or joined from the SDK's events) as a call; other runs are skipped."""
    kind = first(run, "type")
    if kind != CALL_TYPE:
        return Skipped(None, f"a Lunary {kind or 'untyped'} run, not a model call")
    run_id = first(run, "id", "runId")
    if run_id is None:
        raise ValueError("a Lunary run without id")
    output = decode_json(run.get("output"))
    model = first(run, "name") or (output.get("model") if isinstance(output, dict) else None)
    provider = guess_provider(model)
    metadata = json_object(run.get("metadata"))
    start, end = to_utc(first(run, "createdAt", "timestamp")), to_utc(first(run, "endedAt"))
    error = decode_json(run.get("error"))
    user = json_object(run.get("user"))
    record: dict = {
        "source_id": str(run_id),
        "model": model,
        "provider": provider,
        "created_at": start,
        "duration_ms": _duration_ms(run, start, end),
        "cost_usd": to_float(run.get("cost"), "cost"),
        "status": "error" if error or first(run, "status") == "error" else "ok",
        "user_id": first(user, "externalId") or first(run, "userId"),
        "parent_span_id": first(run, "parentRunId"),
        "trace_id": first(run, "traceId"),
        "params_json": json_object(run.get("params")) or None,
        "_dedupe_key": f"lunary|{run_id}",
        **_tokens(json_object(first(run, "tokens", "tokensUsage")), metadata, provider),
    }
    record.update({k: v for k, v in chat_request_fields(decode_json(run.get("input"))).items() if v})
    answer = response_text(output) if output is not None else None
    if answer:
        record["response_text"] = answer
    tags = {"tags": decode_json(run.get("tags")) or None, "template": first(run, "templateSlug"),
            "feedback": decode_json(run.get("feedback")) or None,
            "error": (error.get("message") if isinstance(error, dict) else error) or None,
            "stop_reason": first(metadata, "stopReason")}
    record["tags_json"] = {k: v for k, v in tags.items() if v is not None} or None
    return record


def _joined_events(events: list[tuple[int, dict]]) -> list[tuple[int, dict | Skipped]]:
    """The SDK's events as runs: each ``llm`` run's start, end and error events joined by ``runId`` (at its first
    event's line); every other event skipped where it stands."""
    runs: dict[str, dict] = {}
    out: list[tuple[int, dict | Skipped]] = []
    for number, event in events:
        run_id = first(event, "runId")
        if first(event, "type") != CALL_TYPE or run_id is None:
            what = first(event, "type") or first(event, "event") or "untyped"
            out.append((number, Skipped(number, f"a Lunary {what} event, not a model call")))
            continue
        run = runs.get(str(run_id))
        if run is None:
            run = runs[str(run_id)] = {"id": run_id, "type": CALL_TYPE}
            out.append((number, run))
        stage = first(event, "event")
        for key, value in event.items():
            if value is None:
                continue
            if isinstance(value, dict) and isinstance(run.get(key), dict):  # metadata: the start's and the end's
                run[key] = {**run[key], **value}
            elif (stage == "start") == (key in ASKED) or key not in run:  # what was asked, at the start; the rest after
                run[key] = value
        if stage in ("end", "error"):
            run["endedAt"] = event.get("timestamp")
        if stage == "start":
            run["createdAt"] = event.get("timestamp")
    return out


class Lunary:
    name = "lunary"
    label = "a Lunary export"
    skipped_hint = "only llm runs are model calls; agent, tool, chain and thread runs and feedback are skipped"
    order = 50

    def sniff(self, src) -> int:
        columns = snake_columns(src)
        if {"run_id", "tokens_usage", "event"} <= columns and b'"runtime": "lunary' in src.head().replace(b'":"', b'": "'):
            return 92  # the SDK's event batches
        if {"id", "type", "name", "tokens"} <= columns and RUN_MARKS & table_columns(src):
            return 90
        return 0

    def parse(self, src, ctx):
        events: list[tuple[int, dict]] = []
        for number, row in iter_rows(src):
            if isinstance(row, (Reject, Skipped)):
                yield row
            elif isinstance(row, dict) and "runId" in row and "event" in row:
                events.append((number, row))
            else:
                yield item_record(number, row, run_record, "a Lunary run")
        for number, run in _joined_events(events):
            yield run if isinstance(run, Skipped) else item_record(number, run, run_record, "a Lunary run")


register(Lunary())
