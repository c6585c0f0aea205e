"""simonw/llm's `logs.db` (SQLite), read-only, and its `llm logs --json` export.

Both generations of its tables are read, as `llm logs` does: the content-addressed `turns` (one row per
model call, its input and output found by walking the `messages` chain and their `parts`, fragment
references resolved), and legacy `responses` rows that have no turn (joined to `conversations` for the
model when a row lacks one; prompt and system fragments put back in front of the typed text).
A turn's prompt is its own trailing user input; `messages_json` is the whole conversation it sent.

`llm logs --json` prints one object per response with the fields of a `responses` row (``id``, ``model``,
``prompt``, ``system``, ``response``, ``conversation_id``, ``datetime_utc``, ``token_details``...) and its fragments'
texts; each is read as that row is (``_response_record``), under the same key, so an export of responses already
ingested from the database adds nothing.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ...errors import PlanError
from ..records import Reject, excerpt, first_json_object, maybe_json, to_utc
from . import register
from .generic import decode_json, guess_provider, to_int

SQLITE_MAGIC = b"SQLite format 3\x00"


@contextmanager
def connect_readonly(src):
    """A read-only connection; a gzipped database is decompressed to a private temporary file first."""
    tmp = None
    path = Path(src.path)
    if src.is_gzip:
        fd, tmp = tempfile.mkstemp(prefix="plan-llm-", suffix=".db")
        os.chmod(tmp, 0o600)
        with os.fdopen(fd, "wb") as out, gzip.open(path, "rb") as fh:
            shutil.copyfileobj(fh, out)
        path = Path(tmp)
    con = None
    try:
        uri = path.resolve().as_uri()
        try:
            con = sqlite3.connect(f"{uri}?mode=ro", uri=True)
            con.execute("select count(*) from sqlite_master").fetchall()
        except sqlite3.OperationalError:
            if con is not None:
                con.close()
            con = sqlite3.connect(f"{uri}?immutable=1", uri=True)  # a WAL database on read-only media
            con.execute("select count(*) from sqlite_master").fetchall()
        con.row_factory = sqlite3.Row
        yield con
    except sqlite3.DatabaseError as exc:
        raise PlanError(f"{src.display}: not a readable SQLite database ({exc}).") from None
    finally:
        if con is not None:
            con.close()
        if tmp:
            os.unlink(tmp)


def table_names(con) -> set[str]:
    return {row[0] for row in con.execute("select name from sqlite_master where type in ('table', 'view')").fetchall()}


def _columns(con, table: str) -> set[str]:
    return {row[1] for row in con.execute(f'pragma table_info("{table}")').fetchall()}


def _token_fields(input_tokens, output_tokens, details) -> dict:
    """llm stores the provider's own counts; Anthropic's cache reads/writes go in token_details beside input."""
    inp = to_int(input_tokens, "input_tokens")
    out = to_int(output_tokens, "output_tokens")
    details = decode_json(details) if details else None
    cached = write = reasoning = None
    if isinstance(details, dict):
        prompt_details = details.get("prompt_tokens_details") or details.get("input_tokens_details") or {}
        if isinstance(prompt_details, dict):
            cached = to_int(prompt_details.get("cached_tokens"))
        completion_details = details.get("completion_tokens_details") or details.get("output_tokens_details") or {}
        if isinstance(completion_details, dict):
            reasoning = to_int(completion_details.get("reasoning_tokens"))
        read = to_int(details.get("cache_read_input_tokens"))
        create = to_int(details.get("cache_creation_input_tokens"))
        if read is not None or create is not None:
            if inp is not None:
                inp += (read or 0) + (create or 0)
            cached, write = read, create
        if cached is None:
            cached = to_int(details.get("cachedContentTokenCount"))
        if reasoning is None:
            reasoning = to_int(details.get("thoughtsTokenCount"))
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "cached_input_tokens": cached,
        "cache_write_tokens": write,
        "reasoning_tokens": reasoning,
    }


def _params(options_json) -> dict | None:
    options = decode_json(options_json)
    return options if isinstance(options, dict) and options else None


class _MessageStore:
    """The content-addressed `messages`/`parts` tables, loaded once and walked per turn."""

    def __init__(self, con, tables: set[str]):
        self.con = con
        self.parent: dict[str, tuple[str | None, str]] = {}
        for row in con.execute("select hash, parent_hash, role from messages").fetchall():
            self.parent[row["hash"]] = (row["parent_hash"], row["role"])
        self.parts: dict[str, list] = {}
        for row in con.execute("select message_hash, type, text, payload from parts order by message_hash, position").fetchall():
            self.parts.setdefault(row["message_hash"], []).append((row["type"], row["text"], row["payload"]))
        self.has_fragments = "fragments" in tables
        self._fragments: dict[int, str] = {}

    def fragment(self, fragment_id) -> str:
        if fragment_id not in self._fragments:
            row = self.con.execute("select content from fragments where id = ?", [fragment_id]).fetchone() if self.has_fragments else None
            self._fragments[fragment_id] = (row["content"] if row else "") or ""
        return self._fragments[fragment_id]

    def chain(self, tip: str | None, stop: str | None = None) -> list[str]:
        """Hashes from the root (or just after `stop`) to `tip`, oldest first."""
        out: list[str] = []
        current = tip
        while current is not None and current != stop:
            if current not in self.parent:
                raise ValueError(f"message {current} is missing from the messages table")
            out.append(current)
            current = self.parent[current][0]
            if len(out) > 100_000:
                raise ValueError("message chain loops")
        out.reverse()
        return out

    def role(self, message_hash: str) -> str:
        return self.parent[message_hash][1]

    def text(self, message_hash: str, kinds=("text",)) -> str:
        texts = []
        for kind, text, payload in self.parts.get(message_hash, []):
            data = json.loads(payload) if payload else {}
            if text is None and isinstance(data.get("text_ref"), list):
                text = "".join(
                    piece.get("literal", "") if "literal" in piece else self.fragment(piece.get("fragment"))
                    for piece in data["text_ref"]
                    if isinstance(piece, dict)
                )
            if text is None:
                text = data.get("text")
            if kind in kinds and text:
                texts.append(text)
            elif kind == "tool_call" and "tool_call" in kinds:
                texts.append(f"[tool call {data.get('name', '')}: {json.dumps(data.get('arguments'), ensure_ascii=False)}]")
            elif kind == "tool_result" and "tool_result" in kinds:
                texts.append(str(data.get("output") or ""))
            elif kind == "attachment" and "attachment" in kinds:
                texts.append("[attachment]")
        return "\n".join(t for t in texts if t)


_CONVERSATION_KINDS = ("text", "tool_call", "tool_result", "attachment")


def _turn_records(con, tables: set[str]):
    store = _MessageStore(con, tables)
    thread_names = {}
    if "threads" in tables:
        thread_names = {row["id"]: row["name"] for row in con.execute("select id, name from threads").fetchall()}
    columns = _columns(con, "turns")
    wanted = [c for c in ("id", "thread_id", "parent_message_hash", "tip_message_hash", "model", "resolved_model", "options_json",
                          "input_tokens", "output_tokens", "token_details", "duration_ms", "datetime_utc", "response_json")
              if c in columns]
    for number, row in enumerate(con.execute(f"select {', '.join(wanted)} from turns order by id").fetchall(), start=1):
        row = dict(row)
        try:
            inputs = store.chain(row.get("parent_message_hash"))
            outputs = store.chain(row.get("tip_message_hash"), stop=row.get("parent_message_hash"))
            boundary = len(inputs)
            while boundary and store.role(inputs[boundary - 1]) in ("user", "tool"):
                boundary -= 1
            own = [h for h in inputs[boundary:] if store.role(h) == "user"]
            messages = [{"role": store.role(h), "content": store.text(h, _CONVERSATION_KINDS)} for h in inputs]
            system = store.text(inputs[0]) if inputs and store.role(inputs[0]) == "system" else None
            response = "\n".join(t for t in (store.text(h) for h in outputs) if t)
            if not response:
                response = "\n".join(t for t in (store.text(h, ("tool_call",)) for h in outputs) if t)
            record = {
                "source_id": row["id"],
                "model": answered_model(row, row.get("model") or row.get("resolved_model")),
                "created_at": to_utc(row.get("datetime_utc")),
                "system_prompt": system or None,
                "prompt_text": "\n".join(t for t in (store.text(h) for h in own) if t),
                "messages_json": messages,
                "response_text": response or None,
                "duration_ms": float(row["duration_ms"]) if row.get("duration_ms") is not None else None,
                "params_json": _params(row.get("options_json")),
                **_token_fields(row.get("input_tokens"), row.get("output_tokens"), row.get("token_details")),
            }
        except (ValueError, TypeError) as exc:
            yield Reject(number, f"turn {row.get('id')}: {exc}", json.dumps(row, default=str))
            continue
        tags = {"conversation_id": row.get("thread_id"), "conversation_name": thread_names.get(row.get("thread_id")),
                "resolved_model": row.get("resolved_model"),
                "model_alias": row.get("model") if row.get("model") != record["model"] else None}
        yield _finish(record, tags, number)


def _finish(record: dict, tags: dict, number: int) -> dict:
    record["provider"] = guess_provider(record.get("model"))
    record["status"] = "ok"
    record["tags_json"] = {k: v for k, v in tags.items() if v} or None
    record["_dedupe_key"] = f"llm|{record['source_id']}"
    record["_line"] = number
    return record


def _fragments_by_response(con, tables: set[str], table: str) -> dict[str, list[str]]:
    if table not in tables or "fragments" not in tables:
        return {}
    out: dict[str, list[str]] = {}
    rows = con.execute(
        f'select t.response_id, f.content from "{table}" t join fragments f on f.id = t.fragment_id order by t.response_id, t."order"'
    ).fetchall()
    for row in rows:
        out.setdefault(row["response_id"], []).append(row["content"] or "")
    return out


def _legacy_records(con, tables: set[str], start: int):
    columns = _columns(con, "responses")
    wanted = [c for c in ("id", "model", "resolved_model", "prompt", "system", "options_json", "response", "conversation_id",
                          "duration_ms", "datetime_utc", "input_tokens", "output_tokens", "token_details", "response_json")
              if c in columns]
    select = ", ".join(f"r.{c}" for c in wanted)
    join = ""
    if "conversations" in tables and "conversation_id" in columns:
        select += ", c.model as conversation_model, c.name as conversation_name"
        join = "left join conversations c on c.id = r.conversation_id"
    where = "where r.id not in (select id from turns)" if "turns" in tables else ""
    prompt_fragments = _fragments_by_response(con, tables, "prompt_fragments")
    system_fragments = _fragments_by_response(con, tables, "system_fragments")
    history: dict[str, list[dict]] = {}
    rows = con.execute(f"select {select} from responses r {join} {where} order by r.id").fetchall()
    for number, row in enumerate(rows, start=start):
        yield _response_record(dict(row), prompt_fragments.get(row["id"], []), system_fragments.get(row["id"], []),
                               history, number)


def _response_record(row: dict, prompt_fragments: list[str], system_fragments: list[str], history: dict[str, list[dict]],
                     number: int) -> dict | Reject:
    """One response (a `responses` row, or an object of `llm logs --json`, which holds the same fields): fragments
    put back in front of the typed prompt and system, the conversation's earlier turns (``history``, kept in order
    of the responses' ids) before it."""
    try:
        prompt = "\n".join(prompt_fragments + ([row["prompt"]] if isinstance(row.get("prompt"), str) and row["prompt"] else []))
        typed_system = row.get("system") if isinstance(row.get("system"), str) else ""
        system_bits = [b.strip() for b in system_fragments + [typed_system] if b and b.strip()]
        system = "\n\n".join(system_bits) or None
        conversation = row.get("conversation_id")
        earlier = history.setdefault(conversation, []) if conversation else []
        messages = ([{"role": "system", "content": system}] if system else []) + list(earlier) + [{"role": "user", "content": prompt}]
        record = {
            "source_id": row["id"],
            "model": answered_model(row, row.get("model") or row.get("conversation_model") or row.get("resolved_model")),
            "created_at": to_utc(row.get("datetime_utc")),
            "system_prompt": system,
            "prompt_text": prompt,
            "messages_json": messages,
            "response_text": row.get("response"),
            "duration_ms": float(row["duration_ms"]) if row.get("duration_ms") is not None else None,
            "params_json": _params(row.get("options_json")),
            **_token_fields(row.get("input_tokens"), row.get("output_tokens"), row.get("token_details")),
        }
    except (ValueError, TypeError) as exc:
        return Reject(number, f"response {row.get('id')}: {exc}", json.dumps(row, default=str))
    if conversation:
        earlier.extend([{"role": "user", "content": prompt}, {"role": "assistant", "content": row.get("response") or ""}])
    tags = {"conversation_id": conversation, "conversation_name": row.get("conversation_name"),
            "resolved_model": row.get("resolved_model"),
            "model_alias": row.get("model") if row.get("model") != record["model"] else None}
    return _finish(record, tags, number)


