"""Sampled traffic: a request ingested from an export that holds the fraction R of the calls stands for 1/R calls.

``requests.sample_rate`` (NULL: not sampled) is set by ``plan ingest`` (``analyzer/ingest/sample_rates.py``). Every
figure about the team's traffic (spend, volume, tokens, peak-hour load, and so savings and payback) weighs each
request by ``1 / sample_rate`` (``weight``): the Horvitz-Thompson estimate of the full traffic, exact in expectation
whatever the mix of rates. Figures about the logs themselves (how many requests were read, replayed, judged,
rejected) stay counts of rows. Where both are shown, the sample's own figure is labelled as such.

The estimate's uncertainty from sampling alone, for independent (Bernoulli) sampling, has the variance
``sum((1 - R) / R^2 * cost^2)`` over the sampled requests; samplers that keep whole traces or sessions make the real
interval somewhat wider.
"""

from __future__ import annotations

import math

from .db import dicts
from .stats import Z95

SOURCE_WORDS = {"flag": "given with --sample-rate", "stated": "stated in the export"}


def weight(alias: str = "") -> str:
    """SQL: how many calls of the full traffic a row of ``requests`` (aliased ``alias``) stands for."""
    column = f"{alias}.sample_rate" if alias else "sample_rate"
    return f"(1.0 / coalesce({column}, 1.0))"


def one_in(rate: float | None) -> str:
    """'1 in 50' for a rate of 0.02; '1 in 3.3' for 0.3; 'all' for an unsampled export."""
    if rate is None or rate >= 1:
        return "all"
    n = 1 / rate
    return f"1 in {n:,.0f}" if abs(n - round(n)) < 1e-6 else f"1 in {n:,.1f}"


def sampling_summary(con) -> dict:
    """The rates in the store and what they do to the figures: the sample's own requests and spend, the estimate of
    the full traffic, and a sentence for reports. ``sampled`` is False when no request carries a rate below 1."""
    rates = dicts(
        con,
        f"""
        select sample_rate as rate, sample_rate_source as source, count(*) as requests,
               count(distinct source_file) as files, sum(cost_usd) as spend_usd,
               sum(cost_usd * {weight()}) as estimated_spend_usd,
               sum(case when sample_rate < 1 then (1 - sample_rate) / (sample_rate * sample_rate) * cost_usd * cost_usd
                        else 0 end) as variance
        from requests group by all order by rate nulls last, source nulls last
        """,
    )
    sampled = any(r["rate"] is not None and r["rate"] < 1 for r in rates)
    requests = sum(int(r["requests"]) for r in rates)
    estimated_requests = sum(int(r["requests"]) / (r["rate"] or 1.0) for r in rates)
    priced = [r for r in rates if r["spend_usd"] is not None]
    spend = sum(float(r["spend_usd"]) for r in priced) if priced else None
    estimated = sum(float(r["estimated_spend_usd"]) for r in priced) if priced else None
    se = math.sqrt(sum(float(r["variance"] or 0) for r in priced)) if priced else None
    return {
        "sampled": sampled,
        "rates": [{"rate": r["rate"], "one_in": one_in(r["rate"]), "source": r["source"], "requests": int(r["requests"]),
                   "files": int(r["files"]), "spend_usd": r["spend_usd"]} for r in rates],
        "requests": requests,
        "estimated_requests": estimated_requests,
        "spend_usd": spend,
        "estimated_spend_usd": estimated,
        "estimated_spend_low_usd": max(spend or 0.0, estimated - Z95 * se) if sampled and estimated is not None and se is not None else estimated,
        "estimated_spend_high_usd": estimated + Z95 * se if sampled and estimated is not None and se is not None else estimated,
        "scale": (estimated / spend) if sampled and spend and estimated is not None else (estimated_requests / requests if requests else 1.0),
        "sentence": sampling_sentence(rates) if sampled else None,
    }


def sampling_sentence(rates: list[dict]) -> str:
    """What the figures are scaled from, in words: the rates, where each came from, how many requests carry it."""
    by_rate: dict[float, list[dict]] = {}
    for r in rates:
        if r["rate"] is not None and r["rate"] < 1:
            by_rate.setdefault(float(r["rate"]), []).append(r)
    unsampled = sum(int(r["requests"]) for r in rates if r["rate"] is None or r["rate"] >= 1)

    def sources(group: list[dict]) -> str:
        if len(group) == 1:
            return SOURCE_WORDS.get(group[0]["source"] or "", "source not recorded")
        return ", ".join(f"{SOURCE_WORDS.get(g['source'] or '', 'source not recorded')} for {int(g['requests']):,} requests"
                         for g in group)

    if len(by_rate) == 1 and not unsampled:
        (rate, group), = by_rate.items()
        head = f"The logs are a {one_in(rate).replace(' ', '-')} sample of the traffic (R = {rate:g}; {sources(group)})"
    else:
        parts = [f"{sum(int(g['requests']) for g in group):,} requests at R = {rate:g} ({one_in(rate)}; {sources(group)})"
                 for rate, group in sorted(by_rate.items())]
        head = "The logs hold sampled traffic: " + "; ".join(parts) + (f"; {unsampled:,} requests not sampled" if unsampled else "")
    return (head + ". Spend, requests, tokens, peak-hour load, savings and payback are scaled to the full traffic, "
            "each request counting 1/R times; figures marked 'in the sample' are the logs' own.")


def short_note(sampling: dict | None) -> str | None:
    """A few words for a headline: 'scaled from a 1-in-50 sample (R = 0.02)'; None when the logs are not sampled."""
    if not sampling or not sampling.get("sampled"):
        return None
    rates = sorted({float(r["rate"]) for r in sampling["rates"] if r["rate"] is not None and r["rate"] < 1})
    unsampled = any(r["rate"] is None or r["rate"] >= 1 for r in sampling["rates"])
    if len(rates) == 1 and not unsampled:
        return f"scaled from a {one_in(rates[0]).replace(' ', '-')} sample (R = {rates[0]:g})"
    listed = ", ".join(f"{r:g}" for r in rates)
    return (f"scaled from sampled logs (R = {listed}{' and unsampled files' if unsampled else ''}; "
            "each request counts 1/R times)")
