"""plan categorize on real prompts (CLINC150 utterances) inserted as requests: the clusters recover obvious
groups, --k is obeyed, Other folds the rest with totals that add up, templates are detected, the embedding
cache is hit on a second run, and the CLI prints the --json contract."""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from analyzer import task_types as tt
from analyzer.categorize import OTHER_ID, CategorizeSettings, choose_k, k_grid, shared_prefix
from analyzer.categorize import categorize as run_categorize
from analyzer.db import connect, dicts, insert_arrow, rows, scalar
from analyzer.errors import PlanError
from conftest import EVAL_SOURCES, eval_source

INTENTS = {
    # intent: (cost per request, response)
    "translate": (0.004, "Sure, here is the translation you asked for, with a short note on usage."),
    "book_flight": (0.020, '{"intent": "book_flight", "origin": null, "destination": null}'),
    "recipe": (0.003, "Here is a simple recipe: first gather the ingredients, then follow these steps carefully."),
    "weather": (0.001, "It will be sunny with a light breeze and a high of twenty degrees this afternoon."),
    "calories": (0.002, "That has roughly three hundred calories per serving, depending on how it is prepared."),
}
TRIAGE_SYSTEM = ("You are a support ticket triage assistant for Northwind Bank. Classify the customer's message "
                 "into exactly one of: billing, transfers. Reply with the label only.")


@pytest.fixture(scope="module", params=EVAL_SOURCES)
def clinc(request):
    """Utterances by intent: the in-repo stand-ins, and CLINC150 itself where ../shared/eval exists."""
    data = json.loads((eval_source(request.param) / "clinc150" / "data_full.json").read_text())
    by_intent: dict[str, list[str]] = {}
    for text, intent in data["test"] + data["val"]:
        by_intent.setdefault(intent, []).append(text)
    return by_intent


def _requests(clinc, per_intent=30, start_id=1):
    out = []
    i = start_id
    for intent, (cost, response) in INTENTS.items():
        for text in clinc[intent][:per_intent]:
            out.append({"id": i, "prompt_text": text, "system_prompt": None, "response_text": response,
                        "cost_usd": cost, "input_tokens": 40, "output_tokens": 30, "model": "gpt-4o",
                        "tags_json": json.dumps({"intent": intent})})
            i += 1
    for intent, label in (("pay_bill", "billing"), ("transfer", "transfers")):
        for text in clinc[intent][:per_intent]:
            out.append({"id": i, "prompt_text": text, "system_prompt": TRIAGE_SYSTEM, "response_text": label,
                        "cost_usd": 0.002, "input_tokens": 90, "output_tokens": 1, "model": "gpt-4o-mini",
                        "tags_json": json.dumps({"intent": "triage"})})
            i += 1
    return out


def categorize(con, *, progress=False, **flags):
    """The stage as a library caller runs it: settings resolved once from these flags."""
    return run_categorize(con, CategorizeSettings.resolve({}, **flags), progress=progress)


def _insert(con, records):
    insert_arrow(con, "requests", pa.Table.from_pylist(records))


@pytest.fixture(scope="module")
def categorized(tmp_path_factory, clinc):
    """One real MiniLM run shared by several tests (the model loads once)."""
    path = str(tmp_path_factory.mktemp("cat") / "plan.duckdb")
    con = connect(path)
    _insert(con, _requests(clinc))
    result = categorize(con, k=6, top=4, progress=False)
    yield con, result
    con.close()


def _purity(con):
    """Share of requests whose category holds mostly their own intent."""
    got = rows(con, """
        select rc.cluster, json_extract_string(r.tags_json, '$.intent') as intent, count(*) as n
        from request_categories rc join requests r on r.id = rc.request_id group by 1, 2""")
    best: dict[int, int] = {}
    for cluster, _, n in got:
        best[cluster] = max(best.get(cluster, 0), n)
    return sum(best.values()) / sum(n for *_, n in got)


def test_clusters_recover_the_obvious_groups(categorized):
    con, result = categorized
    assert result["k"] == 6
    assert _purity(con) >= 0.9
    triage = [c for c in result["categories"] if c["task_type"] == tt.CLASSIFICATION]
    assert triage, "the templated triage traffic (label answers) is a classification category"
    assert "triage" in triage[0]["name"].lower()
    flights = [c for c in result["categories"] if "flight" in " ".join(c["keywords"][:5])]
    assert flights and flights[0]["task_type"] == tt.STRUCTURED_GENERATION


def test_top_by_spend_and_other_fold_add_up(categorized):
    con, result = categorized
    cats = result["categories"]
    named = [c for c in cats if c["id"] != OTHER_ID]
    assert len(named) == 4
    assert [c["spend_usd"] for c in named] == sorted((c["spend_usd"] for c in named), reverse=True)
    other = [c for c in cats if c["id"] == OTHER_ID]
    assert len(other) == 1 and other[0]["name"] == "Other" and other[0]["is_other"]
    total_requests = scalar(con, "select count(*) from requests")
    total_spend = scalar(con, "select sum(cost_usd) from requests")
    assert sum(c["requests"] for c in cats) == total_requests == result["requests"]
    assert sum(c["spend_usd"] for c in cats) == pytest.approx(total_spend)
    assert sum(c["share_of_spend"] for c in cats) == pytest.approx(1.0)
    assert sum(c["share_of_requests"] for c in cats) == pytest.approx(1.0)
    for c in cats:
        assert 0.0 <= c["share_of_spend"] <= 1.0 and 0.0 <= c["share_of_requests"] <= 1.0
        low, high = c["share_of_spend_ci"]
        assert 0.0 <= low <= c["share_of_spend"] <= high <= 1.0
    # the most expensive category holds the flight bookings (5x the price of anything else)
    assert "flight" in " ".join(named[0]["keywords"])
    # every request is mapped, the folded ones to Other, and the stored figures match
    assert scalar(con, "select count(*) from request_categories") == total_requests
    stored = {r["category_id"]: r for r in dicts(con, "select * from categories")}
    for c in cats:
        got = scalar(con, "select count(*) from request_categories where category_id = ?", [c["id"]])
        assert got == c["requests"] == stored[c["id"]]["requests"]
        assert stored[c["id"]]["share_of_spend"] == pytest.approx(c["share_of_spend"])
    folded = scalar(con, "select count(distinct cluster) from request_categories where category_id = 0")
    assert folded == result["k"] - 4


