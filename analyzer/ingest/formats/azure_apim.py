"""Azure API Management's LLM logs: the ``ApiManagementGatewayLlmLog`` table (diagnostic category ``GatewayLlmLogs``).

APIM logs each call of an LLM API as several rows that share its ``CorrelationId``: one with the deployment, the
model and the token counts (``PromptTokens``, ``CompletionTokens``), then the request's and the answer's messages
(``RequestMessages``, ``ResponseMessages``: JSON text of ``[{"role", "content"}]``), a message over 32 KB cut into
pieces numbered by ``SequenceNumber``. One call is one ``CorrelationId``, whatever its rows.

Read as users export the table: the Logs blade's CSV (``TimeGenerated [UTC]`` as ``6/12/2026, 9:14:03.512 AM``),
the Log Analytics query API (``{"tables": [{"columns", "rows"}]}``), ``az monitor log-analytics query`` (a list of
rows, every value text), a diagnostic setting's storage blobs (``{"category": "GatewayLlmLogs", "properties":
{...}}`` per line, camelCase), and a query joining it to ``ApiManagementGatewayLogs`` on ``CorrelationId``
(``ResponseCode``, ``IsRequestSuccess``, ``TotalTime``, ``LastErrorMessage``: the call's status and duration, and a
call the gateway refused, which has no LLM rows).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from ..records import EMBEDDING_OPERATION, Reject, Skipped, to_utc
from . import register
from .app_calls import EMBEDDING_MODEL
from .generic import (chat_request_fields, content_text, decode_json, first, guess_provider, item_record, iter_values,
                      table_columns, to_bool, to_float, to_int)
from .otel_spans import app_insights_rows

CATEGORY = "GatewayLlmLogs"
TABLE = "ApiManagementGatewayLlmLog"
# The Logs blade's CSV writes times in the browser's locale: 6/12/2026, 9:14:03.512 AM (en-US), 12/06/2026,
# 09:14:03.512 (en-GB), 12.6.2026, 09:14:03.512 (de).
_PORTAL_TIME = re.compile(r"^(\d{1,2})([/.])(\d{1,2})[/.](\d{4}),?\s+(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d{1,7}))?\s*([AaPp][Mm])?$")
_DEPLOYMENT_IN_URL = re.compile(r"/deployments/([^/?#]+)")
# The table's columns (and the storage record's camelCase properties), folded: what marks a row of this log, beside
# ``CorrelationId``; and what only APIM writes (an app's own log may name a correlation id and token counts too).
LLM_COLUMNS = {"prompttokens", "completiontokens", "requestmessages", "responsemessages", "deploymentname"}
APIM_COLUMNS = {"sequencenumber", "isstreamcompletion", "apimsubscriptionid", "apiid"}


def _fold(key: Any) -> str:
    return re.sub(r"\[utc\]|[_ .]", "", str(key).lower())


def flat_row(obj: dict) -> dict:
    """A row's values by folded column name; a storage record's ``properties`` beside its own keys."""
    row = {_fold(k): v for k, v in obj.items() if k != "properties"}
    properties = decode_json(obj.get("properties"))
    if isinstance(properties, dict):
        row.update({_fold(k): v for k, v in properties.items()})
    return row


def is_llm_row(row: dict) -> bool:
    return "correlationid" in row and bool(LLM_COLUMNS & row.keys()) or row.get("category") == CATEGORY


def day_first(values: list) -> bool:
    """Whether the portal's times of a file put the day first, decided once per file (one file is one locale): the
    month first where a second number passes 12 or the clock says AM/PM (en-US, the portal's default); the day first
    where a first number passes 12, the date has dots (de), or a 24-hour clock goes with slashes (en-GB, fr)."""
    matches = [m for m in (_PORTAL_TIME.match(v.strip()) for v in values if isinstance(v, str)) if m]
    if not matches or any(int(m[3]) > 12 for m in matches):
        return False
    if any(m[2] == "." or int(m[1]) > 12 for m in matches):
        return True
    return not any(m[9] for m in matches)


def portal_time(value: Any, dayfirst: bool) -> datetime | None:
    """A time as the portal's CSV or an API writes it (ISO, epoch)."""
    match = _PORTAL_TIME.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        return to_utc(value)
    first_number, _, second, year, hour, minute, second_of_minute, fraction, half = match.groups()
    day, month = (first_number, second) if dayfirst else (second, first_number)
    hours = int(hour) % 12 + (12 if half and half.lower() == "pm" else 0) if half else int(hour)
    micro = int((fraction or "0").ljust(6, "0")[:6])
    try:
        return datetime(int(year), int(month), int(day), hours, int(minute), int(second_of_minute), micro)
    except ValueError:
        raise ValueError(f"TimeGenerated {value!r} is no date") from None


def pieces_missing(rows: list[dict]) -> bool:
    """Whether some of a call's rows are not in the export (a row cap, a time range cutting through it): its
    ``SequenceNumber``s, counted from 0, leave a gap."""
    numbers = sorted({n for n in (to_int(r.get("sequencenumber"), "SequenceNumber") for r in rows) if n is not None})
    return bool(numbers) and numbers != list(range(numbers[0], numbers[0] + len(numbers)))


def _messages(rows: list[dict], column: str) -> list | None:
    """The messages of one side of a call, its pieces put back in ``SequenceNumber`` order: pieces that are JSON
    arrays each are joined, pieces of one JSON text cut at 32 KB are joined first and then read. None when they do
    not join into messages (a piece is missing)."""
    pieces = sorted(((to_int(row.get("sequencenumber"), "SequenceNumber") or 0, row[column]) for row in rows
                     if row.get(column) not in (None, "")), key=lambda piece: piece[0])
    if not pieces:
        return None
    values = [decode_json(text) for _, text in pieces]
    if all(isinstance(v, list) for v in values):
        return [message for value in values for message in value]
    joined = "".join(text if isinstance(text, str) else json.dumps(text) for _, text in pieces)
    try:
        whole = json.loads(joined)
    except ValueError:
        return None
    return whole if isinstance(whole, list) else [whole]


def _answer(messages: list | None) -> str | None:
    if not messages:
        return None
    texts = [content_text(m.get("content")) if isinstance(m, dict) else content_text(m) for m in messages]
    return "\n".join(t for t in texts if t) or None


def _counts(heads: list[dict]) -> dict:
    """The token counts of a call's token row (message rows carry 0s: they count nothing); unknown without one."""
    return {name: max((to_int(r.get(column), column) or 0 for r in heads if r.get(column) not in (None, "")), default=None)
            for name, column in (("input_tokens", "prompttokens"), ("output_tokens", "completiontokens"))}


def call_record(rows: list[dict], dayfirst: bool = False) -> dict:
    """One call from all the rows of its ``CorrelationId`` (the token row, the message pieces, a gateway log's)."""
    correlation = rows[0]["correlationid"]
    heads = [r for r in rows if first(r, "modelname", "deploymentname") is not None
             or any(to_int(r.get(c), c) for c in ("prompttokens", "completiontokens") if r.get(c) not in (None, ""))]
    head = heads[0] if heads else rows[0]
    tokens = _counts(heads)
    deployment = first(head, "deploymentname")
    if deployment is None and isinstance(head.get("url"), str):  # a call the gateway refused names no model but its URL's
        found = _DEPLOYMENT_IN_URL.search(head["url"])
        deployment = found.group(1) if found else None
    model = first(head, "modelname") or deployment
    provider = guess_provider(model)
    code = to_int(first(head, "responsecode", "backendresponsecode"), "ResponseCode")
    failed = (code is not None and code >= 400) or to_bool(head.get("isrequestsuccess")) is False
    record: dict = {
        "source_id": str(correlation),
        "_dedupe_key": f"apim|{correlation}",
        "provider": "azure" if provider in (None, "openai") else provider,
        "model": model,
        "created_at": portal_time(first(head, "timegenerated", "time"), dayfirst),
        "duration_ms": to_float(head.get("totaltime"), "TotalTime"),
        "status": "error" if failed else "ok",
        "user_id": first(head, "userid", "apimsubscriptionid"),
        **tokens,
    }
    if model and EMBEDDING_MODEL.search(str(model)) and not tokens["output_tokens"]:
        record["operation"] = EMBEDDING_OPERATION
    cut = pieces_missing(rows)
    asked = None if cut else _messages(rows, "requestmessages")
    if asked:
        record.update({k: v for k, v in chat_request_fields(asked).items() if v})
    answer = None if cut else _answer(_messages(rows, "responsemessages"))
    if answer:
        record["response_text"] = answer
    tags = {"deployment": deployment, "api_version": first(head, "apiversion"),
            "stream": to_bool(head.get("isstreamcompletion")), "api": first(head, "apiid"),
            "region": first(head, "region", "location"), "request_id": first(head, "requestid"),
            "error": first(head, "lasterrormessage", "lasterrorreason") if failed else None,
            "messages": "pieces missing from the export: text left out" if cut else None}
    record["tags_json"] = {k: v for k, v in tags.items() if v is not None} or None
    return record


def _rows(value: Any) -> list:
    """The rows a value holds: a query API result's, an Event Hubs or storage batch's (``{"records": [...]}``)."""
    if isinstance(value, dict):
        if isinstance(value.get("records"), list):
            return value["records"]
        tables = app_insights_rows(value)
        return tables if tables is not None else [value]
    return value if isinstance(value, list) else [value]


class AzureApim:
    name = "azure-apim"
    label = "Azure API Management LLM logs"
    skipped_hint = "rows of ApiManagementGatewayLlmLog (GatewayLlmLogs) are read by CorrelationId"
    order = 50

    def sniff(self, src) -> int:
        columns = {_fold(c) for c in table_columns(src)}
        head = src.head()
        if "correlationid" in columns and LLM_COLUMNS & columns and APIM_COLUMNS & columns:
            return 92
        if f'"{CATEGORY}"'.encode() in head or TABLE.encode() in head or (
                b'"tables"' in head and b'"CorrelationId"' in head and b'"DeploymentName"' in head):
            return 92
        return 0

    def parse(self, src, ctx):
        calls: dict[str, tuple[int, list[dict]]] = {}
        for number, value in iter_values(src):
            if isinstance(value, (Reject, Skipped)):
                yield value
                continue
            for item in _rows(value):
                row = flat_row(item) if isinstance(item, dict) else None
                if row is None or not is_llm_row(row):
                    yield item_record(number, item, lambda _: Skipped(None, "not a row of APIM's LLM log"), "an APIM LLM log row")
                elif row.get("correlationid") in (None, ""):
                    yield Reject(number, "an APIM LLM log row without CorrelationId")
                else:
                    calls.setdefault(str(row["correlationid"]), (number, []))[1].append(row)
        dayfirst = day_first([first(row, "timegenerated", "time") for _, rows in calls.values() for row in rows])
        for number, rows in calls.values():
            yield item_record(number, {"rows": rows}, lambda item: call_record(item["rows"], dayfirst), "an APIM LLM log row")


register(AzureApim())
