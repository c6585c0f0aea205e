"""What the database holds: requests, date range, tokens, spend, formats, rejects and stage runs."""

from __future__ import annotations

import json
import re

from .db import dicts, one, table_exists
from .redact import redact_many
from .replay import ERROR_CLASS_SQL
from .sampling import sampling_summary

EXCERPT_CHARS = 300
_CUT_TOKEN = re.compile(r"[A-Za-z0-9_\-+/=.~%]{4,}…$")


def _drop_cut_token(text: str) -> str:
    """The token an excerpt's cut ran through may be the head of a secret no pattern recognises any more."""
    return _CUT_TOKEN.sub("[CUT]…", text)


def _rejects(con) -> dict:
    """Rejected records by file, and the latest ones with their reason and a redacted excerpt."""
    by_file = dicts(
        con,
        "select source_file as file, source_format as format, count(*) as rejected from rejects group by 1, 2 order by rejected desc, file",
    )
    recent = dicts(
        con,
        """
        select source_file as file, source_line as line, reason, excerpt from rejects
        order by rejected_at desc, source_file, source_line limit 20
        """,
    )
    for r in recent:
        # A reject's excerpt is a raw log line: redacted here, for every caller, and cut.
        r["reason"], excerpt = redact_many([r["reason"], r["excerpt"]])
        r["excerpt"] = _drop_cut_token(excerpt[:EXCERPT_CHARS]) if excerpt else excerpt
    return {"total": sum(r["rejected"] for r in by_file), "by_file": by_file, "recent": recent}


def replay_errors(con) -> list[dict]:
    """Per replayed model and category: answers, failed calls by class (transient: a rerun retries them;
    deterministic: the endpoint refuses the request as it is) and calls sent in a downgraded form."""
    if not table_exists(con, "replays"):
        return []
    return dicts(con, f"""
        select r.model, coalesce(rc.category_id, r.category_id) as category_id, any_value(c.name) as name,
               count(*) filter (where r.error is null and r.output_text is not null) as answers,
               count(*) filter (where r.error is not null) as errors,
               count(*) filter (where r.error is not null and {ERROR_CLASS_SQL} = 'transient') as transient,
               count(*) filter (where r.error is not null and {ERROR_CLASS_SQL} = 'deterministic') as deterministic,
               count(*) filter (where r.downgrades_json is not null) as downgraded
        from replays r
        left join request_categories rc on rc.request_id = r.request_id
        left join categories c on c.category_id = coalesce(rc.category_id, r.category_id)
        group by 1, 2 order by max(r.finished_at) desc nulls last, r.model, any_value(c.spend_rank) nulls last, 2
    """)


def unpriced(con) -> dict:
    """Why requests have no cost: no token counts at all (blocked, errored, unanswered calls: nothing was billed or
    the log does not say), a model missing from the price list (add it to plan.toml), or no model named."""
    groups = dicts(
        con,
        """
        select case when input_tokens is null and output_tokens is null then 'no_token_counts'
                    when model is null then 'no_model' else 'not_in_price_list' end as reason,
               coalesce(status, 'unknown') as status, model, count(*) as requests
        from requests where cost_usd is null group by all order by requests desc, status, model
        """,
    )

    def part(reason: str, by: str) -> dict:
        rows = [g for g in groups if g["reason"] == reason]
        counts: dict = {}
        for g in rows:
            counts[g[by]] = counts.get(g[by], 0) + int(g["requests"])
        return {"requests": sum(counts.values()), by + "es" if by == "status" else by + "s": counts}

    return {"no_token_counts": part("no_token_counts", "status"), "not_in_price_list": part("not_in_price_list", "model"),
            "no_model": part("no_model", "status")}


def _money(value) -> float | None:
    return round(float(value), 6) if value is not None else None


