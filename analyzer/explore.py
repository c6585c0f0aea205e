"""Exploration helpers for the notebooks in ``notebooks/``: the same DuckDB file, read-only, as polars DataFrames.

Everything here reads; nothing writes. Open the store with ``connect_readonly(path)`` and pass the
connection around::

    from analyzer import explore
    con = explore.connect_readonly("plan.duckdb")
    explore.spend_by_model(con)                      # polars DataFrame
    pv = explore.prompt_vectors(con)                 # cached embeddings in categorize's clustering space
    explore.plot_map(explore.project(pv))            # 2-D map coloured by category
    explore.k_sweep(pv, [5, 10, 20])                 # silhouette and stability per k
    explore.what_if(con, electricity_usd_per_kwh=[0.1, 0.3], target=[0.7, 0.9])

Every frame and dict a helper returns goes through the output gate (``analyzer.output``): secrets and personal
data become placeholders such as [EMAIL] (``redact=False`` on the example helpers keeps them, for a local
notebook only) and terminal control characters are removed.
``run_notebooks`` executes the notebooks headless (``plan notebook --run``).
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from . import categorize as cat
from . import db
from .errors import PlanError
from .output import gate_frame, gated
from .sampling import sampling_summary, weight

WEIGHT = weight()  # how many calls of the full traffic a row stands for (analyzer/sampling.py)

NOTEBOOKS = ("01_explore_workload.ipynb", "02_tune_categories.ipynb", "03_savings_what_if.ipynb",
             "04_workload_intents.ipynb")
NOTEBOOK_DB_DEFAULT = "../plan.duckdb"  # what the notebooks open when PLAN_DB is unset (Jupyter runs them in notebooks/)
DAY_GROUPS = {"model": "coalesce(r.model, '(no model)')", "provider": "coalesce(r.provider, '(unknown)')",
              "source_format": "coalesce(r.source_format, '(unknown)')", "category": "coalesce(c.name, 'Not categorised')"}
TEXT_CHARS = 600
NAME_CHARS = 40
OTHER_COLOUR = "#b0b0b0"


# --------------------------------------------------------------------------------------------------------
# Opening the store


def connect_readonly(path: str | os.PathLike | None = None):
    """A read-only connection (several notebooks can read at once; nothing can be written by mistake).
    DuckDB allows no reader while another process writes, so stop a running `plan` command first."""
    path = str(path or db.default_db_path())
    if path != ":memory:" and not Path(path).exists():
        raise PlanError(
            f"No database at {Path(path).resolve()}. Run `make demo` in the repository root (it writes plan.duckdb), "
            "or point PLAN_DB (or the DB variable at the top of the notebook) at your own file."
        )
    try:
        return db.connect(path, read_only=True)
    except PlanError as exc:
        raise PlanError(f"{exc}. Is a `plan` command writing to it right now? DuckDB lets nobody read while it writes.") from exc


def _frame(con, sql: str, params: Sequence[Any] | None = None):
    """A query result as a polars DataFrame, through Arrow."""
    import polars as pl

    return pl.from_arrow(con.sql(sql, params=list(params) if params else None).to_arrow_table())


def _has_rows(con, table: str) -> bool:
    return db.table_exists(con, table) and bool(db.scalar(con, f"select count(*) from (select 1 from {table} limit 1)"))


def stages(con) -> dict[str, bool]:
    """Which pipeline stages have left data in the store."""
    return {
        "ingest": _has_rows(con, "requests"),
        "categorize": _has_rows(con, "categories"),
        "replay": _has_rows(con, "replays"),
        "judge": _has_rows(con, "category_acceptance"),
        "privacy": _has_rows(con, "privacy_scans"),
    }


@gated()
def overview(con) -> dict:
    """Requests, window, tokens and spend, plus which stages have run (a compact ``plan status``). ``requests`` and
    ``spend_usd`` are the logs' own; ``estimated_requests`` and ``estimated_spend_usd`` the full traffic's when the
    logs are a sample (each request counting 1/sample_rate; ``sampling`` says how). Spend is None when unknown."""
    r = db.dicts(
        con,
        f"""
        select count(*) as requests, min(created_at) as first_at, max(created_at) as last_at,
               count(distinct model) as models, count(distinct source_format) as formats,
               coalesce(sum(input_tokens), 0)::bigint as input_tokens, coalesce(sum(output_tokens), 0)::bigint as output_tokens,
               sum(cost_usd) as spend_usd, count(*) filter (where cost_usd is null) as unpriced_requests,
               sum({WEIGHT}) as estimated_requests, sum(cost_usd * {WEIGHT}) as estimated_spend_usd
        from requests
        """,
    )[0]
    window = (r["last_at"] - r["first_at"]).total_seconds() / 86400 if r["first_at"] and r["last_at"] else None
    sampling = sampling_summary(con)
    out = {**r, "window_days": window, "stages": stages(con), "sampled": sampling["sampled"],
           "sampling": sampling["sentence"]}
    if out["stages"]["categorize"]:
        out["categories"] = db.scalar(con, "select count(*) from categories where coalesce(named, true)")
        out["k"] = db.scalar(con, "select max(k) from categories")
        out["embedder"] = db.scalar(con, "select any_value(embedder) from categories")
    return out


def _require(con, table: str, command: str) -> None:
    if not _has_rows(con, table):
        raise PlanError(f"Table {table} is empty: run `{command}` first (or `make demo` for the sample data).")


# --------------------------------------------------------------------------------------------------------
# Spend and volume


@gated()
def spend_by_model(con):
    """Per model: requests, tokens, spend and shares, cost per 1,000 requests, unpriced requests, dates.
    ``requests`` and ``spend_usd`` are the logs' own; ``estimated_requests`` and ``estimated_spend_usd`` the full
    traffic's (1/sample_rate each), which the shares and the order follow. Spend is None where no request is priced."""
    _require(con, "requests", "plan ingest PATH")
    return _frame(
        con,
        f"""
        select coalesce(model, '(no model)') as model, any_value(provider) as provider, count(*) as requests,
               sum({WEIGHT}) as estimated_requests,
               sum({WEIGHT}) / sum(sum({WEIGHT})) over () as share_of_requests,
               coalesce(sum(input_tokens), 0)::bigint as input_tokens, coalesce(sum(cached_input_tokens), 0)::bigint as cached_input_tokens,
               coalesce(sum(output_tokens), 0)::bigint as output_tokens, sum(cost_usd) as spend_usd,
               sum(cost_usd * {WEIGHT}) as estimated_spend_usd,
               sum(cost_usd * {WEIGHT}) / nullif(sum(sum(cost_usd * {WEIGHT})) over (), 0) as share_of_spend,
               1000 * sum(cost_usd) / count(cost_usd) as usd_per_1k_requests,
               count(*) filter (where cost_usd is null) as unpriced_requests,
               min(created_at) as first_at, max(created_at) as last_at
        from requests group by 1 order by estimated_spend_usd desc nulls last, requests desc, model
        """,
    )


