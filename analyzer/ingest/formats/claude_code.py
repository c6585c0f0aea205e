"""Claude Code session transcripts (format ``claude-code``): ``~/.claude/projects/<project>/<session>.jsonl``.

Claude Code (and the Claude Agent SDK, which runs it) writes one JSON line per event of a session: the user's
prompts and tool results (``type: user``), the model's answers (``type: assistant``, ``message`` the API's Message),
and lines that are no model call (``progress``, ``system``, ``summary``, ``file-history-snapshot``,
``queue-operation``, ...). Lines are linked by ``uuid``/``parentUuid``. Subagents write their own files
(``<session>/subagents/agent-*.jsonl``); a directory given to ``plan ingest`` reads them too.

A transcript is not one line per API call, which is what makes reading it line by line wrong:

- **One call, several lines.** An answer is written one content block per line (thinking, text, each tool use),
  every line carrying the call's ``message.id`` and ``requestId`` and a usage snapshot; a streamed call adds an
  early snapshot whose ``output_tokens`` is still partial. A call is one row (keyed on ``message.id``, so a session
  file that repeats an earlier one's history, as resuming does, adds nothing): its blocks in order, the snapshot
  with the most output tokens (snapshots only grow), the first line's time. The call's other lines are counted as
  skipped, with the line that holds the call.
- **The request is not logged.** The transcript holds the conversation, not Claude Code's system prompt or tool
  definitions, so a row's conversation is the turn so far: from the person's prompt that started it (the prompt a
  category is made of) through the tool calls and results before this call, read back along ``parentUuid``.
  Replays of such calls lack the system prompt and tools.
- Messages Claude Code wrote itself (model ``<synthetic>``: API error notices, interruptions) are no model call.
- ``progress`` lines of a subagent repeat its messages; its calls are read from its own file.

Tokens are the Messages API's (``anthropic.usage_fields``: cache reads and writes are part of the input); a cost
Claude Code 1.0 logged (``costUSD``) is the row's cost, its ``durationMs`` the duration; the session is
``trace_id``; the project directory, git branch, Claude Code version and subagent are tags.
"""

from __future__ import annotations

import bisect
import json
from typing import Any

from ..records import Reject, Skipped, excerpt, head_records
from . import register
from .anthropic import pair_record
from .app_log import json_values
from .generic import guess_provider, to_float

# Line types a transcript holds (sniffing asks for one of these; a transcript may hold newer types, read as skipped).
LINE_TYPES = {"user", "assistant", "system", "summary", "progress", "file-history-snapshot", "queue-operation",
              "attachment", "custom-title", "tag"}
# What every line names besides its type: its session, its own or its parent's uuid, or the message it snapshots.
LINE_MARKERS = {"sessionId", "uuid", "parentUuid", "leafUuid", "messageId"}
MAX_TURN_LINES = 20_000  # a parentUuid chain longer than this (or a cycle) is cut: the turn is read from there
SYNTHETIC_MODEL = "<synthetic>"
SYNTHETIC = "a message Claude Code wrote itself (an API error notice or interruption), not a model call"


def is_transcript_line(obj: Any, known_type: bool = True) -> bool:
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str) or not LINE_MARKERS & obj.keys():
        return False
    return obj["type"] in LINE_TYPES or not known_type


def is_message_line(obj: Any) -> bool:
    return is_transcript_line(obj) and obj["type"] in ("user", "assistant") and isinstance(obj.get("message"), dict)


def _call_key(obj: dict) -> str | None:
    message = obj["message"]
    for value in (message.get("id"), obj.get("requestId"), obj.get("uuid")):
        if isinstance(value, str) and value:
            return value
    return None


def _output_tokens(obj: dict) -> int:
    usage = obj["message"].get("usage")
    value = usage.get("output_tokens") if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _merged_blocks(lines: list[dict]) -> list:
    """The content blocks of lines of one message in order (a text content as a text block), a block written twice
    (a re-written line) kept once."""
    blocks, seen = [], set()
    for obj in lines:
        content = obj["message"].get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}] if content else []
        for block in content if isinstance(content, list) else ([content] if content else []):
            key = json.dumps(block, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                blocks.append(block)
    return blocks


def _is_prompt(obj: dict) -> bool:
    """A person's prompt (or a subagent's task): a user line with text, not Claude Code's own note."""
    if obj["type"] != "user" or obj.get("isMeta") or obj.get("isCompactSummary"):
        return False
    content = obj["message"].get("content")
    if isinstance(content, str):
        return bool(content.strip())
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "text" for b in content)


