"""Google Gemini and Vertex AI calls: format ``gemini``.

Read as Google's tools write them, one call per row of a JSON Lines, JSON, CSV or Parquet export:

- **Vertex AI request-response logging** (the BigQuery table Vertex fills for ``generateContent`` and
  ``streamGenerateContent``, exported as JSON Lines, CSV or Parquet): ``full_request`` and ``full_response`` (JSON,
  or JSON text in CSV), ``endpoint`` (``projects/P/locations/L/publishers/google/models/M``), ``logging_time``,
  ``request_id``. Claude on Vertex (``rawPredict``) logs Anthropic bodies in the same columns: read as Anthropic.
- **Batch prediction output**: Vertex AI's ``{"request": {...}, "response": {...}, "status": "", "processed_time"}``
  and the Gemini API's ``{"key": ..., "response": {...}}``.
- **App logs** of Gemini calls: ``{"request": {"contents": ...}, "response": {"candidates": ...}}`` pairs with the
  envelope keys app logs carry, and bare ``GenerateContentResponse`` objects.

A streamed answer is a list of chunks: its text is theirs joined, its usage the last chunk's. Gemini counts the
model's thinking (``thoughtsTokenCount``) apart from the answer (``candidatesTokenCount``) and bills both as
output, so ``output_tokens`` is their sum and ``reasoning_tokens`` the thinking; ``input_tokens`` is
``promptTokenCount`` (cached content included, as ``cachedContentTokenCount`` says) plus the tool-use prompt.
"""

from __future__ import annotations

import re
from typing import Any

from ..records import Skipped, to_utc
from . import register
from .anthropic import is_message as is_anthropic_message
from .anthropic import pair_record as anthropic_pair_record
from .app_log import envelope, pair_sides
from .stream_lines import is_sse, sse_values
from .generic import (READ_ERRORS, camel_gemini, to_float, chat_request_fields, content_text, decode_json, file_kind, records_from_rows, table_columns,
                      usage_fields)

PROVIDER = "google"
_MODEL_IN_PATH = re.compile(r"/models/([^/:]+)")
_ID_CHARACTER = re.compile(r"[A-Za-z0-9]")
# Finish reasons that mean the answer was withheld rather than given (Gemini's FinishReason enum).
_WITHHELD = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE"}


def is_gemini_request(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("contents"), (list, dict, str))


