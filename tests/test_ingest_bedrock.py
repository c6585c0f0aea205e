import gzip
import json

import pytest

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from conftest import EVAL_SOURCES, eval_source
from helpers import stored_requests

COLUMNS = ("source_id, model, provider, system_prompt, prompt_text, response_text, input_tokens, cached_input_tokens, "
           "cache_write_tokens, output_tokens, cost_usd, cost_source, duration_ms, status, is_batch, source_line")


def rejects(con):
    return con.execute("select source_line, reason from rejects order by source_line").fetchall()


def test_invocation_records_land_and_bad_lines_are_rejected(con, fixtures):
    summary = ingest_paths(con, [str(fixtures / "bedrock" / "invocations.jsonl")])
    assert (summary["rows_added"], summary["rows_rejected"]) == (7, 2)
    assert summary["files"][0]["format"] == "bedrock"
    assert [line for line, _ in rejects(con)] == [6, 9]
    assert "not valid JSON" in rejects(con)[0][1] and "modelId" in rejects(con)[1][1]
    got = stored_requests(con, COLUMNS)

    converse = got["6f1c2b9e-1a7d-4c55-9d0e-0b6a2f7f1a01"]
    assert converse["model"] == "us.anthropic.claude-3-5-haiku-20241022-v1:0"  # as logged, prefix kept
    assert converse["system_prompt"].startswith("You are the billing assistant")
    assert converse["prompt_text"] == "Why was I charged $4.99 twice on my April invoice?"
    # Bedrock reports cache reads beside inputTokenCount; input_tokens counts all input
    assert (converse["input_tokens"], converse["cached_input_tokens"], converse["output_tokens"]) == (1238, 1200, 36)
    assert converse["cost_source"] == "catalog" and converse["cost_usd"] > 0
    assert converse["duration_ms"] == 811

    llama = got["b1c2d3e4-4d5e-4f60-8b1c-2d3e4f5a6b04"]
    assert llama["system_prompt"] == "You label support tickets as billing, outage or other."
    assert llama["prompt_text"] == "My internet has been down since 6am."
    assert llama["response_text"] == "outage"

    assert got["a9b8c7d6-3c4d-4e5f-9a0b-1c2d3e4f5a03"]["response_text"].startswith("Revenue grew 12%")  # Titan
    assert got["e4f5a6b7-7081-4c93-9e4f-5a6b7c8d9e07"]["prompt_text"] == "Translate to French: 'Your order has shipped.'"
    nova = got["f5a6b7c8-8192-4da4-8f5a-6b7c8d9e0f08"]
    assert (nova["system_prompt"], nova["response_text"]) == ("Tag the product review with one of: positive, negative, mixed.", "mixed")
    anthropic = got["0d3e5f60-2b8c-4f2a-8d1e-77c9a0b1c202"]
    assert json.loads(anthropic["response_text"])["vendor"] == "ACME Corp"

    blocked = got["c2d3e4f5-5e6f-4a71-9c2d-3e4f5a6b7c05"]
    assert blocked["status"] == "blocked"
    assert blocked["input_tokens"] is None and blocked["output_tokens"] is None
    assert blocked["cost_usd"] is None and blocked["cost_source"] == "unknown"


# The invocation-log record of a real ConverseStream call (../shared/eval), and the in-repo stand-in in its shape.
CONVERSE_STREAM = {
    "shared/eval": {"id": "ff4b6c63-5561-4431-93b8-06a817275900", "prompt": "hello how are you",
                    "answer": "Hello! I'm doing well", "figures": (4, 38, 302)},
    "in-repo": {"id": "0b6f0c2e-7a51-4c1e-9d3a-5e2f8a1b7c44", "prompt": "which time zone is Lisbon in",
                "answer": "Lisbon is on Western European Time", "figures": (7, 29, 415)},
}


@pytest.mark.parametrize("source", EVAL_SOURCES)
def test_real_converse_stream_record(con, source):
    path = eval_source(source) / "logs" / "bedrock_invocation_converse_stream.json"
    want = CONVERSE_STREAM[source]
    summary = ingest_paths(con, [str(path)])
    assert summary["files"][0]["format"] == "bedrock" and summary["rows_added"] == 1
    rec = stored_requests(con, COLUMNS)[want["id"]]
    assert rec["model"] == "amazon.nova-lite-v1:0"
    assert rec["prompt_text"] == want["prompt"]
    assert rec["response_text"].startswith(want["answer"])
    assert (rec["input_tokens"], rec["output_tokens"], rec["duration_ms"]) == want["figures"]
    assert rec["status"] == "ok" and rec["cost_source"] == "catalog"


