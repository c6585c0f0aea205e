"""AWS Bedrock model-invocation logs (schemaType ModelInvocationLog).

Accepted as Bedrock writes or AWS tools export them:
- raw records: S3 delivery (JSON Lines, usually .json.gz), one pretty-printed record, or a list of records;
- CloudWatch Logs exports: lists of {"@message": ...} (the console), {"events": [{"message": ...}]}
  (filter-log-events / get-log-events), Logs Insights {"results": [[{"field", "value"}, ...]]} or its CSV,
  subscription/Firehose envelopes {"logEvents": [...]}, and CreateExportTask text lines "<timestamp> <json>";
- Bedrock batch inference output ({"recordId", "modelInput", "modelOutput"}), marked is_batch.

Bodies are read per API: Converse/ConverseStream, and InvokeModel bodies of Anthropic, Nova, Titan, Llama,
Mistral, Cohere, AI21, DeepSeek and OpenAI-compatible models, including streamed chunk lists.
`input_tokens` counts cache reads and writes, which Bedrock reports beside `inputTokenCount`.
A body Bedrock wrote as an S3 object of its own (inputBodyS3Path, outputBodyS3Path) is read by ``s3_bodies``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..records import Reject, excerpt, first_json_object, loads, maybe_json, to_utc
from . import register
from .generic import (
    chat_request_fields,
    decode_json,
    file_kind,
    head_text,
    iter_rows,
    params_from_body,
    response_text,
    split_conversation,
    system_text,
    to_int,
    usage_fields,
)

if TYPE_CHECKING:
    from ..s3_bodies import FileBodies

_PREFIXED_LINE = re.compile(r"^\s*(\d{4}-\d\d-\d\dT[\d:.]+Z?|\d{10,13})\s+(\{.*\})\s*$")
_LLAMA3_TURN = re.compile(r"<\|start_header_id\|>\s*(\w+)\s*<\|end_header_id\|>\s*(.*?)(?=<\|eot_id\|>|<\|start_header_id\|>|$)", re.S)
_INST = re.compile(r"\[INST\](.*?)\[/INST\]", re.S)
_SYS = re.compile(r"<<SYS>>(.*?)<</SYS>>", re.S)
_DEEPSEEK_USER = re.compile(r"<｜User｜>(.*?)(?=<｜Assistant｜>|$)", re.S)
_SPECIAL_TOKENS = re.compile(r"<\|[a-z_]+\|>|</?s>|<｜[^｜]+｜>")
_GUARDRAIL_STOPS = {"guardrail_intervened", "content_filtered", "content_filter"}


def _prefixed_line(line: str):
    """A CloudWatch CreateExportTask line: '2025-03-11T00:38:02.123Z {"schemaType": ...}'."""
    match = _PREFIXED_LINE.match(line)
    if not match:
        return None
    try:
        return loads(match.group(2))
    except ValueError:
        return None


def _prompt_template_fields(prompt: str) -> dict:
    """System and user text out of Llama 3, Llama 2/Mistral [INST] and DeepSeek prompt templates."""
    turns = [(role.lower(), text.strip()) for role, text in _LLAMA3_TURN.findall(prompt)]
    messages: list[dict] = []
    if turns:
        messages = [{"role": role if role != "ipython" else "tool", "content": text} for role, text in turns if text]
    elif _INST.search(prompt):
        for block in _INST.findall(prompt):
            sys_match = _SYS.search(block)
            if sys_match:
                messages.append({"role": "system", "content": sys_match.group(1).strip()})
                block = _SYS.sub("", block)
            messages.append({"role": "user", "content": block.strip()})
    elif _DEEPSEEK_USER.search(prompt):
        messages = [{"role": "user", "content": text.strip()} for text in _DEEPSEEK_USER.findall(prompt)]
    if not messages:
        text = _SPECIAL_TOKENS.sub("", prompt).strip()
        messages = [{"role": "user", "content": text}]
    system, user = split_conversation(messages)
    return {"system_prompt": system, "prompt_text": user, "messages_json": messages}


def input_fields(body) -> dict:
    """system_prompt, messages_json, prompt_text and params_json from a Bedrock request body."""
    body = decode_json(body)
    if not isinstance(body, dict):
        return chat_request_fields(body) if body is not None else {}
    if isinstance(body.get("prompt"), str) and "messages" not in body:  # Llama, Mistral, DeepSeek, Cohere, AI21 J2
        fields = _prompt_template_fields(body["prompt"])
    elif isinstance(body.get("inputText"), str):  # Titan text and embeddings
        fields = {"prompt_text": body["inputText"], "messages_json": [{"role": "user", "content": body["inputText"]}]}
    elif isinstance(body.get("texts"), list):  # Cohere embed
        text = "\n".join(str(t) for t in body["texts"])
        fields = {"prompt_text": text, "messages_json": [{"role": "user", "content": text}]}
    elif isinstance(body.get("textToImageParams"), dict):  # Titan / Nova Canvas image generation
        text = str(body["textToImageParams"].get("text") or "")
        fields = {"prompt_text": text, "messages_json": [{"role": "user", "content": text}]}
    else:
        fields = chat_request_fields(body)  # Converse, Anthropic, Nova, Mistral chat, Jamba, gpt-oss, Cohere chat
        if "system" in body and not fields.get("system_prompt"):
            fields["system_prompt"] = system_text(body["system"])
    params = params_from_body(body)
    if params:
        fields["params_json"] = params
    return fields


def _stream_usage(chunks: list) -> dict:
    """Usage and latency carried by a streamed response's chunks (Anthropic events, Bedrock invocation metrics)."""
    usage: dict = {}
    latency = None
    for chunk in chunks:
        chunk = decode_json(chunk)
        if not isinstance(chunk, dict):
            continue
        metrics = chunk.get("amazon-bedrock-invocationMetrics")
        if isinstance(metrics, dict):
            usage.setdefault("input_tokens", to_int(metrics.get("inputTokenCount")))
            usage.setdefault("output_tokens", to_int(metrics.get("outputTokenCount")))
            latency = metrics.get("invocationLatency", latency)
        if chunk.get("type") == "message_start":
            usage.update(usage_fields((chunk.get("message") or {}).get("usage")))
        if chunk.get("type") == "message_delta" and isinstance(chunk.get("usage"), dict):
            out = to_int(chunk["usage"].get("output_tokens"))
            if out is not None:
                usage["output_tokens"] = out
        if isinstance(chunk.get("metadata"), dict):  # ConverseStream metadata event
            usage.update(usage_fields(chunk["metadata"].get("usage")))
            latency = (chunk["metadata"].get("metrics") or {}).get("latencyMs", latency)
    return {"usage": {k: v for k, v in usage.items() if v is not None}, "latency": latency}


