from __future__ import annotations

import click

from .options import config_option, db_option, echo, emit_json, json_option, say


def _parse_map(value: str | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for part in (value or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise click.BadParameter(f"expected FIELD=COLUMN, got {part!r}", param_hint="--map")
        key, column = part.split("=", 1)
        mapping[key.strip()] = column.strip()
    return mapping


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", default=None, help="Skip detection and read every file as this format.")
@click.option("--map", "mapping", default=None, help="Column mapping for --format generic: prompt=COL,response=COL,model=COL,...")
@db_option
@config_option
@json_option
def ingest(paths, fmt, mapping, db_path, config_file, as_json):
    """Normalise exported API logs into the database.

    PATHS are files, directories (read recursively), globs, pipes or - for stdin;
    .gz files are read transparently, the format of each file is detected.
    Re-ingesting adds nothing twice. Costs come from the log when it states
    them, else from the genai-prices catalog or plan.toml [prices."MODEL"].

    \b
    Examples:
      plan ingest sample_logs/
      plan ingest exports/*.jsonl.gz --json
      plan ingest calls.csv --format generic --map prompt=input,response=output,model=model
    """
    from ..config import load_config
    from ..db import connect
    from ..ingest import ingest_paths
    from ..output import clean
    from ..progress import bar

    config = load_config(config_file)
    mapping = _parse_map(mapping)
    con = connect(db_path)

    def progress(src):
        return bar(total=src.size_bytes or None, desc=clean(src.display[-40:], limit=40), unit="B", unit_scale=True)

    try:
        summary = ingest_paths(
            con, list(paths), fmt=fmt, mapping=mapping, progress=progress, config=config, warn=say,
        )
    finally:
        con.close()
    if as_json:
        emit_json(summary)
        return
    for f in summary["files"]:
        if f["format"] != "unknown":  # skipped files were already named in a warning
            say(f"{f['path']}: {f['format']}, {f['rows_added']} added, {f['rows_rejected']} rejected")
    echo(
        f"{summary['rows_added']} requests added, {summary['rows_duplicate']} already stored, "
        f"{summary['rows_rejected']} rejected (see `plan status`)."
    )
    if summary["unknown_models"]:
        echo(
            f"No price for: {', '.join(summary['unknown_models'])} (cost left unknown; add them to plan.toml "
            f'as [prices."MODEL"] input_per_mtok = ..., output_per_mtok = ...).'
        )
