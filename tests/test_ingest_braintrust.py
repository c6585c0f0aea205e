"""Braintrust project-log exports (fixtures written from Braintrust's ProjectLogsEvent schema and what its SDK
wrappers log): only llm spans are requests, each counted once; task, function, tool, eval and score spans, whose
metrics roll up their children's, are skipped and counted."""

import json
from datetime import datetime

import pytest

from analyzer.db import dicts
from analyzer.errors import PlanError
from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths

ROOT = "sp-root-0001"


def by_id(con):
    return {r["source_id"]: r for r in dicts(con, "select * from requests")}


def counts(summary):
    return summary["rows_added"], summary["rows_skipped"], summary["rows_duplicate"], summary["rows_rejected"]


def rows_of(fixtures, name):
    text = (fixtures / "braintrust" / name).read_text()
    return json.loads(text) if name.endswith(".json") else [json.loads(line) for line in text.splitlines()]


def detect(path):
    return detect_format(expand_paths([str(path)])[0])


@pytest.mark.parametrize("name", ["logs.jsonl", "logs.json"])
def test_log_exports_are_detected_as_braintrust(fixtures, name):
    assert detect(fixtures / "braintrust" / name) == "braintrust"


def test_api_pages_and_pair_shaped_rows_are_braintrust_not_openai(fixtures, tmp_path):
    """The fetch API's {"events": [...]} and BTQL's {"data": [...]} pages; and a file whose first row holds a request
    and a whole chat completion, which the openai app-log sniffer also claims."""
    rows = rows_of(fixtures, "logs.json")
    whole = next(r for r in rows if r["id"] == "evt-whole")
    cases = {"events.json": {"events": rows, "cursor": "c-2"}, "btql.json": {"data": rows, "schema": {}, "cursor": None},
             "pair_first.jsonl": [whole] + rows}
    for name, value in cases.items():
        path = tmp_path / name
        text = "".join(json.dumps(r) + "\n" for r in value) if name.endswith(".jsonl") else json.dumps(value)
        path.write_text(text)
        assert detect(path) == "braintrust", name


@pytest.mark.parametrize("page", ["events", "data"])
def test_api_pages_are_read_like_a_list(con, fixtures, tmp_path, page):
    path = tmp_path / "page.json"
    path.write_text(json.dumps({page: rows_of(fixtures, "logs.json"), "cursor": None}))
    assert counts(ingest_paths(con, [str(path)])) == (5, 1, 0, 0)
    assert sorted(by_id(con)) == ["evt-gemini", "evt-legacy", "evt-litellm", "evt-resp", "evt-whole"]


