import json
import random
import re
import zlib

import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.db import dicts, insert_arrow, rows, scalar
from analyzer.errors import PlanError
from analyzer.judge import JudgeSettings, judge, summarise
from analyzer.stats import samples_to_clear, wilson_interval, wilson_sample_size
from openai_stub import OpenAIStub, Reply, last_user_text

# ----------------------------------------------------------------------------------------------- seeding

CATEGORY_NAMES = {}


def judged(con, config=None, **flags):
    """``plan judge --json`` in-process: plan.toml as a dict, flags as on the command line."""
    return judge(con, JudgeSettings.resolve(config or {}, **flags), progress=False)


def seed(con, cases, model="qwen3.6:35b-a3b", start=1):
    """Insert requests, categories, assignments and replays. Each case: category_id, task_type, prompt,
    frontier, local, and optionally name, error, params, system. Returns the replay ids in order."""
    import pyarrow as pa

    cats = {}
    reqs, assigns, reps = [], [], []
    for i, c in enumerate(cases, start=start):
        cats.setdefault(c["category_id"], (c.get("name") or f"Category {c['category_id']}", c["task_type"]))
        reqs.append({"id": i, "prompt_text": c.get("prompt", f"request {i}"), "system_prompt": c.get("system"),
                     "response_text": c.get("frontier"), "params_json": json.dumps(c["params"]) if c.get("params") else None,
                     "messages_json": json.dumps([{"role": "user", "content": c.get("prompt", f"request {i}")}])})
        assigns.append({"request_id": i, "category_id": c["category_id"]})
        reps.append({"id": zlib.crc32(model.encode()) % 1000 * 1_000_000 + i, "request_id": i, "category_id": c["category_id"], "model": model,
                     "output_text": c.get("local"), "error": c.get("error")})
    existing = {r[0] for r in rows(con, "select category_id from categories")}
    cat_rows = [{"category_id": cid, "name": name, "task_type": tt, "spend_rank": cid, "is_other": False}
                for cid, (name, tt) in cats.items() if cid not in existing]
    if cat_rows:
        insert_arrow(con, "categories", pa.Table.from_pylist(cat_rows))
    existing_requests = {r[0] for r in rows(con, "select id from requests")}
    reqs = [r for r in reqs if r["id"] not in existing_requests]
    assigns = [a for a in assigns if a["request_id"] not in existing_requests]
    if not reqs:
        reqs = assigns = None
    reqs and insert_arrow(con, "requests", pa.Table.from_pylist(reqs,
                 schema=pa.schema([("id", pa.int64()), ("prompt_text", pa.string()), ("system_prompt", pa.string()),
                                   ("response_text", pa.string()), ("params_json", pa.string()),
                                   ("messages_json", pa.string())])))
    assigns and insert_arrow(con, "request_categories", pa.Table.from_pylist(assigns))
    insert_arrow(con, "replays", pa.Table.from_pylist(reps, schema=pa.schema([
        ("id", pa.int64()), ("request_id", pa.int64()), ("category_id", pa.int32()), ("model", pa.string()),
        ("output_text", pa.string()), ("error", pa.string())])))
    return [r["id"] for r in reps]


def labels(category_id, n_right, n_wrong, name="Ticket triage"):
    out = []
    for i in range(n_right):
        out.append({"category_id": category_id, "name": name, "task_type": "classification",
                    "prompt": f"Route ticket #{i}: my card was charged twice", "frontier": "Billing",
                    "local": random.Random(i).choice(["billing", "Billing.", '"BILLING"'])})
    for i in range(n_wrong):
        out.append({"category_id": category_id, "name": name, "task_type": "classification",
                    "prompt": f"Route ticket #{n_right + i}: refund please", "frontier": "Billing", "local": "Shipping"})
    return out


def json_orders(category_id, n_valid, n_broken, name="Order extraction"):
    frontier = '{"order_id": "A-1", "qty": 2, "express": false}'
    out = [{"category_id": category_id, "name": name, "task_type": "structured_generation",
            "prompt": f"Extract the order from email {i}", "frontier": frontier,
            "local": f'{{"order_id": "B-{i}", "qty": {i % 5 + 1}, "express": true}}'} for i in range(n_valid)]
    out += [{"category_id": category_id, "name": name, "task_type": "structured_generation",
             "prompt": f"Extract the order from email x{i}", "frontier": frontier,
             "local": f'{{"order_id": "C-{i}", "qty": 3,'} for i in range(n_broken)]
    return out


def by_id(result, category_id):
    return next(c for c in result["categories"] if c["category_id"] == category_id)


# ----------------------------------------------------------------------------------------------- rates and decisions


