"""LangChain messages and results saved to a file (format `langchain`). Fixtures in tests/fixtures/langchain/ were
written by langchain-openai calling a local stub: three answers dumped as `model_dump()` and as `dumpd()`, the same
calls as a callback's `on_llm_end` results, and a chat history as `messages_to_dict` keeps it (the person's messages
between the answers). Before, each was "not a log format plan recognises": nothing stored."""

import json

import pytest

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import stored_requests

USAGE = [(356, 0, 11, 0), (1421, 1280, 5, 0), (602, 0, 391, 320)]  # input, cached, output, reasoning per call


@pytest.mark.parametrize("name", ["ai_messages_model_dump.json", "ai_messages_dumpd.json", "on_llm_end_results.jsonl",
                                  "file_chat_history.json"])
def test_each_answer_is_a_call_with_the_usage_langchain_kept(con, fixtures, name):
    path = str(fixtures / "langchain" / name)
    assert detect_format(expand_paths([path])[0]) == "langchain"
    file = ingest_paths(con, [path])["files"][0]
    rows = sorted(stored_requests(con, as_list=True), key=lambda r: r["source_id"])  # one JSON document: one line
    assert (file["rows_added"], file["rows_rejected"]) == (3, 0)
    assert [(r["input_tokens"], r["cached_input_tokens"], r["output_tokens"], r["reasoning_tokens"]) for r in rows] == USAGE
    assert [(r["provider"], r["model"], r["source_id"]) for r in rows] == [
        ("openai", "gpt-4o-mini-2024-07-18", "chatcmpl-AB0001"), ("openai", "gpt-4o-mini-2024-07-18", "chatcmpl-AB0002"),
        ("openai", "o4-mini-2025-04-16", "chatcmpl-AB0003")]
    assert rows[0]["response_text"] == "Subject: Your refund is on its way"


def test_a_chat_history_gives_each_answer_what_was_asked_before_it(con, fixtures):
    file = ingest_paths(con, [str(fixtures / "langchain" / "file_chat_history.json")])["files"][0]
    first, second, third = sorted(stored_requests(con, as_list=True), key=lambda r: r["source_id"])
    assert (first["system_prompt"], first["prompt_text"]) == ("Write an email subject.", "Refund approved for order 1881")
    assert second["prompt_text"] == "Make it shorter"
    assert [m["role"] for m in json.loads(second["messages_json"])] == ["system", "user", "assistant", "user"]
    # the person's messages and an answer the app wrote itself (no usage, no model) are skipped and counted
    assert file["rows_skipped"] == 5 and third["prompt_text"] == "What is the 7th prime number?"


def test_answers_saved_without_what_was_asked_have_no_conversation(con, fixtures):
    ingest_paths(con, [str(fixtures / "langchain" / "ai_messages_model_dump.json")])
    assert {(r["messages_json"], r["prompt_text"]) for r in stored_requests(con, as_list=True)} == {(None, None)}
