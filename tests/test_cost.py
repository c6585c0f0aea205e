"""The cost model, checked against figures worked out on paper."""

import json
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner
from hypothesis import given, strategies as st

from analyzer import cost
from analyzer.cost import CostSettings, cost_model
from analyzer.errors import PlanError

T0 = datetime(2026, 3, 2, 0, 0, 0)


def costed(con, config=None, **flags):
    """``plan cost --json`` in-process: plan.toml as a dict, flags as on the command line."""
    return cost_model(con, CostSettings.resolve(config or {}, **flags))

# A profile whose arithmetic is easy by hand: 100 output tok/s, 1,000 prefill tok/s, 500 W busy, 20 W idle.
PAPER = {
    "cost": {"electricity_usd_per_kwh": 0.20, "maintenance_usd_per_month": 10.0, "hardware": "paper"},
    "hardware": {
        "paper": {
            "price_usd": 1200,
            "load_watts": 500,
            "idle_watts": 20,
            "output_tokens_per_s": 100,
            "prompt_tokens_per_s": 1000,
            "useful_life_months": 24,
        }
    },
}


class Log:
    """Inserts requests (and optionally categories and judgments) straight into the store."""

    def __init__(self, con):
        self.con = con
        self.next_id = 1

    def request(self, at, cost_usd=0.0, output_tokens=0, input_tokens=0, category=None, **extra):
        rid = self.next_id
        self.next_id += 1
        cols = {
            "id": rid,
            "created_at": at,
            "cost_usd": cost_usd,
            "cost_source": extra.pop("cost_source", "log" if cost_usd is not None else "unknown"),
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            **extra,
        }
        names = ", ".join(cols)
        self.con.execute(f"insert into requests ({names}) values ({', '.join('?' * len(cols))})", list(cols.values()))
        if category is not None:
            self.con.execute("insert into request_categories (request_id, category_id) values (?, ?)", [rid, category])
        return rid

    def spread(self, n, total_cost, total_output=0, total_input=0, category=None, days=10):
        """n requests evenly from T0 to T0 + days (both ends included), inserted in one statement."""
        first = self.next_id
        self.next_id += n
        span_us = days * 86_400_000_000
        self.con.execute(
            """
            insert into requests (id, created_at, cost_usd, cost_source, input_tokens, output_tokens)
            select ? + k, ?::timestamp + to_microseconds(cast(round(k * ? / (? - 1)) as bigint)), ?, 'log', ?, ?
            from range(?) t(k)
            """,
            [first, T0, span_us, n, total_cost / n, round(total_input / n), round(total_output / n), n],
        )
        if category is not None:
            self.con.execute(
                "insert into request_categories (request_id, category_id) select ? + k, ? from range(?) t(k)",
                [first, category, n],
            )

    def category(self, cid, name, is_other=False, requests=None, **extra):
        cols = {"category_id": cid, "name": name, "is_other": is_other, "requests": requests, **extra}
        self.con.execute(
            f"insert into categories ({', '.join(cols)}) values ({', '.join('?' * len(cols))})", list(cols.values())
        )

    def acceptance(self, cid, n, passed, low, high, decision, checks=None):
        self.con.execute(
            "insert into category_acceptance (category_id, n, passed, acceptance, ci_low, ci_high, decision, checks_json) "
            "values (?, ?, ?, ?, ?, ?, ?, ?)",
            [cid, n, passed, passed / n if n else None, low, high, decision, json.dumps(checks) if checks else None],
        )


@pytest.fixture
def log(con):
    return Log(con)


def by_name(result, name):
    return next(c for c in result["categories"] if c["name"] == name)


def hw(result, name):
    return next(h for h in result["hardware"] if h["name"] == name)


# ---------------------------------------------------------------- projection


def test_ten_day_log_projects_to_exactly_three_times(con, log):
    log.spread(11, total_cost=12.34)
    result = costed(con)
    assert result["window_days"] == 10
    assert result["monthly_spend_usd"] == pytest.approx(3 * 12.34, rel=1e-12)
    assert result["monthly_requests"] == pytest.approx(33)