def test_cloudwatch_exports_are_detected_and_overlap_adds_nothing(con, fixtures):
    folder = fixtures / "bedrock"
    exports = ["cloudwatch_console.json", "filter_log_events.json", "logs_insights.json", "logs_insights.csv"]
    for name in exports:
        src = expand_paths([str(folder / name)])[0]
        assert detect_format(src) == "bedrock", name
    ingest_paths(con, [str(folder / "invocations.jsonl")])
    summary = ingest_paths(con, [str(folder / name) for name in exports])
    # every exported record is also in invocations.jsonl except the streamed one, whose line there is truncated
    assert summary["rows_added"] == 1
    assert summary["rows_duplicate"] == 7
    assert summary["rows_rejected"] == 1  # a non-invocation CloudWatch message
    streamed = stored_requests(con, COLUMNS)["d3e4f5a6-6f70-4b82-8d3e-4f5a6b7c8d06"]
    assert streamed["response_text"].startswith("SELECT customer_id, COUNT(*) AS orders")
    assert "GROUP BY customer_id;" in streamed["response_text"]
    assert (streamed["input_tokens"], streamed["output_tokens"], streamed["duration_ms"]) == (19, 38, 1432)


def test_gzip_with_byte_order_mark_and_export_task_lines(con, fixtures, tmp_path):
    text = (fixtures / "bedrock" / "invocations.jsonl").read_text()
    bom = tmp_path / "s3-delivery.json.gz"
    with gzip.open(bom, "wb") as fh:
        fh.write(b"\xef\xbb\xbf" + text.encode())
    # CloudWatch CreateExportTask writes "<timestamp> <message>" per line, gzipped
    export = tmp_path / "000000.gz"
    with gzip.open(export, "wt") as fh:
        for line in text.splitlines()[:3]:
            fh.write(f"2025-05-02T09:14:03.511Z {line}\n")
    assert detect_format(expand_paths([str(bom)])[0]) == "bedrock"
    first = ingest_paths(con, [str(bom)])
    assert (first["rows_added"], first["rows_rejected"]) == (7, 2)
    second = ingest_paths(con, [str(export)])
    assert second["files"][0]["format"] == "bedrock"
    assert (second["rows_added"], second["rows_duplicate"], second["rows_rejected"]) == (0, 3, 0)
    assert con.execute("select count(*) from requests").fetchall()[0][0] == 7


def test_reingest_adds_nothing(con, fixtures):
    path = str(fixtures / "bedrock" / "invocations.jsonl")
    ingest_paths(con, [path])
    again = ingest_paths(con, [path])
    assert (again["rows_added"], again["rows_duplicate"]) == (0, 7)
    assert con.execute("select count(*) from requests").fetchall()[0][0] == 7
    assert con.execute("select count(*) from rejects").fetchall()[0][0] == 2


def test_batch_inference_output_records(con, tmp_path):
    record = {
        "recordId": "CALL0000001",
        "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                       "messages": [{"role": "user", "content": "Classify: 'where is my parcel?'"}]},
        "modelOutput": {"id": "msg_1", "type": "message", "model": "claude-3-haiku-20240307",
                        "content": [{"type": "text", "text": "shipping"}], "stop_reason": "end_turn",
                        "usage": {"input_tokens": 18, "output_tokens": 2}},
    }
    path = tmp_path / "batch.jsonl.out"
    path.write_text(json.dumps(record) + "\n")
    summary = ingest_paths(con, [str(path)])
    assert summary["files"][0]["format"] == "bedrock" and summary["rows_added"] == 1
    rec = stored_requests(con, COLUMNS)["CALL0000001"]
    assert rec["is_batch"] is True and rec["response_text"] == "shipping"
    assert (rec["model"], rec["input_tokens"], rec["output_tokens"]) == ("claude-3-haiku-20240307", 18, 2)


