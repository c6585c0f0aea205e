"""Workload discovery: group requests into a hierarchy of categories, rank them by spend, name them.

One call, ``categorize(con, settings, *, progress, say)``, runs named steps (BERTopic-style):

1. **text** (``texts.prepare_texts``): the text that represents each request (system prompt head + user turn,
   normalised, deduplicated), its template and its workload key;
2. **vectors** (``vectors.embed_fit_set``): every distinct text up to ``exact_limit``, else a uniform sample,
   embedded (cached) with the template's embedding alongside;
3. **clusters** (``clusters.fit_clusters``): Ward-initialised KMeans on neighbour-smoothed vectors into k
   intents (auto: first silhouette peak), specific templates kept whole, refit stability measured;
4. **assign the rest** (``assign.assign_texts``): texts outside the sample by template, by the static route,
   or (costly and unsure) by the embedder, with the loss audited;
5. **describe** (``hierarchy.build_tree``, ``describe``): workloads above intents; the level whose top N
   carry at least 75% of spend is named; figures, intervals, keywords, task-phrase names, examples, task type;
6. **store** (``store``): stable ids; ``categories`` (every node, ``named`` marking what
   ``request_categories.category_id`` points at), ``request_categories`` (also ``intent_id``), ``prompt_templates``.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np

from .. import db
from ..sampling import sampling_summary
from .. import task_types as tt
from ..embedders import STATIC_EMBEDDER, get_embedder
from ..errors import PlanError
from ..naming import infer_task_type
from ..progress import Say, say_nothing
from . import describe as d
from .assign import HEAVY_TARGET_AGREEMENT, Assignment, assign_texts, confident_margin, nearest
from .clusters import (UNSTABLE_BELOW, Clusterer, Clusters, boundaries_vary, choose_k, cohere_templates, fit_clusters,
                       k_grid, refit_stability, silhouette)
from .hierarchy import INTENT, WORKLOAD, Tree, build_requests_table, build_tree
from .settings import CategorizeSettings, parse_k
from .store import OTHER_ID, assign_ids, store, write_map
from .texts import REPRESENTATION, TEMP_TABLES, PreparedTexts, prepare_texts, shared_prefix, template_id
from .vectors import FitSet, embed_fit_set, normalise, with_templates

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "OTHER_ID", "CategorizeSettings", "Clusterer", "boundaries_vary", "categorize", "choose_k", "cohere_templates",
    "confident_margin", "k_grid", "parse_k", "prepare_texts", "refit_stability", "shared_prefix", "silhouette",
    "template_id", "with_templates", "normalise", "nearest", "TEMP_TABLES", "hierarchy", "INTENT", "WORKLOAD",
]

MEMORY_LIMIT = "1GB"


@contextmanager
def _stage_tables(con):
    """DuckDB's default memory limit is 80% of RAM; the temp tables hold a row per request, so bound it (DuckDB
    spills to disk beyond it) to keep a million-request run well under 4 GB. Temp tables go at the end."""
    previous = db.scalar(con, "select current_setting('memory_limit')")
    con.execute(f"set memory_limit = '{MEMORY_LIMIT}'")
    try:
        yield
    finally:
        con.execute(f"set memory_limit = '{previous}'")
        for table in TEMP_TABLES:
            con.execute(f"drop table if exists {table}")


def categorize(con: duckdb.DuckDBPyConnection, settings: CategorizeSettings | None = None, *, progress: bool = True,
               say: Say = say_nothing) -> dict:
    """Cluster requests into a hierarchy of categories ranked by spend; write ``categories``,
    ``request_categories`` and ``prompt_templates``; return the ``plan categorize --json`` payload."""
    settings = settings if settings is not None else CategorizeSettings.resolve()
    with _stage_tables(con):
        return _run(con, settings, progress, say)


class _Laps:
    def __init__(self):
        self.timings: dict[str, float] = {}
        self._since = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(self.timings.get(name, 0.0) + now - self._since, 3)
        self._since = now


def _run(con, s: CategorizeSettings, progress: bool, say: Say) -> dict:
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    lap = _Laps()
    if not (db.scalar(con, "select count(*) from requests") or 0):
        raise PlanError("No requests in the database yet: run `plan ingest <files>` first.")
    embedder = get_embedder(s.embedder)
    prep = prepare_texts(con, min_template_requests=s.min_template_requests, seed=s.seed)
    _check_k(s.k, prep.distinct_texts)
    lap("prepare")
    fit, clusters = _fit(con, s, prep, embedder, lap, progress, say)
    assignment = assign_texts(con, fit, clusters, embedder, heavy_limit=s.heavy_limit,
                              heavy_min_share=s.heavy_min_share, heavy_sure_margin=s.heavy_sure_margin,
                              seed=s.seed, progress=progress, say=say) if len(fit) else Assignment()
    if not len(fit):
        con.execute("create or replace temp table _cat_assign "
                    "(rep_hash varchar, cluster bigint, distance double, assigned_by varchar)")
    lap("assign")
    build_requests_table(con)
    tree = build_tree(con, clusters, top=s.top, named_share=s.named_share)
    ids = assign_ids(con, tree)
    write_map(con, tree, ids)
    described = _describe(con, s, prep, fit, clusters, assignment, tree, ids, embedder, say)
    lap("describe")
    store(con, described["rows"], described["templates"], k=clusters.k, embedder_name=embedder.name,
          named_level=tree.named_level, centres=clusters.centres if len(fit) else None,
          content_dims=fit.content.shape[1], template_state=_template_state(prep, fit, clusters, assignment))
    lap("store")
    payload = _payload(s, prep, fit, clusters, assignment, tree, described, embedder.name, lap.timings)
    payload["sampling"] = sampling_summary(con)  # spend above is of the full traffic when the logs are a sample
    db.record_stage_run(con, "categorize", {**s.as_dict(), "k": "auto" if s.k is None else s.k,
                                            "embedder": embedder.name},
                        {key: payload[key] for key in ("requests", "k", "embedded_new", "embedded_cached",
                                                       "static_encoded", "heavy_texts", "named_level", "level_reason",
                                                       "named_share_of_spend", "timings_s")},
                        started_at=started)
    return payload


def _template_state(prep: PreparedTexts, fit: FitSet, clusters: Clusters, assignment: Assignment) -> list[tuple]:
    """Each template's vector, and the cluster it goes to whole (kept whole, or collapsed by the sample)."""
    whole = {**assignment.collapsed_templates, **clusters.cohered}
    out = []
    for t in prep.templates:
        tid = template_id(t["kind"], t["key"])
        out.append((tid, t["kind"], t["key"], fit.template_vectors.get(tid), whole.get(tid)))
    return out


