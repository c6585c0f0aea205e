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
from .generic import (chat_request_fields, content_text, decode_json, first, guess_provider, item_record, iter_values,
                      table_columns, to_float, to_int)
from .otel_spans import app_insights_rows

CATEGORY = "GatewayLlmLogs"
_PORTAL_TIME = "%m/%d/%Y, %I:%M:%S.%f %p"  # the Logs blade's CSV export (en-US)
_EMBEDDING_MODEL = re.compile(r"(^|[^a-z])embed", re.IGNORECASE)
_DEPLOYMENT_IN_URL = re.compile(r"/deployments/([^/?#]+)")
# The table's columns (and the storage record's camelCase properties), folded: what marks a row of this log.
LLM_COLUMNS = {"prompttokens", "completiontokens", "requestmessages", "responsemessages", "deploymentname"}


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


def _time(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.strptime(value.strip(), _PORTAL_TIME)
        except ValueError:
            pass
    return to_utc(value)


def _flag(value: Any) -> bool | None:
    text = str(value).strip().lower()
    return True if text == "true" else False if text == "false" else None


def _messages(rows: list[dict], column: str) -> list | None:
    """The messages of one side of a call, its pieces put back in ``SequenceNumber`` order: pieces that are JSON
    arrays each are joined, pieces of one JSON text cut at 32 KB are joined first and then read."""
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
        raise ValueError(f"its {column} pieces do not join into JSON") from None
    return whole if isinstance(whole, list) else [whole]


def _answer(messages: list | None) -> str | None:
    if not messages:
        return None
    texts = [content_text(m.get("content")) if isinstance(m, dict) else content_text(m) for m in messages]
    return "\n".join(t for t in texts if t) or None


def call_record(rows: list[dict]) -> dict:
    """One call from all the rows of its ``CorrelationId`` (the token row, the message pieces, a gateway log's)."""
    correlation = rows[0]["correlationid"]
    head = next((r for r in rows if first(r, "modelname", "deploymentname") is not None), rows[0])
    tokens = {name: max((to_int(r.get(column), column) or 0 for r in rows if r.get(column) not in (None, "")), default=None)
              for name, column in (("input_tokens", "prompttokens"), ("output_tokens", "completiontokens"))}
    deployment = first(head, "deploymentname")
    if deployment is None and isinstance(head.get("url"), str):  # a call the gateway refused names no model but its URL's
        found = _DEPLOYMENT_IN_URL.search(head["url"])
        deployment = found.group(1) if found else None
    model = first(head, "modelname") or deployment
    provider = guess_provider(model)
    code = to_int(first(head, "responsecode", "backendresponsecode"), "ResponseCode")
    failed = (code is not None and code >= 400) or _flag(head.get("isrequestsuccess")) is False
    record: dict = {
        "source_id": str(correlation),
        "_dedupe_key": f"apim|{correlation}",
        "provider": "azure" if provider in (None, "openai") else provider,
        "model": model,
        "created_at": _time(first(head, "timegenerated", "time")),
        "duration_ms": to_float(head.get("totaltime"), "TotalTime"),
        "status": "error" if failed else "ok",
        "user_id": first(head, "userid", "apimsubscriptionid"),
        **tokens,
    }
    if model and _EMBEDDING_MODEL.search(str(model)) and not tokens["output_tokens"]:
        record["operation"] = EMBEDDING_OPERATION
    asked = _messages(rows, "requestmessages")
    if asked:
        record.update({k: v for k, v in chat_request_fields(asked).items() if v})
    answer = _answer(_messages(rows, "responsemessages"))
    if answer:
        record["response_text"] = answer
    tags = {"deployment": deployment, "api_version": first(head, "apiversion"),
            "stream": _flag(head.get("isstreamcompletion")), "api": first(head, "apiid"),
            "region": first(head, "region", "location"), "request_id": first(head, "requestid"),
            "error": first(head, "lasterrormessage", "lasterrorreason") if failed else None}
    record["tags_json"] = {k: v for k, v in tags.items() if v is not None} or None
    return record


def _rows(value: Any) -> list:
    if isinstance(value, dict):
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
        if "correlationid" in columns and LLM_COLUMNS & columns:
            return 92
        if f'"{CATEGORY}"'.encode() in head or (b'"tables"' in head and b'"CorrelationId"' in head and b'"PromptTokens"' in head):
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
        for number, rows in calls.values():
            yield item_record(number, {"rows": rows}, lambda item: call_record(item["rows"]), "an APIM LLM log row")


register(AzureApim())
