"""Step 4, assign the rest: every distinct text gets a cluster.

In the exact mode every text was fitted. Beyond ``exact_limit`` distinct texts, the others are encoded with a
static embedder distilled from MiniLM, mapped into the embedder's space by a ridge map learned on the sample,
and assigned to the nearest centre. A template whose sampled members all fall in one cluster assigns its other
members to it directly. Costly texts the fast route is unsure of (narrow margin between the two nearest
centres) are embedded with the embedder itself. The loss is measured by cross-validation on the sample and
carried into the intervals of each category's spend and share (``describe.intervals``).

Writes temp table ``_cat_assign`` (rep_hash, cluster, distance, assigned_by).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import db
from ..embedders import STATIC_EMBEDDER, embed_cached, get_embedder
from ..progress import Say, bar
from .clusters import Clusters
from .texts import TextBatch, fetch_texts
from .vectors import FitSet, normalise, with_templates

# The fast route is sure of a text when its margin is above the one where it agreed with the embedder on this
# share of the cross-validated sample.
HEAVY_TARGET_AGREEMENT = 0.998
HEAVY_CANDIDATES_PER_SLOT = 20  # costly texts whose margin is checked, per text the limit lets us embed
TEMPLATE_COLLAPSE_MIN_SAMPLED = 30
CV_FOLDS = 5
RIDGE_ALPHA = 1.0
ASSIGN_CHUNK = 50_000


@dataclass
class Assignment:
    """How the texts outside the fit were assigned, and what that cost in accuracy (``audit``)."""

    audit: dict | None = None           # per fitted text: exact and cheap-route labels, spend, requests
    static_encoded: int = 0
    heavy_texts: int = 0
    heavy_spend: float = 0.0
    sure_margin: float | None = None
    collapsed_templates: dict[int, int] = field(default_factory=dict)
    embedded_new: int = 0
    embedded_cached: int = 0


def ridge_map(source: np.ndarray, target: np.ndarray, alpha: float = RIDGE_ALPHA) -> np.ndarray:
    """W minimising |source W - target|^2 + alpha |W|^2 (closed form, no intercept: both are unit-norm)."""
    gram = source.T @ source + alpha * np.eye(source.shape[1], dtype=np.float64)
    return np.linalg.solve(gram, source.T.astype(np.float64) @ target).astype(np.float32)


def nearest(vectors: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre of each vector and the cosine distance to it."""
    sims = vectors @ centres.T
    labels = sims.argmax(axis=1)
    return labels, 1.0 - sims[np.arange(len(labels)), labels]


