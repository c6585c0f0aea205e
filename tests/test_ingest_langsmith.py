"""LangSmith run exports (fixtures written from LangSmith's Run data format, LangChain's serialized messages and the
SDK's wrap_openai/wrap_anthropic outputs): only llm runs are requests, each counted once."""

import json
from datetime import datetime, timezone

import pytest

from analyzer.db import dicts
from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths

TRACE = "7f1c0a52-6b1e-4c3a-9d0e-000000000000"
CHAT = "7f1c0a52-6b1e-4c3a-9d0e-000000000002"  # LangChain ChatAnthropic
WRAPPED = "7f1c0a52-6b1e-4c3a-9d0e-000000000004"  # wrap_openai
EMBEDDING = "7f1c0a52-6b1e-4c3a-9d0e-000000000005"
FAILED = "7f1c0a52-6b1e-4c3a-9d0e-000000000007"


def by_run(con):
    return {r["source_id"]: r for r in dicts(con, "select * from requests")}


def counts(summary):
    return summary["rows_added"], summary["rows_skipped"], summary["rows_duplicate"], summary["rows_rejected"]


@pytest.mark.parametrize("name", ["runs.jsonl", "runs.json", "runs.csv"])
def test_every_run_export_is_detected_as_langsmith(fixtures, name):
    assert detect_format(expand_paths([str(fixtures / "langsmith" / name)])[0]) == "langsmith"


def test_a_pretty_printed_export_whose_first_run_is_longer_than_the_head_is_detected(fixtures, tmp_path):
    # The first run of a RAG app carries 100 KB of retrieved context: sniffing saw it cut and knew no format.
    runs = json.loads((fixtures / "langsmith" / "runs.json").read_text())
    runs[0]["inputs"] = {**runs[0].get("inputs", {}), "context": "Retrieved passage. " * 6_000}
    path = tmp_path / "runs.json"
    path.write_text(json.dumps(runs, indent=2))
    assert detect_format(expand_paths([str(path)])[0]) == "langsmith"


def assert_trace_rows(con):
    """The rows of runs.jsonl, whichever file kind carried them."""
    got = by_run(con)
    assert sorted(got) == [CHAT, WRAPPED, EMBEDDING, FAILED]
    chat = got[CHAT]
    assert (chat["provider"], chat["model"]) == ("anthropic", "claude-3-5-haiku-20241022")  # the response's own name
    assert chat["system_prompt"] == "You label support tickets: billing, shipping or other."
    assert (chat["prompt_text"], chat["response_text"]) == ("Classify: my parcel is late", "shipping")
    assert json.loads(chat["messages_json"]) == [
        {"role": "system", "content": "You label support tickets: billing, shipping or other."},
        {"role": "user", "content": "Classify: my parcel is late"}]
    assert (chat["input_tokens"], chat["cached_input_tokens"], chat["cache_write_tokens"], chat["output_tokens"]) == (
        1500, 1024, 200, 12)
    assert (chat["cost_usd"], chat["cost_source"]) == (0.000496, "log")
    assert (chat["created_at"], chat["duration_ms"], chat["status"]) == (datetime(2026, 10, 5, 9, 0, 0, 100000), 1500, "ok")
    assert (chat["trace_id"], chat["parent_span_id"], chat["user_id"]) == (TRACE, TRACE, "u-7")
    assert json.loads(chat["params_json"]) == {"temperature": 0.0, "max_tokens": 256}
    assert json.loads(chat["tags_json"])["conversation_id"] == "thread-42"

    wrapped = got[WRAPPED]
    assert (wrapped["provider"], wrapped["model"]) == ("openai", "gpt-4o-mini-2024-07-18")
    assert (wrapped["system_prompt"], wrapped["prompt_text"]) == (
        "Reply in one sentence.", "Write the customer a status update: shipped 3 days ago.")
    assert wrapped["response_text"] == "Your parcel shipped three days ago and arrives tomorrow."
    assert (wrapped["input_tokens"], wrapped["output_tokens"]) == (40, 14)  # usage_metadata: no run-level counts
    assert wrapped["cost_source"] == "catalog" and wrapped["cost_usd"] > 0  # no logged cost: priced
    assert (wrapped["created_at"], wrapped["duration_ms"]) == (datetime(2026, 10, 5, 9, 0, 2), 750)  # +00:00 times

    embedding = got[EMBEDDING]
    assert (embedding["operation"], embedding["prompt_text"], embedding["response_text"]) == ("embeddings", None, None)
    assert (embedding["model"], embedding["input_tokens"], embedding["cost_source"]) == ("text-embedding-3-small", 8, "catalog")
    assert embedding["cost_usd"] > 0

    failed = got[FAILED]
    assert (failed["status"], failed["model"], failed["provider"]) == ("error", "gpt-4o", "openai")
    assert (failed["prompt_text"], failed["response_text"]) == ("Translate the reply to German.", None)
    assert json.loads(failed["tags_json"])["error"].startswith("RateLimitError")
    assert {r["operation"] for r in got.values() if r["source_id"] != EMBEDDING} == {None}