def test_projection_sums_each_requests_cost_so_cache_and_batch_pricing_flow_through(con, log):
    from analyzer.pricing import price_one

    full = price_one("openai", "gpt-4o-mini", 10_000, 1_000)
    cached = price_one("openai", "gpt-4o-mini", 10_000, 1_000, cached_input_tokens=8_000)
    batch = price_one("openai", "gpt-4o-mini", 10_000, 1_000, is_batch=True)
    assert cached < full and batch == pytest.approx(full / 2)  # the catalog priced them differently
    log.request(T0, full, 1_000, 10_000, model="gpt-4o-mini", cost_source="catalog")
    log.request(T0 + timedelta(days=4), cached, 1_000, 10_000, model="gpt-4o-mini", cost_source="catalog", cached_input_tokens=8_000)
    log.request(T0 + timedelta(days=10), batch, 1_000, 10_000, model="gpt-4o-mini", cost_source="catalog", is_batch=True)
    log.request(T0 + timedelta(days=5), 0.75, 1_000, 10_000, model="gpt-4o", cost_source="log")  # the provider's own figure
    log.request(T0 + timedelta(days=6), None, 500, 4_000, model="in-house-llm")

    result = costed(con)
    assert result["monthly_spend_usd"] == pytest.approx(3 * (full + cached + batch + 0.75))
    pricing = result["pricing"]
    assert pricing["log"] == {"requests": 1, "spend_usd": pytest.approx(0.75)}
    assert pricing["catalog"]["requests"] == 3
    assert pricing["catalog"]["spend_usd"] == pytest.approx(full + cached + batch)
    assert pricing["unknown"]["requests"] == 1
    assert pricing["unknown"]["models"][0]["model"] == "in-house-llm"
    assert any("in-house-llm" in n for n in result["notes"])


def test_gaps_in_the_log_are_reported(con, log):
    for day in (0, 1, 5, 10):
        log.request(T0 + timedelta(days=day), 1.0)
    result = costed(con)
    assert [(g["start_at"], round(g["hours"])) for g in result["gaps"]] == [
        (T0, 24),  # a day apart is exactly the default threshold
        (T0 + timedelta(days=1), 96),
        (T0 + timedelta(days=5), 120),
    ]
    assert any("gap" in n for n in result["notes"])
    assert len(costed(con, config={"cost": {"gap_hours": 100}})["gaps"]) == 1


def test_trend_needs_two_weeks_and_sees_rising_spend(con, log):
    for day in range(28):
        for hour in (3, 15):
            log.request(T0 + timedelta(days=day, hours=hour), (10 + day) / 2)
    trend = costed(con)["trend"]
    assert trend["direction"] == "rising" and trend["significant"]
    assert trend["daily_spend_slope_usd_per_day"] == pytest.approx(1.0, abs=0.05)
    assert len(trend["weekly"]) == 3

    short = Log(con)
    con.execute("delete from requests")
    short.spread(20, 50.0)
    assert costed(con)["trend"] is None


def test_empty_database_says_what_to_do(con):
    with pytest.raises(PlanError, match="plan ingest"):
        costed(con)


# ---------------------------------------------------------------- stages present


def test_with_ingest_only_the_whole_traffic_is_one_pool_and_the_ceiling_is_reported(con, log):
    log.spread(241, total_cost=100.0, total_output=1_200_000)
    result = costed(con, config=PAPER)
    assert [c["name"] for c in result["categories"]] == ["All traffic"]
    pool = result["categories"][0]
    assert pool["decision"] == "not_measured" and pool["monthly_savings_usd"] == 0
    # ceiling: $300/month less 10 h of busy power (3.6M tokens at 100/s, 500 W, $0.20)
    assert pool["monthly_savings_high_usd"] == pytest.approx(300 - 1.0)
    assert result["acceptance_measured"] is False and result["plan_scenario"] == "ceiling"
    assert result["scenarios"]["route"]["monthly_savings_usd"] == 0
    fixed = (720 - 10) * 0.020 * 0.20 + 10
    assert result["scenarios"]["ceiling"]["monthly_savings_usd"] == pytest.approx(299 - fixed)
    assert hw(result, "paper")["boxes_needed"] == 1
    assert any("not measured" in n for n in result["notes"])


