"""Apache APISIX's AI gateway logs: calls through its ``ai-proxy`` and ``ai-proxy-multi`` plugins (3.14 and later).

With the plugin's ``logging.summaries`` on, a logger plugin's entry (``file-logger`` JSON Lines, ``http-logger`` and
``kafka-logger`` bodies, a JSON array when batched) carries ``llm_summary`` beside the usual full log: the model
(``model``: the one configured or asked for; the answered model only shows in ``response.body``), the token counts
(numbers; the text ``"0"`` when the call never got an answer), and since 3.18 cache reads and writes, reasoning tokens,
``stream`` and ``end_user_id``. With ``logging.payloads`` on, ``llm_request.messages`` and
``llm_response_text.content``; with the logger's ``include_req_body``/``include_resp_body``, the raw bodies, read
first (they hold the answered model, its id and the parameters). The provider is the upstream host's
(``api.deepseek.com``), which names it even when the model is another's alias. ``latency`` is the call's duration,
``start_time`` (epoch ms) its time.

The nginx access log with the LLM variables (the ai-proxy documentation's format, ending ``"$request_type"
"$llm_time_to_first_token" "$llm_model" "$request_llm_model" "$llm_prompt_tokens" "$llm_completion_tokens"``) is read
too: each ``ai_chat``/``ai_stream`` line is a call without text. Lines of other routes and answers from ``ai-cache``
(no model, no upstream: not paid for) are skipped and counted.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from ..records import EMBEDDING_OPERATION, Reject, Skipped, excerpt, to_utc
from . import register
from .app_calls import EMBEDDING_MODEL, bodies_record, response_object
from .app_log import held_records
from .generic import (as_dict, chat_request_fields, decode_json, file_kind, first, guess_provider, item_record, iter_rows, maybe_json,
                      to_float, to_int)

SUMMARY = "llm_summary"
# Provider APIs by host: the upstream a call went to names who billed it.
PROVIDER_HOSTS = {
    "api.openai.com": "openai", "api.anthropic.com": "anthropic", "api.deepseek.com": "deepseek",
    "generativelanguage.googleapis.com": "google", "aiplatform.googleapis.com": "google", "openrouter.ai": "openrouter",
    "api.mistral.ai": "mistral", "api.groq.com": "groq", "api.x.ai": "x-ai", "api.together.xyz": "together",
    "api.fireworks.ai": "fireworks", "api.cohere.com": "cohere", "api.cohere.ai": "cohere",
}
_AZURE_HOST = re.compile(r"\.(openai\.azure\.com|services\.ai\.azure\.com|cognitiveservices\.azure\.com)$")
# The access log format of APISIX's ai-proxy documentation: nginx's combined fields, then the LLM variables.
ACCESS_LINE = re.compile(
    r'^(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] \S+ "(?P<request>[^"]*)" (?P<status>\d{3}) \S+ (?P<seconds>[\d.]+|-) '
    r'"[^"]*" "[^"]*" (?P<upstream>.*?) (?P<upstream_status>[\d, -]+?) (?P<upstream_time>[\d., -]+?) "(?P<upstream_url>[^"]*)" "(?P<request_id>[^"]*)" '
    r'"(?P<type>\w+)" "(?P<ttft>[^"]*)" "(?P<model>[^"]*)" "(?P<asked>[^"]*)"\s+"(?P<prompt>[^"]*)" "(?P<completion>[^"]*)"\s*$')


def provider_of_host(upstream: Any) -> str | None:
    """The provider whose API an upstream address (``host:port``, the last of several after a fallback) is."""
    if not isinstance(upstream, str) or not upstream.strip():
        return None
    host = upstream.split(",")[-1].strip().split("://")[-1].split("/")[0].rsplit(":", 1)[0].lower()
    if _AZURE_HOST.search(host):
        return "azure"
    return PROVIDER_HOSTS.get(host)


def _count(value: Any, answered: bool) -> int | None:
    """A token count as APISIX logs it: a number, or the variable's default text ``"0"`` when no answer set it; a
    failed call's counts are no counts."""
    if not answered:
        return None
    number = to_float(value, "token count")
    return None if number is None else int(number)


def _is_cache_hit(entry: dict, summary: dict) -> bool:
    headers = as_dict(entry.get("response")).get("headers")
    status = str(as_dict(headers).get("x-ai-cache-status", "")).upper()
    return status == "HIT" or (summary.get("model") == "" and not entry.get("upstream"))


