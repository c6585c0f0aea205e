from __future__ import annotations

import click

from .options import db_option, emit_json, json_option


@click.command()
@db_option
@json_option
def status(db_path, as_json):
    """What the database holds: requests, date range, tokens, spend, formats, rejects, stage runs.

    \b
    Example:
      plan status --json
    """
    from ..db import connect
    from ..status import status_summary

    con = connect(db_path, read_only=True)
    summary = status_summary(con)
    con.close()
    if as_json:
        emit_json(summary)
        return
    s = summary
    click.echo(f"Requests:  {s['requests']:,}  ({s['first_at']} to {s['last_at']})")
    click.echo(
        f"Tokens:    {s['input_tokens']:,} in ({s['cached_input_tokens']:,} cached), {s['output_tokens']:,} out"
    )
    cs = s["cost_sources"]
    click.echo(f"Spend:     ${s['spend_usd']:,.2f}  (priced from log: {cs['log']:,}, catalog: {cs['catalog']:,}, unknown: {cs['unknown']:,})")
    click.echo("Formats:")
    for f in s["formats"]:
        click.echo(f"  {f['format']:<22} {f['requests']:>9,} requests  ${f['spend_usd']:,.2f}")
    click.echo(f"Rejected:  {s['rejects']['total']:,}")
    for r in s["rejects"]["recent"][:10]:
        click.echo(f"  {r['file']}:{r['line']}: {r['reason']}")
    if s["stages"]:
        click.echo("Stages run:")
        for st in s["stages"]:
            click.echo(f"  {st['stage']:<12} {st['last_run']}")
