"""Speed, memory and share accuracy of `plan categorize` at 1,000,000 requests.

    python benchmarks/bench_categorize.py speed     [--n 1000000] [--variety 60]
    python benchmarks/bench_categorize.py accuracy  [--n 1000000] [--variety 1] [--k 20]

speed: builds a synthetic 1M-request workload (benchmarks/synthetic_logs.py, real prompts in production
templates, most requests distinct after normalisation), then times `categorize()` in a fresh process and
reports wall time, peak RSS and the stage timings. The one-off distillation of the static embedder (~40 s,
cached under ~/.cache/plan) is done before timing.

accuracy: on a workload whose distinct texts are few enough to embed all of them with MiniLM, runs the
default route (sample + costliest texts embedded + static assignment of the rest) and compares each top
category's share of spend with (1) the same categories when every text is embedded with MiniLM (the cost of
the levers), (2) clusters fitted on every text embedded with MiniLM, and (3) that full fit with another seed
(how far the reference itself moves). Differences are in percentage points.
Databases are kept under ~/.cache/plan/bench so a rerun skips generation and reuses cached vectors.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
BENCH_DIR = Path(os.environ.get("PLAN_CACHE_DIR") or Path.home() / ".cache" / "plan") / "bench"


def _build(path: Path, n: int, variety: int, doc_pool: int | None = None) -> None:
    from analyzer.db import connect
    from synthetic_logs import build

    if path.exists():
        return
    tmp = path.with_suffix(".tmp")
    if tmp.exists():
        tmp.unlink()
    con = connect(str(tmp))
    t = time.perf_counter()
    build(con, n, variety=variety, doc_pool=doc_pool)
    con.close()
    tmp.rename(path)
    print(f"built {n:,} requests in {time.perf_counter() - t:.0f}s -> {path}", file=sys.stderr)


_CHILD = """
import json, resource, sys, time
from analyzer.db import connect
from analyzer.categorize import CategorizeSettings, categorize
kwargs = json.loads(sys.argv[2])
con = connect(sys.argv[1])
con.execute("set enable_progress_bar = false")
t = time.perf_counter()
result = categorize(con, CategorizeSettings.resolve({}, **kwargs), progress=False)
wall = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
con.close()
with open(sys.argv[3], "w") as fh:
    json.dump({"wall_s": wall, "peak_rss_mb": peak, "result": result}, fh, default=str)