def output_fields(body) -> dict:
    """response_text, stop reason, usage, latency and guardrail verdict from a Bedrock response body."""
    body = decode_json(body)
    out: dict = {"response_text": response_text(body)}
    if isinstance(body, list):
        streamed = _stream_usage(body)
        out["usage"] = streamed["usage"]
        out["latency"] = streamed["latency"]
        stops = [
            (c.get("delta") or {}).get("stop_reason") or (c.get("messageStop") or {}).get("stopReason")
            for c in (decode_json(x) for x in body)
            if isinstance(c, dict)
        ]
        out["stop_reason"] = next((s for s in reversed(stops) if s), None)
        out["guardrail"] = any(
            isinstance(c, dict) and c.get("amazon-bedrock-guardrailAction") == "INTERVENED" for c in (decode_json(x) for x in body)
        )
        return out
    if not isinstance(body, dict):
        return out
    usage = usage_fields(body.get("usage"))
    if not usage:
        if "prompt_token_count" in body or "generation_token_count" in body:  # Llama
            usage = {"input_tokens": to_int(body.get("prompt_token_count")), "output_tokens": to_int(body.get("generation_token_count"))}
        elif "inputTextTokenCount" in body:  # Titan
            results = body.get("results") or []
            output = sum(to_int(r.get("tokenCount")) or 0 for r in results if isinstance(r, dict)) if results else None
            usage = {"input_tokens": to_int(body.get("inputTextTokenCount")), "output_tokens": output}
    out["usage"] = {k: v for k, v in usage.items() if v is not None}
    out["latency"] = (body.get("metrics") or {}).get("latencyMs") if isinstance(body.get("metrics"), dict) else None
    out["stop_reason"] = body.get("stopReason") or body.get("stop_reason") or _first_stop(body)
    out["guardrail"] = body.get("amazon-bedrock-guardrailAction") == "INTERVENED" or str(out["stop_reason"] or "").lower() in _GUARDRAIL_STOPS
    out["error"] = body.get("error") or body.get("message") if body.get("__type") or body.get("error") else None
    return out


