"""Azure API Management's LLM logs (format `azure-apim`): the `ApiManagementGatewayLlmLog` table, built from its
Azure Monitor reference (columns), Microsoft's how-to (messages over 32 KB cut into pieces numbered by
`SequenceNumber`, requests and responses in rows of their own, one `CorrelationId` per call) and the Azure-Samples
AI-Gateway labs (the token row carries the deployment; diagnostic category `GatewayLlmLogs`), for six calls: one
streamed, one whose 90 KB prompt takes three pieces, an embedding, and a 429 the gateway refused (only in the join
with `ApiManagementGatewayLogs`). Not captured from a real APIM instance. Before, every file was "not a log format
plan recognises"."""

import json

import pytest

from helpers import ingest_fixtures, stored_requests

CALLS = (5, 22709, 850, 4, 4, 1)  # calls, tokens in, out, with prompt, with answer, embeddings


def ingest(con, fixtures, *names):
    return ingest_fixtures(con, fixtures, "azure_apim", "azure-apim", *names)


def sums(con):
    return con.execute("""
        select count(*), sum(input_tokens), sum(output_tokens), count(prompt_text), count(response_text),
               count(*) filter (where operation = 'embeddings') from requests""").fetchall()[0]


@pytest.mark.parametrize("name", ["llmlog_portal.csv", "llmlog_query_api.json", "llmlog_az_cli.json", "llmlog_storage.json"])
def test_each_export_of_the_table_is_one_call_per_correlation_id(con, fixtures, name):
    file, = ingest(con, fixtures, name)
    assert (file["rows_added"], file["rows_rejected"]) == (5, 0)  # 15 rows: token rows and message pieces
    assert sums(con) == CALLS
    rows = stored_requests(con)
    long_call = rows["c9a4b1e2-7d6f-4a0b-b3c2-1e9f8d7c6b03"]
    assert len(long_call["prompt_text"]) == 90027  # three pieces of 32 KB put back together
    assert long_call["prompt_text"].endswith("pick accuracy of 99.9 percent. ")
    assert long_call["response_text"].startswith("- Throughput rose steadily across the quarter.")
    first = rows["a3f1c2d4-0b1e-4c6a-9f10-2e7d5b8c9a01"]
    assert (first["provider"], first["model"], first["input_tokens"], first["output_tokens"], str(first["created_at"])) == (
        "azure", "gpt-4o-2024-11-20", 42, 118, "2026-06-12 09:14:03.512000")
    assert first["system_prompt"] == "You are a concise assistant for the Contoso support team."
    assert first["cost_source"] == "catalog"
    assert json.loads(rows["b7e2d9f0-4c3a-4b8e-8d21-6f0a1c2b3d02"]["tags_json"])["stream"] is True


def test_the_join_with_gateway_logs_gives_status_duration_and_the_refused_call(con, fixtures):
    file, = ingest(con, fixtures, "llmlog_joined.csv")
    assert file["rows_added"] == 6
    refused = stored_requests(con)["d2c8e7f1-9a0b-4e3d-a5f6-7b8c9d0e1f04"]
    assert (refused["status"], refused["model"], refused["input_tokens"], refused["cost_source"]) == ("error", "gpt-4o", None, "unknown")
    assert "Token limit is exceeded" in refused["tags_json"]
    assert con.execute("select sum(duration_ms), count(*) filter (where status = 'ok') from requests").fetchall()[0] == (17938.0, 5)


def test_the_llm_log_and_its_join_count_each_call_once_and_fill_in_each_other(con, fixtures):
    logged, joined = ingest(con, fixtures, "llmlog_storage.json", "llmlog_joined.csv")
    assert (logged["rows_added"], joined["rows_added"], joined["rows_duplicate"]) == (5, 1, 5)
    rows = stored_requests(con)
    haiku = rows["b7e2d9f0-4c3a-4b8e-8d21-6f0a1c2b3d02"]
    assert (haiku["duration_ms"], haiku["user_id"]) == (4870.0, "team-retail")  # from the join
    assert haiku["response_text"].startswith("Grey rain on the glass")  # from the LLM log
    assert sums(con)[:3] == (6, 22709, 850)


