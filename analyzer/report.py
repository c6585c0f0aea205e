"""The decision report: one context builder that every output renders from.

``build_context`` gathers everything the report shows into one JSON-safe dict: the headline, the
recommendation table (the article's table on the user's own data), chart series, per-category evidence,
privacy findings, hardware assumptions, methodology and provenance. ``render_html`` and ``render_text``
only format that dict, ``plan report --json`` prints it, and the email sends it, so no two outputs can
disagree about a number.

All text that comes from logs (prompts, answers, category names, keywords, check reasons) is redacted with
``analyzer.privacy.redact`` before it enters the context, and then truncated; the templates escape it.
"""

from __future__ import annotations

import base64
import datetime as dt
import inspect
import json
import math
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from .db import dicts, one, scalar, table_exists
from .errors import PlanError

REPORT_VERSION = 1
TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "reports" / "templates"

LOCAL_DECISIONS = ("local", "cascade", "local-for-compliance")
DECISION_LABELS = {
    "local": "Local",
    "cascade": "Cascade",
    "frontier": "Frontier",
    "local-for-compliance": "Local for compliance",
    "unmeasured": "Not measured",
}
DECISION_HINTS = {
    "local": "Move it: the acceptance interval's lower bound clears the target.",
    "cascade": "Run local first; an objective check catches failures, which fall back to the frontier model.",
    "frontier": "Keep it on the frontier API: acceptance is too low or too uncertain.",
    "local-for-compliance": "Run it locally because of the sensitive data it carries (or send it to legal review).",
    "unmeasured": "Acceptance not measured yet: run plan replay.",
}

PROMPT_CHARS = 600
ANSWER_CHARS = 700
MAX_LINES = 24
NAME_CHARS = 80
REASON_CHARS = 160
EXAMPLES_PER_CATEGORY = 3
PAYBACK_HORIZON_MONTHS = 36

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


def _redactor(enabled: bool) -> Callable[[str | None], str | None]:
    if not enabled:
        return lambda text: text
    try:
        from .privacy import redact
    except ImportError as exc:  # pragma: no cover - privacy ships with the package
        raise PlanError("Cannot redact log text: analyzer.privacy is missing. Reinstall plan.") from exc
    return redact


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
    """The first of several key spellings present in a dict (the cost model's output grows over time)."""
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


def _call_stage(fn, con, config, progress):
    params = inspect.signature(fn).parameters
    kwargs = {}
    if "config" in params:
        kwargs["config"] = config
    if "progress" in params and progress is not None:
        kwargs["progress"] = progress
    return fn(con, **kwargs)


def stage_plan(con) -> dict[str, str | None]:
    """Why each stage needs to run now (a sentence), or None when it is up to date."""
    reasons: dict[str, str | None] = {"privacy": None, "categorize": None, "replay": None, "judge": None}
    if _count(con, "privacy_scans") < _count(con, "requests"):
        reasons["privacy"] = "some requests have not been scanned for sensitive data"
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


def ensure_stages(con, *, config: dict | None = None, progress=None, say: Callable[[str], None] | None = None) -> list[dict]:
    """Bring privacy scan, categorize and judge up to date; returns what was done and why."""
    say = say or (lambda message: None)
    plan = stage_plan(con)
    actions = []

    def run(stage: str, module: str, function: str):
        reason = plan[stage]
        try:
            mod = __import__(f"analyzer.{module}", fromlist=[function])
            fn = getattr(mod, function)
        except (ImportError, AttributeError):
            actions.append({"stage": stage, "action": "unavailable", "reason": f"{reason}; this installation has no analyzer.{module}"})
            return
        say(f"Running {stage}: {reason}.")
        _call_stage(fn, con, config, progress)
        actions.append({"stage": stage, "action": "ran", "reason": reason})

    if plan["privacy"]:
        try:
            from .privacy import scan_requests
        except ImportError:
            actions.append({"stage": "privacy", "action": "unavailable", "reason": plan["privacy"]})
        else:
            say(f"Scanning for sensitive data: {plan['privacy']}.")
            scan_requests(con, progress=progress)
            actions.append({"stage": "privacy", "action": "ran", "reason": plan["privacy"]})
    if plan["categorize"]:
        run("categorize", "categorize", "categorize")
    if plan["replay"]:
        actions.append({"stage": "replay", "action": "missing", "reason": plan["replay"]})
    elif plan["judge"]:
        run("judge", "judge", "judge")
    return actions