def _first_stop(body: dict):
    for key in ("results", "outputs", "choices", "generations"):
        items = body.get(key)
        if isinstance(items, list) and items and isinstance(items[0], dict):
            return items[0].get("completionReason") or items[0].get("stop_reason") or items[0].get("finish_reason")
    return None


def _unflatten(row: dict) -> dict:
    """Logs Insights rows name nested fields with dots ('input.inputTokenCount'); nest them again."""
    out: dict = {}
    for key, value in row.items():
        if key.startswith("@"):
            continue
        target = out
        parts = key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                break
        else:
            target[parts[-1]] = value
    return out


def _header(meta: dict, name: str):
    headers = meta.get("HTTPHeaders")
    return headers.get(name) if isinstance(headers, dict) else None


def saved_response(item: dict) -> dict | None:
    """A response boto3 returned, as apps save it (``json.dump(resp, default=str)``), read as the invocation log
    Bedrock would have written for it: ``invoke_model``'s ``{"modelId", "body", "ResponseMetadata"}`` (the body read
    and parsed) or ``converse``'s ``{"output", "usage", "metrics", "stopReason", "ResponseMetadata"}`` (which names no
    model: unpriced unless the app added ``modelId``). The token counts and latency Bedrock sent as headers count
    where the body has none; a line with an ``error`` or a status of 400 or more is a failed call."""
    meta = item.get("ResponseMetadata")
    if not isinstance(meta, dict) or "schemaType" in item or "input" in item:
        return None
    converse = isinstance(item.get("output"), dict) and isinstance(item.get("usage"), dict)
    if not converse and not ("modelId" in item and ("body" in item or "error" in item)):
        return None
    status = meta.get("HTTPStatusCode")
    failed = item.get("error") or (isinstance(status, int) and status >= 400)
    output = ({"errorCode": str(item.get("error") or f"HTTP {status}")[:200]} if failed
              else {"outputBodyJson": item if converse else decode_json(item.get("body"))})
    return {"modelId": item.get("modelId"), "requestId": meta.get("RequestId"), "timestamp": _header(meta, "date"),
            "operation": "Converse" if converse else "InvokeModel", "input": {}, "output": output, "_saved_response": True,
            "_headers": {key: _header(meta, f"x-amzn-bedrock-{key}") for key in SAVED_HEADERS}}


SAVED_HEADERS = ("input-token-count", "output-token-count", "invocation-latency")


def _from_headers(record: dict, headers: dict) -> None:
    """What a saved response's body does not say (Mistral's bodies hold no usage), as Bedrock's headers say it."""
    for column, key in (("input_tokens", "input-token-count"), ("output_tokens", "output-token-count")):
        if record.get(column) is None and headers.get(key) is not None:
            record[column] = to_int(headers[key], key)
    if record.get("duration_ms") is None and headers.get("invocation-latency") is not None:
        record["duration_ms"] = float(headers["invocation-latency"])


def invocation_record(item):
    """The ModelInvocationLog (or batch output record) inside an exported item; None for control messages."""
    item = maybe_json(item)
    if not isinstance(item, dict):
        raise ValueError("expected a JSON object")
    if item.get("messageType") == "CONTROL_MESSAGE":
        return None
    if (saved := saved_response(item)) is not None:
        return saved
    if "@message" not in item and any("." in k for k in item) and ("modelId" in item or "requestId" in item):
        return _unflatten(item)
    if "schemaType" in item or ("modelId" in item and ("input" in item or "operation" in item)):
        return item
    if "recordId" in item and ("modelInput" in item or "modelOutput" in item):
        return item
    for key in ("@message", "message", "Message"):
        if key in item:
            inner = maybe_json(item[key])
            if isinstance(inner, dict):
                return invocation_record(inner)
            raise ValueError(f"{key} is not a JSON invocation record")
    raise ValueError("no Bedrock invocation record here (no schemaType, modelId or @message)")


def _inline_body(side: dict, json_key: str, text_key: str):
    body = side.get(json_key)
    return side.get(text_key) if body is None else body


