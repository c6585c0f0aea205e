"""What to send when a local endpoint refuses a request field: the nearest form it supports.

Servers differ in what they take. llama.cpp's server answers ``response_format: json_schema`` with an HTTP
error on older builds, ``tools`` without ``--jinja``, and LM Studio refuses ``json_object``; Ollama refuses
``tools`` for models without a tool template. A refused call is not an answer from the local model, so replay
retries it once per step down this ladder and records each step on the replay row:

- ``response_format:json_schema->json_object``: JSON mode, with the schema stated in the system message;
- ``response_format:json_object->instruction``: no ``response_format``; the system message asks for JSON
  (and states the schema, when the request had one);
- ``response_format:text->dropped``: a plain-text format field the server does not know;
- ``<field>:dropped`` for ``tools`` (with ``tool_choice`` and ``parallel_tool_calls``), ``tool_choice``,
  ``parallel_tool_calls``, the penalties, ``seed``, ``stop``, ``top_p`` and ``logit_bias``.

The checks the request asked for (a schema, valid JSON) still apply to the answer: judge reads them from the
logged request, not from what was sent.
"""

from __future__ import annotations

import copy
import json

DROPPABLE = ("tools", "tool_choice", "parallel_tool_calls", "presence_penalty", "frequency_penalty", "seed",
             "stop", "top_p", "logit_bias")
JSON_SCHEMA_TO_OBJECT = "response_format:json_schema->json_object"
JSON_OBJECT_TO_INSTRUCTION = "response_format:json_object->instruction"
TEXT_FORMAT_DROPPED = "response_format:text->dropped"
MAX_STEPS = len(DROPPABLE) + 3

DESCRIPTIONS = {
    JSON_SCHEMA_TO_OBJECT: "json_schema sent as JSON mode with the schema in the system message",
    JSON_OBJECT_TO_INSTRUCTION: "JSON mode replaced by an instruction in the system message",
    TEXT_FORMAT_DROPPED: "response_format text left out",
}


def describe(step: str) -> str:
    """A short phrase for a step, for the CLI and the report."""
    if step in DESCRIPTIONS:
        return DESCRIPTIONS[step]
    field = step.split(":", 1)[0]
    return f"{field} left out"


def _format_type(params: dict) -> str | None:
    fmt = params.get("response_format")
    return fmt.get("type") if isinstance(fmt, dict) else None


def step_for(field: str, params: dict) -> str | None:
    """The ladder step that answers a refusal of ``field`` in ``params`` (None: nothing nearer to send)."""
    if field == "response_format":
        return {"json_schema": JSON_SCHEMA_TO_OBJECT, "json_object": JSON_OBJECT_TO_INSTRUCTION,
                "text": TEXT_FORMAT_DROPPED}.get(_format_type(params) or "")
    if field in DROPPABLE and params.get(field) is not None:
        return f"{field}:dropped"
    return None


def _schema_of(fmt: dict) -> dict | None:
    wrapper = fmt.get("json_schema") if isinstance(fmt.get("json_schema"), dict) else {}
    schema = wrapper.get("schema") if isinstance(wrapper, dict) else None
    return schema if isinstance(schema, dict) else (fmt.get("schema") if isinstance(fmt.get("schema"), dict) else None)


def _with_instruction(messages: list[dict], text: str) -> list[dict]:
    """The conversation with ``text`` appended to its system message (one is added when there is none)."""
    out = [dict(m) for m in messages]
    for message in out:
        if message.get("role") == "system":
            current = message.get("content") or ""
            message["content"] = f"{current}\n\n{text}" if current else text
            return out
    return [{"role": "system", "content": text}, *out]


def schema_instruction(schema: dict) -> str:
    return ("Answer with one JSON object that conforms to this JSON Schema, and nothing else:\n"
            + json.dumps(schema, ensure_ascii=False, indent=1))


JSON_INSTRUCTION = "Answer with one valid JSON object and nothing else: no text or code fence around it."


def _apply(step: str, messages: list[dict], params: dict, schema_stated: bool) -> tuple[list[dict], dict, bool] | None:
    """One step on (messages, params), or None when it does not apply to them."""
    kind = _format_type(params)
    if step == JSON_SCHEMA_TO_OBJECT and kind == "json_schema":
        schema = _schema_of(params["response_format"])
        params["response_format"] = {"type": "json_object"}
        if schema is not None:
            return _with_instruction(messages, schema_instruction(schema)), params, True
        return messages, params, schema_stated
    if step == JSON_OBJECT_TO_INSTRUCTION and kind == "json_object":
        schema = _schema_of(params.pop("response_format"))
        if schema is not None and not schema_stated:
            return _with_instruction(messages, schema_instruction(schema)), params, True
        if not schema_stated:
            return _with_instruction(messages, JSON_INSTRUCTION), params, schema_stated
        return messages, params, schema_stated
    if step == TEXT_FORMAT_DROPPED and kind == "text":
        params.pop("response_format")
        return messages, params, schema_stated
    field = step.split(":", 1)[0]
    if step.endswith(":dropped") and field in DROPPABLE and params.get(field) is not None:
        params.pop(field)
        if field == "tools":
            params.pop("tool_choice", None)
            params.pop("parallel_tool_calls", None)
        return messages, params, schema_stated
    return None


_ORDER = (JSON_SCHEMA_TO_OBJECT, JSON_OBJECT_TO_INSTRUCTION, TEXT_FORMAT_DROPPED) + tuple(f"{f}:dropped" for f in DROPPABLE)


def _rank(step: str) -> int:
    return _ORDER.index(step) if step in _ORDER else len(_ORDER)


def adapt(messages: list[dict], params: dict, steps: list[str]) -> tuple[list[dict], dict, list[str]]:
    """The request with every known step applied in the ladder's order, and the steps that changed it."""
    messages, params = list(messages), copy.deepcopy(params)
    applied: list[str] = []
    schema_stated = False
    for step in sorted(set(steps), key=_rank):
        result = _apply(step, messages, params, schema_stated)
        if result is not None:
            messages, params, schema_stated = result
            applied.append(step)
    return messages, params, applied