@gated()
def spend_by_day(con, by: str | None = None):
    """Per UTC day (and per ``by``: model, provider, source_format or category): requests, tokens, spend (the
    logs' own, and ``estimated_*`` for the full traffic when the logs are a sample). Long format;
    ``df.pivot(on=by, index="day", values="estimated_spend_usd")`` gives one column per group."""
    if by is not None and by not in DAY_GROUPS:
        raise PlanError(f"spend_by_day(by=...) takes one of {', '.join(DAY_GROUPS)}, not {by!r}.")
    _require(con, "requests", "plan ingest PATH")
    join = ""
    if by == "category":
        if not _has_rows(con, "categories"):
            raise PlanError("No categories yet: run `plan categorize` first.")
        join = ("left join request_categories rc on rc.request_id = r.id "
                "left join categories c on c.category_id = rc.category_id")
    group = f"{DAY_GROUPS[by]} as {by}, " if by else ""
    return _frame(
        con,
        f"""
        select cast(date_trunc('day', r.created_at) as date) as day, {group}
               count(*) as requests, coalesce(sum(r.input_tokens), 0)::bigint as input_tokens,
               coalesce(sum(r.output_tokens), 0)::bigint as output_tokens, sum(r.cost_usd) as spend_usd,
               sum({weight('r')}) as estimated_requests, sum(r.cost_usd * {weight('r')}) as estimated_spend_usd
        from requests r {join}
        where r.created_at is not null
        group by all order by all
        """,
    )


@gated()
def spend_by_category(con):
    """The categories as categorize stored them, with acceptance and decision when judge has run and the
    share of requests with sensitive-data findings when privacy has scanned. Other comes last."""
    _require(con, "categories", "plan categorize")
    frame = _frame(
        con,
        """
        select category_id, spend_rank, name, level, task_type, requests, share_of_requests, spend_usd, share_of_spend,
               share_of_spend_ci_low, share_of_spend_ci_high, input_tokens, output_tokens, unpriced_requests,
               coalesce(is_other, false) as is_other, array_to_string(keywords[1:5], ', ') as keywords, models_json,
               first_at, last_at
        from categories where coalesce(named, true)
        order by coalesce(is_other, false), spend_usd desc, category_id
        """,
    )
    import polars as pl

    frame = frame.with_columns(
        pl.col("models_json").map_elements(lambda s: ", ".join(m["model"] for m in json.loads(s or "[]")[:3]),
                                           return_dtype=pl.String).alias("models"),
    ).drop("models_json")
    if _has_rows(con, "category_acceptance"):
        acc = _frame(con, "select category_id, n, passed, acceptance, ci_low, ci_high, decision from category_acceptance")
        frame = frame.join(acc, on="category_id", how="left")
    if _has_rows(con, "privacy_scans"):
        from .privacy import category_sensitivity

        rows = [{"category_id": r["category_id"], "sensitive_share": r["sensitive_share"]} for r in category_sensitivity(con)]
        if rows:
            frame = frame.join(pl.DataFrame(rows, schema={"category_id": frame.schema["category_id"], "sensitive_share": pl.Float64}),
                               on="category_id", how="left")
    return frame


def category_tree(con):
    """Every category of the hierarchy, workloads first (by spend), each followed by its intents (by spend):
    level, parent, whether it is one of the named categories (decisions are made for those), figures and
    keywords. ``named_level`` says which level ``plan categorize`` named."""
    _require(con, "categories", "plan categorize")
    return _frame(
        con,
        """
        with nodes as (
            select c.category_id, c.level, c.parent_id, c.name, coalesce(c.named, true) as named, c.spend_rank,
                   c.task_type, c.requests, c.share_of_requests, c.spend_usd, c.share_of_spend, c.stability,
                   c.workload_source, array_to_string(c.keywords[1:5], ', ') as keywords, c.named_level,
                   coalesce(p.spend_usd, c.spend_usd) as workload_spend, coalesce(c.parent_id, c.category_id) as workload_id
            from categories c left join categories p on p.category_id = c.parent_id
            where coalesce(c.level, 'intent') <> 'other'
        )
        select n.category_id, n.level, n.parent_id, p.name as parent, n.name, n.named, n.spend_rank, n.task_type,
               n.requests, n.share_of_requests, n.spend_usd, n.share_of_spend, n.stability, n.workload_source,
               n.keywords, n.named_level
        from nodes n left join categories p on p.category_id = n.parent_id
        order by n.workload_spend desc, n.workload_id, n.level = 'intent', n.spend_usd desc, n.category_id
        """,
    )


def intents_of(con, category_id: int):
    """The intents beneath one category: a workload's intents (by spend, with their share of the workload's
    spend); for an intent, the intents of its workload. Drill down from ``spend_by_category``."""
    _require(con, "categories", "plan categorize")
    row = db.dicts(con, "select level, parent_id from categories where category_id = ?", [category_id])
    if not row:
        ids = [r[0] for r in db.rows(con, "select category_id from categories order by category_id")]
        raise PlanError(f"No category {category_id}; the categories are {ids}.")
    parent = category_id if row[0]["level"] == "workload" else row[0]["parent_id"]
    if parent is None:
        raise PlanError(f"Category {category_id} has no workload above it (it is {row[0]['level']}).")
    frame = _frame(
        con,
        """
        select category_id, name, named, task_type, requests, spend_usd,
               spend_usd / nullif(sum(spend_usd) over (), 0) as share_of_workload_spend, share_of_spend,
               stability, array_to_string(keywords[1:6], ', ') as keywords
        from categories where parent_id = ? and level = 'intent'
        order by spend_usd desc, requests desc, category_id
        """,
        [parent],
    )
    return frame.join(intent_acceptance(con), on="category_id", how="left") if len(frame) else frame


MIN_INTENT_REPLAYS = 10  # judged answers an intent needs before its own acceptance is shown