# ---------------------------------------------------------------------------------------------------------
# Reading what the stages stored.


def _categories(con) -> list[dict]:
    if not table_exists(con, "categories"):
        return []
    return dicts(
        con,
        """
        select * from categories
        order by coalesce(is_other, false), spend_rank nulls last, spend_usd desc nulls last, category_id
        """,
    )


def _acceptance(con) -> dict[int, dict]:
    if not table_exists(con, "category_acceptance"):
        return {}
    return {r["category_id"]: r for r in dicts(con, "select * from category_acceptance")}


def _check_breakdown(con) -> dict[int, list[dict]]:
    """Per category and check: how many replays it judged and passed (human verdicts included)."""
    if not _count(con, "judgments"):
        return {}
    out: dict[int, list[dict]] = {}
    for r in dicts(
        con,
        """
        select rc.category_id, j.check_name, count(*) as n, count(*) filter (where j.passed) as passed
        from judgments j join request_categories rc on rc.request_id = j.request_id
        group by 1, 2 order by 1, 2
        """,
    ):
        out.setdefault(r["category_id"], []).append(
            {"name": r["check_name"], "n": r["n"], "passed": r["passed"], "rate": r["passed"] / r["n"] if r["n"] else None}
        )
    return out


def _failure_reasons_from_judgments(con) -> dict[int, list[dict]]:
    if not _count(con, "judgments"):
        return {}
    out: dict[int, list[dict]] = {}
    for r in dicts(
        con,
        """
        select category_id, check_name, reason, n from (
            select rc.category_id, j.check_name, coalesce(j.reason, '') as reason, count(*) as n,
                   row_number() over (partition by rc.category_id order by count(*) desc, j.check_name, coalesce(j.reason, '')) as rank
            from judgments j join request_categories rc on rc.request_id = j.request_id
            where not j.passed
            group by 1, 2, 3
        ) where rank <= 3 order by category_id, rank
        """,
    ):
        out.setdefault(r["category_id"], []).append({"check": r["check_name"], "reason": r["reason"], "count": r["n"]})
    return out


def _parse_failure_reasons(value) -> list[dict] | None:
    """The judge's own aggregated reasons, in whichever shape it stored them."""
    parsed = _loads(value, None)
    if not parsed:
        return None
    out = []
    if isinstance(parsed, dict):
        parsed = [{"reason": k, "count": v} for k, v in parsed.items()]
    for item in parsed:
        if isinstance(item, str):
            out.append({"check": None, "reason": item, "count": None})
        elif isinstance(item, (list, tuple)) and item:
            out.append({"check": None, "reason": str(item[0]), "count": item[1] if len(item) > 1 else None})
        elif isinstance(item, dict):
            out.append(
                {
                    "check": _first(item, "check", "check_name"),
                    "reason": str(_first(item, "reason", "message", "text", default="")),
                    "count": _first(item, "count", "n"),
                }
            )
    return out or None


def _criteria(value) -> list[str]:
    parsed = _loads(value, None)
    if not parsed:
        return []
    if isinstance(parsed, dict):
        names = parsed.get("checks") if isinstance(parsed.get("checks"), list) else list(parsed)
    else:
        names = parsed
    out = []
    for item in names:
        if isinstance(item, dict):
            label = _first(item, "name", "check", "check_name", default="")
            args = {k: v for k, v in item.items() if k not in ("name", "check", "check_name")}
            out.append(f"{label} {json.dumps(args, sort_keys=True)}" if args else str(label))
        else:
            out.append(str(item))
    return out


def _keywords(value) -> list[str]:
    parsed = _loads(value, [])
    out = []
    for item in parsed if isinstance(parsed, list) else []:
        if isinstance(item, (list, tuple)) and item:
            out.append(str(item[0]))
        elif isinstance(item, dict):
            out.append(str(_first(item, "keyword", "word", "term", default="")))
        else:
            out.append(str(item))
    return [k for k in out if k]


