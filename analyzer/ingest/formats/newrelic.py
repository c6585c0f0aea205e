"""New Relic AI monitoring: the LLM events its agents record, as the agent sends them and as NRQL returns them.

A call is an ``LlmChatCompletionSummary`` (model, token counts, duration, ``error``); its conversation and answer are
``LlmChatCompletionMessage`` events that name it (``completion_id``, ordered by ``sequence``, the answer marked
``is_response``); an ``LlmEmbedding`` is an embedding call. Shapes read:

- the agent's ``custom_event_data`` payload: ``[run id, {reservoir}, [[{"type", "timestamp"}, {attributes}], ...]]``;
- NRQL results: NerdGraph's ``{"data": {"actor": {"account": {"nrql": {"results": [...]}}}}}``, the Insights query
  API's ``{"results": [{"events": [...]}]}``, a list of events, JSON Lines, or the query builder's CSV;
- one event type per file (NRQL returns one per query) or several.

A summary and its messages in one file are one call. Messages whose summary is in another file (a query of the
messages alone) are a call of their own under the summary's id, so that either file, read first, is filled in by the
other (``rows_filled_in``); its token counts stay unknown until the summary is read. The agents record neither
cached nor reasoning tokens: OpenAI's counts hold them, Anthropic's prompt count leaves the cache out and no count
of it is kept.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..records import EMBEDDING_OPERATION, Reject, Skipped, to_utc
from . import register
from .generic import (
    chat_request_fields,
    first,
    guess_provider,
    item_record,
    iter_values,
    to_bool,
    to_float,
    to_int,
)

SUMMARY, MESSAGE, EMBEDDING = "LlmChatCompletionSummary", "LlmChatCompletionMessage", "LlmEmbedding"
EVENT_TYPES = (SUMMARY, MESSAGE, EMBEDDING)
# Attributes of the call that describe where it ran, not the call: kept out of tags_json.
NOT_TAGS = {"id", "span_id", "trace_id", "request_id", "timestamp", "duration", "vendor", "ingest_source", "error",
            "request.model", "response.model", "request.temperature", "request.max_tokens", "response.number_of_messages",
            "response.usage.prompt_tokens", "response.usage.completion_tokens", "response.usage.total_tokens",
            "eventType", "type", "input", "token_count"}
HEAD_MARKS = (b'"ingest_source"', b"ingest_source,", b",ingest_source")


def event_type(event: dict) -> str | None:
    """The event's type: stated (the agent's payload, ``eventType()`` in a query), else known by its attributes."""
    stated = first(event, "eventType", "type")
    if stated in EVENT_TYPES:
        return stated
    if "completion_id" in event and ("sequence" in event or "role" in event):
        return MESSAGE
    if "input" in event and ("request.model" in event or "response.model" in event):
        return EMBEDDING
    if "request.model" in event or "response.model" in event or "response.number_of_messages" in event:
        return SUMMARY
    return None


def events_in(value: Any) -> Iterator[dict]:
    """The events one JSON value holds, whatever wraps them."""
    if isinstance(value, list):
        pairs = [v for v in value if isinstance(v, list) and len(v) == 2 and all(isinstance(x, dict) for x in v)]
        if pairs and len(pairs) == len(value):  # the agent's payload: [{"type", "timestamp"}, {attributes}] each
            for header, attributes in pairs:
                yield {"eventType": header.get("type"), "timestamp": header.get("timestamp"), **attributes}
            return
        for item in value:
            yield from events_in(item)
        return
    if not isinstance(value, dict) or "reservoir_size" in value:  # the payload's run id and reservoir: no event
        return
    nrql = ((((value.get("data") or {}).get("actor") or {}).get("account") or {}).get("nrql")
            if isinstance(value.get("data"), dict) else None)
    if isinstance(nrql, dict):
        yield from events_in(nrql.get("results") or [])
        return
    for key in ("results", "events"):
        if isinstance(value.get(key), list):
            yield from events_in(value[key])
            return
    yield value


def _messages(events: list[dict]) -> list[dict]:
    ordered = sorted(events, key=lambda m: to_int(m.get("sequence"), "sequence") or 0)
    return [{"role": str(m.get("role") or "user"), "content": str(m.get("content") or ""),
             "is_response": bool(to_bool(m.get("is_response")))} for m in ordered]


def _conversation(record: dict, messages: list[dict]) -> None:
    asked = [{"role": m["role"], "content": m["content"]} for m in messages if not m["is_response"]]
    record.update({k: v for k, v in chat_request_fields(asked).items() if v})
    answer = "\n".join(m["content"] for m in messages if m["is_response"] and m["content"])
    if answer:
        record["response_text"] = answer


def _common(event: dict, source_id: str) -> dict:
    model = first(event, "response.model", "request.model")
    vendor = first(event, "vendor")
    tags = {k: v for k, v in event.items() if k not in NOT_TAGS and not str(k).startswith("response.headers.")
            and v not in (None, "")}
    return {
        "source_id": source_id,
        "model": model,
        "provider": str(vendor).lower() if vendor else guess_provider(model),
        "created_at": to_utc(first(event, "timestamp")),
        "trace_id": first(event, "trace_id"),
        "tags_json": {**tags, **({"span_id": event["span_id"]} if event.get("span_id") else {})} or None,
        "_dedupe_key": f"newrelic|{source_id}",
    }


def summary_record(event: dict, messages: list[dict]) -> dict:
    source_id = first(event, "id")
    if source_id is None:
        raise ValueError("an LlmChatCompletionSummary without id")
    record = _common(event, str(source_id))
    params = {name: event[key] for name, key in (("temperature", "request.temperature"), ("max_tokens", "request.max_tokens"))
              if event.get(key) not in (None, "")}
    record.update(
        input_tokens=to_int(event.get("response.usage.prompt_tokens"), "response.usage.prompt_tokens"),
        output_tokens=to_int(event.get("response.usage.completion_tokens"), "response.usage.completion_tokens"),
        duration_ms=to_float(event.get("duration"), "duration"),
        status="error" if to_bool(event.get("error")) else "ok",
        params_json=params or None,
    )
    _conversation(record, messages)
    return record


def messages_record(completion_id: str, events: list[dict]) -> dict:
    """Messages whose summary is not in the file: the call as far as they tell it."""
    record = _common(min(events, key=lambda m: to_int(m.get("sequence"), "sequence") or 0), completion_id)
    record["tags_json"] = None
    messages = _messages(events)
    _conversation(record, messages)
    record["status"] = "ok" if any(m["is_response"] for m in messages) else "no_response"
    return record


def embedding_record(event: dict) -> dict:
    source_id = first(event, "id")
    if source_id is None:
        raise ValueError("an LlmEmbedding without id")
    record = _common(event, str(source_id))
    record.update(
        operation=EMBEDDING_OPERATION, duration_ms=to_float(event.get("duration"), "duration"),
        input_tokens=to_int(event.get("response.usage.total_tokens"), "response.usage.total_tokens"),
        status="error" if to_bool(event.get("error")) else "ok",
    )
    return record


class NewRelic:
    name = "newrelic"
    label = "New Relic AI monitoring events"
    skipped_hint = "its calls are LlmChatCompletionSummary and LlmEmbedding events, with LlmChatCompletionMessage events"
    order = 50

    def sniff(self, src) -> int:
        head = src.head()
        if any(t.encode() in head for t in EVENT_TYPES) and b'"type"' in head:
            return 92  # the agent's payload names each event's type
        if any(mark in head for mark in HEAD_MARKS) and (b"request.model" in head or b"completion_id" in head
                                                          or b"response.model" in head):
            return 90
        return 0

    def parse(self, src, ctx):
        events: list[tuple[int, dict]] = []
        for number, value in iter_values(src):
            if isinstance(value, (Reject, Skipped)):
                yield value
                continue
            events.extend((number, event) for event in events_in(value))
        typed = [(number, event_type(event), event) for number, event in events]
        messages: dict[str, list[dict]] = {}
        for _, kind, event in typed:
            if kind == MESSAGE and event.get("completion_id") not in (None, ""):
                messages.setdefault(str(event["completion_id"]), []).append(event)
        summarised = {str(e.get("id")) for _, kind, e in typed if kind == SUMMARY}
        read: set[str] = set()  # calls told by their messages alone, already read
        for number, kind, event in typed:
            if kind == SUMMARY:
                yield item_record(number, event, lambda e: summary_record(e, _messages(messages.get(str(e.get("id")), []))),
                                  "an LlmChatCompletionSummary")
            elif kind == EMBEDDING:
                yield item_record(number, event, embedding_record, "an LlmEmbedding")
            elif kind == MESSAGE:
                completion = str(event.get("completion_id") or "")
                if not completion or completion in summarised:
                    yield Skipped(number, "a message of a call (read with its LlmChatCompletionSummary)")
                elif completion not in read:
                    read.add(completion)
                    yield item_record(number, event, lambda e: messages_record(str(e["completion_id"]),
                                                                               messages[str(e["completion_id"])]),
                                      "an LlmChatCompletionMessage")
                else:
                    yield Skipped(number, "a message of a call (read with its first message)")
            else:
                yield Skipped(number, f"a New Relic event that is not an LLM call ({first(event, 'eventType', 'type') or 'unknown'})")


register(NewRelic())