def intent_acceptance(con, min_replays: int = MIN_INTENT_REPLAYS):
    """Per intent: judged answers (replays that returned an answer; failed calls are not answers), how many
    passed every check that applied, and the acceptance with its 95% Wilson interval once the intent has at
    least ``min_replays`` of them (None before: too few to say). Decisions stay per named category."""
    import polars as pl

    from .stats import wilson_interval

    schema = {"category_id": pl.Int32, "judged_answers": pl.Int64, "passed_answers": pl.Int64,
              "acceptance": pl.Float64, "acceptance_low": pl.Float64, "acceptance_high": pl.Float64}
    if not (_has_rows(con, "judgments") and _has_rows(con, "request_categories")):
        return pl.DataFrame(schema=schema)
    rows = db.rows(
        con,
        """
        select rc.intent_id, count(*) as n, count(*) filter (where v.passed) as passed from (
            select j.replay_id, any_value(j.request_id) as request_id, bool_and(j.passed) as passed
            from judgments j join replays r on r.id = j.replay_id
            where j.passed is not null and r.error is null and r.output_text is not null
            group by j.replay_id
        ) v join request_categories rc on rc.request_id = v.request_id
        where rc.intent_id is not null group by 1
        """,
    )
    out = []
    for intent_id, n, passed in rows:
        low, high = wilson_interval(passed, n) if n >= min_replays else (None, None)
        out.append({"category_id": intent_id, "judged_answers": n, "passed_answers": passed,
                    "acceptance": passed / n if n >= min_replays else None, "acceptance_low": low,
                    "acceptance_high": high})
    return pl.DataFrame(out, schema=schema)


# A request belongs to a category at any level: its named category, its intent, or the workload above its intent.
_MEMBERS = ("(rc.category_id = ? or rc.intent_id = ? or rc.intent_id in "
            "(select category_id from categories where parent_id = ?))")


# --------------------------------------------------------------------------------------------------------
# Browsing a category


def category_examples(con, category_id: int, n: int = 5, *, redact: bool = True, order: str = "nearest",
                      seed: int = 0, chars: int = TEXT_CHARS):
    """Distinct prompts of one category with the frontier answer: the ones nearest the category's centre
    (``order="nearest"``, as categorize measured them) or a seeded random draw (``order="random"``)."""
    _require(con, "categories", "plan categorize")
    if order not in ("nearest", "random"):
        raise PlanError("order must be 'nearest' or 'random'.")
    ranking = "rc.distance nulls last, r.id" if order == "nearest" else "md5(? || cast(r.id as varchar))"
    params: list = [category_id] * 3 + ([str(seed)] if order == "random" else []) + [n]
    rows = db.dicts(
        con,
        f"""
        select request_id, model, created_at, cost_usd, distance, system_prompt, prompt, response from (
            select r.id as request_id, r.model, r.created_at, r.cost_usd, rc.distance, r.system_prompt,
                   r.prompt_text as prompt, r.response_text as response,
                   row_number() over (partition by md5(coalesce(r.system_prompt, '') || '|' || coalesce(r.prompt_text, ''))
                                      order by r.id) as copy
            from request_categories rc join requests r on r.id = rc.request_id
            where {_MEMBERS}
            qualify copy = 1
            order by {ranking}
        ) limit ?
        """,
        params,
    )
    return _examples_frame(rows, ("system_prompt", "prompt", "response"), redact, chars)


@gated()
def category_replays(con, category_id: int, n: int = 5, *, redact: bool = True, failed_only: bool = False,
                     chars: int = TEXT_CHARS):
    """Replayed requests of one category: prompt, frontier answer, local answer, the verdict and the reasons
    of the checks that failed. Empty when nothing was replayed."""
    import polars as pl

    if not _has_rows(con, "replays"):
        return pl.DataFrame()
    judged = _has_rows(con, "judgments")
    verdict = (
        """, (select bool_and(passed) from judgments j where j.replay_id = rp.id and j.passed is not null) as passed,
             (select string_agg(j.check_name || ': ' || coalesce(j.reason, ''), '; ')
              from judgments j where j.replay_id = rp.id and j.passed = false) as failures"""
        if judged else ", null::boolean as passed, null::varchar as failures"
    )
    rows = db.dicts(
        con,
        f"""
        select * from (
            select rp.id as replay_id, rp.request_id, rp.model as local_model, r.prompt_text as prompt,
                   r.response_text as frontier_answer, coalesce(rp.output_text, '[error] ' || rp.error) as local_answer
                   {verdict}
            from replays rp join requests r on r.id = rp.request_id
            where coalesce(rp.category_id, (select category_id from request_categories x where x.request_id = rp.request_id)) = ?
        ) {'where passed = false' if failed_only else ''}
        order by passed nulls last, replay_id limit ?
        """,
        [category_id, n],
    )
    return _examples_frame(rows, ("prompt", "frontier_answer", "local_answer", "failures"), redact, chars)


def _examples_frame(rows: list[dict], text_columns: Sequence[str], redact: bool, chars: int):
    """Rows of log text as a frame: redacted as one document first (a value recognised in a prompt leaves the
    answer that repeats it), then clipped (a cut could split a secret and hide it from the detector)."""
    import polars as pl

    from .redact import redact_many
    from .report import clip

    cells = [(row, key) for row in rows for key in text_columns if row.get(key) is not None]
    texts = [str(row[key]) for row, key in cells]
    for (row, key), text in zip(cells, redact_many(texts) if redact else texts, strict=True):
        row[key] = clip(text, chars)
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


@gated()
def category_card(con, category_id: int) -> dict:
    """Everything stored about one category: name, task type and why, keywords, figures, decision."""
    _require(con, "categories", "plan categorize")
    rows = db.dicts(con, "select * from categories where category_id = ?", [category_id])
    if not rows:
        ids = [r[0] for r in db.rows(con, "select category_id from categories order by category_id")]
        raise PlanError(f"No category {category_id}; the categories are {ids}.")
    card = rows[0]
    for key in ("examples_json", "models_json"):
        card[key.removesuffix("_json")] = json.loads(card.pop(key) or "[]")
    card["keywords"] = list(card.get("keywords") or [])
    card.pop("examples", None)  # category_examples shows them, redacted
    if _has_rows(con, "category_acceptance"):
        acc = db.dicts(con, "select n, passed, acceptance, ci_low, ci_high, decision, decision_reason, checks_json, "
                            "failure_reasons_json from category_acceptance where category_id = ?", [category_id])
        if acc:
            a = acc[0]
            a["checks"] = json.loads(a.pop("checks_json") or "{}")
            a["failure_reasons"] = json.loads(a.pop("failure_reasons_json") or "[]")
            card["acceptance"] = a
    return card


# --------------------------------------------------------------------------------------------------------
# Prompt vectors: the embeddings categorize cached, in the space it clusters in


