"""Lunary runs (format `lunary`). `sdk_events.jsonl` is what the Lunary Python SDK 1.4.41 sent (`lunary.monitor` on
OpenAI and Anthropic clients calling local stubs: nine calls, one a 429, two inside an agent with a tool, one in a
chat thread with feedback); the other files hold the same runs as Lunary's API (`GET /v1/runs?type=llm`) and its
dashboard's exports (raw JSON Lines, CSV) return them, built by replaying those events through Lunary's backend code
(its costs from its own price table). Before, the JSON Lines export was read as Anthropic logs without tokens (8 rows,
1 reject) and the other files were not recognised."""

import pytest

from helpers import ingest_fixtures, stored_requests


def ingest(con, fixtures, *names):
    return ingest_fixtures(con, fixtures, "lunary", "lunary", *names)


def sums(con):
    return con.execute("""
        select count(*), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(cache_write_tokens),
               round(sum(cost_usd) filter (where cost_source = 'log'), 9), count(*) filter (where status = 'error')
        from requests""").fetchall()[0]


# Anthropic's prompt counts leave the cache out (2,048 read and 512 written by one call): added; the streamed OpenAI
# call's prompt the SDK did not send (22, counted by Lunary's server)
RUNS = (9, 5026, 1721, 3968, 512, 0.0122737, 1)


@pytest.mark.parametrize(("name", "skipped", "expected"), [
    ("sdk_events.jsonl", 7, (9, 5004, 1721, 3968, 512, None, 1)),  # agent, tool, chat messages, feedback; no cost sent
    ("runs_api.json", 0, RUNS),
    ("export_raw.jsonl", 0, RUNS),
    ("export.csv", 0, RUNS),
])
def test_each_shape_holds_every_call_with_its_tokens_and_lunarys_cost(con, fixtures, name, skipped, expected):
    file, = ingest(con, fixtures, name)
    assert (file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == (9, skipped, 0)
    assert sums(con) == expected


def test_the_sdks_start_and_end_events_are_one_call(con, fixtures):
    ingest(con, fixtures, "sdk_events.jsonl")
    rows = stored_requests(con)
    claude = rows["14a6c46e-2fc4-4f71-6fc8-a7361128874a"]
    assert (claude["provider"], claude["model"], claude["input_tokens"], claude["cached_input_tokens"],
            claude["cache_write_tokens"], claude["output_tokens"]) == ("anthropic", "claude-sonnet-4-20250514", 2602, 2048, 512, 87)
    assert claude["prompt_text"].startswith("Which liabilities are uncapped") and claude["user_id"] == "usr_8c1f2e"
    assert round(claude["duration_ms"], 3) == 943.238
    agent_call = rows["162b5389-7a0b-432c-31fc-bd9e9081e681"]  # the agent's second call, after its tool answered
    assert agent_call["parent_span_id"] == "57a30be6-a51f-7193-650d-1c324d6fc1cd"  # the WeatherAgent run
    assert agent_call["response_text"].startswith("It's 21 °C and sunny in Lisbon")
    failed = rows["53dcc6d4-4e13-0d45-a7d9-b4e0c470e328"]
    assert (failed["status"], failed["input_tokens"], failed["response_text"]) == ("error", None, None)
    assert "429" in failed["tags_json"]


def test_the_sdks_events_and_lunarys_export_of_the_same_runs_count_each_call_once(con, fixtures):
    sent, exported = ingest(con, fixtures, "sdk_events.jsonl", "export_raw.jsonl")
    assert (sent["rows_added"], exported["rows_added"], exported["rows_duplicate"]) == (9, 0, 9)
    # the export fills in what the SDK did not send: Lunary's cost and the streamed call's prompt count
    assert sums(con) == RUNS