def _examples(con, category_id: int, limit: int) -> list[dict]:
    """Representative requests (nearest the centre). When replays exist: the nearest failure, the nearest pass,
    then the next nearest, so the reader sees both what works and what breaks."""
    replayed = []
    if _count(con, "replays"):
        replayed = dicts(
            con,
            """
            with judged as (
                select replay_id, bool_and(passed) as passed, count(*) as checks from judgments group by 1
            )
            select rp.id as replay_id, r.id as request_id, r.prompt_text, r.response_text, rp.output_text, rp.error,
                   rp.model as local_model, j.passed, coalesce(j.checks, 0) as checks
            from replays rp
            join requests r on r.id = rp.request_id
            join request_categories rc on rc.request_id = r.id
            left join judged j on j.replay_id = rp.id
            where rc.category_id = ?
            order by (j.replay_id is null), rc.distance nulls last, r.id, rp.finished_at desc nulls last
            limit 200
            """,
            [category_id],
        )
    if replayed:
        seen, chosen = set(), []
        for want in (False, True, None):
            for row in replayed:
                if row["request_id"] in seen:
                    continue
                if want is None or row["passed"] is want:
                    chosen.append(row)
                    seen.add(row["request_id"])
                    break
        for row in replayed:
            if len(chosen) >= limit:
                break
            if row["request_id"] not in seen:
                chosen.append(row)
                seen.add(row["request_id"])
        chosen = chosen[:limit]
        verdicts: dict[int, list[dict]] = {}
        ids = [row["replay_id"] for row in chosen]
        if ids and _count(con, "judgments"):
            placeholders = ",".join("?" * len(ids))
            for v in dicts(
                con,
                f"select replay_id, check_name, passed, reason from judgments where replay_id in ({placeholders}) order by replay_id, check_name",
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
        select null as replay_id, r.id as request_id, r.prompt_text, r.response_text, null as output_text,
               null as error, null as local_model, null as passed, 0 as checks
        from request_categories rc join requests r on r.id = rc.request_id
        where rc.category_id = ? and r.prompt_text is not null
        order by rc.distance nulls last, r.id
        limit ?
        """,
        [category_id, limit],
    )


def _privacy(con, config, red) -> dict:
    from .config import setting

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
    total = _count(con, "requests")
    with_findings = scalar(con, "select count(distinct request_id) from privacy_findings") if kinds else 0
    threshold = None
    per_category = []
    try:
        from .privacy import DEFAULT_SENSITIVE_SHARE, category_sensitivity
    except ImportError:
        DEFAULT_SENSITIVE_SHARE, category_sensitivity = 0.05, None
    threshold = float(setting(config or {}, "privacy.threshold", DEFAULT_SENSITIVE_SHARE))
    if category_sensitivity is not None and _count(con, "categories"):
        per_category = category_sensitivity(con, threshold=threshold)
        for c in per_category:
            c["name"] = clip(red(c.get("name")), NAME_CHARS)
    return {
        "scanned_requests": scanned,
        "requests": total,
        "requests_with_findings": with_findings or 0,
        "share_with_findings": (with_findings or 0) / scanned if scanned else None,
        "kinds": [{"kind": k["kind"], "requests": k["requests"], "occurrences": int(k["occurrences"] or 0)} for k in kinds],
        "threshold": threshold,
        "categories": per_category,
        "sensitive_categories": [c["name"] for c in per_category if c.get("sensitive")],
    }


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _provenance(con, red, generated_at: str, actions: list[dict]) -> dict:
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
    recent_rejects = [
        {"file": r["file"], "line": r["line"], "reason": clip(red(r["reason"]), REASON_CHARS)} for r in s["rejects"]["recent"][:10]
    ]
    runs = dicts(
        con,
        """
        select stage, finished_at, params_json from (
            select *, row_number() over (partition by stage order by finished_at desc) as rank from stage_runs
        ) where rank = 1 order by finished_at
        """,
    )
    local_models = []
    if _count(con, "replays"):
        local_models = dicts(
            con,
            """
            select model, endpoint, count(*) as replays, count(*) filter (where error is null) as answered,
                   min(started_at) as first_at, max(finished_at) as last_at
            from replays group by 1, 2 order by replays desc
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
        "cost_sources": s["cost_sources"],
        "formats": s["formats"],
        "models": s["models"][:15],
        "files": files,
        "rejects": {"total": s["rejects"]["total"], "by_file": s["rejects"]["by_file"], "recent": recent_rejects},
        "stage_runs": [
            {"stage": r["stage"], "finished_at": r["finished_at"], "params": _loads(r["params_json"], {})} for r in runs
        ],
        "report_actions": actions,
        "local_models": local_models,
        "versions": _versions(),
    }