@dataclass
class PromptVectors:
    """One row per distinct prompt text (categorize's representation) that has a vector. ``vectors`` are in
    categorize's clustering space: [content embedding, template embedding], L2-normalised."""

    # polars: rep_hash, text, request_id, requests, spend_usd, template_id, category_id, category, cluster. The text is
    # kept as stored (the vectors are its embedding, and naming reads it); what is shown of it (project, compare_k)
    # goes through the output gate.
    frame: Any
    vectors: np.ndarray
    embedder: str
    distinct_texts: int  # distinct texts in the store, with or without a vector
    encoded_now: int = 0  # texts encoded in memory because no vector was cached
    templates: int = 0
    params: dict = field(default_factory=dict)
    template_names: dict = field(default_factory=dict)  # template_id -> its opening text, as categorize names from it

    def __len__(self) -> int:
        return len(self.vectors)

    def describe(self) -> str:
        missing = self.distinct_texts - len(self)
        text = f"{len(self):,} of {self.distinct_texts:,} distinct prompts have {self.embedder} vectors"
        if missing:
            text += (f"; {missing:,} have none cached (categorize embedded a sample and assigned the rest cheaply; "
                     "prompt_vectors(con, encode_missing=True) encodes them in memory)")
        if self.encoded_now:
            text += f"; {self.encoded_now:,} encoded now, in memory"
        return text + f". {self.templates} shared prompt templates."


def _categorize_params(con) -> dict:
    params = {"seed": 0, "min_template_requests": cat.CategorizeSettings().min_template_requests, "embedder": None, "top": 10}
    if db.table_exists(con, "stage_runs"):
        raw = db.scalar(con, "select arg_max(params_json, finished_at) from stage_runs where stage = 'categorize'")
        if raw:
            params.update({k: v for k, v in json.loads(raw).items() if v is not None})
    stored = db.scalar(con, "select any_value(embedder) from categories") if db.table_exists(con, "categories") else None
    params["embedder"] = stored or params["embedder"]
    return params


