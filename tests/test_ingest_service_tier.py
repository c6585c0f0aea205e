"""A call's service tier prices it: OpenAI bills flex processing at half (the Batch API's rates) and priority at
about 1.75-2 times the standard price; the response says which tier served it (`service_tier`). Before, every call
was priced at the standard rate, so a team running its background jobs on flex saw twice the spend it pays."""

import json
from datetime import datetime, timezone

import pytest

from analyzer.db import connect
from analyzer.ingest import ingest_paths

NOV = 1794000000  # 2026-11-06, after the catalogue's tier prices start (2026-10-12)
MAY = 1780000000  # 2026-05-28, before: flex at the Batch API's rates, priority at the standard price
# gpt-5 for a million tokens in and a million out: $1.25 + $10 standard
PRICES = {(NOV, None): 11.25, (NOV, "default"): 11.25, (NOV, "flex"): 5.625, (NOV, "priority"): 22.5,
          (MAY, "flex"): 5.625, (MAY, "priority"): 11.25, (MAY, "auto"): 11.25}


def chat_line(i: int, created: int, tier: str | None) -> dict:
    response = {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": created, "model": "gpt-5-2025-08-07",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": f"answer {i}"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000, "total_tokens": 2_000_000}}
    if tier is not None:
        response["service_tier"] = tier
    return {"request": {"model": "gpt-5", "messages": [{"role": "user", "content": f"question {i}"}]}, "response": response}


def ingest(tmp_path, lines: list[dict], fast: bool = True) -> dict:
    path = tmp_path / "calls.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    con = connect(str(tmp_path / f"{fast}.duckdb"))
    try:
        ingest_paths(con, [str(path)], fast=fast)
        return {r[0]: r[1:] for r in con.execute("select source_id, round(cost_usd, 6), cost_source from requests").fetchall()}
    finally:
        con.close()


@pytest.mark.parametrize("fast", [True, False])
def test_each_call_is_priced_at_the_tier_that_served_it(tmp_path, fast):
    cases = list(PRICES)
    lines = [chat_line(i, created, tier) for i, (created, tier) in enumerate(cases * 40)]  # enough for the SQL route
    stored = ingest(tmp_path, lines, fast)
    assert len(stored) == len(lines)
    for i, (created, tier) in enumerate(cases * 40):
        assert stored[f"chatcmpl-{i}"] == (PRICES[(created, tier)], "catalog"), (created, tier)


def test_a_streamed_call_and_a_responses_call_on_flex_are_priced_at_flex(tmp_path):
    chunks = [{"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": NOV, "model": "gpt-5-2025-08-07",
               "service_tier": "flex", "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]},
              {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": NOV, "model": "gpt-5-2025-08-07",
               "service_tier": "flex", "choices": [], "usage": {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}}]
    responses = {"id": "resp_1", "object": "response", "created_at": NOV, "model": "gpt-5-2025-08-07", "status": "completed",
                 "service_tier": "flex", "output": [{"type": "message", "role": "assistant",
                                                     "content": [{"type": "output_text", "text": "hello"}]}],
                 "usage": {"input_tokens": 1_000_000, "output_tokens": 1_000_000}}
    stored = ingest(tmp_path, [
        {"request": {"model": "gpt-5", "stream": True, "messages": [{"role": "user", "content": "hi"}]}, "response": chunks},
        {"request": {"model": "gpt-5", "input": "hello?"}, "response": responses},
    ])
    assert stored == {"chatcmpl-s": (5.625, "catalog"), "resp_1": (5.625, "catalog")}


def test_a_price_set_in_plan_toml_is_the_price_whatever_the_tier(tmp_path):
    from analyzer.pricing import Pricing

    pricing = Pricing({"prices": {"gpt-5": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}})
    assert pricing.price("openai", "gpt-5", 1_000_000, 1_000_000, service_tier="flex") == 3.0
    assert Pricing().price("openai", "gpt-5", 1_000_000, 1_000_000, service_tier="flex", created_at=None) == 5.625


def test_another_providers_flex_keeps_its_own_price():
    from analyzer.pricing import Pricing

    pricing = Pricing()  # Groq's flex tier bills its on-demand price, not a batch discount
    assert pricing.price("groq", "openai/gpt-oss-120b", 1_000_000, 1_000_000, service_tier="flex") == pricing.price(
        "groq", "openai/gpt-oss-120b", 1_000_000, 1_000_000)


def test_each_of_many_calls_in_one_record_keeps_its_own_tiers_price(tmp_path):
    from analyzer.pricing import Pricing

    lines = [chat_line(i, NOV, "flex" if i % 2 else "priority") for i in range(1100)]  # past 1,024 records of one line
    for i, line in enumerate(lines):
        line["response"]["usage"] = {"prompt_tokens": 1000 + i, "completion_tokens": 10}
    path = tmp_path / "calls.json"
    path.write_text(json.dumps(lines))  # one line holding them all
    con = connect(str(tmp_path / "x.duckdb"))
    ingest_paths(con, [str(path)])
    stored = dict(con.execute("select source_id, cost_usd from requests").fetchall())
    pricing, when = Pricing(), datetime.fromtimestamp(NOV, timezone.utc).replace(tzinfo=None)
    for i, line in enumerate(lines):
        expected = pricing.price("openai", "gpt-5-2025-08-07", 1000 + i, 10, created_at=when, service_tier=line["response"]["service_tier"])
        assert stored[f"chatcmpl-{i}"] == pytest.approx(expected), i
