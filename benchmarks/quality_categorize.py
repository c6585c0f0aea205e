"""Clustering quality of categorize's choices on labelled public data (../shared/eval).

    python benchmarks/quality_categorize.py [--sample 1500] [--seeds 3]

CLINC150 test split (4,500 utterances; k=150 intents and k=10 domains) and MT-Bench (80 questions,
8 categories). For each: NMI and ARI of
  - plain KMeans on MiniLM (the reference: NMI 0.893 at k=150),
  - categorize's clusterer (neighbour smoothing + Ward-initialised KMeans) on MiniLM,
  - the same on the static embedder alone,
  - the scaled route: fit on a uniform sample embedded with MiniLM, assign the rest with the static
    embedder through the learned ridge map (and its agreement with full MiniLM assignment),
  - the auto k criterion (which k it picks and the NMI there),
  - end to end: categorize() on a database of the CLINC test prompts with k=150.
Vectors are cached under ~/.cache/plan/bench.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
BENCH_DIR = Path(os.environ.get("PLAN_CACHE_DIR") or Path.home() / ".cache" / "plan") / "bench"


def vectors(name: str, texts: list[str]) -> np.ndarray:
    from analyzer.embedders import get_embedder

    key = hashlib.md5(("\n".join(texts) + name).encode()).hexdigest()[:16]
    path = BENCH_DIR / f"{name}-{key}.npy"
    if path.exists():
        return np.load(path)
    out = get_embedder(name).encode(texts)
    np.save(path, out)
    return out


def scores(truth, labels) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {"nmi": round(float(normalized_mutual_info_score(truth, labels)), 3),
            "ari": round(float(adjusted_rand_score(truth, labels)), 3)}


def mean_scores(runs: list[dict]) -> dict:
    return {k: round(float(np.mean([r[k] for r in runs])), 3) for k in runs[0]}


def evaluate(name: str, texts: list[str], truth: list[str], k: int, *, seeds: int, sample: int | None) -> dict:
    from sklearn.cluster import KMeans

    from analyzer.categorize import Clusterer, _nearest, _normalise, _ridge_map, choose_k

    minilm = _normalise(vectors("all-MiniLM-L6-v2", texts))
    static = _normalise(vectors("static-minilm", texts))
    out: dict = {"dataset": name, "n": len(texts), "k": k}
    t = time.perf_counter()
    out["kmeans_minilm"] = mean_scores([scores(truth, KMeans(k, n_init=1, random_state=s).fit_predict(minilm))
                                        for s in range(seeds)])
    out["kmeans_minilm_ninit10"] = scores(truth, KMeans(k, n_init=10, random_state=0).fit_predict(minilm))
    out["categorize_minilm"] = mean_scores([scores(truth, Clusterer(minilm, seed=s).fit(k)[0]) for s in range(seeds)])
    out["kmeans_static"] = mean_scores([scores(truth, KMeans(k, n_init=1, random_state=s).fit_predict(static))
                                        for s in range(seeds)])
    out["categorize_static"] = mean_scores([scores(truth, Clusterer(static, seed=s).fit(k)[0]) for s in range(seeds)])
    if sample and sample < len(texts):
        runs, agreements = [], []
        for s in range(seeds):
            rng = np.random.default_rng(s)
            fit = rng.choice(len(texts), sample, replace=False)
            rest = np.setdiff1d(np.arange(len(texts)), fit)
            labels_fit, centres = Clusterer(minilm[fit], seed=s).fit(k)
            w = _ridge_map(static[fit], minilm[fit])
            labels = np.empty(len(texts), dtype=np.int64)
            labels[fit] = labels_fit
            labels[rest], _ = _nearest(_normalise(static[rest] @ w), centres)
            full, _ = _nearest(minilm[rest], centres)
            agreements.append(float((full == labels[rest]).mean()))
            runs.append(scores(truth, labels))
        out[f"sampled_{sample}_minilm_plus_static"] = mean_scores(runs)
        out[f"sampled_{sample}_agreement_with_full_minilm"] = round(float(np.mean(agreements)), 3)
    k_auto, grid = choose_k(minilm, top=min(10, k), seed=0)
    out["auto_k"] = {"k": k_auto, **scores(truth, Clusterer(minilm, seed=0).fit(k_auto)[0]),
                     "grid": [(g["k"], round(g["silhouette"], 3) if g["silhouette"] is not None else None) for g in grid]}
    out["seconds"] = round(time.perf_counter() - t, 1)
    return out


def end_to_end(texts: list[str], truth: list[str], k: int) -> dict:
    """categorize() on a database of the prompts (normalisation, dedupe and all)."""
    import pyarrow as pa

    from analyzer.categorize import categorize
    from analyzer.db import connect, insert_arrow, rows

    path = BENCH_DIR / "clinc_test_e2e.duckdb"
    fresh = not path.exists()
    con = connect(str(path))
    if fresh:
        insert_arrow(con, "requests", pa.Table.from_pylist(
            [{"id": i + 1, "prompt_text": t, "cost_usd": 0.001, "tags_json": json.dumps({"label": y})}
             for i, (t, y) in enumerate(zip(texts, truth))]))
    t = time.perf_counter()
    categorize(con, k=k, top=10, progress=False)
    got = rows(con, "select json_extract_string(r.tags_json, '$.label'), rc.cluster from request_categories rc "
                    "join requests r on r.id = rc.request_id")
    con.close()
    return {"categorize_end_to_end": scores([g[0] for g in got], [g[1] for g in got]),
            "seconds": round(time.perf_counter() - t, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=1500)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    data = json.loads((EVAL / "clinc150" / "data_full.json").read_text())
    domains = json.loads((EVAL / "clinc150" / "domains.json").read_text())
    domain_of = {i: d for d, intents in domains.items() for i in intents}
    texts = [t for t, _ in data["test"]]
    intents = [i for _, i in data["test"]]
    results = [
        evaluate("clinc150 test / intents", texts, intents, 150, seeds=args.seeds, sample=args.sample),
        evaluate("clinc150 test / domains", texts, [domain_of[i] for i in intents], 10, seeds=args.seeds,
                 sample=args.sample),
    ]
    mt = [json.loads(line) for line in (EVAL / "mt_bench" / "mt_bench_question.jsonl").open()]
    results.append(evaluate("mt_bench / categories", [q["turns"][0] for q in mt], [q["category"] for q in mt], 8,
                            seeds=max(args.seeds, 5), sample=None))
    if not args.skip_e2e:
        results.append({"dataset": "clinc150 test / intents, end to end", **end_to_end(texts, intents, 150)})
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
