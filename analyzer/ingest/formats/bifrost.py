"""Bifrost's request logs (maximhq/bifrost, an LLM gateway): the ``logs`` table its logging plugin writes.

One row per attempt: ``provider``, ``model``, ``timestamp`` (the request's start), ``latency`` (ms), ``status``
(``success``, ``error``, ``cancelled``, ``processing``), ``object_type`` (the API's ``object``: ``chat_completion``,
``chat_completion_stream``, ``embedding``, ``responses``...), the conversation as ``input_history`` (chat messages
whose content is a string or blocks; ``responses_input_history`` for the Responses API), the answer as
``output_message`` (``responses_output``), ``token_usage`` (``prompt_tokens`` holding the cache reads, which
``prompt_tokens_details`` names ``cached_read_tokens`` or ``cached_tokens``, ``completion_tokens`` holding the
reasoning) or the table's own token columns, and ``cost`` (Bifrost's, in dollars: the logged cost). A fallback writes a
row per attempt (``fallback_index``, ``parent_request_id``): each is a call of its own, the failed one unpriced.

Read as users get it out: the database itself (SQLite ``logs.db``), ``sqlite3 -json`` and CSV dumps of the table (JSON
columns as text), and the HTTP API (``GET /api/logs`` pages: ``{"logs": [...]}``, which carry only the last message
of the conversation and no answer; ``GET /api/logs/{id}`` bodies, which carry all of it: read after a page, they fill
in what it lacked).
"""

from __future__ import annotations

import re
import sqlite3

from ...errors import PlanError
from ..records import EMBEDDING_OPERATION, Reject, Skipped, to_utc
from . import register
from .generic import (as_dict, chat_request_fields, decode_json, first, item_record, iter_rows, table_columns,
                      to_float, to_int)
from .llm_cli import SQLITE_MAGIC, connect_readonly, table_names
from .openai import message_text, responses_text

TABLE = "logs"
MARKS = {"input_history", "fallback_index", "token_usage", "object_type", "selected_key_id", "number_of_retries"}
# Bifrost's provider names, as plan's (None: a server of the team's own, whose calls no catalog prices)
PROVIDERS = {"vertex": "google", "gemini": "google", "bedrock": "bedrock", "azure": "azure", "ollama": "ollama",
             "sgl": None, "vllm": None}
STATUS = {"success": "ok", "error": "error", "cancelled": "error", "processing": "no_response"}
_EMBEDDING = re.compile(r"embedding")


def _usage(row: dict) -> dict:
    """Tokens from ``token_usage`` (the API's), else the table's columns."""
    usage = as_dict(decode_json(row.get("token_usage")))
    prompt_details = as_dict(usage.get("prompt_tokens_details"))
    completion_details = as_dict(usage.get("completion_tokens_details"))
    return {
        "input_tokens": to_int(first(usage, "prompt_tokens") if usage else row.get("prompt_tokens"), "prompt_tokens"),
        "output_tokens": to_int(first(usage, "completion_tokens") if usage else row.get("completion_tokens"), "completion_tokens"),
        "cached_input_tokens": to_int(first(prompt_details, "cached_read_tokens", "cached_tokens") if usage
                                      else row.get("cached_read_tokens"), "cached_read_tokens"),
        "cache_write_tokens": to_int(first(prompt_details, "cached_write_tokens", "cache_write_tokens"), "cached_write_tokens"),
        "reasoning_tokens": to_int(completion_details.get("reasoning_tokens"), "reasoning_tokens"),
    }


def _answer(row: dict) -> str | None:
    message = as_dict(decode_json(row.get("output_message")))
    if message:
        return message_text(message) or None
    return responses_text(decode_json(row.get("responses_output"))) or None


def _error(row: dict) -> str | None:
    details = as_dict(decode_json(row.get("error_details")))
    inner = details.get("error")
    return (inner.get("message") if isinstance(inner, dict) else inner) or details.get("message") or None


