"""DSPy's call history (`lm.history`) as users dump it: fixtures in tests/fixtures/dspy/ were written by DSPy itself
(3.4: the `response` is DSPy's own object as its repr; 2.6-3.0: LiteLLM's ModelResponse as its repr, the usage's
details too, by `json.dump(..., default=str)`) calling a local stub. Before, the 3.4 dumps were "not a log format
plan recognises" (0 rows) and the older one stored the repr as the answer."""

import pytest

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import stored_requests

FILES = {  # rows, input, output, cached input, reasoning, logged cost (the cost LiteLLM computed; None on a cache hit)
    "dspy_lm_history.json": (4, 3967, 617, 3072, 448, 0.0058505),
    "dspy_lm_history.jsonl": (4, 3967, 617, 3072, 448, 0.0058505),
    "dspy_legacy_history.json": (4, 3967, 617, 3072, 448, 0.002943),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_history_entry_is_a_call_with_dspys_usage_and_cost(con, fixtures, name):
    path = str(fixtures / "dspy" / name)
    assert detect_format(expand_paths([path])[0]) == "openai"
    file = ingest_paths(con, [path])["files"][0]
    rows = stored_requests(con, as_list=True)
    logged = sum(r["cost_usd"] for r in rows if r["cost_source"] == "log")
    assert file["rows_rejected"] == 0
    assert (file["rows_added"], sum(r["input_tokens"] for r in rows), sum(r["output_tokens"] for r in rows),
            sum(r["cached_input_tokens"] for r in rows), sum(r["reasoning_tokens"] for r in rows), round(logged, 7)) == FILES[name]


def test_the_answer_is_the_first_output_and_the_model_the_one_that_answered(con, fixtures):
    ingest_paths(con, [str(fixtures / "dspy" / "dspy_lm_history.json")])
    first = min(stored_requests(con, as_list=True), key=lambda r: r["created_at"])  # one JSON document: one line
    assert first["response_text"].startswith("[[ ## reasoning ## ]]\nThe capital of France is Paris.")
    assert first["prompt_text"].startswith("[[ ## question ## ]]\nWhat is the capital of France?")
    assert first["system_prompt"].startswith("Your input fields are:")
    assert (first["provider"], first["model"], first["source_id"]) == ("openai", "gpt-4o-mini-2024-07-18",
                                                                        "deaa2a56-ebd9-4466-915d-af2206cdfd7d")


def test_usage_details_written_as_their_repr_are_read(con, fixtures):
    """`json.dump(default=str)` writes LiteLLM's detail objects as `PromptTokensDetailsWrapper(cached_tokens=1152, ...)`:
    the cached input was unknown, and a completion details repr made the call a reject."""
    ingest_paths(con, [str(fixtures / "dspy" / "dspy_legacy_history.json")])
    cached = [r["cached_input_tokens"] for r in stored_requests(con, as_list=True)]
    assert cached == [0, 1152, 1920, 0]
