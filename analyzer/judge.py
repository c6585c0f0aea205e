"""Judge: turn replays into per-category acceptance rates with 95% Wilson intervals and a defensible decision.

Entry point :func:`judge`. It reads ``replays`` (the local answers), ``requests`` (the prompt and the frontier
answer) and ``categories`` (name, task type), runs each category's checks on each local answer, and replaces
its own outputs: ``judgments`` (one row per answer and check) and ``category_acceptance`` (one row per
category). Human verdicts from ``human_reviews`` (see :mod:`analyzer.review`) override the automatic ones.

Only answers are judged. A failed call (timeout, refused request ...) is an error of the endpoint, not a
wrong answer: it is counted per category in ``errors`` and left out of acceptance and its interval. An answer
passes when every check that applies to it passes. Each category's decision (vocabulary in
:mod:`analyzer.decisions`) states its evidence:

- ``not_measured``: no answer was judged, or most calls failed (acceptance would rest on the few that
  answered); the reason says what to do;
- ``needs_judge``: only similarity to the frontier answer (and length limits) looked at its answers, which
  cannot tell a good answer from a bad one about the same thing;
- ``local``: the interval's lower bound clears the target (default 0.8);
- ``cascade``: the local model is not good enough alone, but its failures are caught by checks that need no
  frontier answer (valid JSON, SQL that parses, ...), so local runs first and caught failures fall back to
  the frontier; chosen when the quality delivered that way has a lower bound that clears the target and the
  local model answers at least ``cascade_min_acceptance`` of the requests;
- ``frontier``: otherwise;
- ``local-for-compliance``: left to the privacy stage through :func:`compliance_hook`.

``local``, ``cascade`` and ``frontier`` are decided on the answers with decisive evidence (objective checks,
the LLM judge, human review); answers that only similarity looked at do not count towards them.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from . import decisions as dv
from . import task_types as tt
from .checks import DECISIVE_EVIDENCE, Case, Check, Verdict, detect_form, evidence_of, make_check, requested_schema
from .config import setting
from .db import dicts, record_stage_run, rows
from .errors import PlanError
from .progress import Say, say_nothing
from .replay import ERROR_CLASS_SQL, frontier_outcome_sql
from .settings import StageSettings, fraction, option
from .stats import samples_to_clear, wilson_interval, wilson_sample_size

if TYPE_CHECKING:
    import duckdb

DEFAULT_TARGET = 0.8
DEFAULT_MARGIN = 0.05
DEFAULT_CASCADE_MIN_ACCEPTANCE = 0.5
DECISIONS = dv.DECISIONS
TOP_REASONS = 5
EXAMPLE_FAILURES = 5
# A category whose calls failed more often than they answered is not measured: the answers that came back may
# not represent it (long prompts time out first, for example).
MAX_ERROR_SHARE = 0.5
SELF_PREFERENCE = ("a judge that is the model being judged favours its own answers (a published re-analysis of "
                   "GPT-4's verdicts found 87% self-preference)")

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


@dataclass(frozen=True)
class JudgeSettings(StageSettings):
    """What ``plan judge`` needs, resolved once: flag > environment > plan.toml [judge] > default.

    ``model`` is the replayed model whose answers are judged (default: the most recent); ``judge_endpoint`` and
    ``judge_model`` turn on the pairwise ``llm_judge`` check; ``checks_override`` (``--check``) replaces every
    category's checks; ``categories``, ``check_params`` and ``llm_judge`` are plan.toml's [judge.categories],
    [judge.checks] and [judge.llm_judge] tables.
    """

    section: ClassVar[str] = "judge"
    target: float = option(DEFAULT_TARGET, convert=float, check=fraction())
    margin: float = option(DEFAULT_MARGIN, convert=float, check=fraction())
    cascade_min_acceptance: float = option(DEFAULT_CASCADE_MIN_ACCEPTANCE, convert=float,
                                           check=fraction(allow_zero=True))
    model: str | None = option(None, key="judge.replay_model")
    checks_override: Any = option(None, key="judge.checks_override", flag="check")
    judge_endpoint: str | None = option(None, key="judge.endpoint", env="PLAN_JUDGE_ENDPOINT")
    judge_model: str | None = option(None, key="judge.model", env="PLAN_JUDGE_MODEL")
    allow_remote: bool = option(False, convert=bool)
    allow_self_judge: bool = option(False, convert=bool)
    categories: dict = option(default_factory=dict, key="judge.categories")
    check_params: dict = option(default_factory=dict, key="judge.checks")
    llm_judge: dict = option(default_factory=dict, key="judge.llm_judge")
    # The compliance decision's thresholds ([privacy]), read from the same plan.toml as the rest of the judge's
    privacy: Any = option(None, flag_only=True)

    @classmethod
    def resolve(cls, config: dict | None = None, **flags: Any) -> "JudgeSettings":
        from .privacy import PrivacySettings

        config = config or {}
        if flags.get("target") is None and setting(config, "judge.target") is None:
            flags["target"] = setting(config, "judge.acceptance_target")  # the name plan cost also reads
        if flags.get("privacy") is None:
            flags["privacy"] = PrivacySettings.resolve(config)
        return super().resolve(config, **flags)

    def compliance_hook(self) -> Callable | None:
        """The privacy stage's decision hook, bound to this run's [privacy] settings when it takes them (a hook of
        one's own may take only ``(con, category)``)."""
        import inspect

        hook = compliance_hook()
        if hook is None or self.privacy is None or "settings" not in inspect.signature(hook).parameters:
            return hook
        return functools.partial(hook, settings=self.privacy)

    def thresholds(self) -> dict:
        """The decision thresholds, stored with every category for the report and for re-deciding."""
        return {"target": self.target, "confidence": 0.95, "margin": self.margin,
                "cascade_min_acceptance": self.cascade_min_acceptance}

    def llm_settings(self) -> dict | None:
        """The judge model's endpoint (through the loopback gate) and name, or None when no judge was asked for."""
        if not self.judge_endpoint:
            if self.judge_model:
                raise PlanError("--judge-model needs --judge-endpoint: the OpenAI-compatible URL that serves the judge model.")
            return None
        if not self.judge_model:
            raise PlanError("--judge-endpoint needs --judge-model: the name of the model that judges (not the "
                            "model being judged, which favours its own answers).")
        from .endpoints import ensure_local, normalize_endpoint

        url = ensure_local(normalize_endpoint(str(self.judge_endpoint)), allow_remote=bool(self.allow_remote))
        out = {"endpoint": url, "model": str(self.judge_model)}
        for key in ("concurrency", "timeout_s", "max_tokens"):
            if self.llm_judge.get(key) is not None:
                out[key] = self.llm_judge[key]
        return out


def thresholds_from(config: dict | None, target: float | None = None, margin: float | None = None,
                    cascade_min_acceptance: float | None = None) -> dict:
    """The decision thresholds: argument > plan.toml [judge] > default."""
    return JudgeSettings.resolve(config or {}, target=target, margin=margin,
                                 cascade_min_acceptance=cascade_min_acceptance).thresholds()


def same_model(a: str | None, b: str | None) -> bool:
    """Whether two model names point at the same weights: case, an Ollama ``:latest`` tag, a path and a
    ``.gguf`` suffix do not matter."""
    def norm(name: str) -> str:
        name = name.strip().lower().rsplit("/", 1)[-1]
        return re.sub(r"(:latest|\.gguf)$", "", name)

    return a is not None and b is not None and norm(a) == norm(b) and bool(a)


def _norm_key(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value)).strip().casefold()