def answered_model(row: dict, logged):
    """The model a response names when llm logged an alias that names no provider (a model the user set up in
    extra-openai-models.yaml, ``model_id: my-4o`` for ``gpt-4o-mini``; its ``resolved_model`` is left empty by the
    OpenAI plugin): the alias cannot be priced, the model that answered can."""
    if guess_provider(logged) is not None:
        return logged
    answer = maybe_json(row.get("response_json"))
    named = answer.get("model") if isinstance(answer, dict) else None
    return named if isinstance(named, str) and guess_provider(named) is not None else logged


# What every object of `llm logs --json` holds.
LOGS_JSON_KEYS = frozenset({"id", "model", "prompt", "response", "conversation_id", "datetime_utc"})


def _logs_json_records(src):
    """The responses of an `llm logs --json` export, read as `logs.db`'s rows are (in order of their ids, so that a
    conversation's earlier turns come first, whichever order the export printed them in)."""
    from .app_log import json_values

    responses = []
    for number, obj in json_values(src):
        if isinstance(obj, Reject):
            yield obj
        elif not (isinstance(obj, dict) and LOGS_JSON_KEYS <= obj.keys()):
            yield Reject(number, "not a response as `llm logs --json` prints it", excerpt(obj))
        else:
            responses.append((str(obj["id"]), number, obj))
    history: dict[str, list[dict]] = {}
    for _, number, obj in sorted(responses, key=lambda item: item[0]):
        yield _response_record(obj, _fragment_texts(obj.get("prompt_fragments")), _fragment_texts(obj.get("system_fragments")),
                               history, number)


