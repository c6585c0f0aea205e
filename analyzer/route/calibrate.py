"""Held-out calibration: the routes are fitted on part of each category and their thresholds set on the rest.

1. **split** (``labelled_texts``, ``split``): every distinct prompt categorize stored, with its cluster; a seeded
   share of the fitted ones (``holdout``) is held out, never all of a cluster. Prompts categorize assigned
   without fitting them (beyond its sample) are held out by nature.
2. **refit** (``refit_centres``): each cluster's centre again, from its fitted prompts that are not held out
   (categorize's own rule: the normalised sum of their vectors).
3. **place** the held-out prompts twice: as logged (``REQUEST``) and as a bare user turn (``PROMPT``).
4. **threshold** (``thresholds``): per mode, the score that keeps ``recall`` of the held-out prompts placed in
   their own category, raised until ``precision`` of what passes lands in its own category; per category when
   at least ``MIN_FOR_OWN_THRESHOLD`` of its held-out prompts were placed right, else the mode's.
5. **utterances** (``utterances``): per category, prompts from the fit part nearest its centres and nearest its
   boundary (smallest margin to another category's centre that still places them right), redacted through the
   output gate and deduplicated.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from .. import db
from ..categorize.vectors import normalise, with_templates
from ..embedders import embed_cached
from ..output import gate, strip_controls
from .state import REQUEST, RouteState, place, represent, represent_sql

MIN_FOR_OWN_THRESHOLD = 20
RECALL_FLOOR = 0.9      # the precision step never drops more correct placements than this leaves
UTTERANCE_CHARS = 400   # a route's example: the head of a user turn (routers embed at most 256-512 tokens)
QUERY_CHARS = 1500      # a held-out user turn as a router would embed it (MiniLM reads 256 tokens of it)
OTHER = 0


@dataclass
class Labelled:
    """Distinct prompts (categorize's unit) with their stored cluster; aligned arrays."""

    rep_hashes: list[str]
    texts: list[str]
    text_hashes: list[str]
    templates: np.ndarray
    clusters: np.ndarray
    fitted: np.ndarray
    request_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)


def labelled_texts(con) -> Labelled:
    """Every distinct prompt categorize placed, represented exactly as it represented them."""
    table = con.sql(
        f"""
        with rep as ({represent_sql('(select id, system_prompt, prompt_text from requests)')})
        select md5(coalesce(cast(rep.template_id as varchar), '') || '|' || rep.rep) as rep_hash,
               any_value(rep.rep) as rep, md5(any_value(rep.rep)) as text_hash,
               coalesce(any_value(rep.template_id), -1) as template_id, any_value(rc.cluster) as cluster,
               bool_or(rc.assigned_by = 'fit') as fitted, min(rep.id) as request_id
        from rep join request_categories rc on rc.request_id = rep.id
        where rep.rep is not null and rc.cluster >= 0
        group by 1 order by 1
        """).to_arrow_table()
    col = table.column
    return Labelled(col("rep_hash").to_pylist(), col("rep").to_pylist(), col("text_hash").to_pylist(),
                    col("template_id").to_numpy().astype(np.int64), col("cluster").to_numpy().astype(np.int64),
                    np.asarray(col("fitted").to_pylist(), dtype=bool), col("request_id").to_numpy().astype(np.int64))


