"""Recorded HTTP exchanges with model APIs: format ``http-recording``.

Tests and proxies keep real API calls as recordings, and a team's recordings are a log of its traffic:

- **VCR cassettes** (YAML): vcrpy and pytest-recording write ``interactions: [{request: {method, uri, body},
  response: {status: {code}, body: {string}}}]``; Ruby's VCR writes ``http_interactions`` with ``recorded_at`` and
  bodies as ``{encoding, string}``.
- **HAR** (JSON, from browsers' developer tools, mitmproxy, Charles, Proxyman): ``log.entries[]`` with
  ``startedDateTime``, ``time`` (ms), ``request {method, url, postData.text}`` and ``response {status, content
  {text, encoding}}`` (base64 bodies are decoded).

Each exchange with a model API (chat completions, Responses, Messages, legacy completions, embeddings, Gemini's
generateContent, Bedrock's Converse, Cohere's chat; streamed answers included) is read as the request/response pair an
app would log (``app_calls.line_record``; Gemini's by the Gemini reader), so the calls give the rows their own logs
give. Any other exchange (a model list, an image, another host) is
skipped and counted, not rejected. An exchange's record number is its position in the recording (for YAML, the
line it starts on).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
from typing import Any, Iterator
from urllib.parse import unquote, urlparse

from ..records import Reject, Skipped, content_hash, excerpt, loads, maybe_json
from . import gemini, register
from .app_calls import records_of
from .app_log import parse_sse
from .generic import READ_ERRORS, item_record

# The paths of model APIs: OpenAI-compatible servers and Anthropic (read by app_calls), Gemini (by its reader).
MODEL_CALL_PATH = re.compile(r"/(chat/completions|responses|messages|completions|embeddings)/?$|:(stream)?[gG]enerateContent$"
                             r"|/model/[^/]+/converse$|^/v[12]/chat$")  # Bedrock's Converse, Cohere's chat
GEMINI_CALL_PATH = re.compile(r":(stream)?[gG]enerateContent$")
CONVERSE_PATH = re.compile(r"/model/([^/]+)/converse$")
CASSETTE_START = re.compile(rb"^(http_)?interactions:", re.M)
HAR_START = re.compile(rb'^\s*\{\s*"log"\s*:\s*\{')


def _text(body: Any) -> Any:
    """A recorded body as text: cassettes keep ``{string: ...}`` (Ruby VCR adds ``encoding``) or a bare string;
    vcrpy keeps a compressed answer as it came, gzip bytes (``!!binary``)."""
    if isinstance(body, dict) and "string" in body:
        body = body["string"]
    if isinstance(body, bytes):
        if body[:2] == b"\x1f\x8b":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                pass  # not whole: read as it is
        body = body.decode("utf-8", "replace")
    return body


def _cassette_body(side: dict) -> Any:
    """A cassette side's body: ``body``, or ``parsed_body`` (pydantic-ai's cassettes keep the JSON parsed)."""
    body = _text(side.get("body"))
    if body in (None, "") and side.get("parsed_body") is not None:
        return side["parsed_body"]
    return body


def _path(url: Any) -> str:
    return urlparse(str(url or "")).path


def _exchange(method: Any, url: Any, request_body: Any, status: Any, response_body: Any, when: Any = None,
              duration_ms: Any = None) -> dict:
    """One exchange as the request/response pair app logs hold (``app_log.pair_sides``/``unwrap_body``)."""
    pair: dict = {"request": {"body": request_body}, "response": {"body": response_body, "status_code": status},
                  "method": method, "url": url}
    if when is not None:
        pair["timestamp"] = when
    if duration_ms is not None:
        pair["duration_ms"] = duration_ms
    return pair


def _records(number: int, pair: dict) -> list:
    if str(pair.get("method") or "POST").upper() != "POST" or not MODEL_CALL_PATH.search(_path(pair.get("url"))):
        return [Skipped(number, f"not a model call ({pair.get('method') or '?'} {_path(pair.get('url')) or '?'})")]
    if pair["response"]["body"] in (None, ""):
        return [Reject(number, "a model call recorded without its response body", excerpt(pair["request"]["body"]))]
    if GEMINI_CALL_PATH.search(_path(pair.get("url"))):
        records = [_gemini_record(number, pair)]
    else:
        converse = CONVERSE_PATH.search(_path(pair.get("url")))
        request = maybe_json(pair["request"]["body"])
        if converse and isinstance(request, dict) and not request.get("modelId"):  # Converse names the model in its path
            pair["request"]["body"] = {**request, "modelId": unquote(converse.group(1))}
        records = records_of(pair, number)
    for record in records:
        if isinstance(record, dict) and not record.get("source_id"):
            # An answer without an id is known by what it holds: two exchanges alike but for their usage (a cache
            # written, then read) are two calls.
            record.setdefault("_logged", content_hash(pair))
    return records


def _gemini_record(number: int, pair: dict) -> Any:
    """A Gemini API exchange, read by the Gemini reader (a streamed answer's SSE chunks joined)."""
    body = pair["response"]["body"]
    response = parse_sse(body) if isinstance(body, str) and body.lstrip().startswith("data:") else maybe_json(body)
    row = {"request": maybe_json(pair["request"]["body"]), "response": response, "timestamp": pair.get("timestamp"),
           "duration_ms": pair.get("duration_ms"), "status_code": pair["response"].get("status_code")}
    return item_record(number, row, gemini.row_record, "a Gemini API exchange", errors=(*READ_ERRORS, OverflowError, KeyError))


# ---------------------------------------------------------------------------------------------
# VCR cassettes
# ---------------------------------------------------------------------------------------------


def _cassette_interactions(text: str) -> Iterator[tuple[int, dict]]:
    """(line, interaction) of a cassette, each numbered by the line it starts on."""
    import yaml

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return
    for key_node, value_node in root.value:
        if key_node.value in ("interactions", "http_interactions") and isinstance(value_node, yaml.SequenceNode):
            loader = yaml.SafeLoader("")
            for item in value_node.value:
                yield item.start_mark.line + 1, loader.construct_document(item)


def _cassette_pair(interaction: dict) -> dict:
    request = interaction.get("request") or {}
    response = interaction.get("response") or {}
    status = response.get("status")
    code = status.get("code") if isinstance(status, dict) else response.get("code", status)
    # go-vcr (Go's cassettes) names the request's address `url` and writes the status as text ("200 OK") beside `code`.
    return _exchange(request.get("method"), request.get("uri") or request.get("url"), _cassette_body(request), code,
                     _cassette_body(response), when=interaction.get("recorded_at"))


# ---------------------------------------------------------------------------------------------
# HAR
# ---------------------------------------------------------------------------------------------


def _har_content(content: Any) -> Any:
    if not isinstance(content, dict):
        return None
    text = content.get("text")
    if isinstance(text, str) and content.get("encoding") == "base64":
        try:
            return base64.b64decode(text).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return None
    return text


def _har_pair(entry: dict) -> dict:
    request = entry.get("request") or {}
    response = entry.get("response") or {}
    post = request.get("postData") or {}
    duration = entry.get("time")
    return _exchange(request.get("method"), request.get("url"), post.get("text") if isinstance(post, dict) else None,
                     response.get("status"), _har_content(response.get("content")), when=entry.get("startedDateTime"),
                     duration_ms=duration if isinstance(duration, (int, float)) and duration >= 0 else None)


# ---------------------------------------------------------------------------------------------
# Format
# ---------------------------------------------------------------------------------------------


class HttpRecording:
    """VCR cassettes and HAR files of calls to model APIs."""

    name = "http-recording"
    label = "a recording of HTTP exchanges (VCR cassette or HAR)"
    order = 40
    skipped_hint = ("only POSTs to a model API (/chat/completions, /responses, /messages, /completions, /embeddings) "
                    "are model calls; the other exchanges are skipped")

    def sniff(self, src) -> int:
        head = src.head()
        if CASSETTE_START.search(head) and (b"request:" in head or b"uri:" in head):
            return 90
        if HAR_START.match(head) and (b'"entries"' in head or b'"creator"' in head):
            return 90
        return 0

    def parse(self, src, ctx):
        text = src.read_text()
        if HAR_START.match(text[:4096].encode("utf-8", "replace")):
            yield from self._har(src, text)
            return
        try:
            interactions = list(_cassette_interactions(text))
        except Exception as exc:  # yaml's errors carry the line; one reject names it
            yield Reject(getattr(getattr(exc, "problem_mark", None), "line", -1) + 1 or None,
                         f"not readable as a YAML cassette ({str(exc).splitlines()[0]})", "")
            return
        for line, interaction in interactions:
            if not isinstance(interaction, dict):
                yield Reject(line, "a cassette interaction that is not a mapping", excerpt(interaction))
                continue
            yield from _records(line, _cassette_pair(interaction))

    def _har(self, src, text: str):
        try:
            har = loads(text)
        except ValueError as exc:
            yield Reject(None, f"not readable as a HAR file ({exc})", excerpt(text[:200]))
            return
        entries = (har.get("log") or {}).get("entries") if isinstance(har, dict) else None
        if not isinstance(entries, list):
            yield Reject(None, "a HAR file without log.entries", excerpt(text[:200]))
            return
        for number, entry in enumerate(entries, start=1):
            if not isinstance(entry, dict):
                yield Reject(number, "a HAR entry that is not an object", excerpt(entry))
                continue
            yield from _records(number, _har_pair(entry))


register(HttpRecording())