def test_trace_counts_each_model_call_once(con, fixtures):
    path = fixtures / "braintrust" / "logs.jsonl"
    summary = ingest_paths(con, [str(path)])
    # Four model calls (OpenAI, embedding, Anthropic, the failed call); the task, function, tool and score spans are
    # skipped and counted, never rejected; the llm span a fetch page repeated counts once.
    assert counts(summary) == (4, 4, 1, 0)
    assert summary["files"][0]["format"] == "braintrust" and summary["files"][0]["note"] is None
    totals = con.execute("select sum(input_tokens), sum(output_tokens) from requests").fetchall()[0]
    assert totals == (31 + 9 + 1290, 2 + 12)  # not the root's or the triage function's rolled-up 1330/14 again
    # The root's estimated_cost (its children's, summed) is not spent again: one logged cost, the Anthropic call's.
    assert con.execute("select count(*), sum(cost_usd) from requests where cost_source = 'log'").fetchall()[0] == (
        1, 0.00499)

    got = by_id(con)
    assert sorted(got) == ["evt-claude", "evt-embed", "evt-failed", "evt-openai"]
    chat = got["evt-openai"]
    assert (chat["provider"], chat["model"], chat["operation"]) == ("openai", "gpt-4o-mini", None)
    assert (chat["system_prompt"], chat["prompt_text"], chat["response_text"]) == (
        "Route the ticket: billing, shipping or other.", "My parcel is late, order 1182", "shipping")
    assert (chat["input_tokens"], chat["cached_input_tokens"], chat["output_tokens"], chat["reasoning_tokens"]) == (
        31, 0, 2, 0)
    assert chat["cost_source"] == "catalog" and chat["cost_usd"] > 0
    assert (chat["created_at"], chat["duration_ms"], chat["status"]) == (datetime(2026, 11, 2, 10, 0, 0, 100000), 750,
                                                                         "ok")
    assert (chat["trace_id"], chat["parent_span_id"], chat["user_id"]) == (ROOT, "sp-triage-0002", "u-42")
    assert json.loads(chat["params_json"]) == {"temperature": 0, "max_tokens": 5}
    assert json.loads(chat["tags_json"]) == {"span_name": "Chat Completion",
                                             "project_id": "5d2c0c8e-3a41-4f7e-9b1a-1c0de0000001"}

    claude = got["evt-claude"]
    assert (claude["provider"], claude["model"]) == ("anthropic", "claude-sonnet-4-5-20250929")
    # wrap_anthropic appends the system prompt to the input; it is stored first.
    assert json.loads(claude["messages_json"]) == [
        {"role": "system", "content": "You are a courteous support agent for Acme Parcel."},
        {"role": "user", "content": "Order 1182 is in transit, ETA Nov 4. Write the customer a short apology."}]
    assert claude["system_prompt"] == "You are a courteous support agent for Acme Parcel."
    assert claude["response_text"] == "Sorry for the delay on order 1182."
    # Braintrust's prompt_tokens already holds the cache reads and writes (40 + 1024 + 226): not added twice.
    assert (claude["input_tokens"], claude["cached_input_tokens"], claude["cache_write_tokens"],
            claude["output_tokens"]) == (1290, 1024, 226, 12)
    assert (claude["cost_usd"], claude["cost_source"], claude["duration_ms"]) == (0.00499, "log", 2500)
    assert (claude["trace_id"], claude["parent_span_id"]) == (ROOT, ROOT)

    embedding = got["evt-embed"]
    assert (embedding["operation"], embedding["prompt_text"], embedding["response_text"]) == ("embeddings", None, None)
    assert (embedding["model"], embedding["input_tokens"], embedding["cost_source"]) == ("text-embedding-3-small", 9,
                                                                                         "catalog")

    failed = got["evt-failed"]
    assert (failed["status"], failed["model"], failed["provider"]) == ("error", "gpt-4o", "openai")
    assert (failed["prompt_text"], failed["response_text"], failed["input_tokens"]) == (
        "Translate the apology to German.", None, None)
    assert json.loads(failed["tags_json"])["error"].startswith("RateLimitError: Error code: 429")

    again = ingest_paths(con, [str(path)])
    assert again["rows_added"] == 0 and con.execute("select count(*) from requests").fetchall()[0][0] == 4


def test_json_list_of_wrapper_shapes(con, fixtures):
    summary = ingest_paths(con, [str(fixtures / "braintrust" / "logs.json")])
    assert counts(summary) == (5, 1, 0, 0)  # the eval root skipped
    got = by_id(con)
    assert {r["trace_id"] for r in got.values()} == {"sp-root-0100"}
    assert {r["parent_span_id"] for r in got.values()} == {"sp-root-0100"}

    responses = got["evt-resp"]  # openai.responses.create: text input, output items, instructions in metadata
    assert (responses["provider"], responses["model"]) == ("openai", "o4-mini-2025-04-16")
    assert (responses["system_prompt"], responses["prompt_text"], responses["response_text"]) == (
        "Answer refund questions.", "Refund for order 77?", "Refund issued.")
    assert (responses["input_tokens"], responses["cached_input_tokens"], responses["output_tokens"],
            responses["reasoning_tokens"]) == (600, 512, 80, 64)
    assert (responses["created_at"], responses["duration_ms"]) == (datetime(2026, 11, 2, 11, 0, 0, 100000), 2000)

    litellm = got["evt-litellm"]  # provider "litellm": the model says which API it called
    assert (litellm["provider"], litellm["model"], litellm["response_text"]) == (
        "anthropic", "claude-3-5-haiku-20241022", "Order 77 refunded.")
    assert (litellm["input_tokens"], litellm["output_tokens"]) == (20, 6)

    legacy = got["evt-legacy"]  # wrap_anthropic before May 2025: cache counts beside prompt_tokens
    assert (legacy["system_prompt"], legacy["prompt_text"], legacy["response_text"]) == (
        "Classify sentiment.", "Thanks, that was quick!", "positive")
    assert (legacy["input_tokens"], legacy["cached_input_tokens"], legacy["cache_write_tokens"]) == (1230, 1000, 200)

    whole = got["evt-whole"]  # a traced llm span that logged the whole completion, its usage and no metrics
    assert (whole["provider"], whole["model"], whole["response_text"]) == (
        "openai", "gpt-4o-2024-08-06", "Your refund for order 77 is on its way.")
    assert (whole["system_prompt"], whole["prompt_text"]) == ("Draft replies.", "Refund confirmation for order 77")
    assert (whole["input_tokens"], whole["output_tokens"], whole["cost_source"]) == (22, 10, "catalog")

    gemini = got["evt-gemini"]  # Gemini's thoughts are counted beside its candidates, and billed as output
    assert (gemini["provider"], gemini["model"], gemini["prompt_text"], gemini["response_text"]) == (
        "google", "gemini-2.5-flash", "Is order 77 eligible for a refund?", "Yes, within 30 days.")
    assert (gemini["input_tokens"], gemini["output_tokens"], gemini["reasoning_tokens"]) == (12, 47, 40)


