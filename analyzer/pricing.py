"""Price each request: a cost the log states wins; otherwise the genai-prices catalog, per request.

``fill_costs(records)`` sets ``cost_usd``/``cost_source`` in place and returns the models it could not price.
"""

from __future__ import annotations

import re
from functools import lru_cache

BATCH_DISCOUNT = 0.5  # OpenAI, Anthropic and Bedrock batch APIs bill half the on-demand price

_PROVIDER_IDS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "bedrock": "aws",
    "aws": "aws",
    "openrouter": None,
    "google": "google",
}
_DATE_SUFFIX = re.compile(r"[-@](20\d\d-?\d\d-?\d\d|\d{4}|v\d+(:\d+)?|latest)$")


def _candidates(model: str) -> list[str]:
    """The logged name first, then forms the catalog knows: no provider prefix, no date suffix."""
    names = [model]
    base = model.split("/")[-1]
    # Bedrock ids: [region.]vendor.model-name-v1:0
    bedrock = re.match(r"^(?:(?:us|eu|apac|global|us-gov|jp|au|ca)\.)?(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek|openai|qwen|writer)\.(.+)$", base)
    if bedrock:
        base = bedrock.group(1)
    names.append(base)
    stripped = base
    for _ in range(3):
        new = _DATE_SUFFIX.sub("", stripped)
        if new == stripped:
            break
        stripped = new
        names.append(stripped)
    out = []
    for n in names:
        if n and n not in out:
            out.append(n)
    return out


@lru_cache(maxsize=4096)
def _resolve(provider: str | None, model: str):
    """(model_ref, provider_id) that the catalog can price, or None."""
    from genai_prices import Usage, calc_price

    provider_id = _PROVIDER_IDS.get((provider or "").lower())
    for name in _candidates(model):
        for pid in ([provider_id, None] if provider_id else [None]):
            try:
                calc_price(Usage(input_tokens=1, output_tokens=1), model_ref=name, provider_id=pid)
                return name, pid
            except LookupError:
                continue
            except Exception:
                continue
    return None


def price_one(provider, model, input_tokens, output_tokens, cached_input_tokens=0, cache_write_tokens=0, is_batch=False, created_at=None):
    """USD for one request from the catalog, or None when the model is unknown."""
    if not model:
        return None
    resolved = _resolve(provider, model)
    if resolved is None:
        return None
    from genai_prices import Usage, calc_price

    name, pid = resolved
    usage = Usage(
        input_tokens=int(input_tokens or 0),
        output_tokens=int(output_tokens or 0),
        cache_read_tokens=int(cached_input_tokens or 0) or None,
        cache_write_tokens=int(cache_write_tokens or 0) or None,
    )
    result = calc_price(usage, model_ref=name, provider_id=pid, genai_request_timestamp=created_at)
    cost = float(result.total_price)
    return cost * BATCH_DISCOUNT if is_batch else cost


def fill_costs(records: list[dict]) -> set[str]:
    unknown: set[str] = set()
    for r in records:
        if r.get("cost_usd") is not None:
            r["cost_source"] = "log"
            continue
        if r.get("input_tokens") is None and r.get("output_tokens") is None:
            r["cost_source"] = "unknown"
            continue
        cost = price_one(
            r.get("provider"),
            r.get("model"),
            r.get("input_tokens"),
            r.get("output_tokens"),
            r.get("cached_input_tokens"),
            r.get("cache_write_tokens"),
            bool(r.get("is_batch")),
            r.get("created_at"),
        )
        if cost is None:
            r["cost_source"] = "unknown"
            if r.get("model"):
                unknown.add(r["model"])
        else:
            r["cost_usd"] = cost
            r["cost_source"] = "catalog"
    return unknown
