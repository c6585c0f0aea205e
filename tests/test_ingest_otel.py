"""OpenTelemetry GenAI spans in the shapes tools write them (fixtures written from the semantic conventions)."""

import json

import pytest

from analyzer.db import dicts
from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths


def by_span(con):
    return {r["source_id"]: r for r in dicts(con, "select * from requests")}


@pytest.mark.parametrize("name", ["collector_export.jsonl", "console_exporter.txt", "js_spans.json", "bare_spans.json"])
def test_every_span_dump_is_detected_as_otel(fixtures, name):
    assert detect_format(expand_paths([str(fixtures / "otel" / name)])[0]) == "otel"


def test_a_collector_export_of_big_batches_is_read(con, fixtures, tmp_path):
    # The collector's file exporter writes one line per export batch: a batch of a few hundred spans is longer
    # than the head plan sniffs, and such files were "not a log format plan recognises".
    first, second = (json.loads(line) for line in (fixtures / "otel" / "collector_export.jsonl").read_text().splitlines())
    spans = first["resourceSpans"][0]["scopeSpans"][0]["spans"]
    chat = next(s for s in spans if s["spanId"] == "051581bf3cb55c13")
    first["resourceSpans"][0]["scopeSpans"][0]["spans"] = [{**chat, "spanId": f"{i:016x}"} for i in range(300)]
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n")
    assert path.stat().st_size > 2 * 65536
    file = ingest_paths(con, [str(path)])["files"][0]
    assert (file["format"], file["rows_rejected"]) == ("otel", 0)
    copies = [r for span, r in by_span(con).items() if span in {f"{i:016x}" for i in range(300)}]
    assert len(copies) == 300 and sum(r["input_tokens"] for r in copies) == 300 * 1320
    # One batch alone: a file of one long line, with or without its line end.
    for name, text in (("one.jsonl", json.dumps(first) + "\n"), ("one.json", json.dumps(first))):
        (tmp_path / name).write_text(text.replace('"0000000000000', '"1000000000000'))
        file = ingest_paths(con, [str(tmp_path / name)])["files"][0]
        assert (file["format"], file["rows_added"], file["rows_rejected"]) == ("otel", 300, 0)
        con.execute("delete from requests where source_file like ?", [f"%{name}"])


def test_collector_file_export_counts_each_model_call_once(con, fixtures):
    summary = ingest_paths(con, [str(fixtures / "otel" / "collector_export.jsonl")])
    # Model calls: chat (current names), embeddings, Bedrock chat (messages on the details event), a failed chat,
    # an OpenInference LLM span, an OpenLLMetry chat. Skipped and counted: the agent, tool, chain and workflow
    # spans that repeat their children's usage. The chat span exported twice counts once.
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_duplicate"], summary["rows_rejected"]) == (6, 4, 1, 0)
    totals = con.execute("select sum(input_tokens), sum(output_tokens) from requests").fetchall()[0]
    assert totals == (1320 + 12 + (40 + 2000 + 300) + 95 + 210, 18 + 60 + 14 + 33)
    got = by_span(con)

    chat = got["051581bf3cb55c13"]
    assert (chat["model"], chat["provider"], chat["operation"]) == ("gpt-4o-mini-2024-07-18", "openai", "chat")
    assert chat["system_prompt"] == "You label support tickets: billing, shipping or other."
    assert (chat["prompt_text"], chat["response_text"]) == ("Where is my parcel?", "shipping")
    assert (chat["input_tokens"], chat["cached_input_tokens"], chat["output_tokens"]) == (1320, 1024, 18)
    assert (chat["trace_id"], chat["parent_span_id"]) == ("5b8aa5a2d2c872e8321cf37308d69df2", "a1a1a1a1a1a1a1a1")
    assert chat["duration_ms"] == 850 and chat["user_id"] == "user-17" and chat["cost_source"] == "catalog"
    assert json.loads(chat["params_json"]) == {"temperature": 0.2, "max_tokens": 200}
    assert json.loads(chat["tags_json"])["service"] == "helpdesk"

    embedding = got["c3c3c3c3c3c3c3c3"]
    assert embedding["operation"] == "embeddings" and embedding["prompt_text"] is None
    assert embedding["input_tokens"] == 12 and embedding["cost_usd"] > 0  # priced, not a prompt to categorize

    bedrock = got["d4d4d4d4d4d4d4d4"]
    assert (bedrock["provider"], bedrock["prompt_text"], bedrock["response_text"]) == (
        "bedrock", "Summarise the refund policy.", "Refunds within 30 days.")
    assert bedrock["system_prompt"] == "You are the policy assistant."
    # An input count below its cache reads and writes left the cache out: all input is counted.
    assert (bedrock["input_tokens"], bedrock["cached_input_tokens"], bedrock["cache_write_tokens"]) == (2340, 2000, 300)

    assert got["e5e5e5e5e5e5e5e5"]["status"] == "error"
    phoenix = got["1111222233334444"]  # ids were base64 in the file
    assert phoenix["trace_id"] == "0af7651916cd43dd8448eb211c80319c" and phoenix["parent_span_id"] == "5555666677778888"
    assert (phoenix["system_prompt"], phoenix["prompt_text"]) == ("You write SQL for Postgres.", "Count orders per country.")
    assert phoenix["response_text"].startswith("select country") and (phoenix["input_tokens"], phoenix["output_tokens"]) == (95, 14)
    assert json.loads(phoenix["params_json"]) == {"temperature": 0, "max_tokens": 256}
    openllmetry = got["ddddeeeeffff0000"]
    assert (openllmetry["provider"], openllmetry["prompt_text"], openllmetry["response_text"]) == (
        "openai", "How many vacation days do I get?", "25 days a year.")
    assert (openllmetry["input_tokens"], openllmetry["output_tokens"]) == (210, 33)


