"""Cline task histories (format `cline`): fixtures in tests/fixtures/cline/ written from the messages Cline (and Roo
Code) keep in a task's ui_messages.json: one `api_req_started` message per API request, its usage and cost in the
message's JSON text, the answer in the messages that follow it."""

import json

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import stored_requests


def rows_in_order(con) -> list[dict]:
    rows = stored_requests(con, as_list=True)
    for row in rows:
        row["messages_json"] = json.loads(row["messages_json"]) if row["messages_json"] else None
    return rows


def test_a_task_history_is_detected(fixtures):
    # Before: "not a log format plan recognises" (it looked most like Anthropic Messages), nothing stored.
    assert detect_format(expand_paths([str(fixtures / "cline" / "ui_messages.json")])[0]) == "cline"


def test_each_api_request_is_a_row_with_the_usage_and_cost_cline_wrote(con, fixtures):
    file = ingest_paths(con, [str(fixtures / "cline" / "ui_messages.json")])["files"][0]
    # The answer's pieces, checkpoints, command output, retries and the person's messages are skipped, not rejected.
    assert (file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == (6, 16, 0)
    first, read, tested, failed, gpt, canceled = rows_in_order(con)
    # tokensIn leaves the cache out (Anthropic's convention): the input is tokensIn + cache writes + cache reads.
    assert (first["input_tokens"], first["cache_write_tokens"], first["cached_input_tokens"], first["output_tokens"]) == (
        9012, 9000, None, 180)
    assert (read["input_tokens"], read["cached_input_tokens"], read["cache_write_tokens"]) == (9340, 9000, 300)
    # Roo Code's requests counted the OpenAI way (apiProtocol "openai") already hold the cached tokens.
    assert (gpt["input_tokens"], gpt["cached_input_tokens"], gpt["provider"], gpt["model"]) == (9800, 9216, "openai", "gpt-4.1")
    assert [(r["cost_usd"], r["cost_source"]) for r in (first, read, gpt)] == [(0.03645, "log"), (0.0052875, "log"), (0.0056528, "log")]
    assert (first["provider"], first["model"], str(first["created_at"])) == (
        "anthropic", "claude-sonnet-4-5-20250929", "2026-01-05 08:00:00.020000")
    assert sum(r["input_tokens"] for r in rows_in_order(con)) == 9012 + 9340 + 9325 + 0 + 9800 + (9950 + 9728)
    # What the person wrote is the prompt; the request Cline sent is the conversation's last user turn.
    assert first["prompt_text"] == "Add a --verbose flag to the CLI"
    assert read["messages_json"][-1] == {"role": "user", "content": "[read_file for 'cli.py'] Result:\nimport click\n"}
    assert [m["role"] for m in tested["messages_json"]] == ["user", "assistant", "user", "assistant", "user"]
    # The answer: its text and tool requests (not its reasoning, not the approval that repeats the tool request).
    assert first["response_text"] == "Let me look at the CLI entry point.\n[tool readFile: cli.py]"
    assert (read["response_text"], tested["response_text"]) == ("[command: pytest -q]", "Added --verbose; the tests pass.")
    assert gpt["response_text"] == "Which README section should it go in?"
    assert (gpt["prompt_text"], canceled["prompt_text"]) == ("Also document it in the README", "Flags")
    # A stream that failed is an error, one the person stopped is canceled; neither has an answer.
    assert (failed["status"], failed["response_text"], canceled["status"]) == ("error", None, "canceled")
    assert (first["status"], canceled["cost_source"]) == ("ok", "catalog")


def test_an_earlier_copy_of_the_task_adds_nothing(con, fixtures):
    ingest_paths(con, [str(fixtures / "cline" / "ui_messages_snapshot.json")])
    summary = ingest_paths(con, [str(fixtures / "cline" / "ui_messages.json")])
    assert (summary["rows_added"], summary["rows_duplicate"], summary["rows_conflicting"]) == (4, 2, 0)


def test_a_cline_before_model_info_gives_the_task_as_prompt_and_keeps_the_logged_cost(con, fixtures):
    ingest_paths(con, [str(fixtures / "cline" / "ui_messages_before_model_info.json")])
    (row,) = rows_in_order(con)
    assert (row["model"], row["cost_usd"], row["cost_source"], row["input_tokens"]) == (None, 0.01875, "log", 4003)
    assert row["prompt_text"] == "What does this repo do?"
    assert row["response_text"] == ("It is a small CLI for renaming photos by date.\n"
                                    "A CLI that renames photos by the date they were taken.")
