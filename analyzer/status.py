"""What the database holds: requests, date range, tokens, spend, formats, rejects and stage runs."""

from __future__ import annotations

import json

from .db import dicts, one, table_exists


def status_summary(con) -> dict:
    """The `plan status --json` document."""
    totals = one(
        con,
        """
        select count(*), min(created_at), max(created_at),
               coalesce(sum(input_tokens), 0), coalesce(sum(cached_input_tokens), 0),
               coalesce(sum(cache_write_tokens), 0), coalesce(sum(output_tokens), 0),
               coalesce(sum(reasoning_tokens), 0), coalesce(sum(cost_usd), 0),
               count(*) filter (where created_at is null), count(*) filter (where is_batch)
        from requests
        """,
    )
    sources = dicts(
        con,
        """
        select cost_source as source, count(*) as requests, coalesce(sum(cost_usd), 0) as spend_usd
        from requests group by 1 order by 1
        """,
    )
    by_source = {s["source"]: s for s in sources}
    by_format = dicts(
        con,
        """
        select source_format as format, count(*) as requests, count(distinct source_file) as files,
               coalesce(sum(input_tokens), 0) as input_tokens, coalesce(sum(output_tokens), 0) as output_tokens,
               coalesce(sum(cost_usd), 0) as spend_usd, min(created_at) as first_at, max(created_at) as last_at
        from requests group by 1 order by requests desc, format
        """,
    )
    by_model = dicts(
        con,
        """
        select model, any_value(provider) as provider, count(*) as requests, coalesce(sum(cost_usd), 0) as spend_usd,
               coalesce(sum(input_tokens), 0) as input_tokens, coalesce(sum(output_tokens), 0) as output_tokens,
               count(*) filter (where cost_source = 'unknown') as unpriced
        from requests group by 1 order by spend_usd desc, requests desc, model
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
    rejects_by_file = dicts(
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
    stages = dicts(
        con,
        """
        select stage, max(finished_at) as last_run, arg_max(summary_json, finished_at) as summary_json
        from stage_runs group by stage order by last_run
        """,
    )
    files = one(con, "select count(distinct path), max(ingested_at) from ingested_files")
    conflicts = _conflicts(con)
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
        "output_tokens": totals[6],
        "reasoning_tokens": totals[7],
        "spend_usd": round(float(totals[8]), 6),
        "cost_sources": {k: int(by_source.get(k, {}).get("requests", 0)) for k in ("log", "catalog", "unknown")},
        "spend_by_cost_source_usd": {k: round(float(by_source.get(k, {}).get("spend_usd", 0)), 6) for k in ("log", "catalog")},
        "unknown_models": unknown_models,
        "formats": by_format,
        "models": by_model,
        "statuses": statuses,
        "files_ingested": files[0],
        "last_ingest": files[1],
        "rejects": {"total": sum(r["rejected"] for r in rejects_by_file), "by_file": rejects_by_file, "recent": recent},
        "rows_conflicting": conflicts["total"],
        "conflicts": conflicts,
        "stages": [
            {"stage": s["stage"], "last_run": s["last_run"], "summary": json.loads(s["summary_json"] or "{}")}
            for s in stages
        ],
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