def test_console_exporter_objects_one_after_another(con, fixtures):
    summary = ingest_paths(con, [str(fixtures / "otel" / "console_exporter.txt")])
    assert (summary["rows_added"], summary["rows_duplicate"], summary["rows_skipped"]) == (1, 1, 1)
    row = by_span(con)["00f067aa0ba902b7"]
    assert (row["prompt_text"], row["response_text"]) == ("Translate 'thank you' to German.", "Danke.")
    assert (row["input_tokens"], row["output_tokens"], row["duration_ms"]) == (57, 9, 1250)
    assert row["parent_span_id"] == "53995c3f42cd8ad8" and row["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_js_sdk_spans_count_the_call_not_its_wrapper(con, fixtures):
    summary = ingest_paths(con, [str(fixtures / "otel" / "js_spans.json")])
    assert (summary["rows_added"], summary["rows_skipped"]) == (1, 1)
    row = by_span(con)["eeeeffff00001111"]
    assert (row["provider"], row["model"], row["input_tokens"], row["output_tokens"]) == (
        "anthropic", "claude-3-5-sonnet-20241022", 410, 120)
    assert (row["system_prompt"], row["prompt_text"], row["response_text"]) == (
        "You draft release notes.", "Notes for v2.3.", "v2.3 adds dark mode.")
    assert row["duration_ms"] == 2000 and row["parent_span_id"] == "aaaabbbbccccdddd"


def test_bare_span_list_and_all_shapes_together(con, fixtures):
    summary = ingest_paths(con, [str(fixtures / "otel")])
    assert summary["rows_added"] == 6 + 1 + 1 + 1
    totals = con.execute("select sum(input_tokens), sum(output_tokens) from requests").fetchall()[0]
    assert totals == (3977 + 57 + 410 + 7, 125 + 9 + 120 + 5)
    completion = by_span(con)["0102030405060708"]
    assert (completion["operation"], completion["prompt_text"], completion["response_text"]) == (
        "text_completion", "Once upon a time", "there was a bug.")
    again = ingest_paths(con, [str(fixtures / "otel")])
    assert again["rows_added"] == 0


def test_langfuse_trace_export_keeps_the_span_attributes(con, fixtures):
    """{trace, observations[]} from Langfuse's OTel endpoint: generations read, blanks filled from the span's own
    attributes, and a span also in a collector export counted once."""
    path = fixtures / "langfuse_otel" / "trace_export.json"
    assert detect_format(expand_paths([str(path)])[0]) == "langfuse"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_skipped"]) == (2, 1)
    got = by_span(con)
    chat = got["051581bf3cb55c13"]
    assert (chat["input_tokens"], chat["cached_input_tokens"], chat["output_tokens"], chat["cost_usd"]) == (1320, 1024, 18, 0.000132)
    assert (chat["prompt_text"], chat["response_text"], chat["parent_span_id"]) == ("Where is my parcel?", "shipping", "a1a1a1a1a1a1a1a1")
    filled = got["f6f6f6f6f6f6f6f6"]  # Langfuse kept nothing but the attributes
    assert (filled["model"], filled["input_tokens"], filled["output_tokens"]) == ("gpt-4o-2024-08-06", 44, 61)
    assert (filled["prompt_text"], filled["cost_source"]) == ("Draft a polite reminder.", "catalog")
    collector = ingest_paths(con, [str(fixtures / "otel" / "collector_export.jsonl")])
    assert collector["rows_added"] == 5 and collector["rows_duplicate"] == 2  # the shared chat span, twice in the file


def _phoenix_rows():
    """Rows of Phoenix's spans dataframe (px.Client().get_spans_dataframe()): an agent span, two LLM calls under
    it (one failed), as the columns come out of pandas."""
    def llm(i, prompt_tokens, completion_tokens, status="OK", message=""):
        return {
            "name": "ChatCompletion", "span_kind": "LLM", "parent_id": "a1b2c3d4e5f60718",
            "start_time": f"2026-11-03T10:0{i}:00.000+00:00", "end_time": f"2026-11-03T10:0{i}:02.250+00:00",
            "status_code": status, "status_message": message, "events": [],
            "context.span_id": f"00000000000000a{i}", "context.trace_id": "0af7651916cd43dd8448eb211c80319c",
            "attributes.llm.model_name": "gpt-4.1-mini-2025-04-14", "attributes.llm.provider": "openai",
            "attributes.llm.system": "openai", "attributes.openinference.span.kind": "LLM",
            "attributes.llm.token_count.prompt": prompt_tokens, "attributes.llm.token_count.completion": completion_tokens,
            "attributes.llm.input_messages": [{"message.role": "system", "message.content": "Route the ticket."},
                                              {"message.role": "user", "message.content": f"ticket {i}: charged twice"}],
            "attributes.llm.output_messages": [{"message.role": "assistant", "message.content": "billing"}],
            "attributes.input.value": None, "attributes.output.value": "billing",
        }
    agent = {"name": "triage-agent", "span_kind": "CHAIN", "parent_id": None,
             "start_time": "2026-11-03T10:00:00.000+00:00", "end_time": "2026-11-03T10:03:00.000+00:00",
             "status_code": "OK", "status_message": "", "events": [], "context.span_id": "a1b2c3d4e5f60718",
             "context.trace_id": "0af7651916cd43dd8448eb211c80319c", "attributes.openinference.span.kind": "CHAIN",
             "attributes.llm.token_count.prompt": 180, "attributes.llm.token_count.completion": 3}  # its children's sum
    return [agent, llm(1, 120, 2), llm(2, 60, 1, status="ERROR", message="429 Too Many Requests")]


def _assert_phoenix_calls(con, summary):
    assert summary["files"][0]["format"] == "otel"
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_rejected"]) == (2, 1, 0)
    ok, failed = dicts(con, "select * from requests order by created_at")
    assert (ok["input_tokens"], ok["output_tokens"], ok["model"], ok["status"]) == (120, 2, "gpt-4.1-mini-2025-04-14", "ok")
    assert ok["system_prompt"] == "Route the ticket." and ok["prompt_text"] == "ticket 1: charged twice"
    assert ok["response_text"] == "billing" and ok["duration_ms"] == 2250.0
    assert ok["parent_span_id"] == "a1b2c3d4e5f60718" and ok["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert failed["status"] == "error" and failed["input_tokens"] == 60


def test_phoenix_spans_dataframe_saved_as_parquet(con, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _phoenix_rows()
    columns = list(dict.fromkeys(k for r in rows for k in r))  # a dataframe has every column on every row
    path = tmp_path / "phoenix_spans.parquet"
    pq.write_table(pa.Table.from_pylist([{k: r.get(k) for k in columns} for r in rows]), path)
    _assert_phoenix_calls(con, ingest_paths(con, [str(path)]))


def test_phoenix_spans_dataframe_saved_as_csv_with_python_literals(con, tmp_path):
    import csv

    rows = _phoenix_rows()
    columns = list(dict.fromkeys(k for r in rows for k in r))
    path = tmp_path / "phoenix_spans.csv"
    with path.open("w", newline="") as f:  # pandas writes a list cell as its repr, and None as an empty cell
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: "" if r.get(k) is None else (repr(r[k]) if isinstance(r.get(k), list) else r[k])
                             for k in columns})
    _assert_phoenix_calls(con, ingest_paths(con, [str(path)]))


def test_phoenix_spans_dataframe_saved_as_json_records(con, tmp_path):
    path = tmp_path / "phoenix_spans.json"
    path.write_text(json.dumps(_phoenix_rows(), indent=1))  # DataFrame.to_json(orient="records")
    _assert_phoenix_calls(con, ingest_paths(con, [str(path)]))


# ---------------------------------------------------------------------------------------------
# Span dumps as public tools write them (tests/fixtures/otel_real, written by hand in each tool's shape)
# ---------------------------------------------------------------------------------------------


def _ingest_real(con, fixtures, name):
    path = fixtures / "otel_real" / name
    assert detect_format(expand_paths([str(path)])[0]) == "otel"
    summary = ingest_paths(con, [str(path)])
    counts = (summary["rows_added"], summary["rows_skipped"], summary["rows_duplicate"], summary["rows_rejected"])
    return counts, by_span(con)


def _totals(con):
    return con.execute("select count(*), sum(input_tokens), sum(output_tokens) from requests").fetchall()[0]


def test_semantic_kernel_console_output_with_its_own_operation_and_token_names(con, fixtures):
    """Semantic Kernel's ConsoleSpanExporter output: gen_ai.operation.name chat.completions (and
    chat.streaming_completions), tokens in gen_ai.response.prompt_tokens/completion_tokens, messages on
    gen_ai.content.* events, and a log record printed among the spans (skipped, not rejected)."""
    counts, got = _ingest_real(con, fixtures, "semantic_kernel_console.txt")
    assert counts == (2, 2, 0, 0)  # the scenario wrapper span and the log record are skipped
    assert _totals(con) == (2, 23 + 31, 41 + 6)
    chat = got["1a2b3c4d5e6f7081"]
    assert (chat["model"], chat["provider"], chat["operation"]) == ("gpt-4o", "openai", "chat.completions")
    assert (chat["input_tokens"], chat["output_tokens"]) == (23, 41)
    assert (chat["system_prompt"], chat["prompt_text"], chat["response_text"]) == (
        "Answer like a ship's captain.", "How far is the lighthouse?", "Two nautical miles, sailor.")
    assert chat["parent_span_id"] == "9f8e7d6c5b4a3921" and chat["duration_ms"] == 2250
    streamed = got["1a2b3c4d5e6f7082"]
    assert (streamed["model"], streamed["input_tokens"], streamed["output_tokens"]) == ("gpt-4o-mini", 31, 6)


def test_google_adk_call_llm_spans_in_a_collector_export(con, fixtures):
    """Google ADK: model calls are spans named call_llm (no gen_ai.operation.name), gen_ai.system is the framework
    (gcp.vertex.agent), the request and response are JSON in gcp.vertex.agent.llm_request/llm_response; token
    counts come as OTLP intValue strings and as a doubleValue. Agent and tool spans are skipped."""
    counts, got = _ingest_real(con, fixtures, "adk_collector.jsonl")
    assert counts == (2, 3, 0, 0)
    assert _totals(con) == (2, 182 + 230, 14 + 9)
    first, second = got["b1c2d3e4f5a60718"], got["b1c2d3e4f5a6071a"]
    assert (first["provider"], first["model"], first["input_tokens"], first["output_tokens"]) == (
        "google", "gemini-2.0-flash", 182, 14)
    assert (first["system_prompt"], first["prompt_text"]) == (
        "You are a weather assistant. Use the tool.", "Is it raining in Lisbon?")
    assert (second["input_tokens"], second["output_tokens"]) == (230, 9)  # 230.0 as a doubleValue
    assert second["response_text"] == "No rain in Lisbon right now."
    assert first["parent_span_id"] == second["parent_span_id"] == "a0a0a0a0a0a0a0a1"
    assert first["cost_source"] == "catalog" and first["cost_usd"] > 0


def test_strands_spans_messages_on_events_and_cache_writes(con, fixtures):
    """Strands Agents: chat spans with gen_ai.system strands-agents (the provider comes from the Bedrock model id),
    gen_ai.usage.cache_write_input_tokens, messages as gen_ai.{system,user,assistant,tool}.message events and the
    answer on a gen_ai.choice event; the agent and event-loop-cycle spans repeat the usage and are skipped."""
    counts, got = _ingest_real(con, fixtures, "strands_spans.json")
    assert counts == (2, 4, 0, 0)
    # Bedrock's input count leaves the cache out: 150 + 1200 written; 310 + 1200 read.
    assert _totals(con) == (2, 1350 + 1510, 62 + 25)
    first, second = got["77aa000000000003"], got["77aa000000000005"]
    assert (first["provider"], first["model"]) == ("bedrock", "us.anthropic.claude-3-7-sonnet-20250219-v1:0")
    assert (first["input_tokens"], first["cached_input_tokens"], first["cache_write_tokens"], first["output_tokens"]) == (
        1350, 0, 1200, 62)
    assert (second["input_tokens"], second["cached_input_tokens"], second["cache_write_tokens"]) == (1510, 1200, 0)
    assert (first["system_prompt"], first["prompt_text"]) == ("You are a concise travel planner.", "Plan a day in Porto.")
    assert first["response_text"].startswith("Let me check the weather.\n[tool call weather")
    assert second["response_text"] == "Sunny: walk the Ribeira, then port tasting."
    assert json.loads(second["messages_json"])[-1] == {"role": "tool", "content": "sunny, 24C"}


def test_zipkin_v2_export_string_tags_and_annotations(con, fixtures):
    """Zipkin JSON v2 (the collector's zipkin exporter): attributes are string tags, events are annotations holding
    {"<event name>": {attributes}}, times in microseconds, the error in otel.status_code/error tags."""
    counts, got = _ingest_real(con, fixtures, "zipkin_v2.json")
    assert counts == (2, 1, 0, 0)
    assert _totals(con) == (2, 912 + 120, 37 + 0)
    chat = got["5a1b2c3d4e5f6071"]
    assert (chat["model"], chat["input_tokens"], chat["cached_input_tokens"], chat["output_tokens"]) == (
        "gpt-4.1-2025-04-14", 912, 768, 37)
    assert (chat["prompt_text"], chat["response_text"]) == ("Quote for 40 chairs?", "40 chairs: 2,360 EUR.")
    assert (chat["trace_id"], chat["parent_span_id"], chat["duration_ms"]) == (
        "6e0c63257de34c926f9efcd03927272e", "5a1b2c3d4e5f6070", 1830)
    assert json.loads(chat["tags_json"])["service"] == "quote-service"
    assert got["5a1b2c3d4e5f6072"]["status"] == "error"


def test_jaeger_json_download_typed_tags_and_references(con, fixtures):
    """Jaeger's JSON ({"data": [{"traceID", "spans", "processes"}]}): typed tags, the CHILD_OF reference as the
    parent, the process's service; an OpenLLMetry workflow span skipped, a failed call kept as an error."""
    counts, got = _ingest_real(con, fixtures, "jaeger_traces.json")
    assert counts == (2, 1, 0, 0)
    assert _totals(con) == (2, 2650, 118)
    chat = got["c0ffee0000000002"]
    assert (chat["provider"], chat["model"]) == ("anthropic", "claude-3-5-haiku-20241022")
    assert (chat["input_tokens"], chat["cached_input_tokens"], chat["output_tokens"]) == (2650, 2048, 118)
    assert (chat["system_prompt"], chat["prompt_text"], chat["response_text"]) == (
        "You grade essays from 1 to 5.", "Essay: The sea is wide.", "Grade: 2")
    assert (chat["parent_span_id"], chat["duration_ms"]) == ("c0ffee0000000001", 2750)
    tags = json.loads(chat["tags_json"])
    assert (tags["service"], tags["scope"]) == ("essay-grader", "opentelemetry.instrumentation.anthropic")
    failed = got["c0ffee0000000003"]
    assert failed["status"] == "error" and json.loads(failed["tags_json"])["error"] == "overloaded_error"


def test_ai_sdk_v5_cached_and_reasoning_tokens_and_embedding_usage(con, fixtures):
    """The AI SDK 5's span attributes: ai.usage.inputTokens/outputTokens, cachedInputTokens, reasoningTokens; the
    embed span counts ai.usage.tokens; the outer ai.streamText span repeats the usage and is skipped."""
    counts, got = _ingest_real(con, fixtures, "ai_sdk_v5_spans.json")
    assert counts == (2, 1, 0, 0)
    assert _totals(con) == (2, 2210 + 7, 340)
    call = got["f00d000000000002"]
    assert (call["input_tokens"], call["cached_input_tokens"], call["output_tokens"], call["reasoning_tokens"]) == (
        2210, 1920, 340, 256)
    assert (call["system_prompt"], call["prompt_text"]) == ("You answer billing questions.", "Why was I charged twice?")
    embedding = got["f00d000000000003"]
    assert (embedding["operation"], embedding["input_tokens"], embedding["cost_source"]) == ("embeddings", 7, "catalog")


# A model call inside a model call (a framework's span around the client instrumentor's): counted once, at the
# innermost span; the wrapper is skipped and counted, and gives the inner call what its span left out.


def _counts(summary):
    return summary["rows_added"], summary["rows_skipped"], summary["rows_duplicate"], summary["rows_rejected"]


def _nested(con, fixtures, name):
    return ingest_paths(con, [str(fixtures / "otel_nested" / name)])


def test_openinference_langchain_llm_span_around_the_openai_llm_span_counts_once(con, fixtures):
    # Console output, children before parents: two OpenAI LLM spans, each under LangChain's ChatOpenAI LLM span
    # with the same usage, under a CHAIN span that sums them.
    summary = _nested(con, fixtures, "openinference_langchain_console.txt")
    assert _counts(summary) == (2, 3, 0, 0)
    assert con.execute("select sum(input_tokens), sum(output_tokens) from requests").fetchone() == (812 + 240, 3 + 18)
    got = by_span(con)
    first = got["1a00000000000001"]  # the client's span: the exact model and the cache reads LangChain's lacks
    assert (first["model"], first["input_tokens"], first["cached_input_tokens"], first["output_tokens"]) == (
        "gpt-4o-mini-2024-07-18", 812, 512, 3)
    assert (first["parent_span_id"], first["trace_id"]) == ("1b00000000000001", "7d1c2e3f4a5b6c7d8e9f0a1b2c3d4e5f")
    assert (first["prompt_text"], first["response_text"]) == ("I was charged twice.", "billing")
    assert json.loads(first["params_json"]) == {"temperature": 0.0}  # from the wrapper
    assert json.loads(first["tags_json"])["conversation_id"] == "sess-42"
    second = got["1a00000000000002"]  # its span holds no messages: the wrapper's prompt and answer are kept
    assert (second["input_tokens"], second["output_tokens"], second["parent_span_id"]) == (240, 18, "1b00000000000002")
    assert second["prompt_text"] == "Draft a reply to: I was charged twice."
    assert second["response_text"] == "Sorry about that, the second charge is refunded."


def test_adk_call_llm_around_google_genai_generate_content_counts_once(con, fixtures):
    # A collector export: call_llm then generate_content for the first call; for the second, generate_content
    # (under a retry span of the app's own) a line before its call_llm. The agent span is skipped too.
    summary = _nested(con, fixtures, "adk_call_llm_generate_content.jsonl")
    assert _counts(summary) == (2, 4, 0, 0)
    got = by_span(con)
    assert set(got) == {"a0000000000000c1", "a0000000000000c2"}
    first, second = got["a0000000000000c1"], got["a0000000000000c2"]
    assert (first["model"], first["provider"], first["input_tokens"], first["output_tokens"]) == (
        "gemini-2.0-flash-001", "google", 1510, 42)
    assert (second["input_tokens"], second["output_tokens"]) == (1577, 17)
    assert (first["parent_span_id"], second["parent_span_id"]) == ("a0000000000000b1", "a0000000000000d2")
    # google-genai recorded no content; ADK's llm_request and llm_response did
    assert (first["system_prompt"], first["prompt_text"], first["response_text"]) == (
        "You plan trips.", "Two days in Lisbon?", "Day 1: Alfama. Day 2: Belem.")
    assert (second["prompt_text"], second["response_text"]) == ("And a rainy day?", "Visit the Gulbenkian.")


def test_traceloop_langchain_chat_around_openai_chat_counts_once(con, fixtures):
    # OTLP/JSON spans. Trace 1: openai.chat, then ChatOpenAI.chat around it, then the workflow.
    # Trace 2: ChatOpenAI.chat around two client calls, rate-limited then retried, neither recording the prompt.
    summary = _nested(con, fixtures, "traceloop_langchain_openai.json")
    assert _counts(summary) == (3, 3, 0, 0)
    got = by_span(con)
    assert set(got) == {"2a00000000000001", "2a00000000000002", "2a00000000000003"}
    one = got["2a00000000000001"]
    assert (one["model"], one["input_tokens"], one["cached_input_tokens"], one["output_tokens"]) == (
        "gpt-4o-2024-08-06", 300, 128, 20)
    assert (one["provider"], one["parent_span_id"], one["prompt_text"]) == ("openai", "2b00000000000001", "Do you ship to Norway?")
    failed, retried = got["2a00000000000002"], got["2a00000000000003"]
    assert (failed["status"], failed["input_tokens"], failed["output_tokens"]) == ("error", None, None)
    assert (retried["input_tokens"], retried["output_tokens"]) == (410, 31)
    assert failed["parent_span_id"] == retried["parent_span_id"] == "2b00000000000002"
    # The prompt is the same for both calls; the answer and usage of a wrapper of two calls belong to neither alone.
    assert failed["prompt_text"] == retried["prompt_text"] == "Summarise the returns policy."
    assert failed["response_text"] is None and retried["response_text"] is None


def test_console_exporter_printing_nested_spans_twice(con, fixtures):
    # Pydantic AI's chat span around the OpenAI instrumentor's chat span, under the agent run; two span
    # processors print every span twice, the inner call first.
    summary = _nested(con, fixtures, "console_twice.txt")
    assert _counts(summary) == (1, 4, 1, 0)
    (row,) = dicts(con, "select * from requests")
    assert (row["source_id"], row["parent_span_id"], row["trace_id"]) == (
        "3a00000000000001", "3b00000000000001", "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e")
    assert (row["model"], row["input_tokens"], row["output_tokens"]) == ("gpt-4o-mini-2024-07-18", 96, 11)
    assert (row["prompt_text"], row["response_text"]) == ("Weather in Oslo?", "Rain, 12C.")
    assert json.loads(row["tags_json"])["agent"] == "weather"


def test_logfire_llm_spans_read_request_and_response_data(con, fixtures):
    """Logfire's instrument_openai/instrument_anthropic spans, named by their message template, with the request
    body and the answer with its usage as JSON (older versions set no gen_ai.operation.name). A streamed call is a
    request span plus a "streaming response" log: one row, the log skipped."""
    path = fixtures / "otel_logfire" / "collector_export.jsonl"
    assert detect_format(expand_paths([str(path)])[0]) == "otel"
    summary = ingest_paths(con, [str(path)])
    # Rows: OpenAI chat, Anthropic message, two streamed calls (at their request spans), an embedding, a streaming
    # log whose request span is not in the file. Skipped: the app's span, the two paired logs, an unknown endpoint.
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_duplicate"], summary["rows_rejected"]) == (6, 4, 0, 0)
    got = by_span(con)
    assert set(got) == {"a000000000000002", "a000000000000003", "a000000000000004", "a000000000000006",
                        "a000000000000007", "b000000000000002"}
    chat = got["a000000000000002"]
    assert (chat["provider"], chat["model"], chat["operation"]) == ("openai", "gpt-4o-2024-08-06", "chat")
    assert (chat["system_prompt"], chat["prompt_text"], chat["response_text"]) == (
        "You route tickets to a team.", "My invoice is wrong.", "billing")
    assert (chat["input_tokens"], chat["cached_input_tokens"], chat["output_tokens"], chat["reasoning_tokens"]) == (2150, 1920, 42, 0)
    assert (chat["parent_span_id"], chat["trace_id"], chat["duration_ms"]) == ("a000000000000001", "4c6f67666972652074726163652d3031", 900)
    assert json.loads(chat["params_json"]) == {"temperature": 0.1}
    claude = got["a000000000000003"]  # gen_ai.usage.input_tokens (120) leaves the cache read out; response_data has it
    assert (claude["input_tokens"], claude["cached_input_tokens"], claude["cache_write_tokens"], claude["output_tokens"]) == (3120, 3000, 0, 35)
    assert (claude["system_prompt"], claude["prompt_text"], claude["response_text"]) == (
        "You edit release notes.", "Shorten: dark mode now follows the OS.", "Dark mode follows the OS.")
    streamed = got["a000000000000004"]  # the answer, usage and response model from the log; the span's parent and timing
    assert (streamed["model"], streamed["prompt_text"], streamed["response_text"]) == (
        "gpt-4o-mini-2024-07-18", "Write a haiku about tea.", "Steam curls from the cup / leaves unfold")
    assert (streamed["input_tokens"], streamed["output_tokens"], streamed["parent_span_id"], streamed["duration_ms"]) == (
        14, 19, "a000000000000001", 200)
    old_stream = got["a000000000000006"]  # its log sat in another trace, with the chunks' text and no usage
    assert (old_stream["provider"], old_stream["response_text"], old_stream["input_tokens"]) == ("anthropic", "Serene.", None)
    embedding = got["a000000000000007"]
    assert (embedding["operation"], embedding["input_tokens"], embedding["prompt_text"]) == ("embeddings", 3, None)
    orphan = got["b000000000000002"]
    assert (orphan["prompt_text"], orphan["response_text"], orphan["parent_span_id"]) == ("Name a green tea.", "Sencha.", None)
    assert con.execute("select sum(input_tokens), sum(output_tokens) from requests").fetchone() == (2150 + 3120 + 14 + 3, 42 + 35 + 19)


def test_logfire_records_table_export_json_rows_columns_and_csv(con, fixtures, tmp_path):
    """Logfire's records table from the query API ({"columns", "rows"}, attributes as objects), column-oriented, or
    as CSV (attributes as JSON text): the same three calls; the streaming log is not a fourth."""
    path = fixtures / "otel_logfire" / "records_query.json"
    assert detect_format(expand_paths([str(path)])[0]) == "otel"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_duplicate"], summary["rows_rejected"]) == (3, 2, 0, 0)
    got = by_span(con)
    chat = got["1f00000000000002"]
    assert (chat["model"], chat["input_tokens"], chat["cached_input_tokens"], chat["output_tokens"]) == (
        "gpt-4.1-mini-2025-04-14", 1300, 1152, 6)
    assert (chat["system_prompt"], chat["prompt_text"], chat["response_text"]) == (
        "Suggest one dinner.", "I have eggs and spinach.", "Spinach frittata.")
    assert (chat["parent_span_id"], chat["trace_id"], chat["duration_ms"]) == ("1f00000000000001", "0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f50", 1200)
    assert json.loads(chat["tags_json"])["service"] == "recipes-api"
    failed = got["1f00000000000003"]
    assert (failed["status"], failed["provider"], failed["response_text"]) == ("error", "anthropic", None)
    assert json.loads(failed["tags_json"])["error"] == "APIStatusError: overloaded"
    streamed = got["1f00000000000004"]
    assert (streamed["prompt_text"], streamed["response_text"], streamed["input_tokens"]) == ("A wine for it?", "A dry Sauvignon Blanc.", None)

    rows = json.loads(path.read_text())["rows"]
    columns = tmp_path / "columns.json"
    columns.write_text(json.dumps({"columns": [{"name": k, "datatype": "Utf8", "nullable": True, "values": [r[k] for r in rows]}
                                               for k in rows[0]]}))
    assert detect_format(expand_paths([str(columns)])[0]) == "otel"
    again = ingest_paths(con, [str(columns)])
    assert (again["rows_added"], again["rows_duplicate"], again["rows_skipped"]) == (0, 3, 2)

    import csv
    table = tmp_path / "records.csv"
    with table.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else ("" if v is None else v) for k, v in r.items()})
    assert detect_format(expand_paths([str(table)])[0]) == "otel"
    csv_con_summary = ingest_paths(con, [str(table)])
    assert (csv_con_summary["rows_added"], csv_con_summary["rows_duplicate"], csv_con_summary["rows_skipped"]) == (0, 3, 2)


