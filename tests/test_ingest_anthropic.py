"""Anthropic logs: Messages pairs, bare Messages, streams, errors, and Message Batches joined to their requests."""

import json

import pytest

from analyzer.db import dicts, scalar
from analyzer.ingest import ingest_paths
from analyzer.status import status_summary
from helpers import stored_requests


def test_messages_pairs_keep_the_cache_token_conventions_straight(con, fixtures):
    summary = ingest_paths(con, [str(fixtures / "anthropic" / "messages.jsonl")])
    assert summary["files"][0]["format"] == "anthropic"
    assert summary["rows_added"] == 7 and summary["rows_rejected"] == 1
    r = stored_requests(con, where="source_id is not null")
    read = r["msg_01A"]
    assert read["provider"] == "anthropic" and read["model"] == "claude-sonnet-4-5-20250929"
    # usage.input_tokens (18) excludes the 2,048 read from cache; ours is all input.
    assert (read["input_tokens"], read["cached_input_tokens"], read["cache_write_tokens"], read["output_tokens"]) == (2066, 2048, 0, 20)
    assert read["cost_usd"] == pytest.approx(18 * 3e-6 + 2048 * 0.3e-6 + 20 * 15e-6)
    assert read["system_prompt"].startswith("You are the returns assistant")
    assert read["user_id"] == "cust-881"
    assert read["duration_ms"] == 1830.0
    write = r["msg_01B"]
    assert (write["input_tokens"], write["cache_write_tokens"]) == (2063, 2048)
    assert write["cost_usd"] == pytest.approx(15 * 3e-6 + 2048 * 3.75e-6 + 14 * 15e-6)
    assert write["system_prompt"].startswith("You are the returns assistant")  # system as cached text blocks
    assert write["prompt_text"] == "Can I return a sander without its battery?"
    messages = json.loads(write["messages_json"])
    assert messages[0]["role"] == "system" and messages[1] == {"role": "user", "content": "Can I return a sander without its battery?"}


def test_tool_use_streams_errors_and_bare_messages(con, fixtures):
    ingest_paths(con, [str(fixtures / "anthropic" / "messages.jsonl")])
    r = stored_requests(con, where="source_id is not null")
    tools = r["msg_01C"]
    assert tools["prompt_text"] == "Where is order A-77?"  # the tool result turn does not represent the request
    chat = json.loads(tools["messages_json"])
    assert chat[1]["tool_calls"][0]["function"]["name"] == "lookup_order"
    assert chat[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "In transit, arriving Thursday."}
    assert json.loads(tools["params_json"])["max_tokens"] == 256
    streamed = r["msg_01E"]
    assert streamed["response_text"] == "SELECT count(*) FROM returns;"
    assert (streamed["input_tokens"], streamed["output_tokens"]) == (25, 9)
    assert r["msg_01F"]["response_text"] == "positive"  # a bare Message
    assert r["msg_01G"]["response_text"] == "negative"  # a double-encoded line
    error = dicts(con, "select * from requests where status = 'error'")
    assert len(error) == 1 and error[0]["prompt_text"] == "hi" and error[0]["input_tokens"] is None
    reject = dicts(con, "select * from rejects")
    assert reject[0]["source_line"] == 4 and reject[0]["reason"].startswith("not valid JSON")


def test_real_batch_results_alone(con, eval_dir):
    summary = ingest_paths(con, [str(eval_dir / "logs" / "anthropic_batch_results_docs_example.jsonl")])
    assert summary["files"][0]["format"] == "anthropic-batch-results"
    r = stored_requests(con, where="source_id is not null")
    second = r["my-second-request"]
    assert second["is_batch"] and second["status"] == "ok"
    assert (second["input_tokens"], second["output_tokens"]) == (11, 36)
    assert second["response_text"].startswith("Hello again!")
    # Batch: half of $3/M input and $15/M output.
    assert second["cost_usd"] == pytest.approx((11 * 3e-6 + 36 * 15e-6) / 2)
    assert second["prompt_text"] is None


