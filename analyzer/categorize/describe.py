"""Step 5b, describe: figures, keywords, a task-phrase name, examples and a task type for every category of
the hierarchy, with intervals on the named categories' shares.

Keywords are c-TF-IDF (BERTopic's class-based TF-IDF) against the other categories of the same level. A name is
the task a template states ("Support ticket triage") when one template holds most of the category, else a verb
and its object read off the prompts themselves ("Write poems", "Answer card-delivery questions"), else the
keywords. Names can come from a local model instead (``--llm-names``, Clio-style).
"""

from __future__ import annotations

import math

import numpy as np

from .. import db
from .. import task_types as tt
from ..errors import PlanError
from ..sampling import weight
from ..naming import (ctfidf_keywords, keyword_name, llm_name, task_name, task_phrase,
                      template_phrase, unique_names)
from .clusters import Clusters
from .hierarchy import INTENT, NO_TEXT_CLUSTER, WORKLOAD, Tree
from .store import OTHER_ID
from .vectors import FitSet, normalise

OTHER_NAME = "Other"
NO_TEXT_NAME = "No prompt text logged"
EXAMPLES_PER_CATEGORY = 3
KEYWORDS_PER_CATEGORY = 10
KEYWORD_TEXTS = 400       # texts per category that c-TF-IDF reads
TASK_SAMPLE = 200         # requests per category whose prompts and responses decide its task type
Z95 = 1.959963984540054


def node_clusters(tree: Tree, ids: dict[str, int]) -> dict[int, list[int]]:
    """Category id -> its clusters, Other included (the named level's clusters that were not named)."""
    out = {ids[k]: list(n.clusters) for k, n in tree.nodes.items()}
    out[OTHER_ID] = [c for c, key in tree.category_of_cluster().items() if key is None]
    return out


def figures(con) -> dict[int, dict]:
    """Requests (rows of the logs), spend (of the full traffic: each request weighted by 1/sample_rate), tokens,
    unpriced requests and dates of every category (intents, workloads, Other)."""
    rows = db.dicts(
        con,
        f"""
        with base as (
            select m.category_id, m.intent_id, m.workload_id, r.cost_usd * {weight('r')} as cost_usd, r.input_tokens,
                   r.output_tokens, r.created_at
            from _cat_rc rc join _cat_map m using (cluster) join requests r on r.id = rc.request_id
        ), nodes as (
            select intent_id as node_id, * from base
            union all select workload_id, * from base where workload_id is not null
            union all select 0, * from base where category_id = 0
        )
        select node_id, count(*) as requests, coalesce(sum(cost_usd), 0) as spend_usd,
               coalesce(sum(input_tokens), 0) as input_tokens, coalesce(sum(output_tokens), 0) as output_tokens,
               count(*) filter (where cost_usd is null) as unpriced_requests,
               min(created_at) as first_at, max(created_at) as last_at
        from nodes group by node_id
        """,
    )
    return {int(r.pop("node_id")): r for r in rows}


def models(con) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for r in db.dicts(
        con,
        f"""
        with base as (
            select m.category_id, m.intent_id, m.workload_id, coalesce(r.model, 'unknown') as model,
                   r.cost_usd * {weight('r')} as cost_usd
            from _cat_rc rc join _cat_map m using (cluster) join requests r on r.id = rc.request_id
        ), nodes as (
            select intent_id as node_id, * from base
            union all select workload_id, * from base where workload_id is not null
            union all select 0, * from base where category_id = 0
        )
        select node_id, model, count(*) as requests, coalesce(sum(cost_usd), 0) as spend_usd
        from nodes group by 1, 2 order by 1, spend_usd desc, requests desc, model
        """,
    ):
        out.setdefault(int(r["node_id"]), []).append(
            {"model": r["model"], "requests": r["requests"], "spend_usd": round(float(r["spend_usd"]), 6)})
    return out


def texts_by_cluster(con, fit: FitSet, clusters: Clusters, per_cluster: int = KEYWORD_TEXTS) -> dict[int, list[str]]:
    """Texts of each cluster: its fitted texts, topped up from its assigned ones when it has few."""
    out: dict[int, list[str]] = {}
    for text, label in zip(fit.batch.texts, clusters.labels, strict=True):
        bucket = out.setdefault(int(label), [])
        if len(bucket) < per_cluster:
            bucket.append(text)
    short = [c for c in range(clusters.k) if len(out.get(c, [])) < 50]
    if short:
        for cluster, rep in db.rows(
            con,
            """
            select cluster, rep from (
                select a.cluster, t.rep, row_number() over (partition by a.cluster order by t.draw) as rn
                from _cat_assign a join _cat_text t using (rep_hash)
                where a.cluster in (select unnest(?::bigint[])) and a.assigned_by <> 'fit'
            ) where rn <= ?
            """,
            [short, per_cluster],
        ):
            out.setdefault(int(cluster), []).append(rep)
    return out