def _fit(con, s: CategorizeSettings, prep: PreparedTexts, embedder, lap: _Laps, progress: bool,
         say: Say) -> tuple[FitSet, Clusters]:
    """Embed the fit set and cluster it. A capped template the clustering splits is embedded in full and the
    fit made again, until every template that still holds texts back is kept whole."""
    uncapped: frozenset[int] = frozenset()
    while True:
        fit = embed_fit_set(con, prep.templates, prep.distinct_texts, embedder, sample_size=s.sample_size,
                            exact_limit=s.exact_limit, template_cap=s.template_cap, uncapped=uncapped,
                            progress=progress, say=say)
        lap("embed")
        clusters = fit_clusters(fit, prep.templates, k=s.k, top=s.top, seed=s.seed)
        lap("cluster")
        split = frozenset(fit.held_back) - frozenset(clusters.cohered)
        if not split:
            return fit, clusters
        say(f"{len(split)} templates were split by content: embedding all of their prompts and clustering again.")
        uncapped |= split


def _check_k(k: int | None, n_texts: int) -> None:
    if n_texts == 0 and k not in (None, 1):
        raise PlanError(f"No request has prompt text, so --k {k} cannot be honoured; these logs carry usage only.")
    if n_texts and k is not None and k > n_texts:
        raise PlanError(f"--k {k} asks for more categories than there are distinct prompts ({n_texts}). "
                        "Use a smaller --k or --k auto.")


