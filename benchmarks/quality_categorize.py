"""Quality of `plan categorize` on labelled prompt sets: clusters, names and the named share of spend.

    python benchmarks/quality_categorize.py                      # every set found
    python benchmarks/quality_categorize.py --sets banking77 hwu64 clinc150/ --json
    python benchmarks/quality_categorize.py --sets banking77 --no-alone --embedder /models/all-mpnet-base-v2

For each labelled set the prompts go into a fresh database as requests (cost proportional to their length, as a
price per token makes it) and `categorize()` runs twice, through the library exactly as `plan categorize` does:

- **default** (k auto, --top 10): NMI and ARI of the intent clusters (`request_categories.cluster`) against the
  labels, the named level, and the share of spend the named categories carry (the issue's bar: >= 75%);
- **true k** (`--k` = number of labels): NMI and ARI, and the share of categories whose name is nearest (MiniLM
  cosine, against every label written as words) to the label most of its requests carry, for the intents and
  for the named categories (bar: >= 70%).

Also, on the same MiniLM vectors: plain KMeans and categorize's clusterer at the true k (the clustering alone),
and the naming alone: every true intent named by categorize's naming steps (perfect clusters).

Sets: CLINC150 test (150 intents; and each of its 10 domains alone, 15 intents each: ten single-app sets),
MT-Bench (8 categories), Arena-Hard v2.0 (category, subcategory) from ../shared/eval; Banking77 (test split,
77 intents) and HWU64 (64 intents, a 5,000-utterance sample) from `--labelled-dir` (default
~/.cache/plan/labelled) when present: `banking77_test.csv` (text,category; PolyAI-LDN/task-specific-datasets)
and `hwu64_all.csv` (the `;`-separated CrossValidation test files of xliuhw/NLU-Evaluation-Data concatenated).
They are not in the repository (CC-BY-4.0 data; fetch them yourself). Vectors are cached under
~/.cache/plan/bench, so a rerun embeds nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
BENCH_DIR = Path(os.environ.get("PLAN_CACHE_DIR") or Path.home() / ".cache" / "plan") / "bench"
LABELLED = Path(os.environ.get("PLAN_LABELLED_DIR") or Path.home() / ".cache" / "plan" / "labelled")


def load_sets(labelled: Path, wanted: list[str] | None) -> dict[str, tuple[list[str], list[str]]]:
    """name -> (texts, labels) for every set whose files are here."""
    sets: dict[str, tuple[list[str], list[str]]] = {}
    clinc = EVAL / "clinc150" / "data_full.json"
    if clinc.exists():
        data = json.loads(clinc.read_text())
        texts, labels = [t for t, _ in data["test"]], [i for _, i in data["test"]]
        sets["clinc150"] = (texts, labels)
        domains = json.loads((EVAL / "clinc150" / "domains.json").read_text())
        for domain, intents in domains.items():
            keep = [i for i, y in enumerate(labels) if y in set(intents)]
            sets[f"clinc150/{domain}"] = ([texts[i] for i in keep], [labels[i] for i in keep])
    mt = EVAL / "mt_bench" / "mt_bench_question.jsonl"
    if mt.exists():
        rows = [json.loads(line) for line in mt.open()]
        sets["mt_bench"] = ([r["turns"][0] for r in rows], [r["category"] for r in rows])
    arena = EVAL / "arena_hard" / "arena-hard-v2.0_question.jsonl"
    if arena.exists():
        rows = [json.loads(line) for line in arena.open()]
        sets["arena_hard/category"] = ([r["prompt"] for r in rows], [r["category"] for r in rows])
        sets["arena_hard/subcategory"] = ([r["prompt"] for r in rows], [r["subcategory"] for r in rows])
    if (labelled / "banking77_test.csv").exists():
        rows = list(csv.DictReader((labelled / "banking77_test.csv").open()))
        sets["banking77"] = ([r["text"] for r in rows], [r["category"] for r in rows])
    if (labelled / "hwu64_all.csv").exists():
        sets["hwu64"] = _hwu64(labelled / "hwu64_all.csv", 5000)
    if not wanted:
        return sets
    return {k: sets[k] for w in wanted for k in sets if k == w or (w.endswith("/") and k.startswith(w))}


def _hwu64(path: Path, n: int) -> tuple[list[str], list[str]]:
    seen, texts, labels = set(), [], []
    for r in csv.DictReader(path.open(), delimiter=";"):
        text = r["answer_from_anno"] or r["answer_annotation"]
        if text.lower() not in seen:
            seen.add(text.lower())
            texts.append(text)
            labels.append(f"{r['scenario']}_{r['intent']}")
    keep = np.sort(np.random.default_rng(0).choice(len(texts), min(n, len(texts)), replace=False))
    return [texts[i] for i in keep], [labels[i] for i in keep]


def scores(truth, labels) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {"nmi": round(float(normalized_mutual_info_score(truth, labels)), 3),
            "ari": round(float(adjusted_rand_score(truth, labels)), 3)}


def label_words(label: str) -> str:
    return re.sub(r"[_/\-]+", " ", label).strip()


def names_nearest_own_label(named: list[tuple[str, str]], labels: list[str]) -> float | None:
    """Share of (name, majority label) pairs whose name is nearest (MiniLM cosine) to its own label."""
    from analyzer.embedders import get_embedder

    if not named:
        return None
    uniq = sorted(set(labels))
    model = get_embedder("all-MiniLM-L6-v2")
    sims = model.encode([n for n, _ in named]) @ model.encode([label_words(u) for u in uniq]).T
    return round(float(np.mean([uniq[int(row.argmax())] == own for row, (_, own) in zip(sims, named, strict=True)])), 3)


def _database(name: str, texts: list[str], labels: list[str]):
    """A fresh database of the prompts as requests; vectors come from (and go back to) one shared cache."""
    import pyarrow as pa

    from analyzer.db import connect, insert_arrow

    path = BENCH_DIR / f"quality_{re.sub(r'[^a-z0-9]+', '_', name)}.duckdb"
    path.unlink(missing_ok=True)
    con = connect(str(path))
    insert_arrow(con, "requests", pa.Table.from_pylist([
        {"id": i + 1, "prompt_text": t, "cost_usd": 2e-6 * (50 + len(t)), "tags_json": json.dumps({"label": y}),
         "model": "gpt-4o-mini", "input_tokens": 50 + len(t) // 4, "output_tokens": 100}
        for i, (t, y) in enumerate(zip(texts, labels, strict=True))]))
    vectors = BENCH_DIR / "quality_vectors.duckdb"
    connect(str(vectors)).close()
    con.execute(f"attach '{vectors}' as vec")
    con.execute("insert into embeddings select * from vec.embeddings")
    con.execute("detach vec")
    return con, path


def _keep_vectors(con) -> None:
    vectors = BENCH_DIR / "quality_vectors.duckdb"
    con.execute(f"attach '{vectors}' as vec")
    con.execute("insert into vec.embeddings select e.* from embeddings e anti join vec.embeddings v "
                "using (content_hash, embedder)")
    con.execute("detach vec")


def _run(con, labels_of: dict[int, str], **flags) -> dict:
    """categorize() with these flags; scores of its intent clusters and of its names."""
    from analyzer.categorize import CategorizeSettings, categorize
    from analyzer.db import rows

    t = time.perf_counter()
    result = categorize(con, CategorizeSettings.resolve({}, **flags), progress=False)
    got = rows(con, "select request_id, cluster, category_id, intent_id from request_categories order by 1")
    truth = [labels_of[r[0]] for r in got]
    majority = {}
    for key in ("intent_id", "category_id"):
        col = 3 if key == "intent_id" else 2
        votes: dict[int, Counter] = {}
        for r, y in zip(got, truth, strict=True):
            votes.setdefault(r[col], Counter())[y] += 1
        majority[key] = {cid: c.most_common(1)[0][0] for cid, c in votes.items()}
    nodes = {r[0]: r[1] for r in rows(con, "select category_id, name from categories")}
    named = [(c["name"], majority["category_id"][c["id"]]) for c in result["categories"] if not c["is_other"]]
    intents = [(nodes[cid], y) for cid, y in majority["intent_id"].items()]
    return {"k": result["k"], **scores(truth, [r[1] for r in got]), "named_level": result["named_level"],
            "named_share_of_spend": round(result["named_share_of_spend"], 3),
            "names_nearest_own_label": {"named": names_nearest_own_label(named, truth),
                                        "intents": names_nearest_own_label(intents, truth)},
            "example_names": [n for n, _ in named[:5]], "seconds": round(time.perf_counter() - t, 1)}


def clustering_alone(texts: list[str], labels: list[str], k: int) -> dict:
    """Plain KMeans and categorize's clusterer on the same MiniLM vectors, at the true k."""
    from sklearn.cluster import KMeans

    from analyzer.categorize import Clusterer, normalise
    from analyzer.embedders import get_embedder

    x = normalise(get_embedder("all-MiniLM-L6-v2").encode([" ".join(t.lower().split()) for t in texts]))
    return {"kmeans": scores(labels, KMeans(k, n_init=1, random_state=0).fit_predict(x)),
            "clusterer": scores(labels, Clusterer(x, seed=0).fit(k)[0])}


