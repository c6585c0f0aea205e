"""The SQL route's statements for logged model calls: DuckDB parses each line once into one broad structure that
covers the families of lines apps, gateways and batch jobs write, and extracts every field with the same rules as
the Python parsers (``app_calls.py``, ``openai.py``, ``anthropic.py``).

Families (``FAMILIES``): OpenAI chat, Responses API and Anthropic Messages calls, each as a request/response pair
with any of the envelope keys of ``app_log.py`` (time, latency, cost, user, metadata, tags, errors) or as a bare
response object, and OpenAI Batch output lines. Contents may be strings or parts lists, usage may carry detail
objects, requests any parameters.

A line is taken only when every field it has is of a type these rules handle exactly; SQL then stores the row the
Python route would. Anything else (a number where text belongs, a tool call to serialise, a wrapper, a double-encoded
side, a date in another notation) is left to the Python parser, which stores it or rejects it with a reason. The
differential tests (tests/test_ingest_sql_route.py) hold the two routes to identical rows.
"""

from __future__ import annotations

import json
import re

from ..split_calls import CORRELATION_KEYS
from ..records import NANOSECONDS_FROM, OLLAMA_FINGERPRINT, OLLAMA_ID, STANDARD_TIERS, sql_stable_id
from ..sample_rates import SAMPLE_RATE_KEYS
from ..coerce import MAX_CALL_COST_USD
from .app_log import (
    ANTHROPIC_PARAMS,
    batch_inputs_pending,
    CALL_WRAPPER_KEYS,
    CHAT_PARAMS,
    CENTS_KEYS,
    COST_KEYS,
    COST_TOTAL_KEYS,
    DURATION_MS_KEYS,
    DURATION_S_KEYS,
    FAILED_STATUSES,
    FLAT_ANSWER_KEYS,
    FLAT_SYSTEM_KEYS,
    FLAT_USAGE_KEYS,
    REQUEST_KEYS,
    RESPONSE_KEYS,
    RESPONSES_PARAMS,
    ENVELOPE_STATUS_KEYS,
    SPAN_KEYS,
    TAG_KEYS,
    SUCCESS_KEY,
    TIME_KEYS,
    USAGE_HOLDERS,
    USER_KEYS,
)

V, J = "VARCHAR", "JSON"
NL = "chr(10)"
MAX_RAW_BRACKETS = 200  # stored JSON (metadata, parameters) nesting past tuning.MAX_JSON_DEPTH goes to Python

# ---------------------------------------------------------------------------------------------
# What a line is parsed into: one structure for every family (keys a line lacks come out NULL)
# ---------------------------------------------------------------------------------------------

PART = {"type": V, "text": V, "refusal": V}
# An answer's text parts keep their JSON (``text_of`` reads them): answers are often JSON themselves (JSON mode,
# structured outputs), and as VARCHAR a string reading like an object could not be told from an object.
ANSWER_PART = {**PART, "text": J}
USAGE = {
    "prompt_tokens": J, "completion_tokens": J, "prompt_tokens_details": {"cached_tokens": J},
    "completion_tokens_details": {"reasoning_tokens": J}, "input_tokens": J, "output_tokens": J,
    "input_tokens_details": {"cached_tokens": J, "cache_creation_input_tokens": J}, "output_tokens_details": {"reasoning_tokens": J},
    "cache_read_input_tokens": J, "cache_creation_input_tokens": J, "cache_creation": {"ephemeral_1h_input_tokens": J},
    "server_tool_use": {"web_search_requests": J},
    "cost": J, "total_cost": J, "is_byok": J, "cost_details": {"upstream_inference_cost": J},
    "iterations": J, "total_tokens": J, "cost_in_usd_ticks": J, "service_tier": J,
}
RESPONSE = {
    "id": V, "object": V, "created": J, "created_at": J, "model": V, "type": V, "status": V, "error": J, "body": J,
    "system_fingerprint": V, "x_groq": J,
    "choices": [{"finish_reason": V, "message": {"content": J, "refusal": J, "tool_calls": J, "function_call": J}}],
    "usage": USAGE, "output": [{"type": V, "content": [ANSWER_PART], "name": V, "arguments": J}],
    "content": [{**ANSWER_PART, "name": V, "input": J}], "stop_reason": V,
    "instructions": J, "metadata": J, "user": J, "safety_identifier": J, "status_code": J, "request_id": J,
    **{p: J for p in RESPONSES_PARAMS},
}
ALL_PARAMS = tuple(dict.fromkeys(CHAT_PARAMS + RESPONSES_PARAMS + ANTHROPIC_PARAMS))
REQUEST = {
    "model": V, "messages": J, "input": J, "instructions": J, "system": J, "anthropic_version": J, "user": J,
    "safety_identifier": J, "metadata": J, "body": J, **{p: J for p in ALL_PARAMS},
}
PAIR_ALIASES = ("req", "request_body", "inputs", "kwargs", "raw_request", "resp", "response_body", "outputs", "completion",
                "request_response", "raw_response")
ENVELOPE = TIME_KEYS + COST_KEYS + CENTS_KEYS + DURATION_MS_KEYS + DURATION_S_KEYS + USER_KEYS + SAMPLE_RATE_KEYS + tuple(
    key for pair in SPAN_KEYS for key in pair) + (
    "metadata", "tags", "error", *ENVELOPE_STATUS_KEYS, SUCCESS_KEY)
LINE = {
    **RESPONSE, "request": REQUEST, "response": RESPONSE, "messages": J, "input": J, "custom_id": J,
    **{k: J for k in PAIR_ALIASES + ENVELOPE + CHAT_PARAMS if k not in ("status",) and k not in RESPONSE},
}
DEFAULT_PAIR = ("request", "response")


def line_spec(pair: tuple[str, ...]) -> dict:
    """``LINE`` with the request and response read under the keys of ``pair`` (``req``/``resp``, ``input``/``output``...)."""
    return LINE if pair[:2] == DEFAULT_PAIR else {**LINE, pair[0]: REQUEST, pair[1]: RESPONSE}


# The keys at the top of each line and those of them that (may) hold an object written as JSON text, for ``alias_pairs``.
TOP_KEYS_SQL = ("select try(json_keys(text)) as keys, list_intersect(try(json_keys(text)),"
                " regexp_extract_all(text, '\"([^\"\\\\]+)\"\\s*:\\s*\"[{\\[]', 1)) as text_keys, count(*) from _lines group by all")
# Pair keys only the Python parser reads: a response key that is one only when it holds an object.
PYTHON_PAIR_KEYS = ("model_output", "answer")


# The third item of a pair whose sides are objects written as JSON text (``{"request": "{\\"model\\": ...}"}``, as
# an app that logs ``json.dumps(body)`` writes them): not a key, so no wrapper is ever taken for it.
SIDES_AS_TEXT = "(sides as JSON text)"


def alias_pairs(rows) -> list[tuple[str, ...]]:
    """The request/response keys other than ``request``/``response`` that lines with these top-level keys pair, as
    ``app_log.pair_sides`` picks them (the first key of each side present), most lines first; a line whose call sits
    under a log store's or logger's wrapper key (``wrapper_of``) counts for ``(request, response, wrapper)``, one whose
    side holds JSON text for ``(request, response, SIDES_AS_TEXT)``."""
    counts: dict[tuple[str, ...], int] = {}
    for keys, text_keys, count in rows:
        keys = set(keys or ())
        request = next((k for k in REQUEST_KEYS if k in keys), None)
        response = next((k for k in RESPONSE_KEYS if k in keys and (k != "raw_response" or "raw_request" in keys)), None)
        if request in PYTHON_PAIR_KEYS or response in PYTHON_PAIR_KEYS:
            continue
        pair: tuple[str, ...] | None = (request, response) if request and response else None
        if pair is not None and set(pair) & set(text_keys or ()):
            pair = (*pair, SIDES_AS_TEXT)
        if pair is None and (wrapper := wrapper_of(keys)) is not None:
            pair = (*DEFAULT_PAIR, wrapper)
        if pair is not None and pair != DEFAULT_PAIR:
            counts[pair] = counts.get(pair, 0) + count
    return sorted(counts, key=lambda pair: -counts[pair])


# A line whose call sits under one wrapper key (``app_log.wrappers_around``: Cloud Logging's jsonPayload, an app's own
# `data`), beside only keys that say nothing about the call (a log store's or logger's own) and the envelope's (a time,
# cost, latency, user, tags, status), read after the call's own (``app_calls.wrapped_record``). Any other key beside it
# (an id, a framework's marks) and the line is Python's, which reads it with every rule.
SIDE_KEYS = ("severity", "level", "levelname", "logger", "logger_name", "insertId", "logName", "resource", "labels",
             "receiveTimestamp", "trace", "spanId", "traceSampled", "sourceLocation", "service", "env", "host", "hostname",
             "pid", "_index", "_id", "_type", "_score", "_version", "_seq_no", "_primary_term", "_routing", "_ignored",
             *TIME_KEYS)
BESIDE_KEYS = (*SIDE_KEYS, *ENVELOPE)
ALWAYS_READ = ("error", "metadata", "tags")  # envelope keys every statement reads, present in the first lines or not
# A logger's message beside the call: only as plain text (JSON text or an object might hold the call itself).
TEXT_SIDE_KEYS = ("message", "msg", "event")
WRAPPER_KEYS = tuple(k for k in CALL_WRAPPER_KEYS if k not in TEXT_SIDE_KEYS)


def wrapper_of(keys: set) -> str | None:
    """The wrapper key of a line with these top-level keys, when it has one and only side keys beside it."""
    wrappers = [k for k in WRAPPER_KEYS if k in keys]
    if len(wrappers) != 1 or not keys - {wrappers[0]} <= {*BESIDE_KEYS, *TEXT_SIDE_KEYS}:
        return None
    return wrappers[0]


MESSAGES = [{"role": V, "content": V}]
MESSAGE_PARTS = [{"role": V, "content": [PART]}]
ITEM_CALL = {"call_id": V, "name": V, "arguments": J, "output": J}  # function_call / function_call_output items
ITEMS = [{"type": V, "role": V, "content": V, **ITEM_CALL}]
ITEM_PARTS = [{"type": V, "role": V, "content": [PART], **ITEM_CALL}]


def struct_type(spec) -> str:
    """The JSON structure DuckDB's ``from_json`` takes, as a SQL string literal."""
    def render(node):
        if isinstance(node, str):
            return json.dumps(node)
        if isinstance(node, list):
            return "[" + render(node[0]) + "]"
        return "{" + ", ".join(f"{json.dumps(k)}: {render(v)}" for k, v in node.items()) + "}"
    return "'" + render(spec).replace("'", "''") + "'"


def field(path: str, *names: str) -> str:
    return path + "".join(f'."{n}"' for n in names)


# ---------------------------------------------------------------------------------------------
# Exactness tests: what SQL can read as the Python parser reads it
# ---------------------------------------------------------------------------------------------


JSON_NUMBER = "-?(0|[1-9][0-9]*)([.][0-9]+)?([eE][+-]?[0-9]+)?"  # as DuckDB writes a number read as text


def plain(x: str) -> str:
    """A VARCHAR that held a JSON string: not DuckDB's text for a list, object, boolean or number (a string that
    looks like one of those is left to Python too). One regular expression: it binds five times faster than the
    same test spelt out, and binding is what a statement of many fields costs."""
    return f"({x} is null or not regexp_full_match({x}, '[\\[{{].*|true|false|{JSON_NUMBER}'))"


def is_string(j: str) -> str:
    return f"starts_with({j}, '\"')"


def text_of(j: str) -> str:
    """The value of a JSON string (NULL for anything else)."""
    return f"case when {is_string(j)} then json_extract_string({j}, '$') end"


def lazy_or(usual: str, costly: str) -> str:
    """``usual or costly``, with ``costly`` evaluated only on the lines where ``usual`` does not hold (DuckDB may
    evaluate both sides of an OR on every line; a CASE evaluates a branch on its own lines only)."""
    return f"(case when {usual} then true else {costly} end)"


def not_list_text(j: str) -> str:
    """A JSON string whose value is not a JSON list (Python decodes one): it does not start (after spaces) with
    ``[``, read on the JSON text, which DuckDB writes with spaces and brackets unescaped, or it is no JSON at all
    (``[INST] ...``, ``[Ticket 42] ...``)."""
    return f"not (starts_with(ltrim(substr({j}, 2)), '[') and json_valid(json_extract_string({j}, '$')))"


def list_like(text: str) -> str:
    """A value the strings parse gave that may be a list's JSON text: it starts with ``[`` and is valid JSON. A string
    such as ``[INST] ...`` is not: it can only have been a string."""
    return f"(starts_with({text}, '[') and json_valid({text}))"


def count_ok(j: str) -> str:
    """A token count Python stores as given: absent, or a JSON integer in range."""
    return f"({j} is null or (regexp_full_match({j}, '[0-9]{{1,18}}') and try_cast({j} as bigint) < 4611686018427387904))"


def number_ok(j: str) -> str:
    return f"regexp_full_match({j}, '-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?')"


def numeric_text(j: str) -> str:
    """A JSON number, or a JSON string holding a plain decimal number, as text (NULL for anything else)."""
    return (f"case when {number_ok(j)} then {j}"
            f" when {is_string(j)} and regexp_full_match({j}, '\"-?[0-9]+(\\.[0-9]+)?\"') then trim({j}, '\"') end")


def cost_ok(text: str) -> str:
    """A logged cost ``coerce`` stores: a number from 0 up to ``MAX_CALL_COST_USD`` (Python rejects any other)."""
    number = f"try_cast({text} as double)"
    return f"coalesce({number} >= 0 and {number} < {MAX_CALL_COST_USD}, false)"


def truthy(j: str) -> str:
    """Python's truth of a JSON value."""
    return (f"({j} is not null and {j} not in ('\"\"', 'false', '[]', '{{}}', '0')"
            f" and not ({number_ok(j)} and try_cast({j} as double) = 0))")


