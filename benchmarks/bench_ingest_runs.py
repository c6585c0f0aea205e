"""Ingest speed in the situations of real runs rather than one fresh file: `plan ingest` of the same calls laid out
differently, each against a baseline run of the same lines in the same session (reported as ratios, since this
machine is shared and its speed moves from minute to minute).

    python benchmarks/bench_ingest_runs.py                         # 200,000 lines, every situation
    python benchmarks/bench_ingest_runs.py --records 50000 --repeat 3 --json

Situations (the baseline each is divided by in brackets), every file of the first benchmark's OpenAI chat pairs
(``bench_ingest.chat_pairs``, seeded):

- ``late_keys``: request parameters and envelope keys (``temperature``, ``tools``, ``response_format``, ``user``,
  ``latency_ms``) on every line from line 3,001: a feature that starts logging them later in the day (``all_keys``:
  the same lines with those keys from the first line);
- ``late_errors``: one call in twenty a failed call (a 429's error body) from line 5,001 (``plain``);
- ``gzip``: the plain file gzip-compressed (``plain``);
- ``after_small``: the plain file ingested into a database that holds a 3,000-line file already, the usual case of
  several files or a database in use (``plain``, into an empty database);
- ``grown``: a log whose first half was ingested, grown to the whole file (same path) and ingested again (``plain``);
- ``again``: the whole file ingested a second time, every line already stored (``plain``).

Each run is a fresh `plan ingest` process (the situations' earlier ingests are not timed); wall time and peak RSS are
measured from outside, the database closed (its checkpoint) included. A small ingest runs first so that `plan` runs
from compiled bytecode (``bench_ingest.warm_up``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_ingest  # noqa: E402  (the matrix's generators and measuring)

DATA = bench_ingest.DATA
EXTRA_KEYS_FROM = 3_000
ERRORS_FROM = 5_000
SMALL = 3_000


def with_keys(record: dict, i: int) -> dict:
    record["request"].update(temperature=0.2, tools=bench_ingest.TOOLS, response_format={"type": "json_object"})
    record.update(user=f"u{i % 97}", latency_ms=100 + i % 900)
    return record


def failed(record: dict) -> dict:
    record["response"] = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
    record["status"] = 429
    return record


def calls(records: int):
    """The seeded calls every file is made of, generated afresh for each file: held in memory, they made this
    process big, and each `plan` process forked from it started with its pages (its peak RSS read 1.5 GB)."""
    rng = random.Random(3)
    return (bench_ingest.chat_pairs(rng, i) for i in range(records))


def write_files(records: int, folder: Path) -> dict[str, Path]:
    """Every file the situations read, from one seeded stream of calls."""
    lines = {
        "plain": lambda i, c: c,
        "all_keys": lambda i, c: with_keys(c, i),
        "late_keys": lambda i, c: with_keys(c, i) if i >= EXTRA_KEYS_FROM else c,
        "late_errors": lambda i, c: failed(c) if i >= ERRORS_FROM and i % 20 == 0 else c,
    }
    paths = {name: folder / f"{name}.jsonl" for name in (*lines, "small")}
    for name, change in lines.items():
        with open(paths[name], "w", encoding="utf-8") as out:
            out.writelines(json.dumps(change(i, c)) + "\n" for i, c in enumerate(calls(records)))
    with open(paths["small"], "w", encoding="utf-8") as out:
        out.writelines(json.dumps({**c, "response": {**c["response"], "id": f"small-{i}"}}) + "\n"
                       for i, c in enumerate(calls(min(SMALL, records))))
    paths["gzip"] = folder / "plain.jsonl.gz"
    with open(paths["plain"], "rb") as src, gzip.open(paths["gzip"], "wb", compresslevel=6) as out:
        shutil.copyfileobj(src, out)
    return paths


def plan_ingest(db: Path, *paths: Path) -> dict:
    """One timed `plan ingest` process."""
    run = bench_ingest.run_measured([str(Path(sys.executable).with_name("plan")), "ingest", "--db", str(db), "--json",
                                     *map(str, paths)])
    summary = json.loads(run.pop("stdout"))
    run.update(added=summary["rows_added"], duplicate=summary["rows_duplicate"])
    return run


def untimed(db: Path, *paths: Path) -> None:
    subprocess.run([str(Path(sys.executable).with_name("plan")), "ingest", "--db", str(db), "--json", *map(str, paths)],
                   check=True, capture_output=True)


def fresh(folder: Path, name: str) -> Path:
    db = folder / f"{name}.duckdb"
    for f in (db, Path(str(db) + ".wal")):
        f.unlink(missing_ok=True)
    return db


def situations(paths: dict[str, Path], folder: Path, records: int) -> dict[str, dict]:
    """One run of every situation and baseline."""
    times = {}
    for name in ("plain", "all_keys", "late_keys", "late_errors", "gzip"):
        times[name] = plan_ingest(fresh(folder, name), paths[name])
    db = fresh(folder, "after_small")
    untimed(db, paths["small"])
    times["after_small"] = plan_ingest(db, paths["plain"])
    db, grown = fresh(folder, "grown"), folder / "grown.jsonl"
    with open(paths["plain"], "rb") as src, open(grown, "wb") as out:
        out.writelines(line for _, line in zip(range(records // 2), src, strict=False))
    untimed(db, grown)
    with open(paths["plain"], "rb") as src, open(grown, "ab") as out:
        out.writelines(line for number, line in enumerate(src) if number >= records // 2)
    times["grown"] = plan_ingest(db, grown)
    times["again"] = plan_ingest(db, grown)
    return times


BASELINES = {"late_keys": "all_keys", "late_errors": "plain", "gzip": "plain", "after_small": "plain", "grown": "plain",
             "again": "plain"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000, help="lines per file; default 200000")
    parser.add_argument("--repeat", type=int, default=2, help="runs of every situation; the median is reported")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    DATA.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="plan-runs-", dir=DATA) as tmp:
        folder = Path(tmp)
        paths = write_files(args.records, folder)
        bench_ingest.warm_up(paths["plain"], folder)
        runs = []
        for attempt in range(args.repeat):
            runs.append(situations(paths, folder, args.records))
            print(f"run {attempt + 1}: " + ", ".join(f"{k} {v['wall_s']:.1f}s" for k, v in runs[-1].items()), file=sys.stderr)
    results = []
    for name, base in BASELINES.items():
        results.append({
            "situation": name, "baseline": base, "records": args.records,
            "wall_s": round(statistics.median(r[name]["wall_s"] for r in runs), 2),
            "baseline_wall_s": round(statistics.median(r[base]["wall_s"] for r in runs), 2),
            "ratio_wall": round(statistics.median(r[name]["wall_s"] / r[base]["wall_s"] for r in runs), 2),
            "peak_rss_mb": round(max(r[name]["peak_rss_mb"] for r in runs)),
            "rows_added": runs[0][name]["added"], "rows_duplicate": runs[0][name]["duplicate"],
        })
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("| situation | baseline | plan ingest | baseline's | ratio (wall) | peak RSS | added / already stored |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for r in results:
            print(f"| {r['situation']} | {r['baseline']} | {r['wall_s']} s | {r['baseline_wall_s']} s | {r['ratio_wall']} | "
                  f"{r['peak_rss_mb']} MB | {r['rows_added']:,} / {r['rows_duplicate']:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
