"""Claude Code session transcripts (~/.claude/projects): a row per API call, not per line."""

import json
import shutil
from datetime import datetime

import pytest

from analyzer.ingest import ingest_paths
from analyzer.ingest.detect import detect_format
from analyzer.ingest.formats import load_all
from analyzer.ingest.sources import SourceFile
from helpers import stored_requests

SESSION = "5f1c2d3e-0000-4000-8000-000000000001"


@pytest.fixture
def transcripts(fixtures):
    return fixtures / "claude_code"


def test_each_call_is_one_row_with_its_final_usage(con, transcripts):
    # An answer is written one content block per line, each with a usage snapshot (the first ones partial), and a
    # line may be written twice: three calls in sixteen lines, none a conflict.
    summary = ingest_paths(con, [str(transcripts / "shop-api" / f"{SESSION}.jsonl")])
    file = summary["files"][0]
    assert file["format"] == "claude-code"
    assert (file["rows_added"], file["rows_skipped"], file["rows_rejected"], file["rows_conflicting"]) == (3, 13, 0, 0)
    assert (file["input_tokens"], file["output_tokens"]) == (36812, 355)
    assert file["spend_usd"] == pytest.approx(0.024336, abs=1e-9)
    rows = stored_requests(con)
    assert list(rows) == ["msg_01A1", "msg_01A2", "msg_01A3"]
    first = rows["msg_01A1"]
    # Input is all input (cache reads and writes included), output the last snapshot's, not the first line's 4.
    assert (first["input_tokens"], first["cached_input_tokens"], first["cache_write_tokens"], first["output_tokens"]) == (12003, 10000, 2000, 85)
    assert (rows["msg_01A2"]["output_tokens"], rows["msg_01A3"]["output_tokens"]) == (240, 30)
    assert {r["cost_source"] for r in rows.values()} == {"catalog"}
    assert first["created_at"] == datetime(2026, 11, 20, 9, 0, 3, 100000) and first["source_line"] == 4
    assert first["trace_id"] == SESSION and first["status"] == "ok" and first["provider"] == "anthropic"
    assert {r["operation"] for r in rows.values()} == {None}  # a chat call, stored as every reader stores one
    assert json.loads(first["tags_json"]) == {"cwd": "/home/dev/shop-api", "git_branch": "main", "claude_code_version": "2.1.40"}