# ---------------------------------------------------------------------------------------------------------
# The cost model, and what the report needs from it.


def _compute_cost(con, hardware, config) -> tuple[dict | None, str | None]:
    try:
        from .cost import cost_model
    except ImportError:
        return None, "The cost model (analyzer.cost) is not installed: savings and payback are not computed."
    return cost_model(con, hardware=hardware, config=config), None


def _window_days(con, cost) -> float | None:
    days = _num(_first(cost, "window_days"))
    if days:
        return days
    span = one(con, "select min(created_at), max(created_at) from requests")
    if not span or span[0] is None:
        return None
    seconds = (span[1] - span[0]).total_seconds()
    return max(seconds / 86400.0, 1.0)


def _chosen_hardware(cost: dict | None, hardware: str | None) -> dict | None:
    profiles = _first(cost, "hardware", default=[]) or []
    if not profiles:
        return None
    name = hardware or _first(cost, "chosen_hardware", "selected_hardware", "hardware_name", "hardware_profile")
    if isinstance(name, dict):
        name = name.get("name")
    if name:
        for p in profiles:
            if str(p.get("name", "")).lower() == str(name).lower():
                return p
    chosen = [p for p in profiles if p.get("chosen") or p.get("selected")]
    return chosen[0] if chosen else profiles[0]


def _payback_series(chosen: dict | None, savings: dict, horizon: int = PAYBACK_HORIZON_MONTHS) -> dict | None:
    """Cumulative savings net of running costs, month by month, against the up-front hardware cost."""
    if not chosen:
        return None
    boxes = _num(_first(chosen, "boxes_needed")) or 1
    upfront = _num(_first(chosen, "upfront_usd", "total_price_usd", "hardware_cost_usd"))
    if upfront is None:
        upfront = (_num(chosen.get("price_usd")) or 0.0) * boxes
    running = _num(_first(chosen, "monthly_running_cost_usd", "running_cost_usd_per_month", "monthly_local_cost_usd"))
    net = _num(_first(chosen, "monthly_net_savings_usd", "net_monthly_savings_usd"))
    gross = _num(savings.get("monthly_savings_usd"))
    if net is None and gross is not None and running is not None:
        net = gross - running
    payback = _num(chosen.get("payback_months"))
    if net is None and payback and upfront:
        net = upfront / payback
    if net is None:
        return None

    def line(monthly):
        return [round(monthly * m, 2) for m in range(horizon + 1)] if monthly is not None else None

    band_low = band_high = None
    if running is not None:
        low, high = _num(savings.get("monthly_savings_low_usd")), _num(savings.get("monthly_savings_high_usd"))
        band_low = line(low - running) if low is not None else None
        band_high = line(high - running) if high is not None else None
    return {
        "hardware": chosen.get("name"),
        "months": list(range(horizon + 1)),
        "cumulative_net_savings_usd": line(net),
        "cumulative_net_savings_low_usd": band_low,
        "cumulative_net_savings_high_usd": band_high,
        "hardware_cost_usd": round(upfront, 2),
        "monthly_net_savings_usd": round(net, 2),
        "payback_months": payback if payback is not None else (upfront / net if net > 0 else None),
    }