def test_openinference_answer_that_only_calls_a_tool(con, tmp_path):
    """An LLM span whose answer is a tool call and no text: OpenInference writes it as ``message.tool_calls`` of the
    output message (nested in Phoenix's span JSON, flattened with indexes in OTLP). The call is stored with the
    tool call as its answer, as a Chat Completions answer's tool calls are; before, its answer was empty."""
    def span(span_id, output_attributes):
        return {"name": "ChatCompletion", "context": {"trace_id": "5b8aa5a2d2c872e8321cf37308d69df2", "span_id": span_id},
                "parent_id": None, "start_time": "2026-10-14T08:00:00.000+00:00", "end_time": "2026-10-14T08:00:00.900+00:00",
                "status_code": "OK", "attributes": {
                    "openinference.span.kind": "LLM", "llm.model_name": "gpt-4.1-mini-2025-04-14", "llm.provider": "openai",
                    "llm.input_messages": [{"message.role": "user", "message.content": "What is 23 times 87?"}],
                    "llm.token_count.prompt": 52, "llm.token_count.completion": 18, **output_attributes}}
    nested = {"llm.output_messages": [{"message.role": "assistant", "message.tool_calls": [
        {"tool_call.id": "call_m1", "tool_call.function.name": "multiply", "tool_call.function.arguments": '{"a": 23, "b": 87}'}]}]}
    flat = {"llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "multiply",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"a": 23, "b": 87}',
            "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_m1"}
    path = tmp_path / "phoenix_tool_call.json"
    path.write_text(json.dumps([span("1a2b3c4d5e6f7081", nested), span("1a2b3c4d5e6f7082", flat)]))
    summary = ingest_paths(con, [str(path)])
    assert (summary["files"][0]["format"], summary["rows_added"]) == ("otel", 2)
    expected = [{"id": "call_m1", "type": "function", "function": {"name": "multiply", "arguments": '{"a": 23, "b": 87}'}}]
    for row in dicts(con, "select prompt_text, response_text, input_tokens, output_tokens from requests"):
        assert (row["prompt_text"], json.loads(row["response_text"])) == ("What is 23 times 87?", expected)
        assert (row["input_tokens"], row["output_tokens"]) == (52, 18)


