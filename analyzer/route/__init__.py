"""Act on the decision: routes for the routers teams already run, and a classifier for new prompts.

Two entry points, both ``(con, settings, ..., *, progress, say)``:

- ``export_routes`` runs these named steps and writes one of ``formats``:
  1. **state** (``state.load_state``): the centres, templates and embedder categorize stored;
  2. **split** (``calibrate.labelled_texts``, ``calibrate.split``): distinct prompts with their cluster; a
     seeded share of each cluster held out;
  3. **place** (``calibrate.place_held_out``): centres refitted without the held-out prompts, which are then
     placed as logged and as bare user turns;
  4. **thresholds** (``calibrate.thresholds``): per mode and category, from where the held-out prompts land;
  5. **utterances** (``calibrate.utterance_candidates``, ``pick_utterances``): central and boundary prompts of
     each category's fit part, redacted and deduplicated; their own threshold is calibrated on the same
     held-out prompts with semantic-router's scoring (``utterance_scores``, ``choose_routes``);
  6. **targets** (``targets.resolve_targets``): each category's decision and where its traffic goes;
  7. **write** (``formats.write``).
- ``classify`` places new prompts with the stored centres through categorize's own code path
  (``state.represent``, ``state.place``) and the thresholds of the last calibration (recomputed, steps 1-4,
  when categorize ran since).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import db
from ..categorize.texts import REPRESENTATION
from ..embedders import get_embedder
from ..errors import PlanError
from ..output import gate
from ..progress import Say, say_nothing
from . import calibrate as cal
from . import formats
from .settings import FORMATS, RouteSettings
from .state import PROMPT, REQUEST, load_state, place, represent
from .targets import resolve_targets

__all__ = ["FORMATS", "RouteSettings", "classify", "export_routes", "fit_routes"]

CALIBRATION_VERSION = 3  # stored thresholds from another version are recomputed
UNDECIDED_POLICY = ("Categories decided needs_judge or not_measured stay on their frontier model with their decision "
                    "stated: similarity alone, or no measurement, moves nothing.")
METHOD = ("Centres refitted without a seeded {holdout:.0%} of each cluster's prompts; the held-out prompts are placed "
          "as logged (request) and as bare user turns (prompt). A threshold keeps {recall:.0%} of the held-out "
          "prompts placed in their own category (the sample quantile, or the normal tail mean - z*sd at that share "
          "when lower) and is raised until {precision:.0%} of what passes is placed right, never above the score that "
          "keeps {floor:.0%} of them; "
          "per category when {min_own} or more of its held-out prompts were placed right, else per mode.")


def _named_categories(con) -> list[dict]:
    return db.dicts(con, "select category_id, name, requests, share_of_spend, spend_rank, task_type from categories "
                         "where named and not is_other order by spend_rank nulls last, category_id")


def _mode_calibration(placed: cal.Placed, category_ids: list[int], settings: RouteSettings) -> dict:
    """Thresholds per mode (request, prompt); where the held-out prompts land, as logged and as bare turns."""
    limits = {}
    for mode in (REQUEST, PROMPT):
        truth, pred, scores, by_template, _ = placed.arrays(mode=mode)
        limits[mode] = cal.thresholds(truth[~by_template], pred[~by_template], scores[~by_template], category_ids,
                                      recall=settings.recall, precision=settings.precision)
    outcome = {}
    for evaluation in (cal.LOGGED, cal.BARE):
        truth, pred, scores, by_template, modes = placed.arrays(evaluation=evaluation)
        outcome[evaluation] = cal.route_outcomes(truth, pred, scores, by_template, cal.bars(pred, modes, limits))
    return {"thresholds": limits, "outcome": outcome}


def calibrate_centroids(con, settings: RouteSettings, *, progress: bool, say: Say) -> dict:
    """Steps 1-4: the thresholds of the centroid classifier, and what the fit needs for utterances."""
    state = load_state(con)
    embedder = get_embedder(state.embedder)
    lab = cal.labelled_texts(con)
    if not len(lab):
        raise PlanError("No stored request has prompt text to route on: these logs carry usage only.")
    sp = cal.split(lab, state.cluster_category, share=settings.holdout, cap=settings.heldout_per_category,
                   seed=settings.seed)
    say(f"Calibrating on {int(sp.held.sum()):,} held-out prompts; centres refitted on {int(sp.centre.sum()):,} "
        f"others ({state.embedder}; vectors already cached are reused).")
    placed, centres, content, turns = cal.place_held_out(con, state, lab, sp, embedder, progress=progress)
    categories = _named_categories(con)
    modes = _mode_calibration(placed, [c["category_id"] for c in categories], settings)
    return {"state": state, "embedder": embedder, "lab": lab, "split": sp, "centres": centres, "content": content,
            "turns": turns, "categories": categories, "modes": modes}


def _utterances(con, work: dict, settings: RouteSettings) -> dict[int, list[dict]]:
    """Step 5: each category's utterances from its fit part."""
    from ..categorize.vectors import with_templates

    state, lab, sp = work["state"], work["lab"], work["split"]
    space = with_templates(work["content"], lab.templates, state.template_vectors)
    out = {}
    for c in work["categories"]:
        cands = cal.utterance_candidates(state, lab, sp, space, work["centres"], c["category_id"],
                                         settings.utterances, settings.boundary_share)
        rows = [r for r, _ in cands]
        texts = dict(zip(rows, cal.clean_utterances(cal.user_turns(con, lab.request_ids[rows])), strict=True))
        out[c["category_id"]] = cal.pick_utterances(cands, texts, settings.utterances, settings.boundary_share)
    return out


