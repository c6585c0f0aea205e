"""The SQL route stores exactly what the Python route stores, on lines of every family and their odd variants.

A seeded generator writes lines the way different apps, gateways and batch jobs log calls: envelopes of any keys
and value types, contents as strings or parts lists, parameters, usage details, refusals, tool calls, errors,
numbers written as strings, times in every notation. Both routes ingest the same file; rows and rejects must match,
and the SQL route must have taken a real share of the lines (else the test would prove nothing).
"""

from collections import Counter
import itertools
import json
from datetime import datetime
import random

import pytest

import analyzer.ingest.tuning as tuning
from analyzer.db import connect, dicts
from analyzer.ingest import ingest_paths
from analyzer.ingest.formats import load_all
from analyzer.ingest.formats.app_log import span_ms
from analyzer.ingest.formats.app_log_sql import time_of
from analyzer.ingest.records import to_utc
from helpers import route_neutral

WORDS = "refund parcel invoice login drill battery late broken password sql report weekly summary".split()


ODD = 0.06  # the chance that a field takes an odd value (most lines are clean, as in real logs)


def pick(rng, *options):
    return rng.choice(options)


def var(rng, clean: list, odd: list):
    """A clean value, or now and then an odd one."""
    return rng.choice(odd) if odd and rng.random() < ODD else rng.choice(clean)


def sentence(rng, n=6):
    return " ".join(rng.choices(WORDS, k=n))


def maybe(rng, p, value):
    return value if rng.random() < p else None


def timestamp(rng):
    return var(rng, [1746352800, 1746352800.25, 1746352800123, 1746352800123456, "2025-05-04T10:00:00Z",
                     "2025-05-04T12:00:00+02:00", "2025-05-04 10:00:00.5", "1746352800", "2025-05-04T10:00:00.123456Z",
                     "2025-05-04T10:00:00.25z", "2025-05-04 10:00:00", 1746352800.1234567, 1746352800123.4565, "1746352800.5000005",
                     "2025-05-04T10:00:00.123456789Z", "2025-05-04T10:00:00.1234567+02:00", "2025-05-04 10:00:00,123",
                     "2025-05-04T10:00:00.012+0000", "2025-05-04 10:00:00.000123 UTC", "2025-05-04 10:00:00+00", "2025-05-04T10:00:00-0530",
                     1746352800123456789, "1746352800123456789"],
               ["2025-05-04T10:00:00.1234567Z", "2025-05-04", "yesterday", "", None, 0, "9999-12-31T00:00:00Z",
                "2025-05-04T10:00:00+24:00", "2025-05-04 10:00:00 +0000", "2025-02-30T10:00:00Z"])


def envelope(rng):
    env = {}
    for key, clean, odd in (
        (pick(rng, "timestamp", "ts", "created_at", "time", "logged_at", "createdAt"), [timestamp(rng)], []),
        (pick(rng, "latency_ms", "duration_ms", "elapsed_ms", "latency_s", "latencyMs", "durationSeconds"), [812, 0.5, "812"],
         ["fast", True, None]),
        (pick(rng, "cost_usd", "cost", "response_cost", "costUsd"), [0.0021, "0.002", 3], ["$0.5", {"usd": 1}, None]),
        (pick(rng, "user_id", "user", "end_user", "userId"), ["u-1"], [42, {"id": 1}, "", None]),
        ("metadata", [{"team": "support", "trace": [1, 2]}, {}], [[], "plain", None]),
        ("tags", [["prod", "triage"], []], [None]),
        ("error", [None, "", {}], ["boom", {"message": "x"}, 0, 1, False]),
        ("status_code", [200], [500, "500", None]),
        # A stated sample rate: a fraction, a whole 1-in-N rate, numeric strings; impossible ones are rejected.
        (pick(rng, "sample_rate", "sampling_rate", "sampleRate", "samplingRate"), [0.02, 0.5, 1, 50, "0.1", "20"],
         [0, -0.5, 1.5, "1/50", "2e-2", "5%", "abc", {"r": 1}, None, ""]),
    ):
        if rng.random() < 0.45:
            env[key] = var(rng, clean, odd)
    if rng.random() < 0.3:  # the call's start and end, without a duration
        keys = pick(rng, ("start_time", "end_time"), ("startTime", "endTime"), ("started_at", "completed_at"))
        span = var(rng, [("2025-05-04T10:00:00Z", "2025-05-04T10:00:01.250Z"), (1746352800.5, 1746352802),
                         (1746352800123, "2025-05-04T10:00:03Z"), ("2025-05-04 10:00:00", "2025-05-04T12:00:02+02:00")],
                   [("2025-05-04T10:00:05Z", "2025-05-04T10:00:01Z"), ("soon", "later"), ("", "2025-05-04T10:00:00Z"),
                    (None, 1746352800), ("2025-05-04T10:00:00Z", {"t": 1})])
        env.update(zip(keys, span, strict=True))
    return env


def content(rng):
    text = sentence(rng)
    return var(rng, [text, text, "", None, [{"type": "text", "text": text}],
                     [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                     [{"type": "refusal", "refusal": "no"}],
                     json.dumps({"status": "shipped", "note": text}), "true", "-3",  # strings that read like JSON
                     [{"type": "text", "text": json.dumps({"ticket": text})}], [{"type": "text", "text": "[1, 2]"}]],
               [12, {"type": "text", "text": text}, ["plain string part"], [{"type": "text", "text": {"value": text}}],
                [{"type": "text", "text": 7}], [{"type": "text", "text": ["x"]}], [{"type": "text", "text": True}],
                "[not a list]", "42", True, {"status": "shipped"}])


def tool_calls(rng, i):
    """An assistant's tool calls as APIs return them, now and then in another shape or with text Python and DuckDB
    escape differently."""
    arguments = var(rng, [json.dumps({"order_id": f"A-{i}"}), "{}", json.dumps({"q": "caf\u00e9 / \"quoted\" ünï"})],
                    ["{\"q\": \"tab\\there\"}", "line\u0001break", {"order_id": 1}, None])
    call = {"id": var(rng, [f"call_{i}"], [None, 7]), "type": "function", "function": {"name": "lookup_order", "arguments": arguments}}
    if rng.random() < 0.06:
        call["index"] = 0  # a key beyond the usual shape
    return var(rng, [[call], [call, {**call, "id": f"call_{i}b"}]], [[], {}, "call", [call, "x"]])


def chat_request(rng):
    messages = [{"role": pick(rng, "system", "developer"), "content": content(rng)}] if rng.random() < 0.7 else []
    messages += [{"role": pick(rng, "user", "user", "assistant", "tool"), "content": content(rng)} for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.2:  # an agent's turn: the assistant called a tool, the tool answered with JSON text
        messages.insert(len(messages) - 1, {"role": "assistant", "content": None, "tool_calls": tool_calls(rng, 0)})
        messages.insert(len(messages) - 1, {"role": "tool", "tool_call_id": "call_0", "content": json.dumps({"eta": "Monday"})})
    if rng.random() < 0.05:
        messages.append("not a message")
    request = {"model": var(rng, ["gpt-4o-mini", "gpt-4o"], [7]), "messages": messages}
    for key, value in (("temperature", pick(rng, 0, 0.2, None)), ("response_format", pick(rng, {"type": "json_object"}, {}, None)),
                       ("tools", pick(rng, [{"type": "function", "function": {"name": "f", "parameters": {}}}], [])),
                       ("max_tokens", 256), ("user", var(rng, ["u-9", None], [9])), ("safety_identifier", pick(rng, "s-1", None)),
                       ("metadata", var(rng, [{"app": "x"}, {}, None], ["m"])), ("stop", pick(rng, ["\n"], None))):
        if rng.random() < 0.4:
            request[key] = value
    if rng.random() < 0.03:
        request = json.dumps(request)  # double-encoded
    return request


def tokens(rng):
    return var(rng, [12, 1500, 0], ["12", 2.0, 2.5, -4, None, "many"])


def chat_completion(rng, i):
    choices = []
    for _ in range(var(rng, [1, 1, 2], [0])):
        message = {"role": "assistant", "content": var(rng, [sentence(rng), sentence(rng), "", '{"label": "refund"}', "[1, 2]", "12"],
                                                        [None, [{"type": "text", "text": "x"}], 12, {"label": "refund"}, True])}
        if rng.random() < 0.1:
            message["refusal"] = pick(rng, "I can't help.", None)
        if rng.random() < 0.25:
            message["tool_calls"] = tool_calls(rng, i)
            message["content"] = var(rng, [None, None, ""], [sentence(rng)])
        if rng.random() < 0.02:
            message["function_call"] = {"name": "f", "arguments": "{}"}
        choices.append({"index": 0, "message": message, "finish_reason": pick(rng, "stop", "length", "content_filter")})
    usage = {"prompt_tokens": tokens(rng), "completion_tokens": tokens(rng)}
    if rng.random() < 0.5:
        usage["prompt_tokens_details"] = {"cached_tokens": pick(rng, 0, 1024, None)}
        usage["completion_tokens_details"] = {"reasoning_tokens": var(rng, [0, 64], ["x"])}
    body = {"id": var(rng, [f"chatcmpl-{i}"], ["", None]), "object": "chat.completion",
            "created": var(rng, [1746352800 + i, 1746352800.5], ["1746352800", None, 0]),
            "model": var(rng, ["gpt-4o-mini-2024-07-18"], [None]), "choices": choices, "usage": var(rng, [usage], [None, "n/a"])}
    if rng.random() < 0.05:
        body["error"] = pick(rng, {"message": "bad"}, None)
    return {k: v for k, v in body.items() if v is not None or rng.random() < 0.5}


def function_call(rng, i):
    """A function call item (in a request's input or a response's output), now and then of another shape."""
    return {"type": "function_call", "id": f"fc_{i}", "call_id": var(rng, [f"call_{i}"], [None, 7]), "name": "lookup_order",
            "arguments": var(rng, [json.dumps({"order_id": f"A-{i}"}), "{}", json.dumps({"q": "café \"x\""})],
                             [{"order_id": 1}, "tab\u0001", None]), "status": "completed"}


def responses_pair(rng, i):
    items = var(rng, [sentence(rng), [
        {"role": "user", "content": pick(rng, sentence(rng), [{"type": "input_text", "text": sentence(rng)}], '{"ticket": 1}',
                                         [{"type": "input_text", "text": var(rng, ['["a", "b"]'], [3, {"a": 1}])}],
                                         [{"type": "input_image", "image_url": "https://x/y.png"}], None)},
        {"type": "message", "role": "developer", "content": "Be brief."}]],
        ["[{\"role\": \"user\", \"content\": \"encoded\"}]", "  [spaced", "\n[x", ["a string item"], [{"type": "item_reference", "id": "x"}]])
    if isinstance(items, list) and rng.random() < 0.3:  # items Python skips: reasoning passed back, built-in tool calls
        items.insert(rng.randrange(len(items) + 1), var(rng, [
            {"type": "reasoning", "id": f"rs_{i}", "summary": [], "encrypted_content": "gAAAA"},
            {"type": "reasoning", "id": f"rs_{i}", "summary": [{"type": "summary_text", "text": "thought"}]},
            {"type": "web_search_call", "id": f"ws_{i}", "status": "completed", "action": {"type": "search", "query": "q"}}],
            [{"type": "reasoning", "content": {"text": "x"}}, {"type": 5, "role": "user", "content": "typed oddly"},
             {"type": "message", "content": "no role"}, {"type": "custom", "text": 5}]))
    if isinstance(items, list) and rng.random() < 0.35:  # an agent's turn: a function call and what it returned
        items += [function_call(rng, i), {"type": "function_call_output", "call_id": f"call_{i}",
                                          "output": var(rng, [json.dumps({"eta": "Monday"}), "done", ""], [None, [{"type": "input_text", "text": "x"}], 5])}]
    request = {"model": "gpt-5.4-nano", "input": items}
    if rng.random() < 0.6:
        request["instructions"] = var(rng, ["You are terse.", ""], [[{"role": "system", "content": "x"}]])
    if rng.random() < 0.4:
        request["temperature"] = 0.1
    output = [{"type": "reasoning", "summary": []}] if rng.random() < 0.3 else []
    answer = var(rng, [sentence(rng), '{"label": "refund"}'], [5, {"a": 1}])
    output.append(var(rng, [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": answer}]},
                            {"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]}],
                      [{"type": "function_call", "name": "lookup", "arguments": "{\"q\": 1}"},
                       {"type": "message", "role": "assistant", "content": "a plain string"}]))
    if rng.random() < 0.3:  # the answer is a function call (alone, or twice), as agents' answers are
        output = [o for o in output if o["type"] != "message"] + [function_call(rng, i)] * pick(rng, 1, 2)
        if rng.random() < 0.05:
            output.append({"type": "custom_tool_call", "name": "run", "input": "ls"})
    response = {"id": f"resp_{i}", "object": "response", "created_at": pick(rng, 1746352800, None), "model": "gpt-5.4-nano-2026-03-05",
                "status": var(rng, ["completed", "incomplete"], ["failed", "weird"]), "output": output,
                "usage": {"input_tokens": tokens(rng), "output_tokens": tokens(rng), "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens_details": {"reasoning_tokens": pick(rng, 10, None)}},
                "temperature": 1.0, "tools": [], "tool_choice": "auto", "text": {"format": {"type": "text"}},
                "instructions": pick(rng, None, "You are terse."), "metadata": pick(rng, {}, {"k": "v"}), "user": pick(rng, None, "u")}
    return request, response


def tool_use(rng, i):
    """A tool call block, now and then with an input Python would write otherwise (a float, an escaped control)."""
    return {"type": "tool_use", "id": var(rng, [f"toolu_{i}"], [None]), "name": "lookup_order",
            "input": var(rng, [{"order_id": f"A-{i}", "n": [1, 2], "ok": True, "note": None}, {}, {"q": "café, \"x\": y"}],
                         [{"price": 1.5}, {"t": "a\u0001b"}, None, "not an object", {"z": -0.0}])}


def tool_result(rng, i):
    return {"type": "tool_result", "tool_use_id": f"toolu_{i}",
            "content": var(rng, [json.dumps({"status": "shipped"}), [{"type": "text", "text": "shipped"}], "", None],
                           [[{"type": "text", "text": "a"}, {"type": "image", "source": {"type": "url", "url": "https://x"}}],
                            {"type": "text", "text": "x"}, [{"type": "document"}], 5])}


def anthropic_pair(rng, i):
    def blocks():
        url_image = {"type": "image", "source": {"type": "url", "url": "https://x/cat.png"}}
        data_image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
        pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}}
        return var(rng, [sentence(rng), [{"type": "text", "text": sentence(rng)}], None, [{"type": "text", "text": '{"ticket": 1}'}],
                         [url_image, {"type": "text", "text": sentence(rng)}], [data_image], [{"type": "text", "text": "a"}, url_image, data_image],
                         [pdf, {"type": "text", "text": sentence(rng)}], [{"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"},
                                                                          "title": "A", "citations": {"enabled": True}}, data_image]],
                   [[{"type": "image", "source": {"type": "file", "file_id": "f1"}}], [{"type": "image", "source": {"type": "base64", "data": "x"}}],
                    [{"type": "image", "source": "https://x"}],
                    [{"type": "text", "text": sentence(rng)}, {"type": "image", "source": {"type": "url", "url": "https://x"}}],
                    [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}], [{"type": "text", "text": 5}],
                    [{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "a plain-text document"}}],
                    [{"type": "document", "source": "a.pdf"}, {"type": "text", "text": "odd source"}]])
    request = {"model": "claude-3-5-haiku-20241022", "max_tokens": 512,
               "messages": [{"role": "user", "content": blocks()}, *([{"role": "assistant", "content": blocks()}] if rng.random() < 0.3 else [])]}
    if rng.random() < 0.35:  # an agent's turn: the assistant called a tool, the user turn carries its result
        request["messages"] += [{"role": "assistant", "content": [*([{"type": "text", "text": "Let me look."}] if rng.random() < 0.5 else []),
                                                                   tool_use(rng, i)]},
                                {"role": "user", "content": [tool_result(rng, i), *([{"type": "text", "text": sentence(rng)}] if rng.random() < 0.3 else [])]}]
    if rng.random() < 0.7:
        request["system"] = var(rng, ["You label tickets.", [{"type": "text", "text": "You label.", "cache_control": {"type": "ephemeral"}}], ""],
                                ["[not blocks]", "  [spaced", "\t[x"])
    if rng.random() < 0.3:
        request["metadata"] = {"user_id": var(rng, ["u-5"], [5])}
    content = var(rng, [[{"type": "text", "text": var(rng, [sentence(rng), '{"label": "refund"}', "true"], [7, ["x"]])}],
                        [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "ok"}],
                        [tool_use(rng, i)], [{"type": "thinking", "thinking": "hmm"}, tool_use(rng, i), tool_use(rng, i + 1)]],
                  [[{"type": "tool_use", "id": "t", "name": "f", "input": {}}], []])
    usage = {"input_tokens": tokens(rng), "output_tokens": tokens(rng)}
    if rng.random() < 0.5:
        usage.update(cache_read_input_tokens=pick(rng, 0, 2048), cache_creation_input_tokens=pick(rng, 0, 512, None))
        if rng.random() < 0.5:  # writes split by how long they are kept (cache_control ttl 5m / 1h)
            usage["cache_creation"] = var(rng, [{"ephemeral_5m_input_tokens": 256, "ephemeral_1h_input_tokens": 256},
                                                {"ephemeral_5m_input_tokens": 512, "ephemeral_1h_input_tokens": 0}],
                                          [{"ephemeral_1h_input_tokens": "256"}, {"ephemeral_1h_input_tokens": 2.5}, [], None])
    response = {"id": f"msg_{i}", "type": var(rng, ["message"], ["error"]), "role": "assistant", "model": "claude-3-5-haiku-20241022",
                "content": content, "stop_reason": pick(rng, "end_turn", "refusal"), "usage": usage}
    return request, response