def test_ai_sdk_generate_object_answer_is_the_object(con, tmp_path):
    """generateObject's model call answers with an object (``ai.response.object``, JSON text), not text: that JSON
    is the call's answer (before, the call landed without one)."""
    recipe = '{"name":"Scrambled eggs","ingredients":["2 eggs","butter"],"minutes":5}'
    attrs = {"operation.name": "ai.generateObject.doGenerate", "ai.operationId": "ai.generateObject.doGenerate",
             "ai.model.id": "gpt-4o-mini", "ai.model.provider": "openai.chat", "ai.prompt.messages":
             json.dumps([{"role": "user", "content": [{"type": "text", "text": "A quick breakfast recipe."}]}]),
             "ai.response.object": recipe, "ai.usage.promptTokens": 63, "ai.usage.completionTokens": 41}
    path = tmp_path / "generate_object_spans.json"
    path.write_text(json.dumps([{"resource": {"attributes": {"service.name": "web"}}, "instrumentationScope": {"name": "ai"},
                                 "traceId": "4bf92f3577b34da6a3ce929d0e0e4740", "name": "ai.generateObject.doGenerate",
                                 "id": "bf098ec12458e605", "kind": 2, "timestamp": 1748862000000000, "duration": 1800000.0,
                                 "attributes": attrs, "status": {"code": 0}, "events": [], "links": []}]))
    summary = ingest_paths(con, [str(path)])
    assert (summary["files"][0]["format"], summary["rows_added"]) == ("otel", 1)
    row = dicts(con, "select prompt_text, response_text, input_tokens, output_tokens from requests")[0]
    assert (row["prompt_text"], row["response_text"], row["input_tokens"], row["output_tokens"]) == (
        "A quick breakfast recipe.", recipe, 63, 41)
    # A dump that kept the attribute as an object: the answer is still its JSON
    spans = json.loads(path.read_text())
    spans[0].update(id="bf098ec12458e606", attributes={**attrs, "ai.response.object": json.loads(recipe)})
    path.write_text(json.dumps(spans))
    ingest_paths(con, [str(path)])
    kept = dicts(con, "select response_text from requests where source_id = 'bf098ec12458e606'")[0]["response_text"]
    assert json.loads(kept) == json.loads(recipe)