class Session:
    """The message lines of one transcript by ``uuid``, and each call's lines by its key, in file order."""

    def __init__(self) -> None:
        self.by_uuid: dict[str, dict] = {}
        self.calls: dict[str, list[tuple[int, dict]]] = {}
        self.first_request: dict[str, str] = {}  # message id -> the requestId of its first line
        self.in_order: list[tuple[int, dict]] = []  # (line, message line) in file order
        self.prompt_at: list[int | None] | None = None  # built on first use, once every line is in

    def key_of(self, obj: dict) -> str | None:
        """A call's key: its message id, unless another call's lines came first with that id (a transcript whose
        message ids were redacted alike): then the message id and its own requestId."""
        key, request = _call_key(obj), obj.get("requestId")
        if key is None or not isinstance(request, str) or not request or key == request:
            return key
        return key if self.first_request.setdefault(key, request) == request else f"{key}|{request}"

    def add(self, number: int, obj: dict, is_call: bool) -> None:
        if isinstance(obj.get("uuid"), str):
            # Every line: the chain of parents runs through progress and system lines too; of those, only the link
            # is kept (they carry tool output and subagents' messages: most of a transcript's bytes).
            link = {"type": obj["type"], "parentUuid": obj.get("parentUuid")}
            self.by_uuid[obj["uuid"]] = obj if is_message_line(obj) else link
        if is_message_line(obj):
            self.in_order.append((number, obj))
        key = self.key_of(obj) if is_call else None
        if key is not None:
            self.calls.setdefault(key, []).append((number, obj))

    def turn_before(self, first: dict, key: str, number: int) -> list[dict]:
        """The conversation of the turn up to a call: user and assistant messages back to the person's prompt. A
        chain that breaks off before the prompt (a parent the file does not hold) is read in file order instead."""
        chain: list[dict] = []
        seen: set[str] = set()
        uuid = first.get("parentUuid")
        while isinstance(uuid, str) and uuid in self.by_uuid and uuid not in seen and len(seen) < MAX_TURN_LINES:
            seen.add(uuid)
            obj = self.by_uuid[uuid]
            if is_message_line(obj) and not _synthetic(obj) and _call_key(obj) != key:
                chain.append(obj)
                if _is_prompt(obj):
                    return _as_messages(reversed(chain))
            uuid = obj.get("parentUuid")
        broken = isinstance(uuid, str) and uuid not in self.by_uuid
        in_file_order = self.turn_in_file_order(key, number) if broken else None
        return _as_messages(in_file_order if in_file_order else reversed(chain))

    def turn_in_file_order(self, key: str, number: int) -> list[dict] | None:
        """The message lines before a call's first line back to the latest prompt, in file order; None without a
        prompt before it (the turn began in another file: the chain as far as it goes is all there is)."""
        if self.prompt_at is None:  # for each message line, the position of the latest prompt at or before it
            self.prompt_at, latest = [], None
            for position, (_, obj) in enumerate(self.in_order):
                latest = position if _is_prompt(obj) else latest
                self.prompt_at.append(latest)
        end = bisect.bisect_left(self.in_order, number, key=lambda entry: entry[0])
        start = self.prompt_at[end - 1] if end else None
        if start is None:
            return None
        return [obj for _, obj in self.in_order[start:end] if not _synthetic(obj) and _call_key(obj) != key]


def _as_messages(lines) -> list[dict]:
    """Transcript lines as Messages API turns: one assistant message per call, a user's consecutive lines (the
    results of parallel tool calls) joined, as Claude Code sends them."""
    runs: list[list[dict]] = []
    for obj in lines:
        if runs and _turn_of(runs[-1][-1]) == _turn_of(obj):
            runs[-1].append(obj)
        else:
            runs.append([obj])
    return [{"role": _turn_of(run[0])[0], "content": _merged_blocks(run)} for run in runs]


def _turn_of(obj: dict) -> tuple:
    """(role, call): the lines of one user turn, or of one assistant call, share it."""
    role = obj["message"].get("role") or obj["type"]
    return role, _call_key(obj) if role == "assistant" else None


