"""Step 5a, hierarchy: workloads above intents, and which level is named.

Intents are the clusters. Workloads are what a person already tells apart: a shared template (system prompt or
user-turn prefix), an application tag, or the user when a few users send all the traffic. Each intent belongs
to the workload that holds most of its spend (clusters rarely mix workloads: the template is part of the
clustered vector and specific templates are kept whole). Requests with no workload key share one workload.

``--top N`` names the N categories that carry most spend at the finest level where N of them carry at least
``named_share`` (75%) of it: intents when N intents do; else workloads. A workload level with fewer than N
workloads is filled up to N by splitting the workloads that hold many intents into topic groups (Ward linkage
of their intents' centres), so a single application with dozens of intents becomes its N main topics. Where no
level reaches the share (more than N workloads, spend spread evenly), the coarser level is named and the reason
says so. Categories outside the top N fold into Other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import db
from .clusters import Clusters

NO_TEXT_CLUSTER = -1
INTENT, WORKLOAD = "intent", "workload"
NO_TEXT_KEY = "no_text"


@dataclass
class Node:
    """One category of the hierarchy, before it has an id."""

    key: str
    level: str                      # workload | intent
    clusters: list[int]
    parent: str | None = None       # the workload of an intent
    source: str | None = None       # workload: template | tag | user | topic | untemplated | no_text
    template_id: int | None = None
    label: str | None = None        # the tag or user value a workload was keyed by
    requests: int = 0
    spend: float = 0.0


@dataclass
class Tree:
    nodes: dict[str, Node]
    named_level: str
    named: list[str]                                  # keys of the named categories, by spend rank
    reason: str
    coverage: dict[str, float] = field(default_factory=dict)   # level -> share of spend the top N carry

    def category_of_cluster(self) -> dict[int, str | None]:
        """Cluster -> key of its named category (None: folded into Other)."""
        named = set(self.named)
        out: dict[int, str | None] = {}
        for key, node in self.nodes.items():
            if node.level == self.named_level:
                for c in node.clusters:
                    out[c] = key if key in named else None
        return out

    def intent_of_cluster(self) -> dict[int, str]:
        return {c: key for key, node in self.nodes.items() if node.level == INTENT for c in node.clusters}


def build_requests_table(con) -> None:
    """``_cat_rc``: each request's cluster (-1 without prompt text), distance, route, template and workload key."""
    con.execute(
        f"""
        create or replace temp table _cat_rc as
        select q.id as request_id, coalesce(a.cluster, {NO_TEXT_CLUSTER}) as cluster, a.distance,
               coalesce(a.assigned_by, 'no_text') as assigned_by, q.template_id,
               case when a.cluster is null then '{NO_TEXT_KEY}' else q.workload_key end as workload_key,
               q.spend
        from _cat_req q left join _cat_assign a on a.rep_hash = q.rep_hash
        """
    )


def _rank_key(node: Node) -> tuple:
    return (-node.spend, -node.requests, node.key)


def _intents(con) -> tuple[dict[str, Node], bool]:
    """One node per cluster, under the workload key holding most of its spend (requests break ties)."""
    rows = db.dicts(
        con,
        """
        select cluster, workload_key, count(*) as requests, sum(spend) as spend
        from _cat_rc group by 1, 2
        """,
    )
    priced = any(r["spend"] for r in rows)
    per_cluster: dict[int, list[dict]] = {}
    for r in rows:
        per_cluster.setdefault(int(r["cluster"]), []).append(r)
    nodes: dict[str, Node] = {}
    for cluster, parts in sorted(per_cluster.items()):
        top = max(parts, key=lambda r: (float(r["spend"] or 0) if priced else 0.0, r["requests"], r["workload_key"] or ""))
        nodes[f"intent:{cluster}"] = Node(
            f"intent:{cluster}", INTENT, [cluster], parent=top["workload_key"] or "untemplated",
            requests=sum(int(r["requests"]) for r in parts), spend=sum(float(r["spend"] or 0) for r in parts))
    return nodes, priced


def _workloads(intents: dict[str, Node]) -> dict[str, Node]:
    """One node per workload key, holding its intents' clusters and figures."""
    out: dict[str, Node] = {}
    for intent in intents.values():
        key = intent.parent or "untemplated"
        node = out.get(f"workload:{key}")
        if node is None:
            kind, _, value = key.partition(":")
            node = Node(f"workload:{key}", WORKLOAD, [], source=kind if value else key,
                        template_id=int(value) if kind == "template" else None,
                        label=value if kind in ("tag", "user") else None)
            out[node.key] = node
        node.clusters.append(intent.clusters[0])
        node.requests += intent.requests
        node.spend += intent.spend
        intent.parent = node.key
    return out


