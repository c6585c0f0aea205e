"""Option sets shared by the subcommands, as small decorators."""

from __future__ import annotations

import json
import sys

import click

from ..db import default_db_path


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


def emit_json(payload) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def say(message: str) -> None:
    """Chatter for people goes to stderr."""
    click.echo(message, err=True)
