"""Bifrost's request logs (format `bifrost`), built from Bifrost's own source (github maximhq/bifrost: the logging
plugin, framework/logstore's `logs` table model, the `GET /api/logs` handlers), not captured from a running gateway:
the SQLite database itself, `sqlite3 -json` and CSV dumps of its table, an API page and the API's detail bodies, for
nine requests (one a fallback written as two attempts, one a 429, an embedding, a stream, a tool call, cached and
reasoning tokens). Before, every file was "not a log format plan recognises" (the database: "not a readable SQLite
database" of llm's)."""

import json

import pytest

from helpers import ingest_fixtures, stored_requests

# 10 attempts: 8 answered, 2 failed; Bifrost's cost of the answered ones
ROWS = (10, 2513, 832, 2048, 384, 0.00909223, 2)


def ingest(con, fixtures, *names):
    return ingest_fixtures(con, fixtures, "bifrost", "bifrost", *names)


def sums(con):
    return con.execute("""
        select count(*), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(reasoning_tokens),
               round(sum(cost_usd) filter (where cost_source = 'log'), 9), count(*) filter (where status = 'error')
        from requests""").fetchall()[0]


@pytest.mark.parametrize(("name", "answers"), [
    ("logs.db", 7), ("logs_sqlite.json", 7), ("logs.csv", 7), ("api_log_details.json", 7),
    ("api_logs.json", 0),  # a page of the API's list: the last message of each conversation, no answers
])
def test_each_way_out_holds_every_attempt_with_bifrosts_tokens_and_cost(con, fixtures, name, answers):
    file, = ingest(con, fixtures, name)
    assert (file["rows_added"], file["rows_rejected"]) == (10, 0)
    assert sums(con) == ROWS
    assert con.execute("select count(response_text) from requests").fetchall()[0][0] == answers


def test_a_fallback_is_two_calls_the_failed_one_unpriced(con, fixtures):
    ingest(con, fixtures, "logs.db")
    rows = stored_requests(con)
    failed, answered = rows["7a3e9c15-d2b8-4f04-a6c1-95e8b0d47f2c"], rows["2c6d0f4e-8b1a-4e37-b95f-c3a7e1d8062b"]
    assert (failed["status"], failed["input_tokens"], failed["cost_source"]) == ("error", None, "unknown")
    assert "overloaded" in json.loads(failed["tags_json"])["error"]
    assert (answered["provider"], answered["model"], answered["status"], answered["cost_source"]) == (
        "anthropic", "claude-3-5-haiku-20241022", "ok", "log")
    assert json.loads(answered["tags_json"])["parent_request_id"] == "7a3e9c15-d2b8-4f04-a6c1-95e8b0d47f2c"
    assert answered["response_text"].startswith("Ihr Ersatzthermostat wurde versandt")
    assert answered["system_prompt"] == "Translate the user's text to German. Output only the translation."


def test_conversations_answers_and_embeddings_read_as_bifrost_stores_them(con, fixtures):
    ingest(con, fixtures, "logs_sqlite.json")
    rows = stored_requests(con)
    blocks = rows["b7e41d0a-2c58-4f6e-8a19-3d7c9e2f5b81"]  # the user's turn as content blocks
    assert blocks["prompt_text"].startswith("Review this function for bugs:\ndef mean(xs):")
    tool = rows["9e4b7a20-6c1d-4f58-8e3a-d05f2b9c7a16"]
    assert "get_order_status" in tool["response_text"]
    embedding = rows["5d2f8a6b-0e3c-4a91-8b7d-e4c16f2a9d03"]
    assert (embedding["operation"], embedding["input_tokens"], embedding["prompt_text"]) == ("embeddings", 19, None)
    assert (str(rows["3f9b2c1e-7a4d-4e8b-9f21-6c0d5a8e7b34"]["created_at"]), rows["3f9b2c1e-7a4d-4e8b-9f21-6c0d5a8e7b34"]["duration_ms"]) == (
        "2026-03-09 14:02:11.418231", 1843.0)


def test_a_page_of_the_api_then_its_detail_bodies_count_each_call_once_and_fill_in_the_answers(con, fixtures):
    page, details = ingest(con, fixtures, "api_logs.json", "api_log_details.json")
    assert (details["rows_added"], details["rows_duplicate"]) == (0, 10)
    assert con.execute("select count(response_text), count(system_prompt) from requests").fetchall()[0] == (7, 7)
