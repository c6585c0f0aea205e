"""MLflow Tracing's traces as `trace.to_json()` writes them (read by `otel`): fixtures in tests/fixtures/mlflow/ written
in the shapes MLflow 3 and MLflow 2 serialise, every attribute value JSON text."""

import json

import pytest

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import stored_requests


@pytest.mark.parametrize("name", ["trace_v3.json", "trace_v2.json"])
def test_mlflow_traces_are_detected_as_otel(fixtures, name):
    assert detect_format(expand_paths([str(fixtures / "mlflow" / name)])[0]) == "otel"


def test_an_mlflow_3_trace_counts_the_chat_model_span_not_the_agent_around_it(con, fixtures):
    # Before: not recognised ({"info", "data": {"spans"}}), and its spans said nothing plan read as a model call.
    file = ingest_paths(con, [str(fixtures / "mlflow" / "trace_v3.json")])["files"][0]
    assert (file["format"], file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == ("otel", 1, 1, 0)
    call = stored_requests(con)["53995c3f42cd8ad8"]  # span ids were base64 in the file
    assert (call["provider"], call["model"], call["input_tokens"], call["output_tokens"]) == ("openai", "gpt-4.1-2025-04-14", 27, 641)
    assert (call["system_prompt"], call["prompt_text"], call["response_text"]) == (
        "You are a helpful assistant", "What is a good apple pie recipe to use on Thanksgiving", "Use tart apples and a lattice crust.")
    assert (call["parent_span_id"], call["trace_id"]) == ("00f067aa0ba902b7", "4bf92f3577b34da6a3ce929d0e0e4736")
    assert round(call["duration_ms"]) == 5097 and json.loads(call["params_json"]) == {"temperature": 0.5}
    assert call["cost_source"] == "catalog" and call["cost_usd"] > 0


def test_mlflow_2_spans_keep_the_provider_usage_and_the_failed_call(con, fixtures):
    file = ingest_paths(con, [str(fixtures / "mlflow" / "trace_v2.json")])["files"][0]
    assert (file["rows_added"], file["rows_skipped"]) == (2, 1)  # the retriever span is no model call
    got = stored_requests(con)
    answered, failed = got["1111222233334444"], got["5555666677778888"]
    # The response's own usage, in Anthropic's terms: the cache reads are part of the input.
    assert (answered["input_tokens"], answered["cached_input_tokens"], answered["output_tokens"]) == (1240, 1200, 9)
    assert (answered["provider"], answered["model"], answered["response_text"]) == ("anthropic", "claude-haiku-4-5-20251001", "Refunds within 30 days.")
    assert str(answered["created_at"]) == "2024-11-09 03:48:43.079267"  # start_time in nanoseconds
    assert (failed["status"], failed["input_tokens"], failed["prompt_text"]) == ("error", None, "Summarise the refund policy.")
