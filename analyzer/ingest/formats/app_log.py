"""What app logs of API calls share, whichever provider they call: the envelope around a call (when, how long,
what it cost, who, tags, errors), request/response pairs and the wrappers HTTP recorders put around them, streamed
server-sent events, JSON documents read record by record, and the join of batch inputs to their outputs.

``openai.py`` and ``anthropic.py`` build on this module; ``app_calls.py`` reads a logged call of either."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from typing import Any

from ..coerce import as_float
from ..records import is_json_lines, loads, maybe_json, parse_json_line, to_utc
from ..sample_rates import SAMPLE_RATE_KEYS

# Request parameters worth carrying to a replay, per API, in the order they are stored.
CHAT_PARAMS = (
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "response_format", "tools", "tool_choice",
    "parallel_tool_calls", "stop", "seed", "n", "frequency_penalty", "presence_penalty", "logit_bias", "logprobs",
    "top_logprobs", "reasoning_effort", "verbosity", "modalities", "prediction", "service_tier", "stream",
    "web_search_options",
)
RESPONSES_PARAMS = (
    "temperature", "top_p", "max_output_tokens", "reasoning", "text", "tools", "tool_choice", "parallel_tool_calls",
    "truncation", "service_tier", "previous_response_id", "prompt", "include", "background", "top_logprobs", "stream",
)
ANTHROPIC_PARAMS = (
    "max_tokens", "temperature", "top_p", "top_k", "stop_sequences", "tools", "tool_choice", "thinking",
    "service_tier", "stream", "container", "mcp_servers",
)
# Envelope keys of app logs, in order of preference.
TIME_KEYS = ("created_at", "timestamp", "ts", "time", "start_time", "startTime", "logged_at", "datetime", "date",
             "datetime_utc", "timestamp_ms", "request_time", "request_start_time", "utc_time", "timestamp_utc", "ts_iso",
             "ts_start",
             # the same keys as JavaScript and Java apps name them
             "createdAt", "loggedAt", "requestTime", "requestStartTime")
COST_KEYS = ("cost_usd", "cost", "total_cost", "response_cost", "spend", "price", "total_cost_usd", "estimated_cost_usd",
             "estimated_cost", "cost_estimate", "usd_cost", "cost_in_usd",
             "costUsd", "totalCost", "totalCostUsd", "estimatedCost")
# A cost logged as its parts, {"input": ..., "output": ..., "total": ...}: the total is the call's cost (in dollars,
# unless the object names another currency).
COST_TOTAL_KEYS = ("total", "total_cost", "total_usd", "usd", "total_cost_usd")
CENTS_KEYS = ("cost_cents", "cost_in_cents", "total_cost_cents", "costCents")
DURATION_MS_KEYS = ("duration_ms", "latency_ms", "elapsed_ms", "response_ms", "response_time_ms", "execution_time_ms",
                    "durationMs", "latencyMs", "elapsedMs", "responseTimeMs", "took_ms", "tookMs")
DURATION_S_KEYS = ("duration_s", "latency_s", "elapsed_s", "duration_seconds", "latency_seconds", "durationSeconds",
                   "latencySeconds", "elapsedSeconds")
# A call's start and end logged as two times, with no duration: the duration is their difference.
SPAN_KEYS = (("start_time", "end_time"), ("startTime", "endTime"), ("started_at", "ended_at"), ("started_at", "finished_at"),
             ("started_at", "completed_at"), ("startedAt", "endedAt"), ("startedAt", "completedAt"),
             ("request_start_time", "request_end_time"), ("ts_start", "ts_end"))
ENVELOPE_STATUS_KEYS = ("status_code", "http_status", "response_code", "statusCode", "httpStatus")  # an HTTP status of 400 or more: the call failed
USER_KEYS = ("user_id", "user", "end_user", "customer_id", "requester", "userId", "endUser", "endUserId", "customerId")
TAG_KEYS = ("metadata", "tags")
# kwargs/request_response: PromptLayer's request log. Before input/output, which Responses bodies nest (a line with a
# pair key taken before its own anywhere in it is left to Python by the SQL route).
# raw_request/raw_response: the provider's own bodies as a gateway stores them (TensorZero's inference tables), before
# the gateway's own `output`; a `raw_response` without its `raw_request` is an answer's text logged flat (a game's log).
REQUEST_KEYS = ("request", "req", "request_body", "requestBody", "inputs", "kwargs", "raw_request", "input")
RESPONSE_KEYS = ("response", "resp", "response_body", "responseBody", "outputs", "completion", "request_response",
                 "raw_response", "output", "model_output", "answer")
# A gateway's access log names the call's model and usage as OpenTelemetry's GenAI conventions do (the Envoy AI Gateway:
# ``gen_ai.request.model``, ``gen_ai.usage.input_tokens``), flat at the top of the line.
OTEL_MODEL_NAMES = ("gen_ai.response.model", "gen_ai.request.model")
OTEL_USAGE_NAMES = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens",
                    "gen_ai.usage.cache_creation.input_tokens")
# Keys that are a pair's response side only when they hold an object (a whole response); else they hold its text
# (``FLAT_ANSWER_KEYS``), or, for ``output``, a Responses object's items.
OBJECT_RESPONSE_KEYS = ("model_output", "answer")
ERROR_KEYS = ("error",)
# Token counts a call logged flat may give at its top instead of a usage object, and keys it may keep the answer under
# besides a pair's response keys (``app_calls.flat_answer``; SQL's "request alone" leaves lines with any of them).
FLAT_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "cache_read_input_tokens",
                   "cache_creation_input_tokens", "tokens_in", "tokens_out", "cache_read_tokens", "cache_creation_tokens",
                   "input_token", "output_token", "prompt_token_count", "completion_token_count", *OTEL_USAGE_NAMES)
# What homegrown logs and gateways' access logs call the API's counts (read as the API's own names): Higress's
# ``input_token``, the OpenTelemetry names the Envoy AI Gateway logs a call's usage under.
FLAT_USAGE_ALIASES = {"tokens_in": "input_tokens", "tokens_out": "output_tokens", "cache_read_tokens": "cache_read_input_tokens",
                      "cache_creation_tokens": "cache_creation_input_tokens", "input_token": "input_tokens",
                      "output_token": "output_tokens", "prompt_token_count": "prompt_tokens",
                      "completion_token_count": "completion_tokens", **dict(zip(OTEL_USAGE_NAMES, ("input_tokens", "output_tokens",
                                                                                     "cache_read_input_tokens",
                                                                                     "cache_creation_input_tokens"), strict=True))}
# Keys an app may hold the usage object under, besides ``usage``.
USAGE_HOLDERS = ("usage", "token_usage", "token_count", "tokens")
# A flat line's own ``status`` saying the call failed.
FAILED_STATUSES = ("failure", "failed", "error", "timeout")
STATUS_SPACE = " \t\r\n"  # what both routes trim around such a status
FLAT_ANSWER_KEYS = ("output_text", "answer", "reply", "generated_text", "response_text", "ai_output", "model_output",
                    "raw_response", "replies")
# Keys a call logged flat may keep its prompt and system prompt under, besides ``prompt`` and ``system``.
# ``prompts``: LangChain's on_llm_start hands a callback its prompts as a list of strings (one per generation).
FLAT_PROMPT_KEYS = ("prompt", "prompt_text", "user_prompt", "user_input", "question", "prompts")
FLAT_SYSTEM_KEYS = ("system", "system_prompt")
STATUS_CODE_KEYS = ("status_code", "http_status", "status")
SUCCESS_KEY = "success"  # false: the call failed, whether or not the log says why



def nonempty_object(value: Any) -> Any:
    return value if isinstance(value, (dict, list)) and value else None


def first_value(obj: dict, keys: tuple) -> Any:
    for key in keys:
        value = obj.get(key)
        if value is not None and value != "":
            return value
    return None


def unwrap_body(value: Any) -> tuple[Any, Any]:
    """(body, HTTP status) of an HTTP recorder's ``{"body": ..., "status_code": ...}`` wrapper."""
    value = maybe_json(value)
    if isinstance(value, dict) and "body" in value and not any(k in value for k in ("messages", "input", "choices", "output", "object", "content")):
        status = first_value(value, STATUS_CODE_KEYS)
        body = value["body"]
        if isinstance(body, dict) and isinstance(body.get("string"), str):  # VCR cassettes
            body = body["string"]
        return body, status
    return value, None


