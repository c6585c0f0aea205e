"""Sentry's AI monitoring spans (read by `otel`). Written by sentry-sdk 2.76.0 itself (its OpenAI and Anthropic
integrations calling local stubs inside a transaction and an `invoke_agent` span: nine model calls, one of them a 429,
an embedding, a tool): `envelopes.txt` is what the SDK sent by default (a transaction whose gen_ai spans were split
out into a span v2 item, and the 429's error event), `transactions_inline_spans.jsonl` the transaction with every span
inline (`stream_gen_ai_spans=False`), `spans_v2_streamed.jsonl` the span v2 items of `trace_lifecycle="stream"`,
`transactions_without_ai_spans.jsonl` the default transaction alone. `events_api_spans.json` (the events API over the
spans dataset) and `explore_spans_export.csv` (the Explore view's export) hold the same spans in the shapes Sentry
returns them, built from its code. Before, none of these was recognised."""

import pytest

from helpers import ingest_fixtures, stored_requests

# The SDK counts Anthropic's cache reads and writes inside its input tokens (1,890 written once, read twice)
SUMS = (10, 1, 8385, 646, 5956, 1890, 448, 1)


def ingest(con, fixtures, *names):
    return ingest_fixtures(con, fixtures, "sentry", "otel", *names)


def sums(con):
    return con.execute("""
        select count(*), count(*) filter (where operation = 'embeddings'), sum(input_tokens), sum(output_tokens),
               sum(cached_input_tokens), sum(cache_write_tokens), sum(reasoning_tokens),
               count(*) filter (where status = 'error')
        from requests""").fetchall()[0]


@pytest.mark.parametrize(("name", "skipped"), [
    ("envelopes.txt", 24),  # 16 spans of the transaction, the agent and tool spans, 5 headers, the error event
    ("transactions_inline_spans.jsonl", 18),  # the root, agent, tool, http and subprocess spans
    ("spans_v2_streamed.jsonl", 19),
    ("events_api_spans.json", 18),
    ("explore_spans_export.csv", 18),
])
def test_each_shape_holds_every_model_call_once_with_its_tokens(con, fixtures, name, skipped):
    file, = ingest(con, fixtures, name)
    assert (file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == (10, skipped, 0)
    assert sums(con) == SUMS


def test_a_span_reads_as_the_call_it_traced(con, fixtures):
    ingest(con, fixtures, "envelopes.txt")
    rows = stored_requests(con)
    chat = rows["95bbb4eb3c6bf243"]
    assert (chat["provider"], chat["model"], chat["input_tokens"], chat["output_tokens"], chat["operation"]) == (
        "openai", "gpt-4o-mini-2024-07-18", 23, 14, "chat")
    assert (chat["system_prompt"], chat["prompt_text"]) == ("You are a concise support assistant.", "Where is my order A-1042?")
    assert chat["response_text"] == "Your order #A-1042 shipped on Monday and should arrive Thursday."
    assert (chat["trace_id"], chat["parent_span_id"]) == ("380a03c867a04702a0136fb98a46b0a0", "bcb5357c5056da0c")
    assert str(chat["created_at"]) == "2026-12-06 10:59:01.275196" and round(chat["duration_ms"], 3) == 27.092
    claude = rows["95510115de2c8faf"]  # 31 new tokens and 1,890 written to the cache
    assert (claude["provider"], claude["input_tokens"], claude["cache_write_tokens"]) == ("anthropic", 1921, 1890)
    assert claude["response_text"] == "I've reviewed the 40-page returns handbook. Ask me anything about it."
    failed = rows["b3aaf5da9c5bb94b"]
    assert (failed["status"], failed["input_tokens"], failed["response_text"]) == ("error", None, None)
    assert (rows["970aaec829e13e4e"]["operation"], rows["970aaec829e13e4e"]["input_tokens"]) == ("embeddings", 16)


def test_the_sdks_envelopes_and_sentrys_export_of_the_same_spans_count_each_call_once(con, fixtures):
    sent, exported = ingest(con, fixtures, "envelopes.txt", "events_api_spans.json")
    assert (sent["rows_added"], exported["rows_added"], exported["rows_duplicate"]) == (10, 0, 10)


def test_a_transaction_whose_ai_spans_went_apart_holds_no_call_and_says_so(con, fixtures):
    file, = ingest(con, fixtures, "transactions_without_ai_spans.jsonl")
    assert (file["rows_added"], file["rows_skipped"]) == (0, 16)
    assert "none of them a model call" in file["note"]
