"""Price each request: a cost the log states wins; otherwise a price list, per request.

Where prices come from, in order:

1. the log's own cost (``cost_source='log'``);
2. ``plan.toml`` overrides, ``[prices."model-name"]`` with ``input_per_mtok``, ``output_per_mtok`` and optionally
   ``cached_input_per_mtok`` (default: the input price), ``cache_write_per_mtok`` (default: the input price) and
   ``batch_discount`` (fraction taken off batch requests, default 0.5). The key matches the logged model name,
   or the same name without provider prefix or date suffix. Priced this way, ``cost_source='catalog'``: it is a
   price list the user maintains;
3. the genai-prices catalog (``cost_source='catalog'``): per request, with cached input, cache writes, long-context
   tiers and prices that changed over time, at the request's own date;
4. otherwise ``cost_usd`` stays NULL, ``cost_source='unknown'``, and the ingest summary lists the model.

Model names: the logged name is kept in ``requests.model``. Only for the catalog lookup do we also try the name
without a provider prefix (``openai/gpt-4o``, Bedrock's ``us.anthropic.claude-...-v2:0``) and without a date or
version suffix (``gpt-4o-mini-2024-07-18`` when the catalog lacks the dated name).

Batch: genai-prices models batch prices as a price variant selected by ``price_context={'processing': 'batch'}``
and has them for most current OpenAI, Anthropic and Gemini models, but not for every model or date (its notes say
"earlier batch history is not modelled"). Where the catalog has a batch price we use it as is (e.g. gpt-4.1's batch
price halves input and output but not cached input). Where it has none, for providers whose batch APIs bill half the
on-demand price (``HALF_PRICE_BATCH_PROVIDERS``) we take 50% off; for others we charge the on-demand price.

A price is linear in the token counts within a date range and a long-context tier, so each (provider, model,
batch) resolves to a few ``Tariff`` rows, probed from genai-prices itself rather than re-implemented. The same
rows price a request in Python (``Pricing.price``) and in SQL (the ingest fast path joins ``tariff_rows``), so both
give identical numbers. Models whose price depends on the time of day (DeepSeek off-peak) or is not linear are
priced one request at a time through ``genai_prices.calc_price``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from itertools import pairwise
from typing import Any, Iterable

from .errors import PlanError

# Our provider names -> genai-prices provider ids (None: let the catalog infer it from the model name).
_PROVIDER_IDS = {
    "openai": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "bedrock": "aws",
    "aws": "aws",
    "google": "google",
    "gemini": "google",
    "vertex": "google",
    "mistral": "mistral",
    "groq": "groq",
    "deepseek": "deepseek",
    "x-ai": "x-ai",
    "xai": "x-ai",
    "openrouter": "openrouter",
    "together": "together",
    "fireworks": "fireworks",
    "cohere": "cohere",
}
# Providers whose flex tier bills the Batch API's rates (OpenAI's terms; Azure OpenAI's the same); another's flex
# (Groq's: the on-demand price) keeps its catalogue price.
FLEX_AT_BATCH_RATES = {"openai", "azure"}
# Batch APIs that bill 50% of the on-demand price, used where the catalog has no batch price of its own.
HALF_PRICE_BATCH_PROVIDERS = {"openai", "azure", "anthropic", "aws", "google", "mistral"}
DEFAULT_BATCH_DISCOUNT = 0.5

OVERRIDE_KEYS = ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "cache_write_per_mtok",
                 "cache_write_1h_per_mtok", "batch_discount")

FAR_PAST = date(1970, 1, 1)
FAR_FUTURE = date(9999, 12, 31)
MAX_TOKENS = 1 << 62
DAY_MINUTES = 24 * 60
EXACT = "exact"  # marker: price this model request by request with calc_price

_BEDROCK_ID = re.compile(
    r"^(?:(?:us|eu|apac|global|us-gov|jp|au|ca)\.)?"
    r"(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek|openai|qwen|writer|twelvelabs|stability)\.(.+)$"
)
_VERSION_SUFFIX = re.compile(r"(?:[-@](?:20\d\d-?\d\d-?\d\d|\d{4}|v\d+(?::\d+)?|latest)|:\d+)$")


@dataclass(frozen=True)
class Tariff:
    """USD for one request, linear in its token counts, valid for a date range and an input-size tier.

    ``cost = fixed + per_input*input + per_cached*cached + per_write*write + per_write_1h*write_1h + per_output*output
    + per_search*searches`` where ``input`` is all input tokens (cached included), ``per_cached``/``per_write`` are
    what a cached-read or cache-write token costs *on top of* ``per_input`` (negative for cheap cache reads),
    ``per_write_1h`` what a write kept for an hour (Anthropic's ``ephemeral_1h``, one of the ``write`` tokens) costs on
    top of a write, and ``per_search`` what one web search the model ran costs."""

    date_from: date
    date_to: date  # exclusive
    tier_lo: int  # input_tokens > tier_lo
    tier_hi: int  # input_tokens <= tier_hi
    fixed: float
    per_input: float
    per_cached: float
    per_write: float
    per_output: float
    per_write_1h: float = 0.0
    per_search: float = 0.0
    minute_from: int = 0  # minutes after midnight UTC: a price that depends on the time of day (DeepSeek's off-peak)
    minute_to: int = DAY_MINUTES  # exclusive

    def cost(self, input_tokens: int, cached: int, write: int, output: int, write_1h: int = 0, searches: int = 0) -> float:
        return (
            self.fixed
            + self.per_input * input_tokens
            + self.per_cached * cached
            + self.per_write * write
            + self.per_write_1h * write_1h
            + self.per_output * output
            + self.per_search * searches
        )

    def covers(self, when: datetime, input_tokens: int) -> bool:
        minute = when.hour * 60 + when.minute
        return (self.date_from <= when.date() < self.date_to and self.tier_lo < input_tokens <= self.tier_hi
                and self.minute_from <= minute < self.minute_to)


def catalog_names(model: str) -> list[str]:
    """The logged name first, then the forms a catalog knows: no provider prefix, no date/version suffix."""
    names = [model]
    base = model.split("/")[-1]
    bedrock = _BEDROCK_ID.match(base)
    if bedrock:
        base = bedrock.group(1)
    names.append(base)
    stripped = base
    for _ in range(3):
        shorter = _VERSION_SUFFIX.sub("", stripped)
        if shorter == stripped:
            break
        stripped = shorter
        names.append(stripped)
    out: list[str] = []
    for name in names:
        if name and name not in out:
            out.append(name)
    return out


def _parse_overrides(config: dict | None) -> dict[str, dict]:
    table = (config or {}).get("prices") or {}
    if not isinstance(table, dict):
        raise PlanError('plan.toml: [prices] must be a table of models, e.g. [prices."my-model"] input_per_mtok = 0.5')
    out: dict[str, dict] = {}
    for model, values in table.items():
        where = f'plan.toml [prices."{model}"]'
        if not isinstance(values, dict):
            raise PlanError(f"{where}: expected keys {', '.join(OVERRIDE_KEYS)}.")
        unknown = sorted(set(values) - set(OVERRIDE_KEYS))
        if unknown:
            raise PlanError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(OVERRIDE_KEYS)}.")
        for key in ("input_per_mtok", "output_per_mtok"):
            if key not in values:
                raise PlanError(f"{where}: {key} is required.")
        clean = {}
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise PlanError(f"{where}: {key} must be a non-negative number, not {value!r}.")
            clean[key] = float(value)
        if clean.get("batch_discount", 0) > 1:
            raise PlanError(f"{where}: batch_discount is a fraction between 0 and 1.")
        out[str(model).lower()] = clean
    return out


def _override_tariff(values: dict, is_batch: bool) -> Tariff:
    input_rate = values["input_per_mtok"]
    cached = values.get("cached_input_per_mtok", input_rate)
    write = values.get("cache_write_per_mtok", input_rate)
    write_1h = values.get("cache_write_1h_per_mtok", write)
    factor = 1.0 - values.get("batch_discount", DEFAULT_BATCH_DISCOUNT) if is_batch else 1.0
    per = factor / 1_000_000
    return Tariff(
        FAR_PAST, FAR_FUTURE, -1, MAX_TOKENS, 0.0,
        input_rate * per, (cached - input_rate) * per, (write - input_rate) * per, values["output_per_mtok"] * per,
        (write_1h - write) * per,
    )


def _usage(input_tokens=0, cached=0, write=0, output=0, write_1h=0, searches=0):
    from genai_prices import Usage

    return Usage(input_tokens=input_tokens, cache_read_tokens=cached, cache_write_tokens=write,
                 cache_write_1h_tokens=write_1h, output_tokens=output, web_searches=searches)


def _counts(tokens: tuple) -> dict:
    """``_calc``'s token arguments from ``Pricing.price``'s tuple (input, cached, write, output, write_1h, searches)."""
    return dict(zip(("input_tokens", "cached", "write", "output", "write_1h", "searches"), tokens, strict=True))


def _calc(name: str, pid: str | None, when: datetime, batch: bool, tier: str | None = None, **tokens) -> Decimal:
    from genai_prices import calc_price

    context = {**({"processing": "batch"} if batch else {}), **({"service_tier": tier} if tier else {})}
    return calc_price(
        _usage(**tokens), model_ref=name, provider_id=pid, genai_request_timestamp=when, price_context=context or None
    ).total_price


def _tier_starts(price_obj) -> set[int]:
    from genai_prices.types import TieredPrices

    starts: set[int] = set()
    for value in getattr(price_obj, "__dict__", {}).values():
        if isinstance(value, TieredPrices):
            starts.update(t.start for t in value.tiers)
    return starts


def _segments(model_info) -> tuple[list[date], list[int], list[int]] | None:
    """Date boundaries, tier thresholds and minutes of the day (UTC) where this catalog model's price can change;
    None when a time of day is not in UTC."""
    from genai_prices.types import StartDateConstraint, TimeOfDateConstraint

    constraints = []
    price_objs = []
    if isinstance(model_info.prices, list):
        for conditional in model_info.prices:
            constraints.append(conditional.constraint)
            price_objs.append(conditional.prices)
    else:
        price_objs.append(model_info.prices)
    for variant in model_info.price_variants or ():
        constraints.append(variant.constraint)
        price_objs.append(variant.prices)
    minutes = {0, DAY_MINUTES}
    for c in constraints:
        if isinstance(c, TimeOfDateConstraint):
            for moment in (c.start_time, c.end_time):
                if moment.utcoffset() not in (None, timedelta(0)):
                    return None
                minutes.add(moment.hour * 60 + moment.minute)
    dates = sorted({c.start_date for c in constraints if isinstance(c, StartDateConstraint) and c.start_date > FAR_PAST})
    starts: set[int] = set()
    for obj in price_objs:
        starts |= _tier_starts(obj)
    return [FAR_PAST, *dates, FAR_FUTURE], sorted(starts), sorted(minutes)


def _probe(name: str, pid: str | None, when: datetime, batch: bool, lo: int, hi: int, tier: str | None = None):
    """(fixed, per_input, per_cached, per_write, per_output, per_write_1h, per_search) as Decimals for input sizes in
    (lo, hi] at the service tier ``tier`` (None: the standard one), or None."""
    p = lo + 1
    if p + 3 > hi:
        return None

    def calc(**tokens) -> Decimal:
        return _calc(name, pid, when, batch, tier, **tokens)

    base = calc(input_tokens=p)
    base1 = calc(input_tokens=p + 1)
    per_input = base1 - base
    fixed = base - per_input * p
    per_cached = calc(input_tokens=p + 1, cached=1) - base1
    per_write = calc(input_tokens=p + 1, write=1) - base1
    per_output = calc(input_tokens=p, output=1) - base
    per_write_1h = calc(input_tokens=p + 1, write=1, write_1h=1) - base1 - per_write
    per_search = calc(input_tokens=p, searches=1) - base
    check = calc(input_tokens=p + 3, cached=1, write=2, write_1h=1, output=5, searches=2)
    if check != fixed + per_input * (p + 3) + per_cached + per_write * 2 + per_write_1h + per_output * 5 + per_search * 2:
        return None  # not linear after all: price request by request
    return fixed, per_input, per_cached, per_write, per_output, per_write_1h, per_search


class Pricing:
    """Prices for one ingest run: plan.toml overrides over the genai-prices catalog, cached per model."""

    def __init__(self, config: dict | None = None, now: datetime | None = None):
        self.overrides = _parse_overrides(config)
        self.now = now or datetime.now(timezone.utc).replace(tzinfo=None)
        self._tariffs: dict[tuple, list[Tariff] | str | None] = {}
        self._resolved: dict[tuple, tuple | None] = {}

    # -- lookup --------------------------------------------------------------------------------
    def override_for(self, model: str) -> dict | None:
        for name in catalog_names(model):
            values = self.overrides.get(name.lower())
            if values is not None:
                return values
        return None

    def resolve(self, provider: str | None, model: str):
        """(catalog provider object, catalog model object, model_ref, provider_id) or None when unknown."""
        key = ((provider or "").lower(), model)
        if key not in self._resolved:
            self._resolved[key] = self._resolve(provider, model)
        return self._resolved[key]

    @staticmethod
    def _resolve(provider: str | None, model: str):
        from genai_prices import data_snapshot

        snapshot = data_snapshot.get_snapshot()
        provider_id = _PROVIDER_IDS.get((provider or "").lower())
        for name in catalog_names(model):
            for pid in [provider_id, None] if provider_id else [None]:
                try:
                    found_provider, found_model = snapshot.find_provider_model(name, None, pid, None)
                except (LookupError, ValueError):
                    continue
                return found_provider, found_model, name, pid
        return None

    def tariffs(self, provider: str | None, model: str | None, is_batch: bool, tier: str | None = None):
        """A list of Tariffs, ``EXACT`` (price each request with calc_price), or None (model unknown); ``tier``: the
        catalogue's prices at that service tier (a plan.toml price is the price at every tier)."""
        if not model:
            return None
        key = ((provider or "").lower(), model, bool(is_batch), tier)
        if key not in self._tariffs:
            self._tariffs[key] = self._build(provider, model, bool(is_batch), tier)
        return self._tariffs[key]

    def _build(self, provider, model, is_batch, tier=None):
        values = self.override_for(model)
        if values is not None:
            return [_override_tariff(values, is_batch)]
        resolved = self.resolve(provider, model)
        if resolved is None:
            return None
        found_provider, model_info, name, pid = resolved
        segments = _segments(model_info)
        if segments is None:
            return EXACT
        dates, starts, minutes = segments
        tiers = list(zip([-1, *starts], [*starts, MAX_TOKENS], strict=True))
        halve = is_batch and found_provider.id in HALF_PRICE_BATCH_PROVIDERS
        out: list[Tariff] = []
        try:
            for day_from, day_to in pairwise(dates):
                for minute_from, minute_to in pairwise(minutes):
                    when = datetime(day_from.year, day_from.month, day_from.day) + timedelta(minutes=minute_from)
                    for lo, hi in tiers:
                        rates = _probe(name, pid, when, is_batch, lo, hi, tier)
                        if rates is None:
                            return EXACT
                        if halve and rates == _probe(name, pid, when, False, lo, hi, tier):
                            rates = tuple(r / 2 for r in rates)
                        fixed, per_input, per_cached, per_write, per_output, per_write_1h, per_search = map(float, rates)
                        out.append(Tariff(day_from, day_to, lo, hi, fixed, per_input, per_cached, per_write, per_output,
                                          per_write_1h, per_search, minute_from, minute_to))
        except (LookupError, ValueError, ArithmeticError):
            return EXACT
        return out

    # -- pricing -------------------------------------------------------------------------------
    def price(
        self,
        provider: str | None,
        model: str | None,
        input_tokens: Any,
        output_tokens: Any,
        cached_input_tokens: Any = 0,
        cache_write_tokens: Any = 0,
        is_batch: bool = False,
        created_at: datetime | None = None,
        cache_write_1h_tokens: Any = 0,
        web_searches: Any = 0,
        service_tier: str | None = None,
    ) -> float | None:
        """USD for one request, or None when the model has no price. ``service_tier``: the tier it was billed at when
        not the standard one (``records.billed_tier``)."""
        found = self.tariffs(provider, model, is_batch)
        if found is None:
            return None
        tokens = (int(input_tokens or 0), int(cached_input_tokens or 0), int(cache_write_tokens or 0), int(output_tokens or 0),
                  int(cache_write_1h_tokens or 0), int(web_searches or 0))
        if tokens[1] > tokens[0]:
            return None  # more cached input than input: no count to price (the catalogue's own calculation refuses it)
        when = created_at or self.now
        if service_tier and model and self.override_for(model) is None:
            tiered = self._at_tier(provider, model, tokens, bool(is_batch), when, service_tier)
            if tiered is not None:
                return tiered
        return self._priced(provider, model, tokens, bool(is_batch), when)

    def _priced(self, provider, model, tokens: tuple, is_batch: bool, when: datetime, tier: str | None = None) -> float | None:
        """The price of ``tokens`` from the model's tariffs at ``tier`` (None: the standard one)."""
        found = self.tariffs(provider, model, is_batch, tier)
        if found is None:
            return None
        if found == EXACT:
            return self._exact(provider, model, tokens, is_batch, when, tier)
        for tariff in found:
            if tariff.covers(when, tokens[0]):
                return tariff.cost(*tokens)
        return None

    def _at_tier(self, provider, model, tokens, is_batch, when, tier: str) -> float | None:
        """The catalogue's price of the tier (its ``service_tier`` price variant); None when it has none, so that the
        standard price applies. Flex processing is billed at the Batch API's rates (OpenAI's terms): where the
        catalogue has no flex price for the day (its variants start when they were added to it), the batch price, for
        the providers that bill it so (``FLEX_AT_BATCH_RATES``)."""
        resolved = self.resolve(provider, model)
        if resolved is None:
            return None
        cost = self._priced(provider, model, tokens, is_batch, when, tier)
        if cost is None:
            return None
        if cost != self._priced(provider, model, tokens, is_batch, when):
            return cost
        if tier == "flex" and not is_batch and resolved[0].id in FLEX_AT_BATCH_RATES:
            return self._priced(provider, model, tokens, True, when)
        return None

    def _exact(self, provider, model, tokens, is_batch, when, tier: str | None = None) -> float | None:
        found_provider, _, name, pid = self.resolve(provider, model)
        counts = _counts(tokens)
        try:
            cost = _calc(name, pid, when, is_batch, tier, **counts)
            if is_batch and found_provider.id in HALF_PRICE_BATCH_PROVIDERS and cost == _calc(name, pid, when, False, tier, **counts):
                cost = cost / 2
        except (LookupError, ValueError, ArithmeticError):
            return None
        return float(cost)

    def tariff_rows(self, keys: Iterable[tuple]) -> tuple[list[tuple], set[tuple]]:
        """Rows ``(provider, model, is_batch, date_from, date_to, tier_lo, tier_hi, fixed, per_input, per_cached,
        per_write, per_output, per_write_1h, per_search, minute_from, minute_to)`` for SQL, and the keys that must be
        priced request by request (``EXACT``)."""
        rows, exact = [], set()
        for provider, model, is_batch in keys:
            found = self.tariffs(provider, model, is_batch)
            if found == EXACT:
                exact.add((provider, model, is_batch))
            elif found:
                for t in found:
                    rows.append((provider or "", model, bool(is_batch), t.date_from, t.date_to, t.tier_lo, t.tier_hi,
                                 t.fixed, t.per_input, t.per_cached, t.per_write, t.per_output, t.per_write_1h,
                                 t.per_search, t.minute_from, t.minute_to))
        return rows, exact


_DEFAULT: Pricing | None = None


def default_pricing() -> Pricing:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Pricing()
    return _DEFAULT


def price_one(provider, model, input_tokens, output_tokens, cached_input_tokens=0, cache_write_tokens=0,
              is_batch=False, created_at=None, pricing: Pricing | None = None, cache_write_1h_tokens=0,
              web_searches=0) -> float | None:
    """USD for one request from the price list, or None when the model is unknown."""
    return (pricing or default_pricing()).price(
        provider, model, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, is_batch, created_at,
        cache_write_1h_tokens, web_searches,
    )


def fill_costs(records: list[dict], pricing: Pricing | None = None) -> set[str]:
    """Set ``cost_usd``/``cost_source`` on records in place; returns the models that could not be priced."""
    pricing = pricing or default_pricing()
    unknown: set[str] = set()
    for r in records:
        if r.get("cost_usd") is not None:
            r["cost_source"] = "log"
            continue
        if r.get("input_tokens") is None and r.get("output_tokens") is None:
            r["cost_source"] = "unknown"
            continue
        cost = pricing.price(
            r.get("provider"), r.get("model"), r.get("input_tokens"), r.get("output_tokens"),
            r.get("cached_input_tokens"), r.get("cache_write_tokens"), bool(r.get("is_batch")), r.get("created_at"),
            r.get("cache_write_1h_tokens"), r.get("web_searches"),
        )
        if cost is None:
            r["cost_source"] = "unknown"
            if r.get("model"):
                unknown.add(r["model"])
        else:
            r["cost_usd"] = cost
            r["cost_source"] = "catalog"
    return unknown
