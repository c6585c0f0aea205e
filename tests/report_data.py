"""A small, fully deterministic pipeline database for the report and email tests.

Rows are inserted directly (no embedding, no replay server), with timestamps ordered so that every stage is
up to date: the report must not re-run anything on it unless a test makes a stage stale on purpose.
"""

from __future__ import annotations

import datetime as dt
import json

from analyzer.stats import wilson_interval

T0 = dt.datetime(2026, 3, 1)
INGESTED_AT = dt.datetime(2026, 3, 12, 9, 0)
CATEGORIZED_AT = dt.datetime(2026, 3, 12, 10, 0)
REPLAYED_AT = dt.datetime(2026, 3, 12, 11, 0)
JUDGED_AT = dt.datetime(2026, 3, 12, 12, 0)

OTHER_ID = 0  # categorize gives Other category_id 0
HOSTILE = "<script>alert('x')</script> </table> TPL-{{ 7*7 }}-END costs $5 & $x^2"
SECRET_EMAIL = "maria.lopez@example-corp.com"
SECRET_AWS = "AKIAZ7QX4MNB2LKD9WPE"
# Category names and keywords are made from log text, so they can carry markup and secrets too.
HOSTILE_NAME = f"Triage {SECRET_AWS} </table> <script>x</script> TPL-{{{{ 7*7 }}}}-END $5 & $x^2"

# name, task type, requests, cost per request (USD), replays judged, passed, check
SPECS = [
    ("Support ticket triage labels", "classification", 60, 0.21, 30, 29, "label_match"),
    ("SQL from analytics questions", "structured_generation", 40, 0.62, 20, 17, "sql_parses"),
    ("Contract clause reasoning", "long_document_reasoning", 24, 2.4, 12, 5, "similarity"),
    ("Product JSON extraction", "extraction", 30, 0.3, 15, 14, "json_valid"),
    ("Python helpers from spec", "code_from_spec", 20, 0.95, 10, 8, "code_compiles"),
    ("Release note summaries", "summarization", 18, 0.4, 9, 6, "similarity"),
    ("Icon SVG generation", "structured_generation", 16, 0.5, 8, 8, "svg_renders"),
    ("Vague refactoring requests", "ambiguous_instruction", 14, 1.5, 7, 2, "similarity"),
    ("Marketing copy drafts", "open_ended", 12, 0.45, 6, 4, "similarity"),
    ("Log line tagging", "classification", 26, 0.1, 13, 13, "label_match"),
]


def decision(passed: int, judged: int, check: str) -> str:
    """The judge's rule, simplified: needs_judge when only similarity looked at the answers, local when the lower
    bound clears 0.8, cascade when an objective check can catch the failures and acceptance is at least 0.6,
    frontier otherwise."""
    low, _ = wilson_interval(passed, judged)
    if check == "similarity":
        return "needs_judge"  # similarity alone never decides a category
    if low >= 0.8:
        return "local"
    if check != "similarity" and passed / judged >= 0.6:
        return "cascade"
    return "frontier"


def _request_id(cat: int, i: int) -> int:
    return 1_000_000 + cat * 1000 + i


