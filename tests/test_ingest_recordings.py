"""Recorded HTTP exchanges (VCR cassettes, HAR files) ingested as they are written: model calls land as the
pairs an app log holds, every other exchange is skipped and counted."""

import base64
import json

import pytest
import yaml

from analyzer.ingest import ingest_paths
from conftest import EVAL_SOURCES, eval_source
from helpers import stored_requests
from test_ingest_openai import RECORDED


@pytest.mark.parametrize("source", EVAL_SOURCES)
def test_a_vcr_cassette_is_read_as_it_is_recorded(con, source):
    path = eval_source(source) / "logs" / "simonw_llm_cassette_chat_tool_use.yaml"
    want = RECORDED[source]
    summary = ingest_paths(con, [str(path)])
    assert summary["files"][0]["format"] == "http-recording"
    assert (summary["rows_added"], summary["rows_rejected"], summary["rows_skipped"]) == (2, 0, 0)
    r = stored_requests(con)
    call, answer = r[want["call"]], r[want["answer"]]
    assert json.loads(call["response_text"])[0]["function"] == want["function"]
    assert (call["input_tokens"], call["output_tokens"]) == want["call_tokens"]
    assert want["says"] in answer["response_text"] and answer["prompt_text"] == want["prompt"]
    assert answer["created_at"] == want["at"] and call["source_line"] < answer["source_line"]  # lines they start on
    assert ingest_paths(con, [str(path)])["rows_added"] == 0  # read again: nothing new