def draws(keys: list[str], seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per key, stable across runs (a seeded hash)."""
    return np.asarray([int(hashlib.md5(f"{seed}:{k}".encode()).hexdigest()[:8], 16) / 2**32 for k in keys])


@dataclass
class Split:
    centre: np.ndarray    # fitted and kept: computes the centres and supplies the utterances
    held: np.ndarray      # held out and scored (capped per category)


def split(lab: Labelled, category_of_cluster: np.ndarray, *, share: float, cap: int, seed: int) -> Split:
    """Hold out ``share`` of each cluster's fitted prompts (never all of them) plus the prompts categorize never
    fitted, then keep at most ``cap`` held-out prompts per category (those with the lowest draw)."""
    draw = draws(lab.rep_hashes, seed)
    held = (lab.fitted & (draw < share)) | ~lab.fitted
    for c in np.unique(lab.clusters[lab.fitted]):
        members = np.where(lab.fitted & (lab.clusters == c))[0]
        if held[members].all():
            held[members[np.argmax(draw[members])]] = False
    centre = lab.fitted & ~held
    scored = np.zeros(len(lab), dtype=bool)
    category = category_of_cluster[lab.clusters]
    for cat in np.unique(category):
        idx = np.where(held & (category == cat))[0]
        scored[idx[np.argsort(draw[idx])][:cap]] = True
    return Split(centre, scored)


def refit_centres(state: RouteState, space: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Each cluster's centre from the given vectors (categorize's rule); a cluster without any keeps its own."""
    sums = np.zeros_like(state.centres)
    np.add.at(sums, clusters, space)
    empty = ~sums.any(axis=1)
    sums[empty] = state.centres[empty]
    return normalise(sums)


LOGGED, BARE = "logged", "bare"  # held-out prompts placed as logged, and as bare user turns


@dataclass
class Placed:
    """Held-out prompts placed by a classifier: one row per (prompt, evaluation)."""

    evaluations: list[str] = field(default_factory=list)  # LOGGED or BARE
    modes: list[str] = field(default_factory=list)        # REQUEST or PROMPT: which threshold applies
    truth: list[int] = field(default_factory=list)        # stored category (0: Other)
    predicted: list[int] = field(default_factory=list)    # category of the nearest centre (0: Other)
    scores: list[float] = field(default_factory=list)
    by_template: list[bool] = field(default_factory=list)  # placed by a template kept whole: no threshold

    def add(self, evaluation, modes, truth, predicted, scores, by_template) -> None:
        self.evaluations += [evaluation] * len(modes)
        self.modes += list(modes)
        self.truth += [int(x) for x in truth]
        self.predicted += [int(x) for x in predicted]
        self.scores += [float(x) for x in scores]
        self.by_template += [bool(x) for x in by_template]

    def arrays(self, *, mode: str | None = None, evaluation: str | None = None):
        keep = np.asarray([(mode is None or m == mode) and (evaluation is None or e == evaluation)
                           for m, e in zip(self.modes, self.evaluations, strict=True)], dtype=bool)
        return (np.asarray(self.truth, dtype=np.int64)[keep], np.asarray(self.predicted, dtype=np.int64)[keep],
                np.asarray(self.scores)[keep], np.asarray(self.by_template, dtype=bool)[keep],
                np.asarray(self.modes, dtype=object)[keep])


def embed_units(con, texts: list[str], embedder, hashes: list[str] | None = None, progress: bool = False):
    return normalise(embed_cached(con, texts, embedder, hashes=hashes, progress=progress).vectors)


def place_held_out(con, state: RouteState, lab: Labelled, sp: Split, embedder, *, progress: bool):
    """Refit the centres without the held-out prompts; place those prompts as logged and as bare user turns.
    Returns (Placed, refit centres, content vectors of the prompts used, the user turns of the held-out)."""
    used = sp.centre | sp.held
    idx = np.where(used)[0]
    content = np.zeros((len(lab), state.content_dims), dtype=np.float32)
    content[idx] = embed_units(con, [lab.texts[i] for i in idx], embedder, [lab.text_hashes[i] for i in idx],
                               progress)
    space = with_templates(content, lab.templates, state.template_vectors)
    centres = refit_centres(state, space[sp.centre], lab.clusters[sp.centre])
    held = np.where(sp.held)[0]
    truth = state.cluster_category[lab.clusters[held]]
    placed = Placed()
    pred, scores = place(state, content[held], lab.templates[held], [REQUEST] * len(held), centres)
    placed.add(LOGGED, [REQUEST] * len(held), truth, state.cluster_category[pred], scores,
               [int(t) in state.template_cluster for t in lab.templates[held]])
    turns = user_turns(con, lab.request_ids[held])
    bare = represent(con, [(None, t) for t in turns])
    ok = np.asarray([t is not None for t in bare.texts])
    if ok.any():
        vec = embed_units(con, [t for t in bare.texts if t is not None], embedder, progress=progress)
        modes = [m for m, k in zip(bare.modes, ok, strict=True) if k]
        pred, scores = place(state, vec, bare.templates[ok], modes, centres)
        placed.add(BARE, modes, truth[ok], state.cluster_category[pred], scores,
                   [int(t) in state.template_cluster for t in bare.templates[ok]])
    return placed, centres, content, turns


def user_turns(con, request_ids) -> list[str]:
    """The logged user turn of each request, in order."""
    ids = [int(i) for i in request_ids]
    got = dict(db.rows(con, "select id, coalesce(prompt_text, '') from requests where id in (select unnest(?))",
                       [ids]))
    return [got.get(i, "") for i in ids]


def threshold_for(scores: np.ndarray, correct: np.ndarray, *, recall: float, precision: float) -> float:
    """The score that keeps ``recall`` of the correct placements (the sample's, or the normal tail's when that is
    lower), raised until ``precision`` of the placements at or above it are correct, but never so far that it
    drops more than ``1 - RECALL_FLOOR`` of the correct ones (a threshold cannot part close neighbours; it
    only turns their mix-ups into fall-throughs)."""
    if not correct.any():
        return float(np.max(scores)) if len(scores) else 1.0
    ranked = np.sort(scores[correct])[::-1]
    t = float(ranked[int(np.ceil(recall * len(ranked))) - 1])
    if len(ranked) >= 3:
        # A few dozen held-out prompts put the sample quantile near their minimum, stricter than the traffic
        # to come: the normal tail at the same recall is the floor it may not exceed.
        from statistics import NormalDist

        t = min(t, float(ranked.mean() - NormalDist().inv_cdf(recall) * ranked.std(ddof=1)))
    order = np.argsort(-scores)
    right_so_far = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    if right_so_far[scores[order] >= t][-1] >= precision:
        return t
    good = np.where(right_so_far >= precision)[0]
    if not len(good):
        return t
    ceiling = float(ranked[int(np.ceil(RECALL_FLOOR * len(ranked))) - 1])
    return max(t, min(float(scores[order][good.max()]), ceiling))


def thresholds(truth, predicted, scores, categories: list[int], *, recall: float, precision: float) -> dict:
    """{"global": t, "by_category": {category: t}} for one classifier and mode (Other never routes)."""
    named = predicted != OTHER
    correct = predicted == truth
    overall = threshold_for(scores[named], correct[named], recall=recall, precision=precision) if named.any() else 1.0
    by_category = {}
    for c in categories:
        mine = predicted == c
        if correct[mine].sum() >= MIN_FOR_OWN_THRESHOLD:
            by_category[c] = threshold_for(scores[mine], correct[mine], recall=recall, precision=precision)
        else:
            by_category[c] = overall
    return {"global": overall, "by_category": by_category}


def outcome(truth, predicted, passed) -> dict:
    """Where held-out prompts land: in their own category (for Other: the default route), in the default route
    while they have a category, or in another category."""
    routed = passed & (predicted != OTHER)
    own = np.where(truth == OTHER, ~routed, routed & (predicted == truth))
    n = len(truth)
    return {"held_out": int(n), "own_category": int(own.sum()),
            "own_category_share": float(own.mean()) if n else None,
            "fell_through": int((~routed & (truth != OTHER)).sum()),
            "elsewhere": int((routed & (predicted != truth)).sum())}


def route_outcomes(truth, predicted, scores, by_template, bars) -> dict:
    """Overall and per-category outcome with a threshold per row (templates kept whole always pass)."""
    passed = by_template | (scores >= bars)
    per = {int(c): outcome(truth[truth == c], predicted[truth == c], passed[truth == c]) for c in np.unique(truth)}
    return {**outcome(truth, predicted, passed), "by_category": per}


def bars(predicted, modes, limits: dict) -> np.ndarray:
    """Each row's threshold: its mode's, for the category it was placed in."""
    return np.asarray([limits[m]["by_category"].get(int(p), limits[m]["global"]) for p, m in zip(predicted, modes, strict=True)])


def utterance_candidates(state: RouteState, lab: Labelled, sp: Split, space: np.ndarray, centres: np.ndarray,
                         category: int, n: int, boundary_share: float) -> list[tuple[int, str]]:
    """(row, kind) of candidate utterances for one category from the fit part: central ones first by cluster
    in turn, then those nearest another category's centre that still land home. Three times ``n``: some
    collapse once redacted and deduplicated."""
    cat_of = state.cluster_category
    rows = np.where(sp.centre & (cat_of[lab.clusters] == category))[0]
    if not len(rows):
        return []
    sims = space[rows] @ centres.T
    own = np.where(cat_of[None, :] == category, sims, -np.inf).max(axis=1)
    other = np.where(cat_of[None, :] != category, sims, -np.inf).max(axis=1)
    margin = own - other
    boundary = [int(rows[i]) for i in np.argsort(margin) if margin[i] > 0]
    by_cluster: dict[int, list[int]] = {}
    for i in np.argsort(-own):
        by_cluster.setdefault(int(lab.clusters[rows[i]]), []).append(int(rows[i]))
    central = [r for group in zip_longest_all(list(by_cluster.values())) for r in group]
    n_boundary = int(round(n * boundary_share))
    picks = [(r, "boundary") for r in boundary[: 3 * n_boundary]]
    picks += [(r, "central") for r in central[: 3 * n] if r not in {p for p, _ in picks}]
    return picks


def zip_longest_all(groups: list[list[int]]) -> list[list[int]]:
    """Round robin over groups: [[g0[0], g1[0], ...], [g0[1], ...], ...]."""
    depth = max((len(g) for g in groups), default=0)
    return [[g[i] for g in groups if i < len(g)] for i in range(depth)]


def clean_utterances(turns: list[str]) -> list[str]:
    """Redacted through the output gate (whole, as one document: a secret cut in half would escape it), then
    whitespace collapsed and cut."""
    safe = gate([" ".join(t.split()) for t in turns], limit=None)
    return [strip_controls(t)[:UTTERANCE_CHARS].strip() for t in safe]


def pick_utterances(candidates: list[tuple[int, str]], texts: dict[int, str], n: int,
                    boundary_share: float) -> list[dict]:
    """``n`` distinct utterances, the boundary share first from boundary candidates, the rest central."""
    want_boundary = int(round(n * boundary_share))
    seen: set[str] = set()
    out: list[dict] = []
    for kind, limit in (("boundary", want_boundary), ("central", n)):
        for row, k in candidates:
            text = texts.get(row, "")
            key = text.lower()
            if k != kind or not text.strip() or key in seen or len(out) >= limit:
                continue
            seen.add(key)
            out.append({"text": text, "kind": kind})
    return out[:n]


def utterance_scores(queries: np.ndarray, utterances: np.ndarray, owner: np.ndarray, n_routes: int,
                     top_k: int = 5) -> np.ndarray:
    """semantic-router's score of every route for each query: the mean cosine of the route's utterances among
    the ``top_k`` nearest to the query (0 when none is), as its index and ``aggregation="mean"`` compute it."""
    out = np.zeros((len(queries), n_routes))
    if not len(utterances) or not len(queries):
        return out
    sims = queries @ utterances.T
    k = min(top_k, sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    for q in range(len(queries)):
        hits: dict[int, list[float]] = {}
        for u in top[q]:
            hits.setdefault(int(owner[u]), []).append(float(sims[q, u]))
        for r, values in hits.items():
            out[q, r] = float(np.mean(values))
    return out


def choose_routes(scores: np.ndarray, limits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The route semantic-router returns (its first route by score that clears its own threshold; -1: none),
    and that route's score (the top score when none passes)."""
    chosen = np.full(len(scores), -1, dtype=np.int64)
    score = scores.max(axis=1) if scores.shape[1] else np.zeros(len(scores))
    for q in range(len(scores)):
        for r in np.argsort(-scores[q], kind="stable"):
            if scores[q, r] > 0 and scores[q, r] >= limits[r]:
                chosen[q], score[q] = r, scores[q, r]
                break
    return chosen, score
