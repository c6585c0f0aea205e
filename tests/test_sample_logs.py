"""The bundled sample logs: reproducible, within size limits, shaped like real traffic, checkable, and ingestible.
They are a 1-in-50 sample of a team's month on frontier models, and say so.

The generator is run into a temporary folder and compared with the committed files. The records are read
back with a small independent reader (not the ingest parsers), so a parser bug cannot hide a data bug.
"""

from __future__ import annotations

import ast
import csv
import gzip
import importlib.util
import io
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[1] / "sample_logs"
DATA_SUFFIXES = (".jsonl", ".json.gz", ".jsonl.gz", ".csv", ".csv.gz")
MAX_BYTES = 5_000_000
SAMPLE_RATE = 0.02  # the README and the app logs state it: the files hold 1 request in 50
WINDOW = (datetime(2026, 10, 1, tzinfo=timezone.utc), datetime(2026, 10, 31, tzinfo=timezone.utc))


def data_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name.endswith(DATA_SUFFIXES))


def read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def run_generator(out: Path, *extra: str) -> dict:
    proc = subprocess.run([sys.executable, str(SAMPLE / "generate.py"), "--out", str(out), "--manifest", *extra],
                          capture_output=True, text=True, check=True, timeout=120)
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample_logs")
    return out, run_generator(out)


@pytest.fixture(scope="module")
def manifest(generated):
    return generated[1]