def _capacity(cost: dict | None, chosen: dict | None) -> dict | None:
    """Peak-hour demand of the traffic moved local against what the chosen box(es) can generate."""
    source = _first(chosen, "capacity") or _first(cost, "capacity") or chosen or {}
    if isinstance(source, dict) and chosen and isinstance(source.get(chosen.get("name")), dict):
        source = source[chosen.get("name")]
    demand = _num(_first(source, "peak_hour_output_tokens", "p95_hour_output_tokens", "peak_output_tokens_per_hour"))
    demand_per_s = _num(_first(source, "peak_output_tokens_per_s", "p95_output_tokens_per_s"))
    if demand is None and demand_per_s is not None:
        demand = demand_per_s * 3600
    per_box = _num(_first(source, "capacity_output_tokens_per_hour", "box_output_tokens_per_hour"))
    rate = _num(_first(source, "output_tokens_per_s", "throughput_tokens_per_s"))
    if rate is None and chosen:
        rate = _num(chosen.get("output_tokens_per_s"))
    if per_box is None and rate is not None:
        per_box = rate * 3600
    if demand is None or per_box is None:
        return None
    boxes = int(_num(_first(chosen, "boxes_needed")) or max(1, math.ceil(demand / per_box)) if per_box else 1)
    return {
        "hardware": chosen.get("name") if chosen else None,
        "peak_hour_output_tokens": round(demand),
        "box_output_tokens_per_hour": round(per_box),
        "boxes": boxes,
        "capacity_output_tokens_per_hour": round(per_box * boxes),
        "utilisation_at_peak": demand / (per_box * boxes) if per_box else None,
        "throughput_source": _first(chosen, "throughput_source", "output_tokens_per_s_source"),
        "queueing": _first(source, "queueing", "expected_wait_s", "queue_wait_s"),
    }


# ---------------------------------------------------------------------------------------------------------
# The context.


