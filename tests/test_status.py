"""`plan status`: counts, date range, tokens, spend, formats and rejects of what was ingested."""

import json
from datetime import datetime

import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.db import connect
from analyzer.ingest import ingest_paths
from analyzer.status import status_summary


@pytest.fixture
def loaded(db_path, fixtures):
    con = connect(db_path)
    ingest_paths(con, [str(fixtures / "openai" / "chat_pairs.jsonl"), str(fixtures / "anthropic" / "batch_results.jsonl")])
    con.close()
    return db_path


def test_summary_adds_up(loaded):
    con = connect(loaded, read_only=True)
    s = status_summary(con)
    totals = con.execute("select count(*), sum(input_tokens), sum(output_tokens), sum(cost_usd) from requests").fetchall()[0]
    con.close()
    assert s["requests"] == totals[0] == 16
    assert (s["input_tokens"], s["output_tokens"]) == (totals[1], totals[2])
    assert s["spend_usd"] == pytest.approx(totals[3], abs=1e-6)
    assert s["first_at"] == datetime(2025, 3, 3, 9, 21) and s["last_at"] == datetime(2025, 3, 3, 11, 31, 40)
    assert s["requests_without_time"] == 4  # batch results carry no timestamp
    assert s["batch_requests"] == 4
    assert s["cached_input_tokens"] == 1280 + 10_000 and s["cache_write_tokens"] == 500
    assert s["cost_sources"] == {"log": 1, "catalog": 10, "unknown": 5}
    assert s["unknown_models"] == ["acme-finetune-v3"]
    formats = {f["format"]: f for f in s["formats"]}
    assert formats["openai"]["requests"] == 12 and formats["anthropic-batch-results"]["requests"] == 4
    assert sum(f["spend_usd"] for f in s["formats"]) == pytest.approx(s["spend_usd"], abs=1e-6)
    assert {x["status"]: x["requests"] for x in s["statuses"]}["error"] == 2
    assert s["rejects"]["total"] == 2
    assert s["rejects"]["recent"][0]["file"].endswith("chat_pairs.jsonl")
    assert s["stages"][0]["stage"] == "ingest"


def test_cli_status_json_and_text(loaded):
    runner = CliRunner()
    result = runner.invoke(cli, ["status", "--db", loaded, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["requests"] == 16 and doc["rejects"]["total"] == 2
    text = runner.invoke(cli, ["status", "--db", loaded]).output
    assert "Requests:  16" in text and "Rejected:  2" in text
    assert "openai" in text and "acme-finetune-v3" in text
    assert "chat_pairs.jsonl:5: not valid JSON" in text


def test_status_of_an_empty_or_missing_database(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(cli, ["status", "--db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code != 0 and "No database at" in missing.output and "Traceback" not in missing.output
    empty = tmp_path / "empty.duckdb"
    connect(str(empty)).close()
    result = runner.invoke(cli, ["status", "--db", str(empty)])
    assert result.exit_code == 0 and "No requests yet" in result.output
    assert json.loads(runner.invoke(cli, ["status", "--db", str(empty), "--json"]).stdout)["requests"] == 0


def test_status_counts_the_web_searches_models_ran(tmp_path):
    db = str(tmp_path / "s.duckdb")
    log = tmp_path / "claude.jsonl"
    log.write_text(json.dumps({
        "request": {"model": "claude-sonnet-4-5-20250929", "max_tokens": 100, "messages": [{"role": "user", "content": "News?"}]},
        "response": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                     "content": [{"type": "text", "text": "Here."}], "stop_reason": "end_turn",
                     "usage": {"input_tokens": 1000, "output_tokens": 100, "server_tool_use": {"web_search_requests": 3}}}}) + "\n")
    con = connect(db)
    ingest_paths(con, [str(log)])
    con.close()
    runner = CliRunner()
    doc = json.loads(runner.invoke(cli, ["status", "--db", db, "--json"]).stdout)
    assert (doc["web_searches"], round(doc["spend_usd"], 6)) == (3, 0.0345)  # $0.0045 of tokens, $0.03 of searches
    assert "3 web searches the models ran" in runner.invoke(cli, ["status", "--db", db]).output
