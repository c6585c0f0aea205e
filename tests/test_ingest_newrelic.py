"""New Relic AI monitoring events (format `newrelic`). `agent_custom_event_data.json` is what the New Relic Python
agent 14.1.0 sent to a local collector (AI monitoring on, its OpenAI and Anthropic hooks calling local stubs: seven
chat calls, one of them a 429, and an embedding; each call an LlmChatCompletionSummary with its
LlmChatCompletionMessage events); the other files hold the same events as NRQL returns them, built from New Relic's
documentation: NerdGraph and the Insights query API (`SELECT * FROM LlmChatCompletionSummary`, `... Message`,
`... LlmEmbedding`) and the query builder's CSV. Before, none of these was recognised."""

import pytest

from helpers import ingest_fixtures, stored_requests


def ingest(con, fixtures, *names):
    return ingest_fixtures(con, fixtures, "newrelic", "newrelic", *names)


def sums(con):
    return con.execute("""
        select count(*), count(*) filter (where operation = 'embeddings'), sum(input_tokens), sum(output_tokens),
               count(*) filter (where status = 'error'), count(prompt_text), count(response_text)
        from requests""").fetchall()[0]


@pytest.mark.parametrize(("name", "expected"), [
    # 7 calls and the embedding's 6 tokens; each call's messages beside it (18 skipped as read with it)
    ("agent_custom_event_data.json", ((8, 18), (8, 1, 2273, 372, 1, 7, 6))),
    ("nerdgraph_summaries.json", ((7, 0), (7, 0, 2267, 372, 1, 0, 0))),
    ("insights_query_api_summaries.json", ((7, 0), (7, 0, 2267, 372, 1, 0, 0))),
    ("query_builder_summaries.csv", ((7, 0), (7, 0, 2267, 372, 1, 0, 0))),
    # messages queried alone: a call each, its conversation and answer, its tokens unknown
    ("query_builder_messages.csv", ((7, 11), (7, 0, None, None, 0, 7, 6))),
    ("nerdgraph_embeddings.json", ((1, 0), (1, 1, 6, None, 0, 0, 0))),
])
def test_each_shape_holds_its_calls(con, fixtures, name, expected):
    file, = ingest(con, fixtures, name)
    assert (file["rows_added"], file["rows_skipped"]) == expected[0] and file["rows_rejected"] == 0
    assert sums(con) == expected[1]


def test_a_call_reads_with_its_messages(con, fixtures):
    ingest(con, fixtures, "agent_custom_event_data.json")
    rows = list(stored_requests(con, as_list=True))
    tracked = next(r for r in rows if r["prompt_text"] == "Track shipment 1Z999AA10123456784 status.")
    assert (tracked["provider"], tracked["model"], tracked["input_tokens"], tracked["output_tokens"]) == (
        "openai", "gpt-4o-mini-2024-07-18", 34, 17)
    assert tracked["response_text"] == "Shipment 1Z999AA10123456784 is in transit and expected on Thursday."
    assert '"llm.conversation_id":"conv-5d1e9a7c"' in tracked["tags_json"] and tracked["duration_ms"] > 0
    claude = next(r for r in rows if r["provider"] == "anthropic")
    assert (claude["model"], claude["input_tokens"], claude["output_tokens"]) == ("claude-sonnet-4-5-20250929", 24, 22)
    failed = next(r for r in rows if r["status"] == "error")
    assert (failed["model"], failed["input_tokens"], failed["response_text"]) == ("gpt-4o", None, None)
    assert failed["prompt_text"] == "Translate 'good morning' into Japanese."


def test_summaries_and_messages_queried_apart_make_one_call_each(con, fixtures):
    summaries, messages = ingest(con, fixtures, "nerdgraph_summaries.json", "nerdgraph_messages.json")
    assert (summaries["rows_added"], messages["rows_added"], messages["rows_duplicate"], messages["rows_filled_in"]) == (7, 0, 7, 7)
    assert sums(con) == (7, 0, 2267, 372, 1, 7, 6)


def test_messages_read_first_take_their_summaries_tokens(con, fixtures):
    messages, summaries = ingest(con, fixtures, "nerdgraph_messages.json", "nerdgraph_summaries.json")
    assert (messages["rows_added"], summaries["rows_added"], summaries["rows_filled_in"]) == (7, 0, 7)
    # the failed call had no answer: stored as no_response, which verdicts count as a failure as they do error
    assert sums(con)[:4] == (7, 0, 2267, 372)
    assert con.execute("select status from requests where model = 'gpt-4o'").fetchall() == [("no_response",)]