def test_with_categories_but_no_judge_every_category_shows_its_ceiling(con, log):
    log.category(1, "SQL generation", requests=121)
    log.category(2, "Other", is_other=True, requests=121)
    log.spread(121, total_cost=40.0, total_output=600_000, category=1)
    log.spread(121, total_cost=10.0, total_output=0, category=2)
    result = costed(con, config=PAPER)
    sql, other = by_name(result, "SQL generation"), by_name(result, "Other")
    assert sql["decision"] == other["decision"] == "not_measured"
    assert sql["monthly_spend_usd"] == pytest.approx(120) and other["monthly_spend_usd"] == pytest.approx(30)
    assert sql["scenarios"]["ceiling"]["monthly_savings_usd"] == pytest.approx(120 - 0.5)
    assert (sql["monthly_savings_low_usd"], sql["monthly_savings_high_usd"]) == (0.0, pytest.approx(119.5))
    assert result["scenarios"]["framing"]["top_categories"] == 1
    assert "not measured" in result["scenarios"]["framing"]["sentence"]


@pytest.fixture
def judged(con, log):
    """Four categories over exactly ten days, each decision once. Per month (x3):
    A local      $300, 3.6M output tokens -> 10 h busy -> 5 kWh -> $1.00
    B cascade    $150, 1.8M output tokens ->  5 h busy          -> $0.50, acceptance 0.75 [0.60, 0.85]
    C frontier    $90, nothing local
    D compliance  $60, no tokens, not judged for quality"""
    for cid, name in ((1, "A"), (2, "B"), (3, "C"), (4, "D")):
        log.category(cid, name, requests=241)
    log.spread(241, 100.0, 1_200_000, category=1)
    log.spread(241, 50.0, 600_000, category=2)
    log.spread(241, 30.0, 0, category=3)
    log.spread(241, 20.0, 0, category=4)
    log.acceptance(1, 60, 57, 0.86, 0.98, "local")
    log.acceptance(2, 40, 30, 0.60, 0.85, "cascade", checks={"json_valid": {"n": 40, "passed": 30}})
    log.acceptance(3, 40, 12, 0.18, 0.45, "frontier", checks={"similarity": {"n": 40, "passed": 12}})
    con.execute("insert into category_acceptance (category_id, decision) values (4, 'local-for-compliance')")
    return con


def test_decisions_drive_per_category_savings_and_intervals(judged):
    result = costed(judged, config=PAPER)
    a, b, c, d = (by_name(result, n) for n in "ABCD")
    assert [x["decision"] for x in (a, b, c, d)] == ["local", "cascade", "frontier", "local-for-compliance"]
    assert a["monthly_savings_usd"] == pytest.approx(299.0)
    assert b["monthly_savings_usd"] == pytest.approx(0.75 * 150 - 0.5)
    assert (b["monthly_savings_low_usd"], b["monthly_savings_high_usd"]) == (pytest.approx(0.60 * 150 - 0.5), pytest.approx(0.85 * 150 - 0.5))
    assert c["monthly_savings_usd"] == 0
    assert d["monthly_savings_usd"] == pytest.approx(60.0)  # compliance counts as route


def test_scenarios_and_payback_match_the_paper_calculation(judged):
    result = costed(judged, config=PAPER)
    idle = lambda busy_hours: (720 - busy_hours) * 0.020 * 0.20  # noqa: E731
    route = 299 + 60 - idle(10) - 10
    cascade = 299 + 60 + (0.75 * 150 - 0.5) - idle(15) - 10
    ceiling = 299 + 60 + (150 - 0.5) + 90 - idle(15) - 10
    s = result["scenarios"]
    assert s["route"]["monthly_savings_usd"] == pytest.approx(route)
    assert s["cascade"]["monthly_savings_usd"] == pytest.approx(cascade)
    assert s["ceiling"]["monthly_savings_usd"] == pytest.approx(ceiling)
    assert s["cascade"]["monthly_savings_low_usd"] == pytest.approx(cascade - 0.15 * 150)
    assert s["cascade"]["monthly_savings_high_usd"] == pytest.approx(cascade + 0.10 * 150)
    assert result["plan_scenario"] == "cascade"
    assert result["monthly_savings_usd"] == pytest.approx(cascade)

    paper = hw(result, "paper")
    assert paper["selected"] and paper["boxes_needed"] == 1 and paper["throughput_source"] == "profile"
    assert paper["payback_months"] == pytest.approx(1200 / cascade)
    assert paper["cumulative_net_usd"]["12"] == pytest.approx(12 * cascade - 1200)
    assert paper["cumulative_net_usd"]["24"] == pytest.approx(24 * cascade - 1200)
    assert paper["cumulative_net_usd"]["36"] == pytest.approx(36 * cascade - 2400)  # replaced after 24 months
    curve = result["payback"]["curve"]
    assert len(curve) == 37 and curve[0]["net_usd"] == -1200 and curve[25]["hardware_usd"] == 2400

    framing = s["framing"]
    assert (framing["top_categories"], framing["measured"], framing["acceptable"]) == (4, 4, 1)
    assert "1 of the top 4" in framing["sentence"]