def error_body(rng):
    """What an API answers when the call fails, now and then of a shape Python reads otherwise."""
    return var(rng, [{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
                     {"error": "upstream timeout"}, {"error": {"message": "Bad gateway"}, "request_id": "r1"}],
               [{"error": ""}, {"error": None, "detail": "x"}, {"error": 5}, {"error": {"message": "x"}, "choices": None, "usage": {"prompt_tokens": 5}, "created": 1746352800},
                {"error": {"message": "x"}, "type": "error"}, {"error": {"message": "x"}, "object": "response"}])


def anthropic_error_body(rng):
    """Anthropic's error body (overloaded, rate limited), now and then of a shape Python reads otherwise."""
    return var(rng, [{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
                     {"type": "error", "error": {"type": "rate_limit_error", "message": "Too many"}, "request_id": "req_1"}],
               [{"type": "error", "error": None, "choices": None}, {"type": "error", "content": [{"type": "text", "text": "x"}]},
                {"type": "error", "id": "msg_1"}])


def error_request(rng):
    """A chat request as a failed call logs it; its conversation is hashed into the id, so it carries what Python
    and DuckDB write differently (non-ASCII text, escapes, numbers)."""
    request = chat_request(rng)
    if isinstance(request, dict) and rng.random() < 0.3:
        request["messages"] = request["messages"] + [var(rng, [{"role": "user", "content": "café ✓ naïve"}, {"role": "user", "content": "a/b \"q\""}],
                                                         [{"role": "user", "content": "tab\u0001"}, {"role": "user", "content": "x", "weight": 0.5},
                                                          {"role": "user", "content": "x", "n": -0}])]
    return request


def stream_chunks(rng, i):
    """A streamed answer logged as its list of chunks (stream_options.include_usage puts usage in the last), now and
    then of a shape Python folds otherwise."""
    base = {"id": f"chatcmpl-s{i}", "object": "chat.completion.chunk", "created": 1746352800 + i, "model": "gpt-4o-mini-2024-07-18"}
    words = sentence(rng).split()
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}], "usage": None}]
    kind = pick(rng, "content", "content", "refusal", "empty")
    for word in words if kind != "empty" else []:
        chunks.append({**base, "choices": [{"index": 0, "delta": {kind: word + " "}, "finish_reason": None}], "usage": None})
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": pick(rng, "stop", "length", "content_filter")}], "usage": None})
    if rng.random() < 0.7:
        chunks.append({**base, "choices": [], "usage": var(rng, [{"prompt_tokens": tokens(rng), "completion_tokens": tokens(rng),
                                                                  "prompt_tokens_details": {"cached_tokens": 0}}],
                                                            [{}, 5, {"prompt_tokens": "12"}, {"prompt_tokens": 1.5}])})
    if rng.random() < 0.3:
        chunks = pick(rng, *[
            [*chunks, {**base, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}]}}]}],
            [*chunks, {**base, "choices": [{"index": 1, "delta": {"content": "second"}}]}],
            [*chunks, "a string chunk"], [{**chunks[0], "choices": {"a": 1}}, *chunks[1:]],
            [{**chunks[0], "choices": [{"index": 0, "delta": "hi"}]}, *chunks[1:]], [{**chunks[0], "type": "message_start"}, *chunks[1:]],
            [{k: v for k, v in c.items() if k != "id"} for c in chunks], [{**chunks[0], "id": None}, *chunks[1:]],
            [{**chunks[0], "created": "2025-05-04T10:00:00Z"}, *chunks[1:]], [{**chunks[0], "choices": [{"delta": {"content": "x"}}]}, *chunks[1:]],
            [*chunks, {**base, "choices": [{"index": 0, "delta": {"content": 7}}]}], [],
            [{**chunks[0], "id": f"chatcmpl-first{i}", "model": "gpt-4o-mini"}, *chunks[1:]],
            [{**chunks[0], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}, *chunks[1:]]])
    return chunks


def a_call(rng, i, kind: str) -> dict:
    """One logged call of ``kind``: a chat, Responses or Messages pair, or a bare ChatCompletion."""
    if kind == "bare chat":
        return chat_completion(rng, i)
    if kind == "chat":
        return {"request": chat_request(rng), "response": chat_completion(rng, i)}
    request, response = responses_pair(rng, i) if kind == "responses" else anthropic_pair(rng, i)
    return {"request": request, "response": response}


def app_line(rng, i):
    kind = rng.randrange(10)
    if kind == 9:  # a request logged without its response, at the top of the line
        request = error_request(rng)
        line = dict(request) if isinstance(request, dict) else {"request": request}
        if rng.random() < 0.1:
            line[pick(rng, "choices", "object", "model")] = pick(rng, None, "chat.completion", "")
    elif kind == 8:
        line = {"request": chat_request(rng), "response": stream_chunks(rng, i)}
    elif kind == 7 and rng.random() < 0.4:
        line = {"request": anthropic_pair(rng, i)[0], "response": anthropic_error_body(rng)}
    elif kind == 7 and rng.random() < 0.4:
        line = {"request": responses_pair(rng, i)[0], "response": error_body(rng)}
    elif kind == 7:
        line = {"request": error_request(rng), "response": error_body(rng)}
        if rng.random() < 0.5:
            line["status_code"] = pick(rng, 429, 500, 503)
    elif kind in (0, 1):
        line = a_call(rng, i, "chat")
    elif kind == 2:
        line = a_call(rng, i, "responses")
    elif kind == 3:
        line = a_call(rng, i, "anthropic")
    elif kind == 4:
        line = a_call(rng, i, "bare chat")
    elif kind == 5:
        line = responses_pair(rng, i)[1]
    else:
        line = anthropic_pair(rng, i)[1]
    line.update(envelope(rng))
    if rng.random() < 0.05:
        line["model"] = var(rng, ["top-level-model"], [3])
    text = json.dumps(line)
    return var(rng, [text], ["{broken", json.dumps([line]), json.dumps(text)])


def aliased_pair_line(rng, i, pair):
    """A pair logged under other keys (``pair``); now and then a line that also has a key ``pair_sides`` takes
    first, a Responses request under ``input`` (not a pair there), or a bare call."""
    kind = rng.randrange(3)
    if kind == 0:
        request, response = chat_request(rng), chat_completion(rng, i)
    elif kind == 1:
        request, response = responses_pair(rng, i)
    else:
        request, response = anthropic_pair(rng, i)
    line = {pair[0]: request, pair[1]: response, **envelope(rng)}
    odd = rng.random()
    if odd < 0.04:
        line["request"] = chat_request(rng)  # the usual key wins in pair_sides
    elif odd < 0.08:
        line["metadata"] = {"request": "nested, same name"}
    elif odd < 0.11:
        line = chat_completion(rng, i)
        if rng.random() < 0.5:  # a bare completion that also names its request under the pair's key
            line[pair[0]] = request
    elif odd < 0.15:  # both sides written as JSON text (Azure API Management's bodies): Python decodes them
        line.update({pair[0]: json.dumps(request), pair[1]: json.dumps(response)})
    text = json.dumps(line)
    return var(rng, [text], ["{broken", json.dumps(text)])


def batch_line(rng, i):
    body = chat_completion(rng, i) if rng.random() < 0.7 else responses_pair(rng, i)[1]
    line = {"id": var(rng, [f"batch_req_{i}"], [None]), "custom_id": var(rng, [f"task-{i}"], [7]),
            "response": {"status_code": var(rng, [200], [500]), "request_id": f"req_{i}", "body": body},
            "error": var(rng, [None], [{"code": "x"}])}
    return json.dumps(line)


def both_routes(tmp_path, path, monkeypatch, fmt_name):
    fmt = load_all()[fmt_name]
    original = fmt.parse_line
    to_python = []

    def spy(number, line, ctx=None, src=None):
        to_python.append(number)
        return original(number, line, ctx, src)

    monkeypatch.setattr(fmt, "parse_line", spy)
    stored = {}
    for fast in (True, False):
        con = connect(str(tmp_path / f"{fast}.duckdb"))
        summary = ingest_paths(con, [str(path)], fast=fast, fmt=fmt_name)  # parity, not detection, is tested here
        reported = [f.pop("lines_to_python") for f in summary["files"]]  # the one figure that differs by route
        stored[fast] = (summary, dicts(con, "select * exclude (ingested_at) from requests order by id"),
                        dicts(con, "select source_line, reason from rejects order by source_line, reason"))
        con.close()
        if fast:
            sql_share = 1 - len(set(to_python)) / sum(1 for line in path.read_text().splitlines() if line.strip())
            assert reported == [len(set(to_python))]  # --json counts the lines the Python parser read
        else:
            assert reported == [None]
    return stored, sql_share


def same_on_both_routes(tmp_path, monkeypatch, name: str, lines: list[str], fmt: str = "openai") -> tuple[tuple, float]:
    """These JSON lines ingested on each route: the same rows, rejects and summary; ((summary, rows, rejects) as
    stored, the share of the lines the SQL route took)."""
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    stored, sql_share = both_routes(tmp_path, path, monkeypatch, fmt)
    assert first_difference(stored[True][1], stored[False][1]) is None
    assert stored[True][2] == stored[False][2] and stored[True][0] == stored[False][0]
    return stored[True], sql_share


def rows_when_sql_takes_every_line(tmp_path, monkeypatch, name: str, lines: list[dict]) -> dict:
    """Both routes over these lines: the same rows, every line taken by SQL; the rows by source_id."""
    path = tmp_path / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    stored, sql_share = both_routes(tmp_path, path, monkeypatch, "openai")
    assert first_difference(stored[True][1], stored[False][1]) is None
    assert sql_share == 1.0
    return {r["source_id"]: r for r in stored[True][1]}


def stored_by_route(tmp_path, name: str, lines: list[dict]) -> tuple[dict, dict]:
    """These lines ingested on each route, whichever part of the file either takes: (summary, rows) by ``fast``."""
    path = tmp_path / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    summaries, stored = {}, {}
    for fast in (True, False):
        con = connect(str(tmp_path / f"{fast}.duckdb"))
        summaries[fast] = ingest_paths(con, [str(path)], fast=fast)
        stored[fast] = dicts(con, "select * exclude (ingested_at) from requests order by id")
        con.close()
    return summaries, stored


def first_difference(a: list[dict], b: list[dict]):
    for x, y in zip(a, b, strict=False):
        if x != y:
            return {k: (x[k], y.get(k)) for k in x if x[k] != y.get(k)}, x["source_line"]
    return None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_app_log_lines_of_every_family_store_the_same_rows_on_both_routes(tmp_path, monkeypatch, seed):
    monkeypatch.setattr(tuning, "FEW_LINES", 0)  # leftover lines go through the careful SQL way too
    rng = random.Random(seed)
    (_, rows, rejects), sql_share = same_on_both_routes(tmp_path, monkeypatch, "calls.jsonl", [app_line(rng, i) for i in range(700)])
    # About half the generated lines carry an odd value somewhere (Python's), so the share varies around 0.45-0.5 by seed.
    assert len(rows) > 400 and sql_share > 0.4, sql_share
    # Stated sample rates land the same way on both routes: fractions as given, whole numbers as 1 in N.
    assert {r["sample_rate"] for r in rows} >= {0.02, 0.5, 1.0, 0.1}
    # Anthropic cache writes kept an hour are counted apart on both routes (they are priced higher).
    assert {r["cache_write_1h_tokens"] for r in rows} >= {256, 0, None}
    assert any("sample_rate" in reason for _, reason in (tuple(x.values()) for x in rejects))


@pytest.mark.parametrize("pair", [("req", "resp"), ("input", "output"), ("request_body", "response_body"),
                                  ("inputs", "outputs"), ("request", "completion"), ("kwargs", "request_response"),
                                  ("requestBody", "responseBody")])
def test_pairs_under_other_keys_store_the_same_rows_on_both_routes(tmp_path, monkeypatch, pair):
    """Apps name the two sides of a logged call in many ways; SQL reads each as ``pair_sides`` does, and takes most
    lines (it took none before)."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    rng = random.Random(sum(map(ord, "".join(pair))))
    (_, rows, rejects), sql_share = same_on_both_routes(tmp_path, monkeypatch, "pairs.jsonl", [aliased_pair_line(rng, i, pair) for i in range(500)])
    # A Responses request under ``input`` is no pair for pair_sides (a third of the lines): Python reads those.
    assert len(rows) > 400 and sql_share > (0.2 if pair[0] == "input" else 0.4), sql_share


@pytest.mark.parametrize("seed", [4, 5])
def test_batch_output_lines_store_the_same_rows_on_both_routes(tmp_path, monkeypatch, seed):
    rng = random.Random(seed)
    (_, rows, rejects), sql_share = same_on_both_routes(tmp_path, monkeypatch, "batch_output.jsonl", [batch_line(rng, i) for i in range(400)], "openai-batch-output")
    assert len(rows) > 300 and sql_share > 0.5, sql_share


def side_as_text(rng, side) -> str:
    """A side written as JSON text the way apps do it (``json.dumps(body)``), now and then in a way SQL leaves to
    Python: space before the brace, text encoded twice, a list, JSON text that is not valid, a key repeated."""
    text = json.dumps(side, ensure_ascii=rng.random() < 0.5)
    return var(rng, [text], [" " + text, text + "\n", json.dumps(text), "{broken", json.dumps([side]),
                             text.replace("{", '{"dup": 1, "dup": 2, ', 1), text.replace("}", ', "n": NaN}', 1),
                             # a key repeated (the first value counts, as in a line), a comma before a closing brace
                             # and nesting past the depth limit (DuckDB reads both; Python's json refuses them)
                             text.replace('"model": ', '"model": "repeated", "model": ', 1),
                             text.replace('"prompt_tokens": ', '"prompt_tokens": 7, "prompt_tokens": ', 1), text[:-1] + ",}",
                             text[:-1] + ', "x": ' + "[" * 201 + "]" * 201 + "}"])


def text_sides_line(rng, i):
    """A call whose request and response (or one of them) are logged as JSON text, beside an envelope."""
    kind = rng.randrange(6)
    if kind < 3:
        line = a_call(rng, i, ("chat", "responses", "anthropic")[kind])
    elif kind == 3:
        line = {"request": chat_request(rng), "response": stream_chunks(rng, i)}
    elif kind == 4:
        line = {"request": error_request(rng), "response": error_body(rng)}
    else:
        line = {"request": anthropic_pair(rng, i)[0], "response": anthropic_error_body(rng)}
    for key in pick(rng, ("request", "response"), ("request", "response"), ("request",), ("response",)):
        line[key] = side_as_text(rng, line[key])
    line.update(envelope(rng))
    text = json.dumps(line)
    return var(rng, [text], ["{broken", json.dumps(text), text.replace('"request"', '"request", "request"', 1)])


@pytest.mark.parametrize("seed", [8, 9])
def test_sides_written_as_json_text_store_the_same_rows_on_both_routes(tmp_path, monkeypatch, seed):
    """An app that logs ``json.dumps(request)`` and ``json.dumps(response)``: SQL reads the objects the text holds, as
    Python decodes them (it sent every such line to Python before)."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    rng = random.Random(seed)
    (_, rows, rejects), sql_share = same_on_both_routes(tmp_path, monkeypatch, "text_sides.jsonl", [text_sides_line(rng, i) for i in range(600)])
    assert len(rows) > 450 and sql_share > 0.5, sql_share


