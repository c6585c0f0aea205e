"""GenAI events logged as OpenTelemetry log records rather than span events: the OpenAI instrumentor
(opentelemetry-instrumentation-openai-v2) writes a call's messages and answer as log records beside a span that holds
only the model and tokens. Fixtures written from the semantic conventions (tests/fixtures/otel_logs/)."""

import json

import pytest

from analyzer.db import dicts
from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths

SYSTEM_LABEL = "You label support tickets: billing, shipping or other."
EXPECTED = {  # span id: (model, input, output, system prompt, prompt, answer)
    "b7ad6b7169203331": ("gpt-4o-mini-2024-07-18", 412, 9, SYSTEM_LABEL, "My parcel has not arrived after two weeks.", "shipping"),
    "c8be7c827a314442": ("gpt-4o-mini-2024-07-18", 398, 7, SYSTEM_LABEL, "I was charged twice for one order.", "billing"),
    "d9cf8d938b425553": ("gpt-4.1-2025-04-14", 1530, 122, "You draft polite replies to customers.",
                         "Customer asks whether we ship to Norway.",
                         "Yes, we ship to Norway; delivery takes 5-7 working days."),
}


def calls(con) -> dict:
    return {r["source_id"]: r for r in dicts(con, "select * from requests")}


def assert_the_three_calls(con) -> None:
    got = calls(con)
    assert set(got) == set(EXPECTED)
    for span_id, (model, tokens_in, tokens_out, system, prompt, answer) in EXPECTED.items():
        row = got[span_id]
        assert (row["provider"], row["model"], row["input_tokens"], row["output_tokens"]) == ("openai", model, tokens_in, tokens_out)
        assert (row["system_prompt"], row["prompt_text"], row["response_text"]) == (system, prompt, answer)
        assert [m["role"] for m in json.loads(row["messages_json"])] == ["system", "user"]
        assert row["cost_source"] == "catalog" and row["cost_usd"] > 0
        assert row["trace_id"] == "0af7651916cd43dd8448eb211c80319c"


@pytest.mark.parametrize("name", ["collector_both.jsonl", "logs.jsonl", "console.txt", "details_events.jsonl",
                                  "claude_code_otel.jsonl", "codex_otel.jsonl", "gemini_cli_otel.jsonl", "gemini_cli_outfile.log"])
def test_log_record_exports_are_detected_as_otel(fixtures, name):
    assert detect_format(expand_paths([str(fixtures / "otel_logs" / name)])[0]) == "otel"