def test_logs_insights_query_of_selected_fields(con, tmp_path):
    """A Logs Insights query that picked fields instead of @message: dotted names are nested again."""
    header = "@timestamp,requestId,modelId,timestamp,operation,input.inputTokenCount,output.outputTokenCount"
    line = "2025-05-02 09:14:03.000,7a7a7a7a-0000-4000-8000-000000000001,anthropic.claude-3-haiku-20240307-v1:0,2025-05-02T09:14:03Z,InvokeModel,120,45"
    path = tmp_path / "logs-insights-results.csv"
    path.write_text(header + "\n" + line + "\n")
    summary = ingest_paths(con, [str(path)])
    assert summary["files"][0]["format"] == "bedrock" and summary["rows_added"] == 1
    rec = stored_requests(con, COLUMNS)["7a7a7a7a-0000-4000-8000-000000000001"]
    assert (rec["input_tokens"], rec["output_tokens"], rec["prompt_text"]) == (120, 45, None)
    assert rec["cost_source"] == "catalog"


def test_logs_insights_results_flattened_into_field_value_pairs_are_records_again(con, fixtures, tmp_path):
    """PowerShell's ConvertTo-Json writes Logs Insights rows as one flat list of {"field", "value"} pairs."""
    path = fixtures / "bedrock" / "logs_insights_flattened.json"
    summary = ingest_paths(con, [str(path)])
    assert summary["files"][0]["format"] == "bedrock"
    # Seven records of three pairs each: six calls and one without a modelId, rejected once (not once per pair).
    assert (summary["rows_added"], summary["rows_rejected"]) == (6, 1)
    assert "modelId" in rejects(con)[0][1]
    totals = con.execute("select sum(input_tokens), sum(output_tokens), sum(cost_usd) from requests").fetchall()[0]
    assert totals[:2] == (1238 + 52 + 27 + 41 + 21 + 33, 36 + 24 + 14 + 2 + 9 + 2)
    # The same six calls from the raw invocation log give the same rows and prices.
    raw = tmp_path / "same_calls.jsonl"
    keep = (1, 2, 3, 4, 7, 8)
    raw.write_text("\n".join(line for n, line in enumerate((fixtures / "bedrock" / "invocations.jsonl").read_text().splitlines(), 1)
                             if n in keep) + "\n")
    from analyzer.db import connect

    other = connect(str(tmp_path / "raw.duckdb"))
    ingest_paths(other, [str(raw)])
    assert other.execute("select sum(input_tokens), sum(output_tokens), sum(cost_usd) from requests").fetchall()[0] == totals
    other.close()
    first = stored_requests(con, COLUMNS)["6f1c2b9e-1a7d-4c55-9d0e-0b6a2f7f1a01"]
    assert first["prompt_text"] == "Why was I charged $4.99 twice on my April invoice?" and first["cached_input_tokens"] == 1200


# One invocation log per model family, as Bedrock writes them: (source_id, model, status, input, cached, cache
# write, output, cost in USD). Input counts Bedrock's inputTokenCount plus its cache reads and writes; costs are the
# catalog's on-demand prices (e.g. Claude 3.5 Sonnet: 12 x $3 + 1,500 cache writes x $3.75 + 4 x $15 per million).
MODEL_FAMILIES = {
    "req-0001": ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "ok", 1512, 0, 1500, 4, 0.005721),
    "req-0002": ("arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
                 "ok", 1520, 1500, 0, 9, 0.000645),
    "req-0003": ("meta.llama3-1-70b-instruct-v1:0", "ok", 31, None, None, 2, 0.00002376),
    "req-0004": ("mistral.mistral-7b-instruct-v0:2", "ok", 11, None, None, 3, 0.00000225),
    "req-0005": ("amazon.titan-text-express-v1", "ok", 4, None, None, 17, 0.000011),
    "req-0006": ("amazon.titan-embed-text-v2:0", "ok", 4, None, None, 0, 0.00000008),
    "req-0007": ("cohere.command-r-plus-v1:0", "ok", 25, None, None, 8, 0.0001425),
    "req-0008": ("us.amazon.nova-pro-v1:0", "ok", 210, 200, 0, 3, 0.0000576),
    "req-0009": ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "ok", 400, None, None, 90, 0.00255),
    "req-0010": ("anthropic.claude-3-haiku-20240307-v1:0", "error", None, None, None, None, None),
    "req-0011": ("amazon.titan-image-generator-v2:0", "ok", None, None, None, None, None),  # billed per image
    "req-0012": ("us.deepseek.r1-v1:0", "ok", 9, None, None, 120, 0.00066015),
    "req-0013": ("openai.gpt-oss-120b-1:0", "ok", 70, None, None, 12, 0.0000177),
    # an application inference profile's ARN names no model: the body's model is the one priced
    "req-app-1": ("claude-3-5-haiku-20241022", "ok", 8, None, None, 2, 0.0000144),
}


