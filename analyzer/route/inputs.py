"""A request to classify, from one JSON line: the same fields ingest reads from the same shapes."""

from __future__ import annotations

import json

from ..errors import PlanError
from ..ingest.formats import anthropic, openai

WRAPPERS = ("request", "body")  # app logs ({"request": {...}}) and Batch input lines ({"body": {...}})


def parse_request(line: str) -> tuple[str | None, str]:
    """(system prompt, user turn) of an OpenAI chat body, an Anthropic Messages body (top-level ``system``), a
    log record holding one under ``request`` or ``body``, or ``{"prompt", "system"}``."""
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise PlanError(f"not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise PlanError("not a JSON object")
    for key in WRAPPERS:
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if isinstance(obj.get("messages"), list):
        fields = anthropic.request_fields(obj) if "system" in obj else openai.chat_request_fields(obj)
        if not (fields.get("prompt_text") or fields.get("system_prompt")):
            raise PlanError("its messages carry no text")
        return fields.get("system_prompt"), fields.get("prompt_text") or ""
    if isinstance(obj.get("prompt"), str):
        system = obj.get("system")
        return (system if isinstance(system, str) else None), obj["prompt"]
    raise PlanError("no 'messages' list and no 'prompt' string")