def test_a_collector_export_of_traces_and_logs_joins_the_events_to_their_spans(con, fixtures):
    # Before: the log records were skipped, and the three calls landed without system prompt, prompt or answer
    # (nothing to categorize or replay).
    file = ingest_paths(con, [str(fixtures / "otel_logs" / "collector_both.jsonl")])["files"][0]
    # Skipped and counted: the nine events (read with their spans), the HTTP client's log line, the server span.
    assert (file["format"], file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == ("otel", 3, 11, 0)
    assert_the_three_calls(con)
    assert calls(con)["b7ad6b7169203331"]["parent_span_id"] == "a0a0a0a0a0a0a0a0"
    assert con.execute("select sum(input_tokens), sum(output_tokens) from requests").fetchall()[0] == (2340, 138)


def test_console_exporters_print_spans_and_log_records_one_after_another(con, fixtures):
    file = ingest_paths(con, [str(fixtures / "otel_logs" / "console.txt")])["files"][0]
    assert (file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == (3, 9, 0)
    assert_the_three_calls(con)
    assert calls(con)["d9cf8d938b425553"]["duration_ms"] == 900


@pytest.mark.parametrize("order, one_run", [(("traces", "logs"), True), (("logs", "traces"), True),
                                            (("traces", "logs"), False), (("logs", "traces"), False)])
def test_traces_and_logs_in_two_files_make_one_row_per_call_in_either_order(con, fixtures, order, one_run):
    # The collector's file exporter usually writes each signal to its own file; a directory lists logs.jsonl first.
    paths = [str(fixtures / "otel_logs" / f"{name}.jsonl") for name in order]
    results = [ingest_paths(con, paths)] if one_run else [ingest_paths(con, [path]) for path in paths]
    files = [f for result in results for f in result["files"]]
    assert [(f["rows_added"], f["rows_duplicate"], f["rows_filled_in"], f["rows_conflicting"]) for f in files] == [
        (3, 0, 0, 0), (0, 3, 3, 0)]
    assert_the_three_calls(con)  # whichever came second filled in the model, tokens, price or texts
    row = calls(con)["c8be7c827a314442"]
    assert (row["parent_span_id"], row["duration_ms"]) == ("a0a0a0a0a0a0a0a0", 900)
    again = ingest_paths(con, paths)
    assert (again["rows_added"], again["rows_filled_in"], con.execute("select count(*) from requests").fetchall()[0][0]) == (0, 0, 3)


def test_logs_alone_are_calls_whose_spend_waits_for_their_spans(con, fixtures):
    file = ingest_paths(con, [str(fixtures / "otel_logs" / "logs.jsonl")])["files"][0]
    assert (file["rows_added"], file["rows_skipped"]) == (3, 7)  # six events read with their calls' first, one app log
    assert {r["prompt_text"] for r in calls(con).values()} == {e[4] for e in EXPECTED.values()}
    assert con.execute("select count(*) from requests where model is null and cost_usd is null").fetchall()[0][0] == 3
    assert "ingest the traces export too" in file["note"]


def test_inference_details_events_alone_are_whole_calls(con, fixtures):
    # The GenAI util under OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=EVENT_ONLY: one log record per call
    # with the model, the tokens and the messages.
    file = ingest_paths(con, [str(fixtures / "otel_logs" / "details_events.jsonl")])["files"][0]
    assert (file["format"], file["rows_added"], file["rows_skipped"]) == ("otel", 3, 0)
    assert_the_three_calls(con)


def test_events_that_cannot_be_joined_to_a_call_are_skipped_not_stored(con, tmp_path):
    record = {"timeUnixNano": "1764583200000000000", "eventName": "gen_ai.user.message",
              "body": {"kvlistValue": {"values": [{"key": "content", "value": {"stringValue": "hello"}}]}}}
    evaluation = {**record, "eventName": "gen_ai.evaluation.result", "spanId": "1234567812345678"}
    path = tmp_path / "logs.jsonl"
    path.write_text(json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [record, evaluation]}]}]}) + "\n")
    file = ingest_paths(con, [str(path)], fmt="otel")["files"][0]
    assert (file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == (0, 2, 0)


# Coding agents' own telemetry (Claude Code, Codex CLI, Gemini CLI) through a collector's file exporter: one event per
# model call with its tokens (Claude Code: and its estimated cost), the person's prompt in a prompt event.

def agent_rows(con) -> list[dict]:
    return dicts(con, "select * from requests order by created_at")


def test_claude_code_telemetry_is_one_row_per_api_request(con, fixtures):
    path = str(fixtures / "otel_logs" / "claude_code_otel.jsonl")
    file = ingest_paths(con, [path])["files"][0]
    # Skipped and counted: two prompts, a tool result, an API error (no tokens billed).
    assert (file["format"], file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == ("otel", 3, 4, 0)
    main, haiku, second = agent_rows(con)
    # Anthropic's terms: input_tokens leaves the cache out; the row counts all input.
    assert (main["input_tokens"], main["cached_input_tokens"], main["cache_write_tokens"], main["output_tokens"]) == (19512, 18000, 1500, 420)
    assert (main["model"], main["provider"], main["source_id"], main["duration_ms"]) == (
        "claude-sonnet-4-5-20250929", "anthropic", "req_011CVfA1", 8123)
    assert (haiku["input_tokens"], haiku["output_tokens"], second["input_tokens"], second["output_tokens"]) == (310, 25, 19208, 150)
    # The logged cost is Claude Code's own estimate, kept as the call's cost.
    assert [(r["cost_usd"], r["cost_source"]) for r in (main, haiku, second)] == [(0.0987, "log"), (0.000435, "log"), (0.0081, "log")]
    assert main["prompt_text"] == haiku["prompt_text"] == "Add a retry with backoff to the S3 uploader"
    assert second["prompt_text"] is None  # its prompt was not logged (redacted): not the earlier one
    assert main["trace_id"] == second["trace_id"] == "6c1f0a52-4d1e-4c9b-9a57-0f4a3c2d1e7b" and main["user_id"] == "acc-7f3e"
    assert json.loads(main["tags_json"])["agent"] == "claude-code"
    again = ingest_paths(con, [path])
    assert (again["rows_added"], again["rows_duplicate"]) == (0, 3)


def test_claude_code_records_named_only_api_request_are_calls(con, tmp_path):
    # Some pipelines keep Claude Code's records without their body (the full name): event.name alone is short.
    def attr(key, value):
        return {"key": key, "value": {"intValue": str(value)} if isinstance(value, int) else {"stringValue": value}}
    call = {"timeUnixNano": "1764590400000000000", "attributes": [
        attr("event.name", "api_request"), attr("model", "claude-opus-4-5"), attr("input_tokens", 200),
        attr("output_tokens", 80), attr("cache_read_tokens", 20), attr("cache_creation_tokens", 5), attr("request_id", "c1")]}
    other = {"timeUnixNano": "1764590400000000000", "attributes": [attr("event.name", "api_request"), attr("route", "/x")]}
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [call, other]}]}]}) + "\n")
    file = ingest_paths(con, [str(path)])["files"][0]
    assert (file["format"], file["rows_added"], file["rows_skipped"]) == ("otel", 1, 1)  # another app's api_request: not Claude Code's
    row = agent_rows(con)[0]
    assert (row["provider"], row["input_tokens"], row["cache_write_tokens"], row["output_tokens"]) == ("anthropic", 225, 5, 80)


