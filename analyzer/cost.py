"""The cost model: monthly spend per category, savings if traffic moves local, hardware payback and capacity.

Everything is computed from the user's own logs:

* **Projection.** Spend is the sum of ``requests.cost_usd`` (so the log's own cost, cached-input and batch
  pricing flow through exactly as ingest priced each request) over the observed window, first to last
  timestamp, scaled to a 30-day month. Gaps in the log are reported, not papered over.
* **Local running cost.** Busy time = input tokens / prefill rate + output tokens / decode rate; electricity
  = busy hours x load power x price per kWh, plus idle power for the rest of the month and optional
  maintenance, for every box the plan needs.
* **Capacity.** Per-hour demand of the categories that move local, from the logs' timestamps; the p95
  hour (nearest rank, idle hours included) sets ``boxes_needed = ceil(peak busy seconds / 3600)``, and an
  M/M/c (Erlang C) queue gives the expected wait at that hour.
* **Scenarios.** ``route``: categories decided local (or local for compliance) move entirely.
  ``cascade``: those, plus the cascade categories run locally first, their failures (1 - acceptance) going
  to the frontier at full price on top of the local time already spent. ``ceiling``: everything local at
  100% acceptance. The plan is ``cascade`` (it follows the judge's decisions) once anything is measured,
  and ``ceiling`` before that.
* **Intervals.** Savings intervals take the corners of the acceptance interval (Wilson, from judge) and of
  the category's sampled spend interval (from categorize); category bounds add up to scenario bounds, which
  is conservative.

Decisions come from :mod:`analyzer.decisions`. A category that is ``not_measured`` or ``needs_judge`` moves
nowhere in ``route`` and ``cascade``: its spend is shown as undecided (``undecided_monthly_spend_usd``), and
its savings interval runs from nothing to its ceiling.

The arithmetic is in small pure functions; ``cost_model(con, settings)`` gathers the inputs and returns the
``plan cost --json`` payload. Its tunables (:class:`CostSettings`), all optional, come from flags, then the
environment, then plan.toml (or a dict in notebooks)::

    [cost]
    hardware = "desktop-24gb"          # the profile the headline uses (--hardware wins)
    electricity_usd_per_kwh = 0.17
    maintenance_usd_per_month = 0      # per box, on top of the profile's own
    frontier_price_factor = 1.0        # what-if: 0.5 = frontier prices halve
    gap_hours = 24                     # report silences at least this long
    peak_percentile = 95
    measured_hardware = "existing"     # the profile plan replay's throughput was measured on

    [judge]
    target = 0.8                       # used when the judge stored none; cost_model(target=...) re-decides
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from . import decisions as dv
from .db import aggregate, dicts, one, table_exists
from .errors import PlanError
from .judge import redecide
from .potential import objective_checks, potential_summary
from .progress import Say, say_nothing
from .sampling import sampling_summary, weight
from .settings import StageSettings, at_least, option
from .stats import Z95

if TYPE_CHECKING:
    import duckdb

MONTH_DAYS = 30
MONTH_HOURS = MONTH_DAYS * 24
HORIZONS = (12, 24, 36)
CURVE_MONTHS = 36
MIN_WINDOW_DAYS = 1.0
TREND_MIN_DAYS = 14
DEFAULT_ELECTRICITY_USD_PER_KWH = 0.17
ELECTRICITY_BASIS = (
    "US average residential electricity price, about $0.17/kWh in 2025 (EIA Electric Power Monthly); "
    "set [cost] electricity_usd_per_kwh in plan.toml or --electricity-usd-per-kwh for yours"
)
DEFAULT_GAP_HOURS = 24.0
DEFAULT_PEAK_PERCENTILE = 95.0
DEFAULT_ACCEPTANCE_TARGET = 0.8
MIN_REPLAYS_FOR_RATIO = 5

LOCAL_READY = dv.MOVES_LOCAL
DECISIONS = dv.DECISIONS
POTENTIAL = "potential"
SCENARIOS = ("route", "cascade", "ceiling", POTENTIAL)
# Checks whose verdict is objective, so a failure can be caught and sent on to the frontier.
OBJECTIVE_CHECKS = frozenset(
    {"json_valid", "json_schema_match", "sql_parses", "svg_renders", "code_compiles", "label_match", "regex", "contains", "max_length"}
)


# --------------------------------------------------------------------------------------------------
# Projection
# --------------------------------------------------------------------------------------------------


def observed_days(first: datetime, last: datetime) -> float:
    """Length of the observed window in days, first to last timestamp."""
    return (last - first).total_seconds() / 86400.0


def projection_days(window: float) -> float:
    """The window the month is scaled from: the observed one, but never under a day (a few minutes of
    traffic would otherwise be multiplied into absurd monthly figures)."""
    return max(window, MIN_WINDOW_DAYS)


def to_month(value: float, window_days: float) -> float:
    """Scale an amount seen over ``window_days`` to a 30-day month."""
    if window_days <= 0:
        raise ValueError("window_days must be positive")
    return value * MONTH_DAYS / window_days


def linear_trend(values: Sequence[float]) -> dict:
    """Least-squares slope of evenly spaced values, with a 95% interval (normal approximation)."""
    n = len(values)
    if n < 3:
        raise ValueError("a trend needs at least three points")
    xs = range(n)
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, values, strict=True)) / sxx
    intercept = mean_y - slope * mean_x
    residual = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, values, strict=True))
    se = math.sqrt(residual / (n - 2) / sxx) if n > 2 else float("inf")
    return {"slope": slope, "intercept": intercept, "mean": mean_y, "slope_low": slope - Z95 * se, "slope_high": slope + Z95 * se}


def spend_trend(daily_spend: Sequence[float], start: datetime | None = None) -> dict | None:
    """Trend of spend over whole 24-hour periods; ``None`` when the window is too short to say."""
    if len(daily_spend) < TREND_MIN_DAYS:
        return None
    fit = linear_trend(daily_spend)
    mean = fit["mean"]
    significant = fit["slope_low"] > 0 or fit["slope_high"] < 0
    direction = ("rising" if fit["slope"] > 0 else "falling") if significant else "flat"
    weeks = []
    for w in range(len(daily_spend) // 7):
        chunk = daily_spend[w * 7 : (w + 1) * 7]
        weeks.append({"week": w + 1, "start": (start + timedelta(days=7 * w)) if start else None, "spend_usd": sum(chunk)})
    return {
        "days": len(daily_spend),
        "mean_daily_spend_usd": mean,
        "daily_spend_slope_usd_per_day": fit["slope"],
        "slope_ci_low": fit["slope_low"],
        "slope_ci_high": fit["slope_high"],
        "weekly_spend_change_usd": fit["slope"] * 49,  # weekly spend moves 7 x slope per day, over 7 days
        "weekly_change_pct": (fit["slope"] * 7 / mean * 100) if mean else None,
        "direction": direction,
        "significant": significant,
        "weekly": weeks,
    }


# --------------------------------------------------------------------------------------------------
# Running cost and capacity
# --------------------------------------------------------------------------------------------------


def busy_seconds(input_tokens: float, output_tokens: float, prompt_tokens_per_s: float, output_tokens_per_s: float) -> float:
    """Seconds a box is busy: prefill of every input token plus decode of every output token."""
    return input_tokens / prompt_tokens_per_s + output_tokens / output_tokens_per_s


def electricity_usd(busy_hours: float, watts: float, usd_per_kwh: float) -> float:
    """Energy cost of running at ``watts`` for ``busy_hours``."""
    return busy_hours * watts / 1000.0 * usd_per_kwh


def idle_electricity_usd(boxes: int, busy_hours: float, idle_watts: float, usd_per_kwh: float, month_hours: float = MONTH_HOURS) -> float:
    """Idle power for the hours of the month the boxes are not busy."""
    idle_hours = max(0.0, boxes * month_hours - busy_hours)
    return electricity_usd(idle_hours, idle_watts, usd_per_kwh)


def nearest_rank(values: Sequence[float], percentile: float) -> tuple[float, int]:
    """Nearest-rank percentile (always an observed value) and the index of the value it picked."""
    import numpy as np

    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("no values")
    if not 0 < percentile <= 100:
        raise ValueError("percentile must be in (0, 100]")
    order = np.argsort(arr, kind="stable")
    rank = math.ceil(percentile / 100.0 * arr.size - 1e-9)
    idx = int(order[max(rank, 1) - 1])
    return float(arr[idx]), idx


def boxes_needed(peak_busy_seconds_per_hour: float, has_demand: bool = True) -> int:
    """Boxes to carry the peak hour: ceil(busy seconds in that hour / 3600); at least one when anything moves."""
    if not has_demand:
        return 0
    return max(1, math.ceil(peak_busy_seconds_per_hour / 3600.0 - 1e-9))


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (offered load in Erlangs = arrival rate x
    mean service time). 1.0 when the load reaches the servers' capacity."""
    if servers <= 0:
        raise ValueError("servers must be positive")
    if offered_load <= 0:
        return 0.0
    if offered_load >= servers:
        return 1.0
    # Erlang B by its stable recurrence, then C from B.
    b = 1.0
    for k in range(1, servers + 1):
        b = offered_load * b / (k + offered_load * b)
    rho = offered_load / servers
    return b / (1 - rho + rho * b)