def test_sensitivity_cases(judged):
    result = costed(judged, config=PAPER)
    cases = {c["case"]: c for c in result["sensitivity"]}
    idle = lambda busy_hours, price=0.20: (720 - busy_hours) * 0.020 * price  # noqa: E731
    assert cases["baseline"]["monthly_savings_usd"] == pytest.approx(result["monthly_savings_usd"])
    assert cases["frontier_prices_half"]["monthly_savings_usd"] == pytest.approx(
        (150 - 1) + 30 + (0.75 * 75 - 0.5) - idle(15) - 10
    )
    assert cases["electricity_double"]["monthly_savings_usd"] == pytest.approx(
        (300 - 2) + 60 + (0.75 * 150 - 1) - idle(15, 0.40) - 10
    )
    assert cases["acceptance_low"]["monthly_savings_usd"] == pytest.approx(299 + 60 + (0.60 * 150 - 0.5) - idle(15) - 10)
    assert cases["all_adverse"]["monthly_savings_usd"] < min(c["monthly_savings_usd"] for k, c in cases.items() if k != "all_adverse")


def test_a_new_acceptance_target_rederives_decisions(judged):
    strict = costed(judged, config=PAPER, target=0.9)
    assert by_name(strict, "A")["decision"] == "frontier"  # no objective check recorded to catch its failures
    assert by_name(strict, "B")["decision"] == "cascade"
    assert by_name(strict, "D")["decision"] == "local-for-compliance"
    lenient = costed(judged, config=PAPER, target=0.55)
    assert by_name(lenient, "B")["decision"] == "local"
    assert by_name(lenient, "C")["decision"] == "needs_judge"  # similarity alone never decides a category
    assert lenient["acceptance_target"] == 0.55


def test_undecided_categories_move_nowhere_and_their_spend_is_shown_as_undecided(con, log):
    """A needs a judge (similarity only, though its rate is high), B was not measured (its calls failed):
    neither moves in route or cascade, both in the ceiling; their spend is undecided, not frontier."""
    for cid, name in ((1, "A"), (2, "B"), (3, "C")):
        log.category(cid, name, requests=241)
    log.spread(241, 100.0, 1_200_000, category=1)
    log.spread(241, 50.0, 600_000, category=2)
    log.spread(241, 30.0, 0, category=3)
    log.acceptance(1, 60, 59, 0.91, 0.99, "needs_judge", checks={"similarity": {"n": 60, "passed": 59}})
    con.execute("insert into category_acceptance (category_id, n, passed, decision, answers, errors_json) "
                "values (2, 0, 0, 'not_measured', 1, '{\"calls\": 9, \"transient\": 0, \"deterministic\": 9}')")
    log.acceptance(3, 60, 57, 0.86, 0.98, "local", checks={"label_match": {"n": 60, "passed": 57}})
    result = costed(con, config=PAPER)
    a, b = by_name(result, "A"), by_name(result, "B")
    assert (a["decision"], b["decision"]) == ("needs_judge", "not_measured")
    for c in (a, b):
        assert c["monthly_savings_usd"] == 0 and c["monthly_savings_low_usd"] == 0 and c["monthly_savings_high_usd"] > 0
        assert c["scenarios"]["route"]["monthly_savings_usd"] == c["scenarios"]["cascade"]["monthly_savings_usd"] == 0
        assert c["scenarios"]["ceiling"]["monthly_savings_usd"] > 0
    assert result["undecided_monthly_spend_usd"] == pytest.approx(300 + 150)
    framing = result["scenarios"]["framing"]
    assert framing["acceptable"] == 1 and framing["needs_judge"] == 1  # a high similarity rate is not acceptable
    assert framing["decisions"]["needs_judge"] == 1 and framing["decisions"]["not_measured"] == 1
    assert "needs a judge model" in framing["sentence"]
    assert any("similarity alone" in n and "plan judge --judge-endpoint" in n for n in result["notes"])
    # A stricter or looser target changes neither.
    for target in (0.5, 0.95):
        again = costed(con, config=PAPER, target=target)
        assert (by_name(again, "A")["decision"], by_name(again, "B")["decision"]) == ("needs_judge", "not_measured")