def _pooled(parts: list[list[str]], limit: int = KEYWORD_TEXTS) -> list[str]:
    """Up to ``limit`` texts drawn evenly from several clusters' texts."""
    out: list[str] = []
    for i in range(max((len(p) for p in parts), default=0)):
        out.extend(p[i] for p in parts if i < len(p))
        if len(out) >= limit:
            break
    return out[:limit]


def keywords(tree: Tree, ids: dict[str, int], members: dict[int, list[int]],
             cluster_texts: dict[int, list[str]]) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """c-TF-IDF keywords of every category against the others of its level (Other against the named level),
    and the texts each category was described from."""
    texts = {cid: _pooled([cluster_texts.get(c, []) for c in cl]) for cid, cl in members.items()}
    out: dict[int, list[str]] = {}
    for level in (INTENT, WORKLOAD):
        docs = {ids[k]: texts[ids[k]] for k, n in tree.nodes.items() if n.level == level}
        if level == tree.named_level:
            docs[OTHER_ID] = texts[OTHER_ID]
        for cid, kws in ctfidf_keywords(docs, KEYWORDS_PER_CATEGORY).items():
            out.setdefault(cid, [w for w, _ in kws])
    return out, texts


def task_samples(con, seed: int) -> dict[int, list[dict]]:
    """A seeded sample of each category's requests: prompts and frontier responses, for its task type."""
    rows = db.dicts(
        con,
        """
        with base as (
            select m.category_id, m.intent_id, m.workload_id, r.id, left(r.system_prompt, 3000) as system_prompt,
                   left(r.prompt_text, 3000) as prompt_text, left(r.response_text, 4000) as response_text,
                   r.input_tokens, md5(? || cast(r.id as varchar)) as draw
            from _cat_rc rc join _cat_map m using (cluster) join requests r on r.id = rc.request_id
        ), nodes as (
            select intent_id as node_id, * from base
            union all select workload_id, * from base where workload_id is not null
            union all select 0, * from base where category_id = 0
        )
        select node_id, system_prompt, prompt_text, response_text, input_tokens from (
            select *, row_number() over (partition by node_id order by draw) as rn from nodes
        ) where rn <= ?
        """,
        [str(seed), TASK_SAMPLE],
    )
    out: dict[int, list[dict]] = {}
    for r in rows:
        out.setdefault(int(r.pop("node_id")), []).append(r)
    return out


def dominant_templates(con) -> dict[int, tuple[int, float]]:
    """Category id -> (its most common template, the share of its requests that template holds)."""
    out: dict[int, tuple[int, float]] = {}
    for r in db.dicts(
        con,
        """
        with base as (select m.intent_id, m.workload_id, m.category_id, rc.template_id
                      from _cat_rc rc join _cat_map m using (cluster)),
             nodes as (select intent_id as node_id, template_id from base
                       union all select workload_id, template_id from base where workload_id is not null)
        select node_id, template_id, share from (
            select node_id, template_id, count(*) * 1.0 / sum(count(*)) over (partition by node_id) as share,
                   row_number() over (partition by node_id order by count(*) desc, template_id) as rn
            from nodes group by node_id, template_id
        ) where rn = 1 and template_id is not null
        """,
    ):
        out[int(r["node_id"])] = (int(r["template_id"]), float(r["share"]))
    return out


CONTRAST = 0.5  # how much a term's likeness to the nearest other category counts against it