def answers_itself(obj: dict) -> bool:
    """A line that is itself a response object (a ChatCompletion, a Responses object, a Message): an object under
    one of ``OBJECT_RESPONSE_KEYS`` beside it is one of its own fields, not a pair's response."""
    return (obj.get("object") in ("chat.completion", "response") or "choices" in obj
            or (obj.get("type") == "message" and "content" in obj))


def pair_sides(obj: dict) -> tuple[Any, Any, bool]:
    """(request, response, found) of a request/response pair log line."""
    request = response = None
    found = False
    for key in REQUEST_KEYS:
        if key in obj:
            value = maybe_json(obj[key])
            if key == "input" and not (isinstance(value, dict) and ("messages" in value or "body" in value)):
                continue
            request, found = value, True
            break
    for key in RESPONSE_KEYS:
        if key in obj:
            value = obj[key]
            if key == "output" and not isinstance(maybe_json(value), (dict, str)):
                continue
            if key == "raw_response" and "raw_request" not in obj:
                continue
            if key in OBJECT_RESPONSE_KEYS and (not isinstance(maybe_json(value), dict) or answers_itself(obj)):
                continue
            response, found = value, True
            break
    return request, response, found


# Keys under which loggers and log stores nest an app's own record: Google Cloud Logging (``jsonPayload``, or the
# line as text in ``textPayload``), Elasticsearch dumps (``_source``), loguru's serialized records (``record`` ->
# ``extra``), Datadog (``attributes``), EventBridge (``detail``), CloudWatch (``message``, a JSON string; Logs Insights'
# ``@message``), Splunk (``result`` -> ``_raw``), Azure Monitor (``customDimensions``), Docker and Kubernetes (``log``),
# and the names apps give it themselves.
CALL_WRAPPER_KEYS = ("jsonPayload", "textPayload", "_source", "record", "extra", "attributes", "detail", "message",
                     "@message", "msg", "result", "_raw", "customDimensions", "data", "payload", "event", "fields",
                     "properties", "context", "details", "log", "json",
                     # the names apps give the call in their own structured logs ({"event": ..., "llm": {...}}); not any
                     # key: an eval dataset's `expected` answer or a cache hit's `cached` call is no call paid for
                     "llm", "llm_call", "llm_request", "ai", "genai", "gen_ai", "openai", "anthropic", "model_call",
                     "api_call", "inference",
                     "ai_log")  # the Higress gateway's access-log field (JSON text)
