"""App calls as log stores and loggers keep them: nested under their wrappers (Google Cloud Logging's jsonPayload,
Elasticsearch's _source, loguru's record.extra, Datadog's attributes, CloudWatch's message string) among other log
lines."""

import json
from datetime import datetime

import pytest

from analyzer.errors import PlanError
from analyzer.ingest import ingest_paths
from analyzer.ingest.detect import detect_format
from analyzer.ingest.formats import load_all
from analyzer.ingest.sources import SourceFile
from helpers import stored_requests

# file: (rows added, other log lines skipped, input tokens, output tokens, spend in USD)
EXPORTS = {
    "gcp_logging.json": (3, 1, 410, 92, 0.001407),
    "loguru.jsonl": (2, 0, 380, 25, 0.000137),
    "elasticsearch_dump.jsonl": (2, 0, 650, 75, 0.002375),
    "cloudwatch_filter_log_events.json": (2, 1, 280, 48, 0.001245),
    "datadog_logs.json": (1, 0, 60, 6, 0.000013),
}


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_calls_nested_by_log_stores_land_whole_and_once(con, fixtures, tmp_path, name):
    path = fixtures / "wrapped" / name
    summary = ingest_paths(con, [str(path)])
    added, skipped, tokens_in, tokens_out, spend = EXPORTS[name]
    file = summary["files"][0]
    assert file["format"] == "openai"
    assert (file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == (added, skipped, 0)
    assert (file["input_tokens"], file["output_tokens"]) == (tokens_in, tokens_out)
    assert file["spend_usd"] == pytest.approx(spend, abs=1e-9)
    assert all(r["prompt_text"] or r["source_id"] == "chatcmpl-W7" for r in stored_requests(con, as_list=True))
    copy = tmp_path / name  # the same export kept twice: its calls are stored once
    copy.write_bytes(path.read_bytes())
    again = ingest_paths(con, [str(copy)])
    assert again["rows_added"] == 0 and again["rows_duplicate"] == added


def test_what_the_wrappers_say_fills_what_the_call_does_not(con, fixtures):
    ingest_paths(con, [str(fixtures / "wrapped" / n) for n in ("gcp_logging.json", "loguru.jsonl", "datadog_logs.json")])
    rows = stored_requests(con)
    # The Claude call has no time of its own: Cloud Logging's entry timestamp; its logged cost wins over the catalog.
    claude = rows["msg_W2"]
    assert claude["provider"] == "anthropic" and claude["created_at"] == datetime(2025, 11, 24, 10, 1)
    assert (claude["cost_usd"], claude["cost_source"]) == (0.00135, "log")
    assert claude["prompt_text"].startswith("Customer says the invoice total is wrong")
    assert rows["chatcmpl-W1"]["duration_ms"] == 840.0 and rows["chatcmpl-W1"]["created_at"] == datetime(2025, 11, 24, 10)
    assert rows["chatcmpl-W4"]["user_id"] == "u-9" and rows["chatcmpl-W4"]["created_at"] == datetime(2025, 11, 24, 10, 2)
    # loguru writes its time as an object: its timestamp is the call's time.
    assert rows["chatcmpl-W6"]["created_at"] == datetime(2025, 11, 24, 10, 6, 0, 500000)
    assert rows["resp_W5"]["user_id"] == "shop-3" and rows["resp_W5"]["cached_input_tokens"] == 100
    # Datadog: the call two levels down, the log's tags and the app's duration.
    assert json.loads(rows["chatcmpl-W11"]["tags_json"]) == ["env:prod", "team:support"]
    assert rows["chatcmpl-W11"]["duration_ms"] == 512.0


def test_an_export_that_opens_with_other_log_lines_is_still_recognised(fixtures):
    # A Lambda's log opens with "START RequestId ..." before the app logs its first call.
    path = fixtures / "wrapped" / "cloudwatch_filter_log_events.json"
    assert detect_format(SourceFile(path=path, display=str(path)), load_all()) == "openai"


def test_other_log_lines_are_skipped_broken_calls_rejected(con, tmp_path):
    pair = {"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Where is my parcel?"}]},
            "response": {"id": "chatcmpl-L1", "object": "chat.completion", "created": 1763978400, "model": "gpt-4o-mini",
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": "On its way."}}],
                         "usage": {"prompt_tokens": 12, "completion_tokens": 4}}}
    lines = [{"level": "info", "msg": "worker started"},
             {"ts": "2025-11-24T10:00:00Z", "data": pair},
             {"level": "info", "msg": "llm call", "request": "cut off by the logger", "response": 42},
             {"level": "error", "message": {"text": "upstream timed out"}},
             {"ts": "2025-11-24T10:00:05Z", "data": {"request": "cut off", "response": 42}}]
    path = tmp_path / "app.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    file = ingest_paths(con, [str(path)])["files"][0]
    assert (file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == (1, 2, 2)
    assert stored_requests(con)["chatcmpl-L1"]["response_text"] == "On its way."


def _pair(i: int) -> dict:
    return {"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Where is order {i}?"}]},
            "response": {"id": f"chatcmpl-S{i}", "object": "chat.completion", "created": 1763978400 + i, "model": "gpt-4o-mini",
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": "Shipped."}}],
                         "usage": {"prompt_tokens": 10 + i, "completion_tokens": 2}}}