def status_summary(con) -> dict:
    """The `plan status --json` document. Spend is None (unknown) where no request has a known cost; ``spend_usd``
    is the logs' own, ``estimated_spend_usd`` the full traffic's when the logs are a sample (``sampling``)."""
    totals = one(
        con,
        """
        select count(*), min(created_at), max(created_at),
               coalesce(sum(input_tokens), 0), coalesce(sum(cached_input_tokens), 0),
               coalesce(sum(cache_write_tokens), 0), coalesce(sum(output_tokens), 0),
               coalesce(sum(reasoning_tokens), 0), sum(cost_usd),
               count(*) filter (where created_at is null), count(*) filter (where is_batch),
               coalesce(sum(cache_write_1h_tokens), 0), coalesce(sum(web_searches), 0)
        from requests
        """,
    )
    sources = dicts(
        con,
        """
        select cost_source as source, count(*) as requests, sum(cost_usd) as spend_usd
        from requests group by 1 order by 1
        """,
    )
    by_source = {s["source"]: s for s in sources}
    by_format = dicts(
        con,
        """
        select source_format as format, count(*) as requests, count(distinct source_file) as files,
               coalesce(sum(input_tokens), 0) as input_tokens, coalesce(sum(output_tokens), 0) as output_tokens,
               sum(cost_usd) as spend_usd, min(created_at) as first_at, max(created_at) as last_at
        from requests group by 1 order by requests desc, format
        """,
    )
    by_model = dicts(
        con,
        """
        select model, any_value(provider) as provider, count(*) as requests, sum(cost_usd) as spend_usd,
               coalesce(sum(input_tokens), 0) as input_tokens, coalesce(sum(output_tokens), 0) as output_tokens,
               count(*) filter (where cost_source = 'unknown') as unpriced
        from requests group by 1 order by spend_usd desc nulls last, requests desc, model
        """,
    )
    unknown_models = [
        m["model"]
        for m in dicts(
            con,
            """
            select model from requests
            where cost_source = 'unknown' and model is not null and (input_tokens is not null or output_tokens is not null)
            group by 1 order by count(*) desc, 1
            """,
        )
    ]
    statuses = dicts(con, "select coalesce(status, 'unknown') as status, count(*) as requests from requests group by 1 order by 2 desc, 1")
    stages = dicts(
        con,
        """
        select stage, max(finished_at) as last_run, arg_max(summary_json, finished_at) as summary_json
        from stage_runs group by stage order by last_run
        """,
    )
    files = one(con, "select count(distinct path), max(ingested_at) from ingested_files")
    assert totals is not None and files is not None  # aggregates without GROUP BY always return one row
    conflicts = _conflicts(con)
    sampling = sampling_summary(con)
    first_at, last_at = totals[1], totals[2]
    return {
        "requests": totals[0],
        "first_at": first_at,
        "last_at": last_at,
        "days": ((last_at - first_at).total_seconds() / 86400.0) if first_at and last_at else None,
        "requests_without_time": totals[9],
        "batch_requests": totals[10],
        "input_tokens": totals[3],
        "cached_input_tokens": totals[4],
        "cache_write_tokens": totals[5],
        "cache_write_1h_tokens": totals[11],
        "web_searches": totals[12],
        "output_tokens": totals[6],
        "reasoning_tokens": totals[7],
        "spend_usd": _money(totals[8]),
        "estimated_spend_usd": _money(sampling["estimated_spend_usd"]) if sampling["sampled"] else _money(totals[8]),
        "sampling": sampling,
        "cost_sources": {k: int(by_source.get(k, {}).get("requests", 0)) for k in ("log", "catalog", "unknown")},
        "spend_by_cost_source_usd": {k: _money(by_source.get(k, {}).get("spend_usd")) for k in ("log", "catalog")},
        "unknown_models": unknown_models,
        "unpriced": unpriced(con),
        "formats": by_format,
        "models": by_model,
        "statuses": statuses,
        "files_ingested": files[0],
        "last_ingest": files[1],
        "rejects": _rejects(con),
        "rows_conflicting": conflicts["total"],
        "conflicts": conflicts,
        "stages": [
            {"stage": s["stage"], "last_run": s["last_run"], "summary": json.loads(s["summary_json"] or "{}")}
            for s in stages
        ],
        "replay_errors": replay_errors(con),
    }


def _conflicts(con) -> dict:
    """Records whose id repeated with different content (the first was kept): how many, where, a few examples."""
    if not table_exists(con, "conflicts"):
        return {"total": 0, "by_file": [], "recent": []}
    by_file = dicts(con, "select source_file as file, count(*) as conflicting from conflicts group by 1 order by 2 desc, 1")
    recent = dicts(
        con,
        """select source_id, source_file as file, source_line as line, kept_file, kept_line, fields from conflicts
           order by detected_at desc, source_file, source_line limit 20""",
    )
    return {"total": sum(f["conflicting"] for f in by_file), "by_file": by_file, "recent": recent}
