"""Gemini and Vertex AI calls as Google's tools export them: Vertex request-response logging (the BigQuery table, as
JSON Lines or CSV), batch prediction outputs, and app logs of Gemini calls."""

import csv
import json

import pytest

from analyzer.ingest import ingest_paths
from helpers import stored_requests

ENDPOINT = "projects/acme-prod/locations/us-central1/publishers/google/models/{}"


def _request(user: str, system: str | None = None, earlier: list | None = None) -> dict:
    body: dict = {"contents": [*(earlier or []), {"role": "user", "parts": [{"text": user}]}],
                  "generationConfig": {"temperature": 0.2, "maxOutputTokens": 512}}
    if system:
        body["systemInstruction"] = {"role": "system", "parts": [{"text": system}]}
    return body


def _response(text: str, usage: dict, model: str = "gemini-2.5-flash", rid: str = "r1", finish: str = "STOP",
              thought: str | None = None) -> dict:
    parts = ([{"text": thought, "thought": True}] if thought else []) + [{"text": text}]
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish}],
            "usageMetadata": usage, "modelVersion": model, "responseId": rid, "createTime": "2026-11-02T09:59:58.000Z"}


def _logged_rows() -> list[dict]:
    """Four rows of a Vertex request-response logging table: a thinking call with cached content, a streamed call,
    a blocked prompt and a Claude call through rawPredict."""
    thinking = _response("Refund approved under policy 4.2.", {
        "promptTokenCount": 1200, "cachedContentTokenCount": 1024, "candidatesTokenCount": 40,
        "thoughtsTokenCount": 300, "totalTokenCount": 1540}, rid="resp-think", thought="The order is within 30 days.")
    stream = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Your parcel "}]}}],
         "modelVersion": "gemini-2.0-flash-001", "responseId": "resp-stream"},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "ships Monday."}]}, "finishReason": "STOP"}],
         "usageMetadata": {"promptTokenCount": 55, "candidatesTokenCount": 6, "totalTokenCount": 61},
         "modelVersion": "gemini-2.0-flash-001", "responseId": "resp-stream"},
    ]
    blocked = {"promptFeedback": {"blockReason": "SAFETY"},
               "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12}, "modelVersion": "gemini-2.5-flash",
               "responseId": "resp-blocked"}
    claude_request = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 256,
                      "messages": [{"role": "user", "content": "Summarise the ticket in one line."}]}
    claude_response = {"id": "msg_vrtx_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5@20250929",
                       "content": [{"type": "text", "text": "Customer wants a refund."}], "stop_reason": "end_turn",
                       "usage": {"input_tokens": 30, "output_tokens": 8}}
    return [
        {"endpoint": ENDPOINT.format("gemini-2.5-flash"), "deployed_model_id": "", "logging_time": "2026-11-02T10:00:01.500Z",
         "request_id": 7001, "full_request": _request("Can I get a refund for order 1182?", "You are the refunds desk."),
         "full_response": thinking, "metadata": {"request_latency": "1840"}},
        {"endpoint": ENDPOINT.format("gemini-2.0-flash-001"), "logging_time": "2026-11-02T10:05:00Z", "request_id": 7002,
         "full_request": _request("When does my parcel ship?", earlier=[
             {"role": "user", "parts": [{"text": "Hi"}]}, {"role": "model", "parts": [{"text": "Hello!"}]}]),
         "full_response": stream},
        {"endpoint": ENDPOINT.format("gemini-2.5-flash"), "logging_time": "2026-11-02T10:06:00Z", "request_id": 7003,
         "full_request": _request("something unsafe"), "full_response": blocked},
        {"endpoint": ENDPOINT.replace("google", "anthropic").format("claude-sonnet-4-5"),
         "logging_time": "2026-11-02T10:07:00Z", "request_id": 7004, "full_request": claude_request,
         "full_response": claude_response},
    ]


def _check_logged(con, summary, duration_ms=1840.0):
    assert summary["files"][0]["format"] == "gemini"
    assert (summary["rows_added"], summary["rows_rejected"], summary["rows_skipped"]) == (4, 0, 0)
    rows = stored_requests(con)
    think = rows["resp-think"]
    assert (think["provider"], think["model"], think["status"]) == ("google", "gemini-2.5-flash", "ok")
    assert think["system_prompt"] == "You are the refunds desk." and think["prompt_text"] == "Can I get a refund for order 1182?"
    assert think["response_text"] == "Refund approved under policy 4.2."  # the thought part is not the answer
    # thinking is billed as output: 40 answer + 300 thoughts; the cached 1,024 are inside the 1,200 prompt tokens
    assert (think["input_tokens"], think["cached_input_tokens"], think["output_tokens"], think["reasoning_tokens"]) == (
        1200, 1024, 340, 300)
    assert str(think["created_at"]) == "2026-11-02 10:00:01.500000"
    assert think["duration_ms"] == duration_ms  # the row's metadata.request_latency, in milliseconds
    stream = rows["resp-stream"]
    assert (stream["model"], stream["response_text"], stream["input_tokens"], stream["output_tokens"]) == (
        "gemini-2.0-flash-001", "Your parcel ships Monday.", 55, 6)
    assert [m["role"] for m in json.loads(stream["messages_json"])] == ["user", "assistant", "user"]
    blocked = rows["resp-blocked"]
    assert (blocked["status"], blocked["input_tokens"], blocked["response_text"]) == ("blocked", 12, None)
    claude = rows["msg_vrtx_01"]
    assert (claude["provider"], claude["response_text"], claude["input_tokens"], claude["output_tokens"]) == (
        "anthropic", "Customer wants a refund.", 30, 8)
    assert all(r["cost_source"] == "catalog" and r["cost_usd"] > 0 for r in rows.values() if r["status"] == "ok")


