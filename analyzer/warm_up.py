"""Byte-compile what `plan ingest` imports, once, at install time (``make install``).

Python writes a module's bytecode the first time it imports it, unless PYTHONDONTWRITEBYTECODE is set (as in many
containers and CI shells). With it set over a fresh install, every `plan ingest` compiled the ~400 modules it
imports from source again: 1-3 s of every run, a third of the run on a million short lines. Compiling them here
once, explicitly (as ``compileall`` would), leaves the setting in force for everything else: Python still reads
bytecode that exists.

Run: ``python -m analyzer.warm_up`` (the Makefile's install does)."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

# Long enough for the whole-file SQL route (``tuning.SQL_MIN_BYTES``) and its leftovers on the Python route.
LINES = 3_000


def sample_line(i: int) -> str:
    request = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Sort support tickets."},
                                                     {"role": "user", "content": f"Ticket {i}: " + "the printer jams " * 40}]}
    response = {"id": f"chatcmpl-warm-{i}", "object": "chat.completion", "created": 1767225600 + i, "model": "gpt-4o-mini",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hardware"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 120, "completion_tokens": 2, "total_tokens": 122}}
    return json.dumps({"timestamp": "2026-01-01T00:00:00Z", "request": request, "response": response})


def warm_up() -> None:
    sys.dont_write_bytecode = False  # this step exists to write it
    from .cli import cli

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "calls.jsonl"
        log.write_text("\n".join([sample_line(i) for i in range(LINES)] + ["{not json"]) + "\n")
        args = ["ingest", "--db", str(Path(tmp) / "warm.duckdb"), "--json", str(log)]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            cli.main(args, prog_name="plan", standalone_mode=False)
    compile_loaded()


def compile_loaded() -> None:
    """Modules imported before this step could write bytecode (the site's import hooks, this package, this module)."""
    import importlib.util
    import py_compile

    for module in list(sys.modules.values()):
        source = getattr(module, "__file__", None) or ""
        if source.endswith(".py") and not Path(importlib.util.cache_from_source(source)).exists():
            try:
                py_compile.compile(source, doraise=True)
            except (py_compile.PyCompileError, OSError):
                continue  # a read-only location: that module compiles at import, as before


if __name__ == "__main__":
    warm_up()
