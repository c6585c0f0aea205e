"""Calls an app logged as two lines (the request when sent, the answer when it came, tied by a request id) are one
call each: its prompt beside its answer, on both routes. Before, each was two rows: a request without an answer and
an answer without a prompt (nothing to categorize)."""

import json

from analyzer.db import connect, dicts
from analyzer.ingest import ingest_paths
from analyzer.ingest import split_calls
import analyzer.ingest.tuning as tuning

SYSTEM = "You sort support tickets."


def chat_request(i: int) -> dict:
    return {"model": "gpt-4o-mini", "temperature": 0,
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Ticket {i}: the printer jams"}]}


def completion(i: int, answer: str = "hardware") -> dict:
    return {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1793613600 + i, "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": f"{answer} {i}"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20 + i, "completion_tokens": 3, "total_tokens": 23 + i}}


def asked(i: int, key: str = "request_id") -> dict:
    return {"ts": f"2026-11-02T10:{i // 60 % 60:02d}:{i % 60:02d}Z", "event": "llm.request", key: f"req-{i}",
            "user": f"u{i % 4}", "request": chat_request(i)}


def answered(i: int, key: str = "request_id") -> dict:
    return {"ts": f"2026-11-02T10:{i // 60 % 60:02d}:{i % 60:02d}.800Z", "event": "llm.response", key: f"req-{i}",
            "latency_ms": 800, "response": completion(i)}


def ingest_both(tmp_path, monkeypatch, lines: list[dict], name: str = "split.jsonl"):
    """(summary, rows by source line) on the SQL route and on the Python route, which must store the same."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)  # a short file's leftovers take the SQL route's second pass too
    path = tmp_path / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = {}
    for fast in (True, False):
        con = connect(str(tmp_path / f"{fast}.duckdb"))
        summary = ingest_paths(con, [str(path)], fast=fast, fmt="openai")
        out[fast] = (summary["files"][0], dicts(con, "select * exclude (ingested_at) from requests order by source_line"))
        con.close()
    assert out[True][1] == out[False][1]
    return out[True]


def test_a_request_and_its_answer_logged_on_two_lines_are_one_call(tmp_path, monkeypatch):
    lines = [line for i in range(30) for line in (asked(i), answered(i))]
    summary, rows = ingest_both(tmp_path, monkeypatch, lines)
    assert summary["rows_added"] == 30 and summary["rows_skipped"] == 30
    first = rows[0]
    assert (first["source_line"], first["source_id"], first["system_prompt"], first["prompt_text"], first["response_text"]) == (
        1, "chatcmpl-0", SYSTEM, "Ticket 0: the printer jams", "hardware 0")
    assert (first["status"], first["input_tokens"], first["output_tokens"], first["duration_ms"], first["user_id"]) == (
        "ok", 20, 3, 800.0, "u0")
    assert json.loads(first["params_json"]) == {"temperature": 0}
    assert sum(r["input_tokens"] for r in rows) == sum(20 + i for i in range(30))


def test_answers_that_come_out_of_order_join_their_own_request(tmp_path, monkeypatch):
    """An async app logs each request when it goes and each answer when it comes, interleaved."""
    lines = [asked(0), asked(1), asked(2), answered(2, ), answered(0), answered(1)]
    _, rows = ingest_both(tmp_path, monkeypatch, lines)
    assert [(r["source_line"], r["prompt_text"], r["response_text"]) for r in rows] == [
        (1, "Ticket 0: the printer jams", "hardware 0"), (2, "Ticket 1: the printer jams", "hardware 1"),
        (3, "Ticket 2: the printer jams", "hardware 2")]


def test_a_request_whose_answer_never_came_stays_a_request_without_an_answer(tmp_path, monkeypatch):
    failed = {"ts": "2026-11-02T10:09:00Z", "event": "llm.error", "request_id": "req-3", "status_code": 500,
              "error": {"message": "upstream timeout"}}
    lines = [asked(1), answered(1), asked(2), asked(3), failed, asked(4, key="correlationId"), answered(4, key="correlationId")]
    summary, rows = ingest_both(tmp_path, monkeypatch, lines)
    by_prompt = {r["prompt_text"]: (r["status"], r["response_text"]) for r in rows}
    assert by_prompt == {"Ticket 1: the printer jams": ("ok", "hardware 1"), "Ticket 2: the printer jams": ("no_response", None),
                         "Ticket 3: the printer jams": ("error", None), "Ticket 4: the printer jams": ("ok", "hardware 4")}
    assert summary["rows_added"] == 4


def test_two_calls_under_one_request_id_are_joined_in_order(tmp_path, monkeypatch):
    """The id of the app's own HTTP request, which made two model calls: each answer joins the earliest request."""
    lines = [asked(1), asked(2), answered(1), answered(2)]
    for line in lines:
        line["request_id"] = "web-77"
    _, rows = ingest_both(tmp_path, monkeypatch, lines)
    assert [(r["prompt_text"], r["response_text"]) for r in rows] == [
        ("Ticket 1: the printer jams", "hardware 1"), ("Ticket 2: the printer jams", "hardware 2")]


