"""Datadog LLM Observability spans (format `datadog`). `ddtrace_span_events.jsonl` is what ddtrace 4.16.0 sent to
its intake (LLM Observability on, its OpenAI and Anthropic integrations calling local stubs: ten model calls, one of
them a 429, an embedding, an agent, a tool and two workflows); the other files hold the same spans in the shapes
Datadog returns them, built from its documentation: the export API's response (`data[].attributes`, with Datadog's
estimated costs in nanodollars), those attributes one per line (what `LLMObs.get_spans()` returns), and a DDSQL
query of `dd.llm_observability` saved as CSV. Before, the export API's files were read as OpenAI logs with no model,
tokens or cost (10 and 9 rows, 5 rejects) and the others were not recognised."""

import pytest

from helpers import ingest_fixtures, stored_requests

COST_USD = 13_731_940 / 1e9  # Datadog's estimate, in nanodollars


def ingest(con, fixtures, *names):
    return ingest_fixtures(con, fixtures, "datadog", "datadog", *names)


@pytest.mark.parametrize(("name", "logged"), [
    ("ddtrace_span_events.jsonl", None),  # ddtrace sends no cost: priced from the catalog
    ("export_api_spans.json", COST_USD),
    ("export_api_span_attributes.jsonl", COST_USD),
    ("ddsql_llm_observability.csv", COST_USD),
])
def test_each_shape_holds_every_model_call_once_with_its_tokens(con, fixtures, name, logged):
    file, = ingest(con, fixtures, name)
    assert (file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == (11, 4, 0)  # agent, tool, 2 workflows
    # ddtrace's input_tokens hold the cache's reads and writes for Anthropic too: read as they are
    assert con.execute("""
        select count(*) filter (where operation = 'embeddings'), sum(input_tokens), sum(output_tokens),
               sum(cached_input_tokens), sum(cache_write_tokens), sum(reasoning_tokens),
               round(sum(cost_usd) filter (where cost_source = 'log'), 9), count(*) filter (where status = 'error')
        from requests""").fetchall()[0] == (1, 6865, 640, 4480, 1536, 384, logged and round(logged, 9), 1)


def test_a_span_reads_as_the_call_it_traced(con, fixtures):
    ingest(con, fixtures, "ddtrace_span_events.jsonl")
    rows = stored_requests(con)
    chat = rows["17121773903248138676"]
    assert (chat["provider"], chat["model"], chat["input_tokens"], chat["output_tokens"]) == (
        "openai", "gpt-4o-mini-2024-07-18", 26, 32)
    assert (chat["system_prompt"], chat["prompt_text"]) == ("You are a concise support assistant.", "How do I reset my password?")
    assert chat["response_text"].startswith("You can reset your password from Settings")
    assert chat["parent_span_id"] == "17713631069117412182" and chat["trace_id"] == "6b153c2b000000002dc6de72f3ecac02"
    assert round(chat["duration_ms"], 3) == 27.118 and str(chat["created_at"]) == "2026-12-06 10:42:51.789081"  # 1796553771789081845 ns, cut to the microsecond as OTLP times are
    assert '"temperature":0.2' in chat["params_json"] and '"ml_app":"support-bot"' in chat["tags_json"]
    failed = rows["11782951573994010523"]
    assert (failed["status"], failed["input_tokens"], failed["response_text"], failed["parent_span_id"]) == ("error", None, None, None)
    assert "openai.RateLimitError" in failed["tags_json"]
    embedding = rows["8617660679324486974"]
    assert (embedding["operation"], embedding["input_tokens"], embedding["prompt_text"]) == ("embeddings", 13, None)


def test_the_intake_payload_and_the_export_of_the_same_spans_count_each_call_once(con, fixtures):
    first, again = ingest(con, fixtures, "ddtrace_span_events.jsonl", "export_api_spans.json")
    assert (first["rows_added"], again["rows_added"], again["rows_duplicate"]) == (11, 0, 11)
    # priced from the catalog when the intake's spans were read, the calls take the cost Datadog's export states
    assert again["rows_filled_in"] == 10 and con.execute(
        "select round(sum(cost_usd), 9), count(*) filter (where cost_source = 'log') from requests").fetchall()[0] == (
        round(COST_USD, 9), 10)