def _anthropic_stream(text: str, usage_in: int, usage_out: int) -> str:
    events = [
        {"type": "message_start", "message": {"id": "msg_rec01", "type": "message", "role": "assistant",
                                              "model": "claude-sonnet-4-5-20250929", "content": [],
                                              "usage": {"input_tokens": usage_in, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": usage_out}},
        {"type": "message_stop"},
    ]
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


def test_a_ruby_vcr_cassette_of_anthropic_calls(con, tmp_path):
    cassette = {"http_interactions": [
        {"request": {"method": "get", "uri": "https://api.anthropic.com/v1/models",
                     "body": {"encoding": "US-ASCII", "string": ""}},
         "response": {"status": {"code": 200, "message": "OK"}, "body": {"encoding": "UTF-8", "string": "{}"}},
         "recorded_at": "Tue, 03 Nov 2026 10:00:00 GMT"},
        {"request": {"method": "post", "uri": "https://api.anthropic.com/v1/messages",
                     "body": {"encoding": "UTF-8", "string": json.dumps({
                         "model": "claude-sonnet-4-5", "max_tokens": 300, "system": "Answer in one line.",
                         "messages": [{"role": "user", "content": "Name a prime above 90."}]})}},
         "response": {"status": {"code": 200, "message": "OK"},
                      "body": {"encoding": "UTF-8", "string": _anthropic_stream("97 is prime.", 21, 7)}},
         "recorded_at": "Tue, 03 Nov 2026 10:00:01 GMT"},
    ], "recorded_with": "VCR 6.3.1"}
    path = tmp_path / "anthropic_messages.yml"
    path.write_text(yaml.safe_dump(cassette, sort_keys=False))
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_rejected"]) == (1, 1, 0)
    row = stored_requests(con)["msg_rec01"]
    assert (row["provider"], row["model"], row["input_tokens"], row["output_tokens"]) == (
        "anthropic", "claude-sonnet-4-5-20250929", 21, 7)
    assert row["response_text"] == "97 is prime." and row["system_prompt"] == "Answer in one line."
    assert row["prompt_text"] == "Name a prime above 90."


def _har_entry(method, url, status, response_text, *, request_text=None, started="2026-11-03T10:00:00.000Z",
               time_ms=250.0, base64_body=False, mime="application/json"):
    content = {"size": len(response_text), "mimeType": mime, "text": response_text}
    if base64_body:
        content.update(text=base64.b64encode(response_text.encode()).decode(), encoding="base64")
    entry = {"startedDateTime": started, "time": time_ms,
             "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1", "headers": [], "queryString": [],
                         "cookies": [], "headersSize": -1, "bodySize": len(request_text or "")},
             "response": {"status": status, "statusText": "", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                          "content": content, "redirectURL": "", "headersSize": -1, "bodySize": content["size"]},
             "cache": {}, "timings": {"send": 1, "wait": time_ms - 2, "receive": 1}}
    if request_text is not None:
        entry["request"]["postData"] = {"mimeType": "application/json", "text": request_text}
    return entry


def test_a_har_capture_keeps_model_calls_and_counts_the_rest(con, tmp_path):
    chat_request = json.dumps({"model": "gpt-4.1-mini", "messages": [
        {"role": "system", "content": "Classify the ticket."}, {"role": "user", "content": "My card was charged twice"}]})
    chat_response = json.dumps({
        "id": "chatcmpl-har01", "object": "chat.completion", "created": 1793527200, "model": "gpt-4.1-mini-2025-04-14",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "billing"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 31, "completion_tokens": 2, "total_tokens": 33}})
    limited = json.dumps({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}})
    har = {"log": {"version": "1.2", "creator": {"name": "mitmproxy", "version": "11.1"}, "entries": [
        _har_entry("GET", "https://api.openai.com/v1/models", 200, '{"object": "list", "data": []}'),
        _har_entry("POST", "https://api.openai.com/v1/chat/completions", 200, chat_response, request_text=chat_request),
        _har_entry("POST", "https://api.anthropic.com/v1/messages", 200, _anthropic_stream("Refund it.", 40, 4),
                   request_text=json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": True,
                                            "messages": [{"role": "user", "content": "Refund or not?"}]}),
                   base64_body=True, mime="text/event-stream"),
        _har_entry("GET", "https://example.com/logo.png", 200, "", mime="image/png"),
        _har_entry("POST", "https://api.openai.com/v1/chat/completions", 429, limited, request_text=chat_request,
                   started="2026-11-03T10:05:00.000Z", time_ms=80.0),
        "not an entry",
    ]}}
    path = tmp_path / "session.har"
    path.write_text(json.dumps(har, indent=2))
    summary = ingest_paths(con, [str(path)])
    assert summary["files"][0]["format"] == "http-recording"
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_rejected"]) == (3, 2, 1)
    rows = stored_requests(con, as_list=True)
    chat, claude, failed = rows[0], rows[1], rows[2]
    assert (chat["source_id"], chat["input_tokens"], chat["output_tokens"], chat["response_text"]) == (
        "chatcmpl-har01", 31, 2, "billing")
    assert chat["system_prompt"] == "Classify the ticket." and chat["duration_ms"] == 250.0
    assert (claude["provider"], claude["input_tokens"], claude["output_tokens"], claude["response_text"]) == (
        "anthropic", 40, 4, "Refund it.")
    assert failed["status"] == "error" and failed["input_tokens"] is None and failed["duration_ms"] == 80.0
    assert str(failed["created_at"]) == "2026-11-03 10:05:00"  # the capture's time: an error has no created
    assert sum(r["source_line"] == 6 for r in rows) == 0  # the entry that is not an object was rejected


def _cassette(tmp_path, name, interactions):
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"interactions": interactions, "version": 1}))
    return path


def _interaction(uri, request, status, response):
    return {"request": {"method": "POST", "uri": uri, "body": json.dumps(request), "headers": {}},
            "response": {"status": {"code": status, "message": "OK" if status < 400 else "Not Found"},
                         "headers": {}, "body": {"string": json.dumps(response)}}}


