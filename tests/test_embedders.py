"""Embedders load offline, return unit vectors, and the cache embeds each text once per embedder."""

from __future__ import annotations

import numpy as np
import pytest

from analyzer.db import rows, scalar
from analyzer.embedders import (
    DEFAULT_EMBEDDER,
    STATIC_EMBEDDER,
    content_hash,
    embed_cached,
    get_embedder,
)
from analyzer.errors import PlanError

TEXTS = [
    "how do i say thank you in french",
    "what's the french word for thanks",
    "book me a flight from boston to denver on friday",
    "i need a plane ticket to denver this friday",
]


def test_default_minilm_is_local_and_normalised():
    emb = get_embedder()
    assert emb.name == DEFAULT_EMBEDDER
    assert get_embedder("sentence-transformers/all-MiniLM-L6-v2") is emb  # aliases share one loaded model
    vectors = emb.encode(TEXTS)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2] and sims[2, 3] > sims[1, 3]  # paraphrases are nearer than other topics


def test_static_embedder_is_fast_route_with_the_same_neighbourhoods():
    emb = get_embedder(STATIC_EMBEDDER)
    assert emb.name == STATIC_EMBEDDER and not emb.cacheable
    vectors = emb.encode(TEXTS)
    assert vectors.shape == (4, 256) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2] and sims[2, 3] > sims[1, 3]
    assert emb.encode([]).shape == (0, 256)


def test_unknown_model_fails_with_a_sentence_not_a_download(tmp_path):
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(PlanError, match="offline"):
        get_embedder(missing).encode(["hello"])


def test_cache_embeds_each_text_once(con):
    emb = get_embedder()
    first = embed_cached(con, TEXTS + [TEXTS[0]], emb)
    assert first.new == 4 and first.cached == 0
    assert np.allclose(first.vectors[0], first.vectors[4])
    assert scalar(con, "select count(*) from embeddings where embedder = ?", [emb.name]) == 4
    stored = {h for (h,) in rows(con, "select content_hash from embeddings")}
    assert stored == {content_hash(t) for t in TEXTS}
    second = embed_cached(con, list(reversed(TEXTS)) + ["a brand new prompt about invoices"], emb)
    assert second.new == 1 and second.cached == 4
    assert np.allclose(second.vectors[:4], first.vectors[:4][::-1], atol=1e-6)
    assert scalar(con, "select count(*) from embeddings") == 5


def test_content_hash_matches_duckdb_md5(con):
    text = "naïve café — 100 €"
    assert content_hash(text) == scalar(con, "select md5(?)", [text])
