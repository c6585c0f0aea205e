from __future__ import annotations

import click

from .options import config_option, db_option, echo, emit_json, json_option, say


@click.group()
def review():
    """Human review: export judged answers to a sheet, import the reviewers' verdicts.

    \b
    Examples:
      plan review export --out review.csv --only failed
      plan review export --out review.html --limit 20
      plan review import review.csv
    """


@review.command("export")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Sheet to write: CSV, or an HTML page when the name ends in .html.")
@click.option("--only", type=click.Choice(["all", "failed", "passed", "unreviewed"]), default="all", show_default=True,
              help="Which answers to include, by automatic verdict or by whether a human has judged them.")
@click.option("--category", default=None, help="Only this category (name or id).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many answers per category.")
@click.option("--no-redact", is_flag=True, help="Keep secrets and personal data in the sheet (local files only).")
@db_option
@json_option
def export_cmd(out, only, category, limit, no_redact, db_path, as_json):
    """Write a review sheet: prompt, frontier answer, local answer and the automatic verdict per replay.

    Fill the human_verdict column with pass or fail (the HTML page has a menu and download buttons), then run
    `plan review import`.

    \b
    Example:
      plan review export --out review.html --only failed
    """
    from ..db import connect
    from ..review import ReviewSettings, export

    settings = ReviewSettings.resolve({}, sheet=out, only=only, category=category, limit=limit, redact=not no_redact)
    con = connect(db_path, create=False)
    try:
        result = export(con, settings, progress=False, say=say)
    finally:
        con.close()
    if as_json:
        emit_json(result)
        return
    echo(f"Wrote {result['rows']} answers from {result['categories']} categories to {result['path']} "
               f"({result['auto_failed']} failed automatically, {result['already_reviewed']} already reviewed).")
    say(f"Fill human_verdict with pass or fail, then: plan review import {result['path']}")


@review.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@db_option
@config_option
@json_option
def import_cmd(file, db_path, config_file, as_json):
    """Read human verdicts from a review sheet (CSV or HTML); they override the automatic verdicts.

    Blank verdicts are skipped; `clear` removes an earlier verdict. Acceptance per category is recomputed.

    \b
    Example:
      plan review import review.csv --json
    """
    from ..config import load_config
    from ..db import connect
    from ..review import ReviewSettings, import_verdicts

    settings = ReviewSettings.resolve(load_config(config_file), sheet=file)
    con = connect(db_path, create=False)
    try:
        result = import_verdicts(con, settings, progress=False, say=say)
    finally:
        con.close()
    if as_json:
        emit_json(result)
        return
    echo(f"{result['verdicts']} verdicts imported ({result['human_passed']} pass, {result['human_failed']} fail, "
               f"{result['cleared']} cleared, {result['blank']} blank).")
    if result["stale"]:
        say(f"{result['stale']} verdicts are about answers that changed since the export; they are ignored.")
    if result["unknown_replay_ids"]:
        say(f"Not in this database: {', '.join(result['unknown_replay_ids'][:5])}")
    for c in result["categories"]:
        rate = "n/a" if c["acceptance"] is None else f"{c['acceptance']:.0%} ({c['ci_low']:.0%}–{c['ci_high']:.0%})"
        echo(f"  {c['name']}: {rate}, n={c['n']}, {c['human_reviewed']} reviewed -> {c['decision']}")
