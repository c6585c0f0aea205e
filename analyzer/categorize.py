"""Workload discovery: group requests into categories, rank them by spend, name them.

Pipeline (one call: ``categorize(con)``):

1. **Text that represents a request.** Production traffic is templated, so a request is represented by the
   head of its system prompt (200 chars: the role and task are stated first) followed by the user turn
   (400-500 chars). Text is lower-cased, whitespace collapsed and digit runs masked to ``0`` (order numbers
   and dates do not change what a request is about), then deduplicated: identical texts are embedded once.
2. **Templates.** A system prompt shared by at least ``min_template_requests`` requests with different user
   turns is a template; so is a user-turn prefix of 40+ characters that most members of a group share
   ("Classify this ticket into ...: <ticket>"). For prefix templates the representation is
   prefix head + the variable remainder. Templates are stored in ``prompt_templates``.
3. **Embedding.** With few distinct texts (<= ``exact_limit``) everything is embedded with the chosen
   embedder (default all-MiniLM-L6-v2) and cached by content hash + embedder name. Beyond that, a uniform
   sample of ``sample_size`` distinct texts (chosen by a seeded hash, so it is stable as data grows and
   hits the cache) is embedded with the embedder; every other text is encoded with a static embedder
   distilled from MiniLM, mapped into the embedder's space by a ridge map learned on the sample, and
   assigned to the nearest centre. A template whose sampled members all fall in one cluster assigns its
   other members to it directly. The loss this costs is measured (cross-validated agreement on the
   sample) and carried into confidence intervals on each category's spend and share.
4. **Clustering** (scikit-learn KMeans). A request's vector is [content embedding, template embedding]
   (the template block is zero for untemplated requests), so one template's requests stay together while
   requests under a generic system prompt are told apart by content. Vectors are smoothed with their 10
   nearest neighbours, Ward linkage gives the initial centres and KMeans refines them (NMI 0.91 on
   CLINC150 against 0.89 for plain KMeans; see benchmarks/quality_categorize.py). ``k="auto"`` computes the cosine silhouette
   over a log-spaced grid of k between ``top`` and ``min(200, n/15)`` and picks the smallest k where it
   peaks within 0.05 of the best (the workload level of templated traffic; see ``choose_k``).
   An explicit k is obeyed exactly.
5. **Categories.** Clusters are ranked by spend (requests break ties); the top ``top`` keep their own
   category and the rest fold into "Other". Requests without any prompt text (usage-only exports) form their
   own category. Each category gets c-TF-IDF keywords, a name, the examples nearest its centre and a task
   type inferred from its prompts and frontier responses.

Category ids: ``0`` is always Other. On a first run the kept categories are numbered 1..top by spend rank.
A later run gives a category the id of the previous category with which it shares most requests (Jaccard
>= 0.5), so replays and judgments stay attached; a new category gets an id above every id used before.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timezone
from typing import Any, Callable

import numpy as np

from . import db
from . import task_types as tt
from .config import setting
from .errors import PlanError

OTHER_ID = 0
OTHER_NAME = "Other"
NO_TEXT_CLUSTER = -1
NO_TEXT_NAME = "No prompt text logged"
SYSTEM_HEAD_CHARS = 200
USER_CHARS = 500
USER_CHARS_WITH_TEMPLATE = 400
DEFAULT_SAMPLE_SIZE = 3000
DEFAULT_EXACT_LIMIT = 5000
# Costly texts outside the sample that the cheap route is unsure of are embedded with the chosen model too
# (at most this many, costliest first). Spend is usually concentrated (a few hundred long prompts
# can carry a quarter of it), and a cheap-route mistake on one of them moves a category's share visibly.
DEFAULT_HEAVY_LIMIT = 500
DEFAULT_HEAVY_MIN_SHARE = 2e-5  # a text below 0.002% of spend is left to the cheap route
# ... unless the cheap route is already sure: its margin (gap between the two nearest centres) is above the
# one where it agreed with the embedder on this share of the cross-validated sample.
HEAVY_TARGET_AGREEMENT = 0.998
REFIT_REPS = 3  # refits that measure how much each category depends on the particular fit
REFIT_CAP = 2000
UNSTABLE_BELOW = 0.75  # stability under which a category's boundaries are called arbitrary
HEAVY_CANDIDATES_PER_SLOT = 20  # costly texts whose margin is checked, per text the limit lets us embed
DEFAULT_MIN_TEMPLATE_REQUESTS = 5
PREFIX_KEY_CHARS = 40
K_MAX = 200
DEFAULT_TOP = 10  # named categories by default; also the smallest k the auto search tries
AUTO_K_PEAK_TOLERANCE = 0.05
CV_FOLDS = 5
RIDGE_ALPHA = 1.0
TEMPLATE_COLLAPSE_MIN_SAMPLED = 30
TEMPLATE_COHERE_MIN = 10
EXAMPLES_PER_CATEGORY = 3
KEYWORDS_PER_CATEGORY = 10
TASK_SAMPLE = 200
Z95 = 1.959963984540054
MEMORY_LIMIT = "1GB"


# --------------------------------------------------------------------------------------------------------
# Clustering: plain functions over L2-normalised vectors, reused by the notebooks' k sweep.


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32, copy=False)


def smooth_neighbours(x: np.ndarray, m: int = 10, chunk: int = 2048) -> np.ndarray:
    """Each vector plus the mean of its m nearest neighbours (cosine), renormalised: denoises
    paraphrase-level variation before clustering (CLINC150 intents: NMI 0.897 -> 0.910 with Ward init)."""
    n = len(x)
    m = min(m, n - 1)
    if m < 1:
        return x
    out = np.empty_like(x)
    for start in range(0, n, chunk):
        sims = x[start : start + chunk] @ x.T
        idx = np.argpartition(-sims, m, axis=1)[:, : m + 1]  # includes the point itself
        # the point keeps half the weight: neighbours denoise it without dragging it into a neighbour
        out[start : start + chunk] = x[start : start + chunk] + x[idx].mean(axis=1)
    return _normalise(out)


class Clusterer:
    """Ward-initialised KMeans on neighbour-smoothed vectors. The Ward tree is built once, so fitting
    several k (the auto sweep) costs one KMeans each. Vectors must be L2-normalised."""

    def __init__(self, x: np.ndarray, *, seed: int = 0, smooth: int = 10, ward_limit: int = 6000):
        self.x = x
        self.seed = seed
        n = len(x)
        self.z = smooth_neighbours(x, smooth) if smooth and n > 2 * smooth else x
        rng = np.random.default_rng(seed)
        self.ward_idx = np.sort(rng.choice(n, ward_limit, replace=False)) if n > ward_limit else np.arange(n)
        self._tree = None

    @property
    def tree(self):
        if self._tree is None:
            from scipy.cluster.hierarchy import linkage

            self._tree = linkage(self.z[self.ward_idx].astype(np.float64), method="ward")
        return self._tree

    def fit(self, k: int, sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Labels and unit-norm centres (in the unsmoothed space) for exactly k clusters. With weights
        (volume and spend per text), KMeans also tries weighted k-means++ seeding and keeps whichever
        start ends with the lower weighted objective, so a small but expensive workload gets its own
        centre instead of being merged into a cheap, busy one."""
        from scipy.cluster.hierarchy import fcluster
        from sklearn.cluster import KMeans

        x, z, n = self.x, self.z, len(self.x)
        if k < 1:
            raise ValueError("k must be at least 1")
        if k >= n:
            labels = np.arange(n) % k
        elif k == 1:
            labels = np.zeros(n, dtype=np.int64)
        else:
            cut = fcluster(self.tree, k, criterion="maxclust") - 1 if len(self.ward_idx) > k else None
            if cut is not None and cut.max() + 1 == k:
                sub = z[self.ward_idx]
                init = np.stack([sub[cut == c].mean(axis=0) for c in range(k)])
                km = KMeans(n_clusters=k, init=init, n_init=1, random_state=self.seed).fit(z, sample_weight=sample_weight)
            else:  # ties in the tree: fall back to k-means++ seeding
                km = KMeans(n_clusters=k, n_init=3, random_state=self.seed).fit(z, sample_weight=sample_weight)
            if sample_weight is not None and np.ptp(sample_weight) > 0:
                weighted = KMeans(n_clusters=k, n_init=2, random_state=self.seed).fit(z, sample_weight=sample_weight)
                if weighted.inertia_ < km.inertia_:
                    km = weighted
            labels = km.labels_.astype(np.int64)
        centres = np.zeros((k, x.shape[1]), dtype=np.float32)
        np.add.at(centres, labels, x)
        for c in np.where(~centres.any(axis=1))[0]:
            centres[c] = x[c % n]
        return labels, _normalise(centres)


