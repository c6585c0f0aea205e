"""OpenAI Codex CLI session rollouts (~/.codex/sessions/**/rollout-*.jsonl): a row per model call (a token count).
Fixtures in tests/fixtures/codex_cli/ are written in the shape codex-rs writes its rollouts."""

import json

import pytest

from analyzer.db import dicts
from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths

SESSION = "rollout-2025-12-01T13-00-00-0199a7e1-5c3d-7e21-b0a4-2f6d9c1e8a35.jsonl"
FORK = "rollout-2025-12-01T14-00-00-0199a7f2-0000-7000-8000-000000000002.jsonl"


def rows(con) -> list[dict]:
    return dicts(con, "select * from requests order by created_at")


@pytest.mark.parametrize("name", [SESSION, FORK])
def test_rollouts_are_detected(fixtures, name):
    assert detect_format(expand_paths([str(fixtures / "codex_cli" / name)])[0]) == "codex-cli"


def test_a_session_is_one_row_per_model_call(con, fixtures):
    file = ingest_paths(con, [str(fixtures / "codex_cli" / SESSION)])["files"][0]
    # 20 lines: three calls; a count written twice, a count without info, messages, reasoning, tool lines skipped.
    assert (file["format"], file["rows_added"], file["rows_rejected"], file["rows_skipped"]) == ("codex-cli", 3, 0, 16)
    tool_call, answer, later = rows(con)
    # The Responses API's terms: the cached part is inside the input, the reasoning inside the output.
    assert [(r["input_tokens"], r["cached_input_tokens"], r["output_tokens"], r["reasoning_tokens"]) for r in (tool_call, answer)] == [
        (15230, 12032, 812, 448), (16540, 15104, 95, 0)]
    # An older Codex wrote only the running total: the call is what it grew by since the previous call.
    assert (later["input_tokens"], later["cached_input_tokens"], later["output_tokens"]) == (40000 - 31770, 33000 - 27136, 1007 - 907)
    assert [r["model"] for r in (tool_call, answer, later)] == ["gpt-5-codex", "gpt-5-codex", "gpt-5-mini"]
    assert {r["provider"] for r in (tool_call, answer, later)} == {"openai"} and all(r["cost_usd"] > 0 for r in (tool_call, answer, later))
    # The prompt is the person's message; the conversation is the turn so far; the answer is what the model wrote.
    assert tool_call["prompt_text"] == answer["prompt_text"] == "Why does the build fail on ARM?"
    assert json.loads(tool_call["response_text"])[0]["function"]["name"] == "shell"
    assert [m["role"] for m in json.loads(answer["messages_json"])] == ["user", "assistant", "tool"]
    assert answer["response_text"] == "The Makefile forces -mavx2, which ARM lacks."
    assert (later["prompt_text"], json.loads(later["messages_json"])) == (
        "Drop the flag on non-x86.", [{"role": "user", "content": "Drop the flag on non-x86."}])
    assert tool_call["trace_id"] == "0199a7e1-5c3d-7e21-b0a4-2f6d9c1e8a35"
    # a chat call has no operation, as every reader stores one (only embedding calls are marked)
    assert {r["operation"] for r in (tool_call, answer, later)} == {None}
    assert json.loads(later["tags_json"]) == {"agent": "codex", "cwd": "/home/dev/shop", "codex_version": "0.44.0",
                                              "originator": "codex_cli_rs", "effort": "low"}
    again = ingest_paths(con, [str(fixtures / "codex_cli" / SESSION)])
    assert (again["rows_added"], again["rows_duplicate"]) == (0, 3)


def test_a_forked_session_adds_only_its_own_calls(con, fixtures):
    summary = ingest_paths(con, [str(fixtures / "codex_cli")])
    by_file = {f["path"].rsplit("/", 1)[-1]: f for f in summary["files"]}
    assert (by_file[SESSION]["rows_added"], by_file[FORK]["rows_added"], by_file[FORK]["rows_duplicate"]) == (3, 1, 2)
    totals = con.execute("select count(*), sum(input_tokens), sum(output_tokens) from requests").fetchall()[0]
    assert totals == (4, 15230 + 16540 + 8230 + 18230, 812 + 95 + 100 + 193)


def test_a_line_that_is_not_a_rollout_line_is_rejected_and_the_calls_still_land(con, fixtures, tmp_path):
    text = (fixtures / "codex_cli" / SESSION).read_text().splitlines()
    path = tmp_path / "rollout-broken.jsonl"
    path.write_text("\n".join(text[:5] + ['{"oops": 1}', "{not json"] + text[5:]) + "\n")
    file = ingest_paths(con, [str(path)], fmt="codex-cli")["files"][0]
    assert (file["rows_added"], file["rows_rejected"]) == (3, 2)


def test_sessions_without_times_are_not_taken_for_each_other(con, tmp_path):
    # Two sessions whose lines carry no time and whose first calls counted the same tokens are two calls.
    count = {"type": "event_msg", "payload": {"type": "token_count", "info": {
        "total_token_usage": {"input_tokens": 100, "cached_input_tokens": 0, "output_tokens": 10, "total_tokens": 110},
        "last_token_usage": {"input_tokens": 100, "cached_input_tokens": 0, "output_tokens": 10, "total_tokens": 110}}}}
    paths = []
    for session in ("s-1", "s-2"):
        path = tmp_path / f"rollout-{session}.jsonl"
        lines = [{"type": "session_meta", "payload": {"id": session, "cwd": "/x"}},
                 {"type": "turn_context", "payload": {"model": "gpt-5-codex"}}, count]
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        paths.append(str(path))
    summary = ingest_paths(con, paths)
    assert (summary["rows_added"], summary["rows_duplicate"]) == (2, 0)