def wrapped_line(rng, i, wrapper):
    """An app's call as a log store or logger keeps it: under ``wrapper`` beside a log store's own keys and a time, or
    an envelope of its own (both the call and its wrapper may state a time, cost, latency or user); now and then beside
    keys that are Python's (a request id, a message that is JSON), or the call as JSON text, or two wrappers."""
    call = a_call(rng, i, pick(rng, "chat", "responses", "anthropic", "bare chat"))
    if rng.random() < 0.3:
        call.update(envelope(rng))
    if rng.random() < 0.08:  # what Python holds to be no call under a wrapper, or an AutoGen event's half
        call[pick(rng, "custom_id", "num_requests", "type")] = pick(rng, "b-1", 3, "LLMStreamEnd")
    line: dict = {wrapper: var(rng, [call], [json.dumps(call), [call], "plain"])}
    for key in rng.sample(["severity", "level", "insertId", "logName", "labels", "resource", "trace", "service"], 3):
        line[key] = {"labels": {"app": "bot"}, "resource": {"type": "cloud_run_revision"}}.get(key, f"{key}-{i % 7}")
    if rng.random() < 0.7:
        line[pick(rng, "timestamp", "time", "ts", "receiveTimestamp", "created_at")] = var(
            rng, [timestamp(rng)], [{"repr": "x", "timestamp": 1746352800.25}, ["2025-05-04T10:00:00Z"]])
    if rng.random() < 0.3:
        line[pick(rng, "message", "msg", "event")] = var(rng, ["llm call finished", ""],
                                                         [json.dumps(call), "\f" + json.dumps(call), {"text": "x"}, 5])
    if rng.random() < 0.5:  # an envelope beside the wrapper too (a cost, latency, user, tags, status), read after the call's
        line.update(envelope(rng))
    if rng.random() < 0.05:  # keys beside the wrapper that are Python's
        line[pick(rng, "request_id", "model", "status")] = var(rng, ["u-1", 0.5], [None])
    if rng.random() < 0.04:
        line[pick(rng, "payload", "extra", "data") if wrapper != "data" else "payload"] = {"note": "second wrapper"}
    return json.dumps(line)


@pytest.mark.parametrize("wrapper", ["jsonPayload", "data", "llm", "attributes"])
def test_calls_under_a_wrapper_key_store_the_same_rows_on_both_routes(tmp_path, monkeypatch, wrapper):
    """Cloud Logging's `jsonPayload`, an app's own `data` or `llm`, Datadog's `attributes`: every such line went to the
    Python parser (a Cloud Logging export of 100,000 calls 6.9 s, the same calls unwrapped 1.5 s). SQL now reads the
    call under the wrapper when the keys beside it are a log store's own or an envelope's (read after the call's own:
    a cost or latency there wins, a time or user fills); lines with other keys beside it stay Python's. Both routes
    store the same rows."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    rng = random.Random(sum(map(ord, wrapper)))
    (_, rows, rejects), sql_share = same_on_both_routes(tmp_path, monkeypatch, "wrapped.jsonl", [wrapped_line(rng, i, wrapper) for i in range(600)])
    assert len(rows) > 350 and sql_share > 0.3, sql_share
    assert sum(r["created_at"] is not None for r in rows) > 300
    assert sum(r["cost_source"] == "log" for r in rows) > 60 and sum(r["user_id"] is not None for r in rows) > 60


def test_an_envelope_beside_the_wrapper_is_read_after_the_calls_own_on_the_sql_route(tmp_path, monkeypatch):
    """A cost, latency, user, time or HTTP status logged beside the wrapper (``{"ts", "cost_usd", "user", "data":
    {call}}``): SQL reads every such line (all were Python's), as ``wrapped_record`` does: a cost or latency there wins
    over the call's own, a user or time fills the call's when it has none, a failing status marks the call failed."""
    lines = []
    for i in range(40):
        call: dict = {"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"where is order {i}"}]},
                      "response": {"id": f"chatcmpl-{i}", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
                                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "on its way"},
                                                "finish_reason": "stop"}],
                                   "usage": {"prompt_tokens": 20, "completion_tokens": 4}}}
        if i % 2:
            call.update({"cost_usd": 0.5, "latency_ms": 10, "user": "inner"})
        lines.append({"ts": "2025-05-04T10:00:00Z", "cost_usd": "0.25", "latency_ms": 812, "user_id": f"u-{i}",
                      "status_code": 500 if i == 3 else 200, "level": "info", "data": call})
    rows = rows_when_sql_takes_every_line(tmp_path, monkeypatch, "wrapped_envelope.jsonl", lines)
    first, odd = rows["chatcmpl-0"], rows["chatcmpl-1"]
    assert (first["cost_usd"], first["cost_source"], first["duration_ms"], first["user_id"]) == (0.25, "log", 812.0, "u-0")
    assert (odd["cost_usd"], odd["duration_ms"], odd["user_id"]) == (0.25, 812.0, "inner")
    assert str(first["created_at"]) == "2025-05-04 10:00:00"
    assert rows["chatcmpl-3"]["status"] == "error" and first["status"] == "ok"


def plain_call(i: int, **envelope_keys) -> dict:
    """A chat pair without a time of its own (a time beside it fills it), with these envelope keys."""
    return {"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"where is order {i}"}]},
            "response": {"id": f"chatcmpl-{i}", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": "on its way"}, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 20, "completion_tokens": 4}}, **envelope_keys}


def test_envelope_keys_first_logged_late_or_with_escaped_names_are_read_on_both_routes(tmp_path, monkeypatch):
    """A cost or user an app starts logging after the first lines the statement is built from, at the top of the call
    (where ``user`` and ``cost`` also name a request's and a usage's fields) or beside a wrapper, and keys written
    with escapes (``"cost\\u005fusd"``): each route stores the logged cost and user (SQL ignored them before)."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    monkeypatch.setattr(tuning, "PROBE_LINES", 20)
    late = {"cost": 0.25, "user": "bob", "total_cost": 0.5}
    lines = [json.dumps(plain_call(i, ts="2025-05-04T10:00:00Z")) for i in range(40)]
    lines += [json.dumps(plain_call(i, ts="2025-05-04T10:00:00Z", **{k: v for k, v in late.items() if k != name}))
              for i, name in zip(range(40, 100), itertools.cycle(late))]
    lines += [json.dumps({"level": "info", "ts": "2025-05-04T10:00:00Z", "data": plain_call(i)}) for i in range(100, 140)]
    lines += [json.dumps({"level": "info", "ts": "2025-05-04T10:00:00Z", "cost": 0.25, "user": "bob", "data": plain_call(i)})
              for i in range(140, 170)]
    lines += ['{"level": "info", "cost\\u005fusd": 0.25, "us\\u0065r": "bob", "t\\u0073": "2025-05-04T10:00:00Z", "data": %s}'
              % json.dumps(plain_call(i)) for i in range(170, 200)]
    (_, rows, _), _ = same_on_both_routes(tmp_path, monkeypatch, "late.jsonl", lines)
    by_id = {r["source_id"]: r for r in rows}
    assert by_id["chatcmpl-41"]["cost_usd"] == 0.25 and by_id["chatcmpl-41"]["cost_source"] == "log"
    assert by_id["chatcmpl-40"]["user_id"] == "bob" and by_id["chatcmpl-150"]["user_id"] == "bob"
    assert by_id["chatcmpl-150"]["cost_usd"] == 0.25 and by_id["chatcmpl-180"]["cost_usd"] == 0.25
    assert by_id["chatcmpl-180"]["user_id"] == "bob" and by_id["chatcmpl-180"]["created_at"] is not None


def test_a_duration_past_a_doubles_range_is_unknown_on_both_routes(tmp_path, monkeypatch):
    """``"latency_ms": 1e400`` reads as infinity: Python stores the duration as unknown, and so does the SQL route
    (it stored infinity before), at the top of the call and beside a wrapper."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    lines = [json.dumps(plain_call(i, ts=1746352800 + i, latency_ms=812)) for i in range(30)]
    lines += [json.dumps(plain_call(i, ts=1746352800 + i, latency_ms=0)).replace('"latency_ms": 0', '"latency_ms": 1e400')
              for i in range(30, 40)]
    lines += [json.dumps({"level": "info", "latency_s": 0, "data": plain_call(i, ts=1746352800 + i)}).replace(
              '"latency_s": 0', '"latency_s": 1e306') for i in range(40, 50)]
    (_, rows, _), _ = same_on_both_routes(tmp_path, monkeypatch, "inf.jsonl", lines)
    durations = {r["source_id"]: r["duration_ms"] for r in rows}
    assert durations["chatcmpl-1"] == 812.0 and durations["chatcmpl-31"] is None and durations["chatcmpl-41"] is None


def test_a_model_the_catalog_lacks_is_not_unknown_when_every_call_of_it_logs_its_cost(tmp_path, monkeypatch):
    """Calls of a model the catalog has no price for, each with its logged cost: nothing is left to price, so neither
    route lists the model as unknown (the SQL route listed it)."""
    lines = [json.dumps(plain_call(i, ts=1746352800 + i, cost_usd=0.01)).replace("gpt-4o-mini-2024-07-18", "house-model-7")
             for i in range(40)]
    (summary, rows, _), sql_share = same_on_both_routes(tmp_path, monkeypatch, "house.jsonl", lines)
    assert sql_share == 1.0 and summary["unknown_models"] == [] and {r["cost_source"] for r in rows} == {"log"}


def test_a_line_with_a_comma_before_a_closing_bracket_is_a_reject_on_both_routes(tmp_path, monkeypatch):
    """``{"temperature": 0.2,}`` is not JSON: Python rejects the line, and the SQL route, whose parser reads past the
    comma, leaves it to Python (it stored the call before)."""
    lines = [json.dumps(plain_call(i, ts=1746352800 + i)) for i in range(40)]
    lines = [line.replace('"finish_reason": "stop"}', '"finish_reason": "stop", }') if i % 4 == 1 else
             line.replace('"completion_tokens": 4}', '"completion_tokens": 4,\t}') if i % 4 == 3 else line
             for i, line in enumerate(lines)]
    (summary, rows, rejects), _ = same_on_both_routes(tmp_path, monkeypatch, "commas.jsonl", lines)
    assert len(rows) == 20 and len(rejects) == 20 and all("not valid JSON" in r["reason"] for r in rejects)


def test_a_pair_beside_a_gateways_model_name_is_billed_by_the_gateway_on_both_routes(tmp_path, monkeypatch):
    """LiteLLM logs the model it was asked for, ``openrouter/<vendor>/<model>``, at the top of the line: the call is
    OpenRouter's on both routes (the SQL route stored it as OpenAI's)."""
    lines = [json.dumps({"model": "openrouter/openai/gpt-4o-mini" if i % 2 else "gpt-4o-mini", **plain_call(i, ts=1746352800 + i)})
             for i in range(40)]
    (_, rows, _), _ = same_on_both_routes(tmp_path, monkeypatch, "gateway.jsonl", lines)
    assert {r["source_id"]: r["provider"] for r in rows}["chatcmpl-1"] == "openrouter"
    assert {r["provider"] for r in rows} == {"openrouter", "openai"}


def batch_result_line(rng, i):
    """A Message Batches result: mostly succeeded (the message varied as Claude answers vary), some errored, canceled
    or expired, now and then an id or message Python alone reads."""
    kind = var(rng, ["succeeded", "succeeded", "succeeded"], ["errored", "canceled", "expired"])
    result: dict = {"type": kind}
    if kind == "succeeded":
        message = anthropic_pair(rng, i)[1]
        if isinstance(message, dict) and isinstance(message.get("usage"), dict) and rng.random() < 0.5:
            message["usage"]["service_tier"] = "batch"
        result["message"] = var(rng, [message], [json.dumps(message), None])
    elif kind == "errored":
        result["error"] = {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens too large"}}
    line = {"custom_id": var(rng, [f"req-{i}", f"req-{i % 50}"], [7, "", None]), "result": result}
    text = json.dumps(line)
    return var(rng, [text], ["{broken", json.dumps(text)])


@pytest.mark.parametrize("seed", [6, 7])
def test_anthropic_batch_results_store_the_same_rows_on_both_routes(tmp_path, monkeypatch, seed):
    """Message Batches results went to the Python parser line by line (about twice the time of the SQL route on
    12,000 results); the succeeded ones are SQL's now, stored as Python stores them, repeats and failures included."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    rng = random.Random(seed)
    path = tmp_path / "results.jsonl"
    lines = [batch_result_line(rng, i) for i in range(500)]
    lines += rng.sample(lines, 30)  # a results file downloaded twice and joined: repeats
    path.write_text("\n".join(lines) + "\n")
    stored, sql_share = both_routes(tmp_path, path, monkeypatch, "anthropic-batch-results")
    assert first_difference(stored[True][1], stored[False][1]) is None
    assert stored[True][2] == stored[False][2] and stored[True][0] == stored[False][0]
    rows = stored[True][1]
    assert {r["status"] for r in rows} >= {"ok", "error", "canceled", "expired"} and all(r["is_batch"] for r in rows)
    assert stored[True][0]["rows_duplicate"] > 10
    assert len(rows) > 300 and sql_share > 0.4, sql_share