def test_batch_results_join_their_request_file(con, fixtures, eval_dir):
    summary = ingest_paths(
        con, [str(eval_dir / "logs" / "anthropic_batch_results_docs_example.jsonl"), str(fixtures / "anthropic" / "batch_requests.jsonl")]
    )
    files = {f["format"]: f for f in summary["files"]}
    assert files["anthropic-batch-requests"]["rows_added"] == 1  # the one request without a result
    r = stored_requests(con, where="source_id is not null")
    assert r["my-first-request"]["prompt_text"] == "Hello, world"
    assert r["my-first-request"]["response_text"].startswith("Hello! How can I assist you today?")
    assert r["my-third-request"]["status"] == "no_response"
    assert r["my-third-request"]["system_prompt"] == "Be brief."
    again = ingest_paths(con, [str(eval_dir / "logs" / "anthropic_batch_results_docs_example.jsonl")])
    assert again["rows_added"] == 0 and scalar(con, "select count(*) from requests") == 3


def test_batch_result_types(con, fixtures):
    ingest_paths(con, [str(fixtures / "anthropic" / "batch_results.jsonl")])
    r = stored_requests(con, where="source_id is not null")
    hit = r["cache-hit"]
    assert (hit["input_tokens"], hit["cached_input_tokens"], hit["cache_write_tokens"]) == (10_600, 10_000, 500)
    assert hit["cost_usd"] == pytest.approx((100 * 3 + 10_000 * 0.3 + 500 * 3.75 + 50 * 15) * 1e-6 / 2)
    assert r["bad-request"]["status"] == "error"
    assert r["stopped"]["status"] == "canceled"
    assert r["too-late"]["status"] == "expired"
    assert r["too-late"]["cost_source"] == "unknown" and r["too-late"]["cost_usd"] is None
    assert scalar(con, "select count(*) from rejects") == 0


def test_cache_writes_kept_an_hour_are_priced_at_the_hour_rate(con, tmp_path):
    # claude-sonnet-4: $3/M input, $3.75/M written for 5 minutes, $6/M for an hour, $15/M output.
    usage = {"input_tokens": 20, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 3_000, "output_tokens": 50,
             "cache_creation": {"ephemeral_5m_input_tokens": 1_000, "ephemeral_1h_input_tokens": 2_000}}
    request = {"model": "claude-sonnet-4-20250514", "max_tokens": 100, "messages": [{"role": "user", "content": "Notice period?"}],
               "system": [{"type": "text", "text": "You review contracts.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}
    lines = [{"timestamp": "2025-06-01T10:00:00Z", "request": request,
              "response": {"id": f"msg_{n}", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
                           "content": [{"type": "text", "text": "Ninety days."}], "stop_reason": "end_turn", "usage": usage}}
             for n in range(3)]
    batch = {"custom_id": "contract-7", "result": {"type": "succeeded", "message": {
        **lines[0]["response"], "id": "msg_b", "usage": {**usage, "cache_creation": {"ephemeral_1h_input_tokens": 3_000}}}}}
    (tmp_path / "calls.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (tmp_path / "batch_results.jsonl").write_text(json.dumps(batch) + "\n")
    ingest_paths(con, [str(tmp_path)])

    r = stored_requests(con)
    hourly = 20 * 3e-6 + 1_000 * 3.75e-6 + 2_000 * 6e-6 + 50 * 15e-6
    for n in range(3):
        row = r[f"msg_{n}"]
        assert (row["input_tokens"], row["cache_write_tokens"], row["cache_write_1h_tokens"]) == (3_020, 3_000, 2_000)
        assert row["cost_usd"] == pytest.approx(hourly)  # 0.01656, not 0.01206 as if every write were kept 5 minutes
    batched = r["contract-7"]
    assert (batched["cache_write_tokens"], batched["cache_write_1h_tokens"]) == (3_000, 3_000)
    assert batched["cost_usd"] == pytest.approx((20 * 3 + 3_000 * 6 + 50 * 15) * 1e-6 / 2)
    summary = status_summary(con)
    assert (summary["cache_write_tokens"], summary["cache_write_1h_tokens"]) == (12_000, 9_000)
