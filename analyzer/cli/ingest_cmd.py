from __future__ import annotations

import os
import sys

import click

from .options import config_option, db_option, echo, emit_json, json_option, say


def _parse_map(value: str | None) -> dict[str, str] | None:
    if value is None:
        return None
    mapping: dict[str, str] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise click.BadParameter(f"expected FIELD=COLUMN, got {part!r}", param_hint="--map")
        key, column = part.split("=", 1)
        mapping[key.strip()] = column.strip()
    return mapping


def _no_blas_threads() -> None:
    """Ingest makes no BLAS call, but numpy's OpenBLAS starts a thread on import that spins on a core for a while
    (0.1-0.2 s of CPU while the CLI starts, on a two-core machine). Only before numpy is loaded, so that a process
    that already uses it keeps its threads."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", default=None, help="Skip detection and read every file as this format.")
@click.option("--map", "mapping", default=None, help="Column mapping for --format generic: prompt=COL,response=COL,model=COL,...")
@click.option("--since", default=None, help="Only files and objects last modified since: 2025-03-01, 2025-03-01T12:00Z (UTC) or an age: 12h, 7d.")
@click.option("--sample-rate", type=float, default=None,
              help="The fraction of their traffic the files hold (0.02 for a 1-in-50 sample): spend, volume, capacity "
                   "and payback are scaled by 1/R. Wins over a rate the export states (a warning says so).")
@db_option
@config_option
@json_option
def ingest(paths, fmt, mapping, since, sample_rate, db_path, config_file, as_json):
    """Normalise exported API logs into the database.

    PATHS are files, directories (read recursively), globs, pipes, - for stdin,
    or prefixes in object storage: s3://bucket/prefix/, gs://..., az://...
    (pip install 'plan-analyzer[cloud]'; credentials come from the cloud's
    usual environment variables, profiles or roles). Gzip is read
    transparently, the format of each file is detected. Re-ingesting adds
    nothing twice, and objects read before are not downloaded again; a record
    whose id repeats with different content is a conflict (the first is kept,
    see `plan status`). Costs come from the log when it states them, else from
    the genai-prices catalog or plan.toml [prices."MODEL"]. A second writer
    waits up to 5 s (PLAN_LOCK_WAIT_S) for the database.

    A sampled export is scaled by 1/R everywhere spend, volume, capacity or
    payback is shown: R comes from --sample-rate, or from the records when
    the export states it (a sample_rate field, an OpenTelemetry tracestate
    ot=th:..., sampler attributes). Re-ingesting with another --sample-rate
    changes the stored rate and says so.

    \b
    Examples:
      plan ingest sample_logs/
      plan ingest exports/*.jsonl.gz --json
      plan ingest otel-traces.json spend-logs.jsonl
      plan ingest s3://my-logs/AWSLogs/123456789012/BedrockModelInvocationLogs/ --since 7d
      plan ingest calls.csv --format generic --map prompt=input,response=output,model=model
      plan ingest sample_logs/ --sample-rate 0.02
    """
    _no_blas_threads()
    from ..config import load_config
    from ..ingest import IngestSettings
    from ..ingest import ingest as run_ingest
    from ..ingest.lock import open_for_writing
    from ..ingest.summary import file_line

    settings = IngestSettings.resolve(load_config(config_file), paths=tuple(paths), format=fmt, mapping=_parse_map(mapping),
                                      since=since, sample_rate=sample_rate)
    con = open_for_writing(db_path, settings.lock_wait_s)
    try:
        summary = run_ingest(con, settings, progress=True, say=say)
    finally:
        con.close()
    if as_json:
        emit_json(summary)
        return
    for f in summary["files"]:
        if f["format"] != "unknown":  # skipped files were already named in a warning
            say(file_line(f))
    echo(
        f"{summary['rows_added']:,} requests added, {summary['rows_duplicate']:,} already stored"
        + (f" ({summary['rows_filled_in']:,} of them filled in)" if summary["rows_filled_in"] else "") + ", "
        f"{summary['rows_conflicting']:,} conflicting, {summary['rows_rejected']:,} rejected"
        + (f", {summary['rows_skipped']:,} records skipped (no model call of their own)" if summary["rows_skipped"] else "")
        + " (see `plan status`)."
    )
    if summary["unknown_models"]:
        echo(
            f"No price for: {', '.join(summary['unknown_models'])} (cost left unknown; add them to plan.toml "
            f'as [prices."MODEL"] input_per_mtok = ..., output_per_mtok = ...).'
        )
