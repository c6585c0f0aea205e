"""The registry of log formats. Each format is an object with:

- ``name``: what ``--format`` accepts;
- ``order``: files are read in ascending order (batch *input* files before their outputs);
- ``sniff(src) -> int``: 0 when the file is not this format, higher when more certain;
- ``parse(src, ctx)``: yields record dicts (keys from ``records.RECORD_FIELDS``) and ``Reject``s,
  each record carrying ``_line`` (the 1-based line or record number).
"""

from __future__ import annotations

FORMATS: dict = {}


def register(fmt):
    FORMATS[fmt.name] = fmt
    return fmt


def load_all() -> dict:
    # Importing a module registers its formats.
    from . import (  # noqa: F401
        app_calls,
        apisix,
        bifrost,
        azure_apim,
        openai,
        openai_agents,
        anthropic,
        bedrock,
        braintrust,
        claude_code,
        cline,
        cloudflare,
        datadog,
        codex_cli,
        gemini,
        generic,
        helicone,
        http_recording,
        langchain_messages,
        langfuse,
        langsmith,
        litellm,
        llm_cli,
        lunary,
        newrelic,
        opik,
        openrouter,
        otel,
        portkey,
        kong,
        posthog,
        pydantic_ai,
        weave,
    )

    return FORMATS
