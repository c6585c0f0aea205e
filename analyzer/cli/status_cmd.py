from __future__ import annotations

import click

from .options import db_option, echo, emit_json, json_option


def _day(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "?"


def _usd(value, width: int = 0) -> str:
    """Dollars, or "unknown" when no request behind the figure has a known cost (never $0 for unknown)."""
    text = "unknown" if value is None else f"${value:,.2f}"
    return f"{text:>{width}}" if width else text


def _hour_writes(s: dict) -> str:
    hour = s.get("cache_write_1h_tokens") or 0
    return f", {hour:,} of it kept an hour" if hour else ""


def _spend_lines(s: dict) -> list[str]:
    """Spend (the logs' own, and the full traffic's when they are a sample) and why some requests have no cost."""
    cs = s["cost_sources"]
    sampling = s.get("sampling") or {}
    spend = _usd(s["spend_usd"])
    if sampling.get("sampled") and s["spend_usd"] is not None:
        rates = sorted({r["one_in"] for r in sampling["rates"] if r["rate"] is not None and r["rate"] < 1})
        spend = (f"{spend} in the logs, about {_usd(s['estimated_spend_usd'])} for the full traffic "
                 f"(sampled {', '.join(rates)})")
    lines = [f"Spend:     {spend}  (cost from log: {cs['log']:,} requests, price list: {cs['catalog']:,}, "
             f"unknown: {cs['unknown']:,})"]
    why = s.get("unpriced") or {}
    no_counts = why.get("no_token_counts") or {}
    if no_counts.get("requests"):
        statuses = ", ".join(f"{k} {v:,}" for k, v in no_counts["statuses"].items())
        lines.append(f"No cost:   {no_counts['requests']:,} without token counts ({statuses}): nothing to price")
    missing = why.get("not_in_price_list") or {}
    if missing.get("requests"):
        models = ", ".join(f"{k} ({v:,})" for k, v in list(missing["models"].items())[:10])
        lines.append(f"No price:  {missing['requests']:,} with token counts but a model not in the price list: {models} "
                     "(add to plan.toml [prices.\"MODEL\"])")
    nameless = why.get("no_model") or {}
    if nameless.get("requests"):
        lines.append(f"No model:  {nameless['requests']:,} with token counts but no model named")
    return lines


@click.command()
@db_option
@json_option
def status(db_path, as_json):
    """What the database holds: requests, date range, tokens, spend, formats, rejects, stage runs.

    \b
    Examples:
      plan status
      plan status --json
    """
    from ..db import connect
    from ..status import status_summary

    con = connect(db_path, read_only=True)
    try:
        summary = status_summary(con)
    finally:
        con.close()
    if as_json:
        emit_json(summary)
        return
    s = summary
    if not s["requests"]:
        echo("No requests yet. Run `plan ingest PATH` first.")
    else:
        days = f", {s['days']:.1f} days" if s["days"] is not None else ""
        echo(f"Requests:  {s['requests']:,}  ({_day(s['first_at'])} to {_day(s['last_at'])} UTC{days})")
        if s["requests_without_time"]:
            echo(f"           {s['requests_without_time']:,} without a timestamp (e.g. batch results)")
        echo(
            f"Tokens:    {s['input_tokens']:,} in ({s['cached_input_tokens']:,} cached read, "
            f"{s['cache_write_tokens']:,} cache write{_hour_writes(s)}), {s['output_tokens']:,} out "
            f"({s['reasoning_tokens']:,} reasoning)"
        )
        if s.get("web_searches"):
            echo(f"           {s['web_searches']:,} web searches the models ran (billed per search)")
        for line in _spend_lines(s):
            echo(line)
        echo("Formats:")
        for f in s["formats"]:
            echo(
                f"  {str(f['format']):<26} {f['requests']:>9,} requests  {f['files']:>4} files  "
                f"{_usd(f['spend_usd'], 13)}  {_day(f['first_at'])} to {_day(f['last_at'])}"
            )
        echo("Models:")
        for m in s["models"][:10]:
            echo(f"  {str(m['model']):<40} {m['requests']:>9,} requests  {_usd(m['spend_usd'], 13)}")
        statuses = ", ".join(f"{x['status']} {x['requests']:,}" for x in s["statuses"])
        echo(f"Status:    {statuses}")
    rejects = s["rejects"]
    echo(f"Rejected:  {rejects['total']:,}")
    for r in rejects["recent"][:10]:
        echo(f"  {r['file']}:{r['line']}: {r['reason']}")
    failing = [r for r in s["replay_errors"] if r["errors"]]
    if failing:
        echo("Replay errors (failed calls are not answers; transient ones are retried by plan replay):")
        for r in failing:
            echo(f"  {str(r['name'] or r['category_id'])[:40]:<40} {r['model']}: {r['errors']} of "
                       f"{r['errors'] + r['answers']} calls failed ({r['transient']} transient, {r['deterministic']} refused)")
    if s["rows_conflicting"]:
        echo(f"Conflicting: {s['rows_conflicting']:,} (an id seen again with other content; the first record is kept)")
        for c in s["conflicts"]["recent"][:10]:
            echo(f"  {c['file']}:{c['line']}: {c['source_id']} differs in {c['fields']} from {c['kept_file']}:{c['kept_line']}")
    if s["stages"]:
        echo("Stages run:")
        for st in s["stages"]:
            echo(f"  {st['stage']:<12} {st['last_run']}")
