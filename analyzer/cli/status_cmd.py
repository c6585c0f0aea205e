from __future__ import annotations

import click

from .options import db_option, echo, emit_json, json_option


def _day(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "?"


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
            f"{s['cache_write_tokens']:,} cache write), {s['output_tokens']:,} out ({s['reasoning_tokens']:,} reasoning)"
        )
        cs = s["cost_sources"]
        echo(
            f"Spend:     ${s['spend_usd']:,.2f}  (cost from log: {cs['log']:,} requests, "
            f"price list: {cs['catalog']:,}, unknown: {cs['unknown']:,})"
        )
        if s["unknown_models"]:
            echo(f"Unpriced:  {', '.join(s['unknown_models'][:10])} (add to plan.toml [prices.\"MODEL\"])")
        echo("Formats:")
        for f in s["formats"]:
            echo(
                f"  {str(f['format']):<26} {f['requests']:>9,} requests  {f['files']:>4} files  "
                f"${f['spend_usd']:>12,.2f}  {_day(f['first_at'])} to {_day(f['last_at'])}"
            )
        echo("Models:")
        for m in s["models"][:10]:
            echo(f"  {str(m['model']):<40} {m['requests']:>9,} requests  ${m['spend_usd']:>12,.2f}")
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
