"""Comet Opik span exports (format `opik`): fixtures in tests/fixtures/opik/ written from Opik's REST API schema
(SpanPublic, the spans page) and the usage Opik's integrations record."""

import pytest

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import stored_requests


@pytest.mark.parametrize("name", ["spans_page.json", "spans.jsonl", "traces.json"])
def test_opik_exports_are_detected(fixtures, name):
    # Before: taken for Langfuse observations, every span skipped: nothing landed.
    assert detect_format(expand_paths([str(fixtures / "opik" / name)])[0]) == "opik"


@pytest.mark.parametrize("name", ["spans_page.json", "spans.jsonl"])
def test_llm_spans_are_the_calls_in_their_providers_own_terms(con, fixtures, name):
    file = ingest_paths(con, [str(fixtures / "opik" / name)])["files"][0]
    # Skipped: the tool and general spans, and LangChain's llm span around the OpenAI integration's (one call, once).
    assert (file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == (4, 3, 0)
    got = stored_requests(con)
    openai, claude, gemini, failed = (got[f"0193a1b2-0000-7000-8000-00000000000{i}"] for i in (1, 2, 3, 4))
    assert (openai["input_tokens"], openai["cached_input_tokens"], openai["output_tokens"]) == (1200, 1024, 2)
    assert (openai["system_prompt"], openai["prompt_text"], openai["response_text"]) == ("You triage tickets.", "My parcel is late.", "shipping")
    # Opik's own prompt/completion counts for Claude put cache writes in the completion: the originals are read.
    assert (claude["input_tokens"], claude["cached_input_tokens"], claude["cache_write_tokens"], claude["output_tokens"]) == (2350, 2000, 300, 30)
    assert (claude["provider"], claude["system_prompt"], claude["response_text"]) == (
        "anthropic", "You draft polite replies.", "Yes, within 5-7 working days.")
    assert (gemini["provider"], gemini["output_tokens"], gemini["reasoning_tokens"], gemini["prompt_text"]) == (
        "google", 140, 100, "Summarise the refund policy.")
    # Opik's estimate is the logged cost; without one the catalog prices the call.
    assert [(r["cost_usd"], r["cost_source"]) for r in (openai, claude)] == [(0.000105, "log"), (0.00081, "log")]
    assert gemini["cost_source"] == "catalog" and failed["status"] == "error"
    assert (openai["trace_id"], openai["duration_ms"]) == ("0193a1b2-aaaa-7000-8000-000000000000", 900)
    again = ingest_paths(con, [str(fixtures / "opik")])
    assert again["rows_added"] == 0  # the same spans in the other file, and traces: nothing twice


def test_traces_are_skipped_because_their_spans_are_the_calls(con, fixtures):
    file = ingest_paths(con, [str(fixtures / "opik" / "traces.json")])["files"][0]
    assert (file["rows_added"], file["rows_skipped"]) == (0, 1)
    assert "llm spans" in file["note"]