def test_pieces_that_are_each_a_json_array_are_joined_too(con, tmp_path):
    from analyzer.ingest import ingest_paths

    def record(seq, **properties):
        return json.dumps({"time": "2026-06-12T10:00:00.0000000Z", "category": "GatewayLlmLogs", "correlationId": "c-1",
                           "properties": {"sequenceNumber": seq, "deploymentName": "", "promptTokens": 0, **properties}})

    path = tmp_path / "PT1H.json"
    path.write_text("\n".join([
        record(0, deploymentName="gpt-4o", modelName="gpt-4o-2024-11-20", promptTokens=30, completionTokens=4),
        record(2, requestMessages=json.dumps([{"role": "user", "content": "second turn"}])),
        record(1, requestMessages=json.dumps([{"role": "system", "content": "Be brief."}])),
        record(3, responseMessages=json.dumps([{"role": "assistant", "content": "Done."}])),
    ]) + "\n")
    assert ingest_paths(con, [str(path)])["files"][0]["rows_added"] == 1
    row, = stored_requests(con, as_list=True)
    assert (row["system_prompt"], row["prompt_text"], row["response_text"], row["input_tokens"]) == (
        "Be brief.", "second turn", "Done.", 30)


def _portal_rows(fixtures):
    import csv

    with open(fixtures / "azure_apim" / "llmlog_portal.csv", encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _write_csv(path, rows, delimiter=","):
    import csv

    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.parametrize(("when", "delimiter"), [("12/06/2026, 09:14:03.512", ","), ("12.6.2026, 09:14:03.512", ";")])
def test_the_portals_times_in_a_day_first_locale_are_read_day_first(con, fixtures, tmp_path, when, delimiter):
    from analyzer.ingest import ingest_paths

    rows = _portal_rows(fixtures)
    for row in rows:
        row["TimeGenerated [UTC]"] = when  # en-GB and de browsers: 12 June, not 6 December
    _write_csv(tmp_path / "llm.csv", rows, delimiter)
    ingest_paths(con, [str(tmp_path / "llm.csv")])
    assert {str(r[0]) for r in con.execute("select created_at from requests").fetchall()} == {"2026-06-12 09:14:03.512000"}


def test_a_call_with_pieces_missing_keeps_its_tokens_and_leaves_its_text_out(con, fixtures, tmp_path):
    from analyzer.ingest import ingest_paths

    rows = [r for r in _portal_rows(fixtures)  # the second of the long prompt's three pieces cut by a row cap
            if not (r["CorrelationId"].startswith("c9a4") and r["SequenceNumber"] == "2")]
    _write_csv(tmp_path / "llm.csv", rows)
    assert ingest_paths(con, [str(tmp_path / "llm.csv")])["files"][0]["rows_added"] == 5
    long_call = stored_requests(con)["c9a4b1e2-7d6f-4a0b-b3c2-1e9f8d7c6b03"]
    assert (long_call["input_tokens"], long_call["prompt_text"], long_call["response_text"]) == (22531, None, None)
    assert "pieces missing" in long_call["tags_json"]


def test_message_rows_read_before_their_token_rows_are_filled_in_not_in_conflict(con, fixtures, tmp_path):
    from analyzer.ingest import ingest_paths

    rows = _portal_rows(fixtures)
    _write_csv(tmp_path / "a_messages.csv", [r for r in rows if r["SequenceNumber"] != "0"])
    _write_csv(tmp_path / "b_tokens.csv", [r for r in rows if r["SequenceNumber"] == "0"])
    files = ingest_paths(con, [str(tmp_path / "a_messages.csv"), str(tmp_path / "b_tokens.csv")])["files"]
    assert [f["rows_conflicting"] for f in files] == [0, 0]
    assert sums(con) == CALLS


def test_an_event_hubs_batch_of_records_is_read(con, fixtures, tmp_path):
    from analyzer.ingest import ingest_paths

    lines = (fixtures / "azure_apim" / "llmlog_storage.json").read_text().splitlines()
    (tmp_path / "batch.json").write_text(json.dumps({"records": [json.loads(line) for line in lines]}))
    assert ingest_paths(con, [str(tmp_path / "batch.json")])["files"][0]["rows_added"] == 5
    assert sums(con) == CALLS


def test_an_apps_own_log_with_a_correlation_id_and_token_counts_is_not_taken_for_apim(tmp_path):
    from analyzer.ingest import detect_format
    from analyzer.ingest.sources import expand_paths

    path = tmp_path / "calls.csv"
    path.write_text("timestamp,correlation_id,model,prompt_tokens,completion_tokens\n2026-06-12T09:10:00Z,c-0,gpt-4o,100,50\n")
    assert detect_format(expand_paths([str(path)])[0]) != "azure-apim"
