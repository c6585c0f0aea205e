"""Portkey's logs export states ``cost`` in cents of USD (Portkey docs, "Logs Export" > Exported Data: "Cost of the
request in cents (USD)"); the ``portkey`` format claims these lines before the ``openai`` reader, which reads
``cost`` as dollars."""

import json

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import stored_requests

COLUMNS = "source_id, provider, model, input_tokens, output_tokens, cost_usd, cost_source, duration_ms, status, prompt_text, response_text, tags_json"


def test_export_cost_is_cents(con, fixtures):
    path = fixtures / "portkey" / "export.jsonl"
    assert detect_format(expand_paths([str(path)])[0]) == "portkey"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (2, 0)
    got = stored_requests(con, COLUMNS)
    mini = got["pk-0001"]
    # cost 0.06 cents = $0.0006 (2000 in x $0.15/M + 500 out x $0.60/M), not $0.06
    assert (mini["cost_usd"], mini["cost_source"], mini["duration_ms"], mini["status"]) == (0.0006, "log", 1375, "ok")
    assert (mini["provider"], mini["model"], mini["input_tokens"], mini["output_tokens"]) == ("openai", "gpt-4o-mini", 2000, 500)
    assert (mini["prompt_text"], mini["response_text"]) == ("Summarise: the meeting moved to Friday.", "Meeting is now on Friday.")
    assert json.loads(mini["tags_json"])["cache_status"] == "MISS"
    failed = got["pk-0002"]  # flattened request.body/response.body columns, is_success 0
    assert (failed["status"], failed["cost_usd"], failed["prompt_text"]) == ("error", 0.0, "Translate 'bonjour'.")
    assert con.execute("select count(*), sum(input_tokens), sum(output_tokens), sum(cost_usd) from requests").fetchone() == (2, 2000, 500, 0.0006)


def test_the_openai_reader_would_take_cents_for_dollars(con, fixtures):
    """What this format fixes: forced through ``openai``, the same line's 0.06 cents is stored as $0.06."""
    ingest_paths(con, [str(fixtures / "portkey" / "export.jsonl")], fmt="openai")
    costs = con.execute("select cost_usd from requests where model = 'gpt-4o-mini'").fetchall()
    assert costs == [(0.06,)]


def test_other_currency_is_rejected(con, tmp_path):
    line = {"id": "pk-9", "created_at": "2025-04-02T08:00:00Z", "ai_org": "openai", "ai_model": "gpt-4o-mini",
            "req_units": 1, "res_units": 1, "cost": 1, "cost_currency": "EUR", "is_success": 1,
            "request": {"body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}}
    path = tmp_path / "eur.jsonl"
    path.write_text(json.dumps(line) + "\n")
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (0, 1)
    assert "EUR" in con.execute("select reason from rejects").fetchone()[0]
