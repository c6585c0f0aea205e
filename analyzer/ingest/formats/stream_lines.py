"""Streamed answers saved one piece per line: each call's consecutive pieces folded into the response they make.

Apps and SDK test suites that record a stream write its pieces as JSON Lines (or keep the server-sent events as they
came, ``event:``/``data:`` lines), one call after another: OpenAI's
``chat.completion.chunk`` objects (Azure's opening chunk of prompt filter results included), Anthropic's Messages
events (``message_start`` ... ``message_stop``), the Responses API's events (``response.created`` ...
``response.completed``/``failed``/``incomplete``). Read line by line, the first piece was taken for the whole
answer (Anthropic's placeholder output count of 1, no text) and the others rejected or ignored. Here the pieces of
one call become one response object at the line of its first piece; the other lines are skipped and counted, as
read with that call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..records import Reject, Skipped, excerpt, loads
from .anthropic import assemble_stream
from .openai import assemble_chat_chunks, assemble_responses_events, is_azure_filter_chunk

ANTHROPIC_EVENTS = frozenset({"message_start", "content_block_start", "content_block_delta", "content_block_stop",
                              "message_delta", "message_stop", "ping"})
RESPONSES_ENDS = frozenset({"response.completed", "response.failed", "response.incomplete"})


def piece_of(obj: Any) -> tuple[str, str | None] | None:
    """(kind of stream, id of its call when the piece names one) of a line that is a piece of a streamed answer."""
    if not isinstance(obj, dict):
        return None
    kind = obj.get("type")
    if isinstance(kind, str):
        if kind in ANTHROPIC_EVENTS:
            return "anthropic", None
        if kind.startswith("response.") and ("sequence_number" in obj or "response" in obj or "item_id" in obj):
            return "responses", None
        if kind == "error" and "sequence_number" in obj:
            return "responses", None
    if obj.get("object") == "chat.completion.chunk" and isinstance(obj.get("choices"), list):
        return "chat", str(obj.get("id") or "") or None
    if is_azure_filter_chunk(obj):
        return "chat", None  # Azure's opening chunk: the prompt's filter results, before the call's own chunks
    return None


def _starts_call(kind: str, obj: dict) -> bool:
    return obj.get("type") == ("message_start" if kind == "anthropic" else "response.created")


def _ends_call(kind: str, obj: dict) -> bool:
    if kind == "chat":
        # the last chunk of a stream asked to include its usage: no choices (a server that states the usage so far
        # in every chunk, vLLM's continuous_usage_stats, sends choices with it until then)
        return bool(obj.get("usage")) and not obj.get("choices")
    return (kind == "anthropic" and obj.get("type") == "message_stop") or (
        kind == "responses" and obj.get("type") in RESPONSES_ENDS)


ASSEMBLE: dict[str, Callable[[list], Any]] = {"anthropic": assemble_stream, "chat": assemble_chat_chunks,
                                              "responses": assemble_responses_events}
READ_ERRORS = (ValueError, TypeError, AttributeError, KeyError)
MAX_OPEN_CHAT_STREAMS = 10_000  # chunk dumps without usage close at the end of the file: a bound on what is held


class _Group:
    def __init__(self, kind: str, number: int):
        self.kind, self.first = kind, number
        self.pieces: list[dict] = []
        self.numbers: list[int] = []

    def add(self, number: int, obj: dict) -> None:
        self.pieces.append(obj)
        self.numbers.append(number)

    def folded(self) -> Iterator:
        try:
            response = ASSEMBLE[self.kind](self.pieces)
        except READ_ERRORS as exc:
            response = Reject(self.first, f"unreadable streamed answer ({type(exc).__name__}: {exc})", excerpt(self.pieces[0]))
        if not isinstance(response, (dict, Reject)):
            response = Reject(self.first, f"pieces of a streamed answer without its start ({self.kind})", excerpt(self.pieces[0]))
        yield self.first, response
        for number in self.numbers[1:]:
            yield number, Skipped(number, f"a piece of a streamed answer, read with its call on line {self.first}")


def fold_stream_lines(values: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    """``(number, value)`` pairs with each call's stream pieces folded into one response object, at the line of its
    first piece; other values pass through unchanged (a piece's line that joins a call yields a ``Skipped``). Chunks
    of chat streams name their call: interleaved streams (an async app logging as the chunks come) are told apart.
    Anthropic's and the Responses API's events do not: a call's events are those up to its end or the next start."""
    chats: dict[str, _Group] = {}  # open chat streams by id, oldest first
    events: _Group | None = None  # the open Anthropic or Responses stream
    for number, obj in values:
        piece = None if isinstance(obj, Reject) else piece_of(obj)
        if piece is None:
            yield number, obj
            continue
        kind, key = piece
        if kind == "chat":
            if is_azure_filter_chunk(obj):
                yield number, Skipped(number, "Azure's prompt filter results before a streamed answer")
                continue
            group = chats.get(key or "")
            if group is None:
                if len(chats) >= MAX_OPEN_CHAT_STREAMS:
                    yield from chats.pop(next(iter(chats))).folded()
                group = chats[key or ""] = _Group(kind, number)
            group.add(number, obj)
            if _ends_call(kind, obj):
                yield from chats.pop(key or "").folded()
            continue
        if events is not None and (events.kind != kind or _starts_call(kind, obj)):
            yield from events.folded()
            events = None
        if events is None:
            events = _Group(kind, number)
        events.add(number, obj)
        if _ends_call(kind, obj):
            yield from events.folded()
            events = None
    for group in [*chats.values(), *([events] if events is not None else [])]:
        yield from group.folded()


SSE_FIELD = ("event:", "data:", "id:", "retry:", ":")


def is_sse(src) -> bool:
    """A file of server-sent events as a stream came (``curl -N`` saved, a proxy's capture): its first line that is
    not blank is an SSE field and one of the first lines carries data."""
    lines = [line.strip() for line in src.head()[:65536].decode("utf-8", "replace").split("\n")]
    first = next((line for line in lines if line), "")
    return first.startswith(SSE_FIELD[:2]) and any(line.startswith("data:") for line in lines[:40])


def sse_values(src) -> Iterator[tuple[int, Any]]:
    """``(line, value)`` of each ``data:`` payload of an SSE file; the other fields (event names, ids, comments) and
    the ``[DONE]`` marker frame the stream and carry nothing of the call."""
    for number, line in src.lines():
        line = line.strip()
        if not line.startswith("data:"):
            if line and not line.startswith(SSE_FIELD):
                yield number, Reject(number, "not a server-sent event field", line)
            continue
        payload = line[5:].strip()
        if payload and payload != "[DONE]":
            try:
                yield number, loads(payload)
            except ValueError:
                yield number, Reject(number, "an SSE data line that is not JSON", line)