def test_names_keywords_examples_read_well(categorized):
    con, result = categorized
    names = [c["name"] for c in result["categories"]]
    assert len(set(names)) == len(names)
    for c in result["categories"]:
        assert c["keywords"] and all(isinstance(k, str) for k in c["keywords"])
        assert 1 <= len(c["examples"]) <= 3
        ids = [e["request_id"] for e in c["examples"]]
        assert all(scalar(con, "select category_id from request_categories where request_id = ?", [i]) == c["id"]
                   for i in ids)
        assert c["task_type"] in tt.TASK_TYPES


def test_template_is_detected_and_stored(categorized):
    con, result = categorized
    templates = dicts(con, "select * from prompt_templates")
    assert len(templates) == 1
    t = templates[0]
    assert t["kind"] == "system" and t["requests"] == 60 and "triage" in t["text"].lower()
    assert scalar(con, "select count(*) from request_categories where template_id = ?", [t["template_id"]]) == 60
    assert result["templates"][0]["template_id"] == t["template_id"]


def test_second_run_embeds_nothing_new_and_keeps_ids(categorized, clinc):
    con, first = categorized
    assert first["embedded_new"] > 0
    again = categorize(con, k=6, top=4, progress=False)
    assert again["embedded_new"] == 0
    assert again["embedded_cached"] == first["embedded_new"] + first["embedded_cached"]
    assert {c["id"]: c["requests"] for c in again["categories"]} == {c["id"]: c["requests"] for c in first["categories"]}
    run = dicts(con, "select summary_json from stage_runs where stage = 'categorize' order by finished_at desc limit 1")
    assert json.loads(run[0]["summary_json"])["embedded_new"] == 0


def test_auto_k_and_exact_k(tmp_path, clinc):
    con = connect(str(tmp_path / "k.duckdb"))
    _insert(con, _requests(clinc, per_intent=20))
    auto = categorize(con, k="auto", top=3, progress=False)
    grid = [s["k"] for s in auto["method"]["k_selection"]]
    assert auto["k"] in grid and 3 <= auto["k"] <= 10
    for k in (2, 9):
        result = categorize(con, k=k, top=10, progress=False)
        assert result["k"] == k
        assert scalar(con, "select count(distinct cluster) from request_categories") == k
    with pytest.raises(PlanError, match="distinct prompts"):
        categorize(con, k=10_000, progress=False)
    con.close()


def test_auto_k_gives_each_task_stating_system_prompt_a_cluster():
    """Twelve workloads with their own system prompts: the silhouette alone would merge two of them."""
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(12, 32))
    centres[11] = centres[10] + 0.15 * rng.normal(size=32)  # two workloads that read alike
    x = np.repeat(centres, 40, axis=0) + 0.05 * rng.normal(size=(480, 32))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    assert choose_k(x, top=10)[0] < 12
    assert choose_k(x, top=10, k_min=12)[0] == 12
    assert choose_k(x[:30], top=10, k_min=12)[0] <= 29


def test_refit_stability_tells_real_groups_from_arbitrary_splits():
    """Six real groups come back in every refit; six 'groups' cut out of structureless traffic do not, and
    their share of spend moves by whole percentage points between refits."""
    from analyzer.categorize import Clusterer, refit_stability

    rng = np.random.default_rng(0)

    def unit(x):
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    groups = unit(np.repeat(rng.normal(size=(6, 32)), 60, axis=0) + 0.1 * rng.normal(size=(360, 32)))
    structureless = unit(rng.normal(size=(360, 32)))
    for x, stable in ((groups, True), (structureless, False)):
        weights, spend, no_template = np.ones(len(x)), rng.uniform(0.5, 1.5, len(x)), np.full(len(x), -1)
        labels, _ = Clusterer(x, seed=0).fit(6, sample_weight=weights)
        result = refit_stability(x, x, no_template, weights, spend, labels, 6, seed=0)
        scores = [r["stability"] for r in result.values()]
        widest = max(r["share_delta"][1] - r["share_delta"][0] for r in result.values())
        if stable:
            assert min(scores) >= 0.95 and widest < 0.005
        else:
            assert np.mean(scores) < 0.6 and widest > 0.03


def test_sampled_route_assigns_everything_with_intervals(tmp_path, clinc):
    """Beyond exact_limit: fit on a sample, assign the rest with the static route, audit the loss."""
    con = connect(str(tmp_path / "s.duckdb"))
    records = _requests(clinc, per_intent=40)
    _insert(con, records)
    result = categorize(con, k=6, top=3, sample_size=150, exact_limit=100, heavy_limit=0, progress=False)
    assert result["method"]["mode"] == "sampled" and result["method"]["fit_texts"] == 150
    assert result["static_encoded"] >= len(records) - 150 - 40
    routes = dict(rows(con, "select assigned_by, count(*) from request_categories group by 1"))
    assert routes["fit"] == 150 and routes.get("nearest", 0) + routes.get("template", 0) == len(records) - 150
    assert result["method"]["assignment_agreement"] >= 0.8
    assert _purity(con) >= 0.85
    for c in result["categories"]:
        low, high = c["share_of_spend_ci"]
        assert 0.0 <= low <= c["share_of_spend"] <= high <= 1.0
    assert sum(c["share_of_spend"] for c in result["categories"]) == pytest.approx(1.0)
    con.close()


