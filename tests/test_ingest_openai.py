"""OpenAI logs: app request/response pairs, bare objects, Responses API, streams, Batch files; fast route = Python route."""

import json
from datetime import datetime

import pytest
import yaml

from analyzer.db import connect, dicts, scalar
from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.formats import load_all
from analyzer.ingest.sources import SourceFile, expand_paths
from conftest import EVAL_SOURCES, FIXTURES, eval_source
from helpers import stored_requests, route_neutral


def by_line(con, path):
    return {r["source_line"]: r for r in dicts(con, "select * from requests where source_file = ?", [str(path)])}


def test_chat_pairs_read_as_apps_log_them(con, fixtures):
    path = fixtures / "openai" / "chat_pairs.jsonl"
    summary = ingest_paths(con, [str(path)])
    assert summary["files"][0]["format"] == "openai"
    assert summary["rows_added"] == 12 and summary["rows_duplicate"] == 1 and summary["rows_rejected"] == 2
    r = stored_requests(con)
    first = r["chatcmpl-Fx01"]
    assert first["provider"] == "openai"
    assert first["model"] == "gpt-4o-mini-2024-07-18"  # the logged (dated) name is kept
    assert first["source_line"] == 1  # the byte-order mark does not shift or break line 1
    assert first["system_prompt"].startswith("You are a support triage assistant")
    assert first["prompt_text"].startswith("My drill arrived")
    assert first["response_text"] == "returns"
    assert (first["input_tokens"], first["output_tokens"], first["duration_ms"]) == (61, 2, 412.0)
    assert first["user_id"] == "agent-17"
    assert json.loads(first["tags_json"]) == {"team": "support", "ticket": "A-1182"}
    assert json.loads(first["params_json"]) == {"temperature": 0, "max_tokens": 8}
    assert json.loads(first["messages_json"])[1]["role"] == "user"
    assert first["created_at"] == datetime(2025, 3, 3, 11, 15, 2)
    assert first["cost_source"] == "catalog" and first["cost_usd"] == pytest.approx(61 * 0.15e-6 + 2 * 0.6e-6)

    cached = r["chatcmpl-Fx02"]
    assert cached["system_prompt"].startswith("You are a support")  # developer role counts as system
    assert (cached["input_tokens"], cached["cached_input_tokens"]) == (1430, 1280)
    assert r["chatcmpl-Fx03"]["prompt_text"] == "What is written on this shipping label?"  # text parts of a content list
    assert json.loads(r["chatcmpl-Fx04"]["response_text"])[0]["function"]["name"] == "lookup_order"
    assert r["chatcmpl-Fx06"]["prompt_text"].startswith("Write a SQL query")  # double-encoded request and response
    assert r["chatcmpl-Fx08"]["cost_usd"] == 0.0123 and r["chatcmpl-Fx08"]["cost_source"] == "log"
    assert r["chatcmpl-Fx09"]["response_text"] == "shipping"  # SSE text reassembled
    assert r["chatcmpl-Fx09"]["input_tokens"] == 57
    assert r["chatcmpl-Fx10"]["response_text"] == "shipping"  # list of stream chunks reassembled
    assert r["chatcmpl-Fx12"]["status"] == "blocked"
    assert r["chatcmpl-Fx14"]["reasoning_tokens"] == 384
    assert r["chatcmpl-Fx14"]["duration_ms"] == 5210.0
    assert r["chatcmpl-Fx15"]["cost_usd"] is None and r["chatcmpl-Fx15"]["cost_source"] == "unknown"
    assert summary["unknown_models"] == ["acme-finetune-v3"]

    error = by_line(con, path)[7]
    assert error["status"] == "error" and error["input_tokens"] is None
    assert error["prompt_text"] == "Summarise this 400-page contract."
    assert error["created_at"] == datetime(2025, 3, 3, 9, 21)

    rejects = dicts(con, "select source_line, reason, excerpt from rejects order by source_line")
    assert [r["source_line"] for r in rejects] == [5, 13]
    assert rejects[0]["reason"].startswith("not valid JSON")
    assert rejects[0]["excerpt"].startswith('{"request": {"model": "gpt-4o-mini"')
    assert "JSON object" in rejects[1]["reason"]


def test_bare_completions_and_stored_completion_pages(con, fixtures):
    summary = ingest_paths(con, [str(fixtures / "openai" / "chat_completions.jsonl"), str(fixtures / "openai" / "stored_completions.json")])
    assert summary["rows_added"] == 6 and summary["rows_rejected"] == 0
    r = stored_requests(con)
    assert r["chatcmpl-Bx02"]["cached_input_tokens"] == 128
    assert r["chatcmpl-Bx03"]["reasoning_tokens"] == 290
    assert r["chatcmpl-Bx04"]["source_line"] == 5  # after a blank line; CRLF line endings
    assert r["chatcmpl-Bx04"]["response_text"] == "shipping"
    assert r["chatcmpl-Sx01"]["model"] == "gpt-4.1-mini-2025-04-14"
    assert json.loads(r["chatcmpl-Sx01"]["tags_json"]) == {"app": "helpdesk"}
    assert r["chatcmpl-Sx01"]["prompt_text"] is None  # a bare response does not say what was asked


def test_responses_api_objects_and_pairs(con, fixtures):
    summary = ingest_paths(con, [str(fixtures / "openai" / "responses.jsonl")])
    assert summary["rows_added"] == 4
    r = stored_requests(con)
    one = r["resp_R01"]
    assert one["system_prompt"] == "You are a finance assistant."  # instructions
    assert (one["input_tokens"], one["cached_input_tokens"], one["output_tokens"]) == (1200, 1024, 10)
    assert one["response_text"] == "Three refunds were processed yesterday."
    pair = r["resp_R02"]
    assert pair["prompt_text"] == "The delivery was late but the staff were lovely."
    assert pair["system_prompt"] == "Classify sentiment as positive, neutral or negative."
    assert pair["reasoning_tokens"] == 64
    assert json.loads(pair["params_json"])["max_output_tokens"] == 16
    assert json.loads(pair["messages_json"])[0] == {"role": "system", "content": "Classify sentiment as positive, neutral or negative."}
    assert json.loads(r["resp_R03"]["response_text"]) == [{"name": "get_weather", "arguments": '{"city":"Leeds"}'}]
    assert r["resp_R04"]["status"] == "incomplete"


# What each cassette holds: simonw/llm's recording of a real exchange (../shared/eval), and the in-repo stand-in
# written in its shape (tests/fixtures/eval).
RECORDED = {
    "shared/eval": {"call": "chatcmpl-BWlJBDk2xe66hjff60joVYpXi1hh4", "answer": "chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA",
                    "function": {"name": "multiply", "arguments": '{"a":1231,"b":2331}'}, "call_tokens": (54, 20),
                    "says": "2,869,461", "prompt": "What is 1231 * 2331?", "at": datetime(2025, 5, 13, 14, 54, 10)},
    "in-repo": {"call": "chatcmpl-standin-tool-call", "answer": "chatcmpl-standin-answer",
                "function": {"name": "add_days", "arguments": '{"date":"2026-03-10","days":45}'}, "call_tokens": (61, 22),
                "says": "2026-04-24", "prompt": "Which date is 45 days after 2026-03-10?", "at": datetime(2026, 1, 1, 0, 0, 2)},
}


@pytest.mark.parametrize("source", EVAL_SOURCES)
def test_real_recorded_chat_exchange_with_tool_use(con, source, tmp_path):
    """simonw/llm's VCR cassette of a real streamed exchange, each recorded interaction as one log line."""
    cassette = yaml.safe_load((eval_source(source) / "logs" / "simonw_llm_cassette_chat_tool_use.yaml").read_text())
    want = RECORDED[source]
    path = tmp_path / "recorded.jsonl"
    path.write_text("\n".join(json.dumps(i) for i in cassette["interactions"]) + "\n")
    summary = ingest_paths(con, [str(path)])
    assert summary["rows_added"] == 2 and summary["rows_rejected"] == 0
    r = stored_requests(con)
    call = r[want["call"]]
    assert json.loads(call["response_text"])[0]["function"] == want["function"]
    assert (call["input_tokens"], call["output_tokens"], call["model"]) == (*want["call_tokens"], "gpt-4o-mini-2024-07-18")
    answer = r[want["answer"]]
    assert want["says"] in answer["response_text"]
    assert answer["prompt_text"] == want["prompt"]
    assert json.loads(answer["messages_json"])[-1]["role"] == "tool"
    assert answer["created_at"] == want["at"]
    assert json.loads(answer["params_json"])["tools"][0]["function"]["name"] == want["function"]["name"]


def test_batch_input_and_output_join_on_custom_id(con, fixtures):
    out_path = fixtures / "openai" / "batch_chat_output.jsonl"
    summary = ingest_paths(con, [str(out_path), str(fixtures / "openai" / "batch_chat_input.jsonl")])
    files = {f["path"].rsplit("/", 1)[1]: f for f in summary["files"]}
    assert files["batch_chat_input.jsonl"]["format"] == "openai-batch-input"
    assert files["batch_chat_output.jsonl"]["format"] == "openai-batch-output"
    assert files["batch_chat_input.jsonl"]["rows_rejected"] == 1  # a /v1/moderations line (embeddings are calls: below)
    assert files["batch_chat_output.jsonl"]["rows_rejected"] == 1  # a truncated line
    r = stored_requests(con)
    one = r["req-1"]
    assert one["is_batch"] and one["source_file"] == str(out_path)
    assert one["prompt_text"] == "Translate to French: 'Your order has shipped.'"
    assert one["response_text"] == "Votre commande a été expédiée."
    assert one["model"] == "gpt-4o-mini-2024-07-18"
    assert one["cost_usd"] == pytest.approx((24 * 0.15e-6 + 9 * 0.6e-6) / 2)
    assert json.loads(one["params_json"]) == {"max_tokens": 100}
    # An error body and an expired request are requests that failed, not rejects.
    assert r["req-3"]["status"] == "error" and r["req-3"]["input_tokens"] is None
    assert r["req-3"]["prompt_text"].startswith("Translate")
    assert r["req-4"]["status"] == "error" and r["req-4"]["model"] == "gpt-4o-mini"
    assert r["req-9"]["prompt_text"] is None and r["req-9"]["response_text"] == "Bonjour"  # output without input
    assert scalar(con, "select count(*) from requests") == 6
    assert scalar(con, "select count(*) from requests where status = 'no_response'") == 0


