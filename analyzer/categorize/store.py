"""Step 6, store: stable ids, the cluster -> category/intent map, and the tables ``categories``,
``request_categories`` and ``prompt_templates``.

Category ids: ``0`` is always Other. On a first run the named categories are numbered 1..top by spend rank,
then the other nodes of the hierarchy follow. A later run gives a category the id of the previous one with which
it shares most requests (Jaccard >= 0.5; named categories against named ones first, then every node against the
previous nodes of its level), so replays and judgments stay attached; a new category gets an id above every id
used before.
"""

from __future__ import annotations

from .. import db
from .hierarchy import INTENT, Tree

OTHER_ID = 0
MATCH_AT_LEAST = 0.5

_PREVIOUS = {
    "named": "select request_id, category_id as old_id from request_categories where category_id <> 0",
    INTENT: "select request_id, intent_id as old_id from request_categories where intent_id is not null",
    "workload": """select rc.request_id, c.parent_id as old_id from request_categories rc
                   join categories c on c.category_id = rc.intent_id where c.parent_id is not null""",
}


def _matches(con, members: dict[int, str], previous_sql: str) -> list[tuple[str, int, float]]:
    """(node key, previous id, Jaccard of their requests), best first, for nodes given as cluster -> key."""
    if not members:
        return []
    con.execute("create or replace temp table _cat_nodes (cluster bigint, key varchar)")
    con.executemany("insert into _cat_nodes values (?, ?)", [[c, k] for c, k in members.items()])
    return [(k, int(old), float(j)) for k, old, j in db.rows(
        con,
        f"""
        with new as (select rc.request_id, n.key from _cat_rc rc join _cat_nodes n using (cluster)),
             old as ({previous_sql}),
             new_n as (select key, count(*) as n from new group by 1),
             old_n as (select old_id, count(*) as n from old group by 1),
             overlap as (select new.key, old.old_id, count(*) as both_n from new join old using (request_id) group by 1, 2)
        select ov.key, ov.old_id, ov.both_n * 1.0 / (new_n.n + old_n.n - ov.both_n) as jaccard
        from overlap ov join new_n using (key) join old_n using (old_id)
        order by jaccard desc, ov.key, ov.old_id
        """,
    )]


def assign_ids(con, tree: Tree) -> dict[str, int]:
    """An id for every node of the tree (see the module docstring)."""
    previous = (db.scalar(con, "select count(*) from request_categories") or 0) > 0
    named_clusters = {c: k for k in tree.named for c in tree.nodes[k].clusters}
    others = [k for k in sorted(tree.nodes, key=lambda k: (k not in tree.named, tree.nodes[k].level != tree.named_level,
                                                             -tree.nodes[k].spend, -tree.nodes[k].requests, k))]
    if not previous:
        return {k: i for i, k in enumerate(others, 1)}
    ids: dict[str, int] = {}
    used: set[int] = {OTHER_ID}
    rounds = [(named_clusters, _PREVIOUS["named"])]
    for level in (INTENT, "workload"):
        rounds.append(({c: k for k, n in tree.nodes.items() if n.level == level and k not in ids for c in n.clusters},
                       _PREVIOUS[level]))
    for members, sql in rounds:
        members = {c: k for c, k in members.items() if k not in ids}
        for key, old, jaccard in _matches(con, members, sql):
            if jaccard >= MATCH_AT_LEAST and key not in ids and old not in used:
                ids[key] = old
                used.add(old)
    next_id = max([db.scalar(con, "select coalesce(max(category_id), 0) from categories") or 0,
                   db.scalar(con, "select coalesce(max(category_id), 0) from request_categories") or 0,
                   db.scalar(con, "select coalesce(max(intent_id), 0) from request_categories") or 0, *used]) + 1
    for key in others:
        if key not in ids:
            ids[key] = next_id
            next_id += 1
    return ids


def write_map(con, tree: Tree, ids: dict[str, int]) -> None:
    """``_cat_map``: each cluster's named category (0: Other), intent and workload id."""
    category = tree.category_of_cluster()
    intent = tree.intent_of_cluster()
    rows = []
    for cluster, key in intent.items():
        parent, named = tree.nodes[key].parent, category.get(cluster)
        rows.append([cluster, ids[named] if named else OTHER_ID, ids[key], ids[parent] if parent else None])
    con.execute("create or replace temp table _cat_map (cluster bigint, category_id integer, intent_id integer, "
                "workload_id integer)")
    if rows:
        con.executemany("insert into _cat_map values (?, ?, ?, ?)", rows)


