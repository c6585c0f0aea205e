from __future__ import annotations

import json
import sys

import click

from ..errors import PlanError
from .options import config_option, db_option, echo, json_option, say

FORMAT_CHOICES = ("semantic-router", "semantic-router-v1", "litellm", "json")


class DefaultToClassify(click.Group):
    """``plan route TEXT|-`` classifies; ``plan route export ...`` exports. Anything that is not a subcommand
    name goes to ``classify`` (a prompt that is literally "export": ``plan route classify export``)."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["classify", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultToClassify, options_metavar="", subcommand_metavar="TEXT|- [OPTIONS] | export [OPTIONS]")
def route():
    """Act on the decision: classify new prompts, or export routes for LiteLLM or semantic-router.

    \b
    Examples:
      plan route "Write a SQL query for monthly revenue by region"
      plan route - --json < prompts.txt            one prompt per line, one JSON object per line out
      plan route - --jsonl --json < requests.jsonl  OpenAI/Anthropic request bodies, one per line
      plan route export --format litellm --out litellm/config.yaml
      plan route export --format semantic-router --out routes.json
      plan route export --format json --out plan-routes.json --json
    """


def _target_options(fn):
    fn = click.option("--endpoint", default=None,
                      help="Local endpoint for local and cascade routes (default: where the judged replays went, "
                           "else as for plan replay).")(fn)
    fn = click.option("--model", default=None, help="Local model name (default: the model the judge judged).")(fn)
    fn = click.option("--default-model", default=None,
                      help="Where prompts no category claims go (default: the most requested model in the logs).")(fn)
    return fn


def _calibration_options(fn):
    fn = click.option("--holdout", type=float, default=None,
                      help="Share of each cluster's prompts held out to calibrate on. [default: 0.2]")(fn)
    fn = click.option("--recall", type=float, default=None,
                      help="Share of held-out prompts placed right that a threshold keeps. [default: 0.98]")(fn)
    fn = click.option("--precision", type=float, default=None,
                      help="Share of what passes a threshold that must land in its own category. [default: 0.95]")(fn)
    fn = click.option("--seed", type=int, default=None, help="Seed of the held-out draw. [default: 0]")(fn)
    return fn


def _settings(config, **flags):
    from ..route import RouteSettings

    return RouteSettings.resolve(config, **{k: v for k, v in flags.items()})


@route.command("classify")
@click.argument("text", required=True)
@click.option("--system", "system_prompt", default=None,
              help="The system prompt sent with TEXT (it identifies templated workloads).")
@click.option("--jsonl", is_flag=True,
              help="Each input line is a JSON request: an OpenAI chat body (messages), an Anthropic Messages body "
                   "(system, messages), a log record holding one under 'request' or 'body', or {prompt, system}.")
@_target_options
@_calibration_options
@db_option
@config_option
@json_option
def classify(text, system_prompt, jsonl, endpoint, model, default_model, holdout, recall, precision, seed,
             db_path, config_file, as_json):
    """Classify prompts: category, decision, target and score, or "no category (default route)".

    TEXT is one prompt, or - to read one prompt per line from stdin. Prompts are placed with the embedder
    and centres categorize stored, exactly as categorize places a request; a prompt whose score is below
    its category's held-out threshold goes to the default route. With --json every prompt gives one JSON
    object on its own line (JSON Lines): input, mode, routed, category_id, category, decision, target,
    score, threshold, nearest_category_id, nearest_category, reason.

    \b
    Examples:
      plan route "Summarise these meeting notes: ..."
      plan route --system "You are a support triage bot..." "My camera is offline" --json
      plan route - --json < prompts.txt
    """
    from ..config import load_config
    from ..db import connect
    from ..route import classify as run_classify

    config = load_config(config_file)
    settings = _settings(config, endpoint=endpoint, model=model, default_model=default_model, holdout=holdout,
                         recall=recall, precision=precision, seed=seed)
    prompts, problems = _read_prompts(text, system_prompt, jsonl)
    con = connect(db_path, create=False)
    try:
        results = run_classify(con, settings, [p for _, p in prompts], config, progress=not as_json, say=say)
    finally:
        con.close()
    for (line, _), result in zip(prompts, results, strict=True):
        result["input"] = line
        _show(result, as_json, many=text == "-")
    for line, reason in problems:
        say(f"stdin line {line}: {reason}; not classified.")
    if problems:
        sys.exit(1)


def _read_prompts(text: str, system_prompt: str | None, jsonl: bool):
    """[(line, (system, prompt))] and [(line, problem)] from TEXT or stdin."""
    from ..route.inputs import parse_request

    if text != "-":
        lines = [(1, text)]
    else:
        lines = [(i, line.rstrip("\n")) for i, line in enumerate(sys.stdin, 1) if line.strip()]
    prompts, problems = [], []
    for number, line in lines:
        if not jsonl:
            prompts.append((number, (system_prompt, line)))
            continue
        try:
            prompts.append((number, parse_request(line)))
        except PlanError as exc:
            problems.append((number, str(exc)))
    if not prompts and not problems:
        raise PlanError("No prompt given: pass TEXT, or - with one prompt per line on stdin.")
    return prompts, problems


def _describe_target(target: dict) -> str:
    if target.get("kind") in ("local", "cascade"):
        where = f"{target['model']} at {target['endpoint']}"
        if target["kind"] == "cascade":
            checks = ", ".join(target.get("runtime_checks") or []) or "failed calls"
            return f"{where}, then {target['fallback'].get('model')} when {checks} fail"
        return where
    return f"{target.get('model')} ({target.get('kind')})"


def _show(result: dict, as_json: bool, *, many: bool) -> None:
    from ..output import gate

    if as_json:  # JSON Lines: one object per prompt, gated as a structure, then as the line it becomes
        echo(json.dumps(gate(result), ensure_ascii=False, default=str), limit=None)
        return
    head = f"[{result['input']}] " if many else ""
    if result["routed"]:
        echo(f"{head}{result['category']} | decision: {result['decision']} | target: "
             f"{_describe_target(result['target'])} | score {result['score']:.3f} (threshold "
             f"{result['threshold']:.3f})")
        return
    near = "" if result["score"] is None else (
        f" | nearest: {result['nearest_category']}, score {result['score']:.3f}"
        + (f" < {result['threshold']:.3f}" if result["threshold"] is not None else ""))
    echo(f"{head}no category (default route) | target: {_describe_target(result['target'])}{near}")


@route.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), required=True,
              help="semantic-router: its 0.x route-layer JSON (what LiteLLM's auto router reads); "
                   "semantic-router-v1: the 1.x router file; litellm: a proxy config.yaml with its routes inline; "
                   "json: plan's own (README).")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="File to write.")
@click.option("--utterances", type=click.IntRange(min=2), default=None,
              help="Utterances per route, central and near the boundary. [default: 24]")
@click.option("--embedding-model", default=None,
              help="litellm: the embedding model LiteLLM routes with; it must be all-MiniLM-L6-v2 for the "
                   "thresholds to hold. [default: all-minilm, Ollama's name for it]")
@click.option("--embedding-endpoint", default=None,
              help="litellm: OpenAI-compatible endpoint serving it. [default: the local endpoint]")
@_target_options
@_calibration_options
@db_option
@config_option
@json_option
def export(fmt, out, utterances, embedding_model, embedding_endpoint, endpoint, model, default_model, holdout,
           recall, precision, seed, db_path, config_file, as_json):
    """Export every categorized category as a route: utterances (central and near the boundary, redacted,
    deduplicated), a target from its decision, and a score threshold calibrated on held-out prompts.

    Local and local-for-compliance categories go to the local model; cascade to the local model with its
    frontier model and runtime checks behind it; frontier, needs_judge and not_measured stay on the frontier
    model the logs show for them (the decision is stated in each route).

    \b
    Examples:
      plan route export --format semantic-router --out routes.json
      plan route export --format litellm --out proxy/config.yaml --endpoint http://gpu-box:11434/v1
      plan route export --format json --out plan-routes.json --json
    """
    from ..config import load_config
    from ..db import connect
    from ..output import emit_json
    from ..route import export_routes

    config = load_config(config_file)
    settings = _settings(config, endpoint=endpoint, model=model, default_model=default_model, holdout=holdout,
                         recall=recall, precision=precision, seed=seed, utterances=utterances,
                         embedding_model=embedding_model, embedding_endpoint=embedding_endpoint)
    con = connect(db_path, create=False)
    try:
        summary = export_routes(con, settings, fmt=fmt, out=out, config=config, progress=not as_json, say=say)
    finally:
        con.close()
    if as_json:
        emit_json(summary)
        return
    _show_summary(summary)


def _share(o: dict) -> str:
    share = o["own_category_share"]
    return "n/a" if share is None else f"{share:.1%}"


def _show_summary(s: dict) -> None:
    echo(f"Wrote {', '.join(s['files'])}: {s['routes']} routes; default route: {s['default']['model']}.")
    labels = {"logged": "as logged (centres)", "bare": "as bare user turns (centres)",
              "utterance": "by utterances (semantic-router scoring)"}
    for key, label in labels.items():
        o = s["held_out"][key]
        echo(f"Held out {label}: {_share(o)} of {o['held_out']} land in their own category; "
             f"{o['fell_through']} fall through to the default route, {o['elsewhere']} land in another category.")
    t = s["thresholds"]
    echo(f"Thresholds (global): request {t['request']:.3f}, prompt {t['prompt']:.3f}, utterance {t['utterance']:.3f}.")
    for r in s["by_route"]:
        o = r["held_out_utterance"]
        echo(f"  {r['name']}: {r['decision']} -> {_describe_target(r['target'])}; {r['utterances']} utterances, "
             f"threshold {r['utterance_score_threshold']:.3f}, held out {o['own_category']}/{o['held_out']} home")