def category_config(tables: dict, category_id: int, name: str | None) -> tuple[str | None, dict]:
    """The [judge.categories."<name or id>"] table for a category: (the key that matched, the table)."""
    for key, table in (tables or {}).items():
        if _norm_key(key) in (_norm_key(category_id), _norm_key(name or "")):
            if not isinstance(table, dict):
                raise PlanError(f'[judge.categories."{key}"] must be a table, e.g. checks = ["json_valid"].')
            return key, table
    return None, {}


# ------------------------------------------------------------------------------------------------------------
# Criteria


def default_criteria(task_type: str | None, frontiers: list[str | None], params: list[dict], llm_judge: bool) -> list:
    """Default checks from the task type; structured generation picks the check matching the frontier's form.
    A schema or JSON the requests asked for is always checked."""
    from .checks import _requested_json

    answers = [f for f in frontiers if f and f.strip()]
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
        short = sum(1 for a in answers if detect_form(a) == "json" or (len(a.strip()) <= 60 and "\n" not in a.strip()))
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
    names = {s if isinstance(s, str) else s["name"] for s in specs}
    if params and "label_match" not in names:
        if sum(1 for p in params if requested_schema(p) is not None) >= 0.5 * len(params) and "json_schema_match" not in names:
            specs = ["json_schema_match", *specs]
        if sum(1 for p in params if _requested_json(p)) >= 0.5 * len(params) and "json_valid" not in names:
            specs = ["json_valid", *specs]
    if llm_judge and task_type not in (tt.STRUCTURED_GENERATION, tt.CLASSIFICATION):
        specs.append("llm_judge")
    return specs


def _spec_name(spec) -> str:
    return spec if isinstance(spec, str) else (spec.get("name") or spec.get("check") or "")


def _route_params(table: dict) -> dict[str, dict]:
    """A category table's parameter keys (``dialect = "postgres"``) sent to the checks that take them."""
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
                routed[str(name)][key] = value
        else:
            routed[str(route)][key] = value
    return routed


