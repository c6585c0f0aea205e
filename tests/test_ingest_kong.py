"""Kong AI Gateway's logs (format `kong`), built from Kong's own source (github Kong/kong at master 22246ef and the
3.6.0-3.9.0 tags: kong/llm/plugin/shared-filters/serialize-analytics.lua, kong/llm/drivers/shared.lua, kong/pdk/log.lua,
the ai-proxy and transformer integration specs' expected log JSON), not captured from a running gateway: each
version's shape of the `ai` section (3.6 flat, 3.7 `prompt_token`, 3.8 `ai["ai-proxy"]`, 3.9+ `ai.proxy`), the file-log
lines, an http-log batch and Docker's stdout with a line split at 16 KB. Before, every file was "not a log format plan
recognises"."""

import json

import pytest

from helpers import ingest_fixtures, stored_requests


def ingest(con, fixtures, *names):
    return ingest_fixtures(con, fixtures, "kong", "kong", *names)


def sums(con):
    return con.execute("""
        select count(*) filter (where status = 'ok'), sum(input_tokens), sum(output_tokens),
               count(*) filter (where status = 'error'), round(sum(cost_usd) filter (where cost_source = 'log'), 9)
        from requests""").fetchall()[0]


@pytest.mark.parametrize(("name", "skipped", "expected"), [
    # 7 paid calls (one entry holds the request transformer's call and the proxy's), a 429, a cache hit and other
    # traffic skipped; the proxy's logged cost beside the transformer's is the transformer's repeated: catalogue
    ("kong_39_file_log.jsonl", 2, (7, 421, 361, 1, 0.0023107)),
    ("kong_380_file_log.jsonl", 0, (2, 90, 81, 1, 0.0000621)),  # a 500 whose ai section holds only the request
    ("kong_37_file_log.jsonl", 0, (2, 335, 228, 1, None)),  # no cost logged; a 429 without ai section on a model path
    ("kong_36_file_log.jsonl", 1, (2, 241, 171, 1, None)),
    ("kong_http_log_batch.json", 1, (3, 161, 163, 0, 0.0014475)),
    ("kong_docker_stdout.log", 7, (3, 117, 3959, 0, 0.038872)),  # access log lines, other traffic, a cache hit
])
def test_each_version_and_writer_holds_every_call(con, fixtures, name, skipped, expected):
    file, = ingest(con, fixtures, name)
    assert (file["rows_skipped"], file["rows_rejected"]) == (skipped, 0)
    assert sums(con) == expected


def test_an_entry_with_a_transformer_is_two_calls_each_with_its_own_model_and_text(con, fixtures):
    ingest(con, fixtures, "kong_39_file_log.jsonl")
    rows = {(r["source_line"], json.loads(r["tags_json"])["plugin"]): r for r in stored_requests(con, as_list=True)}
    transformer, proxy = rows[(9, "ai-request-transformer")], rows[(9, "proxy")]
    assert (transformer["model"], transformer["input_tokens"], transformer["cost_source"]) == ("gpt-4o-mini-2024-07-18", 112, "log")
    assert transformer["prompt_text"].startswith("Hi, I'm Dana Whitfield")  # the client's own words, before rewriting
    assert (proxy["model"], proxy["input_tokens"], proxy["output_tokens"], proxy["cost_source"]) == ("gpt-4o-2024-08-06", 38, 96, "catalog")
    assert proxy["prompt_text"].startswith("Hi, I'm [NAME]") and proxy["response_text"].startswith("Subject: Boiler repair")


def test_providers_failures_streams_and_embeddings_read_as_kong_logs_them(con, fixtures):
    ingest(con, fixtures, "kong_39_file_log.jsonl")
    rows = {r["source_line"]: r for r in stored_requests(con, as_list=True)}
    claude = rows[3]  # sent in Anthropic's format, answered in OpenAI's by Kong's translation
    assert (claude["provider"], claude["model"], claude["duration_ms"], str(claude["created_at"])) == (
        "anthropic", "claude-sonnet-4-20250514", 2616.0, "2026-03-12 10:02:11.377000")
    assert claude["response_text"].startswith("- Off-by-one")
    assert json.loads(rows[4]["tags_json"])["tokens"] == "Kong's estimate"  # an OpenAI stream: Kong counted words
    refused = rows[5]  # Kong logs its estimate of a failed call's prompt: not a count
    assert (refused["status"], refused["input_tokens"], refused["cost_source"]) == ("error", None, "unknown")
    assert refused["prompt_text"].startswith("Translate the attached onboarding checklist")
    assert (rows[7]["operation"], rows[7]["input_tokens"], rows[7]["cost_source"]) == ("embeddings", 14, "catalog")  # cost 0: no price typed
    assert 6 not in rows and 8 not in rows  # the semantic cache's hit, an orders API call


