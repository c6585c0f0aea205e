"""What a format parser yields: normalised request records, or rejects."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

# Columns of `requests` a parser may fill (id, source_file/line/format and ingested_at are filled for it).
RECORD_FIELDS = (
    "source_id",
    "provider",
    "model",
    "created_at",
    "system_prompt",
    "messages_json",
    "prompt_text",
    "response_text",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "cost_source",
    "is_batch",
    "duration_ms",
    "status",
    "user_id",
    "tags_json",
    "params_json",
    "operation",
    "trace_id",
    "parent_span_id",
    "sample_rate",  # the fraction of traffic the export kept, when it states one (sample_rates.py)
    "cache_write_1h_tokens",  # of the cache writes, those kept an hour (Anthropic's ephemeral_1h), priced higher
    "web_searches",  # web searches the model ran for the call (a server tool), billed per search
)
# What a call did: generations are what plan categorizes and replays; embeddings are priced, not categorized.
GENERATION_OPERATIONS = ("chat", "text_completion", "generate_content", "responses", "messages")
EMBEDDING_OPERATION = "embeddings"
# Service tiers billed at the standard price, as responses name the tier they were served at (OpenAI's
# ``service_tier``, Anthropic's ``usage.service_tier``); a Batch API's own tier is ``is_batch``.
STANDARD_TIERS = frozenset({"default", "auto", "standard", "on_demand", "batch"})


def billed_tier(value: Any) -> str | None:
    """The tier a call was billed at when it is not the standard one (OpenAI's ``flex`` and ``priority``,
    Anthropic's ``priority``): priced at that tier's rates; None for the standard price."""
    if not isinstance(value, str):
        return None
    tier = value.strip().lower()
    return None if not tier or tier in STANDARD_TIERS else tier


@dataclass
class Reject:
    line: int | None
    reason: str
    excerpt: str = ""


@dataclass
class Skipped:
    """A record that is valid but not a model call (an agent, tool or workflow span): counted, not stored."""

    line: int | None
    reason: str = "not a model call"


@dataclass
class Held:
    """A line that is one piece of a call spread over several lines (a streamed answer saved a piece per line), read
    line by line: held until the file's other lines are read, then folded with its call's other pieces
    (``fold_held``), as the format's own reader folds them."""

    line: int
    value: Any


def excerpt(text: Any, limit: int = 200) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        text = json.dumps(text, default=str)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


ID_MASK = 0x7FFFFFFFFFFFFFFF


def stable_id(*parts: Any) -> int:
    """A non-negative 63-bit id from a content hash, stable across runs, machines and library versions.

    It is the first 8 bytes of MD5 read little-endian, which is what DuckDB's ``md5_number_upper`` returns (and
    the low 64 bits of ``md5_number``), so SQL can compute the same id (see ``sql_stable_id``)."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    digest = hashlib.md5(text.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "little") & ID_MASK


def sql_stable_id(expr: str) -> str:
    """The SQL twin of ``stable_id`` for one string expression. ``md5_number`` masked rather than
    ``md5_number_upper``: the same bits, five times faster (about 0.1 against 0.5 microseconds a row)."""
    return f"(md5_number({expr}) & {ID_MASK}::UHUGEINT)::BIGINT"


# Ollama's OpenAI-compatible server names each answer chatcmpl-0 ... chatcmpl-998 at random (and says so with its
# system fingerprint): an Ollama log repeats them every few hundred calls, so they tell no call apart; its content does
# (``openai.answer_id``).
OLLAMA_FINGERPRINT = "fp_ollama"
OLLAMA_ID = re.compile(r"chatcmpl-[0-9]{1,3}")


def dedupe_key(record: dict) -> str:
    """Records with the same provider and source id are one call; without an id, identical content is.

    A parser may set ``_dedupe_key`` when the log's id is not unique on its own (batch ``custom_id``s
    repeat across batches), and ``_supersedes`` to the key of a less complete row this record replaces. An embedding
    call stores no text, so ``_embedded`` (a hash of its input) stands for its content."""
    if record.get("_dedupe_key"):
        return record["_dedupe_key"]
    if record.get("source_id"):
        return f"{record.get('provider') or ''}|id|{record['source_id']}"
    if record.get("_embedded"):
        head = "|".join(str(record.get(k) or "") for k in ("provider", "model", "created_at", "input_tokens"))
        return f"{head}|embeddings|{record['_embedded']}"
    return "|".join(
        str(record.get(k) or "")
        for k in ("provider", "model", "created_at", "messages_json", "prompt_text", "response_text", "input_tokens", "output_tokens")
    )


MAX_TIME_TEXT = 64  # no notation of a time is longer; dateutil takes quadratic time on a long string


UNIX_EPOCH = datetime(1970, 1, 1)
NANOSECONDS_FROM = 10**17  # an epoch count past this is nanoseconds (as microseconds it would be past the year 5000)


def to_utc(value: Any) -> datetime | None:
    """Timestamps in logs: ISO strings (with Z or offsets), epoch seconds, milliseconds, microseconds or nanoseconds.
    Returns naive UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, (int, float)) or (isinstance(value, str) and value.replace(".", "", 1).isdigit()):
        if isinstance(value, (int, str)) and str(value).isdigit() and int(value) > NANOSECONDS_FROM:
            try:
                return UNIX_EPOCH + timedelta(microseconds=int(value) // 1000)  # exact: a double would blur the microseconds
            except OverflowError as exc:  # past year 9999
                raise ValueError(f"unreadable timestamp {value!r}") from exc
        num = float(value)
        if num > NANOSECONDS_FROM:  # nanoseconds (Go's and OpenTelemetry's clocks)
            num /= 1e9
        elif num > 1e14:  # microseconds
            num /= 1e6
        elif num > 1e11:  # milliseconds
            num /= 1e3
        try:
            dt = datetime.fromtimestamp(num, tz=timezone.utc)
        except (OverflowError, OSError, ValueError) as exc:  # past year 9999, infinite, not a number
            raise ValueError(f"unreadable timestamp {value!r}") from exc
    elif isinstance(value, str) and len(value) > MAX_TIME_TEXT:
        raise ValueError(f"unreadable timestamp {value[:40]!r}... ({len(value):,} characters)")
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        if " UTC" in text:
            text = text.replace(" UTC", "+00:00")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            from dateutil import parser as dateparser  # the long tail of formats

            try:
                dt = dateparser.parse(value)
            except (ValueError, OverflowError) as exc:
                raise ValueError(f"unreadable timestamp {value!r}") from exc
    else:
        raise ValueError(f"unreadable timestamp {value!r}")
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt


_JSON_TOKENS = re.compile(r'\\.|["\[\]{}]')  # an escaped character, a quote or a bracket


def nested_too_deep(text: str, limit: int | None = None) -> bool:
    """Whether JSON text nests brackets more than ``limit`` levels deep (brackets inside strings do not count).
    Cheap for ordinary lines: the exact count runs only when the text holds more brackets than the limit."""
    from . import tuning

    limit = tuning.MAX_JSON_DEPTH if limit is None else limit
    if text.count("[") + text.count("{") <= limit:
        return False
    depth, in_string = 0, False
    for token in _JSON_TOKENS.findall(text):  # one pass (a regex for whole strings took quadratic time on a cut one)
        if token == '"':
            in_string = not in_string
        elif in_string or token[0] == "\\":
            continue
        elif token in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def loads(text: str, **kwargs) -> Any:
    """``json.loads`` for text from a log: nesting past ``tuning.MAX_JSON_DEPTH`` levels is a ValueError saying so,
    never a RecursionError (a stack overflow in Python's parser would end the whole run)."""
    from . import tuning

    if nested_too_deep(text):
        raise ValueError(f"JSON nested more than {tuning.MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(text, **kwargs)
    except RecursionError:
        raise ValueError(f"JSON nested more than {tuning.MAX_JSON_DEPTH} levels deep") from None


def maybe_json(value: Any) -> Any:
    """Exports often double-encode JSON: a string that holds JSON becomes the value it holds (a key repeated in it
    keeps its first value, as in a line, ``parse_json_line``)."""
    while isinstance(value, str):
        stripped = value.strip()
        if not stripped or stripped[0] not in "[{\"":
            return value
        try:
            value = loads(stripped, object_pairs_hook=_first_value_wins)
        except ValueError:
            return value
    return value


def content_hash(value: Any) -> str:
    """A short hash of a JSON-able value, for dedupe keys of records the log gave no id."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.md5(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def json_reject(number: int, line: str, exc: ValueError) -> Reject:
    msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
    return Reject(number, f"not valid JSON ({msg})", line)


def _first_value_wins(pairs: list) -> dict:
    """An object whose key repeats keeps the key's first value, as DuckDB's JSON reader does (Python's json
    keeps the last), so a line stores the same row on the SQL route and on this one."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        obj = {}
        for key, value in pairs:
            obj.setdefault(key, value)
    return obj


def with_pair_status(record: dict, response: Any, status_code: Any) -> dict:
    """A logged request/response pair's status: an HTTP error code wins; a pair without a response says so."""
    if isinstance(status_code, (int, float)) and status_code >= 400:
        record["status"] = "error"
    if not isinstance(response, dict):
        record.setdefault("status", "no_response")
    return record


def parse_json_line(number: int, line: str):
    """One JSON Lines line as a value (double-encoded lines decoded), or a Reject saying why not."""
    try:
        return maybe_json(loads(line, object_pairs_hook=_first_value_wins))
    except ValueError as exc:
        return json_reject(number, line, exc)


def _too_deep(exc: ValueError) -> bool:
    return "nested more than" in str(exc)


def starts_cut_short(head: bytes) -> bool:
    """Whether ``head`` is JSON Lines whose first line is the end of a record cut short (a log split by size, or
    copied from the middle): that line is no JSON, the two after it each a whole object."""
    lines = _head_lines(head.decode("utf-8", "replace"))
    if not lines:
        return False
    try:
        loads(lines[0])
        return False
    except ValueError:
        return _records_follow(lines[1:])


def _head_lines(text: str) -> list[str]:
    """The first twenty lines of a file's head that hold anything, stripped."""
    return [line for line in (raw.strip() for raw in text.split("\n")[:20]) if line]


def _records_follow(lines: list[str]) -> bool:
    """Whether the next two lines each hold a whole JSON object: JSON Lines, whose line before them was a record cut
    short (a log split by size, or copied from the middle), not the start of a JSON document (whose inner lines end
    with a comma, or hold a key)."""
    if len(lines) < 2:
        return False
    for line in lines[:2]:
        if not (line.startswith("{") and line.endswith("}")):
            return False
        try:
            if not isinstance(loads(line), dict):
                return False
        except ValueError:
            return False
    return True


def is_json_lines(src, *, encoded: bool = True) -> bool:
    """JSON Lines when one of the first lines holds a whole JSON object (pretty-printed JSON never does);
    with ``encoded``, a line holding a JSON-encoded object counts too. A line nested too deeply to read is
    skipped: the lines after it tell."""
    head = src.head()
    text = head.decode("utf-8", "replace")
    lines = text.split("\n")
    if len(head) >= 65536:
        lines = lines[:-1]  # the last one may be cut
    checked = 0
    for line in lines:
        line = line.strip()
        if not line:
            continue
        checked += 1
        if checked == 1 and line.startswith("["):
            try:
                loads(line)
            except ValueError as exc:
                if _too_deep(exc):
                    continue
            return False  # a JSON document (a pretty-printed array's elements may parse one per line)
        if line.startswith(("{", '"{') if encoded else "{"):
            try:
                if isinstance(maybe_json(loads(line)), dict):
                    return True
            except ValueError as exc:
                if _too_deep(exc):
                    continue
        if checked >= 5:
            break
    return False


def field_value_row(item: Any) -> Any:
    """A Logs Insights row written as its fields' ``{"field", "value"}`` pairs, as one object; any other item as it is."""
    if isinstance(item, list) and item and all(isinstance(x, dict) and "field" in x and "value" in x for x in item):
        return {str(x["field"]): x["value"] for x in item}
    return item


def head_records(src, limit: int = 20) -> list[dict]:
    """The objects the head (``SourceFile.head``: 64 KiB, or through a longer first record) holds whole, up to
    ``limit``: lines of JSON Lines, or the elements of a JSON document's array (top-level, or the one list a wrapper
    object holds: ``{"events": [...]}``; Logs Insights rows as objects). For sniffing a format whose first record may
    not tell: a log store's export opens with other log lines."""
    head = src.head()
    text = head.decode("utf-8", "replace")
    if is_json_lines(src):
        lines = text.split("\n")[:-1] if len(head) >= 65536 else text.split("\n")
        values = []
        for line in lines:
            if line.strip():
                try:
                    values.append(maybe_json(loads(line)))
                except ValueError:
                    continue
            if len(values) >= limit:
                break
    else:
        if nested_too_deep(text[:65536]):
            return []
        try:
            doc, _ = json.JSONDecoder().raw_decode(text.lstrip())
        except (ValueError, RecursionError):  # cut at 64 KiB: its first record is all that tells
            first = first_json_object(src)
            return [first] if first is not None else []
        if isinstance(doc, dict):
            lists = [v for v in doc.values() if isinstance(v, list) and v and isinstance(v[0], (dict, list))]
            doc = lists[0] if len(lists) == 1 else [doc]
        values = [field_value_row(v) for v in doc] if isinstance(doc, list) else []
    return [v for v in values if isinstance(v, dict)][:limit]


def first_json_object(src) -> dict | None:
    """The first record of a JSON Lines file or JSON document, for format sniffing (None when there is none)."""
    text = src.head().decode("utf-8", "replace")
    lines = _head_lines(text)
    for number, line in enumerate(lines):
        try:
            obj = maybe_json(loads(line))
        except ValueError as exc:
            if _too_deep(exc) or (line.startswith("{") and line.endswith("}")) or _records_follow(lines[number + 1:]):
                continue  # a JSON Lines record that cannot be read (or the tail of one, cut): the next one tells the format
            break
        if isinstance(obj, dict):
            return obj
        break
    stripped = text.lstrip()
    if nested_too_deep(stripped[:65536]):
        return None
    try:
        doc, _ = json.JSONDecoder().raw_decode(stripped)
    except (ValueError, RecursionError):
        # A document cut at 64 KiB: decode its first element on its own. Text that is not JSON (a README showing
        # an example record) holds no record.
        if stripped[:1] not in ("[", "{"):
            return None
        start = stripped.find("{", 1 if stripped[:1] == "[" else 0)
        if start < 0:
            return None
        try:
            doc, _ = json.JSONDecoder().raw_decode(stripped, start)
        except (ValueError, RecursionError):
            return None
    if isinstance(doc, list):
        doc = next((x for x in doc if isinstance(x, dict)), None)
    if isinstance(doc, dict) and isinstance(doc.get("data"), list) and doc["data"] and isinstance(doc["data"][0], dict):
        return doc["data"][0]
    return doc if isinstance(doc, dict) else None


def head_objects(src, limit: int = 20) -> list[Any]:
    """What a sniffer looks at: the records the head holds whole (``head_records``), or, when it holds none (one
    record longer than the head), the file's first JSON object (None when there is none)."""
    return list(head_records(src, limit=limit)) or [first_json_object(src)]