def test_a_span_printed_when_it_started_and_again_when_it_ended_is_read_from_its_finished_copy(con, tmp_path):
    """Microsoft's Agent Framework samples print ``span.to_json()`` as a span starts (no end time, the request's
    attributes) and again as it ends (the answer's model and the tokens). The finished copy is the call, whichever
    comes first; before, the first copy was kept and the call lost its tokens, cost and duration."""
    context = {"trace_id": "0x5b8aa5a2d2c872e8321cf37308d69df2", "span_id": "0x8fafb95a2fed93ac", "trace_state": "[]"}
    started = {"name": "chat openai/gpt-oss-20b", "context": context, "kind": "SpanKind.CLIENT", "parent_id": "0x1111111111111111",
               "start_time": "2026-09-01T10:00:00.000000Z", "end_time": None, "status": {"status_code": "UNSET"},
               "attributes": {"gen_ai.operation.name": "chat", "gen_ai.request.model": "openai/gpt-oss-20b",
                              "gen_ai.provider.name": "openai"}, "events": [], "links": [], "resource": {"attributes": {}}}
    ended = {**started, "end_time": "2026-09-01T10:00:00.786000Z", "status": {"status_code": "OK"},
             "attributes": {**started["attributes"], "gen_ai.response.model": "accounts/fireworks/models/gpt-oss-20b",
                            "gen_ai.usage.input_tokens": 145, "gen_ai.usage.output_tokens": 51}}
    for order in ((started, ended), (ended, started), (ended, ended)):
        con.execute("delete from requests")
        path = tmp_path / "traces.jsonl"
        path.write_text("".join(json.dumps(span) + "\n" for span in order))
        summary = ingest_paths(con, [str(path)])
        assert summary["rows_added"] == 1
        assert (summary["rows_skipped"], summary["rows_duplicate"]) == ((0, 1) if order[0] is order[1] else (1, 0))
        row = dicts(con, "select * from requests")[0]
        assert (row["model"], row["input_tokens"], row["output_tokens"], row["duration_ms"]) == (
            "accounts/fireworks/models/gpt-oss-20b", 145, 51, 786.0)