def mmc_queue(arrivals_per_s: float, mean_service_s: float, servers: int) -> dict:
    """Expected queueing in an M/M/c system: Poisson arrivals, exponential service, ``servers`` boxes each
    working one request at a time."""
    if servers <= 0 or arrivals_per_s <= 0 or mean_service_s <= 0:
        return {"servers": servers, "utilisation": 0.0, "p_wait": 0.0, "mean_wait_s": 0.0, "mean_response_s": mean_service_s, "stable": True}
    load = arrivals_per_s * mean_service_s
    rho = load / servers
    if rho >= 1:
        return {"servers": servers, "utilisation": rho, "p_wait": 1.0, "mean_wait_s": None, "mean_response_s": None, "stable": False}
    p_wait = erlang_c(servers, load)
    wait = p_wait / (servers / mean_service_s - arrivals_per_s)
    return {"servers": servers, "utilisation": rho, "p_wait": p_wait, "mean_wait_s": wait, "mean_response_s": wait + mean_service_s, "stable": True}


# --------------------------------------------------------------------------------------------------
# Savings
# --------------------------------------------------------------------------------------------------


def route_savings(spend_usd: float, electricity: float) -> float:
    """A category that moves entirely: its API spend, less the local electricity."""
    return spend_usd - electricity


def cascade_savings(spend_usd: float, electricity: float, acceptance: float) -> float:
    """Local first for every request; the failures (1 - acceptance) are paid again at the frontier."""
    return spend_usd - electricity - (1.0 - acceptance) * spend_usd


def decision_savings(decision: str, spend_usd: float, electricity: float, acceptance: float | None) -> float:
    """Monthly savings of one category under its decision (before the boxes' fixed costs)."""
    if decision in LOCAL_READY:
        return route_savings(spend_usd, electricity)
    if decision == dv.CASCADE:
        return cascade_savings(spend_usd, electricity, 1.0 if acceptance is None else acceptance)
    return 0.0


def savings_interval(
    decision: str,
    spend_usd: float,
    electricity: float,
    acceptance: tuple[float, float] | None,
    spend_factors: tuple[float, float] = (1.0, 1.0),
) -> tuple[float, float]:
    """Bounds on a category's savings from its acceptance interval and its sampled-spend interval
    (``spend_factors`` scale spend and the local work together). The savings are bilinear in the two, so
    the extremes sit at the corners and the interval always contains the point estimate. An unmeasured
    or undecided category (not measured, or needing a judge) may save anything from nothing to its ceiling."""
    if decision in dv.UNDECIDED:
        corners = [0.0] + [route_savings(spend_usd * f, electricity * f) for f in spend_factors]
        return min(corners), max(corners)
    accs = acceptance if acceptance is not None else (1.0, 1.0)
    corners = [decision_savings(decision, spend_usd * f, electricity * f, a) for f in spend_factors for a in accs]
    return min(corners), max(corners)


def payback_months(upfront_usd: float, monthly_net_usd: float) -> float | None:
    """Months until cumulative net savings repay the hardware; ``None`` when they never do."""
    if upfront_usd <= 0:
        return 0.0 if monthly_net_usd >= 0 else None
    if monthly_net_usd <= 0:
        return None
    return upfront_usd / monthly_net_usd


def purchases(months: float, useful_life_months: int) -> int:
    """How many times a box is bought over ``months`` (replaced at the end of its useful life)."""
    return max(1, math.ceil(months / useful_life_months - 1e-9))


def cumulative_net(upfront_usd: float, monthly_net_usd: float, months: int, useful_life_months: int) -> float:
    """Savings less running costs over ``months``, less every purchase (replacements included)."""
    return monthly_net_usd * months - upfront_usd * purchases(months, useful_life_months) if upfront_usd else monthly_net_usd * months


def payback_curve(upfront_usd: float, monthly_net_usd: float, useful_life_months: int, months: int = CURVE_MONTHS) -> list[dict]:
    """Month-by-month cumulative net savings and hardware outlay, for the payback chart."""
    curve = []
    for m in range(months + 1):
        outlay = upfront_usd * purchases(max(m, 1), useful_life_months) if upfront_usd else 0.0
        curve.append({"month": m, "savings_usd": monthly_net_usd * m, "hardware_usd": outlay, "net_usd": monthly_net_usd * m - outlay})
    return curve


# --------------------------------------------------------------------------------------------------
# Reading the database
# --------------------------------------------------------------------------------------------------


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("must be a number")
    return float(value)


def _above_zero(value) -> str | None:
    return None if value is None or value > 0 else "must be above 0"


def _percentile(value) -> str | None:
    return None if value is None or 0 < value <= 100 else "must be above 0 and at most 100"


def _target(value) -> str | None:
    return None if value is None or 0 < value <= 1 else "must be a fraction between 0 and 1"


@dataclass(frozen=True)
class CostSettings(StageSettings):
    """The cost model's tunables, resolved once: flag > environment > plan.toml [cost] > default.

    ``target`` (``--target``) re-derives every decision at another acceptance target; without it the target
    the judge decided with is used, else ``[judge] target`` (``judge_target``), else 0.8. ``profiles`` are
    plan.toml's ``[hardware.NAME]`` tables."""

    section: ClassVar[str] = "cost"
    hardware: str | None = option(None)
    electricity_usd_per_kwh: float | None = option(None, env="PLAN_ELECTRICITY_USD_PER_KWH", convert=_number,
                                                   check=at_least(0))
    maintenance_usd_per_month: float = option(0.0, convert=_number, check=at_least(0))
    frontier_price_factor: float = option(1.0, convert=_number, check=at_least(0))
    gap_hours: float = option(DEFAULT_GAP_HOURS, convert=_number, check=_above_zero)
    peak_percentile: float = option(DEFAULT_PEAK_PERCENTILE, convert=_number, check=_percentile)
    measured_hardware: str | None = option(None)
    target: float | None = option(None, convert=_number, check=_target)
    judge_target: float | None = option(None, key="judge.target", convert=_number, check=_target)
    judge_categories: dict = option(default_factory=dict, key="judge.categories")  # their checks decide the potential
    profiles: dict = option(default_factory=dict, key="hardware")


def _settings(settings: CostSettings, stored_target: float | None = None) -> dict:
    """The tunables the arithmetic uses. The acceptance target is the one asked for, else the one the judge
    decided with, else [judge] target, else 0.8."""
    if settings.target is not None:
        target_value = settings.target
    elif stored_target is not None:
        target_value = float(stored_target)
    else:
        target_value = settings.judge_target if settings.judge_target is not None else DEFAULT_ACCEPTANCE_TARGET
    electricity = settings.electricity_usd_per_kwh
    return {
        "usd_per_kwh": electricity if electricity is not None else DEFAULT_ELECTRICITY_USD_PER_KWH,
        "electricity_default": electricity is None,
        "maintenance": settings.maintenance_usd_per_month,
        "gap_hours": settings.gap_hours,
        "percentile": settings.peak_percentile,
        "frontier_factor": settings.frontier_price_factor,
        "target": target_value,
        "target_overridden": settings.target is not None,
    }