def _utterance_calibration(con, work: dict, utterances: dict[int, list[dict]], settings: RouteSettings) -> dict:
    """Step 5b: thresholds for semantic-router's scoring of the utterances, on the same held-out prompts."""
    route_ids = [cid for cid, utts in utterances.items() if utts]
    texts = [u["text"] for cid in route_ids for u in utterances[cid]]
    owner = np.asarray([i for i, cid in enumerate(route_ids) for _ in utterances[cid]], dtype=np.int64)
    embedder, lab, sp = work["embedder"], work["lab"], work["split"]
    held = np.where(sp.held)[0]
    queries = [t[: cal.QUERY_CHARS] for t in work["turns"]]
    keep = np.asarray([bool(q.strip()) for q in queries], dtype=bool)
    truth = work["state"].cluster_category[lab.clusters[held]][keep]
    q_vec = cal.embed_units(con, [q for q, k in zip(queries, keep, strict=True) if k], embedder)
    u_vec = cal.embed_units(con, texts, embedder) if texts else np.zeros((0, q_vec.shape[1] if len(q_vec) else 1))
    scores = cal.utterance_scores(q_vec, u_vec, owner, len(route_ids), formats.TOP_K)
    route_cat = np.asarray(route_ids + [cal.OTHER], dtype=np.int64)
    top = scores.argmax(axis=1) if len(route_ids) else np.full(len(truth), -1)
    top_score = scores.max(axis=1) if len(route_ids) else np.zeros(len(truth))
    pred = np.where(top_score > 0, route_cat[top], cal.OTHER)
    limits = cal.thresholds(truth, pred, top_score, route_ids, recall=settings.recall, precision=settings.precision)
    per_route = np.asarray([limits["by_category"][cid] for cid in route_ids])
    chosen, _ = cal.choose_routes(scores, per_route)
    final = route_cat[chosen]  # -1 picks the trailing OTHER
    passed = chosen >= 0
    per = {int(c): cal.outcome(truth[truth == c], final[truth == c], passed[truth == c]) for c in np.unique(truth)}
    return {"thresholds": limits, "outcome": {**cal.outcome(truth, final, passed), "by_category": per},
            "top_k": formats.TOP_K, "aggregation": formats.AGGREGATION, "utterances": len(texts)}


def _route(c: dict, name: str, target: dict, utterances: list[dict], modes: dict, utter: dict,
           frontier: str | None) -> dict:
    cid = c["category_id"]
    empty = cal.outcome(np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool))
    return {
        "name": formats.route_name(cid, name), "category_id": cid, "category": name,
        "description": f"{name} (plan category {cid}; decision: {target['decision']})",
        "requests": c["requests"], "share_of_spend": c["share_of_spend"], "task_type": c["task_type"],
        **{k: target[k] for k in ("decision", "decision_label", "decision_reason", "evidence", "acceptance",
                                  "acceptance_ci", "judged_n")},
        "target": target["target"], "frontier_model": frontier,
        "score_threshold": {m: modes["thresholds"][m]["by_category"].get(cid, modes["thresholds"][m]["global"])
                            for m in (REQUEST, PROMPT)},
        "utterance_score_threshold": utter["thresholds"]["by_category"].get(cid, utter["thresholds"]["global"]),
        "utterances": utterances,
        "held_out": modes["outcome"][cal.LOGGED]["by_category"].get(cid, empty),
        "held_out_prompt": modes["outcome"][cal.BARE]["by_category"].get(cid, empty),
        "held_out_utterance": utter["outcome"]["by_category"].get(cid, empty),
    }


