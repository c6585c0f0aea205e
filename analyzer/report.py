"""The decision report: one context builder that every output renders from.

The stage's entry is ``report(con, settings, progress=..., say=...)``; ``build_context`` is the same with the
settings given as keywords (notebooks, tests). Either gathers everything the report shows into one JSON-safe dict: the headline, the
recommendation table (the article's table on the user's own data), chart series, per-category evidence,
privacy findings, hardware assumptions, methodology and provenance. ``render_html`` and ``render_text``
only format that dict, ``plan report --json`` prints it, and the email sends it, so no two outputs can
disagree about a number.

All text that comes from logs (prompts, answers, category names, keywords, check reasons) is redacted with
``analyzer.privacy.redact`` before it enters the context, and then truncated; the templates escape it.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import math
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from . import decisions as dv
from .categorize import CategorizeSettings, boundaries_vary
from .cost import CostSettings
from .db import aggregate, dicts, one, scalar, table_exists
from .errors import PlanError
from .judge import JudgeSettings
from .next_steps import next_steps, what_was_measured
from .privacy import PrivacySettings
from .progress import Say, say_nothing
from .redact import Redactor
from .settings import StageSettings, option

if TYPE_CHECKING:
    import duckdb

REPORT_VERSION = 1
TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "reports" / "templates"

LOCAL_DECISIONS = dv.RUNS_LOCAL
DECISION_LABELS = dv.LABELS
DECISION_HINTS = dv.LEGEND

PROMPT_CHARS = 600
ANSWER_CHARS = 700
MAX_LINES = 24
NAME_CHARS = 80
REASON_CHARS = 160
EXAMPLES_PER_CATEGORY = 3

VERSIONED_PACKAGES = (
    "plan-analyzer",
    "duckdb",
    "polars",
    "scikit-learn",
    "sentence-transformers",
    "genai-prices",
    "jinja2",
    "matplotlib",
    "css-inline",
)


# ---------------------------------------------------------------------------------------------------------
# Text helpers: redact first (a cut could split a secret and hide it from the detector), then truncate.


def clip(text: str | None, limit: int, max_lines: int = MAX_LINES) -> str | None:
    """At most ``limit`` characters and ``max_lines`` lines, ending in an ellipsis when cut."""
    if text is None:
        return None
    text = str(text).strip()
    cut = False
    lines = text.splitlines()
    if len(lines) > max_lines:
        text = "\n".join(lines[:max_lines])
        cut = True
    if len(text) > limit:
        head = text[:limit]
        space = max(head.rfind(" "), head.rfind("\n"))
        if space > limit * 0.8:
            head = head[:space]
        text = head
        cut = True
    return text.rstrip() + "…" if cut else text


def _unredacted(text):
    return text


def _redactor(enabled: bool) -> Redactor:
    if not enabled:
        return _unredacted
    try:
        from .privacy import redact
    except ImportError as exc:  # pragma: no cover - privacy ships with the package
        raise PlanError("Cannot redact log text: analyzer.privacy is missing. Reinstall plan.") from exc
    return redact


def _group_redactor(enabled: bool) -> Callable[..., list]:
    """Texts of one request redacted together, so a secret found in one is removed from all."""
    if not enabled:
        return lambda *texts: list(texts)
    from .privacy import redact_together

    return redact_together


def _loads(value, default):
    if value is None:
        return default
    if isinstance(value, (list, dict)):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return default


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.replace(microsecond=0).isoformat() + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def jsonable(value):
    """Plain JSON types only, so the context survives ``json.dumps`` and round-trips unchanged."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return _iso(value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalars
        return jsonable(value.item())
    if hasattr(value, "as_dict"):
        return jsonable(value.as_dict())
    return str(value)