CATEGORY_COLUMNS = (
    "category_id", "name", "name_source", "description", "task_type", "task_type_evidence", "keywords",
    "examples_json", "requests", "share_of_requests", "share_ci_low", "share_ci_high", "input_tokens",
    "output_tokens", "spend_usd", "share_of_spend", "share_of_spend_ci_low", "share_of_spend_ci_high",
    "spend_ci_low_usd", "spend_ci_high_usd", "unpriced_requests", "models_json", "first_at", "last_at", "is_other",
    "spend_rank", "embedder", "k", "stability", "share_of_spend_refit_low", "share_of_spend_refit_high",
    "parent_id", "level", "named", "workload_source", "workload_label", "named_level",
)


def _category_row(c: dict, embedder_name: str, k: int, named_level: str) -> list:
    import json

    refit = c["share_of_spend_refit_range"] or (None, None)
    return [c["id"], c["name"], c["name_source"], c["description"], c["task_type"], c["task_type_evidence"],
            list(c["keywords"]), json.dumps(c["examples"]), c["requests"], c["share_of_requests"],
            c["share_of_requests_ci"][0], c["share_of_requests_ci"][1], c["input_tokens"], c["output_tokens"],
            c["spend_usd"], c["share_of_spend"], c["share_of_spend_ci"][0], c["share_of_spend_ci"][1],
            c["spend_ci_usd"][0], c["spend_ci_usd"][1], c["unpriced_requests"], json.dumps(c["models"]),
            c["first_at"], c["last_at"], c["is_other"], c["spend_rank"], embedder_name, k, c["stability"],
            refit[0], refit[1], c["parent_id"], c["level"], c["named"], c.get("workload_source"),
            c.get("workload_label"), named_level]


def store(con, categories: list[dict], templates: list[dict], *, k: int, embedder_name: str, named_level: str,
          centres=None, content_dims: int | None = None, template_state: list[tuple] | None = None) -> None:
    """Replace the stored categories (every node of the hierarchy and Other), the request mapping, the
    templates and what ``plan route`` classifies with (the centres, the template vectors; ``template_state``
    rows are (template_id, kind, match_key, vector, cluster or None)), in one transaction."""
    con.execute("begin")
    try:
        for table in ("request_categories", "categories", "prompt_templates", "category_centroids",
                      "template_vectors"):
            con.execute(f"delete from {table}")
        _store_route_state(con, centres, content_dims, template_state, embedder_name)
        con.execute(
            """
            insert into request_categories (request_id, category_id, cluster, distance, assigned_by, template_id,
                                            intent_id)
            select rc.request_id, m.category_id, rc.cluster, rc.distance, rc.assigned_by, rc.template_id, m.intent_id
            from _cat_rc rc join _cat_map m using (cluster)
            """
        )
        columns = ", ".join(CATEGORY_COLUMNS)
        marks = ", ".join("?" for _ in CATEGORY_COLUMNS)
        con.executemany(f"insert into categories ({columns}) values ({marks})",
                        [_category_row(c, embedder_name, k, named_level) for c in categories])
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


def _store_route_state(con, centres, content_dims: int | None, template_state, embedder_name: str) -> None:
    """``category_centroids`` (each cluster's centre with the categories it folds into) and ``template_vectors``."""
    if centres is not None and len(centres):
        folded = dict(((int(c), (cat, intent)) for c, cat, intent in
                       db.rows(con, "select cluster, category_id, intent_id from _cat_map")))
        con.executemany(
            "insert into category_centroids (cluster, category_id, intent_id, embedder, content_dims, centre) "
            "values (?, ?, ?, ?, ?, ?)",
            [[c, *folded.get(c, (OTHER_ID, None)), embedder_name, content_dims or centres.shape[1],
              [float(x) for x in centre]] for c, centre in enumerate(centres)])
    if template_state:
        con.executemany(
            "insert into template_vectors (template_id, kind, match_key, embedder, vector, cluster) "
            "values (?, ?, ?, ?, ?, ?)",
            [[tid, kind, key, embedder_name, None if vec is None else [float(x) for x in vec], cluster]
             for tid, kind, key, vec, cluster in template_state])
