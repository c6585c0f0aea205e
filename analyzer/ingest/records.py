"""What a format parser yields: normalised request records, or rejects."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

# Columns of `requests` a parser may fill (id, source_file/line/format and ingested_at are filled for it).
RECORD_FIELDS = (
    "source_id",
    "provider",
    "model",
    "created_at",
    "system_prompt",
    "messages_json",
    "prompt_text",
    "response_text",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "cost_source",
    "is_batch",
    "duration_ms",
    "status",
    "user_id",
    "tags_json",
    "params_json",
)


@dataclass
class Reject:
    line: int | None
    reason: str
    excerpt: str = ""


def excerpt(text: Any, limit: int = 200) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        text = json.dumps(text, default=str)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def stable_id(*parts: Any) -> int:
    """A signed 63-bit id from a content hash, stable across runs and machines."""
    h = hashlib.blake2b("\x1f".join("" if p is None else str(p) for p in parts).encode("utf-8"), digest_size=8)
    return int.from_bytes(h.digest(), "big") & 0x7FFFFFFFFFFFFFFF


def dedupe_key(record: dict) -> str:
    """Records with the same provider and source id are one call; without an id, identical content is."""
    if record.get("_dedupe_key"):
        return record["_dedupe_key"]
    if record.get("source_id"):
        return f"{record.get('provider') or ''}|id|{record['source_id']}"
    return "|".join(
        str(record.get(k) or "")
        for k in ("provider", "model", "created_at", "messages_json", "prompt_text", "response_text", "input_tokens", "output_tokens")
    )


def to_utc(value: Any) -> datetime | None:
    """Timestamps in logs: ISO strings (with Z or offsets), epoch seconds or milliseconds. Returns naive UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, (int, float)) or (isinstance(value, str) and value.replace(".", "", 1).isdigit()):
        num = float(value)
        if num > 1e14:  # microseconds
            num /= 1e6
        elif num > 1e11:  # milliseconds
            num /= 1e3
        dt = datetime.fromtimestamp(num, tz=timezone.utc)
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        if " UTC" in text:
            text = text.replace(" UTC", "+00:00")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            from dateutil import parser as dateparser  # the long tail of formats

            try:
                dt = dateparser.parse(value)
            except (ValueError, OverflowError) as exc:
                raise ValueError(f"unreadable timestamp {value!r}") from exc
    else:
        raise ValueError(f"unreadable timestamp {value!r}")
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt


def maybe_json(value: Any) -> Any:
    """Exports often double-encode JSON: a string that holds JSON becomes the value it holds."""
    while isinstance(value, str):
        stripped = value.strip()
        if not stripped or stripped[0] not in "[{\"":
            return value
        try:
            value = json.loads(stripped)
        except ValueError:
            return value
    return value
