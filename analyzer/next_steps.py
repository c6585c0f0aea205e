"""What the report's verdicts rest on, and what to run next to settle the rest.

:func:`what_was_measured` names the replayed model (and flags the bundled SmolLM2 as a stand-in), how the
categories were judged and on how many answers. :func:`next_steps` turns the open questions into exact
commands: pull the reference model, replay with the sample the target margin needs (with a time estimate
from the measured throughput), judge the similarity-only categories with a judge model, review by hand, and
fix the calls that failed. Both read only what the stages stored; the report shows them and ``plan report
--json`` carries them.
"""

from __future__ import annotations

import math
import shlex

from . import decisions as dv
from .db import dicts, table_exists
from .endpoints import DEFAULT_ENDPOINT, DEFAULT_MODEL, EMBEDDED
from .judge import JudgeSettings, same_model
from .replay import frontier_outcome_sql, is_stand_in
from .stats import sample_size_for_margin

# A judge for the reference model must be another model (self-preference); an open-weight model Ollama serves.
OTHER_JUDGE = "gpt-oss:20b"
FALLBACK_TOKENS_PER_CALL = 256
ANSWER_ROOM_TOKENS = 1024  # room left in the window for the answer when a larger window is advised
STAND_IN_NOTE = ("{model} is the bundled 135M-parameter stand-in that lets the pipeline run anywhere, not the "
                 "reference model ({reference}): its acceptance shows that the pipeline works, not what a real local "
                 "model would do.")
EVIDENCE_WORDS = {
    "objective": "objective checks", "llm_judge": "an LLM judge", "human": "human review",
    "similarity": "similarity alone (they need a judge)", "constraint": "length limits alone (they need a judge)",
}
EVIDENCE_ORDER = ("human", "llm_judge", "objective", "similarity", "constraint", "none", "not_measured")


def _replayed(con, acceptance: dict[int, dict]) -> dict | None:
    """The model whose answers the verdicts are about: the judged one, else the latest replayed."""
    if not table_exists(con, "replays"):
        return None
    model = next((a.get("model") for a in acceptance.values() if a.get("model")), None)
    got = dicts(con, """
        select model, any_value(endpoint) as endpoint, count(*) filter (where error is null) as answers,
               count(*) filter (where error is not null) as errors
        from replays where ? is null or model = ?
        group by model order by max(coalesce(finished_at, started_at)) desc nulls last limit 1
    """, [model, model])
    return got[0] if got else None


def what_was_measured(con, categories: list[dict], acceptance: dict[int, dict]) -> dict:
    """The headline's account of the measurement: model, stand-in flag, how categories were judged, and n."""
    replayed = _replayed(con, acceptance)
    model = replayed["model"] if replayed else None
    stand_in = is_stand_in(model)
    judged = [c for c in categories if c.get("n")]
    by_evidence: dict[str, int] = {}
    for c in categories:
        kind = c.get("evidence") if c.get("n") else ("not_measured" if c["decision"] == dv.NOT_MEASURED else None)
        if kind:
            by_evidence[kind] = by_evidence.get(kind, 0) + 1
    ns = [c["n"] for c in judged]
    by_evidence = {k: by_evidence[k] for k in sorted(by_evidence, key=lambda k: EVIDENCE_ORDER.index(k)
                                                         if k in EVIDENCE_ORDER else len(EVIDENCE_ORDER))}
    parts = [f"{count} by {EVIDENCE_WORDS.get(kind, kind)}" for kind, count in by_evidence.items() if kind != "not_measured"]
    if by_evidence.get("not_measured"):
        parts.append(f"{by_evidence['not_measured']} not measured")
    if parts:
        parts[0] = parts[0].replace(" by ", f" categor{'y' if parts[0].startswith('1 ') else 'ies'} judged by ", 1) \
            if not parts[0].endswith("not measured") else parts[0].replace(" not", f" categor{'y' if parts[0].startswith('1 ') else 'ies'} not", 1)
    if model is None:
        sentence = "Nothing was replayed yet: no local model has answered these requests."
    else:
        who = f"{model} (the bundled stand-in, not {DEFAULT_MODEL})" if stand_in else model
        size = (f"{sum(ns)} judged answers, n = {min(ns)}–{max(ns)} per category" if ns and min(ns) != max(ns)
                else f"{sum(ns)} judged answers, n = {ns[0]} per category" if ns else "no judged answers")
        sentence = f"Measured with {who}: {size}" + (f"; {', '.join(parts)}." if parts else ".")
    return {
        "replayed_model": model,
        "replayed_endpoint": replayed["endpoint"] if replayed else None,
        "stand_in": stand_in,
        "stand_in_note": STAND_IN_NOTE.format(model=model, reference=DEFAULT_MODEL) if stand_in else None,
        "reference_model": DEFAULT_MODEL,
        "answers_judged": sum(ns),
        "n_min": min(ns) if ns else None,
        "n_max": max(ns) if ns else None,
        "categories_by_evidence": by_evidence,
        "sentence": sentence,
    }


