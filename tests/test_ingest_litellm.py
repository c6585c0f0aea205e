import json

from click.testing import CliRunner

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import stored_requests

COLUMNS = ("source_id, model, provider, system_prompt, prompt_text, response_text, input_tokens, cached_input_tokens, "
           "cache_write_tokens, output_tokens, reasoning_tokens, cost_usd, cost_source, duration_ms, status, user_id, tags_json")


def test_csv_export_with_json_encoded_columns(con, fixtures):
    path = fixtures / "litellm" / "spend_logs.csv"
    assert detect_format(expand_paths([str(path)])[0]) == "litellm"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (4, 2)
    got = stored_requests(con, COLUMNS)
    routed = got["chatcmpl-9xYz"]
    assert routed["system_prompt"].startswith("You route customer emails")
    assert routed["prompt_text"].startswith("Hi, the parcel arrived damaged")
    assert routed["response_text"] == "returns"
    # spend is LiteLLM's own cost for the call: a log-stated cost, not re-priced
    assert (routed["cost_usd"], routed["cost_source"]) == (0.000311, "log")
    assert (routed["input_tokens"], routed["cached_input_tokens"], routed["output_tokens"]) == (1830, 1536, 61)
    assert routed["duration_ms"] == 814 and routed["user_id"] == "u_4821"
    tags = json.loads(routed["tags_json"])
    assert tags["request_tags"] == ["email-router", "prod"] and tags["api_key_alias"] == "support-bot-prod"

    claude = got["3b2a6e0c-5d1f-4c8a-9e7b-2f4d6a8c0e12"]
    assert claude["provider"] == "anthropic" and claude["cache_write_tokens"] == 4096
    assert claude["prompt_text"] is None  # prompts were not stored in spend logs ("{}")
    assert claude["duration_ms"] == 9500

    failed = got["f0e1d2c3-0000-4000-8000-00000000fa11"]
    assert failed["status"] == "error" and "Rate limit" in json.loads(failed["tags_json"])["error"]
    reasons = con.execute("select source_line, reason from rejects order by source_line").fetchall()
    assert reasons[0][0] == 6 and "spend" in reasons[0][1] and "twelve cents" in reasons[0][1]
    assert reasons[1][0] == 7 and "request_id" in reasons[1][1]


def test_json_api_export_overlapping_the_csv_adds_only_new_calls(con, fixtures):
    ingest_paths(con, [str(fixtures / "litellm" / "spend_logs.csv")])
    path = fixtures / "litellm" / "spend_logs.json"
    assert detect_format(expand_paths([str(path)])[0]) == "litellm"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_duplicate"]) == (1, 1)
    cached = stored_requests(con, COLUMNS)["chatcmpl-A1b2"]
    assert cached["prompt_text"].startswith("Generate a JSON object")
    assert json.loads(cached["response_text"])["email"] == "test@example.com"
    assert json.loads(cached["tags_json"])["cache_hit"] is True
    again = ingest_paths(con, [str(fixtures / "litellm")])
    assert again["rows_added"] == 0