def test_file_of_spans_without_a_model_call_says_so(con, fixtures, tmp_path):
    rows = [r for r in rows_of(fixtures, "logs.jsonl") if r["span_attributes"]["type"] != "llm"]
    path = tmp_path / "spans.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    warnings: list = []
    summary = ingest_paths(con, [str(path)], warn=warnings.append)
    assert counts(summary) == (0, 4, 0, 0)
    note = summary["files"][0]["note"]
    assert note == ("4 records read as a Braintrust log export, none of them a model call (task, function, tool, eval "
                    "and score spans are skipped; a model call is a span whose span_attributes.type is llm. A \"Logs "
                    "(traces)\" export holds each trace's root span only: export \"Logs (spans)\")")
    assert warnings == [f"{path}: {note}."]


def test_rows_without_span_attributes_are_explained_as_braintrust(con, tmp_path):
    """A BTQL query that selected some fields only: no span type says which spans are model calls. The sentence
    names Braintrust, not OpenTelemetry."""
    row = {"id": "e1", "span_id": "s1", "root_span_id": "s1", "input": "hi", "output": "hello",
           "metrics": {"start": 1793613600, "end": 1793613601, "prompt_tokens": 3}}
    path = tmp_path / "btql.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(PlanError) as caught:
        ingest_paths(con, [str(path)])
    assert ("it looks most like a Braintrust log export (it has metrics, root_span_id, span_id), but a record of that "
            "needs span_id and root_span_id, with span_attributes or span_parents") in str(caught.value)


def test_csv_download_is_told_to_export_json(con, tmp_path):
    path = tmp_path / "logs.csv"
    path.write_text('id,span_id,root_span_id,span_parents,span_attributes,input,output,metrics\n'
                    'e1,s1,s1,[],"{""type"": ""llm""}",hi,hello,{}\n')
    with pytest.raises(PlanError) as caught:
        ingest_paths(con, [str(path)])
    assert "it looks like Braintrust's CSV download of logs, whose columns Braintrust does not document" in str(
        caught.value)


def test_ai_sdk_generate_text_around_its_do_generate_spans_counts_each_step_once(con, fixtures):
    """braintrust_ai_sdk_tool_loop.json (a fetch page): the AI SDK wrapper's generateText span is typed llm and, in
    the versions before February 2026, logged the tool loop's summed usage; its two doGenerate llm spans are the model
    calls. The outer span is skipped, so 150 + 180 input tokens count once, not twice."""
    summary = ingest_paths(con, [str(fixtures / "braintrust_ai_sdk_tool_loop.json")])
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_duplicate"], summary["rows_rejected"]) == (
        2, 3, 0, 0)  # the task span, the tool span and the generateText span skipped
    rows = {r["source_id"]: r for r in dicts(con, "select * from requests")}
    assert sorted(rows) == ["row-2", "row-4"]
    assert [(rows[k]["input_tokens"], rows[k]["cached_input_tokens"], rows[k]["output_tokens"]) for k in sorted(rows)] == [
        (150, None, 20), (180, 128, 12)]
    generate_text = "b7000000-0000-4000-8000-000000000001"
    assert {(r["trace_id"], r["parent_span_id"]) for r in rows.values()} == {
        ("b7000000-0000-4000-8000-000000000000", generate_text)}
    assert {(r["provider"], r["model"]) for r in rows.values()} == {("openai", "gpt-4o-mini")}
    assert rows["row-4"]["response_text"] == "It is 4C."
