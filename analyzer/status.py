"""What the database holds: requests, date range, tokens, spend, formats, rejects and stage runs."""

from __future__ import annotations

import json

from .db import dicts, one


def status_summary(con) -> dict:
    totals = one(
        con,
        """
        select count(*), min(created_at), max(created_at),
               coalesce(sum(input_tokens), 0), coalesce(sum(cached_input_tokens), 0), coalesce(sum(output_tokens), 0),
               coalesce(sum(cost_usd), 0), count(*) filter (where cost_source = 'unknown'),
               count(*) filter (where cost_source = 'log'), count(*) filter (where cost_source = 'catalog')
        from requests
        """,
    )
    by_format = dicts(
        con,
        """
        select source_format as format, count(*) as requests, coalesce(sum(cost_usd), 0) as spend_usd,
               min(created_at) as first_at, max(created_at) as last_at
        from requests group by 1 order by requests desc
        """,
    )
    by_model = dicts(
        con,
        "select model, count(*) as requests, coalesce(sum(cost_usd), 0) as spend_usd from requests group by 1 order by spend_usd desc, requests desc",
    )
    rejects = dicts(
        con,
        "select source_file as file, count(*) as rejected from rejects group by 1 order by rejected desc",
    )
    reasons = dicts(
        con,
        """
        select source_file as file, source_line as line, reason from rejects order by rejected_at desc, source_file, source_line limit 20
        """,
    )
    stages = dicts(
        con,
        """
        select stage, max(finished_at) as last_run, arg_max(summary_json, finished_at) as summary_json
        from stage_runs group by stage order by last_run
        """,
    )
    return {
        "requests": totals[0],
        "first_at": totals[1],
        "last_at": totals[2],
        "input_tokens": totals[3],
        "cached_input_tokens": totals[4],
        "output_tokens": totals[5],
        "spend_usd": round(float(totals[6]), 6),
        "cost_sources": {"log": totals[8], "catalog": totals[9], "unknown": totals[7]},
        "formats": by_format,
        "models": by_model,
        "rejects": {"total": sum(r["rejected"] for r in rejects), "by_file": rejects, "recent": reasons},
        "stages": [{"stage": s["stage"], "last_run": s["last_run"], "summary": json.loads(s["summary_json"] or "{}")} for s in stages],
    }