def test_replayed_output_lengths_scale_local_work(judged):
    before = by_name(costed(judged, config=PAPER), "A")
    assert before["local_output_ratio"] == 1.0 and "assumed" in before["local_output_ratio_source"]
    # the local model answered six of category A's requests at twice the frontier's length
    judged.execute(
        "insert into replays (id, request_id, category_id, model, output_tokens) "
        "select r.id, r.id, 1, 'qwen', 2 * r.output_tokens from requests r "
        "join request_categories rc on rc.request_id = r.id where rc.category_id = 1 order by r.id limit 6"
    )
    after = by_name(costed(judged, config=PAPER), "A")
    assert after["local_output_ratio"] == pytest.approx(2.0)
    assert after["monthly_electricity_usd"] == pytest.approx(2 * before["monthly_electricity_usd"])
    assert "measured on 6 replays" in after["local_output_ratio_source"]


def test_sampled_category_shares_widen_the_interval(con, log):
    log.category(1, "Triage", requests=100, share_of_requests=0.5, share_ci_low=0.4, share_ci_high=0.6)
    log.spread(100, 50.0, category=1)
    log.acceptance(1, 50, 48, 0.87, 0.99, "local")
    t = by_name(costed(con, config=PAPER), "Triage")
    assert t["monthly_savings_usd"] == pytest.approx(150)
    assert t["monthly_savings_low_usd"] == pytest.approx(150 * 0.8)
    assert t["monthly_savings_high_usd"] == pytest.approx(150 * 1.2)


def test_requests_ingested_after_categorize_are_shown_not_hidden(con, log):
    log.category(1, "Triage", requests=11)
    log.spread(11, 10.0, category=1)
    log.request(T0 + timedelta(days=3), 5.0)
    result = costed(con, config=PAPER)
    rest = by_name(result, "Not categorised")
    assert rest["monthly_spend_usd"] == pytest.approx(15.0)
    assert sum(c["monthly_spend_usd"] for c in result["categories"]) == pytest.approx(result["monthly_spend_usd"])


def test_a_sample_assignment_is_scaled_to_the_whole(con, log):
    log.category(1, "Triage", requests=20)
    for k in range(20):
        log.request(T0 + timedelta(days=10) * (k / 19), 1.0, category=1 if k % 2 == 0 else None)
    triage = by_name(costed(con, config=PAPER), "Triage")
    assert triage["monthly_spend_usd"] == pytest.approx(60.0)
    assert triage["monthly_requests"] == pytest.approx(60.0)


# ---------------------------------------------------------------- capacity


def peak_log(log):
    """20 hours; one 1,000-token request an hour, except hour 5 (432,000 tokens in 12 requests) and hour 6
    (1,000,000 tokens). The nearest-rank p95 of 20 hours is the 19th smallest: hour 5, 4,320 busy seconds."""
    for h in range(20):
        if h == 5:
            for k in range(12):
                log.request(T0 + timedelta(hours=h, minutes=k), 0.1, 36_000)
        elif h == 6:
            log.request(T0 + timedelta(hours=h), 0.1, 1_000_000)
        else:
            log.request(T0 + timedelta(hours=h), 0.1, 1_000)


