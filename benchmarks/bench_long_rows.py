"""Ingest of long rows: agents' calls whose conversations run to hundreds of KB a line, and Claude Code transcripts.

    python benchmarks/bench_long_rows.py                               # 3,000 calls of 400 KB (1.2 GB), both routes
    python benchmarks/bench_long_rows.py --calls 600 --kb 100 --json
    python benchmarks/bench_long_rows.py --file ~/.claude/projects     # time `plan ingest` on files of your own

An app log of an agent's calls: each line a request/response pair whose conversation (a task, then tool calls and
their results) weighs ``--kb`` KB, the first line as long as the others (sniffing must see past its 64 KiB head).
Each file is ingested as `plan ingest` does (``ingest_paths``) in a fresh process into a fresh database, once on the
default route (SQL, which takes such a file chunk by chunk) and once on the Python parser's, with wall time and that
process's peak RSS measured from outside; the rows stored and DuckDB's file size are reported. Before long rows were
batched, staged and committed by their bytes, both runs ran DuckDB out of memory (1 GB during ingest) with a
traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_ingest import WORDS, run_measured  # noqa: E402

DATA = HERE / "data"
# `plan ingest` through the library, so that the Python route can be asked for (the command line always tries SQL).
RUNNER = """
import json, sys
from analyzer.db import connect
from analyzer.ingest import ingest_paths
summary = ingest_paths(connect(sys.argv[1]), [sys.argv[2]], fast=sys.argv[3] == "sql")
print(json.dumps({k: v for k, v in summary.items() if k in ("rows_added", "rows_rejected")}))
"""


def agent_call(rng: random.Random, i: int, kb: int) -> dict:
    """One call of an agent: the task, the tool calls so far and their (long) results, and the answer."""
    messages = [{"role": "system", "content": "You are a coding agent. Use the tools to read and change files."},
                {"role": "user", "content": f"Task {i}: fix the failing test in module {rng.randint(1, 400)}."}]
    size, step = 0, 0
    while size < kb * 1024:
        call_id = f"call_{i}_{step}"
        result = " ".join(rng.choice(WORDS) for _ in range(rng.randint(800, 4000)))
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": "read_file", "arguments": json.dumps({"path": f"src/m{step}.py"})}}]})
        messages.append({"role": "tool", "tool_call_id": call_id, "content": result})
        size += len(result) + 120
        step += 1
    answer = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 200)))
    return {"timestamp": 1764000000 + i, "request": {"model": "gpt-4.1-mini", "messages": messages},
            "response": {"id": f"chatcmpl-long{i:07d}", "object": "chat.completion", "created": 1764000000 + i,
                         "model": "gpt-4.1-mini-2025-04-14",
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": size // 4, "completion_tokens": len(answer) // 4,
                                   "total_tokens": size // 4 + len(answer) // 4}}}


def generate(calls: int, kb: int) -> Path:
    path = DATA / f"long_rows_{calls}x{kb}kb.jsonl"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        rng = random.Random(11)
        tmp = path.with_suffix(".part")
        with tmp.open("w", encoding="utf-8") as fh:
            for i in range(calls):
                fh.write(json.dumps(agent_call(rng, i, kb)) + "\n")
        tmp.rename(path)
    return path


def ingest(path: Path, workdir: Path, fast: bool) -> dict:
    db = workdir / f"long_{'sql' if fast else 'python'}.duckdb"
    for f in (db, Path(str(db) + ".wal")):
        f.unlink(missing_ok=True)
    run = run_measured([sys.executable, "-c", RUNNER, str(db), str(path), "sql" if fast else "python"])
    summary = json.loads(run.pop("stdout"))
    return {"route": "sql" if fast else "python", "rows_added": summary["rows_added"],
            "rows_rejected": summary["rows_rejected"], "wall_s": round(run["wall_s"], 1),
            "peak_rss_mb": round(run["peak_rss_mb"]), "db_mb": round(db.stat().st_size / 1e6)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000, help="lines of the generated log (default 3000)")
    parser.add_argument("--kb", type=int, default=400, help="KB of conversation a line (default 400)")
    parser.add_argument("--file", help="time these files or directories instead of a generated log")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    path = Path(os.path.expanduser(args.file)) if args.file else generate(args.calls, args.kb)
    size = sum(p.stat().st_size for p in ([path] if path.is_file() else path.rglob("*") if path.is_dir() else []) if p.is_file())
    with tempfile.TemporaryDirectory(prefix="plan-long-", dir=DATA if DATA.exists() else None) as tmp:
        results = [{"file": str(path), "file_mb": round(size / 1e6), **ingest(path, Path(tmp), fast)} for fast in (True, False)]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("| route | file | rows | rejects | wall | peak RSS | database |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in results:
            print(f"| {r['route']} | {r['file_mb']} MB | {r['rows_added']:,} | {r['rows_rejected']} | {r['wall_s']} s | "
                  f"{r['peak_rss_mb']} MB | {r['db_mb']} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
