"""A large, real-shaped workload for the categorize benchmarks, built from the public prompts in
../shared/eval (CLINC150 utterances, Arena-Hard and MT-Bench prompts) wrapped in the templates that
production apps use: ticket triage, JSON booking extraction, SQL generation, SVG icons, code help, chat,
document summaries and contract Q&A. Each app has its own models, token counts and prices, so categories
differ in spend far more than in volume.

``build(con, n, variety, seed)`` writes ``n`` rows into ``requests``. ``variety`` is the number of
distinct surface variants per source prompt (greetings, names, order numbers, sign-offs): 1 gives few
distinct texts, 40+ makes almost every request unique. The app a request came from is kept in
``tags_json`` as ``{"bench_app": ...}`` for checking the clusters against (not ``app``, which categorize reads as a
workload: the benchmark measures the clustering, not the tag).
"""

from __future__ import annotations

import json
import random
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"

NAMES = ["Alice", "Bob", "Carmen", "Dmitri", "Esther", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Kofi", "Lena",
         "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Yara", "Zoe"]
OPENERS = ["", "hi, ", "hello, ", "hey there. ", "good morning! ", "quick question: ", "urgent: ", "sorry to bother you, "]
CLOSERS = ["", " thanks", " thank you!", " asap please", " cheers", " much appreciated.", " (sent from my phone)"]


def _clinc():
    data = json.loads((EVAL / "clinc150" / "data_full.json").read_text())
    domains = json.loads((EVAL / "clinc150" / "domains.json").read_text())
    domain_of = {intent: d for d, intents in domains.items() for intent in intents}
    by_domain: dict[str, list[tuple[str, str]]] = {}
    for split in ("train", "val", "test"):
        for text, intent in data[split]:
            by_domain.setdefault(domain_of[intent], []).append((text, intent))
    return by_domain


def _arena():
    rows = [json.loads(line) for line in (EVAL / "arena_hard" / "arena-hard-v2.0_question.jsonl").open()]
    rows += [json.loads(line) for line in (EVAL / "arena_hard" / "arena-hard-v0.1_question.jsonl").open()]
    return rows


