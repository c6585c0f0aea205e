"""Step 2, vectors: embed the texts that are fitted (all of them, or a uniform sample) and the templates.

A request's vector is [content embedding, template embedding] renormalised (the template block is zero for
untemplated requests), so one template's requests stay together while requests under a generic system prompt
are told apart by content. Vectors are cached in ``embeddings`` by content hash and embedder name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    exact: bool                     # every distinct text is in the fit
    embedded_new: int = 0
    embedded_cached: int = 0

    def __len__(self) -> int:
        return len(self.batch)


def embed_fit_set(con, templates: list[dict], n_texts: int, embedder, *, sample_size: int, exact_limit: int,
                  progress: bool, say: Say) -> FitSet:
    """All distinct texts when there are at most ``exact_limit``, else a uniform sample of ``sample_size``
    (drawn by a seeded hash, so it is stable as data grows and hits the cache), embedded with ``embedder``."""
    exact = n_texts <= exact_limit
    batch = fetch_texts(con, "order by draw" if exact else "order by draw limit ?", None if exact else [sample_size])
    say(f"Clustering {len(batch):,} of {n_texts:,} distinct prompts with {embedder.name} "
        f"({'all of them' if exact else 'a uniform sample'}; vectors already cached are reused).")
    new = cached = 0
    content = np.zeros((0, 1), dtype=np.float32)
    if len(batch):
        emb = embed_cached(con, batch.texts, embedder, hashes=batch.text_hashes, progress=progress)
        content, new, cached = normalise(emb.vectors), emb.new, emb.cached
    vectors = template_vectors(con, templates, embedder, progress)
    space = with_templates(content, batch.templates, vectors) if len(batch) else content
    return FitSet(batch, content, space, vectors, exact, new, cached)


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
