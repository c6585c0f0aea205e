"""One writer at a time: DuckDB locks the database file; a second `plan ingest` waits a few seconds for it, then
says which process holds it instead of DuckDB's raw lock error."""

from __future__ import annotations

import re
import time

from ..errors import PlanError

_HOLDER = re.compile(r"\(PID (\d+)\)")


def holder_message(error_text: str, path: str) -> str:
    match = _HOLDER.search(error_text)
    who = f"another plan process (PID {match.group(1)})" if match else "another process"
    return (f"{who} is writing this database ({path}); wait for it to finish and run the command again, "
            "or ingest into another file with --db.")


def open_for_writing(path: str, wait_s: float):
    """The database opened (and migrated) for writing, waiting up to ``wait_s`` seconds while another process
    holds it."""
    import duckdb

    from ..db import connect

    deadline = time.monotonic() + max(wait_s, 0.0)
    while True:
        try:
            return connect(path)
        except PlanError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, duckdb.IOException) and "lock" in str(cause).lower()):
                raise
            if time.monotonic() >= deadline:
                raise PlanError(holder_message(str(cause), path)) from None
            time.sleep(0.25)
