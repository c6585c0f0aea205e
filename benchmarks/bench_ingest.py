"""Ingest speed and memory: `plan ingest` against DuckDB alone loading the same fields from the same file.

    python benchmarks/bench_ingest.py                      # 100k and 1M records (about 0.1 and 1 GB)
    python benchmarks/bench_ingest.py --records 100000     # a quick comparison
    python benchmarks/bench_ingest.py --repeat 3 --json

The data is generated once (seeded) into benchmarks/data/ (git-ignored): OpenAI chat-completion request/response
pairs as apps log them, about 1 KB a line, with a few multimodal lines and one malformed line per 100,000.
Each contender runs in a fresh process; wall time and that process's peak RSS are measured from outside.

The baseline is what a DuckDB user would write to load the same fields: ``read_ndjson`` with typed columns
(the conversation as raw JSON, parsed again for the system prompt and the last user turn), ``ignore_errors``
for the malformed line, into a table of a fresh database file. It does not record line numbers, rejects,
ids, prices or duplicates, which `plan ingest` does, in one transaction per file.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"

MODELS = ["gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-4.1-mini-2025-04-14", "o3-mini-2025-01-31", "gpt-5.4-nano-2026-03-05"]
SYSTEMS = [
    "You are a support triage assistant for an online hardware store. Reply with one label: billing, shipping, returns, account or other.",
    "You write PostgreSQL queries from a question about the orders database. Tables: orders(id, customer_id, total, created_at), customers(id, name, country). Return only SQL.",
    "You summarise support conversations in three bullet points for the weekly quality review.",
    "You extract the order number, product and complaint from a customer email as JSON with keys order_id, product and issue.",
]
WORDS = (
    "order invoice refund shipping parcel courier tracking delivery late damaged broken replacement drill sander "
    "battery charger warranty receipt account password login subscription cancel upgrade charge card payment "
    "address postcode warehouse return label customer manager weekly report revenue quarter table select join "
    "where group count total country thanks please urgent again yesterday Monday arrived missing wrong colour size"
).split()


def generate(path: Path, records: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    t0 = 1735689600
    tmp = path.with_suffix(".part")
    with open(tmp, "w", encoding="utf-8") as fh:
        for i in range(records):
            if i % 100_000 == 50_000:
                fh.write('{"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "cut off\n')
                continue
            model = MODELS[i % len(MODELS)] if rng.random() < 0.5 else rng.choice(MODELS)
            user = " ".join(rng.choices(WORDS, k=rng.randint(25, 70)))
            content = [{"type": "text", "text": user}, {"type": "image_url", "image_url": {"url": "https://example.com/p.png"}}] if i % 1000 == 7 else user
            answer = " ".join(rng.choices(WORDS, k=rng.randint(8, 40)))
            prompt_tokens = rng.randint(150, 1800)
            cached = rng.choice((0, 0, 0, 256, 1024)) if prompt_tokens > 1100 else 0
            completion_tokens = rng.randint(5, 300)
            record = {
                "timestamp": t0 + i * 2,
                "request": {"model": model.split("-20")[0], "messages": [{"role": "system", "content": rng.choice(SYSTEMS)}, {"role": "user", "content": content}],
                            "temperature": 0.2, "max_tokens": 512, "user": f"user-{rng.randint(1, 500)}"},
                "response": {
                    "id": f"chatcmpl-{seed}-{i:09d}", "object": "chat.completion", "created": t0 + i * 2, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": answer, "refusal": None}, "logprobs": None, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens,
                              "prompt_tokens_details": {"cached_tokens": cached}, "completion_tokens_details": {"reasoning_tokens": 0}},
                    "system_fingerprint": "fp_44709d6fcb",
                },
            }
            if "timestamp" in record and i % 2:
                del record["timestamp"]  # half the lines carry only the response's own time
            fh.write(json.dumps(record) + "\n")
    tmp.rename(path)


BASELINE_SQL = """
create table calls as
select response.id as source_id, coalesce(response.model, request.model) as model,
  make_timestamp(response.created * 1000000) as created_at,
  request.messages::varchar as messages_json,
  nullif(array_to_string(list_transform(list_filter(from_json(request.messages, '[{{"role": "VARCHAR", "content": "VARCHAR"}}]'),
      lambda m: m.role in ('system', 'developer')), lambda m: coalesce(m.content, '')), chr(10) || chr(10)), '') as system_prompt,
  list_filter(from_json(request.messages, '[{{"role": "VARCHAR", "content": "VARCHAR"}}]'), lambda m: m.role = 'user')[-1].content as prompt_text,
  array_to_string(list_transform(response.choices, lambda c: c.message.content), chr(10)) as response_text,
  response.usage.prompt_tokens as input_tokens, response.usage.prompt_tokens_details.cached_tokens as cached_input_tokens,
  response.usage.completion_tokens as output_tokens, response.usage.completion_tokens_details.reasoning_tokens as reasoning_tokens,
  request.user as user_id,
  to_json(struct_pack(temperature := request.temperature, max_tokens := request.max_tokens))::varchar as params_json