def test_a_call_is_prompted_by_the_turn_before_it(con, transcripts):
    ingest_paths(con, [str(transcripts / "shop-api" / f"{SESSION}.jsonl")])
    rows = stored_requests(con)
    # Every call of a turn is categorized by the person's prompt that started it, not by the tool result before it.
    assert [r["prompt_text"] for r in rows.values()] == ["Add input validation to the signup endpoint"] * 2 + ["continue"]
    assert rows["msg_01A1"]["response_text"] == "Let me look at the signup handler."  # thinking is not the answer
    # The conversation through the earlier call's tool use and its result (Claude Code's API error notice between
    # two turns is no message of the conversation, nor a call).
    assert json.loads(rows["msg_01A2"]["messages_json"]) == [
        {"role": "user", "content": "Add input validation to the signup endpoint"},
        {"role": "assistant", "content": "Let me look at the signup handler.",
         "tool_calls": [{"id": "toolu_01", "type": "function",
                         "function": {"name": "Read", "arguments": '{"file_path": "/home/dev/shop-api/app/signup.py"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_01", "content": "def signup(request):\n    return create_user(request.json)"},
    ]
    assert json.loads(rows["msg_01A3"]["messages_json"]) == [{"role": "user", "content": "continue"}]


def test_subagents_and_resumed_sessions_are_counted_once(con, transcripts, tmp_path):
    # A project directory as Claude Code keeps it: the session, its subagent's own file, and a resumed session
    # whose file repeats the first call.
    summary = ingest_paths(con, [str(transcripts)])
    assert (summary["rows_added"], summary["rows_duplicate"], summary["rows_conflicting"], summary["rows_rejected"]) == (5, 1, 0, 0)
    rows = stored_requests(con)
    subagent = rows["msg_01B1"]
    assert subagent["model"] == "claude-haiku-4-5-20251001" and subagent["prompt_text"] == "Find every call site of create_user"
    assert json.loads(subagent["tags_json"])["subagent"] == "a7f3" and json.loads(subagent["tags_json"])["sidechain"] is True
    assert (subagent["input_tokens"], subagent["cache_write_tokens"], subagent["output_tokens"]) == (5010, 5000, 60)
    assert rows["msg_01C1"]["trace_id"] == "5f1c2d3e-0000-4000-8000-000000000002"
    assert rows["msg_01C1"]["prompt_text"] == "Now add a test for the empty email case"
    copy = tmp_path / "again"
    shutil.copytree(transcripts, copy)
    again = ingest_paths(con, [str(copy)])
    assert (again["rows_added"], again["rows_duplicate"], again["rows_conflicting"]) == (0, 6, 0)


def test_a_transcript_is_recognised_by_its_lines(transcripts, tmp_path):
    formats = load_all()
    resumed = next((transcripts / "resumed").glob("*.jsonl"))  # opens with a summary line
    assert detect_format(SourceFile(resumed, str(resumed)), formats) == "claude-code"
    # A session of snapshots and progress lines only (opened, then left): still a transcript, no call in it.
    lines = [line for line in (transcripts / "shop-api" / f"{SESSION}.jsonl").read_text().splitlines()
             if json.loads(line)["type"] in ("file-history-snapshot", "progress", "queue-operation")]
    idle = tmp_path / "idle.jsonl"
    idle.write_text("\n".join(lines) + "\n")
    assert detect_format(SourceFile(idle, str(idle)), formats) == "claude-code"
    # A first prompt longer than the head plan sniffs (a pasted log file): still a transcript.
    lines = (transcripts / "shop-api" / f"{SESSION}.jsonl").read_text().splitlines()
    prompt = json.loads(lines[1])
    prompt["message"]["content"] = "Why does this log fail?\n" + "ERROR worker crashed\n" * 5000
    pasted = tmp_path / "pasted.jsonl"
    pasted.write_text("\n".join([json.dumps(prompt)] + lines[2:]) + "\n")
    assert detect_format(SourceFile(pasted, str(pasted)), formats) == "claude-code"


def test_lines_that_are_no_transcript_lines_are_rejected_and_the_calls_still_land(con, transcripts, tmp_path):
    path = tmp_path / "session.jsonl"
    text = (transcripts / "shop-api" / f"{SESSION}.jsonl").read_text()
    path.write_text(text + '{"type": "assistant", "message": {"id": "msg_X"}}\n{"type": "user", "sessionId"\n')
    file = ingest_paths(con, [str(path)])["files"][0]
    assert (file["rows_added"], file["rows_rejected"], file["output_tokens"]) == (3, 2, 355)


def test_a_cost_claude_code_logged_is_the_calls_cost(con, tmp_path):
    # Claude Code 1.0 wrote each answer on one line, with what it cost and took.
    line = {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": "/srv/app", "sessionId": "s-1",
            "version": "1.0.31", "type": "assistant", "uuid": "a-1", "timestamp": "2025-06-20T10:00:00.000Z",
            "costUSD": 0.01234, "durationMs": 5210, "requestId": "req_1",
            "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
                        "content": [{"type": "text", "text": "Done."}], "stop_reason": "end_turn",
                        "usage": {"input_tokens": 1200, "output_tokens": 40}}}
    path = tmp_path / "s-1.jsonl"
    path.write_text(json.dumps(line) + "\n")
    ingest_paths(con, [str(path)])
    row = stored_requests(con)["msg_1"]
    assert (row["cost_usd"], row["cost_source"], row["duration_ms"]) == (0.01234, "log", 5210.0)
    assert (row["input_tokens"], row["output_tokens"], row["prompt_text"]) == (1200, 40, "")


def test_claude_code_on_bedrock_is_stored_and_priced_as_bedrock(con, transcripts, tmp_path):
    text = (transcripts / "shop-api" / f"{SESSION}.jsonl").read_text()
    path = tmp_path / "bedrock.jsonl"
    path.write_text(text.replace('"claude-sonnet-4-5-20250929"', '"us.anthropic.claude-sonnet-4-5-20250929-v1:0"')
                    .replace("msg_01A", "msg_bdrk_01A"))
    ingest_paths(con, [str(path)])
    rows = stored_requests(con)
    assert {(r["provider"], r["cost_source"]) for r in rows.values()} == {("bedrock", "catalog")}
    assert sum(r["output_tokens"] for r in rows.values()) == 355


def test_calls_whose_message_ids_were_redacted_alike_stay_two_calls(con, tmp_path):
    """A transcript shared with its message ids replaced by "REDACTED": two calls then share one id but keep their
    own requestId, and each call's lines (a text block, then a tool use) still share both. Each call is a row; before,
    the second call was merged into the first and its tokens were lost without a word."""
    def line(uuid, parent, request, block, usage):
        return {"parentUuid": parent, "sessionId": "s-2", "type": "assistant", "uuid": uuid, "requestId": request,
                "timestamp": "2026-04-07T10:00:00.000Z", "message": {
                    "id": "REDACTED", "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
                    "content": [block], "stop_reason": None, "usage": usage}}
    first = {"input_tokens": 5, "cache_creation_input_tokens": 4577, "cache_read_input_tokens": 51586, "output_tokens": 94}
    second = {"input_tokens": 5, "cache_creation_input_tokens": 120, "cache_read_input_tokens": 56163, "output_tokens": 74}
    lines = [line("a-1", None, "req_A", {"type": "text", "text": "Looking."}, first),
             line("a-2", "a-1", "req_A", {"type": "tool_use", "id": "t1", "name": "Read", "input": {}}, first),
             line("a-3", "a-2", "req_B", {"type": "text", "text": "Found it."}, second)]
    path = tmp_path / "s-2.jsonl"
    path.write_text("".join(json.dumps(obj) + "\n" for obj in lines))
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_conflicting"]) == (2, 0)
    assert con.execute("select sum(input_tokens), sum(output_tokens) from requests").fetchone() == (
        5 + 4577 + 51586 + 5 + 120 + 56163, 94 + 74)
    assert sorted(r[0] for r in con.execute("select source_id from requests").fetchall()) == ["REDACTED", "REDACTED|req_B"]


def test_a_turn_whose_parent_chain_breaks_off_is_read_in_file_order(con, tmp_path):
    """A transcript whose calls name parents the file does not hold (lines dropped when it was shared): the turn is
    read in file order back to the person's prompt, so the calls keep their prompt and the tool call and result
    between them (before, both calls had no prompt and an empty conversation)."""
    def line(uuid, parent, kind, content, **extra):
        message = {"role": kind, "content": content}
        if kind == "assistant":
            message.update(id=extra.pop("mid"), type="message", model="claude-haiku-4-5-20251001", stop_reason="end_turn",
                           usage={"input_tokens": 10, "output_tokens": 5})
        return {"parentUuid": parent, "sessionId": "s-3", "type": kind, "uuid": uuid,
                "timestamp": "2026-05-01T10:00:00.000Z", "message": message, **extra}
    lines = [line("u-1", None, "user", "Run echo hello."),
             line("a-1", "missing-1", "assistant", [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "echo hello"}}],
                  mid="msg_1", requestId="req_1"),
             line("u-2", "missing-2", "user", [{"type": "tool_result", "tool_use_id": "t1", "content": "hello"}]),
             line("a-2", "missing-3", "assistant", [{"type": "text", "text": "It printed hello."}], mid="msg_2", requestId="req_2")]
    path = tmp_path / "s-3.jsonl"
    path.write_text("".join(json.dumps(obj) + "\n" for obj in lines))
    assert ingest_paths(con, [str(path)])["rows_added"] == 2
    rows = stored_requests(con)
    assert (rows["msg_1"]["prompt_text"], rows["msg_2"]["prompt_text"]) == ("Run echo hello.", "Run echo hello.")
    second = json.loads(rows["msg_2"]["messages_json"])
    assert [m["role"] for m in second] == ["user", "assistant", "tool"] and second[2]["content"] == "hello"