MAX_CALL_WRAPPERS = 3  # Datadog and loguru nest the app's record two levels down


def wrappers_around(obj: dict, holds_call, depth: int = MAX_CALL_WRAPPERS) -> list[dict]:
    """The objects from ``obj`` down to the one nested under ``CALL_WRAPPER_KEYS`` that ``holds_call`` (``obj`` first,
    the call's own object last), or [] when no wrapper holds one."""
    if depth == 0:
        return []
    for key in CALL_WRAPPER_KEYS:
        value = obj.get(key)
        if isinstance(value, str) and not value.lstrip().startswith("{"):
            continue
        inner = maybe_json(value)
        if not isinstance(inner, dict) or not inner:
            continue
        if holds_call(inner):
            return [obj, inner]
        deeper = wrappers_around(inner, holds_call, depth - 1)
        if deeper:
            return [obj, *deeper]
    return []


def held_records(value: Any, is_record) -> list:
    """The records a value holds: its elements (a batch), itself, or the record a log store or logger keeps it in
    (``wrappers_around``); a value that is none of these as it is, for the reader to say why."""
    if isinstance(value, list):
        return [record for item in value for record in held_records(item, is_record)]
    if isinstance(value, dict) and not is_record(value) and (chain := wrappers_around(value, is_record)):
        return [chain[-1]]
    return [value]