def _cached_vectors(con, hashes: list[str], embedder: str) -> dict[str, np.ndarray]:
    import pyarrow as pa

    if not hashes:
        return {}
    view = f"_explore_hashes_{os.getpid()}"
    con.register(view, pa.table({"h": pa.array(hashes, pa.string())}))
    try:
        table = con.sql(f"select e.content_hash, e.vector from embeddings e join {view} w on w.h = e.content_hash "
                        "where e.embedder = ?", params=[embedder]).to_arrow_table()
    finally:
        con.unregister(view)
    if not table.num_rows:
        return {}
    flat = np.asarray(table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    matrix = flat.reshape(table.num_rows, -1)
    return {h: matrix[i] for i, h in enumerate(table.column("content_hash").to_pylist())}


def prompt_vectors(con, *, max_texts: int | None = None, encode_missing: bool = False, seed: int | None = None):
    """The distinct prompt texts categorize clustered, with their cached vectors, their category and their
    requests and spend. Reads only: texts without a cached vector are left out unless ``encode_missing``
    (encoded in memory, never stored; an embedder that caches nothing, such as static-minilm, is always
    re-encoded). ``max_texts`` keeps a seeded uniform sample (categorize's own draw order)."""
    from .embedders import content_hash, get_embedder

    _require(con, "categories", "plan categorize")
    params = _categorize_params(con)
    if seed is not None:
        params["seed"] = seed
    embedder_name = params["embedder"] or "all-MiniLM-L6-v2"
    embedder = get_embedder(embedder_name)
    encode = encode_missing or not getattr(embedder, "cacheable", True)
    prep = cat.prepare_texts(con, min_template_requests=int(params["min_template_requests"]), seed=int(params["seed"]))
    try:
        total = db.scalar(con, "select count(*) from _cat_text") or 0
        has_cats = _has_rows(con, "request_categories")
        cat_join = (
            """
            left join (
                select q.rep_hash, mode(rc.category_id) as category_id, mode(rc.cluster) as cluster
                from _cat_req q join request_categories rc on rc.request_id = q.id
                where q.rep_hash is not null group by 1
            ) rc on rc.rep_hash = t.rep_hash
            left join categories c on c.category_id = rc.category_id
            """ if has_cats else ""
        )
        cat_cols = ("rc.category_id, coalesce(c.name, 'Not categorised') as category, rc.cluster"
                    if has_cats else "null::integer as category_id, 'Not categorised' as category, null::bigint as cluster")
        cached = ("exists (select 1 from embeddings e where e.content_hash = t.text_hash and e.embedder = ?)"
                  if not encode else "true")
        sql = f"""
            select t.rep_hash, t.rep as text, t.text_hash, t.request_id, t.requests, t.spend as spend_usd,
                   t.template_id, {cat_cols}
            from _cat_text t {cat_join}
            where {cached}
            order by t.draw {'limit ?' if max_texts else ''}
        """
        args = ([] if encode else [embedder.name]) + ([int(max_texts)] if max_texts else [])
        frame = _frame(con, sql, args)
    finally:
        for table in cat.TEMP_TABLES:
            con.execute(f"drop table if exists {table}")

    texts = frame["text"].to_list()
    hashes = frame["text_hash"].to_list()
    found = {} if not getattr(embedder, "cacheable", True) else _cached_vectors(con, hashes, embedder.name)
    todo = [i for i, h in enumerate(hashes) if h not in found]
    encoded = embedder.encode([texts[i] for i in todo]) if todo else None
    dim = (next(iter(found.values())).shape[0] if found else (encoded.shape[1] if encoded is not None else 0))
    content = np.zeros((len(texts), dim), dtype=np.float32)
    for i, h in enumerate(hashes):
        if h in found:
            content[i] = found[h]
    if encoded is not None:
        for j, i in enumerate(todo):
            content[i] = encoded[j]

    template_vectors: dict[int, np.ndarray] = {}
    if prep.templates and len(texts):
        ttexts = [t["text"] for t in prep.templates]
        tfound = _cached_vectors(con, [content_hash(t) for t in ttexts], embedder.name) if getattr(embedder, "cacheable", True) else {}
        tmissing = [i for i, t in enumerate(ttexts) if content_hash(t) not in tfound]
        tencoded = embedder.encode([ttexts[i] for i in tmissing]) if (tmissing and encode) else None
        for i, t in enumerate(prep.templates):
            vec = tfound.get(content_hash(t["text"]))
            if vec is None and tencoded is not None and i in tmissing:
                vec = tencoded[tmissing.index(i)]
            if vec is not None:
                template_vectors[cat.template_id(t["kind"], t["key"])] = vec
    template_ids = frame["template_id"].fill_null(-1).to_numpy().astype(np.int64) if len(frame) else np.zeros(0, np.int64)
    space = cat.with_templates(cat.normalise(content), template_ids, template_vectors) if len(texts) else content
    names = {cat.template_id(t["kind"], t["key"]): " ".join((t.get("display") or t["text"]).split())[:200]
             for t in prep.templates}
    return PromptVectors(frame=frame.drop("text_hash"), vectors=space, embedder=embedder.name, distinct_texts=int(total),
                         encoded_now=len(todo), templates=len(prep.templates), params=params, template_names=names)


@gated()
def project(pv: PromptVectors, method: str = "pca", *, seed: int = 0, max_points: int | None = 5000):
    """A 2-D projection of the prompt vectors (``pca``, ``tsne`` or ``umap`` when umap-learn is installed),
    one row per distinct prompt with x, y and its category, requests and spend."""
    import polars as pl

    n = len(pv)
    if n < 3:
        raise PlanError(f"Only {n} prompt vectors: nothing to map. Run `plan categorize` on more data.")
    idx = np.arange(n)
    if max_points and n > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    x = pv.vectors[idx].astype(np.float64)
    method = method.lower()
    if method == "pca":
        from sklearn.decomposition import PCA

        xy = PCA(n_components=2, random_state=seed).fit_transform(x)
    elif method == "tsne":
        from sklearn.manifold import TSNE

        xy = TSNE(n_components=2, init="pca", metric="cosine", random_state=seed,
                  perplexity=float(min(30, max(2, (len(idx) - 1) // 3)))).fit_transform(x)
    elif method == "umap":
        try:
            import umap
        except ImportError as exc:
            raise PlanError("UMAP needs umap-learn: pip install umap-learn (or use method='pca' or 'tsne').") from exc
        xy = umap.UMAP(n_components=2, metric="cosine", random_state=seed).fit_transform(x)
    else:
        raise PlanError(f"method must be 'pca', 'tsne' or 'umap', not {method!r}.")
    return pv.frame[idx].with_columns(pl.Series("x", xy[:, 0]), pl.Series("y", xy[:, 1]))


def _colours(names: list[str]) -> dict[str, str]:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    palette = colormaps["tab10" if len(names) <= 10 else "tab20"]
    out, i = {}, 0
    for name in names:
        if name.startswith("Other") or name == "Not categorised":
            out[name] = OTHER_COLOUR
        else:
            out[name] = to_hex(palette(i % palette.N))
            i += 1
    return out


def _short(text: str, limit: int = NAME_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plot_map(points, *, colour_by: str = "category", size_by: str | None = "requests", ax=None, title: str | None = None):
    """Scatter of ``project(...)``, one colour per category (Other grey), point area by requests."""
    import matplotlib.pyplot as plt
    import polars as pl

    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 6.5))
    else:
        fig = ax.figure
    order = (points.group_by(colour_by).agg(pl.col("spend_usd").sum()).sort("spend_usd", descending=True)[colour_by].to_list())
    colours = _colours([str(o) for o in order])
    sizes = None
    if size_by:
        s = points[size_by].cast(pl.Float64).to_numpy()
        sizes = 8 + 60 * np.sqrt(s / max(s.max(), 1))
    for name in order:
        mask = (points[colour_by] == name).to_numpy()
        ax.scatter(points["x"].to_numpy()[mask], points["y"].to_numpy()[mask], s=None if sizes is None else sizes[mask],
                   c=colours[str(name)], alpha=0.65, linewidths=0, label=_short(str(name)))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"{len(points):,} distinct prompts, coloured by {colour_by}")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False, markerscale=1.5)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------------
# Choosing k


def _stability(x: np.ndarray, ks: list[int], seed: int, reps: int = 2, fraction: float = 0.7) -> dict[int, float]:
    """Per k, mean adjusted Rand index between two runs of categorize's clustering on different seeded 70%
    subsamples, each run assigning every prompt to its nearest centre (as categorize assigns the prompts it
    did not fit). One Ward tree per subsample serves every k, so the whole sweep costs a few trees."""
    from sklearn.metrics import adjusted_rand_score

    n = len(x)
    size = max(max(ks) + 1, int(n * fraction))
    scores: dict[int, list[float]] = {k: [] for k in ks}
    for rep in range(reps):
        runs = []
        for half in range(2):
            run_seed = seed + 1000 * rep + 1 + half
            idx = np.sort(np.random.default_rng(run_seed).choice(n, min(size, n), replace=False))
            runs.append(cat.Clusterer(x[idx], seed=run_seed))
        for k in ks:
            assigned = []
            for run in runs:
                _, centres = run.fit(k)
                assigned.append(cat.nearest(x, centres)[0])
            scores[k].append(float(adjusted_rand_score(*assigned)))
    return {k: float(np.mean(v)) for k, v in scores.items()}


def k_sweep(pv: PromptVectors, ks: Iterable[int] | None = None, *, seed: int = 0, stability: bool = True, top: int = 10):
    """Per k, categorize's own clustering (Ward-initialised KMeans on the same vectors) scored by:

    - ``silhouette``: mean cosine silhouette, what ``--k auto`` judges k by;
    - ``auto``: True on the k ``plan categorize --k auto`` would choose here (always in the sweep);
    - ``stability``: mean adjusted Rand index between runs with different seeds on two random 70%
      subsamples, each assigning every prompt to its nearest centre (1 = the same categories whatever the
      seed and the sample);
    - ``ari_vs_stored``: agreement with the clusters in the database;
    - ``top_share_of_spend``: spend the ``top`` largest-spend clusters hold (the rest would fold into Other);
    - ``smallest_cluster``: distinct prompts in the smallest cluster.

    ``ks`` defaults to the grid ``--k auto`` searches."""
    import polars as pl
    from sklearn.metrics import adjusted_rand_score

    x = pv.vectors
    if len(x) < 3:
        raise PlanError(f"Only {len(x)} prompt vectors: too few to compare values of k.")
    clusterer = cat.Clusterer(x, seed=seed)
    chosen, scores = cat.choose_k(x, top=top, seed=seed, clusterer=clusterer)  # the library's own rule
    known = {int(s["k"]): s["silhouette"] for s in scores}
    ks = sorted({int(k) for k in (ks if ks is not None else known)} | {int(chosen)})
    bad = [k for k in ks if k < 2 or k >= len(x)]
    if bad:
        raise PlanError(f"k must be between 2 and {len(x) - 1} here (the prompts with vectors); got {bad}.")
    stored = pv.frame["cluster"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    keep = ~np.isnan(stored) & (stored >= 0)
    spend = pv.frame["spend_usd"].fill_null(0).to_numpy().astype(np.float64)
    stable = _stability(x, ks, seed) if stability else {}
    rows = []
    for k in ks:
        labels, _ = clusterer.fit(k)
        by_cluster = np.bincount(labels, weights=spend, minlength=k)
        rows.append({
            "k": k,
            "silhouette": known[k] if known.get(k) is not None else cat.silhouette(x, labels, seed),
            "auto": k == chosen,
            "stability": stable.get(k),
            "ari_vs_stored": float(adjusted_rand_score(stored[keep], labels[keep])) if keep.any() else None,
            "top_share_of_spend": float(np.sort(by_cluster)[::-1][:top].sum() / spend.sum()) if spend.sum() > 0 else None,
            "smallest_cluster": int(np.bincount(labels, minlength=k).min()),
        })
    return pl.DataFrame(rows, schema={"k": pl.Int64, "silhouette": pl.Float64, "auto": pl.Boolean, "stability": pl.Float64,
                                      "ari_vs_stored": pl.Float64, "top_share_of_spend": pl.Float64,
                                      "smallest_cluster": pl.Int64})


def auto_k(sweep) -> int:
    """The k ``plan categorize --k auto`` would choose on the swept vectors (the ``auto`` row of ``k_sweep``)."""
    return int(sweep.filter(sweep["auto"])["k"][0])


@dataclass
class KComparison:
    k_a: int
    k_b: int
    a: Any  # polars: the categories at k_a (ranked by spend, the rest folded into Other)
    b: Any
    crosstab: Any  # polars: requests of each k_a category (rows) landing in each k_b category (columns)
    ari: float  # adjusted Rand index between the two clusterings (before folding)
    labels_a: np.ndarray
    labels_b: np.ndarray


def _categories_at(pv: PromptVectors, labels: np.ndarray, k: int, top: int):
    """Rank clusters by spend (requests break ties), keep ``top``, fold the rest into Other, and name them as
    categorize does (a dominant template's phrase, else c-TF-IDF keywords). Each row also names the stored
    category most of its requests are in now. Returns (frame, category name per prompt)."""
    import polars as pl

    from .naming import ctfidf_keywords, keyword_name, template_phrase, unique_names

    spend = pv.frame["spend_usd"].fill_null(0).to_numpy().astype(np.float64)
    requests = pv.frame["requests"].to_numpy().astype(np.float64)
    texts = pv.frame["text"].to_list()
    templates = pv.frame["template_id"].fill_null(-1).to_numpy().astype(np.int64)
    stored = np.array(pv.frame["category"].fill_null("Not categorised").to_list(), dtype=object)
    cluster_spend = np.bincount(labels, weights=spend, minlength=k)
    cluster_requests = np.bincount(labels, weights=requests, minlength=k)
    ranked = sorted(range(k), key=lambda c: (-cluster_spend[c], -cluster_requests[c], c))
    kept = [c for c in ranked[:top] if cluster_requests[c] > 0]
    rank_of = {c: i + 1 for i, c in enumerate(kept)}
    group = np.array([rank_of.get(int(c), 0) for c in labels])  # 0 = Other
    docs: dict[int, list[str]] = {}
    for text, g in zip(texts, group, strict=True):
        docs.setdefault(int(g), []).append(text)
    keywords = {g: [w for w, _ in kws] for g, kws in ctfidf_keywords(docs, 10).items()}

    def dominant(values: np.ndarray, weights: np.ndarray):
        totals: dict = {}
        for v, w in zip(values, weights, strict=True):
            totals[v] = totals.get(v, 0.0) + w
        best = max(totals, key=lambda v: totals[v])
        return best, totals[best] / max(sum(totals.values()), 1e-12)

    names = {}
    for g in rank_of.values():
        m = group == g
        tid, share = dominant(templates[m], requests[m])
        phrase = template_phrase(pv.template_names.get(int(tid), "")) if tid >= 0 and share >= 0.5 else None
        names[g] = phrase or keyword_name(keywords.get(g, [])) or f"Cluster {g}"
    names = unique_names(names, keywords)
    names[0] = f"Other ({k - len(kept)} clusters)"
    total_spend, total_requests = spend.sum(), requests.sum()
    rows = []
    for g in list(rank_of.values()) + ([0] if (group == 0).any() else []):
        m = group == g
        match, overlap = dominant(stored[m], requests[m])
        rows.append({
            "rank": g or None, "name": names[g], "keywords": ", ".join(keywords.get(g, [])[:6]),
            "prompts": int(m.sum()), "requests": int(requests[m].sum()),
            "share_of_requests": float(requests[m].sum() / total_requests) if total_requests else 0.0,
            "spend_usd": float(spend[m].sum()),
            "share_of_spend": float(spend[m].sum() / total_spend) if total_spend > 0 else 0.0,
            "stored_category": match, "stored_overlap": float(overlap),
            "example": _short(texts[int(np.argmax(m))], 120),
        })
    return pl.DataFrame(rows), np.array([names[int(g)] for g in group], dtype=object)


def compare_k(pv: PromptVectors, k_a: int, k_b: int, *, seed: int = 0, top: int = 10) -> KComparison:
    """Side by side: the categories categorize would make at ``k_a`` and at ``k_b`` (top ``top`` by spend
    plus Other), and where each ``k_a`` category's requests go at ``k_b``. Reads only."""
    import polars as pl
    from sklearn.metrics import adjusted_rand_score

    n = len(pv)
    for k in (k_a, k_b):
        if not 1 <= int(k) <= n:
            raise PlanError(f"k must be between 1 and {n} here (the prompts with vectors); got {k}.")
    clusterer = cat.Clusterer(pv.vectors, seed=seed)
    labels_a, _ = clusterer.fit(int(k_a))
    labels_b, _ = clusterer.fit(int(k_b))
    a, names_a = _categories_at(pv, labels_a, int(k_a), top)
    b, names_b = _categories_at(pv, labels_b, int(k_b), top)
    flows = pl.DataFrame({"a": names_a.tolist(), "b": names_b.tolist(), "requests": pv.frame["requests"]})
    cross = (flows.group_by("a", "b").agg(pl.col("requests").sum())
             .pivot(on="b", index="a", values="requests").fill_null(0))
    b_order = [c for c in b["name"].to_list() if c in cross.columns]
    order = {name: i for i, name in enumerate(a["name"].to_list())}
    cross = (cross.with_columns(pl.col("a").replace_strict(order, default=len(order)).alias("_order"))
             .sort("_order").drop("_order").select(["a"] + b_order).rename({"a": f"k={k_a} \\ k={k_b}"}))
    return KComparison(int(k_a), int(k_b), gate_frame(a), gate_frame(b), gate_frame(cross),
                       float(adjusted_rand_score(labels_a, labels_b)), labels_a, labels_b)


def plot_crosstab(cmp: KComparison, ax=None):
    """Heat map of ``compare_k(...).crosstab``: share of each k_a category's requests going to each k_b one."""
    import matplotlib.pyplot as plt

    table = cmp.crosstab
    rows = table[table.columns[0]].to_list()
    cols = table.columns[1:]
    counts = table.select(cols).to_numpy().astype(np.float64)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.2 + 0.55 * len(cols) + 3, 1.0 + 0.4 * len(rows) + 2))
    else:
        fig = ax.figure
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(cols)), [_short(c, 34) for c in cols], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [_short(r, 34) for r in rows], fontsize=8)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if shares[i, j] >= 0.05:
                ax.text(j, i, f"{shares[i, j]:.0%}", ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.6 else "#24292f")
    ax.set_xlabel(f"k = {cmp.k_b}")
    ax.set_ylabel(f"k = {cmp.k_a}")
    ax.set_title(f"Where each category's requests go (ARI {cmp.ari:.2f})")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------------