from read_ndjson('{path}', ignore_errors = true, columns = {{
  request: 'STRUCT(model VARCHAR, messages JSON, temperature DOUBLE, max_tokens BIGINT, "user" VARCHAR)',
  response: 'STRUCT(id VARCHAR, created BIGINT, model VARCHAR, choices STRUCT(message STRUCT(content VARCHAR))[], usage STRUCT(prompt_tokens BIGINT, completion_tokens BIGINT, prompt_tokens_details STRUCT(cached_tokens BIGINT), completion_tokens_details STRUCT(reasoning_tokens BIGINT)))'
}})
"""

BASELINE_RUNNER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("set enable_progress_bar = false")
con.execute(sys.argv[2]).fetchall()
print(con.execute("select count(*) from calls").fetchall()[0][0])
con.close()
"""


def run_measured(cmd: list[str], env=None) -> dict:
    """Wall seconds, CPU seconds and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed:\n{err[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024, "stdout": out}


def bench_once(path: Path, workdir: Path) -> dict:
    base_db = workdir / "baseline.duckdb"
    plan_db = workdir / "plan.duckdb"
    for db in (base_db, plan_db):
        for f in (db, Path(str(db) + ".wal")):
            if f.exists():
                f.unlink()
    baseline = run_measured([sys.executable, "-c", BASELINE_RUNNER, str(base_db), BASELINE_SQL.format(path=path)])
    baseline["rows"] = int(baseline.pop("stdout").strip())
    plan = run_measured([str(Path(sys.executable).with_name("plan")), "ingest", "--db", str(plan_db), "--json", str(path)])
    summary = json.loads(plan.pop("stdout"))
    plan["rows"] = summary["rows_added"]
    plan["rejected"] = summary["rows_rejected"]
    return {"baseline": baseline, "plan": plan}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, action="append", help="records per file (repeatable); default 100000 and 1000000")
    parser.add_argument("--repeat", type=int, default=2, help="runs per size, interleaved; the median is reported")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    sizes = args.records or [100_000, 1_000_000]
    DATA.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="plan-bench-", dir=DATA) as tmp:
        workdir = Path(tmp)
        for records in sizes:
            path = DATA / f"openai_chat_{records}.jsonl"
            if not path.exists():
                t = time.perf_counter()
                generate(path, records)
                print(f"generated {path.name}: {path.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - t:.0f}s", file=sys.stderr)
            runs = []
            for attempt in range(args.repeat):
                run = bench_once(path, workdir)
                runs.append(run)
                b, p = run["baseline"], run["plan"]
                print(
                    f"{records:>9,} records  run {attempt + 1}: duckdb {b['wall_s']:6.1f}s {b['peak_rss_mb']:6.0f} MB | "
                    f"plan {p['wall_s']:6.1f}s {p['peak_rss_mb']:6.0f} MB | ratio {p['wall_s'] / b['wall_s']:.2f}",
                    file=sys.stderr,
                )
            med = lambda who, key: statistics.median(r[who][key] for r in runs)
            results.append({
                "records": records,
                "file_gb": round(path.stat().st_size / 1e9, 3),
                "duckdb_wall_s": round(med("baseline", "wall_s"), 2),
                "duckdb_cpu_s": round(med("baseline", "cpu_s"), 2),
                "duckdb_peak_rss_mb": round(max(r["baseline"]["peak_rss_mb"] for r in runs)),
                "plan_wall_s": round(med("plan", "wall_s"), 2),
                "plan_cpu_s": round(med("plan", "cpu_s"), 2),
                "plan_peak_rss_mb": round(max(r["plan"]["peak_rss_mb"] for r in runs)),
                "ratio_wall": round(statistics.median(r["plan"]["wall_s"] / r["baseline"]["wall_s"] for r in runs), 2),
                "ratio_cpu": round(statistics.median(r["plan"]["cpu_s"] / r["baseline"]["cpu_s"] for r in runs), 2),
                "plan_rows": runs[0]["plan"]["rows"],
                "plan_rejected": runs[0]["plan"]["rejected"],
                "duckdb_rows": runs[0]["baseline"]["rows"],
                "load_average": round(os.getloadavg()[0], 1),
            })
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("| records | file | DuckDB alone | plan ingest | ratio (wall) | ratio (CPU) | plan peak RSS |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for r in results:
            print(f"| {r['records']:,} | {r['file_gb']} GB | {r['duckdb_wall_s']} s | {r['plan_wall_s']} s | "
                  f"{r['ratio_wall']} | {r['ratio_cpu']} | {r['plan_peak_rss_mb']} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