def test_an_agents_tool_calls_and_tool_results_take_the_sql_route(tmp_path, monkeypatch):
    """Agent traffic: requests carry the assistant's earlier tool calls and the tools' JSON answers, answers are tool
    calls. SQL takes these lines (Python took every one before: a tool result reads like JSON, a tool call had to be
    serialised) and stores what Python stores: the calls as json.dumps writes them."""
    lines = []
    for i in range(300):
        call = {"id": f"call_{i}", "type": "function", "function": {"name": "lookup_order", "arguments": json.dumps({"order_id": f"A-{i}"})}}
        messages = [{"role": "system", "content": "You are a support agent."}, {"role": "user", "content": f"Where is order A-{i}?"}]
        if i % 2:
            messages += [{"role": "assistant", "content": None, "tool_calls": [call]},
                         {"role": "tool", "tool_call_id": f"call_{i}", "content": json.dumps({"status": "shipped", "eta": "Monday"})}]
            message = {"role": "assistant", "content": f"Order A-{i} ships Monday.", "refusal": None}
        else:
            message = {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}
        lines.append({"timestamp": 1746352800 + i, "request": {"model": "gpt-4o-mini", "messages": messages, "tools": [
            {"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}]},
            "response": {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1746352800 + i, "model": "gpt-4o-mini",
                         "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if i % 2 == 0 else "stop"}],
                         "usage": {"prompt_tokens": 120, "completion_tokens": 18}}})
    by_id = rows_when_sql_takes_every_line(tmp_path, monkeypatch, "agent.jsonl", lines)
    assert by_id["chatcmpl-0"]["response_text"] == json.dumps([lines[0]["response"]["choices"][0]["message"]["tool_calls"][0]])
    assert by_id["chatcmpl-0"]["response_text"].startswith('[{"id": "call_0", "type": "function", "function": {"name": ')
    assert by_id["chatcmpl-1"]["prompt_text"] == "Where is order A-1?"
    assert json.loads(by_id["chatcmpl-1"]["messages_json"])[3]["content"] == '{"status": "shipped", "eta": "Monday"}'


def test_responses_agent_turns_take_the_sql_route(tmp_path, monkeypatch):
    """Responses API agents: the input carries function calls and their outputs, the answer is a function call. SQL
    takes these lines and stores what Python stores (the calls as chat tool calls in the conversation, the answer as
    json.dumps of the calls' names and arguments)."""
    lines = []
    for i in range(200):
        call = {"type": "function_call", "id": f"fc_{i}", "call_id": f"call_{i}", "name": "lookup_order",
                "arguments": json.dumps({"order_id": f"A-{i}"}), "status": "completed"}
        items = [{"role": "user", "content": [{"type": "input_text", "text": f"Where is order A-{i}?"}]}]
        if i % 2:
            items += [call, {"type": "function_call_output", "call_id": f"call_{i}", "output": json.dumps({"eta": "Monday"})}]
            output = [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "It ships Monday."}]}]
        else:
            output = [{"type": "reasoning", "summary": []}, call]
        lines.append({"request": {"model": "gpt-5.4-nano", "instructions": "You are a support agent.", "input": items},
                      "response": {"id": f"resp_{i}", "object": "response", "created_at": 1746352800 + i, "status": "completed",
                                   "model": "gpt-5.4-nano-2026-03-05", "output": output,
                                   "usage": {"input_tokens": 200, "output_tokens": 20, "input_tokens_details": {"cached_tokens": 0},
                                             "output_tokens_details": {"reasoning_tokens": 8}}}})
    by_id = rows_when_sql_takes_every_line(tmp_path, monkeypatch, "responses_agent.jsonl", lines)
    assert by_id["resp_0"]["response_text"] == json.dumps([{"name": "lookup_order", "arguments": json.dumps({"order_id": "A-0"})}])
    conversation = json.loads(by_id["resp_1"]["messages_json"])
    assert [m["role"] for m in conversation] == ["system", "user", "assistant", "tool"]
    assert conversation[2]["tool_calls"][0]["function"] == {"name": "lookup_order", "arguments": '{"order_id": "A-1"}'}
    assert conversation[3] == {"role": "tool", "tool_call_id": "call_1", "content": '{"eta": "Monday"}'}
    assert by_id["resp_1"]["prompt_text"] == "Where is order A-1?"


def test_anthropic_tool_use_and_tool_results_take_the_sql_route(tmp_path, monkeypatch):
    """Claude agents: the conversation carries tool_use and tool_result blocks, the answer is a tool call. SQL takes
    these lines and stores what Python stores: results as tool messages, calls as chat tool calls whose arguments
    are json.dumps of the input, the answer as json.dumps of the calls' names and inputs."""
    lines = []
    for i in range(200):
        use = {"type": "tool_use", "id": f"toolu_{i}", "name": "lookup_order", "input": {"order_id": f"A-{i}", "lines": [1, 2]}}
        messages = [{"role": "user", "content": [{"type": "text", "text": f"Where is order A-{i}?"}]}]
        if i % 2:
            messages += [{"role": "assistant", "content": [{"type": "text", "text": "Let me look."}, use]},
                         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{i}",
                                                       "content": json.dumps({"status": "shipped"})}]}]
            content = [{"type": "text", "text": "It has shipped."}]
        else:
            content = [use]
        lines.append({"timestamp": "2025-05-01T10:00:00Z",
                      "request": {"model": "claude-sonnet-4-20250514", "max_tokens": 300, "system": "You are a support agent.",
                                  "tools": [{"name": "lookup_order", "input_schema": {"type": "object"}}], "messages": messages},
                      "response": {"id": f"msg_{i}", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
                                   "content": content, "stop_reason": "tool_use" if i % 2 == 0 else "end_turn",
                                   "usage": {"input_tokens": 300, "output_tokens": 40}}})
    by_id = rows_when_sql_takes_every_line(tmp_path, monkeypatch, "claude_agent.jsonl", lines)
    assert by_id["msg_0"]["response_text"] == json.dumps([{"name": "lookup_order", "input": {"order_id": "A-0", "lines": [1, 2]}}])
    conversation = json.loads(by_id["msg_1"]["messages_json"])
    assert [m["role"] for m in conversation] == ["system", "user", "assistant", "tool"]
    assert conversation[2]["content"] == "Let me look."
    assert conversation[2]["tool_calls"][0]["function"]["arguments"] == json.dumps({"order_id": "A-1", "lines": [1, 2]})
    assert conversation[3] == {"role": "tool", "tool_call_id": "toolu_1", "content": '{"status": "shipped"}'}
    assert by_id["msg_1"]["prompt_text"] == "Where is order A-1?"


