import json

from click.testing import CliRunner

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import stored_requests

COLUMNS = ("source_id, provider, model, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, cost_usd,"
           " cost_source, duration_ms, status, user_id, system_prompt, prompt_text, response_text, params_json, tags_json")
FOLDER = "cloudflare_ai_gateway"


def test_logs_page(con, fixtures):
    """One GET .../logs page: logged cost in USD wins, a failure is an error, a cache hit is skipped, not stored."""
    path = fixtures / FOLDER / "logs_page.json"
    assert detect_format(expand_paths([str(path)])[0]) == "cloudflare-ai-gateway"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"], summary["rows_skipped"]) == (3, 1, 1)
    got = stored_requests(con, COLUMNS)
    assert sorted(got) == ["01JQ7CF0A1MINI0000000000AA", "01JQ7CF0B2HAIKU000000000BB", "01JQ7CF0C3FAIL0000000000CC"]
    mini = got["01JQ7CF0A1MINI0000000000AA"]
    assert (mini["provider"], mini["model"], mini["input_tokens"], mini["output_tokens"]) == ("openai", "gpt-4o-mini", 1250, 310)
    assert (mini["cost_usd"], mini["cost_source"], mini["duration_ms"], mini["status"]) == (0.0003735, "log", 842, "ok")
    assert mini["user_id"] == "u-17"  # from the custom metadata, a JSON string in the log
    tags = json.loads(mini["tags_json"])
    assert tags["metadata"] == {"user_id": "u-17", "team": "search"} and tags["path"] == "chat/completions"
    haiku = got["01JQ7CF0B2HAIKU000000000BB"]
    assert (haiku["provider"], haiku["input_tokens"], haiku["output_tokens"]) == ("anthropic", 2048, 512)
    assert (haiku["cost_usd"], haiku["cost_source"], haiku["duration_ms"]) == (0.0036864, "log", 1930)
    assert json.loads(haiku["tags_json"])["custom_cost"] is True
    failed = got["01JQ7CF0C3FAIL0000000000CC"]
    assert (failed["status"], failed["cost_usd"], failed["cost_source"]) == ("error", 0.0, "log")
    assert json.loads(failed["tags_json"])["http_status"] == 429
    # the cached log (same tokens and cost as the first) was answered by the gateway: no model call, no spend
    assert con.execute("select count(*) from requests where source_id = '01JQ7CF0D4CACHE000000000DD'").fetchone() == (0,)
    assert con.execute("select count(*), sum(input_tokens), sum(output_tokens), sum(cost_usd) from requests").fetchone() == (
        3, 3298, 822, 0.0003735 + 0.0036864)
    assert con.execute("select reason from rejects").fetchall() == [("no created_at",)]


def test_pages_as_json_lines_with_bodies(con, fixtures):
    """JSON Lines of pages: bodies (request/response, complete request_head/response_head) give the prompt, answer
    and the provider's usage; a log without cost is priced from the catalog; a failed API page is rejected."""
    path = fixtures / FOLDER / "pages.jsonl"
    assert detect_format(expand_paths([str(path)])[0]) == "cloudflare-ai-gateway"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"], summary["rows_skipped"]) == (3, 1, 0)
    got = stored_requests(con, COLUMNS)
    body = got["01JQ7CF1A1BODY0000000000AA"]
    assert (body["system_prompt"], body["prompt_text"]) == ("You answer questions about shipping policy.",
                                                            "Can I return a parcel after 40 days?")
    assert body["response_text"] == "Returns are accepted within 30 days of delivery."
    assert json.loads(body["params_json"]) == {"temperature": 0.2}
    assert (body["input_tokens"], body["cached_input_tokens"], body["output_tokens"]) == (1800, 1024, 95)
    assert (body["cost_usd"], body["cost_source"], body["duration_ms"]) == (0.000213, "log", 1210)
    unpriced = got["01JQ7CF1B2NOCOST00000000BB"]
    assert (unpriced["input_tokens"], unpriced["output_tokens"], unpriced["cost_source"]) == (1000, 200, "catalog")
    assert unpriced["cost_usd"] > 0
    head = got["01JQ7CF1C3HEAD0000000000CC"]  # Anthropic bodies from the log detail's complete heads
    assert (head["system_prompt"], head["prompt_text"], head["response_text"]) == (
        "Classify the ticket.", "My invoice shows the wrong VAT number.", "billing")
    # Anthropic's usage: input_tokens plus the cache read (the project's convention), where tokens_in said 60
    assert (head["input_tokens"], head["cached_input_tokens"], head["output_tokens"]) == (460, 400, 3)
    assert (head["cost_usd"], head["cost_source"]) == (0.0000732, "log")
    (line, reason), = con.execute("select source_line, reason from rejects").fetchall()
    assert line == 3 and "Authentication error" in reason


