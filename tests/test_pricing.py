"""Prices per request, checked against numbers computed by hand from the providers' price lists."""

import random
from datetime import datetime, timedelta

import pytest

from analyzer.errors import PlanError
from analyzer.pricing import EXACT, Pricing, catalog_names, price_one

WHEN = datetime(2025, 6, 1, 12, 0)


def test_openai_cached_input_is_billed_at_the_cached_rate():
    # gpt-4o-mini: $0.15/M input, $0.075/M cached input, $0.60/M output; input_tokens includes the cached ones.
    cost = Pricing().price("openai", "gpt-4o-mini-2024-07-18", 1_000_000, 200_000, cached_input_tokens=400_000, created_at=WHEN)
    assert cost == pytest.approx(600_000 * 0.15e-6 + 400_000 * 0.075e-6 + 200_000 * 0.60e-6)


def test_batch_requests_cost_half_where_the_catalog_has_no_batch_price():
    p = Pricing()
    on_demand = p.price("openai", "gpt-4o-mini", 10_000, 1_000, created_at=WHEN)
    batch = p.price("openai", "gpt-4o-mini", 10_000, 1_000, is_batch=True, created_at=WHEN)
    assert on_demand == pytest.approx(10_000 * 0.15e-6 + 1_000 * 0.60e-6)
    assert batch == pytest.approx(on_demand / 2)


def test_catalog_batch_price_is_used_as_published():
    # From 2026-10-14 genai-prices carries gpt-4.1's batch price: input and output halved, cached input not.
    when = datetime(2026, 11, 1)
    cost = Pricing().price("openai", "gpt-4.1", 1_000_000, 100_000, cached_input_tokens=500_000, is_batch=True, created_at=when)
    assert cost == pytest.approx(500_000 * 1.0e-6 + 500_000 * 0.5e-6 + 100_000 * 4.0e-6)


def test_anthropic_cache_reads_and_writes():
    # claude-3-haiku: $0.25/M input, $0.03/M cache read, $0.30/M cache write, $1.25/M output.
    # Our input_tokens is all input: 1,000 uncached + 8,000 read + 2,000 written.
    cost = Pricing().price("anthropic", "claude-3-haiku-20240307", 11_000, 500, cached_input_tokens=8_000,
                           cache_write_tokens=2_000, created_at=WHEN)
    assert cost == pytest.approx(1_000 * 0.25e-6 + 8_000 * 0.03e-6 + 2_000 * 0.30e-6 + 500 * 1.25e-6)


def test_anthropic_cache_writes_kept_an_hour_cost_more_than_five_minute_ones():
    # claude-sonnet-4: $3/M input, $3.75/M for a write kept 5 minutes, $6/M for one kept an hour, $15/M output.
    # Of the 3,000 tokens written, 2,000 were kept an hour; input is all input (20 uncached + 3,000 written).
    p = Pricing()
    cost = p.price("anthropic", "claude-sonnet-4-20250514", 3_020, 50, cache_write_tokens=3_000, created_at=WHEN,
                   cache_write_1h_tokens=2_000)
    assert cost == pytest.approx(20 * 3e-6 + 1_000 * 3.75e-6 + 2_000 * 6e-6 + 50 * 15e-6)
    assert p.price("anthropic", "claude-sonnet-4-20250514", 3_020, 50, cache_write_tokens=3_000, created_at=WHEN) == \
        pytest.approx(20 * 3e-6 + 3_000 * 3.75e-6 + 50 * 15e-6)


def test_long_context_tier_reprices_the_whole_request():
    # claude-sonnet-4-5 above 200k input tokens: $6/M input and $22.50/M output for all tokens.
    p = Pricing()
    below = p.price("anthropic", "claude-sonnet-4-5", 200_000, 1_000, created_at=WHEN)
    above = p.price("anthropic", "claude-sonnet-4-5", 200_001, 1_000, created_at=WHEN)
    assert below == pytest.approx(200_000 * 3e-6 + 1_000 * 15e-6)
    assert above == pytest.approx(200_001 * 6e-6 + 1_000 * 22.5e-6)


def test_aliases_and_prefixes_are_stripped_only_for_the_lookup():
    assert catalog_names("us.anthropic.claude-3-5-sonnet-20241022-v2:0")[:2] == [
        "us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet-20241022-v2:0"]
    assert "gpt-4o-mini" in catalog_names("openai/gpt-4o-mini-2024-07-18")
    p = Pricing()
    bedrock = p.price("bedrock", "us.anthropic.claude-3-5-sonnet-20241022-v2:0", 1_000, 100, created_at=WHEN)
    assert bedrock == pytest.approx(1_000 * 3e-6 + 100 * 15e-6)


def test_unknown_model_has_no_price():
    assert Pricing().price("openai", "acme-internal-7b", 100, 10) is None
    assert price_one(None, None, 100, 10) is None


