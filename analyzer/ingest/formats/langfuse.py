"""Langfuse: exported observations, and the ingestion events its SDKs send.

- ``langfuse``: observations and generations: the public API's camelCase JSON ({"data": [...]} pages or lists),
  UI batch exports (CSV/JSON), trace exports (``{"trace": ..., "observations": [...]}``), traces as
  ``GET /api/public/traces/{id}`` returns them (the trace's fields with its full ``observations`` inside; one, a
  list or JSON Lines; the trace's user, session, tags and name go to its generations) and blob-storage exports
  in snake_case (CSV, JSON, JSON Lines or Parquet, legacy `observations/` and enriched `observations_v2/`).
- ``langfuse-batch``: ingestion API batches, ``{"batch": [{"id", "type", "timestamp", "body"}, ...]}`` as the SDKs
  send them to ``/api/public/ingestion`` (one batch, a list of them, or JSON Lines of batches or events).
  ``trace-create`` gives a generation its trace (user, session, tags); ``generation-create`` and
  ``generation-update`` of one id are joined, later values over earlier ones (``observation-create``/``-update``
  of type GENERATION likewise); ``span-create``, ``span-update`` and ``event-create`` are not model calls.

Only GENERATION (and EMBEDDING) observations are model calls; spans, events, tools and the rest are skipped and
counted, not rejected. Token counts follow Langfuse's own rule: every usage key naming "input" adds to input and
every key naming "output" to output, so cached and audio tokens are counted once (``usage`` may also be
``{input, output, total, inputCost, outputCost, totalCost}`` or OpenAI's ``{promptTokens, completionTokens}``). The
cost Langfuse recorded (costDetails, totalCost or calculatedTotalCost) is kept as the log's cost.
"""

from __future__ import annotations

from ..records import Reject, Skipped, excerpt, to_utc
from ..sample_rates import SAMPLE_RATE_KEYS
from . import register
from .otel import NestedCalls, nested_calls, span_record, usage_from_details
from .otel_spans import Span
from .generic import (
    iter_json,
    iter_rows,
    records_from_rows,
    chat_request_fields,
    decode_json,
    first,
    guess_provider,
    ms_between,
    resource_model,
    response_text,
    snake_columns,
    snake_keys,
    to_float,
    to_int,
)

MODEL_CALL_TYPES = {"GENERATION", "EMBEDDING"}
LITELLM_EMBEDDINGS = ("litellm-embedding", "litellm-aembedding")  # what LiteLLM names an embedding call's generation
SKIPPED_HINT = "spans, events and other observations are skipped; a model call is a GENERATION (or EMBEDDING) observation"


def _cost(r: dict) -> float | None:
    details = decode_json(r.get("cost_details"))
    if isinstance(details, dict) and details:
        if details.get("total") is not None:
            return to_float(details["total"], "costDetails.total")
        values = [number for number in (to_float(v) for v in details.values()) if number is not None]
        if values:
            return sum(values)
    cost = to_float(first(r, "total_cost", "calculated_total_cost"), "totalCost")
    if cost is not None:
        return cost
    usage = decode_json(r.get("usage"))
    if isinstance(usage, dict) and usage.get("totalCost") is not None:
        return to_float(usage["totalCost"], "usage.totalCost")
    if isinstance(usage, dict) and (usage.get("inputCost") is not None or usage.get("outputCost") is not None):
        return (to_float(usage.get("inputCost"), "usage.inputCost") or 0.0) + (to_float(usage.get("outputCost"), "usage.outputCost") or 0.0)
    for pair in (("input_cost", "output_cost"), ("calculated_input_cost", "calculated_output_cost")):
        parts = [to_float(r.get(k), k) for k in pair]
        if any(p is not None for p in parts):
            return sum(p or 0.0 for p in parts)
    return None


def _span_of(r: dict, obs_id, attributes: dict) -> Span:
    """An observation ingested through Langfuse's OTel endpoint, as the span it was (its attributes kept)."""
    return Span(span_id=str(obs_id), trace_id=first(r, "trace_id"), parent_id=first(r, "parent_observation_id"),
                name=str(first(r, "name") or ""), start=to_utc(first(r, "start_time")), end=to_utc(first(r, "end_time")),
                attributes=attributes)