def test_list_of_pages_and_bare_logs(con, fixtures, tmp_path):
    """A JSON list of pages and JSON Lines of bare log objects read the same rows; re-reading adds nothing."""
    lines = (fixtures / FOLDER / "pages.jsonl").read_text().splitlines()
    pages = [json.loads(x) for x in lines[:2]]
    listed = tmp_path / "pages.json"
    listed.write_text(json.dumps(pages, indent=2))
    bare = tmp_path / "logs.jsonl"
    bare.write_text("".join(json.dumps(log) + "\n" for page in pages for log in page["result"]))
    for path in (listed, bare):
        assert detect_format(expand_paths([str(path)])[0]) == "cloudflare-ai-gateway"
    first = ingest_paths(con, [str(listed)])
    assert (first["rows_added"], first["rows_rejected"]) == (3, 0)
    second = ingest_paths(con, [str(bare)])
    assert (second["rows_added"], second["rows_duplicate"]) == (0, 3)  # same log ids: stored once
    assert con.execute("select count(*), sum(input_tokens), sum(output_tokens) from requests").fetchone() == (3, 3260, 298)


def test_cached_flag_alone_decides_the_skip(con, tmp_path):
    """The same log twice, once served from the gateway's cache: only the real call is stored."""
    log = {"id": "log-1", "created_at": "2025-03-18T11:00:00Z", "provider": "openai", "model": "gpt-4o-mini",
           "path": "chat/completions", "success": True, "cached": False, "duration": 500, "tokens_in": 10,
           "tokens_out": 5, "cost": 0.0000045}
    path = tmp_path / "two.jsonl"
    path.write_text(json.dumps(log) + "\n" + json.dumps({**log, "id": "log-2", "cached": True}) + "\n")
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_skipped"]) == (1, 1)
    assert con.execute("select source_id, cost_usd from requests").fetchall() == [("log-1", 0.0000045)]


def test_cli_reads_it_without_format_flag(db_path, fixtures):
    from analyzer.cli import cli

    result = CliRunner().invoke(cli, ["ingest", str(fixtures / FOLDER), "--db", db_path, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {f["format"] for f in summary["files"]} == {"cloudflare-ai-gateway"}
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_rejected"]) == (6, 1, 2)


def test_embedding_calls_through_the_gateway_are_not_prompts(con, tmp_path):
    """A RAG app's embeddings go through the gateway too: priced from the log, but no prompt to categorize."""
    log = {"id": "log-e1", "created_at": "2025-03-18T11:00:00Z", "provider": "openai", "model": "text-embedding-3-small",
           "path": "embeddings", "success": True, "cached": False, "duration": 90, "tokens_in": 800, "tokens_out": 0,
           "cost": 0.000016, "request": {"model": "text-embedding-3-small", "input": ["chunk one", "chunk two"]},
           "response": {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}],
                        "model": "text-embedding-3-small", "usage": {"prompt_tokens": 800, "total_tokens": 800}}}
    path = tmp_path / "embeddings.jsonl"
    path.write_text(json.dumps(log) + "\n")
    assert ingest_paths(con, [str(path)], fmt="cloudflare-ai-gateway")["rows_added"] == 1
    assert con.execute("select operation, prompt_text, messages_json, input_tokens, cost_usd, cost_source from requests").fetchall() == [
        ("embeddings", None, None, 800, 0.000016, "log")]
