"""A small client for OpenAI-compatible ``/v1/chat/completions`` endpoints (Ollama, llama.cpp, vLLM, LM Studio).

It sends only standard OpenAI fields and tolerates what real servers do: missing ``usage``, extra fields,
streams without a usage chunk, reasoning returned as ``reasoning_content``/``reasoning`` or inline
``<think>`` blocks. Transient failures (connection errors, timeouts, 429, 5xx, malformed bodies, dropped
streams) are retried with exponential backoff; a missing model or a wrong URL fails at once with a
sentence that says what to do.

``chat()`` is the simple synchronous entry (used by the judge and by category naming); ``achat()`` is the
same call for asyncio code that runs many at once with one shared ``httpx.AsyncClient``.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from .endpoints import looks_like_ollama
from .errors import PlanError

DEFAULT_TIMEOUT_S = 600.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
CHARS_PER_TOKEN = 4  # rough estimate for English text when a server reports no usage

TRANSIENT = frozenset({"unreachable", "timeout", "server_error", "malformed"})
FATAL = frozenset({"unreachable", "model_not_found", "endpoint_not_found", "auth"})
ERROR_CLASSES = ("transient", "deterministic")


@dataclass
class ChatResult:
    text: str
    finish_reason: str | None = None
    model: str | None = None
    reasoning: str | None = None
    tool_calls: list | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    tokens_estimated: bool = False
    latency_ms: float = 0.0
    ttft_ms: float | None = None  # time to first token, when streaming
    output_tokens_per_s: float | None = None  # end to end: output tokens / latency
    attempts: int = 1
    usage: dict | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return asdict(self)


class LLMError(PlanError):
    """A call that failed. ``kind`` is one of: unreachable, timeout, server_error, malformed,
    model_not_found, endpoint_not_found, auth, bad_request, unsupported_param. ``fatal`` kinds make further
    calls pointless. ``param`` names the request field the server refused (unsupported_param only)."""

    def __init__(self, kind: str, message: str, *, status: int | None = None, attempts: int = 1,
                 retry_after: float | None = None, param: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.attempts = attempts
        self.retry_after = retry_after
        self.param = param

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT

    @property
    def fatal(self) -> bool:
        return self.kind in FATAL

    @property
    def error_class(self) -> str:
        return error_class(self.kind)


def error_class(kind: str | None) -> str:
    """``transient`` (asking again may work: timeouts, dropped connections, 429, 5xx without a complaint about
    the request) or ``deterministic`` (the endpoint refuses this request as it is: asking again will not help)."""
    return "transient" if kind in TRANSIENT else "deterministic"


def chat_url(endpoint: str) -> str:
    return endpoint.rstrip("/") + "/chat/completions"


def _api_key(explicit: str | None) -> str | None:
    return explicit or os.environ.get("PLAN_API_KEY") or None


def _headers(api_key: str | None) -> dict:
    headers = {"Accept": "application/json, text/event-stream"}
    key = _api_key(api_key)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") if isinstance(p, dict) else str(p) for p in content)
    return str(content)


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def estimate_input_tokens(messages: list[dict]) -> int:
    total = 0
    for m in messages:
        total += estimate_tokens(_text_of(m.get("content"))) + 4  # role and separators
        for call in m.get("tool_calls") or []:
            total += estimate_tokens(json.dumps(call.get("function") or {}))
    return total


THINK_BLOCK = re.compile(r"^\s*<think>(.*?)</think>\s*", re.DOTALL)


def split_reasoning(text: str, reasoning: str | None) -> tuple[str, str | None]:
    """Move a leading ``<think>...</think>`` block (llama.cpp without a reasoning parser) out of the answer."""
    match = THINK_BLOCK.match(text or "")
    if match:
        inline = match.group(1).strip()
        reasoning = "\n".join(r for r in (reasoning, inline) if r) or None
        text = text[match.end():]
    return text, reasoning


def _error_fields(body: bytes | str) -> tuple[str, str | None, str | None]:
    """(message, code, param) from an error body in any of the shapes servers use: OpenAI's and vLLM's
    ``{"error": {"message", "type", "param"}}``, Ollama's and LM Studio's ``{"error": "..."}``, FastAPI's
    ``{"detail": [...]}`` (llama-cpp-python), or plain text (llama.cpp's older builds)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        obj = json.loads(body)
    except ValueError:
        return body.strip()[:300], None, None
    if isinstance(obj, dict):
        err = obj.get("error", obj)
        if isinstance(err, dict):
            message = err.get("message") or err.get("detail") or obj.get("message") or json.dumps(err)
            param = err.get("param") if isinstance(err.get("param"), str) else None
            return str(message)[:300], err.get("code") or err.get("type"), param
        if isinstance(err, str):
            return err[:300], None, None
        if "detail" in obj:
            return str(obj["detail"])[:300], None, None
    return body.strip()[:300], None, None


def _error_message(body: bytes | str) -> tuple[str, str | None]:
    """(message, code) from an error body."""
    message, code, _ = _error_fields(body)
    return message, code


# What servers say when they refuse a request field, matched against the fields sent (most specific first):
# llama.cpp "tools param requires --jinja flag", "Unsupported param: tools", 'response_format type must be
# one of "text" or "json_object", but got: json_schema'; Ollama "... does not support tools"; vLLM '"auto" tool
# choice requires --enable-auto-tool-choice' and pydantic locations ('body', 'response_format', 'type');
# LM Studio "'response_format.type' must be 'json_schema' or 'text'".
_PARAM_PATTERNS = (
    (re.compile(r"does not support tools|tools? param|tool calling is not supported", re.I), "tools"),
    (re.compile(r"tool[ _]choice", re.I), "tool_choice"),
    (re.compile(r"json[ _-]?schema|json[ _-]?object|response[ _]format|structured output|grammar", re.I), "response_format"),
    (re.compile(r"(?:unsupported|unrecognized|unknown|unexpected|invalid)\s+(?:request\s+)?(?:param(?:eter)?|argument|field|key)s?"
                r"(?:\s+supplied)?\s*[:=]?\s*['\"`]?([a-z_]+)", re.I), None),
)


def rejected_param(message: str, param: str | None, sent: dict) -> str | None:
    """The request field an error complains about, when it is one that was sent (None otherwise)."""
    sent_keys = {k for k, v in sent.items() if v is not None and k not in ("model", "messages", "stream")}
    if param:
        root = re.split(r"[.\[]", param, maxsplit=1)[0]
        if root in sent_keys:
            return root
    for pattern, name in _PARAM_PATTERNS:
        found = pattern.search(message or "")
        if not found:
            continue
        candidate = name or found.group(1)
        if candidate in sent_keys:
            return candidate
    words = {w.lower() for w in re.findall(r"[A-Za-z_]+", message or "")}
    named = [k for k in sent_keys if k.lower() in words and "_" in k]  # e.g. frequency_penalty, parallel_tool_calls
    return sorted(named)[0] if named else None


def _retry_after(headers) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def unreachable_message(endpoint: str, model: str, reason: str) -> str:
    if looks_like_ollama(endpoint):
        hint = (f"Start Ollama (`ollama serve`) and pull the model (`ollama pull {model}`), or pass --endpoint "
                "(`--endpoint embedded` runs the bundled small model).")
    else:
        hint = "Start the model server, or pass --endpoint (`--endpoint embedded` runs the bundled small model)."
    return f"Cannot reach the model server at {endpoint} ({reason}). {hint}"


def model_not_found_message(endpoint: str, model: str, server_says: str) -> str:
    ollama = looks_like_ollama(endpoint) or "pull" in server_says.lower()
    hint = f"Pull it with `ollama pull {model}`, or pass --model." if ollama else "Load it on the server, or pass --model with a model the server has."
    return f"The model server at {endpoint} does not have the model '{model}' ({server_says}). {hint}"


def _classify_http_error(status: int, body: bytes, headers, endpoint: str, model: str, sent: dict | None = None) -> LLMError:
    message, code, param = _error_fields(body)
    lowered = message.lower()
    refused = rejected_param(message, param, sent or {}) if status in (400, 422) or status >= 500 else None
    if refused is not None:
        # A refused field is deterministic even when the server answers 500 (llama.cpp does for some).
        return LLMError("unsupported_param", f"HTTP {status} from {endpoint}: {message}", status=status, param=refused)
    if status == 404 or code == "model_not_found":
        if code == "model_not_found" or "model" in lowered or model.lower() in lowered:
            return LLMError("model_not_found", model_not_found_message(endpoint, model, message), status=status)
        return LLMError(
            "endpoint_not_found",
            f"{chat_url(endpoint)} answered 404 Not Found: is {endpoint} the server's OpenAI-compatible base URL "
            "(usually ending in /v1)?",
            status=status,
        )
    if status in (401, 403):
        return LLMError("auth", f"The model server at {endpoint} refused the request ({status}: {message}). "
                        "Set PLAN_API_KEY if it needs an API key.", status=status)
    if status == 429 or status >= 500:
        return LLMError("server_error", f"HTTP {status} from {endpoint}: {message}", status=status, retry_after=_retry_after(headers))
    if status == 408:
        return LLMError("timeout", f"HTTP 408 from {endpoint}: {message}", status=status)
    return LLMError("bad_request", f"HTTP {status} from {endpoint}: {message}", status=status)


def build_body(model: str, messages: list[dict], params: dict | None, stream: bool) -> dict:
    body: dict[str, Any] = {"model": model, "messages": messages}
    for key, value in (params or {}).items():
        if value is not None and key not in ("model", "messages", "stream", "stream_options"):
            body[key] = value
    body["stream"] = bool(stream)
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def _parse_completion(obj: Any) -> dict:
    if not isinstance(obj, dict):
        raise ValueError("the body is not a JSON object")
    if "error" in obj and not obj.get("choices"):
        raise _ServerReportedError(_error_message(json.dumps(obj))[0])
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("the body has no choices")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise ValueError("the first choice has no message")
    return {
        "text": _text_of(message.get("content")),
        "reasoning": message.get("reasoning_content") or message.get("reasoning") or None,
        "tool_calls": message.get("tool_calls") or None,
        "finish_reason": choices[0].get("finish_reason"),
        "model": obj.get("model"),
        "usage": obj.get("usage") if isinstance(obj.get("usage"), dict) else None,
        "content_chunks": None,
    }


class _ServerReportedError(Exception):
    pass


async def _read_stream(response, started: float) -> tuple[dict, float | None]:
    text_parts: list[str] = []
    reasoning_parts: list[str] = []
    tool_calls: dict[int, dict] = {}
    finish_reason = None
    model = None
    usage = None
    ttft = None
    chunks_with_output = 0
    saw_done = False
    async for line in response.aiter_lines():
        line = line.strip()
        if not line or line.startswith(":") or not line.startswith("data:"):
            continue  # blank separators, SSE comments/pings, event: lines
        payload = line[5:].strip()
        if payload == "[DONE]":
            saw_done = True
            break
        chunk = json.loads(payload)  # ValueError -> malformed, retried
        if not isinstance(chunk, dict):
            raise ValueError("a stream chunk is not a JSON object")
        if "error" in chunk and not chunk.get("choices"):
            raise _ServerReportedError(_error_message(payload)[0])
        model = chunk.get("model") or model
        if isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            got = False
            content = _text_of(delta.get("content"))
            if content:
                text_parts.append(content)
                got = True
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                reasoning_parts.append(str(reasoning))
                got = True
            for call in delta.get("tool_calls") or []:
                slot = tool_calls.setdefault(call.get("index", len(tool_calls)), {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
                slot["id"] = call.get("id") or slot["id"]
                fn = call.get("function") or {}
                slot["function"]["name"] += fn.get("name") or ""
                slot["function"]["arguments"] += fn.get("arguments") or ""
                got = True
            if got:
                chunks_with_output += 1
                if ttft is None:
                    ttft = (time.perf_counter() - started) * 1000
            if choice.get("finish_reason"):
                finish_reason = choice["finish_reason"]
    if not saw_done and finish_reason is None:
        raise ValueError("the stream ended before a finish reason or [DONE]")
    return {
        "text": "".join(text_parts),
        "reasoning": "".join(reasoning_parts) or None,
        "tool_calls": [tool_calls[i] for i in sorted(tool_calls)] or None,
        "finish_reason": finish_reason,
        "model": model,
        "usage": usage,
        "content_chunks": chunks_with_output,
    }, ttft


async def _attempt(client, endpoint: str, model: str, body: dict, timeout: float, headers: dict) -> tuple[dict, float, float | None]:
    import httpx

    url = chat_url(endpoint)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            if body.get("stream"):
                async with client.stream("POST", url, json=body, headers=headers) as response:
                    if response.status_code != 200:
                        raw = await response.aread()
                        raise _classify_http_error(response.status_code, raw, response.headers, endpoint, model, body)
                    if "json" in response.headers.get("content-type", "") and "event-stream" not in response.headers.get("content-type", ""):
                        parsed = _parse_completion(json.loads(await response.aread()))  # server ignored stream=true
                        ttft = None
                    else:
                        parsed, ttft = await _read_stream(response, started)
            else:
                response = await client.post(url, json=body, headers=headers)
                if response.status_code != 200:
                    raise _classify_http_error(response.status_code, response.content, response.headers, endpoint, model, body)
                parsed = _parse_completion(json.loads(response.content))
                ttft = None
    except LLMError:
        raise
    except (TimeoutError, httpx.TimeoutException) as exc:
        if isinstance(exc, httpx.ConnectTimeout):
            raise LLMError("unreachable", unreachable_message(endpoint, model, "connection timed out")) from exc
        raise LLMError("timeout", f"No complete answer from {endpoint} within {timeout:g} s.") from exc
    except httpx.ConnectError as exc:
        raise LLMError("unreachable", unreachable_message(endpoint, model, str(exc) or "connection refused")) from exc
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise LLMError("server_error", f"The connection to {endpoint} broke mid-answer ({exc or type(exc).__name__}).") from exc
    except _ServerReportedError as exc:
        raise LLMError("server_error", f"{endpoint} reported an error: {exc}") from exc
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise LLMError("malformed", f"{endpoint} sent a malformed answer ({exc}).") from exc
    latency_ms = (time.perf_counter() - started) * 1000
    return parsed, latency_ms, ttft


def _result(parsed: dict, latency_ms: float, ttft: float | None, messages: list[dict], attempts: int) -> ChatResult:
    text, reasoning = split_reasoning(parsed["text"], parsed["reasoning"])
    usage = parsed["usage"] or {}
    input_tokens = usage.get("prompt_tokens") if isinstance(usage.get("prompt_tokens"), int) else None
    output_tokens = usage.get("completion_tokens") if isinstance(usage.get("completion_tokens"), int) else None
    estimated = False
    if input_tokens is None:
        input_tokens = estimate_input_tokens(messages)
        estimated = True
    if output_tokens is None:
        if parsed["content_chunks"]:
            output_tokens = parsed["content_chunks"]  # streaming servers send about one token per chunk
        else:
            tool_text = json.dumps(parsed["tool_calls"]) if parsed["tool_calls"] else ""
            output_tokens = estimate_tokens(text + (reasoning or "") + tool_text)
        estimated = True
    per_s = output_tokens / (latency_ms / 1000) if latency_ms > 0 and output_tokens else None
    return ChatResult(
        text=text,
        finish_reason=parsed["finish_reason"],
        model=parsed["model"],
        reasoning=reasoning,
        tool_calls=parsed["tool_calls"],
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        tokens_estimated=estimated,
        latency_ms=latency_ms,
        ttft_ms=ttft,
        output_tokens_per_s=per_s,
        attempts=attempts,
        usage=parsed["usage"],
    )


def backoff_delay(attempt: int, base: float, retry_after: float | None = None) -> float:
    if retry_after is not None:
        return min(retry_after, 60.0)
    return min(MAX_BACKOFF_S, base * (2 ** attempt)) + random.uniform(0, base)


async def achat(
    endpoint: str,
    model: str,
    messages: list[dict],
    *,
    params: dict | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    stream: bool = False,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF_S,
    client=None,
    api_key: str | None = None,
) -> ChatResult:
    """One chat completion with retries. Raises ``LLMError`` when it cannot get an answer."""
    import httpx

    own_client = client is None
    if own_client:
        client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)), trust_env=False)
    body = build_body(model, messages, params, stream)
    headers = _headers(api_key)
    attempt = 0
    try:
        while True:
            attempt += 1
            try:
                parsed, latency_ms, ttft = await _attempt(client, endpoint, model, body, timeout, headers)
                return _result(parsed, latency_ms, ttft, messages, attempt)
            except LLMError as exc:
                exc.attempts = attempt
                if "stream_options" in body and (exc.param == "stream_options" or (exc.kind == "bad_request" and "stream_options" in str(exc))):
                    body = {k: v for k, v in body.items() if k != "stream_options"}  # an older server
                    attempt -= 1
                    continue
                if not exc.transient or attempt > retries:
                    raise
                await asyncio.sleep(backoff_delay(attempt - 1, backoff, exc.retry_after))
    finally:
        if own_client:
            await client.aclose()