def test_a_claude_call_logged_on_two_lines_is_one_call(tmp_path, monkeypatch):
    request = {"model": "claude-sonnet-4-5", "max_tokens": 200, "system": SYSTEM,
               "messages": [{"role": "user", "content": "Ticket 9: no sound"}]}
    message = {"id": "msg_019", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
               "content": [{"type": "text", "text": "audio"}], "stop_reason": "end_turn",
               "usage": {"input_tokens": 40, "output_tokens": 2, "cache_read_input_tokens": 100}}
    lines = [{"ts": "2026-11-02T10:00:00Z", "requestId": "a-1", "request": request},
             {"ts": "2026-11-02T10:00:02Z", "requestId": "a-1", "response": message}]
    summary, rows = ingest_both(tmp_path, monkeypatch, lines, "claude.jsonl")
    assert len(rows) == 1
    row = rows[0]
    assert (row["provider"], row["model"], row["system_prompt"], row["prompt_text"], row["response_text"]) == (
        "anthropic", "claude-sonnet-4-5-20250929", SYSTEM, "Ticket 9: no sound", "audio")
    assert (row["input_tokens"], row["cached_input_tokens"], row["output_tokens"]) == (140, 100, 2)


def test_a_long_split_log_on_the_sql_route_stores_what_the_python_route_stores(tmp_path, monkeypatch):
    """Split calls among whole calls, failed calls and bare answers, in a file long enough for the SQL route to read
    the whole calls itself."""
    lines: list[dict] = []
    for i in range(600):
        kind = i % 6
        if kind == 0:
            lines += [asked(i), answered(i)]
        elif kind == 1:
            lines.append({**asked(i), "response": completion(i)})  # a whole call
        elif kind == 2:
            lines.append({**asked(i), "response": None, "status_code": 429, "error": {"message": "rate limited"}})
        elif kind == 3:
            lines.append({"ts": "2026-11-02T11:00:00Z", "request_id": f"req-{i}", **completion(i)})  # a bare answer
        else:
            lines.append({**asked(i), "response": completion(i, "software")})
    summary, rows = ingest_both(tmp_path, monkeypatch, lines, "mixed.jsonl")
    assert summary["rows_added"] == 600 and summary["rows_skipped"] == 100
    # Once the first lines show calls logged on two lines, every line that names a request id is Python's (a whole
    # call may follow its request logged alone); the split calls are joined either way.
    assert summary["lines_to_python"] == 700
    joined = [r for r in rows if r["source_line"] is not None and r["response_text"] and r["response_text"].startswith("hardware")]
    assert all(r["prompt_text"] for r in joined if int(r["source_id"].split("-")[1]) % 6 == 0)


def test_lines_that_only_name_a_request_id_keep_the_sql_route(tmp_path, monkeypatch):
    """Failed calls and bare answers that carry a request id, with no call logged on two lines: nothing to join, and
    the file stays on the SQL route (a line read by Python costs ten times one read by SQL)."""
    lines = [{**asked(i), "response": None, "status_code": 500} if i % 9 == 0 else {"request_id": f"r{i}", **completion(i)}
             for i in range(300)]
    summary, rows = ingest_both(tmp_path, monkeypatch, lines, "ids.jsonl")
    assert summary["rows_added"] == 300 and summary["lines_to_python"] == 0


def test_a_request_waits_a_bounded_number_of_lines_for_its_answer():
    calls = split_calls.SplitCalls()
    request = {"status": "no_response", "prompt_text": "hi", "_line": 1, split_calls.HALF: ("request", "r1")}
    assert calls.offer(request) == []
    late = {"status": "ok", "response_text": "hello", "_line": 2 + split_calls.PENDING_LINES,
            split_calls.HALF: ("response", "r1")}
    out = calls.offer(late)
    assert [r.get("prompt_text") for r in out] == ["hi", None]  # the request alone, then the answer alone
    assert calls.flush() == []


def test_an_answer_logged_flat_without_its_model_joins_its_request(tmp_path, monkeypatch):
    """A homegrown pair: the request's model and messages on one line, the answer's text and usage on the next (no
    model of its own: alone it is no call and was a reject)."""
    lines = []
    for i in range(20):
        lines.append({"ts": "2026-11-02T10:00:00Z", "request_id": f"r{i}", "model": "gpt-4o-mini",
                      "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Lost badge {i}"}]})
        lines.append({"ts": "2026-11-02T10:00:01Z", "request_id": f"r{i}", "text": f"access {i}",
                      "usage": {"input_tokens": 19, "output_tokens": 1}})
    lines.append({"request_id": "r-none", "text": "an answer whose request was never logged", "usage": {"input_tokens": 5}})
    summary, rows = ingest_both(tmp_path, monkeypatch, lines, "flat.jsonl")
    assert summary["rows_added"] == 20 and summary["rows_rejected"] == 1 and summary["input_tokens"] == 380
    assert {(r["provider"], r["model"], r["response_text"][:6], r["status"]) for r in rows} == {("openai", "gpt-4o-mini", "access", "ok")}