# Keys of a logged call, or of a broken one (a reject, not another log line).
CALL_KEYS = (*REQUEST_KEYS, *RESPONSE_KEYS, "messages", "choices", "object", "model", "usage", "prompt", "body",
             *FLAT_PROMPT_KEYS, *FLAT_ANSWER_KEYS, *FLAT_USAGE_KEYS, *USAGE_HOLDERS)


def other_log_line(obj: dict) -> bool:
    """A log store's, logger's or app's entry that is no model call at all ("START RequestId ...", "worker started",
    an app's progress or summary lines): neither it nor what its wrappers nest has a call's keys (a broken call is a
    reject), nor a JSON object cut short (``cut_wrapper``). Skipped and counted."""
    return not _has_call_keys(obj, MAX_CALL_WRAPPERS) and cut_wrapper(obj) is None


DOCKER_KEYS = frozenset({"log", "stream", "time", "attrs"})


def docker_pieces(values):
    """(number, value) as ``json_values`` gives them, with Docker's pieces of one long line joined again: Docker's
    json-file driver writes an app line longer than 16 KB as several entries, each ``log`` but the last without the
    line's newline. A line still cut at the end of the file is passed on as it is (``cut_wrapper`` rejects it)."""
    def joined(first: tuple) -> tuple:
        return first[0], {**first[1], "log": "".join(first[2])}

    pending: tuple | None = None  # (number of the first piece, the first entry, the texts so far)
    for number, value in values:
        piece = (isinstance(value, dict) and isinstance(value.get("log"), str) and value.keys() <= DOCKER_KEYS
                 and (pending is None or value.get("stream") == pending[1].get("stream")))
        if pending is not None and piece:
            pending[2].append(value["log"])
            if value["log"].endswith("\n"):
                yield joined(pending)
                pending = None
            continue
        if pending is not None:
            yield joined(pending)
            pending = None
        if piece and not value["log"].endswith("\n"):
            pending = (number, value, [value["log"]])
            continue
        yield number, value
    if pending is not None:
        yield joined(pending)


def cut_wrapper(obj: dict) -> str | None:
    """The wrapper key whose text opens a JSON object that does not parse: the app's line cut by its logger (Docker
    and Kubernetes split lines longer than 16 KB into several entries) or written broken."""
    for key in CALL_WRAPPER_KEYS:
        value = obj.get(key)
        if isinstance(value, str) and value.lstrip().startswith("{") and not isinstance(maybe_json(value), dict):
            return key
    return None


def _has_call_keys(obj: dict, depth: int) -> bool:
    if any(key in obj for key in CALL_KEYS):
        return True
    nested = (maybe_json(obj.get(key)) for key in CALL_WRAPPER_KEYS if key in obj) if depth else ()
    return any(isinstance(inner, dict) and _has_call_keys(inner, depth - 1) for inner in nested)


def scalar_keys(obj: dict) -> dict:
    """A wrapper's own keys about the call (when, who, cost, tags), without the objects it nests; a time written as
    an object is its ``timestamp`` (loguru: ``{"repr": "2025-11-24 10:05:00.25+00:00", "timestamp": 1763978700.25}``)."""
    out = {}
    for key, value in obj.items():
        if key in TIME_KEYS and isinstance(value, dict):
            value = value.get("timestamp")
        if not isinstance(value, (dict, list)) or key in TAG_KEYS:
            out[key] = value
    return out