def test_an_embeddings_call_in_a_cassette_is_priced_as_one(con, tmp_path):
    """A recorded POST to /v1/embeddings is a billed call, as it is in an app log: stored as an embedding call with its
    input tokens (before, it was skipped, with a note about OpenTelemetry spans)."""
    path = _cassette(tmp_path, "test_embeddings.yaml", [_interaction(
        "https://api.openai.com/v1/embeddings", {"input": "Refund policy for damaged parcels", "model": "text-embedding-3-small"}, 200,
        {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.01, -0.02]}],
         "model": "text-embedding-3-small", "usage": {"prompt_tokens": 6, "total_tokens": 6}})])
    summary = ingest_paths(con, [str(path)])
    assert (summary["files"][0]["format"], summary["rows_added"], summary["rows_skipped"]) == ("http-recording", 1, 0)
    row = stored_requests(con, as_list=True)[0]
    assert (row["operation"], row["input_tokens"], row["cost_source"], row["prompt_text"]) == ("embeddings", 6, "catalog", None)


def test_a_recording_without_model_calls_and_a_failed_call_get_notes_about_themselves(con, tmp_path):
    models = _cassette(tmp_path, "list_models.yaml", [{
        "request": {"method": "GET", "uri": "https://api.openai.com/v1/models", "body": None, "headers": {}},
        "response": {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": "{\"data\": []}"}}}])
    note = ingest_paths(con, [str(models)])["files"][0]["note"]
    assert note.startswith("1 records read as a recording of HTTP exchanges (VCR cassette or HAR), none of them a model call")
    assert "/embeddings" in note and "span" not in note
    # A call the API refused (404: no such model) is billed nothing: no note that its spend is unknown.
    failed = _cassette(tmp_path, "test_chat_completion_404.yaml", [_interaction(
        "https://api.openai.com/v1/chat/completions", {"model": "no-such-model", "messages": [{"role": "user", "content": "Hi"}]}, 404,
        {"error": {"message": "The model `no-such-model` does not exist", "type": "invalid_request_error", "code": "model_not_found"}})])
    file = ingest_paths(con, [str(failed)])["files"][0]
    assert (file["rows_added"], file["note"]) == (1, None)
    assert con.execute("select status, cost_source from requests where model = 'no-such-model'").fetchone() == ("error", "unknown")


def test_cassettes_with_gzip_bodies_and_parsed_bodies_are_read(con, tmp_path):
    """vcrpy keeps a compressed answer as the bytes that came (``!!binary`` gzip), and pydantic-ai's cassettes keep a
    body parsed (``parsed_body``) rather than as text. Before, the first gave requests without an answer, the
    second rejects saying the response body was missing."""
    import gzip

    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
               "content": [{"type": "text", "text": "Paris."}], "stop_reason": "end_turn",
               "usage": {"input_tokens": 12, "cache_read_input_tokens": 100, "output_tokens": 3}}
    request = {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "Capital of France?"}]}
    compressed = _interaction("https://api.anthropic.com/v1/messages", request, 200, message)
    compressed["response"]["headers"] = {"Content-Encoding": ["gzip"]}
    compressed["response"]["body"] = {"string": gzip.compress(json.dumps(message).encode())}
    parsed = {"request": {"method": "POST", "uri": "https://api.anthropic.com/v1/messages", "headers": {},
                          "parsed_body": request},
              "response": {"status": {"code": 200, "message": "OK"}, "headers": {},
                           "parsed_body": {**message, "id": "msg_2"}}}
    path = _cassette(tmp_path, "test_cache.yaml", [compressed, parsed])
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (2, 0)
    rows = stored_requests(con)
    assert [(r["provider"], r["prompt_text"], r["response_text"], r["input_tokens"], r["output_tokens"])
            for r in rows.values()] == [("anthropic", "Capital of France?", "Paris.", 112, 3)] * 2