def _fragment_texts(fragments) -> list[str]:
    listed = fragments if isinstance(fragments, list) else []
    return [f["content"] for f in listed if isinstance(f, dict) and isinstance(f.get("content"), str)]


class LlmLogsDb:
    name = "llm"
    order = 50

    def sniff(self, src) -> int:
        if not src.head().startswith(SQLITE_MAGIC):
            first = first_json_object(src)
            return 90 if isinstance(first, dict) and LOGS_JSON_KEYS <= first.keys() else 0
        try:
            with connect_readonly(src) as con:
                tables = table_names(con)
        except (PlanError, sqlite3.Error, OSError):
            return 0
        if ("turns" in tables and "messages" in tables) or ("responses" in tables and "conversations" in tables):
            return 95
        return 0

    def parse(self, src, ctx):
        if not src.head().startswith(SQLITE_MAGIC):
            yield from _logs_json_records(src)
            return
        with connect_readonly(src) as con:
            tables = table_names(con)
            if not ({"turns", "responses"} & tables):
                raise PlanError(f"{src.display}: a SQLite database without llm's responses or turns tables.")
            count = 0
            if {"turns", "messages", "parts"} <= tables:
                for item in _turn_records(con, tables):
                    count += 1
                    yield item
            if "responses" in tables:
                yield from _legacy_records(con, tables, start=count + 1)


register(LlmLogsDb())