# Savings what-if


def _as_list(value) -> list:
    if value is None:
        return [None]
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return [value]
    return list(value) or [None]


@gated()
def what_if(con, *, hardware=None, electricity_usd_per_kwh=None, frontier_price_factor=None, target=None,
            maintenance_usd_per_month=None, config: dict | None = None):
    """``cost_model`` over every combination of the values given (each a value or a list; None keeps
    plan.toml's or the default), one row per combination. ``hardware=None`` means every profile, including
    ``[hardware.NAME]`` tables in ``config``. Columns: the inputs, the plan's monthly savings with its
    interval, boxes, up-front cost, payback months and cumulative net at 12/24/36 months; for each
    scenario (route, cascade, ceiling) its savings, boxes, payback and categories moved; and how many
    categories each decision holds at that target."""
    import polars as pl

    from . import decisions as dv
    from .cost import SCENARIOS, CostSettings, cost_model
    from .hardware import load_profiles

    config = copy.deepcopy(config or {})
    names = _as_list(hardware) if hardware is not None else list(load_profiles(config))
    rows = []
    axes = itertools.product(_as_list(electricity_usd_per_kwh), _as_list(frontier_price_factor), _as_list(target),
                             _as_list(maintenance_usd_per_month), names)
    for price, factor, tgt, maintenance, name in axes:
        cfg = copy.deepcopy(config)
        cost = cfg.setdefault("cost", {})
        for key, value in (("electricity_usd_per_kwh", price), ("frontier_price_factor", factor),
                           ("maintenance_usd_per_month", maintenance)):
            if value is not None:
                cost[key] = value
        payload = cost_model(con, CostSettings.resolve(cfg, hardware=name, target=tgt))
        hw = next(h for h in payload["hardware"] if h["selected"])
        decisions = [c["decision"] for c in payload["categories"] if c["category_id"] is not None]
        cumulative = payload["payback"]["cumulative_net_usd"] or {}
        row = {
            "hardware": hw["name"],
            "electricity_usd_per_kwh": payload["electricity_usd_per_kwh"],
            "frontier_price_factor": payload["frontier_price_factor"],
            "target": payload["acceptance_target"],
            "plan_scenario": payload["plan_scenario"],
            "monthly_spend_usd": (payload["monthly_spend_usd"] * payload["frontier_price_factor"]
                                  if payload["monthly_spend_usd"] is not None else None),
            "monthly_savings_usd": payload["monthly_savings_usd"],
            "monthly_savings_low_usd": payload["monthly_savings_low_usd"],
            "monthly_savings_high_usd": payload["monthly_savings_high_usd"],
        }
        for sc in SCENARIOS:
            row[f"{sc}_monthly_savings_usd"] = hw["scenarios"][sc]["monthly_savings_usd"]
            row[f"{sc}_boxes_needed"] = hw["scenarios"][sc]["boxes_needed"]
            row[f"{sc}_payback_months"] = hw["scenarios"][sc]["payback_months"]
            row[f"{sc}_categories_moved"] = payload["scenarios"][sc]["categories_moved"]
        row.update({
            "boxes_needed": hw["boxes_needed"],
            "fits": hw["fits"],
            "upfront_usd": hw["upfront_usd"],
            "payback_months": hw["payback_months"],
            "net_12_months_usd": cumulative.get("12"),
            "net_24_months_usd": cumulative.get("24"),
            "net_36_months_usd": cumulative.get("36"),
            "throughput_source": hw["throughput_source"],
            "local": sum(d in dv.MOVES_LOCAL for d in decisions),
            "cascade": decisions.count(dv.CASCADE),
            "frontier": decisions.count(dv.FRONTIER),
            "needs_judge": decisions.count(dv.NEEDS_JUDGE),
            "unmeasured": decisions.count(dv.NOT_MEASURED),
        })
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