def test_overrides_from_plan_toml_win_over_the_catalog():
    config = {"prices": {
        "acme-internal-7b": {"input_per_mtok": 0.5, "output_per_mtok": 1.5},
        "gpt-4o-mini": {"input_per_mtok": 0.1, "output_per_mtok": 0.4, "cached_input_per_mtok": 0.01,
                        "cache_write_per_mtok": 0.2, "batch_discount": 0.25},
    }}
    p = Pricing(config)
    assert p.price("openai", "acme-internal-7b", 2_000_000, 1_000_000) == pytest.approx(1.0 + 1.5)
    # The dated alias finds the override written for the short name.
    cost = p.price("openai", "gpt-4o-mini-2024-07-18", 1_000_000, 100_000, cached_input_tokens=500_000, cache_write_tokens=100_000)
    assert cost == pytest.approx(400_000 * 0.1e-6 + 500_000 * 0.01e-6 + 100_000 * 0.2e-6 + 100_000 * 0.4e-6)
    batch = p.price("openai", "gpt-4o-mini", 1_000_000, 0, is_batch=True)
    assert batch == pytest.approx(0.1 * 0.75)
    # Cached input defaults to the input price when not given.
    assert p.price(None, "acme-internal-7b", 1_000_000, 0, cached_input_tokens=1_000_000) == pytest.approx(0.5)
    # A write kept an hour costs what cache_write_1h_per_mtok says, else what any cache write costs.
    hour = Pricing({"prices": {"claude-x": {"input_per_mtok": 1, "output_per_mtok": 5, "cache_write_per_mtok": 1.25,
                                            "cache_write_1h_per_mtok": 2}}})
    assert hour.price(None, "claude-x", 1_000_000, 0, cache_write_tokens=1_000_000, cache_write_1h_tokens=400_000) == \
        pytest.approx(0.6 * 1.25 + 0.4 * 2)
    assert p.price("openai", "gpt-4o-mini", 1_000_000, 0, cache_write_tokens=1_000_000, cache_write_1h_tokens=1_000_000) == \
        pytest.approx(0.2)


@pytest.mark.parametrize(
    "prices, message",
    [
        ({"m": {"input_per_mtok": 1}}, "output_per_mtok is required"),
        ({"m": {"input_per_mtok": 1, "output_per_mtok": 2, "input_per_mtoken": 3}}, "unknown key 'input_per_mtoken'"),
        ({"m": {"input_per_mtok": -1, "output_per_mtok": 2}}, "non-negative"),
        ({"m": {"input_per_mtok": 1, "output_per_mtok": 2, "batch_discount": 2}}, "fraction"),
        ({"m": 3}, "expected keys"),
    ],
)
def test_bad_overrides_are_refused_with_a_sentence(prices, message):
    with pytest.raises(PlanError, match=message):
        Pricing({"prices": prices})


def test_tariffs_agree_with_genai_prices_request_by_request():
    from genai_prices import Usage, calc_price

    rng = random.Random(7)
    p = Pricing()
    for model, provider in [("gpt-4o-mini", "openai"), ("claude-sonnet-4-5", "anthropic"), ("gemini-2.5-pro", "google"), ("o3", "openai")]:
        for _ in range(60):
            inp = rng.randint(0, 400_000)
            cached = rng.randint(0, inp // 2)
            write = rng.randint(0, (inp - cached) // 2)
            write_1h = rng.randint(0, write)
            out = rng.randint(0, 30_000)
            when = datetime(rng.randint(2024, 2026), rng.randint(1, 12), rng.randint(1, 28))
            ours = p.price(provider, model, inp, out, cached, write, False, when, write_1h)
            usage = Usage(input_tokens=inp, cache_read_tokens=cached, cache_write_tokens=write,
                          cache_write_1h_tokens=write_1h, output_tokens=out)
            reference = float(calc_price(usage, model, provider_id=provider, genai_request_timestamp=when).total_price)
            assert ours == pytest.approx(reference, rel=1e-12, abs=1e-15)


def test_time_of_day_prices_are_tariffs_of_their_hours():
    """DeepSeek's catalogue prices depend on the time of day (UTC): each window of the day is a tariff of its own, so
    SQL prices those rows as it prices any other (each was priced in Python: a DeepSeek log took 6x DuckDB alone);
    the price of any request is still the catalogue's, at its minute."""
    from genai_prices import Usage, calc_price

    p = Pricing()
    tariffs = p.tariffs("deepseek", "deepseek-chat", False)
    assert tariffs != EXACT and {(t.minute_from, t.minute_to) for t in tariffs} == {(0, 30), (30, 990), (990, 1440)}
    day = p.price("deepseek", "deepseek-chat", 1_000_000, 0, created_at=datetime(2025, 3, 1, 6, 0))
    night = p.price("deepseek", "deepseek-chat", 1_000_000, 0, created_at=datetime(2025, 3, 1, 18, 0))
    assert day is not None and night is not None and day != night
    rng = random.Random(5)
    for model in ("deepseek-chat", "deepseek-reasoner", "deepseek-v4-pro"):
        for _ in range(80):
            when = datetime(2025, 1, 1) + timedelta(minutes=rng.randrange(60 * 24 * 700))
            inp = rng.randint(1, 200_000)
            cached, out = rng.randint(0, inp), rng.randint(0, 8_000)
            reference = float(calc_price(Usage(input_tokens=inp, cache_read_tokens=cached, output_tokens=out), model,
                                         provider_id="deepseek", genai_request_timestamp=when).total_price)
            assert p.price("deepseek", model, inp, out, cached, 0, False, when) == pytest.approx(reference, rel=1e-12, abs=1e-15)
