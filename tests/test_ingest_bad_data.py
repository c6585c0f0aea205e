"""Bad data never wrecks figures: impossible times, ids repeated with other content, absurd nesting, two writers."""

import json
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.db import connect, dicts, scalar
from analyzer.errors import PlanError
from analyzer.ingest import ingest_paths
from analyzer.status import status_summary
from helpers import route_neutral


def on_both_routes(tmp_path, path):
    stored = {}
    for fast in (True, False):
        con = connect(str(tmp_path / f"{fast}.duckdb"))
        summary = route_neutral(ingest_paths(con, [str(path)], fast=fast))
        stored[fast] = (summary, dicts(con, "select * exclude (ingested_at) from requests order by id"),
                        dicts(con, "select source_line, reason from rejects order by source_line"))
        con.close()
    assert stored[True] == stored[False]
    return stored[True]


def test_impossible_times_are_rejected_with_their_reason(tmp_path, fixtures):
    summary, requests, rejects = on_both_routes(tmp_path, fixtures / "bad_data" / "impossible_times.jsonl")
    assert (summary["rows_added"], summary["rows_rejected"]) == (2, 4)
    reasons = {r["source_line"]: r["reason"] for r in rejects}
    assert "9999-12-31 23:59:59 is more than a day after now" in reasons[2]
    assert "1970-01-01 00:00:00 is before 2015" in reasons[3]
    assert "2014-01-01 00:00:00 is before 2015" in reasons[4]
    assert "2100-01-01 00:00:00 is more than a day after now" in reasons[5]
    # The figures rest on the two real calls only, both priced: no month stretched to the year 9999.
    assert sum(r["input_tokens"] for r in requests) == 1000 + 600 and sum(r["output_tokens"] for r in requests) == 100 + 60
    assert {r["cost_source"] for r in requests} == {"catalog"} and summary["unknown_models"] == []
    assert max(r["created_at"] for r in requests).year == 2025