def test_batch_output_again_after_input_and_output_adds_nothing(con, fixtures):
    out_path = str(fixtures / "openai" / "batch_chat_output.jsonl")
    ingest_paths(con, [str(fixtures / "openai" / "batch_chat_input.jsonl"), out_path])
    again = ingest_paths(con, [out_path])
    assert again["rows_added"] == 0 and again["rows_duplicate"] == 6
    assert scalar(con, "select count(*) from requests") == 6
    assert scalar(con, "select count(*) from requests where prompt_text is not null") == 5  # joined prompts kept


def test_input_alone_then_with_its_output_completes_the_rows(con, fixtures):
    inp = str(fixtures / "openai" / "batch_chat_input.jsonl")
    first = ingest_paths(con, [inp])
    assert first["rows_added"] == 5
    assert scalar(con, "select count(*) from requests where status = 'no_response' and is_batch") == 5
    second = ingest_paths(con, [inp, str(fixtures / "openai" / "batch_chat_output.jsonl")])
    assert scalar(con, "select count(*) from requests") == 6  # five answered rows replace the unanswered ones, plus req-9
    assert scalar(con, "select count(*) from requests where status = 'no_response'") == 0
    assert second["rows_added"] == 1


def test_output_alone_then_with_its_input_fills_in_the_prompts(con, fixtures):
    out_path = str(fixtures / "openai" / "batch_chat_output.jsonl")
    ingest_paths(con, [out_path])
    assert scalar(con, "select count(*) from requests where prompt_text is not null") == 0
    again = ingest_paths(con, [str(fixtures / "openai" / "batch_chat_input.jsonl"), out_path])
    assert again["rows_added"] == 0
    assert scalar(con, "select count(*) from requests") == 6
    assert scalar(con, "select count(*) from requests where prompt_text is not null") == 5


def anthropic_batch_halves(tmp_path) -> tuple[str, str]:
    """The Message Batches requests of the fixture, and results for two of them (the fixture's results answer others)."""
    requests = tmp_path / "msgbatch_requests.jsonl"
    requests.write_text((FIXTURES / "anthropic" / "batch_requests.jsonl").read_text())
    message = {"type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929", "stop_reason": "end_turn"}
    results = tmp_path / "msgbatch_results.jsonl"
    results.write_text("".join(json.dumps({"custom_id": cid, "result": {"type": "succeeded", "message": {
        **message, "id": f"msg_{n}", "content": [{"type": "text", "text": text}],
        "usage": {"input_tokens": 10 + n, "output_tokens": 4, "cache_read_input_tokens": 0}}}}) + "\n"
        for n, (cid, text) in enumerate((("my-first-request", "Hello!"), ("my-second-request", "Hi, friend!"))))
        + json.dumps({"custom_id": "my-third-request", "result": {"type": "expired"}}) + "\n")
    return str(requests), str(results)


