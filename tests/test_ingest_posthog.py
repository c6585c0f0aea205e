"""PostHog LLM analytics events (format `posthog`). `sdk_batches.jsonl` is what the PostHog Python SDK 7.91.1 sent
(its OpenAI, Anthropic and LangChain wrappers calling local stubs: ten generations, one of them a 429, an embedding,
a LangChain trace and two spans); the other files hold the same events in the shapes PostHog exports them, built from
its documentation and exporter code: an S3 batch export (JSON Lines), two pages of the events API, the query API's
`select * from events where event = '$ai_generation'`, and the two CSV exports (the events table, whose `*` column
is spread over dotted columns, and the SQL `select *`). Costs are PostHog's, computed when the events landed.
Before, every one of these files was "not a log format plan recognises"."""

import json

import pytest

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import ingest_fixtures, stored_requests

# Anthropic's $ai_input_tokens leave out the cache (1,480 read three times, once written), stored with it.
ALL_CALLS = {"input": 5993, "output": 524, "cached": 4112, "written": 1480, "reasoning": 384}
GENERATIONS = {**ALL_CALLS, "input": 5985}


def ingest(con, fixtures, *names):
    return ingest_fixtures(con, fixtures, "posthog", "posthog", *names)


def sums(con):
    return con.execute("""
        select count(*), count(*) filter (where operation = 'embeddings'), sum(input_tokens), sum(output_tokens),
               sum(cached_input_tokens), sum(cache_write_tokens), sum(reasoning_tokens),
               round(sum(cost_usd) filter (where cost_source = 'log'), 10), count(*) filter (where status = 'error')
        from requests""").fetchall()[0]


