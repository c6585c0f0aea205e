"""Sampled exports: where the rate comes from (--sample-rate, or the records), and every figure about the team's
traffic scaled by 1/R, with the logs' own figures kept beside the estimate."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.cost import CostSettings, cost_model
from analyzer.db import connect, dicts, scalar
from analyzer.ingest import ingest_paths
from analyzer.ingest.sample_rates import as_sample_rate, tracestate_rate
from analyzer.report import build_context, render_html, render_text
from analyzer.sampling import sampling_summary, short_note
from analyzer.status import status_summary

T0 = datetime(2026, 3, 2, 0, 0, 0)
NOW = datetime(2026, 3, 20)


def app_line(i: int, *, cost: float, at: datetime, rate=None, prompt: str = "Which team handles a double charge?",
             key: str = "sample_rate") -> str:
    """An app's log line of one Chat Completions call, with the cost the app logged and, optionally, its rate."""
    line = {
        "created_at": at.isoformat() + "Z",
        "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"{prompt} #{i}"}]},
        "response": {"id": f"chatcmpl-s{i}", "object": "chat.completion", "created": int(at.timestamp()),
                     "model": "gpt-4o-mini-2024-07-18",
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": "billing"},
                                  "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 20, "completion_tokens": 3}},
        "cost_usd": cost,
    }
    if rate is not None:
        line[key] = rate
    return json.dumps(line)


def write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def rates(con):
    return {(r["source_file"].rsplit("/", 1)[-1], r["sample_rate"], r["sample_rate_source"]): r["n"] for r in dicts(
        con, "select source_file, sample_rate, sample_rate_source, count(*) as n from requests group by all")}


# ---------------------------------------------------------------------------------------------------------
# Where the rate comes from


@pytest.mark.parametrize("fast", [True, False], ids=["sql-route", "python-route"])
def test_stated_rates_are_read_per_record_on_both_routes_and_the_flag_applies_per_file(tmp_path, fast):
    stated = write(tmp_path / "app.jsonl", [app_line(i, cost=0.01, at=T0 + timedelta(hours=i), rate=0.02)
                                            for i in range(30)])
    plain = write(tmp_path / "plain.jsonl", [app_line(100 + i, cost=0.01, at=T0 + timedelta(hours=i))
                                             for i in range(30)])
    con = connect(str(tmp_path / "plan.duckdb"))
    ingest_paths(con, [stated, plain], fast=fast)
    assert rates(con) == {("app.jsonl", 0.02, "stated"): 30, ("plain.jsonl", None, None): 30}
    ingest_paths(con, [plain], fast=fast, sample_rate=0.1)
    assert rates(con) == {("app.jsonl", 0.02, "stated"): 30, ("plain.jsonl", 0.1, "flag"): 30}
    assert scalar(con, "select count(*) from requests") == 60  # re-ingesting added nothing


def test_the_flag_wins_over_a_stated_rate_and_says_so(tmp_path):
    path = write(tmp_path / "app.jsonl", [app_line(i, cost=0.01, at=T0, rate=0.02) for i in range(5)])
    con = connect(str(tmp_path / "plan.duckdb"))
    said = []
    ingest_paths(con, [path], sample_rate=0.1, warn=said.append)
    assert rates(con) == {("app.jsonl", 0.1, "flag"): 5}
    assert any("5 records state a sample rate of 0.02 (1 in 50); --sample-rate 0.1 (1 in 10) was used instead" in s
               for s in said), said
    # The same rate from both: the records' own statement is kept, and nothing is said.
    con2 = connect(str(tmp_path / "agree.duckdb"))
    said.clear()
    ingest_paths(con2, [path], sample_rate=0.02, warn=said.append)
    assert rates(con2) == {("app.jsonl", 0.02, "stated"): 5} and not [s for s in said if "sample rate" in s]


def test_reingesting_with_another_rate_changes_it_loudly_and_without_the_flag_keeps_it(tmp_path):
    path = tmp_path / "export.jsonl"
    write(path, [app_line(i, cost=0.01, at=T0) for i in range(4)])
    con = connect(str(tmp_path / "plan.duckdb"))
    ingest_paths(con, [str(path)], sample_rate=0.5)
    said = []
    ingest_paths(con, [str(path)], sample_rate=0.25, warn=said.append)
    assert rates(con) == {("export.jsonl", 0.25, "flag"): 4}
    assert any("4 requests stored with sample rate 0.5 (1 in 2) now use 0.25 (1 in 4)" in s for s in said), said
    said.clear()
    ingest_paths(con, [str(path)], warn=said.append)  # no flag: what is stored stands, silently
    assert rates(con) == {("export.jsonl", 0.25, "flag"): 4} and not said
    # The export grew and was read again without the flag: the new rows are not scaled, and the run says so.
    write(path, [app_line(i, cost=0.01, at=T0) for i in range(6)])
    ingest_paths(con, [str(path)], warn=said.append)
    assert rates(con) == {("export.jsonl", 0.25, "flag"): 4, ("export.jsonl", None, None): 2}
    assert any("2 requests carry no sample rate while earlier ones from this file were ingested with --sample-rate "
               "0.25" in s for s in said), said


@pytest.mark.parametrize("fast", [True, False], ids=["sql-route", "python-route"])
def test_impossible_stated_rates_are_rejected_with_the_reason_and_one_in_n_is_read(tmp_path, fast):
    values = [0.02, 50, "0.5", "1/20", 0, -0.1, 1.5, "often"]
    path = write(tmp_path / "app.jsonl", [app_line(i, cost=0.01, at=T0, rate=v, key=k) for i, (v, k) in
                                          enumerate(zip(values, ["sample_rate", "sampleRate", "sampling_rate",
                                                                 "samplingRate"] * 2, strict=True))])
    con = connect(str(tmp_path / "plan.duckdb"))
    summary = ingest_paths(con, [path], fast=fast)
    assert summary["rows_added"] == 4 and summary["rows_rejected"] == 4
    assert sorted(r[0] for r in con.execute("select sample_rate from requests").fetchall()) == [0.02, 0.02, 0.05, 0.5]
    reasons = [r[0] for r in con.execute("select reason from rejects order by source_line").fetchall()]
    assert len(reasons) == 4 and all("sample_rate" in r or "sampling_rate" in r or "sampleRate" in r
                                     or "samplingRate" in r for r in reasons), reasons


def test_a_flag_outside_zero_to_one_is_refused(tmp_path):
    path = write(tmp_path / "app.jsonl", [app_line(0, cost=0.01, at=T0)])
    for bad in ("0", "1.5", "-0.2"):
        result = CliRunner().invoke(cli, ["ingest", "--db", str(tmp_path / "x.duckdb"), path, "--sample-rate", bad])
        assert result.exit_code != 0 and "--sample-rate" in result.output and "at most 1" in result.output


@pytest.mark.parametrize("state, expected", [
    ("ot=th:0", 1.0),
    ("ot=th:8", 0.5),
    ("vendor=abc,ot=th:c;rv:fe123456789abc", 0.25),
    ("ot=th:fd70a4", (2 ** 56 - 0xFD70A400000000) / 2 ** 56),  # the spec's 1% example
    ("ot=p:3", 0.125),  # the older power-of-two p-value
    ("TraceState([('ot', 'th:8')])", 0.5),  # Python SDK span.to_json()
    ("ot=rv:fe123456789abc", None),
    ("dd=s:1", None),
    (None, None),
])
def test_opentelemetry_tracestate_threshold(state, expected):
    got = tracestate_rate(state)
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_otel_spans_state_their_sampling(tmp_path):
    def span(i, **extra):
        return {"traceId": f"{i:032x}", "spanId": f"{i:016x}", "name": "chat gpt-4o-mini", "kind": 3,
                "startTimeUnixNano": str(int(T0.timestamp() * 1e9) + i), "endTimeUnixNano": str(int(T0.timestamp() * 1e9) + i + 10**9),
                "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                               {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                               {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "20"}},
                               {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "3"}}]
                + extra.pop("attrs", []), **extra}
    spans = [span(1, traceState="ot=th:c"),
             span(2, attrs=[{"key": "sampler.type", "value": {"stringValue": "probabilistic"}},
                            {"key": "sampler.param", "value": {"doubleValue": 0.1}}]),
             span(3, attrs=[{"key": "sampling.probability", "value": {"doubleValue": 0.5}}]),
             span(4)]
    doc = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "x"}, "spans": spans}]}]}
    path = write(tmp_path / "traces.json", [json.dumps(doc)])
    con = connect(str(tmp_path / "plan.duckdb"))
    ingest_paths(con, [path])
    got = dict(con.execute("select source_id, sample_rate from requests").fetchall())
    assert got == {f"{1:016x}": 0.25, f"{2:016x}": 0.1, f"{3:016x}": 0.5, f"{4:016x}": None}
    assert rates(con)[("traces.json", 0.25, "stated")] == 1