SQL_ENTITIES = ["orders", "customers", "refunds", "invoices", "shipments", "subscriptions", "support tickets", "sessions"]
SQL_ASKS = ["how many {e} were created in {m}", "total revenue from {e} by region for {m}", "top 10 {e} by value last {p}",
            "average time to close {e} per week in {m}", "which {e} have no matching payment", "daily count of {e} over the last {p}",
            "list {e} above the 95th percentile of amount in {m}", "month over month growth of {e} since {m}"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"]
PERIODS = ["week", "month", "quarter", "year", "30 days", "90 days"]
SVG_THINGS = ["a shopping cart", "a bell", "a house", "a cloud with rain", "a paper plane", "a padlock", "a magnifying glass",
              "a coffee cup", "a bicycle", "a calendar", "a heart", "a battery", "a camera", "a gear", "a leaf", "a rocket",
              "a map pin", "an envelope", "a trash can", "a music note", "a star", "a moon", "a sun", "a key"]
SVG_STYLES = ["outline style, 2px stroke", "filled, single color", "duotone", "rounded corners", "minimal line art"]

APPS = {
    # name: (share of requests, model, input tokens, output tokens, $/M input, $/M output)
    "ticket_triage": (0.30, "gpt-4o-mini", 180, 3, 0.15, 0.60),
    "booking_json": (0.12, "gpt-4o", 260, 60, 2.50, 10.0),
    "sql_generation": (0.08, "gpt-4o", 900, 120, 2.50, 10.0),
    "svg_icons": (0.05, "claude-3-5-sonnet", 120, 700, 3.0, 15.0),
    "code_help": (0.06, "claude-3-5-sonnet", 700, 900, 3.0, 15.0),
    "home_assistant": (0.16, "gpt-4o-mini", 150, 25, 0.15, 0.60),
    "chat": (0.17, "gpt-4o-mini", 120, 250, 0.15, 0.60),
    "doc_summary": (0.04, "gpt-4o", 6000, 300, 2.50, 10.0),
    "contract_qa": (0.02, "claude-3-5-sonnet", 14000, 400, 3.0, 15.0),
}
SYSTEM = {
    "ticket_triage": ("You are a support ticket triage assistant for Northwind Bank. Classify the customer's message "
                      "into exactly one of: billing, cards, transfers, account, fraud, other. Reply with the label only."),
    "booking_json": ("You are a travel booking agent. Extract the traveller's request as a JSON object with keys intent, "
                     "origin, destination, date and notes. Output JSON only."),
    "sql_generation": ("You are a SQL expert for the analytics warehouse (PostgreSQL). Tables: orders(id, customer_id, "
                       "amount, created_at, region), customers(id, name, segment), refunds(id, order_id, amount, "
                       "created_at), invoices(id, customer_id, due_at, paid_at). Write one SQL query that answers the "
                       "question. Return SQL only."),
    "svg_icons": None,  # user-turn template
    "code_help": "You are a helpful assistant.",
    "home_assistant": ("You are the voice assistant of a smart home and car. Map the user's utterance to an action and "
                       "answer in one short sentence."),
    "chat": "You are a helpful assistant.",
    "doc_summary": None,  # user-turn template
    "contract_qa": ("You are a legal analyst. Read the agreement below carefully and answer the question that follows "
                    "it, citing the clauses you rely on."),
}
TRIAGE_LABEL = {"banking": ["billing", "transfers", "account", "fraud"], "credit_cards": ["cards", "billing", "fraud"]}


def build(con, n: int, *, variety: int = 4, seed: int = 0, doc_pool: int | None = None, batch: int = 200_000) -> dict:
    """``doc_pool``: how many distinct documents the summary and contract apps draw from (None: a fresh
    combination per request)."""
    rng = random.Random(seed)
    clinc = _clinc()
    arena = _arena()
    coding = [a["prompt"] for a in arena if a.get("subcategory") == "coding" or a.get("category") == "hard_prompt"][:600]
    creative = [a["prompt"] for a in arena if a.get("category") == "creative_writing"]
    mt = [json.loads(line) for line in (EVAL / "mt_bench" / "mt_bench_question.jsonl").open()]
    mt += [json.loads(line) for line in (EVAL / "mt_bench" / "vicuna_bench_question.jsonl").open()]
    chat_pool = [t for d in ("small_talk", "utility", "meta", "work") for t, _ in clinc[d]] + [q["turns"][0] for q in mt] + creative
    triage_pool = [(t, d) for d in ("banking", "credit_cards") for t, _ in clinc[d]]
    booking_pool = [t for t, _ in clinc["travel"]]
    home_pool = [t for d in ("home", "auto_and_commute", "kitchen_and_dining") for t, _ in clinc[d]]
    docs = [a["prompt"] for a in arena if len(a["prompt"]) > 400]

    apps = list(APPS)
    weights = np.array([APPS[a][0] for a in apps])
    nprng = np.random.default_rng(seed)
    app_of = nprng.choice(len(apps), size=n, p=weights / weights.sum())
    start = np.datetime64("2025-05-01T00:00:00")
    seconds = nprng.integers(0, 30 * 86400, size=n)

    def variant(text: str) -> str:
        v = rng.randrange(variety)
        if v == 0:
            return text
        r = random.Random(zlib.crc32(f"{v}:{text}".encode()))
        opener = r.choice(OPENERS)
        if r.random() < 0.3:
            opener += f"this is {r.choice(NAMES)}. "
        closer = r.choice(CLOSERS)
        if r.random() < 0.3:
            closer += f" ref {r.randrange(10000, 99999)}"
        return f"{opener}{text}{closer}"

    def _docs(count: int) -> list[str]:
        if doc_pool is None:
            return rng.sample(docs, count)
        return random.Random(rng.randrange(doc_pool) * 31 + count).sample(docs, count)

    def make(app: str):
        if app == "ticket_triage":
            text, domain = rng.choice(triage_pool)
            return SYSTEM[app], variant(text), rng.choice(TRIAGE_LABEL[domain])
        if app == "booking_json":
            text = variant(rng.choice(booking_pool))
            return SYSTEM[app], text, json.dumps({"intent": "book", "origin": None, "destination": None, "date": None, "notes": text[:60]})
        if app == "sql_generation":
            ask = rng.choice(SQL_ASKS).format(e=rng.choice(SQL_ENTITIES), m=rng.choice(MONTHS), p=rng.choice(PERIODS))
            return SYSTEM[app], variant(ask), "SELECT region, count(*) AS n FROM orders WHERE created_at >= date '2025-01-01' GROUP BY region;"
        if app == "svg_icons":
            prompt = (f"Generate an SVG icon for our design system. Use a 24x24 viewBox, no external assets. "
                      f"Icon: {variant(rng.choice(SVG_THINGS))}, {rng.choice(SVG_STYLES)}.")
            return None, prompt, '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M3 3h18v18H3z"/></svg>'
        if app == "code_help":
            return SYSTEM[app], variant(rng.choice(coding)), "Here is an implementation:\n```python\ndef solve(x):\n    return x\n```\nIt runs in O(n)."
        if app == "home_assistant":
            return SYSTEM[app], variant(rng.choice(home_pool)), "Okay, done: I have taken care of that for you."
        if app == "chat":
            return SYSTEM[app], variant(rng.choice(chat_pool)), ("That's a great question. " * 4) + "Here are a few thoughts you might find useful in your situation."
        if app == "doc_summary":
            doc = "\n\n".join(_docs(3))
            return None, f"Summarize the following document in three bullet points for an executive audience:\n\n{variant(doc)}", "- point one\n- point two\n- point three"
        if app == "contract_qa":
            doc = "\n\n".join(_docs(6))
            question = rng.choice(["Who may terminate the agreement and with what notice?", "What are the payment terms?",
                                   "Which party bears liability for data loss?", "Is there an exclusivity clause?"])
            return SYSTEM[app], variant(f"AGREEMENT:\n{doc}\n\nQUESTION: {question}"), "Under clause 7.2, either party may terminate with 30 days' written notice."
        raise ValueError(app)

    next_id = (db_max_id(con) or 0) + 1
    written = 0
    while written < n:
        m = min(batch, n - written)
        cols = {k: [] for k in ("id", "source_format", "provider", "model", "created_at", "system_prompt", "prompt_text",
                                "response_text", "input_tokens", "output_tokens", "cost_usd", "cost_source", "status", "tags_json")}
        for i in range(written, written + m):
            app = apps[app_of[i]]
            _, model, tin, tout, pin, pout = APPS[app]
            system, prompt, response = make(app)
            in_tok = max(10, int(tin * rng.uniform(0.6, 1.5)))
            out_tok = max(1, int(tout * rng.uniform(0.5, 1.6)))
            cols["id"].append(next_id + i)
            cols["source_format"].append("synthetic")
            cols["provider"].append("anthropic" if model.startswith("claude") else "openai")
            cols["model"].append(model)
            cols["created_at"].append(start + np.timedelta64(int(seconds[i]), "s"))
            cols["system_prompt"].append(system)
            cols["prompt_text"].append(prompt)
            cols["response_text"].append(response)
            cols["input_tokens"].append(in_tok)
            cols["output_tokens"].append(out_tok)
            cols["cost_usd"].append((in_tok * pin + out_tok * pout) / 1e6)
            cols["cost_source"].append("catalog")
            cols["status"].append("ok")
            cols["tags_json"].append(json.dumps({"bench_app": app}))
        table = pa.table({k: pa.array(v) for k, v in cols.items()})
        con.register("_synthetic_batch", table)
        con.execute(f"insert into requests ({', '.join(cols)}) select {', '.join(cols)} from _synthetic_batch")
        con.unregister("_synthetic_batch")
        written += m
    return {"requests": n, "apps": apps}


def db_max_id(con):
    return con.execute("select max(id) from requests").fetchall()[0][0]