def _num(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _first(mapping: dict | None, *keys, default=None):
    """The first of several key spellings present in a dict (stages store their JSON in slightly different shapes)."""
    if not isinstance(mapping, dict):
        return default
    for key in keys:
        if key in mapping and mapping[key] is not None:
            return mapping[key]
    return default


# ---------------------------------------------------------------------------------------------------------
# Earlier stages: run what is missing or stale, except replay (it needs an endpoint the user chooses).


def _max_ts(con, table: str, column: str):
    if not table_exists(con, table):
        return None
    return scalar(con, f'select max("{column}") from "{table}"')


def _count(con, table: str) -> int:
    if not table_exists(con, table):
        return 0
    return int(scalar(con, f'select count(*) from "{table}"') or 0)


def stage_plan(con) -> dict[str, str | None]:
    """Why each stage needs to run now (a sentence), or None when it is up to date."""
    reasons: dict[str, str | None] = {"privacy": None, "categorize": None, "replay": None, "judge": None}
    from .privacy import needs_scan

    reasons["privacy"] = needs_scan(con)
    categories = _count(con, "categories")
    newest_request = _max_ts(con, "requests", "ingested_at")
    categorized_at = _max_ts(con, "categories", "created_at")
    if categories == 0:
        reasons["categorize"] = "no categories yet"
    elif newest_request is not None and categorized_at is not None and newest_request > categorized_at:
        reasons["categorize"] = "requests were ingested after the categories were built"
    replays = _count(con, "replays")
    if replays == 0:
        reasons["replay"] = "no replays: acceptance not yet measured (run plan replay)"
        return reasons
    judged_at = _max_ts(con, "category_acceptance", "judged_at")
    if judged_at is None:
        reasons["judge"] = "replays have not been judged"
    else:
        newer = [
            (_max_ts(con, "replays", "finished_at"), "replays finished after the last judgement"),
            (_max_ts(con, "human_reviews", "reviewed_at"), "human reviews were imported after the last judgement"),
            (categorized_at, "categories were rebuilt after the last judgement"),
        ]
        for stamp, why in newer:
            if stamp is not None and stamp > judged_at:
                reasons["judge"] = why
                break
    if reasons["categorize"] and not reasons["judge"]:
        reasons["judge"] = "categories are being rebuilt"
    return reasons


def ensure_stages(con: duckdb.DuckDBPyConnection, settings: ReportSettings, *, progress: bool, say: Say) -> list[dict]:
    """Bring privacy scan, categorize and judge up to date; returns what was done and why."""
    from .categorize import categorize
    from .judge import judge
    from .privacy import scan_requests

    plan = stage_plan(con)
    actions: list[dict] = []
    if plan["privacy"]:
        say(f"Scanning for sensitive data: {plan['privacy']}.")
        scan_requests(con, progress=progress, per_category=settings.privacy.scan_per_category)
        actions.append({"stage": "privacy", "action": "ran", "reason": plan["privacy"]})
    if plan["categorize"]:
        say(f"Running categorize: {plan['categorize']}.")
        categorize(con, settings.categorize, progress=False, say=say)
        actions.append({"stage": "categorize", "action": "ran", "reason": plan["categorize"]})
    if plan["replay"]:
        actions.append({"stage": "replay", "action": "missing", "reason": plan["replay"]})
    elif plan["judge"]:
        say(f"Running judge: {plan['judge']}.")
        judge(con, settings.judge, progress=progress, say=say)
        actions.append({"stage": "judge", "action": "ran", "reason": plan["judge"]})
    return actions


# ---------------------------------------------------------------------------------------------------------
# Reading what the stages stored.


def _categories(con) -> dict[int, dict]:
    if not table_exists(con, "categories"):
        return {}
    return {r["category_id"]: r for r in dicts(con, "select * from categories")}


def _acceptance(con) -> dict[int, dict]:
    if not table_exists(con, "category_acceptance"):
        return {}
    return {r["category_id"]: r for r in dicts(con, "select * from category_acceptance")}


def _check_breakdown(row: dict) -> list[dict]:
    """Per check: replays it applied to and passed, as the judge stored them (human verdicts included)."""
    parsed = _loads(row.get("checks_json"), {})
    out = []
    if isinstance(parsed, dict):
        for name, figures in parsed.items():
            if not isinstance(figures, dict):
                continue
            n, passed = figures.get("n") or 0, figures.get("passed") or 0
            out.append({"name": str(name), "n": n, "passed": passed, "rate": passed / n if n else None})
    return out


def _failure_reasons(row: dict) -> list[dict]:
    parsed = _loads(row.get("failure_reasons_json"), [])
    if isinstance(parsed, dict):
        parsed = [{"reason": k, "count": v} for k, v in parsed.items()]
    out = []
    for item in parsed if isinstance(parsed, list) else []:
        if isinstance(item, dict):
            out.append({"check": _first(item, "check", "check_name"), "reason": str(_first(item, "reason", default="")), "count": _first(item, "count", "n")})
        elif isinstance(item, str):
            out.append({"check": None, "reason": item, "count": None})
    return out


def _criteria(row: dict) -> list[str]:
    parsed = _loads(row.get("criteria_json"), None)
    if not parsed:
        return []
    specs = parsed.get("checks", []) if isinstance(parsed, dict) else parsed
    out = []
    for spec in specs if isinstance(specs, list) else []:
        if isinstance(spec, dict):
            name = _first(spec, "name", "check", default="")
            # objective/runtime are the judge's own bookkeeping, not criteria a reader set.
            args = {k: v for k, v in spec.items() if k not in ("name", "check", "objective", "runtime")}
            out.append(f"{name} ({', '.join(f'{k}={v}' for k, v in sorted(args.items()))})" if args else str(name))
        else:
            out.append(str(spec))
    return out


def _place_in_hierarchy(categories: dict[int, dict], category_id, red) -> dict:
    """A named category's level, the workload above it (an intent) or the intents beneath it (a workload)."""
    c = categories.get(category_id) or {}
    parent_id = c.get("parent_id")
    parent = categories.get(parent_id) if parent_id is not None else None
    intents = sorted((x for x in categories.values() if x.get("parent_id") == category_id and x.get("level") == "intent"),
                     key=lambda x: (-(x.get("spend_usd") or 0), -(x.get("requests") or 0)))
    return {
        "level": c.get("level"),
        "parent_name": clip(red(parent.get("name")), NAME_CHARS) if parent else None,
        "intents": [{"category_id": x["category_id"], "name": clip(red(x.get("name")), NAME_CHARS),
                     "requests": x.get("requests"), "share_of_spend": x.get("share_of_spend")} for x in intents],
    }


def _category_levels(con, red) -> dict:
    """Which level of the hierarchy the categories are named at, and why (as categorize said it)."""
    run = one(con, "select summary_json from stage_runs where stage = 'categorize' order by finished_at desc limit 1")
    summary = _loads(run[0], {}) if run else {}
    return {"named_level": summary.get("named_level"), "reason": red(summary.get("level_reason")) or None}


def _examples(con, category_id: int, model: str | None, limit: int, *, have_replays: bool, have_judgments: bool) -> list[dict]:
    """Requests nearest the category's centre. With replays: the nearest rejected answer, the nearest accepted
    one, then the next nearest, so the reader sees both what works and what breaks."""
    replayed = []
    if have_replays:
        replayed = dicts(
            con,
            """
            with verdicts as (
                select replay_id,
                       bool_or(passed) filter (where check_name = 'human') as human,
                       bool_and(passed) filter (where check_name <> 'human' and passed is not null) as auto
                from judgments group by 1
            )
            select rp.id as replay_id, q.id as request_id, q.prompt_text, q.response_text, rp.output_text, rp.error,
                   rp.model as local_model, coalesce(v.human, v.auto) as passed
            from replays rp
            join requests q on q.id = rp.request_id
            left join request_categories rc on rc.request_id = q.id
            left join verdicts v on v.replay_id = rp.id
            where coalesce(rc.category_id, rp.category_id) = ? and (? is null or rp.model = ?)
            order by (v.replay_id is null), rc.distance nulls last, q.id
            limit 200
            """,
            [category_id, model, model],
        )
    if replayed:
        chosen, seen = [], set()
        for want in (False, True):
            row = next((r for r in replayed if r["passed"] is want and r["request_id"] not in seen), None)
            if row is not None:
                chosen.append(row)
                seen.add(row["request_id"])
        for row in replayed:
            if len(chosen) >= limit:
                break
            if row["request_id"] not in seen:
                chosen.append(row)
                seen.add(row["request_id"])
        chosen = chosen[:limit]
        ids = [r["replay_id"] for r in chosen]
        verdicts: dict[int, list[dict]] = {}
        if have_judgments:
            for v in dicts(
                con,
                f"""
                select replay_id, check_name, passed, reason from judgments
                where replay_id in ({",".join("?" * len(ids))}) and passed is not null
                order by replay_id, check_name
                """,
                ids,
            ):
                verdicts.setdefault(v["replay_id"], []).append(v)
        for row in chosen:
            row["verdicts"] = verdicts.get(row["replay_id"], [])
        return chosen
    if not table_exists(con, "request_categories"):
        return []
    return dicts(
        con,
        """
        select null as replay_id, q.id as request_id, q.prompt_text, q.response_text, null as output_text,
               null as error, null as local_model, null as passed
        from request_categories rc join requests q on q.id = rc.request_id
        where rc.category_id = ? and q.prompt_text is not null
        order by rc.distance nulls last, q.id
        limit ?
        """,
        [category_id, limit],
    )


def _privacy(con, settings: PrivacySettings, red) -> dict:
    from .privacy import category_sensitivity

    scanned = _count(con, "privacy_scans")
    kinds = []
    if _count(con, "privacy_findings"):
        kinds = dicts(
            con,
            """
            select kind, count(distinct request_id) as requests, sum("count") as occurrences
            from privacy_findings group by 1 order by requests desc, kind
            """,
        )
    with_findings = int(scalar(con, "select count(distinct request_id) from privacy_findings") or 0) if kinds else 0
    threshold = settings.threshold
    per_category = []
    if _count(con, "categories"):
        for c in category_sensitivity(con, threshold=threshold):
            per_category.append(
                {
                    "category_id": c["category_id"],
                    "name": clip(red(c["name"]), NAME_CHARS),
                    "requests": c["requests"],
                    "scanned": c.get("scanned", c["requests"]),
                    "with_findings": c["with_findings"],
                    "sensitive_share": c["sensitive_share"],
                    "ci_low": c.get("ci_low"),
                    "ci_high": c.get("ci_high"),
                    "kinds": {k: v["requests"] for k, v in sorted(c["kinds"].items(), key=lambda kv: (-kv[1]["requests"], kv[0]))},
                    "sensitive": c["sensitive"],
                }
            )
    return {
        "scanned_requests": scanned,
        "requests": _count(con, "requests"),
        "requests_with_findings": with_findings,
        "share_with_findings": with_findings / scanned if scanned else None,
        "kinds": [{"kind": k["kind"], "requests": k["requests"], "occurrences": int(k["occurrences"] or 0)} for k in kinds],
        "threshold": threshold,
        "categories": per_category,
        "sensitive_categories": [c["name"] for c in per_category if c["sensitive"]],
    }


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _provenance(con, red, generated_at: str | None, actions: list[dict]) -> dict:
    from .status import status_summary

    s = status_summary(con)
    files = []
    if table_exists(con, "ingested_files"):
        files = dicts(
            con,
            """
            select path, source_format as format, rows_added, rows_duplicate, rows_rejected, size_bytes,
                   left(sha256, 12) as sha256, ingested_at
            from ingested_files order by ingested_at, path
            """,
        )
    runs = dicts(
        con,
        """
        select stage, finished_at, params_json from (
            select *, row_number() over (partition by stage order by finished_at desc) as rank from stage_runs
        ) where rank = 1 order by finished_at, stage
        """,
    )
    local_models = []
    if _count(con, "replays"):
        local_models = dicts(
            con,
            """
            select model, endpoint, count(*) as replays, count(*) filter (where error is null) as answered
            from replays group by 1, 2 order by replays desc, model
            """,
        )
    return {
        "generated_at": generated_at,
        "requests": s["requests"],
        "first_at": s["first_at"],
        "last_at": s["last_at"],
        "input_tokens": s["input_tokens"],
        "cached_input_tokens": s["cached_input_tokens"],
        "output_tokens": s["output_tokens"],
        "spend_usd": s["spend_usd"],
        "sampled": bool(s["sampling"]["sampled"]),
        "estimated_spend_usd": s["estimated_spend_usd"],
        "cost_sources": s["cost_sources"],
        "formats": s["formats"],
        "models": s["models"][:15],
        "files": files,
        "rejects": {
            "total": s["rejects"]["total"],
            "by_file": s["rejects"]["by_file"],
            "recent": [{"file": r["file"], "line": r["line"], "reason": clip(red(r["reason"]), REASON_CHARS)} for r in s["rejects"]["recent"][:10]],
        },
        "stage_runs": [{"stage": r["stage"], "finished_at": r["finished_at"], "params": _loads(r["params_json"], {})} for r in runs],
        "report_actions": actions,
        "local_models": local_models,
        "versions": _versions(),
    }


# ---------------------------------------------------------------------------------------------------------
# The context.


@dataclasses.dataclass(frozen=True)
class ReportSettings(StageSettings):
    """What ``plan report`` is told, resolved once. The report brings the privacy scan, categorize and judge up
    to date and recomputes cost, so it carries those stages' settings too, resolved from the same plan.toml
    (``--hardware`` is the cost stage's). ``redact`` and ``run_stages`` come from the caller only: unredacted
    output is asked for on the command line each time, never by a configuration file."""

    section: ClassVar[str] = "report"
    redact: bool = option(True, flag_only=True, flag="no-redact")
    run_stages: bool = option(True, flag_only=True)
    privacy: PrivacySettings = option(None, flag_only=True)
    categorize: CategorizeSettings = option(None, flag_only=True)
    judge: JudgeSettings = option(None, flag_only=True)
    cost: CostSettings = option(None, flag_only=True)

    @classmethod
    def resolve(cls, config: dict | None = None, *, hardware: str | None = None, **flags: Any) -> "ReportSettings":
        config = config or {}
        stages = {"privacy": PrivacySettings.resolve(config), "categorize": CategorizeSettings.resolve(config),
                  "judge": JudgeSettings.resolve(config), "cost": CostSettings.resolve(config, hardware=hardware)}
        return super().resolve(config, **{**stages, **flags})


def report(con: duckdb.DuckDBPyConnection, settings: ReportSettings, *, progress: bool, say: Say) -> dict:
    """The report stage: everything the report shows, as plain JSON types (``plan report --json`` prints exactly
    this). Runs the privacy scan, categorize and judge first when they are missing or stale (unless
    ``settings.run_stages`` is off), never replay."""
    return _context(con, settings, progress=progress, say=say)


def build_context(
    con: duckdb.DuckDBPyConnection,
    *,
    hardware: str | None = None,
    config: dict | None = None,
    redact: bool = True,
    run_stages: bool = True,
    cost: dict | None = None,
    now: dt.datetime | None = None,
    progress: bool = False,
    say: Say = say_nothing,
) -> dict:
    """``report`` with its settings given as keywords (notebooks, tests). ``cost`` takes a ready ``cost_model``
    result (what-ifs); by default it is computed. ``now`` fixes the report's timestamp."""
    settings = ReportSettings.resolve(config, hardware=hardware, redact=redact, run_stages=run_stages)
    return _context(con, settings, progress=progress, say=say, cost=cost, now=now)


def _context(con: duckdb.DuckDBPyConnection, settings: ReportSettings, *, progress: bool, say: Say,
             cost: dict | None = None, now: dt.datetime | None = None) -> dict:
    if not _count(con, "requests"):
        raise PlanError("The database holds no requests. Run `plan ingest PATH` first (or pass --db).")
    red = _redactor(settings.redact)
    red_group = _group_redactor(settings.redact)
    generated_at = _iso(now or dt.datetime.now(dt.timezone.utc))
    actions = ensure_stages(con, settings, progress=progress, say=say) if settings.run_stages else []
    if cost is None:
        from .cost import cost_model

        cost = cost_model(con, settings.cost)

    measured = bool(cost.get("acceptance_measured"))
    notices = _notices(cost, actions, measured, red)

    categories = _categories(con)
    acceptance = _acceptance(con)
    privacy = _privacy(con, settings.privacy, red)
    sensitivity = {c["category_id"]: c for c in privacy["categories"]}
    judged_model = next((a.get("model") for a in acceptance.values() if a.get("model")), None)

    rows = _category_rows(con, cost, categories, acceptance, sensitivity, judged_model, red, red_group)
    top = [r for r in rows if not r["is_other"]]
    others = [r for r in rows if r["is_other"]]
    measured_with = what_was_measured(con, top, acceptance)  # the headline flags a stand-in model

    target = cost.get("acceptance_target")
    headline = _headline(cost, top, measured, measured_with, red)

    context = {
        "report_version": REPORT_VERSION,
        "title": "Which LLM traffic could run locally",
        "generated_at": generated_at,
        "redacted": settings.redact,
        "acceptance_measured": measured,
        "acceptance_target": target,
        "notices": notices,
        "headline": headline,
        "next_steps": [_redact_strings(s, red) for s in next_steps(con, cost, top, acceptance, measured_with, settings.judge)],
        "legend": dv.legend(),
        "categories": top,
        "category_levels": _category_levels(con, red),
        "other": others,
        "charts": _charts(cost, top, others, target),
        "privacy": privacy,
        "hardware": _hardware_section(cost),
        "methodology": _methodology(con, cost, settings.categorize),
        "provenance": _provenance(con, red, generated_at, actions),
        # The cost model's own output, for --json readers. Its names come from logs, so every string is redacted.
        "cost": _redact_strings(jsonable(cost), red),
    }
    return jsonable(context)


def _notices(cost: dict, actions: list[dict], measured: bool, red) -> list[str]:
    """What the reader must know before the numbers: nothing measured yet, stages that could not run, cost notes."""
    notices: list[str] = []
    if not measured:
        notices.append(
            "Acceptance not yet measured: run plan replay. Until then the savings shown are the all-local ceiling, "
            "the most moving everything could save, not a forecast."
        )
    notices += [f"Stage {a['stage']} could not run: {a['reason']}." for a in actions if a["action"] == "unavailable"]
    notices += [red(n) for n in cost.get("notes", []) if not (not measured and n.startswith("Acceptance is not measured"))]
    return notices


def _charts(cost: dict, top: list[dict], others: list[dict], target) -> dict:
    """The series the charts draw, and why any chart is left out (``omitted``): spend bars leave out categories
    whose spend is unknown, and a chart with nothing to show is not drawn (charts.py applies the same rules)."""
    charts = {
        "spend_by_category": [
            {"rank": rank, "name": r["name"], "monthly_spend_usd": r["monthly_spend_usd"], "decision": r["decision"]}
            for rank, r in list(enumerate(top, start=1)) + [(None, o) for o in others]
            if r["monthly_spend_usd"] is not None
        ],
        "acceptance": [
            {"rank": rank, **{k: r[k] for k in ("name", "acceptance", "ci_low", "ci_high", "n", "decision")}}
            for rank, r in enumerate(top, start=1)
            if r["acceptance"] is not None
        ],
        "target": target,
        "payback": _payback_chart(cost),
        "capacity": _capacity_chart(cost),
    }
    charts["omitted"] = _omitted_charts(cost, charts)
    return charts


def _omitted_charts(cost: dict, charts: dict) -> dict[str, str]:
    """Chart name -> why it is not drawn."""
    out = {}
    if not any((r["monthly_spend_usd"] or 0) > 0 for r in charts["spend_by_category"]):
        out["spend_by_category"] = "no category has a known spend to show"
    if not charts["acceptance"]:
        out["acceptance"] = "acceptance is not measured yet: run plan replay, then plan report again"
    payback = cost.get("payback") or {}
    if charts["payback"] is None:
        out["payback"] = ("the chosen hardware cannot carry the plan (see Hardware assumptions)"
                          if payback.get("boxes") and not payback.get("curve") else
                          "nothing moves local under the plan, so there is no box to pay back")
    if charts["capacity"] is None:
        out["capacity"] = "no traffic would move local, so there is no load to compare with capacity"
    return out


def _category_rows(con, cost: dict, categories: dict, acceptance: dict, sensitivity: dict, judged_model: str | None,
                   red, red_group) -> list[dict]:
    """One row per cost-model category: spend, acceptance, decision and what it rests on, examples, privacy."""
    from .task_types import LABELS

    # Three examples each keeps a short report readable; two keep a ten-category one from running on.
    top_count = sum(1 for k in cost.get("categories", []) if not k.get("is_other") and k.get("category_id") is not None)
    per_category = EXAMPLES_PER_CATEGORY if top_count <= 5 else 2
    have_replays, have_judgments = _count(con, "replays") > 0, _count(con, "judgments") > 0
    rows = []
    for k in cost.get("categories", []):
        cid = k.get("category_id")
        c = categories.get(cid, {}) if cid is not None else {}
        a = acceptance.get(cid, {}) if cid is not None else {}
        s = sensitivity.get(cid, {})
        decision = dv.normalise(k.get("decision")) or dv.NOT_MEASURED
        is_other = bool(k.get("is_other")) or cid is None
        task_type = k.get("task_type") or c.get("task_type")
        examples = []
        if not is_other:
            for e in _examples(con, cid, judged_model, per_category, have_replays=have_replays, have_judgments=have_judgments):
                texts = red_group(e["prompt_text"], e["response_text"], e["output_text"], e["error"])
                examples.append(
                    {
                        "request_id": e["request_id"],
                        "prompt": clip(texts[0], PROMPT_CHARS),
                        "frontier": clip(texts[1], ANSWER_CHARS),
                        "local": clip(texts[2], ANSWER_CHARS),
                        "local_error": clip(texts[3], REASON_CHARS),
                        "local_model": e["local_model"],
                        "replayed": e["replay_id"] is not None,
                        "passed": e["passed"],
                        "checks": [
                            {"name": v["check_name"], "passed": v["passed"], "reason": clip(red(v["reason"]), REASON_CHARS)}
                            for v in e.get("verdicts", [])
                        ],
                    }
                )
        rows.append(
            {
                "category_id": cid,
                "name": clip(red(k.get("name") or c.get("name")), NAME_CHARS) or f"Category {cid}",
                "is_other": is_other,
                "task_type": task_type,
                "task_type_label": LABELS[task_type] if task_type in LABELS else "Mixed" if is_other else "Other",
                "keywords": [clip(red(w), 40) for w in (c.get("keywords") or [])][:10],
                **_place_in_hierarchy(categories, cid, red),
                "requests": c.get("requests"),
                "share_of_requests": c.get("share_of_requests"),
                "share_of_spend": k.get("share_of_spend"),
                "stability": c.get("stability"),
                "boundaries_vary": boundaries_vary(c.get("stability")),
                "share_of_spend_refit": [c.get("share_of_spend_refit_low"), c.get("share_of_spend_refit_high")],
                "monthly_spend_usd": k.get("monthly_spend_usd"),
                "sample_monthly_spend_usd": k.get("sample_monthly_spend_usd"),
                "sample_requests": k.get("sample_requests"),
                "monthly_requests": k.get("monthly_requests"),
                "objective_checks": k.get("objective_checks") or [],
                "n": k.get("n"),
                "passed": k.get("passed"),
                "acceptance": k.get("acceptance"),
                "ci_low": k.get("ci_low"),
                "ci_high": k.get("ci_high"),
                "n_to_decide": a.get("n_to_decide"),
                "decision": decision,
                "decision_label": DECISION_LABELS[decision],
                "decision_reason": clip(red(a.get("decision_reason")), 400),
                **_verdict_basis(a, red),
                "monthly_savings_usd": k.get("monthly_savings_usd"),
                "monthly_savings_low_usd": k.get("monthly_savings_low_usd"),
                "monthly_savings_high_usd": k.get("monthly_savings_high_usd"),
                "local_output_ratio": k.get("local_output_ratio"),
                "criteria": [clip(red(x), REASON_CHARS) for x in _criteria(a)],
                "checks": _check_breakdown(a),
                "failure_reasons": [
                    {"check": r["check"], "reason": clip(red(r["reason"]), REASON_CHARS), "count": r["count"]}
                    for r in _failure_reasons(a)[:3]
                ],
                "examples": examples,
                "sensitive_share": s.get("sensitive_share"),
                "sensitive": bool(s.get("sensitive")),
                "privacy_kinds": list(s.get("kinds", {})),
            }
        )
    return rows


def _headline(cost: dict, top: list[dict], measured: bool, measured_with: dict, red) -> dict:
    """The headline: spend (scaled to the full traffic when the logs are a sample), what could move and save,
    payback, the potential at the target (not measured), decisions, and what the verdicts rest on."""
    scenarios = cost.get("scenarios", {})
    plan_scenario = cost.get("plan_scenario")
    framing = scenarios.get("framing", {})
    payback = cost.get("payback") or {}
    moved = (scenarios.get(plan_scenario) or {}).get("monthly_spend_moved_usd") if measured else None
    monthly_spend = cost.get("monthly_spend_usd")
    return {
        "window_days": cost.get("window_days"),
        "monthly_spend_usd": monthly_spend,
        **_sample_headline(cost),
        "acceptance_measured": measured,
        "plan_scenario": plan_scenario,
        "movable_monthly_spend_usd": moved,
        "movable_share_of_spend": moved / monthly_spend if moved is not None and monthly_spend else None,
        "monthly_savings_usd": cost.get("monthly_savings_usd") if measured else None,
        "monthly_savings_low_usd": cost.get("monthly_savings_low_usd") if measured else None,
        "monthly_savings_high_usd": cost.get("monthly_savings_high_usd") if measured else None,
        "ceiling_monthly_savings_usd": (scenarios.get("ceiling") or {}).get("monthly_savings_usd"),
        **_potential_headline(cost, red),
        "hardware": payback.get("hardware") or cost.get("selected_hardware"),
        "boxes_needed": payback.get("boxes"),
        "payback_months": payback.get("payback_months"),
        "payback_basis": "recommended plan" if measured else "all-local ceiling",
        "top_categories": framing.get("top_categories", len(top)),
        "measured_categories": framing.get("measured"),
        "acceptable_categories": framing.get("acceptable") if measured else None,
        "acceptable_spend_share": framing.get("acceptable_spend_share") if measured else None,
        "decisions": _decision_counts(top),
        "framing": red(framing.get("sentence")),
        "undecided_monthly_spend_usd": cost.get("undecided_monthly_spend_usd"),
        "replayed_model": measured_with["replayed_model"],
        "stand_in": measured_with["stand_in"],
        "measured": measured_with,
        "measured_sentence": red(measured_with["sentence"]),
    }


def _sample_headline(cost: dict) -> dict:
    """What the spend is scaled from when the logs are a sample, and the logs' own monthly spend beside it."""
    from .sampling import short_note

    sampling = cost.get("sampling") or {}
    sampled = bool(sampling.get("sampled"))
    return {
        "sampled": sampled,
        "sample_note": short_note(sampling),
        "sample_sentence": sampling.get("sentence"),
        "sample_monthly_spend_usd": cost.get("sample_monthly_spend_usd") if sampled else None,
        "monthly_spend_low_usd": cost.get("monthly_spend_low_usd") if sampled else None,
        "monthly_spend_high_usd": cost.get("monthly_spend_high_usd") if sampled else None,
    }


def _potential_headline(cost: dict, red) -> dict:
    """The ceiling at the acceptance target for the categories with objective checks: a potential, not measured."""
    p = cost.get("potential") or {}
    return {
        "potential_label": p.get("label"),
        "potential_monthly_savings_usd": p.get("monthly_savings_usd"),
        "potential_monthly_spend_usd": p.get("monthly_spend_moved_usd") if p.get("categories") else None,
        "potential_categories": len(p.get("categories") or []),
        "potential_acceptance": p.get("acceptance_assumed"),
        "potential_hardware": p.get("hardware"),
        "potential_boxes_needed": p.get("boxes_needed"),
        "potential_payback_months": p.get("payback_months"),
        "potential_sentence": red(p.get("sentence")),
    }


def _decision_counts(top: list[dict]) -> dict[str, int]:
    counts = {d: sum(r["decision"] == d for r in top) for d in dv.DECISIONS}
    counts["unmeasured"] = counts[dv.NOT_MEASURED]  # the name this key had before not_measured; kept for readers
    return counts


def _verdict_basis(row: dict, red) -> dict:
    """What a category's verdict rests on, shown wherever its acceptance is: evidence, failed calls left out,
    the fallback steps its requests needed, and the answers the output-token cap cut short."""
    errors = _loads(row.get("errors_json"), {}) or {}
    downgrades = _loads(row.get("downgrades_json"), {}) or {}
    from .fallbacks import describe

    from .judge import evidence_label, stored_evidence

    kind, counts = stored_evidence(row) if row else (None, {})
    return {
        "evidence": kind,
        "evidence_label": evidence_label(kind or "none", counts, _loads(row.get("checks_json"), {}) or {},
                                         row.get("judge_model"), bool(row.get("self_judged"))) if row else None,
        "self_judged": bool(row.get("self_judged")),
        "answers": row.get("answers"),
        "errors": {**{k: errors.get(k, 0) for k in ("calls", "transient", "deterministic")},
                   "kinds": dict(errors.get("kinds") or {}),
                   "example": clip(red(errors.get("example")), REASON_CHARS)},
        "downgrades": [{"step": k, "description": describe(k), "calls": v} for k, v in sorted(downgrades.items())],
        "cut_short": row.get("cut_short"),  # answers the replay's output-token cap stopped; None: judged before m015
    }


def _redact_strings(value, red):
    if isinstance(value, dict):
        return {k: _redact_strings(v, red) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_strings(v, red) for v in value]
    if isinstance(value, str):
        return red(value)
    return value


def _payback_chart(cost: dict) -> dict | None:
    """Cumulative savings (net of running costs) month by month against the hardware outlay, with the
    savings interval as a band. When the plan moves nothing, the potential's curve (``basis`` "potential": not
    measured, no band); None when neither has a box to pay back or anything saved."""
    payback = cost.get("payback") or {}
    curve = payback.get("curve") or []
    low, high = cost.get("monthly_savings_low_usd"), cost.get("monthly_savings_high_usd")
    basis = "plan"
    if not curve or not any(p["savings_usd"] or p["hardware_usd"] for p in curve):
        potential = cost.get("potential") or {}
        curve = potential.get("curve") or []
        if not curve:
            return None  # no box to pay back and nothing saved: no chart (charts.py leaves it out)
        basis, low, high = "potential", None, None
        payback = {"hardware": potential.get("hardware"), "scenario": "potential", "boxes": potential.get("boxes_needed"),
                   "payback_months": potential.get("payback_months"), "monthly_savings_usd": potential.get("monthly_savings_usd"),
                   "upfront_usd": potential.get("upfront_usd"), "cumulative_net_usd": None}
    months = [p["month"] for p in curve]
    return {
        "basis": basis,
        "hardware": payback.get("hardware"),
        "scenario": payback.get("scenario"),
        "boxes": payback.get("boxes"),
        "months": months,
        "cumulative_savings_usd": [p["savings_usd"] for p in curve],
        "hardware_outlay_usd": [p["hardware_usd"] for p in curve],
        "cumulative_savings_low_usd": [low * m for m in months] if low is not None else None,
        "cumulative_savings_high_usd": [high * m for m in months] if high is not None else None,
        "payback_months": payback.get("payback_months"),
        "monthly_net_savings_usd": payback.get("monthly_savings_usd"),
        "upfront_usd": payback.get("upfront_usd"),
        "cumulative_net_usd": payback.get("cumulative_net_usd"),
    }


def _capacity_chart(cost: dict) -> dict | None:
    cap = cost.get("capacity") or {}
    if not cap.get("boxes_needed") or not cap.get("peak_hour"):
        return None
    per_s = cap.get("box_output_tokens_per_s")
    queue = cap.get("queue") or {}
    return {
        "hardware": cap.get("hardware"),
        "scenario": cap.get("scenario"),
        "percentile": cap.get("percentile"),
        "boxes": cap.get("boxes_needed"),
        "box_output_tokens_per_hour": per_s * 3600 if per_s else None,
        "peak_hour": cap.get("peak_hour"),
        "max_hour": cap.get("max_hour"),
        "utilisation_at_peak": cap.get("utilisation_at_peak"),
        "mean_wait_s": queue.get("mean_wait_s"),
        "p_wait": queue.get("p_wait"),
        "stable": queue.get("stable"),
        "hour_of_day": cap.get("hour_of_day") or [],
    }


def _hardware_section(cost: dict) -> dict:
    keys = (
        "name", "description", "price_usd", "boxes_needed", "fits", "upfront_usd", "payback_months", "pays_back_within_life",
        "monthly_savings_usd", "monthly_electricity_usd", "monthly_fixed_costs_usd", "output_tokens_per_s",
        "throughput_source", "prompt_tokens_per_s", "load_watts", "idle_watts", "useful_life_months",
        "maintenance_usd_per_month", "utilisation_at_peak", "mean_wait_at_peak_s", "basis", "selected",
    )
    return {
        "selected": cost.get("selected_hardware"),
        "plan_scenario": cost.get("plan_scenario"),
        "profiles": [{k: p.get(k) for k in keys} for p in cost.get("hardware", [])],
        "electricity_usd_per_kwh": cost.get("electricity_usd_per_kwh"),
        "measured_throughput": cost.get("measured_throughput"),
        "sensitivity": cost.get("sensitivity", []),
        "assumptions": cost.get("assumptions", []),
    }


def _methodology(con, cost: dict, categorize: CategorizeSettings) -> dict:
    run = one(con, "select params_json, summary_json from stage_runs where stage = 'categorize' order by finished_at desc limit 1")
    params = _loads(run[0], {}) if run else {}
    summary = _loads(run[1], {}) if run else {}
    k = embedder = None
    if _count(con, "categories"):
        k, embedder = aggregate(con, "select max(k), max(embedder) from categories")
    thresholds: dict = {}
    if _count(con, "category_acceptance"):
        thresholds = _loads(scalar(con, "select any_value(thresholds_json) from category_acceptance"), {}) or {}
    return {
        "embedder": embedder or summary.get("embedder") or params.get("embedder"),
        "k": k or summary.get("k") or params.get("k"),
        "top": params["top"] if params.get("top") is not None else categorize.top,
        "acceptance_target": cost.get("acceptance_target"),
        "thresholds": thresholds,
        "interval": "95% Wilson score interval",
        "window_days": cost.get("window_days"),
        "month_days": cost.get("month_days", 30),
        "electricity_usd_per_kwh": cost.get("electricity_usd_per_kwh"),
        "peak_percentile": (cost.get("capacity") or {}).get("percentile"),
        "horizon_months": len((cost.get("payback") or {}).get("curve") or []) - 1 if (cost.get("payback") or {}).get("curve") else 36,
        "pricing": cost.get("pricing"),
        "sampling": (cost.get("sampling") or {}).get("sentence"),
    }


# ---------------------------------------------------------------------------------------------------------
# Rendering.


def _fmt_usd(value, *, signed: bool = False) -> str:
    number = _num(value)
    if number is None:
        return "unknown"  # a figure no request with a known cost stands behind: never shown as $0
    sign = "−" if number < 0 else ("+" if signed and number > 0 else "")
    number = abs(number)
    if number == 0:
        return "$0"
    if number < 0.01:
        return f"{sign}<$0.01"
    if number < 10:
        return f"{sign}${number:,.2f}"
    return f"{sign}${number:,.0f}"


def _fmt_pct(value, digits: int = 0) -> str:
    number = _num(value)
    if number is None:
        return "–"
    if 0 < number * 100 < 0.5 and digits == 0:
        return "<1%"
    return f"{number * 100:.{digits}f}%"


def _fmt_months(value) -> str:
    number = _num(value)
    if number is None:
        return "never"
    if number < 0.95:
        return "under a month"
    return f"{number:.1f} months"


def _fmt_int(value) -> str:
    number = _num(value)
    return "–" if number is None else f"{number:,.0f}"


def _alt_safe(text) -> str:
    # css-inline re-serialises attribute values escaping only & and ", so keep angle brackets out of alt text.
    return str(text or "").replace("<", "‹").replace(">", "›")


def _fmt_acceptance(row: dict) -> str:
    if row.get("acceptance") is None:
        return "not measured"
    return f"{_fmt_pct(row['acceptance'])} ({_fmt_pct(row['ci_low'])}–{_fmt_pct(row['ci_high'])}), n={row['n']}"


FORMATTERS = {
    "usd": _fmt_usd,
    "pct": _fmt_pct,
    "months": _fmt_months,
    "int": _fmt_int,
    "acceptance": _fmt_acceptance,
    "alt_safe": _alt_safe,
}


def _environment(*, html: bool):
    import jinja2

    if not TEMPLATES_DIR.is_dir():
        raise PlanError(f"Report templates are missing from {TEMPLATES_DIR}; reinstall plan from its repository.")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FORMATTERS)
    env.globals.update(decision_labels=DECISION_LABELS, decision_hints=DECISION_HINTS)
    return env


