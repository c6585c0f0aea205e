"""What `plan replay` itself costs, and what the embedded model delivers (run on demand).

    python benchmarks/bench_replay.py [--calls 1000] [--embedded 8]

1. Client overhead: N calls against the in-process OpenAI stub (instant answers), concurrency 1 and 8,
   streaming and not: calls/s including sampling, request building and one committed DuckDB row per call.
   The local model is what limits a real run; this shows replay's own ceiling.
2. Embedded model: MT-Bench first-turn prompts (../shared/eval/mt_bench) replayed on the bundled
   SmolLM2-135M through the embedded llama.cpp server (`serve.server_backend`: the prebuilt xllamacpp wheel,
   else llama-cpp-python) with a 64-token cap, at concurrency 1, 2 and 4 (the server's slots): the aggregate
   output tokens/s that `endpoint_throughput` stores. Skipped, saying so, when neither server is installed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from openai_stub import OpenAIStub  # noqa: E402

from analyzer.db import connect  # noqa: E402
from analyzer.replay import ReplaySettings, replay  # noqa: E402


def seed(con, prompts: list[str], categories: int = 8) -> None:
    for c in range(categories):
        con.execute("insert into categories (category_id, name, is_other, spend_rank) values (?, ?, false, ?)", [c, f"cat {c}", c])
    for i, prompt in enumerate(prompts):
        messages = json.dumps([{"role": "user", "content": prompt}])
        con.execute("insert into requests (id, system_prompt, messages_json, prompt_text, response_text, params_json) values (?, ?, ?, ?, 'x', ?)",
                    [i, "You are a helpful assistant.", messages, prompt, json.dumps({"temperature": 0.7, "max_tokens": 512})])
        con.execute("insert into request_categories (request_id, category_id) values (?, ?)", [i, i % categories])


def client_overhead(calls: int) -> None:
    prompts = [f"Classify ticket {i}: the printer on floor {i % 7} is jammed again" for i in range(calls)]
    for concurrency in (1, 8):
        for stream in (False, True):
            with tempfile.TemporaryDirectory() as tmp, OpenAIStub(models=None) as stub:
                con = connect(str(Path(tmp) / "b.duckdb"))
                seed(con, prompts)
                started = time.perf_counter()
                out = replay(con, ReplaySettings.resolve({}, endpoint=stub.url, model="m", per_category=calls,
                                                         concurrency=concurrency, stream=stream), progress=False)
                wall = time.perf_counter() - started
                con.close()
            print(f"stub   concurrency={concurrency} stream={stream!s:<5} {out['calls_made']} calls in {wall:.2f} s "
                  f"= {out['calls_made'] / wall:.0f} calls/s")


def embedded(per_category: int) -> None:
    from analyzer.serve import server_backend

    backend = server_backend()
    if backend is None:
        print("embedded: skipped (neither xllamacpp nor llama-cpp-python is installed: the embedded extra)")
        return
    questions = REPO.parent / "shared" / "eval" / "mt_bench" / "mt_bench_question.jsonl"
    prompts = [json.loads(line)["turns"][0] for line in questions.open()]
    for concurrency in (1, 2, 4):
        with tempfile.TemporaryDirectory() as tmp:
            con = connect(str(Path(tmp) / "b.duckdb"))
            seed(con, prompts)
            out = replay(con, ReplaySettings.resolve({}, endpoint="embedded", per_category=per_category,
                                                     concurrency=concurrency, max_output_tokens=64), progress=False)
            con.close()
        print(f"embedded {out['model']} ({backend}) concurrency={concurrency}: {out['calls_made']} calls, {out['output_tokens']} output tokens "
              f"in {out['wall_s']:.1f} s = {out['output_tokens_per_s']:.1f} output tokens/s "
              f"(tokens {'estimated from stream chunks' if out['tokens_estimated_calls'] else 'from usage'})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--embedded", type=int, default=2, help="MT-Bench prompts per category (8 categories)")
    args = parser.parse_args()
    client_overhead(args.calls)
    embedded(args.embedded)
