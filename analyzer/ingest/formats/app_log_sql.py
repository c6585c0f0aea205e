"""The SQL route's statement for app logs of model calls: DuckDB extracts every field of the lines it fully
understands, and leaves the rest to ``app_calls.parse_line``."""

from __future__ import annotations

from .app_log import COST_KEYS, DURATION_MS_KEYS, DURATION_S_KEYS, ERROR_KEYS, REQUEST_KEYS, RESPONSE_KEYS, TAG_KEYS, USER_KEYS
from .openai import CHAT_PARAMS

# The fast route handles the common shape of each kind of line exactly; anything else is left to Python.
_FAST_ENVELOPE = COST_KEYS + DURATION_MS_KEYS[1:] + DURATION_S_KEYS + USER_KEYS + TAG_KEYS + ERROR_KEYS + (
    "status_code", "http_status", "data",
)
_FAST_PARAMS = CHAT_PARAMS


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _struct(spec: dict) -> str:
    def render(node):
        if node == "J":
            return '"JSON"'
        if isinstance(node, str):
            return f'"{node}"'
        if isinstance(node, list):
            return "[" + render(node[0]) + "]"
        return "{" + ", ".join(f'"{k}": {render(v)}' for k, v in node.items()) + "}"

    return _sql_str(render(spec))