def chart_sources(context: dict, *, mode: str = "inline") -> tuple[dict[str, str], dict[str, bytes]]:
    """Render the charts and say how the HTML refers to each: a data: URI (saved file) or cid: (email)."""
    from .charts import render_charts

    images = render_charts(context)
    if mode == "inline":
        sources = {name: "data:image/png;base64," + base64.b64encode(png).decode("ascii") for name, png in images.items()}
    elif mode == "cid":
        sources = {name: f"cid:{name}@plan.report" for name in images}
    else:
        raise ValueError(f"unknown image mode {mode!r}")
    return sources, images


def render_html(context: dict, *, images: dict[str, str] | None = None) -> str:
    """The email-safe HTML page. ``images`` maps chart name to its src; by default the charts are rendered
    and inlined as data: URIs so the saved file stands alone."""
    import css_inline

    context = _through_gate(context)
    if images is None:
        images, _ = chart_sources(context, mode="inline")
    html = _environment(html=True).get_template("report.html").render(ctx=context, images=images)
    # Mail clients drop <style> blocks; media queries stay in one for the clients that keep it.
    return css_inline.CSSInliner(keep_style_tags=False, keep_at_rules=True).inline(html)


def render_text(context: dict) -> str:
    """The plain-text alternative: the same numbers, readable in any mail client."""
    return _environment(html=False).get_template("report.txt").render(ctx=_through_gate(context))


def _through_gate(context: dict) -> dict:
    """Where the context becomes a page: the output gate, whatever the content builders already did (an
    unredacted context, for a local file only, still loses its terminal control characters)."""
    from .output import gate

    return gate(context, redact=bool(context.get("redacted", True)), limit=None)


def save_html(html: str, out: str | os.PathLike, *, private: bool = False) -> Path:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if private:
        # Unredacted prompts: owner-only, like the database they came from.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.chmod(path, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(html)
    else:
        path.write_text(html, encoding="utf-8")
    return path