def fit_routes(con, settings: RouteSettings, config: dict | None = None, *, progress: bool = True,
               say: Say = say_nothing) -> dict:
    """Steps 1-6: the routes, their targets and calibration, every log-derived text through the output gate
    (the ``json`` export is this document)."""
    work = calibrate_centroids(con, settings, progress=progress, say=say)
    utterances = _utterances(con, work, settings)
    utter = _utterance_calibration(con, work, utterances, settings)
    categories = work["categories"]
    names = gate([c["name"] for c in categories], limit=None)
    resolved = resolve_targets(con, settings, config or {}, [c["category_id"] for c in categories])
    safe = gate({"routes": resolved["routes"], "default": resolved["default"]}, limit=None)
    for cid, route in resolved["routes"].items():  # endpoints are the user's own settings, not log text
        if "endpoint" in route["target"]:
            safe["routes"][cid]["target"]["endpoint"] = route["target"]["endpoint"]
    routes = []
    for c, name in zip(categories, names, strict=True):
        target = safe["routes"][c["category_id"]]
        frontier = target["target"].get("fallback", {}).get("model") if target["target"]["kind"] == "cascade" \
            else (target["target"].get("model") if target["target"]["kind"] == "frontier" else None)
        routes.append(_route(c, name, target, utterances[c["category_id"]], work["modes"], utter,
                             frontier or _frontier_model(con, c["category_id"])))
    return {
        "format": "plan-routes", "version": 1,
        "generated_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "embedder": work["state"].embedder, "encoder": {"type": "huggingface",
                                                        "name": formats.encoder_name(work["state"].embedder)},
        "representation": REPRESENTATION, "default": safe["default"], "undecided_policy": UNDECIDED_POLICY,
        "local_endpoint": _local_endpoint(routes, con, settings, config or {}),
        "calibration": _calibration_summary(work, utter, settings), "routes": routes,
    }


def _frontier_model(con, category_id: int) -> str | None:
    from .targets import frontier_models

    per, overall = frontier_models(con)
    return gate(per.get(category_id, overall), limit=None)


def _local_endpoint(routes: list[dict], con, settings: RouteSettings, config: dict) -> str:
    from .targets import local_target

    for r in routes:
        if r["target"]["kind"] in ("local", "cascade"):
            return r["target"]["endpoint"]
    return local_target(con, settings, config, None)["endpoint"]


def _calibration_summary(work: dict, utter: dict, settings: RouteSettings) -> dict:
    sp = work["split"]
    return {
        "method": METHOD.format(holdout=settings.holdout, recall=settings.recall, precision=settings.precision,
                                min_own=cal.MIN_FOR_OWN_THRESHOLD, floor=cal.RECALL_FLOOR),
        "holdout": settings.holdout, "recall": settings.recall, "precision": settings.precision,
        "seed": settings.seed, "fit_prompts": int(sp.centre.sum()), "held_out_prompts": int(sp.held.sum()),
        "centroid": work["modes"], "utterance": utter,
    }


def export_routes(con, settings: RouteSettings, *, fmt: str, out: str | Path, config: dict | None = None,
                  progress: bool = True, say: Say = say_nothing) -> dict:
    """Fit, calibrate and write the routes in ``fmt``; returns the ``plan route export --json`` summary."""
    if fmt not in FORMATS:
        raise PlanError(f"Unknown format {fmt!r}: choose one of {', '.join(FORMATS)}.")
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    fit = fit_routes(con, settings, config, progress=progress, say=say)
    if not fit["routes"]:
        raise PlanError("categorize named no category (all traffic is in Other): there is nothing to route. "
                        "Run `plan categorize --top N` with a larger N.")
    bare = [r["name"] for r in fit["routes"] if not r["utterances"]]
    if bare and fmt != "json":
        say(f"No user turn to use as an utterance in {', '.join(bare)}: left out of the {fmt} file "
            "(plan route still places them).")
    written = formats.write(fmt, fit, Path(out), settings)
    summary = _summary(fit, fmt, written)
    db.record_stage_run(con, "route", {**settings.as_dict(), "format": fmt, "calibration_version": CALIBRATION_VERSION},
                        _stored_calibration(fit, summary),
                        started_at=started)
    return summary


def _summary(fit: dict, fmt: str, written: list[str]) -> dict:
    c = fit["calibration"]
    return {
        "format": fmt, "files": written, "routes": len(fit["routes"]), "default": fit["default"],
        "held_out_prompts": c["held_out_prompts"], "fit_prompts": c["fit_prompts"],
        "held_out": {"logged": c["centroid"]["outcome"][cal.LOGGED], "bare": c["centroid"]["outcome"][cal.BARE],
                     "utterance": c["utterance"]["outcome"]},
        "thresholds": {"request": c["centroid"]["thresholds"][REQUEST]["global"],
                       "prompt": c["centroid"]["thresholds"][PROMPT]["global"],
                       "utterance": c["utterance"]["thresholds"]["global"]},
        "by_route": [{k: r[k] for k in ("name", "category_id", "category", "decision", "utterance_score_threshold",
                                        "held_out", "held_out_utterance")} | {"target": r["target"],
                                                                             "utterances": len(r["utterances"])}
                     for r in fit["routes"]],
    }