class TermChooser:
    """Picks the words of a category's name among its candidate terms, in embedding space (KeyBERT-style, with
    Clio's "what sets the inside apart"): a term scores cos(term, own centre) - 0.5 max cos(term, other centre
    of the same level). ``choose(cid)`` picks the object; ``qualify(cid)`` a second term that makes the name
    point closer to its own category than the object alone ("Answer virtual-card questions: rejected").
    Measured on true intents, the share of names nearest their own intent's label, first c-TF-IDF keyword /
    nearest the centre / this / with session 5's verbs, objects and qualifier: Banking77 56% / 62% / 71% / 70%,
    HWU64 63% / 61% / 63% / 69%, CLINC150 58% / 65% / 65% / 71% (benchmarks/README.md)."""

    def __init__(self, con, embedder, kws: dict[int, list[str]], centre: dict[int, np.ndarray],
                 level: dict[int, str]):
        from ..naming import object_candidates

        self.con, self.embedder, self.centre, self.level = con, embedder, centre, level
        self.vectors: dict[str, np.ndarray] = {}
        self.peers = {lv: [c for c in centre if level.get(c) == lv] for lv in set(level.values())}
        self._embed([t for cid, words in kws.items() if cid in centre for t in object_candidates(words)])

    def _embed(self, terms: list[str]) -> None:
        from ..embedders import embed_cached

        missing = sorted(set(terms) - self.vectors.keys())
        if missing:
            got = normalise(embed_cached(self.con, missing, self.embedder).vectors)
            self.vectors.update(zip(missing, got, strict=True))

    def score(self, cid: int, vector: np.ndarray) -> float:
        others = [self.centre[c] for c in self.peers.get(self.level.get(cid, ""), []) if c != cid]
        nearest_other = max((float(vector @ o) for o in others), default=0.0)
        return float(vector @ self.centre[cid]) - CONTRAST * nearest_other

    def _pick(self, cid: int, candidates: list[str]) -> str:
        self._embed(candidates)  # objects read off the prompts are not keywords: embedded when first seen
        return max(candidates, key=lambda t: self.score(cid, self.vectors[t]))

    def _second(self, cid: int, term: str, candidates: list[str]) -> str | None:
        # A pair points where its two terms do together: the normalised sum of their vectors (as good as
        # embedding the pair on Banking77, HWU64 and CLINC150, and no model call per category).
        self._embed([term, *candidates])
        pair = {t: normalise((self.vectors[term] + self.vectors[t])[None, :])[0] for t in candidates}
        best = max(candidates, key=lambda t: self.score(cid, pair[t]), default=None)
        if best is None or self.score(cid, pair[best]) <= self.score(cid, self.vectors[term]):
            return None
        return best

    def choose(self, cid: int):
        if cid not in self.centre:
            return None
        return lambda candidates: self._pick(cid, candidates)

    def qualify(self, cid: int):
        if cid not in self.centre:
            return None
        return lambda term, candidates: self._second(cid, term, candidates)


def names(tree: Tree, ids: dict[str, int], kws: dict[int, list[str]], texts: dict[int, list[str]],
          samples: dict[int, list[dict]], task_of: dict[int, tuple[str, str]], templates: dict[int, str],
          dominant: dict[int, tuple[int, float]], terms: TermChooser | None = None) -> tuple[dict[int, str], dict[int, str]]:
    """A name and its source for every category: the template's task, else a task phrase read off the
    prompts, else keywords; equal names within a level are told apart by their own keywords."""
    out: dict[int, str] = {}
    source: dict[int, str] = {}
    for key, node in tree.nodes.items():
        cid = ids[key]
        if node.clusters == [NO_TEXT_CLUSTER] or node.source == "no_text":
            out[cid], source[cid] = NO_TEXT_NAME, "fixed"
            continue
        tid, share = dominant.get(cid, (None, 0.0))
        phrase = template_phrase(templates.get(tid) or "") if tid is not None and share >= 0.5 else None
        if phrase and node.source != "topic":
            out[cid] = task_name(phrase, task_of.get(cid, (tt.OTHER, ""))[0], samples.get(cid, []))
            source[cid] = "template"
            continue
        if node.level == WORKLOAD and len(node.clusters) > 1 and node.source in ("untemplated", "template"):
            # One workload over several intents with no task of its own: say what holds it together.
            shared = templates.get(node.template_id) if node.template_id is not None else None
            out[cid] = (f'Requests under the prompt "{clip(shared, 40)}"' if shared
                        else "Requests without a shared prompt")
            source[cid] = "fixed"
            continue
        phrase = task_phrase(texts.get(cid, []), kws.get(cid, []), terms.choose(cid) if terms else None,
                             terms.qualify(cid) if terms else None)
        out[cid] = phrase or keyword_name(kws.get(cid, [])) or _example_name(texts.get(cid, []))
        source[cid] = "task" if phrase else "keywords"
    for level in (INTENT, WORKLOAD):
        at_level = {ids[k]: out[ids[k]] for k, n in tree.nodes.items() if n.level == level}
        out.update(unique_names(at_level, kws))
    out[OTHER_ID], source[OTHER_ID] = OTHER_NAME, "fixed"
    return out, source


