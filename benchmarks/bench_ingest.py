"""Ingest speed and memory on a matrix of line shapes: `plan ingest` against DuckDB alone loading the same fields.

    python benchmarks/bench_ingest.py                                  # every shape, 1M lines each
    python benchmarks/bench_ingest.py --records 100000 --shape envelope  # one shape, a quick look
    python benchmarks/bench_ingest.py --repeat 3 --json
    python benchmarks/bench_ingest.py --records 300000 --shape responses --files 100   # a folder of 100 files
    python benchmarks/bench_ingest.py --shape responses --floor        # also plan without the statements' checks

Shapes (``SHAPES``), each generated once (seeded) into benchmarks/data/ (git-ignored), about 1 KB a line:

- ``chat_pairs``: the first benchmark's OpenAI request/response pairs (half the lines with a ``timestamp``);
- ``envelope``: a common app log: ``ts``/``latency_ms``/``user``/``metadata``/``tags`` around a pair whose request
  carries ``temperature``, ``response_format`` and ``tools``, usage with its detail objects;
- ``parts``: contents as parts lists (text parts, some image parts), multi-turn conversations;
- ``responses``: Responses API pairs: ``instructions`` and ``input`` items in, ``output`` items and usage details out;
- ``anthropic``: Messages pairs: ``system`` as cached text blocks, content blocks, usage with cache reads and writes;
- ``batch_output``: OpenAI Batch output lines (``custom_id``, ``response.body`` a ChatCompletion).
- ``agent``: an agent's calls: tools offered, the assistant's earlier tool calls and the tools' JSON answers in the
  conversation, two answers in five that are tool calls.

Each shape has one malformed line per 100,000. Each contender runs in a fresh process, after the file has been read
once (so that both find it in the page cache), and who goes first alternates from run to run; wall time and that
process's peak RSS are measured from outside. A small ingest of the same shape runs first, untimed, so `plan` runs from
compiled bytecode as an installed tool does (``warm_up``). The baseline is what a DuckDB user would write to load the same fields of that
shape (``read_ndjson`` with typed columns, the conversation as raw JSON and parsed again for the system prompt and
the last user turn, the answer's text, token counts, user, parameters) into a table of a fresh database file. It
does not record line numbers, rejects, ids, prices or duplicates, and takes no other shape, which `plan ingest` does.
"""

from __future__ import annotations

import argparse
import itertools
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
T0 = 1735689600