def test_answers_that_are_json_take_the_sql_route(tmp_path, monkeypatch):
    """JSON mode and structured outputs: the answer is a string holding JSON (an object, a list, a number). SQL takes
    these lines (Python took every one before: as text, a string reading like JSON could not be told from JSON) and
    stores the string as Python does, for chat completions, Responses and Claude messages alike."""
    answers = ['{"label": "refund", "confidence": 0.92}', '["billing", "shipping"]', "42", 'true']
    usage = {"prompt_tokens": 50, "completion_tokens": 9}
    lines = []
    for i in range(120):
        answer = answers[i % 4]
        if i % 3 == 0:
            lines.append({"timestamp": 1746352800 + i, "request": {"model": "gpt-4o-mini", "response_format": {"type": "json_object"},
                                                                  "messages": [{"role": "user", "content": f"Label ticket {i} as JSON."}]},
                          "response": {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1746352800 + i, "model": "gpt-4o-mini",
                                       "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                                       "usage": usage}})
        elif i % 3 == 1:
            lines.append({"request": {"model": "gpt-5-mini", "input": f"Label ticket {i} as JSON."},
                          "response": {"id": f"resp_{i}", "object": "response", "created_at": 1746352800 + i, "status": "completed",
                                       "model": "gpt-5-mini-2025-08-07", "output": [
                                           {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": answer}]}],
                                       "usage": {"input_tokens": 50, "output_tokens": 9}}})
        else:
            lines.append({"timestamp": "2025-05-04T10:00:00Z", "request": {
                "model": "claude-haiku-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": f"Label ticket {i} as JSON."}]},
                "response": {"id": f"msg_{i}", "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
                             "content": [{"type": "text", "text": answer}], "usage": {"input_tokens": 50, "output_tokens": 9}}})
    by_id = rows_when_sql_takes_every_line(tmp_path, monkeypatch, "json_answers.jsonl", lines)
    assert by_id["chatcmpl-0"]["response_text"] == answers[0]
    assert by_id["resp_1"]["response_text"] == answers[1]
    assert by_id["msg_2"]["response_text"] == answers[2]
    assert by_id["chatcmpl-3"]["response_text"] == answers[3]


def test_prompts_that_are_json_in_parts_take_the_sql_route(tmp_path, monkeypatch):
    """A JSON document sent as the prompt, in a text part (chat, Claude) or as a Responses input item: SQL takes these
    lines (Python took every one before) and stores the prompt as Python does."""
    prompt = '{"ticket_id": "T-1", "body": "where is my parcel"}'
    lines = []
    for i in range(90):
        if i % 3 == 0:
            lines.append({"timestamp": 1746352800 + i, "request": {"model": "gpt-4o-mini", "messages": [
                {"role": "user", "content": [{"type": "text", "text": prompt}]}]},
                "response": {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1746352800 + i, "model": "gpt-4o-mini",
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": "Shipped."}, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 30, "completion_tokens": 2}}})
        elif i % 3 == 1:
            item = {"role": "user", "content": prompt if i % 2 else [{"type": "input_text", "text": prompt}]}
            lines.append({"request": {"model": "gpt-4.1-mini", "input": [item]},
                          "response": {"id": f"resp_{i}", "object": "response", "created_at": 1746352800 + i, "status": "completed",
                                       "model": "gpt-4.1-mini-2025-04-14", "output": [
                                           {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Shipped."}]}],
                                       "usage": {"input_tokens": 30, "output_tokens": 2}}})
        else:
            lines.append({"timestamp": "2025-05-04T10:00:00Z", "request": {
                "model": "claude-haiku-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}]},
                "response": {"id": f"msg_{i}", "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
                             "content": [{"type": "text", "text": "Shipped."}], "usage": {"input_tokens": 30, "output_tokens": 2}}})
    by_id = rows_when_sql_takes_every_line(tmp_path, monkeypatch, "json_prompts.jsonl", lines)
    assert {by_id[k]["prompt_text"] for k in ("chatcmpl-0", "resp_1", "resp_4", "msg_2")} == {prompt}


def test_claude_images_take_the_sql_route(tmp_path, monkeypatch):
    """Claude vision calls: image blocks (from a URL or base64) beside the text. SQL takes these lines (Python took every
    one before) and writes the conversation as Python does: the message as a parts list, its text then the images
    as image_url parts (base64 as a data URL)."""
    lines = []
    for i in range(60):
        image = ({"type": "image", "source": {"type": "url", "url": f"https://x/{i}.png"}} if i % 2 else
                 {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}})
        lines.append({"ts": 1746352800 + i, "request": {"model": "claude-sonnet-4-5", "max_tokens": 300, "system": "Describe images.",
                                                         "messages": [{"role": "user", "content": [image, {"type": "text", "text": f"Picture {i}?"}]}]},
                      "response": {"id": f"msg_{i}", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                                   "content": [{"type": "text", "text": "A cat."}], "usage": {"input_tokens": 900, "output_tokens": 5}}})
    by_id = rows_when_sql_takes_every_line(tmp_path, monkeypatch, "claude_images.jsonl", lines)
    assert json.loads(by_id["msg_0"]["messages_json"]) == [
        {"role": "system", "content": "Describe images."},
        {"role": "user", "content": [{"type": "text", "text": "Picture 0?"}, {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}]}]
    assert by_id["msg_1"]["prompt_text"] == "Picture 1?"


def test_sql_reads_iso_times_in_every_notation_as_python_does():
    """Loggers write ISO 8601 in many ways: comma decimals (Python's asctime), nine decimals (Go), offsets without
    colon or minutes (Java, Postgres), " UTC" (BigQuery). Each value SQL reads must be the time Python reads; what it
    cannot read (an offset of 24 hours, a space before the offset) it leaves to Python."""
    rng = random.Random(11)
    values = []
    for _ in range(3000):
        day = f"{pick(rng, 2015, 2025, 2026)}-{rng.randint(1, 12):02d}-{pick(rng, 1, 28, 29, 30, 31):02d}"
        clock = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
        fraction = pick(rng, "", "." + str(rng.randint(0, 10 ** rng.randint(1, 10))).zfill(4), "," + str(rng.randint(0, 999)))
        zone = pick(rng, "", "Z", "z", " UTC", "+00:00", "+0000", "+00", "-07:00", "-0700", "+05:30", "-00:30", "+23:59",
                    "+24:00", "+05:3", " +0000")
        values.append(day + pick(rng, "T", " ") + clock + fraction + zone)
    con = connect(":memory:")
    con.execute("create table t (j json)")
    con.executemany("insert into t values (?)", [[json.dumps(v)] for v in values])
    read = [(json.loads(j), t) for j, t in con.execute(f"select j, {time_of('j')} from t").fetchall() if t is not None]
    assert len(read) > 1500  # most notations are SQL's
    new_notations = ("+0000", "+00", " UTC", "-00:30")  # each went to Python before
    assert all(any(v.endswith(zone) for v, _ in read) for zone in new_notations) and any("," in v for v, _ in read)
    assert [(v, t) for v, t in read if t != to_utc(v)] == []
    assert not any(v.endswith(("+24:00", " +0000", "+05:3")) for v, _ in read)


def test_epoch_times_of_every_unit_nanoseconds_too_are_read_alike_by_sql_and_python():
    """Go's zerolog and zap write epoch nanoseconds (``1746352800123456789``): read as a year past 5000 before, such a
    line was rejected as impossible on both routes. Seconds, milliseconds, microseconds and nanoseconds, as numbers,
    numeric strings or with decimals, read the same time on both."""
    rng = random.Random(12)
    seconds = [rng.randint(1_420_070_400, 1_800_000_000) for _ in range(400)]
    values: list = []
    for s in seconds:
        values += [s, s * 1000 + rng.randint(0, 999), s * 10**6 + rng.randint(0, 10**6 - 1), s * 10**9 + rng.randint(0, 10**9 - 1)]
    values += [str(v) for v in values[-40:]] + [f"{s}.{rng.randint(0, 999999):06d}" for s in seconds[:40]]
    con = connect(":memory:")
    con.execute("create table t (j json)")
    con.executemany("insert into t values (?)", [[json.dumps(v)] for v in values])
    read = [(json.loads(j), t) for j, t in con.execute(f"select j, {time_of('j')} from t").fetchall()]
    assert all(t is not None for _, t in read)
    assert [(v, t) for v, t in read if t != to_utc(v)] == []
    assert to_utc(1.7463528001234568e18) == datetime(2025, 5, 4, 10, 0, 0, 123457)  # a double (SQL leaves exponents to Python)
    with pytest.raises(ValueError, match="unreadable timestamp"):  # past the year 9999: a reject's reason, not a crash
        to_utc(1234567890123456789012)
    assert to_utc(1746352800123456789) == datetime(2025, 5, 4, 10, 0, 0, 123456)
    assert to_utc("1746352800123456789") == to_utc(1746352800123456) == datetime(2025, 5, 4, 10, 0, 0, 123456)


def test_claude_pdfs_and_reasoning_items_passed_back_take_the_sql_route(tmp_path, monkeypatch):
    """Two shapes of high-volume traffic that went to the Python parser line by line: Claude reading a PDF (a document
    block beside the question) and a reasoning model's multi-turn Responses call that passes its reasoning items back
    (store=false). Both add no text: the prompt is the question, the conversation its messages."""
    lines = []
    for i in range(40):
        pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}, "title": "Invoice"}
        lines.append({"ts": 1746352800 + i, "request": {"model": "claude-sonnet-4-5", "max_tokens": 300, "messages": [
            {"role": "user", "content": [pdf, {"type": "text", "text": f"Total of invoice {i}?"}]}]},
            "response": {"id": f"msg_{i}", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                         "content": [{"type": "text", "text": "$12."}], "usage": {"input_tokens": 1900, "output_tokens": 4}}})
        items = [{"role": "user", "content": "Plan a trip."},
                 {"type": "reasoning", "id": f"rs_{i}", "summary": [], "encrypted_content": "gAAAA"},
                 {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Where to?"}]},
                 {"role": "user", "content": f"Lisbon, day {i}."}]
        lines.append({"request": {"model": "gpt-5", "input": items, "store": False, "include": ["reasoning.encrypted_content"]},
                      "response": {"id": f"resp_{i}", "object": "response", "created_at": 1746352800 + i, "model": "gpt-5-2025-08-07",
                                   "status": "completed", "output": [{"type": "message", "role": "assistant", "content": [
                                       {"type": "output_text", "text": "Day one: Alfama."}]}],
                                   "usage": {"input_tokens": 50, "output_tokens": 300}}})
    by_id = rows_when_sql_takes_every_line(tmp_path, monkeypatch, "pdfs_and_reasoning.jsonl", lines)
    assert by_id["msg_3"]["prompt_text"] == "Total of invoice 3?"
    assert json.loads(by_id["resp_3"]["messages_json"]) == [
        {"role": "user", "content": "Plan a trip."}, {"role": "assistant", "content": "Where to?"}, {"role": "user", "content": "Lisbon, day 3."}]


def test_failed_calls_take_the_sql_route_with_the_id_python_gives_them(tmp_path, monkeypatch):
    """Rate limits and outages: a chat request whose response is an error body. The log names no id, so the row's id
    hashes what it holds, as Python's; both routes store the same rows (error bodies of odd shapes are Python's),
    and the same file again adds nothing."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    rng = random.Random(5)
    bodies = [{"error": {"message": "Rate limit reached", "type": "requests"}}, {"error": "upstream timeout"}, {"error": ""},
              {"error": None, "detail": "x"}, {"error": 5}, {"error": {"message": "x"}, "choices": None, "usage": {"prompt_tokens": 5}},
              {"error": {"message": "x"}, "type": "error"}, {"error": {"message": "x"}, "object": "response"},
              {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, {"type": "error", "error": None, "choices": None}]
    lines = []
    for i in range(300):
        body = bodies[i % len(bodies)]
        request = (anthropic_pair(rng, i)[0] if body.get("type") == "error" and i % 2
                   else responses_pair(rng, i)[0] if i % 3 == 0 else error_request(rng))
        if isinstance(request, dict) and "max_tokens" in request and i % 3:  # an Anthropic request: its stored conversation is built, then hashed
            request["messages"].append({"role": "user", "content": [{"type": "text", "text": pick(rng, "café ✓ naïve", 'a "quoted" word', "tab\there")}]})
        line = {"timestamp": pick(rng, 1746352800 + i, f"2025-05-04T10:00:{i % 60:02d}.0{i % 10}Z", None),
                "request": request, "response": body}
        if i % 3:
            line["status_code"] = pick(rng, 429, 500)
        lines.append(json.dumps(line))
    (first, rows, rejects), sql_share = same_on_both_routes(tmp_path, monkeypatch, "failed.jsonl", lines)
    assert sql_share > 0.2 and {r["status"] for r in rows} >= {"error"}
    con = connect(str(tmp_path / "True.duckdb"))
    again = ingest_paths(con, [str(tmp_path / "failed.jsonl")], fmt="openai")
    assert again["rows_added"] == 0 and again["rows_duplicate"] == first["rows_added"] + first["rows_duplicate"]
    con.close()


def test_streamed_answers_logged_as_chunks_take_the_sql_route(tmp_path, monkeypatch):
    """Apps that stream log the answer as its list of chunks. SQL folds them as Python does: the deltas' text
    joined, the first id and model given, the last usage given (include_usage puts it in the last chunk), the
    last finish reason; every line on SQL (all went to Python before)."""
    def chunk(i, delta=None, finish=None, usage=None, **extra):
        return {"id": f"chatcmpl-{i}", "object": "chat.completion.chunk", "created": 1746352800 + i, "model": "gpt-4o-mini-2024-07-18",
                "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}], "usage": usage, **extra}
    lines = []
    for i in range(30):
        pieces = [chunk(i, {"role": "assistant", "content": ""}, usage={"prompt_tokens": 1, "completion_tokens": 0})]
        pieces += [chunk(i, {"content": word}) for word in ("Your ", "refund ", "is ", "on ", "its ", "way.")]
        pieces += [chunk(i, {}, finish="stop"), chunk(i, usage={"prompt_tokens": 40 + i, "completion_tokens": 6})]
        if i % 3 == 1:
            pieces[0] = {**pieces[0], "id": f"chatcmpl-first{i}"}
        if i % 3 == 2:
            pieces = [chunk(i, {"refusal": "I can't help with that."}), chunk(i, {}, finish="content_filter")]
        lines.append({"timestamp": 1746352800 + i, "request": {"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True},
                                                               "messages": [{"role": "user", "content": f"Where is refund {i}?"}]},
                      "response": pieces})
    by_id = rows_when_sql_takes_every_line(tmp_path, monkeypatch, "streamed.jsonl", lines)
    assert by_id["chatcmpl-0"]["response_text"] == "Your refund is on its way."
    assert (by_id["chatcmpl-0"]["input_tokens"], by_id["chatcmpl-0"]["output_tokens"], by_id["chatcmpl-0"]["status"]) == (40, 6, "ok")
    assert "chatcmpl-first1" in by_id and "chatcmpl-1" not in by_id
    refused = by_id["chatcmpl-2"]
    assert (refused["response_text"], refused["status"], refused["input_tokens"]) == ("I can't help with that.", "blocked", None)


def test_requests_logged_without_their_response_take_the_sql_route(tmp_path, monkeypatch):
    """An app that logs what it sends (the request at the top of the line, its answer elsewhere): no_response rows
    with the id Python gives them, every line on SQL (all went to Python before)."""
    lines = [{"timestamp": 1746352800 + i, "model": "gpt-4o-mini", "temperature": 0.2, "user": f"u{i % 3}", "metadata": {"app": "triage"},
              "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": f"Where is order {i}?"}]} for i in range(40)]
    path = tmp_path / "sent.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    stored, sql_share = both_routes(tmp_path, path, monkeypatch, "openai")
    assert first_difference(stored[True][1], stored[False][1]) is None and sql_share == 1.0
    rows = stored[True][1]
    assert len(rows) == 40 and {(r["status"], r["system_prompt"], r["user_id"]) for r in rows} >= {("no_response", "Be terse.", "u1")}


def test_calls_logged_flat_beside_requests_alone_store_the_same_rows_on_both_routes(tmp_path, monkeypatch):
    """A line stating its answer or usage beside its request is a call (Python reads it), not a request logged
    alone (SQL's): both routes store the same rows, the calls with their tokens."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    lines = []
    for i in range(60):
        sent = {"timestamp": 1746352800 + i, "model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Where is order {i}?"}]}
        flat = [{}, {"reply": "Shipped."}, {"usage": {"prompt_tokens": 9, "completion_tokens": 2}},
                {"prompt_tokens": 9, "completion_tokens": 2}, {"answer": "Shipped.", "input_tokens": 9, "output_tokens": 2}]
        lines.append({**sent, **flat[i % len(flat)]})
    path = tmp_path / "sent.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    stored, _ = both_routes(tmp_path, path, monkeypatch, "openai")
    assert first_difference(stored[True][1], stored[False][1]) is None
    statuses = Counter((r["status"], r["input_tokens"]) for r in stored[True][1])
    assert statuses == {("no_response", None): 12, ("ok", None): 12, ("ok", 9): 36}


def _gateway_completion(i: int, answer: str) -> dict:
    usage = {"prompt_tokens": 100 + i, "completion_tokens": 20 + i % 7, "total_tokens": 120 + i + i % 7, "cost": round(0.0001 * (i + 1), 6)}
    if i % 4 == 0:
        usage.update(is_byok=True, cost_details={"upstream_inference_cost": 0.002})
    return {"id": f"gen-{i:08d}", "object": "chat.completion", "created": 1713187500 + i, "model": "mistralai/mixtral-8x7b-instruct",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}], "usage": usage}


def test_conversation_beside_a_gateways_completion_stores_the_same_rows_on_both_routes(tmp_path, monkeypatch):
    """An app's log of calls through OpenRouter: the conversation (with the reply appended) and the model at the top
    of the line, the ChatCompletion under ``completion`` with the cost OpenRouter returned in its usage; a call that
    failed has a null completion. Each line is one call on either route: its prompt from the conversation, the
    gateway's cost as the logged cost (plus the provider's charge for a user's own key), the gateway as provider."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    lines = []
    for i in range(300):
        question, answer = f"How do I parse dates in library {i}?", f"Use the parser of library {i}." if i != 23 else ""
        if i % 10 == 0:  # the first line too: the file is still recognised
            lines.append({"messages": [{"role": "user", "content": question}], "completion": None, "usage": None,
                          "tags": ["survey"], "timestamp": f"2024-04-15T13:{i % 60:02d}:03+00:00", "model": "openrouter/mistralai/mixtral-8x7b-instruct"})
            continue
        completion = _gateway_completion(i, answer)
        if i == 17:  # a flag where the provider's charge belongs is no charge
            completion["usage"].update(is_byok=True, cost_details={"upstream_inference_cost": True})
        lines.append({"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
                      "completion": completion, "usage": completion["usage"], "tags": ["survey"],
                      "timestamp": f"2024-04-15T13:{i % 60:02d}:03+00:00", "model": "openrouter/mistralai/mixtral-8x7b-instruct"})
    summaries, stored = stored_by_route(tmp_path, "llm_log.jsonl", lines)
    for summary in summaries.values():
        assert (summary["files"][0]["format"], summary["rows_added"], summary["rows_rejected"]) == ("openai", 300, 0)
    assert first_difference(stored[True], stored[False]) is None
    rows = {r["source_line"]: r for r in stored[True]}
    assert len(rows) == 300
    answered, byok, failed = rows[2], rows[5], rows[1]
    assert (answered["prompt_text"], answered["response_text"], answered["provider"]) == (
        "How do I parse dates in library 1?", "Use the parser of library 1.", "openrouter")
    assert json.loads(answered["messages_json"]) == [{"role": "user", "content": "How do I parse dates in library 1?"}]
    assert (answered["input_tokens"], answered["output_tokens"], answered["cost_usd"], answered["cost_source"]) == (101, 21, 0.0002, "log")
    assert (byok["cost_usd"], byok["cost_source"]) == (0.0005 + 0.002, "log")
    assert rows[18]["cost_usd"] == 0.0018
    # the reply came back empty, and the app appended that empty turn: the request is the question alone
    assert json.loads(rows[24]["messages_json"]) == [{"role": "user", "content": "How do I parse dates in library 23?"}]
    assert (failed["status"], failed["prompt_text"], failed["input_tokens"]) == ("no_response", "How do I parse dates in library 0?", None)


def test_a_gateways_cost_in_the_usage_is_the_logged_cost_on_both_routes(tmp_path, monkeypatch):
    """OpenRouter returns what a call cost in its usage (``cost``; with the user's own key, the provider's charge in
    ``cost_details.upstream_inference_cost`` comes on top). An app's pairs of such calls keep that cost as the log's,
    on the SQL route as on Python's (before, both priced them from the catalog); a cost in the envelope still wins."""
    lines = []
    for i in range(120):
        request = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": f"Tag ticket {i}."}]}
        line = {"request": request, "response": _gateway_completion(i, f"label-{i % 3}")}
        if i % 5 == 0:
            line["cost_usd"] = 0.5
        lines.append(line)
    rows = rows_when_sql_takes_every_line(tmp_path, monkeypatch, "gateway_pairs.jsonl", lines)
    assert {r["cost_source"] for r in rows.values()} == {"log"}
    assert (rows["gen-00000001"]["cost_usd"], rows["gen-00000004"]["cost_usd"], rows["gen-00000005"]["cost_usd"]) == (
        0.0002, 0.0005 + 0.002, 0.5)


def test_success_false_makes_a_call_an_error_on_both_routes(tmp_path, monkeypatch):
    """Apps mark a failed call with ``"success": false`` and nothing else: an error on either route."""
    lines = []
    for i in range(100):
        request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Summarise note {i}."}]}
        response = {"id": f"chatcmpl-s{i}", "object": "chat.completion", "created": 1764000000 + i, "model": "gpt-4o-mini-2024-07-18",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": f"Note {i}."}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 30, "completion_tokens": 4, "total_tokens": 34}}
        lines.append({"request": request, "response": response, "success": i % 4 != 0, "latency_ms": 200 + i})
    rows = rows_when_sql_takes_every_line(tmp_path, monkeypatch, "success_flags.jsonl", lines)
    assert sorted(Counter(r["status"] for r in rows.values()).items()) == [("error", 25), ("ok", 75)]


def test_requests_alone_beside_failed_and_usage_only_lines_store_the_same_rows_on_both_routes(tmp_path, monkeypatch):
    """A conversation and a model alone is a request logged without its answer (SQL takes it); the same with
    ``"status": "failed"`` is a failed call, and with its usage under ``token_usage`` a call without text: Python's,
    read the same way whichever route the file takes."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    lines = []
    for i in range(240):
        line = {"timestamp": f"2025-11-29T11:{i % 60:02d}:00Z", "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": f"Classify ticket {i}."}]}
        if i % 3 == 1:
            line["status"] = ("failed", "error\n", "\tFailure ")[i % 3 + i % 2]  # trimmed and cased alike on both routes
        elif i % 3 == 2:
            line["token_usage"] = {"prompt_tokens": 20 + i, "completion_tokens": 2}
        lines.append(line)
    summaries, stored = stored_by_route(tmp_path, "requests.jsonl", lines)
    assert [(s["rows_added"], s["rows_rejected"]) for s in summaries.values()] == [(240, 0), (240, 0)]
    assert first_difference(stored[True], stored[False]) is None
    assert Counter(r["status"] for r in stored[True]) == {"no_response": 80, "error": 80, "ok": 80}
    assert sum(r["input_tokens"] or 0 for r in stored[True]) == sum(20 + i for i in range(2, 240, 3))


def test_groq_batch_output_is_priced_as_groqs_on_both_routes(tmp_path, monkeypatch):
    """Groq's Batch API writes OpenAI's output format with its own extras under ``x_groq``: its calls are Groq's,
    priced at Groq's rates (before: provider openai, its Llama models unpriced)."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    lines = []
    for i in range(300):
        body = {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1742400000 + i, "model": "llama-3.1-8b-instant",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": f"Answer {i}"}, "finish_reason": "stop"}],
                "usage": {"queue_time": 0.27, "prompt_tokens": 50 + i, "prompt_time": 0.003, "completion_tokens": 10,
                          "completion_time": 0.1, "total_tokens": 60 + i, "total_time": 0.103}}
        if i % 2:
            body["x_groq"] = {"id": f"req_{i}"}
        elif i % 4 == 0:
            body["x_groq"] = None  # says nothing: OpenAI's
        lines.append({"id": f"batch_req_out_{i}", "custom_id": f"request-{i}", "response": {
            "status_code": 200, "request_id": f"req_{i}", "body": body}, "error": None})
    summaries, stored = stored_by_route(tmp_path, "batch_output.jsonl", lines)
    assert [s["rows_added"] for s in summaries.values()] == [300, 300]
    assert first_difference(stored[True], stored[False]) is None
    groq = [r for r in stored[True] if r["provider"] == "groq"]
    assert len(groq) == 150 and all(r["cost_source"] == "catalog" and r["cost_usd"] > 0 for r in groq)


def test_an_anthropic_message_with_a_null_choices_key_is_anthropics_on_both_routes(tmp_path, monkeypatch):
    """A Message whose logger added ``"choices": null`` (a wrapper that serialises both SDKs' fields) is still a
    Messages API answer, not an OpenAI completion without text."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    lines = [{"request": {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": f"q{i}"}]},
              "response": {"id": f"msg_{i}", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                           "content": [{"type": "text", "text": f"a{i}"}], "stop_reason": "end_turn", "choices": None,
                           "usage": {"input_tokens": 10, "output_tokens": 3}}} for i in range(300)]
    summaries, stored = stored_by_route(tmp_path, "calls.jsonl", lines)
    assert first_difference(stored[True], stored[False]) is None
    assert {(r["provider"], r["response_text"] == f"a{r['source_line'] - 1}") for r in stored[True]} == {("anthropic", True)}


def test_chat_answers_with_usage_in_the_responses_apis_terms_store_the_same_rows_on_both_routes(tmp_path, monkeypatch):
    """A chat-shaped answer whose usage says input_tokens/output_tokens (eval harnesses' records) is read in those
    terms by Python; SQL, which reads a chat usage's prompt_tokens, leaves such lines to Python."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    lines = []
    for i in range(200):
        usage = ({"prompt_tokens": 10 + i, "completion_tokens": 3} if i % 2 else {"input_tokens": 10 + i, "output_tokens": 3})
        lines.append({"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Question {i}"}]},
                      "response": {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1764000000 + i,
                                   "model": "gpt-4o-mini-2024-07-18", "usage": usage, "choices": [
                                       {"index": 0, "message": {"role": "assistant", "content": f"Answer {i}"}, "finish_reason": "stop"}]}})
    summaries, stored = stored_by_route(tmp_path, "calls.jsonl", lines)
    assert [s["rows_added"] for s in summaries.values()] == [200, 200]
    assert first_difference(stored[True], stored[False]) is None
    assert sum(r["input_tokens"] for r in stored[True]) == sum(10 + i for i in range(200))


FUZZED_LINES = [  # lines a differential fuzzer found the two routes storing differently (or crashing on)
    # a check unknown for one element beside a true one: a stream chunk with a null index, a function call
    # without arguments, an image whose source names no type
    '{"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "q"}]}, "response": [{"id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 1746352800, "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {"content": "a"}}]}, {"id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 1746352800, "model": "gpt-4o-mini", "choices": [{"index": null, "delta": {"content": "b"}}]}]}',
    '{"id": "resp_1", "object": "response", "created_at": 1746352800, "model": "gpt-4o", "status": "completed", "output": [{"type": "function_call", "name": "f", "arguments": "{}"}, {"type": "function_call", "name": "g"}], "usage": {"input_tokens": 1, "output_tokens": 1}}',
    '{"request": {"model": "claude-3-5-haiku", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image", "source": {"url": "https://x/cat.png"}}]}]}, "response": {"id": "msg_2", "type": "message", "role": "assistant", "model": "claude-3-5-haiku", "content": [{"type": "text", "text": "ok"}], "usage": {"input_tokens": 1, "output_tokens": 1}}}',
    # NaN and Infinity, which DuckDB reads and JSON cannot store
    '{"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}, "response": {"id": "chatcmpl-2", "object": "chat.completion", "created": 1746352800, "model": "gpt-4o-mini", "choices": [{"index": 0, "message": {"role": "assistant", "content": "yo"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}, "metadata": {"score": NaN}}',
    '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x", "weight": Infinity}]}',
    # an object under model_output/answer beside a response object that is the line itself; a choices key beside
    # a Responses object; a Responses input item with an empty role
    '{"id": "chatcmpl-3", "object": "chat.completion", "created": 1746352800, "model": "gpt-4o", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}, "answer": {}}',
    '{"id": "msg_3", "type": "message", "role": "assistant", "model": "claude-3-5-haiku", "content": [{"type": "text", "text": "hi"}], "usage": {"input_tokens": 1, "output_tokens": 1}, "model_output": {"x": 1}}',
    '{"id": "resp_4", "object": "response", "created_at": 1746352800, "model": "gpt-4o", "status": "incomplete", "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hi"}]}], "usage": {"input_tokens": 1, "output_tokens": 1}, "temperature": 1.0, "choices": null}',
    '{"request": {"model": "gpt-4o", "input": [{"role": "user", "content": "hi"}, {"role": "", "content": "Be brief."}]}, "response": {"id": "resp_5", "object": "response", "created_at": 1746352800, "model": "gpt-4o", "status": "completed", "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]}], "usage": {"input_tokens": 1, "output_tokens": 1}}}',
]


def test_lines_a_fuzzer_found_store_the_same_rows_on_both_routes(tmp_path, monkeypatch):
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    path = tmp_path / "fuzzed.jsonl"
    path.write_text("\n".join(FUZZED_LINES) + "\n")
    stored, summaries = {}, {}
    for fast in (True, False):
        con = connect(str(tmp_path / f"{fast}.duckdb"))
        summaries[fast] = route_neutral(ingest_paths(con, [str(path)], fast=fast))
        stored[fast] = dicts(con, "select * exclude (ingested_at) from requests order by id")
        con.close()
    assert summaries[True] == summaries[False]
    assert first_difference(stored[True], stored[False]) is None and len(stored[True]) == len(stored[False])
    assert summaries[True]["rows_rejected"] == 2  # NaN, Infinity: "JSON cannot store" on both routes


def test_a_batch_output_time_past_the_year_9999_is_a_reject_not_a_crash(con, tmp_path):
    path = tmp_path / "batch_output.jsonl"
    path.write_text('{"id": "batch_req_1", "custom_id": "task-1", "response": {"status_code": 200, "body": {"id": "chatcmpl-1",'
                    ' "object": "chat.completion", "created": 1e300, "model": "gpt-4o", "choices": []}}, "error": null}\n')
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (0, 1)


def test_a_compacted_claude_calls_steps_are_billed_on_both_routes(tmp_path, monkeypatch):
    """A Message whose call compacted its context first states the compaction's tokens under ``usage.iterations``,
    beside the answer's at the top: the call's tokens are both (before, the compaction's 60,385 input tokens were
    left out). SQL leaves such lines to Python."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    lines = []
    for i in range(200):
        usage = {"input_tokens": 682, "output_tokens": 1320}
        if i % 2:
            usage["iterations"] = [{"type": "compaction", "input_tokens": 60385, "output_tokens": 592},
                                   {"type": "message", "input_tokens": 682, "output_tokens": 1320}]
        lines.append({"request": {"model": "claude-opus-4-6", "max_tokens": 4000, "messages": [{"role": "user", "content": f"Go on {i}"}]},
                      "response": {"id": f"msg_{i}", "type": "message", "role": "assistant", "model": "claude-opus-4-6",
                                   "content": [{"type": "text", "text": "Done."}], "stop_reason": "end_turn", "usage": usage}})
    summaries, stored = stored_by_route(tmp_path, "calls.jsonl", lines)
    assert first_difference(stored[True], stored[False]) is None
    compacted = [r for r in stored[True] if r["input_tokens"] == 61067]
    assert len(compacted) == 100 and {r["output_tokens"] for r in compacted} == {1912}


def test_xai_usage_counts_reasoning_as_output_and_keeps_its_cost_on_both_routes(tmp_path, monkeypatch):
    """xAI's chat usage leaves the reasoning out of ``completion_tokens`` (the total is prompt + completion +
    reasoning) and states the cost in ticks of 1e-10 dollars: a grok-3-mini call of 2 completion and 320 reasoning
    tokens is 322 output tokens at $0.00016415 (before: 2 tokens at a catalog price 40 times too low). OpenAI's
    usage, reasoning inside the completion, is read as before; SQL leaves xAI's to Python."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    lines = []
    for i in range(200):
        if i % 2:
            usage = {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 334, "prompt_tokens_details": {"cached_tokens": 2},
                     "completion_tokens_details": {"reasoning_tokens": 320}, "cost_in_usd_ticks": 1641500}
            model = "grok-3-mini"
        else:
            usage = {"prompt_tokens": 12, "completion_tokens": 322, "total_tokens": 334,
                     "completion_tokens_details": {"reasoning_tokens": 320}}
            model = "o4-mini-2025-04-16"
        lines.append({"request": {"model": model, "messages": [{"role": "user", "content": f"Question {i}"}]},
                      "response": {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1764000000 + i, "model": model,
                                   "usage": usage, "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                                                                "finish_reason": "stop"}]}})
    summaries, stored = stored_by_route(tmp_path, "calls.jsonl", lines)
    assert first_difference(stored[True], stored[False]) is None
    assert {(r["model"], r["output_tokens"], r["reasoning_tokens"]) for r in stored[True]} == {
        ("grok-3-mini", 322, 320), ("o4-mini-2025-04-16", 322, 320)}
    assert {(r["cost_usd"], r["cost_source"]) for r in stored[True] if r["model"] == "grok-3-mini"} == {(0.00016415, "log")}


def test_a_groq_stream_logged_as_its_chunks_keeps_the_usage_of_its_last_chunk_on_both_routes(tmp_path, monkeypatch):
    """Groq puts a stream's usage in the last chunk's x_groq: both routes stored the call without tokens."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    def chunk(delta, finish=None, **extra):
        return {"id": "chatcmpl-g1", "object": "chat.completion.chunk", "created": 1746352800,
                "model": "llama-3.3-70b-versatile", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    line = {"request": {"model": "llama-3.3-70b-versatile", "messages": [{"role": "user", "content": "Capital of Denmark?"}]},
            "response": [chunk({"role": "assistant", "content": "Copen"}), chunk({"content": "hagen"}),
                         chunk({}, "stop", x_groq={"id": "req_1", "usage": {"prompt_tokens": 45, "completion_tokens": 2}})]}
    summaries, stored = stored_by_route(tmp_path, "groq_stream.jsonl", [line] * 1 + [
        {**line, "response": [{**c, "id": f"chatcmpl-g{i}"} for c in line["response"]]} for i in range(2, 40)])
    assert first_difference(stored[True], stored[False]) is None and len(stored[True]) == 39
    assert {(r["input_tokens"], r["output_tokens"], r["response_text"]) for r in stored[True]} == {(45, 2, "Copenhagen")}


def test_a_gateways_raw_request_and_raw_response_are_the_pair_on_both_routes(tmp_path, monkeypatch):
    """TensorZero's inference tables keep the provider's own bodies as JSON text under raw_request/raw_response
    beside the gateway's `output` blocks and flat token counts: the file was not recognised at all."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    def row(i):
        if i % 2:
            request = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": f"Tag ticket {i}"}]}
            response = {"id": f"msg_{i}", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
                        "content": [{"type": "text", "text": "billing"}], "stop_reason": "end_turn",
                        "usage": {"input_tokens": 20, "cache_read_input_tokens": 100, "output_tokens": 2}}
        else:
            request = {"model": "gpt-4o-mini-2024-07-18", "messages": [{"role": "user", "content": f"Tag ticket {i}"}]}
            response = {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1765403918, "model": "gpt-4o-mini-2024-07-18",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "shipping"}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 30, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 0}}}
        return {"short_cache_key": 9585445825392731910 + i, "timestamp": "2025-12-10 21:58:39",
                "output": json.dumps([{"type": "text", "text": "x"}]), "raw_request": json.dumps(request),
                "raw_response": json.dumps(response, indent=2), "input_tokens": 30, "output_tokens": 1, "finish_reason": "stop"}
    summaries, stored = stored_by_route(tmp_path, "model_inference.jsonl", [row(i) for i in range(60)])
    assert first_difference(stored[True], stored[False]) is None and len(stored[True]) == 60
    claude = [r for r in stored[True] if r["provider"] == "anthropic"]
    assert len(claude) == 30 and {(r["input_tokens"], r["cached_input_tokens"], r["output_tokens"], r["response_text"]) for r in claude} == {(120, 100, 2, "billing")}
    assert {r["prompt_text"] for r in stored[True]} == {f"Tag ticket {i}" for i in range(60)}


def test_web_searches_a_model_ran_are_billed_per_search_on_both_routes(tmp_path, monkeypatch):
    """Claude's web search tool (usage.server_tool_use.web_search_requests) and OpenAI's (web_search_call items) cost
    $10 per 1,000 searches beside the tokens: the catalogue price left them out ($0.0045 for a call that cost $0.0245)."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    def claude(i):
        return {"timestamp": "2026-01-05T10:00:00Z",
                "request": {"model": "claude-sonnet-4-5-20250929", "max_tokens": 200, "messages": [{"role": "user", "content": f"News {i}?"}],
                            "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]},
                "response": {"id": f"msg_{i}", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                             "content": [{"type": "text", "text": "Here is the news."}], "stop_reason": "end_turn",
                             "usage": {"input_tokens": 1000, "output_tokens": 100, "server_tool_use": {"web_search_requests": 2}}}}
    def gpt(i):
        return {"id": f"resp_{i}", "object": "response", "created_at": 1767607200, "model": "gpt-4.1", "status": "completed",
                "output": [{"type": "web_search_call", "id": f"ws_{i}", "status": "completed", "action": {"type": "search", "query": "news"}},
                           {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Today's news."}]}],
                "usage": {"input_tokens": 1000, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 100,
                          "output_tokens_details": {"reasoning_tokens": 0}}}
    summaries, stored = stored_by_route(tmp_path, "searches.jsonl", [claude(i) if i % 2 else gpt(i) for i in range(40)])
    assert first_difference(stored[True], stored[False]) is None and len(stored[True]) == 40
    by_model = {(r["model"], r["web_searches"], round(r["cost_usd"], 6), r["cost_source"]) for r in stored[True]}
    assert by_model == {("claude-sonnet-4-5-20250929", 2, 0.0245, "catalog"), ("gpt-4.1", 1, 0.0128, "catalog")}
    assert summaries[True]["files"][0]["lines_to_python"] == 0  # the SQL route read them all


def test_a_request_logged_with_no_response_is_read_alike_on_both_routes(tmp_path, monkeypatch):
    """An app that logs `{"request", "response": null, "error", "status_code"}` for calls that failed before any answer
    (or `request` alone, logged before the answer came): every such line went to the Python parser (3.5x DuckDB
    alone on a log where one call in nine failed). Lines that look alike but are Python's (an answer under another
    key, a Claude request, a Gemini or Converse body) still store what Python stores."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    def line(i):
        request = {"model": "gpt-4o-mini", "temperature": 0.5,
                   "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Question {i % 13}"}]}
        kind = i % 8
        out: dict = {"timestamp": f"2026-01-01T00:00:{i % 60:02d}.000+00:00", "request_id": f"req_{i}", "request": request,
                     "latency_ms": 100 + i}
        if kind == 0:
            out.update(response=None, status_code=400, error={"message": "maximum context length", "code": "context_length_exceeded"})
        elif kind == 1:
            out.update(status_code=429, error={"message": "Rate limit reached"})
        elif kind == 2:
            out["response"] = None  # logged before the answer came
        elif kind == 3:
            out.update(response=None, completion="It shipped.")  # the answer under another key: Python's
        elif kind == 4:
            out["request"] = {**request, "system": "Be brief.", "max_tokens": 50}  # a Claude request: Python's
        elif kind == 5:
            out["request"] = {**request, "messages": [{"role": "user", "content": [{"type": "text", "text": f"Parts {i}"}]}]}
        elif kind == 6:
            out.update(model="gpt-4.1", request={k: v for k, v in request.items() if k != "model"})
        else:
            out["request"] = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "model": "gemini-2.5-flash"}
        return out
    summaries, stored = stored_by_route(tmp_path, "failed_calls.jsonl", [line(i) for i in range(400)])
    assert first_difference(stored[True], stored[False]) is None and len(stored[True]) == len(stored[False])
    statuses = {(r["status"], r["model"]) for r in stored[True] if r["provider"] == "openai"}
    assert {("error", "gpt-4o-mini"), ("no_response", "gpt-4o-mini"), ("no_response", "gpt-4.1")} <= statuses
    assert summaries[True]["files"][0]["lines_to_python"] <= 150  # kinds 3, 4 and 7 (and their repeats)