def _otel_fill(record: dict, span_record: dict) -> None:
    """Fields Langfuse left empty, from the span's own attributes."""
    for key in ("model", "provider", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
                "reasoning_tokens", "cost_usd", "system_prompt", "prompt_text", "messages_json", "response_text",
                "params_json", "operation", "user_id", "sample_rate"):
        if record.get(key) in (None, "", [], {}) and span_record.get(key) not in (None, "", [], {}):
            record[key] = span_record[key]


def observation_record(row: dict) -> dict | Skipped:
    """A `requests` record for a generation; ``Skipped`` for observations that are not model calls."""
    r = snake_keys(row)
    kind = str(first(r, "type") or "").upper()
    obs_id = first(r, "id", "observation_id", "span_id")
    metadata = decode_json(r.get("metadata"))
    metadata = metadata if isinstance(metadata, dict) else {}
    attributes = decode_json(metadata.get("attributes"))
    from_otel = None
    if isinstance(attributes, dict) and attributes and obs_id is not None:
        from_otel = span_record(_span_of(r, obs_id, attributes))
    if kind and kind not in MODEL_CALL_TYPES and not isinstance(from_otel, dict):
        return Skipped(None, f"a Langfuse {kind.lower()}, not a model call")
    if obs_id is None:
        raise ValueError("observation without id")
    model = resource_model(first(r, "provided_model_name", "model"))
    start = to_utc(first(r, "start_time", "timestamp"))
    record: dict = {
        "source_id": str(obs_id),
        "model": model,
        "provider": metadata.get("ls_provider") or metadata.get("provider") or guess_provider(model),
        "created_at": start,
        "cost_usd": _cost(r),
    }
    usage = usage_from_details(r.get("usage_details"))
    if not any(v is not None for v in usage.values()):
        usage = usage_from_details(r.get("usage"))
    if not any(v is not None for v in usage.values()):
        usage = {
            "input_tokens": to_int(first(r, "input_tokens", "prompt_tokens", "input_usage"), "inputTokens"),
            "output_tokens": to_int(first(r, "output_tokens", "completion_tokens", "output_usage"), "outputTokens"),
        }
    record.update({k: v for k, v in usage.items() if v is not None})

    # Langfuse's SDKs before v2 called a generation's input and output prompt and completion
    request = chat_request_fields(decode_json(first(r, "input", "prompt")))
    record.update({k: v for k, v in request.items() if v})
    answer = response_text(decode_json(first(r, "output", "completion")))
    if answer:
        record["response_text"] = answer
    params = decode_json(r.get("model_parameters"))
    if isinstance(params, dict) and params:
        record["params_json"] = params

    duration = ms_between(start, to_utc(first(r, "end_time")))
    if duration is None:
        latency = to_float(first(r, "latency"), "latency")
        duration = latency * 1000.0 if latency is not None else None  # exported in seconds
    record["duration_ms"] = duration
    level = str(first(r, "level") or "").upper()
    record["status"] = "error" if level == "ERROR" else "ok"
    record["user_id"] = first(r, "user_id") or metadata.get("user_id") or metadata.get("langfuse_user_id")
    tags = {
        "trace_id": first(r, "trace_id"),
        "name": first(r, "name"),
        "type": kind or None,
        "session_id": first(r, "session_id"),
        "trace_name": first(r, "trace_name"),
        "tags": decode_json(r.get("tags")) or None,
        "environment": first(r, "environment"),
        "prompt_name": first(r, "prompt_name"),
        "status_message": first(r, "status_message"),
    }
    record["tags_json"] = {k: v for k, v in tags.items() if v not in (None, "", [], {}, "default")} or None
    record["trace_id"] = first(r, "trace_id")
    record["parent_span_id"] = first(r, "parent_observation_id")
    # LiteLLM's Langfuse callback sends its embedding calls as generations named litellm-aembedding
    record["operation"] = "embeddings" if kind == "EMBEDDING" or first(r, "name") in LITELLM_EMBEDDINGS else None
    # Langfuse's SDKs sample client-side (sample_rate); an export carries the rate only where the app recorded it.
    stated = first(r, "sample_rate", "sampling_rate")
    record["sample_rate"] = stated if stated is not None else first(metadata, *SAMPLE_RATE_KEYS)
    record["_dedupe_key"] = f"langfuse|{obs_id}"
    if isinstance(from_otel, dict):
        _otel_fill(record, from_otel)
        record["_dedupe_key"] = from_otel.get("_dedupe_key", record["_dedupe_key"])  # one span, whichever export
    return record


_FROM_TRACE = {"userId": "userId", "sessionId": "sessionId", "name": "traceName", "tags": "tags",
               "environment": "environment"}