def _bodies(inp: dict, outp: dict, beside: FileBodies | None) -> tuple:
    """The request and response bodies: inline, else read from the objects Bedrock wrote beside the log."""
    body_in = _inline_body(inp, "inputBodyJson", "inputBodyText")
    body_out = _inline_body(outp, "outputBodyJson", "outputBodyText")
    elsewhere = {name: side[name] for name, side, inline in
                 (("inputBodyS3Path", inp, body_in), ("outputBodyS3Path", outp, body_out))
                 if inline is None and side.get(name)}
    if beside is None or not elsewhere:
        return body_in, body_out
    read = beside.read_record(elsewhere)
    return read.get("inputBodyS3Path", body_in), read.get("outputBodyS3Path", body_out)


def _body_urls(row: tuple) -> list[str]:
    """The body objects a row's record names (none for a row that is not an invocation record)."""
    try:
        rec = invocation_record(row[1])
    except (ValueError, TypeError, AttributeError):
        return []
    if not isinstance(rec, dict):
        return []
    sides = (maybe_json(rec.get("input")), maybe_json(rec.get("output")))
    return [side[name] for side in sides if isinstance(side, dict)
            for name in ("inputBodyS3Path", "outputBodyS3Path") if side.get(name)]


def _served_model(body) -> str | None:
    """The model a response body names (Anthropic and OpenAI-compatible bodies do; a stream names it at its start)."""
    body = decode_json(body)
    for chunk in body if isinstance(body, list) else [body]:
        chunk = decode_json(chunk)
        if not isinstance(chunk, dict):
            continue
        message = chunk.get("message") if chunk.get("type") == "message_start" else chunk
        model = message.get("model") if isinstance(message, dict) else None
        if isinstance(model, str) and model:
            return model
    return None


def record_fields(rec: dict, beside: FileBodies | None = None) -> dict:
    """A `requests` record from one ModelInvocationLog; ``beside`` reads the bodies Bedrock wrote as objects of their
    own (too large or binary to log inline), and counts them."""
    if "recordId" in rec and "modelInput" in rec:
        return _batch_fields(rec)
    model = rec.get("modelId")
    if not model and not rec.get("_saved_response"):
        raise ValueError("invocation record without modelId")
    inp = maybe_json(rec.get("input")) or {}
    outp = maybe_json(rec.get("output")) or {}
    if not isinstance(inp, dict) or not isinstance(outp, dict):
        raise ValueError("input/output are not objects")
    record: dict = {"provider": "bedrock", "model": model, "source_id": rec.get("requestId"), "status": "ok"}
    record["created_at"] = to_utc(rec.get("timestamp"))
    body_in, body_out = _bodies(inp, outp, beside)
    record.update(input_fields(body_in))
    got = output_fields(body_out) if body_out is not None else {"usage": {}}
    if got.get("response_text"):
        record["response_text"] = got["response_text"]
    # An application inference profile's ARN names no model (it is an id the account made up for cost tags):
    # the response body says which model answered, and that is what is priced.
    served = _served_model(body_out) if ":application-inference-profile/" in str(model) else None
    if served:
        record["model"] = served

    logged_in = to_int(inp.get("inputTokenCount"), "inputTokenCount")
    cache_read = to_int(inp.get("cacheReadInputTokenCount"), "cacheReadInputTokenCount")
    cache_write = to_int(inp.get("cacheWriteInputTokenCount"), "cacheWriteInputTokenCount")
    logged_out = to_int(outp.get("outputTokenCount"), "outputTokenCount")
    usage = got.get("usage") or {}
    if logged_in is not None:
        # Logs written before Bedrock added the cache fields beside inputTokenCount still carry them in the body's
        # usage; either way they are input too.
        if cache_read is None:
            cache_read = usage.get("cached_input_tokens")
        if cache_write is None:
            cache_write = usage.get("cache_write_tokens")
        record["input_tokens"] = logged_in + (cache_read or 0) + (cache_write or 0)
        record["cached_input_tokens"] = cache_read
        record["cache_write_tokens"] = cache_write
    else:
        for key in ("input_tokens", "cached_input_tokens", "cache_write_tokens"):
            record[key] = usage.get(key)
    if record.get("cache_write_tokens") and usage.get("cache_write_1h_tokens") is not None:
        record["cache_write_1h_tokens"] = min(usage["cache_write_1h_tokens"], record["cache_write_tokens"])
    record["output_tokens"] = logged_out if logged_out is not None else usage.get("output_tokens")
    if got.get("latency") is not None:
        record["duration_ms"] = float(got["latency"])
    if rec.get("_headers") and record["status"] == "ok":
        _from_headers(record, rec["_headers"])

    error_code = rec.get("errorCode") or outp.get("errorCode") or got.get("error")
    if got.get("guardrail") or "guardrail" in str(error_code or "").lower():
        record["status"] = "blocked"
    elif error_code:
        record["status"] = "error"
    identity = rec.get("identity") or {}
    if isinstance(identity, dict) and identity.get("arn"):
        record["user_id"] = identity["arn"]
    tags = {
        k: rec[k]
        for k in ("operation", "region", "inferenceRegion", "accountId", "requestMetadata", "errorCode")
        if rec.get(k) not in (None, "", {})
    }
    if served:
        tags["modelId"] = model
    if got.get("stop_reason"):
        tags["stop_reason"] = got["stop_reason"]
    if inp.get("inputBodyS3Path") or outp.get("outputBodyS3Path"):
        tags["body_in_s3"] = inp.get("inputBodyS3Path") or outp.get("outputBodyS3Path")
    record["tags_json"] = tags or None
    return record


