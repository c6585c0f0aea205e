"""The OpenAI Agents SDK's traces as a tracing processor writes them (format `openai-agents`). The fixture was written
by openai-agents 0.24 itself (a processor writing `span.export()` and `trace.export()` per line) running four agents
against a local stub: Responses calls with a tool call, cached input and reasoning, a failed call, and a chat
completions call. Before: "not a log format plan recognises", nothing stored."""

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import stored_requests


def test_response_and_generation_spans_are_the_calls(con, fixtures):
    path = str(fixtures / "openai_agents" / "spans.jsonl")
    assert detect_format(expand_paths([path])[0]) == "openai-agents"
    file = ingest_paths(con, [path])["files"][0]
    # the agent, turn, task and function spans and the traces are skipped (turn and task spans repeat the usage)
    assert (file["rows_added"], file["rows_rejected"], file["rows_skipped"]) == (5, 0, 18)
    assert (file["input_tokens"], file["output_tokens"]) == (3887, 561)
    rows = stored_requests(con, as_list=True)
    assert [(r["source_id"], r["input_tokens"], r["cached_input_tokens"], r["reasoning_tokens"], r["status"]) for r in rows[:4]] == [
        ("resp_0001abc", 812, 0, 0, "ok"), ("resp_0002abc", 905, 768, 0, "ok"), ("resp_0003abc", 1530, 1408, 192, "ok"),
        (None, None, None, None, "error")]
    assert {r["model"] for r in rows[:4]} == {None}  # a response span names no model: unpriced, not guessed
    chat = rows[4]
    assert (chat["model"], chat["system_prompt"], chat["prompt_text"], chat["response_text"], chat["cost_source"]) == (
        "gpt-4o-mini", "Reply in French.", "Say hello", "Bonjour! Comment puis-je vous aider ?", "catalog")
    assert chat["trace_id"] == "trace_e116ea8d150b483a9e755e23b58367be" and round(chat["duration_ms"], 3) == 70.214
