"""Apache APISIX's AI gateway logs (format `apisix`), built from APISIX's own source (github apache/apisix at
f519a0f, 3.18.0, compared with the 3.13-3.17 tags: apisix/utils/log-util.lua, apisix/plugins/ai-proxy/base.lua, the
ai-protocols' usage extraction, apisix/cli/ngx_tpl.lua's variables), not captured from a running gateway: file-logger
entries with `llm_summary`, `llm_request`, `llm_response_text` and the raw bodies, an http-logger batch, and the
access log in the ai-proxy documentation's format. Before, every file was "not a log format plan recognises"."""

import json

import pytest

from helpers import ingest_fixtures, stored_requests


def ingest(con, fixtures, *names):
    return ingest_fixtures(con, fixtures, "apisix", "apisix", *names)


def sums(con):
    return con.execute("""
        select count(*) filter (where status = 'ok'), sum(input_tokens), sum(output_tokens), sum(reasoning_tokens),
               count(*) filter (where status = 'error'), count(*) filter (where operation = 'embeddings') from requests""").fetchall()[0]


@pytest.mark.parametrize(("name", "skipped", "expected"), [
    ("apisix_file_logger.jsonl", 1, (6, 583, 445, 0, 1, 1)),  # an orders API entry skipped; a 429
    ("apisix_http_logger_batch.json", 1, (3, 354, 1287, 1102, 1, 0)),  # an ai-cache hit skipped; a 504 timeout
    ("apisix_access.log", 1, (6, 583, 445, None, 1, 1)),
])
def test_each_writer_holds_every_call(con, fixtures, name, skipped, expected):
    file, = ingest(con, fixtures, name)
    assert (file["rows_skipped"], file["rows_rejected"]) == (skipped, 0)
    assert sums(con) == expected


def test_the_provider_is_the_upstreams_and_the_model_the_one_that_answered(con, fixtures):
    ingest(con, fixtures, "apisix_file_logger.jsonl")
    rows = {r["source_line"]: r for r in stored_requests(con, as_list=True)}
    assert (rows[1]["provider"], rows[1]["model"], rows[1]["source_id"]) == ("openai", "gpt-4o-2024-08-06", "chatcmpl-CFq2x8Ln4TzQmVh1aWb9KcR3sYpDe")
    assert rows[1]["prompt_text"].startswith("Summarize the main Q3 churn drivers")
    asked_other = rows[3]  # the client asked for gpt-4o-mini, the route sent deepseek-chat
    assert (asked_other["provider"], asked_other["model"], asked_other["cached_input_tokens"], asked_other["status"]) == (
        "deepseek", "deepseek-chat", 128, "ok")
    assert json.loads(asked_other["tags_json"])["requested_model"] == "gpt-4o-mini"
    assert (rows[5]["provider"], rows[5]["cost_source"]) == (None, "unknown")  # a self-hosted Qwen: no price to guess
    fallback = rows[8]  # OpenAI answered 500, DeepSeek the retry: billed by DeepSeek
    assert (fallback["provider"], fallback["model"], fallback["input_tokens"]) == ("deepseek", "deepseek-chat", 233)
    failed = rows[4]
    assert (failed["status"], failed["input_tokens"], failed["response_text"]) == ("error", None, None)
    assert (rows[6]["response_text"].startswith("1. Your September invoice is ready"), rows[6]["user_id"]) == (True, "marketing-app")
    assert str(rows[1]["created_at"]) == "2026-09-14 09:12:03.418000"


def test_the_access_log_is_the_same_calls_without_text(con, fixtures):
    ingest(con, fixtures, "apisix_access.log")
    rows = {r["source_line"]: r for r in stored_requests(con, as_list=True)}
    assert (rows[3]["provider"], rows[3]["model"], rows[3]["duration_ms"], rows[3]["prompt_text"]) == ("deepseek", "deepseek-chat", 3102.0, None)
    assert rows[1]["source_id"] == "48ed5d2db39237d7ae5e829b17581629"


def test_a_log_opening_with_other_routes_entries_is_still_read(con, fixtures, tmp_path):
    from analyzer.ingest import ingest_paths

    lines = (fixtures / "apisix" / "apisix_file_logger.jsonl").read_text().splitlines()
    other = next(line for line in lines if "llm_summary" not in line)
    (tmp_path / "file.log").write_text("\n".join([other] * 150 + lines) + "\n")  # 150 entries of 64 KB and more
    file, = ingest_paths(con, [str(tmp_path / "file.log")])["files"]
    assert (file["format"], file["rows_added"], file["rows_skipped"]) == ("apisix", 7, 151)


def test_the_access_log_with_iso_times_and_a_failure_status_as_text_are_read(con, fixtures, tmp_path):
    from analyzer.ingest import ingest_paths

    access = (fixtures / "apisix" / "apisix_access.log").read_text().replace("[14/Sep/2026:09:12:05 +0000]", "[2026-09-14T09:12:05+00:00]")
    (tmp_path / "access.log").write_text(access)
    entry = json.loads((fixtures / "apisix" / "apisix_file_logger.jsonl").read_text().splitlines()[0])
    entry["response"] = {**entry["response"], "status": "500", "body": None}  # a log shipper wrote numbers as text
    (tmp_path / "failed.jsonl").write_text(json.dumps(entry) + "\n")
    ingest_paths(con, [str(tmp_path / "access.log"), str(tmp_path / "failed.jsonl")])
    rows = stored_requests(con, as_list=True)
    first = next(r for r in rows if r["source_id"] == "48ed5d2db39237d7ae5e829b17581629")
    assert str(first["created_at"]) == "2026-09-14 09:12:03.152000"
    failed = next(r for r in rows if r["source_file"].endswith("failed.jsonl"))
    assert (failed["status"], failed["input_tokens"], failed["cost_source"]) == ("error", None, "unknown")


def test_entries_kept_by_a_log_store_are_read_inside_its_records(con, fixtures, tmp_path):
    from analyzer.ingest import ingest_paths

    entries = [json.loads(line) for line in (fixtures / "apisix" / "apisix_file_logger.jsonl").read_text().split("\n") if line.strip()]
    path = tmp_path / "elasticdump.jsonl"
    path.write_text("".join(json.dumps({"_index": "apisix", "_id": str(i), "_source": e}) + "\n" for i, e in enumerate(entries)))
    file, = ingest_paths(con, [str(path)])["files"]
    assert (file["format"], file["rows_added"], file["rows_skipped"]) == ("apisix", 7, 1)
    assert sums(con) == (6, 583, 445, 0, 1, 1)
