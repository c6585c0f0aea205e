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
    from ..config import load_config
    from ..db import connect
    from ..privacy import PrivacySettings, privacy as run_privacy

    settings = PrivacySettings.resolve(load_config(config_file), threshold=threshold)
    con = connect(db_path, create=False)
    try:
        payload = run_privacy(con, settings, progress=True, say=say)
    finally:
        con.close()
    if as_json:
        emit_json(payload)
        return
    say(f"Scanned {payload['scanned']:,} new requests.")
    echo(f"Requests with findings, by kind ({payload['requests']:,} requests in all):")
    for kind, n in payload["kinds"].items():
        echo(f"  {kind:<16} {n:>8,}")
    if not payload["kinds"]:
        echo("  none found")
    for c in payload["categories"]:
        mark = "  SENSITIVE" if c["sensitive"] else ""
        echo(f"  {c['name'][:40]:<40} {c['sensitive_share']:>6.1%} of {c['requests']:,}{mark}")