def _as_categorize_reads(text: str) -> str:
    """A prompt as categorize embeds it (lower-cased, whitespace collapsed, digits masked): the cached vectors hit."""
    return re.sub(r"[0-9]+", "0", " ".join(text[:1000].lower().split()))[:500]


def names_alone(texts: list[str], labels: list[str]) -> float | None:
    """Naming alone, on perfect clusters: each true intent named by categorize's own steps (c-TF-IDF against the
    other intents, ``TermChooser`` on the intents' centres, ``task_phrase``); the share of names nearest their
    own label, as for the categories."""
    from analyzer.categorize.describe import KEYWORD_TEXTS, KEYWORDS_PER_CATEGORY, TermChooser, normalise
    from analyzer.db import connect
    from analyzer.embedders import embed_cached, get_embedder
    from analyzer.naming import ctfidf_keywords, keyword_name, task_phrase

    path = BENCH_DIR / "quality_names_alone.duckdb"
    path.unlink(missing_ok=True)
    con = connect(str(path))
    try:
        con.execute(f"attach '{BENCH_DIR / 'quality_vectors.duckdb'}' as vec")
        con.execute("insert into embeddings select * from vec.embeddings")
        con.execute("detach vec")
        model = get_embedder("all-MiniLM-L6-v2")
        reps = [_as_categorize_reads(t) for t in texts]
        x = normalise(embed_cached(con, reps, model).vectors)
        ids = {y: i + 1 for i, y in enumerate(sorted(set(labels)))}
        of = np.array([ids[y] for y in labels])
        docs = {c: [r for r, o in zip(reps, of, strict=True) if o == c][:KEYWORD_TEXTS] for c in ids.values()}
        kws = {c: [w for w, _ in k] for c, k in ctfidf_keywords(docs, KEYWORDS_PER_CATEGORY).items()}
        centre = {c: normalise(x[of == c].sum(axis=0, keepdims=True))[0] for c in ids.values()}
        terms = TermChooser(con, model, kws, centre, dict.fromkeys(ids.values(), "intent"))
        named = [(task_phrase(docs[c], kws[c], terms.choose(c), terms.qualify(c)) or keyword_name(kws[c]), y)
                 for y, c in ids.items()]
    finally:
        con.close()
        path.unlink(missing_ok=True)
    return names_nearest_own_label(named, labels)


