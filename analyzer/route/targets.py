"""Where each category's traffic goes, from its decision (analyzer/decisions.py).

- ``local`` and ``local-for-compliance``: the local model the judge judged, at the endpoint its replays went to
  (``--endpoint``/``--model`` override; an embedded stand-in's port is not an endpoint, so the configured one
  is used: flag > ``PLAN_ENDPOINT`` > ``OLLAMA_HOST`` > ``plan.toml [replay]`` > Ollama's default);
- ``cascade``: that local model first, the category's frontier model after it, and the runtime checks that
  decide between them (checks that need no frontier answer, as the judge found them);
- ``frontier``, ``needs_judge``, ``not_measured``: the frontier model the logs show for the category (most of
  its requests). An undecided category moves nowhere: similarity alone or no measurement is not a verdict.
- the default route (a prompt no category claims): ``--default-model``, else the frontier model with most
  requests in the logs.
"""

from __future__ import annotations

import json

from .. import db
from .. import decisions as dv
from ..endpoints import EMBEDDED, normalize_endpoint, resolve_endpoint, resolve_model
from .settings import RouteSettings

LOCAL, FRONTIER, CASCADE, DEFAULT = "local", "frontier", "cascade", "default"

# LiteLLM's provider prefix and the environment variable its proxy reads the key from.
LITELLM_PROVIDERS = {
    "openai": ("openai", "OPENAI_API_KEY"),
    "anthropic": ("anthropic", "ANTHROPIC_API_KEY"),
    "bedrock": ("bedrock", None),
    "azure": ("azure", "AZURE_API_KEY"),
    "gemini": ("gemini", "GEMINI_API_KEY"),
    "google": ("gemini", "GEMINI_API_KEY"),
    "vertex": ("vertex_ai", None),
    "vertex_ai": ("vertex_ai", None),
    "mistral": ("mistral", "MISTRAL_API_KEY"),
    "groq": ("groq", "GROQ_API_KEY"),
    "openrouter": ("openrouter", "OPENROUTER_API_KEY"),
    "deepseek": ("deepseek", "DEEPSEEK_API_KEY"),
    "xai": ("xai", "XAI_API_KEY"),
    "cohere": ("cohere", "COHERE_API_KEY"),
    "together": ("together_ai", "TOGETHERAI_API_KEY"),
}


def decisions(con) -> dict[int, dict]:
    """Each judged category's decision (canonical spelling), reason, evidence and the local model judged."""
    if not db.table_exists(con, "category_acceptance"):
        return {}
    out = {}
    for r in db.dicts(con, "select category_id, decision, decision_reason, model, evidence, acceptance, ci_low, "
                           "ci_high, n from category_acceptance"):
        decision = dv.normalise(r["decision"])
        if decision is None:
            decision = dv.NOT_MEASURED if not r["decision"] else dv.FRONTIER
        out[int(r["category_id"])] = {**r, "decision": decision}
    return out


def runtime_checks(con) -> dict[int, list[str]]:
    """Per category, the checks that need no frontier answer and failed some local answers: a cascade's gate."""
    if not db.table_exists(con, "judgments"):
        return {}
    out: dict[int, list[str]] = {}
    for cid, name in db.rows(con, "select distinct category_id, check_name from judgments where runtime_check "
                                  "and category_id is not null order by 1, 2"):
        out.setdefault(int(cid), []).append(name)
    return out


def providers(con) -> dict[str, str]:
    """The provider each logged model was called through (the most common one)."""
    return {m: p for m, p in db.rows(con, "select model, arg_max(provider, n) from (select model, provider, "
                                          "count(*) as n from requests where model is not null group by 1, 2) "
                                          "group by 1")}