def test_any_agent_traces_call_llm_spans_their_cost_parts_answers_and_integer_ids(con, tmp_path):
    """mozilla-ai's any-agent writes its traces as ``{"spans": [...]}`` of Python span objects whose ids are
    integers: ``call_llm`` spans are the model calls (``execute_tool`` and ``invoke_agent`` are not), each with its
    cost in two parts and the answer (text, or the tool calls as JSON) under ``gen_ai.output``. Before, no span was a
    model call."""
    trace, agent = 100927429609276267646756448943279827607, 12324293800750531911

    def span(name, span_id, attributes, start):
        return {"name": name, "kind": "internal", "parent": {"trace_id": trace, "span_id": agent},
                "start_time": start, "end_time": start + 238_841_000, "status": {"status_code": "ok"},
                "context": {"trace_id": trace, "span_id": span_id}, "attributes": attributes, "events": [], "links": []}
    messages = [{"role": "system", "content": "Use the available tools to answer."}, {"role": "user", "content": "What year is it?"}]
    calls = [
        span("call_llm mistral/mistral-small-latest", 9295669169508793927, {
            "gen_ai.operation.name": "call_llm", "gen_ai.request.model": "mistral/mistral-small-latest",
            "gen_ai.input.messages": json.dumps(messages), "gen_ai.output.type": "json",
            "gen_ai.output": json.dumps([{"tool.name": "get_current_time", "tool.args": "{}"}]),
            "gen_ai.usage.input_tokens": 269, "gen_ai.usage.output_tokens": 16,
            "gen_ai.usage.input_cost": 2.69e-05, "gen_ai.usage.output_cost": 4.8e-06}, 1758026593210770000),
        span("execute_tool get_current_time", 13687147528289423029, {
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_current_time", "gen_ai.output": "2025"},
            1758026593450406000),
        span("call_llm mistral/mistral-small-latest", 1954108595464389762, {
            "gen_ai.operation.name": "call_llm", "gen_ai.request.model": "mistral/mistral-small-latest",
            "gen_ai.output.type": "text", "gen_ai.output": "It is 2025.", "gen_ai.usage.input_tokens": 359,
            "gen_ai.usage.output_tokens": 14, "gen_ai.usage.input_cost": 3.59e-05, "gen_ai.usage.output_cost": 4.2e-06},
            1758026593453682000),
        {**span("invoke_agent [any_agent]", agent, {"gen_ai.operation.name": "invoke_agent"}, 1758026593200000000), "parent": None},
    ]
    path = tmp_path / "OPENAI_trace.json"
    path.write_text(json.dumps({"spans": calls, "final_output": "It is 2025."}))
    summary = ingest_paths(con, [str(path)])
    assert (summary["files"][0]["format"], summary["rows_added"], summary["rows_skipped"]) == ("otel", 2, 2)
    first, second = dicts(con, "select * from requests order by created_at")
    assert (first["source_id"], first["trace_id"], first["parent_span_id"]) == (
        "8100d9dbee1f3e47", "4bedea77bb33b9c5f280371eae21ea97", "ab08afea3548c547")
    assert (first["prompt_text"], first["system_prompt"]) == ("What year is it?", "Use the available tools to answer.")
    assert json.loads(first["response_text"]) == [{"tool.name": "get_current_time", "tool.args": "{}"}]
    assert second["response_text"] == "It is 2025."
    assert [(r["input_tokens"], r["output_tokens"], r["cost_source"]) for r in (first, second)] == [
        (269, 16, "log"), (359, 14, "log")]
    assert (first["cost_usd"], second["cost_usd"]) == (pytest.approx(3.17e-05), pytest.approx(4.01e-05))


def test_a_model_the_instrumentation_calls_unknown_is_read_from_the_frameworks_metadata(con, tmp_path):
    """OpenLLMetry around a LangChain model that does not report its name writes ``unknown`` as the model and
    ``langchain`` as the provider; LangChain's own metadata names it. Before, the calls were priced as model
    "unknown" (unpriced)."""
    attributes = {"traceloop.span.kind": None, "llm.request.type": "chat", "gen_ai.request.model": "unknown",
                  "gen_ai.response.model": "unknown", "gen_ai.provider.name": "langchain",
                  "traceloop.association.properties.ls_model_name": "claude-opus-4-5-20251101",
                  "traceloop.association.properties.ls_provider": "litellm",
                  "gen_ai.usage.input_tokens": 805, "gen_ai.usage.output_tokens": 77,
                  "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "Is R1 healthy?",
                  "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "Yes."}
    attributes = {k: v for k, v in attributes.items() if v is not None}
    path = tmp_path / "spans.json"
    path.write_text(json.dumps([{"name": "ChatLiteLLM.chat", "context": {"trace_id": "17bb78ce81067be5b6f480c41894f25a",
                                 "span_id": "c1b46178d7677df1"}, "start_time": "2026-01-10T09:00:00Z",
                                 "end_time": "2026-01-10T09:00:02Z", "attributes": attributes}]))
    ingest_paths(con, [str(path)])
    row = dicts(con, "select * from requests")[0]
    assert (row["model"], row["provider"], row["cost_source"]) == ("claude-opus-4-5-20251101", "anthropic", "catalog")
    assert row["cost_usd"] == pytest.approx((805 * 5 + 77 * 25) / 1e6)


def test_openinference_tool_messages_keep_the_call_they_answer(con, tmp_path):
    """A tool's answer in an OpenInference conversation names the call it answers (``message.tool_call_id``); the
    stored conversation keeps it, as a replay through a chat API needs it."""
    attributes = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.token_count.prompt": 40,
                  "llm.token_count.completion": 5,
                  "llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.content": "Weather in Oslo?",
                  "llm.input_messages.1.message.role": "assistant",
                  "llm.input_messages.1.message.tool_calls.0.tool_call.id": "call-01",
                  "llm.input_messages.1.message.tool_calls.0.tool_call.function.name": "weather",
                  "llm.input_messages.1.message.tool_calls.0.tool_call.function.arguments": '{"city": "Oslo"}',
                  "llm.input_messages.2.message.role": "tool", "llm.input_messages.2.message.tool_call_id": "call-01",
                  "llm.input_messages.2.message.content": "12C, rain",
                  "llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": "Rain, 12C."}
    path = tmp_path / "spans.json"
    path.write_text(json.dumps([{"name": "ChatCompletion", "context": {"trace_id": "5b8aa5a2d2c872e8321cf37308d69df3",
                                 "span_id": "1a2b3c4d5e6f7083"}, "start_time": "2026-10-14T08:00:00Z", "attributes": attributes}]))
    ingest_paths(con, [str(path)])
    messages = json.loads(dicts(con, "select messages_json from requests")[0]["messages_json"])
    assert messages[2] == {"role": "tool", "content": "12C, rain", "tool_call_id": "call-01"}
    assert messages[1]["tool_calls"][0]["id"] == "call-01"


def test_langfuse_sdk_spans_keep_their_usage_cost_and_texts(con, tmp_path):
    """Langfuse's v3 SDKs (and LiteLLM's Langfuse OpenTelemetry callback) put a generation's model, usage, cost and
    texts in Langfuse's own attributes, JSON objects or JSON strings as OTLP carries them. Usage details are
    Langfuse's: input without the cache reads and writes, which count as input too."""
    attributes = {"langfuse.observation.type": "generation", "langfuse.observation.model.name": "claude-3-5-haiku-20241022",
                  "langfuse.observation.usage_details": json.dumps({"input": 10, "output": 20, "total": 30,
                                                                    "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5}),
                  "langfuse.observation.cost_details": {"total": 3.5e-05},
                  "langfuse.observation.input": {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"}]},
                  "langfuse.observation.output": json.dumps({"role": "assistant", "content": "Hi! How can I help?"})}
    path = tmp_path / "spans.json"
    path.write_text(json.dumps([{"name": "litellm-acompletion", "context": {"trace_id": "0x5b8aa5a2d2c872e8321cf37308d69df2",
                                 "span_id": "0x8fafb95a2fed93ac"}, "start_time": "2026-01-01T10:00:00Z",
                                 "end_time": "2026-01-01T10:00:01Z", "attributes": attributes}]))
    assert ingest_paths(con, [str(path)])["rows_added"] == 1
    row = dicts(con, "select * from requests")[0]
    assert (row["model"], row["input_tokens"], row["cached_input_tokens"], row["cache_write_tokens"], row["output_tokens"]) == (
        "claude-3-5-haiku-20241022", 115, 100, 5, 20)
    assert (row["cost_usd"], row["cost_source"]) == (3.5e-05, "log")
    assert (row["system_prompt"], row["prompt_text"], row["response_text"]) == ("Be brief.", "Hello!", "Hi! How can I help?")


def _otlp(*spans):
    def typed(value):
        if isinstance(value, bool):
            return {"boolValue": value}
        if isinstance(value, int):
            return {"intValue": str(value)}
        return {"stringValue": value if isinstance(value, str) else json.dumps(value)}

    return {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "test"}, "spans": [
        {**{k: v for k, v in span.items() if k != "attributes"},
         "attributes": [{"key": k, "value": typed(v)} for k, v in span["attributes"].items()]} for span in spans]}]}]}


