"""smolagents memory steps as users save them, written by smolagents 1.26 (a ToolCallingAgent, two tasks, four model
calls, against a local stub): `agent.memory.get_full_steps()`, each step's `dict()` per line, and the succinct
steps (no input messages). Before: "not a log format plan recognises" (with `--format openai`, 0 rows)."""

import pytest

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import stored_requests


@pytest.mark.parametrize("name", ["full_steps.json", "steps.jsonl", "succinct_steps.json"])
def test_each_action_step_is_a_call(con, fixtures, name):
    path = str(fixtures / "smolagents" / name)
    assert detect_format(expand_paths([path])[0]) == "openai"
    file = ingest_paths(con, [path])["files"][0]
    assert (file["rows_added"], file["rows_rejected"], file["input_tokens"], file["output_tokens"]) == (4, 0, 3100, 104)
    rows = sorted(stored_requests(con, as_list=True), key=lambda r: r["created_at"])  # one JSON document: one line
    # the cached input is only in the provider's answer under model_output_message.raw
    assert sum(r["cached_input_tokens"] for r in rows) == 1280 and {r["model"] for r in rows} == {"gpt-4o-mini"}
    assert round(rows[0]["duration_ms"], 3) == 485.624 and '"get_weather"' in rows[0]["response_text"]


def test_a_full_step_keeps_the_conversation_it_sent(con, fixtures):
    ingest_paths(con, [str(fixtures / "smolagents" / "full_steps.json")])
    first = min(stored_requests(con, as_list=True), key=lambda r: r["created_at"])
    assert first["prompt_text"] == "New task:\nWeather in Paris?" and first["system_prompt"].startswith("You are an expert assistant")