def fit_clusters(x: np.ndarray, k: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels and unit-norm centres for k clusters (see ``Clusterer``)."""
    return Clusterer(x, seed=seed).fit(k)


def _cost_weights(counts: np.ndarray, spend: np.ndarray) -> np.ndarray:
    """Weight of each distinct text in the final fit: half its share of requests, half its share of spend
    (categories are ranked by spend, so the costly corners of the workload must get their own centres)."""
    counts = np.asarray(counts, dtype=np.float64)
    weights = counts / counts.mean()
    spend = np.asarray(spend, dtype=np.float64)
    if spend.sum() > 0:
        weights = 0.5 * weights + 0.5 * spend / spend.mean()
    return weights


def _silhouette(x: np.ndarray, labels: np.ndarray, seed: int, sample: int = 4000) -> float | None:
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2 or len(np.unique(labels)) >= len(x):
        return None
    return float(silhouette_score(x, labels, metric="cosine", sample_size=min(sample, len(x)), random_state=seed))


def _stability(x: np.ndarray, k: int, seed: int, reps: int = 2, fraction: float = 0.7) -> float:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(seed + 7919 * k)
    n = len(x)
    scores = []
    for r in range(reps):
        predictions = []
        for half in range(2):
            idx = rng.choice(n, max(k + 1, int(n * fraction)), replace=False)
            km = KMeans(n_clusters=k, n_init=1, random_state=seed + 2 * r + half, max_iter=100).fit(x[idx])
            predictions.append(km.predict(x))
        scores.append(adjusted_rand_score(*predictions))
    return float(np.mean(scores))


def k_grid(n: int, top: int = 10, k_max: int = K_MAX, points: int = 6) -> list[int]:
    """Candidate ks for auto: every k from 10 (``top`` when the data holds fewer) to twice that (where
    workloads are told apart), then log-spaced up to ``min(k_max, n/15)``."""
    high = max(2, min(k_max, n // 15))
    # --top only decides how many categories keep their names: it must not move the search (a larger top
    # raises the chosen k instead, see choose_k), unless there is too little data for DEFAULT_TOP clusters.
    floor = DEFAULT_TOP if high >= DEFAULT_TOP else top
    low = max(2, min(floor, high))
    if low >= high:
        return [low]
    dense = list(range(low, min(2 * low, high) + 1))
    sparse = np.round(np.geomspace(dense[-1], high, points)).astype(int) if high > dense[-1] else []
    return sorted({int(k) for k in [*dense, *sparse]})


def k_sweep(x: np.ndarray, ks: list[int], *, seed: int = 0, stability: bool = True) -> list[dict]:
    """Per k: cosine silhouette of the clustering (the auto criterion) and, optionally, its stability
    (mean adjusted Rand index between KMeans fits on two random 70% subsamples). For notebooks."""
    x = _normalise(np.asarray(x, dtype=np.float32))
    clusterer = Clusterer(x, seed=seed)
    out = []
    for k in ks:
        labels, _ = clusterer.fit(int(k))
        row = {"k": int(k), "silhouette": _silhouette(x, labels, seed)}
        if stability:
            row["stability"] = _stability(x, int(k), seed) if 1 < k < len(x) else None
        out.append(row)
    return out


def choose_k(x: np.ndarray, *, top: int = 10, seed: int = 0, k_max: int = K_MAX,
             clusterer: "Clusterer | None" = None, k_min: int = 0) -> tuple[int, list[dict]]:
    """The stated auto criterion. Over the grid of ``k_grid`` (``top``..``2*top``, then log-spaced to
    ``min(200, n/15)``), compute the
    cosine silhouette of each clustering; pick the smallest k where the silhouette peaks (at least as high
    as its grid neighbours) and comes within 0.05 of the best, else the best k. Why the first peak: text
    embeddings keep gaining silhouette from near-duplicate micro-clusters as k grows, so on templated
    traffic the curve is U-shaped; its first peak is the workload level (sample_logs: 12 apps, peak at
    k=10, NMI 0.98, while the global maximum at k=195 splits every app). The choice is raised to
    ``k_min`` when the data allows: categorize passes the larger of --top (every named category can exist)
    and the number of shared system prompts that state a task (each a workload of its own, which must not
    share a category for want of a cluster)."""
    ks = k_grid(len(x), top, k_max)
    if len(ks) == 1:
        return ks[0], [{"k": ks[0], "silhouette": None}]
    clusterer = clusterer or Clusterer(x, seed=seed)
    scores = []
    for k in ks:
        labels, _ = clusterer.fit(k)
        scores.append({"k": k, "silhouette": _silhouette(x, labels, seed)})
    valid = [s for s in scores if s["silhouette"] is not None]
    if not valid:
        return max(ks[0], min(k_min, len(x) - 1)), scores
    return max(_first_peak(valid), min(k_min, len(x) - 1)), scores


def _first_peak(scores: list[dict]) -> int:
    best = max(s["silhouette"] for s in scores)
    for i, s in enumerate(scores):
        neighbours = [scores[j]["silhouette"] for j in (i - 1, i + 1) if 0 <= j < len(scores)]
        if all(s["silhouette"] >= v for v in neighbours) and s["silhouette"] >= best - AUTO_K_PEAK_TOLERANCE:
            return s["k"]
    return max(scores, key=lambda s: s["silhouette"])["k"]


# --------------------------------------------------------------------------------------------------------
# Preparing the text that represents each request (in DuckDB: it is multi-threaded and keeps memory flat).


def _norm_sql(expr: str, chars: int) -> str:
    return (f"regexp_replace(regexp_replace(lower(trim(left(coalesce({expr}, ''), {chars}))), "
            f"'\\s+', ' ', 'g'), '[0-9]+', '0', 'g')")


def _prepare(con, *, min_template_requests: int, seed: int) -> dict:
    """Build temp tables ``_cat_req`` (one row per request) and ``_cat_text`` (one row per distinct text)."""
    con.execute(
        f"""
        create or replace temp table _cat_base as
        select id,
               case when sys_full <> '' then md5(sys_full) end as sys_hash,
               left(sys_full, {SYSTEM_HEAD_CHARS}) as sys_head,
               md5(usr_full) as usr_hash,
               left(usr_full, 800) as usr_text,
               left(usr_full, {PREFIX_KEY_CHARS}) as prefix_key,
               length(usr_full) as usr_len
        from (
            select id, {_norm_sql('system_prompt', 2000)} as sys_full, {_norm_sql('prompt_text', 1000)} as usr_full
            from requests
        )
        """
    )
    n_requests = db.scalar(con, "select count(*) from _cat_base")
    system_templates = db.dicts(
        con,
        """
        select sys_hash, any_value(sys_head) as head, count(*) as requests, count(distinct usr_hash) as fillings
        from _cat_base where sys_hash is not null
        group by sys_hash having count(*) >= ? and count(distinct usr_hash) >= 2
        """,
        [min_template_requests],
    )
    prefix_templates = _detect_prefix_templates(con, min_template_requests, n_requests)
    originals = {}
    if system_templates:
        originals = dict(db.rows(
            con,
            """
            select b.sys_hash, any_value(left(trim(r.system_prompt), 300))
            from _cat_base b join requests r on r.id = b.id
            where b.sys_hash in (select unnest(?::varchar[])) group by 1
            """,
            [[t["sys_hash"] for t in system_templates]],
        ))
    templates = []
    for t in system_templates:
        templates.append({"kind": "system", "key": t["sys_hash"], "text": t["head"],
                          "display": " ".join((originals.get(t["sys_hash"]) or t["head"]).split())})
    for t in prefix_templates:
        templates.append({"kind": "user_prefix", "key": t["prefix"], "text": t["prefix"],
                          "display": t["prefix"][:1].upper() + t["prefix"][1:]})
    con.execute("create or replace temp table _cat_sys_tpl (sys_hash varchar, template_id bigint)")
    con.execute("create or replace temp table _cat_prefix_tpl (prefix_key varchar, prefix varchar, template_id bigint)")
    if system_templates:
        con.executemany("insert into _cat_sys_tpl values (?, ?)",
                        [[t["sys_hash"], template_id("system", t["sys_hash"])] for t in system_templates])
    if prefix_templates:
        con.executemany("insert into _cat_prefix_tpl values (?, ?, ?)",
                        [[t["prefix"][:PREFIX_KEY_CHARS], t["prefix"], template_id("user_prefix", t["prefix"])]
                         for t in prefix_templates])
    con.execute(
        f"""
        create or replace temp table _cat_req0 as
        select b.id, st.template_id as sys_template, pt.template_id as prefix_template, pt.prefix,
               case
                 when b.sys_head = '' and b.usr_len = 0 then null
                 when pt.prefix is not null then
                     left(trim(substr(b.usr_text, length(pt.prefix) + 1)), {USER_CHARS_WITH_TEMPLATE})
                 when st.template_id is not null then left(b.usr_text, {USER_CHARS_WITH_TEMPLATE})
                 else
                     case when b.sys_head <> '' then b.sys_head || ' | ' else '' end || left(b.usr_text, {USER_CHARS})
               end as rep
        from _cat_base b
        left join _cat_sys_tpl st on st.sys_hash = b.sys_hash
        left join _cat_prefix_tpl pt on pt.prefix_key = b.prefix_key and starts_with(b.usr_text, pt.prefix)
        """
    )
    con.execute(
        """
        create or replace temp table _cat_req as
        select q.id, coalesce(q.sys_template, q.prefix_template) as template_id,
               case when q.rep is not null
                    then md5(coalesce(cast(coalesce(q.sys_template, q.prefix_template) as varchar), '') || '|' || q.rep)
               end as rep_hash, q.rep,
               coalesce(r.cost_usd, 0) as spend, r.cost_usd is null as unpriced
        from _cat_req0 q join requests r on r.id = q.id
        """
    )
    con.execute("drop table _cat_req0")
    con.execute("drop table _cat_base")
    con.execute(
        """
        create or replace temp table _cat_text as
        select rep_hash, any_value(rep) as rep, md5(any_value(rep)) as text_hash, count(*) as requests,
               sum(spend) as spend, any_value(template_id) as template_id, min(id) as request_id,
               md5(? || ':' || rep_hash) as draw
        from _cat_req where rep_hash is not null
        group by rep_hash
        """,
        [str(seed)],
    )
    con.execute("alter table _cat_req drop column rep")
    return {"requests": n_requests, "templates": templates}


def template_id(kind: str, key: str) -> int:
    """Stable id of a template: hash of its kind and normalised text (or the system prompt's md5)."""
    from .ingest.records import stable_id

    return stable_id("template", kind, key)


def _detect_prefix_templates(con, min_requests: int, n_requests: int) -> list[dict]:
    """User turns that open with the same instructions: groups by the first 40 normalised chars, then the
    prefix most members share (>= 90% of a sample), cut at a word boundary."""
    floor = max(min_requests, int(0.0005 * n_requests))
    groups = db.rows(
        con,
        f"""
        select prefix_key, count(*) as n from _cat_base
        where usr_len > {PREFIX_KEY_CHARS + 10}
        group by prefix_key
        having count(*) >= ? and count(distinct usr_hash) >= greatest(2, least(count(*) / 4, 50))
        order by n desc limit 200
        """,
        [floor],
    )
    if not groups:
        return []
    texts_by_key: dict[str, list[str]] = {}
    keys = [g[0] for g in groups]
    for key, text in db.rows(
        con,
        """
        select prefix_key, usr_text from (
            select prefix_key, usr_text, row_number() over (partition by prefix_key order by usr_hash) as rn
            from (select distinct prefix_key, usr_hash, usr_text from _cat_base
                  where prefix_key in (select unnest(?::varchar[])))
        ) where rn <= 200
        """,
        [keys],
    ):
        texts_by_key.setdefault(key, []).append(text)
    out = []
    for key in keys:
        prefix = shared_prefix(texts_by_key.get(key, []))
        if prefix and len(prefix) >= PREFIX_KEY_CHARS:
            out.append({"prefix": prefix})
    return out


def shared_prefix(texts: list[str], coverage: float = 0.9) -> str | None:
    """The longest prefix (ending at a word boundary) that at least ``coverage`` of ``texts`` start with
    and that leaves a non-empty remainder for most of them."""
    if len(texts) < 2:
        return None
    need = math.ceil(coverage * len(texts))

    def best_at(length: int) -> tuple[str, int]:
        counts: dict[str, int] = {}
        for t in texts:
            if len(t) >= length:
                p = t[:length]
                counts[p] = counts.get(p, 0) + 1
        if not counts:
            return "", 0
        p = max(counts, key=counts.get)
        return p, counts[p]

    low, high = 1, max(len(t) for t in texts)
    found = ""
    while low <= high:
        mid = (low + high) // 2
        p, count = best_at(mid)
        if count >= need:
            found, low = p, mid + 1
        else:
            high = mid - 1
    if not found:
        return None
    cut = max(found.rfind(" "), found.rfind(":"), found.rfind("\n"))
    candidate = found if len(found) == high or cut < 0 else found[: cut + 1]
    candidate = candidate.rstrip()
    remainders = sum(1 for t in texts if t.startswith(candidate) and len(t) > len(candidate) + 3)
    if remainders < need:
        return None
    return candidate


# --------------------------------------------------------------------------------------------------------
# Embedding, fitting and assignment.


def _fetch_texts(con, where: str, params=None):
    """(unit keys, texts, text hashes, request counts, spend, template ids or -1) of distinct texts."""
    table = _arrow(con, f"select rep_hash, rep, text_hash, requests, spend, coalesce(template_id, -1) as template_id "
                        f"from _cat_text {where}", params)
    return (
        table.column("rep_hash").to_pylist(),
        table.column("rep").to_pylist(),
        table.column("text_hash").to_pylist(),
        table.column("requests").to_numpy(),
        np.nan_to_num(table.column("spend").to_numpy(zero_copy_only=False).astype(np.float64)),
        table.column("template_id").to_numpy(zero_copy_only=False).astype(np.int64),
    )


def _arrow(con, sql: str, params=None):
    return con.sql(sql, params=params or None).to_arrow_table()


def _ridge_map(source: np.ndarray, target: np.ndarray, alpha: float = RIDGE_ALPHA) -> np.ndarray:
    """W minimising |source W - target|^2 + alpha |W|^2 (closed form, no intercept: both are unit-norm)."""
    gram = source.T @ source + alpha * np.eye(source.shape[1], dtype=np.float64)
    return np.linalg.solve(gram, source.T.astype(np.float64) @ target).astype(np.float32)


def _nearest(vectors: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sims = vectors @ centres.T
    labels = sims.argmax(axis=1)
    return labels, 1.0 - sims[np.arange(len(labels)), labels]


def _heavy_candidates(spend: np.ndarray, eligible: np.ndarray, total_spend: float, limit: int,
                      min_share: float = DEFAULT_HEAVY_MIN_SHARE) -> tuple[np.ndarray, float]:
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


def _margins(vectors: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre and the cosine gap to the runner-up: how sure that assignment is."""
    sims = vectors @ centres.T
    labels = sims.argmax(axis=1)
    if centres.shape[0] < 2:
        return labels, np.full(len(labels), np.inf)
    top2 = np.partition(sims, -2, axis=1)[:, -2:]
    return labels, np.abs(top2[:, 1] - top2[:, 0])


def _cross_validated_route(static: np.ndarray, exact: np.ndarray, templates: np.ndarray, template_vectors: dict,
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
        w = _ridge_map(static[~test], exact[~test])
        vec = _with_templates(_normalise(static[test] @ w), templates[test], template_vectors)
        out[test], margin[test] = _margins(vec, centres)
    return out, margin


def confident_margin(margins: np.ndarray, correct: np.ndarray, target: float = HEAVY_TARGET_AGREEMENT) -> float:
    """Smallest margin above which the cross-validated cheap route agreed with the embedder on at least
    ``target`` of the sample (inf when no margin is that safe)."""
    finite = np.isfinite(margins)
    m, ok = margins[finite], correct[finite]
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


TEMPLATE_WEIGHT = 1.0


def _template_vectors(con, templates: list[dict], embedder, progress: bool) -> dict[int, np.ndarray]:
    """Embedding of each template's text (cached like any other text), keyed by template id."""
    from .embedders import embed_cached

    if not templates:
        return {}
    texts = [t["text"] for t in templates]
    vectors = _normalise(embed_cached(con, texts, embedder, progress=progress).vectors)
    return {template_id(t["kind"], t["key"]): v for t, v in zip(templates, vectors)}


def _with_templates(vectors: np.ndarray, template_ids: np.ndarray, template_vectors: dict) -> np.ndarray:
    """[content vector, TEMPLATE_WEIGHT * template vector] renormalised; no template: a zero block."""
    if not template_vectors:
        return vectors
    dim = next(iter(template_vectors.values())).shape[0]
    block = np.zeros((len(vectors), dim), dtype=np.float32)
    for tid, vec in template_vectors.items():
        hit = template_ids == tid
        if hit.any():
            block[hit] = vec
    return _normalise(np.hstack([vectors, TEMPLATE_WEIGHT * block]))


# --------------------------------------------------------------------------------------------------------
# The stage.


def categorize(
    con,
    *,
    k: int | str = "auto",
    top: int = 10,
    embedder: Any = None,
    seed: int = 0,
    config: dict | None = None,
    progress: bool = True,
    sample_size: int | None = None,
    exact_limit: int | None = None,
    heavy_limit: int | None = None,
    heavy_min_share: float | None = None,
    heavy_sure_margin: float | None = None,
    min_template_requests: int | None = None,
    llm_names: bool = False,
    endpoint: str | None = None,
    model: str | None = None,
    allow_remote: bool = False,
    say: Callable[[str], None] | None = None,
) -> dict:
    """Cluster requests into categories ranked by spend; write ``categories``, ``request_categories`` and
    ``prompt_templates``; return the ``plan categorize --json`` payload."""
    # DuckDB's default memory limit is 80% of RAM; the temp tables here hold a row per request, so bound
    # it (DuckDB spills to disk beyond it) to keep a million-request run well under 4 GB.
    previous_limit = db.scalar(con, "select current_setting('memory_limit')")
    con.execute(f"set memory_limit = '{MEMORY_LIMIT}'")
    try:
        return _categorize(con, k=k, top=top, embedder=embedder, seed=seed, config=config, progress=progress,
                           sample_size=sample_size, exact_limit=exact_limit, heavy_limit=heavy_limit,
                           heavy_min_share=heavy_min_share, heavy_sure_margin=heavy_sure_margin,
                           min_template_requests=min_template_requests,
                           llm_names=llm_names, endpoint=endpoint, model=model, allow_remote=allow_remote, say=say)
    finally:
        con.execute(f"set memory_limit = '{previous_limit}'")
        for table in ("_cat_req", "_cat_text", "_cat_assign", "_cat_sys_tpl", "_cat_prefix_tpl", "_cat_base",
                      "_cat_req0", "_cat_rc", "_cat_map"):
            con.execute(f"drop table if exists {table}")


def _categorize(
    con,
    *,
    k: int | str,
    top: int,
    embedder: Any,
    seed: int,
    config: dict | None,
    progress: bool,
    sample_size: int | None,
    exact_limit: int | None,
    heavy_limit: int | None,
    heavy_min_share: float | None,
    heavy_sure_margin: float | None,
    min_template_requests: int | None,
    llm_names: bool,
    endpoint: str | None,
    model: str | None,
    allow_remote: bool,
    say: Callable[[str], None] | None,
) -> dict:
    from .embedders import STATIC_EMBEDDER, embed_cached, get_embedder

    started = datetime.now(timezone.utc).replace(tzinfo=None)
    t0 = time.perf_counter()
    config = config or {}
    say = say or (lambda message: None)
    timings: dict[str, float] = {}

    def lap(name: str, since: list[float] = [t0]) -> None:
        now = time.perf_counter()
        timings[name] = round(now - since[0], 3)
        since[0] = now

    k = k if k is not None else setting(config, "categorize.k", "auto")
    top = int(top if top is not None else setting(config, "categorize.top", 10))
    if top < 1:
        raise PlanError("--top must be at least 1.")
    k_requested = _parse_k(k)
    sample_size = int(sample_size or setting(config, "categorize.sample_size", DEFAULT_SAMPLE_SIZE))
    exact_limit = int(exact_limit or setting(config, "categorize.exact_limit", DEFAULT_EXACT_LIMIT))
    heavy_limit = int(heavy_limit if heavy_limit is not None else
                      setting(config, "categorize.heavy_limit", DEFAULT_HEAVY_LIMIT))
    heavy_min_share = float(heavy_min_share if heavy_min_share is not None else
                            setting(config, "categorize.heavy_min_share", DEFAULT_HEAVY_MIN_SHARE))
    # A fixed margin instead of the learned one; 2 (the widest cosine gap) embeds every costly text.
    heavy_sure_margin = heavy_sure_margin if heavy_sure_margin is not None else setting(
        config, "categorize.heavy_sure_margin", None)
    min_template_requests = int(min_template_requests or setting(config, "categorize.min_template_requests",
                                                                  DEFAULT_MIN_TEMPLATE_REQUESTS))
    if embedder is None or isinstance(embedder, str):
        embedder = get_embedder(embedder or setting(config, "categorize.embedder"))

    naming = None
    if llm_names or setting(config, "categorize.llm_names", False):
        from .endpoints import ensure_local, resolve_endpoint, resolve_model

        url = resolve_endpoint(endpoint, config, section="categorize")
        naming = {"endpoint": ensure_local(url, allow_remote), "model": resolve_model(model, config, section="categorize")}

    n_requests = db.scalar(con, "select count(*) from requests") or 0
    if not n_requests:
        raise PlanError("No requests in the database yet: run `plan ingest <files>` first.")

    prep = _prepare(con, min_template_requests=min_template_requests, seed=seed)
    n_texts = db.scalar(con, "select count(*) from _cat_text") or 0
    lap("prepare")
    if n_texts == 0:
        if k_requested not in (None, 1):
            raise PlanError(f"No request has prompt text, so --k {k_requested} cannot be honoured; "
                            "these logs carry usage only.")
    elif k_requested is not None and k_requested > n_texts:
        raise PlanError(f"--k {k_requested} asks for more categories than there are distinct prompts "
                        f"({n_texts}). Use a smaller --k or --k auto.")

    exact = n_texts <= exact_limit
    mode = "exact" if exact else "sampled"
    order = "order by draw"
    if exact:
        fit_hashes, fit_texts, fit_text_hashes, fit_counts, fit_spend, fit_templates = _fetch_texts(con, order)
    else:
        fit_hashes, fit_texts, fit_text_hashes, fit_counts, fit_spend, fit_templates = _fetch_texts(
            con, f"{order} limit ?", [sample_size])
    say(f"Clustering {len(fit_texts):,} of {n_texts:,} distinct prompts with {embedder.name} "
        f"({'all of them' if exact else 'a uniform sample'}; vectors already cached are reused).")
    embedded_new = embedded_cached = 0
    if fit_texts:
        emb = embed_cached(con, fit_texts, embedder, hashes=fit_text_hashes, progress=progress)
        fit_vectors = _normalise(emb.vectors)
        embedded_new, embedded_cached = emb.new, emb.cached
    lap("embed")

    # Shared templates enter the clustering as a second block of the vector: requests from one template
    # are pulled together, requests under a generic system prompt are still told apart by content.
    template_vectors = _template_vectors(con, prep["templates"], embedder, progress)
    fit_space = _with_templates(fit_vectors, fit_templates, template_vectors) if fit_texts else None
    k_selection: list[dict] = []
    cohered_templates: dict[int, int] = {}
    if fit_texts:
        clusterer = Clusterer(fit_space, seed=seed)
        task_templates = _templates_stating_a_task(prep["templates"])
        # Shared system prompts that state a task are workloads a person already tells apart.
        task_systems = len(_templates_stating_a_task([t for t in prep["templates"] if t["kind"] == "system"]))
        if k_requested is None:
            k_final, k_selection = choose_k(fit_space, top=top, seed=seed, clusterer=clusterer,
                                            k_min=max(top, task_systems))
        else:
            k_final = k_requested
        weights = _cost_weights(fit_counts, fit_spend)
        fit_labels, centres = clusterer.fit(k_final, sample_weight=weights)
        fit_labels, cohered_templates = cohere_templates(fit_vectors, fit_templates, fit_labels, weights, k_final,
                                                         states_task=task_templates, seed=seed)
        if cohered_templates:
            centres = _centres(fit_space, fit_labels, k_final)
        fit_dist = 1.0 - np.einsum("ij,ij->i", fit_space, centres[fit_labels])
    else:
        k_final = 0
        centres = np.zeros((0, 1), dtype=np.float32)
        fit_labels = np.zeros(0, dtype=np.int64)
        fit_dist = np.zeros(0)
    lap("cluster")
    stability = (refit_stability(fit_space, fit_vectors, fit_templates, weights, fit_spend, fit_labels, k_final,
                                 seed=seed, states_task=task_templates) if fit_texts else {})
    lap("stability")

    # Assignment of every distinct text: hash -> (cluster, distance, route)
    assign_hash = list(fit_hashes)
    assign_label = [fit_labels]
    assign_dist = [fit_dist]
    assign_route = ["fit"] * len(fit_hashes)
    audit = None
    static_encoded = 0
    heavy_texts, heavy_spend = 0, 0.0
    collapsed_templates: dict[int, int] = {}
    if not exact:
        static = get_embedder(STATIC_EMBEDDER)
        say(f"Assigning the other {n_texts - len(fit_texts):,} distinct prompts with {static.name}.")
        fit_static = static.encode(fit_texts)
        static_encoded += len(fit_texts)
        w = _ridge_map(fit_static, fit_vectors)
        cv_labels, cv_margins = _cross_validated_route(fit_static, fit_vectors, fit_templates, template_vectors,
                                                       centres, seed)
        collapsed_templates = _collapsible_templates(fit_templates, fit_labels)
        collapsed_templates.update(cohered_templates)
        for tid, label in collapsed_templates.items():  # their sampled members' cheap label is the template's
            cv_labels[fit_templates == tid] = label
            cv_margins[fit_templates == tid] = np.inf
        sure_margin = (float(heavy_sure_margin) if heavy_sure_margin is not None
                       else confident_margin(cv_margins, cv_labels == fit_labels))
        static_labels = cv_labels.copy()
        lap("route_fit")
        rest_hashes, rest_texts, rest_text_hashes, rest_counts, rest_spend, rest_templates = _fetch_texts(
            con, f"{order} offset ?", [len(fit_texts)])
        n_rest = len(rest_texts)
        labels = np.empty(n_rest, dtype=np.int64)
        dists = np.full(n_rest, np.nan, dtype=np.float64)  # not measured for template-assigned texts
        routes = np.array(["nearest"] * n_rest, dtype=object)
        by_template = np.zeros(n_rest, dtype=bool)
        for tid, label in collapsed_templates.items():
            hit = rest_templates == tid
            labels[hit] = label
            by_template |= hit
        routes[by_template] = "template"
        total_text_spend = float(fit_spend.sum() + rest_spend.sum())
        heavy, heavy_cut = _heavy_candidates(rest_spend, ~by_template, total_text_spend,
                                             HEAVY_CANDIDATES_PER_SLOT * heavy_limit, heavy_min_share)
        unsure = np.zeros(0, dtype=np.int64)
        if len(heavy):
            mapped = _normalise(static.encode([rest_texts[i] for i in heavy]) @ w)
            static_encoded += len(heavy)
            vec = _with_templates(mapped, rest_templates[heavy], template_vectors)
            labels[heavy], heavy_margin = _margins(vec, centres)
            dists[heavy] = 1.0 - np.einsum("ij,ij->i", vec, centres[labels[heavy]])
            unsure = heavy[heavy_margin < sure_margin]
            if len(unsure) > heavy_limit:  # the costliest of them get the embedder
                unsure = unsure[:heavy_limit]
                heavy_cut = float(rest_spend[unsure[-1]])
        if len(unsure):
            share = rest_spend[unsure].sum() / total_text_spend
            say(f"Embedding {len(unsure):,} costly prompts the fast route is unsure of ({share:.0%} of spend) "
                f"with {embedder.name} too.")
            heavy_emb = embed_cached(con, [rest_texts[i] for i in unsure], embedder,
                                     hashes=[rest_text_hashes[i] for i in unsure], progress=progress)
            embedded_new += heavy_emb.new
            embedded_cached += heavy_emb.cached
            vec = _with_templates(_normalise(heavy_emb.vectors), rest_templates[unsure], template_vectors)
            labels[unsure], dists[unsure] = _nearest(vec, centres)
            routes[unsure] = "exact"
        heavy_texts, heavy_spend = len(unsure), float(rest_spend[unsure].sum())
        # The audit estimates the error of the route as applied: a sampled text at least as costly as the cut
        # and with a margin below the sure one would have been embedded, so the cheap route errs not on it.
        cv_labels = np.where((fit_spend >= heavy_cut) & (cv_margins < sure_margin), fit_labels, cv_labels)
        audit = {"exact": fit_labels, "cheap": cv_labels, "static": static_labels, "spend": fit_spend,
                 "requests": fit_counts}
        todo = np.setdiff1d(np.where(~by_template)[0], heavy)
        lap("route_heavy")
        chunk = 50_000
        from .progress import bar

        with bar(len(todo), f"assigning ({static.name})", unit="text") as pbar:
            for start in range(0, len(todo), chunk):
                idx = todo[start : start + chunk]
                mapped = _normalise(static.encode([rest_texts[i] for i in idx]) @ w)
                vec = _with_templates(mapped, rest_templates[idx], template_vectors)
                labels[idx], dists[idx] = _nearest(vec, centres)
                static_encoded += len(idx)
                pbar.update(len(idx))
        assign_hash += rest_hashes
        assign_label.append(labels)
        assign_dist.append(dists)
        assign_route += routes.tolist()
        del rest_texts
        lap("route_assign")

    cluster_of_text = np.concatenate(assign_label) if assign_label else np.zeros(0, dtype=np.int64)
    distance_of_text = np.concatenate(assign_dist).astype(np.float64) if assign_dist else np.zeros(0)
    _write_text_assignments(con, assign_hash, cluster_of_text, distance_of_text, assign_route)
    lap("assign_write")

    result = _build_categories(
        con,
        top=top,
        k=k_final,
        centres=centres,
        fit_hashes=fit_hashes,
        fit_texts=fit_texts,
        fit_vectors=fit_space,
        fit_labels=fit_labels,
        templates=prep["templates"],
        audit=audit,
        stability=stability,
        n_texts=n_texts,
        embedder_name=embedder.name,
        seed=seed,
        naming=naming,
        say=say,
    )
    lap("describe")

    summary = {
        "requests": n_requests,
        "distinct_texts": n_texts,
        "mode": mode,
        "k": k_final,
        "k_requested": k if k_requested is not None else "auto",
        "embedded_new": embedded_new,
        "embedded_cached": embedded_cached,
        "static_encoded": static_encoded,
        "heavy_texts": heavy_texts,
        "templates": len(prep["templates"]),
        "templates_collapsed": len(collapsed_templates or cohered_templates),
        "timings_s": timings,
    }
    params = {"k": str(k), "top": top, "embedder": embedder.name, "seed": seed, "sample_size": sample_size,
              "exact_limit": exact_limit, "heavy_limit": heavy_limit, "heavy_min_share": heavy_min_share,
              "heavy_sure_margin": heavy_sure_margin,
              "min_template_requests": min_template_requests}
    db.record_stage_run(con, "categorize", params, summary, started_at=started)
    for table in ("_cat_req", "_cat_text", "_cat_assign", "_cat_sys_tpl", "_cat_prefix_tpl"):
        con.execute(f"drop table if exists {table}")
    payload = {
        "k": k_final,
        "embedder": embedder.name,
        "categories": result["categories"],
        "top": top,
        "requests": n_requests,
        "spend_usd": result["spend_usd"],
        "unpriced_requests": result["unpriced_requests"],
        "method": {
            "mode": mode,
            "representation": (f"system prompt head ({SYSTEM_HEAD_CHARS} chars) + user turn "
                               f"({USER_CHARS} chars; {USER_CHARS_WITH_TEMPLATE} after a template), lower-cased, "
                               "whitespace collapsed, digits masked, deduplicated"),
            "distinct_texts": n_texts,
            "fit_texts": len(fit_texts),
            "assign_route": None if exact else (
                f"{STATIC_EMBEDDER} + ridge map to {embedder.name}, nearest centre; costly texts (each >= "
                f"{heavy_min_share:.4%} of spend) whose margin between the two nearest centres is below "
                f"{sure_margin:.3f} (above it the cross-validated fast route agreed on {HEAVY_TARGET_AGREEMENT:.1%} "
                f"of the sample) are embedded with {embedder.name} instead, up to {heavy_limit:,}, costliest first"),
            "heavy_texts": heavy_texts,
            "heavy_share_of_spend": (heavy_spend / result["spend_usd"]) if result["spend_usd"] else 0.0,
            "static_route_agreement": None if audit is None else float(
                np.average(audit["static"] == audit["exact"], weights=audit["requests"])),
            "assignment_agreement": result["agreement"],
            "k_criterion": ("explicit" if k_requested is not None else
                            "first peak of the cosine silhouette (within 0.05 of the best) over a log grid from "
                            "10 to min(200, n/15), raised to --top and to the number of shared system prompts "
                            "stating a task"),
            "k_selection": k_selection,
        },
        "templates": result["templates"],
        "embedded_new": embedded_new,
        "embedded_cached": embedded_cached,
        "static_encoded": static_encoded,
        "heavy_texts": heavy_texts,
        "timings_s": timings,
        "warnings": result["warnings"],
    }
    return payload


def _parse_k(k) -> int | None:
    if isinstance(k, str):
        if k.strip().lower() == "auto":
            return None
        if not k.strip().isdigit():
            raise PlanError(f"--k must be 'auto' or a positive whole number, not {k!r}.")
        k = int(k)
    k = int(k)
    if k < 1:
        raise PlanError("--k must be at least 1.")
    return k


def _collapsible_templates(fit_templates: np.ndarray, fit_labels: np.ndarray) -> dict[int, int]:
    """Templates whose sampled members (at least 30) all landed in one cluster."""
    out: dict[int, int] = {}
    if fit_templates is None or not len(fit_templates):
        return out
    valid = fit_templates >= 0
    ids = fit_templates[valid]
    labels = fit_labels[valid]
    for tid in np.unique(ids):
        members = labels[ids == tid]
        if len(members) >= TEMPLATE_COLLAPSE_MIN_SAMPLED and (members == members[0]).all():
            out[int(tid)] = int(members[0])
    return out


def _spread(vectors: np.ndarray, weights: np.ndarray) -> float:
    """Weighted mean cosine distance of unit vectors to their own (re-normalised) centroid."""
    centre = (vectors * weights[:, None]).sum(axis=0)
    norm = np.linalg.norm(centre)
    if norm == 0:
        return 1.0
    return float(np.average(1.0 - vectors @ (centre / norm), weights=weights))


def cohere_templates(vectors: np.ndarray, templates: np.ndarray, labels: np.ndarray, weights: np.ndarray,
                     k: int, *, states_task: set[int] | frozenset = frozenset(), min_members: int = TEMPLATE_COHERE_MIN,
                     seed: int = 0) -> tuple[np.ndarray, dict[int, int]]:
    """Keep a specific template's requests in one category: every member goes to the cluster holding most of
    its weight. A template is specific when its requests are no more spread out (content vectors, weighted)
    than the median fitted cluster, or when its text states a task (``states_task``: "Read the agreement and
    answer ...") and its requests are less spread than the traffic as a whole. Then a split of it is weighted
    KMeans spending two centres on one costly workload. A generic system prompt over varied content ("You are
    a helpful assistant.") states no task and is as spread as everything, so it keeps its split.
    A cluster left empty is refilled by halving the widest cluster of unlocked texts, so k stays exact.
    Returns the new labels and {template_id: cluster} for the templates collapsed."""
    labels = labels.copy()
    if templates is None or not len(templates) or k < 2:
        return labels, {}
    weights = np.asarray(weights, dtype=np.float64)
    weights = np.where(weights > 0, weights, 1.0)
    cluster_spread = [_spread(vectors[labels == c], weights[labels == c]) for c in range(k) if (labels == c).sum() >= 2]
    if not cluster_spread:
        return labels, {}
    limit = float(np.median(cluster_spread))
    overall = _spread(vectors, weights)
    collapsed: dict[int, int] = {}
    for tid in np.unique(templates[templates >= 0]):
        members = np.where(templates == tid)[0]
        if len(members) < min_members:
            continue
        votes = np.bincount(labels[members], weights=weights[members], minlength=k)
        spread = _spread(vectors[members], weights[members])
        if spread <= limit or (int(tid) in states_task and spread < overall):
            collapsed[int(tid)] = int(votes.argmax())
            labels[members] = votes.argmax()
    # Refill: a collapsed template moves as one unit (its weighted centroid), any other text on its own.
    unit = np.arange(len(labels)) + 1 + max(int(templates.max()), 0)
    for tid in collapsed:
        unit[templates == tid] = tid
    for empty in [c for c in range(k) if not (labels == c).any()]:
        best, best_cost = None, 0.0
        for c in range(k):
            idx = np.where(labels == c)[0]
            units, inverse = np.unique(unit[idx], return_inverse=True)
            if len(units) < 2:
                continue
            cost = _spread(vectors[idx], weights[idx]) * weights[idx].sum()
            if cost > best_cost:
                best, best_cost = (idx, inverse, len(units)), cost
        if best is None:
            break
        idx, inverse, n_units = best
        centroid = np.zeros((n_units, vectors.shape[1]), dtype=np.float64)
        np.add.at(centroid, inverse, vectors[idx] * weights[idx, None])
        mass = np.bincount(inverse, weights=weights[idx], minlength=n_units)
        from sklearn.cluster import KMeans

        halves = KMeans(n_clusters=2, n_init=2, random_state=seed).fit(
            _normalise(centroid.astype(np.float32)), sample_weight=mass).labels_
        if halves.min() == halves.max():
            break
        labels[idx[halves[inverse] == 1]] = empty
    return labels, collapsed


def boundaries_vary(stability: float | None) -> bool:
    """A category whose members do not come back together when the clustering is refitted."""
    return stability is not None and stability < UNSTABLE_BELOW


def refit_stability(space: np.ndarray, vectors: np.ndarray, templates: np.ndarray, weights: np.ndarray,
                    spend: np.ndarray, labels: np.ndarray, k: int, *, seed: int = 0, states_task=frozenset(),
                    reps: int = REFIT_REPS, fraction: float = 0.8, cap: int = REFIT_CAP) -> dict[int, dict]:
    """How much each cluster depends on the particular fit. The clustering is refitted ``reps`` times on
    random subsets (``fraction`` of the fitted texts, at most ``cap``), each refit assigns every fitted text
    to its nearest refit centre, and each cluster is matched to the refit cluster it overlaps most.
    Per cluster: ``stability``, the mean weighted Jaccard overlap of those matches (Hennig's clusterboot:
    above 0.85 a cluster is stable, below 0.6 its boundaries are arbitrary), and ``share_delta``, the
    lowest and highest change in share of spend (of the fitted texts) over the refits. Where traffic has no
    natural boundaries (generic chat over varied content), a category's share moves between fits far more
    than its assignment interval says."""
    n = len(space)
    if k < 2 or n <= 2 * k:
        return {}
    weights = np.where(np.asarray(weights, dtype=np.float64) > 0, weights, 1e-12)
    mass = np.asarray(spend, dtype=np.float64)
    mass = mass if mass.sum() > 0 else weights
    total = mass.sum()
    share = np.bincount(labels, weights=mass, minlength=k) / total
    jaccard = np.zeros((reps, k))
    delta = np.zeros((reps, k))
    for r in range(reps):
        rng = np.random.default_rng(seed + 1009 * (r + 1))
        idx = np.sort(rng.choice(n, min(cap, max(k + 1, int(fraction * n))), replace=False))
        sub_labels, _ = Clusterer(space[idx], seed=seed + r + 1).fit(k, sample_weight=weights[idx])
        sub_labels, _ = cohere_templates(vectors[idx], templates[idx], sub_labels, weights[idx], k,
                                         states_task=states_task, seed=seed + r + 1)
        refit, _ = _nearest(space, _centres(space[idx], sub_labels, k))
        # every fitted text's template follows its members' majority in the refit too
        refit, _ = cohere_templates(vectors, templates, refit, weights, k, states_task=states_task, seed=seed)
        both = np.zeros((k, k))
        np.add.at(both, (labels, refit), weights)
        size_a, size_b = both.sum(axis=1), both.sum(axis=0)
        union = size_a[:, None] + size_b[None, :] - both
        overlap = np.divide(both, union, out=np.zeros_like(both), where=union > 0)
        match = overlap.argmax(axis=1)
        jaccard[r] = overlap[np.arange(k), match]
        refit_share = np.bincount(refit, weights=mass, minlength=k) / total
        delta[r] = refit_share[match] - share
    return {c: {"stability": float(jaccard[:, c].mean()),
                "share_delta": (float(min(0.0, delta[:, c].min())), float(max(0.0, delta[:, c].max())))}
            for c in range(k)}


def _templates_stating_a_task(templates: list[dict]) -> set[int]:
    from .naming import template_phrase

    return {template_id(t["kind"], t["key"]) for t in templates if template_phrase(t.get("display") or t["text"])}


def _centres(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    centres = np.zeros((k, x.shape[1]), dtype=np.float32)
    np.add.at(centres, labels, x)
    for c in np.where(~centres.any(axis=1))[0]:
        centres[c] = x[c % len(x)]
    return _normalise(centres)


def _write_text_assignments(con, hashes, clusters, distances, routes) -> None:
    import pyarrow as pa

    table = pa.table({
        "rep_hash": pa.array(hashes, pa.string()),
        "cluster": pa.array(np.asarray(clusters, dtype=np.int64)),
        "distance": pa.array(np.asarray(distances, dtype=np.float64)),
        "assigned_by": pa.array(routes, pa.string()),
    })
    con.execute("create or replace temp table _cat_assign (rep_hash varchar, cluster bigint, distance double, assigned_by varchar)")
    db.insert_arrow(con, "_cat_assign", table)


# --------------------------------------------------------------------------------------------------------
# Categories: rank, fold, describe, store.


def _build_categories(con, *, top, k, centres, fit_hashes, fit_texts, fit_vectors, fit_labels, templates, audit,
                      n_texts, embedder_name, seed, stability=None, naming=None, say=lambda m: None) -> dict:
    from .naming import ctfidf_keywords, infer_task_type, keyword_name, task_name, template_phrase, unique_names

    warnings: list[str] = []
    con.execute(
        f"""
        create or replace temp table _cat_rc as
        select q.id as request_id, coalesce(a.cluster, {NO_TEXT_CLUSTER}) as cluster, a.distance,
               coalesce(a.assigned_by, 'no_text') as assigned_by, q.template_id
        from _cat_req q left join _cat_assign a on a.rep_hash = q.rep_hash
        """
    )
    clusters = db.dicts(
        con,
        """
        select rc.cluster, count(*) as requests, coalesce(sum(r.cost_usd), 0) as spend_usd,
               count(*) filter (where r.cost_usd is null) as unpriced
        from _cat_rc rc join requests r on r.id = rc.request_id
        group by rc.cluster
        order by spend_usd desc, requests desc, rc.cluster
        """,
    )
    total_requests = sum(c["requests"] for c in clusters)
    total_spend = float(sum(c["spend_usd"] for c in clusters))
    unpriced = int(sum(c["unpriced"] for c in clusters))
    if total_spend <= 0:
        warnings.append("No request has a known cost, so categories are ranked by request count and every "
                        "share of spend is 0.")
    elif unpriced:
        warnings.append(f"{unpriced:,} requests have no known cost; they count as $0 in spend and shares.")
    kept = clusters[:top]
    folded = clusters[top:]
    kept_ids = _stable_ids(con, [c["cluster"] for c in kept])
    category_of_cluster = {c["cluster"]: kept_ids[c["cluster"]] for c in kept}
    for c in folded:
        category_of_cluster[c["cluster"]] = OTHER_ID

    con.execute("create or replace temp table _cat_map (cluster bigint, category_id integer)")
    con.executemany("insert into _cat_map values (?, ?)", [[int(c), int(cid)] for c, cid in category_of_cluster.items()])

    # Describe each category: keywords from its sampled texts, examples nearest its centre, task type.
    fit_category = np.array([category_of_cluster.get(int(c), OTHER_ID) for c in fit_labels], dtype=np.int64)
    docs: dict[int, list[str]] = {}
    for text, cat in zip(fit_texts, fit_category):
        docs.setdefault(int(cat), []).append(text)
    extra = _texts_for_keywords(con, [cid for cid in set(category_of_cluster.values()) if len(docs.get(cid, [])) < 50])
    for cid, texts in extra.items():
        seen = set(docs.get(cid, []))
        docs.setdefault(cid, []).extend(t for t in texts if t not in seen)
    keywords = {cid: [w for w, _ in kws] for cid, kws in ctfidf_keywords(docs, KEYWORDS_PER_CATEGORY).items()}

    examples = _examples(con, fit_hashes, fit_vectors, fit_labels, centres, category_of_cluster)
    samples = _task_samples(con, seed)
    template_rows = _template_summary(con, templates, category_of_cluster)
    template_names = {t["template_id"]: t["text"] for t in template_rows}
    dominant_template = {
        r["category_id"]: r for r in db.dicts(
            con,
            """
            select category_id, template_id, share from (
                select m.category_id, rc.template_id, count(*) * 1.0 / sum(count(*)) over (partition by m.category_id) as share,
                       row_number() over (partition by m.category_id order by count(*) desc, rc.template_id) as rn
                from _cat_rc rc join _cat_map m using (cluster)
                group by m.category_id, rc.template_id
            ) where rn = 1 and template_id is not null
            """,
        )
    }
    figures = {
        r["category_id"]: r for r in db.dicts(
            con,
            """
            select m.category_id, count(*) as requests, coalesce(sum(r.cost_usd), 0) as spend_usd,
                   coalesce(sum(r.input_tokens), 0) as input_tokens, coalesce(sum(r.output_tokens), 0) as output_tokens,
                   count(*) filter (where r.cost_usd is null) as unpriced_requests,
                   min(r.created_at) as first_at, max(r.created_at) as last_at
            from _cat_rc rc join _cat_map m using (cluster) join requests r on r.id = rc.request_id
            group by m.category_id
            """,
        )
    }
    models: dict[int, list[dict]] = {}
    for r in db.dicts(
        con,
        """
        select m.category_id, coalesce(r.model, 'unknown') as model, count(*) as requests,
               coalesce(sum(r.cost_usd), 0) as spend_usd
        from _cat_rc rc join _cat_map m using (cluster) join requests r on r.id = rc.request_id
        group by 1, 2 order by 1, spend_usd desc, requests desc
        """,
    ):
        models.setdefault(r["category_id"], []).append(
            {"model": r["model"], "requests": r["requests"], "spend_usd": round(float(r["spend_usd"]), 6)})

    intervals, agreement = _intervals(audit, category_of_cluster, figures, total_requests, total_spend, n_texts,
                                      len(fit_texts))
    cluster_of_category = {cid: cluster for cluster, cid in category_of_cluster.items() if cid != OTHER_ID}
    unstable = sorted(cid for cid, cluster in cluster_of_category.items()
                      if boundaries_vary((stability or {}).get(cluster, {}).get("stability")))
    if unstable:
        warnings.append(f"{len(unstable)} categories have boundaries that move when the clustering is refitted "
                        f"(stability below {UNSTABLE_BELOW}): their share of spend is known only within their "
                        "refit range, not their interval. Typical of varied traffic under one generic system prompt.")

    names: dict[int, str] = {}
    name_source: dict[int, str] = {}
    descriptions: dict[int, str] = {}
    task_of: dict[int, tuple[str, str]] = {}
    for cid in figures:
        if cid == OTHER_ID:
            continue
        if cid in {kept_ids.get(NO_TEXT_CLUSTER)}:
            names[cid] = NO_TEXT_NAME
            continue
        dom = dominant_template.get(cid)
        phrase = template_phrase(template_names.get(dom["template_id"], "")) if dom and dom["share"] >= 0.5 else None
        task_of[cid] = infer_task_type(samples.get(cid, []))
        if phrase:
            phrase = task_name(phrase, task_of[cid][0], samples.get(cid, []))
        names[cid] = phrase or keyword_name(keywords.get(cid, [])) or f"Category {cid}"
        name_source[cid] = "template" if phrase else "keywords"
    if naming:
        _llm_names(naming, names, name_source, descriptions, keywords, examples, samples, centres,
                   category_of_cluster, warnings, say)
    names = unique_names(names, keywords)
    n_folded = len(folded)
    if OTHER_ID in figures:
        names[OTHER_ID] = OTHER_NAME

    rows = []
    for rank, c in enumerate(kept, 1):
        rows.append((kept_ids[c["cluster"]], rank))
    if OTHER_ID in figures:
        rows.append((OTHER_ID, None))
    categories_out = []
    table_rows = []
    for cid, rank in rows:
        f = figures[cid]
        spend = float(f["spend_usd"])
        share_req = f["requests"] / total_requests if total_requests else 0.0
        share_spend = spend / total_spend if total_spend > 0 else 0.0
        if cid == OTHER_ID:
            task, evidence = tt.OTHER, f"{n_folded} smaller clusters folded together"
        elif names.get(cid) == NO_TEXT_NAME:
            task, evidence = tt.OTHER, "usage-only records: the logs carry no prompt text"
        else:
            task, evidence = task_of.get(cid) or infer_task_type(samples.get(cid, []))
        iv = intervals.get(cid, {})
        refit = (stability or {}).get(cluster_of_category.get(cid)) if cid != OTHER_ID else None
        entry = {
            "id": cid,
            "name": names.get(cid, f"Category {cid}"),
            "task_type": task,
            "keywords": keywords.get(cid, []),
            "requests": int(f["requests"]),
            "share_of_requests": share_req,
            "spend_usd": round(spend, 6),
            "share_of_spend": share_spend,
            "examples": examples.get(cid, []),
            "is_other": cid == OTHER_ID,
            "spend_rank": rank,
            "task_type_evidence": evidence,
            "input_tokens": int(f["input_tokens"]),
            "output_tokens": int(f["output_tokens"]),
            "unpriced_requests": int(f["unpriced_requests"]),
            "models": models.get(cid, []),
            "first_at": f["first_at"].isoformat() if f["first_at"] else None,
            "last_at": f["last_at"].isoformat() if f["last_at"] else None,
            "share_of_requests_ci": [iv.get("share_req_low", share_req), iv.get("share_req_high", share_req)],
            "share_of_spend_ci": [iv.get("share_spend_low", share_spend), iv.get("share_spend_high", share_spend)],
            "spend_ci_usd": [iv.get("spend_low", spend), iv.get("spend_high", spend)],
            "stability": round(refit["stability"], 3) if refit else None,
            "share_of_spend_refit_range": ([min(1.0, max(0.0, share_spend + refit["share_delta"][0])),
                                            min(1.0, max(0.0, share_spend + refit["share_delta"][1]))]
                                           if refit else None),
            "folded_clusters": n_folded if cid == OTHER_ID else None,
            "name_source": name_source.get(cid, "fixed"),
            "description": descriptions.get(cid),
        }
        categories_out.append(entry)
        table_rows.append(entry)

    _store(con, table_rows, template_rows, k, embedder_name)
    for table in ("_cat_rc", "_cat_map"):
        con.execute(f"drop table if exists {table}")
    return {
        "categories": categories_out,
        "spend_usd": round(total_spend, 6),
        "unpriced_requests": unpriced,
        "templates": [
            {k_: t[k_] for k_ in ("template_id", "kind", "text", "requests", "spend_usd", "category_id")}
            for t in template_rows[:20]
        ],
        "agreement": agreement,
        "warnings": warnings,
    }


def _llm_names(naming, names, name_source, descriptions, keywords, examples, samples, centres, category_of_cluster,
               warnings, say) -> None:
    """Clio-style names: requests from inside a category and from its two nearest neighbours go to the local
    model, which names what sets the inside apart. Any failure keeps the names already made."""
    from .naming import llm_name

    members: dict[int, list[int]] = {}
    for cluster, cid in category_of_cluster.items():
        if cluster >= 0 and cluster < len(centres):
            members.setdefault(cid, []).append(cluster)
    centre = {cid: _normalise(centres[cl].sum(axis=0, keepdims=True))[0] for cid, cl in members.items()}

    def prompts(cid, n):
        got = [e["text"] for e in examples.get(cid, [])]
        got += [s["prompt_text"] for s in samples.get(cid, []) if s.get("prompt_text")]
        return list(dict.fromkeys(got))[:n]

    targets = [cid for cid in names if cid in centre and names[cid] != NO_TEXT_NAME]
    say(f"Naming {len(targets)} categories with {naming['model']} at {naming['endpoint']}.")
    for cid in targets:
        others = sorted((c for c in centre if c != cid), key=lambda c: -float(centre[c] @ centre[cid]))[:2]
        outside = [t for c in others for t in prompts(c, 4)]
        try:
            got = llm_name(naming["endpoint"], naming["model"], prompts(cid, 10), outside, keywords.get(cid, []))
        except PlanError as exc:
            warnings.append(f"LLM naming stopped, keyword names kept: {exc}")
            return
        if got:
            names[cid], descriptions[cid] = got
            name_source[cid] = "llm"


def _stable_ids(con, kept_clusters: list[int]) -> dict[int, int]:
    """Category ids for the kept clusters: reuse the previous run's id of the category sharing most
    requests (Jaccard >= 0.5); otherwise 1..N by spend rank on a first run, or above every earlier id."""
    previous = db.scalar(con, "select count(*) from request_categories") or 0
    out: dict[int, int] = {}
    if previous:
        matches = db.dicts(
            con,
            """
            with new as (select cluster, count(*) as n from _cat_rc group by cluster),
                 old as (select category_id, count(*) as n from request_categories where category_id <> 0 group by 1),
                 overlap as (
                    select rc.cluster, o.category_id, count(*) as both_n
                    from _cat_rc rc join request_categories o on o.request_id = rc.request_id
                    where o.category_id <> 0 group by 1, 2
                 )
            select ov.cluster, ov.category_id, ov.both_n * 1.0 / (new.n + old.n - ov.both_n) as jaccard
            from overlap ov join new using (cluster) join old using (category_id)
            order by jaccard desc, ov.cluster, ov.category_id
            """,
        )
        kept = set(kept_clusters)
        used: set[int] = set()
        for m in matches:
            if m["jaccard"] < 0.5 or m["cluster"] not in kept or m["cluster"] in out or m["category_id"] in used:
                continue
            out[m["cluster"]] = int(m["category_id"])
            used.add(int(m["category_id"]))
        next_id = max([db.scalar(con, "select coalesce(max(category_id), 0) from categories") or 0,
                       db.scalar(con, "select coalesce(max(category_id), 0) from request_categories") or 0]) + 1
        for c in kept_clusters:
            if c not in out:
                out[c] = next_id
                next_id += 1
        return out
    return {c: i for i, c in enumerate(kept_clusters, 1)}


def _texts_for_keywords(con, category_ids: list[int], per_category: int = 300) -> dict[int, list[str]]:
    """Texts of small categories (few or no sampled members) for c-TF-IDF, from their requests."""
    if not category_ids:
        return {}
    rows = db.rows(
        con,
        """
        select category_id, rep from (
            select m.category_id, t.rep, row_number() over (partition by m.category_id order by t.draw) as rn
            from _cat_assign a join _cat_map m using (cluster) join _cat_text t using (rep_hash)
            where m.category_id in (select unnest(?::integer[]))
        ) where rn <= ?
        """,
        [category_ids, per_category],
    )
    out: dict[int, list[str]] = {}
    for cid, rep in rows:
        out.setdefault(int(cid), []).append(rep)
    return out


def _examples(con, fit_hashes, fit_vectors, fit_labels, centres, category_of_cluster) -> dict[int, list[dict]]:
    """Per category, distinct requests nearest its centre (from the embedded sample; a folded cluster's
    members are measured against their own cluster's centre)."""
    out: dict[int, list[dict]] = {}
    if fit_vectors is None or not len(fit_hashes):
        return out
    dist = 1.0 - np.einsum("ij,ij->i", fit_vectors, centres[fit_labels])
    order = np.argsort(dist, kind="stable")
    chosen: dict[int, list[str]] = {}
    other_clusters: set[int] = set()
    for i in order:
        cluster = int(fit_labels[i])
        cid = category_of_cluster.get(cluster, OTHER_ID)
        if cid == OTHER_ID:  # Other shows its variety: one example per folded cluster
            if cluster in other_clusters:
                continue
            other_clusters.add(cluster)
        picks = chosen.setdefault(cid, [])
        if len(picks) < EXAMPLES_PER_CATEGORY * 2:
            picks.append(fit_hashes[i])
    wanted = [h for picks in chosen.values() for h in picks]
    rows = {
        r["rep_hash"]: r for r in db.dicts(
            con,
            """
            select t.rep_hash, r.id as request_id, r.prompt_text, r.system_prompt
            from _cat_text t join requests r on r.id = t.request_id
            where t.rep_hash in (select unnest(?::varchar[]))
            """,
            [wanted],
        )
    }
    for cid, picks in chosen.items():
        items, seen = [], set()
        for h in picks:
            r = rows.get(h)
            if not r:
                continue
            text = (r["prompt_text"] or r["system_prompt"] or "").strip()
            key = " ".join(text.lower().split())[:200]
            if not text or key in seen:
                continue
            seen.add(key)
            items.append({"request_id": int(r["request_id"]), "text": _clip(text, 300)})
            if len(items) >= EXAMPLES_PER_CATEGORY:
                break
        out[cid] = items
    return out


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _task_samples(con, seed: int) -> dict[int, list[dict]]:
    rows = db.dicts(
        con,
        """
        select category_id, system_prompt, prompt_text, response_text, input_tokens from (
            select m.category_id, left(r.system_prompt, 3000) as system_prompt, left(r.prompt_text, 3000) as prompt_text,
                   left(r.response_text, 4000) as response_text, r.input_tokens,
                   row_number() over (partition by m.category_id order by md5(? || cast(r.id as varchar))) as rn
            from _cat_rc rc join _cat_map m using (cluster) join requests r on r.id = rc.request_id
        ) where rn <= ?
        """,
        [str(seed), TASK_SAMPLE],
    )
    out: dict[int, list[dict]] = {}
    for r in rows:
        out.setdefault(r.pop("category_id"), []).append(r)
    return out


def _template_summary(con, templates: list[dict], category_of_cluster: dict) -> list[dict]:
    if not templates:
        return []
    rows = db.dicts(
        con,
        """
        select rc.template_id, count(*) as requests, coalesce(sum(r.cost_usd), 0) as spend_usd,
               mode(m.category_id) as category_id,
               max(cnt.share) as category_share
        from _cat_rc rc join requests r on r.id = rc.request_id join _cat_map m using (cluster)
        join (
            select template_id, max(n) * 1.0 / sum(n) as share from (
                select rc2.template_id, m2.category_id, count(*) as n
                from _cat_rc rc2 join _cat_map m2 using (cluster) where rc2.template_id is not null group by 1, 2
            ) group by template_id
        ) cnt on cnt.template_id = rc.template_id
        where rc.template_id is not null
        group by rc.template_id
        order by spend_usd desc, requests desc
        """,
    )
    text_of = {template_id(t["kind"], t["key"]): t for t in templates}
    out = []
    for r in rows:
        t = text_of.get(r["template_id"])
        if not t:
            continue
        out.append({
            "template_id": int(r["template_id"]),
            "kind": t["kind"],
            "text": _clip(t.get("display") or t["text"], 200),
            "requests": int(r["requests"]),
            "spend_usd": round(float(r["spend_usd"]), 6),
            "category_id": int(r["category_id"]) if r["category_id"] is not None else None,
            "category_share": float(r["category_share"]),
        })
    return out


def _intervals(audit, category_of_cluster, figures, total_requests, total_spend, n_texts, n_fit):
    """95% intervals on each category's spend and shares from the cross-validated audit of the cheap route:
    a difference estimator over the sample (uniform over distinct texts) scaled to the cheaply assigned
    population. Exact runs have no assignment uncertainty: the intervals are the point figures."""
    if audit is None:
        return {}, 1.0
    exact = np.array([category_of_cluster.get(int(c), OTHER_ID) for c in audit["exact"]])
    cheap = np.array([category_of_cluster.get(int(c), OTHER_ID) for c in audit["cheap"]])
    spend = np.asarray(audit["spend"], dtype=np.float64)
    counts = np.asarray(audit["requests"], dtype=np.float64)
    m = len(exact)
    scale = (n_texts - n_fit) / m if m else 0.0
    agreement = float(np.average(exact == cheap, weights=counts)) if m else 1.0
    out = {}
    for cid, f in figures.items():
        d = (exact == cid).astype(np.float64) - (cheap == cid).astype(np.float64)
        row = {}
        for key, weights, point, total in (("spend", spend, float(f["spend_usd"]), total_spend),
                                           ("req", counts, float(f["requests"]), float(total_requests))):
            values = weights * d
            bias = scale * values.sum()
            se = scale * math.sqrt(m) * values.std(ddof=1) if m > 1 else 0.0
            low = max(0.0, min(point, point + bias - Z95 * se))
            high = max(point, point + bias + Z95 * se)
            if total > 0:
                high = min(high, total)
            if key == "spend":
                row["spend_low"], row["spend_high"] = low, high
                row["share_spend_low"] = low / total if total > 0 else 0.0
                row["share_spend_high"] = high / total if total > 0 else 0.0
            else:
                row["share_req_low"] = low / total if total > 0 else 0.0
                row["share_req_high"] = min(1.0, high / total) if total > 0 else 0.0
        out[cid] = row
    return out, agreement


def _store(con, categories: list[dict], templates: list[dict], k: int, embedder_name: str) -> None:
    con.execute("begin")
    try:
        con.execute("delete from request_categories")
        con.execute("delete from categories")
        con.execute("delete from prompt_templates")
        con.execute(
            """
            insert into request_categories (request_id, category_id, cluster, distance, assigned_by, template_id)
            select rc.request_id, m.category_id, rc.cluster, rc.distance, rc.assigned_by, rc.template_id
            from _cat_rc rc join _cat_map m using (cluster)
            """
        )
        con.executemany(
            """
            insert into categories (category_id, name, name_source, description, task_type, task_type_evidence, keywords_json, examples_json,
                requests, share_of_requests, share_ci_low, share_ci_high, input_tokens, output_tokens, spend_usd,
                share_of_spend, share_of_spend_ci_low, share_of_spend_ci_high, spend_ci_low_usd, spend_ci_high_usd,
                unpriced_requests, models_json, first_at, last_at, is_other, spend_rank, embedder, k, stability,
                share_of_spend_refit_low, share_of_spend_refit_high)
            values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                [c["id"], c["name"], c["name_source"], c["description"], c["task_type"], c["task_type_evidence"], json.dumps(c["keywords"]),
                 json.dumps(c["examples"]), c["requests"], c["share_of_requests"], c["share_of_requests_ci"][0],
                 c["share_of_requests_ci"][1], c["input_tokens"], c["output_tokens"], c["spend_usd"],
                 c["share_of_spend"], c["share_of_spend_ci"][0], c["share_of_spend_ci"][1], c["spend_ci_usd"][0],
                 c["spend_ci_usd"][1], c["unpriced_requests"], json.dumps(c["models"]), c["first_at"], c["last_at"],
                 c["is_other"], c["spend_rank"], embedder_name, k, c["stability"],
                 *(c["share_of_spend_refit_range"] or (None, None))]
                for c in categories
            ],
        )
        if templates:
            con.executemany(
                "insert into prompt_templates (template_id, kind, text, requests, spend_usd, category_id, category_share) "
                "values (?, ?, ?, ?, ?, ?, ?)",
                [[t["template_id"], t["kind"], t["text"], t["requests"], t["spend_usd"], t["category_id"],
                  t["category_share"]] for t in templates],
            )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