def test_acceptance_is_a_rate_with_its_wilson_interval(con):
    seed(con, labels(1, 14, 6))
    c = by_id(judged(con), 1)
    assert (c["n"], c["passed"]) == (20, 14)
    assert c["acceptance"] == pytest.approx(0.7)
    assert (c["ci_low"], c["ci_high"]) == pytest.approx(wilson_interval(14, 20))
    assert c["ci_low"] == pytest.approx(0.4810, abs=1e-4)
    assert c["checks"]["label_match"] == {"n": 20, "passed": 14, "acceptance": pytest.approx(0.7)}
    assert c["failure_reasons"][0]["count"] == 6
    assert c["margin"] == 0.05 and c["n_needed"] == wilson_sample_size(0.5, 0.05) == 381  # 0.5 lies inside the interval
    assert "'shipping'" in c["failure_reasons"][0]["reason"] and "'billing'" in c["failure_reasons"][0]["reason"]
    assert len(c["example_failures"]) == 5 and all(e["check"] == "label_match" for e in c["example_failures"])
    stored = dicts(con, "select * from category_acceptance where category_id = 1")[0]
    assert (stored["n"], stored["passed"], stored["decision"]) == (20, 14, c["decision"])
    assert scalar(con, "select count(*) from judgments") == 20


def test_local_when_the_lower_bound_clears_the_target(con):
    seed(con, labels(1, 60, 0))
    c = by_id(judged(con), 1)
    assert c["ci_low"] > 0.8 and c["decision"] == "local"
    assert "clears the target" in c["decision_reason"]


def test_a_high_rate_on_few_samples_is_not_enough_and_says_how_many_are(con):
    seed(con, labels(1, 9, 0))
    c = by_id(judged(con), 1)
    assert c["acceptance"] == 1.0 and c["ci_low"] < 0.8 and c["decision"] == "frontier"
    assert c["n_to_decide"] is not None and c["n_to_decide"] > 9
    assert wilson_interval(c["n_to_decide"], c["n_to_decide"])[0] >= 0.8
    assert "replays" in c["decision_reason"]


def test_cascade_when_a_runtime_check_catches_the_failures(con):
    seed(con, json_orders(2, 34, 6))
    c = by_id(judged(con), 2)
    assert [x["name"] for x in c["criteria"]] == ["json_valid", "json_schema_match"]
    assert (c["n"], c["passed"], c["caught_failures"]) == (40, 34, 6)
    assert c["ci_low"] < 0.8
    assert c["decision"] == "cascade" and "json_valid" in c["decision_reason"]
    # invalid JSON is one failure, reported by json_valid, not a second one by json_schema_match
    assert c["checks"]["json_valid"] == {"n": 40, "passed": 34, "acceptance": pytest.approx(0.85)}
    assert c["checks"]["json_schema_match"]["n"] == 34


def test_frontier_when_failures_would_go_unnoticed(con):
    seed(con, labels(1, 30, 10))
    c = by_id(judged(con), 1)
    assert c["decision"] == "frontier" and "unnoticed" in c["decision_reason"]


def test_thresholds_are_configurable_and_returned(con):
    seed(con, labels(1, 60, 0))
    result = judged(con, config={"judge": {"target": 0.97, "margin": 0.1}})
    assert result["thresholds"]["target"] == 0.97 and result["thresholds"]["margin"] == 0.1
    c = by_id(result, 1)
    assert c["decision"] == "frontier"  # 60/60 has a lower bound of 0.94
    assert by_id(judged(con, target=0.9), 1)["decision"] == "local"
    with pytest.raises(PlanError, match="between 0 and 1"):
        judged(con, target=80)
    assert judged(con, config={"judge": {"acceptance_target": 0.5}})["target"] == 0.5


def test_a_failed_call_is_an_error_not_a_failed_answer(con):
    cases = json_orders(2, 10, 0)
    cases[0] = {**cases[0], "local": None, "error": "No complete answer from http://127.0.0.1:11434/v1 within 600 s."}
    seed(con, cases)
    con.execute("update replays set error_kind = 'timeout' where error is not null")
    result = judged(con)
    c = by_id(result, 2)
    assert (c["n"], c["passed"], c["answers"]) == (9, 9, 9)  # acceptance and its interval count answers only
    assert c["ci_low"] == pytest.approx(wilson_interval(9, 9)[0])
    assert "replay" not in c["checks"] and not c["failure_reasons"]
    assert c["errors"]["calls"] == 1 and c["errors"]["transient"] == 1 and "600 s" in c["errors"]["example"]
    assert result["replays"]["errors"] == 1
    assert scalar(con, "select count(*) from judgments where check_name = 'replay'") == 0


def test_pending_and_uncategorised_replays_are_left_out(con):
    cases = labels(1, 5, 0)
    cases[0] = {**cases[0], "local": None}
    seed(con, cases)
    con.execute("delete from request_categories where request_id = 2")
    con.execute("update replays set category_id = null where request_id = 2")
    result = judged(con)
    assert result["replays"]["pending"] == 1 and result["replays"]["uncategorised"] == 1
    assert by_id(result, 1)["n"] == 3


def test_rerun_replaces_its_outputs(con):
    seed(con, labels(1, 10, 10))
    judged(con)
    con.execute("update replays set output_text = 'billing'")
    c = by_id(judged(con), 1)
    assert c["passed"] == 20
    assert scalar(con, "select count(*) from judgments") == 20
    assert scalar(con, "select count(*) from category_acceptance") == 1
    assert scalar(con, "select count(*) from stage_runs where stage = 'judge'") == 2


