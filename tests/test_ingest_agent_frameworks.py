"""Model calls as agent frameworks return them, saved per line by the app (written by the frameworks themselves
against a local stub): Agno 3.1's `RunOutput.to_dict()` and Haystack 3.4's `ChatMessage.to_dict()` of the chat
generator's replies. Before: Agno's runs were requests without tokens or answers; Haystack's replies were not
recognised."""

import json

import pytest

from analyzer.ingest import ingest_paths
from helpers import stored_requests


def test_agno_runs_are_calls_with_their_metrics(con, fixtures):
    file = ingest_paths(con, [str(fixtures / "agno" / "run_outputs.jsonl")])["files"][0]
    assert (file["rows_added"], file["rows_rejected"], file["input_tokens"], file["output_tokens"]) == (4, 0, 870, 66)
    rows = stored_requests(con, as_list=True)
    by_prompt = {r["prompt_text"]: r for r in rows}
    assert {p: (r["status"], r["cached_input_tokens"]) for p, r in by_prompt.items()} == {
        "Where is Tokyo?": ("ok", None), "Is eight even?": ("ok", 192), "Name a color.": ("ok", None), "fail please": ("error", None)}
    tokyo = by_prompt["Where is Tokyo?"]
    assert (tokyo["system_prompt"], tokyo["response_text"]) == ("You are terse.", "Tokyo is in Japan.")
    assert [m["role"] for m in json.loads(tokyo["messages_json"])] == ["system", "user"]  # the answer is not asked


def test_haystack_replies_are_calls_with_the_model_and_usage_in_their_meta(con, fixtures):
    file = ingest_paths(con, [str(fixtures / "haystack" / "chat_replies.jsonl")])["files"][0]
    assert (file["rows_added"], file["rows_rejected"], file["input_tokens"], file["output_tokens"]) == (2, 0, 400, 39)
    rows = stored_requests(con, as_list=True)
    assert [(r["model"], r["cached_input_tokens"], r["response_text"]) for r in rows] == [
        ("gpt-4o-mini", 0, "Rome is in Italy."), ("gpt-4o-mini", 64, "Seven is prime.")]


@pytest.mark.parametrize("name", ["runner_events.jsonl", "session_events.json"])
def test_google_adk_events_with_usage_are_calls(con, fixtures, name):
    """Google ADK 2.13's events (`event.model_dump_json()` per line from the runner, and a session's events as a list;
    LiteLlm with an OpenAI model): not recognised. Each event with usage_metadata is a call, an error event a failed
    one; the person's and the tools' events are skipped."""
    file = ingest_paths(con, [str(fixtures / "google_adk" / name)])["files"][0]
    assert (file["rows_added"], file["rows_rejected"], file["input_tokens"], file["output_tokens"]) == (4, 0, 885, 68)
    rows = stored_requests(con, as_list=True)
    assert sorted(r["status"] for r in rows) == ["error", "ok", "ok", "ok"]
    assert sum(r["cached_input_tokens"] or 0 for r in rows) == 128
    assert "Paris is the capital of France." in {r["response_text"] for r in rows}