def test_vertex_request_response_logging_rows_as_json_lines(con, tmp_path):
    path = tmp_path / "request_response_logging.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _logged_rows()))
    _check_logged(con, ingest_paths(con, [str(path)]))
    assert ingest_paths(con, [str(path)])["rows_added"] == 0  # read again: nothing new


def test_vertex_request_response_logging_exported_from_bigquery_as_csv(con, tmp_path):
    path = tmp_path / "bq-results-20261102.csv"
    rows = _logged_rows()
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["endpoint", "logging_time", "request_id", "full_request", "full_response"])
        writer.writeheader()
        for r in rows:
            writer.writerow({k: json.dumps(r[k]) if isinstance(r[k], (dict, list)) else r[k] for k in writer.fieldnames})
    _check_logged(con, ingest_paths(con, [str(path)]), duration_ms=None)  # no metadata column


def test_batch_outputs_and_app_logs_of_gemini_calls(con, tmp_path):
    usage = {"promptTokenCount": 80, "candidatesTokenCount": 20, "totalTokenCount": 100}
    vertex_batch = tmp_path / "prediction-model-2026-11-02.jsonl"
    vertex_batch.write_text("".join(json.dumps(r) + "\n" for r in [
        {"status": "", "processed_time": "2026-11-02T11:00:00.000+00:00", "request": _request("Classify: late parcel"),
         "response": _response("shipping", usage, rid="b1")},
        {"status": "Bad Request: 400 The input token count exceeds the maximum", "processed_time": "2026-11-02T11:00:01Z",
         "request": _request("Classify: " + "x " * 20)},
    ]))
    summary = ingest_paths(con, [str(vertex_batch)])
    assert summary["files"][0]["format"] == "gemini" and summary["rows_added"] == 2
    rows = {r["prompt_text"]: r for r in stored_requests(con, as_list=True)}
    assert (rows["Classify: late parcel"]["status"], rows["Classify: late parcel"]["output_tokens"]) == ("ok", 20)
    failed = next(r for r in rows.values() if r["status"] != "ok")
    assert failed["status"] == "error" and failed["input_tokens"] is None

    app_log = tmp_path / "gemini_app.jsonl"
    app_log.write_text("".join(json.dumps(r) + "\n" for r in [
        {"ts": "2026-11-02T12:00:00Z", "user": "u-9", "latency_ms": 640,
         "request": {"model": "gemini-2.5-pro", **_request("Draft a reply to the customer")},
         "response": _response("Dear customer, ...", usage, model="gemini-2.5-pro", rid="app1")},
        {"key": "req-17", "response": _response("billing", usage, rid="api-batch-17")},  # Gemini API batch output
        _response("A bare response object", usage, rid="bare1"),
    ]))
    summary = ingest_paths(con, [str(app_log)])
    assert summary["files"][0]["format"] == "gemini" and summary["rows_added"] == 3
    got = stored_requests(con)
    assert (got["app1"]["model"], got["app1"]["user_id"], got["app1"]["duration_ms"]) == ("gemini-2.5-pro", "u-9", 640.0)
    assert got["req-17"]["response_text"] == "billing" and got["bare1"]["input_tokens"] == 80  # a batch line: its key


def test_openai_app_logs_are_not_taken_for_gemini(con, tmp_path):
    path = tmp_path / "openai_pairs.jsonl"
    path.write_text(json.dumps({"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                                "response": {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
                                             "choices": [{"message": {"role": "assistant", "content": "hello"}}],
                                             "usage": {"prompt_tokens": 3, "completion_tokens": 2}}}) + "\n")
    assert ingest_paths(con, [str(path)])["files"][0]["format"] == "openai"