def margins(vectors: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre and the cosine gap to the runner-up: how sure that assignment is."""
    sims = vectors @ centres.T
    labels = sims.argmax(axis=1)
    if centres.shape[0] < 2:
        return labels, np.full(len(labels), np.inf)
    top2 = np.partition(sims, -2, axis=1)[:, -2:]
    return labels, np.abs(top2[:, 1] - top2[:, 0])


def confident_margin(margin: np.ndarray, correct: np.ndarray, target: float = HEAVY_TARGET_AGREEMENT) -> float:
    """Smallest margin above which the cross-validated cheap route agreed with the embedder on at least
    ``target`` of the sample (inf when no margin is that safe)."""
    finite = np.isfinite(margin)
    m, ok = margin[finite], correct[finite]
    if not len(m):
        return np.inf
    order = np.argsort(-m)
    agree = np.cumsum(ok[order]) / np.arange(1, len(m) + 1)
    safe = np.where(agree >= target)[0]
    # the prefix must be long enough to say anything: at least 30 audited texts above the threshold
    safe = safe[safe >= min(29, len(m) - 1)]
    if not len(safe):
        return np.inf
    return float(m[order][safe.max()])


def heavy_candidates(spend: np.ndarray, eligible: np.ndarray, total_spend: float, limit: int,
                     min_share: float) -> tuple[np.ndarray, float]:
    """Eligible texts worth at least ``min_share`` of all spend, costliest first (at most ``limit``), and the
    spend below which a text is never a candidate."""
    floor = min_share * total_spend
    if limit <= 0 or total_spend <= 0:
        return np.zeros(0, dtype=np.int64), np.inf
    candidates = np.where(eligible & (spend >= floor) & (spend > 0))[0]
    order = candidates[np.argsort(-spend[candidates], kind="stable")]
    if len(order) > limit:
        order = order[:limit]
        floor = float(spend[order[-1]])
    return order, floor


def collapsible_templates(fit_templates: np.ndarray, fit_labels: np.ndarray) -> dict[int, int]:
    """Templates whose sampled members (at least 30) all landed in one cluster."""
    out: dict[int, int] = {}
    valid = fit_templates >= 0
    ids, labels = fit_templates[valid], fit_labels[valid]
    for tid in np.unique(ids):
        members = labels[ids == tid]
        if len(members) >= TEMPLATE_COLLAPSE_MIN_SAMPLED and (members == members[0]).all():
            out[int(tid)] = int(members[0])
    return out


def cross_validated_route(static: np.ndarray, exact: np.ndarray, templates: np.ndarray, template_vectors: dict,
                          centres: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold cheap-route labels for the sample, and their margins: what the static route would have
    said for each, and how sure it was."""
    n = len(static)
    folds = np.random.default_rng(seed).permutation(n) % CV_FOLDS
    out = np.empty(n, dtype=np.int64)
    margin = np.full(n, np.inf)
    for f in range(CV_FOLDS):
        test = folds == f
        if not test.any() or test.all():
            continue
        w = ridge_map(static[~test], exact[~test])
        vec = with_templates(normalise(static[test] @ w), templates[test], template_vectors)
        out[test], margin[test] = margins(vec, centres)
    return out, margin


def write_assignments(con, hashes, clusters, distances, routes) -> None:
    """``_cat_assign``: the cluster, distance to its centre and route of every distinct text."""
    import pyarrow as pa

    table = pa.table({
        "rep_hash": pa.array(hashes, pa.string()),
        "cluster": pa.array(np.asarray(clusters, dtype=np.int64)),
        "distance": pa.array(np.asarray(distances, dtype=np.float64)),
        "assigned_by": pa.array(routes, pa.string()),
    })
    con.execute("create or replace temp table _cat_assign "
                "(rep_hash varchar, cluster bigint, distance double, assigned_by varchar)")
    db.insert_arrow(con, "_cat_assign", table)


def assign_texts(con, fit: FitSet, clusters: Clusters, embedder, *, heavy_limit: int, heavy_min_share: float,
                 heavy_sure_margin: float | None, seed: int, progress: bool, say: Say) -> Assignment:
    """Give every distinct text a cluster and write ``_cat_assign``: the fitted texts keep their fit, the rest
    go by template, by the embedder (costly and unsure) or by the static route."""
    if fit.exact:
        write_assignments(con, fit.batch.hashes, clusters.labels, clusters.distances, ["fit"] * len(fit))
        assign_held_back(con, fit, clusters)
        return Assignment()
    static = get_embedder(STATIC_EMBEDDER)
    rest = fetch_texts(con, "order by draw offset ?", [len(fit)])
    say(f"Assigning the other {len(rest):,} distinct prompts with {static.name}.")
    route = _StaticRoute(fit, clusters, static, seed, heavy_sure_margin)
    labels, dists, routes = route.by_template(rest)
    result = Assignment(static_encoded=len(fit), sure_margin=route.sure_margin,
                        collapsed_templates=route.collapsed)
    by_template = routes == "template"
    total_spend = float(fit.batch.spend.sum() + rest.spend.sum())
    heavy, heavy_cut = heavy_candidates(rest.spend, ~by_template, total_spend, HEAVY_CANDIDATES_PER_SLOT * heavy_limit,
                                        heavy_min_share)
    unsure = np.zeros(0, dtype=np.int64)
    if len(heavy):
        labels[heavy], dists[heavy], margin = route.assign(rest.take(heavy))
        result.static_encoded += len(heavy)
        unsure = heavy[margin < route.sure_margin]
        if len(unsure) > heavy_limit:  # the costliest of them get the embedder
            unsure = unsure[:heavy_limit]
            heavy_cut = float(rest.spend[unsure[-1]])
    if len(unsure):
        say(f"Embedding {len(unsure):,} costly prompts the fast route is unsure of "
            f"({rest.spend[unsure].sum() / total_spend:.0%} of spend) with {embedder.name} too.")
        emb = embed_cached(con, [rest.texts[i] for i in unsure], embedder,
                           hashes=[rest.text_hashes[i] for i in unsure], progress=progress)
        result.embedded_new, result.embedded_cached = emb.new, emb.cached
        vec = with_templates(normalise(emb.vectors), rest.templates[unsure], fit.template_vectors)
        labels[unsure], dists[unsure] = nearest(vec, clusters.centres)
        routes[unsure] = "exact"
    result.heavy_texts, result.heavy_spend = len(unsure), float(rest.spend[unsure].sum())
    result.audit = route.audit(heavy_cut)
    todo = np.setdiff1d(np.where(~by_template)[0], heavy)
    with bar(len(todo), f"assigning ({static.name})", unit="text") as pbar:
        for start in range(0, len(todo), ASSIGN_CHUNK):
            idx = todo[start : start + ASSIGN_CHUNK]
            labels[idx], dists[idx], _ = route.assign(rest.take(idx))
            result.static_encoded += len(idx)
            pbar.update(len(idx))
    write_assignments(con, fit.batch.hashes + rest.hashes, np.concatenate([clusters.labels, labels]),
                      np.concatenate([clusters.distances, dists]), ["fit"] * len(fit) + routes.tolist())
    return result


def assign_held_back(con, fit: FitSet, clusters: Clusters) -> None:
    """The texts a capped template held back go to the cluster that holds the whole template (``_fit`` made
    sure every such template was kept whole), route 'template', distance not measured."""
    if not fit.held_back:
        return
    target = {tid: clusters.cohered[tid] for tid in fit.held_back}
    con.execute(
        "insert into _cat_assign select h.rep_hash, m.cluster, 'NaN'::double, 'template' from _cat_held_back h "
        "join (select unnest(?::bigint[]) as template_id, unnest(?::bigint[]) as cluster) m using (template_id)",
        [list(target), list(target.values())],
    )


class _StaticRoute:
    """The static embedder mapped into the fit space: learned on the fit set, audited out of fold."""

    def __init__(self, fit: FitSet, clusters: Clusters, static, seed: int, sure_margin: float | None):
        self.fit, self.clusters, self.static = fit, clusters, static
        fit_static = static.encode(fit.batch.texts)
        self.w = ridge_map(fit_static, fit.content)
        templates = fit.batch.templates
        self.cv_labels, self.cv_margins = cross_validated_route(fit_static, fit.content, templates,
                                                                fit.template_vectors, clusters.centres, seed)
        self.static_labels = self.cv_labels.copy()
        self.collapsed = collapsible_templates(templates, clusters.labels)
        self.collapsed.update(clusters.cohered)
        for tid, label in self.collapsed.items():  # their sampled members' cheap label is the template's
            self.cv_labels[templates == tid] = label
            self.cv_margins[templates == tid] = np.inf
        self.sure_margin = (float(sure_margin) if sure_margin is not None
                            else confident_margin(self.cv_margins, self.cv_labels == clusters.labels))

    def by_template(self, rest: TextBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Labels, distances (NaN: not measured) and routes, filled in for texts of collapsed templates."""
        labels = np.zeros(len(rest), dtype=np.int64)
        dists = np.full(len(rest), np.nan, dtype=np.float64)
        routes = np.array(["nearest"] * len(rest), dtype=object)
        for tid, label in self.collapsed.items():
            hit = rest.templates == tid
            labels[hit] = label
            routes[hit] = "template"
        return labels, dists, routes

    def assign(self, part: TextBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest centre, distance and margin of each text through the static route."""
        mapped = normalise(self.static.encode(part.texts) @ self.w)
        vec = with_templates(mapped, part.templates, self.fit.template_vectors)
        labels, margin = margins(vec, self.clusters.centres)
        return labels, 1.0 - np.einsum("ij,ij->i", vec, self.clusters.centres[labels]), margin

    def audit(self, heavy_cut: float) -> dict:
        """The cheap route's labels as applied: a sampled text at least as costly as the cut and with a margin
        below the sure one would have been embedded, so the cheap route errs not on it."""
        fit, labels = self.fit.batch, self.clusters.labels
        cheap = np.where((fit.spend >= heavy_cut) & (self.cv_margins < self.sure_margin), labels, self.cv_labels)
        return {"exact": labels, "cheap": cheap, "static": self.static_labels, "spend": fit.spend,
                "requests": fit.requests}