def test_cli_json_summary(db_path, fixtures):
    from analyzer.cli import cli

    result = CliRunner().invoke(cli, ["ingest", str(fixtures / "litellm" / "spend_logs.csv"), "--db", db_path, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows_added"] == 4 and summary["rows_rejected"] == 2
    assert summary["files"][0]["format"] == "litellm"


def test_standard_logging_payload_as_lines_a_list_or_one_object(con, fixtures, tmp_path):
    """What LiteLLM's logging callbacks write: not Langfuse, prompts and answers kept, the logged cost wins."""
    lines = fixtures / "litellm_payload" / "standard_logging_payload.jsonl"
    single = fixtures / "litellm_payload" / "standard_logging_payload.json"
    as_list = tmp_path / "payloads.json"
    as_list.write_text(json.dumps([json.loads(x) for x in lines.read_text().splitlines()], indent=1))
    for path in (lines, single, as_list):
        assert detect_format(expand_paths([str(path)])[0]) == "litellm-payload", path
    summary = ingest_paths(con, [str(lines), str(single)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (5, 0)
    assert ingest_paths(con, [str(as_list)])["rows_duplicate"] == 4  # the same payloads as a JSON list
    got = stored_requests(con, COLUMNS)
    triage = got["chatcmpl-slp-1"]
    assert triage["system_prompt"] == "Classify the support ticket as billing, shipping or other."
    assert (triage["prompt_text"], triage["response_text"]) == ("My parcel never arrived.", "shipping")
    assert (triage["cost_usd"], triage["cost_source"]) == (0.0001234, "log")
    assert (triage["input_tokens"], triage["cached_input_tokens"], triage["output_tokens"]) == (1850, 1536, 12)
    assert triage["duration_ms"] == 1500 and triage["user_id"] == "customer-7"
    assert json.loads(triage["tags_json"])["request_tags"] == ["triage", "prod"]
    claude = got["chatcmpl-slp-2"]
    assert (claude["provider"], claude["cache_write_tokens"], claude["prompt_text"]) == ("anthropic", 4096, "Summarise clause 4.")
    failed = got["chatcmpl-slp-3"]
    assert failed["status"] == "error" and "Rate limit" in json.loads(failed["tags_json"])["error"]
    assert failed["cost_usd"] == 0.0 and failed["cost_source"] == "log"
    totals = con.execute("select sum(input_tokens), sum(output_tokens), sum(cost_usd), count(*) filter (where cost_source = 'log') "
                         "from requests").fetchall()[0]
    assert totals[:2] == (1850 + 5210 + 0 + 8 + 300, 12 + 140 + 0 + 0 + 20) and totals[3] == 5
    assert abs(totals[2] - (0.0001234 + 0.00612 + 0.0 + 1.6e-07 + 0.0000570)) < 1e-12
    params = con.execute("select params_json, operation from requests where source_id = 'chatcmpl-slp-1'").fetchall()[0]
    assert json.loads(params[0]) == {"temperature": 0, "max_tokens": 10} and params[1] == "chat"
    assert con.execute("select operation from requests where source_id = 'chatcmpl-slp-4'").fetchall()[0][0] == "embeddings"


def test_payloads_with_message_logging_off_keep_usage_and_drop_the_placeholder(con, fixtures):
    """turn_off_message_logging: LiteLLM writes "redacted-by-litellm" for the text and keeps usage in metadata."""
    path = fixtures / "litellm_redacted" / "s3_payloads.jsonl"
    assert detect_format(expand_paths([str(path)])[0]) == "litellm-payload"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (3, 0)
    got = stored_requests(con, COLUMNS + ", messages_json")
    streamed = got["chatcmpl-red-01"]
    assert (streamed["prompt_text"], streamed["messages_json"], streamed["response_text"]) == (None, None, None)
    # the response carries no usage: cached and reasoning tokens come from metadata.usage_object
    assert (streamed["input_tokens"], streamed["cached_input_tokens"], streamed["output_tokens"], streamed["reasoning_tokens"]) == (2310, 1792, 96, 0)
    assert (streamed["cost_usd"], streamed["cost_source"], streamed["duration_ms"]) == (0.004615, "log", 3500)
    failed = got["chatcmpl-red-02"]
    assert (failed["status"], failed["prompt_text"], failed["input_tokens"], failed["output_tokens"], failed["cost_usd"]) == ("error", None, 0, 0, 0.0)
    assert "rate_limit_error" in json.loads(failed["tags_json"])["error"]
    claude = got["chatcmpl-red-03"]
    assert (claude["system_prompt"], claude["prompt_text"], claude["response_text"]) == ("You summarise contracts.", "Summarise clause 7.", None)
    assert (claude["input_tokens"], claude["cached_input_tokens"], claude["cache_write_tokens"], claude["output_tokens"]) == (6205, 4608, 1500, 312)
    assert con.execute("select count(*), sum(input_tokens), sum(output_tokens), round(sum(cost_usd), 7) from requests").fetchone() == (3, 8515, 408, 0.0175615)


def test_spend_logs_api_json_cache_hit_failure_and_redacted_request(con, fixtures):
    """/spend/logs rows: metadata as objects, a proxy cache hit (spend 0), a failure, a redacted proxy_server_request."""
    path = fixtures / "litellm_spend_api" / "spend_logs.json"
    assert detect_format(expand_paths([str(path)])[0]) == "litellm"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (3, 0)
    got = stored_requests(con, COLUMNS)
    first_call = got["chatcmpl-aa1"]
    assert (first_call["input_tokens"], first_call["cached_input_tokens"], first_call["output_tokens"]) == (1200, 1024, 10)
    assert (first_call["prompt_text"], first_call["cost_usd"], first_call["cost_source"]) == (None, 0.00042, "log")
    cached = got["chatcmpl-aa2"]
    assert (cached["cost_usd"], cached["cost_source"], json.loads(cached["tags_json"])["cache_hit"]) == (0.0, "log", True)
    failed = got["fail-aa3"]
    assert (failed["status"], json.loads(failed["tags_json"])["error"]) == ("error", "prompt is too long")
    assert con.execute("select count(*), sum(input_tokens), sum(output_tokens), sum(cost_usd) from requests").fetchone() == (3, 2400, 20, 0.00042)


def test_the_gcs_loggers_spend_log_keeps_its_answer(con, tmp_path):
    """LiteLLM's GCS and Pub/Sub loggers write a spend log whose answer is ``output``: the choices, each as JSON
    text (before, the call landed without its answer)."""
    row = {"request_id": "chatcmpl-3946ddc2", "call_type": "acompletion", "startTime": "2024-08-01T14:27:12.563246",
           "endTime": "2024-08-01T14:27:12.572709", "model": "gpt-3.5-turbo", "metadata": "{}", "spend": 0.000055,
           "total_tokens": 30, "prompt_tokens": 10, "completion_tokens": 20, "request_tags": "[]", "end_user": "ishaan-2",
           "api_base": "", "model_group": "", "output": [json.dumps({"finish_reason": "stop", "index": 0, "message": {
               "content": "Hi!", "role": "assistant", "tool_calls": None, "function_call": None}})]}
    path = tmp_path / "spend_log.json"
    path.write_text(json.dumps(row, indent=4))
    assert ingest_paths(con, [str(path)])["rows_added"] == 1
    assert con.execute("select response_text, input_tokens, output_tokens, cost_usd, cost_source from requests").fetchone() == (
        "Hi!", 10, 20, 0.000055, "log")


def test_a_custom_callbacks_dump_of_its_kwargs_is_read_from_the_payload_inside(con, fixtures):
    """A CustomLogger's log_success_event/log_failure_event writing {"kwargs", "response_obj", "start_time",
    "end_time"} (json.dumps(default=str), litellm 1.110 against a local stub): each line was a request without an
    answer, no tokens, no cost, the failure not marked. The StandardLoggingPayload LiteLLM put in the kwargs holds it all."""
    path = str(fixtures / "litellm_payload" / "custom_callback_kwargs.jsonl")
    assert detect_format(expand_paths([path])[0]) == "litellm-payload"
    file = ingest_paths(con, [path])["files"][0]
    rows = sorted(stored_requests(con, as_list=True), key=lambda r: r["created_at"])
    assert (file["rows_added"], file["rows_rejected"]) == (5, 0)
    assert (sum(r["input_tokens"] for r in rows), sum(r["output_tokens"] for r in rows),
            sum(r["cached_input_tokens"] or 0 for r in rows)) == (3620, 129, 2560)
    assert round(sum(r["cost_usd"] for r in rows), 7) == 0.0041602 and {r["cost_source"] for r in rows} == {"log"}
    assert [r["status"] for r in rows] == ["ok", "ok", "error", "ok", "ok"]
    assert (rows[0]["system_prompt"], rows[0]["prompt_text"], rows[0]["response_text"]) == ("Be terse.", "Capital of France?", "Paris.")