def test_a_conversation_at_the_top_beside_a_completion_under_response_is_read_alike_on_both_routes(tmp_path, monkeypatch):
    """LiteLLM-style lines (`model` and `messages` at the top, the ChatCompletion under `response`, usage and cost
    beside them) all went to the Python parser (4.6x DuckDB alone). Lines that look alike but are Python's (the reply
    appended to the conversation, a system string beside it, an `input` key) still store what Python stores."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    def line(i):
        kind = i % 7
        messages = [{"role": "system", "content": "Triage."}, {"role": "user", "content": f"Ticket {i}: my parcel is late"}]
        answer = "shipping" if kind != 3 else None
        message = {"role": "assistant", "content": answer}
        if kind == 3:
            message["tool_calls"] = [{"id": f"call_{i}", "type": "function", "function": {"name": "lookup", "arguments": "{\"id\": 1}"}}]
        out = {"litellm_call_id": f"c-{i}", "call_type": "acompletion", "model": "gpt-4o-mini", "messages": messages,
               "response": {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1767225600 + i, "model": "gpt-4o-mini",
                            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 30 + i, "completion_tokens": 2}},
               "usage": {"prompt_tokens": 30 + i, "completion_tokens": 2}, "response_cost": 0.00002, "metadata": {"team": "cs"},
               "start_time": "2026-01-01T00:00:00Z", "temperature": 0.2, "user": f"u{i % 5}"}
        if kind == 1:
            out["messages"] = [*messages, {"role": "assistant", "content": "shipping"}]  # the reply appended: Python's
        elif kind == 2:
            out["system_prompt"] = "Triage."  # a system string beside the messages: Python's
        elif kind == 4:
            out["messages"] = [{"role": "user", "content": [{"type": "text", "text": f"Parts {i}"}]}]
        elif kind == 5:
            out.pop("model")
        elif kind == 6:
            out["input"] = "x"  # Python's
        return out
    summaries, stored = stored_by_route(tmp_path, "litellm_style.jsonl", [line(i) for i in range(350)])
    assert first_difference(stored[True], stored[False]) is None and len(stored[True]) == 350
    assert {r["prompt_text"] for r in stored[True] if r["source_id"] == "chatcmpl-0"} == {"Ticket 0: my parcel is late"}
    assert {(r["cost_usd"], r["cost_source"]) for r in stored[True]} == {(0.00002, "log")}
    assert summaries[True]["files"][0]["lines_to_python"] <= 150  # kinds 1, 2 and 6


def test_claude_through_litellm_keeps_its_cache_writes_on_both_routes(tmp_path, monkeypatch):
    """LiteLLM hands Claude's answers back as ChatCompletions whose usage counts the cache writes in prompt_tokens
    and names them beside it (`cache_creation_input_tokens`): they were dropped (4,640 of an agent's real 4,640
    writes), so the catalogue priced them as plain input."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    def line(i):
        return {"request": {"model": "claude-3-5-sonnet-20241022", "messages": [{"role": "user", "content": f"Fix bug {i}"}]},
                "response": {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1733000000 + i,
                             "model": "claude-3-5-sonnet-20241022",
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": "Done."}, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 3486, "completion_tokens": 1135, "total_tokens": 4621,
                                       "prompt_tokens_details": {"cached_tokens": 0}, "cache_creation_input_tokens": 3482,
                                       "cache_read_input_tokens": 0}}}
    summaries, stored = stored_by_route(tmp_path, "litellm_claude.jsonl", [line(i) for i in range(30)])
    assert first_difference(stored[True], stored[False]) is None and len(stored[True]) == 30
    assert {(r["input_tokens"], r["cache_write_tokens"], r["output_tokens"]) for r in stored[True]} == {(3486, 3482, 1135)}
    assert summaries[True]["files"][0]["lines_to_python"] == 0