def build_context(
    con,
    *,
    hardware: str | None = None,
    config: dict | None = None,
    redact: bool = True,
    run_stages: bool = True,
    cost: dict | None = None,
    now: dt.datetime | None = None,
    progress=None,
    say: Callable[[str], None] | None = None,
) -> dict:
    """Everything the report shows, as plain JSON types. ``plan report --json`` prints exactly this."""
    from .config import setting
    from .task_types import LABELS

    config = config or {}
    if not _count(con, "requests"):
        raise PlanError("The database holds no requests. Run `plan ingest PATH` first (or pass --db).")
    red = _redactor(redact)
    generated_at = _iso(now or dt.datetime.now(dt.timezone.utc))
    actions = ensure_stages(con, config=config, progress=progress, say=say) if run_stages else []

    notices: list[str] = []
    cost_note = None
    if cost is None:
        cost, cost_note = _compute_cost(con, hardware, config)
    if cost_note:
        notices.append(cost_note)
    for a in actions:
        if a["action"] == "unavailable":
            notices.append(f"Stage {a['stage']} could not run ({a['reason']}).")

    categories = _categories(con)
    acceptance = _acceptance(con)
    measured = bool(acceptance) and _count(con, "replays") > 0
    checks = _check_breakdown(con)
    reasons_fallback = _failure_reasons_from_judgments(con)
    cost_categories = {c.get("category_id"): c for c in (_first(cost, "categories", default=[]) or [])}
    window_days = _window_days(con, cost)
    target = _num(_first(cost, "acceptance_target")) or float(setting(config, "judge.target", setting(config, "judge.acceptance_target", 0.8)))

    privacy = _privacy(con, config, red)
    sensitivity = {c["category_id"]: c for c in privacy["categories"]}

    rows = []
    for c in categories:
        cid = c["category_id"]
        a = acceptance.get(cid) or {}
        k = cost_categories.get(cid) or {}
        monthly_spend = _num(k.get("monthly_spend_usd"))
        if monthly_spend is None and window_days and c.get("spend_usd") is not None:
            monthly_spend = float(c["spend_usd"]) * 30.0 / window_days
        decision = k.get("decision") or a.get("decision") or ("unmeasured" if not a else None)
        if decision not in DECISION_LABELS:
            decision = decision or "unmeasured"
        failure_reasons = _parse_failure_reasons(a.get("failure_reasons_json")) or reasons_fallback.get(cid, [])
        examples = []
        if not c.get("is_other"):
            for e in _examples(con, cid, EXAMPLES_PER_CATEGORY):
                examples.append(
                    {
                        "request_id": e["request_id"],
                        "prompt": clip(red(e["prompt_text"]), PROMPT_CHARS),
                        "frontier": clip(red(e["response_text"]), ANSWER_CHARS),
                        "local": clip(red(e["output_text"]), ANSWER_CHARS),
                        "local_error": clip(red(e["error"]), REASON_CHARS),
                        "local_model": e["local_model"],
                        "replayed": e["replay_id"] is not None,
                        "passed": e["passed"],
                        "checks": [
                            {"name": v["check_name"], "passed": v["passed"], "reason": clip(red(v["reason"]), REASON_CHARS)}
                            for v in e.get("verdicts", [])
                        ],
                    }
                )
        s = sensitivity.get(cid, {})
        rows.append(
            {
                "category_id": cid,
                "name": clip(red(c["name"]), NAME_CHARS) or f"Category {cid}",
                "is_other": bool(c.get("is_other")),
                "task_type": c.get("task_type"),
                "task_type_label": LABELS.get(c.get("task_type"), c.get("task_type") or "Other"),
                "keywords": [clip(red(w), 40) for w in _keywords(c.get("keywords_json"))][:10],
                "requests": c.get("requests"),
                "share_of_requests": c.get("share_of_requests"),
                "share_of_spend": c.get("share_of_spend"),
                "spend_usd": c.get("spend_usd"),
                "monthly_spend_usd": monthly_spend,
                "monthly_requests": _num(k.get("monthly_requests")) or (c["requests"] * 30.0 / window_days if window_days and c.get("requests") else None),
                "n": a.get("n"),
                "passed": a.get("passed"),
                "acceptance": a.get("acceptance"),
                "ci_low": a.get("ci_low"),
                "ci_high": a.get("ci_high"),
                "decision": decision,
                "decision_label": DECISION_LABELS.get(decision, decision),
                "decision_reason": clip(red(_first(k, "decision_reason", "reason") or _first(a, "decision_reason")), REASON_CHARS),
                "monthly_savings_usd": _num(k.get("monthly_savings_usd")),
                "monthly_savings_low_usd": _num(k.get("monthly_savings_low_usd")),
                "monthly_savings_high_usd": _num(k.get("monthly_savings_high_usd")),
                "criteria": [clip(red(x), REASON_CHARS) for x in _criteria(a.get("criteria_json"))],
                "checks": checks.get(cid, []),
                "failure_reasons": [
                    {"check": r.get("check"), "reason": clip(red(r.get("reason")), REASON_CHARS), "count": r.get("count")}
                    for r in failure_reasons[:3]
                ],
                "examples": examples,
                "sensitive_share": s.get("sensitive_share"),
                "sensitive": bool(s.get("sensitive")),
                "privacy_kinds": sorted(s.get("kinds", {}), key=lambda kind: -s["kinds"][kind]["requests"]) if s else [],
            }
        )
    top = [r for r in rows if not r["is_other"]]
    other = next((r for r in rows if r["is_other"]), None)

    scenarios = _first(cost, "scenarios", default={}) or {}
    ceiling = scenarios.get("ceiling") or {}
    monthly_spend = _num(_first(cost, "monthly_spend_usd"))
    if monthly_spend is None and window_days:
        monthly_spend = float(scalar(con, "select coalesce(sum(cost_usd), 0) from requests")) * 30.0 / window_days
    movable = [r for r in top if r["decision"] in LOCAL_DECISIONS]
    acceptable = [r for r in top if r["decision"] in ("local", "cascade")]
    plan_savings = _plan_savings(top, scenarios) if measured else None
    chosen = _chosen_hardware(cost, hardware)
    basis = plan_savings or {"monthly_savings_usd": _num(ceiling.get("monthly_savings_usd"))}
    payback = _payback_series(chosen, basis)
    headline = {
        "window_days": window_days,
        "monthly_spend_usd": monthly_spend,
        "acceptance_measured": measured,
        "movable_monthly_spend_usd": sum(r["monthly_spend_usd"] or 0 for r in movable) if measured else None,
        "movable_share_of_spend": (sum(r["monthly_spend_usd"] or 0 for r in movable) / monthly_spend) if measured and monthly_spend else None,
        "monthly_savings_usd": plan_savings["monthly_savings_usd"] if plan_savings else None,
        "monthly_savings_low_usd": plan_savings["monthly_savings_low_usd"] if plan_savings else None,
        "monthly_savings_high_usd": plan_savings["monthly_savings_high_usd"] if plan_savings else None,
        "ceiling_monthly_savings_usd": _num(ceiling.get("monthly_savings_usd")),
        "ceiling_monthly_spend_usd": _num(_first(ceiling, "monthly_spend_usd", "moved_monthly_spend_usd")) or monthly_spend,
        "hardware": chosen.get("name") if chosen else None,
        "boxes_needed": _first(chosen, "boxes_needed"),
        "payback_months": _num(_first(chosen, "payback_months")),
        "payback_basis": "recommended plan" if plan_savings else "all-local ceiling",
        "top_categories": len(top),
        "acceptable_categories": len(acceptable) if measured else None,
        "local_categories": sum(r["decision"] == "local" for r in top),
        "cascade_categories": sum(r["decision"] == "cascade" for r in top),
        "compliance_categories": sum(r["decision"] == "local-for-compliance" for r in top),
        "frontier_categories": sum(r["decision"] == "frontier" for r in top),
        "measured_categories": sum(r["n"] is not None and (r["n"] or 0) > 0 for r in top),
    }
    if not measured:
        notices.insert(0, "Acceptance not yet measured: run plan replay. Savings below are the all-local ceiling, not a forecast.")

    context = {
        "report_version": REPORT_VERSION,
        "title": "Which LLM traffic could run locally",
        "generated_at": generated_at,
        "redacted": redact,
        "acceptance_measured": measured,
        "acceptance_target": target,
        "notices": notices,
        "headline": headline,
        "categories": top,
        "other": other,
        "charts": {
            "spend_by_category": [
                {"name": r["name"], "monthly_spend_usd": r["monthly_spend_usd"], "decision": r["decision"]} for r in rows
            ],
            "acceptance": [
                {"name": r["name"], "acceptance": r["acceptance"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "n": r["n"], "decision": r["decision"]}
                for r in top
                if r["acceptance"] is not None
            ],
            "payback": payback,
            "capacity": _capacity(cost, chosen),
            "target": target,
        },
        "privacy": privacy,
        "hardware": _hardware_section(cost, chosen),
        "methodology": _methodology(con, cost, config, target, window_days),
        "provenance": _provenance(con, red, generated_at, actions),
        # The cost model's own output, for readers of --json; its names come from logs, so redact every string.
        "cost": _redact_strings(jsonable(cost), red) if cost is not None else None,
    }
    return jsonable(context)


def _redact_strings(value, red):
    if isinstance(value, dict):
        return {k: _redact_strings(v, red) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_strings(v, red) for v in value]
    if isinstance(value, str):
        return red(value)
    return value


def _plan_savings(top: list[dict], scenarios: dict) -> dict | None:
    """Savings of the recommended plan: each category as its decision says. The cost model's own total
    (with the interval it propagated) wins when it gives one; otherwise the per-category figures are summed."""
    for key in ("plan", "recommended", "decisions"):
        total = scenarios.get(key)
        if isinstance(total, dict) and _num(total.get("monthly_savings_usd")) is not None:
            return {
                "monthly_savings_usd": _num(total["monthly_savings_usd"]),
                "monthly_savings_low_usd": _num(total.get("monthly_savings_low_usd")),
                "monthly_savings_high_usd": _num(total.get("monthly_savings_high_usd")),
                "source": key,
            }
    values = [r for r in top if r["monthly_savings_usd"] is not None]
    if not values:
        return None
    return {
        "monthly_savings_usd": sum(r["monthly_savings_usd"] for r in values),
        "monthly_savings_low_usd": sum(r["monthly_savings_low_usd"] if r["monthly_savings_low_usd"] is not None else r["monthly_savings_usd"] for r in values),
        "monthly_savings_high_usd": sum(r["monthly_savings_high_usd"] if r["monthly_savings_high_usd"] is not None else r["monthly_savings_usd"] for r in values),
        "source": "categories",
    }


def _hardware_section(cost: dict | None, chosen: dict | None) -> dict:
    profiles = []
    for p in _first(cost, "hardware", default=[]) or []:
        profiles.append(
            {
                "name": p.get("name"),
                "description": _first(p, "description"),
                "price_usd": _num(p.get("price_usd")),
                "boxes_needed": p.get("boxes_needed"),
                "output_tokens_per_s": _num(_first(p, "output_tokens_per_s")),
                "throughput_source": _first(p, "throughput_source", "output_tokens_per_s_source"),
                "load_watts": _num(_first(p, "load_watts")),
                "idle_watts": _num(_first(p, "idle_watts")),
                "useful_life_months": _first(p, "useful_life_months"),
                "monthly_running_cost_usd": _num(_first(p, "monthly_running_cost_usd", "running_cost_usd_per_month", "monthly_local_cost_usd")),
                "payback_months": _num(p.get("payback_months")),
                "chosen": bool(chosen) and p.get("name") == chosen.get("name"),
                "basis": _first(p, "basis"),
            }
        )
    return {
        "chosen": chosen.get("name") if chosen else None,
        "profiles": profiles,
        "electricity_usd_per_kwh": _num(_first(cost, "electricity_usd_per_kwh", "electricity_price_usd_per_kwh")),
    }


def _methodology(con, cost, config, target, window_days) -> dict:
    from .config import setting

    categorize_run = one(
        con, "select params_json, summary_json from stage_runs where stage = 'categorize' order by finished_at desc limit 1"
    )
    params = _loads(categorize_run[0], {}) if categorize_run else {}
    summary = _loads(categorize_run[1], {}) if categorize_run else {}
    k = scalar(con, "select max(k) from categories") if table_exists(con, "categories") else None
    embedder = scalar(con, "select max(embedder) from categories") if table_exists(con, "categories") else None
    return {
        "embedder": embedder or params.get("embedder"),
        "k": k or summary.get("k") or params.get("k"),
        "top": params.get("top") or setting(config, "categorize.top", 10),
        "acceptance_target": target,
        "interval": "95% Wilson score interval",
        "window_days": window_days,
        "month_days": 30,
        "electricity_usd_per_kwh": _num(_first(cost, "electricity_usd_per_kwh", "electricity_price_usd_per_kwh")),
        "peak": "p95 hour of the moved categories' output tokens",
        "horizon_months": PAYBACK_HORIZON_MONTHS,
    }


# ---------------------------------------------------------------------------------------------------------
# Rendering.


def _fmt_usd(value, *, signed: bool = False) -> str:
    number = _num(value)
    if number is None:
        return "–"
    sign = "−" if number < 0 else ("+" if signed and number > 0 else "")
    number = abs(number)
    if number == 0:
        return "$0"
    if number < 0.01:
        return f"{sign}<$0.01"
    if number < 100:
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

    if images is None:
        images, _ = chart_sources(context, mode="inline")
    html = _environment(html=True).get_template("report.html").render(ctx=context, images=images)
    # Mail clients drop <style> blocks; media queries stay in one for the clients that keep it.
    return css_inline.CSSInliner(keep_style_tags=False, keep_at_rules=True).inline(html)


def render_text(context: dict) -> str:
    """The plain-text alternative: the same numbers, readable in any mail client."""
    return _environment(html=False).get_template("report.txt").render(ctx=context)


def write_report(
    con,
    out: str | os.PathLike,
    *,
    hardware: str | None = None,
    config: dict | None = None,
    redact: bool = True,
    progress=None,
    say=None,
) -> tuple[dict, str]:
    """Build the context, render the HTML with inline charts and write it. Returns (context, html)."""
    context = build_context(con, hardware=hardware, config=config, redact=redact, progress=progress, say=say)
    html = render_html(context)
    save_html(html, out, private=not redact)
    return context, html


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
