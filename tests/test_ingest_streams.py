"""Streamed answers saved one piece per line (fixtures in tests/fixtures/streams/, written from each API's stream
format): each call's pieces are one row with the answer's whole text and its final usage."""

import json

import pytest

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import stored_requests


def rows(con, name: str, fixtures) -> tuple[dict, list[dict]]:
    summary = ingest_paths(con, [str(fixtures / "streams" / name)])
    return summary, stored_requests(con, as_list=True)


def test_claude_stream_events_are_each_calls_final_message(con, fixtures):
    """Before: `message_start` was taken for the whole message (1 output token, its placeholder; no text; a cache
    read only restated at the end lost) and `message_delta` rejected."""
    summary, (text, tool) = rows(con, "anthropic_events.jsonl", fixtures)
    assert (summary["rows_added"], summary["rows_rejected"], summary["rows_skipped"]) == (2, 0, 13)
    assert (text["source_id"], text["input_tokens"], text["output_tokens"], text["response_text"]) == (
        "msg_01A", 12, 30, "Hello! How can I help?")
    assert (tool["input_tokens"], tool["cached_input_tokens"], tool["output_tokens"]) == (9040, 9000, 55)
    assert tool["response_text"] == '[{"name": "get_weather", "input": {"city": "Paris"}}]'


def test_chat_chunks_one_per_line_are_each_calls_completion(con, fixtures):
    """Before: not recognised at all. Azure's opening chunk (prompt filter results, id "" and time 0) belongs to the
    call after it; Groq gives the usage in the last chunk's x_groq."""
    assert detect_format(expand_paths([str(fixtures / "streams" / "chat_chunks.jsonl")])[0]) == "openai"
    summary, (azure, groq) = rows(con, "chat_chunks.jsonl", fixtures)
    assert (summary["rows_added"], summary["rows_rejected"], summary["rows_skipped"]) == (2, 0, 7)
    assert (azure["source_id"], azure["input_tokens"], azure["output_tokens"], azure["response_text"]) == (
        "chatcmpl-1", 15, 78, "Capital of Denmark.")
    assert str(azure["created_at"]) == "2026-02-12 22:04:52"
    assert (groq["model"], groq["input_tokens"], groq["output_tokens"], groq["response_text"]) == (
        "llama-3.3-70b-versatile", 45, 2, "Copenhagen")


def test_responses_events_are_each_calls_final_response(con, fixtures):
    """Before: `response.created` (in progress, no usage) was the row and the completed response a duplicate of it."""
    summary, (done, failed) = rows(con, "responses_events.jsonl", fixtures)
    assert (summary["rows_added"], summary["rows_rejected"], summary["rows_skipped"]) == (2, 0, 6)
    assert (done["input_tokens"], done["output_tokens"], done["reasoning_tokens"], done["response_text"]) == (7112, 463, 192, "Hi there")
    assert (done["status"], failed["status"], failed["input_tokens"]) == ("ok", "error", None)


@pytest.mark.parametrize("fast", [True, False])
def test_gemini_chunks_one_per_line_are_one_call_per_response_id(con, fixtures, fast):
    """Before: the first chunk was the call (190 of 208 output tokens, the answer cut after three words), the others
    dropped as its duplicates."""
    summary = ingest_paths(con, [str(fixtures / "streams" / "gemini_chunks.jsonl")], fast=fast)
    first, second = stored_requests(con, as_list=True)
    assert (summary["rows_added"], summary["rows_duplicate"], summary["rows_skipped"]) == (2, 0, 1)
    assert (first["output_tokens"], first["reasoning_tokens"], first["response_text"]) == (
        208, 185, 'There are **3** "r"s in strawberry.')
    assert (second["source_id"], second["response_text"]) == ("Zz9xQ1", "Paris.")


@pytest.mark.parametrize("name", ["anthropic_events.jsonl", "chat_chunks.jsonl", "responses_events.jsonl", "gemini_chunks.jsonl"])
def test_a_stream_kept_as_server_sent_events_reads_as_its_pieces_do(con, fixtures, tmp_path, name):
    """The same streams as the server sent them (`event:`/`data:` lines, `data: [DONE]`), as `curl -N` or a proxy saves
    them: not recognised before ("its columns (event: message_start) resemble no export")."""
    pieces = [json.loads(line) for line in (fixtures / "streams" / name).read_text().splitlines()]
    sse = tmp_path / (name.split(".")[0] + ".sse.txt")
    sse.write_text("".join((f"event: {p['type']}\n" if "type" in p else "") + f"data: {json.dumps(p)}\n\n" for p in pieces)
                   + ("data: [DONE]\n\n" if name.startswith("chat") else ""))
    summary = ingest_paths(con, [str(sse)])
    from_sse = stored_requests(con, "source_id, input_tokens, output_tokens, response_text, status", as_list=True)
    con.execute("delete from requests")
    ingest_paths(con, [str(fixtures / "streams" / name)])
    assert summary["rows_rejected"] == 0 and len(from_sse) == 2
    assert from_sse == stored_requests(con, "source_id, input_tokens, output_tokens, response_text, status", as_list=True)


@pytest.mark.parametrize("name, calls", [("interleaved_chat_chunks.jsonl", {"chatcmpl-A", "chatcmpl-B"}),
                                         ("chat_chunks_among_other_lines.jsonl", {"chatcmpl-A"})])
def test_chat_streams_interleaved_or_among_other_lines_are_told_apart_by_their_id(con, fixtures, name, calls):
    """An async app logs chunks as they come: two streams' chunks interleave, other log lines fall between them.
    Each call was cut at the first foreign line (its text half, its usage in a conflicting second row)."""
    summary = ingest_paths(con, [str(fixtures / "streams" / name)])
    got = {r["source_id"]: (r["input_tokens"], r["output_tokens"], r["response_text"]) for r in stored_requests(con, as_list=True)}
    want = {"chatcmpl-A": (10, 2, "Alpha one"), "chatcmpl-B": (20, 3, "Beta two")}
    assert got == {k: v for k, v in want.items() if k in calls}
    assert (summary["rows_conflicting"], summary["rows_rejected"]) == (0, 0)
