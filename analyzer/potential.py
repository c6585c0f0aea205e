"""What is at stake: what moving the categories that have objective checks would save if the local model met the
acceptance target there, and the hardware payback at that ceiling. A potential, not a measurement.

A category "has objective checks" when an answer in it can be told right or wrong by construction: valid JSON, a
JSON schema, SQL that parses, SVG that renders, code that compiles, the frontier's label (and the user's own
``regex``/``contains``; :func:`analyzer.checks.evidence_of`). Judged categories count the objective checks judge
applied to them; the others the checks judge would pick (:func:`analyzer.judge.default_criteria` over a sample of
their frontier answers and request parameters, or ``[judge.categories."NAME"] checks`` in plan.toml).

The arithmetic is the cost model's (``analyzer/cost.py``, scenario ``potential``): every request of those categories
runs locally first; at the target's acceptance (say 80%) the rest fail their check and are paid again at the
frontier, so a category saves ``target x spend - local electricity``; boxes are sized for those categories' peak
hour, and payback is their price over the monthly net savings.
"""

from __future__ import annotations

from .checks import CHECKS, evidence_of
from .db import dicts, table_exists
from .judge import category_config, default_criteria

LABEL = "Potential, not measured"
SAMPLE_PER_CATEGORY = 60  # frontier answers per category that decide which checks apply (as judge's defaults do)


def is_objective(check_name: str) -> bool:
    base = str(check_name).split("[", 1)[0]
    return base in CHECKS and evidence_of(base) == "objective"


def _spec_names(specs: list) -> list[str]:
    return [s if isinstance(s, str) else str(s.get("name") or s.get("check") or "") for s in specs]


def _judged_checks(con) -> dict[int, list[str]]:
    """Per judged category, the objective checks judge applied to at least one answer."""
    import json

    if not table_exists(con, "category_acceptance"):
        return {}
    out: dict[int, list[str]] = {}
    for r in dicts(con, "select category_id, checks_json from category_acceptance where checks_json is not null"):
        try:
            checks = json.loads(r["checks_json"]) or {}
        except (TypeError, ValueError):
            continue
        if isinstance(checks, dict):
            out[int(r["category_id"])] = sorted({name.split("[", 1)[0] for name, figures in checks.items()
                                                 if is_objective(name) and isinstance(figures, dict) and figures.get("n")})
    return out


def _samples(con, category_ids: list[int]) -> dict[int, tuple[list, list]]:
    """A fixed sample of each category's frontier answers and request parameters."""
    import json

    out: dict[int, tuple[list, list]] = {cid: ([], []) for cid in category_ids}
    if not category_ids:
        return out
    for r in dicts(
        con,
        """
        select rc.category_id, r.response_text, r.params_json from request_categories rc join requests r on r.id = rc.request_id
        where rc.category_id in (select unnest(?::integer[])) and r.response_text is not null
        qualify row_number() over (partition by rc.category_id order by hash(r.id)) <= ?
        """,
        [category_ids, SAMPLE_PER_CATEGORY],
    ):
        try:
            params = json.loads(r["params_json"]) if r["params_json"] else {}
        except ValueError:
            params = {}
        answers, plist = out[int(r["category_id"])]
        answers.append(r["response_text"])
        plist.append(params if isinstance(params, dict) else {})
    return out


def objective_checks(con, cats: list[dict], judge_tables: dict | None = None) -> dict[int, list[str]]:
    """Per category id, the objective checks that can vouch for its answers (empty: none can)."""
    judged = _judged_checks(con)
    pending = [c for c in cats if c["category_id"] is not None and c["category_id"] not in judged and not c["is_other"]]
    samples = _samples(con, [int(c["category_id"]) for c in pending])
    out = dict(judged)
    for c in pending:
        answers, params = samples[int(c["category_id"])]
        _, table = category_config(judge_tables or {}, c["category_id"], c["name"])
        specs = list(table["checks"]) if "checks" in table else default_criteria(c["task_type"], answers, params, False)
        specs += list(table.get("add_checks") or [])
        out[int(c["category_id"])] = sorted({n for n in _spec_names(specs) if is_objective(n)})
    for c in cats:
        if c["is_other"] and c["category_id"] is not None:
            out[int(c["category_id"])] = []  # a mixed bag: no one check speaks for it
    return out


def potential_summary(categories: list[dict], evaluation: dict, hardware: str, useful_life_months: int,
                      target: float) -> dict:
    """The ``potential`` block of ``plan cost --json``: the ceiling at the target on the selected hardware."""
    moved = [c for c in categories if c.get("objective_checks") and c.get("monthly_spend_usd") is not None]
    ev = evaluation
    block = {
        "label": LABEL,
        "acceptance_assumed": target,
        "categories": [
            {"category_id": c["category_id"], "name": c["name"], "objective_checks": c["objective_checks"],
             "monthly_spend_usd": c["monthly_spend_usd"],
             "monthly_savings_usd": c["scenarios"]["potential"]["monthly_savings_usd"]}
            for c in moved
        ],
        "monthly_spend_moved_usd": ev["monthly_spend_moved_usd"],
        "monthly_gross_savings_usd": ev["monthly_gross_savings_usd"],
        "monthly_fixed_costs_usd": ev["monthly_fixed_costs_usd"],
        "monthly_savings_usd": ev["monthly_savings_usd"] if moved else None,
        "hardware": hardware,
        "boxes_needed": ev["boxes_needed"],
        "upfront_usd": ev["upfront_usd"],
        "payback_months": ev["payback_months"],
        "pays_back_within_life": ev["pays_back_within_life"],
        "useful_life_months": useful_life_months,
    }
    block["sentence"] = potential_sentence(block)
    return block


def _usd(value: float) -> str:
    return f"${value:,.2f}" if abs(value) < 10 else f"${value:,.0f}"


def potential_sentence(p: dict) -> str:
    """The ceiling in words, starting with what it is: a potential, not a measurement."""
    if not p["categories"]:
        return (f"{LABEL}: no category has an objective check (valid JSON, SQL that parses, SVG that renders, code "
                "that compiles, a label), so no ceiling can be put on what moving traffic would save without a judge.")
    names = "; ".join(c["name"] for c in p["categories"][:4]) + (f"; {len(p['categories']) - 4} more"
                                                                 if len(p["categories"]) > 4 else "")
    head = (f"{LABEL}: if the local model passed the objective checks on {p['acceptance_assumed']:.0%} of requests in "
            f"the {len(p['categories'])} categor{'y' if len(p['categories']) == 1 else 'ies'} that have them "
            f"({_usd(p['monthly_spend_moved_usd'])} a month: {names}), ")
    savings = p["monthly_savings_usd"]
    if savings is None or savings <= 0:
        return head + (f"running them locally would cost {_usd(-(savings or 0))} a month more than it saves, the "
                       "failures paid again at the frontier.")
    boxes = p["boxes_needed"]
    payback = p["payback_months"]
    tail = (f"; {boxes} × {p['hardware']} would pay for itself in {payback:.1f} months" if payback is not None
            else f"; {boxes} × {p['hardware']} would never pay for itself at that rate")
    return head + f"moving them would save about {_usd(savings)} a month after running costs{tail}."