def with_otel_model(obj: dict) -> dict:
    """A line that names its model only as OpenTelemetry does (``gen_ai.response.model``, else the request's), with that
    model under ``model``, as the other flat lines name theirs."""
    if obj.get("model"):
        return obj
    named = next((obj[key] for key in OTEL_MODEL_NAMES if isinstance(obj.get(key), str) and obj[key]), None)
    return obj if named is None else {**obj, "model": named}


_DURATION_TEXT = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|millis(?:econds?)?|s|secs?|seconds?)\s*", re.IGNORECASE)


def duration_ms(value: Any, unit_ms: float) -> float | None:
    """A logged duration in milliseconds: a number (or its text) in the key's unit (``unit_ms`` milliseconds), or text
    that names its own unit (``"812ms"``, ``"1.2 s"``); None when it is no time at all, which leaves the call's
    duration unknown rather than losing the call."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value) * unit_ms
    except ValueError:
        pass
    found = _DURATION_TEXT.fullmatch(str(value))
    if found is None:
        return None
    return float(found.group(1)) * (1.0 if found.group(2).lower().startswith("m") else 1000.0)


def logged_span(obj: dict) -> tuple[Any, Any] | None:
    """(start, end) as logged, of the first pair of ``SPAN_KEYS`` the line states both of."""
    for start, end in SPAN_KEYS:
        if first_value(obj, (start,)) is not None and first_value(obj, (end,)) is not None:
            return obj[start], obj[end]
    return None


def span_ms(start: Any, end: Any) -> float | None:
    """Milliseconds from ``start`` to ``end`` (times ``to_utc`` reads); None when either is no time or the end comes
    first, which leaves the duration unknown rather than losing the call."""
    try:
        began, ended = to_utc(start), to_utc(end)
    except (ValueError, OverflowError):
        return None
    if began is None or ended is None or ended < began:
        return None
    return (ended - began) / timedelta(milliseconds=1)


def cost_total(cost: dict) -> Any:
    """The total of a cost logged as its parts; None when it names none, or names a currency other than dollars."""
    if cost.get("currency") not in (None, "USD", "usd"):
        return None
    return first_value(cost, COST_TOTAL_KEYS)


def envelope(record: dict, obj: dict) -> dict:
    """Keys around the call in an app's log line: when, how long, what it cost, who, tags, errors."""
    if record.get("created_at") is None:
        when = first_value(obj, TIME_KEYS)
        if when is not None:
            record["created_at"] = to_utc(when)
    cost = first_value(obj, COST_KEYS)
    if isinstance(cost, dict):
        cost = cost_total(cost)
    cents = first_value(obj, CENTS_KEYS)
    if cost is not None and not isinstance(cost, (dict, list)):
        record["cost_usd"] = as_float(cost, "cost_usd")  # the one reading of a logged cost ("$0.01" too)
    elif cents is not None and not isinstance(cents, (dict, list)):
        number = as_float(cents, "cost_cents")
        if number is not None:
            record["cost_usd"] = number / 100
    duration = first_value(obj, DURATION_MS_KEYS)
    if duration is not None:
        record["duration_ms"] = duration_ms(duration, 1.0)
    else:
        seconds = first_value(obj, DURATION_S_KEYS)
        if seconds is not None:
            record["duration_ms"] = duration_ms(seconds, 1000.0)
        elif record.get("duration_ms") is None and (span := logged_span(obj)) is not None:
            record["duration_ms"] = span_ms(*span)
    if record.get("user_id") is None:
        user = first_value(obj, USER_KEYS)
        if user is not None and not isinstance(user, (dict, list)):
            record["user_id"] = user
    if record.get("tags_json") is None:
        for key in TAG_KEYS:
            tags = nonempty_object(obj.get(key))
            if tags is not None:
                record["tags_json"] = tags
                break
    if record.get("sample_rate") is None:
        record["sample_rate"] = first_value(obj, SAMPLE_RATE_KEYS)  # checked by coerce.normalise_record
    error = obj.get("error")
    if error or obj.get(SUCCESS_KEY) is False:
        record["status"] = "error"
    code = first_value(obj, ENVELOPE_STATUS_KEYS)
    if isinstance(code, (int, float)) and code >= 400:
        record["status"] = "error"
    return record


