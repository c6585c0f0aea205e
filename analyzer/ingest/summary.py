"""What one `plan ingest` run did, per file and in total: the `--json` document and the lines people read."""

from __future__ import annotations

from .incoming import FileResult
from .sample_rates import file_rates

COUNTS = ("rows_added", "rows_duplicate", "rows_conflicting", "rows_rejected", "rows_skipped", "rows_filled_in")


def file_stats(con, display: str, stamp) -> dict:
    """Tokens, spend and models of the rows this run stored from one file. Spend is None when no row of it has a
    known cost (unknown is not zero); ``rows_unpriced`` says how many rows the sum leaves out. ``sample_rates`` are
    those of all the file's stored rows; ``spend_scaled_usd`` is the spend scaled by 1/rate, for sampled files;
    ``rows_without_usage`` counts answered calls that state neither tokens nor a cost (requests logged without their
    answer, and failed calls, have none to state). Sums
    are of decimals: a sum of doubles depends on the order DuckDB's threads add them in (the last digit changed from
    run to run)."""
    totals = con.execute(
        """
        select sum(input_tokens), sum(output_tokens), sum(cost_usd::decimal(38, 12)), count(*) filter (where cost_usd is null),
               count(*) filter (where cost_source = 'log'), sum((cost_usd / coalesce(sample_rate, 1))::decimal(38, 12)),
               count(*) filter (where input_tokens is null and output_tokens is null and cost_usd is null
                                  and coalesce(status, 'ok') not in ('no_response', 'error'))
        from requests where source_file = ? and ingested_at = ?
        """,
        [display, stamp],
    ).fetchall()[0]
    models = con.execute(
        """select coalesce(model, '(no model)'), count(*) from requests where source_file = ? and ingested_at = ?
           group by 1 order by 2 desc, 1""",
        [display, stamp],
    ).fetchall()
    return {
        "input_tokens": int(totals[0]) if totals[0] is not None else None,
        "output_tokens": int(totals[1]) if totals[1] is not None else None,
        "spend_usd": round(float(totals[2]), 6) if totals[2] is not None else None,
        "rows_unpriced": int(totals[3] or 0),
        "rows_cost_logged": int(totals[4] or 0),
        "rows_without_usage": int(totals[6] or 0),
        "models": {name: count for name, count in models},
        "sample_rates": (rates := file_rates(con, display)),
        "spend_scaled_usd": (round(float(totals[5]), 6) if totals[5] is not None and any(r["rate"] for r in rates)
                             else None),
    }


def file_entry(result: FileResult, stats: dict) -> dict:
    entry: dict = {"path": result.path, "format": result.format}
    entry.update({name: getattr(result, name) for name in COUNTS})
    entry.update(stats)
    entry["joined_into"] = sorted(result.joined_into)
    entry["note"] = result.note
    entry["s3_bodies"] = result.s3_bodies
    entry["lines_to_python"] = result.lines_to_python
    return entry


def build_summary(files: list[dict], unknown_models, conflicts: list[dict]) -> dict:
    summary: dict = {name: sum(f[name] for f in files) for name in COUNTS}
    summary["s3_bodies"] = {key: sum((f.get("s3_bodies") or {}).get(key, 0) for f in files)
                            for key in ("records", "read", "unread")}
    summary["files"] = files
    summary["unknown_models"] = sorted(m for m in unknown_models if m)
    summary["conflicts"] = conflicts
    return summary


def _tokens(n: int | None) -> str:
    if n is None:
        return "?"
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.1f}{suffix}"
    return str(n)


def _money(usd: float) -> str:
    if usd >= 0.01 or usd == 0:
        return f"${usd:,.2f}"
    return "$" + f"{usd:.6f}".rstrip("0").rstrip(".") if usd >= 0.000001 else "under $0.000001"


def file_line(f: dict) -> str:
    """One line per file: rows, tokens, spend and models (a batch input joined into its output says so)."""
    if f["joined_into"] and not f["rows_added"]:
        return f"{f['path']}: {f['format']}, joined into {', '.join(f['joined_into'])}"
    extra = [f"{f[key]:,} {label}" for key, label in (
        ("rows_duplicate", "duplicates"), ("rows_filled_in", "filled in what stored rows lacked"),
        ("rows_conflicting", "conflicting"), ("rows_rejected", "rejected"),
        ("rows_skipped", "skipped, no model call of their own")) if f[key]]
    line = f"{f['path']}: {f['format']}, {f['rows_added']:,} added" + (f" ({', '.join(extra)})" if extra else "")
    if f["rows_added"]:
        spend = "spend unknown" if f["spend_usd"] is None else _money(f["spend_usd"])
        if f["spend_usd"] is not None and f["rows_unpriced"]:
            spend += f" (+{f['rows_unpriced']:,} unpriced)"
        models = ", ".join(f"{name} x{count:,}" for name, count in list(f["models"].items())[:4])
        more = len(f["models"]) - 4
        line += (f"; tokens {_tokens(f['input_tokens'])} in / {_tokens(f['output_tokens'])} out; {spend}; "
                 f"models {models}" + (f" and {more} more" if more > 0 else ""))
    if f["joined_into"]:
        line += f"; joined into {', '.join(f['joined_into'])}"
    bodies = f.get("s3_bodies")
    if bodies:
        line += f"; {bodies['records']:,} records keep a body in S3 beside the log, {bodies['read']:,} of them read"
    sampled = sample_phrase(f.get("sample_rates") or [])
    if sampled:
        line += f"; {sampled}"
        if f.get("spend_scaled_usd") is not None and f["rows_added"]:
            line += f", about {_money(f['spend_scaled_usd'])} for the full traffic"
    return line


def sample_phrase(rates: list[dict]) -> str | None:
    """'sample rate 0.02 (1 in 50, stated in the export)' for a file's rates; None when it is not sampled."""
    sampled = [r for r in rates if r["rate"] is not None]
    if not sampled:
        return None
    words = {"flag": "given with --sample-rate", "stated": "stated in the export"}
    parts = []
    for r in sampled:
        rate = r["rate"]
        one_in = f"1 in {1 / rate:,.0f}, " if rate < 1 and abs(1 / rate - round(1 / rate)) < 1e-6 else ""
        parts.append(f"{rate:g} ({one_in}{words.get(r['source'], 'source unknown')})")
    unsampled = sum(r["requests"] for r in rates if r["rate"] is None)
    return ("sample rate " + ", ".join(parts)
            + (f"; {unsampled:,} requests not sampled" if unsampled else ""))