"""


def run_child(db_path: Path, **kwargs) -> dict:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, "-c", _CHILD, str(db_path), json.dumps(kwargs), out.name], check=True,
                       stdout=subprocess.DEVNULL)
        return json.loads(Path(out.name).read_text())


def speed(args) -> None:
    from analyzer.embedders import ensure_static_model

    ensure_static_model()
    path = BENCH_DIR / f"speed_{args.n}_{args.variety}.duckdb"
    _build(path, args.n, args.variety)
    work = path.with_name(path.stem + "_run.duckdb")
    work.write_bytes(path.read_bytes())  # fresh copy: no cached vectors, nothing categorized yet
    try:
        run = run_child(work, k=args.k, top=10, seed=args.seed)
    finally:
        work.unlink(missing_ok=True)
    r = run["result"]
    print(json.dumps({
        "requests": r["requests"], "distinct_texts": r["method"]["distinct_texts"], "k": r["k"],
        "wall_s": round(run["wall_s"], 1), "peak_rss_mb": round(run["peak_rss_mb"]),
        "embedded_new": r["embedded_new"], "static_encoded": r["static_encoded"],
        "assignment_agreement": round(r["method"]["assignment_agreement"], 4),
        "named_level": r["named_level"], "named_share_of_spend": round(r["named_share_of_spend"], 4),
        "top_names": [c["name"] for c in r["categories"] if not c["is_other"]],
        "stability": [c["stability"] for c in r["categories"] if not c["is_other"]],
        "timings_s": r["timings_s"], "load_average": os.getloadavg(),
    }, indent=2))


def _compare(db_a: Path, result_a: dict, db_b: Path) -> dict:
    """Match each top category of run A to the cluster of run B with which it shares most requests, and
    give the difference in share of spend in percentage points."""
    import duckdb

    con = duckdb.connect(str(db_a), read_only=True)
    try:
        con.execute(f"attach '{db_b}' as b (read_only)")
        overlap = con.execute(
            """
            select a.category_id, r.cluster, count(*) as n
            from request_categories a join b.request_categories r using (request_id)
            where a.category_id <> 0 group by 1, 2
            """
        ).fetchall()
        b_spend = dict(con.execute(
            """select rc.cluster, sum(q.cost_usd) from b.request_categories rc join b.requests q on q.id = rc.request_id
               group by 1""").fetchall())
        total = con.execute("select sum(cost_usd) from requests").fetchall()[0][0]
    finally:
        con.close()
    best: dict[int, tuple[int, int]] = {}
    for a_id, b_cluster, n in overlap:
        if a_id not in best or n > best[a_id][1]:
            best[a_id] = (b_cluster, n)
    rows = []
    for c in result_a["categories"]:
        if c["is_other"] or c["id"] not in best:
            continue
        b_share = b_spend[best[c["id"]][0]] / total
        low, high = c["share_of_spend_ci"]
        refit_low, refit_high = c.get("share_of_spend_refit_range") or (None, None)
        rows.append({"category": c["name"][:48], "share_pct": round(100 * c["share_of_spend"], 2),
                     "other_share_pct": round(100 * b_share, 2),
                     "diff_pp": round(100 * (c["share_of_spend"] - b_share), 2),
                     "ci_pct": [round(100 * low, 2), round(100 * high, 2)],
                     "ci_covers_other": low - 5e-5 <= b_share <= high + 5e-5,
                     "stability": c.get("stability"),
                     "refit_range_pct": None if refit_low is None else [round(100 * refit_low, 2), round(100 * refit_high, 2)],
                     "interval_or_refit_range_covers_other": (low - 5e-5 <= b_share <= high + 5e-5) or (
                         refit_low is not None and min(low, refit_low) - 5e-5 <= b_share <= max(high, refit_high) + 5e-5)})
    return {"max_abs_diff_pp": max(abs(r["diff_pp"]) for r in rows) if rows else None, "categories": rows}


def accuracy(args) -> None:
    """Three comparisons, each against "embedding everything" with MiniLM:

    - lever_cost: the same categories (the same sample, fit and seed), every other distinct text embedded
      with MiniLM and assigned to its nearest centre. What sampling plus the cheap route cost, and nothing else.
      Also without the costly texts embedded (heavy_limit=0), to show what that step buys.
    - vs_full_fit: clusters fitted on all distinct texts embedded with MiniLM (a different partition).
    - full_fit_seed_spread: two full fits whose seeds differ. The floor under vs_full_fit: where a workload has
      no natural boundaries, even the reference moves this much from one seed to the next.
    """
    path = BENCH_DIR / f"accuracy_{args.n}_{args.variety}.duckdb"
    _build(path, args.n, args.variety, doc_pool=300)
    copies = {}
    for name in ("ref", "fast", "fast_no_heavy", "ref_seed2", "lever"):
        copies[name] = path.with_name(f"{path.stem}_{name}.duckdb")
        if not copies[name].exists():
            source = copies["ref"] if name in ("ref_seed2", "lever", "fast_no_heavy") and copies["ref"].exists() else path
            copies[name].write_bytes(source.read_bytes())  # copies of ref start with every vector cached
    runs = {
        "fast": run_child(copies["fast"], k=args.k, top=10, seed=args.seed),
        "fast_no_heavy": run_child(copies["fast_no_heavy"], k=args.k, top=10, seed=args.seed, heavy_limit=0),
        "ref": run_child(copies["ref"], k=args.k, top=10, seed=args.seed, exact_limit=10**9),
        "ref_seed2": run_child(copies["ref_seed2"], k=args.k, top=10, seed=args.seed + 1, exact_limit=10**9),
        "lever": run_child(copies["lever"], k=args.k, top=10, seed=args.seed, heavy_limit=10**9, heavy_min_share=0.0),
    }
    fast = runs["fast"]["result"]
    lever = _compare(copies["fast"], fast, copies["lever"])
    print(json.dumps({
        "requests": fast["requests"], "distinct_texts": fast["method"]["distinct_texts"], "k": args.k,
        "fast_wall_s": round(runs["fast"]["wall_s"], 1), "reference_wall_s": round(runs["ref"]["wall_s"], 1),
        "fast_embedded_minilm": fast["embedded_new"] + fast["embedded_cached"],
        "heavy_texts": fast["method"]["heavy_texts"],
        "heavy_share_of_spend": round(fast["method"]["heavy_share_of_spend"], 4),
        "assignment_agreement": round(fast["method"]["assignment_agreement"], 4),
        "static_route_agreement": round(fast["method"]["static_route_agreement"], 4),
        "lever_cost": lever,
        "lever_cost_without_heavy_texts": _compare(copies["fast_no_heavy"], runs["fast_no_heavy"]["result"], copies["lever"]),
        "vs_full_fit": _compare(copies["fast"], fast, copies["ref"]),
        "full_fit_seed_spread": _compare(copies["ref_seed2"], runs["ref_seed2"]["result"], copies["ref"]),
    }, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["speed", "accuracy"])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--variety", type=int, default=None)
    parser.add_argument("--k", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    if args.what == "speed":
        args.variety = args.variety or 60
        args.k = args.k or "auto"
        speed(args)
    else:
        args.variety = args.variety or 1
        args.k = int(args.k or 20)
        accuracy(args)


if __name__ == "__main__":
    main()