def _example_name(texts: list[str]) -> str:
    """Last resort when a category has no keyword at all (texts of stop words only): what its requests say."""
    common = max(set(texts), key=texts.count) if texts else ""
    words = " ".join(common.split()[:6]).strip(" .,:;!?") or "empty"
    return f'Requests like "{words}"'


def examples(con, fit: FitSet, clusters: Clusters, members: dict[int, list[int]]) -> dict[int, list[dict]]:
    """Per category, distinct requests nearest its clusters' centres (Other: one per folded cluster)."""
    order = np.argsort(clusters.distances, kind="stable")
    by_cluster: dict[int, list[str]] = {}
    for i in order:
        picks = by_cluster.setdefault(int(clusters.labels[i]), [])
        if len(picks) < EXAMPLES_PER_CATEGORY * 2:
            picks.append(fit.batch.hashes[i])
    wanted: dict[int, list[str]] = {}
    for cid, cl in members.items():
        lists = [by_cluster.get(c, []) for c in cl]
        wanted[cid] = [l[0] for l in lists if l] if cid == OTHER_ID else _pooled(lists, EXAMPLES_PER_CATEGORY * 2)
    rows = {r["rep_hash"]: r for r in db.dicts(
        con,
        """
        select t.rep_hash, r.id as request_id, r.prompt_text, r.system_prompt
        from _cat_text t join requests r on r.id = t.request_id where t.rep_hash in (select unnest(?::varchar[]))
        """,
        [sorted({h for hs in wanted.values() for h in hs})],
    )}
    out: dict[int, list[dict]] = {}
    for cid, hashes in wanted.items():
        items: list[dict] = []
        seen: set[str] = set()
        for h in hashes:
            r = rows.get(h)
            if r is None:
                continue
            text = (r["prompt_text"] or r["system_prompt"] or "").strip()
            key = " ".join(text.lower().split())[:200]
            if text and key not in seen and len(items) < EXAMPLES_PER_CATEGORY:
                seen.add(key)
                items.append({"request_id": int(r["request_id"]), "text": clip(text, 300)})
        out[cid] = items
    return out


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def intervals(audit: dict | None, category_of_cluster: dict[int, int], figures_of: dict[int, dict],
              total_requests: int, total_spend: float, n_texts: int) -> tuple[dict[int, dict], float]:
    """95% intervals on each named category's spend and shares from the cross-validated audit of the cheap
    route: a difference estimator over the sample (uniform over distinct texts) scaled to the cheaply assigned
    population. Exact runs have no assignment uncertainty: the intervals are the point figures."""
    if audit is None:
        return {}, 1.0
    exact = np.array([category_of_cluster.get(int(c), OTHER_ID) for c in audit["exact"]])
    cheap = np.array([category_of_cluster.get(int(c), OTHER_ID) for c in audit["cheap"]])
    spend = np.asarray(audit["spend"], dtype=np.float64)
    counts = np.asarray(audit["requests"], dtype=np.float64)
    m = len(exact)
    scale = (n_texts - m) / m if m else 0.0
    agreement = float(np.average(exact == cheap, weights=counts)) if m else 1.0
    out = {}
    for cid in set(category_of_cluster.values()):
        f = figures_of.get(cid)
        if f is None:
            continue
        d = (exact == cid).astype(np.float64) - (cheap == cid).astype(np.float64)
        row = {}
        for key, weights, point, total in (("spend", spend, float(f["spend_usd"]), total_spend),
                                           ("req", counts, float(f["requests"]), float(total_requests))):
            values = weights * d
            bias = scale * values.sum()
            se = scale * math.sqrt(m) * values.std(ddof=1) if m > 1 else 0.0
            low = max(0.0, min(point, point + bias - Z95 * se))
            high = min(max(point, point + bias + Z95 * se), total) if total > 0 else max(point, point + bias + Z95 * se)
            row[f"{key}_low"], row[f"{key}_high"] = low, high
        out[cid] = row
    return out, agreement