def frontier_models(con) -> tuple[dict[int, str], str | None]:
    """Each category's frontier model (most of its requests), and the most requested model overall."""
    per = {}
    for cid, raw in db.rows(con, "select category_id, models_json from categories where named"):
        models = json.loads(raw) if raw else []
        if models:
            per[int(cid)] = max(models, key=lambda m: (m.get("requests") or 0, m.get("spend_usd") or 0))["model"]
    overall = db.scalar(con, "select model from requests where model is not null group by 1 "
                             "order by count(*) desc, 1 limit 1")
    return per, overall


def local_target(con, settings: RouteSettings, config: dict, judged_model: str | None) -> dict:
    """The local model and endpoint a category moves to, and where they were read from."""
    model = settings.model or judged_model or resolve_model(None, config)
    note = None
    if settings.endpoint:
        return {"model": model, "endpoint": normalize_endpoint(settings.endpoint), "source": "flag", "note": note}
    replayed = db.scalar(con, "select endpoint from replays where model = ? and error is null group by 1 "
                              "order by count(*) desc, 1 limit 1", [model]) if db.table_exists(con, "replays") else None
    if replayed and replayed != EMBEDDED:
        return {"model": model, "endpoint": replayed, "source": "replays", "note": note}
    if replayed == EMBEDDED:
        note = (f"measured on the bundled stand-in ({model}, a weak 135M model served on a temporary port); "
                "point --model and --endpoint at the local model you will run")
    return {"model": model, "endpoint": resolve_endpoint(None, config), "source": "config", "note": note}


def target_for(category_id: int, decision: str, *, local: dict, frontier: str | None, checks: list[str],
               provider_of: dict[str, str]) -> dict:
    """The target of one category's route (see the module docstring)."""
    front = {"model": frontier, "provider": provider_of.get(frontier or "")}
    if decision in dv.MOVES_LOCAL:
        return {"kind": LOCAL, "model": local["model"], "endpoint": local["endpoint"], "note": local["note"]}
    if decision == dv.CASCADE:
        return {"kind": CASCADE, "model": local["model"], "endpoint": local["endpoint"], "note": local["note"],
                "fallback": front, "runtime_checks": checks}
    return {"kind": FRONTIER, **front}


def resolve_targets(con, settings: RouteSettings, config: dict, category_ids: list[int]) -> dict:
    """{"routes": {category: {"decision", "decision_reason", ..., "target"}}, "default": target}."""
    decided = decisions(con)
    checks = runtime_checks(con)
    provider_of = providers(con)
    frontier, overall = frontier_models(con)
    locals_: dict[str | None, dict] = {}
    routes = {}
    for cid in category_ids:
        row = decided.get(cid, {})
        decision = row.get("decision") or dv.NOT_MEASURED
        judged = row.get("model")
        if judged not in locals_:
            locals_[judged] = local_target(con, settings, config, judged)
        target = target_for(cid, decision, local=locals_[judged], frontier=frontier.get(cid, overall),
                            checks=checks.get(cid, []), provider_of=provider_of)
        routes[cid] = {"decision": decision, "decision_label": dv.LABELS[decision],
                       "decision_reason": row.get("decision_reason") or _undecided_reason(decision),
                       "evidence": row.get("evidence"), "acceptance": row.get("acceptance"),
                       "acceptance_ci": [row.get("ci_low"), row.get("ci_high")], "judged_n": row.get("n"),
                       "target": target}
    default_model = settings.default_model or overall
    return {"routes": routes, "default": {"kind": DEFAULT, "model": default_model,
                                          "provider": provider_of.get(default_model or "")}}


def _undecided_reason(decision: str) -> str:
    if decision == dv.NOT_MEASURED:
        return "not replayed and judged yet: it stays on its frontier model until it is measured"
    return dv.LEGEND[decision]


def litellm_model(model: str | None, provider: str | None) -> tuple[str, str | None]:
    """LiteLLM's ``provider/model`` for a logged model and the environment variable holding its key."""
    if not model:
        return "", None
    known = LITELLM_PROVIDERS.get((provider or "").lower())
    if known is None:
        return model, None
    prefix, key = known
    return (model if model.startswith(prefix + "/") else f"{prefix}/{model}"), key