# The app's JSON line as other log stores keep it, as text or as an object (three lines each).
STORES = {
    "splunk.json": lambda i: {"preview": False, "result": {"_time": "2025-11-24T10:00:00.000+00:00", "_raw": json.dumps(_pair(i)),
                                                           "sourcetype": "_json"}},
    "docker.jsonl": lambda i: {"log": json.dumps(_pair(i)) + "\n", "stream": "stdout", "time": "2025-11-24T10:00:00.123456789Z"},
    "cloud_logging_text.jsonl": lambda i: {"insertId": f"i{i}", "textPayload": json.dumps(_pair(i)), "severity": "INFO"},
    "azure_monitor.jsonl": lambda i: {"message": "llm call", "customDimensions": {k: json.dumps(v) for k, v in _pair(i).items()}},
    # an app's structlog line naming its own key for the call (was not recognised at all)
    "structlog_own_key.jsonl": lambda i: {"event": "llm_call_completed", "level": "info", "logger": "app.services.llm",
                                          "timestamp": "2025-11-24T10:00:00Z", "llm": {"provider": "openai", "latency_ms": 700, **_pair(i)}},
}


@pytest.mark.parametrize("name", sorted(STORES))
def test_the_line_as_text_or_object_in_other_log_stores(con, tmp_path, name):
    path = tmp_path / name
    path.write_text("".join(json.dumps(STORES[name](i)) + "\n" for i in range(3)))
    file = ingest_paths(con, [str(path)])["files"][0]
    assert (file["format"], file["rows_added"], file["rows_rejected"], file["input_tokens"]) == ("openai", 3, 0, 33)


def test_logs_insights_rows_of_an_apps_json_log(con, tmp_path):
    """CloudWatch Logs Insights results of an app's log group: each row's fields as {"field", "value"} pairs, the
    app's line in @message (not a Bedrock invocation: the app-log reader takes it)."""
    rows = [[{"field": "@timestamp", "value": "2025-11-24 10:00:00.000"}, {"field": "@message", "value": json.dumps(_pair(i))},
             {"field": "@ptr", "value": f"p{i}"}] for i in range(3)]
    path = tmp_path / "insights.json"
    path.write_text(json.dumps({"results": rows, "status": "Complete"}, indent=2))
    file = ingest_paths(con, [str(path)])["files"][0]
    assert (file["format"], file["rows_added"], file["rows_rejected"], file["input_tokens"]) == ("openai", 3, 0, 33)