def _available(con, category_ids: list[int]) -> dict[int, int]:
    """Requests per category the frontier answered (what a replay can sample)."""
    if not category_ids or not table_exists(con, "request_categories"):
        return {}
    return {r["category_id"]: r["n"] for r in dicts(con, f"""
        select rc.category_id, count(*) as n from request_categories rc join requests r on r.id = rc.request_id
        where rc.category_id in (select unnest(?::integer[])) and ({frontier_outcome_sql('r')}) is null
          and (r.messages_json is not null or r.prompt_text is not null)
        group by 1
    """, [category_ids])}


def _tokens_per_call(con, model: str | None) -> float:
    """Output tokens a call takes: measured on the replayed model, else the frontier's answers, else a guess."""
    rows = dicts(con, "select avg(output_tokens) as t from replays where error is null and output_tokens > 0 and model = ?",
                 [model]) if model and table_exists(con, "replays") else []
    if rows and rows[0]["t"]:
        return float(rows[0]["t"])
    rows = dicts(con, "select avg(output_tokens) as t from requests where output_tokens > 0")
    return float(rows[0]["t"]) if rows and rows[0]["t"] else float(FALLBACK_TOKENS_PER_CALL)


def _hours(calls: int, tokens: float, per_s: float | None) -> float | None:
    return calls * tokens / per_s / 3600.0 if per_s else None


def _duration(hours: float | None) -> str:
    if hours is None:
        return "unknown"
    if hours < 1 / 60:
        return "under a minute"
    if hours < 1:
        return f"about {math.ceil(hours * 60)} minutes"
    return f"about {hours:.1f} hours"


def _replay_step(con, cost: dict, acceptance: dict[int, dict], measured: dict, margin: float) -> dict | None:
    top = [c for c in cost.get("categories", []) if not c.get("is_other") and c.get("category_id") is not None]
    if not top:
        return None
    reference_run = measured["replayed_model"] is not None and not measured["stand_in"]
    model = measured["replayed_model"] if reference_run else DEFAULT_MODEL
    endpoint = measured["replayed_endpoint"] if reference_run and measured["replayed_endpoint"] != EMBEDDED else DEFAULT_ENDPOINT
    needed = {c["category_id"]: (acceptance.get(c["category_id"], {}).get("n_needed") or sample_size_for_margin(margin))
              for c in top}
    per_category = max(needed.values())
    available = _available(con, list(needed))
    done = {cid: (acceptance.get(cid, {}).get("answers") or 0) if reference_run else 0 for cid in needed}
    calls = sum(max(0, min(per_category, available.get(cid, 0)) - done[cid]) for cid in needed)
    if calls == 0:
        return None
    tokens = _tokens_per_call(con, measured["replayed_model"])
    rate = cost.get("measured_throughput") or {}
    selected: dict = next((h for h in cost.get("hardware", []) if h.get("selected")), {})
    at_measured = _hours(calls, tokens, rate.get("output_tokens_per_s"))
    at_profile = _hours(calls, tokens, selected.get("output_tokens_per_s"))
    estimate = []
    if at_measured is not None:
        estimate.append(f"{_duration(at_measured)} at the {rate['output_tokens_per_s']:.1f} output tokens/s measured for "
                        f"{rate.get('model')} (concurrency {rate.get('concurrency')})")
    if at_profile is not None and (not reference_run or at_measured is None):
        estimate.append(f"{_duration(at_profile)} at the {selected['output_tokens_per_s']:g} tokens/s "
                        f"{'measured' if selected.get('throughput_source') == 'measured' else 'assumed'} for "
                        f"{selected.get('name')}")
    return {
        "step": "replay",
        "title": f"Replay {per_category} requests per category on {model}",
        "command": f"plan replay --endpoint {endpoint} --model {shlex.quote(model)} --per-category {per_category}",
        "why": (f"±{margin:.0%} intervals on acceptance need about {per_category} judged answers per category "
                "(categories with fewer requests replay all of theirs); a rerun skips what is already answered."),
        "calls": calls,
        "output_tokens_per_call": round(tokens, 1),
        "hours_at_measured_throughput": at_measured,
        "hours_at_profile_throughput": at_profile,
        "estimate": (f"{calls:,} calls of about {tokens:,.0f} output tokens: " + "; ".join(estimate) + ".")
                    if estimate else f"{calls:,} calls; no throughput measured yet to estimate the time.",
    }


def _judge_model(judge: JudgeSettings, target_model: str) -> str:
    configured = judge.judge_model
    if configured and not same_model(configured, target_model):
        return str(configured)
    return OTHER_JUDGE if not same_model(OTHER_JUDGE, target_model) else DEFAULT_MODEL