def test_sampled_route_embeds_the_costliest_prompts_exactly(tmp_path, clinc):
    """The cheap route does not decide alone where the big spenders go: beyond the sample, costly texts it is
    unsure of are embedded with the chosen model; cheaper ones are left to the static route."""
    con = connect(str(tmp_path / "h.duckdb"))
    records = _requests(clinc, per_intent=40)
    for r in records[::9]:
        r["cost_usd"] = 0.5
    _insert(con, records)
    route = """select rc.assigned_by, list(q.cost_usd) from request_categories rc
               join requests q on q.id = rc.request_id group by 1"""
    # Well-separated intents: the fast route is sure of most costly texts and embeds few or none of them.
    result = categorize(con, k=6, top=3, sample_size=150, exact_limit=100, heavy_limit=12, progress=False)
    exact = dict(rows(con, route)).get("exact", [])
    assert len(exact) <= 12 and set(exact) <= {0.5} and result["heavy_texts"] == len(exact)
    # Told to trust no margin: the 12 costliest texts outside the sample are all embedded.
    result = categorize(con, k=6, top=3, sample_size=150, exact_limit=100, heavy_limit=12, heavy_sure_margin=2.0,
                        progress=False)
    by_route = dict(rows(con, route))
    assert len(by_route["exact"]) == 12 and result["heavy_texts"] == result["method"]["heavy_texts"] == 12
    assert min(by_route["exact"]) >= max(by_route["nearest"])
    assert result["method"]["heavy_share_of_spend"] == pytest.approx(sum(by_route["exact"]) / sum(r["cost_usd"] for r in records))
    assert _purity(con) >= 0.85
    con.close()


def test_confident_margin_is_where_the_fast_route_stops_erring():
    from analyzer.categorize import confident_margin

    margins = np.linspace(0.3, 0.0, 300)  # costliest first: wide margins, then narrow ones
    correct = np.ones(300, dtype=bool)
    correct[200:] = np.arange(100) % 2 == 0  # below 0.1 the route is right only half the time
    tau = confident_margin(margins, correct, target=0.998)
    assert 0.099 <= tau <= 0.102
    assert confident_margin(margins, np.zeros(300, dtype=bool)) == np.inf
    assert confident_margin(np.full(5, np.inf), np.ones(5, dtype=bool)) == np.inf


def test_requests_without_text_and_without_cost(tmp_path, clinc):
    con = connect(str(tmp_path / "u.duckdb"))
    records = _requests(clinc, per_intent=10)
    for r in records:
        r["cost_usd"] = None
    records += [{"id": 10_000 + i, "prompt_text": None, "system_prompt": None, "response_text": None,
                 "cost_usd": None, "input_tokens": 10, "output_tokens": 5, "model": "openrouter/x", "tags_json": None}
                for i in range(5)]
    _insert(con, records)
    result = categorize(con, k=3, top=5, progress=False)
    no_text = [c for c in result["categories"] if c["name"] == "No prompt text logged"]
    assert no_text and no_text[0]["requests"] == 5 and no_text[0]["task_type"] == tt.OTHER
    # Unknown is not zero: spend and shares of spend read None, and the run says why.
    assert all(c["share_of_spend"] is None and c["spend_usd"] is None for c in result["categories"])
    assert result["spend_usd"] is None
    assert any("known cost" in w for w in result["warnings"])
    con.close()


def test_empty_database_says_what_to_do(con):
    with pytest.raises(PlanError, match="plan ingest"):
        categorize(con, progress=False)


