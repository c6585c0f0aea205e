"""plan route: exported routes (semantic-router 0.x and 1.x, LiteLLM, plan's json) carry every decided
category with redacted utterances, a target from its decision and a held-out threshold; new prompts are
classified with categorize's own centres. One real MiniLM run on a small in-repo workload (four apps, one
with planted secrets) is shared by the module."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml
from click.testing import CliRunner

from analyzer.categorize import CategorizeSettings
from analyzer.categorize import categorize as run_categorize
from analyzer.cli import cli
from analyzer.db import connect, dicts, insert_arrow, rows, scalar
from analyzer.errors import PlanError
from analyzer.route import RouteSettings, classify, export_routes
from analyzer.route import calibrate as cal
from analyzer.route import formats
from analyzer.route.inputs import parse_request
from analyzer.route.state import load_state

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures.route import workloads as w  # noqa: E402

LOCAL_ENDPOINT = "http://127.0.0.1:11434/v1"
LOCAL_MODEL = "qwen3.6:35b-a3b"
DECISIONS = {"triage": "local", "sql": "cascade", "recipes": "needs_judge"}  # review: not judged


def _category_of_app(con) -> dict[str, int]:
    got = rows(con, """select json_extract_string(r.tags_json, '$.app') as app, rc.category_id, count(*) as n
                       from requests r join request_categories rc on rc.request_id = r.id group by 1, 2""")
    best: dict[str, tuple[int, int]] = {}
    for app, cid, n in got:
        if n > best.get(app, (0, -1))[1]:
            best[app] = (cid, n)
    return {app: cid for app, (cid, _) in best.items()}


def _judge(con, apps: dict[str, int]) -> None:
    """Decisions as judge and replay leave them: rows in category_acceptance, replays, judgments."""
    for app, decision in DECISIONS.items():
        cid = apps[app]
        con.execute("insert into category_acceptance (category_id, name, model, n, passed, acceptance, ci_low, "
                    "ci_high, decision, decision_reason, evidence) values (?, ?, ?, 30, 28, 0.93, 0.8, 0.98, ?, ?, ?)",
                    [cid, app, LOCAL_MODEL, decision, f"{app} reason", "objective"])
        request = scalar(con, "select min(request_id) from request_categories where category_id = ?", [cid])
        con.execute("insert into replays (id, request_id, category_id, model, endpoint, output_text) "
                    "values (?, ?, ?, ?, ?, 'x')", [cid * 1000, request, cid, LOCAL_MODEL, LOCAL_ENDPOINT])
    con.execute("insert into judgments (replay_id, request_id, category_id, model, check_name, passed, source, "
                "runtime_check) values (?, 1, ?, ?, 'sql_parses', false, 'auto', true)",
                [apps["sql"] * 1000, apps["sql"], LOCAL_MODEL])


@pytest.fixture(scope="module")
def routed(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("route") / "plan.duckdb")
    con = connect(path)
    insert_arrow(con, "requests", pa.Table.from_pylist(w.records()))
    run_categorize(con, CategorizeSettings.resolve({}, k=4, top=4), progress=False)
    apps = _category_of_app(con)
    _judge(con, apps)
    out = tmp_path_factory.mktemp("exports")
    settings = RouteSettings.resolve({}, utterances=8)
    summaries = {fmt: export_routes(con, settings, fmt=fmt, out=out / name, progress=False)
                 for fmt, name in (("semantic-router", "routes.json"), ("semantic-router-v1", "routes-v1.json"),
                                   ("litellm", "config.yaml"), ("json", "plan-routes.json"))}
    yield {"con": con, "path": path, "apps": apps, "out": out, "summaries": summaries, "settings": settings}
    con.close()


def test_categorize_stores_the_centres_it_assigned_by(routed):
    con = routed["con"]
    state = load_state(con)
    assert len(state.centres) == 4 and state.embedder == "all-MiniLM-L6-v2"
    assert np.allclose(np.linalg.norm(state.centres, axis=1), 1.0, atol=1e-4)
    # Every stored cluster folds into the category request_categories gives its requests.
    stored = dict(rows(con, "select distinct cluster, category_id from request_categories"))
    assert {c: int(state.cluster_category[c]) for c in stored} == stored
    # A template kept whole names the cluster its requests are really in.
    for tid, cluster in state.template_cluster.items():
        got = {c for (c,) in rows(con, "select distinct cluster from request_categories where template_id = ?", [tid])}
        assert got == {cluster}


def test_route_represents_requests_exactly_as_categorize_did(routed):
    con = routed["con"]
    lab = cal.labelled_texts(con)
    assert len(lab) == 64
    cached = {h for (h,) in rows(con, "select content_hash from embeddings")}
    assert set(lab.text_hashes) <= cached  # the same text, so categorize's own vectors


def test_every_decided_category_is_a_route_with_its_target(routed):
    doc = json.loads((routed["out"] / "plan-routes.json").read_text())
    apps = routed["apps"]
    by_id = {r["category_id"]: r for r in doc["routes"]}
    assert set(by_id) == set(apps.values())
    triage, sql, recipes, review = (by_id[apps[a]] for a in ("triage", "sql", "recipes", "review"))
    assert triage["decision"] == "local"
    assert triage["target"] == {"kind": "local", "model": LOCAL_MODEL, "endpoint": LOCAL_ENDPOINT, "note": None}
    assert sql["decision"] == "cascade" and sql["target"]["kind"] == "cascade"
    assert sql["target"]["fallback"] == {"model": "gpt-5.4", "provider": "openai"}
    assert sql["target"]["runtime_checks"] == ["sql_parses"]
    # Undecided categories stay on the frontier model the logs show for them, their decision stated.
    assert recipes["decision"] == "needs_judge"
    assert recipes["target"] == {"kind": "frontier", "model": "claude-sonnet-4-6", "provider": "anthropic"}
    assert review["decision"] == "not_measured" and review["target"]["model"] == "claude-sonnet-4-6"
    assert "frontier" in review["decision_reason"]
    assert doc["default"]["model"] in {"gpt-5.4-mini", "gpt-5.4", "claude-sonnet-4-6"}
    for r in doc["routes"]:
        assert 0 < r["utterance_score_threshold"] < 1
        assert 0 < r["score_threshold"]["request"] <= 1 and 0 < r["score_threshold"]["prompt"] <= 1
        kinds = {u["kind"] for u in r["utterances"]}
        assert len(r["utterances"]) >= 4 and kinds <= {"central", "boundary"} and "central" in kinds
        texts = [u["text"].lower() for u in r["utterances"]]
        assert len(texts) == len(set(texts))


def test_held_out_prompts_are_not_utterances_and_the_shares_are_stated(routed):
    con, doc = routed["con"], json.loads((routed["out"] / "plan-routes.json").read_text())
    lab = cal.labelled_texts(con)
    state = load_state(con)
    sp = cal.split(lab, state.cluster_category, share=0.2, cap=120, seed=0)
    assert sp.held.sum() >= 4 and not (sp.held & sp.centre).any()
    held_turns = {" ".join(t.split()).lower()[:cal.UTTERANCE_CHARS] for t in cal.user_turns(con, lab.request_ids[sp.held])}
    utterances = {u["text"].lower() for r in doc["routes"] for u in r["utterances"]}
    assert not held_turns & utterances
    c = doc["calibration"]
    assert c["held_out_prompts"] == int(sp.held.sum()) and c["fit_prompts"] == int(sp.centre.sum())
    for o in (c["centroid"]["outcome"]["logged"], c["centroid"]["outcome"]["bare"], c["utterance"]["outcome"]):
        assert o["own_category"] + o["fell_through"] + o["elsewhere"] <= o["held_out"]
        assert o["own_category_share"] >= 0.75
    summary = routed["summaries"]["json"]
    assert {k: v for k, v in summary["held_out"]["utterance"].items() if k != "by_category"} == {
        k: v for k, v in c["utterance"]["outcome"].items() if k != "by_category"}


def test_no_secret_reaches_any_exported_file(routed):
    files = list(routed["out"].iterdir())
    assert len(files) == 4  # one file per format
    for f in files:
        text = f.read_text()
        for secret in w.SECRETS + ["hunter2", "AKIAQ3EGRX7Z", "dana.okafor"]:
            assert secret not in text, (f.name, secret)
    doc = json.loads((routed["out"] / "plan-routes.json").read_text())
    review = next(r for r in doc["routes"] if r["category_id"] == routed["apps"]["review"])
    assert any("[" in u["text"] for u in review["utterances"])  # redacted, not dropped


def _validate_semantic_router_0x(doc: dict) -> None:
    """semantic-router 0.x RouterConfig.from_file: encoder_type and encoder_name, routes of Route fields with
    name and utterances required (routers/base.py is_valid, route.py Route)."""
    assert set(doc) == {"encoder_type", "encoder_name", "routes"}
    assert doc["encoder_type"] == "huggingface" and doc["encoder_name"] == formats.HF_MINILM
    for route in doc["routes"]:
        assert set(route) <= {"name", "utterances", "description", "function_schemas", "llm", "score_threshold",
                              "metadata"}
        assert isinstance(route["name"], str) and route["utterances"] and all(isinstance(u, str) for u in route["utterances"])
        assert route["llm"] is None and route["function_schemas"] is None
        assert isinstance(route["score_threshold"], float) and isinstance(route["metadata"], dict)
        json.dumps(route["metadata"])


def test_semantic_router_files_follow_the_documented_schemas(routed):
    doc = json.loads((routed["out"] / "routes.json").read_text())
    _validate_semantic_router_0x(doc)
    assert len(doc["routes"]) == 4
    v1 = json.loads((routed["out"] / "routes-v1.json").read_text())
    assert v1["router_type"] == "indexed" and v1["encoder"] == {"type": "huggingface", "name": formats.HF_MINILM}
    assert set(v1) <= {"router_type", "encoder", "sparse_encoder", "alpha", "top_k", "aggregation", "index",
                       "confidence_threshold", "calibrator", "refresh_interval", "routes"}  # extra="forbid"
    assert [r["name"] for r in v1["routes"]] == [r["name"] for r in doc["routes"]]
    assert all("confidence_threshold" in r and "score_threshold" not in r for r in v1["routes"])


def test_litellm_config_is_the_documented_proxy_shape(routed):
    text = (routed["out"] / "config.yaml").read_text()
    assert formats.LITELLM_DOCS in text
    config = yaml.safe_load(text)
    models = {m["model_name"]: m for m in config["model_list"]}
    router = models[formats.ROUTER_NAME]["litellm_params"]
    assert router["model"] == f"auto_router/{formats.ROUTER_NAME}" and "auto_router_config_path" not in router
    # The routes inline, as LiteLLM's auto router reads them (name, description, utterances, score_threshold).
    assert "auto_router_config: |" in text  # a reviewable block, not one long quoted line
    routes = json.loads(router["auto_router_config"])["routes"]
    plan_doc = json.loads((routed["out"] / "plan-routes.json").read_text())
    assert [r["name"] for r in routes] == [r["name"] for r in plan_doc["routes"]]
    for r, mine in zip(routes, plan_doc["routes"], strict=True):
        assert set(r) == {"name", "description", "utterances", "score_threshold"}
        assert r["utterances"] == [u["text"] for u in mine["utterances"]]
        assert r["score_threshold"] == mine["utterance_score_threshold"]
        assert r["name"] in models  # LiteLLM: a route's name is the model_name it sends to
    assert router["auto_router_default_model"] in models
    assert models[router["auto_router_embedding_model"]]["model_info"] == {"mode": "embedding"}
    triage = next(r for r in plan_doc["routes"] if r["decision"] == "local")
    assert models[triage["name"]]["litellm_params"] == {"model": f"openai/{LOCAL_MODEL}", "api_base": LOCAL_ENDPOINT,
                                                        "api_key": formats.NO_KEY}
    assert models["gpt-5.4"]["litellm_params"] == {"model": "openai/gpt-5.4", "api_key": "os.environ/OPENAI_API_KEY"}
    assert models["claude-sonnet-4-6"]["litellm_params"]["model"] == "anthropic/claude-sonnet-4-6"
    fallbacks = {k: v for f in config["router_settings"]["fallbacks"] for k, v in f.items()}
    sql = next(r for r in plan_doc["routes"] if r["decision"] == "cascade")
    assert fallbacks[sql["name"]] == ["gpt-5.4"] and fallbacks[triage["name"]] == ["gpt-5.4-mini"]
    assert "sql_parses" in text  # the cascade's runtime check, named for whoever wires the guardrail
    held = plan_doc["calibration"]["utterance"]["outcome"]
    assert f"# Held out from the fit: {held['own_category_share']:.1%} of {held['held_out']} prompts land" in text


def test_local_for_compliance_routes_never_fall_back_to_a_frontier_api(routed):
    doc = json.loads((routed["out"] / "plan-routes.json").read_text())
    compliance = {**doc["routes"][0], "decision": "local-for-compliance",
                  "target": {"kind": "local", "model": LOCAL_MODEL, "endpoint": LOCAL_ENDPOINT, "note": None}}
    config = formats.litellm_config({**doc, "routes": [compliance, *doc["routes"][1:]]}, routed["settings"])
    fallbacks = {k for f in config["router_settings"]["fallbacks"] for k in f}
    assert compliance["name"] not in fallbacks
    assert next(m for m in config["model_list"] if m["model_name"] == compliance["name"])["litellm_params"][
        "api_base"] == LOCAL_ENDPOINT


def test_new_prompts_land_in_their_category_and_strangers_in_the_default(routed):
    con, apps, settings = routed["con"], routed["apps"], routed["settings"]
    new = w.new_prompts()
    prompts = [(None, p) for app in new for p in new[app]]
    prompts += [(w.TRIAGE_SYSTEM, new["triage"][0]), (None, "Explain the offside rule in football to a child.")]
    results = classify(con, settings, prompts)
    expected = [apps[app] for app in new for _ in new[app]] + [apps["triage"], None]
    assert [r["category_id"] for r in results] == expected
    assert results[-2]["mode"] == "request" and results[0]["mode"] == "prompt"
    assert results[0]["decision"] == "local" and results[0]["target"]["endpoint"] == LOCAL_ENDPOINT
    stranger = results[-1]
    assert not stranger["routed"] and stranger["target"]["kind"] == "default"
    assert stranger["score"] < stranger["threshold"]


def test_classify_reuses_the_stored_calibration(routed):
    con, settings = routed["con"], routed["settings"]
    before = scalar(con, "select count(*) from stage_runs where stage = 'route'")
    classify(con, settings, [(None, "How long should I bake banana bread?")])
    assert scalar(con, "select count(*) from stage_runs where stage = 'route'") == before


def test_cli_classifies_text_stdin_and_jsonl_and_exports(routed, tmp_path):
    runner = CliRunner()
    db = routed["path"]
    routed["con"].execute("checkpoint")
    got = runner.invoke(cli, ["route", "How do I make a vegan version of banana bread?", "--db", db, "--json"])
    assert got.exit_code == 0, got.output
    line = json.loads(got.stdout)
    assert {"input", "mode", "routed", "category_id", "category", "decision", "target", "score", "threshold",
            "nearest_category_id", "nearest_category", "reason"} <= set(line)
    assert line["category_id"] == routed["apps"]["recipes"] and line["decision"] == "needs_judge"
    stdin = "Explain the offside rule in football to a child.\nWrite a query for total revenue per month for EMEA.\n"
    got = runner.invoke(cli, ["route", "-", "--db", db], input=stdin)
    assert got.exit_code == 0, got.output
    assert got.stdout.splitlines()[0].startswith("[1] no category (default route)")
    assert "[2] " in got.stdout and "cascade" in got.stdout
    body = json.dumps({"model": "gpt-5.4-mini", "messages": [{"role": "system", "content": w.TRIAGE_SYSTEM},
                                                             {"role": "user", "content": w.new_prompts()["triage"][1]}]})
    got = runner.invoke(cli, ["route", "-", "--jsonl", "--json", "--db", db], input=body + "\nnot json\n")
    assert got.exit_code == 1
    first = json.loads(got.stdout.splitlines()[0])
    assert first["mode"] == "request" and first["category_id"] == routed["apps"]["triage"]
    assert "line 2" in got.stderr
    out = tmp_path / "r.json"
    got = runner.invoke(cli, ["route", "export", "--format", "semantic-router", "--out", str(out), "--db", db,
                              "--json"])
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout)["files"] == [str(out)] and json.loads(out.read_text())["routes"]
    assert "export" in runner.invoke(cli, ["route", "--help"]).output


def test_route_says_what_to_do_without_centres(con):
    insert_arrow(con, "requests", pa.Table.from_pylist(w.records(2)))
    with pytest.raises(PlanError, match="plan categorize"):
        load_state(con)
    con.execute("insert into categories (category_id, name, named, is_other) values (1, 'x', true, false)")
    with pytest.raises(PlanError, match="categorize` again"):
        load_state(con)


@pytest.mark.parametrize("line, expected", [
    ('{"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]}', ("S", "U")),
    ('{"system": "S", "messages": [{"role": "user", "content": [{"type": "text", "text": "U"}]}]}', ("S", "U")),
    ('{"request": {"model": "m", "messages": [{"role": "user", "content": "U"}]}, "response": {}}', (None, "U")),
    ('{"custom_id": "1", "body": {"messages": [{"role": "user", "content": "U"}]}}', (None, "U")),
    ('{"prompt": "U", "system": "S"}', ("S", "U")),
])
def test_request_lines_in_the_shapes_ingest_reads(line, expected):
    assert parse_request(line) == expected


@pytest.mark.parametrize("line", ["[1, 2]", "{\"messages\": []}", "{\"text\": 1}", "{oops"])
def test_bad_request_lines_say_why(line):
    with pytest.raises(PlanError):
        parse_request(line)


def test_threshold_keeps_the_recall_and_rises_for_precision_within_the_floor():
    rng = np.random.default_rng(0)
    scores = np.sort(rng.uniform(0.3, 0.9, 200))[::-1]
    correct = np.ones(200, dtype=bool)
    t = cal.threshold_for(scores, correct, recall=0.95, precision=0.9)
    assert (scores >= t).mean() >= 0.95
    # Wrong placements that score low: the threshold rises above them (precision), within the recall floor.
    correct[-15:] = False
    t = cal.threshold_for(scores, correct, recall=0.99, precision=0.95)
    assert correct[scores >= t].mean() >= 0.95 and (scores[correct] >= t).mean() >= cal.RECALL_FLOOR
    # Mix-ups among the best scores cannot be thresholded away: the floor keeps 90% of the right ones.
    correct = np.ones(200, dtype=bool)
    correct[::3] = False
    t = cal.threshold_for(scores, correct, recall=0.99, precision=0.95)
    assert (scores[correct] >= t).mean() >= cal.RECALL_FLOOR - 0.01


def test_utterance_scoring_is_semantic_routers():
    # Two routes; the query's five nearest utterances: three of route 0, two of route 1.
    q = np.array([[1.0, 0.0]])
    angles = [0.1, 0.2, 0.3, 0.15, 0.25, 1.4]
    u = np.array([[np.cos(a), np.sin(a)] for a in angles])
    owner = np.array([0, 0, 0, 1, 1, 1])
    scores = cal.utterance_scores(q, u, owner, 2, top_k=5)
    assert scores[0, 0] == pytest.approx(np.mean(np.cos([0.1, 0.2, 0.3])))
    assert scores[0, 1] == pytest.approx(np.mean(np.cos([0.15, 0.25])))
    # The first route by score that clears its own threshold wins; none: -1 (the default route).
    assert scores[0, 1] > scores[0, 0]  # the mean, not the count, ranks them
    assert cal.choose_routes(scores, np.array([0.5, 0.5]))[0][0] == 1
    assert cal.choose_routes(scores, np.array([0.5, 0.999]))[0][0] == 0
    assert cal.choose_routes(scores, np.array([0.999, 0.999]))[0][0] == -1


def _hf_cache_with_minilm(root: Path) -> Path:
    """A Hugging Face cache holding the bundled MiniLM under its hub name, so a router loads it offline."""
    from analyzer.embedders import minilm_path

    repo = root / "hub" / "models--sentence-transformers--all-MiniLM-L6-v2"
    (repo / "snapshots").mkdir(parents=True)
    (repo / "snapshots" / "local").symlink_to(minilm_path(), target_is_directory=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("local")
    return root


ROUTERS_EXTRA = "pip install -e '.[routers]'"


def _router_library(module: str, why: str):
    """The router library, installed by the `routers` extra. Without it a developer's run skips with what to
    install, but CI (which installs the extra) fails: a skip there would hide a regression."""
    try:
        return __import__(module)
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is missing in CI: the Makefile installs the routers extra ({why})")
        pytest.skip(f"{ROUTERS_EXTRA} to {why}")


def _queries() -> tuple[list[str], list[str]]:
    """New prompts of every app (none of them logged), then one no category should claim."""
    new = w.new_prompts()
    return [p for app in new for p in new[app]] + [STRANGER], [app for app in new for _ in new[app]] + [None]


STRANGER = "Explain the offside rule in football to a child."


def _plan_routes(routes: list[dict], queries: list[str], threshold_key: str) -> list[str | None]:
    """Where plan's replica of semantic-router's scoring (top 5 utterances, mean per route, first route by
    score over its own threshold) sends each query."""
    from analyzer.embedders import get_embedder

    emb = get_embedder("all-MiniLM-L6-v2")
    utts = [u for r in routes for u in r["utterances"]]
    owner = np.array([i for i, r in enumerate(routes) for _ in r["utterances"]])
    scores = cal.utterance_scores(emb.encode(queries), emb.encode(utts), owner, len(routes))
    chosen, _ = cal.choose_routes(scores, np.array([r[threshold_key] for r in routes]))
    return [routes[c]["name"] if c >= 0 else None for c in chosen]


def _assert_routed_home(routed, got: list[str | None], apps: list[str | None]) -> None:
    """Each new prompt lands in the route of the category its app's requests are in; the stranger in none."""
    doc = json.loads((routed["out"] / "plan-routes.json").read_text())
    names = {r["category_id"]: r["name"] for r in doc["routes"]}
    home = [names[routed["apps"][app]] if app else None for app in apps]
    assert sum(g == h for g, h in zip(got, home, strict=True)) >= len(home) - 1, list(zip(got, home, strict=True))
    assert got[-1] is None


