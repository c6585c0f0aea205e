import json

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import stored_requests

COLUMNS = ("source_id, model, provider, system_prompt, prompt_text, response_text, input_tokens, cached_input_tokens, "
           "cache_write_tokens, output_tokens, cost_usd, cost_source, duration_ms, status, user_id, tags_json")


def test_jsonl_export_with_bodies(con, fixtures):
    path = fixtures / "helicone" / "export.jsonl"
    assert detect_format(expand_paths([str(path)])[0]) == "helicone"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (4, 2)
    got = stored_requests(con, COLUMNS)
    triage = got["1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c51"]
    assert triage["system_prompt"] == "Classify the ticket priority as P1, P2 or P3."
    assert triage["prompt_text"].startswith("Checkout page returns 500")
    assert triage["response_text"] == "P1"
    # the response body's OpenAI usage wins: prompt_tokens already include the cached ones
    assert (triage["input_tokens"], triage["cached_input_tokens"], triage["output_tokens"]) == (2148, 1148, 12)
    assert (triage["cost_usd"], triage["cost_source"], triage["duration_ms"]) == (0.000241, "log", 1402)
    assert json.loads(triage["tags_json"])["properties"]["Helicone-Property-Feature"] == "ticket-triage"
    review = got["2b3c4d5e-6f70-4b8c-9d0e-1f2a3b4c5d62"]
    assert review["system_prompt"] == "You review pull requests for security issues."
    assert (review["input_tokens"], review["cache_write_tokens"]) == (3150, 3000)  # Anthropic: cache writes beside input
    assert got["3c4d5e6f-7081-4c9d-8e1f-2a3b4c5d6e73"]["status"] == "error"  # HTTP 429
    no_body = got["4d5e6f70-8192-4dae-9f2a-3b4c5d6e7f84"]
    assert no_body["prompt_text"] is None and no_body["input_tokens"] == 80  # body placeholder: columns only
    lines = [r[0] for r in con.execute("select source_line from rejects order by source_line").fetchall()]
    assert lines == [4, 6]


def test_csv_export_with_doubly_escaped_json_cells(con, fixtures):
    path = fixtures / "helicone" / "export.csv"
    assert detect_format(expand_paths([str(path)])[0]) == "helicone"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (2, 1)
    got = stored_requests(con, COLUMNS)
    triage = got["7f2d9a10-3c1b-4a8e-b1a0-0c9e1f2d3a41"]  # keyed by response_id: the CSV has no request_id
    assert triage["prompt_text"].startswith("Checkout page returns 500")
    assert triage["model"] == "gpt-4o-mini" and triage["user_id"] == "user_314"
    assert json.loads(triage["tags_json"])["properties"]["Helicone-Property-Env"] == "prod"
    reason = con.execute("select reason from rejects").fetchall()[0][0]
    assert "prompt_tokens" in reason and "many" in reason


def test_csv_and_jsonl_of_the_same_calls_do_not_double_count(con, fixtures):
    ingest_paths(con, [str(fixtures / "helicone" / "export.csv")])
    summary = ingest_paths(con, [str(fixtures / "helicone" / "export.jsonl")])
    assert summary["rows_duplicate"] == 2 and summary["rows_added"] == 2
    assert con.execute("select count(*) from requests").fetchall()[0][0] == 4
    # the CSV has no response bodies; the JSONL brings the answer to the stored row
    answer = con.execute("select response_text from requests where source_id = '7f2d9a10-3c1b-4a8e-b1a0-0c9e1f2d3a41'").fetchall()
    assert answer == [("P1",)]