def test_trace_counts_each_model_call_once(con, fixtures):
    path = fixtures / "langsmith" / "runs.jsonl"
    summary = ingest_paths(con, [str(path)])
    # Four model calls (two llm runs, an embedding, a failed llm run); the chain, prompt, tool and parser runs are
    # skipped and counted, never rejected; the llm run listed twice counts once.
    assert counts(summary) == (4, 4, 1, 0)
    assert summary["files"][0]["format"] == "langsmith" and summary["files"][0]["note"] is None
    totals = con.execute("select sum(input_tokens), sum(output_tokens) from requests").fetchall()[0]
    assert totals == (1500 + 40 + 8 + 0, 12 + 14 + 0 + 0)
    # The chain's own total_cost (its children's, summed) is not spent again.
    assert con.execute("select count(*) from requests where cost_source = 'log'").fetchall()[0][0] == 1
    assert_trace_rows(con)
    again = ingest_paths(con, [str(path)])
    assert again["rows_added"] == 0 and con.execute("select count(*) from requests").fetchall()[0][0] == 4


def test_json_list_with_child_runs_and_wrapped_anthropic(con, fixtures):
    summary = ingest_paths(con, [str(fixtures / "langsmith" / "runs.json")])
    assert counts(summary) == (2, 1, 0, 0)  # the root chain skipped; its child llm run read from child_runs
    got = by_run(con)
    completion = got["9a7e52d0-2c4b-4f6e-8a1d-000000000001"]
    assert (completion["provider"], completion["model"]) == ("openai", "gpt-3.5-turbo-instruct")
    assert completion["prompt_text"] == "Summarise: The refund policy allows returns within 30 days of delivery."
    assert completion["response_text"] == "Returns within 30 days."
    assert (completion["input_tokens"], completion["output_tokens"]) == (25, 6)  # llm_output.token_usage
    # No trace_id or parent_run_id in the record: both from its dotted_order.
    root = "9a7e52d0-2c4b-4f6e-8a1d-000000000000"
    assert (completion["trace_id"], completion["parent_span_id"]) == (root, root)

    anthropic = got["c5d2e8f1-7a3b-4c9d-8e2f-000000000005"]
    assert (anthropic["provider"], anthropic["model"]) == ("anthropic", "claude-3-5-sonnet-20241022")
    assert (anthropic["system_prompt"], anthropic["prompt_text"], anthropic["response_text"]) == (
        "You draft release notes.", "Notes for v2.3.", "v2.3 adds dark mode.")
    assert (anthropic["input_tokens"], anthropic["output_tokens"], anthropic["cost_usd"], anthropic["cost_source"]) == (
        410, 120, 0.003, "log")
    assert (anthropic["trace_id"], anthropic["parent_span_id"]) == ("c5d2e8f1-7a3b-4c9d-8e2f-000000000005", None)
    assert (anthropic["created_at"], anthropic["duration_ms"]) == (datetime(2026, 10, 6, 12, 0), 4200)