@pytest.mark.slow
def test_semantic_router_loads_the_export_and_routes_like_plan(routed, tmp_path, monkeypatch):
    """semantic-router 0.x (the version LiteLLM's auto router runs on) loads the route-layer JSON with its own
    loader, builds its Hugging Face encoder offline, and routes new prompts where plan's replica does."""
    semantic_router = _router_library("semantic_router", "load the semantic-router export in semantic-router")
    if hasattr(semantic_router, "load_router"):
        pytest.skip("semantic-router 1.x is installed: the v1 test loads its file")
    from semantic_router.routers import SemanticRouter

    import huggingface_hub

    # transformers reads the cache from huggingface_hub's constants, fixed when it was imported.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(_hf_cache_with_minilm(tmp_path) / "hub"))
    path = routed["out"] / "routes.json"
    router = SemanticRouter.from_json(str(path))
    router.sync("local")  # from_json leaves the local index empty (README: "Routing")
    assert router.encoder.name == formats.HF_MINILM
    doc = json.loads(path.read_text())
    queries, apps = _queries()
    got = [router(q).name for q in queries]
    assert got == _plan_routes(doc["routes"], queries, "score_threshold")
    _assert_routed_home(routed, got, apps)


V1_SCRIPT = """
import json, sys
import semantic_router
assert semantic_router.__version__.split(".")[0] == "1", semantic_router.__version__
router = semantic_router.load_router(sys.argv[1])
print(json.dumps([router(q).name for q in json.loads(sys.stdin.read())]))
"""