def test_capacity_uses_the_p95_hour_and_a_plan_that_needs_two_boxes_costs_two(con, log):
    peak_log(log)
    result = costed(con, config=PAPER)
    cap = result["capacity"]
    assert cap["hours"] == 20
    assert cap["peak_hour"]["start"] == T0 + timedelta(hours=5)
    assert cap["peak_hour"]["busy_seconds"] == pytest.approx(4320)
    assert cap["max_hour"]["start"] == T0 + timedelta(hours=6)
    assert cap["boxes_needed"] == 2
    # M/M/2 at 12 arrivals/h, 360 s each: rho = 0.6, P(wait) = 2 rho^2 / (1 + rho) = 0.45, Wq = 0.45 * 360 / (2 * 0.4)
    assert cap["queue"]["utilisation"] == pytest.approx(0.6)
    assert cap["queue"]["p_wait"] == pytest.approx(0.45)
    assert cap["queue"]["mean_wait_s"] == pytest.approx(202.5)
    paper = hw(result, "paper")
    assert paper["boxes_needed"] == 2 and paper["upfront_usd"] == 2400
    assert result["payback"]["upfront_usd"] == 2400


def test_a_machine_you_have_one_of_cannot_carry_a_two_box_peak(con, log):
    peak_log(log)
    config = {"hardware": {"existing": {"output_tokens_per_s": 100, "prompt_tokens_per_s": 1000}}}
    result = costed(con, hardware="existing", config=config)
    existing = hw(result, "existing")
    assert existing["boxes_needed"] == 2 and existing["fits"] is False and existing["payback_months"] is None
    assert any("allows 1" in n for n in result["notes"])


def test_measured_throughput_replaces_the_selected_profiles_assumption(con, log):
    log.spread(11, 10.0, 100_000)
    con.execute(
        "insert into endpoint_throughput (endpoint, model, concurrency, calls, output_tokens, wall_s, output_tokens_per_s) "
        "values ('http://127.0.0.1:11434/v1', 'qwen3.6:35b-a3b', 4, 40, 8400, 200, 42.0)"
    )
    result = costed(con, hardware="gb10-128gb")
    gb10 = hw(result, "gb10-128gb")
    assert gb10["output_tokens_per_s"] == 42.0 and gb10["throughput_source"] == "measured"
    assert hw(result, "desktop-24gb")["throughput_source"] == "profile"
    assert any("42.0 output tokens/s measured" in a for a in result["assumptions"])
    # without a chosen profile the measurement belongs to the machine replay ran on
    default = costed(con)
    assert hw(default, "existing")["throughput_source"] == "measured"
    assert hw(default, "gb10-128gb")["output_tokens_per_s"] == 55.0


# ---------------------------------------------------------------- pure functions


def test_window_shorter_than_a_day_projects_from_one_day(con, log):
    log.request(T0, 1.0)
    log.request(T0 + timedelta(hours=6), 1.0)
    result = costed(con)
    assert result["window_days"] == pytest.approx(0.25)
    assert result["monthly_spend_usd"] == pytest.approx(60.0)


def test_erlang_c_matches_closed_forms():
    assert cost.erlang_c(1, 0.7) == pytest.approx(0.7)  # M/M/1: P(wait) = rho
    assert cost.erlang_c(2, 1.2) == pytest.approx(2 * 0.36 / 1.6)
    assert cost.erlang_c(3, 3.0) == 1.0
    q = cost.mmc_queue(0.5, 1.0, 1)
    assert q["mean_wait_s"] == pytest.approx(1.0)  # M/M/1: Wq = rho / (mu - lambda)
    assert cost.mmc_queue(2.0, 1.0, 2)["stable"] is False


def test_payback_and_cumulative_on_paper():
    assert cost.payback_months(1200, 400) == 3
    assert cost.payback_months(1200, 0) is None and cost.payback_months(1200, -5) is None
    assert cost.payback_months(0, 10) == 0
    assert cost.cumulative_net(1000, 100, 36, 24) == 3600 - 2000
    assert cost.cumulative_net(1000, 100, 24, 24) == 2400 - 1000


