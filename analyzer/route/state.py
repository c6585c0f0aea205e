"""What categorize left for routing, and how a prompt is placed with it.

A prompt is represented exactly as categorize represents a request (``represent_sql`` is its SQL, over any
relation with ``id``, ``system_prompt``, ``prompt_text``): the head of the system prompt and the user turn,
normalised; a known template is recognised by the same keys (the system prompt's hash, or a user-turn prefix).
Its vector is the embedding of that text joined with its template's embedding (``with_templates``) and it goes to
the nearest stored centre (``nearest``), or to the template's cluster when categorize kept that template whole.

A bare prompt (no system prompt, no known prefix) may belong to a templated workload whose system prompt the
caller did not give, so it is compared on its text alone: against the text block of every centre. Its score is
therefore on another scale, and has its own threshold (``PROMPT``; a logged request is ``REQUEST``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import db
from ..categorize.assign import nearest
from ..categorize.texts import PREFIX_KEY_CHARS, SYSTEM_HEAD_CHARS, _norm_sql, representation_sql, template_joins_sql
from ..categorize.vectors import normalise, with_templates
from ..errors import PlanError

REQUEST = "request"  # the prompt came with its system prompt (or a known template): categorize's own space
PROMPT = "prompt"    # a bare user turn: compared on its text alone
NO_TEMPLATE = -1


@dataclass
class RouteState:
    """The stored centres, the category each folds into, and the templates that complete a vector."""

    embedder: str
    centres: np.ndarray                 # k x D unit vectors in categorize's space
    content_dims: int
    cluster_category: np.ndarray        # k: the named category (0: Other) each cluster folds into
    template_vectors: dict[int, np.ndarray] = field(default_factory=dict)
    template_cluster: dict[int, int] = field(default_factory=dict)
    template_kinds: dict[int, str] = field(default_factory=dict)

    @property
    def text_centres(self) -> np.ndarray:
        return normalise(self.centres[:, : self.content_dims])


def load_state(con) -> RouteState:
    """The state categorize stored; a clear error when there is none (not categorized, or before m012)."""
    if not (db.scalar(con, "select count(*) from categories") or 0):
        raise PlanError("No categories yet: run `plan categorize` first.")
    rows = db.rows(con, "select cluster, category_id, embedder, content_dims, centre from category_centroids "
                        "order by cluster")
    if not rows:
        raise PlanError("These categories were stored without their centres (by an older `plan`): run "
                        "`plan categorize` again, then `plan route`.")
    if [r[0] for r in rows] != list(range(len(rows))):
        raise PlanError("The stored centres are incomplete: run `plan categorize` again.")
    centres = np.asarray([r[4] for r in rows], dtype=np.float32)
    state = RouteState(rows[0][2], centres, int(rows[0][3]), np.asarray([r[1] for r in rows], dtype=np.int64))
    for tid, kind, vector, cluster in db.rows(
            con, "select template_id, kind, vector, cluster from template_vectors"):
        state.template_kinds[int(tid)] = kind
        if vector is not None:
            state.template_vectors[int(tid)] = np.asarray(vector, dtype=np.float32)
        if cluster is not None:
            state.template_cluster[int(tid)] = int(cluster)
    return state


def represent_sql(source: str) -> str:
    """Categorize's text for each row of ``source`` (id, system_prompt, prompt_text) and its template
    (categorize/texts.py, ``_base_table`` and ``_request_table``, with the stored templates). Needs the
    relation ``template_vectors`` (template_id, kind, match_key)."""
    return f"""
        with base as (
            select id, case when sys_full <> '' then md5(sys_full) end as sys_hash,
                   left(sys_full, {SYSTEM_HEAD_CHARS}) as sys_head, left(usr_full, 800) as usr_text,
                   left(usr_full, {PREFIX_KEY_CHARS}) as prefix_key, length(usr_full) as usr_len,
                   system_prompt is not null and trim(system_prompt) <> '' as has_system
            from (select id, system_prompt, {_norm_sql('system_prompt', 2000)} as sys_full,
                         {_norm_sql('prompt_text', 1000)} as usr_full from {source})
        ),
        sys_tpl as (select match_key as sys_hash, template_id from template_vectors where kind = 'system'),
        prefix_tpl as (select left(match_key, {PREFIX_KEY_CHARS}) as prefix_key, match_key as prefix, template_id
                       from template_vectors where kind = 'user_prefix')
        select b.id, coalesce(st.template_id, pt.template_id) as template_id, b.has_system,
               {representation_sql()} as rep
        from base b
        {template_joins_sql('sys_tpl', 'prefix_tpl')}
    """


@dataclass
class Represented:
    texts: list[str | None]   # categorize's text; None: nothing to classify
    templates: np.ndarray     # template id, -1 without one
    modes: list[str]          # REQUEST or PROMPT


def represent(con, prompts: list[tuple[str | None, str]]) -> Represented:
    """Categorize's text, template and mode of each (system prompt, user turn), computed in an in-memory
    DuckDB so a read-only store is enough."""
    import duckdb
    import pyarrow as pa

    if not prompts:
        return Represented([], np.zeros(0, dtype=np.int64), [])
    local = duckdb.connect()
    try:
        local.register("prompts", pa.table({
            "id": pa.array(range(len(prompts)), pa.int64()),
            "system_prompt": pa.array([s for s, _ in prompts], pa.string()),
            "prompt_text": pa.array([p for _, p in prompts], pa.string())}))
        local.register("template_vectors", con.sql(
            "select template_id, kind, match_key from template_vectors").to_arrow_table())
        got = local.sql(f"select id, template_id, has_system, rep from ({represent_sql('prompts')}) order by id"
                        ).fetchall()
    finally:
        local.close()
    texts = [r[3] for r in got]
    templates = np.asarray([NO_TEMPLATE if r[1] is None else int(r[1]) for r in got], dtype=np.int64)
    modes = [REQUEST if (r[2] or r[1] is not None) else PROMPT for r in got]
    return Represented(texts, templates, modes)


def place(state: RouteState, content: np.ndarray, templates: np.ndarray, modes: list[str],
          centres: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(cluster, cosine similarity to its centre) of each unit text vector. ``centres`` replaces the stored
    ones (calibration refits them without the held-out prompts)."""
    centres = state.centres if centres is None else centres
    n = len(content)
    clusters = np.zeros(n, dtype=np.int64)
    scores = np.zeros(n, dtype=np.float64)
    if not n:
        return clusters, scores
    bare = np.asarray([m == PROMPT for m in modes]) & (templates == NO_TEMPLATE)
    if bare.any():
        text_centres = normalise(centres[:, : state.content_dims])
        labels, dist = nearest(content[bare], text_centres)
        clusters[bare], scores[bare] = labels, 1.0 - dist
    full = ~bare
    if full.any():
        space = with_templates(content[full], templates[full], state.template_vectors)
        labels, dist = nearest(space, centres)
        whole = np.asarray([state.template_cluster.get(int(t), -1) for t in templates[full]])
        kept = whole >= 0
        labels[kept] = whole[kept]
        sims = np.einsum("ij,ij->i", space, centres[labels])
        clusters[full], scores[full] = labels, sims
    return clusters, scores