def _semantic_router_v1_path() -> Path | None:
    """Where the Makefile puts semantic-router 1.x (beside 0.x, which LiteLLM pins): it cannot share an
    environment with 0.x, so it is imported from its own directory in a child process."""
    side = Path(sys.prefix) / "semantic-router-v1"
    return side if (side / "semantic_router").is_dir() else None


@pytest.mark.slow
def test_semantic_router_v1_loads_its_export_and_routes_like_plan(routed, tmp_path):
    """semantic-router 1.x's load_router reads the v1 file (its pydantic config forbids unknown keys) and
    routes new prompts where plan's replica does."""
    side = _semantic_router_v1_path()
    if side is None:
        if os.environ.get("CI"):
            pytest.fail("semantic-router 1.x is missing in CI: the Makefile installs it beside the routers extra")
        pytest.skip("pip install --no-deps --target $VENV/semantic-router-v1 'semantic-router>=1.1,<2'")
    path = routed["out"] / "routes-v1.json"
    queries, apps = _queries()
    env = {**os.environ, "PYTHONPATH": str(side), "HF_HOME": str(_hf_cache_with_minilm(tmp_path)),
           "HF_HUB_OFFLINE": "1"}
    import subprocess

    done = subprocess.run([sys.executable, "-c", V1_SCRIPT, str(path)], input=json.dumps(queries), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    doc = json.loads(path.read_text())
    assert got == _plan_routes(doc["routes"], queries, "confidence_threshold")
    _assert_routed_home(routed, got, apps)


class _Connections:
    """Every address a test's code connects to or looks up (an audit hook cannot be removed, so it only records
    while ``on``)."""

    on = False
    seen: list[str] = []

    @classmethod
    def hook(cls, event: str, args) -> None:
        if cls.on and event in ("socket.connect", "socket.getaddrinfo"):
            address = args[1] if event == "socket.connect" else args
            cls.seen.append(str(address[0]) if isinstance(address, tuple) else str(address))


sys.addaudithook(_Connections.hook)


@pytest.mark.slow
def test_litellm_routes_with_the_exported_config(routed, tmp_path, monkeypatch):
    """LiteLLM's Router takes the exported model_list and router_settings as they are, its auto router reads the
    inline routes and embeds each prompt at the exported embedding endpoint (a loopback server serving MiniLM):
    new prompts reach the deployments plan's replica picks, a local route's call reaches the local endpoint
    with the local model, and nothing connects beyond loopback."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # its price map from the package, not the web
    _router_library("litellm", "load the litellm export in LiteLLM's Router")
    _router_library("semantic_router", "run LiteLLM's semantic auto router")
    from fixtures.route.embedding_server import EmbeddingStub
    from litellm import Router

    from analyzer.embedders import get_embedder

    with EmbeddingStub(get_embedder("all-MiniLM-L6-v2"), models=None) as server:
        settings = RouteSettings.resolve({}, utterances=8, endpoint=server.url, embedding_endpoint=server.url)
        out = tmp_path / "config.yaml"
        export_routes(routed["con"], settings, fmt="litellm", out=out, progress=False)
        config = yaml.safe_load(out.read_text())
        _Connections.on, _Connections.seen = True, []
        try:
            got, reply = _route_with_litellm(Router(model_list=config["model_list"], **config["router_settings"]))
        finally:
            _Connections.on = False
        queries, apps = _queries()
        assert server.embedded[-len(queries):] == queries or set(queries) <= set(server.embedded)
        assert [r["model"] for r in server.requests] == [LOCAL_MODEL]  # the one call not mocked
    assert reply.choices[0].message.content
    assert set(_Connections.seen) <= {"127.0.0.1", "localhost", "::1"}, _Connections.seen
    params = next(m for m in config["model_list"] if m["model_name"] == formats.ROUTER_NAME)["litellm_params"]
    routes = json.loads(params["auto_router_config"])["routes"]
    expected = _plan_routes(routes, queries, "score_threshold")
    assert got == [e or params["auto_router_default_model"] for e in expected]
    _assert_routed_home(routed, [g if g in {r["name"] for r in routes} else None for g in got], apps)


def _route_with_litellm(router) -> tuple[list[str], object]:
    """The deployment (model_name) LiteLLM's auto router sends each query to, frontier calls mocked; then one
    real call of a query it routes to the local model."""
    import asyncio

    queries, _ = _queries()

    async def run():
        names = []
        for q in queries:
            reply = await router.acompletion(model=formats.ROUTER_NAME, mock_response="mocked",
                                             messages=[{"role": "user", "content": q}])
            names.append(router.registry().deployment(reply._hidden_params["model_id"]).model_name)
        triage = w.new_prompts()["triage"][0]
        return names, await router.acompletion(model=formats.ROUTER_NAME,
                                               messages=[{"role": "user", "content": triage}])

    return asyncio.run(run())


def test_routing_accuracy_on_clinc150_held_out(eval_dir, tmp_path):
    """CLINC150 intents of one domain as a single app: route-vs-categorize agreement on held-out requests."""
    data = json.loads((eval_dir / "clinc150" / "data_full.json").read_text())
    labelled = data.get("train") or data["test"] + data["val"]  # the in-repo stand-in has no train split
    intents = ["translate", "book_flight", "recipe", "weather", "calories", "pay_bill"]
    texts = [t for it in intents for t in [t for t, i in labelled if i == it][:40]]
    assert len(texts) == 240
    recs = [{"id": i + 1, "prompt_text": t, "model": "gpt-4o", "provider": "openai", "cost_usd": 0.001}
            for i, t in enumerate(texts)]
    con = connect(str(tmp_path / "c.duckdb"))
    insert_arrow(con, "requests", pa.Table.from_pylist(recs))
    run_categorize(con, CategorizeSettings.resolve({}, k=6, top=6), progress=False)
    summary = export_routes(con, RouteSettings.resolve({}), fmt="json", out=tmp_path / "r.json", progress=False)
    assert summary["held_out"]["bare"]["own_category_share"] >= 0.85
    con.close()


def test_plan_help_lists_route():
    got = CliRunner().invoke(cli, ["--help"])
    assert "route" in got.output
    assert re.search(r"plan route export", CliRunner().invoke(cli, ["route", "export", "--help"]).output)
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert dicts is not None