def entry_record(entry: dict) -> dict | Skipped:
    """One logger entry: a call when it carries ``llm_summary``."""
    summary = entry.get(SUMMARY)
    if not isinstance(summary, dict):
        return Skipped(None, "an APISIX log entry of a route without ai-proxy (no llm_summary)")
    if _is_cache_hit(entry, summary):
        return Skipped(None, "an APISIX ai-cache hit: answered from the cache, not a paid call")
    request = as_dict(entry.get("request"))
    response = as_dict(entry.get("response"))
    code = to_int(response.get("status"), "response.status")
    failed = code is not None and code >= 400
    asked_body, answer_body = maybe_json(request.get("body")), response_object(response.get("body")) if not failed else None
    record = bodies_record(asked_body, answer_body, code)
    if not isinstance(answer_body, dict):
        record.pop("source_id", None)  # a request's id (its body's) is no call's
    logged = as_dict(entry.get("llm_request"))
    messages = decode_json(logged.get("messages"))
    chat = isinstance(messages, list) and all(isinstance(m, dict) for m in messages)
    if not record.get("messages_json") and chat:
        record.update({k: v for k, v in chat_request_fields(messages).items() if v})
    text = as_dict(entry.get("llm_response_text")).get("content")
    if not record.get("response_text") and isinstance(text, str) and text:
        record["response_text"] = text
    # The answered model when the answer was logged, else the one the route used (it may override the one asked for).
    answered_model = answer_body.get("model") if isinstance(answer_body, dict) else None
    model = answered_model or first(summary, "model") or record.get("model") or first(summary, "request_model")
    answered = not failed
    record.update({
        "_dedupe_key": f"apisix|{entry.get('route_id')}|{entry.get('start_time')}|{entry.get('client_ip')}|{entry.get('latency')}",
        "provider": provider_of_host(entry.get("upstream")) or record.get("provider") or guess_provider(model),
        "model": model,
        "created_at": to_utc(entry.get("start_time")),
        "duration_ms": to_float(entry.get("latency"), "latency"),
        "status": "error" if failed or record.get("status") == "error" else "ok",
        "user_id": first(summary, "end_user_id") or first(as_dict(entry.get("consumer")), "username"),
        "input_tokens": _count(summary.get("prompt_tokens"), answered),
        "output_tokens": _count(summary.get("completion_tokens"), answered),
    })
    for field, key in (("cached_input_tokens", "cache_read_input_tokens"), ("cache_write_tokens", "cache_creation_input_tokens"),
                       ("reasoning_tokens", "reasoning_tokens")):
        if key in summary:
            record[field] = _count(summary[key], answered)
    if record.get("operation") != EMBEDDING_OPERATION and (EMBEDDING_MODEL.search(str(model)) or (
            messages is not None and not chat)):  # an embedding's input: a string or a list of them
        record.update(operation=EMBEDDING_OPERATION, prompt_text=None, messages_json=None, system_prompt=None)
    tags = {"route": entry.get("route_id"), "service": entry.get("service_id") or None, "upstream": entry.get("upstream"),
            "requested_model": first(summary, "request_model"), "stream": summary.get("stream") in (True, "true") or None,
            "tool_calls": summary.get("has_tool_calls") in (True, "true") or None,
            "content_risk": first(summary, "content_risk_level")}
    record["tags_json"] = {k: v for k, v in tags.items() if v not in (None, "")} or None
    return record


def _logged_at(text: str) -> datetime | None:
    """nginx's ``$time_local`` (14/Sep/2026:09:12:05 +0000), or ``$time_iso8601``."""
    try:
        return datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z").astimezone(timezone.utc).replace(tzinfo=None)
    except ValueError:
        logged = to_utc(text)
        if logged is None:
            raise ValueError(f"the time {text!r} is neither $time_local nor $time_iso8601") from None
        return logged


def access_record(match: re.Match) -> dict | Skipped:
    """One access log line with the LLM variables: a call without text."""
    kind, model = match["type"], match["model"]
    if kind == "traditional_http":
        return Skipped(None, "an APISIX access log line of a route without ai-proxy")
    upstream = match["upstream"].strip()
    if not model and upstream in ("", "-"):
        return Skipped(None, "an APISIX ai-cache hit: answered from the cache, not a paid call")
    status = int(match["status"])
    seconds = to_float(match["seconds"], "request_time") if match["seconds"] != "-" else None
    logged_at = _logged_at(match["time"])
    answered = status < 400
    return {
        "source_id": match["request_id"] or None,
        "_dedupe_key": f"apisix|{match['request_id']}" if match["request_id"] else None,
        "provider": provider_of_host(upstream) or guess_provider(model),
        "model": model or match["asked"] or None,
        "created_at": logged_at - timedelta(seconds=seconds or 0) if logged_at else None,
        "duration_ms": seconds * 1000 if seconds is not None else None,
        "status": "ok" if answered else "error",
        "input_tokens": int(match["prompt"]) if answered and match["prompt"].isdigit() else None,
        "output_tokens": int(match["completion"]) if answered and match["completion"].isdigit() else None,
        "operation": EMBEDDING_OPERATION if EMBEDDING_MODEL.search(model) else None,
        "tags_json": {"upstream": upstream, "requested_model": match["asked"] or None, "stream": kind == "ai_stream" or None},
    }


def is_entry(value: Any) -> bool:
    return isinstance(value, dict) and (SUMMARY in value or ("route_id" in value and "start_time" in value))


class Apisix:
    name = "apisix"
    label = "APISIX AI gateway logs"
    skipped_hint = "calls are the entries of ai-proxy routes that carry llm_summary (logging.summaries on)"
    order = 50

    def sniff(self, src) -> int:
        head = src.head()
        if b'"llm_summary"' in head and b'"route_id"' in head:
            return 92
        if all(key in head for key in (b'"route_id"', b'"start_time"', b'"apisix_latency"')):
            return 60  # APISIX's logger entries, the first of other routes: the ai-proxy ones may come later
        text = head.decode("utf-8", "replace")
        if any(ACCESS_LINE.match(line) for line in text.splitlines()[:20]) and ('"ai_chat"' in text or '"ai_stream"' in text):
            return 90
        return 0

    def parse(self, src, ctx):
        if file_kind(src) != "json":  # an access log (the head is read without its BOM)
            for number, line in src.lines():
                if not line.strip():
                    continue
                match = ACCESS_LINE.match(line.rstrip("\r\n"))
                if match is None:
                    yield Reject(number, "not an APISIX access log line with the LLM variables", excerpt(line))
                else:
                    yield item_record(number, {"match": match}, lambda item: access_record(item["match"]), "an access log line")
            return
        for number, value in iter_rows(src):
            if isinstance(value, (Reject, Skipped)):
                yield value
                continue
            for entry in held_records(value, is_entry):  # a batch's, or kept by a log store
                yield item_record(number, entry, entry_record, "an APISIX log entry")


register(Apisix())
