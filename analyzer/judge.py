"""Judge: turn replays into per-category acceptance rates with 95% Wilson intervals and a decision.

Entry point :func:`judge`. It reads ``replays`` (the local answers), ``requests`` (the prompt and the frontier
answer) and ``categories`` (name, task type), runs each category's checks on each replay, and replaces its own
outputs: ``judgments`` (one row per replay and check) and ``category_acceptance`` (one row per category).
Human verdicts from ``human_reviews`` (see :mod:`analyzer.review`) override the automatic ones.

A replay passes when every check that applies to it passes. A replay whose call failed counts as a failure
with that reason. Per category:

- ``local``: the interval's lower bound clears the target (default 0.8);
- ``cascade``: the local model is not good enough alone, but the failures are caught by checks that need no
  frontier answer (valid JSON, SQL that parses, ...), so local runs first and caught failures fall back to the
  frontier; chosen when the quality delivered that way has a lower bound that clears the target and the local
  model answers at least ``cascade_min_acceptance`` of the requests;
- ``frontier``: otherwise;
- ``local-for-compliance``: left to the privacy stage through :func:`compliance_hook`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from typing import Any, Callable

from . import task_types as tt
from .checks import Case, Check, Verdict, detect_form, make_check
from .config import setting
from .db import dicts, record_stage_run, rows
from .errors import PlanError
from .stats import samples_to_clear, wilson_interval, wilson_sample_size

DEFAULT_TARGET = 0.8
DEFAULT_MARGIN = 0.05
DEFAULT_CASCADE_MIN_ACCEPTANCE = 0.5
DECISIONS = ("local", "cascade", "frontier", "local-for-compliance")
TOP_REASONS = 5
EXAMPLE_FAILURES = 5

FORM_CHECKS = {
    "json": ["json_valid", "json_schema_match"],
    "sql": ["sql_parses"],
    "svg": ["svg_renders"],
    "code": ["code_compiles"],
}
# Category-level keys in plan.toml that are parameters of one check.
PARAM_ROUTES = {
    "pattern": "regex", "flags": "regex", "full": "regex",
    "text": "contains", "case_sensitive": "contains",
    "chars": "max_length", "words": "max_length", "ratio": "max_length",
    "max_chars": ("max_length", "chars"), "max_words": ("max_length", "words"),
    "schema": "json_schema_match", "strict": ("json_valid", "json_schema_match"),
    "dialect": "sql_parses", "language": "code_compiles",
    "threshold": "similarity", "embedder": "similarity", "rubric": "llm_judge",
}
CATEGORY_KEYS = {"checks", "add_checks"} | set(PARAM_ROUTES)


# ------------------------------------------------------------------------------------------------------------
# Settings


def thresholds_from(config: dict | None, target: float | None = None, margin: float | None = None,
                    cascade_min_acceptance: float | None = None) -> dict:
    """The decision thresholds: argument > plan.toml [judge] > default. Returned in the result for the report."""
    config = config or {}

    def pick(given, key, default):
        if key == "target" and setting(config, "judge.target") is None:
            default = setting(config, "judge.acceptance_target", default)  # the name plan cost also reads
        value = given if given is not None else setting(config, f"judge.{key}", default)
        try:
            value = float(value)
        except (TypeError, ValueError) as exc:
            raise PlanError(f"[judge] {key} must be a number between 0 and 1, not {value!r}.") from exc
        if not 0 < value < 1 and not (key == "cascade_min_acceptance" and value == 0):
            raise PlanError(f"[judge] {key} must be between 0 and 1 (a fraction), not {value}.")
        return value

    return {
        "target": pick(target, "target", DEFAULT_TARGET),
        "confidence": 0.95,
        "margin": pick(margin, "margin", DEFAULT_MARGIN),
        "cascade_min_acceptance": pick(cascade_min_acceptance, "cascade_min_acceptance", DEFAULT_CASCADE_MIN_ACCEPTANCE),
    }


def _norm_key(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value)).strip().casefold()


def category_config(config: dict | None, category_id: int, name: str | None) -> tuple[str | None, dict]:
    """The [judge.categories."<name or id>"] table for a category: (the key that matched, the table)."""
    tables = setting(config or {}, "judge.categories", {}) or {}
    for key, table in tables.items():
        if _norm_key(key) in (_norm_key(category_id), _norm_key(name or "")):
            if not isinstance(table, dict):
                raise PlanError(f'[judge.categories."{key}"] must be a table, e.g. checks = ["json_valid"].')
            return key, table
    return None, {}


# ------------------------------------------------------------------------------------------------------------
# Criteria


def default_criteria(task_type: str | None, frontiers: list[str | None], params: list[dict], llm_judge: bool) -> list:
    """Default checks from the task type; structured generation picks the check matching the frontier's form."""
    from .checks import _requested_json

    answers = [f for f in frontiers if f and f.strip()]
    forms_of = detect_form
    forms = Counter(detect_form(f) for f in answers)
    total = sum(forms.values()) or 1
    structured = [form for form, count in forms.most_common() if form in FORM_CHECKS and count >= 0.1 * total]

    def form_checks(forms_: list[str]) -> list:
        if len(forms_) == 1:
            return list(FORM_CHECKS[forms_[0]])
        return [{"name": name, "when": form} for form in forms_ for name in FORM_CHECKS[form]]

    if task_type == tt.STRUCTURED_GENERATION:
        specs = form_checks(structured) if structured else ["similarity"]
    elif task_type == tt.CLASSIFICATION:
        # A label is short; long frontier answers (a label with an explanation) are compared by meaning.
        short = sum(1 for a in answers if forms_of(a) == "json" or (len(a.strip()) <= 60 and "\n" not in a.strip()))
        specs = ["label_match"] if not answers or short >= 0.8 * len(answers) else ["similarity"]
    elif task_type == tt.CODE_FROM_SPEC:
        specs = ["code_compiles", "similarity"]
    elif task_type == tt.EXTRACTION:
        if forms.get("json", 0) >= 0.5 * total and answers:
            specs = list(FORM_CHECKS["json"])
        elif answers and sorted(len(a.strip()) for a in answers)[len(answers) // 2] <= 80 and all("\n" not in a.strip() for a in answers):
            specs = ["label_match"]
        else:
            specs = ["similarity"]
    elif task_type == tt.SUMMARIZATION:
        specs = ["similarity", {"name": "max_length", "ratio": 2.0}]
    else:
        specs = ["similarity"]
    asked_json = sum(1 for p in params if _requested_json(p))
    names = {s if isinstance(s, str) else s["name"] for s in specs}
    if params and asked_json >= 0.5 * len(params) and "json_valid" not in names and "label_match" not in names:
        specs = ["json_valid", *specs]
    if llm_judge and task_type not in (tt.STRUCTURED_GENERATION, tt.CLASSIFICATION):
        specs.append("llm_judge")
    return specs


def _spec_name(spec) -> str:
    return spec if isinstance(spec, str) else (spec.get("name") or spec.get("check") or "")


def build_checks(specs: list, table: dict, config: dict | None, llm_settings: dict | None) -> list[Check]:
    """Check objects from specs, with parameters from [judge.checks.<name>] (global), then the category table's
    keys (``dialect = "postgres"``), then the spec's own table (``{name = "regex", pattern = "..."}``)."""
    global_params = setting(config or {}, "judge.checks", {}) or {}
    routed: dict[str, dict] = defaultdict(dict)
    for key, value in table.items():
        if key in ("checks", "add_checks"):
            continue
        route = PARAM_ROUTES.get(key)
        if route is None:
            raise PlanError(f"Unknown key {key!r} in a [judge.categories] table; known: {', '.join(sorted(CATEGORY_KEYS))}.")
        if isinstance(route, tuple) and len(route) == 2 and route[1] in ("chars", "words"):
            routed[route[0]][route[1]] = value
        elif isinstance(route, tuple):
            for name in route:
                routed[name][key] = value
        else:
            routed[route][key] = value
    checks = []
    seen = set()
    for spec in specs:
        name = _spec_name(spec)
        if name == "llm_judge":
            if not llm_settings:
                raise PlanError("The llm_judge check needs a judge model: pass --judge-endpoint and --judge-model "
                                "(or set [judge] endpoint and model in plan.toml).")
        params = dict(global_params.get(name, {}) or {})
        params.update(routed.get(name, {}))
        if name == "llm_judge":
            params = {**llm_settings, **params}
        if isinstance(spec, dict):
            params.update({k: v for k, v in spec.items() if k not in ("name", "check")})
        check = make_check({"name": name, **params})
        key = (name, check.when)
        if key in seen:
            continue
        seen.add(key)
        checks.append(check)
    for check in checks:
        if check.name == "json_schema_match":
            check.defer_invalid = any(c.name == "json_valid" and c.when == check.when for c in checks)
    unused = [k for k, name in ((k, PARAM_ROUTES[k]) for k in table if k in PARAM_ROUTES)
              if not any(c.name in (name if isinstance(name, tuple) else (name,)) for c in checks)]
    if unused:
        raise PlanError(f"[judge.categories] gives {', '.join(unused)} but no listed check takes it; "
                        f"add the check to `checks` (listed: {', '.join(c.name for c in checks)}).")
    return checks


def resolve_criteria(config, category_id, name, task_type, cases, checks_override, llm_settings) -> tuple[list[Check], str]:
    """The checks for one category and where they came from: override | plan.toml | default."""
    key, table = category_config(config, category_id, name)
    override = None
    if isinstance(checks_override, dict):
        for k, v in checks_override.items():
            if _norm_key(k) in (_norm_key(category_id), _norm_key(name or "")):
                override = v
    elif checks_override:
        override = checks_override
    defaults = default_criteria(task_type, [c.frontier for c in cases], [c.params for c in cases], bool(llm_settings))
    if override is not None:
        specs, source = list(override), "override"
    elif "checks" in table:
        specs, source = list(table["checks"]), f'plan.toml [judge.categories."{key}"]'
    else:
        specs, source = defaults, "default for " + (task_type or "unknown task type")
    if table.get("add_checks"):
        specs = specs + list(table["add_checks"])
        if source.startswith("default"):
            source += f' + plan.toml [judge.categories."{key}"] add_checks'
    if not specs:
        raise PlanError(f"Category {name or category_id} has an empty check list; list at least one check.")
    return build_checks(specs, table, config, llm_settings), source


# ------------------------------------------------------------------------------------------------------------
# Loading replays


def _parse_json(text: str | None, default):
    if not text:
        return default
    try:
        value = json.loads(text)
    except ValueError:
        return default
    return value if isinstance(value, type(default)) else default


def replay_models(con) -> list[tuple[str, int]]:
    return [(r[0], r[1]) for r in rows(con, "select model, count(*) from replays group by model order by max(coalesce(finished_at, started_at)) desc nulls last, 2 desc")]


def load_cases(con, model: str) -> tuple[list[dict], dict]:
    """The replays of one model with their request and category. Returns (rows, counts of what was skipped)."""
    data = dicts(
        con,
        """
        select r.id as replay_id, r.request_id, coalesce(rc.category_id, r.category_id) as category_id,
               r.model, r.output_text, r.error, r.finish_reason,
               q.prompt_text, q.system_prompt, q.messages_json, q.params_json, q.response_text,
               c.name as category_name, c.task_type, c.spend_rank, c.is_other
        from replays r
        left join requests q on q.id = r.request_id
        left join request_categories rc on rc.request_id = r.request_id
        left join categories c on c.category_id = coalesce(rc.category_id, r.category_id)
        where r.model = ?
        order by r.id
        """,
        [model],
    )
    skipped = {"pending": 0, "uncategorised": 0, "missing_request": 0}
    kept = []
    for row in data:
        if row["output_text"] is None and not row["error"]:
            skipped["pending"] += 1
        elif row["category_id"] is None:
            skipped["uncategorised"] += 1
        elif row["prompt_text"] is None and row["response_text"] is None and row["messages_json"] is None:
            skipped["missing_request"] += 1
        else:
            kept.append(row)
    return kept, skipped


def case_from_row(row: dict) -> Case:
    return Case(
        prompt=row.get("prompt_text") or "",
        local=row.get("output_text"),
        frontier=row.get("response_text"),
        system_prompt=row.get("system_prompt"),
        messages=_parse_json(row.get("messages_json"), []) or None,
        params=_parse_json(row.get("params_json"), {}),
        task_type=row.get("task_type"),
        replay_id=row.get("replay_id"),
        request_id=row.get("request_id"),
        category_id=row.get("category_id"),
        error=row.get("error"),
    )


def output_sha256(text: str | None) -> str:
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------------------------------------
# Judging


def judge_llm_settings(config, judge_endpoint, judge_model, allow_remote) -> dict | None:
    """The judge model's endpoint (through the loopback gate) and name, or None when no judge was asked for."""
    import os

    endpoint = judge_endpoint or os.environ.get("PLAN_JUDGE_ENDPOINT") or setting(config or {}, "judge.endpoint")
    model = judge_model or os.environ.get("PLAN_JUDGE_MODEL") or setting(config or {}, "judge.model")
    if not endpoint:
        if judge_model:
            raise PlanError("--judge-model needs --judge-endpoint: the OpenAI-compatible URL that serves the judge model.")
        return None
    if not model:
        raise PlanError("--judge-endpoint needs --judge-model: the name of the model that judges (ideally not the "
                        "model being judged, which favours its own answers).")
    from .endpoints import ensure_local, normalize_endpoint

    allow_remote = bool(allow_remote or setting(config or {}, "judge.allow_remote", False))
    url = ensure_local(normalize_endpoint(str(endpoint)), allow_remote=allow_remote)
    out = {"endpoint": url, "model": str(model)}
    for key in ("concurrency", "timeout_s", "max_tokens"):
        value = setting(config or {}, f"judge.llm_judge.{key}")
        if value is not None:
            out[key] = value
    return out


def evaluate(case: Case, checks: list[Check]) -> tuple[list[tuple[str, Verdict, bool]], bool | None]:
    """Verdicts for one case and whether it passes overall (None: no check applied)."""
    if case.error:
        return [("replay", Verdict.fail(f"replay failed: {case.error}"), True)], False
    results = [(c.name if not c.when else f"{c.name}[{c.when}]", c.run(case), c.runtime) for c in checks]
    applicable = [v for _, v, _ in results if v.applicable]
    if not applicable:
        return results, None
    return results, all(v.passed for v in applicable)


def judge(
    con,
    *,
    config: dict | None = None,
    target: float | None = None,
    checks_override: list | dict | None = None,
    judge_endpoint: str | None = None,
    judge_model: str | None = None,
    allow_remote: bool = False,
    progress: bool = True,
    model: str | None = None,
    margin: float | None = None,
    cascade_min_acceptance: float | None = None,
) -> dict:
    """Judge every replay of one local model and summarise per category. Returns the ``plan judge --json`` payload.

    Example::

        from analyzer.db import connect
        from analyzer.judge import judge
        result = judge(connect("plan.duckdb"), target=0.9)
        for c in result["categories"]:
            print(c["name"], c["acceptance"], (c["ci_low"], c["ci_high"]), c["decision"])
    """
    from .db import scalar

    config = config or {}
    thresholds = thresholds_from(config, target, margin, cascade_min_acceptance)
    if not scalar(con, "select count(*) from replays"):
        raise PlanError("No replays to judge. Run `plan replay` first (it answers sampled requests with the local model).")
    models = replay_models(con)
    if model is None:
        model = models[0][0]
    elif model not in {m for m, _ in models}:
        raise PlanError(f"No replays from model {model!r}; the replays hold: {', '.join(m for m, _ in models)}.")
    llm_settings = judge_llm_settings(config, judge_endpoint, judge_model, allow_remote)
    started = rows(con, "select now()::timestamp")[0][0]

    data, skipped = load_cases(con, model)
    by_category: dict[int, list[dict]] = defaultdict(list)
    for row in data:
        by_category[row["category_id"]].append(row)

    warnings = []
    known = {_norm_key(r["category_id"]) for r in data} | {_norm_key(r["category_name"]) for r in data if r["category_name"]}
    for key in (setting(config, "judge.categories", {}) or {}):
        if _norm_key(key) not in known:
            warnings.append(f'[judge.categories."{key}"] matches no judged category (by name or id); it was not used.')

    judgments = []
    criteria: dict[int, dict] = {}
    total = len(data)
    from .progress import bar

    with bar(total, "judging", unit="replay") if progress else _NullBar() as pb:
        for category_id, group in by_category.items():
            first = group[0]
            cases = [case_from_row(r) for r in group]
            checks, source = resolve_criteria(config, category_id, first["category_name"], first["task_type"], cases,
                                              checks_override, llm_settings)
            criteria[category_id] = {"source": source, "checks": [c.describe() for c in checks]}
            live = [c for c in cases if not c.error]
            for check in checks:
                check.prepare([c for c in live if check.applies(c) is None])
            for case in cases:
                results, _ = evaluate(case, checks)
                for check_name, verdict, runtime in results:
                    judgments.append({
                        "replay_id": case.replay_id, "request_id": case.request_id, "category_id": category_id,
                        "model": model, "check_name": check_name,
                        "passed": verdict.passed if verdict.applicable else None,
                        "score": verdict.score, "reason": verdict.reason[:1000], "source": "auto",
                        "runtime_check": runtime,
                    })
                pb.update(1)

    con.execute("begin")
    try:
        con.execute("delete from judgments")
        _insert_judgments(con, judgments)
        categories = summarise(con, criteria=criteria, thresholds=thresholds, model=model)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise

    errors = sum(1 for j in judgments if j["check_name"] == "replay")
    result = {
        "model": model,
        "models_available": [m for m, _ in models],
        "target": thresholds["target"],
        "thresholds": thresholds,
        "judge": {"endpoint": llm_settings["endpoint"], "model": llm_settings["model"]} if llm_settings else None,
        "replays": {
            "judged": total,
            "errors": errors,
            "pending": skipped["pending"],
            "uncategorised": skipped["uncategorised"],
            "missing_request": skipped["missing_request"],
            "human_overrides": sum(c["human_reviewed"] for c in categories),
        },
        "categories": categories,
        "warnings": warnings,
    }
    record_stage_run(
        con, "judge",
        {"model": model, "thresholds": thresholds, "judge_model": llm_settings and llm_settings["model"],
         "checks_override": checks_override},
        {"categories": len(categories), "replays": total, "errors": errors,
         "decisions": dict(Counter(c["decision"] for c in categories))},
        started_at=started,
    )
    return result


class _NullBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        pass


def _insert_judgments(con, judgments: list[dict]) -> None:
    if not judgments:
        return
    import pyarrow as pa

    from .db import insert_arrow

    table = pa.Table.from_pylist(judgments, schema=pa.schema([
        ("replay_id", pa.int64()), ("request_id", pa.int64()), ("category_id", pa.int32()), ("model", pa.string()),
        ("check_name", pa.string()), ("passed", pa.bool_()), ("score", pa.float64()), ("reason", pa.string()),
        ("source", pa.string()), ("runtime_check", pa.bool_()),
    ]))
    insert_arrow(con, "judgments", table)


# ------------------------------------------------------------------------------------------------------------
# Summaries and decisions


def reason_key(reason: str) -> str:
    """Group failure reasons that differ only in positions, numbers or quoted text."""
    key = re.split(r"\.? Line \d+, Col", reason)[0]
    key = re.sub(r"\((?:line|at) [^)]*\)", "", key)
    key = re.sub(r"'[^']{41,}'|\"[^\"]{41,}\"", "'…'", key)
    key = re.sub(r"\d+(?:[.,]\d+)*%?", "N", key)
    return re.sub(r"\s+", " ", key).strip(" :;")[:160]


def compliance_hook() -> Callable | None:
    """The privacy stage's decision hook, when it defines one: ``analyzer.privacy.compliance_decision(con,
    category) -> (decision, reason) | None``; it sees the category summary and may return local-for-compliance."""
    try:
        from . import privacy
    except ImportError:
        return None
    return getattr(privacy, "compliance_decision", None)


def decide(summary: dict, thresholds: dict) -> tuple[str, str]:
    """local / cascade / frontier for one category summary (n, passed, ci_low, caught_failures, runtime_checks)."""
    n, passed = summary["n"], summary["passed"]
    target = thresholds["target"]
    if n == 0:
        return "frontier", "no judged replays: acceptance is unknown"
    low = summary["ci_low"]
    if low >= target:
        return "local", f"lower bound {low:.2f} of the 95% interval clears the target {target:.2f}"
    caught = summary["caught_failures"]
    failures = n - passed
    acceptance = passed / n
    delivered_low = wilson_interval(passed + caught, n)[0]
    if caught and acceptance >= thresholds["cascade_min_acceptance"] and delivered_low >= target:
        gates = ", ".join(summary["runtime_checks"]) or "failed calls"
        return "cascade", (
            f"lower bound {low:.2f} is under the target {target:.2f}, but {caught} of {failures} failures are caught "
            f"at run time ({gates}); with those sent to the frontier the quality's lower bound is {delivered_low:.2f}"
        )
    why = f"lower bound {low:.2f} of the 95% interval is under the target {target:.2f}"
    if acceptance > target and summary.get("n_to_decide"):
        why += (f" although the observed rate {acceptance:.2f} is above it: about {summary['n_to_decide']} replays "
                f"(now {n}) would show whether it holds")
    if failures and caught < failures:
        why += f"; {failures - caught} of {failures} failures would pass unnoticed (no runtime check catches them)"
    elif acceptance < thresholds["cascade_min_acceptance"]:
        why += f"; acceptance {acceptance:.2f} is under {thresholds['cascade_min_acceptance']:.2f}, too low to run local first"
    return "frontier", why


def summarise(con, *, criteria: dict | None = None, thresholds: dict | None = None, model: str | None = None,
              hook: Callable | None = None) -> list[dict]:
    """Recompute ``category_acceptance`` from ``judgments`` and ``human_reviews`` (human verdicts win).

    Called by :func:`judge` and after a review import. Criteria and thresholds default to the stored ones."""
    stored = {r["category_id"]: r for r in dicts(con, "select * from category_acceptance")}
    if criteria is None:
        criteria = {cid: _parse_json(r["criteria_json"], {}) for cid, r in stored.items()}
    if thresholds is None:
        first = next(iter(stored.values()), None)
        thresholds = _parse_json(first["thresholds_json"], {}) if first else {}
        thresholds = {**thresholds_from({}), **thresholds}
    if model is None:
        model = next((r["model"] for r in stored.values()), None)
    hook = hook if hook is not None else compliance_hook()

    auto = dicts(con, "select replay_id, category_id, check_name, passed, reason, runtime_check from judgments "
                      "where source = 'auto' order by replay_id, check_name")
    con.execute("delete from judgments where source = 'human'")
    humans = {r["replay_id"]: r for r in dicts(
        con, "select h.replay_id, h.passed, h.note, h.output_sha256, r.output_text, r.request_id "
             "from human_reviews h join replays r on r.id = h.replay_id")}

    per_replay: dict[int, list[dict]] = defaultdict(list)
    for j in auto:
        per_replay[j["replay_id"]].append(j)
    categories = {r["category_id"]: r for r in dicts(
        con, "select category_id, name, task_type, spend_rank, spend_usd from categories")}

    acc: dict[int, dict] = {}
    human_rows = []
    for replay_id, js in per_replay.items():
        cid = js[0]["category_id"]
        a = acc.setdefault(cid, {"n": 0, "passed": 0, "caught": 0, "human": 0, "unjudged": 0, "stale": 0,
                                 "checks": defaultdict(lambda: {"n": 0, "passed": 0}), "reasons": defaultdict(list),
                                 "examples": [], "runtime": set()})
        applicable = [j for j in js if j["passed"] is not None]
        for j in applicable:
            entry = a["checks"][j["check_name"]]
            entry["n"] += 1
            entry["passed"] += int(j["passed"])
        failed = [j for j in applicable if not j["passed"]]
        overall = (not failed) if applicable else None
        human = humans.get(replay_id)
        seen = human["output_sha256"] if human is not None else None
        if seen and seen != output_sha256(human["output_text"])[: len(seen)]:
            a["stale"] += 1
            human = None
        if human is not None and human["passed"] is not None:
            a["human"] += 1
            overall = bool(human["passed"])
            entry = a["checks"]["human"]
            entry["n"] += 1
            entry["passed"] += int(overall)
            human_rows.append({"replay_id": replay_id, "request_id": human["request_id"], "category_id": cid,
                               "model": model, "check_name": "human", "passed": overall, "score": None,
                               "reason": (human["note"] or ("human: accepted" if overall else "human: rejected"))[:1000],
                               "source": "human", "runtime_check": False})
            if not overall and not failed:
                failed = [{"check_name": "human", "reason": human["note"] or "rejected by a reviewer", "runtime_check": False}]
        if overall is None:
            a["unjudged"] += 1
            continue
        a["n"] += 1
        if overall:
            a["passed"] += 1
            continue
        if any(j["runtime_check"] for j in failed):
            a["caught"] += 1
        for j in failed:
            a["reasons"][(j["check_name"], reason_key(j["reason"] or ""))].append(replay_id)
            if j["runtime_check"]:
                a["runtime"].add(j["check_name"])
        if len(a["examples"]) < EXAMPLE_FAILURES:
            j = failed[0]
            a["examples"].append({"replay_id": replay_id, "check": j["check_name"], "reason": j["reason"]})
    _insert_judgments(con, human_rows)

    out = []
    for cid, a in acc.items():
        cat = categories.get(cid, {})
        n, passed = a["n"], a["passed"]
        low, high = wilson_interval(passed, n) if n else (0.0, 1.0)
        acceptance = passed / n if n else None
        reasons = sorted(a["reasons"].items(), key=lambda kv: (-len(kv[1]), kv[0]))
        summary = {
            "category_id": cid,
            "name": cat.get("name") or (stored.get(cid) or {}).get("name") or f"Category {cid}",
            "task_type": cat.get("task_type") or (stored.get(cid) or {}).get("task_type"),
            "n": n,
            "passed": passed,
            "acceptance": acceptance,
            "ci_low": low,
            "ci_high": high,
            "decision": None,
            "decision_reason": None,
            "checks": {name: {"n": e["n"], "passed": e["passed"],
                              "acceptance": e["passed"] / e["n"] if e["n"] else None}
                       for name, e in sorted(a["checks"].items())},
            "criteria": (criteria.get(cid) or {}).get("checks", []),
            "criteria_source": (criteria.get(cid) or {}).get("source"),
            "failure_reasons": [{"check": check, "reason": key, "count": len(ids), "example_replay_ids": ids[:3]}
                                for (check, key), ids in reasons[:TOP_REASONS]],
            "example_failures": a["examples"],
            "caught_failures": a["caught"],
            "runtime_checks": sorted(a["runtime"]),
            "human_reviewed": a["human"],
            "stale_reviews": a["stale"],
            "unjudged": a["unjudged"],
            "margin": thresholds["margin"],
            # Size for the plausible rate nearest 0.5 (the widest interval), so a lucky small sample does not
            # promise a narrow interval the next replays may not give.
            "n_needed": wilson_sample_size(min(max(0.5, low), high), thresholds["margin"]),
            "n_to_decide": samples_to_clear(acceptance, thresholds["target"]) if acceptance is not None else None,
        }
        summary["decision"], summary["decision_reason"] = decide(summary, thresholds)
        if hook is not None:
            verdict = hook(con, dict(summary))
            if verdict:
                decision, reason = verdict
                if decision not in DECISIONS:
                    raise PlanError(f"The compliance hook returned an unknown decision {decision!r}.")
                summary["decision"], summary["decision_reason"] = decision, reason
        out.append(summary)
    def rank(s):
        cat = categories.get(s["category_id"], {})
        spend_rank = cat.get("spend_rank")
        return (spend_rank if spend_rank is not None else 10**9, -(cat.get("spend_usd") or 0), s["category_id"])

    out.sort(key=rank)

    con.execute("delete from category_acceptance")
    for s in out:
        con.execute(
            "insert into category_acceptance (category_id, name, task_type, model, n, passed, acceptance, ci_low, "
            "ci_high, decision, decision_reason, caught_failures, human_reviewed, unjudged, margin, n_needed, "
            "n_to_decide, checks_json, criteria_json, failure_reasons_json, examples_json, thresholds_json) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [s["category_id"], s["name"], s["task_type"], model, s["n"], s["passed"], s["acceptance"], s["ci_low"],
             s["ci_high"], s["decision"], s["decision_reason"], s["caught_failures"], s["human_reviewed"],
             s["unjudged"], s["margin"], s["n_needed"], s["n_to_decide"], json.dumps(s["checks"]),
             json.dumps(criteria.get(s["category_id"]) or {}), json.dumps(s["failure_reasons"]),
             json.dumps(s["example_failures"]), json.dumps(thresholds)],
        )
    return out


def acceptance(con) -> list[dict]:
    """The stored per-category acceptance (what the last `plan judge` or `plan review import` wrote)."""
    out = []
    for r in dicts(con, "select * from category_acceptance order by category_id"):
        r = dict(r)
        for key in ("checks_json", "criteria_json", "failure_reasons_json", "examples_json", "thresholds_json"):
            r[key[: -len("_json")]] = _parse_json(r.pop(key), {} if key in ("checks_json", "criteria_json", "thresholds_json") else [])
        out.append(r)
    return out
