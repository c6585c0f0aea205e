"""Option sets shared by the subcommands, as small decorators."""

from __future__ import annotations

import click

from ..db import default_db_path
from ..output import echo, emit_json, say

__all__ = ["config_option", "db_option", "echo", "emit_json", "json_option", "say"]


def db_option(fn):
    return click.option(
        "--db",
        "db_path",
        default=default_db_path,
        show_default="./plan.duckdb or $PLAN_DB",
        help="DuckDB file to read and write.",
        type=click.Path(dir_okay=False),
    )(fn)


def json_option(fn):
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")(fn)


def config_option(fn):
    return click.option(
        "--config",
        "config_file",
        default=None,
        envvar="PLAN_CONFIG",
        help="plan.toml to read (default ./plan.toml when present).",
        type=click.Path(dir_okay=False),
    )(fn)