def chat(
    endpoint: str,
    model: str,
    messages: list[dict],
    *,
    params: dict | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    stream: bool = False,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF_S,
    api_key: str | None = None,
) -> ChatResult:
    """Synchronous ``achat``. Safe to call from Jupyter, where an event loop is already running.

    Example::

        result = chat("http://localhost:11434/v1", "qwen3.6:35b-a3b",
                      [{"role": "user", "content": "Say hi"}], params={"max_tokens": 20})
        print(result.text, result.output_tokens)
    """
    call = lambda: asyncio.run(achat(endpoint, model, messages, params=params, timeout=timeout, stream=stream,
                                     retries=retries, backoff=backoff, api_key=api_key))
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


async def alist_models(endpoint: str, *, timeout: float = 10.0, client=None, api_key: str | None = None) -> list[str] | None:
    """Model ids from ``GET /models``; None when the server has no such route. Raises LLMError('unreachable')."""
    import httpx

    own_client = client is None
    if own_client:
        client = httpx.AsyncClient(timeout=httpx.Timeout(timeout), trust_env=False)
    try:
        try:
            response = await client.get(endpoint.rstrip("/") + "/models", headers=_headers(api_key), timeout=timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise LLMError("unreachable", str(exc) or "connection refused") from exc
        except httpx.HTTPError as exc:
            raise LLMError("unreachable", f"{type(exc).__name__}: {exc}") from exc
        if response.status_code in (401, 403):
            raise LLMError("auth", f"The model server at {endpoint} refused to list models ({response.status_code}). "
                           "Set PLAN_API_KEY if it needs an API key.", status=response.status_code)
        if response.status_code != 200:
            return None
        try:
            data = response.json().get("data") or []
            return [str(m.get("id")) for m in data if isinstance(m, dict) and m.get("id")]
        except (ValueError, AttributeError):
            return None
    finally:
        if own_client:
            await client.aclose()