def row_record(row: dict) -> dict:
    """One attempt Bifrost logged."""
    if first(row, "id") is None:
        raise ValueError("a Bifrost log row without id")
    status = STATUS.get(str(row.get("status")).lower(), "ok")
    kind = str(first(row, "object_type", "object") or "")
    provider = str(row.get("provider") or "").lower() or None
    record: dict = {
        "source_id": str(row["id"]),
        "_dedupe_key": f"bifrost|{row['id']}",
        "provider": PROVIDERS.get(provider, provider) if provider else None,
        "model": first(row, "model"),
        "created_at": to_utc(first(row, "timestamp", "created_at")),
        "duration_ms": to_float(row.get("latency"), "latency"),
        "status": status,
        "cost_usd": (to_float(row.get("cost"), "cost") or None) if status == "ok" else None,
        "user_id": first(row, "user_name", "user_id", "customer_name", "virtual_key_name"),
        "params_json": as_dict(decode_json(row.get("params"))) or None,
        **(_usage(row) if status == "ok" else {}),
    }
    asked = decode_json(first(row, "input_history")) or decode_json(row.get("responses_input_history"))
    if _EMBEDDING.search(kind):
        record["operation"] = EMBEDDING_OPERATION
    elif isinstance(asked, list) and asked:
        record.update({k: v for k, v in chat_request_fields(asked).items() if v})
    answer = _answer(row) if status == "ok" else None
    if answer and record.get("operation") != EMBEDDING_OPERATION:
        record["response_text"] = answer
    tags = {"object": kind or None, "stream": str(row.get("stream")).lower() in ("1", "true") or None,
            "fallback_index": to_int(row.get("fallback_index"), "fallback_index") or None,
            "parent_request_id": row.get("parent_request_id") or None, "retries": to_int(row.get("number_of_retries"), "retries") or None,
            "key": row.get("selected_key_name") or None, "stop_reason": row.get("stop_reason") or None,
            "error": _error(row) if status == "error" else None}
    record["tags_json"] = {k: v for k, v in tags.items() if v is not None} or None
    return record


def _database_rows(src):
    with connect_readonly(src) as con:
        if TABLE not in table_names(con):
            raise ValueError("a SQLite database without Bifrost's logs table")
        for number, row in enumerate(con.execute(f"select * from {TABLE} order by timestamp"), start=1):
            yield number, dict(row)


def _is_database(src) -> bool:
    if not src.head().startswith(SQLITE_MAGIC):
        return False
    try:
        with connect_readonly(src) as con:
            if TABLE not in table_names(con):
                return False
            columns = {r[1] for r in con.execute(f"pragma table_info({TABLE})").fetchall()}
    except (PlanError, sqlite3.Error, OSError):
        return False
    return len(MARKS & columns) >= 3


class Bifrost:
    name = "bifrost"
    label = "Bifrost gateway logs"
    skipped_hint = "rows of Bifrost's logs table (or its API's logs) are its calls"
    order = 50

    def sniff(self, src) -> int:
        if _is_database(src):
            return 95
        head = src.head()
        if not head.startswith(SQLITE_MAGIC) and len(MARKS & set(table_columns(src))) >= 3:
            return 92
        if b'"logs"' in head and sum(f'"{m}"'.encode() in head for m in MARKS) >= 3:
            return 92  # an API page: {"logs": [...], "pagination", "stats"}
        return 0

    def parse(self, src, ctx):
        rows = _database_rows(src) if src.head().startswith(SQLITE_MAGIC) else iter_rows(src)
        for number, row in rows:
            if isinstance(row, (Reject, Skipped)):
                yield row
            elif isinstance(row, dict) and ("pagination" in row or "has_logs" in row) and "id" not in row:
                continue  # the page's own keys, beside its logs
            else:
                yield item_record(number, row, row_record, "a Bifrost log row")


register(Bifrost())