def test_vertex_models_named_by_resource_path_are_the_model_and_google(con, tmp_path):
    """OpenInference's Vertex AI instrumentation names the model by its resource path: it was stored as the model,
    under provider "projects" (a report's rows split from the same model's)."""
    path = tmp_path / "vertex.json"
    path.write_text(json.dumps(_otlp({
        "traceId": "5b8aa5a2d2c872e8321cf37308d69df2", "spanId": "1a2b3c4d5e6f7001", "name": "GenerativeModel.generate_content",
        "startTimeUnixNano": "1754000000000000000", "endTimeUnixNano": "1754000002000000000",
        "attributes": {"openinference.span.kind": "LLM", "llm.model_name":
                       "projects/my-project-1/locations/europe-central2/publishers/google/models/gemini-2.5-flash",
                       "llm.token_count.prompt": 5, "llm.token_count.completion": 845, "input.value": "What is Langfuse?"}})))
    assert ingest_paths(con, [str(path)])["rows_added"] == 1
    row = dicts(con, "select provider, model, cost_source from requests")[0]
    assert (row["provider"], row["model"], row["cost_source"]) == ("google", "gemini-2.5-flash", "catalog")


def test_loongsuite_and_gemini_cli_mark_their_model_calls_in_their_own_words(con, tmp_path):
    """Alibaba's LoongSuite instrumentations mark a span's kind as `gen_ai.span.kind` (`llm`, `agent`, `tool`; before
    they set `gen_ai.operation.name`); Gemini CLI names its model calls' operation `llm_call` and gives the answer
    as one Gemini Content, its thinking in parts marked `thought`. Both were skipped as not model calls."""
    tongyi = {"name": "Tongyi", "context": {"trace_id": "0x61d2c954558c3988f42770a946ea877e", "span_id": "0x7bb229d6f75e52ad"},
              "parent_id": None, "start_time": "2025-08-14T07:30:38.783413Z", "end_time": "2025-08-14T07:30:39.321573Z",
              "attributes": {"gen_ai.span.kind": "llm", "gen_ai.prompt.0.content": "Translate: I love programming.",
                             "gen_ai.usage.prompt_tokens": 39, "gen_ai.usage.completion_tokens": 8,
                             "gen_ai.completion": ["J'adore la programmation."], "gen_ai.response.model": "qwen-turbo"}}
    agent = {**tongyi, "name": "AgentExecutor", "context": {**tongyi["context"], "span_id": "0x7bb229d6f75e52ae"},
             "attributes": {**tongyi["attributes"], "gen_ai.span.kind": "agent"}}
    console = tmp_path / "loongsuite_console.txt"
    console.write_text(json.dumps(tongyi, indent=4) + "\n" + json.dumps(agent, indent=4) + "\n")
    summary = ingest_paths(con, [str(console)])
    assert (summary["rows_added"], summary["rows_skipped"]) == (1, 1)
    row = dicts(con, "select * from requests")[0]
    assert (row["model"], row["input_tokens"], row["output_tokens"], row["response_text"]) == (
        "qwen-turbo", 39, 8, "J'adore la programmation.")

    answer = {"parts": [{"text": "**Thinking about the routing**", "thought": True},
                        {"text": '{"complexity_score": 5}', "thoughtSignature": "EqkW"}]}
    gemini_cli = tmp_path / "gemini_cli_traces.json"
    gemini_cli.write_text(json.dumps(_otlp({
        "traceId": "5b8aa5a2d2c872e8321cf37308d69df3", "spanId": "1a2b3c4d5e6f7002", "name": "llm_call",
        "startTimeUnixNano": "1775000000000000000", "endTimeUnixNano": "1775000001000000000",
        "attributes": {"gen_ai.operation.name": "llm_call", "gen_ai.request.model": "gemini-2.5-flash-lite",
                       "gen_ai.system_instructions": "You are a routing model.",
                       "gen_ai.input.messages": [{"role": "user", "parts": [{"text": "Reply with PONG."}]}],
                       "gen_ai.output.messages": answer, "gen_ai.usage.input_tokens": 767, "gen_ai.usage.output_tokens": 30}})))
    assert ingest_paths(con, [str(gemini_cli)])["rows_added"] == 1
    row = dicts(con, "select * from requests where source_file = ?", [str(gemini_cli)])[0]
    assert (row["provider"], row["input_tokens"], row["output_tokens"]) == ("google", 767, 30)
    assert (row["system_prompt"], row["prompt_text"], row["response_text"]) == (
        "You are a routing model.", "Reply with PONG.", '{"complexity_score": 5}')