def _coverage(nodes: list[Node], top: int, priced: bool) -> float:
    total = sum(n.spend for n in nodes) if priced else sum(n.requests for n in nodes)
    if total <= 0:
        return 0.0
    ranked = sorted(nodes, key=_rank_key)[:top]
    return float(sum(n.spend if priced else n.requests for n in ranked) / total)


def _slots(workloads: list[Node], top: int, priced: bool) -> dict[str, int]:
    """How many topic groups each workload is split into so that there are about ``top`` workload categories:
    the spare slots go to workloads with several intents, in proportion to their spend."""
    slots = {w.key: 1 for w in workloads}
    spare = top - len(workloads)
    splittable = [w for w in workloads if len(w.clusters) > 1 and w.source != NO_TEXT_KEY]
    while spare > 0 and splittable:
        mass = np.array([w.spend if priced else w.requests for w in splittable], dtype=np.float64) + 1e-12
        want = spare * mass / mass.sum()
        given = np.floor(want).astype(int)
        for i in np.argsort(-(want - given))[: spare - given.sum()]:
            given[i] += 1
        for w, extra in zip(splittable, given, strict=True):
            slots[w.key] = min(len(w.clusters), slots[w.key] + int(extra))
        spare = top - sum(slots.values())
        splittable = [w for w in splittable if slots[w.key] < len(w.clusters)]
    return slots


def _split(workload: Node, groups: int, intents: dict[str, Node], centres: np.ndarray) -> list[Node]:
    """A workload's intents in ``groups`` topic groups (Ward linkage of the intents' centres)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    clusters = [c for c in workload.clusters if 0 <= c < len(centres)]
    if groups <= 1 or len(clusters) < 2:
        return [workload]
    cut = fcluster(linkage(centres[clusters].astype(np.float64), method="ward"), groups, criterion="maxclust")
    out = []
    for g in np.unique(cut):
        members = [c for c, label in zip(clusters, cut, strict=True) if label == g]
        node = Node(f"{workload.key}:topic{g}", WORKLOAD, members, source="topic", template_id=workload.template_id,
                    label=workload.label)
        for c in members:
            intents[f"intent:{c}"].parent = node.key
            node.requests += intents[f"intent:{c}"].requests
            node.spend += intents[f"intent:{c}"].spend
        out.append(node)
    return out


def build_tree(con, clusters: Clusters, *, top: int, named_share: float) -> Tree:
    """The hierarchy of this run and its named level (see the module docstring)."""
    intents, priced = _intents(con)
    workloads = _workloads(intents)
    measure = "spend" if priced else "requests (no request has a known cost)"
    n_intents = len(intents)
    intent_cover = _coverage(list(intents.values()), top, priced)
    coverage = {INTENT: intent_cover}
    if intent_cover >= named_share or n_intents <= top:
        reason = (f"The top {min(top, n_intents)} of {n_intents} intents carry {intent_cover:.0%} of {measure} "
                  f"(at least {named_share:.0%}), so intents are named.")
        level = INTENT
    else:
        slots = _slots(list(workloads.values()), top, priced)
        split = [g for w in list(workloads.values()) for g in _split(w, slots[w.key], intents, clusters.centres)]
        workloads = {g.key: g for g in split}
        workload_cover = _coverage(split, top, priced)
        coverage[WORKLOAD] = workload_cover
        level = WORKLOAD
        reason = (f"The top {top} of {n_intents} intents carry only {intent_cover:.0%} of {measure}, so categories "
                  f"are named at the workload level ({len(split)} workloads and topic groups), where the top {top} "
                  f"carry {workload_cover:.0%}.")
        if workload_cover < named_share:
            reason += (f" No level reaches {named_share:.0%}: spend is spread over more than {top} workloads; "
                       f"the coarser level is named and the rest is in Other (raise --top to name more).")
    nodes = {**workloads, **intents}
    at_level = [n for n in nodes.values() if n.level == level]
    named = [n.key for n in sorted(at_level, key=lambda n: _rank_key(n) if priced else (-n.requests, n.key))[:top]]
    return Tree(nodes, level, named, reason, coverage)