@gated()
def payback_curves(payload: dict, *, scenario: str | None = None, months: int | None = None):
    """Month-by-month cumulative net savings of every hardware profile in a ``cost_model`` payload, for one
    scenario (default: the plan's), computed with ``cost.payback_curve``. Profiles that cannot carry the
    peak (more boxes than they allow) are left out."""
    import polars as pl

    from .cost import CURVE_MONTHS, SCENARIOS, payback_curve

    scenario = scenario or payload["plan_scenario"]
    if scenario not in SCENARIOS:
        raise PlanError(f"scenario must be one of {', '.join(SCENARIOS)}, not {scenario!r}.")
    rows = []
    for hw in payload["hardware"]:
        sc = hw["scenarios"][scenario]
        boxes = sc["boxes_needed"]
        if hw["max_boxes"] is not None and boxes > hw["max_boxes"]:
            continue
        for point in payback_curve(boxes * hw["price_usd"], sc["monthly_savings_usd"], hw["useful_life_months"],
                                   months or CURVE_MONTHS):
            rows.append({"hardware": hw["name"], "scenario": scenario, "boxes": boxes, **point,
                         "payback_months": sc["payback_months"]})
    return pl.DataFrame(rows, infer_schema_length=None)


def plot_payback(curves, ax=None, title: str | None = None):
    """Cumulative net savings per profile over the months, with each payback point marked."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 5))
    else:
        fig = ax.figure
    for (name,), part in curves.group_by("hardware", maintain_order=True):
        line, = ax.plot(part["month"].to_numpy(), part["net_usd"].to_numpy(), label=name)
        pay = part["payback_months"][0]
        if pay is not None and pay <= part["month"].max():
            ax.plot([pay], [0], "o", color=line.get_color())
            ax.annotate(f"{pay:.1f} mo", (pay, 0), textcoords="offset points", xytext=(4, 6), fontsize=8,
                        color=line.get_color())
    ax.axhline(0, color="#6e7781", linewidth=0.8)
    ax.set_xlabel("months")
    ax.set_ylabel("cumulative net savings, USD")
    scenario = curves["scenario"][0] if len(curves) else ""
    ax.set_title(title or f"Payback by hardware ({scenario} scenario)")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


@gated()
def cost_categories(payload: dict):
    """The per-category rows of a ``cost_model`` payload as a DataFrame (monthly figures, decision, savings)."""
    import polars as pl

    keys = ("category_id", "name", "task_type", "share_of_spend", "monthly_spend_usd", "monthly_requests", "n",
            "acceptance", "ci_low", "ci_high", "decision", "monthly_electricity_usd", "monthly_savings_usd",
            "monthly_savings_low_usd", "monthly_savings_high_usd")
    return pl.DataFrame([{k: c.get(k) for k in keys} for c in payload["categories"]], infer_schema_length=None)


@gated()
def hardware_table(payload: dict):
    """The hardware profiles of a ``cost_model`` payload: price, speed, power, boxes, payback."""
    import polars as pl

    keys = ("name", "price_usd", "output_tokens_per_s", "throughput_source", "load_watts", "idle_watts",
            "useful_life_months", "boxes_needed", "fits", "upfront_usd", "monthly_savings_usd", "payback_months",
            "utilisation_at_peak")
    return pl.DataFrame([{k: h.get(k) for k in keys} for h in payload["hardware"]], infer_schema_length=None)


# --------------------------------------------------------------------------------------------------------
# The notebooks themselves


def notebooks_dir() -> Path:
    """``notebooks/`` of the repository this package runs from (they are not shipped inside the wheel)."""
    return Path(__file__).resolve().parents[1] / "notebooks"


def notebook_paths(names: Iterable[str] | None = None) -> list[Path]:
    """Paths of the notebooks (all, or those whose file name starts with one of ``names``, e.g. "02")."""
    folder = notebooks_dir()
    available = [folder / n for n in NOTEBOOKS if (folder / n).exists()]
    if not available:
        raise PlanError(f"No notebooks in {folder}: they live in the repository's notebooks/ folder; "
                        "run plan from a checkout (pip install -e .).")
    if not names:
        return available
    chosen = []
    for name in names:
        hits = [p for p in available if p.name.startswith(name) or p.stem == name]
        if not hits:
            raise PlanError(f"No notebook matches {name!r}; the notebooks are {', '.join(p.name for p in available)}.")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def notebook_title(path: Path) -> str:
    """The first markdown heading of a notebook."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return Path(path).stem