def test_a_responses_call_logged_on_two_lines_is_one_call(tmp_path, monkeypatch):
    """The Responses object echoes the system prompt (`instructions`) but not the input: it is still the answer half."""
    lines = []
    for i in range(10):
        lines.append({"ts": "2026-11-02T10:00:00Z", "request_id": f"q{i}",
                      "request": {"model": "gpt-4.1-mini", "instructions": SYSTEM, "input": f"Printer {i} on fire"}})
        lines.append({"ts": "2026-11-02T10:00:01Z", "request_id": f"q{i}", "response": {
            "id": f"resp_{i}", "object": "response", "created_at": 1793613601, "status": "completed", "model": "gpt-4.1-mini-2025-04-14",
            "instructions": SYSTEM, "output": [{"type": "message", "id": f"msg_{i}", "role": "assistant",
                                                "content": [{"type": "output_text", "text": "hardware"}]}],
            "usage": {"input_tokens": 20 + i, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 2,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 22 + i}}})
    summary, rows = ingest_both(tmp_path, monkeypatch, lines, "responses.jsonl")
    assert summary["rows_added"] == 10 and summary["input_tokens"] == 245
    assert [(r["source_id"], r["system_prompt"], r["prompt_text"], r["response_text"]) for r in rows][:2] == [
        ("resp_0", SYSTEM, "Printer 0 on fire", "hardware"), ("resp_1", SYSTEM, "Printer 1 on fire", "hardware")]


def test_a_request_logged_again_with_its_answer_is_one_call(tmp_path, monkeypatch):
    """CrewAI's event listeners write an `llm_call_started` event (model and messages) and an `llm_call_completed`
    event (the messages again, the answer and usage) under one `call_id`: each call was two rows."""
    lines = []
    for i in range(12):
        started = {"timestamp": "2026-12-06T05:49:31Z", "type": "llm_call_started", "call_id": f"c-{i}", "model": "gpt-4o-mini",
                   "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Ticket {i}"}]}
        lines.append(started)
        lines.append({**started, "type": "llm_call_completed", "response": f"hardware {i}",
                      "usage": {"prompt_tokens": 100 + i, "completion_tokens": 3, "total_tokens": 103 + i}})
    summary, rows = ingest_both(tmp_path, monkeypatch, lines, "crewai.jsonl")
    assert (summary["rows_added"], summary["rows_skipped"]) == (12, 12)
    assert {(r["status"], r["response_text"][:8]) for r in rows} == {("ok", "hardware")}
    assert [r["source_line"] for r in rows][:2] == [2, 4]  # the whole call's line


def test_crewais_own_event_log_is_one_row_per_call(con, fixtures):
    """CrewAI 1.15's events (a BaseEventListener writing each LLMCall event's model_dump_json(), three tasks and a
    direct call): 7 rows (each started event a request without an answer), the cache unread, a started event whose
    messages are one string rejected. Now 4 calls, the cached prompt tokens read."""
    file = ingest_paths(con, [str(fixtures / "crewai" / "llm_events.jsonl")])["files"][0]
    assert (file["rows_added"], file["rows_rejected"], file["input_tokens"], file["output_tokens"]) == (4, 0, 1915, 96)
    assert con.execute("select sum(cached_input_tokens), count(*) filter (status = 'ok') from requests").fetchone() == (704, 4)
    assert con.execute("select prompt_text from requests where response_text = 'Direct call answer.'").fetchone() == (
        "Say something directly.",)


def test_autogens_event_log_streams_and_runtime_messages(con, fixtures, tmp_path):
    """AutoGen 0.7's event logger (autogen_core.EVENT_LOGGER_NAME to a file): a streamed call's LLMStreamStart was a
    reject and its LLMStreamEnd a row without its prompt or answer; a team's runtime messages between agents were
    rejects. Now the stream's start and end are one call (joined by the agent), the runtime messages skipped."""
    file = ingest_paths(con, [str(fixtures / "autogen" / "event_logger.jsonl")])["files"][0]
    assert (file["rows_added"], file["rows_rejected"], file["input_tokens"], file["output_tokens"]) == (4, 0, 1850, 108)
    assert con.execute("select prompt_text, response_text, input_tokens from requests where model is null").fetchone() == (
        "Stream me something", "Streamed answer here ok. ", 250)  # the stream names no model: unpriced
    other = connect(str(tmp_path / "team.duckdb"))  # the stub named its answers alike in both runs
    team = ingest_paths(other, [str(fixtures / "autogen" / "team_event_logger.jsonl")])["files"][0]
    assert (team["rows_added"], team["rows_rejected"], team["rows_skipped"], team["input_tokens"]) == (2, 0, 23, 730)