def test_batch_output_files_as_google_writes_them(con, fixtures, tmp_path):
    """Gemini API and Vertex AI batch outputs are batch calls (half the on-demand price), and a Gemini API line that
    failed ({"key", "error"}) is a request that failed, not an unreadable line. A Gemini API line is known by its key
    (its request's id in the batch), as an OpenAI batch line by its custom_id: lines whose response ids were redacted
    alike are still five calls (before, four were conflicts of the first)."""
    summary = ingest_paths(con, [str(fixtures / "gemini_api_batch_output.jsonl"), str(fixtures / "gemini_vertex_batch_output.jsonl")])
    assert [f["format"] for f in summary["files"]] == ["gemini", "gemini"]
    assert (summary["rows_added"], summary["rows_rejected"], summary["rows_skipped"]) == (7, 0, 0)
    got = {r["source_id"] or r["prompt_text"]: r for r in stored_requests(con, as_list=True)}
    expected = {  # source_id: model, status, input, cached, output, reasoning, cost at batch prices
        "req-1": ("gemini-2.5-flash", "ok", 12, None, 32, 30, 0.0000418),  # 12 x $0.15 + (2 + 30 thoughts) x $1.25 per M
        "req-2": ("gemini-2.5-flash", "ok", 5000, 4096, 10, None, 0.00027098),
        "req-3": (None, "error", None, None, None, None, None),
        "req-4": ("gemini-2.5-flash", "blocked", 20, None, None, None, 0.000003),
        "v1": ("gemini-2.0-flash-001", "ok", 8, None, 5, None, 0.0000014),
        "v2": ("gemini-2.5-pro", "ok", 128, None, 45, 40, 0.000305),  # 8 prompt + 120 tool-use prompt
        "Summarize: cats": (None, "error", None, None, None, None, None),
    }
    assert set(got) == set(expected)
    for key, (model, status, inp, cached, out, reasoning, cost) in expected.items():
        row = got[key]
        assert (row["model"], row["status"], row["input_tokens"], row["cached_input_tokens"], row["output_tokens"],
                row["reasoning_tokens"], row["is_batch"]) == (model, status, inp, cached, out, reasoning, True), key
        assert row["cost_usd"] == (None if cost is None else pytest.approx(cost, rel=1e-9)), key

    failed_first = tmp_path / "predictions.jsonl"  # an output file whose first line is an error is still Google's
    failed_first.write_text("".join(json.dumps(r) + "\n" for r in [
        {"key": "k1", "error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}},
        {"key": "k2", "response": _response("ok", {"promptTokenCount": 10, "candidatesTokenCount": 1}, rid="k2r")}]))
    summary = ingest_paths(con, [str(failed_first)])
    assert (summary["files"][0]["format"], summary["rows_added"], summary["rows_rejected"]) == ("gemini", 2, 0)
    assert con.execute("select status, is_batch from requests where source_id = 'k1'").fetchone() == ("error", True)

    redacted = tmp_path / "results_basic.jsonl"  # response ids replaced by "..." before the file was shared
    redacted.write_text("".join(json.dumps({"key": f"request_{n}", "response": _response(
        f"answer {n}", {"promptTokenCount": 10 + n, "candidatesTokenCount": 100 * n}, rid="...")}) + "\n" for n in range(1, 6)))
    summary = ingest_paths(con, [str(redacted)])
    assert (summary["rows_added"], summary["rows_conflicting"]) == (5, 0)
    assert con.execute("select sum(input_tokens), sum(output_tokens) from requests where source_file like '%results_basic%'"
                       ).fetchone() == (65, 1500)


def test_request_response_logs_in_the_protos_own_names_keep_their_usage(con, tmp_path):
    """Vertex's request-response logging as some exports keep it (Elastic's integration, protobuf's JSON with field
    names preserved): ``usage_metadata``, ``prompt_token_count``, ``model_version``, ``response_id``. Before, the call
    landed without tokens ("states no usage") and unpriced."""
    row = {"api_method": "GenerateContent", "request_id": "5374205265901353984", "logging_time": "2025-09-08T21:04:22.248Z",
           "model": "publishers/google/models/gemini-2.5-pro", "metadata": {"request_latency": 11225.994},
           "full_request": {"contents": [{"role": "user", "parts": [{"text": "Hello world!"}]}],
                            "generation_config": {"max_output_tokens": 8192, "temperature": 0}},
           "full_response": {"candidates": [{"finish_reason": "STOP", "content": {"role": "model", "parts": [{"text": "Hello there!"}]}}],
                             "create_time": "2025-09-08T21:04:11.034753Z", "model_version": "gemini-2.5-pro",
                             "response_id": "y0S_aMGPArCYqsMPntGNyA4",
                             "usage_metadata": {"candidates_token_count": 29, "prompt_token_count": 3, "thoughts_token_count": 901,
                                                "total_token_count": 933, "traffic_type": "ON_DEMAND"}}}
    path = tmp_path / "prompt_response_logs.jsonl"
    path.write_text(json.dumps(row) + "\n")
    assert ingest_paths(con, [str(path)])["rows_added"] == 1
    assert con.execute("select source_id, model, input_tokens, output_tokens, reasoning_tokens, duration_ms, cost_source,"
                       " response_text from requests").fetchone() == (
        "y0S_aMGPArCYqsMPntGNyA4", "gemini-2.5-pro", 3, 930, 901, 11225.994, "catalog", "Hello there!")
