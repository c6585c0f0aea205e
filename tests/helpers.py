"""Small helpers shared by the tests (imported as ``from helpers import ...``, like ``openai_stub``)."""

from __future__ import annotations

from analyzer.db import dicts


def stored_requests(con, columns: str = "*", *, where: str = "true", params=None, as_list: bool = False):
    """The rows `plan ingest` stored in ``requests`` (only ``columns``), in file and line order: a dict keyed by
    ``source_id``, or the list itself with ``as_list``."""
    found = dicts(con, f"select {columns} from requests where {where} order by source_file, source_line", params)
    return found if as_list else {r["source_id"]: r for r in found}


def tool_missing(name: str) -> bool:
    """Whether a test that needs the command-line tool ``name`` should skip: only on a developer's machine
    without it. In CI (CI=true) the machine has node, gcc and openssl, so a missing one fails the test rather
    than hiding what it checks."""
    import os
    import shutil

    return shutil.which(name) is None and not os.environ.get("CI")