MODELS = ["gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-4.1-mini-2025-04-14", "o3-mini-2025-01-31", "gpt-5.4-nano-2026-03-05"]
CLAUDES = ["claude-3-5-haiku-20241022", "claude-3-5-sonnet-20241022", "claude-sonnet-4-20250514"]
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
TOOLS = [{"type": "function", "function": {"name": "lookup_order", "description": "Find an order by number",
                                           "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}}}}]


def words(rng, low, high):
    return " ".join(rng.choices(WORDS, k=rng.randint(low, high)))


def completion(rng, i, model, answer, prompt_tokens, details=True):
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": rng.randint(5, 300)}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    if details:
        usage["prompt_tokens_details"] = {"cached_tokens": rng.choice((0, 0, 256)) if prompt_tokens > 1100 else 0, "audio_tokens": 0}
        usage["completion_tokens_details"] = {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0}
    return {"id": f"chatcmpl-{i:09d}", "object": "chat.completion", "created": T0 + i * 2, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer, "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": usage, "system_fingerprint": "fp_44709d6fcb"}


def chat_pairs(rng, i):
    model = MODELS[i % len(MODELS)] if rng.random() < 0.5 else rng.choice(MODELS)
    user = words(rng, 25, 70)
    content = [{"type": "text", "text": user}, {"type": "image_url", "image_url": {"url": "https://example.com/p.png"}}] if i % 1000 == 7 else user
    record = {"timestamp": T0 + i * 2,
              "request": {"model": model.split("-20")[0], "messages": [{"role": "system", "content": rng.choice(SYSTEMS)},
                                                                       {"role": "user", "content": content}],
                          "temperature": 0.2, "max_tokens": 512, "user": f"user-{rng.randint(1, 500)}"},
              "response": completion(rng, i, model, words(rng, 8, 40), rng.randint(150, 1800))}
    if i % 2:
        del record["timestamp"]
    return record


def envelope(rng, i):
    model = rng.choice(MODELS)
    request = {"model": model.split("-20")[0], "messages": [{"role": "system", "content": rng.choice(SYSTEMS)},
                                                            {"role": "user", "content": words(rng, 20, 60)}],
               "temperature": rng.choice((0, 0.2, 0.7)), "response_format": {"type": "json_object"}}
    if i % 3 == 0:
        request["tools"] = TOOLS
    return {"ts": f"2025-0{1 + i % 9}-1{i % 10}T{10 + i % 12}:{i % 60:02d}:{(i * 7) % 60:02d}.{i % 1000:03d}Z",
            "latency_ms": rng.randint(200, 9000), "user": f"u-{rng.randint(1, 900)}",
            "metadata": {"app": rng.choice(("helpdesk", "crm", "search")), "env": "prod", "request_id": f"r-{i}"},
            "tags": ["triage", rng.choice(("eu", "us"))],
            "request": request, "response": completion(rng, i, model, words(rng, 8, 40), rng.randint(150, 1800))}


def parts(rng, i):
    model = rng.choice(MODELS)
    turns = [{"role": "system", "content": [{"type": "text", "text": rng.choice(SYSTEMS)}]}]
    for _ in range(rng.randint(0, 2)):
        turns += [{"role": "user", "content": [{"type": "text", "text": words(rng, 5, 20)}]},
                  {"role": "assistant", "content": words(rng, 5, 20)}]
    last = [{"type": "text", "text": words(rng, 15, 40)}]
    if i % 10 == 3:
        last.append({"type": "image_url", "image_url": {"url": f"https://cdn.example.com/{i}.png", "detail": "low"}})
    turns.append({"role": "user", "content": last})
    return {"timestamp": T0 + i, "request": {"model": model, "messages": turns, "max_completion_tokens": 400},
            "response": completion(rng, i, model, words(rng, 8, 40), rng.randint(150, 1800))}


def responses(rng, i):
    model = rng.choice(("gpt-5.4-nano", "gpt-4.1-mini", "gpt-4o-mini"))
    text_in = words(rng, 20, 60)
    items = text_in if i % 2 else [{"role": "user", "content": [{"type": "input_text", "text": text_in}]}]
    request = {"model": model, "instructions": rng.choice(SYSTEMS), "input": items, "max_output_tokens": 500}
    usage = {"input_tokens": rng.randint(150, 1800), "output_tokens": rng.randint(5, 300)}
    usage.update(input_tokens_details={"cached_tokens": 0}, output_tokens_details={"reasoning_tokens": rng.choice((0, 64))},
                 total_tokens=usage["input_tokens"] + usage["output_tokens"])
    response = {"id": f"resp_{i:09d}", "object": "response", "created_at": T0 + i, "status": "completed", "model": f"{model}-2025-04-14",
                "output": [{"id": f"msg_{i}", "type": "message", "status": "completed", "role": "assistant",
                            "content": [{"type": "output_text", "text": words(rng, 8, 40), "annotations": []}]}],
                "parallel_tool_calls": True, "temperature": 1.0, "tool_choice": "auto", "tools": [], "top_p": 1.0,
                "text": {"format": {"type": "text"}}, "truncation": "disabled", "usage": usage, "metadata": {}}
    return {"request": request, "response": response, "duration_ms": rng.randint(300, 5000)}


def anthropic(rng, i):
    model = rng.choice(CLAUDES)
    request = {"model": model, "max_tokens": 1024,
               "system": [{"type": "text", "text": rng.choice(SYSTEMS), "cache_control": {"type": "ephemeral"}}],
               "messages": [{"role": "user", "content": [{"type": "text", "text": words(rng, 20, 60)}]}]}
    usage = {"input_tokens": rng.randint(20, 400), "cache_creation_input_tokens": rng.choice((0, 0, 1200)),
             "cache_read_input_tokens": rng.choice((0, 1200, 1200)), "output_tokens": rng.randint(5, 300)}
    response = {"id": f"msg_{i:012d}", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": words(rng, 8, 40)}], "stop_reason": "end_turn",
                "stop_sequence": None, "usage": usage}
    return {"timestamp": f"2025-05-0{1 + i % 9}T10:00:{i % 60:02d}Z", "request": request, "response": response}


def agent(rng, i):
    """An agent's calls: tools offered, earlier tool calls and the tools' JSON answers in the conversation, and about
    two answers in five that are tool calls (content null)."""
    model = rng.choice(MODELS)
    order = f"A-{rng.randint(1000, 9999)}"
    messages = [{"role": "system", "content": rng.choice(SYSTEMS)}, {"role": "user", "content": words(rng, 15, 50)}]
    if i % 3:
        call = {"id": f"call_{i:09d}x", "type": "function", "function": {"name": "lookup_order", "arguments": json.dumps({"order_id": order})}}
        messages += [{"role": "assistant", "content": None, "tool_calls": [call]},
                     {"role": "tool", "tool_call_id": call["id"], "content": json.dumps({"order_id": order, "status": "shipped",
                                                                                         "eta": "Monday", "items": rng.randint(1, 5)})}]
    response = completion(rng, i, model, words(rng, 8, 40), rng.randint(150, 1800))
    if i % 5 < 2:
        call = {"id": f"call_{i:09d}", "type": "function", "function": {"name": "lookup_order", "arguments": json.dumps({"order_id": order})}}
        response["choices"][0].update(message={"role": "assistant", "content": None, "tool_calls": [call], "refusal": None},
                                      finish_reason="tool_calls")
    return {"timestamp": T0 + i, "request": {"model": model.split("-20")[0], "messages": messages, "tools": TOOLS,
                                             "tool_choice": "auto", "parallel_tool_calls": False},
            "response": response}


def batch_output(rng, i):
    model = rng.choice(MODELS)
    return {"id": f"batch_req_{i:09d}", "custom_id": f"task-{i}",
            "response": {"status_code": 200, "request_id": f"req_{i:09d}",
                         "body": completion(rng, i, model, words(rng, 8, 60), rng.randint(150, 1800))},
            "error": None}


SHAPES = {"chat_pairs": chat_pairs, "envelope": envelope, "parts": parts, "responses": responses,
          "anthropic": anthropic, "batch_output": batch_output, "agent": agent}

# What a DuckDB user would write to load the same fields of each shape (one SELECT over a typed read_ndjson).
_COMPLETION = ("STRUCT(id VARCHAR, created BIGINT, model VARCHAR, choices STRUCT(message STRUCT(content VARCHAR))[], "
               "usage STRUCT(prompt_tokens BIGINT, completion_tokens BIGINT, prompt_tokens_details STRUCT(cached_tokens BIGINT), "
               "completion_tokens_details STRUCT(reasoning_tokens BIGINT)))")
_CHAT_FIELDS = """
  {r}.id as source_id, coalesce({r}.model, request.model) as model, make_timestamp({r}.created * 1000000) as created_at,
  request.messages::varchar as messages_json,
  nullif(array_to_string(list_transform(list_filter(from_json(request.messages, '[{{"role": "VARCHAR", "content": "VARCHAR"}}]'),
      lambda m: m.role in ('system', 'developer')), lambda m: coalesce(m.content, '')), chr(10) || chr(10)), '') as system_prompt,
  list_filter(from_json(request.messages, '[{{"role": "VARCHAR", "content": "VARCHAR"}}]'), lambda m: m.role = 'user')[-1].content as prompt_text,
  array_to_string(list_transform({r}.choices, lambda c: c.message.content), chr(10)) as response_text,
  {r}.usage.prompt_tokens as input_tokens, {r}.usage.prompt_tokens_details.cached_tokens as cached_input_tokens,
  {r}.usage.completion_tokens as output_tokens, {r}.usage.completion_tokens_details.reasoning_tokens as reasoning_tokens"""
_PARTS_TEXT = """list_filter(list_transform(from_json(request.messages, '[{"role": "VARCHAR", "content": "JSON"}]'),
      lambda m: {'role': m.role, 'text': case when starts_with(m.content, '"') then json_extract_string(m.content, '$')
        else array_to_string(list_transform(from_json(m.content, '[{"type": "VARCHAR", "text": "VARCHAR"}]'), lambda p: p.text), chr(10)) end}),"""
BASELINES = {
    "chat_pairs": (f"""select {_CHAT_FIELDS.format(r='response')}, request.user as user_id,
  to_json(struct_pack(temperature := request.temperature, max_tokens := request.max_tokens))::varchar as params_json""",
                   {"request": 'STRUCT(model VARCHAR, messages JSON, temperature DOUBLE, max_tokens BIGINT, "user" VARCHAR)',
                    "response": _COMPLETION}),
    "envelope": (f"""select {_CHAT_FIELDS.format(r='response')}, "user" as user_id, ts::timestamp as logged_at,
  latency_ms::double as duration_ms, metadata::varchar as metadata_json, tags::varchar as tags_json,
  to_json(struct_pack(temperature := request.temperature, response_format := request.response_format,
                      tools := request.tools))::varchar as params_json""",
                 {"ts": "VARCHAR", "latency_ms": "BIGINT", "user": "VARCHAR", "metadata": "JSON", "tags": "JSON",
                  "request": "STRUCT(model VARCHAR, messages JSON, temperature DOUBLE, response_format JSON, tools JSON)",
                  "response": _COMPLETION}),
    "parts": (f"""select response.id as source_id, coalesce(response.model, request.model) as model,
  make_timestamp(response.created * 1000000) as created_at, request.messages::varchar as messages_json,
  array_to_string(list_transform({_PARTS_TEXT} lambda m: m.role = 'system'), lambda m: m.text), chr(10) || chr(10)) as system_prompt,
  {_PARTS_TEXT} lambda m: m.role = 'user')[-1].text as prompt_text,
  array_to_string(list_transform(response.choices, lambda c: c.message.content), chr(10)) as response_text,
  response.usage.prompt_tokens as input_tokens, response.usage.completion_tokens as output_tokens,
  to_json(struct_pack(max_completion_tokens := request.max_completion_tokens))::varchar as params_json""",
              {"timestamp": "BIGINT", "request": "STRUCT(model VARCHAR, messages JSON, max_completion_tokens BIGINT)",
               "response": _COMPLETION}),
    "responses": ("""select response.id as source_id, response.model as model, make_timestamp(response.created_at * 1000000) as created_at,
  request.instructions as system_prompt,
  case when starts_with(request."input", '"') then json_extract_string(request."input", '$')
       else from_json(request."input", '[{"role": "VARCHAR", "content": [{"type": "VARCHAR", "text": "VARCHAR"}]}]')[-1].content[1].text
  end as prompt_text, request."input"::varchar as input_json,
  array_to_string(list_transform(list_filter(response.output, lambda o: o.type = 'message'),
      lambda o: array_to_string(list_transform(o.content, lambda p: p.text), chr(10))), chr(10)) as response_text,
  response.usage.input_tokens as input_tokens, response.usage.input_tokens_details.cached_tokens as cached_input_tokens,
  response.usage.output_tokens as output_tokens, response.usage.output_tokens_details.reasoning_tokens as reasoning_tokens,
  to_json(struct_pack(max_output_tokens := request.max_output_tokens))::varchar as params_json, duration_ms""",
                  {"duration_ms": "DOUBLE",
                   "request": 'STRUCT(model VARCHAR, instructions VARCHAR, "input" JSON, max_output_tokens BIGINT)',
                   "response": "STRUCT(id VARCHAR, created_at BIGINT, model VARCHAR, output STRUCT(type VARCHAR, content "
                               "STRUCT(type VARCHAR, text VARCHAR)[])[], usage STRUCT(input_tokens BIGINT, output_tokens BIGINT, "
                               "input_tokens_details STRUCT(cached_tokens BIGINT), output_tokens_details STRUCT(reasoning_tokens BIGINT)))"}),
    "anthropic": ("""select response.id as source_id, coalesce(response.model, request.model) as model, "timestamp"::timestamp as created_at,
  array_to_string(list_transform(request.system, lambda b: b.text), chr(10)) as system_prompt,
  request.messages::varchar as messages_json,
  array_to_string(list_transform(list_filter(from_json(request.messages, '[{"role": "VARCHAR", "content": [{"type": "VARCHAR", "text": "VARCHAR"}]}]'),
      lambda m: m.role = 'user')[-1].content, lambda b: b.text), chr(10)) as prompt_text,
  array_to_string(list_transform(response.content, lambda b: b.text), chr(10)) as response_text,
  response.usage.input_tokens + response.usage.cache_read_input_tokens + response.usage.cache_creation_input_tokens as input_tokens,
  response.usage.cache_read_input_tokens as cached_input_tokens, response.usage.cache_creation_input_tokens as cache_write_tokens,
  response.usage.output_tokens as output_tokens, to_json(struct_pack(max_tokens := request.max_tokens))::varchar as params_json""",
                  {"timestamp": "VARCHAR",
                   "request": "STRUCT(model VARCHAR, max_tokens BIGINT, system STRUCT(type VARCHAR, text VARCHAR)[], messages JSON)",
                   "response": "STRUCT(id VARCHAR, model VARCHAR, content STRUCT(type VARCHAR, text VARCHAR)[], usage STRUCT("
                               "input_tokens BIGINT, cache_creation_input_tokens BIGINT, cache_read_input_tokens BIGINT, output_tokens BIGINT))"}),
    "agent": (f"""select {_CHAT_FIELDS.replace("array_to_string(list_transform({r}.choices, lambda c: c.message.content), chr(10))",
                                          "array_to_string(list_transform({r}.choices, lambda c: coalesce(c.message.content,"
                                          " c.message.tool_calls::varchar)), chr(10))").format(r='response')},
  to_json(struct_pack(tools := request.tools, tool_choice := request.tool_choice))::varchar as params_json""",
              {"timestamp": "BIGINT", "request": "STRUCT(model VARCHAR, messages JSON, tools JSON, tool_choice JSON)",
               "response": _COMPLETION.replace("message STRUCT(content VARCHAR)", "message STRUCT(content VARCHAR, tool_calls JSON)")}),
    "batch_output": ("""select custom_id as source_id, response.body.model as model, make_timestamp(response.body.created * 1000000) as created_at,
  array_to_string(list_transform(response.body.choices, lambda c: c.message.content), chr(10)) as response_text,
  response.body.usage.prompt_tokens as input_tokens, response.body.usage.prompt_tokens_details.cached_tokens as cached_input_tokens,
  response.body.usage.completion_tokens as output_tokens,
  response.body.usage.completion_tokens_details.reasoning_tokens as reasoning_tokens, response.status_code as status_code""",
                     {"id": "VARCHAR", "custom_id": "VARCHAR", "response": f"STRUCT(status_code BIGINT, request_id VARCHAR, body {_COMPLETION})"}),
}


def baseline_sql(shape: str, path: Path) -> str:
    """The baseline's statement over a file, or over every file of a folder (``--files``)."""
    select, columns = BASELINES[shape]
    spec = ", ".join(f"{json.dumps(k)}: '{v}'" for k, v in columns.items())
    source = f"{path}/*.jsonl" if path.is_dir() else path
    return f"create table calls as {select} from read_ndjson('{source}', ignore_errors = true, columns = {{{spec}}})"


def generate(path: Path, shape: str, records: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    make = SHAPES[shape]
    tmp = path.with_suffix(".part")
    with open(tmp, "w", encoding="utf-8") as fh:
        for i in range(records):
            if i % 100_000 == 50_000:
                fh.write('{"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "cut off\n')
                continue
            fh.write(json.dumps(make(rng, i)) + "\n")
    tmp.rename(path)


BASELINE_RUNNER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("set enable_progress_bar = false")
con.execute(sys.argv[2]).fetchall()
print(con.execute("select count(*) from calls").fetchall()[0][0])
con.close()
"""


PLAN = str(Path(sys.executable).with_name("plan"))
# `plan ingest` with every shape check and text guard of the SQL route's statements replaced by true: what the route
# costs when it only parses, builds and stores the rows (``--floor``). Its rows are not checked, so this is a
# measurement only: no user runs it.
FLOOR_RUNNER = """
import sys
from analyzer.ingest.formats import app_log_sql as A
statement = A._statement
unchecked = lambda **kw: statement(**dict(kw, checks="true", guard="")).replace(f"and {A.NO_NAN} and {A.NO_TRAILING_COMMA}", "")
A._statement = unchecked
from analyzer.cli import main
sys.argv[0] = "plan"
sys.exit(main())
"""


def run_measured(cmd: list[str]) -> dict:
    """Wall seconds, CPU seconds and peak RSS (MB) of one child process (its output goes to temporary files, so a
    long output cannot block it)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(cmd[:3])} failed:\n{err.read().decode()[-2000:]}")
        return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
                "stdout": out.read().decode()}


def warm_up(path: Path, workdir: Path) -> None:
    """One small ingest before the timed runs, allowed to write bytecode: an installed `plan` runs from compiled
    modules, but a harness with PYTHONDONTWRITEBYTECODE=1 over an editable or --no-compile install would make
    every timed run compile all of them again (about 1 s of a 4-10 s run), which no user pays twice."""
    sample, db = workdir / "warm_up.jsonl", workdir / "warm_up.duckdb"
    with path.open("rb") as src, sample.open("wb") as out:
        for _, line in zip(range(1000), src, strict=False):
            out.write(line)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([str(Path(sys.executable).with_name("plan")), "ingest", "--db", str(db), "--json", str(sample)],
                   env=env, check=True, capture_output=True)
    for f in (sample, db, Path(str(db) + ".wal")):
        f.unlink(missing_ok=True)


def files_of(path: Path) -> list[Path]:
    """The file, or the folder's files (``--files``)."""
    return sorted(path.glob("*.jsonl")) if path.is_dir() else [path]


def read_through(path: Path) -> None:
    """Read the file (or the folder's files) once, so that each contender finds it in the page cache: a file partly
    evicted between runs made whichever ran first read it from disk (the baseline's time moved by up to 2x from run
    to run)."""
    for one in files_of(path):
        with one.open("rb", buffering=0) as fh:
            while fh.read(16 << 20):
                pass


def bench_once(shape: str, path: Path, workdir: Path, plan_first: bool = False, floor: bool = False) -> dict:
    base_db, plan_db = workdir / "baseline.duckdb", workdir / "plan.duckdb"
    for db in (base_db, plan_db):
        for f in (db, Path(str(db) + ".wal")):
            if f.exists():
                f.unlink()

    def run_baseline():
        read_through(path)
        baseline = run_measured([sys.executable, "-c", BASELINE_RUNNER, str(base_db), baseline_sql(shape, path)])
        baseline["rows"] = int(baseline.pop("stdout").strip())
        return baseline

    def run_plan(command: tuple = (PLAN,)):
        for f in (plan_db, Path(str(plan_db) + ".wal")):
            f.unlink(missing_ok=True)
        read_through(path)
        plan = run_measured([*command, "ingest", "--db", str(plan_db), "--json", str(path)])
        summary = json.loads(plan.pop("stdout"))
        plan.update(rows=summary["rows_added"], rejected=summary["rows_rejected"])
        return plan

    if plan_first:
        run = {"plan": run_plan(), "baseline": run_baseline()}
    else:
        run = {"baseline": run_baseline(), "plan": run_plan()}
    if floor:
        run["floor"] = run_plan((sys.executable, "-c", FLOOR_RUNNER))
    return run


def split_into(path: Path, files: int) -> Path:
    """A folder of ``files`` files holding the lines of ``path`` in order, as a log rotated hourly or daily is kept
    (made once)."""
    folder = path.with_name(f"{path.stem}_in_{files}")
    if folder.is_dir():
        return folder
    tmp = folder.with_name(folder.name + ".part")
    tmp.mkdir(exist_ok=True)
    lines = sum(1 for _ in path.open("rb"))
    per_file = -(-lines // files)
    with path.open("rb") as src:
        for number in range(files):
            with (tmp / f"part_{number:04d}.jsonl").open("wb") as out:
                out.writelines(itertools.islice(src, per_file))
    tmp.rename(folder)
    return folder


def data_file(shape: str, records: int) -> Path:
    path = DATA / f"{shape}_{records}.jsonl"
    if shape == "chat_pairs" and (DATA / f"openai_chat_{records}.jsonl").exists():
        return DATA / f"openai_chat_{records}.jsonl"  # the first benchmark's file: the same generator and seed
    if not path.exists():
        started = time.perf_counter()
        generate(path, shape, records)
        print(f"generated {path.name}: {path.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return path


def summarise(shape: str, records: int, path: Path, runs: list[dict]) -> dict:
    def med(who, key):
        return statistics.median(r[who][key] for r in runs)

    return {
        "shape": shape, "records": records, "files": len(files_of(path)),
        "file_gb": round(sum(f.stat().st_size for f in files_of(path)) / 1e9, 3),
        "duckdb_wall_s": round(med("baseline", "wall_s"), 2), "duckdb_cpu_s": round(med("baseline", "cpu_s"), 2),
        "duckdb_peak_rss_mb": round(max(r["baseline"]["peak_rss_mb"] for r in runs)),
        "plan_wall_s": round(med("plan", "wall_s"), 2), "plan_cpu_s": round(med("plan", "cpu_s"), 2),
        "plan_peak_rss_mb": round(max(r["plan"]["peak_rss_mb"] for r in runs)),
        "ratio_wall": round(statistics.median(r["plan"]["wall_s"] / r["baseline"]["wall_s"] for r in runs), 2),
        "ratio_wall_range": [round(min(r["plan"]["wall_s"] / r["baseline"]["wall_s"] for r in runs), 2),
                             round(max(r["plan"]["wall_s"] / r["baseline"]["wall_s"] for r in runs), 2)],
        "ratio_cpu": round(statistics.median(r["plan"]["cpu_s"] / r["baseline"]["cpu_s"] for r in runs), 2),
        **({"unchecked_wall_s": round(med("floor", "wall_s"), 2), "unchecked_cpu_s": round(med("floor", "cpu_s"), 2),
            "ratio_wall_unchecked": round(statistics.median(r["floor"]["wall_s"] / r["baseline"]["wall_s"] for r in runs), 2)}
           if "floor" in runs[0] else {}),
        "plan_rows": runs[0]["plan"]["rows"], "plan_rejected": runs[0]["plan"]["rejected"],
        "duckdb_rows": runs[0]["baseline"]["rows"], "load_average": round(os.getloadavg()[0], 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, action="append", help="lines per file (repeatable); default 1000000")
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES), help="shapes to run (repeatable); default all")
    parser.add_argument("--repeat", type=int, default=1, help="runs per shape and size, interleaved; the median is reported")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--files", type=int, default=1,
                        help="split each shape's lines over this many files in one folder (a rotated log), which plan "
                             "ingest and DuckDB alone (a glob) read whole")
    parser.add_argument("--floor", action="store_true",
                        help="also time plan ingest with the SQL route's shape checks and text guards taken out (its rows are "
                             "not checked): what parsing, building and storing the rows cost alone")
    args = parser.parse_args(argv)
    DATA.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="plan-bench-", dir=DATA) as tmp:
        for records in args.records or [1_000_000]:
            for shape in args.shape or list(SHAPES):
                path = data_file(shape, records)
                warm_up(path, Path(tmp))
                if args.files > 1:
                    path = split_into(path, args.files)
                runs = []
                for attempt in range(args.repeat):
                    run = bench_once(shape, path, Path(tmp), plan_first=bool(attempt % 2), floor=args.floor)  # who goes first alternates
                    runs.append(run)
                    b, p = run["baseline"], run["plan"]
                    unchecked = f" | unchecked {run['floor']['wall_s']:6.1f}s ratio {run['floor']['wall_s'] / b['wall_s']:.2f}" if args.floor else ""
                    print(f"{shape:>12} {records:>9,} run {attempt + 1}: duckdb {b['wall_s']:6.1f}s {b['peak_rss_mb']:6.0f} MB | "
                          f"plan {p['wall_s']:6.1f}s {p['peak_rss_mb']:6.0f} MB | ratio {p['wall_s'] / b['wall_s']:.2f}{unchecked}", file=sys.stderr)
                results.append(summarise(shape, records, path, runs))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        unchecked = ("", "") if not args.floor else (" unchecked (ratio) |", "---:|")
        print(f"| shape | lines | file | DuckDB alone | plan ingest | ratio (wall) | ratio (CPU) | peak RSS DuckDB / plan |{unchecked[0]}")
        print(f"|---|---:|---:|---:|---:|---:|---:|---:|{unchecked[1]}")
        for r in results:
            floor = f" {r['unchecked_wall_s']} s ({r['ratio_wall_unchecked']}) |" if args.floor else ""
            lines = f"{r['records']:,}" + (f" in {r['files']} files" if r["files"] > 1 else "")
            print(f"| {r['shape']} | {lines} | {r['file_gb']} GB | {r['duckdb_wall_s']} s | {r['plan_wall_s']} s | "
                  f"{r['ratio_wall']} | {r['ratio_cpu']} | {r['duckdb_peak_rss_mb']} / {r['plan_peak_rss_mb']} MB |{floor}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