def groq_batch_halves(tmp_path) -> tuple[str, str]:
    """A Groq batch: its input file and output file, both in OpenAI's format (Groq's extras under x_groq)."""
    inp, out = tmp_path / "groq_batch_input.jsonl", tmp_path / "groq_batch_output.jsonl"
    inp.write_text("".join(json.dumps({"custom_id": f"request-{n}", "method": "POST", "url": "/v1/chat/completions", "body": {
        "model": "llama-3.1-8b-instant", "messages": [{"role": "user", "content": f"Translate {n}"}]}}) + "\n" for n in range(1, 4)))
    out.write_text("".join(json.dumps({"id": f"batch_req_out_{n}", "custom_id": f"request-{n}", "error": None, "response": {
        "status_code": 200, "request_id": f"req_{n}", "body": {
            "id": f"chatcmpl-{n}", "object": "chat.completion", "created": 1742400000 + n, "model": "llama-3.1-8b-instant",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": f"Traduction {n}"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20 + n, "completion_tokens": 5}, "x_groq": {"id": f"req_{n}"}}}}) + "\n"
        for n in range(1, 4)))
    return str(inp), str(out)


@pytest.mark.parametrize("api", ["openai", "responses", "groq", "anthropic"])
def test_batch_halves_ingested_in_separate_runs_join_as_if_given_together(con, fixtures, tmp_path, api):
    """A batch's input file ingested today and its output file tomorrow (or the other way round): each call is one
    row with its prompt and its answer, as when both are given together (before, every call was two rows: an
    unanswered request and an answer without its prompt); reading the input again afterwards adds nothing."""
    if api == "openai":
        inp, out = (str(fixtures / "openai" / name) for name in ("batch_chat_input.jsonl", "batch_chat_output.jsonl"))
    elif api == "groq":
        inp, out = groq_batch_halves(tmp_path)
    elif api == "responses":  # the output echoes the request's instructions: no prompt of its own all the same
        inp, out = str(fixtures / "eval" / "logs" / "openai_responses_batch_input.jsonl"), str(fixtures / "openai" / "batch_responses_output.jsonl")
    else:
        inp, out = anthropic_batch_halves(tmp_path)
    columns = "source_id, status, prompt_text, response_text, input_tokens, output_tokens, model, params_json"
    with connect(str(tmp_path / "together.duckdb")) as ref:
        ingest_paths(ref, [inp, out])
        expected = ref.execute(f"select {columns} from requests order by source_id").fetchall()
    joined_calls = sum(1 for r in expected if r[2] is not None and r[1] != "no_response")
    assert joined_calls >= 3
    for first, second in ((inp, out), (out, inp)):
        con.execute("delete from requests")
        ingest_paths(con, [first])
        joined = ingest_paths(con, [second])
        assert con.execute(f"select {columns} from requests order by source_id").fetchall() == expected, first
        assert joined["rows_filled_in"] == joined_calls
        again = ingest_paths(con, [inp])
        assert (again["rows_added"], scalar(con, "select count(*) from requests")) == (0, len(expected))


def test_a_stored_batch_output_is_not_joined_to_an_input_it_cannot_tell_from_another(con, fixtures, tmp_path):
    """Batches reuse custom ids: with two unanswered input files of the same ids stored, an output file cannot say
    which it answers, and its rows are kept apart rather than joined to a guess."""
    inp = fixtures / "openai" / "batch_chat_input.jsonl"
    other = tmp_path / "other_batch_input.jsonl"
    other.write_text(inp.read_text().replace("Translate", "Please translate"))
    ingest_paths(con, [str(inp)])
    ingest_paths(con, [str(other)])
    summary = ingest_paths(con, [str(fixtures / "openai" / "batch_chat_output.jsonl")])
    assert summary["rows_filled_in"] == 0
    assert scalar(con, "select count(*) from requests where source_format = 'openai-batch-output' and prompt_text is not null") == 0
    assert scalar(con, "select count(*) from requests where status = 'no_response'") == 10


def test_real_responses_batch_input_joins_its_output(con, fixtures, eval_dir):
    real_input = eval_dir / "logs" / "openai_responses_batch_input.jsonl"
    summary = ingest_paths(con, [str(fixtures / "openai" / "batch_responses_output.jsonl"), str(real_input)])
    assert summary["rows_added"] == 10 and summary["rows_rejected"] == 0
    r = stored_requests(con)
    answered = r["qa-T-001"]
    assert answered["status"] == "ok" and answered["is_batch"]
    assert answered["system_prompt"] == "Return concise internal support QA tags and a one-sentence summary."
    assert json.loads(answered["prompt_text"])["ticket_id"] == "T-001"  # input is a string holding JSON: kept as text
    assert answered["reasoning_tokens"] == 32
    assert json.loads(answered["params_json"])["max_output_tokens"] == 160
    assert answered["cost_usd"] == pytest.approx((180 * 0.2e-6 + 60 * 1.25e-6) / 2)
    unanswered = r["qa-T-010"]
    assert unanswered["status"] == "no_response" and unanswered["model"] == "gpt-5.4-nano"
    assert unanswered["source_file"] == str(real_input) and unanswered["source_line"] == 10


OPENAI_FILES = ["chat_pairs.jsonl", "chat_pairs_variants.jsonl", "chat_completions.jsonl", "responses.jsonl", "stored_completions.json"]


def test_fast_route_and_python_route_store_identical_rows(tmp_path, fixtures):
    paths = [str(fixtures / "openai" / name) for name in OPENAI_FILES]
    stored = {}
    for fast in (True, False):
        con = connect(str(tmp_path / f"fast_{fast}.duckdb"))
        summary = route_neutral(ingest_paths(con, paths, fast=fast))
        stored[fast] = (
            summary,
            dicts(con, "select * exclude (ingested_at) from requests order by id"),
            dicts(con, "select * exclude (rejected_at) from rejects order by id"),
        )
        con.close()
    assert stored[True][0] == stored[False][0]
    assert len(stored[True][1]) > 60
    for fast_row, python_row in zip(stored[True][1], stored[False][1], strict=True):
        assert fast_row == python_row
    assert stored[True][2] == stored[False][2]


def test_fast_route_takes_the_common_lines_and_leaves_the_rest_to_python(con, fixtures, monkeypatch):
    fmt = load_all()["openai"]
    routed = []
    original = fmt.parse_line

    def spy(number, line, ctx=None, src=None):
        routed.append(number)
        return original(number, line, ctx, src)

    monkeypatch.setattr(fmt, "parse_line", spy)
    summary = ingest_paths(con, [str(fixtures / "openai" / "chat_pairs_variants.jsonl")])
    assert summary["files"][0]["lines_to_python"] == len(set(routed)) > 0  # --json says how many lines took the slow way
    # a plain pair, one whose content is a parts list and an answer that reads like a list are handled in SQL
    assert not {1, 2, 5} & set(routed)
    assert 6 in routed  # tokens given as strings
    assert scalar(con, "select count(*) from requests") == 44


def test_variant_quirks(con, fixtures):
    path = fixtures / "openai" / "chat_pairs_variants.jsonl"
    ingest_paths(con, [str(path)])
    r = stored_requests(con)
    assert r["v06"]["input_tokens"] == 10  # "10" as a string
    assert r["v07"]["output_tokens"] == 2
    assert "v08" not in r and "v09" not in r  # 2.5 and -4 tokens are rejected with a reason
    reasons = [x[0] for x in con.execute("select reason from rejects order by source_line").fetchall()]
    assert any("output_tokens: 2.5 is not a whole number" in x for x in reasons)
    assert any("input_tokens: -4 is negative" in x for x in reasons)
    assert r["v11"]["created_at"] == datetime(2025, 3, 10, 9, 46, 40, 123000)  # epoch milliseconds
    assert r["v13"]["cost_usd"] == 0.002 and r["v13"]["cost_source"] == "log"
    assert r["v15"]["model"] == "gpt-4o-mini-2024-07-18"
    assert r["v30"]["model"] == "gpt-4o-mini"  # response without a model: the request's
    assert r["v38"]["model"] == "gpt-4o-mini-2024-07-18"
    assert r["v39"]["response_text"] == "I can't help with that."
    assert r["v25"]["response_text"] == "ok\nsecond"
    assert json.loads(r["v18"]["params_json"]) == {"temperature": 0.2, "response_format": {"type": "json_object"}, "seed": 7}
    assert r["v21"]["user_id"] == "u-9"
    assert r["v42"]["prompt_text"] == "Classify: 'late delivery'"  # double-encoded request
    assert r["v43"]["prompt_text"] == "Classify: 'late delivery'"  # double-encoded line
    assert r["v47"]["prompt_text"] == "earlier complex line"  # the first of two lines with one id wins
    assert r["v01"]["source_line"] == 1


def test_gzip_and_duplicate_content_across_overlapping_exports(con, fixtures, tmp_path):
    import gzip

    src = (fixtures / "openai" / "chat_pairs.jsonl").read_bytes()
    lines = src.split(b"\n")
    part1, part2 = tmp_path / "export_mon.jsonl.gz", tmp_path / "export_tue.jsonl"
    part1.write_bytes(gzip.compress(b"\n".join(lines[:9]) + b"\n"))
    part2.write_bytes(b"\n".join(lines[6:]))
    first = ingest_paths(con, [str(part1)])
    assert first["files"][0]["format"] == "openai"
    second = ingest_paths(con, [str(part2)])
    assert second["rows_duplicate"] >= 2  # lines 7-9 were in both exports
    total = scalar(con, "select count(*) from requests")
    fresh = connect(str(tmp_path / "fresh.duckdb"))
    ingest_paths(fresh, [str(fixtures / "openai" / "chat_pairs.jsonl")])
    assert total == scalar(fresh, "select count(*) from requests")
    fresh.close()


def test_sniffing_picks_the_right_openai_format(fixtures, eval_dir):
    from analyzer.ingest import detect_format

    def fmt(path):
        return detect_format(SourceFile(path=path, display=str(path)))

    assert fmt(fixtures / "openai" / "chat_pairs.jsonl") == "openai"
    assert fmt(fixtures / "openai" / "stored_completions.json") == "openai"
    assert fmt(fixtures / "openai" / "batch_chat_input.jsonl") == "openai-batch-input"
    assert fmt(fixtures / "openai" / "batch_chat_output.jsonl") == "openai-batch-output"
    assert fmt(eval_dir / "logs" / "openai_responses_batch_input.jsonl") == "openai-batch-input"


def test_requests_logged_without_responses(con, tmp_path):
    path = tmp_path / "requests_only.jsonl"
    path.write_text(
        json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Capital of Peru?"}],
                    "temperature": 0.1, "timestamp": "2025-05-01T10:00:00Z"}) + "\n"
    )
    summary = ingest_paths(con, [str(path)])
    assert summary["files"][0]["format"] == "openai" and summary["rows_added"] == 1
    row = dicts(con, "select * from requests")[0]
    assert (row["status"], row["prompt_text"], row["system_prompt"]) == ("no_response", "Capital of Peru?", "Be terse.")
    assert row["created_at"] == datetime(2025, 5, 1, 10, 0) and row["cost_source"] == "unknown"


def test_the_per_file_line_shows_rows_tokens_spend_models_and_where_batch_inputs_went(tmp_path, db_path, fixtures):
    from click.testing import CliRunner

    from analyzer.cli import cli

    inputs, outputs = fixtures / "openai" / "batch_chat_input.jsonl", fixtures / "openai" / "batch_chat_output.jsonl"
    result = CliRunner().invoke(cli, ["ingest", "--db", db_path, str(inputs), str(outputs)])
    assert result.exit_code == 0, result.output
    lines = {line.split(":")[0]: line for line in result.stderr.splitlines() if line.startswith(str(fixtures))}
    assert lines[str(inputs)] == f"{inputs}: openai-batch-input, joined into {outputs}"
    out = lines[str(outputs)]
    assert " added" in out and "tokens " in out and " in / " in out and "$" in out and "models " in out
    summary = json.loads(CliRunner().invoke(cli, ["ingest", "--db", str(tmp_path / "again.duckdb"), "--json",
                                                  str(inputs), str(outputs)]).stdout)
    by_path = {f["path"]: f for f in summary["files"]}
    assert by_path[str(inputs)]["joined_into"] == [str(outputs)] and by_path[str(inputs)]["rows_added"] == 0
    assert by_path[str(outputs)]["models"] and by_path[str(outputs)]["input_tokens"] > 0


def test_azure_batch_output_with_content_filters_and_stored_responses(con, fixtures):
    """Azure OpenAI batch output: a filtered answer (finish_reason content_filter) is blocked, a prompt the filter
    refused (400, innererror ResponsibleAIPolicyViolation) an error; stored Responses objects keep reasoning and
    cached tokens, and incomplete or failed ones say so."""
    summary = ingest_paths(con, [str(fixtures / "openai_azure_batch_output.jsonl"), str(fixtures / "openai_responses_objects.jsonl")])
    assert [f["format"] for f in summary["files"]] == ["openai-batch-output", "openai"]
    assert (summary["rows_added"], summary["rows_rejected"]) == (7, 0)
    got = {r["source_id"]: r for r in dicts(con, "select * from requests")}
    expected = {  # source_id: status, input, cached, output, reasoning, cost
        "task-0": ("ok", 30, 0, 7, 0, 0.0000725),  # gpt-4o at batch prices: 30 x $1.25 + 7 x $5 per million
        "task-1": ("blocked", 40, 0, 0, 0, 0.00005),
        "task-2": ("error", None, None, None, None, None),
        "resp_1": ("ok", 3000, 2048, 700, 640, 0.008528),  # o3: 952 x $2 + 2,048 cached x $0.50 + 700 x $8
        "resp_2": ("incomplete", 100, 0, 512, 512, 0.001049),
        "resp_3": ("ok", 60, 0, 18, 0, 0.000264),
        "resp_4": ("error", None, None, None, None, None),
    }
    assert set(got) == set(expected)
    for source_id, (status, inp, cached, out, reasoning, cost) in expected.items():
        row = got[source_id]
        assert (row["status"], row["input_tokens"], row["cached_input_tokens"], row["output_tokens"],
                row["reasoning_tokens"]) == (status, inp, cached, out, reasoning), source_id
        assert row["cost_usd"] == (None if cost is None else pytest.approx(cost, rel=1e-9)), source_id
    assert got["resp_1"]["response_text"] == "Forty-two." and got["resp_2"]["response_text"] is None
    assert json.loads(got["resp_3"]["response_text"]) == [{"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}]


def test_embedding_calls_in_an_app_log_are_priced_but_not_prompts(con, tmp_path):
    """A RAG app logs its Embeddings API calls beside its chat calls (a pair, or the bare `response.model_dump()`).
    Each is priced on its input tokens but is no prompt: categorize must not group it and replay must not send it
    to a chat model. Before, the pair's input was stored as user turns, and a bare answer's vectors were rejected
    one by one."""
    embedding = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2]},
                                            {"object": "embedding", "index": 1, "embedding": [0.3, 0.0]}],
                 "model": "text-embedding-3-small", "usage": {"prompt_tokens": 1200, "total_tokens": 1200}}
    lines = [{"timestamp": 1764000000 + i, "user_id": "svc-rag", "request": {"model": "text-embedding-3-small", "input": [f"chunk {i}", "chunk b"]},
              "response": embedding} for i in range(3)]
    lines.append({"timestamp": 1764000100, "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Summarise the refund policy."}]},
                  "response": {"id": "chatcmpl-r1", "object": "chat.completion", "created": 1764000100, "model": "gpt-4o-mini",
                               "choices": [{"message": {"role": "assistant", "content": "Thirty days."}, "finish_reason": "stop"}],
                               "usage": {"prompt_tokens": 40, "completion_tokens": 3}}})
    lines.append({**embedding, "model": "text-embedding-3-large", "usage": {"prompt_tokens": 500, "total_tokens": 500}})
    path = tmp_path / "rag.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    summary = ingest_paths(con, [str(path)])
    assert summary["rows_added"] == 5 and summary["rows_rejected"] == 0
    rows = by_line(con, path)
    for line in (1, 2, 3, 5):
        assert rows[line]["operation"] == "embeddings"
        assert rows[line]["prompt_text"] is None and rows[line]["messages_json"] is None
        assert rows[line]["cost_source"] == "catalog" and rows[line]["output_tokens"] is None
    assert rows[1]["input_tokens"] == 1200 and rows[1]["user_id"] == "svc-rag"
    assert rows[1]["cost_usd"] == pytest.approx(1200 * 0.02e-6)
    assert rows[5]["model"] == "text-embedding-3-large" and rows[5]["cost_usd"] == pytest.approx(500 * 0.13e-6)
    assert rows[4]["operation"] is None and rows[4]["prompt_text"] == "Summarise the refund policy."
    # Three calls embedding different inputs at different times are three rows; the same file again adds none.
    assert len({rows[line]["id"] for line in (1, 2, 3)}) == 3
    assert ingest_paths(con, [str(path)])["rows_added"] == 0
    # A file of bare answers alone is recognised as an OpenAI log.
    bare = tmp_path / "embeddings.jsonl"
    bare.write_text("".join(json.dumps({**embedding, "data": [{"object": "embedding", "index": 0, "embedding": [i / 10]}]}) + "\n" for i in range(4)))
    summary = ingest_paths(con, [str(bare)])
    assert summary["files"][0]["format"] == "openai" and summary["rows_added"] == 4


