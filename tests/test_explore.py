"""analyzer.explore, the notebooks' library: figures that add up to the database, redacted examples, the
vectors categorize clustered (read back exactly, read-only), a k sweep that finds the planted groups, two k
side by side, and savings what-ifs that move the way the inputs say. A bag-of-words embedder stands in for
MiniLM so no model loads."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from click.testing import CliRunner

from analyzer import explore
from analyzer.categorize import CategorizeSettings, categorize
from analyzer.cli import cli
from analyzer.cost import payback_curve
from analyzer.db import connect, insert_arrow, rows, scalar
from analyzer.embedders import register_embedder
from analyzer.errors import PlanError

TOPICS = {
    # topic: (model, cost per request, words that make the prompts)
    "flights": ("gpt-4o", 0.02, "book flight airport departure arrival seat boarding airline ticket layover"),
    "recipes": ("gpt-4o-mini", 0.002, "recipe cook oven flour sugar bake minutes dough butter simmer"),
    "invoices": ("claude-3-5-haiku", 0.005, "invoice vendor amount total due date payment tax currency line"),
}
SECRET_EMAIL = "jane.doe@example.org"


class BagOfWords:
    """Deterministic stand-in for a sentence embedder: each word a fixed random vector, a text their mean."""

    name = "test-bag-of-words"
    cacheable = True

    def _word(self, word: str) -> np.ndarray:
        seed = int(hashlib.md5(word.encode()).hexdigest()[:8], 16)
        return np.random.default_rng(seed).standard_normal(48)

    def encode(self, texts, progress=False):
        out = np.zeros((len(texts), 48), dtype=np.float32)
        for i, text in enumerate(texts):
            words = re.findall(r"[a-z]+", text.lower()) or ["empty"]
            v = np.mean([self._word(w) for w in words], axis=0)
            out[i] = v / np.linalg.norm(v)
        return out


def _requests() -> list[dict]:
    rng = np.random.default_rng(7)
    start = datetime(2026, 3, 1, 9)
    out, i = [], 1
    for topic, (model, cost, vocab) in TOPICS.items():
        words = vocab.split()
        for j in range(20):
            prompt = " ".join(rng.choice(words, 8)) + f" please {j}"
            if topic == "invoices" and j == 0:
                prompt += f" send it to {SECRET_EMAIL}"
            out.append({"id": i, "prompt_text": prompt, "response_text": f"answer about {topic}", "model": model,
                        "provider": "openai" if model.startswith("gpt") else "anthropic", "cost_usd": cost,
                        "input_tokens": 100, "output_tokens": 40, "source_format": "test",
                        "created_at": start + timedelta(hours=int(rng.integers(0, 24 * 12)))})
            i += 1
    return out


@pytest.fixture(scope="module")
def db_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("explore") / "plan.duckdb"
    con = connect(str(path))
    insert_arrow(con, "requests", pa.Table.from_pylist(_requests()))
    register_embedder(BagOfWords())
    categorize(con, CategorizeSettings(k=3, top=3, embedder=BagOfWords.name), progress=False)
    con.close()
    return path


@pytest.fixture(scope="module")
def ro(db_file):
    con = explore.connect_readonly(db_file)
    yield con
    con.close()


@pytest.fixture(scope="module")
def vectors(ro):
    return explore.prompt_vectors(ro)


def test_readonly_connection_refuses_writes_and_missing_file_says_what_to_do(ro, tmp_path):
    with pytest.raises(Exception, match="read-only"):
        ro.execute("delete from requests")
    with pytest.raises(PlanError, match="make demo"):
        explore.connect_readonly(tmp_path / "nothing.duckdb")


def test_overview_counts_what_the_store_holds(ro):
    o = explore.overview(ro)
    assert o["requests"] == 60 and o["models"] == 3
    assert o["spend_usd"] == pytest.approx(20 * (0.02 + 0.002 + 0.005))
    assert o["stages"] == {"ingest": True, "categorize": True, "replay": False, "judge": False, "privacy": False}
    assert o["k"] == 3 and o["embedder"] == BagOfWords.name


def test_spend_by_model_adds_up_and_ranks_by_spend(ro):
    df = explore.spend_by_model(ro)
    assert df["model"].to_list() == ["gpt-4o", "claude-3-5-haiku", "gpt-4o-mini"]
    assert df["requests"].to_list() == [20, 20, 20]
    assert df["spend_usd"].sum() == pytest.approx(scalar(ro, "select sum(cost_usd) from requests"))
    assert df["share_of_spend"].sum() == pytest.approx(1.0) and df["share_of_requests"].sum() == pytest.approx(1.0)
    assert df.filter(df["model"] == "gpt-4o")["usd_per_1k_requests"][0] == pytest.approx(20.0)


def test_spend_by_day_per_group_adds_up_to_the_total(ro):
    total = scalar(ro, "select sum(cost_usd) from requests")
    days = scalar(ro, "select count(distinct cast(created_at as date)) from requests")
    plain = explore.spend_by_day(ro)
    assert len(plain) == days and plain["spend_usd"].sum() == pytest.approx(total)
    for by in ("model", "provider", "source_format", "category"):
        df = explore.spend_by_day(ro, by=by)
        assert by in df.columns and df["spend_usd"].sum() == pytest.approx(total) and df["requests"].sum() == 60
    by_cat = explore.spend_by_day(ro, by="category").group_by("category").agg(explore_spend=pl.col("spend_usd").sum())
    stored = dict(rows(ro, "select name, spend_usd from categories where named"))
    assert {r["category"]: pytest.approx(r["explore_spend"]) for r in by_cat.iter_rows(named=True)} == stored
    with pytest.raises(PlanError, match="one of"):
        explore.spend_by_day(ro, by="colour")


def test_spend_by_category_is_the_stored_table_and_grows_with_later_stages(ro):
    df = explore.spend_by_category(ro)
    stored = dict(rows(ro, "select category_id, requests from categories where named"))
    assert dict(zip(df["category_id"].to_list(), df["requests"].to_list(), strict=True)) == stored
    assert df["spend_usd"].to_list() == sorted(df["spend_usd"].to_list(), reverse=True)
    assert "decision" not in df.columns  # judge has not run
    top = df.row(0, named=True)
    assert top["models"] == "gpt-4o"
    assert set(re.findall(r"[a-z]+", top["keywords"])) <= set(TOPICS["flights"][2].split())


def test_category_examples_are_redacted_unless_asked(ro):
    cid = scalar(ro, "select category_id from request_categories rc join requests r on r.id = rc.request_id "
                     "where r.prompt_text like '%example.org%'")
    n = scalar(ro, "select requests from categories where category_id = ?", [cid])
    shown = explore.category_examples(ro, cid, n=n)
    prompts = " ".join(shown["prompt"].to_list())
    assert SECRET_EMAIL not in prompts and "[EMAIL]" in prompts
    raw = explore.category_examples(ro, cid, n=n, redact=False)
    assert SECRET_EMAIL in " ".join(raw["prompt"].to_list())
    assert len(shown) == n and shown["request_id"].n_unique() == n
    assert shown["distance"].to_list() == sorted(shown["distance"].to_list())  # nearest the centre first
    drawn = explore.category_examples(ro, cid, n=5, order="random", seed=3)
    assert drawn["request_id"].to_list() == explore.category_examples(ro, cid, n=5, order="random", seed=3)["request_id"].to_list()
    assert explore.category_replays(ro, cid).is_empty()
    card = explore.category_card(ro, cid)
    assert card["category_id"] == cid and card["keywords"] and "acceptance" not in card
    with pytest.raises(PlanError, match="No category 999"):
        explore.category_card(ro, 999)


def test_prompt_vectors_are_the_cached_vectors_categorize_clustered(ro, vectors):
    distinct = scalar(ro, "select count(distinct prompt_text) from requests")
    assert len(vectors) == vectors.distinct_texts == distinct and vectors.encoded_now == 0
    assert vectors.embedder == BagOfWords.name
    # the representation is categorize's (lower-cased, digits masked): the vector is its embedding, exactly
    expected = BagOfWords().encode(vectors.frame["text"].to_list())
    assert np.allclose(vectors.vectors, expected, atol=1e-6)
    assert np.allclose(np.linalg.norm(vectors.vectors, axis=1), 1.0, atol=1e-5)
    # each text carries its stored category
    by_request = dict(rows(ro, "select request_id, category_id from request_categories"))
    for rid, cid in zip(vectors.frame["request_id"].to_list(), vectors.frame["category_id"].to_list(), strict=True):
        assert by_request[rid] == cid
    assert vectors.frame["requests"].sum() == 60
    assert "60 of 60" in vectors.describe()
    capped = explore.prompt_vectors(ro, max_texts=10)
    assert len(capped) == 10 and set(capped.frame["rep_hash"]) <= set(vectors.frame["rep_hash"])


def test_k_sweep_finds_the_planted_groups(vectors):
    sweep = explore.k_sweep(vectors, [2, 3, 4, 6], seed=0, top=3)
    assert sweep["k"].to_list() == [2, 3, 4, 6]
    assert sweep["auto"].sum() == 1
    at3 = sweep.filter(sweep["k"] == 3).row(0, named=True)
    assert explore.auto_k(sweep) == 3
    assert at3["silhouette"] == sweep["silhouette"].max()
    assert at3["stability"] == pytest.approx(1.0) and at3["ari_vs_stored"] == pytest.approx(1.0)
    assert at3["top_share_of_spend"] == pytest.approx(1.0) and at3["smallest_cluster"] == 20
    assert sweep.filter(sweep["k"] == 6)["ari_vs_stored"][0] < 1.0
    with pytest.raises(PlanError, match="between 2 and"):
        explore.k_sweep(vectors, [1, 3])


def test_compare_k_side_by_side(vectors):
    same = explore.compare_k(vectors, 3, 3, top=3)
    assert same.ari == pytest.approx(1.0)
    counts = same.crosstab.drop(same.crosstab.columns[0]).to_numpy()
    assert (counts == np.diag(np.diag(counts))).all() and counts.sum() == 60
    assert same.a["stored_overlap"].to_list() == [1.0, 1.0, 1.0]
    flights = set(TOPICS["flights"][2].split())
    assert set(re.findall(r"[a-z]+", same.a["name"][0].lower())) <= flights  # ranked by spend: flights cost most
    finer = explore.compare_k(vectors, 3, 6, top=4)
    assert len(finer.b) == 5 and finer.b["name"][-1] == "Other (2 clusters)"
    assert finer.b["requests"].sum() == 60 and finer.b["share_of_spend"].sum() == pytest.approx(1.0)
    cross = finer.crosstab.drop(finer.crosstab.columns[0]).to_numpy()
    assert cross.sum(axis=1).tolist() == finer.a["requests"].to_list()
    fig = explore.plot_crosstab(finer)
    assert fig.axes[0].get_xlabel() == "k = 6"


def test_projection_and_map(vectors):
    points = explore.project(vectors, "pca")
    assert len(points) == 60 and {"x", "y", "category"} <= set(points.columns)
    # planted groups stay apart in 2-D: each point is nearer its own group's centre than any other
    xy = points.select("x", "y").to_numpy()
    groups = points["category_id"].to_numpy()
    centres = {g: xy[groups == g].mean(axis=0) for g in set(groups)}
    nearest = [min(centres, key=lambda g: np.linalg.norm(p - centres[g])) for p in xy]
    assert np.mean(np.array(nearest) == groups) >= 0.95
    fig = explore.plot_map(points)
    assert len(fig.axes[0].get_legend().get_texts()) == 3
    assert len(explore.project(vectors, "pca", max_points=20)) == 20
    with pytest.raises(PlanError, match="method"):
        explore.project(vectors, "mds")


def _judged_copy(db_file, tmp_path):
    """The store plus a judged category (19 of 20 accepted) so decisions depend on the target."""
    import shutil

    from analyzer.stats import wilson_interval

    path = tmp_path / "judged.duckdb"
    shutil.copy(db_file, path)
    con = connect(str(path))
    cid, name = rows(con, "select category_id, name from categories where named order by spend_usd desc limit 1")[0]
    low, high = wilson_interval(19, 20)
    con.execute("insert into category_acceptance (category_id, name, n, passed, acceptance, ci_low, ci_high, decision, "
                "caught_failures, thresholds_json) values (?, ?, 20, 19, 0.95, ?, ?, 'local', 0, ?)",
                [cid, name, low, high, json.dumps({"target": 0.7})])
    con.close()
    return path, low


def test_what_if_moves_the_way_the_inputs_say(db_file, tmp_path):
    path, low = _judged_copy(db_file, tmp_path)
    con = explore.connect_readonly(path)
    try:
        grid = explore.what_if(con, hardware="desktop-24gb", electricity_usd_per_kwh=[0.1, 0.4],
                               frontier_price_factor=[1.0, 0.5], target=[0.7, 0.9])
        assert len(grid) == 8
        at = {(r["electricity_usd_per_kwh"], r["frontier_price_factor"], r["target"]): r for r in grid.iter_rows(named=True)}
        # the category's lower bound clears 0.7 but not 0.9: local at one target, not at the other
        assert at[(0.1, 1.0, 0.7)]["local"] == 1 and at[(0.1, 1.0, 0.9)]["local"] == 0
        assert at[(0.1, 1.0, 0.9)]["route_categories_moved"] == 0
        assert low < 0.9
        # dearer electricity and cheaper frontier prices both cut the savings
        assert at[(0.4, 1.0, 0.7)]["route_monthly_savings_usd"] < at[(0.1, 1.0, 0.7)]["route_monthly_savings_usd"]
        assert at[(0.1, 0.5, 0.7)]["ceiling_monthly_savings_usd"] < at[(0.1, 1.0, 0.7)]["ceiling_monthly_savings_usd"]
        assert at[(0.1, 0.5, 0.7)]["monthly_spend_usd"] == pytest.approx(at[(0.1, 1.0, 0.7)]["monthly_spend_usd"] / 2)
        everywhere = explore.what_if(con, config={"hardware": {"office-box": {"price_usd": 900, "load_watts": 300,
                                                                              "output_tokens_per_s": 90}}})
        assert "office-box" in everywhere["hardware"].to_list() and len(everywhere) == 6
    finally:
        con.close()


def test_payback_curves_follow_the_cost_module(ro):
    from analyzer.cost import cost_model

    payload = cost_model(ro)
    curves = explore.payback_curves(payload, scenario="ceiling")
    for hw in payload["hardware"]:
        part = curves.filter(curves["hardware"] == hw["name"])
        sc = hw["scenarios"]["ceiling"]
        if hw["max_boxes"] is not None and sc["boxes_needed"] > hw["max_boxes"]:
            assert part.is_empty()
            continue
        expected = payback_curve(sc["boxes_needed"] * hw["price_usd"], sc["monthly_savings_usd"], hw["useful_life_months"])
        assert part["net_usd"].to_list() == pytest.approx([p["net_usd"] for p in expected])
        assert part["month"].to_list() == list(range(37))
    assert explore.plot_payback(curves).axes[0].get_ylabel().startswith("cumulative")
    assert set(explore.hardware_table(payload)["name"]) == {h["name"] for h in payload["hardware"]}
    assert explore.cost_categories(payload)["decision"].to_list() == [c["decision"] for c in payload["categories"]]
    with pytest.raises(PlanError, match="scenario"):
        explore.payback_curves(payload, scenario="maybe")


def test_plan_notebook_says_where_the_notebooks_are_and_how_to_open_them(db_file, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["notebook", "--db", str(db_file), "--json"])
    assert result.exit_code == 0, result.output
    guide = json.loads(result.output)
    assert [n["name"] for n in guide["notebooks"]] == list(explore.NOTEBOOKS)
    assert guide["db"] == str(db_file.resolve()) and guide["db_exists"]
    assert any(f"PLAN_DB={db_file.resolve()}" in c and "jupyter" in c for c in guide["open_commands"])
    text = runner.invoke(cli, ["notebook", "--db", str(db_file)])
    assert text.exit_code == 0 and "01_explore_workload.ipynb" in text.output and "plan notebook --run" in text.output
    missing = runner.invoke(cli, ["notebook", "--run", "--db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code != 0 and "No database" in missing.output
    unknown = runner.invoke(cli, ["notebook", "--run", "--db", str(db_file), "07"])
    assert unknown.exit_code != 0 and "No notebook matches '07'" in unknown.output
