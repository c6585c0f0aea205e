"""Routing accuracy of `plan route` and of its exports on requests held out from the fit.

    python benchmarks/quality_route.py                          # sample_logs/ and CLINC150 (../shared/eval)
    python benchmarks/quality_route.py --sets sample_logs --json
    python benchmarks/quality_route.py --sets clinc150 --holdout 0.2 --seed 1

For each labelled workload, through the library exactly as the CLI calls it:

1. a seeded share of each label's requests (``--holdout``, default 20%) is set aside before anything is fitted;
2. the rest is ingested into a fresh DuckDB (sample_logs: ``plan ingest sample_logs/``, the held-out rows then
   deleted) and categorized (``plan categorize --top N``, N = the number of labels);
3. ``plan route export --format json``: routes, utterances and thresholds, calibrated on the export's own
   held-out split of the fitted requests (its numbers are reported too, as "export's own held-out");
4. the set-aside requests are routed by
   - ``plan route`` as logged (system prompt and user turn: categorize's own space, "request" mode),
   - ``plan route`` on the bare user turn ("prompt" mode: what a gateway sees),
   - the exported routes as semantic-router and LiteLLM's auto router score them (top 5 utterances, mean per
     route, the route's own threshold), on the user turn: plan's replica of that scoring, which
     tests/test_route.py checks against the real libraries,
   and each again without thresholds (the nearest category always wins), the reference for what they cost;
5. a held-out request's *home* is the category most of its label's fitted requests were put in (the default
   route when that is Other). Reported: the share landing home, falling through to the default route, landing
   in another category. CLINC150's out-of-scope prompts (``oos_test``) have no home: they should fall through.

sample_logs labels are the generator's workloads (each has its own system prompt: sample_logs/generate.py).
CLINC150 (no system prompt): ``clinc150``, its ten domains as ten apps (train split, ``--per-intent`` prompts of
each of the 150 intents; held out, a ``--holdout`` share of the test split); ``clinc150-intents``, ten intents
(the first of each domain) as ten single-purpose apps (60 train prompts each; held out, all 30 test prompts of
each). Both route ``--oos`` out-of-scope prompts beside them. Where categorize does not put a label's requests in
one category (CLINC's domains are broad), "fitted at home" bounds what routing can agree with.
Vectors are cached under ~/.cache/plan/bench (``PLAN_CACHE_DIR``), so a rerun embeds nothing new.
The numbers in the README ("Routing") come from `python benchmarks/quality_route.py --json`.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EVAL = REPO.parent / "shared" / "eval"
BENCH_DIR = Path(os.environ.get("PLAN_CACHE_DIR") or Path.home() / ".cache" / "plan") / "bench"
VECTORS = BENCH_DIR / "quality_vectors.duckdb"
SAMPLE_SEED = 20261001  # sample_logs/generate.py's default: the committed files


def _draw(key: str, seed: int) -> float:
    return int(hashlib.md5(f"{seed}:{key}".encode()).hexdigest()[:8], 16) / 2**32


def _fresh_db(name: str):
    from analyzer.db import connect

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / f"route_{name.replace('-', '_')}.duckdb"
    path.unlink(missing_ok=True)
    con = connect(str(path))
    connect(str(VECTORS)).close()
    con.execute(f"attach '{VECTORS}' as vec")
    con.execute("insert into embeddings select * from vec.embeddings")
    con.execute("detach vec")
    return con


def _keep_vectors(con) -> None:
    con.execute(f"attach '{VECTORS}' as vec")
    con.execute("insert into vec.embeddings select e.* from embeddings e anti join vec.embeddings v "
                "using (content_hash, embedder)")
    con.execute("detach vec")


def _workload_of_system_prompt() -> dict[str, str]:
    """The generator's workloads by the head of their system prompt (each workload has its own)."""
    spec = importlib.util.spec_from_file_location("sample_logs_generate", REPO / "sample_logs" / "generate.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = gen
    spec.loader.exec_module(gen)
    heads: dict[str, set[str]] = {}
    for planned in gen.build_calls(SAMPLE_SEED):
        heads.setdefault(" ".join((planned.call.system or "").split())[:120], set()).add(planned.call.workload)
    assert all(len(w) == 1 for w in heads.values()), "a system prompt shared by two workloads"
    return {head: next(iter(w)) for head, w in heads.items()}


def sample_logs_set(con, holdout: float, seed: int) -> tuple[dict[int, str], list[dict]]:
    """Ingest sample_logs/, label every request with its workload, set a share aside (deleted from the fit)."""
    from analyzer.db import dicts
    from analyzer.ingest import ingest_paths

    ingest_paths(con, [str(REPO / "sample_logs")])
    workload = _workload_of_system_prompt()
    labels, held = {}, []
    for r in dicts(con, "select id, system_prompt, prompt_text from requests order by id"):
        label = workload.get(" ".join((r["system_prompt"] or "").split())[:120])
        if label is None:
            raise SystemExit(f"request {r['id']}: no workload has its system prompt")
        if _draw(str(r["id"]), seed) < holdout:
            held.append({"system": r["system_prompt"], "prompt": r["prompt_text"] or "", "label": label})
        else:
            labels[r["id"]] = label
    con.execute("delete from requests where id not in (select unnest(?))", [list(labels)])
    return labels, held


def clinc150_set(con, holdout: float, seed: int, per_intent: int, oos: int, *,
                 by: str) -> tuple[dict[int, str], list[dict]]:
    """CLINC150 as apps, bare prompts: ``by="domain"``, its ten domains (every intent); ``by="intent"``, ten
    intents, the first of each domain. Train prompts are fitted, test prompts (and out-of-scope ones) held out."""
    import pyarrow as pa

    from analyzer.db import insert_arrow

    data = json.loads((EVAL / "clinc150" / "data_full.json").read_text())
    domains = json.loads((EVAL / "clinc150" / "domains.json").read_text())
    if by == "domain":
        label_of = {i: d for d, intents in domains.items() for i in intents}
    else:
        label_of = {intents[0]: intents[0] for intents in domains.values()}
    taken: Counter = Counter()
    fit = []
    for text, intent in sorted(data["train"], key=lambda ti: _draw(ti[0], seed)):
        if intent in label_of and taken[intent] < per_intent:
            taken[intent] += 1
            fit.append((text, label_of[intent]))
    insert_arrow(con, "requests", pa.Table.from_pylist([
        {"id": i + 1, "prompt_text": t, "cost_usd": 2e-6 * (50 + len(t)), "model": "gpt-4o-mini",
         "provider": "openai", "input_tokens": 50 + len(t) // 4, "output_tokens": 100}
        for i, (t, _) in enumerate(fit)]))
    share = holdout if by == "domain" else 1.0  # ten intents: all 30 test prompts of each
    held = [{"system": None, "prompt": t, "label": label_of[i]} for t, i in data["test"]
            if i in label_of and _draw(t, seed) < share]
    held += [{"system": None, "prompt": t, "label": None}
             for t, _ in sorted(data["oos_test"], key=lambda ti: _draw(ti[0], seed))[:oos]]
    return {i + 1: y for i, (_, y) in enumerate(fit)}, held


def homes(con, labels: dict[int, str]) -> tuple[dict[str, int], float]:
    """Each label's home: the category most of its fitted requests were put in (0: Other, the default route);
    and the share of fitted requests categorize put in their label's home (what routing can agree with)."""
    from analyzer.db import rows

    votes: dict[str, Counter] = {}
    for rid, cid in rows(con, "select request_id, category_id from request_categories"):
        votes.setdefault(labels[rid], Counter())[cid] += 1
    named = {c for (c,) in rows(con, "select category_id from categories where named and not is_other")}
    home = {y: (c.most_common(1)[0][0] if c.most_common(1)[0][0] in named else 0) for y, c in votes.items()}
    at_home = sum(c[home[y]] for y, c in votes.items()) / max(1, sum(sum(c.values()) for c in votes.values()))
    return home, round(at_home, 4)


def score(home: list[int | None], landed: list[int | None]) -> dict:
    """Where held-out prompts land against their home (None home: out of scope, should fall through)."""
    inside = [(h, g) for h, g in zip(home, landed, strict=True) if h is not None]
    outside = [g for h, g in zip(home, landed, strict=True) if h is None]
    n = len(inside)
    own = sum((g or 0) == h for h, g in inside)
    fell = sum(g is None and h != 0 for h, g in inside)
    out = {"held_out": n, "home": round(own / n, 4) if n else None,
           "fell_through": round(fell / n, 4) if n else None,
           "elsewhere": round((n - own - fell) / n, 4) if n else None}
    if outside:
        out |= {"out_of_scope": len(outside),
                "out_of_scope_to_default": round(sum(g is None for g in outside) / len(outside), 4)}
    return out


def route_with_plan(con, held: list[dict], bare: bool) -> tuple[list, list]:
    """plan route's category for each held-out prompt (None: the default route), and its nearest category."""
    from analyzer.route import RouteSettings, classify

    prompts = [(None if bare else h["system"], h["prompt"]) for h in held]
    results = classify(con, RouteSettings.resolve({}), prompts, progress=False)
    return ([r["category_id"] for r in results],
            [r["nearest_category_id"] or None if r["score"] is not None else None for r in results])


def route_with_exported(con, doc: dict, held: list[dict]) -> tuple[list, list]:
    """Where semantic-router / LiteLLM's auto router send each held-out user turn with the exported routes,
    with the thresholds and without them (plan's replica of their scoring)."""
    from analyzer.embedders import get_embedder
    from analyzer.route import calibrate as cal

    routes = [r for r in doc["routes"] if r["utterances"]]
    embedder = get_embedder(doc["embedder"])
    queries = [h["prompt"][: cal.QUERY_CHARS] or " " for h in held]
    q_vec = cal.embed_units(con, queries, embedder)
    u_vec = cal.embed_units(con, [u["text"] for r in routes for u in r["utterances"]], embedder)
    owner = np.asarray([i for i, r in enumerate(routes) for _ in r["utterances"]])
    scores = cal.utterance_scores(q_vec, u_vec, owner, len(routes))
    chosen, _ = cal.choose_routes(scores, np.asarray([r["utterance_score_threshold"] for r in routes]))
    ids = [r["category_id"] for r in routes]
    nearest = [ids[int(s.argmax())] if s.max() > 0 else None for s in scores]
    return [ids[c] if c >= 0 else None for c in chosen], nearest


def evaluate(name: str, build, top: int) -> dict:
    from analyzer.categorize import CategorizeSettings, categorize
    from analyzer.route import RouteSettings, export_routes

    con = _fresh_db(name)
    t = time.perf_counter()
    labels, held = build(con)
    result = categorize(con, CategorizeSettings.resolve({}, top=top), progress=False)
    t_fit = time.perf_counter() - t
    out_file = BENCH_DIR / f"route_{name}.json"
    summary = export_routes(con, RouteSettings.resolve({}), fmt="json", out=out_file, progress=False)
    doc = json.loads(out_file.read_text())
    home_of, fit_at_home = homes(con, labels)
    home = [home_of.get(h["label"], 0) if h["label"] is not None else None for h in held]
    report = {"set": name, "fitted_requests": len(labels), "held_out_requests": len(held),
              "labels": len(home_of), "categories_named": sum(1 for c in result["categories"] if not c["is_other"]),
              "labels_at_home_in_other": sorted(y for y, c in home_of.items() if c == 0),
              "fitted_at_home": fit_at_home,
              "export_own_held_out": {k: v["own_category_share"] for k, v in summary["held_out"].items()},
              "fit_seconds": round(t_fit, 1)}
    modes = {"plan route, as logged": lambda: route_with_plan(con, held, bare=False),
             "plan route, bare user turn": lambda: route_with_plan(con, held, bare=True),
             "exported routes (semantic-router / LiteLLM scoring)": lambda: route_with_exported(con, doc, held)}
    if all(h["system"] is None for h in held):
        del modes["plan route, as logged"]  # the same as bare: these prompts have no system prompt
    for mode, run in modes.items():
        t = time.perf_counter()
        landed, nearest = run()
        report[mode] = {"with_thresholds": score(home, landed), "nearest_always": score(home, nearest),
                        "seconds": round(time.perf_counter() - t, 1)}
    _keep_vectors(con)
    con.close()
    return report


def _print(report: dict) -> None:
    print(f"\n{report['set']}: {report['fitted_requests']:,} fitted, {report['held_out_requests']:,} held out, "
          f"{report['labels']} labels, {report['categories_named']} named categories "
          f"(labels whose home is Other: {', '.join(report['labels_at_home_in_other']) or 'none'})")
    print(f"  categorize put {report['fitted_at_home']:.1%} of the fitted requests in their label's home")
    print("  export's own held-out (home share): " + ", ".join(
        f"{k} {v:.1%}" for k, v in report["export_own_held_out"].items() if v is not None))
    for mode, got in report.items():
        if not isinstance(got, dict) or "with_thresholds" not in got:
            continue
        w, n = got["with_thresholds"], got["nearest_always"]
        oos = (f"; out of scope to default {w['out_of_scope_to_default']:.1%} of {w['out_of_scope']}"
               if "out_of_scope" in w else "")
        print(f"  {mode}: home {w['home']:.1%}, fell through {w['fell_through']:.1%}, elsewhere "
              f"{w['elsewhere']:.1%} of {w['held_out']}{oos} | without thresholds: home {n['home']:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="*", default=["sample_logs", "clinc150", "clinc150-intents"],
                        choices=["sample_logs", "clinc150", "clinc150-intents"])
    parser.add_argument("--holdout", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-intent", type=int, default=20, help="clinc150: train prompts fitted per intent")
    parser.add_argument("--oos", type=int, default=300, help="clinc150: out-of-scope prompts routed")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    builders = {
        "sample_logs": (lambda con: sample_logs_set(con, args.holdout, args.seed), 12),
        "clinc150": (lambda con: clinc150_set(con, args.holdout, args.seed, args.per_intent, args.oos,
                                              by="domain"), 10),
        "clinc150-intents": (lambda con: clinc150_set(con, args.holdout, args.seed, 60, args.oos, by="intent"), 10),
    }
    reports = []
    for name in args.sets:
        if name.startswith("clinc150") and not (EVAL / "clinc150").exists():
            print("clinc150: ../shared/eval/clinc150 is not beside this checkout; skipped", file=sys.stderr)
            continue
        build, top = builders[name]
        reports.append(evaluate(name, build, top))
        if not args.json:
            _print(reports[-1])
    if args.json:
        print(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