def test_invocation_logs_of_every_model_family(con, fixtures):
    summary = ingest_paths(con, [str(fixtures / "bedrock_model_families.jsonl")])
    assert summary["files"][0]["format"] == "bedrock"
    assert (summary["rows_added"], summary["rows_rejected"], summary["rows_skipped"]) == (14, 0, 0)
    got = stored_requests(con, COLUMNS + ", tags_json")
    assert set(got) == set(MODEL_FAMILIES)
    for source_id, (model, status, inp, cached, write, out, cost) in MODEL_FAMILIES.items():
        row = got[source_id]
        assert (row["model"], row["status"], row["input_tokens"], row["cached_input_tokens"], row["cache_write_tokens"],
                row["output_tokens"]) == (model, status, inp, cached, write, out), source_id
        assert row["cost_usd"] == (None if cost is None else pytest.approx(cost, rel=1e-9)), source_id
    assert json.loads(got["req-app-1"]["tags_json"])["modelId"].endswith(":application-inference-profile/a1b2c3d4e5f6")
    assert got["req-0002"]["response_text"] == "Hello there"  # joined from the stream's chunks
    assert got["req-0009"]["response_text"].startswith("Let me check.")  # the reasoning block is not the answer
    assert "I should call the tool" not in got["req-0009"]["response_text"]
    assert (got["req-0003"]["system_prompt"], got["req-0003"]["prompt_text"]) == ("Be brief.", "What is 2+2?")
    assert got["req-0010"]["response_text"] is None
    total = con.execute("select sum(input_tokens), sum(output_tokens), round(sum(cost_usd), 9) from requests").fetchone()
    assert total == (3804, 270, round(sum(v[6] or 0 for v in MODEL_FAMILIES.values()), 9))


def test_cache_tokens_reported_only_in_the_body_are_input_too(con, fixtures):
    """A log without cacheReadInputTokenCount/cacheWriteInputTokenCount beside inputTokenCount (written before Bedrock
    added them) still counts the body's cache reads and writes as input: 12 + 1,500 read + 200 written, never fewer
    input tokens than cached ones (which priced the call below zero)."""
    summary = ingest_paths(con, [str(fixtures / "bedrock_cache_in_body_only.jsonl")])
    assert (summary["rows_added"], summary["rows_rejected"]) == (2, 0)
    got = stored_requests(con, COLUMNS)
    for source_id in ("old-1", "old-2"):  # Converse usage, and an Anthropic Messages body through InvokeModel
        row = got[source_id]
        assert (row["input_tokens"], row["cached_input_tokens"], row["cache_write_tokens"], row["output_tokens"]) == (
            1712, 1500, 200, 2)
        # Claude 3.5 Haiku: 12 x $0.80 + 1,500 x $0.08 + 200 x $1.00 + 2 x $4.00 per million
        assert row["cost_usd"] == pytest.approx(0.0003376, rel=1e-9)


def test_responses_boto3_returned_saved_by_the_app_are_read(con, fixtures):
    """invoke_model's {"modelId", "body", "ResponseMetadata"} (Claude, Titan and Llama bodies, one throttled call) and
    converse's bare responses, as json.dump(resp, default=str) writes them (boto3 1.44 with botocore's Stubber):
    "not a log format plan recognises", nothing stored."""
    invoke = str(fixtures / "bedrock" / "boto3_invoke_model_saved.jsonl")
    converse = str(fixtures / "bedrock" / "boto3_converse_saved.json")
    assert {detect_format(expand_paths([p])[0]) for p in (invoke, converse)} == {"bedrock"}
    file = ingest_paths(con, [invoke])["files"][0]
    assert (file["rows_added"], file["rows_rejected"], file["input_tokens"], file["output_tokens"]) == (5, 0, 2553, 60)
    rows = {r["model"]: r for r in stored_requests(con, as_list=True)}
    claude = rows["us.anthropic.claude-sonnet-4-20250514-v1:0"]
    assert (claude["input_tokens"], claude["cached_input_tokens"], claude["duration_ms"], claude["response_text"]) == (
        2509, 2500, 820.0, "Cached answer.")
    assert rows["anthropic.claude-3-haiku-20240307-v1:0"]["status"] == "error"  # ThrottlingException
    file = ingest_paths(con, [converse])["files"][0]
    assert (file["rows_added"], file["input_tokens"], file["output_tokens"]) == (4, 5717, 192)
    assert con.execute("select sum(cache_write_tokens), count(cost_usd) from requests where model is null").fetchone() == (1100, 0)
