"""The Vercel AI SDK's ``generateText`` results as TypeScript apps log them (``JSON.stringify(result)``), read inside
the app-log formats (``app_calls.py``).

A result carries the answer (``text``), why it stopped (``finishReason``), the provider's HTTP request body
(``request.body``, an object or a JSON string), the answer's id, model and time (``response.id``, ``modelId``,
``timestamp``) and token usage in the SDK's own names, which changed between major versions:

- v6: ``inputTokens`` (all input) with ``inputTokenDetails`` (``cacheReadTokens``, ``cacheWriteTokens``),
  ``outputTokens`` with ``outputTokenDetails.reasoningTokens``, and the provider's own usage under ``raw``;
- v5: ``inputTokens``, ``outputTokens``, ``cachedInputTokens``, ``reasoningTokens``;
- v4: ``promptTokens``, ``completionTokens``.

The provider's own usage (v6's ``raw``, or ``providerMetadata.<provider>.usage``) is read first: it is exact in the
provider's terms. Without it, Anthropic's input before v6 did not count the cache (``cachedInputTokens`` and
``providerMetadata.anthropic.cacheCreationInputTokens`` are added). A result of several steps (a tool loop) is billed
for all of them: ``totalUsage`` (v5 on) over ``usage`` (the last step's).
"""

from __future__ import annotations

from typing import Any

from ..records import maybe_json, to_utc
from . import anthropic, openai
from .generic import guess_provider, other_shape_record, to_int, usage_fields

# Providers' keys in ``providerMetadata``, as the SDK's provider packages name them.
PROVIDER_KEYS = {"openai": "openai", "azure": "openai", "anthropic": "anthropic", "google": "google",
                 "vertex": "google", "bedrock": "bedrock", "mistral": "mistral", "groq": "groq", "xai": "xai",
                 "deepseek": "deepseek", "openrouter": "openrouter", "cohere": "cohere"}
FINISH_STATUS = {"content-filter": "blocked", "error": "error"}


def is_result(obj: dict) -> bool:
    """A ``generateText`` result: the answer's metadata names its ``modelId``, beside a finish reason and usage."""
    response = obj.get("response")
    return (isinstance(response, dict) and "modelId" in response and "finishReason" in obj
            and isinstance(obj.get("usage") or obj.get("totalUsage"), dict))


def result_record(obj: dict) -> dict:
    """One logged ``generateText`` result as a record: the conversation from the request body the SDK sent, the
    answer and its metadata from the result, tokens as described in the module docstring."""
    response = obj["response"]
    metadata: dict = obj["providerMetadata"] if isinstance(obj.get("providerMetadata"), dict) else {}
    body = maybe_json((obj.get("request") or {}).get("body")) if isinstance(obj.get("request"), dict) else None
    body = body if isinstance(body, dict) else None
    provider = _provider(metadata, response.get("modelId"), body)
    record = _asked(body, provider)
    record.update({
        "provider": provider, "model": response.get("modelId") or record.get("model"),
        "source_id": response.get("id") if isinstance(response.get("id"), str) and response.get("id") else None,
        "created_at": to_utc(response.get("timestamp")) if response.get("timestamp") is not None else None,
        "response_text": obj.get("text") if isinstance(obj.get("text"), str) and obj.get("text") else None,
        "status": FINISH_STATUS.get(str(obj.get("finishReason")), "ok"),
        **tokens(obj, metadata.get(_metadata_key(metadata, provider)), provider),
    })
    return record


def _provider(metadata: dict, model: Any, body: dict | None) -> str:
    for key in metadata:
        if key in PROVIDER_KEYS:
            return PROVIDER_KEYS[key]
    if anthropic.is_request(body):
        return "anthropic"
    return guess_provider(model) or "openai"


def _metadata_key(metadata: dict, provider: str) -> str | None:
    return next((key for key in metadata if PROVIDER_KEYS.get(key) == provider), None)


def _asked(body: dict | None, provider: str) -> dict:
    """The conversation and parameters of the request body the SDK sent, read as its provider's API reads them."""
    if body is None:
        return {}
    if provider == "anthropic":
        return anthropic.pair_record(body, None)
    if provider in ("google", "bedrock", "cohere"):
        return other_shape_record(body, None, provider)
    return openai.pair_record(body, None)


def tokens(obj: dict, provider_metadata: Any, provider: str) -> dict:
    usage = obj.get("totalUsage") if isinstance(obj.get("totalUsage"), dict) else obj.get("usage")
    steps = obj.get("steps")
    raw = usage.get("raw") if isinstance(usage, dict) else None
    if raw is None and isinstance(provider_metadata, dict) and not (isinstance(steps, list) and len(steps) > 1):
        raw = provider_metadata.get("usage")  # one step's: only a single-step result's usage is the whole call's
    native = usage_fields(raw) if raw is not None else {}
    if native.get("input_tokens") is not None or native.get("output_tokens") is not None:
        return native
    return sdk_tokens(usage if isinstance(usage, dict) else {}, provider_metadata, provider)


def sdk_tokens(usage: dict, provider_metadata: Any, provider: str) -> dict:
    """Tokens in the SDK's names (v4, v5, v6; see the module docstring)."""
    details = usage["inputTokenDetails"] if isinstance(usage.get("inputTokenDetails"), dict) else None
    output_details: dict = usage["outputTokenDetails"] if isinstance(usage.get("outputTokenDetails"), dict) else {}
    out = {"input_tokens": to_int(usage.get("inputTokens", usage.get("promptTokens")), "inputTokens"),
           "output_tokens": to_int(usage.get("outputTokens", usage.get("completionTokens")), "outputTokens"),
           "reasoning_tokens": to_int(output_details.get("reasoningTokens", usage.get("reasoningTokens")), "reasoningTokens")}
    if details is not None:  # v6: input counts everything; its details say what came from the cache
        out["cached_input_tokens"] = to_int(details.get("cacheReadTokens"), "cacheReadTokens")
        out["cache_write_tokens"] = to_int(details.get("cacheWriteTokens"), "cacheWriteTokens")
        return out
    meta = provider_metadata if isinstance(provider_metadata, dict) else {}
    read = to_int(usage.get("cachedInputTokens", meta.get("cacheReadInputTokens")), "cachedInputTokens")
    out["cached_input_tokens"] = read
    if provider == "anthropic":  # before v6 Anthropic's input left out cache reads and writes
        write = to_int(meta.get("cacheCreationInputTokens"), "cacheCreationInputTokens")
        out["cache_write_tokens"] = write
        if out["input_tokens"] is not None:
            out["input_tokens"] += (read or 0) + (write or 0)
    return out