@pytest.mark.parametrize(("name", "calls", "embeddings", "skipped", "tokens", "logged"), [
    ("sdk_batches.jsonl", 11, 1, 3, ALL_CALLS, None),  # the SDK sends no cost: priced from the catalog
    ("batch_export_s3.jsonl", 11, 1, 3, ALL_CALLS, 0.00955506),
    ("events_table_export.csv", 11, 1, 3, ALL_CALLS, 0.00955506),
    ("query_api_hogql.json", 10, 0, 0, GENERATIONS, 0.0095549),
    ("sql_select_star.csv", 10, 0, 0, GENERATIONS, 0.0095549),
])
def test_each_export_holds_every_call_with_its_tokens_and_posthogs_cost(con, fixtures, name, calls, embeddings, skipped,
                                                                       tokens, logged):
    file, = ingest(con, fixtures, name)
    assert (file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == (calls, skipped, 0)
    t = tokens
    assert sums(con) == (calls, embeddings, t["input"], t["output"], t["cached"], t["written"], t["reasoning"], logged, 1)


def test_a_call_reads_as_the_provider_made_it(con, fixtures):
    ingest(con, fixtures, "batch_export_s3.jsonl")
    rows = stored_requests(con)
    cached = rows["7ad5e59a-2131-4404-8e9e-0cb3a9fb5b08"]
    assert (cached["provider"], cached["model"], cached["input_tokens"], cached["cached_input_tokens"]) == (
        "openai", "gpt-4.1-mini", 1342, 1152)
    assert (cached["system_prompt"], cached["prompt_text"]) == (
        "You are the support assistant for a tea shop. Policies: ...", "Where is my order #1042?")
    assert cached["response_text"].startswith("Your order #1042 shipped on Monday")
    assert '"get_order_status"' in cached["params_json"] and cached["user_id"] == "user_4821"
    assert (cached["cost_usd"], cached["cost_source"], round(cached["duration_ms"], 1)) == (0.0002136, "log", 50.1)
    written = rows["dab1bbc9-842c-4b60-9727-84c2a63bd556"]  # 21 tokens beside 1,480 written to the cache
    assert (written["provider"], written["input_tokens"], written["cache_write_tokens"], written["output_tokens"]) == (
        "anthropic", 1501, 1480, 18)
    assert written["system_prompt"].startswith("You are a friendly biology tutor")


def test_a_failed_call_an_embedding_and_langchains_trace(con, fixtures):
    ingest(con, fixtures, "sdk_batches.jsonl")
    rows = stored_requests(con)
    failed = rows["80b97130-4589-41bb-b63a-3a6010b79bef"]
    assert (failed["status"], failed["input_tokens"], failed["cost_usd"], failed["cost_source"]) == ("error", None, None, "unknown")
    assert '"http_status":429' in failed["tags_json"] and failed["prompt_text"] == "Summarize our refund policy in one line."
    embedding = rows["b5bcd004-2a4b-4ba6-9f74-990472f7d5f6"]
    # priced, not a prompt to categorize; its distinct_id is the trace id (no person), not a user
    assert (embedding["operation"], embedding["input_tokens"], embedding["prompt_text"], embedding["user_id"]) == (
        "embeddings", 8, None, None)
    chained = rows["8239784a-c78a-49b1-b169-ff280cbf01c6"]  # the LangChain model call under its chain's spans
    assert (chained["prompt_text"], chained["response_text"]) == ("bonjour", "Bonjour means hello in French.")
    assert chained["trace_id"] == "0f3b6a52-6a1e-4c5e-9a44-1d2f7f0c0004" and chained["parent_span_id"]


def test_pages_of_the_events_api_and_a_second_export_of_the_same_events_count_each_call_once(con, fixtures):
    first, second = ingest(con, fixtures, "events_api_page1.json", "events_api_page2.json")
    assert (first["rows_added"], first["rows_skipped"], second["rows_added"]) == (7, 3, 4)
    assert sums(con) == (11, 1, 5993, 524, 4112, 1480, 384, 0.00955506, 1)
    again, = ingest(con, fixtures, "batch_export_s3.jsonl")
    assert (again["rows_added"], again["rows_duplicate"]) == (0, 11)


def test_an_export_of_every_event_holds_its_calls_among_pageviews_in_parquet_too(con, fixtures, tmp_path):
    """A batch export of all events: pageviews first (no $ai_ in the file's first bytes), or as Parquet, whose
    `properties` is JSON text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    events = [json.loads(line) for line in (fixtures / "posthog" / "batch_export_s3.jsonl").read_text().splitlines()]
    views = [{"uuid": f"pv-{i}", "event": "$pageview", "properties": {"$current_url": f"https://shop.example/p/{i}"},
              "distinct_id": f"u{i}", "timestamp": "2026-12-06T10:00:00+00:00"} for i in range(400)]
    rows = views + events
    jsonl = tmp_path / "all_events.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows))
    parquet = tmp_path / "all_events.parquet"
    pq.write_table(pa.table({key: [json.dumps(r[key]) if key == "properties" else r[key] for r in rows]
                             for key in ("uuid", "event", "properties", "distinct_id", "timestamp")}), parquet)
    for path in (jsonl, parquet):
        assert detect_format(expand_paths([str(path)])[0]) == "posthog"
    first, second = ingest_paths(con, [str(jsonl), str(parquet)])["files"]
    assert (first["rows_added"], first["rows_skipped"], second["rows_added"], second["rows_duplicate"]) == (11, 403, 0, 11)
    assert sums(con) == (11, 1, 5993, 524, 4112, 1480, 384, 0.00955506, 1)


def test_posthog_events_that_are_not_llm_analytics_say_so(con, tmp_path):
    path = tmp_path / "pageviews.jsonl"
    path.write_text('{"uuid": "u1", "event": "$pageview", "distinct_id": "d1", "properties": {"$current_url": "https://x"},'
                    ' "timestamp": "2026-11-01T00:00:00Z"}\n')
    file, = ingest_paths(con, [str(path)])["files"]
    assert (file["format"], file["rows_added"], file["rows_skipped"]) == ("posthog", 0, 1)
    assert "none of them a model call (PostHog's model calls are its $ai_generation and $ai_embedding events" in file["note"]


def test_posthogs_own_mark_says_whether_input_tokens_leave_the_cache_out(con, tmp_path):
    """`$ai_cache_reporting_exclusive` (PostHog's mark) wins over the provider: Claude through a gateway that PostHog
    marks exclusive gets its cache added; a count marked inclusive is kept as it is, whoever the provider."""
    def event(uuid, provider, exclusive):
        return json.dumps({"uuid": uuid, "event": "$ai_generation", "distinct_id": "u1", "timestamp": "2026-11-20T10:00:00Z",
                           "properties": {"$ai_provider": provider, "$ai_model": "claude-sonnet-4-5", "$ai_input_tokens": 30,
                                          "$ai_output_tokens": 5, "$ai_cache_read_input_tokens": 1000,
                                          "$ai_cache_creation_input_tokens": 200, "$ai_cache_reporting_exclusive": exclusive,
                                          "$ai_usage": {"input_tokens": 30, "output_tokens": 5, "cache_read_input_tokens": 1000,
                                                        "cache_creation_input_tokens": 200,
                                                        "cache_creation": {"ephemeral_1h_input_tokens": 200}}}})
    path = tmp_path / "marked.jsonl"
    path.write_text(event("e1", "openrouter", True) + "\n" + event("e2", "anthropic", False) + "\n")
    ingest_paths(con, [str(path)])
    rows = stored_requests(con)
    assert (rows["e1"]["input_tokens"], rows["e2"]["input_tokens"]) == (1230, 30)
    assert (rows["e1"]["cache_write_tokens"], rows["e1"]["cache_write_1h_tokens"]) == (200, 200)