def test_no_replays_is_a_clear_error(con):
    with pytest.raises(PlanError, match="plan replay"):
        judged(con)


def test_the_most_recent_model_is_judged_unless_one_is_named(con):
    seed(con, labels(1, 5, 0), model="old-model")
    con.execute("update replays set finished_at = timestamp '2026-01-01'")
    seed(con, labels(1, 0, 5), model="new-model", start=1)
    con.execute("update replays set finished_at = timestamp '2026-02-01' where model = 'new-model'")
    assert judged(con)["model"] == "new-model"
    result = judged(con, model="old-model")
    assert by_id(result, 1)["passed"] == 5
    with pytest.raises(PlanError, match="old-model"):
        judged(con, model="nope")


# ----------------------------------------------------------------------------------------------- criteria


def test_structured_generation_picks_the_check_from_the_frontier_form(con):
    sql = [{"category_id": 3, "task_type": "structured_generation", "prompt": f"Postgres: orders of user {i}",
            "frontier": f"SELECT * FROM orders WHERE user_id = {i};",
            "local": f"SELECT * FROM orders WHERE user_id = {i};" if i % 4 else "SELECT * FROM orders WHERE"}
           for i in range(12)]
    svg = [{"category_id": 4, "task_type": "structured_generation", "prompt": "Draw an icon",
            "frontier": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="4"/></svg>',
            "local": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect x="1" y="1" width="8" height="8"/></svg>'}
           for _ in range(3)]
    seed(con, sql + svg)
    result = judged(con)
    assert [x["name"] for x in by_id(result, 3)["criteria"]] == ["sql_parses"]
    assert by_id(result, 3)["passed"] == 9
    assert [x["name"] for x in by_id(result, 4)["criteria"]] == ["svg_renders"]
    assert by_id(result, 4)["passed"] == 3


def test_a_mixed_structured_category_applies_each_check_where_it_fits(con):
    cases = json_orders(5, 4, 1, name="Structured mix")
    cases += [{"category_id": 5, "task_type": "structured_generation", "prompt": "count users",
               "frontier": "SELECT count(*) FROM users", "local": "SELECT count(*) FROM users"} for _ in range(3)]
    seed(con, cases)
    c = by_id(judged(con), 5)
    names = {(x["name"], x.get("when")) for x in c["criteria"]}
    assert ("sql_parses", "sql") in names and ("json_valid", "json") in names
    assert c["checks"]["sql_parses[sql]"]["n"] == 3 and c["checks"]["json_valid[json]"]["n"] == 5
    assert (c["n"], c["passed"]) == (8, 7)


def test_plan_toml_overrides_checks_by_name_or_id_with_parameters(con):
    triage_cases = labels(1, 8, 2)
    seed(con, triage_cases + json_orders(2, 5, 0))
    config = {"judge": {"categories": {
        "ticket TRIAGE": {"checks": ["regex"], "pattern": "^(billing|shipping)$", "flags": "i"},
        "2": {"checks": [{"name": "contains", "text": "order_id"}, {"name": "max_length", "chars": 10}]},
        "Gone category": {"checks": ["json_valid"]},
    }}}
    result = judged(con, config=config)
    triage = by_id(result, 1)
    assert triage["criteria_source"].startswith("plan.toml")
    assert triage["criteria"][0]["name"] == "regex" and triage["criteria"][0]["pattern"] == "^(billing|shipping)$"
    expected = sum(bool(re.search("^(billing|shipping)$", c["local"], re.I)) for c in triage_cases)
    assert 0 < expected < 10 and triage["passed"] == expected  # 'Billing.' and '"BILLING"' fail the anchors
    orders = by_id(result, 2)
    assert [x["name"] for x in orders["criteria"]] == ["contains", "max_length"]
    assert orders["passed"] == 0 and orders["checks"]["contains"]["passed"] == 5
    assert any("Gone category" in w for w in result["warnings"])
    stored = json.loads(scalar(con, "select criteria_json from category_acceptance where category_id = 2"))
    assert stored["checks"][1] == {"name": "max_length", "chars": 10, "objective": True, "runtime": True}


def test_category_parameters_need_a_check_that_takes_them(con):
    seed(con, labels(1, 3, 0))
    with pytest.raises(PlanError, match="dialect"):
        judged(con, config={"judge": {"categories": {"1": {"checks": ["label_match"], "dialect": "tsql"}}}})
    with pytest.raises(PlanError, match="Unknown key"):
        judged(con, config={"judge": {"categories": {"1": {"dialekt": "tsql"}}}})


def test_dialect_from_plan_toml_reaches_sql_parses(con):
    tsql = "SELECT TOP 3 [name] FROM [dbo].[users]"
    seed(con, [{"category_id": 3, "task_type": "structured_generation", "prompt": "top users",
                "frontier": "SELECT TOP 3 name FROM users", "local": tsql} for _ in range(4)])
    config = {"judge": {"categories": {"3": {"dialect": "postgres", "add_checks": []}}}}
    assert by_id(judged(con, config=config), 3)["passed"] == 0
    config = {"judge": {"categories": {"3": {"dialect": "tsql"}}}}
    assert by_id(judged(con, config=config), 3)["passed"] == 4


def test_classification_with_explained_labels_is_compared_by_meaning():
    from analyzer.judge import default_criteria

    assert default_criteria("classification", ["Billing", "Shipping", '{"label": "x"}'], [], False) == ["label_match"]
    assert default_criteria("classification", ["Billing.\nBecause of a double charge."] * 3, [], False) == ["similarity"]


def test_checks_override_applies_to_every_category(con):
    seed(con, labels(1, 4, 0) + json_orders(2, 4, 0))
    result = judged(con, checks_override=["max_length"] and [{"name": "max_length", "chars": 8}])
    assert all([x["name"] for x in c["criteria"]] == ["max_length"] for c in result["categories"])
    assert by_id(result, 1)["passed"] == 4 and by_id(result, 2)["passed"] == 0


def test_the_privacy_stage_can_decide_local_for_compliance(con, monkeypatch):
    from analyzer import privacy

    seen = []

    def compliance_decision(con_, category):
        seen.append(category["category_id"])
        if category["name"] == "Ticket triage":
            return "local-for-compliance", "42% of requests hold personal data"
        return None

    monkeypatch.setattr(privacy, "compliance_decision", compliance_decision, raising=False)
    seed(con, labels(1, 5, 5) + json_orders(2, 40, 0))
    result = judged(con)
    assert by_id(result, 1)["decision"] == "local-for-compliance"
    assert by_id(result, 2)["decision"] == "local"
    assert sorted(seen) == [1, 2]


# ----------------------------------------------------------------------------------------------- statistics


def test_intervals_cover_the_true_rate_about_95_percent_of_the_time(con):
    """200 simulated categories whose local model is right with probability 0.8, 50 replays each,
    through the whole judge: the 95% interval should cover 0.8 in about 95% of them. The exact coverage
    of the Wilson interval at n=50, p=0.8 is 0.951 (it oscillates with n); 200 runs vary by ±0.015."""
    import math

    exact = sum(math.comb(50, k) * 0.8**k * 0.2 ** (50 - k) for k in range(51)
                if wilson_interval(k, 50)[0] <= 0.8 <= wilson_interval(k, 50)[1])
    assert exact == pytest.approx(0.951, abs=0.001)
    rng = random.Random(20260105)
    cases = []
    for cid in range(1, 201):
        for i in range(50):
            right = rng.random() < 0.8
            cases.append({"category_id": cid, "task_type": "classification", "prompt": f"c{cid} r{i}",
                          "frontier": "refund", "local": "Refund" if right else "cancel"})
    seed(con, cases)
    result = judged(con)
    assert len(result["categories"]) == 200
    covered = sum(c["ci_low"] <= 0.8 <= c["ci_high"] for c in result["categories"])
    assert abs(covered / 200 - exact) <= 3 * math.sqrt(exact * (1 - exact) / 200), covered
    pooled = sum(c["passed"] for c in result["categories"]) / 10000
    assert pooled == pytest.approx(0.8, abs=0.02)


def test_sample_size_helpers():
    n = wilson_sample_size(0.9, 0.05)
    low, high = wilson_interval(round(0.9 * n), n)
    assert (high - low) / 2 <= 0.05
    low, high = wilson_interval(round(0.9 * (n - 1)), n - 1)
    assert (high - low) / 2 > 0.05
    assert samples_to_clear(0.8, 0.8) is None
    n = samples_to_clear(0.95, 0.8)
    assert wilson_interval(int(0.95 * n), n)[0] >= 0.8 > wilson_interval(int(0.95 * (n - 1)), n - 1)[0]


@pytest.mark.parametrize("true_rate, n", [(0.5, 20), (0.9, 50), (0.97, 100)])
def test_wilson_coverage_by_simulation(true_rate, n):
    rng = random.Random(7)
    runs = 2000
    covered = 0
    for _ in range(runs):
        passed = sum(rng.random() < true_rate for _ in range(n))
        low, high = wilson_interval(passed, n)
        covered += low <= true_rate <= high
    assert 0.92 <= covered / runs <= 0.98


# ----------------------------------------------------------------------------------------------- CLI


def test_cli_json_contract(db_path, con):
    seed(con, labels(1, 18, 2) + json_orders(2, 30, 3))
    con.close()
    result = CliRunner().invoke(cli, ["judge", "--json", "--db", db_path])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert {c["category_id"] for c in payload["categories"]} == {1, 2}
    for c in payload["categories"]:
        assert {"category_id", "name", "task_type", "n", "passed", "acceptance", "ci_low", "ci_high", "decision",
                "checks"} <= set(c)
        assert 0 <= c["ci_low"] <= c["acceptance"] <= c["ci_high"] <= 1
        assert c["decision"] in ("local", "cascade", "frontier", "local-for-compliance")
        for entry in c["checks"].values():
            assert {"n", "passed"} <= set(entry) and entry["passed"] <= entry["n"]
    triage = next(c for c in payload["categories"] if c["category_id"] == 1)
    assert (triage["name"], triage["task_type"], triage["n"], triage["passed"]) == ("Ticket triage", "classification", 20, 18)
    assert payload["thresholds"]["target"] == 0.8


def test_the_compliance_decision_reads_privacy_settings_from_the_config_the_judge_was_given(db_path, con, tmp_path,
                                                                                            monkeypatch):
    seed(con, labels(1, 12, 8))  # acceptance 0.60: frontier on quality, but "moderate" by the default 0.5
    prompt = "Route ticket: customer jane.doe@example.com was charged twice"
    con.execute("update requests set prompt_text = ?, messages_json = ?",
                [prompt, json.dumps([{"role": "user", "content": prompt}])])
    con.close()
    strict = tmp_path / "strict.toml"
    strict.write_text("[privacy]\nmin_acceptance = 0.7\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no plan.toml here: only --config says 0.7
    default = json.loads(CliRunner().invoke(cli, ["judge", "--json", "--db", db_path]).stdout)["categories"][0]
    assert default["decision"] == "local-for-compliance"
    given = CliRunner().invoke(cli, ["judge", "--json", "--db", db_path, "--config", str(strict)])
    triage = json.loads(given.stdout)["categories"][0]
    assert triage["decision"] == "frontier" and "Needs legal review" in triage["decision_reason"]
    assert "below 70%" in triage["decision_reason"]


def test_cli_table_and_options(db_path, con, tmp_path):
    seed(con, labels(1, 18, 2))
    con.close()
    config = tmp_path / "plan.toml"
    config.write_text('[judge]\ntarget = 0.6\n')
    result = CliRunner().invoke(cli, ["judge", "--db", db_path, "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert re.search(r"Ticket triage\s+classification\s+20\s+90% \(70%–97%\)\s+local", result.stdout)
    assert "Target 60%" in result.stdout
    result = CliRunner().invoke(cli, ["judge", "--db", db_path, "--check", "regex"])
    assert result.exit_code != 0 and "needs a pattern" in result.output and "Traceback" not in result.output


# ----------------------------------------------------------------------------------------------- llm_judge


def _judge_prefers_correct(body):
    """A deterministic judge model: the answer that says 'Paris' wins; both or neither: tie."""
    text = last_user_text(body)
    a = re.search(r"<answer_a>(.*)</answer_a>", text, re.S).group(1)
    b = re.search(r"<answer_b>(.*)</answer_b>", text, re.S).group(1)
    va, vb = "Paris" in a, "Paris" in b
    verdict = "C" if va == vb else ("A" if va else "B")
    return Reply(content=f"Answer {'A' if va else 'B'} names the capital correctly.\n[[{verdict}]]")


def _open_ended(n_right, n_wrong):
    cases = [{"category_id": 7, "name": "Geography questions", "task_type": "open_ended",
              "prompt": "What is the capital of France?", "frontier": "The capital of France is Paris.",
              "local": "Paris is France's capital city."} for _ in range(n_right)]
    cases += [{"category_id": 7, "name": "Geography questions", "task_type": "open_ended",
               "prompt": "What is the capital of France?", "frontier": "The capital of France is Paris.",
               "local": "The capital of France is Lyon."} for _ in range(n_wrong)]
    return cases


def test_llm_judge_runs_both_orders_and_scores_the_local_answer(con):
    seed(con, _open_ended(3, 2))
    with OpenAIStub(_judge_prefers_correct, models=["judge-model"]) as stub:
        result = judged(con, judge_endpoint=stub.url, judge_model="judge-model",
                       checks_override=["llm_judge"])
        assert len(stub.requests) == 10  # 5 answers x 2 orders
        firsts = [last_user_text(r) for r in stub.requests]
        assert sum(t.index("Lyon") < t.index("The capital of France is Paris") for t in firsts if "Lyon" in t) == 2
        assert all(r["temperature"] == 0 for r in stub.requests)
    c = by_id(result, 7)
    assert (c["n"], c["passed"]) == (5, 3)
    assert result["judge"]["model"] == "judge-model"
    reasons = dict(rows(con, "select reason, count(*) from judgments where check_name = 'llm_judge' group by 1"))
    assert reasons == {"judge: tie / tie (score 0.50)": 3, "judge: frontier better / frontier better (score 0.00)": 2}


def test_a_position_biased_judge_cancels_out(con):
    seed(con, _open_ended(0, 4))
    with OpenAIStub(lambda body: Reply(content="The first one is better. [[A]]"), models=["judge-model"]) as stub:
        result = judged(con, judge_endpoint=stub.url, judge_model="judge-model",
                       checks_override=["llm_judge"])
    scores = [r[0] for r in rows(con, "select score from judgments where check_name = 'llm_judge'")]
    assert scores == [0.5] * 4  # one win, one loss: no information, as it should be
    assert by_id(result, 7)["passed"] == 4


def test_llm_judge_is_off_unless_asked_and_refuses_remote_endpoints(con):
    seed(con, labels(1, 3, 0))
    assert judged(con)["judge"] is None
    with pytest.raises(PlanError, match="--judge-endpoint"):
        judged(con, checks_override=["llm_judge"])
    with pytest.raises(PlanError, match="Refusing endpoint"):
        judged(con, judge_endpoint="http://judge.invalid/v1", judge_model="m")
    with pytest.raises(PlanError, match="--judge-model"):
        judged(con, judge_endpoint="http://127.0.0.1:9/v1")


def test_a_missing_judge_model_stops_the_run_with_the_servers_words(con):
    seed(con, _open_ended(1, 0))
    with OpenAIStub(models=["other"]) as stub:
        with pytest.raises(PlanError, match="does not have the model 'judge-model'"):
            judged(con, judge_endpoint=stub.url, judge_model="judge-model", checks_override=["llm_judge"])
    assert scalar(con, "select count(*) from judgments") == 0


def test_summarise_again_keeps_the_stored_criteria_and_thresholds(con):
    seed(con, labels(1, 50, 0))
    first = judged(con, target=0.95)
    again = summarise(con)
    assert again[0]["decision"] == by_id(first, 1)["decision"] == "frontier"
    assert again[0]["criteria"] == by_id(first, 1)["criteria"]


@pytest.mark.slow
def test_open_ended_categories_default_to_similarity(con):
    seed(con, [{"category_id": 8, "name": "Travel writing", "task_type": "open_ended",
                "prompt": "Write two sentences about visiting Kyoto in autumn.",
                "frontier": "Kyoto in autumn glows with red maples around its temples. Visit Tofuku-ji early to beat the crowds.",
                "local": local}
               for local in ("Autumn in Kyoto means temples framed by crimson maple leaves. Arrive early at Tofuku-ji, "
                             "before the crowds.", "To reset your router, hold the power button for ten seconds.")])
    c = by_id(judged(con), 8)
    assert [x["name"] for x in c["criteria"]] == ["similarity"]
    assert (c["n"], c["passed"]) == (2, 1)
    assert c["criteria"][0]["objective"] is False
    assert c["decision"] == "needs_judge" and c["evidence"] == "similarity"  # similarity alone decides nothing


# ----------------------------------------------------------------------------------------------- verdicts you can defend


def test_a_category_of_failed_calls_is_not_measured_with_the_reason_and_the_fix(con):
    refused = json_orders(3, 0, 0) + [{"category_id": 3, "name": "Order extraction", "task_type": "structured_generation",
                                        "prompt": f"extract {i}", "frontier": '{"a": 1}', "local": None,
                                        "error": "HTTP 400 from http://127.0.0.1:8080/v1: prompt is malformed"}
                                       for i in range(4)]
    mostly = labels(4, 2, 0, name="Ticket triage") + [{"category_id": 4, "name": "Ticket triage", "task_type": "classification",
                                                      "prompt": f"t{i}", "frontier": "Billing", "local": None,
                                                      "error": "No complete answer within 600 s."} for i in range(3)]
    seed(con, refused + mostly)
    con.execute("update replays set error_kind = 'bad_request', error_class = 'deterministic' where error like 'HTTP 400%'")
    con.execute("update replays set error_kind = 'timeout', error_class = 'transient' where error like 'No complete%'")
    result = judged(con)
    refused_c, mostly_c = by_id(result, 3), by_id(result, 4)
    assert refused_c["decision"] == mostly_c["decision"] == "not_measured"
    assert refused_c["acceptance"] is None and refused_c["n"] == 0 and refused_c["errors"]["deterministic"] == 4
    assert "all 4 calls failed" in refused_c["decision_reason"] and "will not help" in refused_c["decision_reason"]
    assert (mostly_c["n"], mostly_c["passed"]) == (2, 2)  # the two answers are still shown ...
    assert "3 of 5 calls failed" in mostly_c["decision_reason"] and "run `plan replay` again" in mostly_c["decision_reason"]
    stored = dicts(con, "select category_id, decision, errors_json from category_acceptance order by 1")
    assert [r["decision"] for r in stored] == ["not_measured", "not_measured"]
    assert json.loads(stored[0]["errors_json"])["calls"] == 4


def test_similarity_alone_never_makes_a_category_local_or_cascade(con):
    cases = [{"category_id": 5, "name": "Release notes", "task_type": "summarization", "prompt": f"notes {i}",
              "frontier": "Fixed the login bug and sped up sync.", "local": "sync up sped and bug login the Fixed."}
             for i in range(60)]
    seed(con, cases)
    # Stand in for the embedding check with a stored verdict: every answer "passed" similarity.
    result = judged(con, checks_override=[{"name": "max_length", "ratio": 2.0}])
    assert by_id(result, 5)["decision"] == "needs_judge" and by_id(result, 5)["evidence"] == "constraint"
    from analyzer.judge import decide, thresholds_from

    summary = {"n": 60, "passed": 60, "ci_low": 0.94, "caught_failures": 0, "runtime_checks": [], "n_to_decide": None,
               "answers": 60, "errors": {}, "evidence": "similarity", "decided_on": {"n": 0, "passed": 0, "caught": 0}}
    decision, reason = decide(summary, thresholds_from({}))
    assert decision == "needs_judge" and "judge model" in reason


def test_mixed_evidence_is_decided_on_the_answers_with_objective_checks(con):
    python = [{"category_id": 6, "name": "Helpers", "task_type": "code_from_spec", "prompt": f"add {i}",
               "frontier": "```python\ndef add(a, b):\n    return a + b\n```",
               "local": "```python\ndef add(a, b):\n    return a + b\n```"} for i in range(50)]
    seed(con, python)
    result = judged(con, checks_override=["code_compiles", {"name": "max_length", "ratio": 3}])
    c = by_id(result, 6)
    assert c["evidence"] == "objective" and c["decision"] == "local" and c["decided_on"]["n"] == 50
    assert "code_compiles" in c["evidence_label"]


def test_self_judging_is_refused_unless_allowed_and_then_marked(con):
    seed(con, _open_ended(2, 0), model="judge-model")
    with OpenAIStub(_judge_prefers_correct, models=["judge-model"]) as stub:
        with pytest.raises(PlanError, match="87% self-preference") as err:
            judged(con, judge_endpoint=stub.url, judge_model="judge-model:latest", checks_override=["llm_judge"])
        assert "--allow-self-judge" in str(err.value) and not stub.requests
        result = judged(con, judge_endpoint=stub.url, judge_model="judge-model", checks_override=["llm_judge"],
                        allow_self_judge=True)
    c = by_id(result, 7)
    assert result["judge"]["self_judged"] is True and c["self_judged"] is True
    assert "self-judged" in c["evidence_label"] and c["evidence"] == "llm_judge"
    assert scalar(con, "select self_judged from category_acceptance where category_id = 7") is True


def test_self_judging_flag_on_the_cli(db_path, con):
    seed(con, _open_ended(1, 0), model="judge-model")
    con.close()
    with OpenAIStub(_judge_prefers_correct, models=["judge-model"]) as stub:
        args = ["judge", "--db", db_path, "--judge-endpoint", stub.url, "--judge-model", "judge-model", "--check", "llm_judge"]
        refused = CliRunner().invoke(cli, args)
        allowed = CliRunner().invoke(cli, args + ["--allow-self-judge", "--json"])
    assert refused.exit_code != 0 and "--allow-self-judge" in refused.output
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.stdout)["judge"]["self_judged"] is True
    assert "judges its own answers" in allowed.stderr


def test_replays_of_requests_the_frontier_did_not_answer_are_not_judged(con):
    seed(con, labels(1, 6, 0))
    con.execute("update requests set status = 'blocked' where id = 1")
    con.execute("update requests set response_text = '' where id = 2")
    result = judged(con)
    assert by_id(result, 1)["n"] == 4 and result["replays"]["not_comparable"] == 2


# --- end to end over real HTTP: replay against a server with faults, then judge


def _seed_workloads(con):
    """Three workloads as categorize leaves them: labels (truth known), extraction asking for a JSON schema,
    and open-ended writing."""
    import pyarrow as pa

    rng = random.Random(5)
    requests_, assigns = [], []
    truth = {}
    schema = {"type": "object", "properties": {"vendor": {"type": "string"}, "total": {"type": "number"}},
              "required": ["vendor", "total"]}
    for i in range(40):
        label = rng.choice(["billing", "shipping", "refund"])
        truth[i] = label
        requests_.append({"id": 1000 + i, "prompt_text": f"ticket {i}: please route this one", "response_text": label,
                          "params_json": None, "status": "ok"})
        assigns.append({"request_id": 1000 + i, "category_id": 1})
    for i in range(12):
        requests_.append({"id": 2000 + i, "prompt_text": f"invoice {i}: ACME Corp, total {10 + i}.50",
                          "response_text": json.dumps({"vendor": "ACME Corp", "total": 10 + i + 0.5}),
                          "params_json": json.dumps({"response_format": {"type": "json_schema", "json_schema": {"name": "inv", "schema": schema}}}),
                          "status": "ok"})
        assigns.append({"request_id": 2000 + i, "category_id": 2})
    for i in range(12):
        requests_.append({"id": 3000 + i, "prompt_text": f"essay {i}: write about autumn walks in the hills number {i}",
                          "response_text": f"Autumn walks in the hills bring crisp air, red leaves and quiet paths, story {i}.",
                          "params_json": None, "status": "ok"})
        assigns.append({"request_id": 3000 + i, "category_id": 3})
    for extra, status in ((4000, "blocked"), (4001, "content_filter"), (4002, "error")):
        requests_.append({"id": extra, "prompt_text": f"ticket {extra}: blocked one", "response_text": "billing",
                          "params_json": None, "status": status})
        assigns.append({"request_id": extra, "category_id": 1})
    for r in requests_:
        r["messages_json"] = json.dumps([{"role": "user", "content": r["prompt_text"]}])
    insert_arrow(con, "requests", pa.Table.from_pylist(requests_))
    insert_arrow(con, "request_categories", pa.Table.from_pylist(assigns))
    insert_arrow(con, "categories", pa.Table.from_pylist([
        {"category_id": 1, "name": "Ticket routing", "task_type": "classification", "spend_rank": 1, "is_other": False},
        {"category_id": 2, "name": "Invoice extraction", "task_type": "extraction", "spend_rank": 2, "is_other": False},
        {"category_id": 3, "name": "Autumn essays", "task_type": "open_ended", "spend_rank": 3, "is_other": False},
    ]))
    return truth


def _faulty_local_model(truth, wrong):
    from openai_stub import shuffled_words

    def answer(body):
        text = last_user_text(body)
        kind, number = text.split(" ", 1)[0], int(text.split(" ", 2)[1].rstrip(":"))
        if kind == "ticket":
            assert number < 1000, "a blocked request was replayed"
            return Reply(content=("refund" if truth[number] != "refund" else "billing") if number in wrong else truth[number].title())
        if kind == "invoice":
            return Reply(content=json.dumps({"vendor": "ACME Corp", "total": 10 + number + 0.5}))
        return Reply(content=shuffled_words(f"Autumn walks in the hills bring crisp air, red leaves and quiet paths, story {number}.", number))
    return answer


def test_faults_and_measurable_labels_end_to_end(con):
    from openai_stub import SERVER_REFUSALS

    from analyzer.replay import ReplaySettings, replay

    truth = _seed_workloads(con)
    wrong = set(random.Random(9).sample(range(40), 12))  # the local model gets 28 of 40 labels right: 0.70
    with OpenAIStub(_faulty_local_model(truth, wrong)) as stub:
        stub.refuse(SERVER_REFUSALS["llama.cpp json_schema"])
        stub.fail_next("rate_limit", retry_after=0)
        stub.fail_next("status", times=2, status=503)
        out = replay(con, ReplaySettings.resolve({}, endpoint=stub.url, model="stub-model", per_category=40, backoff=0.01,
                                                 timeout=5, concurrency=2), progress=False)
    assert out["excluded"]["blocked"] == 2 and out["excluded"]["errored"] == 1 and out["calls_failed"] == 0
    result = judged(con)
    labels_c, invoices, essays = by_id(result, 1), by_id(result, 2), by_id(result, 3)
    assert labels_c["n"] == 40 and abs(labels_c["acceptance"] - 0.70) <= 0.05 and labels_c["evidence"] == "objective"
    assert invoices["errors"]["calls"] == 0 and invoices["passed"] == invoices["n"] == 12
    assert "json_schema_match" in invoices["checks"] and invoices["checks"]["json_schema_match"]["passed"] == 12
    assert invoices["downgrades"] == {"response_format:json_schema->json_object": 12}
    assert essays["decision"] not in ("local", "cascade") and essays["decision"] == "needs_judge"


def test_answers_cut_at_the_output_token_cap_are_counted_where_acceptance_is_shown(con, db_path):
    from analyzer.replay import ReplaySettings, replay

    _seed_workloads(con)

    def answer(body):  # invoices 0-4 stop mid-object at the cap: their JSON cannot parse
        number = int(last_user_text(body).split(" ", 2)[1].rstrip(":"))
        if last_user_text(body).startswith("invoice") and number < 5:
            return Reply(content='{"vendor": "ACME Co', finish_reason="length")
        return Reply(content=json.dumps({"vendor": "ACME Corp", "total": 10 + number + 0.5}))

    with OpenAIStub(answer) as stub:
        replay(con, ReplaySettings.resolve({}, endpoint=stub.url, model="stub-model", per_category=12, backoff=0.01,
                                           timeout=5, categories=(2,)), progress=False)
    invoices = by_id(judged(con), 2)
    assert invoices["cut_short"] == 5 and invoices["passed"] == 7 and invoices["n"] == 12
    con.close()
    shown = CliRunner().invoke(cli, ["judge", "--db", db_path])
    assert shown.exit_code == 0, shown.output
    assert "5 of 12 answers stopped at the output-token cap" in shown.output and "--max-output-tokens" in shown.output


def test_an_undecided_category_is_not_moved_local_for_compliance_on_a_similarity_rate(con, monkeypatch):
    from analyzer import privacy

    def compliance_decision(con_, category):
        if category["acceptance"] is not None and category["acceptance"] >= 0.5:
            return "local-for-compliance", "sensitive, and acceptance at least moderate"
        return category["decision"], (category["decision_reason"] or "") + " Needs legal review."

    monkeypatch.setattr(privacy, "compliance_decision", compliance_decision, raising=False)
    seed(con, [{"category_id": 9, "name": "Contract Q&A", "task_type": "long_document_reasoning", "prompt": f"q{i}",
                "frontier": "Clause 4.2 caps liability.", "local": "Clause 4.2 caps liability."} for i in range(10)])
    c = by_id(judged(con, checks_override=[{"name": "max_length", "ratio": 2}]), 9)
    assert c["acceptance"] == 1.0 and c["decision"] == "needs_judge" and "legal review" in c["decision_reason"]
