from __future__ import annotations

import click

from .options import config_option, db_option, echo, emit_json, json_option, say


@click.command()
@click.option("--k", "k", default=None, metavar="auto|N",
              help="Number of clusters: 'auto' (first silhouette peak between 10 and 200, raised to --top and to the "
                   "number of shared system prompts that state a task) or exactly N. [default: auto]")
@click.option("--top", type=click.IntRange(min=1), default=None,
              help="Categories kept by name, by spend; the rest fold into Other. [default: 10]")
@click.option("--embedder", default=None, envvar="PLAN_EMBEDDER",
              help="all-MiniLM-L6-v2 (default, bundled), static-minilm, or a sentence-transformers model name or "
                   "local path (offline only).")
@click.option("--seed", type=int, default=None, help="Seed for sampling and clustering. [default: 0]")
@click.option("--sample-size", type=click.IntRange(min=100), default=None,
              help="Beyond --exact-limit distinct prompts, embed this uniform sample with the embedder and "
                   "assign the rest with the fast static route. [default: 3000]")
@click.option("--exact-limit", type=click.IntRange(min=0), default=None,
              help="Embed every distinct prompt with the embedder up to this many. [default: 5000]")
@click.option("--template-cap", type=click.IntRange(min=0), default=None,
              help="Up to --exact-limit: embed at most this many prompts of one template; a template kept whole "
                   "takes the rest along, one split by content is embedded in full (0: no cap). [default: 50]")
@click.option("--heavy-limit", type=click.IntRange(min=0), default=None,
              help="Beyond --exact-limit, also embed up to this many costly prompts (costliest first) that the "
                   "fast route is unsure of, so it does not decide alone where the big spenders go. [default: 500]")
@click.option("--llm-names", is_flag=True,
              help="Name categories with a local OpenAI-compatible model (Clio-style: samples inside and just "
                   "outside each category). Keyword and template names are kept if it fails.")
@click.option("--endpoint", default=None, help="Endpoint for --llm-names (default: as for plan replay).")
@click.option("--model", default=None, help="Model for --llm-names (default: as for plan replay).")
@click.option("--allow-remote", is_flag=True, help="Allow a --llm-names endpoint that is not this machine.")
@db_option
@config_option
@json_option
def categorize(k, top, embedder, seed, sample_size, exact_limit, template_cap, heavy_limit, llm_names, endpoint, model, allow_remote,
               db_path, config_file, as_json):
    """Group requests into a hierarchy of categories, rank them by spend and name them.

    Each request is represented by its system prompt's head and its user turn (normalised and
    deduplicated), embedded (vectors cached in the database) and clustered into intents; intents sit
    under workloads (a shared system prompt or template, an app tag, a user). --top N names the N
    categories carrying most spend at the finest level where N of them carry at least 75% of it
    (intents, else workloads, split into topic groups when there are fewer than N); the rest fold into
    "Other". Names are task phrases read off the prompts ("Answer card-delivery questions"), keywords
    follow on a second line. Results go to the tables categories (every node, with parent_id and level),
    request_categories (category_id: the named category; intent_id: the intent) and prompt_templates.

    \b
    Examples:
      plan categorize
      plan categorize --k 25 --top 10 --json
      plan categorize --embedder static-minilm     # fastest, lower quality
      plan categorize --llm-names --endpoint http://localhost:11434/v1 --model qwen3:8b
    """
    from ..categorize import CategorizeSettings
    from ..categorize import categorize as run_categorize
    from ..config import load_config
    from ..db import connect

    config = load_config(config_file)
    settings = CategorizeSettings.resolve(
        config, k=k, top=top, embedder=embedder, seed=seed, sample_size=sample_size, exact_limit=exact_limit,
        template_cap=template_cap, heavy_limit=heavy_limit, llm_names=True if llm_names else None, endpoint=endpoint, model=model,
        allow_remote=True if allow_remote else None)
    con = connect(db_path, create=False)
    try:
        result = run_categorize(con, settings, progress=not as_json, say=say)
    finally:
        con.close()
    if as_json:
        emit_json(result)
        return
    _print_table(result)


def _print_table(result: dict) -> None:
    from ..categorize import boundaries_vary
    from ..naming import clip_name

    method = result["method"]
    sampling = result.get("sampling") or {}
    spend = "unknown" if result["spend_usd"] is None else f"${result['spend_usd']:,.2f}"
    if sampling.get("sampled") and result["spend_usd"] is not None:
        spend += f" scaled to the full traffic (${sampling['spend_usd'] or 0:,.2f} in the sample)"
    echo(f"{result['requests']:,} requests, {method['distinct_texts']:,} distinct prompts, k={result['k']} "
               f"({method['mode']}, {result['embedder']}); spend {spend}")
    if sampling.get("sentence"):
        echo(sampling["sentence"])
    echo(f"Named level: {result['named_level']}s. {result['level_reason']}")
    echo(f"{'id':>4}  {'name':<50} {'task type':<24} {'requests':>9} {'spend':>11} {'share':>6}")
    for c in result["categories"]:
        ci = ""
        if c["share_of_spend_ci"] is not None:
            low, high = c["share_of_spend_ci"]
            ci = f"  ({low:.0%}-{high:.0%})" if high - low >= 0.005 else ""
        money = "unknown" if c["spend_usd"] is None else f"${c['spend_usd']:,.2f}"
        share = "" if c["share_of_spend"] is None else f"{c['share_of_spend']:.1%}"
        echo(f"{c['id']:>4}  {clip_name(c['name'], 50):<50} {c['task_type']:<24} {c['requests']:>9,} "
                   f"{money:>11} {share:>6}{ci}")
        if c["keywords"]:
            echo(f"      keywords: {', '.join(c['keywords'][:6])}")
        if c["parent"]:
            echo(f"      workload: {clip_name(c['parent']['name'], 60)}")
        if c["intents"]:
            shown = ", ".join(f"{clip_name(i['name'], 40)} "
                              f"({'spend unknown' if i['share_of_spend'] is None else format(i['share_of_spend'], '.0%')})"
                              for i in c["intents"][:4])
            more = f" and {len(c['intents']) - 4} more" if len(c["intents"]) > 4 else ""
            echo(f"      intents: {shown}{more}")
        if boundaries_vary(c.get("stability")) and c["share_of_spend_refit_range"] is not None:
            low, high = c["share_of_spend_refit_range"]
            echo(f"      boundaries vary: refits put its share of spend between {low:.1%} and {high:.1%} "
                       f"(stability {c['stability']:.2f})")
    for w in result["warnings"]:
        say(f"Note: {w}")
    say(f"Embedded {result['embedded_new']:,} new prompts ({result['embedded_cached']:,} from cache).")