@pytest.mark.parametrize("stream, answers", [
    ("chat_chunks.jsonl", {"Capital of Denmark.", "Copenhagen"}),
    ("anthropic_events.jsonl", {"Hello! How can I help?"}),
    ("responses_events.jsonl", {"Hi there"}),
])
def test_streamed_pieces_among_lines_sql_reads_are_folded_as_the_python_route_folds_them(
        tmp_path, monkeypatch, fixtures, stream, answers):
    """A streamed answer saved a piece per line in the middle of an app log the SQL route reads: the route handed the
    pieces to the Python parser one line at a time, so a chat stream's text chunks were rejects and its usage chunk a
    call without its answer (the Python route folds them into one call). The SQL route now holds them and folds them
    at the end of the file."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    rng = random.Random(5)
    lines = [app_line(rng, i) for i in range(1000, 1600)]  # ids apart from the stream's (resp_1, ...)
    lines[300:300] = (fixtures / "streams" / stream).read_text().splitlines()
    (_, rows, rejects), sql_share = same_on_both_routes(tmp_path, monkeypatch, "calls.jsonl", lines)
    assert answers <= {r["response_text"] for r in rows} and sql_share > 0.4


def test_answers_that_carry_their_calls_trace_are_left_to_the_python_route(tmp_path, monkeypatch):
    """A Databricks agent's answers (Responses-style objects the SQL route reads) carry the MLflow trace of their
    model calls: the SQL route stored the answer itself, without model or usage; it leaves such lines to Python,
    which reads the calls from the trace."""
    from test_ingest_openai import databricks_agent_answer

    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    summaries, stored = stored_by_route(tmp_path, "agent_answers.jsonl", [databricks_agent_answer(i) for i in range(40)])
    assert first_difference(stored[True], stored[False]) is None and len(stored[True]) == 40
    assert {(r["model"], r["input_tokens"]) for r in stored[True]} == {("gpt-4.1-2025-04-14", 27)}


def test_an_envoy_style_response_code_fails_a_call_on_both_routes(tmp_path, monkeypatch):
    """Envoy-based gateways log the HTTP status as `response_code`: 400 or more is a failed call, on both routes
    (a status written as text says nothing, as for `status_code`)."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    codes = [200, 503, "500", None, 429]

    def line(i):
        out = {"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Where is parcel {i}?"}]},
               "response": {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1733000000 + i, "model": "gpt-4o-mini",
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": "On its way."}, "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}}}
        if codes[i % 5] is not None:
            out["response_code"] = codes[i % 5]
        return out
    summaries, stored = stored_by_route(tmp_path, "gateway.jsonl", [line(i) for i in range(50)])
    assert first_difference(stored[True], stored[False]) is None and len(stored[True]) == 50
    assert Counter(r["status"] for r in stored[True]) == {"ok": 30, "error": 20}
    assert summaries[True]["files"][0]["lines_to_python"] == 0


def _chat_line(i: int, *, answer_id: str, fingerprint: str | None = None, model: str = "gpt-4o-mini", **top) -> dict:
    response = {"id": answer_id, "object": "chat.completion", "created": 1767225600 + i, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": f"Answer {i}"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10 + i % 5, "completion_tokens": 3, "total_tokens": 13 + i % 5}}
    if fingerprint:
        response["system_fingerprint"] = fingerprint
    return {"request": {"model": model, "messages": [{"role": "user", "content": f"Question {i}"}]}, "response": response, **top}


def test_ollamas_random_answer_numbers_do_not_make_calls_conflicts(tmp_path, monkeypatch):
    """Ollama's OpenAI-compatible server names each answer chatcmpl-0 ... chatcmpl-998 at random (system fingerprint
    fp_ollama): a log of 300 Ollama calls kept fewer than 300, the others counted as conflicts of the first call that
    drew the same number. Its calls are known by their content, on both routes; another server's repeated id is
    still a conflict."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    rng = random.Random(11)
    lines = [_chat_line(i, answer_id=f"chatcmpl-{rng.randrange(20)}", fingerprint="fp_ollama", model="llama3.1:8b")
             for i in range(300)]
    lines.append(lines[7])  # the same line logged twice is still one call
    lines += [_chat_line(1000, answer_id="chatcmpl-7"), _chat_line(1001, answer_id="chatcmpl-7")]
    summaries, stored = stored_by_route(tmp_path, "ollama.jsonl", lines)
    assert first_difference(stored[True], stored[False]) is None
    for fast in (True, False):
        summary = summaries[fast]
        assert (summary["rows_added"], summary["rows_duplicate"], summary["rows_conflicting"]) == (301, 1, 1)
    assert sum(r["model"] == "llama3.1:8b" for r in stored[True]) == 300


def test_envelope_values_python_stores_as_sql_does(tmp_path, monkeypatch):
    """Shapes the SQL route left to Python although both store them alike: a user named by a number (a database id),
    prompts that start with a bracket but are no JSON (`[INST] ...`, `[Ticket 42] ...`), in chat, Messages and
    Responses requests and Claude's system prompt. A latency written with its unit (`"812ms"`, `"1.5 s"`) was a reject
    of the whole call; it is read, and one that is no time at all (`"n/a"`) leaves the duration unknown."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    texts = ["[INST] Where is my parcel?", "[Ticket 42] refund", "[1, 2]", "plain"]
    users = [4711, "alice", 0, -3, 12.5, True]
    latencies = [900, "812ms", "1.5 s", "n/a"]

    def line(i):
        text = texts[i % 4]
        kind = i % 3
        if kind == 0:
            out = _chat_line(i, answer_id=f"chatcmpl-a{i}")
            out["request"]["messages"] = [{"role": "system", "content": text}, {"role": "user", "content": text}]
        elif kind == 1:
            out = {"request": {"model": "claude-3-5-haiku-20241022", "max_tokens": 100, "system": text,
                               "messages": [{"role": "user", "content": text}]},
                   "response": {"id": f"msg_{i}", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
                                "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
                                "usage": {"input_tokens": 50, "output_tokens": 4}}}
        else:
            out = {"request": {"model": "gpt-4.1-mini", "input": [{"role": "user", "content": text}] if i % 2 else text},
                   "response": {"id": f"resp_{i}", "object": "response", "created_at": 1767225600 + i, "model": "gpt-4.1-mini",
                                "status": "completed", "output": [{"type": "message", "id": f"m{i}", "role": "assistant",
                                                                   "content": [{"type": "output_text", "text": "ok"}]}],
                                "usage": {"input_tokens": 30, "output_tokens": 6, "total_tokens": 36}}}
        return {**out, "timestamp": f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z", "user_id": users[i % 6],
                "latency_ms": latencies[i % 4]}

    summaries, stored = stored_by_route(tmp_path, "app.jsonl", [line(i) for i in range(360)])
    assert first_difference(stored[True], stored[False]) is None and len(stored[True]) == 360
    assert {r["user_id"] for r in stored[True]} == {"4711", "alice", "0", "-3", "12.5", "True"}
    assert {r["duration_ms"] for r in stored[True]} == {900.0, 812.0, 1500.0, None}
    assert "[INST] Where is my parcel?" in {r["prompt_text"] for r in stored[True]}
    # Python reads the 270 lines whose latency is text and, of the 90 with a latency of 900, the 30 whose user is
    # 12.5 (every line went there before: their users and prompts); SQL the 60 others, numbered users and [INST] too.
    assert summaries[True]["files"][0]["lines_to_python"] == 300


def test_tool_calls_dumped_by_the_sdk_stay_on_the_sql_route(tmp_path, monkeypatch):
    """Answers that call tools, logged with the OpenAI SDK's `model_dump()` (keys in its fields' order: id, function
    with arguments before name, type), went to Python (9x DuckDB alone on an agent's log); both routes store the calls
    as Python writes them. A call of another shape (an `index` key) is still Python's."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)

    def line(i):
        arguments = json.dumps({"city": "Paris", "n": i})
        calls = [[{"id": f"call_{i}", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}],
                 [{"id": f"call_{i}", "function": {"arguments": arguments, "name": "get_weather"}, "type": "function"}],
                 [{"index": 0, "id": f"call_{i}", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}]][i % 3]
        out = _chat_line(i, answer_id=f"chatcmpl-t{i}")
        out["response"]["choices"][0].update(message={"role": "assistant", "content": None, "tool_calls": calls},
                                             finish_reason="tool_calls")
        return out
    summaries, stored = stored_by_route(tmp_path, "agent.jsonl", [line(i) for i in range(90)])
    assert first_difference(stored[True], stored[False]) is None and len(stored[True]) == 90
    assert summaries[True]["files"][0]["lines_to_python"] == 30
    dumped = [r["response_text"] for r in stored[True] if r["source_line"] == 2][0]
    assert json.loads(dumped) == [{"id": "call_1", "function": {"arguments": '{"city": "Paris", "n": 1}', "name": "get_weather"},
                                   "type": "function"}]


def test_failed_batch_output_lines_stay_on_the_sql_route(tmp_path, monkeypatch):
    """A Batch output file's failed requests (`"response": null` beside the error of an expired batch, an error body
    of a rate limit, a status without a body) went to Python, 3.3x DuckDB alone on an output file with one failure in
    fourteen; both routes store them as failed calls of their custom_id. A response written as JSON text is still
    Python's (it decodes it)."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)

    def line(i):
        ok = {"status_code": 200, "request_id": f"r{i}", "body": {
            "id": f"chatcmpl-b{i}", "object": "chat.completion", "created": 1767225600 + i, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Done."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 2, "total_tokens": 32}}}
        response, error = [
            (None, {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}),
            ({"status_code": 429, "request_id": f"r{i}", "body": {"error": {"message": "Rate limit", "code": "rate_limit_exceeded"}}}, None),
            ({"status_code": 500}, None),
            (json.dumps(ok), None),
            (ok, None)][i % 5]
        return {"id": f"batch_req_{i}", "custom_id": f"task-{i}", "response": response, "error": error}
    summaries, stored = stored_by_route(tmp_path, "batch_output.jsonl", [line(i) for i in range(100)])
    assert first_difference(stored[True], stored[False]) is None and len(stored[True]) == 100
    assert Counter(r["status"] for r in stored[True]) == {"error": 60, "ok": 40}
    assert summaries[True]["files"][0]["lines_to_python"] == 20


def test_time_of_day_prices_are_the_sql_routes_too(tmp_path, monkeypatch):
    """DeepSeek's catalogue prices depend on the time of day: its rows were priced one by one in Python after the SQL
    route stored them (a DeepSeek log took 6x DuckDB alone). SQL prices them by the tariff of their minute, to the
    same cents as the catalogue's own calculation (the Python route's). A row that states more cached input than input
    has no price on either route, for any model (the catalogue refuses it; a linear tariff gave a negative cost)."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)

    def line(i):
        out = _chat_line(i, answer_id=f"ds-{i}", model=["deepseek-chat", "deepseek-reasoner", "gpt-4o-mini"][i % 3])
        out["response"]["created"] = 1767225600 + i * 613  # every minute of the day over 100 lines
        out["response"]["usage"] = {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200,
                                    "prompt_tokens_details": {"cached_tokens": 300 if i % 10 else 5000}}
        return out
    summaries, stored = stored_by_route(tmp_path, "deepseek.jsonl", [line(i) for i in range(100)])
    assert first_difference(stored[True], stored[False]) is None and len(stored[True]) == 100
    assert Counter(r["cost_source"] for r in stored[True]) == {"catalog": 90, "unknown": 10}
    assert all(r["cost_usd"] is None for r in stored[True] if r["cached_input_tokens"] > r["input_tokens"])
    # the same tokens cost one price by day and another by night
    assert len({round(r["cost_usd"], 12) for r in stored[True] if r["model"] == "deepseek-chat" and r["cost_usd"]}) == 2


def test_perplexitys_cost_breakdown_and_cache_writes_are_read_on_both_routes(tmp_path, monkeypatch):
    """Perplexity states what a call cost as a breakdown, `usage.cost` = {input_tokens_cost, ..., request_cost,
    total_cost} (chat completions and its Agent API's Responses objects; the request fee and searches are in it, the
    catalogue has no Perplexity prices), and its Agent API counts cache writes in `input_tokens_details`. The cost was
    dropped (calls unpriced, or priced from the catalogue 7.5x too low) and the writes lost; now the total is the logged
    cost and the writes are cache writes, on both routes."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)

    def line(i):
        if i % 2:
            out = _chat_line(i, answer_id=f"pplx-{i}", model="sonar")
            out["response"]["usage"]["cost"] = {"input_tokens_cost": 1e-05, "output_tokens_cost": 0.0, "request_cost": 0.005,
                                                "total_cost": 0.00501}
            return out
        usage = {"input_tokens": 3007, "output_tokens": 36, "total_tokens": 3043,
                 "input_tokens_details": {"cache_creation_input_tokens": 1224, "cache_read_input_tokens": 1780, "cached_tokens": 1780},
                 "output_tokens_details": {"reasoning_tokens": 0}}
        if i % 4 == 0:
            usage["cost"] = {"input_cost": 0, "output_cost": 2e-05, "tool_calls_cost": 0.001, "total_cost": 0.00119}
        return {"request": {"model": "openai/gpt-5.4", "input": f"Question {i}"},
                "response": {"id": f"resp_{i}", "object": "response", "created_at": 1767225600 + i, "model": "openai/gpt-5.4",
                             "status": "completed", "output": [{"type": "message", "id": f"m{i}", "role": "assistant",
                                                                "content": [{"type": "output_text", "text": "typescriptlang.org"}]}],
                             "usage": usage}}
    summaries, stored = stored_by_route(tmp_path, "perplexity.jsonl", [line(i) for i in range(40)])
    assert first_difference(stored[True], stored[False]) is None and len(stored[True]) == 40
    assert {(r["cost_usd"], r["cost_source"]) for r in stored[True] if r["model"] == "sonar"} == {(0.00501, "log")}
    agent = [r for r in stored[True] if r["model"] != "sonar"]
    assert {(r["input_tokens"], r["cached_input_tokens"], r["cache_write_tokens"]) for r in agent} == {(3007, 1780, 1224)}
    assert {(r["cost_usd"], r["cost_source"]) for r in agent if r["source_line"] % 4 == 1} == {(0.00119, "log")}
    assert summaries[True]["files"][0]["lines_to_python"] == 30  # the cost breakdowns; the writes are SQL's too


def test_groqs_answers_are_groqs_outside_batch_files_too(tmp_path, monkeypatch):
    """Groq's answers carry `x_groq`: only Batch output lines were read as Groq's; a logged pair or a bare answer was
    provider openai and its model (`llama-3.3-70b-versatile`) unpriced. Now Groq's, at Groq's rates, on both routes."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)

    def line(i):
        out = _chat_line(i, answer_id=f"chatcmpl-{i:04d}-groq", model="llama-3.3-70b-versatile")
        out["response"]["usage"] = {"prompt_tokens": 48, "completion_tokens": 8, "total_tokens": 56, "queue_time": 0.1,
                                    "prompt_time": 0.002, "completion_time": 0.03, "total_time": 0.032}
        out["response"]["x_groq"] = {"id": f"req_{i}"}
        return out if i % 2 else out["response"]
    summaries, stored = stored_by_route(tmp_path, "groq.jsonl", [line(i) for i in range(40)])
    assert first_difference(stored[True], stored[False]) is None and len(stored[True]) == 40
    assert {(r["provider"], r["cost_source"]) for r in stored[True]} == {("groq", "catalog")}
    assert all(r["cost_usd"] == pytest.approx(48 * 0.59e-6 + 8 * 0.79e-6) for r in stored[True])
    assert summaries[True]["files"][0]["lines_to_python"] == 0


def test_a_cost_logged_as_its_parts_or_in_cents_is_the_logged_cost_on_both_routes(tmp_path, monkeypatch):
    """`cost: {"input", "output", "total"}`, `cost_cents` and `cost_estimate` were not read: such calls were priced
    from the catalogue ($0.0035 here) though the app had logged what they cost ($0.0042)."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)

    def line(i, **cost):
        return {"ts": "2026-11-02T10:00:00Z", "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": f"q{i}"}]},
                "response": {"id": f"chatcmpl-c{i}", "object": "chat.completion", "created": 1793613600, "model": "gpt-4o-2024-08-06",
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": "a"}, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}}, **cost}
    lines = [line(1, cost={"input": 0.0025, "output": 0.001, "total": 0.0042}), line(2, cost_cents=0.42),
             line(3, cost_estimate=0.0042), line(4, cost={"total_cost": "0.0042", "currency": "USD"}), line(5, cost={"usd": 0.0042}),
             line(6, cost={"input": 1}, cost_cents="0.42"),
             line(7, cost={"total": 0.0042, "currency": "EUR"}), line(8, cost={"total": None, "usd": ""})]
    rows = rows_when_sql_takes_every_line(tmp_path, monkeypatch, "costs.jsonl", lines)
    assert [(rows[f"chatcmpl-c{i}"]["cost_usd"], rows[f"chatcmpl-c{i}"]["cost_source"]) for i in range(1, 9)] == [
        (0.0042, "log")] * 6 + [(0.0035, "catalog")] * 2  # another currency, or no total: the catalogue's price


def _plain_call(i: int, model: str = "gpt-4o-mini-2024-07-18", **request_keys) -> dict:
    return {"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"where is order {i}"}], **request_keys},
            "response": {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1746352800 + i, "model": model,
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": f"order {i} ships Monday"},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 40 + i % 7, "completion_tokens": 9}}}


@pytest.mark.parametrize("repeats_inside, long_lines", [(False, False), (True, False), (False, True)])
def test_lines_whose_keys_first_appear_after_the_first_lines_take_a_second_statement(tmp_path, monkeypatch, repeats_inside,
                                                                                       long_lines):
    """A feature that adds request parameters later in the day, or an outage's errors: the first lines did not show
    those keys, so the whole-file statement leaves such lines. A second statement narrowed to them stores them (the
    careful way, every family's statement, took four times as long); ids they repeat, malformed lines and a family of
    their own are judged as the Python route judges them, and a repeat among them undoes the second statement alone."""
    monkeypatch.setattr(tuning, "PROBE_LINES", 20)
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    from analyzer.ingest.sql_route import SqlRoute

    statements = []
    original = SqlRoute._stream_statement

    def counted(self, select, first, chunks):
        statements.append(original(self, select, first, chunks))
        return statements[-1]

    monkeypatch.setattr(SqlRoute, "_stream_statement", counted)
    early = [_plain_call(i) for i in range(30)]
    late = [{**_plain_call(i, "gpt-4o-2024-08-06", temperature=0.2, tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]),
             "user": f"u-{i % 3}", "latency_ms": 300 + i} for i in range(30, 230)]
    if long_lines:  # the late lines are long, the file's first lines not: no single statement holds all their rows
        for line in late:
            line["metadata"] = {"note": "x" * 2500}
    late[50]["response"]["usage"]["completion_tokens"] = 99
    late[50]["response"]["id"] = "chatcmpl-3"  # an early call's id, stated differently: a conflict
    late.insert(80, {**_plain_call(5, temperature=0.2), "user": "u-0"})  # an early call again, with the new keys: a duplicate
    late.insert(120, {"response": {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}},
                      "request": late[119]["request"], "status": 429})
    if repeats_inside:
        late.insert(150, late[140])
    path = tmp_path / "calls.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in early + late[:100])
                    + '{"request": {"model": "gpt-4o", "messages": [\n'
                    + "".join(json.dumps(line) + "\n" for line in late[100:]))
    if long_lines:  # between the file's average line and the late lines' (Arrow adds 16 bytes a line)
        whole, leftover = (sum(len(json.dumps(x)) + 17 for x in xs) / len(xs) for xs in (early + late, late))
        monkeypatch.setattr(tuning, "LONG_LINES", int((whole + leftover) / 2))
    stored, sql_share = both_routes(tmp_path, path, monkeypatch, "openai")
    assert first_difference(stored[True][1], stored[False][1]) is None
    assert stored[True][2] == stored[False][2] and stored[True][0] == stored[False][0]
    summary = stored[True][0]["files"][0]
    assert (summary["rows_duplicate"], summary["rows_conflicting"], summary["rows_rejected"]) == (1 + repeats_inside, 1, 1)
    assert summary["rows_added"] == 230 - 1 + 1  # one late line repeats an early id; the failed call is a row
    assert statements == ([True] if long_lines else [True, not repeats_inside]), statements
    assert sql_share > 0.98
    assert {r["user_id"] for r in stored[True][1]} == {None, "u-0", "u-1", "u-2"}
    # The late lines' model was not among the first lines' (whose tariffs the statement joins): priced after it.
    assert {r["cost_source"] for r in stored[True][1] if r["model"] == "gpt-4o-2024-08-06" and r["status"] == "ok"} == {"catalog"}