def test_generic_exports_map_their_sample_rate_column(tmp_path):
    path = tmp_path / "calls.csv"
    path.write_text("prompt,response,model,cost,rate\nhi,hello,gpt-4o-mini,0.01,0.1\nyo,hey,gpt-4o-mini,0.02,\n")
    con = connect(str(tmp_path / "plan.duckdb"))
    ingest_paths(con, [str(path)], fmt="generic",
                 mapping={"prompt": "prompt", "response": "response", "model": "model", "cost_usd": "cost",
                          "sample_rate": "rate"})
    assert sorted(con.execute("select prompt_text, sample_rate from requests").fetchall()) == [("hi", 0.1), ("yo", None)]


def test_as_sample_rate_reads_fractions_one_in_n_and_percentages():
    assert as_sample_rate(0.02) == 0.02 and as_sample_rate(50) == 0.02 and as_sample_rate("1 in 50") == 0.02
    assert as_sample_rate("2%") == 0.02 and as_sample_rate(1) == 1.0 and as_sample_rate(None) is None
    for bad in (0, -1, 1.5, "200%", True, [0.1]):
        with pytest.raises(ValueError):
            as_sample_rate(bad)


# ---------------------------------------------------------------------------------------------------------
# The arithmetic: each request stands for 1/R calls