def test_the_same_entries_from_file_log_and_http_log_count_once(con, fixtures):
    logged, sent = ingest(con, fixtures, "kong_39_file_log.jsonl", "kong_http_log_batch.json")
    assert (sent["rows_added"], sent["rows_duplicate"]) == (0, 3)


def test_entries_without_statistics_logged_are_calls_of_unknown_usage_successes_and_failures_alike(con, fixtures, tmp_path):
    from analyzer.ingest import ingest_paths

    entries = [json.loads(line) for line in (fixtures / "kong" / "kong_39_file_log.jsonl").read_text().splitlines()]
    for entry in entries:
        entry.pop("ai", None)  # logging.log_statistics off, Kong's default
    (tmp_path / "kong.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    file, = ingest_paths(con, [str(tmp_path / "kong.jsonl")], fmt="kong")["files"]
    assert (file["rows_added"], file["rows_skipped"]) == (8, 1)  # the orders API call is no model call
    assert con.execute("""select count(*) filter (where status = 'ok'), count(*) filter (where status = 'error'),
                                 count(input_tokens), count(model) from requests""").fetchall()[0] == (7, 1, 0, 0)


def test_kubectl_logs_mixing_access_and_error_lines_with_the_entries_are_read_without_rejects(con, fixtures, tmp_path):
    from analyzer.ingest import ingest_paths

    entries = (fixtures / "kong" / "kong_39_file_log.jsonl").read_text().splitlines()
    noise = ['10.0.0.7 - - [12/Mar/2026:09:14:04 +0000] "POST /openai HTTP/1.1" 200 812 "-" "OpenAI/Python 1.68.2"',
             '2026/03/12 09:14:05 [warn] 1281#0: *4 a client request body is buffered to a temporary file']
    (tmp_path / "kong.log").write_text("\n".join(line for entry in entries for line in (entry, *noise)) + "\n")
    file, = ingest_paths(con, [str(tmp_path / "kong.log")])["files"]
    assert (file["format"], file["rows_added"], file["rows_rejected"], file["rows_skipped"]) == ("kong", 8, 0, 2 + 2 * len(entries))


@pytest.mark.parametrize("store", ["cloudwatch events", "logs insights csv", "elasticsearch", "cloud logging", "datadog"])
def test_entries_kept_by_a_log_store_are_read_inside_its_records(con, fixtures, tmp_path, store):
    import csv

    from analyzer.ingest import ingest_paths

    lines = [line for line in (fixtures / "kong" / "kong_39_file_log.jsonl").read_text().split("\n") if line.strip()]
    entries = [json.loads(line) for line in lines]
    path = tmp_path / ("export.csv" if store == "logs insights csv" else "export.json")
    if store == "cloudwatch events":
        path.write_text(json.dumps({"events": [{"timestamp": 1773306843218, "message": line} for line in lines]}))
    elif store == "logs insights csv":
        with open(path, "w", newline="") as fh:
            csv.writer(fh).writerows([["@timestamp", "@message"], *[["2026-03-12 09:14:03.218", line] for line in lines]])
    elif store == "elasticsearch":
        path.write_text("".join(json.dumps({"_index": "kong", "_id": str(i), "_source": e}) + "\n" for i, e in enumerate(entries)))
    elif store == "cloud logging":
        path.write_text(json.dumps([{"insertId": str(i), "jsonPayload": e, "severity": "INFO"} for i, e in enumerate(entries)]))
    else:
        path.write_text(json.dumps({"data": [{"type": "log", "attributes": {"message": line, "service": "kong", "attributes": e}}
                                             for line, e in zip(lines, entries, strict=True)]}))
    file, = ingest_paths(con, [str(path)])["files"]
    assert (file["format"], file["rows_added"], file["rows_rejected"]) == ("kong", 8, 0)
    assert sums(con) == (7, 421, 361, 1, 0.0023107)