def test_a_gzip_file_stores_what_its_plain_copy_stores_its_leftover_lines_read_back_from_the_stream(tmp_path):
    """A gzip file takes the whole-file statement too; the lines it leaves (odd values, malformed lines) are read back
    by number from the decompressed stream, which cannot be read at an offset: one forward pass picks them out."""
    import gzip

    rng = random.Random(11)
    text = "\n".join(app_line(rng, i) for i in range(600)) + "\n{broken\n"
    plain, packed = tmp_path / "calls.jsonl", tmp_path / "calls.jsonl.gz"
    plain.write_text(text)
    packed.write_bytes(gzip.compress(text.encode()))
    stored = {}
    for path in (plain, packed):
        con = connect(str(tmp_path / f"{path.name}.duckdb"))
        summary = ingest_paths(con, [str(path)])
        stored[path] = (route_neutral(summary)["files"][0] | {"path": None},
                        dicts(con, "select * exclude (ingested_at, source_file) from requests order by id"),
                        dicts(con, "select source_line, reason from rejects order by source_line, reason"))
        left = summary["files"][0]
        con.close()
    assert stored[plain] == stored[packed]
    assert len(stored[packed][1]) > 400 and len(stored[packed][2]) >= 1  # rows by both routes, the broken line a reject
    assert left["rows_added"] == len(stored[packed][1])


def _background_response(i: int, status: str) -> dict:
    """A Responses API object of a call made with ``background: true``, as an app polling it logs each state."""
    done = status == "completed"
    return {"id": f"resp_bg{i}", "object": "response", "created_at": 1746352800 + i, "status": status, "background": True,
            "model": "o3-2025-04-16", "error": None,
            "output": [{"type": "message", "id": f"msg_{i}", "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": f"report {i}", "annotations": []}]}] if done else [],
            "usage": {"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 3400,
                      "output_tokens_details": {"reasoning_tokens": 3000}, "total_tokens": 4600} if done else None}


def test_a_background_response_logged_while_it_ran_gives_way_to_its_finished_state(tmp_path, monkeypatch):
    """Background calls (long reasoning, deep research) are polled: apps log the response as ``queued``, ``in_progress``
    and ``completed`` under one id. The first state used to be the row (no answer, no usage: the most expensive calls
    had unknown spend) and the finished one a duplicate; now the finished state is the call, on both routes, whatever
    the order, and the running states are duplicates of it."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    lines = []
    for i in range(60):
        lines.append({"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]},
                      "response": {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1746352800 + i,
                                   "model": "gpt-4o-mini-2024-07-18", "choices": [{"index": 0, "message": {"role": "assistant",
                                   "content": f"a{i}"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 10, "completion_tokens": 5}}})
        if i % 10 == 0:
            request = {"model": "o3", "input": f"research topic {i}", "background": True}
            states = ["queued", "in_progress", "completed"] if i % 20 else ["queued", "completed", "in_progress"]
            lines += [{"request": request, "response": _background_response(i, s)} for s in states]
    path = tmp_path / "background.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    stored, sql_share = both_routes(tmp_path, path, monkeypatch, "openai")
    assert first_difference(stored[True][1], stored[False][1]) is None and stored[True][0] == stored[False][0]
    assert sql_share > 0.8  # the running states go to Python; every other line is SQL's
    assert (stored[True][0]["rows_added"], stored[True][0]["rows_duplicate"]) == (66, 12)
    background = [r for r in stored[True][1] if r["source_id"].startswith("resp_bg")]
    assert len(background) == 6 and {r["status"] for r in background} == {"ok"}
    assert sum(r["output_tokens"] for r in background) == 6 * 3400 and all(r["cost_usd"] > 0 for r in background)
    assert {r["response_text"] for r in background} == {f"report {i}" for i in range(0, 60, 10)}


def test_a_background_response_stored_while_it_ran_is_completed_by_a_later_file(tmp_path):
    """The polled states may land in different files (an hourly log's boundary): the stored running call takes the
    finished state's answer, usage, price and status from the next file."""
    request = {"model": "o3", "input": "research topic", "background": True}
    first, later = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(json.dumps({"request": request, "response": _background_response(1, "in_progress")}) + "\n")
    later.write_text(json.dumps({"request": request, "response": _background_response(1, "completed")}) + "\n")
    con = connect(str(tmp_path / "bg.duckdb"))
    ingest_paths(con, [str(first)])
    summary = ingest_paths(con, [str(later)])
    row = dicts(con, "select status, response_text, output_tokens, cost_source, cost_usd from requests")
    con.close()
    assert (summary["rows_added"], summary["rows_duplicate"], summary["rows_filled_in"]) == (0, 1, 1)
    assert len(row) == 1 and row[0]["status"] == "ok" and row[0]["response_text"] == "report 1"
    assert row[0]["output_tokens"] == 3400 and row[0]["cost_source"] == "catalog" and row[0]["cost_usd"] > 0


def test_an_envelope_named_as_javascript_apps_name_it_is_read_on_both_routes(tmp_path, monkeypatch):
    """A Node app logs its envelope in camelCase (``createdAt``, ``latencyMs``, ``userId``, ``costUsd``): before, the
    call landed without its latency, user or logged cost on either route."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    lines = []
    for i in range(40):
        response = {"id": f"chatcmpl-js{i}", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": f"a{i}"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 20}}
        lines.append({"createdAt": f"2025-11-04T10:00:{i:02d}.250Z", "latencyMs": 800 + i, "userId": f"u-{i % 4}",
                      "costUsd": 0.001, "statusCode": 200,
                      "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}, "response": response})
    lines[7]["statusCode"] = 500
    rows = rows_when_sql_takes_every_line(tmp_path, monkeypatch, "node_app.jsonl", lines)
    first = rows["chatcmpl-js0"]
    assert (first["duration_ms"], first["user_id"], first["cost_usd"], first["cost_source"]) == (800.0, "u-0", 0.001, "log")
    assert first["created_at"] == datetime(2025, 11, 4, 10, 0, 0, 250000)
    assert rows["chatcmpl-js7"]["status"] == "error" and rows["chatcmpl-js8"]["status"] == "ok"
    assert {r["user_id"] for r in rows.values()} == {"u-0", "u-1", "u-2", "u-3"}


def test_a_logged_start_and_end_give_the_calls_duration_on_both_routes(tmp_path, monkeypatch):
    """An app that logs when the call started and ended but not how long it took: before, its duration was unknown."""
    monkeypatch.setattr(tuning, "FEW_LINES", 0)
    lines = []
    for i in range(30):
        response = {"id": f"chatcmpl-span{i}", "object": "chat.completion", "created": 1762250400 + i, "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 2}}
        lines.append({"start_time": f"2025-11-04T10:00:{i:02d}.000Z", "end_time": f"2025-11-04T10:00:{i + 1:02d}.250Z",
                      "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}, "response": response})
    lines[3]["end_time"] = "2025-11-04T09:59:00Z"  # an end before the start: unknown, the call kept
    lines[4]["latency_ms"] = 90  # a stated duration wins
    rows = rows_when_sql_takes_every_line(tmp_path, monkeypatch, "spans.jsonl", lines)
    assert rows["chatcmpl-span0"]["duration_ms"] == 1250.0 and rows["chatcmpl-span29"]["duration_ms"] == 1250.0
    assert rows["chatcmpl-span3"]["duration_ms"] is None and rows["chatcmpl-span4"]["duration_ms"] == 90.0
    assert span_ms("2025-11-04T10:00:00Z", 1234567890123456789012) is None  # an end past the year 9999: unknown, not a reject
