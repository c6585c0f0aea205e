"""Step 1, text: the text that represents each request, its template and its workload key, in DuckDB.

Production traffic is templated, so a request is represented by the head of its system prompt (the role and
task are stated first) followed by its user turn. Text is lower-cased, whitespace collapsed and digit runs
masked to ``0`` (order numbers and dates do not change what a request is about), then deduplicated:
identical texts are embedded once. A system prompt shared by enough requests with different user turns is a
template; so is a user-turn prefix of 40+ characters most members of a group share ("Classify this ticket
into ...: <ticket>"); for those the representation is the variable remainder.

Temp tables (dropped by the stage when it ends):
``_cat_req``: one row per request (id, template_id, workload_key, rep_hash, spend, unpriced);
``_cat_text``: one row per distinct text (rep_hash, rep, text_hash, requests, spend, template_id, request_id, draw).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import db
from ..sampling import weight

SYSTEM_HEAD_CHARS = 200
USER_CHARS = 500
USER_CHARS_WITH_TEMPLATE = 400
PREFIX_KEY_CHARS = 40
TEMP_TABLES = ("_cat_req", "_cat_text", "_cat_held_back", "_cat_assign", "_cat_sys_tpl", "_cat_prefix_tpl",
               "_cat_base", "_cat_rc", "_cat_map", "_cat_nodes")
REPRESENTATION = (f"system prompt head ({SYSTEM_HEAD_CHARS} chars) + user turn ({USER_CHARS} chars; "
                  f"{USER_CHARS_WITH_TEMPLATE} after a template), lower-cased, whitespace collapsed, digits masked, "
                  "deduplicated")
# Tags that name the application or feature a request comes from (Langfuse trace and prompt names, LiteLLM key
# aliases, Helicone properties, OpenAI metadata): a workload a person already tells apart.
WORKLOAD_TAGS = ("app", "app_name", "application", "service", "feature", "workload", "use_case", "trace_name",
                 "prompt_name", "api_key_alias")
MAX_WORKLOAD_USERS = 30  # more distinct users than this are people, not applications


@dataclass
class PreparedTexts:
    requests: int
    distinct_texts: int
    templates: list[dict] = field(default_factory=list)  # {"kind", "key", "text", "display"}


@dataclass
class TextBatch:
    """Distinct texts as arrays aligned by row (a slice of ``_cat_text``)."""

    hashes: list[str]        # rep_hash: the unit categorize assigns
    texts: list[str]
    text_hashes: list[str]   # md5 of the text: the embedding cache key
    requests: np.ndarray
    spend: np.ndarray
    templates: np.ndarray    # template id, -1 without one

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, index) -> "TextBatch":
        index = np.asarray(index, dtype=np.int64)
        return TextBatch([self.hashes[i] for i in index], [self.texts[i] for i in index],
                         [self.text_hashes[i] for i in index], self.requests[index], self.spend[index],
                         self.templates[index])


def template_id(kind: str, key: str) -> int:
    """Stable id of a template: hash of its kind and normalised text (or the system prompt's md5)."""
    from ..ingest.records import stable_id

    return stable_id("template", kind, key)


def _norm_sql(expr: str, chars: int) -> str:
    return (f"regexp_replace(regexp_replace(lower(trim(left(coalesce({expr}, ''), {chars}))), "
            f"'\\s+', ' ', 'g'), '[0-9]+', '0', 'g')")


def prepare_texts(con, *, min_template_requests: int, seed: int) -> PreparedTexts:
    """Build ``_cat_req`` and ``_cat_text`` from ``requests`` and detect the templates."""
    _base_table(con)
    n_requests = db.scalar(con, "select count(*) from _cat_base") or 0
    templates = _system_templates(con, min_template_requests)
    templates += _prefix_templates(con, min_template_requests, n_requests)
    _register_templates(con, templates)
    _request_table(con)
    con.execute(
        """
        create or replace temp table _cat_text as
        select rep_hash, any_value(rep) as rep, md5(any_value(rep)) as text_hash, count(*) as requests,
               sum(spend) as spend, any_value(template_id) as template_id, min(id) as request_id,
               md5(? || ':' || rep_hash) as draw
        from _cat_req where rep_hash is not null
        group by rep_hash
        """,
        [str(seed)],
    )
    con.execute("alter table _cat_req drop column rep")
    con.execute("drop table _cat_base")
    return PreparedTexts(int(n_requests), int(db.scalar(con, "select count(*) from _cat_text") or 0), templates)


def _base_table(con) -> None:
    tag_paths = ", ".join(f"json_extract_string(tags_json, '$.{k}')" for k in WORKLOAD_TAGS)
    prop_paths = ", ".join(f"json_extract_string(tags_json, '$.properties.{k}')" for k in WORKLOAD_TAGS[:7])
    con.execute(
        f"""
        create or replace temp table _cat_base as
        select id,
               case when sys_full <> '' then md5(sys_full) end as sys_hash,
               left(sys_full, {SYSTEM_HEAD_CHARS}) as sys_head,
               md5(usr_full) as usr_hash,
               left(usr_full, 800) as usr_text,
               left(usr_full, {PREFIX_KEY_CHARS}) as prefix_key,
               length(usr_full) as usr_len,
               tag_key, user_id
        from (
            select id, {_norm_sql('system_prompt', 2000)} as sys_full, {_norm_sql('prompt_text', 1000)} as usr_full,
                   case when json_valid(tags_json) then nullif(trim(coalesce({tag_paths}, {prop_paths})), '') end
                       as tag_key,
                   nullif(trim(user_id), '') as user_id
            from requests
            where operation is distinct from 'embeddings'  -- priced, but no prompt a local chat model would answer
        )
        """
    )


def _system_templates(con, min_requests: int) -> list[dict]:
    found = db.dicts(
        con,
        """
        select sys_hash, any_value(sys_head) as head
        from _cat_base where sys_hash is not null
        group by sys_hash having count(*) >= ? and count(distinct usr_hash) >= 2
        """,
        [min_requests],
    )
    if not found:
        return []
    originals = dict(db.rows(
        con,
        """
        select b.sys_hash, any_value(left(trim(r.system_prompt), 300))
        from _cat_base b join requests r on r.id = b.id
        where b.sys_hash in (select unnest(?::varchar[])) group by 1
        """,
        [[t["sys_hash"] for t in found]],
    ))
    return [{"kind": "system", "key": t["sys_hash"], "text": t["head"],
             "display": " ".join((originals.get(t["sys_hash"]) or t["head"]).split())} for t in found]


def _prefix_templates(con, min_requests: int, n_requests: int) -> list[dict]:
    """User turns that open with the same instructions: groups by the first 40 normalised chars, then the
    prefix most members share (>= 90% of a sample), cut at a word boundary."""
    floor = max(min_requests, int(0.0005 * n_requests))
    keys = [g[0] for g in db.rows(
        con,
        f"""
        select prefix_key, count(*) as n from _cat_base
        where usr_len > {PREFIX_KEY_CHARS + 10}
        group by prefix_key
        having count(*) >= ? and count(distinct usr_hash) >= greatest(2, least(count(*) / 4, 50))
        order by n desc limit 200
        """,
        [floor],
    )]
    if not keys:
        return []
    texts_by_key: dict[str, list[str]] = {}
    for key, text in db.rows(
        con,
        """
        select prefix_key, usr_text from (
            select prefix_key, usr_text, row_number() over (partition by prefix_key order by usr_hash) as rn
            from (select distinct prefix_key, usr_hash, usr_text from _cat_base
                  where prefix_key in (select unnest(?::varchar[])))
        ) where rn <= 200
        """,
        [keys],
    ):
        texts_by_key.setdefault(key, []).append(text)
    out = []
    for key in keys:
        prefix = shared_prefix(texts_by_key.get(key, []))
        if prefix and len(prefix) >= PREFIX_KEY_CHARS:
            out.append({"kind": "user_prefix", "key": prefix, "text": prefix,
                        "display": prefix[:1].upper() + prefix[1:]})
    return out


def shared_prefix(texts: list[str], coverage: float = 0.9) -> str | None:
    """The longest prefix (ending at a word boundary) that at least ``coverage`` of ``texts`` start with
    and that leaves a non-empty remainder for most of them."""
    if len(texts) < 2:
        return None
    need = math.ceil(coverage * len(texts))

    def best_at(length: int) -> tuple[str, int]:
        counts: dict[str, int] = {}
        for t in texts:
            if len(t) >= length:
                counts[t[:length]] = counts.get(t[:length], 0) + 1
        if not counts:
            return "", 0
        p = max(counts, key=lambda c: counts[c])
        return p, counts[p]

    low, high = 1, max(len(t) for t in texts)
    found = ""
    while low <= high:
        mid = (low + high) // 2
        p, count = best_at(mid)
        if count >= need:
            found, low = p, mid + 1
        else:
            high = mid - 1
    if not found:
        return None
    cut = max(found.rfind(" "), found.rfind(":"), found.rfind("\n"))
    candidate = (found if len(found) == high or cut < 0 else found[: cut + 1]).rstrip()
    remainders = sum(1 for t in texts if t.startswith(candidate) and len(t) > len(candidate) + 3)
    return candidate if remainders >= need else None


def _register_templates(con, templates: list[dict]) -> None:
    con.execute("create or replace temp table _cat_sys_tpl (sys_hash varchar, template_id bigint)")
    con.execute("create or replace temp table _cat_prefix_tpl (prefix_key varchar, prefix varchar, template_id bigint)")
    system = [[t["key"], template_id("system", t["key"])] for t in templates if t["kind"] == "system"]
    prefix = [[t["key"][:PREFIX_KEY_CHARS], t["key"], template_id("user_prefix", t["key"])]
              for t in templates if t["kind"] == "user_prefix"]
    if system:
        con.executemany("insert into _cat_sys_tpl values (?, ?)", system)
    if prefix:
        con.executemany("insert into _cat_prefix_tpl values (?, ?, ?)", prefix)


def representation_sql() -> str:
    """The text a request is embedded by, over ``b`` (the base columns), ``st`` and ``pt`` (its system and prefix
    templates, joined by :func:`template_joins_sql`): what follows a template, else the system head and user turn.
    ``plan route`` builds new prompts' texts with the same expression, so both place a prompt alike."""
    return f"""case
                     when b.sys_head = '' and b.usr_len = 0 then null
                     when pt.prefix is not null then
                         left(trim(substr(b.usr_text, length(pt.prefix) + 1)), {USER_CHARS_WITH_TEMPLATE})
                     when st.template_id is not null then left(b.usr_text, {USER_CHARS_WITH_TEMPLATE})
                     else case when b.sys_head <> '' then b.sys_head || ' | ' else '' end || left(b.usr_text, {USER_CHARS})
                   end"""


def template_joins_sql(system_templates: str, prefix_templates: str) -> str:
    """Joins ``b`` to its system template ``st`` (by hash) and user-prefix template ``pt`` (by key and prefix)."""
    return (f"left join {system_templates} st on st.sys_hash = b.sys_hash\n"
            f"            left join {prefix_templates} pt on pt.prefix_key = b.prefix_key and starts_with(b.usr_text, pt.prefix)")


def _request_table(con) -> None:
    """``_cat_req``: each request's representation, template and workload key (template, else an application
    tag, else its user when few users send all the traffic), and its spend in the full traffic (1/sample_rate)."""
    users = db.scalar(con, "select count(distinct user_id) from _cat_base") or 0
    by_user = "b.user_id" if 2 <= users <= MAX_WORKLOAD_USERS else "null"
    con.execute(
        f"""
        create or replace temp table _cat_req as
        select q.id, coalesce(q.sys_template, q.prefix_template) as template_id,
               case when q.sys_template is not null or q.prefix_template is not null
                        then 'template:' || cast(coalesce(q.sys_template, q.prefix_template) as varchar)
                    when q.tag_key is not null then 'tag:' || q.tag_key
                    when q.user_key is not null then 'user:' || q.user_key end as workload_key,
               case when q.rep is not null
                    then md5(coalesce(cast(coalesce(q.sys_template, q.prefix_template) as varchar), '') || '|' || q.rep)
               end as rep_hash, q.rep,
               coalesce(r.cost_usd, 0) * {weight('r')} as spend, r.cost_usd is null as unpriced
        from (
            select b.id, st.template_id as sys_template, pt.template_id as prefix_template, b.tag_key,
                   {by_user} as user_key,
                   {representation_sql()} as rep
            from _cat_base b
            {template_joins_sql('_cat_sys_tpl', '_cat_prefix_tpl')}
        ) q join requests r on r.id = q.id
        """
    )


def fetch_texts(con, where: str = "", params=None) -> TextBatch:
    """Distinct texts from ``_cat_text`` (``where`` may order and limit)."""
    table = con.sql(f"select rep_hash, rep, text_hash, requests, spend, coalesce(template_id, -1) as template_id "
                    f"from _cat_text {where}", params=params or None).to_arrow_table()
    return TextBatch(
        table.column("rep_hash").to_pylist(),
        table.column("rep").to_pylist(),
        table.column("text_hash").to_pylist(),
        table.column("requests").to_numpy(),
        np.nan_to_num(table.column("spend").to_numpy(zero_copy_only=False).astype(np.float64)),
        table.column("template_id").to_numpy(zero_copy_only=False).astype(np.int64),
    )
