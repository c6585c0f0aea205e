"""A real OpenAI-compatible HTTP server, in-process on 127.0.0.1, for tests.

It speaks ``POST /v1/chat/completions`` (JSON and SSE streaming, with a usage chunk when asked) and
``GET /v1/models``, answers deterministically per prompt, and can inject the faults real servers show:
timeouts, 500s, 429 with Retry-After, malformed bodies, dropped connections, slow streams, a model that is
not there (404 worded like Ollama's), dying mid-run, and refusing a request field the way llama.cpp,
llama-cpp-python, Ollama, vLLM and LM Studio do (``stub.refuse(SERVER_REFUSALS["llama.cpp json_schema"])``).

Use the ``openai_stub`` fixture (import it into a test module: ``from openai_stub import openai_stub``)
or the context manager::

    with OpenAIStub(models=["m"]) as stub:
        stub.responder = lambda body: Reply(content="42")
        stub.fail_next("status", times=2, status=500)
        ... stub.url ...            # http://127.0.0.1:PORT/v1
        stub.requests               # bodies received by /chat/completions
        stub.max_in_flight          # most requests handled at the same time
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import pytest


@dataclass
class Reply:
    content: str = ""
    status: int = 200
    body: bytes | dict | None = None  # sent verbatim instead of a completion (error bodies, malformed JSON)
    delay: float = 0.0  # seconds before the answer starts
    chunk_delay: float = 0.0  # seconds between stream chunks
    usage: bool = True  # report usage (non-stream always when True; stream only if the client asks too)
    reasoning: str | None = None  # sent as reasoning_content
    tool_calls: list | None = None
    finish_reason: str = "stop"
    headers: dict = field(default_factory=dict)
    disconnect: bool = False  # close the connection without answering
    extra: dict = field(default_factory=dict)  # extra top-level fields servers add


def last_user_text(body: dict) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def default_answer(body: dict) -> Reply:
    """Deterministic: the same prompt always gets the same answer; JSON mode gets a JSON object."""
    prompt = last_user_text(body)
    fmt = (body.get("response_format") or {}).get("type")
    if fmt in ("json_object", "json_schema"):
        return Reply(content=json.dumps({"answer": prompt[:40], "words": len(prompt.split())}))
    return Reply(content=f"Local answer to: {prompt[:60]}")


def shuffled_words(text: str, seed: int = 0) -> str:
    """The same words in another order: close to the original in embedding space, useless to a reader."""
    import random

    words = text.split()
    rng = random.Random(seed)
    for _ in range(10):
        rng.shuffle(words)
        if words != text.split() or len(words) < 2:
            break
    return " ".join(words)


def _response_format_type(body: dict) -> str | None:
    fmt = body.get("response_format")
    return fmt.get("type") if isinstance(fmt, dict) else None


@dataclass
class Refusal:
    """A request field a server refuses: when ``applies(body)``, it answers ``status`` with ``body``."""

    applies: Callable[[dict], bool]
    status: int
    body: dict | bytes


# What real servers answer when they do not take a field (bodies as they send them).
SERVER_REFUSALS = {
    # llama.cpp's server before json_schema support (and ik_llama.cpp): a 500 naming the type.
    "llama.cpp json_schema": Refusal(
        lambda b: _response_format_type(b) == "json_schema", 500,
        {"error": {"code": 500, "message": 'response_format type must be one of "text" or "json_object", but got: json_schema',
                   "type": "server_error"}}),
    "llama.cpp tools": Refusal(
        lambda b: bool(b.get("tools")), 500,
        {"error": {"code": 500, "message": "tools param requires --jinja flag", "type": "server_error"}}),
    "llama.cpp unsupported param": Refusal(
        lambda b: "frequency_penalty" in b, 500,
        {"error": {"code": 500, "message": "Unsupported param: frequency_penalty", "type": "server_error"}}),
    # llama-cpp-python's server (the embedded-source fallback): pydantic's validation error, also as a 500.
    "llama-cpp-python json_schema": Refusal(
        lambda b: _response_format_type(b) == "json_schema", 500,
        {"error": {"message": "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
                              "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}",
                   "type": "internal_server_error"}}),
    "ollama tools": Refusal(
        lambda b: bool(b.get("tools")), 400,
        {"error": {"message": "registry.ollama.ai/library/stub-model:latest does not support tools", "type": "api_error",
                   "param": None, "code": None}}),
    "vllm tool_choice": Refusal(
        lambda b: b.get("tool_choice") not in (None, "none"), 400,
        {"object": "error", "message": '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',
         "type": "BadRequestError", "param": None, "code": 400}),
    "lm studio json_object": Refusal(
        lambda b: _response_format_type(b) == "json_object", 400, {"error": "'response_format.type' must be 'json_schema' or 'text'"}),
    "openai-style seed": Refusal(
        lambda b: "seed" in b, 400,
        {"error": {"message": "Unrecognized request argument supplied: seed", "type": "invalid_request_error",
                   "param": None, "code": None}}),
}


def count_tokens(text: str) -> int:
    return max(1, len(text.split())) if text else 0


class OpenAIStub:
    def __init__(self, responder: Callable[[dict], Reply | str] | None = None, *, models=("stub-model",),
                 include_usage: bool = True):
        self.responder = responder or default_answer
        self.models = list(models) if models is not None else None  # None: any model name is accepted
        self.include_usage = include_usage
        self.requests: list[dict] = []
        self.paths: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._faults: list[dict] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.die_after: int | None = None  # the server dies once this many chat requests have arrived
        self.refusals: list[Refusal] = []  # fields this server does not take, checked on every request

    # ------------------------------------------------------------------ control
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def fail_next(self, kind: str, times: int = 1, **options) -> None:
        """Queue faults for the next chat requests: 'status' (status=500), 'timeout' (delay=s),
        'malformed' (body=...), 'disconnect', 'slow_stream' (chunk_delay=s), 'rate_limit' (retry_after=s)."""
        with self._lock:
            self._faults.extend({"kind": kind, **options} for _ in range(times))

    def refuse(self, *refusals: Refusal) -> None:
        """Refuse every request a rule applies to, as a server without that feature does (persistent)."""
        self.refusals.extend(refusals)

    def start(self) -> "OpenAIStub":
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                stub._handle_get(self)

            def do_POST(self):
                stub._handle_post(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def die(self) -> None:
        """Stop listening at once, as a crashed server would (from any thread)."""
        server = self._server
        if server is not None:
            threading.Thread(target=server.shutdown, daemon=True).start()
            server.socket.close()

    def __enter__(self) -> "OpenAIStub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ serving
    def _send(self, h, status: int, payload: bytes, content_type="application/json", headers=None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            h.send_header(k, str(v))
        h.end_headers()
        h.wfile.write(payload)

    def _handle_get(self, h) -> None:
        if h.path.rstrip("/") == "/v1/models":
            data = [{"id": m, "object": "model", "owned_by": "stub"} for m in (self.models or ["any"])]
            self._send(h, 200, json.dumps({"object": "list", "data": data}).encode())
        else:
            self._send(h, 404, b"404 page not found", "text/plain")

    def _handle_post(self, h) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length)
        if h.path.rstrip("/") != "/v1/chat/completions":
            self._send(h, 404, b"404 page not found", "text/plain")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(h, 400, json.dumps({"error": {"message": "invalid JSON body"}}).encode())
            return
        with self._lock:
            self.requests.append(body)
            self.paths.append(h.path)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            fault = self._faults.pop(0) if self._faults else None
            arrived = len(self.requests)
        try:
            if self.die_after is not None and arrived > self.die_after:
                self.die()
                h.close_connection = True
                return
            self._answer(h, body, fault)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout) or was cancelled
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, h, body: dict, fault: dict | None) -> None:
        model = body.get("model")
        if self.models is not None and model not in self.models:
            message = f'model "{model}" not found, try pulling it first'
            self._send(h, 404, json.dumps({"error": {"message": message, "type": "api_error", "param": None, "code": None}}).encode())
            return
        refusal = next((r for r in self.refusals if r.applies(body)), None)
        if refusal is not None:
            payload = refusal.body if isinstance(refusal.body, bytes) else json.dumps(refusal.body).encode()
            self._send(h, refusal.status, payload)
            return
        reply = self.responder(body)
        if isinstance(reply, str):
            reply = Reply(content=reply)
        kind = fault["kind"] if fault else None
        if kind == "status":
            reply = Reply(status=fault.get("status", 500), body=fault.get("body", {"error": {"message": "internal error"}}))
        elif kind == "rate_limit":
            reply = Reply(status=429, body={"error": {"message": "too many requests"}}, headers={"Retry-After": fault.get("retry_after", 0)})
        elif kind == "malformed":
            reply = Reply(body=fault.get("body", b'{"choices": [ this is not json'))
        elif kind == "timeout":
            reply.delay = fault.get("delay", 5.0)
        elif kind == "disconnect":
            reply.disconnect = True
        elif kind == "slow_stream":
            reply.chunk_delay = fault.get("chunk_delay", 0.2)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.disconnect:
            h.close_connection = True
            h.connection.shutdown(2)
            return
        if reply.body is not None:
            payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            self._send(h, reply.status, payload, headers=reply.headers)
            return
        if reply.status != 200:
            self._send(h, reply.status, json.dumps({"error": {"message": f"status {reply.status}"}}).encode(), headers=reply.headers)
            return
        if body.get("stream"):
            self._stream(h, body, reply)
        else:
            self._send(h, 200, json.dumps(self._completion(body, reply)).encode(), headers=reply.headers)

    def _usage(self, body: dict, reply: Reply) -> dict:
        prompt = sum(count_tokens(str(m.get("content") or "")) for m in body.get("messages") or [])
        completion = count_tokens(reply.content) + count_tokens(reply.reasoning or "")
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _completion(self, body: dict, reply: Reply) -> dict:
        message = {"role": "assistant", "content": reply.content}
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
        out = {
            "id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()), "model": body.get("model"),
            "system_fingerprint": "stub", "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
            **reply.extra,
        }
        if reply.usage and self.include_usage:
            out["usage"] = self._usage(body, reply)
        return out

    def _stream(self, h, body: dict, reply: Reply) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        base = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": int(time.time()), "model": body.get("model")}

        def emit(obj) -> None:
            h.wfile.write(b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n")
            h.wfile.flush()

        emit({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        h.wfile.write(b": keep-alive comment\n\n")
        for word in (reply.reasoning or "").split(" ") if reply.reasoning else []:
            if reply.chunk_delay:
                time.sleep(reply.chunk_delay)
            emit({**base, "choices": [{"index": 0, "delta": {"reasoning_content": word + " "}, "finish_reason": None}]})
        pieces = reply.content.split(" ")
        for i, word in enumerate(pieces):
            if reply.chunk_delay:
                time.sleep(reply.chunk_delay)
            text = word if i == len(pieces) - 1 else word + " "
            emit({**base, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})
        for i, call in enumerate(reply.tool_calls or []):
            emit({**base, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": i, **call}]}, "finish_reason": None}]})
        emit({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}]})
        wants_usage = (body.get("stream_options") or {}).get("include_usage")
        if reply.usage and self.include_usage and wants_usage:
            emit({**base, "choices": [], "usage": self._usage(body, reply)})
        emit(b"[DONE]")


@pytest.fixture
def openai_stub():
    """A running OpenAIStub serving model 'stub-model'; set ``.responder``, ``.models`` or queue faults."""
    with OpenAIStub() as stub:
        yield stub