def test_runs_query_page_is_read_like_a_list(con, fixtures, tmp_path):
    runs = json.loads((fixtures / "langsmith" / "runs.json").read_text())
    path = tmp_path / "page.json"
    path.write_text(json.dumps({"runs": runs, "cursors": {"next": None}}))
    assert detect_format(expand_paths([str(path)])[0]) == "langsmith"
    assert counts(ingest_paths(con, [str(path)])) == (2, 1, 0, 0)


def test_csv_export(con, fixtures):
    summary = ingest_paths(con, [str(fixtures / "langsmith" / "runs.csv")])
    assert counts(summary) == (2, 1, 0, 0)
    got = by_run(con)
    ok = got["1b2c3d4e-5f60-4718-8293-000000000006"]
    assert (ok["provider"], ok["model"], ok["system_prompt"], ok["prompt_text"], ok["response_text"]) == (
        "azure", "gpt-4o-2024-08-06", "You are a calculator.", "What is 2+2?", "4")
    assert (ok["input_tokens"], ok["output_tokens"], ok["cost_usd"], ok["cost_source"]) == (41, 3, 0.0001325, "log")
    assert (ok["duration_ms"], ok["trace_id"], ok["parent_span_id"]) == (600, "1b2c3d4e-5f60-4718-8293-000000000000",
                                                                          "1b2c3d4e-5f60-4718-8293-000000000000")
    failed = got["1b2c3d4e-5f60-4718-8293-000000000007"]
    assert (failed["status"], failed["prompt_text"], failed["response_text"], failed["input_tokens"]) == (
        "error", "Now explain it.", None, None)


