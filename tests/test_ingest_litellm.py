import json

from click.testing import CliRunner

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths

COLUMNS = ("source_id, model, provider, system_prompt, prompt_text, response_text, input_tokens, cached_input_tokens, "
           "cache_write_tokens, output_tokens, reasoning_tokens, cost_usd, cost_source, duration_ms, status, user_id, tags_json")


def rows(con):
    names = [c.strip() for c in COLUMNS.split(",")]
    return {r[0]: dict(zip(names, r)) for r in con.execute(f"select {COLUMNS} from requests").fetchall()}


def test_csv_export_with_json_encoded_columns(con, fixtures):
    path = fixtures / "litellm" / "spend_logs.csv"
    assert detect_format(expand_paths([str(path)])[0]) == "litellm"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (4, 2)
    got = rows(con)
    routed = got["chatcmpl-9xYz"]
    assert routed["system_prompt"].startswith("You route customer emails")
    assert routed["prompt_text"].startswith("Hi, the parcel arrived damaged")
    assert routed["response_text"] == "returns"
    # spend is LiteLLM's own cost for the call: a log-stated cost, not re-priced
    assert (routed["cost_usd"], routed["cost_source"]) == (0.000311, "log")
    assert (routed["input_tokens"], routed["cached_input_tokens"], routed["output_tokens"]) == (1830, 1536, 61)
    assert routed["duration_ms"] == 814 and routed["user_id"] == "u_4821"
    tags = json.loads(routed["tags_json"])
    assert tags["request_tags"] == ["email-router", "prod"] and tags["api_key_alias"] == "support-bot-prod"

    claude = got["3b2a6e0c-5d1f-4c8a-9e7b-2f4d6a8c0e12"]
    assert claude["provider"] == "anthropic" and claude["cache_write_tokens"] == 4096
    assert claude["prompt_text"] is None  # prompts were not stored in spend logs ("{}")
    assert claude["duration_ms"] == 9500

    failed = got["f0e1d2c3-0000-4000-8000-00000000fa11"]
    assert failed["status"] == "error" and "Rate limit" in json.loads(failed["tags_json"])["error"]
    reasons = con.execute("select source_line, reason from rejects order by source_line").fetchall()
    assert reasons[0][0] == 6 and "spend" in reasons[0][1] and "twelve cents" in reasons[0][1]
    assert reasons[1][0] == 7 and "request_id" in reasons[1][1]


def test_json_api_export_overlapping_the_csv_adds_only_new_calls(con, fixtures):
    ingest_paths(con, [str(fixtures / "litellm" / "spend_logs.csv")])
    path = fixtures / "litellm" / "spend_logs.json"
    assert detect_format(expand_paths([str(path)])[0]) == "litellm"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_duplicate"]) == (1, 1)
    cached = rows(con)["chatcmpl-A1b2"]
    assert cached["prompt_text"].startswith("Generate a JSON object")
    assert json.loads(cached["response_text"])["email"] == "test@example.com"
    assert json.loads(cached["tags_json"])["cache_hit"] is True
    again = ingest_paths(con, [str(fixtures / "litellm")])
    assert again["rows_added"] == 0


def test_cli_json_summary(db_path, fixtures):
    from analyzer.cli import cli

    result = CliRunner().invoke(cli, ["ingest", str(fixtures / "litellm" / "spend_logs.csv"), "--db", db_path, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows_added"] == 4 and summary["rows_rejected"] == 2
    assert summary["files"][0]["format"] == "litellm"