def is_gemini_response(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(is_gemini_response(decode_json(v)) for v in value)
    if not isinstance(value, dict):
        return False
    usage = value.get("usageMetadata")
    return isinstance(value.get("candidates"), list) or (
        isinstance(usage, dict) and ("promptTokenCount" in usage or "candidatesTokenCount" in usage))


_API_BATCH_KEYS = {"key", "response", "error", "request", "metadata"}


def is_batch_output(row: dict) -> bool:
    """A line of a batch job's output: Vertex AI batch prediction (``processed_time`` beside ``request``) or the
    Gemini API's output file (``key`` with ``response`` or ``error``, nothing else). Both bill half the on-demand price."""
    if "processed_time" in row and "request" in row:
        return True
    return "key" in row and ("response" in row or "error" in row) and set(row) <= _API_BATCH_KEYS


def call_sides(row: dict) -> tuple[Any, Any] | None:
    """(request, response) of one logged call, or None when the row holds no Gemini or Vertex call."""
    if "full_request" in row or "full_response" in row:
        return decode_json(row.get("full_request")), decode_json(row.get("full_response"))
    request, response, found = pair_sides(row)
    if found:
        request, response = decode_json(request), decode_json(response)
        if is_gemini_request(request) or is_gemini_response(response):
            return request, response
        return None
    if is_gemini_response(row):
        return None, row
    return None


def _response_id(row: Any) -> str | None:
    if isinstance(row, dict) and call_sides(row) == (None, row):
        found = _named(row, "responseId", "response_id")
        return found if isinstance(found, str) and found else None
    return None


def join_chunk_rows(rows):
    """A streamed answer saved one chunk per line (``streamGenerateContent`` dumps): consecutive bare responses of
    one ``responseId`` are one call, read at its first chunk's line; its other lines are skipped and counted."""
    chunks: list[dict] = []
    numbers: list[int] = []

    def joined():
        yield numbers[0], ({"response": chunks} if len(chunks) > 1 else chunks[0])  # read as a logged stream is
        for number in numbers[1:]:
            yield number, Skipped(number, f"a chunk of a streamed answer, read with its call on line {numbers[0]}")

    for number, row in rows:
        key = _response_id(row)
        if chunks and (key is None or key != _response_id(chunks[0])):
            yield from joined()
            chunks, numbers = [], []
        if key is None:
            yield number, row
            continue
        chunks.append(row)
        numbers.append(number)
    if chunks:
        yield from joined()


def _chunks(response: Any) -> list[dict]:
    listed = response if isinstance(response, list) else [response]
    return [c for c in (decode_json(x) for x in listed) if isinstance(c, dict)]


def _answer_text(chunks: list[dict]) -> str | None:
    """The first candidate's answer over the chunks, without its thought parts (``"thought": true``)."""
    texts = []
    for chunk in chunks:
        candidates = chunk.get("candidates") or []
        first = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
        parts = (first.get("content") or {}).get("parts") if isinstance(first.get("content"), dict) else None
        if isinstance(parts, list):
            texts.append(content_text([p for p in parts if not (isinstance(p, dict) and p.get("thought"))]))
    return "".join(texts) or None


def _named(chunk: dict, camel: str, snake: str) -> Any:
    """A response field under the REST API's name, or the proto's own (Vertex's request-response logs in BigQuery
    keep ``usage_metadata``, ``model_version``, ``response_id``)."""
    return chunk.get(camel, chunk.get(snake))


def _usage(chunks: list[dict]) -> dict:
    """The last usage given (in either naming, ``prompt_token_count`` read as ``promptTokenCount``)."""
    usage = next((u for c in reversed(chunks) if isinstance(u := _named(c, "usageMetadata", "usage_metadata"), dict)), None)
    return usage_fields(camel_gemini(usage)) if usage is not None else {}


def _status(row: dict, chunks: list[dict]) -> str:
    if not chunks:
        return "error" if row.get("status") or row.get("error") else "no_response"
    feedback: dict = next((c["promptFeedback"] for c in chunks if isinstance(c.get("promptFeedback"), dict)), {})
    reasons = {str(cand.get("finishReason") or "").upper() for c in chunks for cand in (c.get("candidates") or [])
               if isinstance(cand, dict)}
    if feedback.get("blockReason") or reasons & _WITHHELD:
        return "blocked"
    failed = row.get("status") if isinstance(row.get("status"), str) else None  # Vertex batch: "" when it worked
    return "error" if failed or row.get("error") else "ok"


def _model(request: Any, chunks: list[dict], row: dict) -> str | None:
    for chunk in reversed(chunks):
        version = _named(chunk, "modelVersion", "model_version")
        if isinstance(version, str) and version:
            return version
    for holder in (request if isinstance(request, dict) else {}, row):
        for key in ("model", "endpoint", "model_id"):
            value = holder.get(key)
            if isinstance(value, str) and value:
                found = _MODEL_IN_PATH.search(value)
                return found.group(1) if found else value.rsplit("/", 1)[-1]
    return None


def gemini_record(request: Any, response: Any, row: dict) -> dict:
    chunks = _chunks(response)
    record: dict = {"provider": PROVIDER, "model": _model(request, chunks, row), "status": _status(row, chunks)}
    if isinstance(request, (dict, list, str)):
        record.update(chat_request_fields(request))
    record["response_text"] = _answer_text(chunks)
    record.update(_usage(chunks))
    source_id = next((i for c in reversed(chunks) if (i := _named(c, "responseId", "response_id"))), None)
    record["source_id"] = source_id or row.get("request_id") or row.get("key")
    when = row.get("logging_time") or row.get("processed_time") or next(
        (c.get("createTime") for c in chunks if c.get("createTime")), None)
    if when is not None:
        record["created_at"] = to_utc(when)
    metadata = decode_json(row.get("metadata"))
    try:  # Vertex's request-response logging: milliseconds, a number or its text
        record["duration_ms"] = to_float(metadata.get("request_latency"), "request_latency") if isinstance(metadata, dict) else None
    except ValueError:
        record["duration_ms"] = None
    return record


def row_record(row: dict) -> dict | Skipped:
    """One exported row as a record; a Vertex log row of a Claude call is read as Anthropic's."""
    batch = is_batch_output(row)
    sides = call_sides(row)
    if sides is None and batch and row.get("error"):
        sides = (decode_json(row.get("request")), None)  # a Gemini API batch line that failed: {"key", "error"}
    if sides is None:
        raise ValueError("no Gemini call here (no full_request/full_response, contents or candidates)")
    request, response = sides
    if request is None and response is None and not (batch and row.get("error")):
        return Skipped(None, "a logged row without its request or response")
    if is_anthropic_message(response) or (isinstance(request, dict) and "anthropic_version" in request):
        record = anthropic_pair_record(request if isinstance(request, dict) else None, response, None)
        if record.get("model") is None:
            record["model"] = _model(request, [], row)
    else:
        record = gemini_record(request, response, row)
    if batch:
        record["is_batch"] = True
    if batch and row.get("key") not in (None, ""):
        # The Gemini API's key is the request's id in its batch (OpenAI's custom_id). The row's id is still made of
        # the response id (as it always was), or of the key where the response id is missing or a placeholder
        # (redacted to "..." in a shared file: five calls would be one and four conflicts).
        response_id = record.get("source_id")
        if not isinstance(response_id, str) or response_id == row["key"] or not _ID_CHARACTER.search(response_id):
            response_id = str(row["key"])
        record.update(source_id=str(row["key"]), _dedupe_key=f"{record.get('provider') or ''}|id|{response_id}")
    return envelope(record, row)


class Gemini:
    name = "gemini"
    label = "a Gemini / Vertex AI log"
    order = 50

    def sniff(self, src) -> int:
        from ..records import first_json_object

        sse = is_sse(src)  # a streamGenerateContent answer as it came (?alt=sse)
        kind = file_kind(src)
        if kind in ("csv", "parquet") and not sse:
            return 88 if {"full_request", "full_response"} <= table_columns(src) else 0
        obj = next((value for _, value in sse_values(src) if isinstance(value, dict)), None) if sse else first_json_object(src)
        if not isinstance(obj, dict):
            return 0
        return 88 if call_sides(obj) is not None or is_batch_output(obj) else 0

    def parse(self, src, ctx):
        sse = is_sse(src)
        return records_from_rows(src, row_record, "a Gemini or Vertex AI call record", errors=(*READ_ERRORS, OverflowError, KeyError),
                                 rows=lambda rows: join_chunk_rows(sse_values(src) if sse else rows))


register(Gemini())