def notebook_guide(db_path: str | os.PathLike | None = None) -> dict:
    """What ``plan notebook`` prints: the notebooks, the database they will read, and the commands that
    open them in Jupyter or run them headless."""
    import importlib.util
    import shlex
    import sys

    paths = notebook_paths()
    folder = paths[0].parent
    db_file = Path(db_path or db.default_db_path()).resolve()
    default_file = (folder / NOTEBOOK_DB_DEFAULT).resolve()
    jupyter = next((m for m in ("jupyterlab", "notebook") if importlib.util.find_spec(m) is not None), None)
    env = "" if db_file == default_file else f"PLAN_DB={shlex.quote(str(db_file))} "
    app = "notebook" if jupyter == "notebook" else "lab"
    commands = []
    if jupyter is None:
        commands.append(f"{shlex.quote(sys.executable)} -m pip install jupyterlab   # once, into plan's environment")
    commands.append(f"{env}{shlex.quote(str(Path(sys.executable).parent / 'jupyter'))} {app} {shlex.quote(str(folder))}")
    return {
        "notebooks": [{"name": p.name, "path": str(p), "title": notebook_title(p)} for p in paths],
        "db": str(db_file),
        "db_exists": db_file.exists(),
        "jupyter_installed": jupyter is not None,
        "open_commands": commands,
        "run_command": "plan notebook --run" + (
            "" if db_file == Path(db.default_db_path()).resolve() else f" --db {shlex.quote(str(db_file))}"),
    }


def _kernel_manager_class(kernels: Path):
    """An async kernel manager whose only kernelspec is python3 running *this* interpreter (written afresh
    into ``kernels``), whatever kernelspecs the user has installed elsewhere. On POSIX the kernel listens
    on local sockets (IPC), not on TCP ports."""
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    if not (kernels / "python3" / "kernel.json").exists():
        write_kernel_spec(kernels / "python3")

    class LocalKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _local_kernel_specs(self):
            return KernelSpecManager(kernel_dirs=[str(kernels)])

        @default("transport")
        def _local_transport(self):
            return "ipc" if os.name == "posix" else "tcp"

        @default("connection_file")
        def _local_connection_file(self):  # short: IPC socket paths are limited to ~100 characters
            return str(kernels / f"k{os.getpid()}-{id(self) % 10**6}.json")

    return LocalKernelManager


def run_notebooks(db_path: str | os.PathLike | None = None, *, names: Iterable[str] | None = None,
                  out_dir: str | os.PathLike = "out/notebooks", timeout: int = 600,
                  say: Callable[[str], None] | None = None, edit: Callable[[Any], None] | None = None) -> list[dict]:
    """Execute the notebooks headless against ``db_path`` (default $PLAN_DB, else ./plan.duckdb) and write
    the executed copies to ``out_dir``; the committed notebooks are left as they are. A failing cell raises
    PlanError naming the notebook, the cell and the error. ``edit(nb)`` may change a notebook before it runs
    (tests use it to flip a flag)."""
    import tempfile

    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError as exc:
        raise PlanError("Running notebooks needs nbclient, nbformat and ipykernel: pip install -e '.[test]'.") from exc

    say = say or (lambda message: None)
    db_file = Path(db_path or db.default_db_path()).resolve()
    if not db_file.exists():
        raise PlanError(f"No database at {db_file}. Run `make demo` (or the pipeline) first, or pass --db.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PLAN_DB": str(db_file), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    results = []
    with tempfile.TemporaryDirectory(prefix="plank-") as tmp:
        for path in notebook_paths(names):
            nb = nbformat.read(path, as_version=4)
            if edit is not None:
                edit(nb)
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                    kernel_manager_class=_kernel_manager_class(Path(tmp) / "kernels"),
                                    resources={"metadata": {"path": str(path.parent)}})
            target = out / path.name
            say(f"Running {path.name} against {db_file} ...")
            started = time.perf_counter()
            try:
                client.execute(env=env)
            except CellExecutionError as exc:
                nbformat.write(nb, target)
                failed = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                               and any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
                error: dict = next((o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                              if o.get("output_type") == "error"), {})
                raise PlanError(
                    f"{path.name} failed in cell {failed}: {error.get('ename', type(exc).__name__)}: "
                    f"{error.get('evalue', str(exc)[:300])}. The executed copy with the traceback is {target}."
                ) from None
            seconds = time.perf_counter() - started
            nbformat.write(nb, target)
            outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
            results.append({
                "notebook": path.name,
                "output": str(target),
                "seconds": round(seconds, 1),
                "cells": sum(1 for c in nb.cells if c.cell_type == "code"),
                "images": sum(1 for o in outputs if "image/png" in (o.get("data") or {})),
            })
            say(f"  {path.name}: {seconds:.1f} s, executed copy {target}")
    return results