def parse_sse(text: str) -> list:
    """The JSON payloads of ``data:`` lines in server-sent-events text."""
    events = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if not payload or payload == "[DONE]":
            continue
        try:
            events.append(loads(payload))
        except ValueError:
            continue
    return events


SDK_REPR = re.compile(r"\s*[A-Z]\w*\(\w+=")  # ChatCompletion(id='chatcmpl-...', choices=[Choice(...)], ...)
MAX_REPR = 4 << 20


def sdk_repr_object(text: str) -> dict | None:
    """The object an SDK's response printed as Python's repr stands for (``str(ChatCompletion)``, as AutoGen's
    runtime log writes the response): ``Class(key=value, ...)`` as ``{key: value}``, read as a literal, never run."""
    if not SDK_REPR.match(text) or len(text) > MAX_REPR:
        return None

    def value(node):
        if isinstance(node, ast.Call) and not node.args and all(k.arg for k in node.keywords):
            return {k.arg: value(k.value) for k in node.keywords}
        if isinstance(node, (ast.List, ast.Tuple)):
            return [value(v) for v in node.elts]
        if isinstance(node, ast.Dict) and None not in node.keys:
            return {value(k): value(v) for k, v in zip(node.keys, node.values, strict=True)}
        return ast.literal_eval(node)  # constants, negative numbers; anything else is a ValueError

    try:
        found = value(ast.parse(text.strip(), mode="eval").body)
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):
        return None
    return found if isinstance(found, dict) else None


def iter_documents(src):
    """(record number, value) of a JSON document (array, wrapper object, pretty-printed object)."""
    from .generic import iter_json

    yield from iter_json(src)


def json_values(src):
    """(number, value or Reject) per line of a JSON Lines file, or per record of a JSON document."""
    if is_json_lines(src):
        return ((number, parse_json_line(number, line)) for number, line in src.lines())
    return iter_documents(src)


def model_family(model: Any) -> str:
    from ...pricing import catalog_names

    return catalog_names(str(model))[-1].lower() if model else ""


def batch_inputs_pending(ctx, store_name: str) -> bool:
    """Whether input lines read in this run wait for their results (``take_batch_input``): the results are then
    read in Python, which joins them."""
    return any(entry[2] is not None for entries in ctx.store.get(store_name, {}).values() for entry in entries)


def take_batch_input(ctx, store_name: str, custom_id: str, model: Any, into: str | None = None):
    """The pending input line for ``custom_id`` (same model family when several batches reuse ids), or None.
    ``into`` names the output file, so the input file's summary can say where its lines went."""
    entries = [e for e in ctx.store.get(store_name, {}).get(custom_id, []) if e[2] is not None]
    if not entries:
        return None
    if len(entries) > 1 and model:
        family = model_family(model)
        matching = [e for e in entries if model_family(e[2].get("model")) == family]
        if matching:
            entries = matching
    if len(entries) > 1:
        ctx.warnings.append(
            f"custom_id {custom_id!r} appears in {len(entries)} batch input files; its output was joined to the first."
        )
    entry = entries[0]
    record = entry[2]
    entry[2] = None  # consumed: not written as an unanswered input
    if into is not None:
        ctx.joined.setdefault(entry[0].display, set()).add(into)
    return record


def join_batch_input(record: dict, source: dict) -> None:
    """Fill a batch result with what its input line sent: the conversation, parameters, user and tags."""
    for key in ("system_prompt", "prompt_text", "messages_json"):
        record[key] = source.get(key)
    for key in ("params_json", "user_id", "tags_json"):
        if source.get(key) is not None:
            record[key] = source[key]
    if record.get("model") is None:
        record["model"] = source.get("model")
    record["_supersedes"] = source["_dedupe_key"]


