from __future__ import annotations

import click

from .options import config_option, db_option, echo, emit_json, json_option, say


@click.command()
@click.option("--threshold", type=float, default=None, help="Share of a category's requests with findings that flags it (default 0.05, or [privacy] threshold).")
@db_option
@config_option
@json_option
def privacy(threshold, db_path, config_file, as_json):
    """Find secrets and personal data in prompts and responses, per category.

    Stores only the kinds and counts of findings, never the values. New
    requests are scanned once; re-running scans only what is new.

    \b
    Example:
      plan privacy --json
    """
    from ..config import load_config, setting
    from ..db import connect, scalar
    from ..privacy import DEFAULT_SENSITIVE_SHARE, category_sensitivity, scan_requests
    from ..progress import bar

    config = load_config(config_file)
    threshold = threshold if threshold is not None else float(setting(config, "privacy.threshold", DEFAULT_SENSITIVE_SHARE))
    con = connect(db_path, create=False)
    result = scan_requests(con, progress=lambda total: bar(total=total, desc="scanning", unit=" req"))
    categories = category_sensitivity(con, threshold=threshold) if scalar(con, "select count(*) from categories") else []
    kinds = dict(con.execute("select kind, count(distinct request_id) from privacy_findings group by 1 order by 2 desc, 1").fetchall())
    total = scalar(con, "select count(*) from requests")
    con.close()
    payload = {**result, "requests": total, "threshold": threshold, "kinds": kinds, "categories": categories}
    if as_json:
        emit_json(payload)
        return
    say(f"Scanned {result['scanned']:,} new requests.")
    echo(f"Requests with findings, by kind ({total:,} requests in all):")
    for kind, n in kinds.items():
        echo(f"  {kind:<16} {n:>8,}")
    if not kinds:
        echo("  none found")
    for c in categories:
        mark = "  SENSITIVE" if c["sensitive"] else ""
        echo(f"  {c['name'][:40]:<40} {c['sensitive_share']:>6.1%} of {c['requests']:,}{mark}")