def _window(con) -> dict:
    """Totals over the whole log: rows as counted, and spend, requests and tokens of the full traffic (each request
    weighted by 1/sample_rate, :mod:`analyzer.sampling`); ``sample_spend_usd`` is the logs' own spend."""
    w = weight()
    r = aggregate(
        con,
        f"""
        select count(*), count(created_at), min(created_at), max(created_at),
               coalesce(sum(cost_usd * {w}), 0), coalesce(sum(input_tokens * {w}), 0), coalesce(sum(output_tokens * {w}), 0),
               coalesce(sum(cached_input_tokens * {w}), 0), count(*) filter (where is_batch),
               coalesce(sum({w}), 0), coalesce(sum(cost_usd), 0), count(cost_usd)
        from requests
        """,
    )
    return {
        "requests": r[0],
        "timestamped": r[1],
        "first_at": r[2],
        "last_at": r[3],
        "spend_usd": float(r[4]),
        "input_tokens": float(r[5]),
        "output_tokens": float(r[6]),
        "cached_input_tokens": float(r[7]),
        "batch_requests": r[8],
        "estimated_requests": float(r[9]),
        "sample_spend_usd": float(r[10]),
        "priced_requests": r[11],
    }


def _pricing(con) -> dict:
    """Per cost source: requests in the logs and the spend of the full traffic they stand for."""
    by_source = {
        r["cost_source"]: r
        for r in dicts(
            con,
            f"""
            select coalesce(cost_source, 'unknown') as cost_source, count(*) as requests,
                   coalesce(sum(cost_usd * {weight()}), 0) as spend_usd,
                   coalesce(sum(input_tokens), 0) as input_tokens, coalesce(sum(output_tokens), 0) as output_tokens
            from requests group by 1
            """,
        )
    }
    unknown_models = dicts(
        con,
        """
        select coalesce(model, '(no model)') as model, count(*) as requests,
               coalesce(sum(input_tokens), 0) as input_tokens, coalesce(sum(output_tokens), 0) as output_tokens
        from requests where cost_usd is null
        group by 1 order by requests desc, model
        """,
    )
    out = {}
    for source in ("log", "catalog", "unknown"):
        r = by_source.get(source) or {"requests": 0, "spend_usd": 0.0, "input_tokens": 0, "output_tokens": 0}
        out[source] = {"requests": r["requests"], "spend_usd": float(r["spend_usd"])}
    out["unknown"].update(
        {
            "input_tokens": int((by_source.get("unknown") or {}).get("input_tokens") or 0),
            "output_tokens": int((by_source.get("unknown") or {}).get("output_tokens") or 0),
            "models": unknown_models,
        }
    )
    return out


def _gaps(con, min_hours: float) -> list[dict]:
    return dicts(
        con,
        """
        select prev_at as start_at, created_at as end_at, epoch(created_at) - epoch(prev_at) as seconds
        from (select created_at, lag(created_at) over (order by created_at) as prev_at
              from requests where created_at is not null)
        where prev_at is not null and epoch(created_at) - epoch(prev_at) >= ?
        order by start_at
        """,
        [min_hours * 3600.0],
    )


def _daily_spend(con, first: datetime, whole_days: int) -> list[float]:
    """Spend of the full traffic per 24-hour period counted from the first timestamp, whole periods only."""
    if whole_days <= 0:
        return []
    got = dict(
        (int(d), float(s))
        for d, s in con.execute(
            f"""
            select floor((epoch(created_at) - epoch(?::timestamp)) / 86400) as d, coalesce(sum(cost_usd * {weight()}), 0)
            from requests where created_at is not null group by 1
            """,
            [first],
        ).fetchall()
    )
    return [got.get(d, 0.0) for d in range(whole_days)]


def _acceptance(con) -> dict:
    if not table_exists(con, "category_acceptance"):
        return {}
    return {r["category_id"]: r for r in dicts(con, "select * from category_acceptance")}


def _json(raw, default):
    import json

    try:
        return json.loads(raw) if raw else default
    except (TypeError, ValueError):
        return default


def decide(row: dict | None, target: float) -> str:
    """Re-derive a category's decision at another acceptance target with the judge's own rule
    (:func:`analyzer.judge.redecide`). Compliance decisions, and categories not measured or needing a judge,
    stand."""
    if row is None:
        return dv.NOT_MEASURED
    return redecide(row, target)


def _decision(row: dict | None, settings: dict, name: str, notes: list[str]) -> str:
    """The judge's stored decision, or one re-derived when a target is given or none was stored."""
    if row is None:
        return dv.NOT_MEASURED
    stored = dv.normalise(row.get("decision"))
    if stored in (dv.LOCAL_FOR_COMPLIANCE, dv.NEEDS_JUDGE, dv.NOT_MEASURED):
        return stored  # privacy decides the first, measured or not; the others move nothing at any target
    if not row.get("n") or row.get("acceptance") is None:
        return dv.NOT_MEASURED
    if settings["target_overridden"]:
        return decide(row, settings["target"])
    if stored is not None:
        return stored
    if row.get("decision"):
        notes.append(f"Category {name!r} has an unrecognised decision {row['decision']!r}; it is treated as frontier.")
        return dv.FRONTIER
    return decide(row, settings["target"])


def _local_output_ratio(con) -> dict:
    """Per category, local output tokens / frontier output tokens on the same replayed requests: the local
    model may answer at a different length (thinking models write far more)."""
    if not table_exists(con, "replays"):
        return {}
    return {
        r["category_id"]: (float(r["local"]) / float(r["frontier"]), r["n"])
        for r in dicts(
            con,
            """
            select coalesce(rp.category_id, rc.category_id) as category_id, count(*) as n,
                   sum(rp.output_tokens) as local, sum(q.output_tokens) as frontier
            from replays rp join requests q on q.id = rp.request_id
            left join request_categories rc on rc.request_id = rp.request_id
            left join category_acceptance ca on ca.category_id = coalesce(rp.category_id, rc.category_id)
            where rp.error is null and rp.output_tokens is not null and q.output_tokens > 0
              and (ca.model is null or rp.model = ca.model)  -- the model the judge judged
            group by 1
            """,
        )
        if r["n"] >= MIN_REPLAYS_FOR_RATIO and r["frontier"]
    }


