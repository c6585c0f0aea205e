from __future__ import annotations

import json
import sys

import click

from .options import config_option, db_option, echo, emit_json, json_option, say


def _parse_params(pairs) -> dict:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--param")
        try:
            params[key.strip()] = json.loads(value)
        except ValueError:
            params[key.strip()] = value
    return params


@click.command()
@click.option("--endpoint", default=None,
              help="OpenAI-compatible base URL, or 'embedded' for the bundled model. "
                   "Default: $PLAN_ENDPOINT, $OLLAMA_HOST, plan.toml [replay] endpoint, http://localhost:11434/v1.")
@click.option("--model", default=None,
              help="Model name on the server (default qwen3.6:35b-a3b, or [replay] model; ignored with embedded).")
@click.option("--per-category", type=int, default=None, help="Requests to replay per category (default 30).")
@click.option("--margin", type=float, default=None,
              help="Instead of --per-category: the ± half-width wanted on each acceptance rate, e.g. 0.1 (97 per category).")
@click.option("--concurrency", type=int, default=None, help="Calls in flight at once (default 4).")
@click.option("--timeout", type=float, default=None, help="Seconds allowed per call (default 600).")
@click.option("--seed", type=int, default=None, help="Seed of the sample and of the model's sampling (default 0, [replay] seed).")
@click.option("--limit", type=int, default=None, help="Make at most this many calls in this run (rerun to continue).")
@click.option("--category", "categories", multiple=True, help="Only this category (id or name); repeatable.")
@click.option("--include-other", is_flag=True, help="Also replay the folded 'Other' category.")
@click.option("--max-output-tokens", type=int, default=None,
              help="Cap each answer at N tokens (lower than the logged limit; recorded as not carried over).")
@click.option("--stream/--no-stream", default=None, help="Stream answers to measure time to first token (default: stream).")
@click.option("--param", "extra", multiple=True, metavar="KEY=VALUE",
              help="Add a field to every request (VALUE is JSON when it parses), e.g. reasoning_effort=none; repeatable.")
@click.option("--allow-remote", is_flag=True, help="Allow an endpoint that is not on this machine (sends your prompts there).")
@click.option("--context-tokens", type=click.IntRange(min=1), default=None,
              help="The endpoint's context window in tokens, if you know it ([replay] context_tokens): prompts that "
                   "cannot fit are stored as not replayable (context_exceeded) without a call. With embedded: its "
                   "--ctx (8192).")
@click.option("--gguf", type=click.Path(dir_okay=False, exists=True), default=None,
              help="With --endpoint embedded: serve this GGUF instead of the bundled SmolLM2-135M.")
