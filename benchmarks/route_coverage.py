"""Which realistic line shapes the SQL route takes: lines of shapes apps log that the benchmark matrix does not
generate (JSON mode, reasoning models, images, gateways' extra keys, loggers' envelopes, other time notations), ingested
each into a fresh database; `plan ingest --json`'s `lines_to_python` says how many went to the Python parser (about
ten times slower per line than the SQL route).

    python benchmarks/route_coverage.py                 # every shape (twenty-seven), 12,000 lines each
    python benchmarks/route_coverage.py --lines 20000 --shape json_mode_answers

Files under 2 MiB take the Python route whatever their shape (``tuning.SQL_MIN_BYTES``): the default is enough lines
for every shape's file to be over it, and a file that is not says so (``lines_to_python`` is then "small file").

Each line of every shape is valid and lands on either route; a shape with many lines to Python is a shape the SQL
route does not read exactly yet.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from analyzer.ingest.tuning import SQL_MIN_BYTES

T0 = 1764000000
WORDS = "order refund parcel late invoice account password delivery broken please thanks".split()
JSON_PROMPT = '{"ticket_id": "T-1", "body": "where is my parcel"}'


def words(rng, n):
    return " ".join(rng.choices(WORDS, k=n))


def chat_completion(rng, i, model, content, extra=None):
    usage = {"prompt_tokens": rng.randint(50, 900), "completion_tokens": rng.randint(5, 300)}
    usage.update(total_tokens=usage["prompt_tokens"] + usage["completion_tokens"],
                 prompt_tokens_details={"cached_tokens": 0, "audio_tokens": 0},
                 completion_tokens_details={"reasoning_tokens": rng.choice((0, 64)), "audio_tokens": 0})
    return {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": T0 + i, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": usage, "service_tier": "default", "system_fingerprint": "fp_x", **(extra or {})}


def chat_request(rng, content=None, **params):
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content or words(rng, 8)}], **params}


def claude_message(rng, i, content, usage=None):
    return {"id": f"msg_{i:08d}", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929", "content": content,
            "stop_reason": "end_turn", "stop_sequence": None, "usage": usage or {"input_tokens": 80, "output_tokens": 12}}


def responses_object(rng, i, output, model="gpt-5-2025-08-07", **extra):
    return {"id": f"resp_{i}", "object": "response", "created_at": T0 + i, "status": "completed", "model": model, "output": output,
            "usage": {"input_tokens": 300, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 200,
                      "output_tokens_details": {"reasoning_tokens": 128}, "total_tokens": 500}, **extra}


def output_message(text):
    return {"type": "message", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": text, "annotations": []}]}


def json_mode_answers(rng, i):
    """gpt-5 with structured outputs: the answer is JSON, the request carries the newer parameters."""
    return {"created_at": f"2025-11-04 10:00:{i % 60:02d}", "latency_ms": 812,
            "request": chat_request(rng, reasoning_effort="low", verbosity="low", max_completion_tokens=2000,
                                    response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
                                    store=True, prompt_cache_key="k1", service_tier="auto", metadata={"feature": "triage"}),
            "response": chat_completion(rng, i, "gpt-5-mini-2025-08-07", '{"label": "refund", "confidence": 0.9}')}


def json_prompts_in_parts(rng, i):
    """A JSON document as the prompt, in a text part (chat), an input item (Responses) or a text block (Claude)."""
    if i % 3 == 0:
        return {"timestamp": T0 + i, "request": chat_request(rng, [{"type": "text", "text": JSON_PROMPT}]),
                "response": chat_completion(rng, i, "gpt-4o-mini-2024-07-18", words(rng, 5))}
    if i % 3 == 1:
        return {"request": {"model": "gpt-4.1-mini", "instructions": "Extract.", "input": [{"role": "user", "content": JSON_PROMPT}]},
                "response": responses_object(rng, i, [output_message(words(rng, 5))], model="gpt-4.1-mini-2025-04-14")}
    return {"ts": T0 + i, "request": {"model": "claude-haiku-4-5", "max_tokens": 300, "messages": [
        {"role": "user", "content": [{"type": "text", "text": JSON_PROMPT}]}]}, "response": claude_message(rng, i, [{"type": "text", "text": words(rng, 6)}])}


def responses_reasoning(rng, i):
    """A reasoning model's Responses call: a reasoning item before the message, reasoning parameters echoed."""
    out = [{"id": f"rs_{i}", "type": "reasoning", "summary": []}, output_message(words(rng, 12))]
    return {"request": {"model": "gpt-5", "input": [{"role": "user", "content": words(rng, 30)}], "reasoning": {"effort": "medium"},
                        "store": True, "include": ["reasoning.encrypted_content"]},
            "response": responses_object(rng, i, out, reasoning={"effort": "medium", "summary": None},
                                         text={"format": {"type": "text"}, "verbosity": "medium"}, store=True, tools=[],
                                         tool_choice="auto", truncation="disabled", metadata={}, instructions=None)}