def test_docker_pieces_of_a_long_line_are_joined_and_a_line_left_cut_is_a_reject(con, tmp_path):
    """Docker writes an app line longer than 16 KB as several entries (each but the last without its newline): they
    are joined again. A line still cut when the file ends cannot be read, and says so (not skipped as another line)."""
    line = json.dumps({**_pair(1), "request": {**_pair(1)["request"], "metadata": {"note": "x" * 20_000}}}) + "\n"
    pieces = [{"log": line[i:i + 16_384], "stream": "stdout", "time": "2025-11-24T10:00:00Z"} for i in range(0, len(line), 16_384)]
    cut = json.dumps(_pair(2))[:40]
    entries = [STORES["docker.jsonl"](0), {"log": "server started\n", "stream": "stderr", "time": "2025-11-24T10:00:00Z"},
               *pieces, {"log": cut, "stream": "stdout", "time": "2025-11-24T10:00:01Z"}]
    path = tmp_path / "docker.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    summary = ingest_paths(con, [str(path)])
    file = summary["files"][0]
    assert (file["rows_added"], file["rows_rejected"], file["rows_skipped"]) == (2, 1, 1)
    assert stored_requests(con)["chatcmpl-S1"]["source_line"] == 3  # the line of its first piece
    reasons = [r[0] for r in con.execute("select reason from rejects").fetchall()]
    assert reasons and "cut short" in reasons[0] and "'log'" in reasons[0]


def _warehouse_rows() -> list[dict]:
    """Rows of a warehouse's log table (Databricks inference-table columns): the bodies as JSON text."""
    rows = []
    for i, (prompt, answer) in enumerate((("ticket 1: refund please", "billing"), ("ticket 2: parcel late", "shipping"))):
        request = {"messages": [{"role": "system", "content": "You triage tickets."}, {"role": "user", "content": prompt}],
                   "max_tokens": 50}
        response = {"id": f"chatcmpl-w{i}", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 25 + i, "completion_tokens": 2, "total_tokens": 27 + i}}
        rows.append({"databricks_request_id": f"db-{i}", "timestamp_ms": 1764583200000 + i * 1000, "status_code": 200,
                     "execution_time_ms": 420 + i, "request": json.dumps(request), "response": json.dumps(response),
                     "requester": "svc-triage", "served_entity_id": ""})
    claude = {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "ticket 3: wrong size"}]}
    message = {"id": "msg_w2", "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
               "content": [{"type": "text", "text": "returns"}], "stop_reason": "end_turn",
               "usage": {"input_tokens": 30, "output_tokens": 3}}
    rows.append({**rows[0], "databricks_request_id": "db-2", "timestamp_ms": 1764583202000,
                 "request": json.dumps(claude), "response": json.dumps(message)})
    return rows


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_warehouse_log_table_exported_as_csv_or_parquet_is_read(con, tmp_path, kind):
    # Before: "not a log format plan recognises" (a request/response pair was read from JSON only).
    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _warehouse_rows()
    path = tmp_path / f"inference_table.{kind}"
    if kind == "csv":
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    file = ingest_paths(con, [str(path)])["files"][0]
    assert (file["format"], file["rows_added"], file["rows_rejected"]) == ("openai", 3, 0)
    got = stored_requests(con)
    first = got["chatcmpl-w0"]
    assert (first["prompt_text"], first["system_prompt"], first["response_text"]) == (
        "ticket 1: refund please", "You triage tickets.", "billing")
    assert (first["input_tokens"], first["output_tokens"], first["duration_ms"], first["user_id"]) == (25, 2, 420, "svc-triage")
    assert first["created_at"] == datetime(2025, 12, 1, 10, 0)  # the table's time: the answer states none
    assert (got["msg_w2"]["provider"], got["msg_w2"]["input_tokens"], got["msg_w2"]["response_text"]) == ("anthropic", 30, "returns")
    assert sum(r["input_tokens"] for r in got.values()) == 25 + 26 + 30


def test_a_json_lines_log_opening_with_a_line_of_text_is_not_taken_for_a_table(con, tmp_path):
    # The first line decides nothing alone: JSON Lines after a banner are still JSON Lines, not CSV rows.
    rows = _warehouse_rows()
    path = tmp_path / "app.log"
    path.write_text("worker 7 started, pid 4242\n" + "".join(json.dumps(r) + "\n" for r in rows))
    file = ingest_paths(con, [str(path)], fmt="openai")["files"][0]
    assert (file["rows_added"], file["rows_rejected"] + file["rows_skipped"]) == (3, 1)


