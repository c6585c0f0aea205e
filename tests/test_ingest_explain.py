"""When a file is skipped or mostly rejected, one sentence names the format it resembles and what was missing."""

import json

import pytest

from analyzer.errors import PlanError
from analyzer.ingest import ingest_paths


def write(path, text):
    path.write_text(text)
    return path


def test_a_logs_insights_export_without_invocations_says_so(con, tmp_path):
    pairs = []
    for i in range(3):
        pairs += [{"field": "@timestamp", "value": f"2025-05-02 10:0{i}:00.000"}, {"field": "@logStream", "value": "app"}]
    folder = tmp_path / "exports"
    folder.mkdir()
    write(folder / "insights.json", json.dumps({"results": pairs, "status": "Complete"}, indent=4))
    write(folder / "calls.jsonl", json.dumps({"object": "chat.completion", "id": "c1", "created": 1746352800, "model": "gpt-4o-mini",
                                              "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}) + "\n")
    warnings = []
    summary = ingest_paths(con, [str(folder)], warn=warnings.append)
    skipped = next(f for f in summary["files"] if f["path"].endswith("insights.json"))
    assert skipped["format"] == "unknown"
    assert "looks like a CloudWatch Logs Insights export, but its records hold no Bedrock invocation" in skipped["note"]
    assert any("insights.json: skipped" in w and "Logs Insights" in w for w in warnings)


def test_a_jaeger_export_of_an_apps_own_spans_lands_nothing_and_says_why(con, tmp_path):
    # A span the app called "chat" (its own handler) with no GenAI attribute is not a model call, whatever its name.
    path = write(tmp_path / "jaeger.json", json.dumps({"data": [{"traceID": "abc", "spans": [
        {"traceID": "abc", "spanID": "1", "operationName": "chat", "references": [], "tags": []}]}]}))
    warnings: list[str] = []
    summary = ingest_paths(con, [str(path)], warn=warnings.append)
    assert (summary["rows_added"], summary["files"][0]["rows_skipped"]) == (0, 1)
    assert "none of them a model call" in summary["files"][0]["note"]
    assert any("jaeger.json: 1 records read as OpenTelemetry spans, none of them a model call" in w for w in warnings)


def test_completions_without_usage_name_what_is_missing(con, tmp_path):
    path = write(tmp_path / "choices.jsonl", json.dumps({"id": "x", "choices": [{"message": {"content": "hi"}}]}) + "\n")
    with pytest.raises(PlanError, match="looks like OpenAI chat completions, but its records carry neither"):
        ingest_paths(con, [str(path)])


def test_unknown_records_name_the_closest_family_and_what_it_needs(con, tmp_path):
    path = write(tmp_path / "odd.jsonl", json.dumps({"traceId": "t", "startTime": "2025-01-01T00:00:00Z", "usageDetails": {}}) + "\n")
    with pytest.raises(PlanError, match="looks most like a Langfuse export .*traceId.*but a record of that needs"):
        ingest_paths(con, [str(path)])


def test_a_file_mostly_rejected_says_which_format_and_the_main_reason(con, tmp_path):
    line = {"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            "response": {"id": "r{}", "object": "chat.completion", "created": 1746352800, "model": "gpt-4o-mini",
                         "choices": [{"message": {"content": "hello"}}], "usage": {"prompt_tokens": "many", "completion_tokens": 1}}}
    lines = [json.dumps(line).replace("r{}", f"r{i}") for i in range(4)]
    good = dict(line, response=dict(line["response"], id="ok", usage={"prompt_tokens": 5, "completion_tokens": 1}))
    path = write(tmp_path / "calls.jsonl", "\n".join(lines + [json.dumps(good)]) + "\n")
    warnings = []
    summary = ingest_paths(con, [str(path)], warn=warnings.append)
    note = summary["files"][0]["note"]
    assert (summary["rows_added"], summary["rows_rejected"]) == (1, 4)
    assert note.startswith("4 of 5 records rejected: it looks like an OpenAI app log, but most records fail with")
    assert "'many' is not a number" in note and warnings == [f"{path}: {note}."]


def test_spans_none_of_which_is_a_model_call_say_so(con, tmp_path):
    span = {"traceId": "5b8aa5a2d2c872e8321cf37308d69df2", "spanId": "051581bf3cb55c13", "name": "GET /", "kind": 2,
            "startTimeUnixNano": "1748858400000000000", "endTimeUnixNano": "1748858400100000000",
            "attributes": [{"key": "http.method", "value": {"stringValue": "GET"}}]}
    path = write(tmp_path / "spans.json", json.dumps([span]))
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_skipped"]) == (0, 1)
    assert summary["files"][0]["note"].startswith("1 records read as OpenTelemetry spans, none of them a model call")


def test_calls_none_of_which_states_usage_say_their_spend_is_unknown(con, tmp_path):
    answer = {"object": "chat.completion", "model": "gpt-4o-mini", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}
    pairs = [{"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]},
              "response": {**answer, "id": f"chatcmpl-{i}"}} for i in range(3)]
    metered = write(tmp_path / "metered.jsonl", json.dumps({**pairs[0]["response"], "id": "chatcmpl-9",
                                                            "usage": {"prompt_tokens": 3, "completion_tokens": 1}}) + "\n")
    asked = write(tmp_path / "asked.jsonl", json.dumps(pairs[0]["request"]) + "\n")  # requests alone: no answer to meter
    warnings = []
    summary = ingest_paths(con, [str(write(tmp_path / "unmetered.jsonl", "".join(json.dumps(p) + "\n" for p in pairs))),
                                 str(metered), str(asked)], warn=warnings.append)
    notes = {f["path"].rsplit("/", 1)[-1]: f.get("note") for f in summary["files"]}
    assert "none of its 3 calls read as an OpenAI app log states its token usage or cost" in notes["unmetered.jsonl"]
    assert notes["metered.jsonl"] is None and notes["asked.jsonl"] is None
    assert any(w.startswith(str(tmp_path / "unmetered.jsonl")) and "spend is unknown" in w for w in warnings)


@pytest.mark.parametrize(("name", "text"), [
    # OpenAI's usage API page, and its results as a table (the dashboard's export, a script's CSV of the results):
    # the CSV was one "call" of 120,000 input tokens where 420 requests ran.
    ("usage.json", json.dumps({"object": "page", "has_more": False, "data": [{
        "object": "bucket", "start_time": 1763596800, "end_time": 1763683200, "results": [{
            "object": "organization.usage.completions.result", "input_tokens": 120000, "output_tokens": 30000,
            "input_cached_tokens": 40000, "num_model_requests": 420, "model": "gpt-4o-mini-2024-07-18", "batch": False}]}]})),
    ("usage.csv", "start_time,end_time,project_id,num_model_requests,model,batch,input_tokens,output_tokens,input_cached_tokens\n"
                  "1763596800,1763683200,proj_abc,420,gpt-4o-mini-2024-07-18,False,120000,30000,40000\n"),
    ("claude_usage.csv", "starting_at,ending_at,model,service_tier,uncached_input_tokens,cache_read_input_tokens,output_tokens\n"
                         "2025-11-20T00:00:00Z,2025-11-21T00:00:00Z,claude-sonnet-4-5,standard,50000,120000,9000\n"),
])
def test_a_usage_report_is_totals_not_calls_and_says_so(con, tmp_path, name, text):
    path = write(tmp_path / name, text)
    with pytest.raises(PlanError, match="usage or cost report .*totals per time bucket, not calls"):
        ingest_paths(con, [str(path)])
    assert con.execute("select count(*) from requests").fetchall()[0][0] == 0