def _observations_of(row: dict, trace: dict | None = None) -> list:
    """The observations one row holds: a trace with its observations inside gives each of them (with the trace's
    user, session, name and tags); any other row is one observation (with those of ``trace``, the trace of a trace
    export ``{"trace": ..., "observations": [...]}``, whose observations are read one by one)."""
    if not isinstance(row, dict):
        return [row]  # not an object: the reader rejects it
    observations = row.get("observations")
    if not isinstance(observations, list) or first(snake_keys(row), "type", "trace_id") is not None:
        return [_with_trace(row, trace) if trace else row]
    full = [o for o in observations if isinstance(o, dict)]
    if not full:
        reason = "a Langfuse trace that lists its observations by id only (no usage): export it with GET /traces/{id}"
        return [{"_skipped": reason if observations else "a Langfuse trace without observations"}]
    return [_with_trace(obs, row) for obs in full]


def _with_trace(obs: dict, trace: dict) -> dict:
    """An observation with what its trace says of it where it says nothing itself: user, session, name, tags."""
    obs = dict(obs)
    for trace_key, obs_key in _FROM_TRACE.items():
        if obs.get(obs_key) in (None, "", []) and trace.get(trace_key) not in (None, "", []):
            obs[obs_key] = trace[trace_key]
    obs.setdefault("traceId", trace.get("id"))
    return obs


def _export_trace(src) -> dict | None:
    """The trace of a Langfuse trace export (``{"trace": {...}, "observations": [...]}``), else None."""
    from ..records import first_json_object

    obj = first_json_object(src)
    trace = obj.get("trace") if isinstance(obj, dict) and "observations" in obj else None
    return trace if isinstance(trace, dict) else None


def _observation_or_skip(item: dict) -> dict | Skipped:
    if "_skipped" in item and len(item) == 1:
        return Skipped(None, item["_skipped"])
    return observation_record(item)


class Langfuse:
    name = "langfuse"
    label = "a Langfuse export"
    order = 50
    skipped_hint = SKIPPED_HINT

    def sniff(self, src) -> int:
        columns = snake_columns(src)
        if {"id", "observations"} <= columns and {"timestamp", "html_path", "total_cost", "latency"} & columns:
            return 90  # traces with their observations inside (GET /api/public/traces/{id}, or the list's pages)
        if "trace_id" not in columns or "id" not in columns or {"response_cost", "call_type"} & columns:
            return 0  # LiteLLM's StandardLoggingPayload has a trace_id, id, startTime and model too
        if {"type", "start_time"} <= columns:
            return 92
        if "start_time" in columns and ({"model", "provided_model_name", "usage", "usage_details"} & columns):
            return 88
        return 0

    def parse(self, src, ctx):
        nested = nested_generations(_observation_links(src))
        trace = _export_trace(src)
        for item in records_from_rows(src, _observation_or_skip, "an observation object",
                                      items=lambda row: _observations_of(row, trace)):
            if isinstance(item, dict):
                yield from nested.take(item.get("_line") or 0, item.get("source_id"), item)
            else:
                yield item
        yield from nested.leftovers()


def _observation_links(src):
    """(id, parent observation id, type, trace id) of every observation of the file (a first pass)."""
    for _, row in iter_rows(src):
        if not isinstance(row, dict):
            continue
        for item in _observations_of(row):
            if isinstance(item, dict):
                r = snake_keys(item)
                yield (first(r, "id", "observation_id", "span_id"), first(r, "parent_observation_id"),
                       str(first(r, "type") or "").upper(), first(r, "trace_id"))


def nested_generations(links) -> NestedCalls:
    """A generation inside a generation (LangChain's callback handler around the OpenAI integration's, or a
    framework span and the client's span both ingested through the OTel endpoint as generations) is one model
    call: counted at the innermost generation, the outer one skipped (``otel.NestedCalls``), through any spans
    between them in the same trace."""
    parents: dict[str, str] = {}
    calls: dict[str, tuple[str, str | None]] = {}
    for obs_id, parent, kind, trace in links:
        if obs_id is None:
            continue
        obs_id = str(obs_id)
        if parent not in (None, "") and str(parent) != obs_id:
            parents[obs_id] = str(parent)
        if kind in MODEL_CALL_TYPES:
            calls[obs_id] = (kind, None if trace in (None, "") else str(trace))
    nested = nested_calls(parents, calls)
    nested.reason = "a Langfuse generation around a generation of its own (counted at the inner one)"
    return nested