@db_option
@config_option
@json_option
def replay(endpoint, model, per_category, margin, concurrency, timeout, seed, limit, categories, include_other,
           max_output_tokens, stream, extra, allow_remote, context_tokens, gguf, db_path, config_file, as_json):
    """Replay a seeded sample of each top category on a local model.

    Sends the same system prompt, conversation and parameters (temperature,
    max tokens, JSON mode / response_format, tools) to an OpenAI-compatible
    endpoint (Ollama, llama.cpp, vLLM, LM Studio) and stores every answer in
    table `replays` as soon as it arrives. When the endpoint refuses a field
    (json_schema, tools, a penalty), the call is retried once with the nearest
    form it takes, and the step is recorded. Only requests the frontier
    answered are sampled (blocked, errored and empty ones are counted in
    --json "excluded"). Failed calls are stored as errors, never as answers:
    "transient" ones are retried by running again, "deterministic" ones need
    a change to the server or the request. Interrupt it at any time: running
    it again resumes without repeating a finished call. Endpoints that are not
    loopback are refused unless --allow-remote. Set PLAN_API_KEY when the
    server wants a key.

    \b
    Examples:
      ollama pull qwen3.6:35b-a3b && plan replay --per-category 30
      plan replay --endpoint embedded --per-category 3 --max-output-tokens 64
      plan replay --endpoint http://127.0.0.1:8000/v1 --model Qwen/Qwen3.6-35B-A3B --margin 0.1 --json
      plan replay --param reasoning_effort=none      # Ollama: Qwen answers without thinking
    """
    from ..config import load_config
    from ..db import connect
    from ..replay import ReplayInterrupted, ReplaySettings, replay as run_replay

    if per_category is not None and margin is not None:
        raise click.UsageError("Give either --per-category or --margin, not both.")
    settings = ReplaySettings.resolve(
        load_config(config_file), endpoint=endpoint, model=model, per_category=per_category, margin=margin,
        concurrency=concurrency, timeout=timeout, seed=seed, limit=limit, allow_remote=allow_remote or None,
        stream=stream, include_other=include_other or None, categories=tuple(categories) or None,
        max_output_tokens=max_output_tokens, context_tokens=context_tokens, gguf=gguf, params=_parse_params(extra),
    )
    con = connect(db_path, create=False)
    try:
        summary = run_replay(con, settings, progress=not as_json, say=say)
    except ReplayInterrupted as exc:
        s = exc.summary
        say(f"Interrupted: {s['calls_made']} calls finished and saved in this run; {s['remaining']} left. "
            "Run the same command again to resume.")
        sys.exit(130)
    except KeyboardInterrupt:
        say("Interrupted before any call finished. Run the same command again to start.")
        sys.exit(130)
    finally:
        con.close()
    all_failed = summary["calls_made"] > 0 and summary["calls_failed"] == summary["calls_made"]
    if as_json:
        emit_json(summary)
        if all_failed:
            sys.exit(1)
        return
    _print_summary(summary)
    if all_failed:
        transient = summary["errors_by_class"]["transient"]
        retry = ("Check the server's log, then run again: failed calls are retried." if transient
                 else "The endpoint refuses these requests as they are: see above for what to change.")
        raise click.ClickException(
            f"Every call failed ({summary['calls_failed']}): no answer came back from {summary['endpoint']}. {retry}"
        )


def _print_summary(s: dict) -> None:
    if s.get("stand_in"):
        say(f"Note: {s['model']} is the bundled small stand-in model, not the reference Qwen: its answers show that the "
            "pipeline works, not how good a real local model would be.")
    for c in s["categories"]:
        short = f"  (only {c['available']} available)" if c["available"] < s["per_category"] else ""
        failed = f"{c['failed']} failed"
        if c["failed"]:
            failed += f" ({c['failed_transient']} transient, {c['failed_deterministic']} refused)"
        extra = f", {c['downgraded']} downgraded" if c["downgraded"] else ""
        say(f"  {c['name'][:48]:<48} {c['done']:>4}/{c['sampled']:<4} answered, {failed}{extra}{short}")
    rate = (f"{s['output_tokens_per_s']:.1f} output tokens/s at concurrency {s['concurrency']}" if s["output_tokens_per_s"]
            else "no throughput measured (no new calls)")
    echo(
        f"{s['model']} at {s['endpoint']}: {s['calls_made']} calls made, {s['calls_failed']} failed, "
        f"{s['skipped_already_done']} already done; {rate}."
    )
    if s["not_carried"]:
        kinds = ", ".join(f"{k} ({v})" for k, v in s["not_carried"].items())
        say(f"Not carried over, by number of requests affected: {kinds}.")
    if s["errors"]:
        say("Failures: " + ", ".join(f"{k} ({v})" for k, v in s["errors"].items()) + ".")
    for sentence in s["advice"]:
        say(sentence)
    if s["remaining_retriable"]:
        say(f"{s['remaining_retriable']} sampled requests still without an answer; run again to continue.")
    elif s["remaining"]:
        say(f"{s['remaining']} sampled requests have no answer, and running again as it is will not change that (above).")