def test_spans_whose_ids_were_cleared_are_read_and_known_by_what_they_hold(con, tmp_path):
    """A recorder that clears span and trace ids and times to keep its golden files stable (the Envoy AI Gateway's
    OpenInference spans): each file was refused ("not a span"). A span that still says it is a model call is read,
    and the same call in two files counts once."""
    span = {"flags": 257, "name": "ChatCompletion", "kind": "SPAN_KIND_INTERNAL", "attributes": [
        {"key": "llm.system", "value": {"stringValue": "openai"}},
        {"key": "openinference.span.kind", "value": {"stringValue": "LLM"}},
        {"key": "llm.model_name", "value": {"stringValue": "gpt-5-nano-2025-08-07"}},
        {"key": "llm.input_messages.0.message.role", "value": {"stringValue": "user"}},
        {"key": "llm.input_messages.0.message.content", "value": {"stringValue": "Hello!"}},
        {"key": "llm.output_messages.0.message.content", "value": {"stringValue": "Hi there."}},
        {"key": "llm.token_count.prompt", "value": {"intValue": "12"}},
        {"key": "llm.token_count.completion", "value": {"intValue": "100"}}], "status": {}}
    spans = tmp_path / "golden"
    spans.mkdir()
    for name in ("chat-basic.json", "chat-copy.json"):
        (spans / name).write_text(json.dumps(span, indent=2))
    summary = ingest_paths(con, [str(spans)])
    assert [f["format"] for f in summary["files"]] == ["otel", "otel"]
    assert (summary["rows_added"], summary["rows_duplicate"], summary["rows_rejected"]) == (1, 1, 0)
    row = dicts(con, "select * from requests")[0]
    assert (row["model"], row["input_tokens"], row["output_tokens"], row["prompt_text"], row["response_text"]) == (
        "gpt-5-nano-2025-08-07", 12, 100, "Hello!", "Hi there.")


def _instrumented(con, name: str) -> tuple[dict, list[dict]]:
    from analyzer.ingest import ingest_paths
    from conftest import FIXTURES

    path = str(FIXTURES / "otel_instrumented" / name)
    file = ingest_paths(con, [path])["files"][0]
    return file, con.execute("select status, model, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,"
                             " prompt_text, response_text from requests where source_file = ? order by created_at", [path]).fetchall()


def test_a_call_recorded_by_two_instrumentations_counts_once(con):
    """The Anthropic SDK 2.17 makes its own span as soon as a tracer provider is set; OpenLLMetry's (0.62.4)
    anthropic.chat span for the same call sits in another trace with no parent: every call was two rows (tokens and
    spend doubled). Spans naming the same response id that overlap in time are one call."""
    file, rows = _instrumented(con, "anthropic_openllmetry.console.json")
    ok = [r for r in rows if r[0] == "ok"]
    assert len(ok) == 4 and file["rows_skipped"] >= 4
    # OpenLLMetry's span of the streamed call says 8 output tokens where the SDK's says 7 (it adds message_start's
    # count to the final one): the span read is the one that holds the texts.
    assert (sum(r[2] or 0 for r in rows), sum(r[3] or 0 for r in rows), sum(r[4] or 0 for r in rows),
            sum(r[5] or 0 for r in rows)) == (5087, 4096, 512, 129)
    assert all(r[6] for r in ok)


def test_logfire_5s_streamed_calls_pair_with_their_request_span(con):
    """Logfire 5.4 keeps only the model in a request span's request_data (no stream flag): the streaming-response log
    did not pair with it, and a streamed call was two rows."""
    file, rows = _instrumented(con, "logfire_openai.console.json")
    assert file["rows_added"] == 5 and (sum(r[2] or 0 for r in rows), sum(r[5] or 0 for r in rows)) == (2641, 93)
    assert ("Does streaming work?", "Streaming works fine.") in {(r[6], r[7]) for r in rows}
    file, rows = _instrumented(con, "logfire_anthropic.otlp.jsonl")
    assert file["rows_added"] == 5 and (sum(r[2] or 0 for r in rows), sum(r[5] or 0 for r in rows)) == (5087, 128)


def test_an_openinference_failed_call_keeps_its_model_from_the_invocation_parameters(con):
    _, rows = _instrumented(con, "openai_openinference.console.json")
    assert [(r[0], r[1]) for r in rows if r[0] == "error"] == [("error", "gpt-4o-mini")]
