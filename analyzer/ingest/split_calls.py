"""Calls an app logged as two lines: the request when it was sent, the answer when it came, tied by a request id.

Middleware often writes ``{"event": "llm.request", "request_id": "r1", "request": {...}}`` and later
``{"event": "llm.response", "request_id": "r1", "response": {...}}``. Read line by line, that is two rows: a request
without an answer and an answer without its prompt (nothing to categorize). Joined, it is one call: the answer's row
with the request's conversation, parameters and envelope. A request whose answer never comes within
``PENDING_LINES`` lines (a timeout, a crash) stays what it was, a request without an answer."""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

from .records import Skipped

# Top-level keys apps use for the id of one call (not of a trace or session, which several calls share).
# (The Responses API names a function call's id "call_id" too, inside the answer: only the line's top counts.)
CORRELATION_KEYS = ("request_id", "requestId", "req_id", "reqId", "x_request_id", "x-request-id", "correlation_id",
                    "correlationId", "llm_call_id", "invocation_id", "invocationId", "call_id", "callId")
PENDING_LINES = 10_000  # a request waits this many lines for its answer (an async app logs it a few lines later)
REQUEST_FIELDS = ("system_prompt", "messages_json", "prompt_text", "params_json")
SHARED_FIELDS = ("provider", "model", "created_at", "user_id", "tags_json", "duration_ms", "sample_rate")
HALF = "_half"  # a record's mark: ("request" | "response" | "whole", the call's id)
AUTOGEN_STREAM = ("LLMStreamStart", "LLMStreamEnd")  # AutoGen's streamed call, tied by the agent that made it
OTHERWISE = "_otherwise"  # what a line read as an answer alone is when no request waits for it (a reject, a skip)


def correlation_id(obj: Any) -> str | None:
    """The call's id in a line's envelope, as text (an integer id too); None when the line has none. AutoGen's
    streamed calls name none: their start and end are tied by the agent that made them."""
    if not isinstance(obj, dict):
        return None
    if obj.get("type") in AUTOGEN_STREAM:
        return f"autogen stream|{obj.get('agent_id')}"
    for key in CORRELATION_KEYS:
        value = obj.get(key)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def asked(record: dict) -> bool:
    """Whether a record holds the conversation a call sent (a Responses object echoes only its system prompt)."""
    return any(record.get(k) for k in ("messages_json", "prompt_text"))


def half_of(record: dict) -> str | None:
    """"request" for a request logged without its answer, "response" for an answer (or failure) logged without its
    request, "whole" for a whole call (which may follow its request logged alone), None for an embedding call."""
    if record.get("status") == "no_response":
        return "request" if asked(record) else None
    if record.get("operation"):
        return None
    return "whole" if asked(record) else "response"


def mark(record: Any, obj: Any) -> None:
    """Mark a record that is half of a call whose line names the call's id."""
    if not isinstance(record, dict):
        return
    key = correlation_id(obj)
    kind = half_of(record) if key is not None else None
    if kind is not None:
        record[HALF] = (kind, key)


def answer_alone(item: Any, obj: dict, said: dict) -> Any:
    """A line that is no call on its own (``item``, a reject or a skip) but may be the answer part of the call its
    id names (``said``: the line read as an answer): its text, usage or failure (an ``error``, a status of 400 or
    more). It joins a request that waits; else it stays ``item``."""
    if not (said.get("status") == "error" or said.get("response_text") or said.get("output_tokens") is not None):
        return item
    return {**said, HALF: ("response", correlation_id(obj)), OTHERWISE: item}


def joined(request: dict, response: dict) -> dict:
    """The answer's row with what only the request holds; the answer's own values win (its model is the one that
    answered), and the call is known by the request's line, where it began."""
    out = {k: v for k, v in response.items() if k not in (HALF, OTHERWISE)}
    for key in (*REQUEST_FIELDS, *SHARED_FIELDS):
        if out.get(key) is None and request.get(key) is not None:
            out[key] = request[key]
    if request.get("_line") is not None:
        out["_line"] = request["_line"]
    return out


class SplitCalls:
    """Requests waiting for their answer, by call id, oldest first (one file at a time)."""

    def __init__(self) -> None:
        self.pending: OrderedDict[str, deque[dict]] = OrderedDict()

    def offer(self, record: dict) -> list:
        """What to store now for this marked record: nothing (a request waits), the joined call, the answer alone
        (no request waits for it), and any request that waited too long."""
        kind, key = record.pop(HALF)
        line = record.get("_line")
        out: list = self._expired(line) if isinstance(line, int) else []
        if kind == "request":
            self.pending.setdefault(key, deque()).append(record)
            self.pending.move_to_end(key)
            return out
        waiting = self.pending.get(key)
        if not waiting:
            return [*out, record.get(OTHERWISE, record)]
        request = waiting.popleft()
        if not waiting:
            del self.pending[key]
        if kind == "whole":  # the call logged again with its answer (CrewAI's started and completed events)
            return [*out, Skipped(request.get("_line"), f"the request of the call logged again on line {line}"), record]
        out.append(joined(request, record))
        if request.get("_line") is not None and record.get("_line") is not None:
            out.append(Skipped(record["_line"], f"the answer of the request on line {request['_line']}"))
        return out

    def _expired(self, line: int) -> list[dict]:
        out: list[dict] = []
        while self.pending:
            key, waiting = next(iter(self.pending.items()))
            first = waiting[0].get("_line")
            if not isinstance(first, int) or line - first <= PENDING_LINES:
                break
            out.append(waiting.popleft())
            if not waiting:
                del self.pending[key]
        return out

    def flush(self) -> list[dict]:
        """The requests whose answer never came: stored as requests without an answer."""
        out = [record for waiting in self.pending.values() for record in waiting]
        self.pending.clear()
        return out