def build_checks(specs: list, table: dict, check_params: dict | None, llm_settings: dict | None) -> list[Check]:
    """Check objects from specs, with parameters from [judge.checks.<name>] (global), then the category table's
    keys (``dialect = "postgres"``), then the spec's own table (``{name = "regex", pattern = "..."}``)."""
    global_params = check_params or {}
    routed = _route_params(table)
    checks = []
    seen = set()
    for spec in specs:
        name = _spec_name(spec)
        if name == "llm_judge" and not llm_settings:
            raise PlanError("The llm_judge check needs a judge model: pass --judge-endpoint and --judge-model "
                            "(or set [judge] endpoint and model in plan.toml).")
        params = dict(global_params.get(name, {}) or {})
        params.update(routed.get(name, {}))
        if name == "llm_judge":
            params = {**(llm_settings or {}), **params}
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
            deferred = any(c.name == "json_valid" and c.when == check.when for c in checks)
            check.defer_invalid = deferred  # type: ignore[attr-defined]
    unused = [k for k, name in ((k, PARAM_ROUTES[k]) for k in table if k in PARAM_ROUTES)
              if not any(c.name in (name if isinstance(name, tuple) else (name,)) for c in checks)]
    if unused:
        raise PlanError(f"[judge.categories] gives {', '.join(unused)} but no listed check takes it; "
                        f"add the check to `checks` (listed: {', '.join(c.name for c in checks)}).")
    return checks


