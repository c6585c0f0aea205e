"""OpenTelemetry spans as people keep them, read into one shape (``Span``) whatever wrote them:

- OTLP JSON as the collector's file exporter writes it: ``{"resourceSpans": [{"resource", "scopeSpans": [{"scope",
  "spans": [...]}]}]}`` per line or as one document (also ``instrumentationLibrarySpans``, snake_case keys);
- bare OTLP/JSON spans or lists of them: typed attribute values (``{"key", "value": {"stringValue"|"intValue"|...}}``,
  int64 written as strings), ids in hex or base64, times in ``*UnixNano`` strings;
- the Python SDK's ``span.to_json()`` and ConsoleSpanExporter output: flat ``attributes`` objects, ``context``
  with ``0x`` ids, ISO times, often pretty-printed objects one after another;
- the JS SDK's span objects: ``traceId``/``spanId`` or ``id``, ``parentId``/``parentSpanId``/``parentSpanContext``,
  ``startTime``/``endTime`` as ``[seconds, nanoseconds]`` or ``timestamp``/``duration`` in microseconds;
- Zipkin JSON v2 (``[{"traceId", "id", "parentId", "name", "timestamp", "duration", "localEndpoint", "tags",
  "annotations"}]``, what the collector's zipkin exporter sends and Zipkin's UI downloads): tags are the attributes,
  every value a string; an annotation whose value is ``{"<event name>": {attributes}}`` is an event;
- Jaeger JSON (the UI's "Download JSON" and the query API's ``{"data": [{"traceID", "spans": [...],
  "processes"}]}``): ``operationName``, ``references`` (the CHILD_OF span is the parent), ``startTime``/``duration``
  in microseconds, typed ``tags`` (``{"key", "type", "value"}``) as the attributes, ``logs`` as events (the
  ``event`` field names one), the process's service; the query API v3's ``{"result": {"resourceSpans": [...]}}``
  is OTLP JSON;
- Logfire's ``records`` table as its query API returns it (``{"columns", "rows"}``, the column-oriented
  ``{"columns": [{"name", "values"}]}``, the v2 ``{"schema", "data"}``), as JSON Lines or CSV of its rows:
  ``span_name``, ``span_id``, ``parent_span_id``, ``start_timestamp``/``end_timestamp``, ``attributes``,
  ``otel_events``, ``otel_status_code``, ``service_name``, ``otel_scope_name``.

Log records are read too (``LogEvent``), for the GenAI events instrumentations emit as logs rather than span events:
OTLP JSON's ``{"resourceLogs": [{"resource", "scopeLogs": [{"scope", "logRecords": [...]}]}]}`` (the collector's
file exporter, one export per line), the Python SDK's ``LogRecord.to_json()`` / ConsoleLogExporter output
(``body``, ``attributes``, ``trace_id``/``span_id`` with ``0x``, ISO ``timestamp``, ``event_name``) and the JS SDK's
log records written with ``JSON.stringify`` (``hrTime``, ``_body``, ``spanContext``, a resource's
``_rawAttributes`` pairs: what Gemini CLI's telemetry outfile holds, between its metrics exports).
"""

from __future__ import annotations

import ast
import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterator

from ..records import to_utc
from .generic import first

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_EPOCH = datetime(1970, 1, 1)
_ERROR_CODES = {2, "2", "ERROR", "Error", "STATUS_CODE_ERROR", "StatusCode.ERROR"}


