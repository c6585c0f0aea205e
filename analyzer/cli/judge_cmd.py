from __future__ import annotations

import click

from .options import config_option, db_option, echo, emit_json, json_option, say


def _split_checks(values) -> list[str] | None:
    names = [part.strip() for value in values or () for part in value.split(",") if part.strip()]
    return names or None


@click.command()
@click.option("--target", type=float, default=None,
              help="Acceptance target for `local`: the 95% lower bound must reach it (default 0.8, [judge] target).")
@click.option("--margin", type=float, default=None,
              help="Interval half-width to size samples for, e.g. 0.05 for ±5 points (default 0.05, [judge] margin).")
@click.option("--check", "checks", multiple=True,
              help="Apply these checks to every category instead of the defaults (repeat or comma-separate).")
@click.option("--model", default=None, help="Judge the replays of this local model (default: the most recent).")
@click.option("--judge-endpoint", default=None,
              help="OpenAI-compatible URL of a judge model ($PLAN_JUDGE_ENDPOINT); turns on the pairwise llm_judge check.")
@click.option("--judge-model", default=None, help="Name of the judge model at --judge-endpoint ($PLAN_JUDGE_MODEL).")
@click.option("--allow-remote", is_flag=True, help="Allow a judge endpoint that is not on this machine.")
@click.option("--allow-self-judge", is_flag=True,
              help="Let the replayed model judge its own answers (it favours them; its verdicts are marked self-judged).")
@db_option
@config_option
@json_option
def judge(target, margin, checks, model, judge_endpoint, judge_model, allow_remote, allow_self_judge, db_path,
          config_file, as_json):
    """Judge the local answers: acceptance per category with a 95% interval, and a decision.

    Only answers are judged: failed calls are counted per category in "errors" and left out. Each category
    gets checks from its task type (valid JSON, SQL that parses, SVG that renders, code that compiles, the
    same label, similarity to the frontier answer), or the ones listed in plan.toml under
    [judge.categories."<name or id>"]. Decision: local when the interval's lower bound reaches the target;
    cascade when runtime checks catch the failures; frontier otherwise; needs_judge when only similarity
    looked at the answers; not_measured when nothing was judged or most calls failed. Every category names
    its evidence. Human verdicts from `plan review import` override automatic ones.

    \b
    Examples:
      plan judge
      plan judge --target 0.9 --json
      plan judge --judge-endpoint http://localhost:11434/v1 --judge-model gpt-oss:20b
    """
    from ..config import load_config
    from ..db import connect
    from ..judge import JudgeSettings, judge as run_judge

    settings = JudgeSettings.resolve(
        load_config(config_file), target=target, margin=margin, checks_override=_split_checks(checks),
        judge_endpoint=judge_endpoint, judge_model=judge_model, allow_remote=allow_remote or None,
        allow_self_judge=allow_self_judge or None, model=model,
    )
    con = connect(db_path, create=False)
    try:
        result = run_judge(con, settings, progress=not as_json, say=say)
    finally:
        con.close()
    for warning in result["warnings"]:
        say(f"warning: {warning}")
    if as_json:
        emit_json(result)
        return
    t = result["thresholds"]
    r = result["replays"]
    say(f"Judged {r['judged']} answers of {result['model']} ({r['errors']} failed calls left out, {r['pending']} pending, "
        f"{r['uncategorised']} uncategorised, {r['not_comparable']} without a frontier answer, "
        f"{r['human_overrides']} human verdicts).")
    echo(f"{'category':<34} {'task type':<22} {'n':>5}  {'acceptance (95% CI)':<22} {'decision':<13} evidence")
    for c in result["categories"]:
        rate = "n/a" if c["acceptance"] is None else f"{c['acceptance']:.0%} ({c['ci_low']:.0%}–{c['ci_high']:.0%})"
        name = c["name"] if len(c["name"]) <= 33 else c["name"][:32] + "…"
        echo(f"{name:<34} {c['task_type'] or '':<22} {c['n']:>5}  {rate:<22} {c['decision']:<13} {c['evidence']}")
    for c in result["categories"]:
        notes = []
        if c["errors"]["calls"]:
            notes.append(f"{c['errors']['calls']} failed calls left out ({c['errors']['transient']} transient, "
                         f"{c['errors']['deterministic']} refused)")
        if c["cut_short"]:
            notes.append(f"{c['cut_short']} of {c['answers']} answers stopped at the output-token cap (a check that fails "
                         "on a cut answer may be the cap's doing: replay with a higher --max-output-tokens)")
        if c["downgrades"]:
            notes.append("downgraded: " + ", ".join(f"{k} ({v})" for k, v in c["downgrades"].items()))
        if c["decision"] in ("needs_judge", "not_measured"):
            notes.append(c["decision_reason"])
        if notes:
            say(f"  {c['name'][:48]}: " + "; ".join(notes))
    echo(f"\nTarget {t['target']:.0%} (lower bound of the 95% Wilson interval); cascade needs acceptance ≥ "
               f"{t['cascade_min_acceptance']:.0%} and runtime checks that catch the failures.")
    short = [c for c in result["categories"] if c["n"] < c["n_needed"]]
    if short:
        echo(f"For ±{t['margin']:.0%} intervals: " + ", ".join(
            f"{c['name']} needs {c['n_needed']} (has {c['n']})" for c in short[:5]) + ("…" if len(short) > 5 else ""))