def resolve_criteria(settings: JudgeSettings, category_id, name, task_type, cases, llm_settings) -> tuple[list[Check], str]:
    """The checks for one category and where they came from: override | plan.toml | default."""
    key, table = category_config(settings.categories, category_id, name)
    checks_override = settings.checks_override
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
    return build_checks(specs, table, settings.check_params, llm_settings), source


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
    """The replays of one model with their request and category. Returns (rows, counts of what was skipped):
    calls still pending, uncategorised ones, replays whose request is gone, and requests the frontier did not
    answer (blocked, errored or empty: nothing to compare with)."""
    data = dicts(
        con,
        f"""
        select r.id as replay_id, r.request_id, coalesce(rc.category_id, r.category_id) as category_id,
               r.model, r.output_text, r.error, r.error_kind, {ERROR_CLASS_SQL} as error_class, r.finish_reason,
               r.downgrades_json, q.prompt_text, q.system_prompt, q.messages_json, q.params_json, q.response_text,
               q.id is not null as has_request, {frontier_outcome_sql('q')} as frontier_outcome,
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
    skipped = {"pending": 0, "uncategorised": 0, "missing_request": 0, "not_comparable": 0}
    kept = []
    for row in data:
        if row["output_text"] is None and not row["error"]:
            skipped["pending"] += 1
        elif row["category_id"] is None:
            skipped["uncategorised"] += 1
        elif not row["has_request"]:
            skipped["missing_request"] += 1
        elif row["frontier_outcome"] is not None:
            skipped["not_comparable"] += 1
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


def evaluate(case: Case, checks: list[Check]) -> tuple[list[tuple[str, Verdict, bool]], bool | None]:
    """Verdicts for one answer and whether it passes overall (None: no check applied, or no answer at all:
    a failed call is an error of the endpoint, not a verdict on the model)."""
    if case.error:
        return [], None
    results = [(c.name if not c.when else f"{c.name}[{c.when}]", c.run(case), c.runtime) for c in checks]
    applicable = [v for _, v, _ in results if v.applicable]
    if not applicable:
        return results, None
    return results, all(v.passed for v in applicable)


def _check_self_judging(settings: JudgeSettings, llm_settings: dict | None, model: str) -> bool:
    """Whether the judge is the model being judged; refused unless the user allows it."""
    if not llm_settings or not same_model(llm_settings["model"], model):
        return False
    if not settings.allow_self_judge:
        raise PlanError(f"The judge model {llm_settings['model']!r} is the model whose answers are judged: "
                        f"{SELF_PREFERENCE}. Pass another --judge-model, or --allow-self-judge to judge anyway "
                        "(its verdicts are then marked self-judged).")
    return True


def _pick_model(con, wanted: str | None) -> tuple[str, list[tuple[str, int]]]:
    from .db import scalar

    if not scalar(con, "select count(*) from replays"):
        raise PlanError("No replays to judge. Run `plan replay` first (it answers sampled requests with the local model).")
    models = replay_models(con)
    if wanted is None:
        return models[0][0], models
    if wanted not in {m for m, _ in models}:
        raise PlanError(f"No replays from model {wanted!r}; the replays hold: {', '.join(m for m, _ in models)}.")
    return wanted, models


def _run_checks(settings: JudgeSettings, by_category: dict[int, list[dict]], llm_settings: dict | None, model: str,
                progress: bool) -> tuple[list[dict], dict[int, dict]]:
    """Every category's checks on every answer: (judgment rows, criteria per category)."""
    from .progress import bar

    judgments: list[dict] = []
    criteria: dict[int, dict] = {}
    total = sum(len(g) for g in by_category.values())
    with bar(total, "judging", unit="replay") if progress else _NullBar() as pb:
        for category_id, group in by_category.items():
            first = group[0]
            cases = [case_from_row(r) for r in group]
            checks, source = resolve_criteria(settings, category_id, first["category_name"], first["task_type"],
                                              cases, llm_settings)
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
    return judgments, criteria


def judge(con: duckdb.DuckDBPyConnection, settings: JudgeSettings | None = None, *, progress: bool = True, say: Say = say_nothing) -> dict:
    """Judge every answer of one local model and summarise per category. Returns the ``plan judge --json`` payload.

    Example::

        from analyzer.db import connect
        from analyzer.judge import JudgeSettings, judge
        result = judge(connect("plan.duckdb"), JudgeSettings.resolve({}, target=0.9), progress=False)
        for c in result["categories"]:
            print(c["name"], c["acceptance"], (c["ci_low"], c["ci_high"]), c["decision"], c["evidence"])
    """
    settings = settings if settings is not None else JudgeSettings.resolve({})
    thresholds = settings.thresholds()
    model, models = _pick_model(con, settings.model)
    llm_settings = settings.llm_settings()
    self_judged = _check_self_judging(settings, llm_settings, model)
    if self_judged and llm_settings:
        say(f"warning: {llm_settings['model']} judges its own answers; {SELF_PREFERENCE}. Its verdicts are marked self-judged.")
    started = rows(con, "select now()::timestamp")[0][0]

    data, skipped = load_cases(con, model)
    by_category: dict[int, list[dict]] = defaultdict(list)
    for row in data:
        by_category[row["category_id"]].append(row)
    known = {_norm_key(r["category_id"]) for r in data} | {_norm_key(r["category_name"]) for r in data if r["category_name"]}
    warnings = [f'[judge.categories."{key}"] matches no judged category (by name or id); it was not used.'
                for key in settings.categories if _norm_key(key) not in known]

    judgments, criteria = _run_checks(settings, by_category, llm_settings, model, progress)
    judge_info = {"model": llm_settings["model"] if llm_settings else None, "self_judged": self_judged}
    con.execute("begin")
    try:
        con.execute("delete from judgments")
        _insert_judgments(con, judgments)
        categories = summarise(con, criteria=criteria, thresholds=thresholds, model=model, judge_info=judge_info,
                               hook=settings.compliance_hook())
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise

    errors = sum(1 for r in data if r["error"])
    result = {
        "model": model,
        "models_available": [m for m, _ in models],
        "target": thresholds["target"],
        "thresholds": thresholds,
        "judge": ({"endpoint": llm_settings["endpoint"], "model": llm_settings["model"], "self_judged": self_judged}
                  if llm_settings else None),
        "replays": {
            "judged": len(data) - errors,
            "answers": len(data) - errors,
            "errors": errors,
            "pending": skipped["pending"],
            "uncategorised": skipped["uncategorised"],
            "missing_request": skipped["missing_request"],
            "not_comparable": skipped["not_comparable"],
            "human_overrides": sum(c["human_reviewed"] for c in categories),
        },
        "categories": categories,
        "warnings": warnings,
    }
    record_stage_run(
        con, "judge",
        {"model": model, "thresholds": thresholds, "judge_model": llm_settings and llm_settings["model"],
         "checks_override": settings.checks_override, "self_judged": self_judged},
        {"categories": len(categories), "replays": len(data), "errors": errors,
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
# Decisions


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


def _error_fix(errors: dict) -> str:
    """What to do about a category's failed calls, in one clause."""
    from .replay import deterministic_hint

    if errors.get("deterministic", 0) >= errors.get("transient", 0):
        example = errors.get("example") or "the server refused the requests"
        kinds = errors.get("kinds") or {}
        refused = ("they were not sent, too long for the model's context window" if kinds and
                   set(kinds) == {"context_exceeded"} else "the endpoint refused them")
        return (f"{refused} ({example}), so running again as it is will not help: "
                f"{deterministic_hint(example)}")
    return "they failed for reasons that can pass (timeouts, dropped connections, 429, 5xx): run `plan replay` again to retry them"


def _not_measured(summary: dict) -> tuple[str, str] | None:
    """not_measured with its reason and fix, when the category has no judged answers or mostly errors."""
    errors = summary.get("errors") or {}
    failed = errors.get("calls", 0)
    answers = summary.get("answers", summary["n"])
    if failed and failed > MAX_ERROR_SHARE * (failed + answers):
        which = f"all {failed} calls failed" if not answers else f"{failed} of {failed + answers} calls failed"
        rest = "" if not answers else f" (acceptance would rest on the {answers} that answered)"
        return dv.NOT_MEASURED, f"{which}{rest}; {_error_fix(errors)}"
    if summary["n"] == 0:
        if answers:
            return dv.NOT_MEASURED, (f"no check applied to its {answers} answers (e.g. no frontier answer to compare "
                                     "with); list checks that fit it in plan.toml [judge.categories]")
        return dv.NOT_MEASURED, "no answers to judge: run `plan replay`"
    return None


def _quality_decision(n: int, passed: int, low: float, caught: int, runtime: list, n_to_decide, thresholds: dict) -> tuple[str, str]:
    """local / cascade / frontier from decisive verdicts: the judge's rule."""
    target = thresholds["target"]
    if low >= target:
        return dv.LOCAL, f"lower bound {low:.2f} of the 95% interval clears the target {target:.2f}"
    failures = n - passed
    acceptance = passed / n
    delivered_low = wilson_interval(passed + caught, n)[0]
    if caught and acceptance >= thresholds["cascade_min_acceptance"] and delivered_low >= target:
        gates = ", ".join(runtime) or "failed calls"
        return dv.CASCADE, (
            f"lower bound {low:.2f} is under the target {target:.2f}, but {caught} of {failures} failures are caught "
            f"at run time ({gates}); with those sent to the frontier the quality's lower bound is {delivered_low:.2f}"
        )
    why = f"lower bound {low:.2f} of the 95% interval is under the target {target:.2f}"
    if acceptance > target and n_to_decide:
        why += (f" although the observed rate {acceptance:.2f} is above it: about {n_to_decide} replays "
                f"(now {n}) would show whether it holds")
    if failures and caught < failures:
        why += f"; {failures - caught} of {failures} failures would pass unnoticed (no runtime check catches them)"
    elif acceptance < thresholds["cascade_min_acceptance"]:
        why += f"; acceptance {acceptance:.2f} is under {thresholds['cascade_min_acceptance']:.2f}, too low to run local first"
    return dv.FRONTIER, why


def decide(summary: dict, thresholds: dict) -> tuple[str, str]:
    """The decision and its reason for one category summary: n, passed, ci_low, caught_failures,
    runtime_checks, n_to_decide, and (when known) answers, errors, evidence and decided_on, the decisive
    subset {n, passed, caught}."""
    missing = _not_measured(summary)
    if missing is not None:
        return missing
    basis = summary.get("decided_on") or {"n": summary["n"], "passed": summary["passed"],
                                          "caught": summary["caught_failures"]}
    if summary.get("evidence") in ("similarity", "constraint", "none") or not basis["n"]:
        rate = f"{summary['passed']} of {summary['n']} answers were close to the frontier's"
        return dv.NEEDS_JUDGE, (f"only similarity to the frontier answer was measured ({rate}); similarity does not "
                                "tell a good answer from a bad one about the same thing, so a judge model or a "
                                "human review decides it")
    n, passed, caught = basis["n"], basis["passed"], basis["caught"]
    whole = n == summary["n"]
    low = summary["ci_low"] if whole else wilson_interval(passed, n)[0]
    n_to_decide = summary.get("n_to_decide") if whole else samples_to_clear(passed / n, thresholds["target"])
    decision, why = _quality_decision(n, passed, low, caught, summary.get("runtime_checks") or [], n_to_decide, thresholds)
    if not whole:
        why += (f" (decided on the {n} answers with objective checks, a judge or a reviewer; "
                f"{summary['n'] - n} had only similarity)")
    return decision, why


def redecide(row: dict, target: float | None = None) -> str:
    """A stored ``category_acceptance`` row's decision, re-derived at another acceptance target with the same
    rule. Compliance decisions and categories that are not measured or need a judge stand."""
    stored = dv.normalise(row.get("decision"))
    if stored in (dv.LOCAL_FOR_COMPLIANCE, dv.NOT_MEASURED, dv.NEEDS_JUDGE):
        return stored
    if not row.get("n") or row.get("passed") is None:
        return dv.NOT_MEASURED
    n, passed = int(row["n"]), int(row["passed"])
    thresholds = {**thresholds_from({}), **_parse_json(row.get("thresholds_json"), {})}
    if target is not None:
        thresholds["target"] = target
    caught = row.get("caught_failures")
    if caught is None:  # not recorded: an objective check is assumed to catch every failure
        caught = (n - passed) if (stored == dv.CASCADE or _stored_evidence(row) == "objective") else 0
    low = row.get("ci_low") if row.get("ci_low") is not None else wilson_interval(passed, n)[0]
    evidence_counts = _parse_json(row.get("evidence_json"), {})
    summary = {"n": n, "passed": passed, "ci_low": low, "caught_failures": int(caught), "runtime_checks": [],
               "n_to_decide": None, "answers": row.get("answers") if row.get("answers") is not None else n,
               "errors": _parse_json(row.get("errors_json"), {}), "evidence": _stored_evidence(row),
               "decided_on": evidence_counts.get("decided_on")}
    return decide(summary, thresholds)[0]


def stored_evidence(row: dict) -> tuple[str | None, dict]:
    """(evidence kind, judged answers per kind) of a stored ``category_acceptance`` row."""
    counts = {k: v for k, v in _parse_json(row.get("evidence_json"), {}).items() if isinstance(v, int)}
    kind = _stored_evidence(row)
    if not counts and kind and row.get("n"):
        counts = {kind: int(row["n"])}
    return kind, counts


def _stored_evidence(row: dict) -> str | None:
    """The evidence a stored row rests on; rows from before evidence was stored take it from their checks."""
    if row.get("evidence"):
        return row["evidence"]
    names = list(_parse_json(row.get("checks_json"), {}))
    criteria = _parse_json(row.get("criteria_json"), {})
    names += [c.get("name") if isinstance(c, dict) else str(c) for c in criteria.get("checks", [])] if isinstance(criteria, dict) else []
    kinds = {evidence_of(str(n)) for n in names if n and n != "replay"}
    if not kinds:
        return None
    return "objective" if kinds & {"objective", "llm_judge", "human"} else "similarity"


# ------------------------------------------------------------------------------------------------------------
# Summaries


@dataclass
class _Tally:
    """What one category's judged answers add up to."""

    n: int = 0
    passed: int = 0
    caught: int = 0
    human: int = 0
    unjudged: int = 0
    stale: int = 0
    checks: dict = dataclasses.field(default_factory=lambda: defaultdict(lambda: {"n": 0, "passed": 0}))
    reasons: dict = dataclasses.field(default_factory=lambda: defaultdict(list))
    examples: list = dataclasses.field(default_factory=list)
    runtime: set = dataclasses.field(default_factory=set)
    evidence: Counter = dataclasses.field(default_factory=Counter)
    decisive: list = dataclasses.field(default_factory=lambda: [0, 0, 0])  # n, passed, caught


def _answer_evidence(applicable: list[dict], human: bool) -> str:
    """The strongest evidence behind one answer's verdict."""
    if human:
        return "human"
    kinds = {evidence_of(j["check_name"]) for j in applicable}
    for kind in ("llm_judge", "objective", "similarity", "constraint"):
        if kind in kinds:
            return kind
    return "none"


def _human_row(replay_id: int, human: dict, cid: int, model: str | None, overall: bool) -> dict:
    return {"replay_id": replay_id, "request_id": human["request_id"], "category_id": cid, "model": model,
            "check_name": "human", "passed": overall, "score": None,
            "reason": (human["note"] or ("human: accepted" if overall else "human: rejected"))[:1000],
            "source": "human", "runtime_check": False}


def _tally_answer(a: _Tally, replay_id: int, js: list[dict], human: dict | None, model: str | None,
                  human_rows: list[dict]) -> None:
    """Add one answer's verdicts (a human one overriding the checks) to its category's tally."""
    applicable = [j for j in js if j["passed"] is not None]
    for j in applicable:
        entry = a.checks[j["check_name"]]
        entry["n"] += 1
        entry["passed"] += int(j["passed"])
    failed = [j for j in applicable if not j["passed"]]
    overall = (not failed) if applicable else None
    if human is not None and human["output_sha256"] and human["output_sha256"] != output_sha256(human["output_text"])[: len(human["output_sha256"])]:
        a.stale += 1
        human = None
    if human is not None and human["passed"] is not None:
        reviewed = True
        a.human += 1
        overall = bool(human["passed"])
        a.checks["human"]["n"] += 1
        a.checks["human"]["passed"] += int(overall)
        human_rows.append(_human_row(replay_id, human, js[0]["category_id"], model, overall))
        if not overall and not failed:
            failed = [{"check_name": "human", "reason": human["note"] or "rejected by a reviewer", "runtime_check": False}]
    else:
        reviewed = False
    if overall is None:
        a.unjudged += 1
        return
    evidence = _answer_evidence(applicable, reviewed)
    a.evidence[evidence] += 1
    decisive = evidence in (*DECISIVE_EVIDENCE, "human")
    a.n += 1
    a.decisive[0] += decisive
    if overall:
        a.passed += 1
        a.decisive[1] += decisive
        return
    if any(j["runtime_check"] for j in failed):
        a.caught += 1
        a.decisive[2] += decisive
    for j in failed:
        a.reasons[(j["check_name"], reason_key(j["reason"] or ""))].append(replay_id)
        if j["runtime_check"]:
            a.runtime.add(j["check_name"])
    if len(a.examples) < EXAMPLE_FAILURES:
        a.examples.append({"replay_id": replay_id, "check": failed[0]["check_name"], "reason": failed[0]["reason"]})


def _call_stats(con, model: str | None) -> dict[int, dict]:
    """Per category: answers (and how many the output-token cap cut short), failed calls by class and kind (with
    one server message), and fallback steps,
    over the replays of ``model`` whose request the frontier answered."""
    if model is None:
        return {}
    out: dict[int, dict] = {}
    for cid, error, kind, klass, downgrades, finish in rows(con, f"""
            select coalesce(rc.category_id, r.category_id), r.error, r.error_kind, {ERROR_CLASS_SQL}, r.downgrades_json,
                   r.finish_reason
            from replays r join requests q on q.id = r.request_id
            left join request_categories rc on rc.request_id = r.request_id
            where r.model = ? and ({frontier_outcome_sql('q')}) is null and (r.output_text is not null or r.error is not null)
            order by r.id
        """, [model]):
        s = out.setdefault(cid, {"answers": 0, "cut_short": 0, "errors": {"calls": 0, "transient": 0, "deterministic": 0,
                                                                          "kinds": {}, "example": None},
                                 "downgrades": Counter()})
        s["downgrades"].update(_parse_json(downgrades, []))
        if error is None:
            s["answers"] += 1
            s["cut_short"] += finish == "length"  # stopped by the replay's output-token cap, not by the model
            continue
        e = s["errors"]
        e["calls"] += 1
        e[klass] += 1
        e["kinds"][kind or "unknown"] = e["kinds"].get(kind or "unknown", 0) + 1
        if e["example"] is None or (klass == "deterministic" and e.get("_example_class") != "deterministic"):
            e["example"], e["_example_class"] = str(error)[:240], klass
    for s in out.values():
        s["errors"].pop("_example_class", None)
        s["downgrades"] = dict(sorted(s["downgrades"].items()))
    return out


def evidence_label(evidence: str, counts: dict, checks: dict, judge_model: str | None, self_judged: bool) -> str:
    """What a category's verdict rests on, in words."""
    objective = sorted(name for name in checks if evidence_of(name) == "objective" and checks[name]["n"])
    parts = []
    if counts.get("human"):
        parts.append(f"human review of {counts['human']} answers")
    if counts.get("llm_judge"):
        who = f"LLM judge {judge_model}" if judge_model else "LLM judge"
        parts.append(f"{who}, pairwise in both orders, on {counts['llm_judge']}" + (" (self-judged)" if self_judged else ""))
    if counts.get("objective"):
        parts.append(f"objective checks ({', '.join(objective)}) on {counts['objective']}")
    weak = counts.get("similarity", 0) + counts.get("constraint", 0)
    if weak:
        parts.append(f"similarity only on {weak}" if parts else "similarity to the frontier answer only")
    return "; ".join(parts) if parts else "nothing judged"


def _category_evidence(a: _Tally) -> str:
    decisive = {k: a.evidence[k] for k in ("human", "llm_judge", "objective") if a.evidence[k]}
    if decisive:
        return max(decisive, key=lambda k: (decisive[k], ("objective", "llm_judge", "human").index(k)))
    if a.evidence["similarity"]:
        return "similarity"
    return "constraint" if a.evidence["constraint"] else "none"


def _summary(cid: int, a: _Tally, calls: dict, cat: dict, stored: dict, criteria: dict, thresholds: dict,
             judge_info: dict) -> dict:
    """One category of the ``plan judge --json`` payload, decision included."""
    n, passed = a.n, a.passed
    low, high = wilson_interval(passed, n) if n else (0.0, 1.0)
    acceptance = passed / n if n else None
    reasons = sorted(a.reasons.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    evidence = _category_evidence(a)
    counts = dict(a.evidence)
    dn, dp, dc = a.decisive
    checks = {name: {"n": e["n"], "passed": e["passed"], "acceptance": e["passed"] / e["n"] if e["n"] else None}
              for name, e in sorted(a.checks.items())}
    uses_judge = bool(counts.get("llm_judge"))
    summary = {
        "category_id": cid,
        "name": cat.get("name") or stored.get("name") or f"Category {cid}",
        "task_type": cat.get("task_type") or stored.get("task_type"),
        "n": n,
        "passed": passed,
        "acceptance": acceptance,
        "ci_low": low,
        "ci_high": high,
        "decision": None,
        "decision_reason": None,
        "answers": calls.get("answers", n + a.unjudged),
        "errors": calls.get("errors") or {"calls": 0, "transient": 0, "deterministic": 0, "kinds": {}, "example": None},
        "downgrades": calls.get("downgrades") or {},
        "cut_short": calls.get("cut_short", 0),
        "evidence": evidence,
        "evidence_counts": counts,
        "evidence_label": evidence_label(evidence, counts, checks, judge_info.get("model") if uses_judge else None,
                                         bool(judge_info.get("self_judged")) and uses_judge),
        "decided_on": {"n": dn, "passed": dp, "caught": dc},
        "judge_model": judge_info.get("model") if uses_judge else None,
        "self_judged": bool(judge_info.get("self_judged")) and uses_judge,
        "checks": checks,
        "criteria": (criteria.get(cid) or {}).get("checks", []),
        "criteria_source": (criteria.get(cid) or {}).get("source"),
        "failure_reasons": [{"check": check, "reason": key, "count": len(ids), "example_replay_ids": ids[:3]}
                            for (check, key), ids in reasons[:TOP_REASONS]],
        "example_failures": a.examples,
        "caught_failures": a.caught,
        "runtime_checks": sorted(a.runtime),
        "human_reviewed": a.human,
        "stale_reviews": a.stale,
        "unjudged": a.unjudged,
        "margin": thresholds["margin"],
        # Size for the plausible rate nearest 0.5 (the widest interval), so a lucky small sample does not
        # promise a narrow interval the next replays may not give.
        "n_needed": wilson_sample_size(min(max(0.5, low), high), thresholds["margin"]),
        "n_to_decide": samples_to_clear(acceptance, thresholds["target"]) if acceptance is not None else None,
    }
    summary["decision"], summary["decision_reason"] = decide(summary, thresholds)
    return summary


def _apply_hook(con, summary: dict, hook: Callable | None) -> None:
    if hook is None:
        return
    seen = dict(summary)
    if summary["decision"] in dv.UNDECIDED:
        seen["acceptance"] = None  # a similarity rate or a few answers must not move it local for compliance either
    verdict = hook(con, seen)
    if verdict:
        decision, reason = verdict
        if dv.normalise(decision) is None:
            raise PlanError(f"The compliance hook returned an unknown decision {decision!r}.")
        summary["decision"], summary["decision_reason"] = dv.normalise(decision), reason


def _stored_settings(stored: dict, criteria, thresholds, model, judge_info) -> tuple[dict, dict, str | None, dict]:
    """What the last judge run stored, for a summary recomputed after a review import."""
    if criteria is None:
        criteria = {cid: _parse_json(r["criteria_json"], {}) for cid, r in stored.items()}
    first = next(iter(stored.values()), None)
    if thresholds is None:
        thresholds = {**thresholds_from({}), **(_parse_json(first["thresholds_json"], {}) if first else {})}
    if model is None:
        model = first["model"] if first else None
    if judge_info is None:
        judge_info = {"model": next((r["judge_model"] for r in stored.values() if r.get("judge_model")), None),
                      "self_judged": any(r.get("self_judged") for r in stored.values())}
    return criteria, thresholds, model, judge_info


def summarise(con, *, criteria: dict | None = None, thresholds: dict | None = None, model: str | None = None,
              hook: Callable | None = None, judge_info: dict | None = None) -> list[dict]:
    """Recompute ``category_acceptance`` from ``judgments``, ``human_reviews`` (human verdicts win) and the
    replays' failed calls. Called by :func:`judge` and after a review import; what is not given is read from
    the last judge run's rows."""
    stored = {r["category_id"]: r for r in dicts(con, "select * from category_acceptance")}
    criteria, thresholds, model, judge_info = _stored_settings(stored, criteria, thresholds, model, judge_info)
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

    tallies: dict[int, _Tally] = defaultdict(_Tally)
    human_rows: list[dict] = []
    for replay_id, js in per_replay.items():
        _tally_answer(tallies[js[0]["category_id"]], replay_id, js, humans.get(replay_id), model, human_rows)
    _insert_judgments(con, human_rows)
    calls = _call_stats(con, model)
    out = []
    for cid in sorted(set(tallies) | set(calls), key=lambda c: (c is None, c)):
        if cid is None:
            continue
        summary = _summary(cid, tallies[cid], calls.get(cid, {}), categories.get(cid, {}), stored.get(cid) or {},
                           criteria, thresholds, judge_info)
        _apply_hook(con, summary, hook)
        out.append(summary)

    def rank(s):
        cat = categories.get(s["category_id"], {})
        spend_rank = cat.get("spend_rank")
        return (spend_rank if spend_rank is not None else 10**9, -(cat.get("spend_usd") or 0), s["category_id"])

    out.sort(key=rank)
    _store(con, out, criteria, thresholds, model)
    return out


def _store(con, out: list[dict], criteria: dict, thresholds: dict, model: str | None) -> None:
    con.execute("delete from category_acceptance")
    for s in out:
        evidence_json = {**s["evidence_counts"], "decided_on": s["decided_on"]}
        con.execute(
            "insert into category_acceptance (category_id, name, task_type, model, n, passed, acceptance, ci_low, "
            "ci_high, decision, decision_reason, caught_failures, human_reviewed, unjudged, margin, n_needed, "
            "n_to_decide, checks_json, criteria_json, failure_reasons_json, examples_json, thresholds_json, "
            "answers, errors_json, downgrades_json, evidence, evidence_json, judge_model, self_judged, cut_short) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [s["category_id"], s["name"], s["task_type"], model, s["n"], s["passed"], s["acceptance"], s["ci_low"],
             s["ci_high"], s["decision"], s["decision_reason"], s["caught_failures"], s["human_reviewed"],
             s["unjudged"], s["margin"], s["n_needed"], s["n_to_decide"], json.dumps(s["checks"]),
             json.dumps(criteria.get(s["category_id"]) or {}), json.dumps(s["failure_reasons"]),
             json.dumps(s["example_failures"]), json.dumps(thresholds), s["answers"], json.dumps(s["errors"]),
             json.dumps(s["downgrades"]), s["evidence"], json.dumps(evidence_json), s["judge_model"],
             s["self_judged"], s["cut_short"]],
        )


def acceptance(con) -> list[dict]:
    """The stored per-category acceptance (what the last `plan judge` or `plan review import` wrote)."""
    out = []
    objects = ("checks_json", "criteria_json", "thresholds_json", "errors_json", "downgrades_json", "evidence_json")
    for r in dicts(con, "select * from category_acceptance order by category_id"):
        r = dict(r)
        for key in (*objects, "failure_reasons_json", "examples_json"):
            r[key[: -len("_json")]] = _parse_json(r.pop(key), {} if key in objects else [])
        out.append(r)
    return out