def test_cli_json_contract(categorized):
    from analyzer.cli import cli

    con, _ = categorized
    path = rows(con, "select path from duckdb_databases() where database_name = current_database()")[0][0]
    out = CliRunner().invoke(cli, ["categorize", "--db", path, "--k", "6", "--top", "4", "--json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert {"k", "embedder", "categories"} <= set(payload)
    assert payload["k"] == 6 and payload["embedder"] == "all-MiniLM-L6-v2"
    for c in payload["categories"]:
        assert {"id", "name", "task_type", "keywords", "requests", "share_of_requests", "spend_usd",
                "share_of_spend", "examples"} <= set(c)
    bad = CliRunner().invoke(cli, ["categorize", "--db", path, "--k", "lots"])
    assert bad.exit_code != 0 and "--k must be" in bad.output
    human = CliRunner().invoke(cli, ["categorize", "--db", path, "--k", "6", "--top", "4"])
    assert human.exit_code == 0 and "Other" in human.stdout


def test_shared_prefix_finds_the_instructions():
    texts = [f"classify this ticket into billing or fraud: {t}" for t in
             ("my card was charged twice", "someone used my card abroad", "refund please", "double charge again")]
    assert shared_prefix(texts) == "classify this ticket into billing or fraud:"
    assert shared_prefix(["hello there", "what is the time"]) is None


def test_k_grid_and_choose_k_on_separated_groups():
    assert k_grid(3000, top=10) == sorted(set(k_grid(3000, top=10)))
    assert k_grid(3000, top=10)[0] == 10 and k_grid(3000, top=10)[-1] == 200
    rng = np.random.default_rng(0)
    n_groups = k_grid(360, top=2)[2]  # a k the auto grid will try for 360 points
    centres = rng.normal(size=(n_groups, 32))
    x = np.concatenate([c + 0.05 * rng.normal(size=(360 // n_groups, 32)) for c in centres]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    k, scores = choose_k(x, top=2, seed=0)
    assert k == n_groups, scores


def test_llm_names_from_a_local_endpoint_clio_style(categorized):
    """--llm-names: a real OpenAI-compatible server on loopback names each category from samples inside it
    and from its neighbours; a dead endpoint keeps the keyword names and says so."""
    from openai_stub import OpenAIStub, Reply

    con, _ = categorized

    def responder(body):
        user = body["messages"][-1]["content"]
        inside = user.split("Outside (neighbouring groups):")[0].lower()
        assert "outside" in user.lower() and "inside the group" in inside
        topic = next((w for w in ("flight", "recipe", "weather", "calorie", "translat", "bill", "transfer") if w in inside), "misc")
        return Reply(content=json.dumps({"name": f"{topic} requests", "description": f"People asking about {topic}."}))

    with OpenAIStub(responder, models=["namer"]) as stub:
        result = categorize(con, k=6, top=4, llm_names=True, endpoint=stub.url, model="namer", progress=False)
        assert len(stub.requests) == 4
    named = [c for c in result["categories"] if not c["is_other"]]
    assert all(c["name_source"] == "llm" and c["name"].endswith("requests") for c in named)
    assert any(c["name"].startswith("Flight") for c in named)
    stored = dict(rows(con, "select name, description from categories where name_source = 'llm'"))
    assert stored["Flight requests"] == "People asking about flight."

    with OpenAIStub(models=["namer"]) as stub:
        dead = stub.url
    fallback = categorize(con, k=6, top=4, llm_names=True, endpoint=dead, model="namer", progress=False)
    assert all(c["name_source"] in ("template", "task", "keywords", "fixed") for c in fallback["categories"])
    assert any("LLM naming stopped" in w for w in fallback["warnings"])
    with pytest.raises(PlanError, match="allow-remote"):
        categorize(con, k=6, llm_names=True, endpoint="http://192.0.2.1:8080/v1", model="namer", progress=False)


@pytest.mark.parametrize("responses, prompt, input_tokens, expected", [
    (['{"name": "Ada", "age": 36}', '```json\n{"name": "Bo"}\n```'], "Return the user as JSON.", 100, tt.STRUCTURED_GENERATION),
    (["SELECT region, sum(amount) FROM orders GROUP BY region;"] * 2, "Revenue by region?", 300, tt.STRUCTURED_GENERATION),
    (['<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M3 3h18"/></svg>'] * 2, "A bell icon", 80, tt.STRUCTURED_GENERATION),
    (["```python\ndef add(a, b):\n    return a + b\n```"] * 2, "Write a function that adds two numbers.", 60, tt.CODE_FROM_SPEC),
    (["billing", "fraud", "Billing", "other", "fraud."] * 4, "Classify this ticket.", 120, tt.CLASSIFICATION),
    (['{"vendor": "Acme", "total": 12.5}'] * 3, "Extract the vendor and total from this invoice.", 400, tt.EXTRACTION),
    (["Could you clarify which report you mean?", "Do you mean the Q3 deck or the board memo?"], "fix it", 20, tt.AMBIGUOUS_INSTRUCTION),
    ([None, None], "Summarize the following meeting notes in three bullets.", 900, tt.SUMMARIZATION),
    (["The indemnity in clause 9 caps liability at fees paid, which is unusual for this kind of agreement."] * 2,
     "Which clauses limit our liability?", 12000, tt.LONG_DOCUMENT_REASONING),
    (["Here are a few ideas for your weekend: a long walk by the river, a visit to the museum, and dinner with friends."] * 2,
     "What should I do this weekend?", 30, tt.OPEN_ENDED),
])
def test_task_type_from_prompts_and_frontier_responses(responses, prompt, input_tokens, expected):
    from analyzer.naming import infer_task_type

    samples = [{"system_prompt": None, "prompt_text": prompt, "response_text": r, "input_tokens": input_tokens}
               for r in responses]
    task, evidence = infer_task_type(samples)
    assert task == expected, evidence
    assert evidence


# --- names a person recognises ------------------------------------------------------------------------------

@pytest.mark.parametrize("system, expected", [
    ("You write SQL for Contoso's analysts. Dialect: PostgreSQL 16. Use only the tables below.", "Write SQL"),
    ("You are the ticket triage step in Acme's support pipeline. Read the ticket and answer with one label.",
     "Ticket triage"),
    (TRIAGE_SYSTEM, "Support ticket triage"),
    ("Extract the purchase from this order-confirmation email for Acme's expense tool. Respond with JSON only.",
     "Extract purchase from order-confirmation email"),
    ("You are a senior Python engineer at Initech. Write one self-contained Python 3.11 function that meets the "
     "spec exactly. Use type hints.", "Write self-contained Python function"),
    ("You are a meticulous senior engineer reviewing code at Initech. Review the change for bugs.", "Review code"),
    ("Summarise the raw meeting notes for people who missed the meeting. Format: a short summary.",
     "Summarise raw meeting notes"),
    ("You design icons for Lumen, Acme's design system. Icons are outline style on a 24x24 grid.", "Design icons"),
    ("You extract data from vendor invoices for Acme's accounts-payable system. The input is OCR text.",
     "Extract data from vendor invoices"),
    ("You are Acme's in-house analyst for legal and operational documents. Answer strictly from the document.",
     "Analyst for legal and operational documents"),
    ("You are a helpful assistant.", None),
])
def test_template_phrase_names_the_task_not_the_company(system, expected):
    from analyzer.naming import NAME_CHARS, template_phrase

    name = template_phrase(system)
    assert name == expected
    if name:
        assert len(name) <= NAME_CHARS and not any(co in name for co in ("Acme", "Contoso", "Initech"))


def test_long_names_are_clipped_at_phrase_boundaries_never_mid_word():
    from analyzer.naming import NAME_CHARS, clip_name

    rng = np.random.default_rng(3)
    vocab = ["review", "the", "incoming", "customer", "emails", "for", "billing", "and", "refund", "questions", "with",
             "care", "of", "documents", "extraordinarily", "in", "accounts-payable", "to", "teams"]
    for _ in range(300):
        text = " ".join(rng.choice(vocab, size=int(rng.integers(2, 25))))
        name = clip_name(text)
        assert len(name) <= NAME_CHARS
        body = name.rstrip("…")
        assert text.startswith(body), (text, name)
        assert len(body) == len(text) or text[len(body)] in " ,", (text, name)  # ends where a word ends
        if body != text:
            assert body.split()[-1] not in {"the", "for", "and", "of", "with", "in", "to"}, name
    assert clip_name("Help employees with writing, data and engineering questions") == "Help employees"


def test_task_name_says_how_many_labels_and_which_format():
    from analyzer.naming import task_name

    triage = [{"response_text": label} for label in ["billing", "refund_request", "outage", "billing", "other"] * 4]
    assert task_name("Ticket triage", tt.CLASSIFICATION, triage) == "Ticket triage (4 labels)"
    svg = [{"response_text": '<svg viewBox="0 0 24 24"><path d="M3 3h18"/></svg>'}] * 3
    assert task_name("Design icons", tt.STRUCTURED_GENERATION, svg) == "Design icons (SVG)"
    sql = [{"response_text": "SELECT count(*) FROM orders"}] * 3
    assert task_name("Write SQL", tt.STRUCTURED_GENERATION, sql) == "Write SQL"
    assert task_name("Write marketing copy", tt.OPEN_ENDED, [{"response_text": "Warm words."}]) == "Write marketing copy"


def test_tags_are_classification_and_code_review_is_not_open_ended():
    from analyzer.naming import infer_task_type

    tags = ["smart-home, electronics", "lighting, garden, outdoor", "pets, eco-friendly", "kitchen", "garden, pets"]
    task, evidence = infer_task_type([{"prompt_text": "Listing: a lamp", "response_text": t} for t in tags * 4])
    assert task == tt.CLASSIFICATION, evidence
    review = {"prompt_text": "Review this change:\n```python\ndef pay(x):\n    return x * 1.2\n```",
              "response_text": "1. pay() multiplies by a hard-coded rate; read it from config instead.\n"
                               "2. No test covers negative amounts.\nVerdict: REQUEST CHANGES"}
    task, evidence = infer_task_type([review] * 5)
    assert task == tt.OTHER and "code" in evidence
    essays = [{"prompt_text": "Write a blog post about spring.", "response_text": "Spring arrives softly in the valley, "
               "and with it the first long evenings of the year."}] * 5
    assert infer_task_type(essays)[0] == tt.OPEN_ENDED


def test_names_in_a_run_read_as_tasks(categorized):
    _, result = categorized
    triage = next(c for c in result["categories"] if c["task_type"] == tt.CLASSIFICATION)
    assert triage["name"] == "Support ticket triage (2 labels)"
    assert triage["name_source"] == "template"
    for c in result["categories"]:
        assert len(c["name"]) <= 56 and "…" not in c["name"]


# --- templates stay whole ------------------------------------------------------------------------------------

def _blob(rng, centre, n, noise):
    x = centre + noise * rng.standard_normal((n, len(centre)))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_a_capped_template_kept_whole_takes_its_other_prompts_along_unembedded(tmp_path, clinc):
    """--template-cap: a specific template (triage, 60 prompts) is fitted on 20 of them and the other 40 follow
    it without being embedded; a generic system prompt over varied content splits, so it is embedded in full
    and clustered again. The categories are those of embedding everything."""
    from sklearn.metrics import normalized_mutual_info_score

    records = _requests(clinc, per_intent=30)
    for r in records:
        if r["system_prompt"] is None:
            r["system_prompt"] = "You are a helpful assistant."
    con = connect(str(tmp_path / "plan.duckdb"))
    _insert(con, records)
    full = categorize(con, k=6, top=4, template_cap=0)
    assert full["method"]["held_back_texts"] == 0 and full["method"]["fit_texts"] == 210
    before = dict(rows(con, "select request_id, category_id from request_categories"))
    messages: list[str] = []
    capped = run_categorize(con, CategorizeSettings.resolve({}, k=6, top=4, template_cap=20), progress=False,
                            say=messages.append)
    after = dict(rows(con, "select request_id, category_id from request_categories"))
    method = capped["method"]
    assert method["held_back_texts"] == 40 and method["templates_held_back"] == 1 and method["fit_texts"] == 170
    assert capped["embedded_new"] == 0 and capped["embedded_cached"] == 170  # the 40 were never embedded
    assert any("split by content" in m for m in messages), "the generic prompt was capped, split, then fitted in full"
    triage = [r["id"] for r in records if r["system_prompt"] == TRIAGE_SYSTEM]
    assert len({after[i] for i in triage}) == 1
    ids = sorted(before)
    assert normalized_mutual_info_score([before[i] for i in ids], [after[i] for i in ids]) > 0.95
    assert scalar(con, "select count(*) from request_categories") == len(records)


def test_a_specific_template_split_by_kmeans_is_made_whole_and_k_stays_exact():
    from analyzer.categorize import cohere_templates

    rng = np.random.default_rng(0)
    dim = 32
    axes = np.eye(dim)
    legal = _blob(rng, axes[0], 40, 0.05)           # one template, tight
    wide = np.vstack([_blob(rng, axes[i], 30, 0.05) for i in (1, 2)])  # untemplated, two real topics
    chat = _blob(rng, axes[3] + axes[4] + axes[5], 60, 0.6)  # a generic system prompt over varied content
    x = np.vstack([legal, wide, chat])
    templates = np.array([7] * 40 + [-1] * 60 + [9] * 60)
    labels = np.array([0] * 25 + [1] * 15 + [2] * 60 + [3] * 30 + [4] * 30)  # legal cut in two, topics merged
    weights = np.ones(len(x))
    new, collapsed = cohere_templates(x, templates, labels, weights, 5)
    assert collapsed.get(7) == 0 and (new[:40] == 0).all()
    assert 9 not in collapsed and len(set(new[100:])) == 2, "the generic template keeps its split"
    assert sorted(set(new)) == [0, 1, 2, 3, 4], "the emptied cluster is refilled, so k is exact"
    assert len(set(new[40:70])) == 1 and len(set(new[70:100])) == 1 and new[40] != new[70]


def test_a_template_that_states_a_task_stays_whole_even_over_varied_documents():
    from analyzer.categorize import cohere_templates

    rng = np.random.default_rng(0)
    axes = np.eye(32)
    tight = [_blob(rng, axes[i], 30, 0.05) for i in range(1, 5)]  # cheap, repetitive workloads
    contracts = _blob(rng, 2.0 * axes[0], 40, 0.35)  # one instruction over many different documents
    x = np.vstack(tight + [contracts])
    templates = np.array([-1] * 120 + [7] * 40)
    labels = np.array([0] * 30 + [1] * 30 + [2] * 30 + [3] * 30 + [4] * 25 + [5] * 15)
    weights = np.ones(len(x))
    _, collapsed = cohere_templates(x, templates, labels, weights, 6)
    assert collapsed == {}, "more spread than the median cluster and no stated task: the split stands"
    new, collapsed = cohere_templates(x, templates, labels, weights, 6, states_task={7})
    assert collapsed == {7: 4} and (new[120:] == 4).all()
    assert sorted(set(new)) == list(range(6))


def test_user_turn_template_is_found_in_repetitive_traffic(con):
    """60 documents, each sent 10 times behind the same instruction: a template, though most requests repeat."""
    from analyzer.categorize import prepare_texts

    words = ["revenue", "churn", "roadmap", "hiring", "pricing", "outage", "security", "budget", "launch", "audit"]
    records, i = [], 1
    for d in range(60):
        code = chr(97 + d // 26) + chr(97 + d % 26)  # digits are masked before matching, so letters
        doc = f"memo {code}: " + " ".join(words[(d + j) % 10] for j in range(12)) + f" for team {code}"
        for _ in range(10):
            records.append({"id": i, "prompt_text": f"Summarize the following document in three bullet points "
                                                    f"for an executive audience:\n\n{doc}", "cost_usd": 0.01})
            i += 1
    _insert(con, records)
    prep = prepare_texts(con, min_template_requests=5, seed=0)
    prefixes = [t for t in prep.templates if t["kind"] == "user_prefix"]
    assert len(prefixes) == 1 and prefixes[0]["text"].startswith("summarize the following document")
    from analyzer.naming import template_phrase

    assert template_phrase(prefixes[0]["display"]) == "Summarize document in three bullet points"


def test_a_small_top_does_not_shrink_the_auto_k_search():
    from analyzer.categorize import k_grid

    # --top only decides which categories keep their names; auto k looks at the same candidates.
    assert k_grid(3000, top=3) == k_grid(3000, top=10)
    assert set(range(10, 21)) <= set(k_grid(3000, top=3))
    # A larger top does not move the search either (a first peak below it would be missed); it raises the
    # chosen k instead, so every named category can exist.
    assert k_grid(3000, top=15) == k_grid(3000, top=10)
    rng = np.random.default_rng(1)
    x = np.repeat(rng.normal(size=(10, 16)), 30, axis=0) + 0.05 * rng.normal(size=(300, 16))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    assert choose_k(x, top=10)[0] == 10 and choose_k(x, top=10, k_min=15)[0] == 15
    # Too little data for ten clusters: the search stays within what the data can hold.
    assert k_grid(60, top=3) == [3, 4]


# --- the hierarchy: workloads above intents, and the level that is named -------------------------------------

# A support app's intents, written out here (no shared data needed): each intent's requests are its openers
# combined with its subjects, so every request is distinct and every intent reads alike inside.
SUPPORT_APP = {
    "card_arrival": (["where is my new", "i still have not received my", "when will i get my", "tracking for my"],
                     ["card", "replacement card", "debit card", "new card in the post"]),
    "exchange_rate": (["what exchange rate do you use for", "why was the exchange rate so bad on", "how is the rate set for",
                       "which currency rate applies to"], ["euros", "dollars", "my payment abroad", "yen"]),
    "lost_card": (["i lost my", "someone stole my", "i cannot find my", "please block my"],
                  ["card", "wallet with the card", "debit card", "card at the airport"]),
    "top_up": (["how do i top up", "can i top up", "my top up failed for", "is there a fee to top up"],
               ["my account", "with a bank transfer", "by card", "the balance"]),
    "pin_change": (["how can i change my", "i forgot my", "where do i reset my", "can i choose a new"],
                   ["pin", "card pin", "pin number", "pin code"]),
    "refund": (["i want a refund for", "the refund has not arrived for", "how long does a refund take for",
                "please refund"], ["my order", "a purchase", "the item i returned", "a double charge"]),
    "account_closure": (["how do i close", "i want to delete", "please terminate", "can you shut down"],
                        ["my account", "my profile", "everything", "the account and card"]),
    "transfer_failed": (["my transfer to", "why did my payment to", "the money i sent to", "a transfer to"],
                        ["my landlord failed", "a friend bounce back", "another bank not arrive", "my sister fail"]),
}


def _support_app(con, *, system=None, costs=None, start_id=1):
    records, i = [], start_id
    for intent, (openers, subjects) in SUPPORT_APP.items():
        for opener in openers:
            for subject in subjects:
                records.append({"id": i, "prompt_text": f"{opener} {subject}?", "system_prompt": system,
                                "response_text": "Here is how that works, step by step.",
                                "cost_usd": (costs or {}).get(intent, 0.001), "input_tokens": 30, "output_tokens": 40,
                                "model": "gpt-4o-mini", "tags_json": json.dumps({"intent": intent})})
                i += 1
    _insert(con, records)
    return records


def _tree_is_consistent(con):
    """Every intent sits under a workload; each request's intent and named category agree with that tree."""
    nodes = {r["category_id"]: r for r in dicts(con, "select * from categories")}
    for n in nodes.values():
        if n["level"] == "intent":
            assert nodes[n["parent_id"]]["level"] == "workload"
        if n["level"] == "workload":
            children = [c for c in nodes.values() if c["parent_id"] == n["category_id"]]
            assert children and sum(c["requests"] for c in children) == n["requests"]
    named = {cid for cid, n in nodes.items() if n["named"]}
    for category_id, intent_id in rows(con, "select category_id, intent_id from request_categories"):
        assert category_id in named and nodes[intent_id]["level"] == "intent"
        if nodes[category_id]["level"] == "intent":
            assert category_id == intent_id
        elif nodes[category_id]["level"] == "workload":
            assert nodes[intent_id]["parent_id"] == category_id
    return nodes


def test_one_app_with_many_even_intents_names_its_main_topics(con):
    """Eight intents of equal spend: the top three carry about 38%, so the named categories are three topic groups of
    the one application, which carry all of it, each with its intents beneath."""
    _support_app(con)
    result = categorize(con, k=8, top=3)
    assert result["named_level"] == "workload"
    assert re.search(r"top 3 of 8 intents carry only \d+% of spend", result["level_reason"])
    assert "named at the workload level" in result["level_reason"]
    named = [c for c in result["categories"] if not c["is_other"]]
    assert len(named) == 3 and result["named_share_of_spend"] >= 0.75
    assert sum(len(c["intents"]) for c in named) == 8
    nodes = _tree_is_consistent(con)
    assert sum(1 for n in nodes.values() if n["level"] == "intent") == 8
    assert all(n["workload_source"] == "topic" for n in nodes.values() if n["level"] == "workload")
    # The JSON's hierarchy lists the same tree: every intent once, under its workload.
    assert sorted(i["id"] for w in result["hierarchy"] for i in w["intents"]) == sorted(
        cid for cid, n in nodes.items() if n["level"] == "intent")
    assert not any(re.fullmatch(r"Category \d+", n["name"]) for n in nodes.values())


def test_intents_are_named_when_the_top_ones_carry_the_spend(categorized):
    con, result = categorized
    assert result["named_level"] == "intent" and "so intents are named" in result["level_reason"]
    nodes = _tree_is_consistent(con)
    triage = next(c for c in result["categories"] if c["task_type"] == tt.CLASSIFICATION)
    parent = nodes[triage["parent_id"]]
    assert parent["workload_source"] == "template" and triage["parent"]["name"] == parent["name"]
    assert {c["level"] for c in result["categories"]} == {"intent", "other"}


def test_when_no_level_reaches_the_share_the_coarser_level_is_named_and_says_why(con):
    """Six applications with a system prompt each and equal spend: two named categories can carry only a third,
    at any level. The workloads are named and the reason says so."""
    prompts = ["You answer questions about card deliveries.", "You explain exchange rates to customers.",
               "You help people who lost a card.", "You explain how to top up an account.",
               "You help customers change a PIN.", "You handle refund requests."]
    records, i = [], 1
    for (openers, subjects), system in zip(list(SUPPORT_APP.values())[:6], prompts, strict=True):
        for opener in openers:
            for subject in subjects:
                records.append({"id": i, "prompt_text": f"{opener} {subject}?", "system_prompt": system,
                                "cost_usd": 0.002, "model": "gpt-4o-mini"})
                i += 1
    _insert(con, records)
    result = categorize(con, k=6, top=2)
    assert result["named_level"] == "workload" and "No level reaches 75%" in result["level_reason"]
    assert result["named_share_of_spend"] == pytest.approx(2 / 6)
    assert sum(1 for c in result["categories"] if not c["is_other"]) == 2
    _tree_is_consistent(con)


def test_ids_of_named_categories_and_intents_survive_a_rerun(con):
    _support_app(con)
    first = categorize(con, k=8, top=3)
    before = dict(rows(con, "select request_id, intent_id from request_categories"))
    again = categorize(con, k=8, top=3)
    assert {c["id"] for c in again["categories"]} == {c["id"] for c in first["categories"]}
    assert dict(rows(con, "select request_id, intent_id from request_categories")) == before


def test_exact_limit_zero_is_obeyed_over_plan_toml(tmp_path):
    """`--exact-limit 0` means: embed no prompt just because there are few; fit on the sample and assign the rest
    by the fast route. It used to turn into the default (5000) through `or`."""
    from analyzer.cli import cli

    path = tmp_path / "plan.duckdb"
    con = connect(str(path))
    records = _support_app(con)
    con.close()
    (tmp_path / "plan.toml").write_text("[categorize]\nexact_limit = 5000\nsample_size = 3000\n")
    assert CategorizeSettings.resolve({"categorize": {"exact_limit": 5000}}, exact_limit=0).exact_limit == 0
    out = CliRunner().invoke(cli, ["categorize", "--db", str(path), "--config", str(tmp_path / "plan.toml"),
                                   "--exact-limit", "0", "--sample-size", "100", "--k", "8", "--json"])
    assert out.exit_code == 0, out.output
    method = json.loads(out.stdout)["method"]
    assert method["mode"] == "sampled" and method["fit_texts"] == 100 and method["distinct_texts"] == len(records)
    con = connect(str(path))
    routes = dict(rows(con, "select assigned_by, count(*) from request_categories group by 1"))
    con.close()
    assert routes["fit"] == 100 and sum(routes.values()) == len(records)
    # Without the flag, plan.toml's 5000 holds: every prompt is fitted.
    out = CliRunner().invoke(cli, ["categorize", "--db", str(path), "--config", str(tmp_path / "plan.toml"),
                                   "--k", "8", "--json"])
    assert json.loads(out.stdout)["method"]["mode"] == "exact"


@pytest.mark.parametrize("texts, keywords, expected", [
    (["where is my new card?", "when will my card arrive?", "has my card been sent?"], ["card", "arrive"],
     "Answer card questions"),
    (["Write a poem about the sea", "write a short poem for my mum", "Please write a poem about autumn"],
     ["poem", "sea"], "Write poems"),
    (["turn up the volume", "turn up the music please", "can you turn up the sound"], ["volume", "music"],
     "Turn up volume"),
    (["Hi, could you translate this sentence into French: ...", "translate 'good morning' to Spanish",
      "translate this paragraph", "please translate the following sentence to German"], ["french", "spanish"],
     "Translate sentences"),
    (["my transfer failed again", "the payment to my landlord bounced", "money i sent never arrived"],
     ["transfer", "landlord"], "Handle transfer requests"),
])
def test_task_phrases_name_the_task_from_the_prompts(texts, keywords, expected):
    from analyzer.naming import task_phrase

    assert task_phrase(texts, keywords) == expected


@pytest.mark.parametrize("texts, keywords, expected", [
    # Command verbs are said as the prompts say them: adding is not setting, deleting is not cancelling.
    (["add milk to my grocery list", "add eggs to the grocery list", "please add bread to my grocery list"],
     ["grocery list", "milk", "eggs"], "Add grocery list"),
    (["turn off the wemo plug", "turn off my wemo plug", "switch off the wemo"], ["wemo plug", "wemo", "socket"],
     "Turn off wemo plug"),
    (["delete the meeting from my calendar", "delete my dentist event", "remove the event on friday",
      "delete all events tomorrow"], ["event", "events", "calendar"], "Delete events"),
    (["make coffee please", "make me some coffee", "can you make coffee now"], ["coffee"], "Make coffee"),
    # Task verbs keep the name of their kind of work ("Describe" and "Discuss" are explaining).
    (["describe photosynthesis in plants", "discuss the causes of inflation", "describe how tides work",
      "explain the water cycle"], ["photosynthesis", "inflation"], "Explain photosynthesis"),
    # A plural only for what the prompts count ("a poem"), not for a mass noun ("make coffee").
    (["write a poem about rain", "write me a poem", "write a short poem"], ["poem", "rain"], "Write poems"),
])
def test_task_phrases_say_the_verb_and_count_only_countable_objects(texts, keywords, expected):
    from analyzer.naming import task_phrase

    assert task_phrase(texts, keywords) == expected


def test_a_question_category_can_add_the_keyword_that_tells_it_from_its_neighbours():
    from analyzer.naming import task_phrase

    texts = ["why was my virtual card rejected?", "my virtual card doesn't work", "why is my virtual card declined?"]
    keywords = ["virtual card", "rejected", "virtual", "card work"]
    seen = {}

    def qualify(term, others):
        seen["term"], seen["others"] = term, others
        return "rejected"

    assert task_phrase(texts, keywords, qualify=qualify) == "Answer virtual-card questions: rejected"
    # Terms that only repeat the object's words are never offered as its qualifier.
    assert seen == {"term": "virtual card", "others": ["rejected"]}
    assert task_phrase(texts, keywords, qualify=lambda term, others: None) == "Answer virtual-card questions"


def test_a_keyword_pair_names_the_object_of_a_verb_only_as_the_prompts_say_it():
    from analyzer.naming import _said_together

    texts = ["what are the ingredients for pasta", "list the ingredients for lasagna", "activate my card",
             "how do i activate my card", "my card hasn't arrived", "the card still hasn't arrived"]
    assert _said_together("activate card", texts)       # a determiner between
    assert _said_together("card arrived", texts)        # a clause's own words between
    assert not _said_together("ingredients pasta", texts)  # across a preposition
    assert not _said_together("card activate", texts)   # never in that order


def test_a_category_without_any_keyword_is_still_named_from_its_requests():
    from analyzer.categorize.describe import _example_name

    assert _example_name(["ok", "ok", "yes"]) == 'Requests like "ok"'


def test_equal_names_with_a_qualifier_are_told_apart_without_a_second_colon():
    from analyzer.naming import unique_names

    got = unique_names({1: "Answer card questions: rejected", 2: "Answer card questions: rejected"},
                       {1: ["virtual", "card"], 2: ["physical", "card"]})
    assert got == {1: "Answer card questions: rejected, virtual", 2: "Answer card questions: rejected, physical"}
