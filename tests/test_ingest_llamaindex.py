"""LlamaIndex's call logs, written by llama-index-core 0.14 and llama-index-llms-openai 0.8 calling a local stub: an
instrumentation event handler writing each event's `.dict()` (and `model_dump_json()`, which leaves `class_name`
out) per line, and the TokenCountingHandler's events. Before: "not a log format plan recognises" (with `--format
openai`, four rows without tokens, model or answers, and no reject)."""

import pytest

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import stored_requests


@pytest.mark.parametrize("name", ["instrumentation_events.jsonl", "instrumentation_events_model_dump_json.jsonl"])
def test_chat_and_completion_end_events_are_the_calls(con, fixtures, name):
    path = str(fixtures / "llamaindex" / name)
    assert detect_format(expand_paths([path])[0]) == "openai"
    file = ingest_paths(con, [path])["files"][0]
    assert (file["rows_added"], file["rows_rejected"], file["input_tokens"], file["output_tokens"]) == (4, 0, 2175, 120)
    rows = stored_requests(con, as_list=True)
    assert sum(r["cached_input_tokens"] for r in rows) == 1536 and {r["model"] for r in rows} == {"gpt-4o-mini"}
    assert [(r["system_prompt"], r["prompt_text"], r["response_text"]) for r in rows] == [
        ("You are geo.", "Capital of France?", "Paris is the capital of France."),
        ("You are geo.", "Capital of Italy?", "Rome is the capital of Italy."),
        (None, "Tell a story about a robot.", "Once upon a time there was a tiny robot."),
        (None, "Stream something", "Streaming reply from the mock model. ")]  # a stream: its last chunk's usage


def test_token_counting_events_are_calls_without_a_model(con, fixtures):
    file = ingest_paths(con, [str(fixtures / "llamaindex" / "token_counting_events.jsonl")])["files"][0]
    assert (file["rows_added"], file["rows_rejected"], file["input_tokens"], file["output_tokens"]) == (4, 0, 2175, 120)
    assert con.execute("select count(*) from requests where model is null and cost_usd is null").fetchone() == (4,)