def stability_of(members: dict[int, list[int]], clusters: Clusters, fit: FitSet) -> dict[int, dict]:
    """A category's refit stability: its clusters' stabilities weighted by spend (requests when unpriced), and
    the sum of their share movements."""
    weight = np.bincount(clusters.labels, weights=fit.batch.spend if fit.batch.spend.sum() > 0 else fit.batch.requests,
                         minlength=clusters.k) if len(fit) else np.zeros(0)
    out = {}
    for cid, cl in members.items():
        got = [c for c in cl if c in clusters.stability]
        if not got or cid == OTHER_ID:
            continue
        w = np.array([weight[c] for c in got]) + 1e-12
        out[cid] = {"stability": float(np.average([clusters.stability[c]["stability"] for c in got], weights=w)),
                    "share_delta": (sum(clusters.stability[c]["share_delta"][0] for c in got),
                                    sum(clusters.stability[c]["share_delta"][1] for c in got))}
    return out


def template_summary(con, templates: list[dict]) -> list[dict]:
    """Per template: requests, spend, and the named category most of its requests fall in (with that share)."""
    from .texts import template_id

    if not templates:
        return []
    rows = db.dicts(
        con,
        f"""
        select template_id, sum(n) as requests, sum(spend) as spend_usd, arg_max(category_id, n) as category_id,
               max(n) * 1.0 / sum(n) as category_share
        from (select rc.template_id, m.category_id, count(*) as n, coalesce(sum(r.cost_usd * {weight('r')}), 0) as spend
              from _cat_rc rc join _cat_map m using (cluster) join requests r on r.id = rc.request_id
              where rc.template_id is not null group by 1, 2)
        group by template_id order by spend_usd desc, requests desc
        """,
    )
    text_of = {template_id(t["kind"], t["key"]): t for t in templates}
    return [{"template_id": int(r["template_id"]), "kind": text_of[r["template_id"]]["kind"],
             "text": clip(text_of[r["template_id"]].get("display") or text_of[r["template_id"]]["text"], 200),
             "requests": int(r["requests"]), "spend_usd": round(float(r["spend_usd"]), 6),
             "category_id": int(r["category_id"]), "category_share": float(r["category_share"])}
            for r in rows if r["template_id"] in text_of]


def llm_names(naming: dict, named_ids: list[int], out_names: dict[int, str], source: dict[int, str],
              descriptions: dict[int, str], kws: dict[int, list[str]], examples_of: dict[int, list[dict]],
              samples: dict[int, list[dict]], centre: dict[int, np.ndarray], warnings: list[str], say) -> None:
    """Clio-style names: requests from inside a category and from its two nearest neighbours go to the local
    model, which names what sets the inside apart. Any failure keeps the names already made."""
    def prompts(cid, n):
        got = [e["text"] for e in examples_of.get(cid, [])]
        got += [s["prompt_text"] for s in samples.get(cid, []) if s.get("prompt_text")]
        return list(dict.fromkeys(got))[:n]

    targets = [cid for cid in named_ids if cid in centre and out_names.get(cid) != NO_TEXT_NAME]
    say(f"Naming {len(targets)} categories with {naming['model']} at {naming['endpoint']}.")
    for cid in targets:
        others = sorted((c for c in centre if c != cid), key=lambda c: -float(centre[c] @ centre[cid]))[:2]
        try:
            got = llm_name(naming["endpoint"], naming["model"], prompts(cid, 10),
                           [t for c in others for t in prompts(c, 4)], kws.get(cid, []))
        except PlanError as exc:
            warnings.append(f"LLM naming stopped, task and keyword names kept: {exc}")
            return
        if got:
            out_names[cid], descriptions[cid] = got
            source[cid] = "llm"


def centres_of_categories(members: dict[int, list[int]], clusters: Clusters, fit: FitSet | None = None,
                          ) -> dict[int, np.ndarray]:
    """Each category's centre: in the clustering space, or of its fitted texts' content vectors with ``fit``."""
    if fit is not None and len(fit):
        sums = np.zeros((clusters.k, fit.content.shape[1]), dtype=np.float64)
        np.add.at(sums, clusters.labels, fit.content)
    else:
        sums = clusters.centres
    out = {}
    for cid, cl in members.items():
        valid = [c for c in cl if 0 <= c < len(sums)]
        if valid and cid != OTHER_ID and np.any(sums[valid]):
            out[cid] = normalise(np.asarray(sums[valid], dtype=np.float32).sum(axis=0, keepdims=True))[0]
    return out
