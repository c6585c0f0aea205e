"""Opening the DuckDB store and small query helpers.

DuckDB 2.x refuses new work on a connection while an ``execute()`` result is
unfinished, so every helper here drains its result before returning.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Sequence

import duckdb

from .errors import PlanError

DEFAULT_DB = "plan.duckdb"


def default_db_path() -> str:
    return os.environ.get("PLAN_DB") or DEFAULT_DB


def _quiet(con):
    # DuckDB draws a progress bar on stdout for any query past two seconds: it would land inside `--json` output.
    try:
        con.execute("set enable_progress_bar = false")
    except duckdb.InvalidInputException:
        pass  # in Jupyter the bar is a widget, not stdout, and DuckDB refuses the setting without ipywidgets
    return con


def connect(path: str | os.PathLike | None = None, *, read_only: bool = False, migrate: bool = True,
            create: bool = True):
    """Open (and by default migrate) the store. New files are created owner-only (0600); with
    ``create=False`` (every stage after ingest) a missing file is an error, not a new empty store."""
    from .migrations import apply_migrations

    path = str(path or default_db_path())
    if path != ":memory:":
        p = Path(path)
        if (read_only or not create) and not p.exists():
            raise PlanError(f"No database at {path}. Run `plan ingest` first, or pass --db.")
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            # The store holds prompts: create it (and its WAL) owner-only from the first byte.
            old_umask = os.umask(0o077)
            try:
                con = _quiet(duckdb.connect(path))
            finally:
                os.umask(old_umask)
            os.chmod(path, 0o600)
            if migrate:
                apply_migrations(con)
            return con
    try:
        con = _quiet(duckdb.connect(path, read_only=read_only))
    except duckdb.IOException as exc:
        raise PlanError(f"Cannot open database {path}: {exc}") from exc
    if migrate and not read_only:
        apply_migrations(con)
    return con


@contextmanager
def session(path=None, *, read_only: bool = False):
    con = connect(path, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def rows(con, sql: str, params: Sequence[Any] | dict | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def one(con, sql: str, params: Sequence[Any] | dict | None = None) -> tuple | None:
    result = con.execute(sql, params or []).fetchall()
    return result[0] if result else None


def scalar(con, sql: str, params: Sequence[Any] | dict | None = None):
    row = one(con, sql, params)
    return row[0] if row else None


def dicts(con, sql: str, params: Sequence[Any] | dict | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def arrow(con, sql: str, params: Sequence[Any] | dict | None = None):
    """Query result as a pyarrow Table (the route to polars: ``polars.from_arrow``)."""
    # A relation converts straight to Arrow; a DB-API result would copy the rows once more.
    return con.sql(sql, params=params or None).to_arrow_table()


def polars(con, sql: str, params: Sequence[Any] | dict | None = None):
    import polars as pl

    return pl.from_arrow(arrow(con, sql, params))


def table_exists(con, name: str) -> bool:
    return bool(scalar(con, "select count(*) from information_schema.tables where table_name = ?", [name]))


def insert_arrow(con, table: str, data, *, columns: Iterable[str] | None = None) -> None:
    """Append a pyarrow Table (or polars DataFrame) to ``table`` by column name."""
    if hasattr(data, "to_arrow"):
        data = data.to_arrow()
    cols = list(columns or data.column_names)
    view = f"_insert_src_{os.getpid()}_{id(data)}"
    con.register(view, data)
    try:
        col_list = ", ".join(f'"{c}"' for c in cols)
        con.execute(f'insert into "{table}" ({col_list}) select {col_list} from "{view}"')
    finally:
        con.unregister(view)


def record_stage_run(con, stage: str, params: dict, summary: dict, started_at=None) -> None:
    """Provenance: one row per stage run, shown by `plan status` and the report footer."""
    con.execute(
        "insert into stage_runs (stage, started_at, finished_at, params_json, summary_json) "
        "values (?, coalesce(?, now()::timestamp), now()::timestamp, ?, ?)",
        [stage, started_at, json.dumps(params, default=str), json.dumps(summary, default=str)],
    )