def build(con, *, categories: int = 3, measured: bool = True, hostile: bool = False, long_prompts: bool = False, other: bool = True) -> dict:
    """Insert requests, categories, replays, judgments and the rest for ``categories`` categories
    (plus an Other bucket). Returns what was inserted, for assertions."""
    specs = SPECS[:categories]
    requests, rc_rows, replays, judgments = [], [], [], []
    cat_rows, acceptance_rows = [], []
    total_spend = sum(n * cost for _, _, n, cost, *_ in specs) + (20 * 0.15 if other else 0)
    total_requests = sum(s[2] for s in specs) + (20 if other else 0)
    all_specs = list(enumerate(specs, start=1)) + ([(OTHER_ID, ("Other", "other", 20, 0.15, 0, 0, None))] if other else [])
    for cid, (name, task_type, n, cost, judged, passed, check) in all_specs:
        keywords = [name.split()[0].lower(), name.split()[-1].lower(), "team"]
        if hostile and cid == 1:
            # Category names and keywords come from log text too.
            name = HOSTILE_NAME
            keywords.append(SECRET_EMAIL)
        for i in range(n):
            rid = _request_id(cid, i)
            created = T0 + dt.timedelta(hours=(i * 7 + cid * 3) % 240, minutes=i % 60)
            prompt = f"[{name}] request {i}: please handle item #{i} for team {cid}."
            if long_prompts and i == 0:
                prompt = f"[{name}] long request: " + ("lorem context sentence about the quarterly ledger. " * 200) + "TAIL-MARKER"
            if hostile and i < 2:
                prompt = f"[{name}] {HOSTILE} contact {SECRET_EMAIL} key {SECRET_AWS}"
            response = f"Answer {i} for {name}: label-{i % 3}"
            if hostile and i < 2:
                response = f"Frontier says {HOSTILE} and mails {SECRET_EMAIL}"
            requests.append(
                (rid, f"src-{rid}", "exports/app.jsonl", i + 1, "openai_chat", "openai", "gpt-4o", created, None,
                 json.dumps([{"role": "user", "content": prompt}]), prompt, response, 400 + i, 0, 0, 120 + i % 7, 0,
                 cost, "catalog", False, 850.0, "ok", None, None, None, INGESTED_AT)
            )
            rc_rows.append((rid, cid, cid, float(i) / max(n, 1), "fit"))
            if measured and cid != OTHER_ID and i < judged:
                replay_id = 5_000_000 + rid
                ok = i >= (judged - passed)  # the first (judged - passed) replays fail
                local = f"Local answer {i} for {name}: label-{i % 3}"
                if hostile and i < 2:
                    local = f"Local says {HOSTILE} and mails {SECRET_EMAIL}"
                replays.append(
                    (replay_id, rid, cid, "qwen3.6:35b-a3b", "http://127.0.0.1:11434/v1", local, 400 + i, 118 + i % 5,
                     False, 2100.0, 55.0 + i % 3, "stop", None, 1, REPLAYED_AT - dt.timedelta(minutes=5), REPLAYED_AT)
                )
                judgments.append(
                    (replay_id, rid, cid, "qwen3.6:35b-a3b", check, ok, 1.0 if ok else 0.0,
                     None if ok else f"{check} failed: expected label-{i % 3} <b>got</b> other", "auto",
                     check != "similarity", JUDGED_AT)
                )
        spend = n * cost
        share_lo, share_hi = wilson_interval(n, total_requests)
        cat_rows.append(
            (cid, name, task_type, keywords,
             json.dumps([{"request_id": _request_id(cid, 0), "text": f"[{name}] request 0"}]), n, n / total_requests, share_lo, share_hi, n * 400, n * 120, spend,
             spend / total_spend, None, None, json.dumps({"gpt-4o": n}), T0, T0 + dt.timedelta(days=10), cid == OTHER_ID,
             cid if cid != OTHER_ID else None, "all-MiniLM-L6-v2", 12, CATEGORIZED_AT)
        )
        if measured and cid != OTHER_ID:
            low, high = wilson_interval(passed, judged)
            failures = judged - passed
            decided = decision(passed, judged, check)
            acceptance_rows.append(
                (cid, name, task_type, "qwen3.6:35b-a3b", judged, passed, passed / judged, low, high, decided,
                 f"decided {decided} at a lower bound of {low:.2f}", failures if decided == "cascade" else 0, 0, 0,
                 0.1, 62, None, json.dumps({check: {"n": judged, "passed": passed, "acceptance": passed / judged}}),
                 json.dumps({"checks": [check], "source": "task_type"}),
                 json.dumps([{"check": check, "reason": f"{check} failed: expected label-N <b>got</b> other", "count": failures, "example_replay_ids": []}] if failures else []),
                 json.dumps([]), json.dumps({"target": 0.8, "margin": 0.1}), JUDGED_AT,
                 judged, "similarity" if check == "similarity" else "objective",
                 json.dumps({"similarity" if check == "similarity" else "objective": judged}),
                 json.dumps({"calls": 0, "transient": 0, "deterministic": 0, "kinds": {}, "example": None}))
            )

    con.executemany(
        """insert into requests (id, source_id, source_file, source_line, source_format, provider, model, created_at,
           system_prompt, messages_json, prompt_text, response_text, input_tokens, cached_input_tokens, cache_write_tokens,
           output_tokens, reasoning_tokens, cost_usd, cost_source, is_batch, duration_ms, status, user_id, tags_json,
           params_json, ingested_at) values (""" + ",".join("?" * 26) + ")",
        requests,
    )
    con.executemany("insert into request_categories (request_id, category_id, cluster, distance, assigned_by) values (?, ?, ?, ?, ?)", rc_rows)
    con.executemany(
        """insert into categories (category_id, name, task_type, keywords, examples_json, requests, share_of_requests,
           share_ci_low, share_ci_high, input_tokens, output_tokens, spend_usd, share_of_spend, spend_ci_low_usd,
           spend_ci_high_usd, models_json, first_at, last_at, is_other, spend_rank, embedder, k, created_at)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        cat_rows,
    )
    if replays:
        con.executemany(
            """insert into replays (id, request_id, category_id, model, endpoint, output_text, input_tokens, output_tokens,
               tokens_estimated, latency_ms, output_tokens_per_s, finish_reason, error, attempts, started_at, finished_at)
               values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            replays,
        )
        con.executemany(
            """insert into judgments (replay_id, request_id, category_id, model, check_name, passed, score, reason, source,
               runtime_check, judged_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            judgments,
        )
        con.executemany(
            """insert into category_acceptance (category_id, name, task_type, model, n, passed, acceptance, ci_low, ci_high,
               decision, decision_reason, caught_failures, human_reviewed, unjudged, margin, n_needed, n_to_decide,
               checks_json, criteria_json, failure_reasons_json, examples_json, thresholds_json, judged_at,
               answers, evidence, evidence_json, errors_json)
               values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            acceptance_rows,
        )
    scan_findings = []
    if hostile:
        for cid, *_ in all_specs[:1]:
            for i in range(2):
                scan_findings += [(_request_id(cid, i), "EMAIL", 3), (_request_id(cid, i), "AWS_KEY", 1)]
    from analyzer.privacy import engine_version

    # Scanned by this engine: the report keeps these findings instead of scanning again.
    con.executemany("insert into privacy_scans values (?, ?, ?)", [(r[0], 0, engine_version()) for r in requests])
    if scan_findings:
        con.executemany("insert or replace into privacy_findings values (?, ?, ?)", scan_findings)
    con.execute(
        "insert into ingested_files (path, sha256, size_bytes, source_format, rows_added, rows_duplicate, rows_rejected,"
        " ingested_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
        ["exports/app.jsonl", "ab" * 32, 123456, "openai_chat", len(requests), 0, 2, INGESTED_AT],
    )
    con.executemany(
        "insert into rejects values (?, ?, ?, ?, ?, ?, ?)",
        [
            (1, "exports/app.jsonl", 77, "openai_chat", "not valid JSON: Expecting ',' delimiter", '{"model": "gpt-4o" "x"', INGESTED_AT),
            (2, "exports/app.jsonl", 91, "openai_chat", "no messages in request", "{}", INGESTED_AT),
        ],
    )
    runs = [("ingest", INGESTED_AT, {"paths": ["exports/"]}), ("categorize", CATEGORIZED_AT, {"k": 12, "top": 10, "embedder": "all-MiniLM-L6-v2"})]
    if measured:
        runs += [("replay", REPLAYED_AT, {"endpoint": "http://127.0.0.1:11434/v1"}), ("judge", JUDGED_AT, {"target": 0.8})]
    con.executemany(
        "insert into stage_runs values (?, ?, ?, ?, ?)",
        [(stage, at - dt.timedelta(minutes=1), at, json.dumps(params), json.dumps({})) for stage, at, params in runs],
    )
    return {"requests": len(requests), "categories": len(specs), "spend_usd": sum(r[17] for r in requests)}