def _describe(con, s: CategorizeSettings, prep: PreparedTexts, fit: FitSet, clusters: Clusters,
              assignment: Assignment, tree: Tree, ids: dict[str, int], embedder, say: Say) -> dict:
    """Every category's figures, description and intervals, as the rows ``store`` writes."""
    members = d.node_clusters(tree, ids)
    figures = d.figures(con)
    total_requests = int(figures.get(OTHER_ID, {}).get("requests", 0)) + sum(
        int(figures[ids[k]]["requests"]) for k in tree.named if ids[k] in figures)
    total_spend = float(figures.get(OTHER_ID, {}).get("spend_usd", 0)) + sum(
        float(figures[ids[k]]["spend_usd"]) for k in tree.named if ids[k] in figures)
    unpriced = int(db.scalar(con, "select count(*) from _cat_rc rc join requests r on r.id = rc.request_id "
                                  "where r.cost_usd is null") or 0)
    warnings = _cost_warnings(total_spend, unpriced)
    keywords, texts = d.keywords(tree, ids, members, d.texts_by_cluster(con, fit, clusters))
    samples = d.task_samples(con, s.seed)
    task_of = {cid: infer_task_type(samples.get(cid, [])) for cid in members if cid != OTHER_ID}
    template_text = {template_id(t["kind"], t["key"]): t.get("display") or t["text"] for t in prep.templates}
    level = {ids[k]: n.level for k, n in tree.nodes.items()}
    terms = d.TermChooser(con, embedder, keywords, d.centres_of_categories(members, clusters, fit), level)
    names, name_source = d.names(tree, ids, keywords, texts, samples, task_of, template_text,
                                 d.dominant_templates(con), terms)
    examples = d.examples(con, fit, clusters, members)
    descriptions: dict[int, str] = {}
    named_ids = [ids[k] for k in tree.named]
    if s.llm_names:
        d.llm_names({"endpoint": s.endpoint, "model": s.model}, named_ids, names, name_source, descriptions,
                    keywords, examples, samples, d.centres_of_categories(members, clusters), warnings, say)
    category_of_cluster = {c: (ids[k] if k else OTHER_ID) for c, k in tree.category_of_cluster().items()}
    ci, agreement = d.intervals(assignment.audit, category_of_cluster, figures, total_requests, total_spend,
                                prep.distinct_texts)
    stability = d.stability_of(members, clusters, fit)
    unstable = [cid for cid in named_ids if boundaries_vary(stability.get(cid, {}).get("stability"))]
    if unstable:
        warnings.append(f"{len(unstable)} categories have boundaries that move when the clustering is refitted "
                        f"(stability below {UNSTABLE_BELOW}): their share of spend is known only within their "
                        "refit range, not their interval. Typical of varied traffic under one generic system prompt.")
    context = {"figures": figures, "total_requests": total_requests, "total_spend": total_spend, "names": names,
               "name_source": name_source, "descriptions": descriptions, "keywords": keywords, "examples": examples,
               "task_of": task_of, "intervals": ci, "stability": stability, "members": members,
               "models": d.models(con)}
    return {"rows": _rows(tree, ids, context), "templates": d.template_summary(con, prep.templates),
            "warnings": warnings, "agreement": agreement, "spend_usd": round(total_spend, 6), "unpriced": unpriced}


def _cost_warnings(total_spend: float, unpriced: int) -> list[str]:
    if total_spend <= 0:
        return ["No request has a known cost, so categories are ranked by request count and spend is unknown."]
    if unpriced:
        return [f"{unpriced:,} requests have no known cost; spend and shares leave them out."]
    return []


def _rows(tree: Tree, ids: dict[str, int], ctx: dict) -> list[dict]:
    """One row per category: the named ones by spend rank, then Other, then the rest of the hierarchy."""
    rank = {ids[k]: i for i, k in enumerate(tree.named, 1)}
    order = [ids[k] for k in tree.named]
    if OTHER_ID in ctx["figures"]:
        order.append(OTHER_ID)
    rest = sorted((n for k, n in tree.nodes.items() if ids[k] not in rank and ids[k] in ctx["figures"]),
                  key=lambda n: (n.level != WORKLOAD, -n.spend, -n.requests, n.key))
    order += [ids[n.key] for n in rest]
    node_of = {ids[k]: n for k, n in tree.nodes.items()}
    return [_row(cid, node_of.get(cid), rank.get(cid), tree, ids, ctx) for cid in order]