def claude_thinking(rng, i):
    """Extended thinking: a thinking block before the text, cache counts split by lifetime, a user id in metadata."""
    usage = {"input_tokens": 120, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2000, "output_tokens": 300,
             "service_tier": "standard", "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}}
    return {"ts": T0 + i, "request": {"model": "claude-sonnet-4-5", "max_tokens": 4000, "thinking": {"type": "enabled", "budget_tokens": 2000},
                                      "system": "You are concise.", "messages": [{"role": "user", "content": words(rng, 25)}],
                                      "metadata": {"user_id": f"u{i % 30}"}},
            "response": claude_message(rng, i, [{"type": "thinking", "thinking": words(rng, 20), "signature": "abc"},
                                                {"type": "text", "text": words(rng, 15)}], usage)}


def claude_images(rng, i):
    """Claude vision calls: an image (from a URL or base64) beside the question."""
    image = ({"type": "image", "source": {"type": "url", "url": f"https://cdn.example.com/{i}.png"}} if i % 2 else
             {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo" * 40}})
    return {"ts": T0 + i, "request": {"model": "claude-sonnet-4-5", "max_tokens": 300, "messages": [
        {"role": "user", "content": [image, {"type": "text", "text": words(rng, 10)}]}]},
        "response": claude_message(rng, i, [{"type": "text", "text": words(rng, 8)}])}


def python_time_time(rng, i):
    """A Python app's log of Claude calls stamped with time.time() (seven decimals; Claude's answer has no time)."""
    row = claude_thinking(rng, i)
    row["ts"] = 1764883216.0 + i * 0.7317 + rng.random() / 1000
    return row


def go_rfc3339nano(rng, i):
    """A Go gateway's log: nanosecond ISO times, the answer without its own time."""
    response = chat_completion(rng, i, "gpt-4o-mini-2024-07-18", words(rng, 5))
    del response["created"]
    return {"time": f"2025-11-04T10:00:{i % 60:02d}.{rng.randint(0, 999999999):09d}Z", "duration_ms": 512.25,
            "request": chat_request(rng), "response": response}


def azure_content_filters(rng, i):
    response = chat_completion(rng, i, "gpt-4o-2024-11-20", words(rng, 20), extra={"prompt_filter_results": [
        {"prompt_index": 0, "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}}}]})
    response["choices"][0]["content_filter_results"] = {"hate": {"filtered": False, "severity": "safe"}}
    return {"timestamp": f"2025-11-0{1 + i % 9}T10:00:{i % 60:02d}.{i % 1000:03d}+00:00",
            "request": chat_request(rng, temperature=0.3, seed=7, stop=["\n\n"], n=1, stream=False), "response": response}


def groq_extras(rng, i):
    """An OpenAI-compatible provider's extras: usage timings, null details, reasoning_content, x_groq."""
    response = chat_completion(rng, i, "llama-3.3-70b-versatile", words(rng, 5), extra={"x_groq": {"id": f"req_{i}"}})
    response["usage"] = {"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49, "prompt_tokens_details": None,
                         "completion_tokens_details": None, "queue_time": 0.02, "prompt_time": 0.01}
    response["choices"][0]["message"]["reasoning_content"] = "thinking..."
    return {"timestamp": T0 + i, "provider": "groq", "request": chat_request(rng, model="llama-3.3-70b-versatile"), "response": response}


def pino_logger(rng, i):
    return {"level": 30, "time": 1764883216123 + i, "pid": 4242, "hostname": "api-1", "msg": "llm call", "reqId": f"r{i}",
            "request": chat_request(rng), "response": chat_completion(rng, i, "gpt-4o-mini-2024-07-18", words(rng, 5))}


def structlog_envelope(rng, i):
    return {"event": "openai.chat", "level": "info", "logger": "app.llm", "timestamp": f"2025-11-04T10:00:{i % 60:02d}.{i % 1000000:06d}Z",
            "user_id": f"u{i % 9}", "cost_usd": 0.00012, "request": chat_request(rng),
            "response": chat_completion(rng, i, "gpt-4o-mini-2024-07-18", words(rng, 5))}


def tool_parts_and_names(rng, i):
    messages = [{"role": "user", "name": "alice", "content": words(rng, 8)},
                {"role": "assistant", "content": None, "tool_calls": [{"id": f"c{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": f"c{i}", "content": [{"type": "text", "text": "ok"}]}]
    return {"timestamp": T0 + i, "request": {"model": "gpt-4o-mini", "messages": messages},
            "response": chat_completion(rng, i, "gpt-4o-mini-2024-07-18", words(rng, 5))}


def input_output_keys(rng, i):
    """The pair under `input` and `output` rather than `request` and `response` (its own statement since 010e821)."""
    return {"ts": T0 + i, "input": chat_request(rng), "output": chat_completion(rng, i, "gpt-4o-mini-2024-07-18", words(rng, 5)), "latency_ms": 400}


def claude_pdfs(rng, i):
    """Claude reading a PDF: a document block (base64) beside the question."""
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x" * 40}, "title": "Invoice"}
    return {"ts": T0 + i, "request": {"model": "claude-sonnet-4-5", "max_tokens": 300, "messages": [
        {"role": "user", "content": [pdf, {"type": "text", "text": words(rng, 10)}]}]},
        "response": claude_message(rng, i, [{"type": "text", "text": words(rng, 8)}])}


def reasoning_items_passed_back(rng, i):
    """A reasoning model's multi-turn Responses call without stored state: its reasoning items go back in the input."""
    items = [{"role": "user", "content": words(rng, 8)}, {"type": "reasoning", "id": f"rs_{i}", "summary": [], "encrypted_content": "gAAAAB" * 20},
             {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": words(rng, 6), "annotations": []}]},
             {"role": "user", "content": words(rng, 5)}]
    return {"request": {"model": "gpt-5", "input": items, "store": False, "include": ["reasoning.encrypted_content"]},
            "response": responses_object(rng, i, [output_message(words(rng, 9))])}


def java_and_postgres_times(rng, i):
    """Times as Java (+0000), Postgres (+00) and Python's logging (comma decimals) write them; the answer has no time."""
    when = ("2025-11-04T10:00:{s:02d}.{ms:03d}+0000", "2025-11-04 10:00:{s:02d}.{ms:03d}+00", "2025-11-04 10:00:{s:02d},{ms:03d}")[i % 3]
    response = chat_completion(rng, i, "gpt-4o-mini-2024-07-18", words(rng, 5))
    del response["created"]
    return {"timestamp": when.format(s=i % 60, ms=i % 1000), "request": chat_request(rng), "response": response}


def streamed_chunks(rng, i):
    """A streamed chat answer logged as its list of chunks (usage in the last, as stream_options.include_usage sends it)."""
    base = {"id": f"chatcmpl-{i}", "object": "chat.completion.chunk", "created": T0 + i, "model": "gpt-4o-mini-2024-07-18",
            "system_fingerprint": "fp_1", "service_tier": "default"}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None}, "logprobs": None,
                                    "finish_reason": None}], "usage": None}]
    chunks += [{**base, "choices": [{"index": 0, "delta": {"content": w + " "}, "logprobs": None, "finish_reason": None}], "usage": None}
               for w in words(rng, 8).split()]
    chunks += [{**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}], "usage": None},
               {**base, "choices": [], "usage": {"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129}}]
    return {"timestamp": T0 + i, "request": chat_request(rng, stream=True, stream_options={"include_usage": True}), "response": chunks}


def failed_calls(rng, i):
    """Failures among the answers: one call in five failed with an error body (OpenAI's 429s, Claude's 529s)."""
    if i % 5:
        return structlog_envelope(rng, i)
    when = f"2025-11-04T10:00:{i % 60:02d}.{i % 1000000:06d}Z"
    if i % 10:
        return {"timestamp": when, "status_code": 529, "request": claude_thinking(rng, i)["request"],
                "response": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": f"req_{i}"}}
    return {"timestamp": when, "status_code": 429, "request": chat_request(rng),
            "response": {"error": {"message": "Rate limit reached", "type": "requests", "param": None, "code": "rate_limit_exceeded"}}}


def requests_alone(rng, i):
    """An app that logs what it sends: the chat request at the top of the line, no response."""
    return {"timestamp": f"2025-11-04T10:00:{i % 60:02d}.{i % 1000:03d}Z", "request_id": f"r{i}",
            **chat_request(rng, temperature=0.3, user=f"u{i % 50}")}


def cloud_logging_entries(rng, i):
    """Google Cloud Logging's export of a Cloud Run app's log: the app's line under `jsonPayload` (the SQL route reads
    it since stop 39)."""
    return {"insertId": f"e{i}", "jsonPayload": {"request": chat_request(rng), "response": chat_completion(rng, i, "gpt-4o-mini", words(rng, 9))},
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": "bot"}}, "severity": "INFO",
            "timestamp": f"2025-11-04T10:00:{i % 60:02d}Z", "logName": "projects/p/logs/run.googleapis.com%2Fstdout"}


def flat_homegrown_log(rng, i):
    """A homegrown log line: the model and messages at the top, the answer as text, usage beside it (read at all
    since stop 28, by the Python route only)."""
    return {"ts": f"2025-11-04T10:00:{i % 60:02d}Z", "model": "gpt-4o-mini", "latency_ms": 640,
            "messages": [{"role": "user", "content": words(rng, 8)}], "response": words(rng, 9),
            "usage": {"prompt_tokens": rng.randint(50, 900), "completion_tokens": rng.randint(5, 300)}}


def anthropic_batch_results(rng, i):
    """Message Batches results: succeeded messages (cache counts, the batch tier), one in twenty errored."""
    if i % 20 == 7:
        return {"custom_id": f"req-{i}", "result": {"type": "errored", "error": {"type": "error", "error": {"type": "overloaded_error"}}}}
    usage = {"input_tokens": 120, "output_tokens": 30, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0,
             "service_tier": "batch"}
    return {"custom_id": f"req-{i}", "result": {"type": "succeeded",
                                                "message": claude_message(rng, i, [{"type": "text", "text": words(rng, 9)}], usage)}}


def node_camel_case(rng, i):
    """A Node app's log: camelCase envelope keys, the pair under requestBody/responseBody."""
    return {"createdAt": f"2025-11-04T10:00:{i % 60:02d}.{i % 1000:03d}Z", "latencyMs": 812, "userId": f"u{i % 30}",
            "costUsd": 0.0004, "statusCode": 200, "requestBody": chat_request(rng),
            "responseBody": chat_completion(rng, i, "gpt-4o-mini", words(rng, 9))}


def start_and_end_times(rng, i):
    """A call's start and end logged as times, no duration."""
    return {"start_time": f"2025-11-04T10:00:{i % 60:02d}Z", "end_time": f"2025-11-04T10:01:{i % 60:02d}.5Z",
            "request": chat_request(rng), "response": chat_completion(rng, i, "gpt-4o-mini", words(rng, 9))}


def nested_under_data(rng, i):
    """The pair nested under an app's own `data` key beside a logger's keys (the SQL route reads it since stop 39)."""
    return {"timestamp": f"2025-11-04T10:00:{i % 60:02d}Z", "level": "info", "event": "llm_call",
            "data": {"request": chat_request(rng), "response": chat_completion(rng, i, "gpt-4o-mini", words(rng, 9))}}


def sides_as_json_text(rng, i):
    """An app that logs ``json.dumps(request)`` and ``json.dumps(response)``: both sides are JSON text (the SQL route
    reads them since stop 40)."""
    return {"timestamp": f"2025-11-04T10:00:{i % 60:02d}Z", "request": json.dumps(chat_request(rng)),
            "response": json.dumps(chat_completion(rng, i, "gpt-4o-mini", words(rng, 9)))}


def envelope_beside_wrapper(rng, i):
    """The call under an app's own `data` key, its cost, latency and user beside it, not in it (the SQL route reads
    them since stop 40)."""
    return {"timestamp": f"2025-11-04T10:00:{i % 60:02d}Z", "level": "info", "cost_usd": 0.0003, "latency_ms": 640,
            "user_id": f"u{i % 9}", "data": {"request": chat_request(rng), "response": chat_completion(rng, i, "gpt-4o-mini", words(rng, 9))}}


SHAPES = {f.__name__: f for f in (json_mode_answers, json_prompts_in_parts, responses_reasoning, claude_thinking, claude_images,
                                   python_time_time,
                                   go_rfc3339nano, azure_content_filters, groq_extras, pino_logger, structlog_envelope,
                                   tool_parts_and_names, input_output_keys, claude_pdfs, reasoning_items_passed_back,
                                   java_and_postgres_times, streamed_chunks, failed_calls,
                                   requests_alone, anthropic_batch_results, node_camel_case, start_and_end_times,
                                   cloud_logging_entries, nested_under_data, flat_homegrown_log, sides_as_json_text,
                                   envelope_beside_wrapper)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=12000)
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    plan = str(Path(sys.executable).with_name("plan"))
    results = []
    with tempfile.TemporaryDirectory(prefix="plan-route-") as tmp:
        for name in args.shape or list(SHAPES):
            rng = random.Random(3)
            path, db = Path(tmp) / f"{name}.jsonl", Path(tmp) / f"{name}.duckdb"
            with path.open("w") as fh:
                for i in range(args.lines):
                    fh.write(json.dumps(SHAPES[name](rng, i)) + "\n")
            started = time.perf_counter()
            out = subprocess.run([plan, "ingest", "--db", str(db), "--json", str(path)], capture_output=True, text=True, check=True)
            f = json.loads(out.stdout)["files"][0]
            small = path.stat().st_size < SQL_MIN_BYTES
            results.append({"shape": name, "lines": args.lines, "format": f["format"], "rows_added": f["rows_added"],
                            "rows_rejected": f["rows_rejected"],
                            "lines_to_python": "small file" if small else f["lines_to_python"],
                            "seconds": round(time.perf_counter() - started, 2)})
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print("| shape | lines | format | rows | lines to Python | seconds |")
    print("|---|---:|---|---:|---:|---:|")
    for r in results:
        print(f"| {r['shape']} | {r['lines']:,} | {r['format']} | {r['rows_added']:,} | {r['lines_to_python']} | {r['seconds']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