def nonempty_json(j: str) -> str:
    """A non-empty object or list as its JSON text, else NULL."""
    return f"case when (starts_with({j}, '{{') or starts_with({j}, '[')) and {j} not in ('{{}}', '[]') then {j} end"


def shallow(j: str) -> str:
    """Stored JSON cannot nest past the depth limit: short texts cannot; long ones are counted. A value built by an
    expression is named once, in a lambda: written out four times, DuckDB would compute it ahead for every line
    (common subexpressions are hoisted out of an OR that would otherwise skip them)."""
    def test(v: str) -> str:
        return (f"({v} is null or strlen({v}) <= {MAX_RAW_BRACKETS * 2}"
                f" or strlen({v}) - strlen(replace(replace({v}, '{{', ''), '[', '')) <= {MAX_RAW_BRACKETS})")
    return test(j) if re.fullmatch(r'[\w."]+', j) else f"list_transform([{j}], lambda v: {test('v')})[1]"


def first_given(values: list[str]) -> str:
    """The first JSON value that is neither null nor "" (``app_log.first_value``)."""
    return "coalesce(" + ", ".join(f"nullif({v}, '\"\"')" for v in values) + ")"


# ---------------------------------------------------------------------------------------------
# Times: what ``records.to_utc`` reads, for the notations SQL handles exactly
# ---------------------------------------------------------------------------------------------

_ISO_DAY_CLOCK = "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
# Up to nanoseconds (Go's RFC3339Nano): Python 3.11's fromisoformat keeps the first six digits, as iso_time does. The
# decimals may follow a comma (Python logging's asctime); the zone is Z, " UTC" (BigQuery's exports; ``to_utc`` reads
# it as +00:00) or an offset of hours with or without minutes and colon (Java's +0000, Postgres's +00).
_ZONE = "([Zz]| UTC|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)"
_ISO = _ISO_DAY_CLOCK + "([.,][0-9]{1,9})?" + _ZONE + "?"
_ISO_UTC = _ISO_DAY_CLOCK + "(\\.[0-9]{1,6})?Z?"  # what DuckDB's cast to TIMESTAMP reads exactly (it would drop an offset)


def epoch_integer(num: str) -> str:
    """Seconds, milliseconds or microseconds since the epoch, told apart by size as ``to_utc`` does, for a whole
    number of at most 18 digits (integer arithmetic gives what Python's division of the float does: the
    microsecond counts of real times are below 2**53)."""
    n = f"cast({num} as bigint)"
    return (f"make_timestamp(case when {n} > {NANOSECONDS_FROM} then {n} // 1000 when {n} > 100000000000000 then {n}"
            f" when {n} > 100000000000 then {n} * 1000 else {n} * 1000000 end)")


def epoch_nanoseconds(num: str) -> str:
    """``epoch_integer`` for a whole number of 19 digits: nanoseconds (Go's and OpenTelemetry's clocks), cut to
    microseconds as ``to_utc`` does (a BIGINT holds 19 digits only up to 9.2e18)."""
    return f"make_timestamp(cast(cast({num} as hugeint) // 1000 as bigint))"


def epoch_float(num: str) -> str:
    """``epoch_integer`` for a number with decimals (``time.time()`` in a Python app's log, fractional milliseconds),
    as Python computes it: the nearest double, divided down to seconds, microseconds rounded half to even from the
    double's fraction (CPython's ``datetime.fromtimestamp``). Exact decimal arithmetic differed in the last
    microsecond for fractional milliseconds."""
    d = f"cast({num} as double)"
    seconds = f"(case when {d} > {NANOSECONDS_FROM} then {d} / 1e9 when {d} > 1e14 then {d} / 1e6 when {d} > 1e11 then {d} / 1e3 else {d} end)"
    return (f"list_transform([{seconds}], lambda d: make_timestamp(cast(trunc(d) as bigint) * 1000000"
            f" + cast(round_even((d - trunc(d)) * 1e6, 0) as bigint)))[1]")


def iso_time(s: str) -> str:
    """An ISO 8601 time already matched by ``_ISO``, as naive UTC: the clock, then the decimals cut or padded to
    microseconds, less the offset."""
    rest = f"substr({s}, 20)"
    micros = f"coalesce(try_cast(rpad(regexp_extract({rest}, '^[.,]([0-9]+)', 1), 6, '0') as bigint), 0)"  # rpad also cuts
    offset = f"regexp_extract({rest}, '([+-])([0-9]{{2}}):?([0-9]{{2}})?$', ['sign', 'h', 'm'])"
    minutes = (f"list_transform([{offset}], lambda z: (case when z.sign = '-' then -1 else 1 end)"
               " * (coalesce(try_cast(z.h as int), 0) * 60 + coalesce(try_cast(z.m as int), 0)))[1]")
    return f"(try_cast(substr({s}, 1, 19) as timestamp) + to_microseconds({micros}) - to_minutes({minutes}))"


def time_of(j: str) -> str:
    """A JSON time value as ``to_utc`` reads it: a number or numeric string of epoch seconds, milliseconds,
    microseconds or nanoseconds, or an ISO 8601 string; NULL for anything else (Python reads those). The usual notations, a JSON
    integer and an ISO time in UTC (``Z`` or no zone), come first and take short ways: this runs on every line (0.1
    and 0.3 microseconds a line, against 0.7 and 1.1 for the general expressions)."""
    return (f"case when regexp_full_match({j}, '[0-9]{{1,18}}') then {epoch_integer(j)}"
            f" when regexp_full_match({j}, '\"[0-9]{{1,18}}\"') then {epoch_integer(f'trim({j}, chr(34))')}"
            f" when regexp_full_match({j}, '\"?[0-9]{{1,19}}\\.[0-9]{{1,30}}\"?') then {epoch_float(f'trim({j}, chr(34))')}"
            f" when regexp_full_match({j}, '\"{_ISO_UTC}\"') then try_cast(trim({j}, chr(34)) as timestamp)"
            f" when regexp_full_match({j}, '\"{_ISO}\"') then {iso_time(f'trim({j}, chr(34))')}"
            f" when regexp_full_match({j}, '\"?[0-9]{{19}}\"?') then {epoch_nanoseconds(f'trim({j}, chr(34))')} end")


# ---------------------------------------------------------------------------------------------
# Texts out of contents: ``openai.content_text`` and ``anthropic.blocks_text``
# ---------------------------------------------------------------------------------------------


def parts_text(parts: str, *, refusals: bool, json_text: bool = False) -> str:
    """Text parts joined by newlines, empty ones dropped (refusal parts give their refusal); ``json_text`` for parts
    whose text is kept as JSON (``ANSWER_PART``)."""
    text = text_of("p.text") if json_text else "p.text"
    pick = f"case when p.type = 'refusal' and p.refusal is not null then p.refusal else {text} end" if refusals else text
    return f"array_to_string(list_filter(list_transform({parts}, lambda p: {pick}), lambda t: t is not null and t <> ''), {NL})"


def parts_ok(parts: str, *, text_types: tuple | None = None, json_text: bool = False, text_is_string: bool = False) -> str:
    """Every part is an object whose text fields are strings; with ``text_types``, only those types (Anthropic's
    blocks of other types become tool calls or images in Python). ``json_text``: the text is kept as JSON;
    ``text_is_string``: the caller has made sure it is a string (``strings_where_strings_belong``)."""
    text_ok = f"(p.text is null or {is_string('p.text')})" if json_text else "true" if text_is_string else plain("p.text")
    each = f"(p.type is not null or p.text is not null) and {text_ok} and {plain('p.refusal')} and {plain('p.type')}"
    if text_types is not None:
        kinds = ", ".join(f"'{k}'" for k in text_types)
        each += f" and (p.type in ({kinds}) or (p.type is null and p.text is not null))"
    return f"({parts} is null or all_true(list_transform({parts}, lambda p: {each})))"


def contents_parsed(raw: str, spec_strings, spec_parts) -> tuple[str, str]:
    """(strings parse, parts parse) of a JSON list of messages or items: contents that are lists come out in the
    parts parse only (NULL there for string contents), string contents in the first. Each parse is made only when
    the list holds such contents (DuckDB's text of the list is compact: ``"content":"`` starts a string)."""
    strings = (f"case when contains({raw}, '\"content\":\"') or not contains({raw}, '\"content\":[')"
               f" then from_json({raw}, {struct_type(spec_strings)}) end")
    parts = f"case when contains({raw}, '\"content\":[') then from_json({raw}, {struct_type(spec_parts)}) end"
    return strings, parts


def message_texts(strings: str, parts: str, *, refusals: bool) -> str:
    """[{role, text}] from the two parses: a list content's text parts, else the string content."""
    text = (f"case when {parts}[i].content is not null then {parts_text(f'{parts}[i].content', refusals=refusals)}"
            f" else coalesce({strings}[i].content, '') end")
    return (f"list_transform(range(1, coalesce(len({strings}), len({parts}), 0) + 1),"
            f" lambda i: {{'role': coalesce({strings}[i].role, {parts}[i].role), 'text': {text}}})")


def strings_where_strings_belong(raw: str) -> str:
    """The JSON text of a conversation (which DuckDB writes compact) holds no ``"content":`` followed by an object,
    boolean or number and no ``"text":`` followed by anything but a string or null: every content is a string, null or
    a list, every part's text a string, so a content or text that reads like JSON (a tool result, a JSON prompt) is a
    string. One scan of the text instead of a test of every value."""
    return f"not regexp_matches({raw}, '\"content\":[{{tf0-9-]|\"text\":[\\[{{tf0-9-]')"


def contents_ok(raw: str, strings: str, parts: str, *, text_types: tuple | None = None) -> str:
    """Every content is a string, null or a parts list SQL reads (no objects, numbers or booleans), told by
    ``strings_where_strings_belong``. A content the strings parse gives starting with ``[`` is a list unless the
    parts parse read it: left to Python."""
    return (f"(starts_with({raw}, '[') and {strings_where_strings_belong(raw)}"
            f" and ({strings} is null or all_true(list_transform({strings}, lambda m, i: {parts}[i].content is not null"
            f" or m.content is null or not {list_like('m.content')})))"
            f" and ({parts} is null or all_true(list_transform({parts}, lambda m:"
            f" {parts_ok('m.content', text_types=text_types, text_is_string=True)}))))")


# ---------------------------------------------------------------------------------------------
# Families of lines
# ---------------------------------------------------------------------------------------------


class Family:
    """One kind of logged call, as the layers of the statement need it:

    ``when`` tells its lines from the parsed line ``j``; ``parse`` are parts of the line parsed again (its
    messages, say); ``derive`` are values built from those (message texts, parameters, times), each computed once;
    ``checks`` must all hold for SQL to store the Python route's row; ``columns`` are that row."""

    def __init__(self, name: str, when: str):
        self.name, self.when = name, when
        self.dropped: set[str] = set()  # optional keys its statement does not read
        self.parse: dict = {}
        self.derive: dict = {}
        self.checks: list[str] = []
        self.columns: dict = {}

    def add(self, parse=None, derive=None, checks=None, columns=None) -> Family:
        self.parse.update(parse or {})
        self.derive.update(derive or {})
        self.checks.extend(checks or [])
        self.columns.update(columns or {})
        return self


class Keys:
    """The optional keys a statement reads (envelope keys, request parameters): all of them, or only those a file's
    first lines use (each key a statement declares costs its JSON transform on every line). The keys left out are
    ``dropped``; the statement then leaves to Python any line that has one of them."""

    def __init__(self, present: frozenset | None = None, pair: tuple[str, str] = DEFAULT_PAIR, split: bool = False):
        self.present = present
        self.pair = pair  # the keys of the request and the response
        self.split = split  # the file logs some calls as two lines (``split_calls``): their halves are Python's
        self.dropped: set[str] = set()
        self.family: Family | None = None  # the family being built: its own dropped keys are kept apart

    def of(self, names, keep: frozenset = frozenset()) -> tuple:
        """The ``names`` to read: those present, and those in ``keep`` whether present or not."""
        if self.present is None:
            return tuple(names)
        kept = tuple(n for n in names if n in self.present or n in keep)
        target = self.family.dropped if self.family is not None else self.dropped
        target.update(n for n in names if n not in kept)
        return kept