def fast_select_sql(shape: str, messages_mode: str = "reparse") -> str:
    """DuckDB SELECT over ``_lines(line_no, text)`` for lines of one shape: ``pair`` or ``bare`` completions.

    One ``from_json`` parse per line into typed values (the conversation as its raw JSON, parsed again for roles
    and texts).
    Only lines whose every field has the type the Python route expects are returned, and for those the Python
    route gives the same row. Small fields come out as JSON text, so their type is checked exactly from the first
    character; long texts come out as VARCHAR, whose lenient conversion of non-strings (lists, objects, booleans,
    numbers) is recognised by value and left to Python, as are genuine strings that look like those. Run it with
    the ``filter_pushdown`` optimizer disabled (the core does): pushed into the projection, the checks would
    parse every line a second time."""
    from ..records import sql_stable_id

    completion = {
        "id": "VARCHAR", "object": "VARCHAR", "created": "J", "model": "VARCHAR", "error": "J", "type": "J", "content": "J",
        "choices": [{"finish_reason": "VARCHAR", "message": {"content": "VARCHAR", "refusal": "J", "tool_calls": "J", "function_call": "J"}}],
        "usage": {"prompt_tokens": "J", "completion_tokens": "J", "prompt_tokens_details": {"cached_tokens": "J"},
                  "completion_tokens_details": {"reasoning_tokens": "J"}},
    }
    envelope = {k: "J" for k in _FAST_ENVELOPE if k not in completion}
    if shape == "pair":
        messages = "J" if messages_mode == "reparse" else [{"role": "VARCHAR", "content": "VARCHAR"}]
        request = {"model": "VARCHAR", "messages": messages, "user": "VARCHAR", "safety_identifier": "VARCHAR", "metadata": "J",
                   "system": "J", "anthropic_version": "J", **{k: "J" for k in _FAST_PARAMS}}
        spec = {"request": request, "response": completion, "model": "VARCHAR", "duration_ms": "J", **envelope}
        c = "j.response"
    else:
        spec = {**completion, "duration_ms": "J", **envelope}
        c = "j"

    def plain(x: str) -> str:
        """A VARCHAR that held a JSON string: not what DuckDB makes of a list, object, boolean or number."""
        return (f"({x} is null or not (starts_with({x}, '[') or starts_with({x}, '{{') or {x} in ('true', 'false')"
                f" or regexp_full_match({x}, '-?[0-9][0-9.eE+-]*')))")

    def count_ok(x: str) -> str:
        return f"({x} is null or (regexp_full_match({x}, '[0-9]{{1,18}}') and {x}::bigint < 4611686018427387904))"

    checks = [
        f"{c}.object = 'chat.completion'",
        f"{c}.id <> '' and {plain(c + '.id')}",
        f"regexp_full_match({c}.created, '[0-9]{{1,11}}') and {c}.created::bigint <= 100000000000",
        plain(f"{c}.model"),
        f"{c}.error is null and {c}.type is null and {c}.content is null",
        *(count_ok(f"{c}.usage.{f}") for f in ("prompt_tokens", "completion_tokens")),
        count_ok(f"{c}.usage.prompt_tokens_details.cached_tokens"),
        count_ok(f"{c}.usage.completion_tokens_details.reasoning_tokens"),
        "(j.duration_ms is null or try_cast(j.duration_ms as double) is not null)",
        *(f'j."{k}" is null' for k in envelope),
    ]
    if shape == "pair":
        checks += [
            "j.request.system is null and j.request.anthropic_version is null",
            plain("j.request.model"), plain("j.request.user"), plain("j.request.safety_identifier"), plain("j.model"),
        ]
    else:
        # Python treats a line with any of these keys as a pair, even when the value is null.
        keys = "|".join(REQUEST_KEYS + RESPONSE_KEYS)
        checks.append(f"not regexp_matches(text, '\"({keys})\"\\s*:')")
    choice_ok = ("@.message.refusal is null and @.message.tool_calls is null and @.message.function_call is null"
                 " and " + plain("@.message.content"))
    # One choice is the common case: checked without a lambda, which costs DuckDB more than the check itself.
    checks.append(
        f"(case when len({c}.choices) = 1 then {choice_ok.replace('@', c + '.choices[1]')}"
        f" else ({c}.choices is null or list_bool_and(list_transform({c}.choices, lambda ch: {choice_ok.replace('@', 'ch')}))) end)"
    )
    if shape == "pair":
        # {"key":value,...} of the parameters present: JSON text joined as DuckDB would serialise it.
        params = ", ".join(
            f"case when j.request.\"{k}\" not in ('[]', '{{}}') then '\"{k}\":' || j.request.\"{k}\" end" for k in _FAST_PARAMS
        )
        if messages_mode == "reparse":
            msgs = "from_json(j.request.messages, '[{\"role\": \"VARCHAR\", \"content\": \"VARCHAR\"}]')"
            raw = "j.request.messages"
            # Every content a string or null: in DuckDB's own serialisation of the conversation no "content" key
            # is followed by a list, an object, a boolean or a number (inside strings, quotes are escaped).
            checks.append("starts_with(j.request.messages, '[')")
            checks.append("not regexp_matches(j.request.messages, '\"content\":[[{tf0-9-]')")
            outer = ""
        else:
            msgs = "j.request.messages"
            raw = "json_extract(text, '$.request.messages')"
            outer = (f"where j.request.messages is not null and (len(msgs) = 0 or list_bool_and(list_transform(msgs, "
                     f"lambda m: {plain('m.content')})))")
        request_columns = f"""
        nullif(array_to_string(list_transform(list_filter(msgs, lambda m: m.role in ('system', 'developer')),
            lambda m: coalesce(m.content, '')), chr(10) || chr(10)), '') as system_prompt,
        raw_messages::varchar as messages_json,
        coalesce(list_filter(msgs, lambda m: m.role = 'user')[-1].content, '') as prompt_text,
        coalesce(j.request.user, j.request.safety_identifier) as user_id,
        case when j.request.metadata like '{{%' or j.request.metadata like '[%'
             then nullif(nullif(j.request.metadata, '{{}}'), '[]') end as tags_json,
        nullif('{{' || concat_ws(',', {params}) || '}}', '{{}}') as params_json,
        coalesce({c}.model, j.request.model, j.model) as model,"""
        inner = f"select line_no, j, {msgs} as msgs, {raw} as raw_messages"
        outer_filter = outer
    else:
        request_columns = f"""
        null::varchar as system_prompt, null::varchar as messages_json, null::varchar as prompt_text,
        null::varchar as user_id, null::varchar as tags_json, null::varchar as params_json,
        {c}.model as model,"""
        inner = "select line_no, j"
        outer_filter = ""
    return f"""
select
    {sql_stable_id("'openai|id|' || " + c + ".id")} as id,
    {c}.id as source_id,
    line_no as source_line,
    'openai' as provider,{request_columns}
    make_timestamp({c}.created::bigint * 1000000) as created_at,
    case when len({c}.choices) = 1 then nullif({c}.choices[1].message.content, '')
         else nullif(array_to_string(list_filter(list_transform({c}.choices, lambda ch: ch.message.content),
                     lambda t: t is not null and t <> ''), chr(10)), '') end as response_text,
    {c}.usage.prompt_tokens::bigint as input_tokens,
    {c}.usage.prompt_tokens_details.cached_tokens::bigint as cached_input_tokens,
    null::bigint as cache_write_tokens,
    {c}.usage.completion_tokens::bigint as output_tokens,
    {c}.usage.completion_tokens_details.reasoning_tokens::bigint as reasoning_tokens,
    null::double as cost_usd,
    false as is_batch,
    j.duration_ms::double as duration_ms,
    case when len({c}.choices) = 1 then (case when {c}.choices[1].finish_reason = 'content_filter' then 'blocked' else 'ok' end)
         when list_contains(list_transform({c}.choices, lambda ch: ch.finish_reason), 'content_filter') then 'blocked'
         else 'ok' end as status,
    null::bigint as _supersedes,
    null::varchar as operation, null::varchar as trace_id, null::varchar as parent_span_id
from (
    {inner}
    from (select line_no, text, try(from_json(text, {_struct(spec)})) as j from _lines)
    where j is not null and {" and ".join(checks)}
)
{outer_filter}
"""