def _judge_step(categories: list[dict], settings: JudgeSettings, measured: dict) -> dict | None:
    pending = [c for c in categories if c["decision"] == dv.NEEDS_JUDGE]
    if not pending:
        return None
    target_model = measured["replayed_model"] if measured["replayed_model"] and not measured["stand_in"] else DEFAULT_MODEL
    judge = _judge_model(settings, target_model)
    endpoint = settings.judge_endpoint if settings.judge_endpoint is not None else DEFAULT_ENDPOINT
    return {
        "step": "judge",
        "title": f"Judge {len(pending)} similarity-only categor{'y' if len(pending) == 1 else 'ies'} with a judge model",
        "command": (f"ollama pull {shlex.quote(judge)} && plan judge --judge-endpoint {endpoint} "
                    f"--judge-model {shlex.quote(judge)}"),
        "why": (f"Similarity to the frontier answer cannot tell a good answer from a bad one about the same thing "
                f"(categories marked {dv.LABELS[dv.NEEDS_JUDGE]!r} below). The judge compares both answers in both orders; it must not be the model judged ({target_model}), "
                "which favours its own answers."),
        "calls": 2 * sum(c.get("n") or 0 for c in pending),
    }


def _window_for(con, category_id) -> int | None:
    """A context window that holds the category's longest logged prompt and room for an answer (a power of two,
    as servers are usually configured), or None when no prompt length was logged."""
    got = dicts(con, "select max(q.input_tokens) as longest from requests q join request_categories rc "
                     "on rc.request_id = q.id where rc.category_id = ?", [category_id])
    longest = got[0]["longest"] if got else None
    if not longest:
        return None
    return max(8192, 1 << math.ceil(math.log2(int(longest) + ANSWER_ROOM_TOKENS)))


def _fix_steps(con, categories: list[dict]) -> list[dict]:
    """A step per category whose calls failed too often to measure it. Prompts too long for the window need a
    larger window, said with the size their longest logged prompt needs; other failures need the same replay
    again once their cause is fixed (the reason says which)."""
    out = []
    for c in categories:
        errors = c.get("errors") or {}
        if c["decision"] != dv.NOT_MEASURED or not errors.get("calls"):
            continue
        window = _window_for(con, c["category_id"]) if set(errors.get("kinds") or {}) == {"context_exceeded"} else None
        if window is None:
            out.append({"step": "fix_errors", "title": f"Fix the failed calls of {c['name']}",
                        "command": "plan replay", "why": c.get("decision_reason") or ""})
            continue
        out.append({
            "step": "fix_errors", "title": f"Measure {c['name']} with a {window:,}-token context window",
            "command": (f"plan replay --endpoint {DEFAULT_ENDPOINT} --model {DEFAULT_MODEL} --context-tokens {window} "
                        f"--category {c['category_id']}"),
            "why": (f"Its prompts are longer than the window of the model that replayed them, so they were not sent "
                    f"and nothing was measured. Serve the model with a window of {window:,} tokens, which holds the "
                    f"longest logged prompt and an answer (Ollama: OLLAMA_CONTEXT_LENGTH={window} ollama serve; "
                    f"llama.cpp: llama-server -c {window}), then replay this category."),
        })
    return out


def next_steps(con, cost: dict, categories: list[dict], acceptance: dict[int, dict], measured: dict,
               judge_settings: JudgeSettings) -> list[dict]:
    """The commands that settle what the report leaves open, in the order to run them. The margin is the one
    the judge decided with, else the configured one."""
    stored = next((float(t) for t in (_margin(a) for a in acceptance.values()) if t), None)
    margin = stored if stored is not None else judge_settings.margin
    steps: list[dict] = []
    if measured["replayed_model"] is None or measured["stand_in"]:
        steps.append({
            "step": "pull",
            "title": f"Pull the reference model {DEFAULT_MODEL}",
            "command": f"ollama pull {DEFAULT_MODEL}",
            "why": ("The verdicts above come from " + (f"{measured['replayed_model']}, a small stand-in" if measured["stand_in"]
                                                       else "no local model yet") +
                    f"; {DEFAULT_MODEL} is the model the decision is about (any OpenAI-compatible server works: pass --endpoint)."),
        })
    replay = _replay_step(con, cost, acceptance, measured, margin)
    if replay:
        steps.append(replay)
    judge = _judge_step(categories, judge_settings, measured)
    if judge:
        steps.append(judge)
    steps.extend(_fix_steps(con, categories))
    if measured["replayed_model"] is not None:
        steps.append({
            "step": "review",
            "title": "Review answers by hand",
            "command": "plan review export --out review.html --only unreviewed && plan review import review.html",
            "why": "A reviewer's pass or fail overrides the automatic checks and settles a category without a judge model.",
        })
    keys = ("step", "title", "command", "why", "estimate", "calls")
    return [{"order": i, **{k: step.get(k) for k in keys}, **step} for i, step in enumerate(steps, start=1)]


def _margin(row: dict) -> float | None:
    import json

    try:
        return (json.loads(row.get("thresholds_json") or "{}") or {}).get("margin")
    except ValueError:
        return None
