"""Step 2, vectors: embed the texts that are fitted (all of them, or a uniform sample) and the templates.

A request's vector is [content embedding, template embedding] renormalised (the template block is zero for
untemplated requests), so one template's requests stay together while requests under a generic system prompt
are told apart by content. Vectors are cached in ``embeddings`` by content hash and embedder name.

In the exact mode a template contributes at most ``template_cap`` of its distinct texts (a seeded draw); each
carries its share of the template's requests and spend, so the fit weighs the template as a whole. A template
the clustering keeps whole sends its other texts to its cluster without embedding them (what the exact fit
does with them too); one it splits is embedded in full and the fit is made again (``uncapped``). Production
traffic is templated: on sample_logs/ this embeds 614 of 2,907 texts (cap 50), with the same categories.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import db
from ..embedders import embed_cached
from ..progress import Say
from .texts import TextBatch, fetch_texts, template_id

TEMPLATE_WEIGHT = 1.0


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32, copy=False)


@dataclass
class FitSet:
    """The distinct texts the clustering is fitted on, with their vectors."""

    batch: TextBatch
    content: np.ndarray             # unit content vectors
    space: np.ndarray               # [content, template] unit vectors: what is clustered
    template_vectors: dict[int, np.ndarray]
    exact: bool                     # every distinct text is in the fit, or held back with its whole template
    embedded_new: int = 0
    embedded_cached: int = 0
    held_back: dict[int, int] = field(default_factory=dict)  # template id -> its texts outside the fit (exact mode)

    def __len__(self) -> int:
        return len(self.batch)


def embed_fit_set(con, templates: list[dict], n_texts: int, embedder, *, sample_size: int, exact_limit: int,
                  template_cap: int = 0, uncapped: frozenset[int] = frozenset(), progress: bool,
                  say: Say) -> FitSet:
    """All distinct texts when there are at most ``exact_limit`` (at most ``template_cap`` of a template's, 0:
    no cap, except for the ``uncapped`` templates), else a uniform sample of ``sample_size`` (drawn by a seeded
    hash, so it is stable as data grows and hits the cache), embedded with ``embedder``."""
    exact = n_texts <= exact_limit
    held_back = held_back_texts(con, template_cap, uncapped) if exact and template_cap else {}
    if held_back:
        batch = fetch_texts(con, "where rep_hash not in (select rep_hash from _cat_held_back) order by draw")
        _carry_template_mass(con, batch)
        how = f"all of them, at most {template_cap:,} per template"
    elif exact:
        batch, how = fetch_texts(con, "order by draw"), "all of them"
    else:
        batch, how = fetch_texts(con, "order by draw limit ?", [sample_size]), "a uniform sample"
    say(f"Clustering {len(batch):,} of {n_texts:,} distinct prompts with {embedder.name} "
        f"({how}; vectors already cached are reused).")
    new = cached = 0
    content = np.zeros((0, 1), dtype=np.float32)
    if len(batch):
        emb = embed_cached(con, batch.texts, embedder, hashes=batch.text_hashes, progress=progress)
        content, new, cached = normalise(emb.vectors), emb.new, emb.cached
    vectors = template_vectors(con, templates, embedder, progress)
    space = with_templates(content, batch.templates, vectors) if len(batch) else content
    return FitSet(batch, content, space, vectors, exact, new, cached, held_back)


def held_back_texts(con, cap: int, uncapped: frozenset[int]) -> dict[int, int]:
    """Temp table ``_cat_held_back`` (rep_hash, template_id): each template's texts after its first ``cap``
    in draw order; returns how many each template holds back."""
    con.execute(
        """
        create or replace temp table _cat_held_back as
        select rep_hash, template_id from (
            select rep_hash, template_id, row_number() over (partition by template_id order by draw) as tpl_rank
            from _cat_text where template_id is not null and template_id not in (select unnest(?::bigint[]))
        ) where tpl_rank > ?
        """,
        [sorted(uncapped), cap],
    )
    return {int(t): int(n) for t, n in db.rows(con, "select template_id, count(*) from _cat_held_back group by 1")}


def _carry_template_mass(con, batch: TextBatch) -> None:
    """Each fitted text of a capped template carries an equal part of its held-back texts' requests and spend."""
    batch.requests = batch.requests.astype(np.float64)
    for tid, requests, spend in db.rows(con, """
            select h.template_id, sum(t.requests), coalesce(sum(t.spend), 0)
            from _cat_held_back h join _cat_text t using (rep_hash) group by 1"""):
        rows = batch.templates == int(tid)
        if rows.any():
            batch.requests[rows] += float(requests) / rows.sum()
            batch.spend[rows] += float(spend) / rows.sum()


def template_vectors(con, templates: list[dict], embedder, progress: bool) -> dict[int, np.ndarray]:
    """Embedding of each template's text (cached like any other text), keyed by template id."""
    if not templates:
        return {}
    vectors = normalise(embed_cached(con, [t["text"] for t in templates], embedder, progress=progress).vectors)
    return {template_id(t["kind"], t["key"]): v for t, v in zip(templates, vectors, strict=True)}


def with_templates(vectors: np.ndarray, template_ids: np.ndarray, template_vectors: dict) -> np.ndarray:
    """[content vector, TEMPLATE_WEIGHT * template vector] renormalised; no template: a zero block."""
    if not template_vectors:
        return vectors
    dim = next(iter(template_vectors.values())).shape[0]
    block = np.zeros((len(vectors), dim), dtype=np.float32)
    for tid, vec in template_vectors.items():
        hit = template_ids == tid
        if hit.any():
            block[hit] = vec
    return normalise(np.hstack([vectors, TEMPLATE_WEIGHT * block]))