def test_nearest_rank_and_boxes():
    assert cost.nearest_rank(list(range(1, 21)), 95) == (19.0, 18)
    assert cost.nearest_rank([5.0], 95) == (5.0, 0)
    assert cost.boxes_needed(3600) == 1 and cost.boxes_needed(3601) == 2 and cost.boxes_needed(0) == 1
    assert cost.boxes_needed(5000, has_demand=False) == 0


def test_electricity_formula():
    busy = cost.busy_seconds(3_600_000, 3_600_000, 1000, 100) / 3600
    assert busy == pytest.approx(11)
    assert cost.electricity_usd(busy, 500, 0.2) == pytest.approx(1.1)
    assert cost.idle_electricity_usd(2, 40, 50, 0.2) == pytest.approx((1440 - 40) * 0.05 * 0.2)


unit = st.floats(0, 1)


@given(
    spend=st.floats(0, 1e5),
    elec=st.floats(0, 1e3),
    a=st.tuples(unit, unit, unit).map(sorted),
    widen=st.tuples(unit, unit),
    f=st.tuples(st.floats(0.5, 1), st.floats(1, 1.5)),
    decision=st.sampled_from(["local", "cascade", "frontier", "not_measured", "local-for-compliance"]),
)
def test_savings_interval_contains_the_point_and_widens_with_acceptance(spend, elec, a, widen, f, decision):
    low, point_acc, high = a
    tol = 1e-9 * (1 + spend + elec)
    point = cost.decision_savings(decision, spend, elec, point_acc)
    lo, hi = cost.savings_interval(decision, spend, elec, (low, high), f)
    assert lo - tol <= point <= hi + tol
    wider = (low * widen[0], high + (1 - high) * widen[1])
    wlo, whi = cost.savings_interval(decision, spend, elec, wider, f)
    assert wlo <= lo + tol and whi >= hi - tol
    # more acceptance never means less saving
    assert cost.decision_savings(decision, spend, elec, high) >= cost.decision_savings(decision, spend, elec, low) - tol


# ---------------------------------------------------------------- command line


def test_plan_cost_json_and_text(db_path, judged):
    judged.close()
    from analyzer.cli import cli

    config_file = f"{db_path}.toml"
    with open(config_file, "w") as fh:
        fh.write(
            '[cost]\nelectricity_usd_per_kwh = 0.2\nmaintenance_usd_per_month = 10\n\n'
            "[hardware.paper]\nprice_usd = 1200\nload_watts = 500\nidle_watts = 20\n"
            "output_tokens_per_s = 100\nprompt_tokens_per_s = 1000\nuseful_life_months = 24\n"
        )
    runner = CliRunner()
    res = runner.invoke(cli, ["cost", "--db", db_path, "--config", config_file, "--hardware", "paper", "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert {"window_days", "monthly_spend_usd", "categories", "scenarios", "hardware"} <= set(payload)
    for c in payload["categories"]:
        assert {"category_id", "name", "monthly_spend_usd", "decision", "monthly_savings_usd", "monthly_savings_low_usd", "monthly_savings_high_usd"} <= set(c)
    assert {"route", "cascade", "ceiling"} <= set(payload["scenarios"])
    assert all("monthly_savings_usd" in payload["scenarios"][k] for k in ("route", "cascade", "ceiling"))
    for h in payload["hardware"]:
        assert {"name", "price_usd", "boxes_needed", "payback_months"} <= set(h)
    assert payload["monthly_spend_usd"] == pytest.approx(600)
    assert isinstance(payload["capacity"]["peak_hour"]["busy_seconds"], float)  # numbers, not stringified numpy
    assert isinstance(payload["capacity"]["queue"]["utilisation"], float)

    text = runner.invoke(cli, ["cost", "--db", db_path, "--config", config_file, "--electricity-usd-per-kwh", "0.4"])
    assert text.exit_code == 0, text.output
    assert "Monthly API spend (30 days): $600" in text.stdout
    assert "local-for-compliance" in text.stdout and "Sensitivity" in text.stdout

    bad = runner.invoke(cli, ["cost", "--db", db_path, "--hardware", "quantum-pc"])
    assert bad.exit_code != 0 and "No hardware profile named 'quantum-pc'" in bad.output
    assert "Traceback" not in bad.output