@dataclass
class Span:
    span_id: str | None
    trace_id: str | None
    parent_id: str | None
    name: str
    start: datetime | None
    end: datetime | None
    attributes: dict
    events: list[tuple[str, dict]] = field(default_factory=list)
    error: bool = False
    status_message: str | None = None
    resource: dict = field(default_factory=dict)
    scope: str | None = None
    trace_state: str | None = None  # W3C tracestate; its ``ot=th:`` says how the span was sampled


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` (``{"stringValue": ...}`` and friends) as a plain value; plain values pass through."""
    if not isinstance(value, dict) or len(value) != 1:
        return {} if value == {} else value
    (kind, inner), = value.items()
    if kind in ("stringValue", "string_value", "boolValue", "bool_value", "bytesValue", "bytes_value"):
        return inner
    if kind in ("intValue", "int_value"):
        return int(inner) if isinstance(inner, (str, int)) and str(inner).lstrip("-").isdigit() else inner
    if kind in ("doubleValue", "double_value"):
        return float(inner) if isinstance(inner, (str, int, float)) else inner
    if kind in ("arrayValue", "array_value"):
        return [any_value(v) for v in (inner or {}).get("values", [])] if isinstance(inner, dict) else inner
    if kind in ("kvlistValue", "kvlist_value"):
        return key_values((inner or {}).get("values", [])) if isinstance(inner, dict) else inner
    return value


def _flatten_into(out: dict, key: str, value: Any) -> None:
    """Add the dotted keys a nested attribute value stands for (``llm.input_messages`` as a list of message
    objects gives ``llm.input_messages.0.message.role``), keeping every key already there."""
    if isinstance(value, dict):
        for sub, inner in value.items():
            out.setdefault(f"{key}.{sub}", inner)
            _flatten_into(out, f"{key}.{sub}", inner)
    elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        for index, item in enumerate(value):
            _flatten_into(out, f"{key}.{index}", item)


def key_values(items: Any) -> dict:
    """OTLP attributes (a list of ``{"key", "value"}``) or an attributes object, flat or nested (nested values
    also give their dotted keys), as a dict of plain values."""
    out: dict = {}
    if isinstance(items, dict):
        out.update(items)
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and "key" in item:
            out.setdefault(str(item["key"]), any_value(item.get("value")))
    for key, value in list(out.items()):
        _flatten_into(out, str(key), value)
    return out


def hex_id(value: Any, width: int = 16) -> str | None:
    """A trace or span id as lower-case hex: hex as is (``0x`` prefix dropped), base64 decoded, a JSON integer (what
    Python's ``int`` ids become in a hand-written dump) in ``width`` hex digits; None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return format(value, f"0{width}x")
    text = str(value).strip()
    if text.lower().startswith("0x"):
        text = text[2:]
    if _HEX.match(text) and len(text) in (16, 32):
        return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text.lower() if _HEX.match(text) else text
    return raw.hex() if len(raw) in (8, 16) else text


def _nanos(value: Any) -> datetime | None:
    if value is None or value == "" or str(value) == "0":
        return None
    nanos = int(value)
    return _EPOCH + timedelta(microseconds=nanos // 1000)


def _hr_time(value: Any) -> datetime | None:
    """JS HrTime ``[seconds, nanoseconds]``, epoch nanoseconds (MLflow 2's ``start_time``), epoch milliseconds or an
    ISO string."""
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return _EPOCH + timedelta(seconds=int(value[0]), microseconds=int(value[1]) // 1000)
    return to_utc(value) if value not in (None, "") else None


def _times(raw: dict) -> tuple[datetime | None, datetime | None]:
    for start_key, end_key in (("startTimeUnixNano", "endTimeUnixNano"), ("start_time_unix_nano", "end_time_unix_nano")):
        if raw.get(start_key) not in (None, ""):
            return _nanos(raw.get(start_key)), _nanos(raw.get(end_key))
    if raw.get("start_time") not in (None, "") or raw.get("startTime") not in (None, ""):
        start = raw.get("start_time", raw.get("startTime"))
        end = raw.get("end_time", raw.get("endTime"))
        return _hr_time(start), _hr_time(end)
    if isinstance(raw.get("timestamp"), (int, float)):  # JS console exporter: microseconds since the epoch
        start = _EPOCH + timedelta(microseconds=int(raw["timestamp"]))
        duration = raw.get("duration")
        return start, start + timedelta(microseconds=float(duration)) if isinstance(duration, (int, float)) else None
    return None, None


def _ids(raw: dict) -> tuple[str | None, str | None, str | None]:
    context = raw.get("context") or raw.get("spanContext") or raw.get("_spanContext") or {}
    context = context if isinstance(context, dict) else {}
    span_id = raw.get("spanId", raw.get("span_id", context.get("span_id", context.get("spanId", raw.get("id")))))
    trace_id = raw.get("traceId", raw.get("trace_id", context.get("trace_id", context.get("traceId"))))
    parent = raw.get("parentSpanId", raw.get("parent_span_id", raw.get("parentId", raw.get("parent_id"))))
    parent_context = raw.get("parentSpanContext") or raw.get("parent")
    if parent is None and isinstance(parent_context, dict):
        parent = parent_context.get("spanId", parent_context.get("span_id"))
    return hex_id(span_id), hex_id(trace_id, 32), hex_id(parent)


def _status(raw: dict) -> tuple[bool, str | None]:
    status = raw.get("status", raw.get("status_code"))  # Phoenix: a top-level status_code and status_message
    if status is not None and not isinstance(status, dict) and raw.get("status_message"):
        return status in _ERROR_CODES, str(raw["status_message"])
    if isinstance(status, dict):
        code = status.get("code", status.get("status_code"))
        return code in _ERROR_CODES, status.get("message") or status.get("description")
    return status in _ERROR_CODES, None


def _events(raw: dict) -> list[tuple[str, dict]]:
    out = []
    for event in raw.get("events") or []:
        if isinstance(event, dict):
            out.append((str(event.get("name") or ""), key_values(event.get("attributes") or [])))
    return out


def is_zipkin_span(obj: Any) -> bool:
    """A Zipkin v2 span: ``traceId`` and ``id``, and ``tags`` or an endpoint, no ``attributes``."""
    return (isinstance(obj, dict) and "traceId" in obj and "id" in obj and "attributes" not in obj
            and not isinstance(obj.get("timestamp"), str)  # a Langfuse observation has ISO times
            and any(isinstance(obj.get(k), dict) for k in ("tags", "localEndpoint", "remoteEndpoint")))


def is_jaeger_span(obj: Any) -> bool:
    return isinstance(obj, dict) and "spanID" in obj and "traceID" in obj and ("operationName" in obj or "tags" in obj)


def _zipkin_event(annotation: Any) -> dict | None:
    if not isinstance(annotation, dict):
        return None
    value = annotation.get("value")
    try:
        decoded = json.loads(value) if isinstance(value, str) and value.startswith("{") else None
    except ValueError:
        decoded = None
    if isinstance(decoded, dict) and len(decoded) == 1 and isinstance(next(iter(decoded.values())), dict):
        (name, attributes), = decoded.items()
        return {"name": name, "attributes": attributes}
    return {"name": str(value or ""), "attributes": {}}


def from_zipkin(raw: dict) -> dict:
    """A Zipkin v2 span as the OpenTelemetry span object it was exported from."""
    tags: dict = raw["tags"] if isinstance(raw.get("tags"), dict) else {}
    attributes = {k: v for k, v in tags.items() if k not in ("otel.status_code", "otel.status_description", "error")}
    error = tags.get("otel.status_code") == "ERROR" or "error" in tags
    endpoint: dict = raw["localEndpoint"] if isinstance(raw.get("localEndpoint"), dict) else {}
    span: dict = {
        "traceId": raw.get("traceId"), "spanId": raw.get("id"), "parentSpanId": raw.get("parentId"),
        "name": raw.get("name") or "", "timestamp": raw.get("timestamp"), "duration": raw.get("duration"),
        "attributes": attributes, "events": [e for e in map(_zipkin_event, raw.get("annotations") or []) if e],
        "status": {"code": "ERROR" if error else "UNSET",
                   "message": tags.get("otel.status_description") or (tags.get("error") if error else None)},
    }
    if endpoint.get("serviceName"):
        span["resource"] = {"attributes": {"service.name": endpoint["serviceName"]}}
    return span


def _listed(value: Any) -> list:
    """A value a span keeps a list in, or no list when a broken export wrote something else there."""
    return value if isinstance(value, list) else []


def from_jaeger(raw: dict, processes: dict | None = None) -> tuple[dict, dict, str | None]:
    """A Jaeger span (with its trace's processes) as (span object, resource attributes, scope name)."""
    attributes = key_values(_listed(raw.get("tags")))
    references = [r for r in _listed(raw.get("references")) if isinstance(r, dict)]
    parent = next((r for r in references if r.get("refType") == "CHILD_OF"), references[0] if references else {})
    error = attributes.pop("error", None) in (True, "true") or attributes.get("otel.status_code") == "ERROR"
    message = attributes.pop("otel.status_description", None)
    attributes.pop("otel.status_code", None)
    scope = attributes.pop("otel.scope.name", None) or attributes.pop("otel.library.name", None)
    events = []
    for log in _listed(raw.get("logs")):
        if isinstance(log, dict):
            fields = key_values(_listed(log.get("fields")))
            events.append({"name": str(fields.pop("event", "") or ""), "attributes": fields})
    process_id = raw.get("processID")
    process = (processes or {}).get(process_id if isinstance(process_id, str) else None) or raw.get("process") or {}
    resource = key_values(_listed(process.get("tags"))) if isinstance(process, dict) else {}
    if isinstance(process, dict) and process.get("serviceName"):
        resource["service.name"] = process["serviceName"]
    span = {
        "traceId": raw.get("traceID"), "spanId": raw.get("spanID"), "parentSpanId": parent.get("spanID"),
        "name": raw.get("operationName") or "", "timestamp": raw.get("startTime"), "duration": raw.get("duration"),
        "attributes": attributes, "events": events,
        "status": {"code": "ERROR" if error else "UNSET", "message": message},
    }
    return span, resource, scope if isinstance(scope, str) else None


# A Sentry span's status other than these is a failure (its SDKs write internal_error, resource_exhausted...; span v2
# items ok or error).
_SENTRY_FINE = {None, "", "ok", "unknown", "unset"}
# The columns of a row of Sentry's spans dataset (the events API, the Explore view's export) that are not attributes.
_SENTRY_ROW = {"id", "span_id", "trace", "parent_span", "span.op", "span.description", "span.status", "span.duration",
               "timestamp", "transaction", "project", "project.name"}
_ITEM_HEADER = {"type", "length", "content_type", "item_count", "filename", "attachment_type"}
_SENTRY_TAG = re.compile(r"^tags\[(.+?)(,(number|string|boolean))?\]$")


def is_sentry_span(obj: Any) -> bool:
    """A Sentry span: one of a transaction's ``spans`` (``op``, ``description``, ``data``, ``start_timestamp``), a span
    v2 item (``name``, typed ``attributes``, ``start_timestamp``/``end_timestamp``), or a row of its spans dataset
    (``span.op``, ``span.description``, ``trace``)."""
    if not isinstance(obj, dict) or "span_name" in obj:  # Logfire's rows have a start_timestamp too
        return False
    if "span.op" in obj and ("id" in obj or "span_id" in obj):
        return True
    return "span_id" in obj and "start_timestamp" in obj and (
        "op" in obj or "data" in obj or "end_timestamp" in obj or "is_segment" in obj)


def _sentry_value(value: Any) -> Any:
    """A span v2 attribute (``{"value", "type"}``) or a plain value."""
    return value.get("value") if isinstance(value, dict) and {"value", "type"} >= value.keys() and "value" in value else value


def _otlp_nanos(value: Any) -> str | None:
    """Float epoch seconds (Sentry's transactions and span v2 items) or an ISO time, as OTLP's nanosecond text."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(int(round(value * 1_000_000)) * 1000)
    moment = to_utc(value)
    return None if moment is None else str(int((moment - _EPOCH) / timedelta(microseconds=1)) * 1000)


def _after(start: str | None, ms: Any = None, *, ns: int | None = None) -> str | None:
    """The end, in OTLP's nanosecond text, of what began at ``start`` and lasted ``ms`` milliseconds (a number or its
    text) or ``ns`` nanoseconds; None when either is unknown (a negative length too)."""
    try:
        length = ns if ns is not None else None if ms in (None, "") else int(float(ms) * 1_000_000)
    except (TypeError, ValueError, OverflowError):
        return None
    return None if start is None or length is None or length < 0 else str(int(start) + length)


def _otlp_span(span_id: Any, trace_id: Any, parent_id: Any, name: Any, start: str | None, end: str | None,
               attributes: dict, failed: bool, message: Any = None) -> dict:
    """An OTLP-shaped span (what ``read_span`` reads) from a backend's own record of one."""
    return {"spanId": span_id, "traceId": trace_id, "parentSpanId": parent_id or None, "name": str(name or ""),
            "startTimeUnixNano": start, "endTimeUnixNano": end, "attributes": attributes,
            "status": {"code": "ERROR" if failed else "UNSET", "message": message}}


def from_sentry(raw: dict, trace_id: str | None = None) -> dict:
    """A Sentry span as an OTLP-shaped span: ``op`` (``sentry.op``) and ``data`` or the typed attributes as its
    attributes, ``description`` or ``name`` its name, its status a failure unless ok (``_SENTRY_FINE``)."""
    if "span.op" in raw:
        return _from_sentry_row(raw)
    given = raw.get("data") if isinstance(raw.get("data"), dict) else raw.get("attributes")
    attributes = {str(k): _sentry_value(v) for k, v in given.items()} if isinstance(given, dict) else {}
    op = raw.get("op") or attributes.get("sentry.op")
    if op:
        attributes.setdefault("sentry.op", op)
    tags = raw.get("tags")
    status = raw.get("status") or (tags.get("status") if isinstance(tags, dict) else None)
    end = raw.get("end_timestamp", raw.get("timestamp"))
    return _otlp_span(raw.get("span_id"), raw.get("trace_id") or trace_id, raw.get("parent_span_id"),
                      raw.get("name") or raw.get("description") or op, _otlp_nanos(raw.get("start_timestamp")),
                      _otlp_nanos(end), attributes, status not in _SENTRY_FINE, status)


def _from_sentry_row(row: dict) -> dict:
    """A row of Sentry's spans dataset: its fields beside the attributes it was asked for (``tags[name,number]`` for
    one without an alias), ``timestamp`` the start, ``span.duration`` in milliseconds."""
    attributes: dict = {"sentry.op": row.get("span.op")}
    for key, value in row.items():
        if key in _SENTRY_ROW or value in (None, ""):
            continue
        tag = _SENTRY_TAG.match(str(key))
        attributes[tag.group(1) if tag else str(key)] = _cell(value)
    start = _otlp_nanos(row.get("timestamp"))
    status = row.get("span.status")
    return _otlp_span(row.get("id", row.get("span_id")), row.get("trace"), row.get("parent_span"),
                      row.get("span.description") or row.get("span.op"), start, _after(start, row.get("span.duration")),
                      attributes, status not in _SENTRY_FINE, status)


# Honeycomb's own fields of a span stored as a flat event; every other key is one of the span's attributes.
_HONEYCOMB_FIELDS = {"Timestamp", "timestamp", "time", "trace.trace_id", "trace.span_id", "trace.parent_id", "name",
                     "duration_ms", "status_code", "status_message", "error", "span.kind", "type", "meta.signal_type",
                     "span.num_events", "span.num_links", "library.name", "library.version"}


def is_honeycomb_row(obj: Any) -> bool:
    """A span as Honeycomb stores it (an event of the query builder's raw data, JSON or CSV): its attributes flat
    beside ``trace.trace_id``, ``trace.span_id``, ``trace.parent_id``, ``name``, ``duration_ms``, a time."""
    return isinstance(obj, dict) and "trace.span_id" in obj and "trace.trace_id" in obj


def is_honeycomb_annotation(obj: Any) -> bool:
    """A span event or link Honeycomb keeps as an event of its own (``meta.annotation_type``): not a span."""
    return isinstance(obj, dict) and "trace.trace_id" in obj and obj.get("meta.annotation_type") not in (None, "")


def from_honeycomb(row: dict) -> dict:
    """A Honeycomb span event as the OTLP-shaped span it was flattened from: its time the start, ``duration_ms``
    the length, ``status_code`` 2 (or ``error``) a failure."""
    start = _otlp_nanos(first(row, "Timestamp", "timestamp", "time"))
    failed = str(row.get("status_code")) == "2" or str(row.get("error")).lower() == "true"
    attributes = {k: _cell(v) for k, v in row.items() if k not in _HONEYCOMB_FIELDS and v not in (None, "")}
    return _otlp_span(row.get("trace.span_id"), row.get("trace.trace_id"), row.get("trace.parent_id"), row.get("name"),
                      start, _after(start, row.get("duration_ms")), attributes, failed, row.get("status_message"))


_AI_ENVELOPE = "Microsoft.ApplicationInsights."
_AI_SPANS = ("RemoteDependency", "Request")  # the envelopes and rows of a span; messages, metrics, exceptions are not
_AI_DURATION = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$")
_PORTAL_TIME = "%m/%d/%Y, %I:%M:%S.%f %p"  # the Logs blade's CSV export (en-US)


def app_insights_part(value: Any) -> str | None:
    """What an Application Insights envelope that is not a span is (a log message, a metric, an exception), as a
    reason to skip it: its messages repeat their span's usage. None for anything else."""
    if not isinstance(value, dict):
        return None
    name = value.get("name")
    if isinstance(name, str) and name.startswith(_AI_ENVELOPE) and not name.endswith(_AI_SPANS):
        return f"an Application Insights {name[len(_AI_ENVELOPE):]} item, not a span"
    kind = value.get("itemType", value.get("Type")) if ("operation_Id" in value or "OperationId" in value) else None
    if isinstance(kind, str) and kind not in ("dependency", "request", "AppDependencies", "AppRequests"):
        return f"an Application Insights {kind} row, not a span"  # a log message repeats its span's usage
    return None


def is_app_insights_row(obj: Any) -> bool:
    """A span as Azure Monitor stores it: an envelope the exporter sends (``RemoteDependency``, ``Request``), or a
    row of the ``dependencies``/``requests`` tables (classic: ``operation_Id``, ``customDimensions``) or of
    ``AppDependencies``/``AppRequests`` (workspace-based: ``OperationId``, ``Properties``)."""
    if not isinstance(obj, dict):
        return False
    name = obj.get("name")
    if isinstance(name, str) and name.startswith(_AI_ENVELOPE) and isinstance(obj.get("data"), dict):
        return name.endswith(_AI_SPANS)
    return (("operation_Id" in obj and "customDimensions" in obj) or ("OperationId" in obj and "Properties" in obj)) and (
        app_insights_part(obj) is None)


def _ai_duration_ms(value: Any) -> float | None:
    """An envelope's ``d.hh:mm:ss.fff`` or a table's milliseconds."""
    match = _AI_DURATION.match(value.strip()) if isinstance(value, str) else None
    if match:
        days, hours, minutes, seconds = match.groups()
        return ((int(days or 0) * 24 + int(hours)) * 3600 + int(minutes) * 60 + float(seconds)) * 1000.0
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _ai_start(value: Any) -> str | None:
    if isinstance(value, str):
        try:
            return _otlp_nanos(datetime.strptime(value.strip(), _PORTAL_TIME).isoformat())
        except ValueError:
            pass
    return _otlp_nanos(value)


def from_app_insights(obj: dict) -> dict:
    """An Application Insights span (envelope or row) as the OTLP-shaped span it was made from: its properties or
    custom dimensions (every value text) as the attributes, ``success`` false a failure."""
    if isinstance(obj.get("data"), dict):  # an envelope
        base = obj["data"].get("baseData") or {}
        tags = obj.get("tags") or {}
        row = {"id": base.get("id"), "operation_Id": tags.get("ai.operation.id"),
               "operation_ParentId": tags.get("ai.operation.parentId"), "name": base.get("name"),
               "timestamp": obj.get("time"), "duration": base.get("duration"), "success": base.get("success"),
               "customDimensions": base.get("properties"), "resultCode": base.get("resultCode")}
    else:
        row = {"id": obj.get("id", obj.get("Id")), "operation_Id": obj.get("operation_Id", obj.get("OperationId")),
               "operation_ParentId": obj.get("operation_ParentId", obj.get("ParentId")), "name": obj.get("name", obj.get("Name")),
               "timestamp": first(obj, "timestamp", "timestamp [UTC]", "TimeGenerated", "TimeGenerated [UTC]"),
               "duration": obj.get("duration", obj.get("DurationMs")), "success": obj.get("success", obj.get("Success")),
               "customDimensions": obj.get("customDimensions", obj.get("Properties")),
               "resultCode": obj.get("resultCode", obj.get("ResultCode"))}
    start = _ai_start(row["timestamp"])
    dimensions = _cell(row["customDimensions"])
    attributes = {str(k): _cell(v) for k, v in dimensions.items()} if isinstance(dimensions, dict) else {}
    failed = str(row["success"]).lower() == "false"
    return _otlp_span(row["id"], row["operation_Id"], row["operation_ParentId"], row["name"], start,
                      _after(start, _ai_duration_ms(row["duration"])), attributes, failed,
                      f"result code {row['resultCode']}" if failed else None)


def app_insights_rows(value: dict) -> list[dict] | None:
    """The rows of a Log Analytics or Application Insights query response (``{"tables": [{"columns", "rows"}]}``)."""
    tables = value.get("tables")
    if not isinstance(tables, list):
        return None
    rows = []
    for table in tables:
        columns = [c.get("name") for c in table.get("columns") or [] if isinstance(c, dict)] if isinstance(table, dict) else []
        rows += [dict(zip(columns, row, strict=False)) for row in (table.get("rows") or []) if isinstance(row, list)]
    return rows


def elastic_sources(value: dict) -> list | None:
    """The documents of an Elasticsearch ``_search`` response (``hits.hits[]._source``) or of one hit as elasticdump
    writes it; None for anything else."""
    hits = value.get("hits")
    if isinstance(hits, dict) and isinstance(hits.get("hits"), list):
        return [hit["_source"] for hit in hits["hits"] if isinstance(hit, dict) and isinstance(hit.get("_source"), dict)]
    if isinstance(value.get("_source"), dict) and "_index" in value:
        return [value["_source"]]
    return None


def from_elastic(source: dict) -> dict:
    """A span as Elastic's OpenTelemetry-native mapping stores it (``traces-*.otel-*``): the span's own fields with
    ``@timestamp`` (epoch milliseconds, or ISO) and ``duration`` in nanoseconds for its times."""
    if "@timestamp" not in source or "startTimeUnixNano" in source:
        return source
    stamp = source["@timestamp"]
    try:
        start = str(int(round(float(stamp) * 1_000_000))) if str(stamp).replace(".", "", 1).isdigit() else _otlp_nanos(stamp)
    except (TypeError, ValueError):
        start = None
    duration = source.get("duration")  # nanoseconds
    end = _after(start, ns=duration) if isinstance(duration, int) else None
    return {**{k: v for k, v in source.items() if k != "@timestamp"}, "startTimeUnixNano": start, "endTimeUnixNano": end}


def is_sentry_envelope_header(value: Any) -> bool:
    """The first line of an envelope the Sentry SDK sends (then each item's header and payload)."""
    return isinstance(value, dict) and "sent_at" in value and bool({"dsn", "sdk", "trace"} & value.keys()) and (
        "spans" not in value)


def sentry_envelope_part(value: Any) -> str | None:
    """What a line of a Sentry envelope that holds no span is (an envelope's or an item's header, an error event), as a
    reason to skip it; None for anything else."""
    if not isinstance(value, dict):
        return None
    if is_sentry_envelope_header(value):
        return "a Sentry envelope's header"
    if "type" in value and ({"length", "content_type"} & value.keys()) and value.keys() <= _ITEM_HEADER:
        return f"a Sentry envelope item's header ({value['type']})"
    if "event_id" in value and ("exception" in value or value.get("level") in ("error", "fatal", "warning")) and "spans" not in value:
        return "a Sentry error event, not a span"
    return None


def sentry_spans(value: dict) -> list[dict] | None:
    """The spans of a Sentry payload: a transaction event (its trace context is the root span, its ``spans`` the
    others), a span v2 container (``{"version": 2, "items": [...]}``); None for anything else."""
    if value.get("type") == "transaction" and isinstance(value.get("spans"), list):
        trace = (value.get("contexts") or {}).get("trace") if isinstance(value.get("contexts"), dict) else None
        trace = trace if isinstance(trace, dict) else {}
        root = {**trace, "description": value.get("transaction"), "start_timestamp": value.get("start_timestamp"),
                "timestamp": value.get("timestamp")} if trace.get("span_id") else None
        spans = [s for s in value["spans"] if isinstance(s, dict)]
        return [from_sentry(s, trace.get("trace_id")) for s in ([root] if root else []) + spans]
    if value.get("version") == 2 and isinstance(value.get("items"), list):
        return [from_sentry(item) for item in value["items"] if isinstance(item, dict)]
    return None


def not_a_span(value: Any) -> str | None:
    """Why a record among spans is none, to skip it: a Sentry envelope's header or error event, an Application
    Insights message or metric (its messages repeat their span's usage), a span event Honeycomb keeps apart."""
    if is_honeycomb_annotation(value):
        return "a span event Honeycomb keeps as an event of its own"
    return sentry_envelope_part(value) or app_insights_part(value)


def is_log_record(obj: Any) -> bool:
    """A log record or metrics export a console exporter prints among the spans (not a span: skipped)."""
    if not isinstance(obj, dict):
        return False
    record_keys = ("severity_text", "severity_number", "severityText", "severityNumber", "timeUnixNano", "observedTimeUnixNano",
                   "hrTime")
    return (any(k in obj for k in ("body", "_body", "eventName", "event_name")) and any(k in obj for k in record_keys)) or any(
        k in obj for k in ("resource_metrics", "resourceMetrics", "resourceLogs", "resource_logs", "scopeMetrics"))


@dataclass
class LogEvent:
    """A log record: its event name (``eventName``, else the ``event.name`` attribute), the span it was emitted in,
    its attributes, and ``fields``: the attributes with the body's keys (a body that is not an object is
    ``content``), which is what a span event of the same name holds."""

    name: str
    span_id: str | None
    trace_id: str | None
    time: datetime | None
    attributes: dict
    fields: dict
    resource: dict = field(default_factory=dict)
    scope: str | None = None


# The keys of an OTLP JSON export of each signal: its resource envelopes, their scope envelopes, the items of a scope.
OTLP_KEYS = {
    "spans": (("resourceSpans", "resource_spans"), ("scopeSpans", "scope_spans", "instrumentationLibrarySpans"), ("spans",)),
    "logs": (("resourceLogs", "resource_logs"), ("scopeLogs", "scope_logs", "instrumentationLibraryLogs"),
             ("logRecords", "log_records")),
}


def _first_key(obj: dict, keys: tuple) -> Any:
    return next((obj[k] for k in keys if k in obj), None)


def otlp_envelopes(value: dict, signal: str) -> list | None:
    """The resource envelopes of an OTLP JSON export of ``signal`` ('spans' or 'logs'); None when it is not one."""
    envelopes = _first_key(value, OTLP_KEYS[signal][0])
    return envelopes if isinstance(envelopes, list) else None


def otlp_items(envelopes: list, signal: str) -> Iterator[tuple[Any, dict, str | None]]:
    """(item, resource attributes, scope name) of every span or log record in an export's resource envelopes."""
    _, scope_keys, item_keys = OTLP_KEYS[signal]
    for envelope in envelopes:
        if not isinstance(envelope, dict):
            continue
        resource = key_values(((envelope.get("resource") or {}).get("attributes")) or [])
        scopes = _first_key(envelope, scope_keys) or []
        for scoped in scopes if isinstance(scopes, list) else []:
            if not isinstance(scoped, dict):
                continue
            scope = scoped.get("scope") or scoped.get("instrumentationLibrary") or {}
            items = _first_key(scoped, item_keys) or []
            for item in items if isinstance(items, list) else []:
                yield item, resource, scope.get("name") if isinstance(scope, dict) else None


def log_records_in(raw: dict, resource: dict | None = None, scope: str | None = None) -> Iterator[tuple[Any, dict, str | None]]:
    """(log record, resource attributes, scope name) of an OTLP logs export, or of one record as the SDKs print it;
    nothing for a metrics export. A record that is not an object is given too: the reader rejects it, counted."""
    envelopes = otlp_envelopes(raw, "logs")
    if envelopes is not None:
        yield from otlp_items(envelopes, "logs")
    elif any(k in raw for k in ("body", "_body", "eventName", "event_name")):
        yield raw, resource or {}, scope


def _plain(value: Any) -> Any:
    """An OTLP ``AnyValue`` as plain JSON values, nested ones included (no dotted keys added)."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (kind, inner), = value.items()
        if kind in ("kvlistValue", "kvlist_value") and isinstance(inner, dict):
            return {str(kv.get("key")): _plain(kv.get("value")) for kv in inner.get("values") or [] if isinstance(kv, dict)}
        if kind in ("arrayValue", "array_value") and isinstance(inner, dict):
            return [_plain(v) for v in inner.get("values") or []]
        if kind.endswith("Value") or kind.endswith("_value"):
            return any_value(value)
    return {k: _plain(v) for k, v in value.items()}


def read_log_record(raw: dict, resource: dict | None = None, scope: str | None = None) -> LogEvent:
    attributes = key_values(raw.get("attributes") or [])
    name = raw.get("eventName") or raw.get("event_name") or attributes.get("event.name") or ""
    body = _plain(raw.get("body", raw.get("_body")))
    fields = {**attributes, **(body if isinstance(body, dict) else {"content": body} if body not in (None, "") else {})}
    when = None
    for key in ("timeUnixNano", "time_unix_nano", "observedTimeUnixNano", "observed_time_unix_nano"):
        if raw.get(key) not in (None, "", "0", 0):
            when = _nanos(raw[key])
            break
    if when is None:
        when = _hr_time(raw.get("timestamp") or raw.get("observed_timestamp") or raw.get("hrTime"))
    own_resource = raw.get("resource")
    if isinstance(own_resource, dict):
        pairs = own_resource.get("_rawAttributes")  # the JS SDK's Resource, stringified
        own = own_resource.get("attributes") if own_resource.get("attributes") is not None else dict(
            p for p in pairs if isinstance(p, list) and len(p) == 2) if isinstance(pairs, list) else {}
        resource = {**(resource or {}), **key_values(own)}
    context: dict = raw["spanContext"] if isinstance(raw.get("spanContext"), dict) else {}
    span_id, trace_id = (hex_id(raw.get(a, raw.get(b, context.get(a)))) for a, b in (("spanId", "span_id"), ("traceId", "trace_id")))
    return LogEvent(
        name=str(name), span_id=span_id if span_id and span_id.strip("0") else None,  # all zeros: no span
        trace_id=trace_id if trace_id and trace_id.strip("0") else None, time=when, attributes=attributes,
        fields=fields, resource=resource or {}, scope=scope,
    )


def is_span(obj: Any) -> bool:
    """A span object of any of the shapes above (not a Langfuse observation or a log record)."""
    if is_zipkin_span(obj) or is_jaeger_span(obj):
        return True
    if not isinstance(obj, dict) or "attributes" not in obj:
        return False
    has_id = any(k in obj for k in ("spanId", "span_id", "context", "spanContext", "_spanContext")) or (
        "id" in obj and ("traceId" in obj or "trace_id" in obj))
    return has_id and ("name" in obj or "kind" in obj)


GENAI_PREFIXES = ("gen_ai.", "llm.", "openinference.")


def is_anonymous_span(obj: Any) -> bool:
    """A span whose ids were left out (a recorder that clears ids and times to keep its golden files stable, as the
    Envoy AI Gateway's does) that still says it is a model call: a name and GenAI attributes. Its call is known by
    what it holds, as an app log's line without an id is."""
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or is_span(obj):
        return False
    attributes = obj.get("attributes")
    keys = ([item.get("key") for item in attributes if isinstance(item, dict)] if isinstance(attributes, list)
            else list(attributes) if isinstance(attributes, dict) else [])
    return any(isinstance(key, str) and key.startswith(GENAI_PREFIXES) for key in keys)


def _trace_state(raw: dict) -> str | None:
    context = raw.get("context") or raw.get("spanContext") or raw.get("_spanContext") or {}
    context = context if isinstance(context, dict) else {}
    for value in (raw.get("traceState"), raw.get("trace_state"), context.get("trace_state"), context.get("traceState")):
        if value not in (None, "", "[]"):
            return str(value)
    return None


def read_span(raw: dict, resource: dict | None = None, scope: str | None = None) -> Span:
    span_id, trace_id, parent_id = _ids(raw)
    start, end = _times(raw)
    error, message = _status(raw)
    own_resource = raw.get("resource")
    if isinstance(own_resource, dict) and own_resource.get("attributes") is not None:
        resource = {**(resource or {}), **key_values(own_resource["attributes"])}
    attributes = key_values(raw.get("attributes") or [])
    if "mlflow.spanType" in attributes:  # MLflow writes every attribute value as JSON text
        attributes = {key: _json_text(value) for key, value in attributes.items()}
    if raw.get("span_kind") and "openinference.span.kind" not in attributes:  # Phoenix keeps the kind beside them
        attributes["openinference.span.kind"] = raw["span_kind"]
    return Span(
        span_id=span_id, trace_id=trace_id, parent_id=parent_id, name=str(raw.get("name") or ""),
        start=start, end=end, attributes=attributes, events=_events(raw),
        error=error, status_message=message, resource=resource or {}, scope=scope, trace_state=_trace_state(raw),
    )


def _json_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _cell(value: Any) -> Any:
    """A dataframe cell as written to JSON or CSV: nested values come back as JSON, or as pandas writes lists
    and dicts to CSV (Python literals)."""
    if isinstance(value, float) and value != value:  # NaN: pandas' empty cell
        return None
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            try:
                return ast.literal_eval(value)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return value
    return value


def is_dataframe_row(obj: Any) -> bool:
    """A row of Phoenix's spans dataframe (``px.Client().get_spans_dataframe()`` saved as Parquet, CSV or JSON):
    ``context.span_id``, ``span_kind`` and ``attributes.*`` columns."""
    return isinstance(obj, dict) and "context.span_id" in obj and any(str(k).startswith("attributes.") for k in obj)


def from_dataframe_row(row: dict) -> dict:
    """A Phoenix dataframe row as the span object it was flattened from."""
    span = {k: _cell(v) for k, v in row.items() if not str(k).startswith(("attributes.", "context."))}
    span["context"] = {"span_id": row.get("context.span_id"), "trace_id": row.get("context.trace_id")}
    span["attributes"] = {str(k)[len("attributes."):]: cell for k, v in row.items()
                          if str(k).startswith("attributes.") and (cell := _cell(v)) not in (None, "")}
    events = span.get("events")
    span["events"] = events if isinstance(events, list) else []
    return span


_LOGFIRE_ERRORS = {"error", "ERROR", 2, "2"}


def is_logfire_row(obj: Any) -> bool:
    """A row of Logfire's ``records`` table (the query API's JSON rows or CSV, the Explore view's export):
    ``span_name``, ``span_id``, ``trace_id``, ``start_timestamp`` and ``attributes`` columns."""
    return isinstance(obj, dict) and "span_name" in obj and "span_id" in obj and (
        "start_timestamp" in obj or "attributes" in obj)


def from_logfire_row(row: dict) -> tuple[dict, dict, str | None]:
    """A Logfire ``records`` row as (span object, resource attributes, scope name): ``span_name`` (the message
    template) is the span's name, ``attributes`` (an object, or JSON in a CSV cell) its attributes,
    ``otel_events`` its events, ``otel_status_code`` (``unset``/``ok``/``error``) its status."""
    attributes = _cell(row.get("attributes"))
    events = _cell(row.get("otel_events"))
    resource = _cell(row.get("otel_resource_attributes"))
    resource = dict(resource) if isinstance(resource, dict) else {}
    if row.get("service_name") and "service.name" not in resource:
        resource["service.name"] = row["service_name"]
    code = row.get("otel_status_code")
    span = {
        "spanId": row.get("span_id"), "traceId": row.get("trace_id"), "parentSpanId": _cell(row.get("parent_span_id")),
        "name": row.get("span_name") or row.get("message") or "",
        "start_time": row.get("start_timestamp"), "end_time": row.get("end_timestamp"),
        "attributes": attributes if isinstance(attributes, dict) else {},
        "events": events if isinstance(events, list) else [],
        "status": {"code": "ERROR" if code in _LOGFIRE_ERRORS else "UNSET", "message": _cell(row.get("otel_status_message"))},
    }
    scope = row.get("otel_scope_name")
    return span, resource, scope if isinstance(scope, str) and scope else None


def logfire_columns_to_rows(value: dict) -> list[dict] | None:
    """The query API's column-oriented JSON (``{"columns": [{"name", "datatype", "values": [...]}]}``) as rows."""
    columns = value.get("columns")
    if not isinstance(columns, list) or not columns or "rows" in value:
        return None
    if not all(isinstance(c, dict) and "name" in c and isinstance(c.get("values"), list) for c in columns):
        return None
    length = max(len(c["values"]) for c in columns)
    return [{c["name"]: (c["values"][i] if i < len(c["values"]) else None) for c in columns} for i in range(length)]


def backend_spans(value: dict) -> list[dict] | None:
    """A backend's own record of spans as OTLP-shaped spans: an Elastic document, a Honeycomb event, a Sentry
    transaction, span v2 container or span; None for anything else."""
    if "@timestamp" in value and "span_id" in value and "duration" in value:
        return [from_elastic(value)]
    if is_app_insights_row(value):
        return [from_app_insights(value)]
    if is_honeycomb_row(value):
        return [from_honeycomb(value)]
    sentry = sentry_spans(value)
    if sentry is not None:
        return sentry
    return [from_sentry(value)] if is_sentry_span(value) else None


def spans_in(value: Any) -> Iterator[tuple[dict, dict, str | None]]:
    """(raw span, resource attributes, scope name) of every span in a JSON value of any of the shapes above."""
    if isinstance(value, list):
        for item in value:
            yield from spans_in(item)
        return
    if not isinstance(value, dict):
        return
    if isinstance(value.get("result"), dict) and "resourceSpans" in value["result"]:  # Jaeger query API v3
        value = value["result"]
    if isinstance(value.get("rows"), list) and isinstance(value.get("columns"), list):  # Logfire's query API rows
        yield from spans_in(value["rows"])
        return
    columns = logfire_columns_to_rows(value)
    if columns is not None:  # Logfire's column-oriented query results
        yield from spans_in(columns)
        return
    sources = elastic_sources(value)
    if sources is not None:  # Elasticsearch's documents of spans
        for source in sources:
            yield from spans_in(from_elastic(source))
        return
    rows = app_insights_rows(value)
    if rows is not None:  # a Log Analytics query's rows
        yield from spans_in(rows)
        return
    converted = backend_spans(value)
    if converted is not None:
        for raw in converted:
            yield raw, {}, None
        return
    if isinstance(value.get("data"), list):  # Jaeger's {"data": [traces]}, or spans kept under "data"
        for item in value["data"]:
            yield from spans_in(item)
        return
    if isinstance(value.get("data"), dict) and isinstance(value["data"].get("spans"), list):  # MLflow's trace.to_json()
        for raw in value["data"]["spans"]:
            yield raw, {}, None
        return
    if isinstance(value.get("spans"), list) and ("traceID" in value or "processes" in value):  # one Jaeger trace
        processes = value.get("processes") if isinstance(value.get("processes"), dict) else {}
        for raw in value["spans"]:
            yield from_jaeger(raw, processes) if is_jaeger_span(raw) else (raw, {}, None)
        return
    if is_jaeger_span(value):
        yield from_jaeger(value)
        return
    if is_zipkin_span(value):
        yield from_zipkin(value), {}, None
        return
    envelopes = otlp_envelopes(value, "spans")
    if envelopes is not None:
        yield from otlp_items(envelopes, "spans")
        return
    if isinstance(value.get("spans"), list):
        for raw in value["spans"]:
            yield from spans_in(raw) if is_zipkin_span(raw) or is_jaeger_span(raw) else iter([(raw, {}, None)])
        return
    if is_logfire_row(value):
        yield from_logfire_row(value)
        return
    yield (from_dataframe_row(value) if is_dataframe_row(value) else value), {}, None