def evaluate(name: str, texts: list[str], labels: list[str], *, alone: bool, embedder: str | None = None) -> dict:
    con, path = _database(name, texts, labels)
    try:
        labels_of = {i + 1: y for i, y in enumerate(labels)}
        k = len(set(labels))
        flags = {"embedder": embedder} if embedder else {}
        out = {"set": name, "n": len(texts), "true_k": k, "embedder": embedder or "default",
               "default": _run(con, labels_of, **flags)}
        out["true_k_run"] = _run(con, labels_of, k=k, **flags)
        _keep_vectors(con)
    finally:
        con.close()
        path.unlink(missing_ok=True)
    if alone:
        out["clustering_alone"] = clustering_alone(texts, labels, k)
        out["names_alone"] = names_alone(texts, labels)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="*", help="names of the sets to run, in this order ('clinc150/' for its "
                                                   "ten domains)")
    parser.add_argument("--labelled-dir", type=Path, default=LABELLED)
    parser.add_argument("--no-alone", action="store_true", help="skip plain KMeans / clusterer on vectors")
    parser.add_argument("--embedder", help="categorize's --embedder for both runs (a sentence-transformers model "
                                           "name or local path); the names are still scored with MiniLM")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    results = []
    for name, (texts, labels) in load_sets(args.labelled_dir, args.sets).items():
        results.append(evaluate(name, texts, labels, alone=not args.no_alone and "/" not in name,
                                embedder=args.embedder))
        r = results[-1]
        d, t = r["default"], r["true_k_run"]
        print(f"{name:24s} n={r['n']:5d} k*={r['true_k']:3d} | default k={d['k']:3d} NMI {d['nmi']:.3f} "
              f"named {d['named_level']:8s} share {d['named_share_of_spend']:.0%} | true k NMI {t['nmi']:.3f} "
              f"ARI {t['ari']:.3f} names(named {t['names_nearest_own_label']['named']}, intents "
              f"{t['names_nearest_own_label']['intents']}) {r.get('clustering_alone', '')} names on true intents "
              f"{r.get('names_alone')}", file=sys.stderr,
              flush=True)
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")


if __name__ == "__main__":
    main()