def put(con, rid, *, at, cost, rate, source, category=None, output_tokens=0, input_tokens=0, model="m", status="ok"):
    con.execute(
        """insert into requests (id, created_at, cost_usd, cost_source, sample_rate, sample_rate_source, source_file,
                                 input_tokens, output_tokens, model, status) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [rid, at, cost, "log" if cost is not None else "unknown", rate, "flag" if rate else None, source,
         input_tokens, output_tokens, model, status],
    )
    if category is not None:
        con.execute("insert into request_categories (request_id, category_id) values (?, ?)", [rid, category])


def category(con, cid, name, task_type="open_ended", other=False):
    con.execute(
        """insert into categories (category_id, name, task_type, is_other, named, level, requests, spend_usd)
           values (?, ?, ?, ?, true, ?, 0, 0)""",
        [cid, name, task_type, other, "other" if other else "intent"],
    )


@pytest.fixture
def mixed(con):
    """Ten days of three files: a.jsonl sampled at R = 0.5 (4 x $1), b.jsonl at R = 0.1 (2 x $3, in one hour),
    c.jsonl not sampled (3 x $2). In the logs: $16 and 9 requests. The full traffic: 4/0.5 + 2/0.1 + 3 = 31
    requests and $8 + $60 + $6 = $74."""
    category(con, 1, "Answer questions")
    category(con, 2, "Write reports")
    rid = 0
    for i in range(4):
        rid += 1
        put(con, rid, at=T0 + timedelta(days=2 * i), cost=1.0, rate=0.5, source="a.jsonl", category=1,
            output_tokens=100)
    for i in range(2):
        rid += 1
        put(con, rid, at=T0 + timedelta(days=5, hours=12, minutes=10 * i), cost=3.0, rate=0.1, source="b.jsonl",
            category=2, output_tokens=100)
    for i in range(3):
        rid += 1
        put(con, rid, at=T0 + timedelta(days=3 * i + 1, hours=3) if i < 2 else T0 + timedelta(days=10), cost=2.0,
            rate=None, source="c.jsonl", category=1, output_tokens=100)
    return con


def test_cost_scales_spend_requests_tokens_and_peak_by_one_over_r(mixed):
    c = cost_model(mixed)
    month = 30 / 10  # the window runs exactly ten days
    assert c["window_days"] == pytest.approx(10)
    assert c["observed_spend_usd"] == pytest.approx(16) and c["sample_monthly_spend_usd"] == pytest.approx(16 * month)
    assert c["estimated_spend_usd"] == pytest.approx(74) and c["monthly_spend_usd"] == pytest.approx(74 * month)
    assert c["requests"] == 9 and c["monthly_requests"] == pytest.approx(31 * month)
    assert c["monthly_output_tokens"] == pytest.approx(31 * 100 * month)
    # Horvitz-Thompson: variance sum((1 - R) / R^2 * cost^2) = 4 * 2 * 1 + 2 * 90 * 9 = 1628; never below the sample.
    se = math.sqrt(4 * (0.5 / 0.25) * 1 + 2 * (0.9 / 0.01) * 9)
    assert c["monthly_spend_high_usd"] == pytest.approx((74 + 1.959963984540054 * se) * month)
    assert c["monthly_spend_low_usd"] == pytest.approx(16 * month)
    by_name = {k["name"]: k for k in c["categories"]}
    assert by_name["Write reports"]["monthly_spend_usd"] == pytest.approx(60 * month)
    assert by_name["Write reports"]["sample_monthly_spend_usd"] == pytest.approx(6 * month)
    assert by_name["Answer questions"]["monthly_spend_usd"] == pytest.approx((8 + 6) * month)
    assert by_name["Answer questions"]["sample_requests"] == 7
    assert by_name["Write reports"]["share_of_spend"] == pytest.approx(60 / 74)
    assert [k["name"] for k in c["categories"]] == ["Write reports", "Answer questions"]  # ranked by the estimate
    # The busiest hour holds b.jsonl's two requests, each standing for ten calls.
    assert c["capacity"]["max_hour"]["requests"] == pytest.approx(20)
    assert c["capacity"]["max_hour"]["output_tokens"] == pytest.approx(2000)
    assert c["sampling"]["sampled"] and c["sampling"]["estimated_requests"] == pytest.approx(31)
    assert any("1 in 10" in a and "1 in 2" in a and "3 requests not sampled" in a for a in c["assumptions"])


def test_unsampled_logs_are_unchanged_by_the_weights(con):
    category(con, 1, "Answer questions")
    for i in range(5):
        put(con, i + 1, at=T0 + timedelta(days=2 * i), cost=1.5, rate=None, source="x.jsonl", category=1)
    c = cost_model(con)
    assert c["monthly_spend_usd"] == pytest.approx(7.5 * 30 / 8) == pytest.approx(c["sample_monthly_spend_usd"])
    assert c["monthly_spend_low_usd"] == pytest.approx(c["monthly_spend_usd"]) == pytest.approx(c["monthly_spend_high_usd"])
    assert not c["sampling"]["sampled"] and c["sampling"]["sentence"] is None
    assert not any("1/R" in a for a in c["assumptions"])


def test_status_and_notebooks_show_the_logs_and_the_full_traffic(mixed):
    from analyzer import explore

    s = status_summary(mixed)
    assert s["spend_usd"] == pytest.approx(16) and s["estimated_spend_usd"] == pytest.approx(74)
    o = explore.overview(mixed)
    assert o["requests"] == 9 and o["estimated_requests"] == pytest.approx(31)
    assert o["spend_usd"] == pytest.approx(16) and o["estimated_spend_usd"] == pytest.approx(74) and o["sampled"]
    frame = explore.spend_by_day(mixed)
    assert frame["estimated_spend_usd"].sum() == pytest.approx(74) and frame["spend_usd"].sum() == pytest.approx(16)


def test_status_text_names_the_rates_and_the_two_spends(tmp_path):
    db = str(tmp_path / "plan.duckdb")
    con = connect(db)
    for i in range(3):
        put(con, i + 1, at=T0 + timedelta(days=i), cost=0.5, rate=0.02, source="a.jsonl")
    con.close()
    out = CliRunner().invoke(cli, ["status", "--db", db]).output
    assert "Spend:     $1.50 in the logs, about $75.00 for the full traffic (sampled 1 in 50)" in out


def test_sampling_sentence_and_note_say_where_each_rate_came_from(con):
    for i in range(3):
        put(con, i + 1, at=T0, cost=1.0, rate=0.02, source="a.jsonl")
    con.execute("update requests set sample_rate_source = 'stated' where id = 1")
    s = sampling_summary(con)
    assert s["sentence"].startswith("The logs are a 1-in-50 sample of the traffic (R = 0.02; given with --sample-rate "
                                    "for 2 requests, stated in the export for 1 requests)")
    assert short_note(s) == "scaled from a 1-in-50 sample (R = 0.02)"


# ---------------------------------------------------------------------------------------------------------
# The report: a team-sized month with its rate, and the logs' own month beside it


def test_report_headline_states_the_rate_and_both_spends(mixed):
    context = build_context(mixed, run_stages=False, now=NOW)
    h = context["headline"]
    assert h["sampled"] and h["monthly_spend_usd"] == pytest.approx(222)
    assert h["sample_monthly_spend_usd"] == pytest.approx(48)
    assert h["sample_note"] == "scaled from sampled logs (R = 0.1, 0.5 and unsampled files; each request counts 1/R times)"
    text = re.sub(r"\s+", " ", render_text(context))
    assert "Monthly API spend: $222 for the full traffic, scaled from sampled logs" in text
    assert "$48 in the sample itself" in text
    html = re.sub(r"<[^>]+>", " ", render_html(context, images={}))
    html = re.sub(r"\s+", " ", html)
    assert "a 30-day month of the full traffic, scaled from sampled logs" in html and "$48 a month in the sample itself" in html
    assert "Sampled logs." in html and "each request counting 1/R times" in html
    assert any("R = 0.1" in a for a in context["hardware"]["assumptions"])


# ---------------------------------------------------------------------------------------------------------
# Unknown is unknown, never $0


def test_unknown_spend_reads_unknown_everywhere(tmp_path):
    db = str(tmp_path / "plan.duckdb")
    con = connect(db)
    category(con, 1, "Answer questions")
    for i in range(4):
        put(con, i + 1, at=T0 + timedelta(days=i), cost=None, rate=None, source="x.jsonl", category=1,
            output_tokens=5, input_tokens=10, model="acme-finetune-v3")
    context = build_context(con, run_stages=False, now=NOW)
    assert context["headline"]["monthly_spend_usd"] is None
    assert context["categories"][0]["monthly_spend_usd"] is None
    assert "spend_by_category" in context["charts"]["omitted"]
    text = render_text(context)
    assert "Monthly API spend: unknown" in re.sub(r"\s+", " ", text) and "$0" not in text.split("RECOMMENDATION")[1]
    html = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", render_html(context, images={})))
    assert "Monthly API spend unknown" in html
    assert "Not drawn: monthly api spend by category (no category has a known spend to show)" in html
    con.close()
    out = CliRunner().invoke(cli, ["status", "--db", db]).output
    assert "Spend:     unknown" in out and "$0.00" not in out
    cost = json.loads(CliRunner().invoke(cli, ["cost", "--db", db, "--json"]).stdout)
    assert cost["monthly_spend_usd"] is None and cost["categories"][0]["monthly_spend_usd"] is None


def test_status_separates_no_token_counts_from_models_missing_a_price(tmp_path):
    db = str(tmp_path / "plan.duckdb")
    con = connect(db)
    put(con, 1, at=T0, cost=0.2, rate=None, source="x.jsonl")
    con.execute("""insert into requests (id, created_at, model, status, source_file) values
                   (2, ?, 'gpt-4o', 'blocked', 'x.jsonl'), (3, ?, 'gpt-4o', 'error', 'x.jsonl')""", [T0, T0])
    put(con, 4, at=T0, cost=None, rate=None, source="x.jsonl", model="acme-finetune-v3", input_tokens=10,
        output_tokens=2)
    s = status_summary(con)
    con.close()
    assert s["unpriced"]["no_token_counts"] == {"requests": 2, "statuses": {"blocked": 1, "error": 1}}
    assert s["unpriced"]["not_in_price_list"] == {"requests": 1, "models": {"acme-finetune-v3": 1}}
    out = CliRunner().invoke(cli, ["status", "--db", db]).output
    assert "No cost:   2 without token counts (blocked 1, error 1): nothing to price" in out
    assert "No price:  1 with token counts but a model not in the price list: acme-finetune-v3 (1)" in out
    assert re.search(r"gpt-4o\s+2 requests\s+unknown", out) and "acme-finetune-v3" in out


# ---------------------------------------------------------------------------------------------------------
# Charts: nothing to show is left out; small amounts get readable ticks


def test_a_spend_axis_of_cents_is_not_a_row_of_zero_dollars():
    from analyzer.charts import _usd_scale, payback, spend_by_category

    money = _usd_scale(0.04)
    ticks = [money(v) for v in (0.0, 0.01, 0.02, 0.03, 0.04)]
    assert len(set(ticks)) == 5 and "$0.00" not in ticks[1:]
    assert spend_by_category([{"name": "a", "monthly_spend_usd": 0.0, "decision": "local"}]) is None
    assert spend_by_category([{"name": "a", "monthly_spend_usd": 0.03, "decision": "local"}]) is not None
    flat = {"months": [0, 1, 2], "cumulative_savings_usd": [0, 0, 0], "hardware_outlay_usd": [0, 0, 0]}
    assert payback(flat) is None


# ---------------------------------------------------------------------------------------------------------
# What is at stake: the potential of the categories with objective checks (not a measurement)


def answered(con, rid, cid, *, response, cost, at, rate=0.1, params=None):
    put(con, rid, at=at, cost=cost, rate=rate, source="app.jsonl", category=cid, output_tokens=40, input_tokens=200)
    con.execute("update requests set response_text = ?, params_json = ? where id = ?",
                [response, json.dumps(params) if params else None, rid])


@pytest.fixture
def stakes(con):
    """Three categories over ten days, sampled at 1 in 10: SQL answers (sql_parses applies), short labels
    (label_match) and open-ended writing (similarity only: no objective check)."""
    category(con, 1, "Write SQL", "structured_generation")
    category(con, 2, "Label tickets", "classification")
    category(con, 3, "Write copy", "open_ended")
    category(con, 0, "Other", "other", other=True)
    rid = 0
    for i in range(12):
        at = T0 + timedelta(days=10 * i / 11)
        rid += 1
        answered(con, rid, 1, response=f"SELECT count(*) FROM orders WHERE id > {i}", cost=0.05, at=at)
        rid += 1
        answered(con, rid, 2, response="billing" if i % 2 else "refund", cost=0.01, at=at)
        rid += 1
        answered(con, rid, 3, response="Meet the thermostat that learns your week and " * 3, cost=0.02, at=at)
        rid += 1
        answered(con, rid, 0, response="misc", cost=0.03, at=at)
    return con


def test_the_potential_moves_the_categories_with_objective_checks_at_the_target(stakes):
    c = cost_model(stakes, CostSettings.resolve({}, target=0.8))
    p = c["potential"]
    assert p["label"] == "Potential, not measured" and p["acceptance_assumed"] == 0.8
    assert {k["name"]: k["objective_checks"] for k in p["categories"]} == {"Write SQL": ["sql_parses"],
                                                                          "Label tickets": ["label_match"]}
    by_name = {k["name"]: k for k in c["categories"]}
    assert by_name["Write copy"]["objective_checks"] == [] and by_name["Other"]["objective_checks"] == []
    # Local first for every request; 80% pass, the other 20% are paid again at the frontier.
    month = 30 / 10
    moved = ["Write SQL", "Label tickets"]
    assert p["monthly_spend_moved_usd"] == pytest.approx((0.05 + 0.01) * 12 * 10 * month)
    gross = sum(0.8 * by_name[n]["monthly_spend_usd"] - by_name[n]["monthly_electricity_usd"] for n in moved)
    assert p["monthly_gross_savings_usd"] == pytest.approx(gross)
    assert p["monthly_savings_usd"] == pytest.approx(gross - p["monthly_fixed_costs_usd"])
    assert p["boxes_needed"] == 1 and p["payback_months"] == pytest.approx(p["upfront_usd"] / p["monthly_savings_usd"])
    assert p["sentence"].startswith("Potential, not measured: if the local model passed the objective checks on 80% "
                                    "of requests in the 2 categories that have them ($22 a month: Write SQL; Label tickets), moving "
                                    "them would save about ")
    assert c["scenarios"]["potential"]["monthly_savings_usd"] == pytest.approx(p["monthly_savings_usd"])
    # Another target moves the potential with it.
    lower = cost_model(stakes, CostSettings.resolve({}, target=0.6))["potential"]
    assert lower["monthly_gross_savings_usd"] == pytest.approx(gross - 0.2 * p["monthly_spend_moved_usd"])


def test_judged_categories_count_the_objective_checks_judge_applied(stakes):
    checks = {1: {"sql_parses": {"n": 10, "passed": 9}, "similarity": {"n": 10, "passed": 10}},
              2: {"label_match": {"n": 0, "passed": 0}, "similarity": {"n": 12, "passed": 11}},
              3: {"json_valid": {"n": 5, "passed": 5}}}
    for cid, figures in checks.items():
        stakes.execute("""insert into category_acceptance (category_id, name, n, passed, acceptance, ci_low, ci_high,
                          decision, checks_json) values (?, 'x', 10, 9, 0.9, 0.6, 0.98, 'frontier', ?)""",
                       [cid, json.dumps(figures)])
    p = cost_model(stakes)["potential"]
    assert {k["name"]: k["objective_checks"] for k in p["categories"]} == {"Write SQL": ["sql_parses"],
                                                                          "Write copy": ["json_valid"]}


def test_plan_toml_checks_decide_the_potential_of_an_unjudged_category(stakes):
    config = {"judge": {"categories": {"Write copy": {"checks": ["regex"], "pattern": "thermostat"}}}}
    p = cost_model(stakes, CostSettings.resolve(config))["potential"]
    assert "Write copy" in {k["name"] for k in p["categories"]}


def test_report_headline_shows_the_potential_with_its_payback_and_the_sample(stakes):
    context = build_context(stakes, run_stages=False, now=NOW)
    h = context["headline"]
    assert h["potential_label"] == "Potential, not measured" and h["potential_categories"] == 2
    assert h["potential_monthly_savings_usd"] == pytest.approx(context["cost"]["potential"]["monthly_savings_usd"])
    assert h["potential_payback_months"] == pytest.approx(context["cost"]["potential"]["payback_months"])
    from analyzer.report import FORMATTERS

    usd, months = FORMATTERS["usd"], FORMATTERS["months"]
    html = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", render_html(context, images={})))
    assert (f"Potential, not measured: the ceiling for categories with objective checks ≤ "
            f"{usd(h['potential_monthly_savings_usd'])} / month · payback {months(h['potential_payback_months'])}") in html
    text = re.sub(r"\s+", " ", render_text(context))
    assert f"Potential, not measured: up to {usd(h['potential_monthly_savings_usd'])}/month" in text
    assert "scaled from a 1-in-10 sample (R = 0.1)" in text


def test_report_and_cost_json_carry_the_potential_keys(stakes):
    context = build_context(stakes, run_stages=False, now=NOW)
    for key in ("potential_label", "potential_monthly_savings_usd", "potential_monthly_spend_usd", "potential_categories",
                "potential_acceptance", "potential_hardware", "potential_boxes_needed", "potential_payback_months",
                "potential_sentence", "sampled", "sample_note", "sample_sentence", "sample_monthly_spend_usd",
                "monthly_spend_low_usd", "monthly_spend_high_usd", "replayed_model"):
        assert key in context["headline"], key
    for key in ("label", "acceptance_assumed", "categories", "monthly_spend_moved_usd", "monthly_savings_usd",
                "hardware", "boxes_needed", "upfront_usd", "payback_months", "sentence"):
        assert key in context["cost"]["potential"], key


def test_categorize_ranks_by_the_full_traffics_spend(con):
    """App A: 30 requests of $0.01, not sampled ($0.30). App B: 10 requests of $0.01 from a 1-in-10 sample ($1.00 of
    traffic). B carries less spend in the logs but more in the traffic: it ranks first."""
    from analyzer.categorize import CategorizeSettings, categorize

    apps = {"You translate customer emails into French.": ("a.jsonl", None, 30,
                                                          "Translate: my parcel {i} has not arrived yet"),
            "You write SQL for the orders database.": ("b.jsonl", 0.1, 10, "How many orders shipped in week {i}?")}
    rid = 0
    for system, (source, rate, n, prompt) in apps.items():
        for i in range(n):
            rid += 1
            put(con, rid, at=T0 + timedelta(hours=rid), cost=0.01, rate=rate, source=source)
            con.execute("update requests set system_prompt = ?, prompt_text = ?, response_text = 'ok' where id = ?",
                        [system, prompt.format(i=i), rid])
    result = categorize(con, CategorizeSettings.resolve({}, k=2, top=2), progress=False)
    named = [c for c in result["categories"] if not c["is_other"]]
    assert [round(c["spend_usd"], 6) for c in named] == [1.0, 0.3]
    assert [c["requests"] for c in named] == [10, 30]  # rows of the logs
    assert result["spend_usd"] == pytest.approx(1.3) and result["sampling"]["spend_usd"] == pytest.approx(0.4)
    stored = dict(con.execute("select spend_rank, spend_usd from categories where spend_rank is not null").fetchall())
    assert stored == {1: pytest.approx(1.0), 2: pytest.approx(0.3)}


def test_langfuse_observations_state_their_rate_on_the_row_or_in_metadata():
    from analyzer.ingest.formats.langfuse import observation_record

    base = {"type": "GENERATION", "model": "gpt-4o-mini", "startTime": "2026-03-02T10:00:00Z",
            "input": [{"role": "user", "content": "hi"}], "output": "hello", "usage": {"input": 3, "output": 1}}
    assert observation_record({**base, "id": "o1", "sampleRate": 0.25})["sample_rate"] == 0.25
    assert observation_record({**base, "id": "o2", "metadata": {"sample_rate": 0.2}})["sample_rate"] == 0.2
    assert observation_record({**base, "id": "o3"})["sample_rate"] is None