def test_embedding_requests_without_an_answer_are_not_prompts_either(con, tmp_path):
    path = tmp_path / "embedding_requests.jsonl"
    lines = [{"timestamp": 1764000000, "model": "text-embedding-3-small", "input": "the refund policy"},
             {"timestamp": 1764000001, "request": {"model": "text-embedding-3-small", "input": ["a", "b"]},
              "response": {"error": {"message": "Rate limit reached", "type": "requests"}}, "status_code": 429}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert ingest_paths(con, [str(path)])["rows_added"] == 2
    rows = by_line(con, path)
    assert [(rows[n]["operation"], rows[n]["prompt_text"], rows[n]["status"]) for n in (1, 2)] == [
        ("embeddings", None, "no_response"), ("embeddings", None, "error")]


def test_embedding_batches_are_priced_at_batch_rates_but_not_prompts(con, tmp_path):
    """A Batch job of embeddings (url /v1/embeddings): its input lines were rejected as not chat calls, and its
    output lines stored as calls with no prompt and no operation. Now they join into embedding calls, priced at the
    batch rate."""
    inputs = [{"custom_id": f"emb-{i}", "method": "POST", "url": "/v1/embeddings",
               "body": {"model": "text-embedding-3-small", "input": f"document chunk {i}"}} for i in range(3)]
    outputs = [{"id": f"batch_req_{i}", "custom_id": f"emb-{i}", "error": None,
                "response": {"status_code": 200, "request_id": f"r{i}", "body": {
                    "object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                    "model": "text-embedding-3-small", "usage": {"prompt_tokens": 1000, "total_tokens": 1000}}}} for i in range(3)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(x) + "\n" for x in inputs))
    (tmp_path / "out.jsonl").write_text("".join(json.dumps(x) + "\n" for x in outputs))
    summary = ingest_paths(con, [str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl")])
    assert summary["rows_rejected"] == 0 and summary["rows_added"] == 3
    rows = dicts(con, "select * from requests order by source_id")
    assert {(r["operation"], r["prompt_text"], r["messages_json"], r["input_tokens"], r["is_batch"]) for r in rows} == {
        ("embeddings", None, None, 1000, True)}
    assert rows[0]["cost_usd"] == pytest.approx(1000 * 0.01e-6)  # half the $0.02 / M standard rate


def test_calls_an_app_logged_through_other_sdks_keep_their_tokens_and_provider(con, tmp_path):
    """boto3's Converse, Gemini's generateContent and Cohere's chat, logged as request/response pairs beside OpenAI
    calls: each is priced on its own tokens under its own provider, not stored as an OpenAI call without usage."""
    lines = [
        {"timestamp": "2025-11-24T10:00:00Z",
         "request": {"modelId": "anthropic.claude-3-5-haiku-20241022-v1:0", "system": [{"text": "Be brief."}],
                     "messages": [{"role": "user", "content": [{"text": "Classify: my invoice is wrong"}]}],
                     "inferenceConfig": {"maxTokens": 100}},
         "response": {"output": {"message": {"role": "assistant", "content": [{"text": "billing"}]}}, "stopReason": "end_turn",
                      "usage": {"inputTokens": 30, "outputTokens": 2, "cacheReadInputTokens": 10}, "metrics": {"latencyMs": 300},
                      "ResponseMetadata": {"RequestId": "req-1", "HTTPStatusCode": 200}}},
        {"timestamp": "2025-11-24T10:01:00Z",
         "request": {"model": "gemini-2.5-flash", "contents": [{"role": "user", "parts": [{"text": "Summarise: drill broke"}]}]},
         "response": {"candidates": [{"content": {"role": "model", "parts": [{"text": "Broken drill."}]}, "finishReason": "STOP"}],
                      "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 8, "thoughtsTokenCount": 4},
                      "modelVersion": "gemini-2.5-flash", "responseId": "g-1"}},
        {"timestamp": "2025-11-24T10:02:00Z",
         "request": {"model": "command-r-plus-08-2024", "messages": [{"role": "user", "content": "Hello"}]},
         "response": {"id": "c-1", "message": {"role": "assistant", "content": [{"type": "text", "text": "Hi!"}]},
                      "finish_reason": "COMPLETE", "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 2},
                                                             "tokens": {"input_tokens": 70, "output_tokens": 2}}}},
    ]
    path = tmp_path / "app.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert ingest_paths(con, [str(path)])["rows_added"] == 3
    rows = stored_requests(con)
    converse, gemini, cohere = rows["req-1"], rows["g-1"], rows["c-1"]
    assert (converse["provider"], converse["model"]) == ("bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0")
    assert (converse["input_tokens"], converse["cached_input_tokens"], converse["output_tokens"]) == (40, 10, 2)
    assert (converse["prompt_text"], converse["system_prompt"], converse["response_text"]) == (
        "Classify: my invoice is wrong", "Be brief.", "billing")
    assert converse["duration_ms"] == 300.0 and converse["created_at"] == datetime(2025, 11, 24, 10)
    assert (gemini["provider"], gemini["input_tokens"], gemini["output_tokens"], gemini["reasoning_tokens"]) == ("google", 40, 12, 4)
    assert gemini["response_text"] == "Broken drill."
    assert (cohere["provider"], cohere["input_tokens"], cohere["output_tokens"]) == ("cohere", 5, 2)  # what is billed
    assert all(r["cost_source"] == "catalog" and r["cost_usd"] > 0 for r in rows.values())


def test_a_chat_request_with_its_system_prompt_beside_the_messages_is_an_openai_call(con, tmp_path):
    """Apps that send one request shape to every provider put the system prompt beside the messages, as Anthropic's
    API takes it; answered by a ChatCompletion, the call is OpenAI's, with that system prompt as its first turn
    (before, the pair went to the Anthropic reader: no answer, no tokens, provider anthropic)."""
    completion = {"object": "chat.completion", "created": 1764000000, "model": "gpt-4o-mini-2024-07-18",
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi."}, "finish_reason": "stop"}],
                  "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}}
    lines = [
        {"request": {"model": "gpt-4o-mini", "system": "You are terse.", "messages": [{"role": "user", "content": "Say hi"}]},
         "response": {**completion, "id": "chatcmpl-1"}},
        {"request": {"model": "gpt-4o-mini", "system": [{"type": "text", "text": "Answer in French."}],
                     "messages": [{"role": "user", "content": "Say bye"}]},
         "response": {**completion, "id": "chatcmpl-2", "usage": {"prompt_tokens": 13, "completion_tokens": 3}}},
        {"request": {"model": "gpt-4o-mini", "system": "ignored",
                     "messages": [{"role": "system", "content": "Kept."}, {"role": "user", "content": "Again"}]},
         "response": {**completion, "id": "chatcmpl-3"}},
    ]
    path = tmp_path / "calls.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["files"][0]["format"]) == (3, "openai")
    rows = stored_requests(con)
    assert [(r["provider"], r["input_tokens"], r["output_tokens"], r["response_text"]) for r in rows.values()] == [
        ("openai", 12, 2, "Hi."), ("openai", 13, 3, "Hi."), ("openai", 12, 2, "Hi.")]
    assert [(r["system_prompt"], r["prompt_text"]) for r in rows.values()] == [
        ("You are terse.", "Say hi"), ("Answer in French.", "Say bye"), ("Kept.", "Again")]
    assert json.loads(rows["chatcmpl-1"]["messages_json"])[0] == {"role": "system", "content": "You are terse."}
    assert all(r["cost_source"] == "catalog" for r in rows.values())


def test_vercel_ai_sdk_results_keep_their_tokens_in_each_versions_terms(con, fixtures):
    """``JSON.stringify(result)`` of ``generateText`` (AI SDK v4, v5, v6) over OpenAI and Anthropic: the
    conversation from the request body the SDK sent, tokens as each version and provider count them."""
    summary = ingest_paths(con, [str(fixtures / "openai" / "ai_sdk_results.jsonl")])
    assert summary["rows_added"] == 6 and summary["rows_rejected"] == 0
    rows = stored_requests(con)
    tokens = {k: (r["provider"], r["input_tokens"], r["cached_input_tokens"], r["cache_write_tokens"], r["output_tokens"])
              for k, r in rows.items()}
    assert tokens == {
        "chatcmpl-AI1": ("openai", 25, None, None, 5),        # v4: promptTokens / completionTokens
        "msg_AI2": ("anthropic", 1220, 1000, 200, 3),         # v5 Anthropic: 20 uncached + cache read + cache write
        "resp_AI3": ("openai", 1200, 1024, None, 40),         # v6: inputTokens counts the cache already
        "msg_AI4": ("anthropic", 530, 400, 100, 2),           # v6: the provider's own usage (raw)
        "chatcmpl-AI5": ("openai", 550, None, None, 30),      # a two-step tool loop: totalUsage, not the last step
        "chatcmpl-AI6": ("openai", 15, None, None, 0),
    }
    first = rows["chatcmpl-AI1"]
    assert (first["system_prompt"], first["prompt_text"], first["response_text"]) == ("Be brief.", "Where is my order?", "It ships today.")
    assert first["model"] == "gpt-4o-mini-2024-07-18" and first["created_at"] == datetime(2025, 11, 24, 10)
    assert json.loads(first["params_json"]) == {"temperature": 0.3}
    assert rows["msg_AI2"]["system_prompt"] == "You triage support tickets."
    assert rows["msg_AI2"]["cost_usd"] == pytest.approx(20 * 3e-6 + 1000 * 0.3e-6 + 200 * 3.75e-6 + 3 * 15e-6)
    assert rows["resp_AI3"]["reasoning_tokens"] == 16
    assert rows["chatcmpl-AI6"]["status"] == "blocked"
    assert all(r["cost_source"] == "catalog" for r in rows.values())


def test_calls_logged_flat_keep_their_conversation_answer_and_tokens(con, tmp_path):
    """Homegrown logs: the conversation and model at the top of the line, the answer as text, usage as an object or
    as token counts beside it (these lines were rejected as "neither the request nor the response is an object")."""
    lines = [
        {"ts": "2025-11-24T10:00:00Z", "model": "gpt-4o-mini", "latency_ms": 420, "user": "u-1",
         "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is my parcel?"}],
         "response": "On its way.", "usage": {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24}},
        {"ts": "2025-11-24T10:00:01Z", "model": "gpt-4o-mini", "prompt": "Say hi", "completion": "Hi!",
         "prompt_tokens": 5, "completion_tokens": 2},
        {"ts": "2025-11-24T10:00:02Z", "model": "claude-sonnet-4-5", "system": "Be brief.", "output": "Hello!",
         "messages": [{"role": "user", "content": "Hi"}], "usage": {"input_tokens": 9, "output_tokens": 3}},
        # the answer under another key, or none at all but the usage: still calls, not requests logged alone
        {"ts": "2025-11-24T10:00:03Z", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Thanks"}],
         "reply": "You're welcome.", "usage": {"prompt_tokens": 6, "completion_tokens": 4}},
        {"ts": "2025-11-24T10:00:04Z", "model": "gpt-4.1-mini", "instructions": "Classify.", "input": "Great drill",
         "output_text": "positive", "usage": {"input_tokens": 30, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 1}},
        {"ts": "2025-11-24T10:00:05Z", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello?"}],
         "prompt_tokens": 4, "completion_tokens": 6},
        {"ts": "2025-11-24T10:00:06Z", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Sent, no answer"}]},
    ]
    path = tmp_path / "app.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    file = ingest_paths(con, [str(path)])["files"][0]
    assert (file["format"], file["rows_added"], file["rows_rejected"]) == ("openai", 7, 0)
    assert (file["input_tokens"], file["output_tokens"]) == (34 + 6 + 30 + 4, 9 + 4 + 1 + 6)
    rows = stored_requests(con, as_list=True)
    first, second, claude, thanks, classify, hello, alone = rows
    assert (thanks["response_text"], thanks["status"], classify["response_text"]) == ("You're welcome.", "ok", "positive")
    assert (classify["system_prompt"], classify["prompt_text"], classify["input_tokens"]) == ("Classify.", "Great drill", 30)
    assert (hello["response_text"], hello["status"], hello["output_tokens"]) == (None, "ok", 6)
    assert (alone["status"], alone["input_tokens"]) == ("no_response", None)
    assert (first["system_prompt"], first["prompt_text"], first["response_text"]) == ("Be brief.", "Where is my parcel?", "On its way.")
    assert (first["duration_ms"], first["user_id"], first["status"]) == (420.0, "u-1", "ok")
    assert (second["prompt_text"], second["response_text"], second["input_tokens"], second["output_tokens"]) == ("Say hi", "Hi!", 5, 2)
    assert (claude["provider"], claude["system_prompt"], claude["prompt_text"], claude["response_text"]) == (
        "anthropic", "Be brief.", "Hi", "Hello!")
    assert all(r["cost_source"] == "catalog" for r in rows if r is not alone)


def test_calls_logged_flat_as_prompt_text_and_response_text(con, tmp_path):
    """A cost log that also keeps the texts under the names of plan's own columns (``prompt_text``, ``system_prompt``,
    ``response_text``) and its time as ``utc_time``: before, the rows landed priced but without text or time."""
    lines = [{"utc_time": f"2025-05-25T11:5{i}:57+00:00", "model": "o4-mini", "prompt_tokens": 80 + i, "completion_tokens": 1300 + i,
              "cost_usd": 0.0059 + i / 1000, "system_prompt": "You analyse elevation data.", "prompt_text": f"Stats of tile {i}: mean 212 m",
              "response_text": f"Tile {i} is a plateau."} for i in range(3)]
    path = tmp_path / "openai_log.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    file = ingest_paths(con, [str(path)])["files"][0]
    assert (file["format"], file["rows_added"], file["rows_rejected"]) == ("openai", 3, 0)
    first = stored_requests(con, as_list=True)[0]
    assert (first["system_prompt"], first["prompt_text"], first["response_text"]) == (
        "You analyse elevation data.", "Stats of tile 0: mean 212 m", "Tile 0 is a plateau.")
    assert (str(first["created_at"]), first["input_tokens"], first["cost_usd"], first["cost_source"]) == (
        "2025-05-25 11:50:57", 80, 0.0059, "log")


def test_homegrown_call_logs_keep_their_calls_texts_costs_and_failures(con, tmp_path):
    """What apps really write about their own calls (each shape from a public project's log): a prompt and an answer
    without the model, the texts as user_input/ai_output, counts named from two APIs at once, an estimated cost,
    ``success: false`` for a failed call, and two calls alike in what a row keeps but logged differently."""
    lines = [
        {"timestamp": "2025-08-27T11:16:05.212414", "call_type": "speech", "duration_ms": 3016.0, "prompt": "You are player 7. Speak.",
         "response": "I suspect player 3."},
        {"timestamp": "2026-07-07T09:09:12.584526", "question": "what is overfitting", "answer": "Fitting noise in the training set.",
         "duration_seconds": 3.034, "input_tokens": 698, "output_tokens": 55, "cost_usd": 0.000431},
        {"timestamp": "2025-12-18T06:13:22.927250+00:00", "api_type": "ollama", "model": "gpt-oss:20b", "system_prompt": "You play a courier.",
         "user_input": "A mugger blocks the road.", "ai_output": "{\"decision\": \"run\"}", "input_tokens": 142, "output_tokens": 5},
        {"ts_iso": "2025-10-13T01:29:39+00:00", "model": "gpt-4o-mini", "prompt_tokens": 22, "output_tokens": 1,
         "estimated_cost_usd": 0.0000039},
        {"ts": "2025-11-25T22:44:48.504116+00:00", "agent": "director", "model": "gpt-4o-mini", "prompt_tokens": 300,
         "completion_tokens": 40, "duration_ms": 907.0, "success": True},
        {"ts": "2025-11-25T22:44:48.504116+00:00", "agent": "director", "model": "gpt-4o-mini", "prompt_tokens": 300,
         "completion_tokens": 40, "duration_ms": 290.0, "success": False, "error_type": "TimeoutError"},
        {"ts": "2025-11-25T22:44:48.504116+00:00", "agent": "director", "model": "gpt-4o-mini", "prompt_tokens": 300,
         "completion_tokens": 40, "duration_ms": 907.0, "success": True},  # the first line logged again: one call
        # structlog's event with the answer's message flattened into it: its content, else its tool calls
        {"timestamp": "2026-03-02T08:00:00Z", "event": "llm_response_full", "data": {
            "model": "gpt-4.1-mini", "content": "", "tool_calls": [{"id": "call_r1", "name": "file_read", "arguments": {"path": "app.py"}}],
            "input_tokens": 1244, "output_tokens": 128, "latency_ms": 3215.4, "finish_reason": "tool_calls"}},
    ]
    path = tmp_path / "llm_calls.log"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    file = ingest_paths(con, [str(path)])["files"][0]
    assert (file["format"], file["rows_added"], file["rows_duplicate"], file["rows_rejected"]) == ("openai", 7, 1, 0)
    rows = stored_requests(con, as_list=True)
    werewolf, rag, courier, health, ok, failed, tool_step = rows
    assert json.loads(tool_step["response_text"])[0]["name"] == "file_read" and tool_step["duration_ms"] == 3215.4
    assert (werewolf["model"], werewolf["provider"], werewolf["prompt_text"], werewolf["response_text"]) == (
        None, None, "You are player 7. Speak.", "I suspect player 3.")
    assert (rag["prompt_text"], rag["response_text"], rag["cost_usd"], rag["cost_source"], rag["duration_ms"]) == (
        "what is overfitting", "Fitting noise in the training set.", 0.000431, "log", 3034.0)
    assert (courier["system_prompt"], courier["prompt_text"], courier["response_text"]) == (
        "You play a courier.", "A mugger blocks the road.", '{"decision": "run"}')
    # Ollama's name:tag is a model run locally, not OpenAI's (no API price to take from the catalog)
    assert (courier["provider"], courier["cost_source"]) == ("ollama", "unknown")
    assert (str(health["created_at"]), health["input_tokens"], health["output_tokens"], health["cost_usd"], health["cost_source"]) == (
        "2025-10-13 01:29:39", 22, 1, 0.0000039, "log")
    assert (ok["status"], ok["duration_ms"], failed["status"], failed["duration_ms"]) == ("ok", 907.0, "error", 290.0)


def test_homegrown_logs_that_open_with_failures_and_name_usage_their_own_way(con, tmp_path):
    """More shapes from public projects' logs: the file opens with failed calls (status "failure", no usage), usage
    kept under ``token_count`` or as ``tokens_in``/``tokens_out``, Anthropic's cache counts as ``cache_read_tokens``/
    ``cache_creation_tokens``, the app's own provider name, and progress and summary lines between the calls."""
    lines = [
        {"timestamp": "2025-11-29T10:59:50.813264", "status": "failure", "model": "llama-3.3-70b", "duration_seconds": 0.287, "error": "None"},
        {"timestamp": "2025-11-29T10:59:52.100000", "phase": "processing", "query": "Add the word genius", "json_extraction_success": True},
        {"timestamp": "2025-11-29T11:00:01.000000", "status": "success", "model": "llama-3.3-70b", "duration_seconds": 1.21,
         "prompt_tokens": 42, "completion_tokens": 66, "total_tokens": 108, "cost": None},
        {"model": "llama3", "provider": "Ollama", "prompt": "Capital of France?", "response": "Paris.", "latency": 1818,
         "token_count": {"input_tokens": 7, "output_tokens": 3}, "timestamp": "2025-11-29T11:00:02.044755"},
        {"timestamp": "2025-11-29T11:00:03Z", "provider": "openai", "agent": "triage", "model": "gpt-4o-mini", "tokens_in": 612,
         "tokens_out": 93, "cost_usd": 0.0001476},
        {"timestamp": "2025-11-29T11:00:04", "model": "claude-sonnet-4-5-20250929", "input_tokens": 65, "output_tokens": 63,
         "cache_creation_tokens": 1037, "cache_read_tokens": 2048, "cache_hit": True},
        {"type": "thread_summary", "timestamp": "2025-11-29T11:05:00Z", "iterations": 5, "total_input_tokens": 2838,
         "total_output_tokens": 225, "total_cost_usd": 0.01},
    ]
    path = tmp_path / "llm_logs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    file = ingest_paths(con, [str(path)])["files"][0]
    assert (file["format"], file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == ("openai", 5, 2, 0)
    failed, ok, local, triage, claude = stored_requests(con, as_list=True)
    assert (failed["status"], failed["input_tokens"], failed["duration_ms"]) == ("error", None, 287.0)
    assert (ok["status"], ok["input_tokens"], ok["output_tokens"], ok["duration_ms"]) == ("ok", 42, 66, 1210.0)
    assert (local["provider"], local["input_tokens"], local["output_tokens"], local["response_text"]) == ("ollama", 7, 3, "Paris.")
    assert (triage["input_tokens"], triage["output_tokens"], triage["cost_usd"], triage["cost_source"]) == (612, 93, 0.0001476, "log")
    # Anthropic's convention: the input counts the cache reads and writes beside it
    assert (claude["input_tokens"], claude["cached_input_tokens"], claude["cache_write_tokens"], claude["output_tokens"]) == (
        65 + 2048 + 1037, 2048, 1037, 63)


def test_flat_lines_keep_their_provider_prompt_and_answer_whatever_else_they_hold(con, tmp_path):
    """An OpenAI answer beside a conversation with a ``system`` string is not an Anthropic call; prompts logged alone
    (``prompt``/``input`` with a null response) keep their text, so two of them are two requests; a logger's own
    ``message`` is not the answer of a call whose tool calls are flattened into the line; a line with a call's counts
    but no model is a reject (it needs --map), not a skipped log line."""
    completion = {"id": "chatcmpl-sys1", "object": "chat.completion", "created": 1735000000, "model": "gpt-4o-2024-08-06",
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
                  "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12, "prompt_tokens_details": {"cached_tokens": 4}}}
    lines = [
        {"model": "gpt-4o", "system": "Be nice.", "messages": [{"role": "user", "content": "hi"}], "response": completion},
        {"model": "gpt-4o", "prompt": "first question", "response": None},
        {"model": "gpt-4o", "prompt": "second question", "response": None},
        {"message": "llm call done", "level": "info", "model": "gpt-4o", "messages": [{"role": "user", "content": "weather?"}],
         "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}],
         "usage": {"prompt_tokens": 5, "completion_tokens": 3}},
        {"model_name": "gpt-4o", "prompt_tokens": 5, "completion_tokens": 3, "cost_usd": 0.01},
    ]
    path = tmp_path / "app.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    file = ingest_paths(con, [str(path)])["files"][0]
    assert (file["rows_added"], file["rows_duplicate"], file["rows_skipped"], file["rows_rejected"]) == (4, 0, 0, 1)
    answered, first, second, tool = stored_requests(con, as_list=True)
    assert (answered["provider"], answered["system_prompt"], answered["prompt_text"], answered["response_text"]) == (
        "openai", "Be nice.", "hi", "hello")
    assert (answered["input_tokens"], answered["cached_input_tokens"], answered["output_tokens"]) == (10, 4, 2)
    assert [(r["prompt_text"], r["status"]) for r in (first, second)] == [("first question", "no_response"), ("second question", "no_response")]
    assert json.loads(tool["response_text"])[0]["function"]["name"] == "get_weather"


def test_datasets_of_prompts_and_answers_are_not_call_logs(con, tmp_path):
    """A fine-tuning file (prompt/completion) or an eval set (question/answer) beside the logs holds no calls: without a
    model, only a line with a log's marks (a time, a duration, usage or a cost) is a call."""
    tune = tmp_path / "finetune.jsonl"
    tune.write_text(json.dumps({"prompt": "Classify: awful ->", "completion": " negative"}) + "\n")
    evals = tmp_path / "gsm8k.jsonl"
    evals.write_text(json.dumps({"question": "Ann has 3 apples...", "answer": "#### 72"}) + "\n")
    assert [detect_format(src) for src in expand_paths([str(tune), str(evals)])] == [None, None]


def test_a_usage_table_without_ids_or_times_keeps_rows_alike_in_what_it_stores(con, tmp_path):
    """A CSV of token counts per task: two rows of the same model and counts differ in a column plan does not keep;
    both are calls (before, the second was dropped as a duplicate of the first). Read again: nothing new."""
    path = tmp_path / "token_usage.csv"
    path.write_text("prompt_tokens,completion_tokens,cached_tokens,task_id,model\n"
                    "9420,439,0,1_thai_duck,gpt-4o-mini\n5120,210,0,1_thai_duck,gpt-4o-mini\n9420,439,0,2_llm_agents_survey,gpt-4o-mini\n")
    first = ingest_paths(con, [str(path)])
    assert (first["rows_added"], first["rows_duplicate"]) == (3, 0)
    assert con.execute("select sum(input_tokens), sum(output_tokens) from requests").fetchone() == (23960, 1088)
    path.write_text(path.read_text() + "700,20,0,3_new_task,gpt-4o-mini\n")  # the table grew: its old rows are not added again
    grown = ingest_paths(con, [str(path)])
    assert (grown["rows_added"], grown["rows_duplicate"]) == (1, 3)


def test_a_cost_log_of_models_and_usage_alone_counts_its_spend(con, tmp_path):
    """An app that logs only what each call used (model and tokens, no text): calls without text, priced (a logged
    cost wins), not rejected; its other events are skipped."""
    lines = [{"event": "llm_usage", "ts": "2025-11-24T10:00:00Z", "model": "gpt-4o", "feature": "summaries",
              "usage": {"prompt_tokens": 100, "completion_tokens": 20}},
             {"event": "llm_usage", "ts": "2025-11-24T10:00:01Z", "model": "claude-sonnet-4-5", "input_tokens": 300,
              "output_tokens": 40, "cost_usd": 0.0015},
             {"event": "app_started", "ts": "2025-11-24T10:00:02Z"}]
    path = tmp_path / "usage.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    file = ingest_paths(con, [str(path)])["files"][0]
    assert (file["format"], file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == ("openai", 2, 1, 0)
    gpt, claude = stored_requests(con, as_list=True)
    assert (gpt["provider"], gpt["input_tokens"], gpt["output_tokens"], gpt["cost_source"]) == ("openai", 100, 20, "catalog")
    assert gpt["cost_usd"] == pytest.approx(100 * 2.5e-6 + 20 * 10e-6)
    assert (gpt["prompt_text"], gpt["messages_json"], gpt["status"]) == (None, None, "ok")
    assert (claude["provider"], claude["cost_usd"], claude["cost_source"]) == ("anthropic", 0.0015, "log")


def test_promptlayer_request_logs_are_pairs_with_their_price(con, tmp_path):
    # PromptLayer keeps a call as the SDK call's kwargs and the provider's response, with its price and times.
    row = {"request_id": 123, "provider_type": "openai", "function_name": "openai.chat.completions.create",
           "kwargs": {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "You triage."},
                                                           {"role": "user", "content": "My parcel is late."}]},
           "request_response": {"id": "chatcmpl-pl1", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
                                "choices": [{"index": 0, "message": {"role": "assistant", "content": "shipping"},
                                             "finish_reason": "stop"}],
                                "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}},
           "request_start_time": "2025-12-01T10:00:00", "request_end_time": "2025-12-01T10:00:01", "price": 0.000003,
           "tags": ["prod"]}
    path = tmp_path / "promptlayer.json"
    path.write_text(json.dumps([row]))
    file = ingest_paths(con, [str(path)])["files"][0]
    assert (file["format"], file["rows_added"]) == ("openai", 1)
    got = con.execute("select prompt_text, response_text, input_tokens, cost_usd, cost_source, created_at from requests").fetchall()
    assert got == [("My parcel is late.", "shipping", 12, 0.000003, "log", datetime(2025, 12, 1, 10, 0))]


def test_a_model_less_call_whose_answer_came_back_empty_is_read_like_its_neighbours(con, tmp_path):
    """A game agent's log without a model: the calls whose answer came back empty were requests without a response
    under provider openai, their usage and time dropped, beside the other calls' provider unknown. The model said
    nothing: each is a call like the others, with its duration and usage."""
    lines = [{"timestamp": "2025-08-27T11:16:05.212414", "call_type": "speech", "duration_ms": 3016.0,
              "usage": {"prompt_tokens": 410, "completion_tokens": 35, "total_tokens": 445}, "prompt": "Speak now", "response": "I am a villager."},
             {"timestamp": "2025-08-27T11:17:09.472399", "call_type": "kill", "duration_ms": 5500.0,
              "usage": {"prompt_tokens": 388, "completion_tokens": 0, "total_tokens": 388}, "prompt": "Choose", "response": ""}]
    path = tmp_path / "llm_calls.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert ingest_paths(con, [str(path)])["rows_added"] == 2
    assert con.execute("select provider, status, prompt_text, response_text, input_tokens, output_tokens, duration_ms"
                       " from requests order by created_at").fetchall() == [
        (None, "ok", "Speak now", "I am a villager.", 410, 35, 3016.0), (None, "ok", "Choose", None, 388, 0, 5500.0)]


def test_homegrown_logs_of_langchain_calls_keep_their_prompts_and_answers(con, tmp_path):
    """Three apps' logs plan refused or stored without text: a LangChain callback handler's log of each request
    (``on_llm_start``: the prompts as a list, the model, start time and latency, no answer; a failed one with its
    error), a job agent's log keeping its prompts under ``prompts`` and answers under ``replies``, and a game's log
    of a prompt and the model's ``raw_response`` without the model's name."""
    callback = tmp_path / "llm_requests.jsonl"
    callback.write_text("".join(json.dumps(line) + "\n" for line in [
        {"ts_start": 1767715385.69613, "provider": "ollama", "model": "llama3:latest",
         "prompts": ["System: You are ChatBox.\nHuman: hello\nAI: "], "invocation_params": {"model": "llama3:latest", "_type": "ollama-chat"},
         "ts_end": 1767715387.914947, "latency_s": 2.2188, "llm_output": None, "run_id": "f92f"},
        {"ts_start": 1771710485.187824, "provider": "ollama", "model": "llama3.2:latest", "prompts": ["Human: hi\nAI: "],
         "latency_s": 0.01, "llm_output": None, "run_id": "a001", "error": "Connection refused"}]))
    replies = tmp_path / "llm_calls.json"
    replies.write_text("\n".join(json.dumps(line, indent=2) for line in [
        {"model": "phi3:latest", "time": "2025-02-28 17:59:38", "prompts": "messages=[HumanMessage(content='Write my CV.')]",
         "replies": "<section>CV</section>", "total_tokens": 0, "input_tokens": 0, "output_tokens": 0, "total_cost": 0.0}]))
    raw = tmp_path / "llm_trace.jsonl"
    raw.write_text(json.dumps({"prompt": "You are the dungeon master. Describe the room.", "prompt_template_name": "exploration",
                               "error": None, "raw_response": "A misty hall.", "timestamp": "2025-09-20T23:12:11.475415"}) + "\n")
    summary = ingest_paths(con, [str(callback), str(replies), str(raw)])
    assert [(f["format"], f["rows_added"], f["rows_rejected"]) for f in summary["files"]] == [
        ("openai", 2, 0), ("openai", 1, 0), ("openai", 1, 0)]
    rows = con.execute("select source_file, provider, model, status, prompt_text, response_text, duration_ms, created_at"
                       " from requests order by source_file, created_at").fetchall()
    by_file = {}
    for row in rows:
        by_file.setdefault(row[0].rsplit("/", 1)[-1], []).append(row[1:])
    first, failed = by_file["llm_requests.jsonl"]
    assert first[:5] == ("ollama", "llama3:latest", "no_response", "System: You are ChatBox.\nHuman: hello\nAI: ", None)
    assert first[5] == pytest.approx(2218.8) and first[6] == datetime(2026, 1, 6, 16, 3, 5, 696130)
    assert (failed[2], failed[3]) == ("error", "Human: hi\nAI: ")
    assert by_file["llm_calls.json"][0][:5] == ("ollama", "phi3:latest", "ok", "messages=[HumanMessage(content='Write my CV.')]",
                                                "<section>CV</section>")
    assert by_file["llm_trace.jsonl"][0][:5] == (None, None, "ok", "You are the dungeon master. Describe the room.", "A misty hall.")


def test_a_cost_logs_embedding_calls_are_priced_but_not_prompts(con, tmp_path):
    """A RAG app's cost log: a line per call, model and token counts; its embedding calls are priced like the rest
    but are no prompt for a chat model (before, they were chat calls without text)."""
    path = tmp_path / "llm_usage.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in [
        {"timestamp": "2026-07-28T00:12:38Z", "provider": "openai", "model": "gpt-4o-mini", "tokens_in": 612, "tokens_out": 93, "cost_usd": 0.0001476},
        {"timestamp": "2026-07-28T00:31:48Z", "provider": "openai", "model": "text-embedding-3-small", "tokens_in": 1423, "tokens_out": 0, "cost_usd": 2.846e-05},
        {"timestamp": "2026-07-28T00:31:49Z", "provider": "ollama", "model": "nomic-embed-text", "tokens_in": 17, "tokens_out": 0}]))
    assert ingest_paths(con, [str(path)])["rows_added"] == 3
    assert con.execute("select model, operation, input_tokens from requests order by created_at").fetchall() == [
        ("gpt-4o-mini", None, 612), ("text-embedding-3-small", "embeddings", 1423), ("nomic-embed-text", "embeddings", 17)]


def test_a_whole_answer_under_model_output_and_azure_api_managements_bodies(con, tmp_path):
    """An eval harness's record keeps the model's whole answer under ``model_output`` (inspect_ai's ModelOutput,
    its usage in the Responses API's terms): read as the response, not as a request without one. Azure API
    Management's gateway logs keep the bodies as JSON text under ``requestBody``/``responseBody`` in ``properties``,
    the time it took as ``durationMs``: read as a pair (before, both files were refused or their lines skipped)."""
    harness = tmp_path / "predictions.jsonl"
    harness.write_text(json.dumps({"index": 4, "model": "moonshotai/kimi-k2.5", "messages": [{"role": "user", "content": "Find the area."}],
                                   "model_output": {"model": "moonshotai/kimi-k2.5", "choices": [
                                       {"message": {"role": "assistant", "content": "The area is 588."}, "stop_reason": "stop"}],
                                       "usage": {"input_tokens": 189, "output_tokens": 2109, "total_tokens": 2298}}}) + "\n")
    request = {"model": "gpt-chat-pilot", "messages": [{"role": "user", "content": "capital of tamilnadu?"}]}
    response = {"id": "chatcmpl-9gRL1", "object": "chat.completion", "created": 1719901891, "model": "gpt-35-turbo",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Chennai."}}],
                "usage": {"prompt_tokens": 14, "completion_tokens": 8, "total_tokens": 22}}
    gateway = tmp_path / "gateway.log"
    gateway.write_text(json.dumps({"category": "GatewayLogs", "durationMs": 176, "time": "2024-07-02T06:31:31.000Z",
                                   "properties": {"apiId": "azure-openai-service-api", "requestBody": json.dumps(request),
                                                  "responseBody": json.dumps(response)}}) + "\n")
    summary = ingest_paths(con, [str(harness), str(gateway)])
    assert [(f["format"], f["rows_added"]) for f in summary["files"]] == [("openai", 1), ("openai", 1)]
    assert con.execute("select model, status, prompt_text, response_text, input_tokens, output_tokens, duration_ms"
                       " from requests order by source_file").fetchall() == [
        ("gpt-35-turbo", "ok", "capital of tamilnadu?", "Chennai.", 14, 8, 176.0),
        ("moonshotai/kimi-k2.5", "ok", "Find the area.", "The area is 588.", 189, 2109, None)]


def test_a_raw_response_without_its_raw_request_is_an_answer_logged_flat(con, tmp_path):
    """`raw_response` is the pair's response only beside `raw_request` (a gateway's stored bodies); alone it is the
    answer's text of a call logged flat, whose usage beside it counts (it was dropped, the call stored unanswered)."""
    path = tmp_path / "calls.jsonl"
    path.write_text("".join(json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Describe room {i}."}],
                                        "raw_response": answer, "usage": {"prompt_tokens": 9, "completion_tokens": 4},
                                        "timestamp": f"2025-09-20T23:12:1{i}Z"}) + "\n"
                            for i, answer in enumerate(["A misty hall.", None, {"text": "A hall."}])))
    ingest_paths(con, [str(path)])
    rows = con.execute("select status, input_tokens, output_tokens from requests order by source_line").fetchall()
    assert rows == [("ok", 9, 4)] * 3


def test_gateway_access_logs_name_model_and_usage_as_opentelemetry_or_higress_do(con, tmp_path):
    """Gateways log each call's model and usage in their access logs, no text: the Envoy AI Gateway under
    OpenTelemetry's names (`gen_ai.request.model`, `gen_ai.usage.input_tokens`) with Envoy's `response_code`, Higress
    as `input_token`/`output_token` (numbers as text), flat or inside its `ai_log` field (JSON text). All were
    refused ("resemble no export plan knows"); each is a call without text, priced from the catalogue."""
    envoy = {":authority": "api.example.com", "duration": 1526, "gen_ai.provider.name": "default/route/0",
             "gen_ai.request.model": "gpt-4o-mini", "gen_ai.request.model_override": None, "gen_ai.usage.input_tokens": 15,
             "gen_ai.usage.output_tokens": 7, "gen_ai.usage.total_tokens": 22, "method": "POST", "response_code": 200,
             "start_time": "2025-08-30T16:51:37.894Z", "x-envoy-origin-path": "/v1/chat/completions",
             "x-request-id": "83b63da3-45a9-4196-98b8-1a7f697d6d8d"}
    failed = {**envoy, "response_code": 503, "gen_ai.usage.input_tokens": 0, "gen_ai.usage.output_tokens": 0,
              "start_time": "2025-08-30T16:52:00.000Z", "x-request-id": "f00"}
    path = tmp_path / "envoy_access.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in (envoy, failed)))
    file = ingest_paths(con, [str(path)])["files"][0]
    assert (file["format"], file["rows_added"], file["rows_rejected"]) == ("openai", 2, 0)
    ok, error = stored_requests(con, as_list=True)
    assert (ok["model"], ok["input_tokens"], ok["output_tokens"], ok["status"], ok["cost_source"]) == ("gpt-4o-mini", 15, 7, "ok", "catalog")
    assert ok["cost_usd"] == pytest.approx(15 * 0.15e-6 + 7 * 0.6e-6)
    assert (str(ok["created_at"]), ok["prompt_text"]) == ("2025-08-30 16:51:37.894000", None)
    assert error["status"] == "error"

    higress = tmp_path / "higress.jsonl"
    higress.write_text(json.dumps({"model": "gpt-4o", "input_token": "21", "output_token": "17", "duration": "1590",
                                   "response_code": "200", "start_time": "2024-06-18T09:37:14.078Z", "path": "/v1/chat/completions"})
                       + "\n" + json.dumps({"ai_log": json.dumps({"model": "gpt-4o", "input_token": "343", "output_token": "153",
                                                                  "llm_service_duration": "19110"})}) + "\n")
    file = ingest_paths(con, [str(higress)])["files"][0]
    assert (file["format"], file["rows_added"], file["rows_rejected"]) == ("openai", 2, 0)
    got = con.execute("select input_tokens, output_tokens, cost_source from requests where source_file = ? order by source_line",
                      [str(higress)]).fetchall()
    assert got == [(21, 17, "catalog"), (343, 153, "catalog")]


DATABRICKS_TRACE = {
    "info": {"trace_id": "tr-1", "request_time": "2025-12-02T16:52:20.818Z", "state": "OK",
             "trace_metadata": {"mlflow.trace.tokenUsage": '{"input_tokens": 27, "output_tokens": 641, "total_tokens": 668}'}},
    "data": {"spans": [
        {"trace_id": "tr-1", "span_id": "s-agent", "parent_span_id": None, "name": "predict",
         "start_time_unix_nano": 1764694340818061307, "end_time_unix_nano": 1764694345916778373,
         "status": {"code": "STATUS_CODE_OK"}, "attributes": {"mlflow.spanType": '"AGENT"', "mlflow.spanInputs": '{"request": {}}'}},
        {"trace_id": "tr-1", "span_id": "s-call", "parent_span_id": "s-agent", "name": "Completions",
         "start_time_unix_nano": 1764694340819104621, "end_time_unix_nano": 1764694345916576447,
         "status": {"code": "STATUS_CODE_OK"}, "attributes": {
             "mlflow.spanType": '"CHAT_MODEL"', "mlflow.message.format": '"openai"',
             "mlflow.spanInputs": json.dumps({"model": "my-endpoint", "messages": [
                 {"role": "system", "content": "You are a helpful assistant"},
                 {"role": "user", "content": "What is a good apple pie recipe?"}]}),
             "mlflow.chat.tokenUsage": '{"input_tokens": 27, "output_tokens": 641, "total_tokens": 668}',
             "mlflow.spanOutputs": json.dumps({"id": "chatcmpl-db1", "object": "chat.completion", "model": "gpt-4.1-2025-04-14",
                                               "choices": [{"index": 0, "finish_reason": "stop",
                                                            "message": {"role": "assistant", "content": "Here is a classic pie."}}],
                                               "usage": {"prompt_tokens": 27, "completion_tokens": 641, "total_tokens": 668}})}},
    ]},
}


def databricks_agent_answer(i: int) -> dict:
    """A Databricks agent endpoint's answer (a Responses-style object without model or usage) with the MLflow trace of
    the calls that made it, as its inference table keeps it."""
    trace = json.loads(json.dumps(DATABRICKS_TRACE).replace("s-call", f"s-call-{i}").replace("tr-1", f"tr-{i}"))
    return {"object": "response", "id": f"resp_{i}", "output": [{"type": "message", "id": f"msg_{i}", "role": "assistant",
                                                                    "content": [{"type": "output_text", "text": "Here is a classic pie."}]}],
            "databricks_output": {"trace": trace, "databricks_request_id": f"req-{i}"}}


def test_a_databricks_agents_answer_is_read_from_the_calls_in_its_trace(con, tmp_path):
    """A Databricks agent endpoint answers with an object that names no model or usage; the model call is in the MLflow
    trace it returns beside it (`databricks_output.trace`). It was stored as an unpriced call without model, tokens,
    time or prompt; now it is the trace's model call (the agent's own span is not one), on its own or as the
    inference table's `response`."""
    path = tmp_path / "agent_response.json"
    path.write_text(json.dumps(databricks_agent_answer(0)))
    table = tmp_path / "inference_table.jsonl"
    table.write_text(json.dumps({"databricks_request_id": "req-1", "status_code": 200, "request": {"input": [
        {"role": "user", "content": "What is a good apple pie recipe?"}]}, "response": databricks_agent_answer(1)}) + "\n")
    for each in (path, table):
        assert ingest_paths(con, [str(each)])["files"][0]["rows_added"] == 1
    for row in dicts(con, "select * from requests order by source_file"):
        assert (row["model"], row["provider"], row["input_tokens"], row["output_tokens"]) == ("gpt-4.1-2025-04-14", "openai", 27, 641)
        assert (row["system_prompt"], row["prompt_text"], row["response_text"]) == (
            "You are a helpful assistant", "What is a good apple pie recipe?", "Here is a classic pie.")
        assert str(row["created_at"]) == "2025-12-02 16:52:20.819104" and row["cost_source"] == "catalog"


def test_a_request_body_logged_under_prompt_beside_its_completion_keeps_its_conversation(con, tmp_path):
    """`{"prompt": {request body}, "completion": {ChatCompletion}}`: the call was stored with its answer and tokens
    but no conversation (the body under `prompt` was not read as the request)."""
    line = {"created_at": "2026-01-01T00:00:00Z", "cost_usd": 0.001,
            "prompt": {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "be brief"},
                                                           {"role": "user", "content": "hello there"}]},
            "completion": {"id": "chatcmpl-pc1", "object": "chat.completion", "created": 1767225600, "model": "gpt-4o-mini-2024-07-18",
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}}}
    path = tmp_path / "calls.jsonl"
    path.write_text(json.dumps(line) + "\n")
    assert ingest_paths(con, [str(path)])["rows_added"] == 1
    row = stored_requests(con, as_list=True)[0]
    assert (row["system_prompt"], row["prompt_text"], row["response_text"], row["cost_usd"]) == ("be brief", "hello there", "Hi", 0.001)


def test_raw_responses_saved_with_their_headers_are_read_from_the_body(con, fixtures):
    """`with_raw_response` saved as {"headers": dict(raw.headers), "body": raw.parse().model_dump()} (openai 3.63 against
    a local stub): "not a log format plan recognises", nothing stored. The 429's saved body names no model or status:
    a reject that says so."""
    path = str(fixtures / "openai" / "raw_responses_headers_body.jsonl")
    assert detect_format(expand_paths([path])[0]) == "openai"
    file = ingest_paths(con, [path])["files"][0]
    assert (file["rows_added"], file["rows_rejected"], file["input_tokens"], file["output_tokens"]) == (3, 1, 1821, 143)
    assert con.execute("select sum(cached_input_tokens), string_agg(response_text, ',' order by source_line) from requests").fetchone() == (512, "C1,C2,C4")