def _hour_index(first: datetime, last: datetime) -> tuple[datetime, int]:
    start = first.replace(minute=0, second=0, microsecond=0)
    end = last.replace(minute=0, second=0, microsecond=0)
    return start, int((end - start).total_seconds() // 3600) + 1


def _hourly(con, start: datetime, hours: int, categorized: bool) -> dict:
    """Per category key, a (3, hours) array over every hour of the window: requests, input, output tokens of the
    full traffic (each request weighted by 1/sample_rate)."""
    import numpy as np

    join = (
        "left join (select x.request_id, x.category_id from request_categories x join categories c "
        "on c.category_id = x.category_id) rc on rc.request_id = r.id"
        if categorized
        else ""
    )
    key = "rc.category_id" if categorized else "null"
    out: dict = {}
    for cid, h, n, tin, tout in con.execute(
        f"""
        select {key} as cid, cast(floor((epoch(r.created_at) - epoch(?::timestamp)) / 3600) as bigint) as h,
               sum({weight('r')}), coalesce(sum(r.input_tokens * {weight('r')}), 0),
               coalesce(sum(r.output_tokens * {weight('r')}), 0)
        from requests r {join}
        where r.created_at is not null
        group by all
        """,
        [start],
    ).fetchall():
        arrays = out.setdefault(cid, np.zeros((3, hours)))
        i = min(max(int(h), 0), hours - 1)
        arrays[:, i] += (float(n), float(tin), float(tout))
    return out


def _pool(name: str, spend: float, requests: float, sample_requests: int, input_tokens: float, output_tokens: float,
          unknown: int | None, priced: int | None, *, category_id=None, task_type=None, is_other=False,
          factors=(1.0, 1.0), hour_key=None, scale=1.0, sample_spend: float | None = None) -> dict:
    """One category as the cost model carries it: figures over the window for the full traffic (``requests`` and
    ``spend_usd`` weighted by 1/sample_rate), with the logs' own request count and spend beside them."""
    return {
        "category_id": category_id, "name": name, "task_type": task_type, "is_other": is_other,
        "spend_usd": spend, "requests": requests, "input_tokens": input_tokens, "output_tokens": output_tokens,
        "sample_requests": sample_requests, "sample_spend_usd": sample_spend,
        "unknown_cost_requests": unknown, "priced_requests": priced,
        "spend_factors": factors, "hour_key": hour_key, "scale": scale,
    }


def _category_figures(con) -> list[dict]:
    """The named categories and Other with their requests' figures (full traffic, and the logs' own)."""
    w = weight("r")
    return dicts(
        con,
        f"""
        select c.category_id, c.name, c.task_type, coalesce(c.is_other, false) as is_other, c.spend_rank,
               c.requests as cat_requests, c.spend_usd as cat_spend, c.spend_ci_low_usd, c.spend_ci_high_usd,
               c.share_of_requests, c.share_ci_low, c.share_ci_high,
               count(r.id) as sample_requests, coalesce(sum({w}), 0) as requests,
               coalesce(sum(r.cost_usd * {w}), 0) as spend_usd, coalesce(sum(r.cost_usd), 0) as sample_spend_usd,
               coalesce(sum(r.input_tokens * {w}), 0) as input_tokens, coalesce(sum(r.output_tokens * {w}), 0) as output_tokens,
               count(r.id) filter (where r.cost_usd is null) as unknown_cost_requests, count(r.cost_usd) as priced_requests
        from categories c
        left join request_categories rc on rc.category_id = c.category_id
        left join requests r on r.id = rc.request_id
        where coalesce(c.named, true)  -- the named categories and Other (not the rest of the hierarchy)
        group by all
        order by coalesce(c.is_other, false), spend_usd desc, c.category_id
        """,
    )


def _spend_factors(r: dict) -> tuple[float, float]:
    """The category's sampled-spend interval (from categorize) as factors on its spend."""
    if r["cat_spend"] and r["spend_ci_low_usd"] is not None and r["spend_ci_high_usd"] is not None:
        return min(1.0, r["spend_ci_low_usd"] / r["cat_spend"]), max(1.0, r["spend_ci_high_usd"] / r["cat_spend"])
    if r["share_of_requests"] and r["share_ci_low"] is not None and r["share_ci_high"] is not None:
        return min(1.0, r["share_ci_low"] / r["share_of_requests"]), max(1.0, r["share_ci_high"] / r["share_of_requests"])
    return 1.0, 1.0


def _uncategorised(con, notes: list[str]) -> dict | None:
    """Requests ingested after the last `plan categorize`, as one pool."""
    w = weight("r")
    rest = aggregate(
        con,
        f"""
        select count(*), coalesce(sum(cost_usd * {w}), 0), coalesce(sum(input_tokens * {w}), 0),
               coalesce(sum(output_tokens * {w}), 0), count(*) filter (where cost_usd is null), coalesce(sum({w}), 0),
               coalesce(sum(cost_usd), 0), count(cost_usd)
        from requests r where not exists (
            select 1 from request_categories rc join categories c on c.category_id = rc.category_id
            where rc.request_id = r.id)
        """,
    )
    if not rest or not rest[0]:
        return None
    notes.append(
        f"{rest[0]:,} requests (${rest[1]:,.2f} over the window) have no category, probably ingested after "
        "the last `plan categorize`; they are shown as 'Not categorised'. Re-run `plan categorize`."
    )
    return _pool("Not categorised", float(rest[1]), float(rest[5]), rest[0], float(rest[2]), float(rest[3]), rest[4],
                 rest[7], is_other=True, sample_spend=float(rest[6]))


def _categories(con, total: dict) -> tuple[list[dict], list[str], bool]:
    """Spend, tokens and requests per category over the window; one pool when categorize has not run."""
    notes: list[str] = []
    have = table_exists(con, "categories") and (one(con, "select count(*) from categories") or (0,))[0] > 0
    if not have:
        notes.append("Categories not found yet: the whole traffic is treated as one pool. Run `plan categorize`.")
        return [_pool("All traffic", total["spend_usd"], total["estimated_requests"], total["requests"],
                      total["input_tokens"], total["output_tokens"], None, total["priced_requests"],
                      sample_spend=total["sample_spend_usd"])], notes, False
    rows = _category_figures(con)
    assigned = sum(r["sample_requests"] for r in rows)
    claimed = sum(int(r["cat_requests"] or 0) for r in rows)
    scale = 1.0
    if assigned and assigned < total["requests"] and claimed >= 0.99 * total["requests"]:
        # categorize assigned a uniform sample and estimated the rest: scale the sample up.
        scale = total["requests"] / assigned
        notes.append(
            f"Categories were assigned to a sample of {assigned:,} of {total['requests']:,} requests; "
            "per-category figures are scaled up from the sample, with its interval."
        )
    cats = [
        _pool(r["name"], float(r["spend_usd"]) * scale, float(r["requests"]) * scale, int(r["sample_requests"]),
              float(r["input_tokens"]) * scale, float(r["output_tokens"]) * scale, r["unknown_cost_requests"],
              r["priced_requests"], category_id=r["category_id"], task_type=r["task_type"], is_other=bool(r["is_other"]),
              factors=_spend_factors(r), hour_key=r["category_id"], scale=scale,
              sample_spend=float(r["sample_spend_usd"]) * scale)
        for r in rows
    ]
    if scale == 1.0 and assigned < total["requests"]:
        rest = _uncategorised(con, notes)
        if rest is not None:
            cats.append(rest)
    return cats, notes, True


# --------------------------------------------------------------------------------------------------
# Evaluating a plan on one hardware profile
# --------------------------------------------------------------------------------------------------


def _moves(scenario: str, cat: dict) -> bool:
    if scenario == "ceiling":
        return True
    if scenario == POTENTIAL:  # the categories an objective check can vouch for, when their spend is known
        return bool(cat.get("objective_checks")) and cat.get("spend_known", True)
    if scenario == "route":
        return cat["decision"] in dv.MOVES_LOCAL
    return cat["decision"] in dv.RUNS_LOCAL


def _category_savings(scenario: str, cat: dict, spend: float, electricity: float, acceptance: float | None,
                      target: float) -> float:
    if not _moves(scenario, cat):
        return 0.0
    if scenario == POTENTIAL:  # local first at the target's acceptance; the rest paid again at the frontier
        return cascade_savings(spend, electricity, target)
    if scenario == "cascade" and cat["decision"] == dv.CASCADE:
        return cascade_savings(spend, electricity, acceptance if acceptance is not None else 1.0)
    return route_savings(spend, electricity)


def _category_interval(scenario: str, cat: dict, spend: float, electricity: float, target: float) -> tuple[float, float]:
    if not _moves(scenario, cat):
        return 0.0, 0.0
    if scenario == POTENTIAL:  # an assumption, not a measurement: no interval
        point = cascade_savings(spend, electricity, target)
        return point, point
    if scenario == "cascade" and cat["decision"] == dv.CASCADE:
        return savings_interval(dv.CASCADE, spend, electricity, (cat["ci_low"], cat["ci_high"]), cat["spend_factors"])
    return savings_interval(dv.LOCAL, spend, electricity, None, cat["spend_factors"])


def evaluate(
    profile,
    cats: list[dict],
    hourly: dict,
    hour_start: datetime | None,
    settings: dict,
    *,
    frontier_factor: float = 1.0,
    electricity_factor: float = 1.0,
    acceptance: str = "point",
) -> dict:
    """Savings, boxes, queueing and payback of each scenario on one profile. ``cats`` carry monthly
    figures; ``hourly`` maps each category's ``hour_key`` to per-hour (requests, input, output) arrays."""
    price = settings["usd_per_kwh"] * electricity_factor
    tg, pp = profile.output_tokens_per_s, profile.prompt_tokens_per_s
    per_cat = []
    for cat in cats:
        busy_h = busy_seconds(cat["monthly_input_tokens"], cat["monthly_local_output_tokens"], pp, tg) / 3600.0
        elec = electricity_usd(busy_h, profile.load_watts, price)
        spend = cat["monthly_spend_usd"] * frontier_factor
        acc = cat["ci_low"] if acceptance == "low" and cat["ci_low"] is not None else cat["acceptance"]
        per_cat.append({"cat": cat, "busy_hours": busy_h, "electricity": elec, "spend": spend, "acceptance": acc})

    results = {}
    target = settings["target"]
    for scenario in SCENARIOS:
        moved = [p for p in per_cat if _moves(scenario, p["cat"])]
        gross = sum(_category_savings(scenario, p["cat"], p["spend"], p["electricity"], p["acceptance"], target) for p in per_cat)
        bounds = [_category_interval(scenario, p["cat"], p["spend"], p["electricity"], target) for p in per_cat]
        busy_total = sum(p["busy_hours"] for p in moved)
        capacity = _capacity(profile, moved, hourly, hour_start, settings["percentile"])
        boxes = capacity["boxes_needed"]
        fixed = idle_electricity_usd(boxes, busy_total, profile.idle_watts, price) + boxes * (
            profile.maintenance_usd_per_month + settings["maintenance"]
        )
        net = gross - fixed
        upfront = boxes * profile.price_usd
        fits = profile.max_boxes is None or boxes <= profile.max_boxes
        payback = payback_months(upfront, net) if fits and boxes else None
        results[scenario] = {
            "categories_moved": len(moved),
            "monthly_spend_moved_usd": sum(p["spend"] for p in moved),
            "monthly_gross_savings_usd": gross,
            "monthly_electricity_usd": sum(p["electricity"] for p in moved) + idle_electricity_usd(boxes, busy_total, profile.idle_watts, price),
            "monthly_busy_hours": busy_total,
            "monthly_fixed_costs_usd": fixed,
            "monthly_savings_usd": net,
            "monthly_savings_low_usd": sum(b[0] for b in bounds) - fixed,
            "monthly_savings_high_usd": sum(b[1] for b in bounds) - fixed,
            "boxes_needed": boxes,
            "fits": fits,
            "upfront_usd": upfront,
            "payback_months": payback,
            "pays_back_within_life": payback is not None and payback <= profile.useful_life_months,
            "cumulative_net_usd": {str(m): cumulative_net(upfront, net, m, profile.useful_life_months) for m in HORIZONS} if fits else None,
            "capacity": capacity,
            "per_category": [
                {
                    "category_id": p["cat"]["category_id"],
                    "electricity": p["electricity"],
                    "busy_hours": p["busy_hours"],
                    "savings": _category_savings(scenario, p["cat"], p["spend"], p["electricity"], p["acceptance"], target),
                    "bounds": b,
                }
                for p, b in zip(per_cat, bounds, strict=True)
            ],
        }
    return results


def _capacity(profile, moved: list[dict], hourly: dict, hour_start: datetime | None, percentile: float) -> dict:
    """Peak-hour demand of the moved categories against one box's throughput."""
    if not moved or not hourly:
        return {"boxes_needed": 0, "hours": 0, "peak_hour": None, "max_hour": None, "mean_busy_seconds_per_hour": 0.0, "queue": None}
    import numpy as np

    hours = next(iter(hourly.values())).shape[1]
    req, tin, tout = np.zeros(hours), np.zeros(hours), np.zeros(hours)
    for p in moved:
        cat = p["cat"]
        arrays = hourly.get(cat["hour_key"])
        if arrays is None:
            continue
        req += arrays[0] * cat["scale"]
        tin += arrays[1] * cat["scale"]
        tout += arrays[2] * cat["scale"] * cat["local_output_ratio"]
    busy = tin / profile.prompt_tokens_per_s + tout / profile.output_tokens_per_s
    peak, idx = nearest_rank(busy, percentile)
    top = int(np.argmax(busy))
    boxes = boxes_needed(peak, has_demand=float(req.sum()) > 0)
    if req[idx] and boxes:
        queue = mmc_queue(float(req[idx]) / 3600.0, float(busy[idx] / req[idx]), boxes)
    else:
        queue = mmc_queue(0, 0, max(boxes, 1))

    def hour(i):
        return {
            "start": (hour_start + timedelta(hours=int(i))) if hour_start else None,
            "requests": float(req[i]),
            "input_tokens": float(tin[i]),
            "output_tokens": float(tout[i]),
            "busy_seconds": float(busy[i]),
        }

    return {
        "percentile": percentile,
        "hours": hours,
        "peak_hour": hour(idx),
        "max_hour": hour(top),
        "mean_busy_seconds_per_hour": float(busy.mean()),
        "box_output_tokens_per_s": profile.output_tokens_per_s,
        "box_prompt_tokens_per_s": profile.prompt_tokens_per_s,
        "boxes_needed": boxes,
        "utilisation_at_peak": float(busy[idx] / 3600.0 / boxes) if boxes else 0.0,
        "queue": queue,
        "hour_of_day": _hour_of_day(tout, hour_start),
    }


def _hour_of_day(values, hour_start: datetime | None) -> list[dict]:
    """Average and maximum local output tokens for each UTC hour of the day."""
    if hour_start is None:
        return []
    buckets: list[list[float]] = [[] for _ in range(24)]
    for i, v in enumerate(values):
        buckets[(hour_start.hour + i) % 24].append(float(v))
    return [
        {"hour": h, "mean_output_tokens": (sum(b) / len(b)) if b else 0.0, "max_output_tokens": max(b) if b else 0.0}
        for h, b in enumerate(buckets)
    ]


def _prepare_category(cat: dict, row: dict | None, ratio: tuple | None, month: float, settings: dict, notes: list[str]) -> None:
    """Attach the decision, acceptance, local answer length and monthly figures to one category."""
    cat["decision"] = _decision(row, settings, cat["name"], notes)
    for key in ("n", "passed", "acceptance", "ci_low", "ci_high"):
        cat[key] = row.get(key) if row else None
    if cat["ci_low"] is None and cat["acceptance"] is not None:
        cat["ci_low"] = cat["ci_high"] = cat["acceptance"]
    cat["local_output_ratio"] = ratio[0] if ratio else 1.0
    cat["local_output_ratio_source"] = f"measured on {ratio[1]} replays" if ratio else "assumed 1.0 (no replays)"
    for key in ("spend_usd", "requests", "input_tokens", "output_tokens"):
        cat["monthly_" + key] = cat[key] * month
    cat["sample_monthly_spend_usd"] = cat["sample_spend_usd"] * month if cat["sample_spend_usd"] is not None else None
    cat["monthly_local_output_tokens"] = cat["monthly_output_tokens"] * cat["local_output_ratio"]
    # Spend is unknown (not zero) when none of the category's requests has a known cost.
    cat["spend_known"] = bool(cat["priced_requests"]) or not cat["sample_requests"]


def _category_row(i: int, cat: dict, evaluation: dict, plan_scenario: str, total_spend: float, settings: dict) -> dict:
    """One category of the payload, on the selected hardware. Spend and savings are None (unknown) when none of its
    requests has a known cost."""
    plan_row = evaluation[plan_scenario]["per_category"][i]
    spend = cat["monthly_spend_usd"] * settings["frontier_factor"]
    elec = plan_row["electricity"]
    acceptance = (cat["ci_low"], cat["ci_high"]) if cat["ci_low"] is not None else None
    low, high = savings_interval(cat["decision"], spend, elec, acceptance, cat["spend_factors"])
    known = cat["spend_known"]

    def money(value):
        return value if known else None

    return {
        "category_id": cat["category_id"],
        "name": cat["name"],
        "task_type": cat["task_type"],
        "is_other": cat["is_other"],
        "share_of_spend": (cat["spend_usd"] / total_spend) if total_spend and known else None,
        "monthly_spend_usd": money(cat["monthly_spend_usd"]),
        "monthly_spend_low_usd": money(cat["monthly_spend_usd"] * cat["spend_factors"][0]),
        "monthly_spend_high_usd": money(cat["monthly_spend_usd"] * cat["spend_factors"][1]),
        "sample_monthly_spend_usd": money(cat["sample_monthly_spend_usd"]),
        "sample_requests": cat["sample_requests"],
        "monthly_requests": cat["monthly_requests"],
        "monthly_input_tokens": cat["monthly_input_tokens"],
        "monthly_output_tokens": cat["monthly_output_tokens"],
        "unknown_cost_requests": cat["unknown_cost_requests"],
        "n": cat["n"],
        "passed": cat["passed"],
        "acceptance": cat["acceptance"],
        "ci_low": cat["ci_low"],
        "ci_high": cat["ci_high"],
        "decision": cat["decision"],
        "objective_checks": cat.get("objective_checks", []),
        "local_output_ratio": cat["local_output_ratio"],
        "local_output_ratio_source": cat["local_output_ratio_source"],
        "monthly_local_busy_hours": plan_row["busy_hours"],
        "monthly_electricity_usd": elec,
        "monthly_savings_usd": money(decision_savings(cat["decision"], spend, elec, cat["acceptance"])),
        "monthly_savings_low_usd": money(low),
        "monthly_savings_high_usd": money(high),
        "scenarios": {sc: {"monthly_savings_usd": money(evaluation[sc]["per_category"][i]["savings"])} for sc in SCENARIOS},
    }


def _hardware_row(p, evaluation: dict, plan_scenario: str, source: str, settings: dict, selected: bool) -> dict:
    """One hardware profile of the payload: what the plan costs and saves on it."""
    ev = evaluation[plan_scenario]
    return {
        "name": p.name,
        "description": p.description,
        "price_usd": p.price_usd,
        "boxes_needed": ev["boxes_needed"],
        "fits": ev["fits"],
        "max_boxes": p.max_boxes,
        "upfront_usd": ev["upfront_usd"],
        "payback_months": ev["payback_months"],
        "pays_back_within_life": ev["pays_back_within_life"],
        "monthly_savings_usd": ev["monthly_savings_usd"],
        "monthly_electricity_usd": ev["monthly_electricity_usd"],
        "monthly_fixed_costs_usd": ev["monthly_fixed_costs_usd"],
        "cumulative_net_usd": ev["cumulative_net_usd"],
        "output_tokens_per_s": p.output_tokens_per_s,
        "throughput_source": source,
        "prompt_tokens_per_s": p.prompt_tokens_per_s,
        "load_watts": p.load_watts,
        "idle_watts": p.idle_watts,
        "useful_life_months": p.useful_life_months,
        "maintenance_usd_per_month": p.maintenance_usd_per_month + settings["maintenance"],
        "builtin": p.builtin,
        "basis": p.basis if source == "profile" else f"Throughput measured by plan replay; other figures: {p.basis}",
        "utilisation_at_peak": ev["capacity"].get("utilisation_at_peak"),
        "mean_wait_at_peak_s": (ev["capacity"].get("queue") or {}).get("mean_wait_s"),
        "scenarios": {
            sc: {
                "monthly_savings_usd": evaluation[sc]["monthly_savings_usd"],
                "boxes_needed": evaluation[sc]["boxes_needed"],
                "payback_months": evaluation[sc]["payback_months"],
            }
            for sc in SCENARIOS
        },
        "selected": selected,
    }


def _measured_on(profiles: dict, settings: CostSettings, selected: str) -> str:
    """The profile a replay measurement describes: [cost] measured_hardware when set; else the profile the
    user chose; else the machine they already have (replay only talks to loopback, so it ran there)."""
    from .hardware import MEASURED_DEFAULT_PROFILE, resolve_name

    if settings.measured_hardware is not None:
        return resolve_name(profiles, settings.measured_hardware)
    if settings.hardware:
        return selected
    return MEASURED_DEFAULT_PROFILE if MEASURED_DEFAULT_PROFILE in profiles else selected


# --------------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------------


def _window_notes(con, total: dict, tunables: dict, notes: list[str]) -> dict:
    """The projection window (first to last timestamp, at least a day), with notes on what weakens it."""
    first, last = total["first_at"], total["last_at"]
    if first is None:
        raise PlanError("No request has a timestamp, so spend cannot be put on a monthly basis. Check the export's time field.")
    observed = observed_days(first, last)
    window = projection_days(observed)
    if observed < MIN_WINDOW_DAYS:
        notes.append(f"The log covers only {observed * 24:.1f} hours; the month is projected from one full day, so treat it as a rough guide.")
    if total["timestamped"] < total["requests"]:
        notes.append(f"{total['requests'] - total['timestamped']:,} requests have no timestamp; their spend is counted in the window but not in the hourly peaks.")
    gaps = [
        {"start_at": g["start_at"], "end_at": g["end_at"], "hours": g["seconds"] / 3600.0}
        for g in _gaps(con, tunables["gap_hours"])
    ]
    if gaps:
        notes.append(
            f"{len(gaps)} gap(s) of {tunables['gap_hours']:g} h or more without a request "
            f"({sum(g['hours'] for g in gaps):.0f} h in all) lie inside the window; if logging was off then, the projection understates spend."
        )
    return {"first": first, "last": last, "observed": observed, "window": window, "month": MONTH_DAYS / window,
            "gaps": gaps, "trend": spend_trend(_daily_spend(con, first, int(observed)), first)}


def _decision_notes(cats: list[dict], notes: list[str]) -> bool:
    """Whether anything is measured, with notes on the categories whose spend stays undecided."""
    measured_any = any(c["decision"] != dv.NOT_MEASURED for c in cats)
    if not measured_any:
        notes.append(
            "Acceptance is not measured yet: savings show the all-local ceiling and hardware is sized for it. "
            "Run `plan replay` and `plan judge` to learn which categories can move."
        )
        return False
    judge_needed = [c for c in cats if c["decision"] == dv.NEEDS_JUDGE]
    if judge_needed:
        one = len(judge_needed) == 1
        notes.append(
            f"{len(judge_needed)} categor{'y' if one else 'ies'} "
            f"(${sum(c['monthly_spend_usd'] for c in judge_needed):,.2f} a month) {'was' if one else 'were'} judged by "
            f"similarity alone and {'moves' if one else 'move'} nowhere until a judge model or a review decides "
            f"{'it' if one else 'them'}: `plan judge --judge-endpoint URL --judge-model NAME`."
        )
    return True


def cost_model(con: duckdb.DuckDBPyConnection, settings: CostSettings | None = None, *, progress: bool = False, say: Say = say_nothing) -> dict:
    """The ``plan cost --json`` payload: projection, per-category savings with intervals, scenarios,
    hardware payback and capacity, the potential at the target, sensitivity and the assumptions behind them.

    ``settings.hardware`` picks the profile the headline uses (default ``desktop-24gb``); ``settings.target``
    re-derives decisions at another acceptance target. Sampled logs are scaled to the full traffic
    (:mod:`analyzer.sampling`). The cost model is quick: ``progress`` has nothing to show.

    Example::

        from analyzer.cost import CostSettings, cost_model
        payload = cost_model(con, CostSettings.resolve(config, hardware="mac-studio-128gb"))
    """
    settings = settings if settings is not None else CostSettings.resolve({})
    acceptance_rows = _acceptance(con)
    tunables = _settings(settings, _stored_target(acceptance_rows))
    total = _window(con)
    if not total["requests"]:
        raise PlanError("The database holds no requests yet. Run `plan ingest PATH` first.")
    notes: list[str] = []
    w = _window_notes(con, total, tunables, notes)
    pricing = _pricing(con)
    _pricing_notes(pricing, notes)
    cats, categorized = _prepared_categories(con, total, acceptance_rows, w["month"], tunables, settings, notes)
    measured_any = _decision_notes(cats, notes)
    plan_scenario = "cascade" if measured_any else "ceiling"
    hw = _hardware_setup(con, settings)
    hour_start, hours = _hour_index(w["first"], w["last"])
    hourly = _hourly(con, hour_start, hours, categorized)
    evaluations = {name: evaluate(p, cats, hourly, hour_start, tunables, frontier_factor=tunables["frontier_factor"])
                   for name, p in hw["profiles"].items()}
    chosen = evaluations[hw["selected"]]
    categories_out = [_category_row(i, cat, chosen, plan_scenario, total["spend_usd"], tunables) for i, cat in enumerate(cats)]
    scenarios_out = {sc: _scenario_summary(chosen[sc]) for sc in SCENARIOS}
    scenarios_out["framing"] = _framing(categories_out, tunables["target"], scenarios_out["route"]["monthly_savings_usd"])
    profile = hw["profiles"][hw["selected"]]
    plan = chosen[plan_scenario]
    sampling = sampling_summary(con)
    return {
        **_projection(total, w, sampling),
        "pricing": pricing,
        "stages": {"categorized": categorized, "judged": bool(acceptance_rows),
                   "throughput_measured": hw["measurement"] is not None},
        "acceptance_measured": measured_any,
        "acceptance_target": tunables["target"],
        "plan_scenario": plan_scenario,
        "monthly_savings_usd": plan["monthly_savings_usd"],
        "monthly_savings_low_usd": plan["monthly_savings_low_usd"],
        "monthly_savings_high_usd": plan["monthly_savings_high_usd"],
        "undecided_monthly_spend_usd": sum(c["monthly_spend_usd"] or 0.0 for c in categories_out
                                           if c["decision"] in dv.UNDECIDED and not c["is_other"]),
        "categories": categories_out,
        "scenarios": scenarios_out,
        "potential": _potential(categories_out, chosen[POTENTIAL], hw["selected"], profile, tunables["target"]),
        "selected_hardware": hw["selected"],
        "measured_throughput": {**hw["measurement"], "applied_to": hw["measured_on"]} if hw["measurement"] else None,
        "hardware": [_hardware_row(p, evaluations[name], plan_scenario, hw["sources"][name], tunables, name == hw["selected"])
                     for name, p in hw["profiles"].items()],
        "capacity": {"hardware": hw["selected"], "scenario": plan_scenario, **plan["capacity"]},
        "payback": _payback(plan, profile, hw["selected"], plan_scenario, notes),
        "sensitivity": _sensitivity(profile, cats, hourly, hour_start, tunables, plan_scenario, plan),
        "electricity_usd_per_kwh": tunables["usd_per_kwh"],
        "frontier_price_factor": tunables["frontier_factor"],
        "assumptions": _assumptions(tunables, profile, hw["sources"][hw["selected"]], hw["measurement"], hw["measured_on"],
                                    sampling),
        "notes": notes,
    }


def _potential(categories_out: list[dict], evaluation: dict, selected: str, profile, target: float) -> dict:
    """The potential block, with its payback curve when it saves anything on hardware that can carry it."""
    block = potential_summary(categories_out, evaluation, selected, profile.useful_life_months, target)
    saves = block["monthly_savings_usd"] is not None and block["monthly_savings_usd"] > 0 and evaluation["fits"]
    block["curve"] = payback_curve(block["upfront_usd"], block["monthly_savings_usd"], profile.useful_life_months) if saves else []
    return block


def _stored_target(acceptance_rows: dict) -> float | None:
    return next((_json(r.get("thresholds_json"), {}).get("target") for r in acceptance_rows.values()
                 if r.get("thresholds_json")), None)


def _pricing_notes(pricing: dict, notes: list[str]) -> None:
    if pricing["unknown"]["requests"]:
        models = ", ".join(m["model"] for m in pricing["unknown"]["models"][:5])
        notes.append(
            f"{pricing['unknown']['requests']:,} requests have no known cost ({models}); spend and savings leave them out, so they are understated."
        )


def _prepared_categories(con, total: dict, acceptance_rows: dict, month: float, tunables: dict, settings: CostSettings,
                         notes: list[str]) -> tuple[list[dict], bool]:
    """The categories with their decisions, acceptance, local answer length, monthly figures and objective checks."""
    cats, cat_notes, categorized = _categories(con, total)
    notes.extend(cat_notes)
    ratios = _local_output_ratio(con)
    for cat in cats:
        cid = cat["category_id"]
        _prepare_category(cat, acceptance_rows.get(cid) if cid is not None else None,
                          ratios.get(cid) if cid is not None else None, month, tunables, notes)
    objective = objective_checks(con, cats, settings.judge_categories) if categorized else {}
    for cat in cats:
        cat["objective_checks"] = objective.get(cat["category_id"], []) if cat["category_id"] is not None else []
    return cats, categorized


def _hardware_setup(con, settings: CostSettings) -> dict:
    """The hardware profiles (with a replay's measured throughput applied), the selected one, and the measurement."""
    from .hardware import apply_measurement, load_profiles, measured_throughput, resolve_name

    profiles = load_profiles({"hardware": settings.profiles})
    selected = resolve_name(profiles, settings.hardware)
    measurement = measured_throughput(con)
    measured_on = _measured_on(profiles, settings, selected)
    profiles, sources = apply_measurement(profiles, measurement, measured_on)
    return {"profiles": profiles, "selected": selected, "measurement": measurement, "measured_on": measured_on,
            "sources": sources}


def _projection(total: dict, w: dict, sampling: dict) -> dict:
    """The window and the month it projects to. Monthly figures are for the full traffic (scaled by 1/sample_rate);
    ``sample_monthly_spend_usd`` and ``observed_spend_usd`` are the logs' own; spend is None (unknown) when no
    request has a known cost."""
    month = w["month"]
    known = bool(total["priced_requests"])

    def spend(value):
        return value if known else None

    low, high = sampling.get("estimated_spend_low_usd"), sampling.get("estimated_spend_high_usd")
    return {
        "window_days": w["observed"],
        "projection_days": w["window"],
        "month_days": MONTH_DAYS,
        "first_at": w["first"],
        "last_at": w["last"],
        "requests": total["requests"],
        "observed_spend_usd": spend(total["sample_spend_usd"]),
        "estimated_spend_usd": spend(total["spend_usd"]),
        "monthly_spend_usd": spend(total["spend_usd"] * month),
        "monthly_spend_low_usd": spend(low * month) if low is not None else None,
        "monthly_spend_high_usd": spend(high * month) if high is not None else None,
        "sample_monthly_spend_usd": spend(total["sample_spend_usd"] * month),
        "monthly_requests": total["estimated_requests"] * month,
        "monthly_input_tokens": total["input_tokens"] * month,
        "monthly_output_tokens": total["output_tokens"] * month,
        "monthly_cached_input_tokens": total["cached_input_tokens"] * month,
        "batch_requests": total["batch_requests"],
        "sampling": sampling,
        "gaps": w["gaps"],
        "trend": w["trend"],
    }


def _payback(plan: dict, profile, selected: str, plan_scenario: str, notes: list[str]) -> dict:
    if not plan["fits"]:
        notes.append(
            f"The plan needs {plan['boxes_needed']} boxes of {selected!r} at the peak hour but that profile allows "
            f"{profile.max_boxes}; choose a profile you can buy (--hardware)."
        )
    return {
        "hardware": selected,
        "scenario": plan_scenario,
        "boxes": plan["boxes_needed"],
        "upfront_usd": plan["upfront_usd"],
        "monthly_savings_usd": plan["monthly_savings_usd"],
        "payback_months": plan["payback_months"],
        "useful_life_months": profile.useful_life_months,
        "cumulative_net_usd": plan["cumulative_net_usd"],
        "curve": payback_curve(plan["upfront_usd"], plan["monthly_savings_usd"], profile.useful_life_months) if plan["fits"] else [],
    }


def _scenario_summary(ev: dict) -> dict:
    return {
        "monthly_savings_usd": ev["monthly_savings_usd"],
        "monthly_savings_low_usd": ev["monthly_savings_low_usd"],
        "monthly_savings_high_usd": ev["monthly_savings_high_usd"],
        "monthly_gross_savings_usd": ev["monthly_gross_savings_usd"],
        "monthly_fixed_costs_usd": ev["monthly_fixed_costs_usd"],
        "monthly_electricity_usd": ev["monthly_electricity_usd"],
        "monthly_spend_moved_usd": ev["monthly_spend_moved_usd"],
        "categories_moved": ev["categories_moved"],
        "boxes_needed": ev["boxes_needed"],
        "upfront_usd": ev["upfront_usd"],
        "payback_months": ev["payback_months"],
        "cumulative_net_usd": ev["cumulative_net_usd"],
    }


def _framing(categories: list[dict], target: float, route_savings_usd: float) -> dict:
    """The article's question: on how many of the top categories is the local model acceptable?"""
    top = [c for c in categories if not c["is_other"] and c["category_id"] is not None]
    measured = [c for c in top if c["decision"] != dv.NOT_MEASURED]
    # Acceptable needs decisive evidence: a category judged by similarity alone is not acceptable, whatever its rate.
    acceptable = [c for c in measured if c["decision"] not in dv.UNDECIDED and c["ci_low"] is not None and c["ci_low"] >= target]
    counts = {d: sum(1 for c in top if c["decision"] == d) for d in DECISIONS}
    judge_needed = counts[dv.NEEDS_JUDGE]
    total_spend = sum(c["monthly_spend_usd"] or 0.0 for c in categories)  # unknown spend is left out
    share = (sum(c["monthly_spend_usd"] or 0.0 for c in acceptable) / total_spend) if total_spend else None
    if not top:
        sentence = "Categories are not known yet: run `plan categorize`, then `plan replay` and `plan judge`."
    elif not measured:
        sentence = f"Acceptance is not measured on any of the top {len(top)} categories yet: run `plan replay` and `plan judge`."
    else:
        sentence = (
            f"The local model is acceptable (95% lower bound at or above {target:.0%}) on {len(acceptable)} of the top "
            f"{len(top)} categories ({len(acceptable) / len(top):.0%})"
            + (f", {share:.0%} of spend" if share is not None else "")
            + (f"; {len(measured)} measured" if len(measured) < len(top) else "")
            + (f"; {judge_needed} judged by similarity alone need{'s' if judge_needed == 1 else ''} a judge model or a review."
               if judge_needed else ".")
        )
    return {
        "top_categories": len(top),
        "measured": len(measured),
        "acceptable": len(acceptable),
        "acceptable_share": (len(acceptable) / len(top)) if top else None,
        "acceptable_spend_share": share,
        "decisions": counts,
        "needs_judge": judge_needed,
        "monthly_savings_usd": route_savings_usd,
        "sentence": sentence,
    }


def _sensitivity(profile, cats, hourly, hour_start, settings, scenario: str, base: dict) -> list[dict]:
    cases = [
        ("baseline", "As estimated", {}),
        ("frontier_prices_half", "Frontier API prices fall 50%", {"frontier_factor": settings["frontier_factor"] * 0.5}),
        ("electricity_double", "Electricity price doubles", {"electricity_factor": 2.0}),
        ("acceptance_low", "Acceptance at the lower bound of its 95% interval", {"acceptance": "low"}),
        (
            "all_adverse",
            "All three at once",
            {"frontier_factor": settings["frontier_factor"] * 0.5, "electricity_factor": 2.0, "acceptance": "low"},
        ),
    ]
    out = []
    for key, label, kwargs in cases:
        if kwargs:
            ev = evaluate(profile, cats, hourly, hour_start, settings, **{"frontier_factor": settings["frontier_factor"], **kwargs})[scenario]
        else:
            ev = base
        out.append(
            {
                "case": key,
                "description": label,
                "monthly_savings_usd": ev["monthly_savings_usd"],
                "payback_months": ev["payback_months"],
                "cumulative_net_usd": ev["cumulative_net_usd"],
            }
        )
    return out


def _assumptions(settings: dict, profile, source: str, measurement: dict | None, measured_on: str,
                 sampling: dict | None = None) -> list[str]:
    items = [
        f"A month is {MONTH_DAYS} days; spend, tokens and requests are scaled from the observed window (first to last timestamp).",
        *([sampling["sentence"]] if sampling and sampling.get("sentence") else []),
        "Spend is the per-request cost from ingest: the log's own cost when it states one, otherwise the genai-prices catalog with cached-input and batch pricing. Requests with unknown cost are left out and listed.",
        (
            f"Electricity costs ${settings['usd_per_kwh']:.3f}/kWh"
            + (f" ({ELECTRICITY_BASIS})." if settings["electricity_default"] else " (from plan.toml or the command line).")
        ),
        "Local busy time = input tokens / prefill rate + output tokens / decode rate; every input token is prefilled (no prompt cache across requests).",
        "Local answers are as long as the frontier's, unless replays measured the ratio per category.",
        "Boxes draw load power while busy and idle power for the rest of the month; maintenance is per box per month.",
        f"Capacity: the p{settings['percentile']:g} hour (nearest rank over every hour of the window, idle hours included) of the categories moved local; boxes needed = ceil(busy seconds in that hour / 3600).",
        "Queueing: M/M/c (Erlang C) at that hour: Poisson arrivals, exponential service with that hour's mean busy time per request, each box serving one request at a time.",
        "route moves the categories decided local or local-for-compliance entirely; cascade also runs the cascade categories locally first and pays the frontier again for their failures (1 - acceptance); ceiling moves everything at 100% acceptance.",
        f"potential (not measured) runs the categories that have objective checks locally first, assumes the local model passes them on {settings['target']:.0%} of requests (the acceptance target) and pays the frontier again for the rest.",
        "Savings intervals take the corners of each category's acceptance interval (Wilson 95%) and sampled-spend interval; category bounds are added, which is conservative.",
        "Payback = boxes x price / monthly net savings (after electricity and maintenance); cumulative figures buy the boxes again at the end of their useful life.",
        f"Hardware {profile.name}: ${profile.price_usd:,.0f} per box, {profile.load_watts:g} W under load, {profile.idle_watts:g} W idle, {profile.useful_life_months} months' useful life.",
    ]
    if source == "measured" and measurement:
        items.append(
            f"Throughput of {profile.name}: {measurement['output_tokens_per_s']:.1f} output tokens/s measured by plan replay "
            f"against {measurement.get('endpoint')} ({measurement.get('model')}, concurrency {measurement.get('concurrency')})."
        )
        if (measurement.get("concurrency") or 1) > 1:
            items.append(
                "That rate was measured with concurrent requests: the queue treats each box as one server working at the "
                "aggregate rate, so a single request's own latency is longer than the model's service time suggests."
            )
    else:
        items.append(f"Throughput of {profile.name}: {profile.output_tokens_per_s:g} output tokens/s assumed from the profile: {profile.basis}")
        if measurement:
            items.append(f"A measured throughput ({measurement['output_tokens_per_s']:.1f} tokens/s) was applied to {measured_on!r}, the machine replay ran on; set [cost] measured_hardware to change that.")
    if settings["frontier_factor"] != 1.0:
        items.append(f"Frontier prices are scaled by {settings['frontier_factor']:g} from the logged costs.")
    if settings["target_overridden"]:
        items.append(f"Decisions re-derived at an acceptance target of {settings['target']:.0%}.")
    return items