def test_codex_cli_telemetry_counts_completed_responses(con, fixtures):
    file = ingest_paths(con, [str(fixtures / "otel_logs" / "codex_otel.jsonl")])["files"][0]
    # Only response.completed carries a call's usage; the other SSE events, the request, the tool decision, the
    # conversation start and the prompt are skipped.
    assert (file["rows_added"], file["rows_skipped"]) == (2, 5)
    rows = agent_rows(con)
    assert [(r["input_tokens"], r["cached_input_tokens"], r["output_tokens"], r["reasoning_tokens"]) for r in rows] == [
        (15230, 12032, 812, 448), (16540, 15104, 95, 0)]
    assert {(r["provider"], r["model"], r["cost_source"], r["prompt_text"]) for r in rows} == {
        ("openai", "gpt-5-codex", "catalog", "Explain why the build fails on ARM")}


def test_gemini_cli_telemetry_bills_thinking_as_output(con, fixtures):
    file = ingest_paths(con, [str(fixtures / "otel_logs" / "gemini_cli_otel.jsonl")])["files"][0]
    assert (file["rows_added"], file["rows_skipped"]) == (2, 2)
    pro, flash = agent_rows(con)
    assert (pro["input_tokens"], pro["cached_input_tokens"], pro["output_tokens"], pro["reasoning_tokens"]) == (8120, 4096, 1840, 1200)
    assert (flash["input_tokens"], flash["output_tokens"]) == (2450, 40)  # the tool-use prompt is input
    assert (pro["provider"], pro["duration_ms"], pro["prompt_text"]) == ("google", 5980, "Summarise the open TODOs in src")


def test_gemini_cli_outfile_gives_each_call_its_conversation_and_answer(con, fixtures):
    # Gemini CLI's telemetry outfile: the JS SDK's records stringified one after another (hrTime, _body, a
    # resource's _rawAttributes), metrics exports first and between them; with prompts logged, each api_request
    # holds the contents sent and each api_response the response (a streamed one as its chunks).
    file = ingest_paths(con, [str(fixtures / "otel_logs" / "gemini_cli_outfile.log")])["files"][0]
    assert (file["format"], file["rows_added"], file["rows_rejected"]) == ("otel", 2, 0)
    routing, answer = agent_rows(con)
    assert (routing["model"], routing["input_tokens"], routing["cached_input_tokens"], routing["output_tokens"]) == (
        "gemini-2.5-flash-lite", 963, 766, 149)
    assert (routing["source_id"], routing["response_text"]) == ("kp0CaeOXD6qgkdUP6MGuoQU", '{"model_choice": "flash"}')
    assert (answer["source_id"], answer["response_text"], answer["input_tokens"], answer["output_tokens"]) == (
        "kp0Cacq6NsLmnsEPgO-LiQo", "mayapia", 12869, 2)
    assert answer["prompt_text"] == "echo mayapia" and answer["trace_id"] == "8d606a51-bd01-44a5-9d77-e1debf5f3ce1"
    assert [m["content"] for m in json.loads(answer["messages_json"])][:2] == ["This is the Gemini CLI. Setting up context.", "Got it."]
