"""The `plan` command line. Each subcommand lives in its own module and is imported only when used,
so `plan --help` stays instant and heavy libraries (torch, sentence-transformers) load lazily."""

from __future__ import annotations

import importlib

import click

from .. import __version__
from ..errors import PlanError
from ..output import _TYPED, clean, remember_typed

# name -> "module:function" inside analyzer.cli
SUBCOMMANDS = {
    "ingest": "ingest_cmd:ingest",
    "status": "status_cmd:status",
    "categorize": "categorize_cmd:categorize",
    "cost": "cost_cmd:cost",
    "privacy": "privacy_cmd:privacy",
    "replay": "replay_cmd:replay",
    "serve": "serve_cmd:serve",
    "judge": "judge_cmd:judge",
    "review": "review_cmd:review",
    "report": "report_cmd:report",
    "notebook": "notebook_cmd:notebook",
    "route": "route_cmd:route",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx, name):
        target = SUBCOMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = importlib.import_module(f"{__name__}.{module_name}")
        return getattr(module, attr)

    def parse_args(self, ctx, args):
        # Everything typed after `plan` (the subcommand and its values), before click splits it up.
        remember_typed(list(args))
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PlanError as exc:
            # Error messages quote file names, lines and values from logs: through the gate like any output.
            raise click.ClickException(clean(str(exc), limit=4000, keep=_TYPED)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="plan")
def cli():
    """Find which of your LLM API traffic could run on a local open model,
    how good it would be, and what you would save.

    \b
    The pipeline, on one DuckDB file (--db, env PLAN_DB, default ./plan.duckdb):
      plan ingest exports/      normalise provider logs
      plan categorize           top categories by spend
      plan replay               replay samples on a local model
      plan judge                acceptance per category
      plan cost                 savings, payback, capacity
      plan report --out r.html  the decision report
      plan route export ...     routes for LiteLLM / semantic-router
    """


def main():
    cli(prog_name="plan")
