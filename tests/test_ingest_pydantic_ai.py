"""Pydantic AI message histories (format `pydantic-ai`): `all_messages.json` was written by Pydantic AI itself
(`result.all_messages_json()`, an agent run with a tool call, then a follow-up) calling a local stub;
`runs.jsonl` holds that run and a second one in the usage names Pydantic AI wrote before 1.0, one run per line.
Before, such files were "not a log format plan recognises": nothing stored."""

import json

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import stored_requests


def ingest(con, fixtures, name):
    path = str(fixtures / "pydantic_ai" / name)
    assert detect_format(expand_paths([path])[0]) == "pydantic-ai"
    file = ingest_paths(con, [path])["files"][0]
    # the calls of one JSON document share its line: in the order they were made
    return file, sorted(stored_requests(con, as_list=True), key=lambda r: (r["created_at"], r["source_id"]))


def test_each_model_response_is_a_call_with_its_usage_and_cost(con, fixtures):
    file, rows = ingest(con, fixtures, "all_messages.json")
    assert (file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == (3, 3, 0)  # the request messages skipped
    assert [(r["input_tokens"], r["cached_input_tokens"], r["output_tokens"], r["cost_usd"], r["cost_source"]) for r in rows] == [
        (1184, 0, 21, 0.00317, "log"), (1262, 1152, 17, 0.001885, "log"), (1340, 1280, 26, 0.00201, "log")]
    first, answered, follow_up = rows
    assert (first["provider"], first["model"], first["source_id"], first["duration_ms"]) == (
        "openai", "gpt-4o-2024-08-06", "chatcmpl-AB0001", 37.359)
    assert first["system_prompt"] == "You are a concise travel assistant."
    assert first["prompt_text"] == "What's the weather in Oslo?" and '"get_weather"' in first["response_text"]
    assert answered["response_text"] == "It is 4°C and cloudy in Oslo."
    assert {"role": "tool", "content": "4C, cloudy", "tool_call_id": "call_1"} in json.loads(answered["messages_json"])
    assert (follow_up["prompt_text"], follow_up["response_text"]) == ("What should I wear?", "Bring a warm jacket and an umbrella.")


def test_one_run_per_line_and_the_usage_names_before_1_0(con, fixtures):
    file, rows = ingest(con, fixtures, "runs.jsonl")
    assert (file["rows_added"], file["rows_rejected"], file["input_tokens"], file["output_tokens"]) == (4, 0, 4686, 79)
    old = next(r for r in rows if r["source_id"] == "chatcmpl-OLD1")
    assert (old["model"], old["input_tokens"], old["cached_input_tokens"], old["output_tokens"], old["cost_source"]) == (
        "gpt-4o-mini", 900, 512, 15, "catalog")
    assert old["prompt_text"] == "What's the weather in Oslo?"  # its own run's conversation, not the line before's


def test_a_copy_of_the_history_adds_nothing(con, fixtures, tmp_path):
    """Each run saves the whole history again: a call already stored (by its response id) is a duplicate."""
    ingest(con, fixtures, "all_messages.json")
    copy = tmp_path / "saved_again.json"
    copy.write_bytes((fixtures / "pydantic_ai" / "all_messages.json").read_bytes())
    again = ingest_paths(con, [str(copy)])["files"][0]
    assert (again["rows_added"], again["rows_duplicate"]) == (0, 3)