def call_record(session: Session, key: str, lines: list[tuple[int, dict]]) -> dict:
    """One API call from its transcript lines."""
    number, first = lines[0]
    objs = [obj for _, obj in lines]
    final = max(reversed(objs), key=_output_tokens)  # the last of the largest snapshots (max keeps the first it meets)
    stop = next((o["message"].get("stop_reason") for o in reversed(objs) if o["message"].get("stop_reason")), None)
    message = final["message"]
    response = {"type": "message", "id": message.get("id"), "model": message.get("model"), "role": "assistant",
                "content": _merged_blocks(objs), "stop_reason": stop, "usage": message.get("usage")}
    record = pair_record({"messages": session.turn_before(first, key, number)}, response)
    # Claude Code on Bedrock names Bedrock's model ids; through a gateway, the gateway's models.
    record["provider"] = guess_provider(message.get("model")) or "anthropic"
    record.update({"created_at": first.get("timestamp"), "trace_id": first.get("sessionId"),
                   "_line": number})
    if not record.get("source_id") or key.startswith(f"{record['source_id']}|"):
        record["source_id"] = key
    # Claude Code 1.0 wrote what a call cost and took beside it.
    cost, duration = to_float(final.get("costUSD"), "costUSD"), to_float(final.get("durationMs"), "durationMs")
    if cost is not None:
        record["cost_usd"] = cost
    if duration is not None:
        record["duration_ms"] = duration
    tags = {name: first[field] for field, name in (("cwd", "cwd"), ("gitBranch", "git_branch"),
                                                   ("version", "claude_code_version"), ("agentId", "subagent"))
            if isinstance(first.get(field), str) and first[field]}
    if first.get("isSidechain") is True:
        tags["sidechain"] = True
    record["tags_json"] = tags or None
    return record


def _synthetic(obj: dict) -> bool:
    """A message Claude Code wrote itself (an API error notice, an interruption), not the model."""
    return obj["message"].get("model") == SYNTHETIC_MODEL or bool(obj.get("isApiErrorMessage"))


def _not_a_call(obj: dict) -> str | None:
    """Why a transcript line is no model call, or None for an answer's line."""
    if obj["type"] == "assistant" and isinstance(obj.get("message"), dict):
        return SYNTHETIC if _synthetic(obj) else None
    if obj["type"] == "user":
        return "a user turn of a Claude Code session (read as the conversation of the calls after it)"
    return f"a Claude Code {obj['type']} line, not a model call"


class ClaudeCodeTranscript:
    """Claude Code session transcripts: a row per API call, its lines joined, the turn before it as its prompt."""

    name = "claude-code"
    label = "a Claude Code session transcript"
    order = 50
    skipped_hint = ("a transcript's user turns, progress, system and snapshot lines are skipped; its model calls are "
                    "its assistant lines, and a session without any made none")

    def sniff(self, src) -> int:
        records = head_records(src)
        if any(is_message_line(r) and "sessionId" in r and "parentUuid" in r for r in records):
            return 95
        if records:
            return 85 if all(is_transcript_line(r) for r in records) else 0
        # A first line longer than even the head's 16 MiB (a pasted file in the first prompt): its keys show.
        head = src.head().decode("utf-8", "replace")
        return 80 if all(f'"{key}"' in head for key in ("parentUuid", "sessionId", "isSidechain", "userType")) else 0

    def parse(self, src, ctx):
        session = Session()
        skipped: list[Skipped] = []
        for number, obj in json_values(src):
            if isinstance(obj, Reject):
                yield obj
                continue
            if not is_transcript_line(obj, known_type=False):
                yield Reject(number, "expected a Claude Code transcript line (a type and a sessionId or uuid)",
                             excerpt(obj))
                continue
            reason = _not_a_call(obj)
            session.add(number, obj, is_call=reason is None)
            if reason is not None:
                skipped.append(Skipped(number, reason))
        yield from skipped
        for key, lines in session.calls.items():
            try:
                yield call_record(session, key, lines)
            except (ValueError, TypeError, AttributeError, KeyError) as exc:
                yield Reject(lines[0][0], f"unreadable Claude Code call ({exc})", excerpt(lines[0][1]))
                continue
            for number, _ in lines[1:]:
                yield Skipped(number, f"a further block or usage snapshot of the call on line {lines[0][0]}")


register(ClaudeCodeTranscript())