@pytest.fixture(scope="module")
def gen():
    """The generator's module, for its prompt templates and label sets (imported without writing __pycache__)."""
    before = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        spec = importlib.util.spec_from_file_location("sample_logs_generate", SAMPLE / "generate.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.dont_write_bytecode = before


# --------------------------------------------------------------------------------------------------
# An independent reader: (format, model, created_at, system, prompt, response, usage) per record
# --------------------------------------------------------------------------------------------------

def _json_lines(path: Path):
    text = read_bytes(path).decode("utf-8")
    for n, line in enumerate(text.splitlines(), start=1):
        try:
            obj = json.loads(line)
        except ValueError:
            yield n, None
            continue
        yield n, obj if isinstance(obj, dict) else None


def read_records(root: Path) -> tuple[list[dict], list[tuple[str, int]]]:
    records, bad, seen = [], [], set()

    def add(rel, n, line_key, **rec):
        if line_key in seen:
            return
        seen.add(line_key)
        records.append(rec)

    for rel in data_files(root):
        path = root / rel
        if rel.startswith("openai/chat_completions"):
            for n, o in _json_lines(path):
                if o is None:
                    bad.append((rel, n))
                    continue
                req, resp, u = o["request"], o["response"], o["response"]["usage"]
                add(rel, n, json.dumps(o, sort_keys=True), fmt="openai-chat", model=resp["model"],
                    created=datetime.fromtimestamp(resp["created"], timezone.utc), system=req["messages"][0]["content"],
                    prompt=req["messages"][-1]["content"], response=resp["choices"][0]["message"]["content"],
                    tokens=(u["prompt_tokens"], u["completion_tokens"], u["prompt_tokens_details"]["cached_tokens"], 0),
                    reasoning=u["completion_tokens_details"]["reasoning_tokens"], effort=req.get("reasoning_effort"),
                    provider="openai", batch=False, sample_rate=o.get("sample_rate"))
        elif rel.endswith("_output.jsonl"):
            inputs = {json.loads(line)["custom_id"]: json.loads(line)["body"] for line in (root / rel.replace("_output", "_input")).read_text().splitlines()}
            for n, o in _json_lines(path):
                body, req = o["response"]["body"], inputs[o["custom_id"]]
                add(rel, n, o["custom_id"], fmt="openai-batch", model=body["model"],
                    created=datetime.fromtimestamp(body["created"], timezone.utc), system=req["messages"][0]["content"],
                    prompt=req["messages"][-1]["content"], response=body["choices"][0]["message"]["content"],
                    tokens=(body["usage"]["prompt_tokens"], body["usage"]["completion_tokens"],
                            body["usage"]["prompt_tokens_details"]["cached_tokens"], 0),
                    reasoning=body["usage"]["completion_tokens_details"]["reasoning_tokens"], effort=req.get("reasoning_effort"),
                    provider="openai", batch=True)
        elif rel.startswith("anthropic/"):
            for n, o in _json_lines(path):
                if o is None:
                    bad.append((rel, n))
                    continue
                req, resp, u = o["request"], o["response"], o["response"]["usage"]
                last = req["messages"][-1]["content"]
                add(rel, n, resp["id"], fmt="anthropic", model=resp["model"],
                    created=datetime.fromisoformat(o["created_at"].replace("Z", "+00:00")), system=req["system"],
                    prompt=last if isinstance(last, str) else "\n".join(b["text"] for b in last), response=resp["content"][0]["text"],
                    tokens=(u["input_tokens"] + u["cache_read_input_tokens"] + u["cache_creation_input_tokens"], u["output_tokens"],
                            u["cache_read_input_tokens"], u["cache_creation_input_tokens"]), provider="anthropic", batch=False,
                    sample_rate=o.get("sample_rate"))
        elif rel.startswith("bedrock/"):
            for n, o in _json_lines(path):
                if o is None:
                    bad.append((rel, n))
                    continue
                body = o["input"]["inputBodyJson"]
                add(rel, n, o["requestId"], fmt="bedrock", model=o["modelId"],
                    created=datetime.fromisoformat(o["timestamp"].replace("Z", "+00:00")), system=body["system"][0]["text"],
                    prompt=body["messages"][-1]["content"][0]["text"],
                    response=o["output"]["outputBodyJson"]["output"]["message"]["content"][0]["text"],
                    tokens=(o["input"]["inputTokenCount"], o["output"]["outputTokenCount"], 0, 0), provider="bedrock", batch=False)
        elif rel.startswith("litellm/"):
            csv.field_size_limit(1 << 30)
            reader = csv.reader(io.StringIO(read_bytes(path).decode("utf-8"), newline=""))
            header = next(reader)
            for n, row in enumerate(reader, start=2):
                if len(row) != len(header):
                    bad.append((rel, n))
                    continue
                r = dict(zip(header, row, strict=True))
                messages = json.loads(r["messages"])
                response = json.loads(r["response"])
                add(rel, n, r["request_id"], fmt="litellm", model=r["model"],
                    created=datetime.fromisoformat(r["startTime"]).replace(tzinfo=timezone.utc), system=messages[0]["content"],
                    prompt=messages[-1]["content"], response=response["choices"][0]["message"]["content"] if response else None,
                    tokens=(int(r["prompt_tokens"]), int(r["completion_tokens"]), 0, 0), provider=r["custom_llm_provider"],
                    batch=False, spend=float(r["spend"]), status=r["status"])
    return records, bad


@pytest.fixture(scope="module")
def records():
    return read_records(SAMPLE)


def workload_of(gen, system: str) -> str:
    table = {gen.TRIAGE_SYSTEM: "ticket_triage", gen.TAGGING_SYSTEM: "product_tagging", gen.SVG_SYSTEM: "svg_icons",
             gen.CODE_SYSTEM: "python_functions", gen.INVOICE_SYSTEM: "invoice_extraction", gen.ORDER_SYSTEM: "order_email_extraction",
             gen.MEETING_SYSTEM: "meeting_summaries", gen.LONGDOC_SYSTEM: "long_document_reasoning", gen.REVIEW_SYSTEM: "code_review",
             gen.ASSISTANT_SYSTEM: "ambiguous_requests", gen.MARKETING_SYSTEM: "marketing_copy"}
    if system in table:
        return table[system]
    if system.startswith(gen.SQL_SYSTEM.split("{")[0]):
        return "sql_generation"
    raise AssertionError(f"unknown system prompt: {system[:60]!r}")


def unfence(text: str) -> str:
    m = re.fullmatch(r"\s*```[a-z]*\n(.*?)\n?```\s*", text, re.S)
    return m.group(1) if m else text


# --------------------------------------------------------------------------------------------------
# Reproducibility and size
# --------------------------------------------------------------------------------------------------

def test_committed_files_are_exactly_what_the_generator_writes(generated):
    out, _ = generated
    assert data_files(out) == data_files(SAMPLE)
    for rel in data_files(SAMPLE):
        assert read_bytes(out / rel) == read_bytes(SAMPLE / rel), f"{rel} differs from `python sample_logs/generate.py` output"
        if rel.endswith(".gz"):  # deterministic gzip: no timestamp or file name in the header
            assert (out / rel).read_bytes()[4:8] == b"\0\0\0\0"


def test_another_seed_writes_another_month_of_the_same_shape(tmp_path, manifest):
    other = run_generator(tmp_path, "--seed", "7")
    rel = "openai/chat_completions-2026-10.jsonl.gz"
    assert read_bytes(tmp_path / rel) != read_bytes(SAMPLE / rel)
    assert set(other["workloads"]) == set(manifest["workloads"])
    assert 3000 <= other["requests"] <= 5000
    assert len(other["rejects"]) == len(manifest["rejects"])


def test_total_size_is_a_few_megabytes_at_most():
    sizes = {rel: (SAMPLE / rel).stat().st_size for rel in data_files(SAMPLE)}
    assert 300_000 <= sum(sizes.values()) <= MAX_BYTES, sizes


# --------------------------------------------------------------------------------------------------
# Shape of the traffic
# --------------------------------------------------------------------------------------------------

def test_volume_formats_models_and_window(records, manifest):
    recs, bad = records
    assert len(recs) == manifest["requests"]
    assert 3000 <= len(recs) <= 5000
    assert {r["fmt"] for r in recs} == {"openai-chat", "openai-batch", "anthropic", "bedrock", "litellm"}
    models = Counter(r["model"] for r in recs)
    for expected in ("gpt-5.4-2026-03-05", "gpt-5.4-mini-2026-03-17", "claude-sonnet-4-6", "gpt-5.4-nano",
                     "us.amazon.nova-2-lite-v1:0"):
        assert models[expected] >= 100, models
    for frontier in ("claude-opus-4-7", "gpt-5.5-2026-04-23"):  # the long documents go to the top models
        assert models[frontier] >= 20, models
    assert all(WINDOW[0] <= r["created"] < WINDOW[1] for r in recs)
    assert len({r["created"].date() for r in recs}) == 30


def test_traffic_has_a_daytime_peak_and_quiet_weekends(records):
    recs, _ = records
    by_hour = Counter(r["created"].hour for r in recs)
    peak_hour = max(by_hour, key=by_hour.get)
    assert 13 <= peak_hour <= 20, by_hour  # New York office hours, in UTC
    assert by_hour[peak_hour] >= 5 * min(by_hour.values())
    by_day = Counter(r["created"].date() for r in recs)
    weekend = [c for d, c in by_day.items() if d.weekday() >= 5]
    weekday = [c for d, c in by_day.items() if d.weekday() < 5]
    assert sum(weekend) / len(weekend) < 0.4 * sum(weekday) / len(weekday)


def test_every_workload_is_present_with_its_own_volume(records, gen):
    recs, _ = records
    counts = Counter(workload_of(gen, r["system"]) for r in recs)
    assert len(counts) == 12
    assert counts["ticket_triage"] == max(counts.values())  # high-volume classification
    assert 20 <= counts["long_document_reasoning"] <= 0.05 * sum(counts.values())  # few, long, expensive
    assert min(counts.values()) >= 20
    # user content varies inside each workload: templated traffic, not copies
    for workload in counts:
        prompts = {r["prompt"] for r in recs if workload_of(gen, r["system"]) == workload}
        assert len(prompts) >= 0.5 * counts[workload] or workload == "ambiguous_requests", workload


def workload_spend(recs, gen) -> tuple[Counter, Counter]:
    """USD per workload as `plan` prices it: LiteLLM's own spend, else the genai-prices catalog at the request's date."""
    from analyzer.pricing import price_one

    spend, count = Counter(), Counter()
    for r in recs:
        w = workload_of(gen, r["system"])
        count[w] += 1
        if r.get("spend") is not None:
            spend[w] += r["spend"]
            continue
        tin, tout, read, write = r["tokens"]
        cost = price_one(r["provider"], r["model"].split("/")[-1], tin, tout, read, write, r["batch"], r["created"])
        assert cost is not None, r["model"]
        spend[w] += cost
    return spend, count


def test_the_sample_scales_to_a_team_month_in_the_low_thousands(records, gen, manifest):
    recs, _ = records
    spend, count = workload_spend(recs, gen)
    assert manifest["sample_rate"] == SAMPLE_RATE
    assert 20 <= sum(spend.values()) <= 60  # the sample itself
    assert 1_000 <= sum(spend.values()) / SAMPLE_RATE <= 3_000  # the month it stands for
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    assert re.search(r"\b1[ -]in[ -]50\b", readme) and "R = 0.02" in readme
    assert f"{round(sum(count.values()) / SAMPLE_RATE):,}" in readme  # the scaled request count is stated


def test_spend_shares_differ_from_request_shares(records, gen):
    recs, _ = records
    spend, count = workload_spend(recs, gen)
    total_spend, total_count = sum(spend.values()), sum(count.values())
    share = lambda w: (spend[w] / total_spend, count[w] / total_count)
    s, c = share("long_document_reasoning")
    assert s > 10 * c and s > 0.25  # few requests, a big part of the bill
    s, c = share("ticket_triage")
    assert c > 0.25 and s < 0.02  # many requests, almost free


def test_long_document_sessions_use_the_prompt_cache(records, gen):
    recs, _ = records
    docs = [r for r in recs if workload_of(gen, r["system"]) == "long_document_reasoning"]
    assert min(r["tokens"][0] for r in docs) > 10_000 and max(r["tokens"][0] for r in docs) > 40_000
    # Anthropic: the document block carries cache_control; each request either writes the cache or reads it
    claude = [r for r in docs if r["provider"] == "anthropic"]
    writes = [r for r in claude if r["tokens"][3] > 0]
    reads = [r for r in claude if r["tokens"][2] > 0]
    assert writes and reads and len(writes) + len(reads) == len(claude)
    assert all(r["tokens"][2] + r["tokens"][3] > 0.9 * r["tokens"][0] for r in claude)  # the document is the prefix
    # OpenAI: the document leads the prompt, so follow-up questions hit the automatic prefix cache
    gpt = [r for r in docs if r["fmt"] == "openai-chat"]
    assert gpt and 0 < sum(r["tokens"][2] > 0 for r in gpt) < len(gpt)


def test_openai_caches_long_shared_prefixes_the_way_openai_does(records, gen):
    recs, _ = records
    cached = [r for r in recs if r["fmt"] in ("openai-chat", "openai-batch") and r["tokens"][2]]
    assert cached
    for r in cached:  # at least 1,024 tokens, in steps of 128, never more than the prompt
        assert r["tokens"][2] >= 1024 and r["tokens"][2] % 128 == 0 and r["tokens"][2] <= r["tokens"][0]
    by_workload = Counter(workload_of(gen, r["system"]) for r in cached)
    assert by_workload["sql_generation"] >= 100 and by_workload["ticket_triage"] >= 100  # long system prompts, busy apps
    assert not any(r["batch"] for r in cached)


def test_reasoning_tokens_are_billed_output_without_text(records, gen):
    recs, _ = records
    openai = [r for r in recs if r["fmt"] in ("openai-chat", "openai-batch")]
    for r in openai:
        visible = gen.completion_tokens(r["response"])
        assert r["tokens"][1] == visible + r["reasoning"]
        assert (r["reasoning"] == 0) == (r["effort"] == "none"), (r["effort"], r["reasoning"])
    assert sum(r["reasoning"] for r in openai) > sum(gen.completion_tokens(r["response"]) for r in openai)


def test_token_counts_follow_the_text_in_the_files(records, gen):
    """A long prompt is long because its text is there: input tokens agree with the text of the request."""
    recs, _ = records
    for r in recs:
        if r.get("status") == "failure":
            continue
        estimate = gen.approx_tokens((r["system"] or "") + "\n" + r["prompt"])  # the prompt holds the document, if any
        assert 0.9 * estimate <= r["tokens"][0] <= 1.25 * estimate + 200, (r["fmt"], r["tokens"][0], estimate)


def test_the_app_logs_state_their_sample_rate(records, tmp_path):
    recs, _ = records
    stated = {r["fmt"]: r["sample_rate"] for r in recs if r["fmt"] in ("openai-chat", "anthropic")}
    assert stated == {"openai-chat": SAMPLE_RATE, "anthropic": SAMPLE_RATE}
    unstated = run_generator(tmp_path, "--sample-rate-unstated")
    assert unstated["sample_rate_stated_in"] == []
    assert '"sample_rate"' not in read_bytes(tmp_path / "openai/chat_completions-2026-10.jsonl.gz").decode("utf-8")


# --------------------------------------------------------------------------------------------------
# Answers a judge can check objectively
# --------------------------------------------------------------------------------------------------

def test_objective_answers_are_right_in_form(records, gen):
    import sqlglot  # a dependency of plan itself: missing, it fails
    recs, _ = records
    checked = Counter()
    for r in recs:
        w, answer = workload_of(gen, r["system"]), r["response"]
        if answer is None:
            continue
        if w == "ticket_triage":
            assert answer in gen.TRIAGE_LABELS
        elif w == "product_tagging":
            tags = answer.split(", ")
            assert 1 <= len(tags) <= 4 and set(tags) <= set(gen.TAXONOMY), answer
        elif w == "sql_generation":
            assert sqlglot.parse_one(unfence(answer), read="postgres") is not None
        elif w == "svg_icons":
            root = ET.fromstring(answer)
            assert root.tag == "{http://www.w3.org/2000/svg}svg" and len(root) >= 1
        elif w == "python_functions":
            code = re.search(r"```python\n(.*?)```", answer, re.S).group(1)
            tree = ast.parse(code)
            assert any(isinstance(node, ast.FunctionDef) for node in tree.body)
        elif w in ("invoice_extraction", "order_email_extraction"):
            data = json.loads(unfence(answer))
            if w == "invoice_extraction":
                assert set(data) == set(gen.INVOICE_SCHEMA)
                assert abs(data["subtotal"] + data["tax_amount"] + data["shipping"] - data["total"]) < 0.011
        else:
            continue
        checked[w] += 1
    assert len(checked) == 7 and min(checked.values()) >= 100


def test_svg_answers_render_to_a_visible_image(records, gen):
    from analyzer.checks import render_svg  # the judge's own renderer (resvg)

    recs, _ = records
    svgs = [r["response"] for r in recs if workload_of(gen, r["system"]) == "svg_icons"]
    for svg in svgs[::10]:
        pixels = render_svg(svg.replace("currentColor", "#000"))
        assert pixels[..., 3].max() > 0  # something was drawn


def test_sensitive_data_sits_in_the_workloads_that_carry_it(records, gen):
    from analyzer.privacy import scan

    recs, _ = records
    found: dict[str, Counter] = {}
    for r in recs:
        w = workload_of(gen, r["system"])
        kinds = scan(r["prompt"] + "\n" + (r["response"] or ""))
        found.setdefault(w, Counter()).update({"requests": 1, "sensitive": bool(kinds), **{k: 1 for k in kinds}})
    review = found["code_review"]
    assert review["sensitive"] >= 0.6 * review["requests"]
    for kind in ("AWS_KEY", "PASSWORD", "EMAIL", "PHONE", "CARD"):
        assert review[kind] >= 10, (kind, review)
    assert found["invoice_extraction"]["IBAN"] >= 50
    for clean in ("sql_generation", "svg_icons", "product_tagging", "python_functions"):
        assert found[clean]["sensitive"] == 0, clean
    # fake on purpose: AWS documentation-style key ids and well-known test card numbers only
    text = "\n".join(r["prompt"] for r in recs if workload_of(gen, r["system"]) == "code_review")
    assert re.findall(r"AKIA[A-Z2-7]{16}", text) and all(k.endswith("EXAMPLE") for k in re.findall(r"AKIA[A-Z2-7]{16}", text))


# --------------------------------------------------------------------------------------------------
# Planted damage is documented, and ingest finds exactly it
# --------------------------------------------------------------------------------------------------

def test_planted_lines_are_where_the_readme_says(records, manifest):
    _, bad = records
    assert sorted(bad) == sorted((r["file"], r["line"]) for r in manifest["rejects"])
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    for reject in manifest["rejects"]:
        assert any(f"`{reject['file']}` | {reject['line']} |" in row for row in rows), reject
    for dup in manifest["duplicates"]:
        assert any(f"`{dup['file']}` | {dup['line']} | {dup['same_as_line']} |" in row for row in rows), dup
    assert f"{manifest['requests']:,}" in readme


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    from analyzer.db import connect, rows
    from analyzer.ingest import ingest_paths

    con = connect(str(tmp_path_factory.mktemp("db") / "sample.duckdb"))
    summary = ingest_paths(con, [str(SAMPLE)])
    rejects = rows(con, "select source_file, source_line from rejects")
    formats = rows(con, "select distinct source_format from requests")
    duplicates = dict(rows(con, "select path, rows_duplicate from ingested_files"))
    con.close()
    by_file = {Path(f["path"]).resolve().relative_to(SAMPLE).as_posix(): {**f, "rows_duplicate": duplicates.get(f["path"], 0)}
               for f in summary["files"]}
    return summary, by_file, [(Path(f).resolve().relative_to(SAMPLE).as_posix(), n) for f, n in rejects], [f[0] for f in formats]


def _expected_rows(manifest, rel):
    if rel.endswith("_input.jsonl"):
        return 0  # joined with its output file; counted there or here, not twice
    return manifest["files"][rel]["records"]


@pytest.mark.parametrize("rel", data_files(SAMPLE))
def test_ingest_lands_each_file_except_its_planted_rejects(ingested, manifest, rel):
    summary, by_file, rejects, _ = ingested
    result = by_file[rel]
    assert result["format"] not in ("unknown", "empty"), f"no parser recognises {rel}"
    planted = sorted(r["line"] for r in manifest["rejects"] if r["file"] == rel)
    assert sorted(n for f, n in rejects if f == rel) == planted
    if rel.endswith(("_input.jsonl", "_output.jsonl")):
        pair = [f for f in by_file if f.startswith(rel.rsplit("_", 1)[0])]
        assert sum(by_file[f]["rows_added"] for f in pair) == manifest["batch"]["requests"]
    else:
        assert result["rows_added"] == _expected_rows(manifest, rel)
    assert result["rows_duplicate"] == sum(1 for d in manifest["duplicates"] if d["file"] == rel)


def test_ingest_of_the_whole_folder_gives_the_documented_totals(ingested, manifest):
    summary, by_file, _, formats = ingested
    missing = [rel for rel in data_files(SAMPLE) if by_file[rel]["format"] in ("unknown", "empty")]
    assert not missing, f"no parser recognises {missing}"
    data = [by_file[rel] for rel in data_files(SAMPLE)]
    assert sum(f["rows_added"] for f in data) == manifest["requests"]
    assert sum(f["rows_duplicate"] for f in data) == len(manifest["duplicates"])
    assert sum(f["rows_rejected"] for f in data) == len(manifest["rejects"])
    assert len(formats) >= 4
    assert summary["unknown_models"] == []


def test_ingest_skips_the_generator_and_readme(ingested):
    _, by_file, rejects, _ = ingested
    for rel in ("README.md", "generate.py"):
        assert by_file.get(rel, {"rows_added": 0})["rows_added"] == 0
        assert not [n for f, n in rejects if f == rel], f"{rel} was read as a log"