def test_objects_under_other_keys_are_not_calls(con, tmp_path):
    """Only the names apps give a logged call wrap one: an evaluation's per-instance totals (OpenHands'
    `metrics.accumulated_token_usage`: a model named "default" beside the run's token sums), an eval dataset's
    `expected` answer or a cache hit's `cached` call were stored as calls paid for while any key could wrap one."""
    path = tmp_path / "output.jsonl"
    path.write_text("".join(json.dumps({
        "instance_id": f"repo__{i}", "instruction": "Fix the failing test", "error": None,
        "metrics": {"accumulated_cost": 0.0, "accumulated_token_usage": {"model": "default", "prompt_tokens": 938015,
                                                                         "completion_tokens": 5627, "response_id": ""},
                    "token_usages": [{"model": "default", "prompt_tokens": 9000, "completion_tokens": 50}]}}) + "\n"
        for i in range(3))
        + json.dumps({"sample_id": "s1", "input": "Where is my parcel?", "score": 1.0, "expected": {
            "id": "chatcmpl-3", "object": "chat.completion", "created": 1746352800, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "It shipped."}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 3}}}) + "\n")
    with pytest.raises(PlanError, match="not a log format plan recognises"):
        ingest_paths(con, [str(path)])
    assert con.execute("select count(*) from requests").fetchone()[0] == 0


def test_a_response_printed_as_the_sdks_repr_is_read_as_the_response(con, tmp_path):
    """AutoGen's runtime log writes each call's response as `str(ChatCompletion)`, Python's repr, not JSON: 11 real
    calls were stored without tokens or answer, status no_response, under the deployment's alias (`gpt-4o-new`)."""
    answer = "To accomplish this task, we'll follow these steps:\n1. Segment the 'leaf' images"
    response = ("ChatCompletion(id='chatcmpl-BJjiZf3zdcYFFB8b', choices=[Choice(finish_reason='stop', index=0, logprobs=None, "
                f"message=ChatCompletionMessage(content={answer!r}, refusal=None, role='assistant', audio=None, "
                "function_call=None, tool_calls=None))], created=1744043671, model='gpt-4o-2024-05-13', "
                "object='chat.completion', service_tier=None, system_fingerprint='fp_ee1d74bde0', "
                "usage=CompletionUsage(completion_tokens=120, prompt_tokens=2210, total_tokens=2330, "
                "completion_tokens_details=CompletionTokensDetails(reasoning_tokens=0), "
                "prompt_tokens_details=PromptTokensDetails(audio_tokens=0, cached_tokens=1024)))")
    call = {"invocation_id": "93495690", "client_id": 1400495, "wrapper_id": 1400495,
            "request": {"messages": [{"role": "user", "content": "Compute the leaf count of each image"}], "model": "gpt-4o-new"},
            "response": response, "is_cached": 0, "cost": 0.017215, "start_time": "2025-04-07 16:34:30.896562",
            "end_time": "2025-04-07 16:34:34.852486", "source_name": "manager"}
    event = {"source_id": 1400504, "source_name": "manager", "event_name": "received_message", "json_state": "{}",
             "timestamp": "2025-04-07 16:34:30.677961"}
    path = tmp_path / "runtime.log"
    path.write_text(json.dumps(event) + "\n" + json.dumps(call) + "\n")
    summary = ingest_paths(con, [str(path)])
    (row,) = stored_requests(con, as_list=True)
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_rejected"]) == (1, 1, 0)
    assert (row["model"], row["status"], row["input_tokens"], row["cached_input_tokens"], row["output_tokens"]) == (
        "gpt-4o-2024-05-13", "ok", 2210, 1024, 120)
    assert (row["response_text"], row["source_id"], row["cost_usd"], row["cost_source"]) == (
        answer, "chatcmpl-BJjiZf3zdcYFFB8b", 0.017215, "log")