def usage_columns(u: str, *, style: str) -> tuple[dict, list[str]]:
    """Token columns of a usage object: OpenAI chat (``prompt_tokens``), Responses (``input_tokens`` with details)
    or Anthropic (input excludes cache reads and writes, which are added)."""
    names = {
        "chat": {"input_tokens": "prompt_tokens", "output_tokens": "completion_tokens",
                 "cached_input_tokens": "prompt_tokens_details.cached_tokens",
                 "cache_write_tokens": "cache_creation_input_tokens",
                 "reasoning_tokens": "completion_tokens_details.reasoning_tokens"},
        "responses": {"input_tokens": "input_tokens", "output_tokens": "output_tokens",
                      "cached_input_tokens": "input_tokens_details.cached_tokens",
                      "cache_write_tokens": "input_tokens_details.cache_creation_input_tokens",
                      "reasoning_tokens": "output_tokens_details.reasoning_tokens"},
        "anthropic": {"output_tokens": "output_tokens", "cached_input_tokens": "cache_read_input_tokens",
                      "cache_write_tokens": "cache_creation_input_tokens",
                      "cache_write_1h_tokens": "cache_creation.ephemeral_1h_input_tokens",
                      "web_searches": "server_tool_use.web_search_requests"},
    }[style]
    paths = {col: field(u, *name.split(".")) for col, name in names.items()}
    checks = [count_ok(p) for p in paths.values()]
    columns = {col: f"try_cast({p} as bigint)" for col, p in paths.items()}
    if style == "anthropic":
        parts = [field(u, k) for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")]
        checks.append(count_ok(parts[0]))
        checks.append(f"{field(u, 'iterations')} is null")  # a compacted call's steps: ``anthropic.usage_fields``
        columns["input_tokens"] = (f"case when {' and '.join(f'{p} is null' for p in parts)} then null else "
                                   + " + ".join(f"coalesce(try_cast({p} as bigint), 0)" for p in parts) + " end")
    return columns, checks


def params_json(obj: str, keys: tuple) -> str:
    """``{"key": value, ...}`` of the parameters present (not null, [] or {}), as DuckDB serialises JSON."""
    if not keys:
        return "null::varchar"
    pieces = ", ".join(f"case when {field(obj, k)} not in ('[]', '{{}}') then '\"{k}\":' || {field(obj, k)} end" for k in keys)
    return f"nullif('{{' || concat_ws(',', {pieces}) || '}}', '{{}}')"


def user_of(obj: str) -> tuple[str, str]:
    """``user``, else ``safety_identifier``: (value, check that each is a string when given)."""
    user, safety = field(obj, "user"), field(obj, "safety_identifier")
    check = f"({user} is null or {is_string(user)}) and ({user} is not null or {safety} is null or {is_string(safety)})"
    return f"coalesce({text_of(user)}, {text_of(safety)})", check


def split_turns(texts: str) -> dict:
    """``openai.split_messages`` over [{role, text}]: system turns joined by blank lines, the last user turn."""
    system = f"list_filter({texts}, lambda m: m.role in ('system', 'developer'))"
    return {"system_prompt": f"nullif(array_to_string(list_transform({system}, lambda m: m.text), {NL} || {NL}), '')",
            "prompt_text": f"coalesce(list_filter({texts}, lambda m: m.role = 'user')[-1].text, '')"}


def chat_request(family: Family, q: str, keys: Keys) -> None:
    """A Chat Completions request body (``openai.chat_request_fields``)."""
    raw = field(q, "messages")
    strings, parts = contents_parsed(raw, MESSAGES, MESSAGE_PARTS)
    user, user_check = user_of(q)
    family.add(
        parse={"ms": strings, "mp": parts},
        derive={"texts": message_texts("ms", "mp", refusals=True), "req_params": params_json(q, keys.of(CHAT_PARAMS))},
        checks=[contents_ok(raw, "ms", "mp"), user_check, plain(field(q, "model")), shallow(field(q, "metadata")),
                shallow("req_params")],
        columns={**split_turns("texts"), "messages_json": raw, "params_json": "req_params", "user_id": user,
                 "tags_json": nonempty_json(field(q, "metadata"))},
    )


TOOL_CALL = '[{"id": "VARCHAR", "type": "VARCHAR", "function": {"name": "VARCHAR", "arguments": "VARCHAR"}}]'
# The orders a call's keys are logged in: the API's own, and the OpenAI SDK's ``model_dump()`` (its fields' order).
TOOL_CALL_LAYOUTS = ((("id", "type", "function"), ("name", "arguments")), (("id", "function", "type"), ("arguments", "name")))


def tool_calls_text(calls: str, *, separators: tuple[str, str], layout=TOOL_CALL_LAYOUTS[0]) -> str:
    """Parsed function tool calls written as JSON with these separators (item, key), their keys in ``layout``'s order."""
    item, key = separators
    outer, inner = layout

    def member(name: str, value: str) -> str:
        return f"'\"{name}\"{key}' || {value}"

    def joined(members: list[str]) -> str:
        return "'{' || " + f" || '{item}' || ".join(members) + " || '}'"

    function = joined([member(name, f"to_json(t.function.{name})") for name in inner])
    one = joined([member(name, function if name == "function" else f"to_json(t.{name})") for name in outer])
    return f"('[' || array_to_string(list_transform({calls}, lambda t: {one}), '{item}') || ']')"


def tool_calls_reply(raw: str) -> str:
    """``json.dumps(message.tool_calls)`` as Python writes it, for the calls of the usual shape only (function calls
    with id, type, name and string arguments, nothing else, their keys in one of ``TOOL_CALL_LAYOUTS``): their compact
    JSON must be the logged text itself, and no string in it may hold an escaped control character (Python and
    DuckDB escape those differently). NULL for any other shape, which Python serialises. The calls are parsed once
    (a one-element list carries them)."""
    cases = " ".join(f"when {raw} = {tool_calls_text('p', separators=(',', ':'), layout=layout)}"
                     f" then {tool_calls_text('p', separators=(', ', ': '), layout=layout)}" for layout in TOOL_CALL_LAYOUTS)
    written = f"list_transform([from_json({raw}, '{TOOL_CALL}')], lambda p: case when {escapes_alike(raw)} then case {cases} end end)[1]"
    return f"case when starts_with({raw}, '[{{') then {written} end"


def chat_response(family: Family, r: str, keys: Keys) -> None:
    """A ChatCompletion (``openai.completion_fields``): choice texts (a refusal when there is no text, else the tool
    calls as Python serialises them; calls of another shape and legacy function calls are left to Python), usage,
    status."""
    choices = field(r, "choices")
    calls = "c.message.tool_calls"
    refusal = f"case when {is_string('c.message.refusal')} then {text_of('c.message.refusal')} end"
    # The content is kept as JSON (an answer reading like JSON is still a string) and read once, as ``a``.
    reply = (f"list_transform([{text_of('c.message.content')}], lambda a: case when coalesce(a, '') <> ''"
             f" then {{'text': a, 'ok': true}}"
             f" when coalesce({refusal}, '') <> '' then {{'text': {refusal}, 'ok': true}}"
             f" when {truthy(calls)} then list_transform([{tool_calls_reply(calls)}], lambda w: {{'text': w,"
             f" 'ok': w is not null and not {truthy('c.message.function_call')}}})[1]"
             f" else {{'text': '', 'ok': not {truthy('c.message.function_call')}}} end)[1]")
    usage, usage_checks = usage_columns(field(r, "usage"), style="chat")
    cost, cost_check = gateway_cost(field(r, "usage"))
    family.add(
        parse={"t_src": field(r, "created")},
        derive={"replies": f"list_transform({choices}, lambda c: {reply})"},
        checks=[f"all_true(list_transform({choices}, lambda c: c.message.content is null or {is_string('c.message.content')}))",
                "all_true(list_transform(replies, lambda x: x.ok))",
                f"{field(r, 'id')} <> '' and {plain(field(r, 'id'))}", not_ollama_id(r), plain(field(r, "model")),
                standard_tier(field(r, "service_tier")), *usage_checks, cost_check,
                other_terms_left(field(r, "usage"))],
        columns={"source_id": field(r, "id"), "model": field(r, "model"), "created_at": "created", "cost_usd": cost,
                 "response_text": (f"nullif(array_to_string(list_filter(list_transform(replies, lambda x: x.text),"
                                   f" lambda t: t <> ''), {NL}), '')"),
                 "status": (f"case when {truthy(field(r, 'error'))} then 'error' when list_contains(list_transform({choices},"
                            f" lambda c: c.finish_reason), 'content_filter') then 'blocked' else 'ok' end"), **usage},
    )


def chat_provider(r: str) -> str:
    """A ChatCompletion's provider: Groq's answers carry ``x_groq`` (``openai.completion_fields``), priced at its rates."""
    return f"case when {field(r, 'x_groq')} is not null then 'groq' else 'openai' end"


def not_ollama_id(r: str) -> str:
    """An answer Ollama named (``openai.answer_id``: a random number, no id) is known by its content: Python's."""
    return (f"({field(r, 'system_fingerprint')} is distinct from '{OLLAMA_FINGERPRINT}'"
            f" or not regexp_full_match(coalesce({field(r, 'id')}, ''), '{OLLAMA_ID.pattern}'))")


STANDARD_TIERS_SQL = ", ".join(f"'{t}'" for t in sorted(STANDARD_TIERS | {"", "null"}))


def standard_tier(tier: str) -> str:
    """The call was billed at the standard service tier (``records.billed_tier``): a call of another tier (OpenAI's
    flex and priority, Anthropic's priority) is priced request by request at its tier's rates, by Python."""
    return f"({tier} is null or lower(trim({tier}, '\"')) in ({STANDARD_TIERS_SQL}))"


def other_terms_left(u: str) -> str:
    """A chat usage in the Responses API's terms (``openai.usage_in_other_terms``), or in xAI's (reasoning outside the
    completion count, a cost in ticks: ``openai.xai_usage``), is left to Python."""
    total, parts = field(u, "total_tokens"), [field(u, "prompt_tokens"), field(u, "completion_tokens"),
                                              field(u, "completion_tokens_details", "reasoning_tokens")]
    counted = " + ".join(f"try_cast({p} as bigint)" for p in parts)
    return (f"({field(u, 'prompt_tokens')} is not null or {field(u, 'completion_tokens')} is not null"
            f" or ({field(u, 'input_tokens')} is null and {field(u, 'output_tokens')} is null))"
            f" and {field(u, 'cost_in_usd_ticks')} is null"
            f" and coalesce(try_cast({total} as bigint) <> {counted} or try_cast({parts[2]} as bigint) = 0, true)")


def gateway_cost(u: str) -> tuple[str, str]:
    """(cost, check) of the cost a gateway wrote into a chat usage (``openai.gateway_cost``): ``cost``, else
    ``total_cost``, plus ``cost_details.upstream_inference_cost`` when ``is_byok`` is true. Lines whose values are
    not plain JSON numbers and booleans are Python's."""
    cost, total, byok, upstream = field(u, "cost"), field(u, "total_cost"), field(u, "is_byok"), field(u, "cost_details", "upstream_inference_cost")
    check = " and ".join(f"({j} is null or ({number_ok(j)} and {cost_ok(j)}))" for j in (cost, total, upstream))
    check += f" and ({byok} is null or {byok} in ('true', 'false'))"
    base = f"coalesce(try_cast({cost} as double), try_cast({total} as double))"
    extra = f"case when {byok} = 'true' and {upstream} is not null then try_cast({upstream} as double) else 0 end"
    cost_usd = f"case when {base} is not null then {base} + {extra} end"
    return cost_usd, f"({check} and ({cost_usd} is null or {cost_ok(cost_usd)}))"


RESPONSE_STATUS = {"completed": "ok", "failed": "error", "incomplete": "incomplete", "cancelled": "canceled",
                   "canceled": "canceled", "in_progress": "pending", "queued": "pending"}


def escapes_alike(json_text: str) -> str:
    """JSON text Python's ``json.dumps`` writes the same way: no escaped control character (\\u, \\b, \\f)."""
    return f"not regexp_matches({json_text}, '\\\\[ubf]')"


def function_calls_reply(items: str) -> tuple[str, str]:
    """(text, check) of a Responses output's function calls as ``openai.responses_text`` writes them,
    ``json.dumps([{"name", "arguments"}, ...])``: calls with a name and string arguments only (custom tool calls and
    other shapes are left to Python)."""
    calls = f"list_filter({items}, lambda o: o.type in ('function_call', 'custom_tool_call'))"
    one = "'{\"name\": ' || to_json(o.name) || ', \"arguments\": ' || o.arguments || '}'"
    text = f"('[' || array_to_string(list_transform({calls}, lambda o: {one}), ', ') || ']')"
    each = (f"o.type = 'function_call' and o.name is not null and {plain('o.name')} and {is_string('o.arguments')}"
            f" and {escapes_alike('o.arguments')} and {escapes_alike('to_json(o.name)')}")
    return text, f"all_true(list_transform({calls}, lambda o: {each}))"


def responses_object(family: Family, r: str, keys: Keys) -> None:
    """A Responses API ``response`` object (``openai.responses_fields``): the answer's text, else its function calls
    as Python serialises them."""
    items = field(r, "output")
    texts = (f"list_filter(list_transform(list_filter({items}, lambda o: o.type = 'message'),"
             f" lambda o: {parts_text('o.content', refusals=True, json_text=True)}), lambda t: t <> '')")
    calls = f"len(list_filter({items}, lambda o: o.type in ('function_call', 'custom_tool_call')))"
    calls_text, calls_ok = function_calls_reply(items)
    status_map = " ".join(f"when '{k}' then '{v}'" for k, v in RESPONSE_STATUS.items())
    usage, usage_checks = usage_columns(field(r, "usage"), style="responses")
    user, user_check = user_of(r)
    instructions = field(r, "instructions")
    family.add(
        parse={"t_src": field(r, "created_at")},
        derive={"out_texts": texts},
        checks=[f"all_true(list_transform({items}, lambda o: {parts_ok('o.content', json_text=True)} and {plain('o.type')}"
                " and (o.type is distinct from 'message' or o.content is not null)))",  # a string content is NULL here
                lazy_or(f"len(out_texts) > 0 or {calls} = 0", calls_ok),
                f"{field(r, 'id')} <> '' and {plain(field(r, 'id'))}", plain(field(r, "model")), user_check,
                standard_tier(field(r, "service_tier")),
                f"({instructions} is null or {is_string(instructions)})", shallow(field(r, "metadata")),
                "RESP_PARAMS_SHALLOW", *usage_checks,
                # a cost broken down (``openai.stated_total``, Perplexity's) is Python's
                f"({field(r, 'usage', 'cost')} is null or not starts_with({field(r, 'usage', 'cost')}, '{{'))"],
        columns={"source_id": field(r, "id"), "model": field(r, "model"), "created_at": "created",
                 "response_text": (f"case when len(out_texts) > 0 then array_to_string(out_texts, {NL})"
                                   f" when {calls} > 0 then {calls_text} end"),
                 "status": (f"case when {truthy(field(r, 'error'))} then 'error'"
                            f" else (case {field(r, 'status')} {status_map} else 'ok' end) end"),
                 "params_json": "RESP_PARAMS", "user_id": user, "tags_json": nonempty_json(field(r, "metadata")),
                 "system_prompt": f"nullif({text_of(instructions)}, '')",
                 "web_searches": f"nullif(len(list_filter({items}, lambda o: o.type = 'web_search_call')), 0)", **usage},
    )


def echo_params(family: Family, r: str, keys: Keys, request_params: str | None) -> None:
    """The parameters a Responses object echoes count only where the request gave none: built (and checked) only
    for those rows, as the expression a column and a check evaluate lazily."""
    echo = params_json(r, keys.of(RESPONSES_PARAMS))
    family.columns["params_json"] = echo if request_params is None else f"coalesce({request_params}, {echo})"
    check = shallow(echo) if request_params is None else lazy_or(f"{request_params} is not null", shallow(echo))
    family.checks = [check if c == "RESP_PARAMS_SHALLOW" else c for c in family.checks]


def _item(strings: str, parts: str, name: str, i: str = "i") -> str:
    return f"coalesce({strings}[{i}].{name}, {parts}[{i}].{name})"


# Input items ``responses_input_messages`` reads; it skips the others (reasoning items passed back, web search calls...).
ITEM_TYPES_READ = ("message", "function_call", "function_call_output")


def responses_turns(strings: str, parts: str) -> str:
    """``openai.responses_input_messages`` over the two parses of ``input``'s items, as [{role, text, i}] (``i`` the
    item's position): a function call is the assistant's turn (no text), its output the tool's; items of other types
    are skipped."""
    text = (f"case when {parts}[i].content is not null then {parts_text(f'{parts}[i].content', refusals=True)}"
            f" else coalesce({strings}[i].content, '') end")
    output = f"coalesce({text_of(_item(strings, parts, 'output'))}, '')"
    kinds = ", ".join(f"'{k}'" for k in ITEM_TYPES_READ)
    read = (f"list_filter(range(1, coalesce(len({strings}), len({parts}), 0) + 1),"
            f" lambda i: coalesce({_item(strings, parts, 'type')}, 'message') in ({kinds}))")
    return (f"list_transform({read}, lambda i: case {_item(strings, parts, 'type')}"
            f" when 'function_call' then {{'role': 'assistant', 'text': '', 'i': i}} when 'function_call_output' then"
            f" {{'role': 'tool', 'text': {output}, 'i': i}} else {{'role': {_item(strings, parts, 'role')}, 'text': {text}, 'i': i}} end)")


def responses_messages_json(strings: str, parts: str, turns: str, system_turns: str) -> str:
    """The chat-shaped conversation ``messages_json`` holds: a function call as an assistant's tool call, its output
    as a tool message. Written message by message only when ``input`` has function calls (one to_json otherwise)."""
    def of(name: str) -> str:
        return _item(strings, parts, name, "t.i")
    call = (f"to_json({{'role': 'assistant', 'content': null::varchar, 'tool_calls': [{{'id': {of('call_id')},"
            f" 'type': 'function', 'function': {{'name': {of('name')}, 'arguments': {of('arguments')}}}}}]}})::varchar")
    result = f"to_json({{'role': 'tool', 'tool_call_id': {of('call_id')}, 'content': t.text}})::varchar"
    plain_turn = "to_json({'role': t.role, 'content': t.text})::varchar"
    items = (f"list_transform(list_slice({turns}, {system_turns} + 1, len({turns})), lambda t: case {of('type')}"
             f" when 'function_call' then {call} when 'function_call_output' then {result} else {plain_turn} end)")
    system = f"list_transform({turns}[1:{system_turns}], lambda m: to_json({{'role': m.role, 'content': m.text}})::varchar)"
    return f"'[' || array_to_string({system} || {items}, ',') || ']'"


def responses_request(family: Family, q: str, keys: Keys) -> dict:
    """A Responses API request (``openai.responses_request_fields``): ``input`` as a string or items (messages,
    function calls and their outputs), ``instructions`` as a string. Returns the request's columns (the pair merges
    them over the response's)."""
    raw, instructions = field(q, "input"), field(q, "instructions")
    strings, parts = contents_parsed(f"case when starts_with({raw}, '[') then {raw} end", ITEMS, ITEM_PARTS)
    system_item = (f"case when coalesce({text_of(instructions)}, '') <> ''"
                   f" then [{{'role': 'system', 'text': {text_of(instructions)}, 'i': null::bigint}}] else [] end")
    turns = (f"{system_item} || case when {is_string(raw)} then [{{'role': 'user', 'text': {text_of(raw)}, 'i': 1::bigint}}]"
             f" else {responses_turns('its', 'ip')} end")
    user, user_check = user_of(q)
    kind = _item("its", "ip", "type")
    message_ok = (f"coalesce(its[i].role, ip[i].role) <> ''"
                  f" and {plain('coalesce(its[i].role, ip[i].role)')} and (ip[i].content is not null or its[i].content is null"
                  f" or not {list_like('its[i].content')})"
                  f" and {parts_ok('ip[i].content', text_is_string=True)}")
    call_ok = (f"{plain(_item('its', 'ip', 'call_id'))} and {plain(_item('its', 'ip', 'name'))}"
               f" and its[i].content is null and ip[i].content is null")
    output = _item("its", "ip", "output")
    output_ok = f"{plain(_item('its', 'ip', 'call_id'))} and ({output} is null or {is_string(output)})"
    each = (f"case coalesce({kind}, 'message') when 'message' then {message_ok} when 'function_call' then {call_ok}"
            f" when 'function_call_output' then {output_ok} else true end")  # other types are skipped
    items_ok = (f"(starts_with({raw}, '[') and {strings_where_strings_belong(raw)}"
                f" and all_true(list_transform(range(1, coalesce(len(its), len(ip), 0) + 1), lambda i: {each})))")
    with_calls = f"starts_with({raw}, '[') and contains({raw}, '\"type\":\"function_call')"
    system_turns = f"(case when coalesce({text_of(instructions)}, '') <> '' then 1 else 0 end)"
    family.add(
        parse={"its": strings, "ip": parts},
        derive={"turns": turns, "req_params": params_json(q, keys.of(RESPONSES_PARAMS))},
        checks=[f"(case when {is_string(raw)} then {not_list_text(raw)} else {items_ok} end)",
                f"({instructions} is null or {is_string(instructions)})", user_check, plain(field(q, "model")),
                shallow(field(q, "metadata")), shallow("req_params")],
    )
    return {**split_turns("turns"), "params_json": "req_params", "user_id": user,
            "tags_json": nonempty_json(field(q, "metadata")),
            "messages_json": (f"case when {with_calls} then {responses_messages_json('its', 'ip', 'turns', system_turns)}"
                              " else to_json(list_transform(turns, lambda m: {'role': m.role, 'content': m.text}))::varchar end")}


ANTHROPIC_TEXT_BLOCKS = ("text", "thinking", "redacted_thinking")
ANTHROPIC_BLOCK = {**PART, "id": V, "name": V, "input": J, "tool_use_id": V, "content": J,
                   "source": {"type": V, "url": V, "media_type": V, "data": V}}
ANTHROPIC_MESSAGE_PARTS = [{"role": V, "content": [ANTHROPIC_BLOCK]}]
RESULT_BLOCKS = '[{"type": "VARCHAR", "text": "VARCHAR"}]'


def tool_result_text(b: str) -> str:
    """``anthropic.blocks_text`` of a tool result's content: a string, or its text blocks joined (images skipped)."""
    listed = (f"array_to_string(list_filter(list_transform(from_json({b}.content, '{RESULT_BLOCKS}'), lambda x:"
              f" case when x.type = 'text' or (x.type is null and x.text is not null) then coalesce(x.text, '') else '' end),"
              f" lambda t: t <> ''), {NL})")
    return f"case when {b}.content is null then '' when {is_string(f'{b}.content')} then {text_of(f'{b}.content')} else {listed} end"


def every_block(parts: str, each: str) -> str:
    """``each`` (over ``b``) holds for every block of every message of the parts parse."""
    return (f"({parts} is null or all_true(list_transform({parts}, lambda m: m.content is null"
            f" or all_true(list_transform(m.content, lambda b: {each})))))")


def tool_blocks_ok(parts: str) -> str:
    """Tool calls and tool results SQL writes as ``anthropic.to_chat_messages`` does: ids and names as text, an input
    Python's json.dumps writes as ``python_json`` does, a result's content a string or text (and image) blocks; no
    image beside them (Python then writes the message as a parts list)."""
    result_ok = (f"(b.content is null or {is_string('b.content')} or (starts_with(b.content, '[') and all_true("
                 f"list_transform(from_json(b.content, '{RESULT_BLOCKS}'), lambda x: x.type in ('text', 'image')"
                 f" and {plain('x.text')}))))")
    each = (f"case b.type when 'tool_use' then {plain('b.id')} and {plain('b.name')} and {python_json_ok('b.input')}"
            f" when 'tool_result' then {plain('b.tool_use_id')} and {result_ok} when 'image' then false else true end")
    return every_block(parts, each)


def anthropic_messages_json(strings: str, parts: str, texts: str) -> str:
    """``anthropic.to_chat_messages`` for conversations with tool blocks, message by message: a message's tool
    results as tool messages first, then (when it has text or tool calls, or no results) the message with its tool
    calls (``arguments`` as Python's json.dumps writes the input)."""
    role = f"coalesce({strings}[i].role, {parts}[i].role)"
    blocks = f"{parts}[i].content"
    calls = f"list_filter({blocks}, lambda b: b.type = 'tool_use')"
    results = f"list_filter({blocks}, lambda b: b.type = 'tool_result')"
    tool_calls = (f"list_transform({calls}, lambda b: {{'id': b.id, 'type': 'function', 'function': {{'name': b.name,"
                  f" 'arguments': {python_json('b.input')}}}}})")
    entry = (f"case when len({calls}) > 0 then to_json({{'role': {role}, 'content': {texts}[i].text, 'tool_calls': {tool_calls}}})"
             f" else to_json({{'role': {role}, 'content': {texts}[i].text}}) end::varchar")
    with_blocks = (f"list_transform({results}, lambda b: to_json({{'role': 'tool', 'tool_call_id': b.tool_use_id,"
                   f" 'content': {tool_result_text('b')}}})::varchar)"
                   f" || case when {texts}[i].text <> '' or len({calls}) > 0 or len({results}) = 0 then [{entry}] else [] end")
    one = (f"case when {blocks} is null then [to_json({{'role': {role}, 'content': coalesce({strings}[i].content, '')}})::varchar]"
           f" else {with_blocks} end")
    return f"flatten(list_transform(range(1, coalesce(len({strings}), len({parts}), 0) + 1), lambda i: {one}))"


def images_ok(parts: str) -> str:
    """Image blocks SQL writes as ``anthropic.to_chat_messages`` does: from a URL, or base64 data with its media
    type (other sources are left to Python)."""
    each = (f"b.type is distinct from 'image' or (b.source.type = 'url' and b.source.url is not null and {plain('b.source.url')})"
            f" or (b.source.type = 'base64' and b.source.media_type is not null and b.source.data is not null"
            f" and {plain('b.source.media_type')} and {plain('b.source.data')})")
    return every_block(parts, each)


def documents_ok(parts: str) -> str:
    """Document blocks (a PDF as base64, a URL or a file id) add no text, as in ``anthropic.block_text``; a plain-text
    document's text is part of the prompt there, and is left to Python."""
    return every_block(parts, "b.type is distinct from 'document' or b.source.type is distinct from 'text'")


def anthropic_messages_json_with_images(strings: str, parts: str, texts: str) -> str:
    """``anthropic.to_chat_messages`` for conversations with images (and no tool blocks), message by message: a
    message with images holds a parts list, its text (when there is any) then the images as ``image_url`` parts."""
    role = f"coalesce({strings}[i].role, {parts}[i].role)"
    images = f"list_filter({parts}[i].content, lambda b: b.type = 'image')"
    url = "case when b.source.type = 'url' then b.source.url else 'data:' || b.source.media_type || ';base64,' || b.source.data end"
    image_parts = f"list_transform({images}, lambda b: to_json({{'type': 'image_url', 'image_url': {{'url': {url}}}}})::varchar)"
    text_part = f"case when {texts}[i].text <> '' then [to_json({{'type': 'text', 'text': {texts}[i].text}})::varchar] else [] end"
    listed = f"'{{\"role\":' || to_json({role}) || ',\"content\":[' || array_to_string({text_part} || {image_parts}, ',') || ']}}'"
    one = (f"case when coalesce(len({images}), 0) = 0 then to_json({{'role': {role}, 'content': {texts}[i].text}})::varchar"
           f" else {listed} end")
    return f"list_transform(range(1, coalesce(len({strings}), len({parts}), 0) + 1), lambda i: {one})"


def anthropic_request(family: Family, q: str, keys: Keys) -> None:
    """A Messages API request (``anthropic.request_fields``): contents as strings or blocks (text, thinking, images,
    tool calls and tool results; images beside tool blocks are left to Python), ``system`` as a string or text
    blocks."""
    raw, system = field(q, "messages"), field(q, "system")
    strings, parts = contents_parsed(raw, MESSAGES, ANTHROPIC_MESSAGE_PARTS)
    blocks = f"case when starts_with({system}, '[') then from_json({system}, {struct_type([PART])}) end"
    system_text = (f"nullif(case when {is_string(system)} then {text_of(system)}"
                   f" else {parts_text('sysb', refusals=False)} end, '')")
    user = f"json_extract({field(q, 'metadata')}, '$.user_id')"
    with_tools = f"contains({raw}, '\"type\":\"tool_')"
    with_images = f"contains({raw}, '\"type\":\"image\"')"
    system_json = "case when asystem is not null then [to_json({'role': 'system', 'content': asystem})::varchar] else [] end"
    family.add(
        parse={"ams": strings, "amp": parts, "sysb": blocks},
        derive={"atexts": message_texts("ams", "amp", refusals=False), "asystem": system_text,
                "req_params": params_json(q, keys.of(ANTHROPIC_PARAMS))},
        checks=[
            contents_ok(raw, "ams", "amp", text_types=(*ANTHROPIC_TEXT_BLOCKS, "tool_use", "tool_result", "image", "document")),
            lazy_or(f"not {with_tools}", tool_blocks_ok("amp")), lazy_or(f"not {with_images}", images_ok("amp")),
            lazy_or(f"not contains({raw}, '\"type\":\"document\"')", documents_ok("amp")),
            f"all_true(list_transform(atexts, lambda m: m.role is not null and {plain('m.role')}))",
            f"({system} is null or ({is_string(system)} and {not_list_text(system)})"
            f" or (starts_with({system}, '[') and {parts_ok('sysb', text_types=ANTHROPIC_TEXT_BLOCKS)}))",
            f"(not starts_with({field(q, 'metadata')}, '{{') or {user} is null or {is_string(user)})",
            plain(field(q, "model")), shallow("req_params"),
        ],
        columns={
            "system_prompt": "asystem",
            "prompt_text": "coalesce(list_filter(atexts, lambda m: m.role = 'user' and m.text <> '')[-1].text, '')",
            "messages_json": (f"case when {with_tools} then '[' || array_to_string({system_json}"
                              f" || {anthropic_messages_json('ams', 'amp', 'atexts')}, ',') || ']'"
                              f" when {with_images} then '[' || array_to_string({system_json}"
                              f" || {anthropic_messages_json_with_images('ams', 'amp', 'atexts')}, ',') || ']'"
                              " else to_json(case when asystem is not null then [{'role': 'system', 'content': asystem}] else [] end"
                              " || list_transform(atexts, lambda m: {'role': m.role, 'content': m.text}))::varchar end"),
            "params_json": "req_params", "user_id": text_of(user),
        },
    )


_JSON_STRING = '"(?:[^"\\\\]|\\\\.)*"'  # a JSON string literal, escapes included


def python_json(j: str) -> str:
    """Compact JSON text as Python's ``json.dumps`` writes it (", " and ": " between items and keys; strings kept)."""
    tokens = f"regexp_extract_all({j}, '{_JSON_STRING}|[^\"]+')"
    return (f"array_to_string(list_transform({tokens}, lambda t: case when starts_with(t, '\"') then t"
            " else replace(replace(t, ',', ', '), ':', ': ') end), '')")


def python_json_ok(j: str) -> str:
    """JSON text ``python_json`` writes exactly as Python would: no float or -0 (Python writes numbers its own way),
    no escaped control character."""
    outside_strings = f"regexp_replace({j}, '{_JSON_STRING}', '\"\"', 'g')"
    return f"({j} is not null and not regexp_matches({outside_strings}, '[0-9][.eE]|-0([^0-9]|$)') and {escapes_alike(j)})"


def anthropic_message(family: Family, r: str, keys: Keys) -> None:
    """A Message (``anthropic.message_fields``): text blocks joined, else its tool calls as Python serialises them
    (``json.dumps`` of their names and inputs)."""
    content = field(r, "content")
    texts = f"list_filter({content}, lambda b: b.type = 'text' or (b.type is null and b.text is not null))"
    calls = f"list_filter({content}, lambda b: b.type in ('tool_use', 'server_tool_use'))"
    call = "'{\"name\": ' || to_json(b.name) || ', \"input\": ' || " + python_json("b.input") + " || '}'"
    calls_text = f"('[' || array_to_string(list_transform({calls}, lambda b: {call}), ', ') || ']')"
    calls_ok = (f"all_true(list_transform({calls}, lambda b: b.name is not null and {plain('b.name')}"
                f" and {escapes_alike('to_json(b.name)')} and {python_json_ok('b.input')}))")
    usage, usage_checks = usage_columns(field(r, "usage"), style="anthropic")
    family.add(
        derive={"reply": parts_text(texts, refusals=False, json_text=True)},
        checks=[f"{field(r, 'id')} <> '' and {plain(field(r, 'id'))}", plain(field(r, "model")), parts_ok(content, json_text=True),
                f"not list_contains(list_transform({content}, lambda b: b.type), 'document')",
                lazy_or(f"reply <> '' or len({calls}) = 0", calls_ok), f"{field(r, 'error')} is null",
                standard_tier(field(r, "usage", "service_tier")), *usage_checks],
        parse={"t_src": "null::json"},
        columns={"source_id": field(r, "id"), "model": field(r, "model"), "created_at": "created",
                 "response_text": f"case when reply <> '' then reply when len({calls}) > 0 then {calls_text} end",
                 "status": f"case when {field(r, 'stop_reason')} = 'refusal' then 'blocked' else 'ok' end", **usage},
    )


# The envelope around a logged call (``app_log.envelope``): its values found once per line (layer ``first``) and
# read once (layer ``derive``), whatever the family. A call under a wrapper key has a second envelope, the keys beside
# the wrapper (``app_calls.wrapped_record``), read after the call's own with the same rules.
COST_TOTAL = ("case when coalesce(json_extract(c, '$.currency'), 'null') in ('null', '\"USD\"', '\"usd\"') then "
              + first_given([f"nullif(json_extract(c, '$.\"{k}\"'), 'null')" for k in COST_TOTAL_KEYS]) + " end")


class Around:
    """Where an envelope's keys are read: the call's object (``j``, values named ``e_*``) or the keys beside its
    wrapper (the map ``_outer``, values named ``o_*``)."""

    def __init__(self, prefix: str, read):
        self.prefix, self.read = prefix, read

    def name(self, value: str) -> str:
        return f"{self.prefix}_{value}"


CALL = Around("e", lambda key: field("j", key))
BESIDE_WRAPPER = Around("o", lambda key: f"_outer['{key}']")


def envelope_first(keys: Keys, around: Around = CALL) -> dict:
    def first_of(names):
        kept = keys.of(names, keep=NESTED_ENVELOPE_NAMES if around is CALL else frozenset())
        return first_given([around.read(k) for k in kept]) if kept else "null::json"

    cost = first_of(COST_KEYS)
    if cost != "null::json":  # a cost logged as its parts stands for its total (``app_log.cost_total``)
        cost = f"list_transform([{cost}], lambda c: case when starts_with(c, '{{') then {COST_TOTAL} else c end)[1]"
    values = {"when": first_of(TIME_KEYS), "cost": cost, "cents": first_of(CENTS_KEYS), "ms": first_of(DURATION_MS_KEYS),
              "s": first_of(DURATION_S_KEYS), "user": first_of(USER_KEYS), "code": first_of(ENVELOPE_STATUS_KEYS),
              "rate": first_of(SAMPLE_RATE_KEYS), "success": first_of((SUCCESS_KEY,)), **logged_span(keys, around)}
    return {around.name(k): v for k, v in values.items()}


def logged_span(keys: Keys, around: Around = CALL) -> dict:
    """The start and end (``span0``, ``span1``) of the first pair of ``SPAN_KEYS`` a line states both of
    (``app_log.logged_span``)."""
    pairs = [pair for pair in SPAN_KEYS if keys.of(pair) == pair]
    if not pairs:
        return {"span0": "null::json", "span1": "null::json"}

    def given(key: str) -> str:
        return first_given([around.read(key)])

    def side(i: int) -> str:
        return "case " + " ".join(f"when {given(a)} is not null and {given(b)} is not null then {given((a, b)[i])}"
                                  for a, b in pairs) + " end"

    return {"span0": side(0), "span1": side(1)}


def envelope_derived(around: Around = CALL, own_time: str = "t_src") -> dict:
    """The envelope's values read: its time counts only when the call has none of its own (``own_time``), so it is read
    only then."""
    n = around.name
    return {n("time"): f"case when {own_time} is null then {time_of(n('when'))} end", n("cost_n"): numeric_text(n("cost")),
            n("cents_n"): numeric_text(n("cents")), n("ms_n"): numeric_text(n("ms")), n("s_n"): numeric_text(n("s")),
            n("rate_d"): f"try_cast({numeric_text(n('rate'))} as double)", n("t0"): time_of(n("span0")),
            n("t1"): time_of(n("span1"))}


ENVELOPE_DERIVED = envelope_derived()
# The keys beside a wrapper: its time is read only when the call and its own envelope state none.
OUTER_DERIVED = envelope_derived(BESIDE_WRAPPER, own_time="coalesce(t_src, e_when)")


def span_ms(around: Around) -> str:
    """The duration a logged start and end give (``app_log.span_ms``): unknown when the end comes first."""
    t0, t1 = around.name("t0"), around.name("t1")
    return f"case when {t1} >= {t0} then (epoch_us({t1}) - epoch_us({t0})) / 1000.0 end"


def rate_ok(around: Around) -> str:
    """A stated sample rate SQL stores as ``sample_rates.as_sample_rate`` reads it: a fraction in (0, 1], or a whole
    1-in-N rate above 1. Anything else goes to Python, which rejects it with the reason."""
    rate, d = around.name("rate"), around.name("rate_d")
    return f"({rate} is null or (isfinite({d}) and {d} > 0 and ({d} <= 1 or {d} = floor({d}))))"


def rate(around: Around) -> str:
    d = around.name("rate_d")
    return f"case when {d} <= 1 then {d} else 1::double / {d} end"


# A user named by a whole number (a database id), stored as its text, as Python's ``str`` writes it.
WHOLE_NUMBER = "regexp_full_match({}, '-?[1-9][0-9]{{0,14}}|0')"


def envelope(family: Family, around: Around = CALL) -> None:
    """Over a family's columns: the time when the call gave none, cost, latency, user and tags when the call gave
    none, and errors."""
    columns = family.columns
    n = around.name
    cost, cents, ms, s, user_value = n("cost"), n("cents"), n("ms"), n("s"), n("user")
    cost_n, cents_n = n("cost_n"), n("cents_n")
    stated = f"({cost} is not null and not starts_with({cost}, '[') and not starts_with({cost}, '{{'))"
    in_cents = f"({cents} is not null and not starts_with({cents}, '[') and not starts_with({cents}, '{{'))"
    user = columns.get("user_id", "null")
    error = (f"{truthy(around.read('error'))} or ({number_ok(n('code'))} and try_cast({n('code')} as double) >= 400)"
             f" or {n('success')} = 'false'")
    family.add(
        checks=[
            f"({columns['created_at']} is not null or {n('when')} is null or {n('time')} is not null)",
            f"case when {stated} then {cost_ok(cost_n)} when {in_cents} then {cost_ok(f'try_cast({cents_n} as double) / 100')}"
            # a duration past a double's range (1e400) is unknown to Python (``coerce.as_float``): its line is Python's
            " else true end", f"({ms} is null or isfinite(try_cast({n('ms_n')} as double)))",
            f"({ms} is not null or {s} is null or isfinite(try_cast({n('s_n')} as double) * 1000.0))",
            f"({ms} is not null or {s} is not null or {n('span0')} is null or ({n('t0')} is not null and {n('t1')} is not null))",
            f"({user} is not null or {user_value} is null or {is_string(user_value)} or starts_with({user_value}, '[')"
            f" or starts_with({user_value}, '{{') or {WHOLE_NUMBER.format(user_value)})",
            shallow(around.read("metadata")), shallow(around.read("tags")), rate_ok(around),
        ],
        columns={
            "created_at": f"coalesce({columns['created_at']}, {n('time')})",
            "cost_usd": (f"case when {stated} then try_cast({cost_n} as double)"
                         f" when {in_cents} then try_cast({cents_n} as double) / 100 else {columns.get('cost_usd', 'null')} end"),
            "duration_ms": (f"case when {ms} is not null then try_cast({n('ms_n')} as double)"
                            f" when {s} is not null then try_cast({n('s_n')} as double) * 1000.0"
                            f" else coalesce({columns.get('duration_ms', 'null')}, {span_ms(around)}) end"),
            "user_id": f"coalesce({user}, {text_of(user_value)}, case when {WHOLE_NUMBER.format(user_value)} then {user_value}::varchar end)",
            "tags_json": (f"coalesce({columns.get('tags_json', 'null')}, {nonempty_json(around.read('metadata'))},"
                          f" {nonempty_json(around.read('tags'))})"),
            "status": f"case when {error} then 'error' else {columns['status']} end",
            "sample_rate": f"coalesce({columns['sample_rate']}, {rate(around)})" if "sample_rate" in columns else rate(around),
        },
    )


def _side_known(q: str, r: str) -> str:
    """Both sides of a pair are objects SQL knows (a string side was double-encoded, a ``body`` a wrapper)."""
    request = f"({field(q, 'model')} is not null or {field(q, 'messages')} is not null or {field(q, 'input')} is not null)"
    response = " or ".join(f"{field(r, k)} is not null" for k in ("id", "choices", "output", "content", "object"))
    unwrapped = (f"({field(q, 'body')} is null or {field(q, 'messages')} is not null or {field(q, 'input')} is not null)"
                 f" and ({field(r, 'body')} is null or {field(r, 'choices')} is not null or {field(r, 'output')} is not null"
                 f" or {field(r, 'object')} is not null or {field(r, 'content')} is not null)")
    return f"{request} and ({response}) and {unwrapped}"


NO_PAIR_KEYS = ("not regexp_matches(text, '\"(request|req|request_body|requestBody|inputs|kwargs|raw_request|response|resp|response_body|responseBody|outputs|completion|request_response|raw_response)\""
                "\\s*:|\"output\"\\s*:\\s*[{\"]|\"input\"\\s*:\\s*[{]')")


def _pair_model(r: str, q: str) -> str:
    top = field("j", "model")
    return f"coalesce({field(r, 'model')}, {field(q, 'model')}, case when {plain(top)} then {top} end)"


def no_key(keys) -> str:
    """The line names none of ``keys`` as a key, anywhere in its text (a repeat nested deeper leaves it to Python too)."""
    return f"not regexp_matches(text, '\"({'|'.join(keys)})\"\\s*:')"


def _no_earlier_pair_keys(pair: tuple[str, str]) -> str:
    """The line has none of the keys ``pair_sides`` would take before ``pair``'s."""
    earlier = REQUEST_KEYS[:REQUEST_KEYS.index(pair[0])] + RESPONSE_KEYS[:RESPONSE_KEYS.index(pair[1])]
    return no_key(earlier) if earlier else "true"


def _not_anthropic_request(q: str) -> str:
    """A request ``anthropic.is_request`` does not take for an Anthropic one (no version, no ``system``)."""
    return f"{field(q, 'anthropic_version')} is null and {field(q, 'system')} is null"


# A line with a "choices" key anywhere: Python reads a body that has one (even null) as a completion, which the
# families of calls without an answer cannot tell from its absence in the parsed structure.
NO_CHOICES_KEY = "not contains(text, '\"choices\"')"
# A model named for a gateway that bills it (``app_calls.GATEWAYS``: LiteLLM's "openrouter/<vendor>/<model>").
NO_GATEWAY_MODEL = "not contains(text, '\"openrouter/')"
# A line stating an answer or its usage beside its request is a call logged flat (``app_calls.flat_answer``), which
# the Python parser reads, not a request logged alone.
NO_FLAT_CALL_KEYS = no_key((*USAGE_HOLDERS, *FLAT_USAGE_KEYS, *FLAT_ANSWER_KEYS))
# A line whose own status says the call failed is a failed call logged flat (``app_calls.failed_flat``), Python's.
NOT_FAILED_FLAT = (f"({field('j', 'status')} is null or lower(trim({field('j', 'status')}, ' ' || chr(9) || chr(13) || chr(10)))"
                   f" not in ({', '.join(repr(s) for s in FAILED_STATUSES)}))")


# Keys under which an answer carries the trace of the model calls that made it (a Databricks agent's MLflow trace):
# ``app_calls.records_of`` reads the calls from the trace.
TRACE_HOLDERS = ("databricks_output",)


def app_log_families(keys: Keys) -> list[Family]:
    """The families of ``keys.pair``: pairs under other keys than ``request``/``response`` and bare calls are read
    by statements of their own, since a key such as ``output`` is a pair's side in one and a Responses object's
    list in the other."""
    j = "j"
    q, r = field(j, keys.pair[0]), field(j, keys.pair[1])
    aliased = keys.pair != DEFAULT_PAIR
    known = _side_known(q, r) + (f" and {_no_earlier_pair_keys(keys.pair)}" if aliased else "")
    not_anthropic_request = _not_anthropic_request(q)

    chat = Family("chat pair", f"{known} and {field(r, 'choices')} is not null"
                  f" and {field(r, 'object')} is distinct from 'response' and {field(q, 'messages')} is not null"
                  f" and {not_anthropic_request} and not ({field(r, 'id')} like 'msg\\_%' escape '\\'"
                  f" and {field(r, 'content')} is not null)")
    keys.family = chat
    chat_response(chat, r, keys)
    chat_request(chat, q, keys)
    chat.add(columns={"provider": chat_provider(r), "model": _pair_model(r, q)}, checks=[plain(field(j, "model"))])

    responses = Family("responses pair", f"{known} and {field(r, 'object')} = 'response'"
                       f" and {field(r, 'choices')} is null and {field(r, 'type')} is null and {field(q, 'input')} is not null"
                       f" and {field(q, 'messages')} is null and {not_anthropic_request}")
    keys.family = responses
    responses_object(responses, r, keys)
    request = responses_request(responses, q, keys)
    merged = {k: f"coalesce({v}, {responses.columns[k]})" if k in responses.columns else v
              for k, v in request.items() if k != "params_json"}
    responses.add(columns={**merged, "provider": "'openai'", "model": _pair_model(r, q)}, checks=[plain(field(j, "model"))])
    echo_params(responses, r, keys, "req_params")

    anthropic = Family("anthropic pair", f"{known} and {field(r, 'type')} = 'message'"
                       f" and {field(r, 'choices')} is null and {field(r, 'content')} is not null and {field(q, 'messages')} is not null")
    keys.family = anthropic
    anthropic_message(anthropic, r, keys)
    anthropic_request(anthropic, q, keys)
    anthropic.add(columns={"provider": "'anthropic'", "model": _pair_model(r, q)}, checks=[plain(field(j, "model"))])

    guard = f"{_no_earlier_pair_keys(keys.pair)} and " if aliased else ""
    failed = [chat_error_pair(q, r, keys, guard), anthropic_error_pair(q, r, keys, guard)]
    if not aliased:
        failed.append(unanswered_chat_pair(q, r, keys))
    if keys.pair[0] != "input":
        failed.append(responses_error_pair(q, r, keys, guard))

    # ``pair_sides`` takes an ``input`` object as the request only when it holds messages (or a body).
    families = [chat, anthropic] if keys.pair[0] == "input" else [chat, responses, anthropic]
    families += [*failed, chat_stream_pair(q, r, keys, guard)]
    # A pair beside a gateway's model name at the line's top is billed by the gateway (``app_calls.GATEWAYS``): Python's.
    gateway_model = f"coalesce(not contains(lower({field(j, 'model')}), 'openrouter'), true)"
    for pair_family in families:
        pair_family.add(checks=[gateway_model])
    for name, builder, condition, provider in () if aliased else (
        ("chat completion", chat_response, f"{field(j, 'object')} = 'chat.completion'", "openai"),
        ("responses object", responses_object, f"{field(j, 'object')} = 'response' and {NO_CHOICES_KEY}", "openai"),
        ("anthropic message", anthropic_message, f"{field(j, 'type')} = 'message' and {field(j, 'content')} is not null", "anthropic"),
    ):
        bare = Family(name, f"{condition} and {NO_PAIR_KEYS}")
        keys.family = bare
        builder(bare, j, keys)
        if builder is responses_object:
            echo_params(bare, j, keys, None)
        families.append(bare.add(columns={"provider": chat_provider(j) if builder is chat_response else f"'{provider}'"}))
    if not aliased:
        families.append(flat_chat_pair(keys))
        families.append(requested_alone(keys))
        failed.append(families[-1])
    keys.family = None
    traced = keys.of(TRACE_HOLDERS)  # a line that holds the trace of an agent's calls is read from that trace, by Python
    for family in families:
        envelope(family)
        family.add(checks=[f"not contains(text, '\"{key}\"')" for key in traced] + [NOT_AUTOGEN])
    for family in failed:
        family.add(columns={"id": content_id(family)})
    if keys.split:
        for family in families:
            family.add(checks=[NO_CALL_ID])
    return families


# A file that logs a call on two lines tied by the call's id (``split_calls``: the request, then its answer or the
# whole call again): a line read alone is half a call, or a call whose request was logged before it, and the Python
# route joins them. Every line that names a call id is then Python's.
NO_CALL_ID = no_key(CORRELATION_KEYS)
CALL_ID = NO_CALL_ID.removeprefix("not ")
ANSWERS = "regexp_matches(text, '\"(response|resp|response_body|outputs|completion|choices|output|error)\"\\s*:\\s*[^n\\s]')"
ASKS = "regexp_matches(text, '\"(request|req|request_body|inputs|messages|input|prompt|contents|body)\"\\s*:\\s*[^n\\s]')"
# An answer read alone may also be flat text or usage (``app_calls.answer_line``); a request's parts hold "text" too.
ANSWERS_ALONE = ANSWERS.replace("|error)", "|error|text|usage|token_usage|tokens)")
CALL_ID_VALUE = "coalesce(" + ", ".join(f"try(text->>'$.\"{k}\"')" for k in CORRELATION_KEYS) + ")"
# Call ids named both on a line that holds only a request and on one that holds an answer: when some are, the file
# logs calls on two lines.
SPLIT_PROBE = (f"select count(*) from (select {CALL_ID_VALUE} as call_id, bool_or(asked) as asked, bool_or(not asked and answers)"
               f" as answered from (select text, {ASKS} and not {ANSWERS} as asked, {ANSWERS_ALONE} as answers from _lines"
               f" where {CALL_ID}) group by all) where call_id is not null and asked and answered")


# AutoGen's event log: a streamed call's start and end are halves Python joins, its runtime messages are skipped
# (``app_calls.autogen_event``), whatever else the line holds.
NOT_AUTOGEN = "not contains(text, 'LLMStream') and not contains(text, 'delivery_stage')"


# A line whose request Python reads from a pair's key, or whose top holds a system string it makes the first turn
# (``app_calls.conversation_asked``), or a gateway's model name (``app_calls.GATEWAYS``).
NO_REQUEST_KEYS = f"{no_key((*REQUEST_KEYS, *FLAT_SYSTEM_KEYS, 'anthropic_version'))} and {NO_GATEWAY_MODEL}"


def flat_chat_pair(keys: Keys) -> Family:
    """The conversation and model at the top of the line, the answer a ChatCompletion under ``response``
    (``{"model", "messages", "response": {...}, "usage", "response_cost"}``, as LiteLLM-style loggers write it), read
    as ``app_calls.conversation_asked`` reads it. A line whose last turn is an answer (the app appended its reply) is
    Python's, which tells an appended reply from an earlier one."""
    j = "j"
    r = field(j, "response")
    family = Family("chat flat pair", f"starts_with({field(j, 'messages')}, '[') and {field(r, 'choices')} is not null"
                    f" and {field(r, 'object')} is distinct from 'response' and {NO_REQUEST_KEYS}"
                    f" and not ({field(r, 'id')} like 'msg\\_%' escape '\\' and {field(r, 'content')} is not null)")
    keys.family = family
    chat_response(family, r, keys)
    chat_request(family, j, keys)
    family.add(checks=["coalesce(texts[-1].role <> 'assistant', true)", plain(field(j, "model"))],
               columns={"provider": chat_provider(r), "model": _pair_model(r, j)})
    keys.family = None
    return family


def requested_alone(keys: Keys) -> Family:
    """A chat request logged without its response (``app_calls.line_record``'s last case): status no_response, and,
    like a failed call, no id of its own."""
    j = "j"
    family = Family("chat request alone", f"starts_with({field(j, 'messages')}, '[') and {field(j, 'model')} <> ''"
                    f" and {field(j, 'object')} is null and {field(j, 'type')} is null and {NO_PAIR_KEYS}"
                    f" and {NO_CHOICES_KEY} and {NO_FLAT_CALL_KEYS} and {NOT_FAILED_FLAT}")
    return unanswered_chat(family, j, keys)


def unanswered_chat(family: Family, q: str, keys: Keys) -> Family:
    """A chat request ``q`` that has no answer: its columns, status no_response (error when the line says so), no id
    of its own."""
    keys.family = family
    chat_request(family, q, keys)
    failed_call(family, q, keys, "openai", python_json_ok(field(q, "messages")))
    return family.add(columns={"status": "'no_response'"})


CHUNK = {"object": V, "type": V, "id": V, "model": V, "usage": J, "service_tier": J,
         "choices": [{"index": J, "delta": {"content": J, "refusal": J, "tool_calls": J}, "finish_reason": J}]}


def chat_stream_pair(q: str, r: str, keys: Keys, guard: str) -> Family:
    """A chat request whose response was logged as the list of streamed ``chat.completion.chunk`` objects, as
    ``openai.assemble_chat_chunks`` folds them: the deltas' texts joined, the first id, model and time, the last
    usage given, the last finish reason. One choice (index 0) and text deltas only; tool-call deltas, other
    indexes and odd shapes are left to Python. The list is read from the line's text (the line's structure reads
    the response as an object)."""
    path = f"'$.\"{keys.pair[1]}\"'"
    not_an_object = " and ".join(f"{field(r, k)} is null" for k in ("id", "choices", "object", "output", "content", "type", "error", "body"))
    family = Family("chat stream pair", f"{guard}{field(q, 'messages')} is not null and {_not_anthropic_request(q)}"
                    f" and {r} is not null and {not_an_object}"
                    f" and contains(text, '\"chat.completion.chunk\"')")
    keys.family = family
    choices = "flatten(list_transform(s_chunks, lambda c: coalesce(c.choices, [])))"

    def joined(name: str) -> str:
        texts = f"list_transform({choices}, lambda ch: {text_of(f'ch.delta.{name}')})"
        return f"array_to_string(list_filter({texts}, lambda t: t is not null), '')"

    def first(name: str) -> str:
        return f"list_filter(list_transform(s_chunks, lambda c: c.{name}), lambda v: v is not null)[1]"

    usage = f"from_json(s_usage, {struct_type(USAGE)})"
    tokens, usage_checks = usage_columns(f"({usage})", style="chat")
    finish = f"list_filter(list_transform({choices}, lambda ch: ch.finish_reason), lambda f: {truthy('f')})[-1]"
    family.add(
        parse={"s_raw": f"json_extract(text, {path})",
               "t_src": f"list_filter(json_extract(text, {path} || '[*].created'), lambda v: v <> 'null')[1]"},
        derive={"s_chunks": f"from_json(s_raw, {struct_type([CHUNK])})",
                "s_usage": (f"list_filter(list_transform(from_json(s_raw, '[{{\"usage\": \"JSON\"}}]'), lambda c: c.usage),"
                            f" lambda u: {truthy('u')})[-1]")},
        checks=[
            # a list of objects, choices lists of objects with an object delta; every chunk of a chat stream
            "starts_with(s_raw, '[{') and all_true(list_transform(json_extract(s_raw, '$[*]'), lambda x: starts_with(x, '{')))",
            "not regexp_matches(s_raw, '\"choices\":[^\\[n]|\"delta\":[^{n]')",
            "all_true(list_transform(s_chunks, lambda c: c.type is null))",
            f"all_true(list_transform(s_chunks, lambda c: {standard_tier('c.service_tier')}))",
            "list_bool_or(list_transform(s_chunks, lambda c: c.object = 'chat.completion.chunk'))",
            "not contains(s_raw, '\"x_groq\"')",  # Groq's usage in its last chunk's x_groq: Python reads it
            f"not contains(s_raw, '\"{OLLAMA_FINGERPRINT}\"')",  # Ollama's ids are no ids (``openai.answer_id``)
            f"all_true(list_transform({choices}, lambda ch: ch.index = '0' and not {truthy('ch.delta.tool_calls')}))",
            f"{first('id')} <> '' and {plain(first('id'))}", plain(first("model")),
            "(s_usage is null or starts_with(s_usage, '{'))", *usage_checks,
        ],
        columns={"source_id": first("id"), "model": first("model"), "created_at": "created",
                 "response_text": (f"nullif(case when {joined('content')} <> '' then {joined('content')}"
                                   f" else {joined('refusal')} end, '')"),
                 "status": f"case when {finish} = '\"content_filter\"' then 'blocked' else 'ok' end", **tokens},
    )
    chat_request(family, q, keys)
    top = field("j", "model")
    family.add(checks=[plain(top)], columns={"provider": "'openai'",
                                             "model": f"coalesce({first('model')}, {field(q, 'model')}, case when {plain(top)} then {top} end)"})
    keys.family = None
    return family


def openai_error_body(r: str) -> str:
    """An OpenAI error body (``{"error": {...}}``: a rate limit, an outage), which ``openai.response_fields`` reads
    as status error and nothing else."""
    return (f"(starts_with({field(r, 'error')}, '{{') or {is_string(field(r, 'error'))})"
            + "".join(f" and {field(r, k)} is null" for k in ("choices", "type", "output", "body", "id", "content"))
            + f" and {field(r, 'object')} is distinct from 'response' and {NO_CHOICES_KEY}")


def chat_error_pair(q: str, r: str, keys: Keys, guard: str) -> Family:
    """A chat request whose response is an error body, as ``openai.pair_record`` reads it: the request's columns,
    status error, no answer, no id of its own."""
    family = Family("chat error pair", f"{guard}{field(q, 'messages')} is not null and {_not_anthropic_request(q)}"
                    f" and {openai_error_body(r)}")
    keys.family = family
    chat_request(family, q, keys)
    return failed_call(family, q, keys, "openai", python_json_ok(field(q, "messages")))


# Keys Python would read an answer from when a line's `response` is missing, or a call of another SDK's
# (``app_calls.other_provider``), or a gateway's model name.
NO_OTHER_ANSWER_KEYS = f"{no_key((*RESPONSE_KEYS[1:], 'modelId', 'contents'))} and {NO_GATEWAY_MODEL}"


def unanswered_chat_pair(q: str, r: str, keys: Keys) -> Family:
    """A chat request logged under ``request`` whose response is null or missing (a call that failed before any answer,
    or logged before the answer came), as ``openai.pair_record`` reads it."""
    family = Family("chat pair unanswered", f"{field(q, 'messages')} is not null and {_not_anthropic_request(q)}"
                    f" and {r} is null and {NO_CHOICES_KEY} and {NO_FLAT_CALL_KEYS} and {NOT_FAILED_FLAT}"
                    f" and {NO_OTHER_ANSWER_KEYS}")
    return unanswered_chat(family, q, keys)


def responses_error_pair(q: str, r: str, keys: Keys, guard: str) -> Family:
    """A Responses request whose response is an error body; its stored conversation is built from the input items."""
    family = Family("responses error pair", f"{guard}{field(q, 'input')} is not null and {field(q, 'messages')} is null"
                    f" and {_not_anthropic_request(q)} and {openai_error_body(r)}")
    keys.family = family
    family.add(columns=responses_request(family, q, keys))
    return failed_call(family, q, keys, "openai", python_json_ok(family.columns["messages_json"]))


def anthropic_error_pair(q: str, r: str, keys: Keys, guard: str) -> Family:
    """A Messages request whose response is Anthropic's error body (``{"type": "error", "error": {...}}``: overloaded,
    rate limited), as ``anthropic.pair_record`` reads it; the conversation it stores is built, so its JSON is
    checked for what Python writes otherwise."""
    response_is_error = (f"{field(r, 'type')} = 'error'" + "".join(f" and {field(r, k)} is null" for k in ("content", "body", "id"))
                         + f" and {NO_CHOICES_KEY}")
    family = Family("anthropic error pair", f"{guard}{field(q, 'messages')} is not null and {response_is_error}")
    keys.family = family
    anthropic_request(family, q, keys)
    return failed_call(family, q, keys, "anthropic", python_json_ok(family.columns["messages_json"]))


def failed_call(family: Family, q: str, keys: Keys, provider: str, conversation_ok: str) -> Family:
    """What every failed call's row has: status error, no time of its own, the request's model (else the line's);
    its id (``content_id``) hashes the conversation as Python writes it, which ``conversation_ok`` makes sure of."""
    top = field("j", "model")
    family.add(parse={"t_src": "null::json"}, checks=[plain(top), conversation_ok],
               columns={"provider": f"'{provider}'", "status": "'error'", "created_at": "null::timestamp",
                        "model": f"coalesce({field(q, 'model')}, case when {plain(top)} then {top} end)"})
    keys.family = None
    return family


def python_str_time(t: str) -> str:
    """Python's ``str()`` of a datetime: seconds, then six decimals when there are microseconds."""
    micros = f"microsecond({t}) % 1000000"
    return (f"strftime({t}, '%Y-%m-%d %H:%M:%S') || case when {micros} <> 0"
            f" then '.' || lpad(({micros})::varchar, 6, '0') else '' end")


def content_id(family: Family) -> str:
    """The id ``records.dedupe_key`` gives a call its log names no id for: a hash of what it holds (provider, model,
    time, conversation as Python's json.dumps writes it, prompt; no answer or tokens here)."""
    c = family.columns
    parts = [c["provider"], c["model"], python_str_time(c["created_at"]), python_json(c["messages_json"]), c["prompt_text"]]
    key = " || '|' || ".join(f"coalesce(({p})::varchar, '')" for p in parts) + " || '|||'"
    return sql_stable_id(key)


# ---------------------------------------------------------------------------------------------
# OpenAI Batch output lines
# ---------------------------------------------------------------------------------------------

BATCH_LINE = {"id": J, "custom_id": J, "error": J,
              "response": {"status_code": J, "request_id": J, "body": RESPONSE}}


def batch_output_families(keys: Keys) -> list[Family]:
    """Batch output lines of chat completions or Responses (``openai.OpenAIBatchOutput.record`` without an input
    file to join): the custom_id is the call's id, the status says whether the line failed."""
    body, response = field("j", "response", "body"), field("j", "response")
    custom_id, line_id, code = field("j", "custom_id"), field("j", "id"), field(response, "status_code")
    no_usage = " and ".join(f"{field(body, 'usage', k)} is null" for k in ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens"))
    failed = (f"{truthy(field('j', 'error'))} or ({number_ok(code)} and try_cast({code} as double) >= 400)"
              f" or ({truthy(field(body, 'error'))} and {no_usage})")
    families = []
    for name, builder, condition in (
        ("batch chat output", chat_response, f"{field(body, 'choices')} is not null and {field(body, 'object')} is distinct from 'response'"),
        ("batch responses output", responses_object, f"{field(body, 'object')} = 'response' and {field(body, 'choices')} is null"),
    ):
        family = Family(name, condition)
        keys.family = family
        builder(family, body, keys)
        if builder is responses_object:
            echo_params(family, body, keys, None)
        family.add(
            checks=[f"{is_string(custom_id)} and {text_of(custom_id)} <> ''", f"{is_string(line_id)} and {text_of(line_id)} <> ''"],
            columns={"provider": chat_provider(body), "source_id": text_of(custom_id), "is_batch": "true",
                     "status": f"case when {failed} then 'error' else {family.columns['status']} end",
                     "id": sql_stable_id(f"'openai|batch|' || {text_of(custom_id)} || '|' || {text_of(line_id)}")},
        )
        families.append(family)
    families.append(batch_failed_output(body, custom_id, line_id))
    keys.family = None
    return families


def batch_failed_output(body: str, custom_id: str, line_id: str) -> Family:
    """A Batch output line of a request that failed with no answer to read (``"response": null`` beside an error, as
    an expired batch writes them, or an error body: a rate limit, an invalid request): status error, no model, tokens
    or time, the custom_id its id, as ``openai.OpenAIBatchOutput.record`` reads it."""
    family = Family("batch failed output", f"{field(body, 'choices')} is null and {field(body, 'object')} is null"
                                           f" and ({body} is null or {field(body, 'error')} is not null)")
    return family.add(
        parse={"t_src": "null::json"},
        checks=[f"{is_string(custom_id)} and {text_of(custom_id)} <> ''", f"{is_string(line_id)} and {text_of(line_id)} <> ''",
                # a response or body written as JSON text is Python's (it decodes it): the parse reads it as missing
                "not regexp_matches(text, '\"(response|body)\"\\s*:\\s*\"')"],
        columns={"provider": chat_provider(body), "source_id": text_of(custom_id), "is_batch": "true", "status": "'error'",
                 "created_at": "null::timestamp",
                 "id": sql_stable_id(f"'openai|batch|' || {text_of(custom_id)} || '|' || {text_of(line_id)}")},
    )


# ---------------------------------------------------------------------------------------------
# The statement
# ---------------------------------------------------------------------------------------------

OUTPUT = ("source_id", "provider", "model", "created_at", "system_prompt", "messages_json", "prompt_text",
          "response_text", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
          "reasoning_tokens", "cost_usd", "is_batch", "duration_ms", "status", "user_id", "tags_json", "params_json",
          "sample_rate", "cache_write_1h_tokens", "web_searches")
_TYPES = {"created_at": "timestamp", "cost_usd": "double", "duration_ms": "double", "is_batch": "boolean", "sample_rate": "double",
          "input_tokens": "bigint", "cached_input_tokens": "bigint", "cache_write_tokens": "bigint", "output_tokens": "bigint",
          "reasoning_tokens": "bigint", "cache_write_1h_tokens": "bigint", "web_searches": "bigint"}


def _by_family(families: list[Family], pick, default: str = "null") -> str:
    branches = [(code, pick(f)) for code, f in enumerate(families, start=1)]
    branches = [(code, expr) for code, expr in branches if expr is not None]
    if len(families) == 1:
        return branches[0][1] if branches else default
    cases = " ".join(f"when {code} then {expr}" for code, expr in branches)
    return f"case fam {cases} else {default} end" if cases else default


def _layer(families: list[Family], attribute: str) -> str:
    names = list(dict.fromkeys(n for f in families for n in getattr(f, attribute)))
    return "".join(f", {_by_family(families, lambda f, n=n: getattr(f, attribute).get(n))} as {n}" for n in names)


def used_spec(spec: dict, sql: str) -> dict:
    """``spec`` cut down to the fields ``sql`` reads (``j."a"."b"``): DuckDB's JSON transform costs about the same for
    every field a structure declares, found or not, so a statement declares only what it uses."""
    used: dict = {}
    for path in re.findall(r'\bj((?:\."[^"]+")+)', sql):
        node = used
        names = re.findall(r'"([^"]+)"', path)
        for name in names[:-1]:
            node = node.setdefault(name, {})
            if node is True:
                break
        else:
            node[names[-1]] = True

    def prune(node, keep):
        if keep is True or not isinstance(node, dict):
            return node
        return {k: prune(node[k], keep[k]) for k in node if k in keep}

    return prune(spec, used)


def _struct_of(value) -> dict | None:
    """The structure a spec's value declares: its own, or its list's elements'; None for a leaf type."""
    node = value[0] if isinstance(value, list) else value
    return node if isinstance(node, dict) else None


def _spec_names(spec) -> set[str]:
    names: set[str] = set()
    for key, value in spec.items():
        names.add(key)
        if (node := _struct_of(value)) is not None:
            names |= _spec_names(node)
    return names


# Envelope keys that are also field names deeper in a call (a request's ``user``, a usage's ``cost``): the guard cannot
# tell them apart in a line's text, so a line that first names one after the first lines would pass it unread. The
# call's envelope reads them whether the first lines have them or not (``envelope_first``).
NESTED_ENVELOPE_NAMES = frozenset(ENVELOPE) & set().union(*(
    _spec_names(node) for value in LINE.values() if (node := _struct_of(value)) is not None))


def select_sql(families: list[Family], line_spec: dict, first: dict | None = None, shared: dict | None = None,
               dropped: set[str] | None = None, wrapper: str | None = None, text_sides: tuple | None = None,
               beside: tuple | None = None) -> str:
    """SELECT over ``_lines(line_no, text)``: the rows of the lines SQL reads exactly, in the columns the incoming rows
    take. Layers compute each value once: the parse, the family, what is parsed again, what is built from that,
    the checks, the row. Run with filter push-down disabled, so that the checks do not parse lines a second time.

    ``dropped`` optional keys are not read: a line that has one (anywhere, as a key) is left to Python.
    With ``wrapper``, the call is the object under that key (``wrapper_of``), and a time beside it is the call's
    when the call states none (``beside``: the keys read beside it); with ``text_sides``, those two keys' objects written
    as JSON text are read as objects."""
    fam = "case " + " ".join(f"when {f.when} then {code}" for code, f in enumerate(families, start=1)) + " end"
    shared = {"created": time_of("t_src"), **(shared or {})}  # the call's own time, read once for every family
    if wrapper is not None:
        families = [wrapped(f, BESIDE_KEYS if beside is None else beside) for f in families]
        shared = {**shared, **OUTER_DERIVED}
    first_values = "".join(f", {expr} as {name}" for name, expr in (first or {}).items())
    shared_values = "".join(f", {expr} as {name}" for name, expr in shared.items())
    checks = _by_family(families, lambda f: " and ".join(f"({c})" for c in f.checks), default="false")
    checks += " and (t_src is null or created is not null)"
    outputs = []
    for column in OUTPUT:
        expr = _by_family(families, lambda f, c=column: f.columns.get(c, "false" if c == "is_batch" else None))
        outputs.append(f"({expr})::{_TYPES.get(column, 'varchar')} as {column}")
    ids = _by_family(families, lambda f: f.columns.get("id") or sql_stable_id(f"{f.columns['provider']} || '|id|' || {f.columns['source_id']}"))
    # Everything above the parse reads the line's fields as j."..."; the structure declares those fields only.
    above = f"{ids} {', '.join(outputs)} {checks} {fam} {first_values} {shared_values} {_layer(families, 'parse')} {_layer(families, 'derive')}"
    spec = used_spec(line_spec, above)
    return _statement(ids=ids, outputs=", ".join(outputs), checks=checks, fam=fam, first_values=first_values,
                      shared_values=shared_values, parse=_layer(families, "parse"), derive=_layer(families, "derive"),
                      lines=lines_parsed(struct_type(spec), wrapper, text_sides, beside), guard=_guard(dropped, spec))


def wrapped(family: Family, beside: tuple) -> Family:
    """``family`` for calls under a wrapper: the keys beside the wrapper are a second envelope, read after the call's
    own (``app_calls.wrapped_record``: a time, user or tags fill the call's when it states none; a cost, a latency or
    an error stated there wins). Python reads only plain values there (``app_log.scalar_keys``): a time object, or an
    object or list under any envelope key but the tags, is Python's. Only the ``beside`` keys are looked at: a line
    with any other key beside the wrapper is not read (``lines_parsed``)."""
    plain_values = " and ".join(f"(_outer['{k}'] is null or not (starts_with(_outer['{k}'], '{{') or starts_with(_outer['{k}'], '[')))"
                                for k in ENVELOPE if k not in TAG_KEYS and k in beside) or "true"
    copy = Family(family.name, family.when).add(parse=family.parse, derive=family.derive, checks=[*family.checks, plain_values],
                                                columns=dict(family.columns))
    envelope(copy, BESIDE_WRAPPER)
    return copy


# A line's JSON as the map of its keys to their values (JSON text), for a wrapper's or the sides' keys.
LINE_AS_MAP = "try(from_json(text, '\"MAP(VARCHAR, JSON)\"'))"
# A comma before a closing bracket, which DuckDB reads past and Python's json refuses.
TRAILING_COMMA = ",\\s*[}\\]]"


# What makes Python's ``app_calls.holds_call`` say a wrapped object is no call (a Batch line's custom_id, a usage
# report's counts and buckets): such lines are Python's.
NOT_HELD = ('"(custom_id|num_model_requests|num_requests|request_count|requests_count|n_requests|total_requests|results'
            '|uncached_input_tokens)"\\s*:|"(bucket|organization[.][^"]*)"')


def lines_parsed(spec: str, wrapper: str | None, text_sides: tuple | None = None, beside: tuple | None = None) -> str:
    """``_lines`` with each line's JSON parsed into ``j`` (the call under ``wrapper`` when given, the line's keys in
    the map ``_outer``: a name no lambda's variable takes, and only ``beside`` keys, default any the SQL route may read,
    beside it; with ``text_sides``, the line as it would be with those keys' JSON text written as the objects it holds,
    ``sides_decoded``)."""
    if text_sides is not None:
        return f"select line_no, text, try(from_json(text, {spec})) as j from ({sides_decoded(text_sides)})"
    if wrapper is None:
        return f"select line_no, text, try(from_json(text, {spec})) as j from _lines"
    allowed = ", ".join(f"'{k}'" for k in (wrapper, *(BESIDE_KEYS if beside is None else beside), *TEXT_SIDE_KEYS))
    # a message with a brace anywhere might be JSON text Python unwraps (it strips any whitespace before the brace)
    plain_text = " and ".join(f"(_outer['{k}'] is null or (starts_with(_outer['{k}'], '\"') and not contains(_outer['{k}'], '{{')))"
                              for k in TEXT_SIDE_KEYS)
    return (f"select line_no, text, try(from_json(_outer['{wrapper}'], {spec})) as j, _outer from ("
            f"select line_no, text, {LINE_AS_MAP} as _outer from _lines)"
            f" where starts_with(_outer['{wrapper}'], '{{') and list_bool_and(list_transform(map_keys(_outer), lambda k: k in ({allowed})))"
            f" and {plain_text} and not regexp_matches(_outer['{wrapper}'], '{NOT_HELD}')")


def sides_decoded(keys: tuple) -> str:
    """``_lines`` with the value of each of ``keys`` that is an object or list written as JSON text (a string starting
    with a brace or bracket) replaced by that value, as ``records.maybe_json`` decodes it, so that every check on the text sees the
    sides' keys. A line this cannot rewrite (not an object, a key repeated, JSON text that is not valid) keeps its text,
    and the string sides its parse then finds send it to Python, which reads them with every rule."""
    names = ", ".join(f"'{k}'" for k in keys)
    # DuckDB reads what Python's json refuses: a comma before a closing bracket, nesting past the depth limit (text with
    # more brackets than the limit may nest that deep); such text is left as it is, for Python.
    strict = f"not regexp_matches(_kv.value, '{TRAILING_COMMA}') and {shallow('_kv.value')}"
    value = (f"case when _kv.key in ({names}) and regexp_matches(_kv.value, '^\"[{{\\[]') and {strict}"
             " then coalesce(try(json(_kv.value ->> '$')), _kv.value) else _kv.value end")
    rebuilt = f"'{{' || array_to_string(list_transform(map_entries(_sides), lambda _kv: to_json(_kv.key) || ':' || {value}), ',') || '}}'"
    return (f"select line_no, coalesce({rebuilt}, text) as text from ("
            f"select line_no, text, {LINE_AS_MAP} as _sides from _lines)")


def _guard(dropped: set[str] | None, spec: dict) -> str:
    """Leave to Python the lines that have an optional key the statement does not read. A dropped key that the
    statement reads elsewhere under the same name cannot be told apart by its text: the statement reads it there."""
    guarded = sorted((dropped or set()) - _spec_names(spec))
    return f"and {no_key(guarded)}" if guarded else ""


# ``list_bool_and`` skips NULLs: a check that is unknown for one element (a missing field) passed beside a true one.
# ``all_true`` counts unknown as false; each statement's connection defines it (``define_macros``).
ALL_TRUE_MACRO = "create or replace temp macro all_true(checks) as list_bool_and(list_transform(checks, lambda c: coalesce(c, false)))"


# NaN and Infinity as values: DuckDB reads them, JSON cannot store them (Python rejects such a line with the reason).
# The text is searched only where it holds one of the words at all.
NO_NAN = ("case when contains(text, 'NaN') or contains(text, 'Infinity')"
          " then not regexp_matches(text, '[:,\\[]\\s*-?(NaN|Infinity)\\b') else true end")
# A comma before a closing bracket: DuckDB reads past it, Python's json refuses the line (a reject with the reason).
# Text in a string that looks so sends its line to Python too, which reads it.
NO_TRAILING_COMMA = f"not regexp_matches(text, '{TRAILING_COMMA}')"


def define_macros(con) -> None:
    con.execute(ALL_TRUE_MACRO)


def _statement(*, ids, outputs, checks, fam, first_values, shared_values, parse, derive, lines, guard) -> str:
    return f"""
select {ids} as id, line_no as source_line, {outputs}, null::bigint as _supersedes,
       null::varchar as operation, null::varchar as trace_id, null::varchar as parent_span_id
from (
  select * from (
    select *{derive}{shared_values} from (
      select *{parse}{first_values} from (
        select *, {fam} as fam from (
          {lines}
        ) where j is not null
      ) where fam is not null and {NO_NAN} and {NO_TRAILING_COMMA} {guard}
    )
  ) where {checks}
)
"""


def families_sql(families: list[Family], line_spec: dict, wrapper: str | None = None, text_sides: tuple | None = None) -> str:
    """How many lines of ``_lines`` fall in each family (by name): a cheap first look that lets the statement for
    a file carry only the families it has."""
    fam = "case " + " ".join(f"when {f.when} then '{f.name}'" for f in families) + " end"
    spec = struct_type(used_spec(line_spec, fam))
    return f"select {fam} as family, count(*) from ({lines_parsed(spec, wrapper, text_sides)}) where j is not null group by all"


def keys_sql(pair: tuple[str, ...] = DEFAULT_PAIR) -> str:
    """Every key name in the lines, at any depth (a key is a string followed by a colon); with a pair whose sides are
    written as JSON text, also the keys inside JSON text (escaped quotes), which the statement reads once decoded. A
    superset costs only the reading of a key that is absent; keys of other JSON text in strings (a tool call's
    arguments) are never read, and counting them would widen every line's parse."""
    quote = '\\\\?"' if _text_sides(pair) is not None else '"'
    return f"select distinct unnest(regexp_extract_all(text, '{quote}([^\"\\\\]+){quote}\\s*:', 1)) from _lines"


class Statements:
    """The SQL route's statements for one kind of log, built once per set of families, keys and pair keys, and kept.
    ``line_spec`` gives the structure a line is parsed into for the keys of a request/response pair."""

    def __init__(self, families, line_spec, first=None, shared: dict | None = None):
        self.families, self.line_spec, self.first, self.shared = families, line_spec, first, shared
        self._selects: dict[tuple, str] = {}

    def probe(self, pair: tuple[str, ...] = DEFAULT_PAIR) -> str:
        return families_sql(self.families(Keys(pair=(pair[0], pair[1]))), self.line_spec(pair), _wrapper(pair), _text_sides(pair))

    def select(self, only=None, present: frozenset | None = None, pair: tuple[str, ...] = DEFAULT_PAIR,
               split: bool = False) -> str:
        """The statement for the families named (default all), reading the optional keys in ``present`` (default
        all of them) and the pair under ``pair``'s keys; ``split``: the halves of calls logged on two lines are left
        to Python."""
        key = (frozenset(only or ()), present, pair, split)
        if key not in self._selects:
            keys = Keys(present, (pair[0], pair[1]), split)
            built = self.families(keys)
            families = [f for f in built if not key[0] or f.name in key[0]] or built
            first = self.first(keys) if self.first else None
            beside = None
            if _wrapper(pair) is not None:  # the envelope beside the wrapper: the keys the file's lines use
                first = {**(first or {}), **envelope_first(keys, BESIDE_WRAPPER)}
                beside = beside_read(keys)
            dropped = keys.dropped.union(*(f.dropped for f in families))
            self._selects[key] = select_sql(families, self.line_spec(pair), first, self.shared, dropped, _wrapper(pair),
                                            _text_sides(pair), beside)
        return self._selects[key]


def beside_read(keys: Keys) -> tuple:
    """The keys a statement reads beside a wrapper: a log store's own, and the envelope's that the file's lines use
    (read by name from the map of the line's keys, so that a key named with escapes or first used later in the file
    is not let through unread: its line is Python's)."""
    envelope_read = tuple(k for k in ENVELOPE if keys.present is None or k in keys.present or k in ALWAYS_READ)
    return (*(k for k in SIDE_KEYS if k not in ENVELOPE), *envelope_read)


def _wrapper(pair: tuple[str, ...]) -> str | None:
    """The wrapper key a pair's third item names (``alias_pairs``), if any."""
    return pair[2] if len(pair) > 2 and pair[2] != SIDES_AS_TEXT else None


def _text_sides(pair: tuple[str, ...]) -> tuple[str, str] | None:
    """The pair's keys when its sides are written as JSON text (``alias_pairs``)."""
    return (pair[0], pair[1]) if len(pair) > 2 and pair[2] == SIDES_AS_TEXT else None


APP_LOGS = Statements(app_log_families, line_spec, envelope_first, ENVELOPE_DERIVED)
BATCH_OUTPUT = Statements(batch_output_families, lambda pair: BATCH_LINE)


# ---------------------------------------------------------------------------------------------
# Anthropic Message Batches results
# ---------------------------------------------------------------------------------------------

BATCH_RESULT_LINE = {"custom_id": J, "result": {"type": V, "message": RESPONSE}}


def batch_result_families(keys: Keys) -> list[Family]:
    """Message Batches results that succeeded (``anthropic.AnthropicBatchResults.record`` without a requests file to
    join): the message as a Message line reads, the custom_id the call's id. Errored, canceled and expired results
    name no message: Python reads them."""
    message, custom_id = field("j", "result", "message"), field("j", "custom_id")
    # a message of type "error" is a failure (``anthropic.message_fields``): Python's
    family = Family("batch message result", f"{field('j', 'result', 'type')} = 'succeeded' and {field(message, 'id')} is not null"
                                            f" and {field(message, 'type')} is distinct from 'error'")
    keys.family = family
    anthropic_message(family, message, keys)
    family.add(
        checks=[f"{is_string(custom_id)} and {text_of(custom_id)} <> ''"],
        columns={"provider": "'anthropic'", "source_id": text_of(custom_id), "is_batch": "true",
                 "id": sql_stable_id(f"'anthropic|batch|' || {text_of(custom_id)} || '|' || {field(message, 'id')}")},
    )
    keys.family = None
    return [family]


BATCH_RESULTS = Statements(batch_result_families, lambda pair: BATCH_RESULT_LINE)


class BatchStatements:
    """The SQL route's hooks of a format of Batch results (``statements``): read in Python instead when this run read
    input lines they join (``batch_store``), which Python joins."""

    statements: Statements
    batch_store: str

    def sql_route_ok(self, ctx) -> bool:
        return not batch_inputs_pending(ctx, self.batch_store)

    def fast_select(self, src=None, families=None, present=None) -> str:
        return self.statements.select(families, present)

    def fast_families(self) -> str:
        return self.statements.probe()