def _row(cid: int, node, rank: int | None, tree: Tree, ids: dict[str, int], ctx: dict) -> dict:
    f = ctx["figures"][cid]
    spend, total_spend, total_requests = float(f["spend_usd"]), ctx["total_spend"], ctx["total_requests"]
    share_req = f["requests"] / total_requests if total_requests else 0.0
    share_spend = spend / total_spend if total_spend > 0 else 0.0
    iv = ctx["intervals"].get(cid, {})
    refit = ctx["stability"].get(cid)
    if cid == OTHER_ID:
        task, evidence = tt.OTHER, f"{len(ctx['members'][OTHER_ID])} smaller clusters folded together"
    elif ctx["names"].get(cid) == d.NO_TEXT_NAME:
        task, evidence = tt.OTHER, "usage-only records: the logs carry no prompt text"
    else:
        task, evidence = ctx["task_of"].get(cid) or infer_task_type([])
    return {
        "id": cid, "name": ctx["names"][cid], "task_type": task, "keywords": ctx["keywords"].get(cid, []),
        "requests": int(f["requests"]), "share_of_requests": share_req, "spend_usd": round(spend, 6),
        "spend_known": int(f["unpriced_requests"]) < int(f["requests"]),
        "share_of_spend": share_spend, "examples": ctx["examples"].get(cid, []), "is_other": cid == OTHER_ID,
        "spend_rank": rank, "task_type_evidence": evidence, "input_tokens": int(f["input_tokens"]),
        "output_tokens": int(f["output_tokens"]), "unpriced_requests": int(f["unpriced_requests"]),
        "models": ctx["models"].get(cid, []),
        "first_at": f["first_at"].isoformat() if f["first_at"] else None,
        "last_at": f["last_at"].isoformat() if f["last_at"] else None,
        "share_of_requests_ci": [iv["req_low"] / total_requests, min(1.0, iv["req_high"] / total_requests)]
        if iv and total_requests else [share_req, share_req],
        "share_of_spend_ci": [iv["spend_low"] / total_spend, iv["spend_high"] / total_spend]
        if iv and total_spend > 0 else [share_spend, share_spend],
        "spend_ci_usd": [iv["spend_low"], iv["spend_high"]] if iv else [spend, spend],
        "stability": round(refit["stability"], 3) if refit else None,
        "share_of_spend_refit_range": [min(1.0, max(0.0, share_spend + refit["share_delta"][0])),
                                       min(1.0, max(0.0, share_spend + refit["share_delta"][1]))] if refit else None,
        "folded_clusters": len(ctx["members"][OTHER_ID]) if cid == OTHER_ID else None,
        "name_source": ctx["name_source"].get(cid, "fixed"), "description": ctx["descriptions"].get(cid),
        "level": "other" if cid == OTHER_ID else node.level, "named": rank is not None or cid == OTHER_ID,
        "parent_id": ids[node.parent] if node is not None and node.parent else None,
        "workload_source": node.source if node is not None and node.level == WORKLOAD else None,
        "workload_label": node.label if node is not None and node.level == WORKLOAD else None,
    }


def _brief(row: dict) -> dict:
    return {key: row[key] for key in ("id", "name", "level", "named", "requests", "share_of_requests", "spend_usd",
                                      "share_of_spend", "task_type", "spend_known")} | {"keywords": row["keywords"][:6]}


def unknown_as_none(item):
    """Spend and shares of spend read None (unknown), not 0, where none of a category's requests has a known cost."""
    if isinstance(item, list):
        return [unknown_as_none(x) for x in item]
    if not isinstance(item, dict):
        return item
    out = {k: unknown_as_none(v) if isinstance(v, (list, dict)) else v for k, v in item.items()}
    if out.get("spend_known") is False:
        for key in ("spend_usd", "share_of_spend", "share_of_spend_ci", "spend_ci_usd", "share_of_spend_refit_range"):
            if key in out:
                out[key] = None
    return out


