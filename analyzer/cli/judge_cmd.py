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
@click.option("--judge-endpoint", default=None, envvar="PLAN_JUDGE_ENDPOINT",
              help="OpenAI-compatible URL of a judge model; turns on the pairwise llm_judge check.")
@click.option("--judge-model", default=None, envvar="PLAN_JUDGE_MODEL", help="Name of the judge model at --judge-endpoint.")
@click.option("--allow-remote", is_flag=True, help="Allow a judge endpoint that is not on this machine.")
@db_option
@config_option
@json_option
def judge(target, margin, checks, model, judge_endpoint, judge_model, allow_remote, db_path, config_file, as_json):
    """Judge the local answers: acceptance per category with a 95% interval, and a decision.

    Each category gets checks from its task type (valid JSON, SQL that parses, SVG that renders, code that
    compiles, the same label, similarity to the frontier answer), or the ones listed in plan.toml under
    [judge.categories."<name or id>"]. Decision: local when the interval's lower bound reaches the target;
    cascade when runtime checks catch the failures; frontier otherwise. Human verdicts from
    `plan review import` override automatic ones.

    \b
    Examples:
      plan judge
      plan judge --target 0.9 --json
      plan judge --judge-endpoint http://localhost:11434/v1 --judge-model qwen3.6:35b-a3b
    """
    from ..config import load_config
    from ..db import connect
    from ..judge import judge as run_judge

    config = load_config(config_file)
    con = connect(db_path, create=False)
    try:
        result = run_judge(
            con, config=config, target=target, margin=margin, checks_override=_split_checks(checks),
            judge_endpoint=judge_endpoint, judge_model=judge_model, allow_remote=allow_remote,
            progress=not as_json, model=model,
        )
    finally:
        con.close()
    for warning in result["warnings"]:
        say(f"warning: {warning}")
    if as_json:
        emit_json(result)
        return
    t = result["thresholds"]
    r = result["replays"]
    say(f"Judged {r['judged']} replays of {result['model']} ({r['errors']} failed calls, {r['pending']} pending, "
        f"{r['uncategorised']} uncategorised, {r['human_overrides']} human verdicts).")
    echo(f"{'category':<34} {'task type':<22} {'n':>5}  {'acceptance (95% CI)':<22} decision")
    for c in result["categories"]:
        rate = "n/a" if c["acceptance"] is None else f"{c['acceptance']:.0%} ({c['ci_low']:.0%}–{c['ci_high']:.0%})"
        name = c["name"] if len(c["name"]) <= 33 else c["name"][:32] + "…"
        echo(f"{name:<34} {c['task_type'] or '':<22} {c['n']:>5}  {rate:<22} {c['decision']}")
    echo(f"\nTarget {t['target']:.0%} (lower bound of the 95% Wilson interval); cascade needs acceptance ≥ "
               f"{t['cascade_min_acceptance']:.0%} and runtime checks that catch the failures.")
    short = [c for c in result["categories"] if c["n"] < c["n_needed"]]
    if short:
        echo(f"For ±{t['margin']:.0%} intervals: " + ", ".join(
            f"{c['name']} needs {c['n_needed']} (has {c['n']})" for c in short[:5]) + ("…" if len(short) > 5 else ""))