def test_impossible_logged_costs_are_rejected_never_a_crash(tmp_path):
    """A logged cost below zero or of a million dollars and more is no call's cost: a reject with the reason, on both
    routes (a cost of 1e300 used to be stored and then fail the file's summary with a DECIMAL overflow)."""
    def line(i, **envelope):
        completion = {"id": f"chatcmpl-c{i}", "object": "chat.completion", "created": 1764000000 + i, "model": "gpt-4o-mini-2024-07-18",
                      "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}}
        return {"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}, "response": completion, **envelope}
    lines = [line(0, cost_usd=0.0001), line(1, cost_usd=1e300), line(2, cost_usd=-0.5), line(3, cost_usd=0.0002)]
    lines.append(line(4))
    lines[4]["response"]["usage"]["cost"] = 2e6  # a gateway's usage cost past the bound
    path = tmp_path / "costs.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    summary, requests, rejects = on_both_routes(tmp_path, path)
    assert (summary["rows_added"], summary["rows_rejected"]) == (2, 3)
    assert [r["source_line"] for r in rejects] == [2, 3, 5]
    assert all("is not what one call can cost" in r["reason"] for r in rejects)
    assert sorted(r["cost_usd"] for r in requests) == [0.0001, 0.0002]


def test_an_id_repeated_with_other_content_is_a_conflict_and_the_first_is_kept(tmp_path, fixtures):
    path = fixtures / "bad_data" / "repeated_ids.jsonl"
    summary, requests, _ = on_both_routes(tmp_path, path)
    assert (summary["rows_added"], summary["rows_duplicate"], summary["rows_conflicting"]) == (2, 1, 2)
    kept = next(r for r in requests if r["source_id"] == "chatcmpl-bad7")
    assert (kept["source_line"], kept["response_text"], kept["output_tokens"]) == (1, "Enterprise.", 10)
    assert [(c["line"], c["kept_line"], c["fields"]) for c in summary["conflicts"]] == [
        (3, 1, "response_text"), (4, 1, "output_tokens")]
    con = connect(str(tmp_path / "True.duckdb"))
    again = ingest_paths(con, [str(path)])
    assert (again["rows_added"], again["rows_duplicate"], again["rows_conflicting"]) == (0, 3, 2)
    status = status_summary(con)
    assert status["rows_conflicting"] == 2 and status["conflicts"]["by_file"] == [{"file": str(path), "conflicting": 2}]
    con.close()
    result = CliRunner().invoke(cli, ["status", "--db", str(tmp_path / "True.duckdb")])
    assert "Conflicting: 2" in result.output and "differs in output_tokens" in result.output


def test_conflicts_reach_the_cli_json(tmp_path, db_path, fixtures):
    result = CliRunner().invoke(cli, ["ingest", "--db", db_path, "--json", str(fixtures / "bad_data" / "repeated_ids.jsonl")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows_conflicting"] == 2 and summary["files"][0]["rows_conflicting"] == 2
    assert len(summary["conflicts"]) == 2


def test_json_nested_past_a_sane_depth_is_a_reject_never_a_traceback(tmp_path, fixtures, db_path):
    path = fixtures / "bad_data" / "deep_nesting.jsonl"
    summary, requests, rejects = on_both_routes(tmp_path, path)
    assert (summary["rows_added"], summary["rows_rejected"]) == (2, 2)
    assert [r["source_line"] for r in rejects] == [1, 3]
    assert all("nested more than 200 levels deep" in r["reason"] for r in rejects)
    assert sorted(r["source_id"] for r in requests) == ["chatcmpl-bad11", "chatcmpl-bad9"]
    result = CliRunner().invoke(cli, ["ingest", "--db", db_path, str(path)])
    assert result.exit_code == 0 and "Traceback" not in result.output


def test_a_deep_document_is_not_a_format_rather_than_a_crash(con, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 20000 + "]" * 20000)
    with pytest.raises(PlanError, match="not a log format plan recognises"):
        ingest_paths(con, [str(path)])


HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("create table if not exists held (x int)")
print("holding", flush=True)
time.sleep(30)
"""


def test_a_second_writer_waits_then_names_the_holder(tmp_path, fixtures, monkeypatch):
    db = str(tmp_path / "busy.duckdb")
    connect(db).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, db], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        monkeypatch.setenv("PLAN_LOCK_WAIT_S", "1")
        started = time.monotonic()
        result = CliRunner().invoke(cli, ["ingest", "--db", db, str(fixtures / "bad_data" / "repeated_ids.jsonl")])
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"another plan process (PID {holder.pid}) is writing this database" in result.output
    assert waited >= 1.0
    assert scalar(connect(db), "select count(*) from requests") == 0


@pytest.mark.parametrize("name, added", [
    ("langfuse_number_line.jsonl", 1), ("llm_system_a_number.json", 2), ("llm_fragments_a_number.json", 2),
    ("langsmith_message_without_content.jsonl", 2), ("jaeger_logs_a_number.json", 2),
    ("jaeger_references_a_number.json", 2), ("jaeger_process_id_a_list.json", 2), ("helicone_time_minus_1e20.jsonl", 1),
    ("helicone_status_infinite.jsonl", 2), ("langsmith_id_a_list.parquet", 1), ("cloudflare_number_line.jsonl", 3),
    ("anthropic_text_a_number.jsonl", 4), ("logs_insights_field_a_list.json", 2),
    ("stream_anth_index_list.jsonl", 0), ("stream_anth_partial_json_int.jsonl", 0), ("stream_chat_delta_str.jsonl", 0),
    ("stream_chat_index_mixed.jsonl", 0), ("stream_chat_toolcall_name_int.jsonl", 0),
    ("stream_gemini_candidates_object.jsonl", 0), ("cline_text_number_then_request.json", 2),
    ("cline_text_object_last.json", 1), ("cline_tool_text_number.json", 1), ("cline_count_infinite.json", 0)])
def test_a_value_of_the_wrong_kind_costs_its_record_or_nothing_never_the_run(con, fixtures, name, added):
    """Fixtures a crash fuzzer mutated (a line that is a number, a system prompt that is a number, a message without
    content, Jaeger logs, references or a process id of the wrong kind, a time of -1e20, a status of Infinity, an id
    that is a list, a text block that is a number, a Logs Insights field that is a list; streamed pieces, Gemini
    candidates and Cline messages of the wrong kind): each was a traceback that stopped the whole ingest (a Cline
    request after a message of the wrong kind was dropped without a word). Now the record is rejected with its reason, or read without what was wrong, and the
    rest lands."""
    summary = ingest_paths(con, [str(fixtures / "malformed" / name)])
    assert summary["rows_added"] == added


def test_a_log_record_that_is_not_an_object_is_a_counted_reject(con, fixtures):
    """An OTLP logs export whose third log record is a number: it was dropped without a word (2 added, nothing
    rejected); now a reject that says so, the other records still read."""
    summary = ingest_paths(con, [str(fixtures / "malformed" / "otel_log_record_a_number.jsonl")])
    assert (summary["rows_added"], summary["rows_rejected"]) == (2, 1)
    assert dicts(con, "select reason from rejects")[0]["reason"] == "a log record that is not an object"


@pytest.mark.parametrize("name, added, fmt", [("cloudwatch_events_a_number_one_line.jsonl", 2, "bedrock"),
                                               ("langfuse_page_a_string_one_line.jsonl", 3, "langfuse")])
def test_one_element_of_the_wrong_kind_in_a_page_costs_that_element_alone(con, fixtures, name, added, fmt):
    """A page written on one line (CloudWatch's `{"events": [...]}`, a Langfuse `{"data": [...]}` page) with one
    element that is not an object: the whole page was one reject (Bedrock: 0 of 2 calls stored) or the file was not
    recognised at all (Langfuse). Now that element is the reject and the page's records land."""
    summary = ingest_paths(con, [str(fixtures / "malformed" / name)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (added, 1)
    assert scalar(con, "select list(distinct source_format) from requests") == [fmt]


def test_a_corrupt_gzip_file_is_a_sentence_not_a_traceback(con, fixtures):
    with pytest.raises(PlanError, match="the gzip file is corrupt"):
        ingest_paths(con, [str(fixtures / "malformed" / "corrupt.jsonl.gz")])


def test_a_line_cut_inside_a_long_string_and_a_huge_time_are_rejects_found_at_once(con, tmp_path):
    """A line cut inside a double-encoded body full of quotes, and a time of 100,000 characters: the depth check and
    the date parser took quadratic time on them (a 127 KB line, 38 s; a real 78 KB cassette, 74 s)."""
    body = json.dumps({"messages": [{"role": "user", "content": f"say \"{i}\""} for i in range(3000)]})
    cut = json.dumps({"id": "cut", "body": body})[:60000]
    good = {"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            "response": {"id": "chatcmpl-1", "object": "chat.completion", "created": 1764000000, "model": "gpt-4o-mini",
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": "yo"}, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 3, "completion_tokens": 1}}}
    path = tmp_path / "calls.jsonl"
    undated = {**good, "response": {k: v for k, v in good["response"].items() if k != "created"} | {"id": "chatcmpl-2"}}
    path.write_text(json.dumps(good) + "\n" + cut + "\n" + json.dumps({**undated, "timestamp": "A" * 100_000}) + "\n")
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (1, 2)
    assert "unreadable timestamp" in dicts(con, "select reason from rejects where source_line = 3")[0]["reason"]


@pytest.mark.parametrize("fixture, fmt", [
    ("bedrock/invocations.jsonl", "bedrock"), ("gemini_api_batch_output.jsonl", "gemini"),
    ("langsmith/runs.jsonl", "langsmith"), ("apisix/apisix_file_logger.jsonl", "apisix"),
    ("litellm_payload/standard_logging_payload.jsonl", "litellm-payload"), ("posthog/sdk_batches.jsonl", "posthog")])
@pytest.mark.parametrize("cut", ["head", "tail"])
def test_a_file_whose_first_line_is_cut_short_is_read_as_its_format(tmp_path, fixtures, fixture, fmt, cut):
    """A log split by size, or copied from its middle, starts with part of a record (its start, or its end). Such a
    file was skipped as no format plan knows, or its every line rejected (APISIX), though only the first line was
    broken: now that line is one reject and every other record lands, as in the whole file."""
    source = fixtures / fixture
    lines = [line for line in source.read_bytes().split(b"\n") if line.strip()]
    half = len(lines[0]) // 2
    path = tmp_path / source.name
    path.write_bytes((lines[0][:half] if cut == "head" else lines[0][half:]) + b"\n" + b"\n".join(lines) + b"\n")
    summaries = []
    for name, read in (("whole", source), ("cut", path)):
        con = connect(str(tmp_path / f"{name}.duckdb"))
        summaries.append(ingest_paths(con, [str(read)]))
        con.close()
    whole, summary = summaries
    assert summary["files"][0]["format"] == fmt
    assert summary["rows_added"] == whole["rows_added"] > 0
    assert summary["rows_rejected"] == whole["rows_rejected"] + 1