def hierarchy(rows: list[dict]) -> list[dict]:
    """The tree for people: each workload (by spend) with its intents (by spend)."""
    children: dict[int, list[dict]] = {}
    for r in rows:
        if r["level"] == INTENT and r["parent_id"] is not None:
            children.setdefault(r["parent_id"], []).append(_brief(r))
    workloads = sorted((r for r in rows if r["level"] == WORKLOAD), key=lambda r: (-r["spend_usd"], -r["requests"]))
    return [{**_brief(w), "source": w["workload_source"], "label": w["workload_label"],
             "intents": sorted(children.get(w["id"], []), key=lambda r: (-r["spend_usd"], -r["requests"]))}
            for w in workloads]


def _named_categories(rows: list[dict]) -> list[dict]:
    """The named categories and Other, each with its place in the hierarchy: a workload lists its intents, an
    intent names its workload."""
    by_id = {r["id"]: r for r in rows}
    intents: dict[int, list[dict]] = {}
    for r in rows:
        if r["level"] == INTENT and r["parent_id"] is not None:
            intents.setdefault(r["parent_id"], []).append(_brief(r))
    out = []
    for r in rows:
        if not r["named"]:
            continue
        parent = by_id.get(r["parent_id"]) if r["parent_id"] is not None else None
        out.append({**r, "parent": {"id": parent["id"], "name": parent["name"]} if parent else None,
                    "intents": sorted(intents.get(r["id"], []), key=lambda x: (-x["spend_usd"], -x["requests"]))})
    return out


def _payload(s: CategorizeSettings, prep: PreparedTexts, fit: FitSet, clusters: Clusters, assignment: Assignment,
             tree: Tree, described: dict, embedder_name: str, timings: dict) -> dict:
    """The ``plan categorize --json`` document."""
    audit = assignment.audit
    spend = described["spend_usd"]
    method = {
        "mode": "exact" if fit.exact else "sampled", "representation": REPRESENTATION,
        "distinct_texts": prep.distinct_texts, "fit_texts": len(fit), "template_cap": s.template_cap,
        "held_back_texts": sum(fit.held_back.values()), "templates_held_back": len(fit.held_back),
        "assign_route": None if fit.exact else (
            f"{STATIC_EMBEDDER} + ridge map to {embedder_name}, nearest centre; costly texts (each >= "
            f"{s.heavy_min_share:.4%} of spend) whose margin between the two nearest centres is below "
            f"{assignment.sure_margin:.3f} (above it the cross-validated fast route agreed on "
            f"{HEAVY_TARGET_AGREEMENT:.1%} of the sample) are embedded with {embedder_name} instead, up to "
            f"{s.heavy_limit:,}, costliest first"),
        "heavy_texts": assignment.heavy_texts,
        "heavy_share_of_spend": assignment.heavy_spend / spend if spend else 0.0,
        "static_route_agreement": None if audit is None else float(
            np.average(audit["static"] == audit["exact"], weights=audit["requests"])),
        "assignment_agreement": described["agreement"],
        "k_criterion": ("explicit" if s.k is not None else
                        "first peak of the cosine silhouette (within 0.05 of the best) over a log grid from 10 to "
                        "min(200, n/15), raised to --top and to the number of shared system prompts stating a task"),
        "k_selection": clusters.k_selection,
        "templates_collapsed": len(assignment.collapsed_templates or clusters.cohered),
    }
    rows = described["rows"]
    return {
        "k": clusters.k, "embedder": embedder_name, "top": s.top, "requests": prep.requests,
        "named_level": tree.named_level, "level_reason": tree.reason,
        "named_share_of_spend": sum(r["share_of_spend"] for r in rows if r["named"] and not r["is_other"]),
        "categories": unknown_as_none(_named_categories(rows)), "hierarchy": unknown_as_none(hierarchy(rows)),
        "spend_usd": spend if spend > 0 or not described["unpriced"] else None,
        "unpriced_requests": described["unpriced"], "method": method,
        "templates": [{key: t[key] for key in ("template_id", "kind", "text", "requests", "spend_usd", "category_id")}
                      for t in described["templates"][:20]],
        "embedded_new": fit.embedded_new + assignment.embedded_new,
        "embedded_cached": fit.embedded_cached + assignment.embedded_cached,
        "static_encoded": assignment.static_encoded, "heavy_texts": assignment.heavy_texts,
        "timings_s": timings, "warnings": described["warnings"],
    }