def test_bulk_export_parquet(con, fixtures, tmp_path):
    """The bulk data export's Parquet: the run fields as columns, nested values as JSON text, times as timestamps."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    runs = [json.loads(line) for line in (fixtures / "langsmith" / "runs.jsonl").read_text().splitlines()]
    nested = ("inputs", "outputs", "extra", "events", "tags", "prompt_token_details", "serialized", "child_run_ids")

    def column(run, key):
        value = run.get(key)
        if key in ("start_time", "end_time"):
            return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
        if key in nested:
            return None if value is None else json.dumps(value)
        if key in ("prompt_cost", "completion_cost", "total_cost"):
            return None if value is None else float(value)
        return value

    keys = sorted({k for run in runs for k in run})
    table = pa.table({key: [column(run, key) for run in runs] for key in keys})
    path = tmp_path / "export.parquet"
    pq.write_table(table, path)
    assert detect_format(expand_paths([str(path)])[0]) == "langsmith"
    assert counts(ingest_paths(con, [str(path)])) == (4, 4, 1, 0)
    assert_trace_rows(con)


def test_file_of_chain_and_tool_runs_says_so(con, tmp_path):
    runs = [{"id": "r1", "name": "RunnableSequence", "run_type": "chain", "start_time": "2026-10-05T09:00:00",
             "inputs": {"q": "hi"}, "outputs": {"output": "hello"}, "trace_id": "r1", "total_cost": 0.01},
            {"id": "r2", "name": "search", "run_type": "tool", "start_time": "2026-10-05T09:00:01",
             "inputs": {"input": "hi"}, "outputs": {"output": "..."}, "trace_id": "r1", "parent_run_id": "r1"}]
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in runs))
    warnings: list = []
    summary = ingest_paths(con, [str(path)], warn=warnings.append)
    assert counts(summary) == (0, 2, 0, 0)
    note = summary["files"][0]["note"]
    assert note == ("2 records read as a LangSmith run export, none of them a model call (chain, tool, retriever, "
                    "prompt and parser runs are skipped; a model call is a run whose run_type is llm or embedding)")
    assert warnings == [f"{path}: {note}."]


def test_app_log_with_inputs_and_outputs_stays_with_the_pair_reader(con, fixtures, tmp_path):
    """An app's own request/response log under inputs/outputs (no run_type) is read as an OpenAI log; the run
    export beside it as LangSmith runs."""
    line = {"id": "call-1", "trace_id": "t-1", "timestamp": "2026-10-05T09:00:00Z",
            "inputs": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
            "outputs": {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
                        "choices": [{"message": {"role": "assistant", "content": "Hello"}}],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 1}}}
    app = tmp_path / "app.jsonl"
    app.write_text(json.dumps(line) + "\n")
    runs = fixtures / "langsmith" / "runs.jsonl"
    summary = ingest_paths(con, [str(app), str(runs)])
    formats = {f["path"]: (f["format"], f["rows_added"]) for f in summary["files"]}
    assert formats == {str(app): ("openai", 1), str(runs): ("langsmith", 4)}


def test_sdk_shapes_cache_tiers_v2_api_hidden_outputs_and_llm_wrappers(con, fixtures):
    """langsmith_sdk_runs.jsonl, written from the SDK's shapes: ChatAnthropic's usage with the cache writes split by
    lifetime (LangChain sets cache_creation to 0), wrap_openai's priority-tier usage (priority_cache_read,
    priority_reasoning), a /v2/runs/query run (LLM, parent_run_ids, details under raw), a run whose outputs are
    hidden (usage and cost only in extra.metadata.usage_metadata), and @traceable(run_type="llm") around a wrapped
    client: the inner call is the request, the outer llm run is skipped."""
    summary = ingest_paths(con, [str(fixtures / "langsmith_sdk_runs.jsonl")])
    assert counts(summary) == (5, 2, 0, 0)  # the root chain and the outer llm run skipped
    got = by_run(con)
    root = "2d5e7a10-0000-4000-8000-0000000000a0"
    run = "2d5e7a10-0000-4000-8000-0000000000a{}".format
    tokens = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens", "cost_usd")
    assert {k: tuple(got[k][t] for t in tokens) for k in got} == {
        run(1): (5200, 3000, 2000, 180, None, 0.00882),
        run(2): (2100, 1024, None, 150, 64, 0.0051),
        run(3): (900, 512, None, 40, 0, 0.000244),
        run(4): (700, 0, 300, 60, None, 0.00119),
        run(6): (300, None, None, 10, None, 0.000051),
    }
    assert {r["cost_source"] for r in got.values()} == {"log"}
    assert {k: (r["trace_id"], r["parent_span_id"]) for k, r in got.items()} == {
        **{run(i): (root, root) for i in (1, 2, 3, 4)}, run(6): (root, run(5))}
    assert (got[run(3)]["provider"], got[run(3)]["model"], got[run(3)]["duration_ms"]) == ("openai", "gpt-4.1-mini", 1250)
    assert (got[run(6)]["prompt_text"], got[run(6)]["response_text"]) == ("Any rain?", "No rain expected.")


def test_the_sdks_batch_ingest_bodies_join_each_run_to_its_update(con, tmp_path):
    """What the SDK sends to /runs/batch (kept by a proxy or a test's recorder): ``{"post": [...], "patch": [...]}``, a
    run created with its inputs and updated with its outputs and end time. Each run is read with its update, by id;
    before, the file was "not a log format plan recognises"."""
    trace = "6a1e2c94-5d0b-4a4e-9d7c-2f0c6c1d9a01"
    chain = {"id": trace, "trace_id": trace, "dotted_order": "20261104T090000000000Z" + trace, "name": "answer_ticket",
             "run_type": "chain", "start_time": "2026-11-04T09:00:00.000000+00:00", "inputs": {"ticket": "Refund for order 4411?"},
             "outputs": {}, "extra": {"metadata": {}}, "tags": []}
    llm_id = "6a1e2c94-5d0b-4a4e-9d7c-2f0c6c1d9a02"
    llm = {"id": llm_id, "trace_id": trace, "parent_run_id": trace, "dotted_order": chain["dotted_order"] + ".20261104T090000100000Z" + llm_id,
           "name": "ChatOpenAI", "run_type": "llm", "start_time": "2026-11-04T09:00:00.100000+00:00", "outputs": {},
           "inputs": {"messages": [{"role": "system", "content": "You handle refunds."}, {"role": "user", "content": "Refund for order 4411?"}],
                      "model": "gpt-4o-mini", "stream": False},
           "extra": {"metadata": {"ls_provider": "openai", "ls_model_type": "chat", "ls_model_name": "gpt-4o-mini"}}}
    answer = {"id": "chatcmpl-bt01", "object": "chat.completion", "created": 1793782800, "model": "gpt-4o-mini-2024-07-18",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "Yes: refunds take 5 days."}, "finish_reason": "stop"}],
              "usage_metadata": {"input_tokens": 24, "output_tokens": 9, "total_tokens": 33}}
    llm_update = {"id": llm_id, "trace_id": trace, "dotted_order": llm["dotted_order"], "end_time": "2026-11-04T09:00:01.350000+00:00",
                  "outputs": answer, "parent_run_id": trace}
    chain_update = {"id": trace, "trace_id": trace, "dotted_order": chain["dotted_order"], "end_time": "2026-11-04T09:00:01.400000+00:00",
                    "outputs": {"output": "Yes: refunds take 5 days."}}
    path = tmp_path / "runs_batch.json"
    path.write_text(json.dumps({"post": [chain, llm], "patch": [llm_update, chain_update]}))
    assert detect_format(expand_paths([str(path)])[0]) == "langsmith"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_rejected"]) == (1, 1, 0)
    row = dicts(con, "select * from requests")[0]
    assert (row["source_id"], row["model"], row["system_prompt"], row["prompt_text"], row["response_text"]) == (
        llm_id, "gpt-4o-mini-2024-07-18", "You handle refunds.", "Refund for order 4411?", "Yes: refunds take 5 days.")
    assert (row["input_tokens"], row["output_tokens"], row["duration_ms"], row["parent_span_id"]) == (24, 9, 1250.0, trace)

    # The SDK sends a run's update in a later body when the run outlasts a batch: JSON Lines of bodies, joined by id.
    con.execute("delete from requests")
    later = tmp_path / "runs_batches.jsonl"
    later.write_text(json.dumps({"post": [chain, llm]}) + "\n" + json.dumps({"patch": [llm_update, chain_update]}) + "\n")
    summary = ingest_paths(con, [str(later)])
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_rejected"]) == (1, 3, 0)  # the chain, the two updates
    again = dicts(con, "select * from requests")[0]
    assert {k: again[k] for k in ("response_text", "input_tokens", "output_tokens", "duration_ms")} == {
        k: row[k] for k in ("response_text", "input_tokens", "output_tokens", "duration_ms")}

    # The JS SDK's update is the body of PATCH /runs/{id}: the id is in the URL, the body has it only at the end of
    # its dotted order (before, the update was skipped and the call kept no answer, tokens or end time).
    for name, bodies in (("js_batch.json", [{"post": [chain, llm], "patch": [{k: v for k, v in u.items() if k != "id"}
                                                                           for u in (llm_update, chain_update)]}]),
                         ("js_batches.jsonl", [{"post": [chain, llm]}, {"patch": [{k: v for k, v in llm_update.items() if k != "id"}]}])):
        con.execute("delete from requests")
        js = tmp_path / name
        js.write_text("".join(json.dumps(body) + "\n" for body in bodies))
        ingest_paths(con, [str(js)])
        joined = dicts(con, "select * from requests")[0]
        assert {k: joined[k] for k in ("source_id", "response_text", "input_tokens", "output_tokens", "duration_ms")} == {
            k: row[k] for k in ("source_id", "response_text", "input_tokens", "output_tokens", "duration_ms")}, name