EVENT_KINDS = {
    "generation-create": "GENERATION", "generation-update": "GENERATION", "span-create": "SPAN",
    "span-update": "SPAN", "event-create": "EVENT", "observation-create": None, "observation-update": None,
}
NOT_OBSERVATIONS = {"trace-create", "score-create", "sdk-log"}


def ingestion_events(src):
    """(line, event) of every ingestion event in the file, whatever wraps them: a batch, a list of batches,
    JSON Lines of batches or of events; or (line, Reject)."""
    for number, item in iter_json(src):
        if isinstance(item, Reject):
            yield number, item
        elif isinstance(item, dict) and isinstance(item.get("batch"), list):
            for event in item["batch"]:
                yield number, event
        else:
            yield number, item


class _Observation:
    """One observation put together from its create and update events."""

    def __init__(self, line: int):
        self.line = line
        self.kind: str | None = None
        self.body: dict = {}

    def merge(self, kind: str | None, body: dict) -> None:
        self.kind = self.kind or kind or (str(body.get("type")).upper() if body.get("type") else None)
        self.body.update({k: v for k, v in body.items() if v is not None})


def _batch_observation(obs: _Observation, traces: dict):
    body = dict(obs.body)
    body["type"] = obs.kind or "GENERATION"
    trace = traces.get(body.get("traceId"), {})
    if trace:
        body.setdefault("userId", trace.get("userId"))
        body.setdefault("sessionId", trace.get("sessionId"))
        body.setdefault("traceName", trace.get("name"))
        body.setdefault("tags", trace.get("tags"))
        body.setdefault("environment", trace.get("environment"))
    record = observation_record(body)
    if isinstance(record, Skipped):
        return Skipped(obs.line, record.reason)
    record["_line"] = obs.line
    return record


class LangfuseIngestion:
    """Ingestion API batches: events joined into observations, generations stored."""

    name = "langfuse-batch"
    label = "a Langfuse ingestion batch"
    order = 50
    skipped_hint = SKIPPED_HINT

    def sniff(self, src) -> int:
        from ..records import first_json_object

        obj = first_json_object(src)
        if not isinstance(obj, dict):
            return 0
        events = obj["batch"] if isinstance(obj.get("batch"), list) else [obj]
        first_event = next((e for e in events if isinstance(e, dict)), None)
        if first_event and first_event.get("type") in EVENT_KINDS.keys() | NOT_OBSERVATIONS and isinstance(first_event.get("body"), dict):
            return 95
        return 0

    def parse(self, src, ctx):
        traces: dict = {}
        observations: dict[str, _Observation] = {}
        for number, event in ingestion_events(src):
            problem = self._take(number, event, traces, observations)
            if problem is not None:
                yield problem
        nested = nested_generations((obs_id, obs.body.get("parentObservationId"), obs.kind or "GENERATION",
                                     obs.body.get("traceId")) for obs_id, obs in observations.items())
        for obs in observations.values():
            try:
                record = _batch_observation(obs, traces)
            except (ValueError, TypeError, AttributeError) as exc:
                yield Reject(obs.line, str(exc), excerpt(obs.body))
                continue
            if isinstance(record, dict):
                yield from nested.take(obs.line, record.get("source_id"), record)
            else:
                yield record
        yield from nested.leftovers()

    @staticmethod
    def _take(number: int, event, traces: dict, observations: dict) -> Reject | None:
        if isinstance(event, Reject):
            return event
        kind = event.get("type") if isinstance(event, dict) else None
        body = event.get("body") if isinstance(event, dict) else None
        if kind not in EVENT_KINDS and kind not in NOT_OBSERVATIONS:
            return Reject(number, f"not a Langfuse ingestion event (type {kind!r})", excerpt(event))
        if not isinstance(body, dict):
            return Reject(number, f"a {kind} event needs a body object", excerpt(event))
        if kind == "trace-create":
            if body.get("id") is not None:
                traces.setdefault(body["id"], {}).update({k: v for k, v in body.items() if v is not None})
            return None
        if kind in NOT_OBSERVATIONS:
            return None
        obs_id = body.get("id") or event.get("id")
        if obs_id is None:
            return Reject(number, f"a {kind} event without an id", excerpt(event))
        obs = observations.setdefault(str(obs_id), _Observation(number))
        obs.merge(EVENT_KINDS[kind], {**body, "id": obs_id})
        return None


register(Langfuse())
register(LangfuseIngestion())