def _stored_calibration(fit: dict, summary: dict) -> dict:
    return {**{k: summary[k] for k in ("format", "routes", "held_out_prompts", "fit_prompts", "held_out")},
            "thresholds": fit["calibration"]["centroid"]["thresholds"]}


def stored_thresholds(con, settings: RouteSettings) -> dict | None:
    """The centroid thresholds of the last calibration with these settings, if categorize has not run since."""
    keys = ("holdout", "recall", "precision", "seed", "heldout_per_category")
    wanted = {**{k: getattr(settings, k) for k in keys}, "calibration_version": CALIBRATION_VERSION}
    for params, summary in db.rows(
            con, "select params_json, summary_json from stage_runs where stage = 'route' and finished_at >= "
                 "coalesce((select max(finished_at) from stage_runs where stage = 'categorize'), "
                 "'-infinity'::timestamp) order by finished_at desc"):
        p = json.loads(params or "{}")
        if all(p.get(k) == v for k, v in wanted.items()):
            got = json.loads(summary or "{}").get("thresholds")
            if got:
                return {m: {"global": v["global"], "by_category": {int(c): t for c, t in v["by_category"].items()}}
                        for m, v in got.items()}
    return None


def centroid_thresholds(con, settings: RouteSettings, *, progress: bool, say: Say) -> dict:
    """The thresholds ``classify`` uses: stored, else calibrated now (steps 1-4) and stored."""
    found = stored_thresholds(con, settings)
    if found is not None:
        return found
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    work = calibrate_centroids(con, settings, progress=progress, say=say)
    limits = work["modes"]["thresholds"]
    db.record_stage_run(con, "route", {**settings.as_dict(), "format": None, "calibration_version": CALIBRATION_VERSION},
                        {"thresholds": limits, "held_out_prompts": int(work["split"].held.sum()),
                         "held_out": work["modes"]["outcome"]}, started_at=started)
    return limits


def classify(con, settings: RouteSettings, prompts: list[tuple[str | None, str]], config: dict | None = None, *,
             progress: bool = False, say: Say = say_nothing) -> list[dict]:
    """Category, decision, target and score of each (system prompt or None, user turn)."""
    state = load_state(con)
    limits = centroid_thresholds(con, settings, progress=progress, say=say)
    rep = represent(con, prompts)
    ok = [i for i, t in enumerate(rep.texts) if t is not None]
    embedder = get_embedder(state.embedder)
    vectors = embedder.encode([t for t in rep.texts if t is not None]) if ok else np.zeros((0, state.content_dims))
    clusters, scores = place(state, vectors, rep.templates[ok], [rep.modes[i] for i in ok])
    names = {c["category_id"]: c["name"] for c in _named_categories(con)}
    resolved = resolve_targets(con, settings, config or {}, list(names))
    results = [_no_text(i + 1, rep.modes[i], resolved["default"]) for i in range(len(prompts))]
    for j, i in enumerate(ok):
        cat = int(state.cluster_category[clusters[j]])
        by_template = int(rep.templates[i]) in state.template_cluster
        results[i] = _result(i + 1, rep.modes[i], cat, names.get(cat), float(scores[j]), by_template,
                             limits[rep.modes[i]], resolved)
    return results


def _no_text(index: int, mode: str, default: dict) -> dict:
    return {"input": index, "mode": mode, "routed": False, "category_id": None, "category": None,
            "decision": None, "target": default, "score": None, "threshold": None, "nearest_category_id": None,
            "nearest_category": None, "reason": "no prompt text: default route"}


def _result(index: int, mode: str, category: int, name: str | None, score: float, by_template: bool,
            limits: dict, resolved: dict) -> dict:
    threshold = limits["by_category"].get(category, limits["global"])
    routed = category != cal.OTHER and name is not None and (by_template or score >= threshold)
    if routed:
        reason = "its template's category" if by_template else "score at or above the category's threshold"
    elif category == cal.OTHER or name is None:
        reason = "nearest to traffic folded into Other: default route"
    else:
        reason = "score below the category's threshold: no category (default route)"
    route = resolved["routes"].get(category, {}) if routed else {}
    return {"input": index, "mode": mode, "routed": routed, "category_id": category if routed else None,
            "category": name if routed else None, "decision": route.get("decision"),
            "target": route.get("target") if routed else resolved["default"], "score": round(score, 4),
            "threshold": round(threshold, 4) if category != cal.OTHER else None,
            "nearest_category_id": category, "nearest_category": name if name else "Other", "reason": reason}