def test_a_go_vcr_cassette_of_streamed_claude_and_gemini_calls(con, tmp_path):
    """go-vcr (Go's cassettes) names the address `url`, keeps bodies as bare strings and the status as text beside
    `code`; its Gemini calls go to `:streamGenerateContent`. Both kinds were skipped as "not a model call"."""
    gemini_chunks = [
        {"candidates": [{"content": {"parts": [{"text": "The capital of France"}], "role": "model"}}],
         "usageMetadata": {"promptTokenCount": 13, "candidatesTokenCount": 4}, "modelVersion": "gemini-2.5-flash",
         "responseId": "gm-1"},
        {"candidates": [{"content": {"parts": [{"text": " is Paris."}], "role": "model"}, "finishReason": "STOP"}],
         "usageMetadata": {"promptTokenCount": 13, "candidatesTokenCount": 8, "thoughtsTokenCount": 20},
         "modelVersion": "gemini-2.5-flash", "responseId": "gm-1"}]

    def go_vcr(url, request, body):
        return {"id": 0, "request": {"proto": "HTTP/1.1", "body": json.dumps(request), "url": url, "method": "POST"},
                "response": {"body": body, "status": "200 OK", "code": 200, "duration": "999.3ms"}}

    path = tmp_path / "multi_tool_streaming.yaml"
    path.write_text("---\n" + yaml.safe_dump({"version": 2, "interactions": [
        go_vcr("https://api.anthropic.com/v1/messages",
               {"model": "claude-sonnet-4-5-20250929", "max_tokens": 100, "stream": True,
                "messages": [{"role": "user", "content": "Say hi"}]}, _anthropic_stream("Hi!", 21, 9)),
        go_vcr("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
               {"contents": [{"role": "user", "parts": [{"text": "Capital of France?"}]}]},
               "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in gemini_chunks))]}))
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_rejected"]) == (2, 0, 0)
    claude, gemini = stored_requests(con, as_list=True)
    assert (claude["input_tokens"], claude["output_tokens"], claude["response_text"], claude["prompt_text"]) == (21, 9, "Hi!", "Say hi")
    assert (gemini["provider"], gemini["model"], gemini["input_tokens"], gemini["output_tokens"]) == ("google", "gemini-2.5-flash", 13, 28)
    assert (gemini["response_text"], gemini["prompt_text"], gemini["status"]) == ("The capital of France is Paris.", "Capital of France?", "ok")


def test_converse_and_cohere_chat_exchanges_are_calls_and_alike_ones_stay_two(con, tmp_path):
    """Bedrock's Converse (`/model/{id}/converse`, the model only in the path) and Cohere's chat (`/v2/chat`) were
    skipped as "not a model call"; two Converse calls alike but for their usage (a cache written, then read) are two."""
    def converse(read, write):
        return _interaction(
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse",
            {"messages": [{"role": "user", "content": [{"text": "Newer response with something"}]}]}, 200,
            {"output": {"message": {"role": "assistant", "content": [{"text": "21"}]}}, "stopReason": "end_turn",
             "usage": {"inputTokens": 2, "outputTokens": 5, "cacheReadInputTokens": read, "cacheWriteInputTokens": write},
             "metrics": {"latencyMs": 900}})
    cohere = _interaction("https://api.cohere.com/v2/chat", {"model": "command-r7b-12-2024", "messages": [
        {"role": "user", "content": "Say hi in one word."}]}, 200, {
        "id": "c0ffee", "message": {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]}, "finish_reason": "COMPLETE",
        "usage": {"billed_units": {"input_tokens": 2406, "output_tokens": 2}, "tokens": {"input_tokens": 2935, "output_tokens": 4}}})
    path = _cassette(tmp_path, "test_cache.yaml", [converse(0, 1322), converse(1322, 0), cohere])
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_duplicate"]) == (3, 0, 0)
    rows = stored_requests(con, as_list=True)
    assert [(r["provider"], r["model"], r["input_tokens"], r["cached_input_tokens"], r["cache_write_tokens"]) for r in rows[:2]] == [
        ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", 1324, 0, 1322),
        ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", 1324, 1322, 0)]
    assert (rows[2]["provider"], rows[2]["input_tokens"], rows[2]["output_tokens"], rows[2]["response_text"]) == ("cohere", 2406, 2, "Hello!")
    assert ingest_paths(con, [str(path)])["rows_added"] == 0  # read again: nothing new
