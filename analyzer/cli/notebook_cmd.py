from __future__ import annotations

import click

from .options import db_option, echo, emit_json, json_option, say


@click.command()
@db_option
@json_option
@click.option("--run", "run", is_flag=True, help="Execute the notebooks headless and save executed copies.")
@click.option("--out", "out_dir", default="out/notebooks", show_default=True, type=click.Path(file_okay=False),
              help="Where --run writes the executed notebooks (the committed ones are never changed).")
@click.option("--timeout", default=600, show_default=True, type=click.IntRange(min=1), help="Seconds allowed per cell.")
@click.argument("names", nargs=-1)
def notebook(db_path, as_json, run, out_dir, timeout, names):
    """Where the Jupyter notebooks are and how to open them; --run executes them.

    The notebooks read the database read-only: 01 spend and volume by model,
    day and category with a map of the prompts; 02 a k sweep and two values
    of k side by side; 03 savings and payback as hardware, electricity,
    frontier prices and the acceptance target change. They read $PLAN_DB,
    else ../plan.duckdb (what `make demo` writes). NAMES picks some by prefix.

    \b
    Examples:
      plan notebook
      plan notebook --run
      plan notebook --run 03 --db exports.duckdb
    """
    from .. import explore

    if run:
        results = explore.run_notebooks(db_path, names=names or None, out_dir=out_dir, timeout=timeout, say=say)
        if as_json:
            emit_json({"db": db_path, "results": results})
            return
        for r in results:
            echo(f"{r['notebook']:<28} {r['seconds']:>6.1f} s  {r['cells']:>3} cells  {r['images']:>2} charts  {r['output']}")
        return
    guide = explore.notebook_guide(db_path)
    if as_json:
        emit_json(guide)
        return
    echo("Notebooks (they open the database read-only and write nothing unless a cell asks):")
    for nb in guide["notebooks"]:
        echo(f"  {nb['path']}  {nb['title']}")
    state = "found" if guide["db_exists"] else "not found: run `make demo` first, or pass --db"
    echo(f"Database: {guide['db']} ({state})")
    echo("Open them in Jupyter:")
    for command in guide["open_commands"]:
        echo(f"  {command}")
    echo("Run them headless (executed copies in out/notebooks/):")
    echo(f"  {guide['run_command']}")