def _batch_fields(rec: dict) -> dict:
    body_in = decode_json(rec.get("modelInput"))
    body_out = decode_json(rec.get("modelOutput"))
    record: dict = {"provider": "bedrock", "source_id": rec.get("recordId"), "is_batch": True, "status": "ok"}
    record.update(input_fields(body_in))
    got = output_fields(body_out) if body_out is not None else {"usage": {}}
    record["response_text"] = got.get("response_text")
    record.update(got.get("usage") or {})
    if isinstance(body_out, dict) and body_out.get("model"):
        record["model"] = body_out["model"]
    error = rec.get("error") or (body_out is None and "no modelOutput")
    if error:
        record["status"] = "error"
        record["tags_json"] = {"error": error}
    return record


class Bedrock:
    name = "bedrock"
    label = "a Bedrock invocation log"
    order = 45  # before app logs: a body object beside the log is known as one when a folder or listing holds it

    def sniff(self, src) -> int:
        kind = file_kind(src)
        if kind not in ("json", "csv"):
            return 0
        head = head_text(src)
        if kind == "csv":
            # A CSV export (Logs Insights) names its fields in the header; prose that mentions them is not a log.
            header = head.split("\n", 1)[0]
            if not any(field in header for field in ("@message", "modelId", "schemaType", "requestId")):
                return 0
        if "ModelInvocationLog" in head:
            return 95
        if '"ResponseMetadata"' in head and isinstance(first := first_json_object(src), dict) and saved_response(first):
            return 90  # responses boto3 returned, saved by the app
        if "modelId" in head and ("inputBodyJson" in head or "inputTokenCount" in head):
            return 90
        if '"recordId"' in head and '"modelInput"' in head:
            return 80
        return 0

    def near_miss(self, src) -> str | None:
        """A CloudWatch export whose records are not invocation logs."""
        head = head_text(src)
        if '"field"' in head and '"value"' in head and ('"results"' in head or head.lstrip().startswith("[")):
            return ("it looks like a CloudWatch Logs Insights export, but its records hold no Bedrock invocation "
                    "(no @message or modelId field); export the query with `fields @timestamp, @message`")
        if '"logEvents"' in head or '"@message"' in head:
            return "it looks like a CloudWatch Logs export, but its messages are not Bedrock model-invocation logs"
        return None

    def parse(self, src, ctx):
        beside = ctx.body_objects.for_file(src) if ctx.body_objects is not None else None
        rows = iter_rows(src, line_fallback=_prefixed_line)
        for number, item in rows if beside is None else beside.read_ahead(rows, _body_urls):
            if isinstance(item, Reject):
                yield item
                continue
            try:
                rec = invocation_record(item)
                if rec is None:
                    continue
                record = record_fields(rec, beside)
            except (ValueError, TypeError, AttributeError) as exc:
                yield Reject(number, str(exc), excerpt(item))
                continue
            if record.get("source_id"):
                record["_dedupe_key"] = f"bedrock|{record['source_id']}"
            record["_line"] = number
            yield record


register(Bedrock())
