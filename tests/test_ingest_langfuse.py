import json

import pyarrow as pa
import pyarrow.parquet as pq

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import stored_requests

COLUMNS = ("source_id, model, provider, system_prompt, prompt_text, response_text, input_tokens, cached_input_tokens, "
           "cache_write_tokens, output_tokens, cost_usd, cost_source, duration_ms, status, params_json, tags_json")


def test_api_export_camel_case_generations_only(con, fixtures):
    path = fixtures / "langfuse" / "observations_api.json"
    assert detect_format(expand_paths([str(path)])[0]) == "langfuse"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (3, 0)  # the SPAN is not a model call
    got = stored_requests(con, COLUMNS)
    assert "obs_span1" not in got
    svg = got["obs_8c1f2a"]
    assert svg["system_prompt"].startswith("You write SVG icons")
    assert svg["prompt_text"] == "A minimal bell icon, 24x24, stroke only."
    assert svg["response_text"].startswith("<svg")
    # Langfuse usage keys naming "input" all add up to input: 128 uncached + 384 cached
    assert (svg["input_tokens"], svg["cached_input_tokens"], svg["output_tokens"]) == (512, 384, 141)
    assert (svg["cost_usd"], svg["cost_source"]) == (0.00221, "log")
    assert svg["duration_ms"] == 1650 and svg["provider"] == "openai"
    assert json.loads(svg["params_json"]) == {"temperature": 0.3, "max_tokens": 600}
    legal = got["obs_9d2e3b"]
    assert legal["system_prompt"] == "You are a careful legal analyst."
    assert legal["prompt_text"].startswith("Read the attached contract") and "[document]" in legal["prompt_text"]
    assert (legal["input_tokens"], legal["cached_input_tokens"]) == (18210, 18000)
    assert legal["cost_usd"] == 0.006  # costDetails empty: calculatedTotalCost
    failed = got["obs_err01"]
    assert failed["status"] == "error" and failed["cost_source"] == "unknown"
    assert json.loads(failed["tags_json"])["status_message"] == "Request timed out."


def test_blob_exports_snake_case_agree_with_the_api(con, fixtures):
    ingest_paths(con, [str(fixtures / "langfuse" / "observations_api.json")])
    before = stored_requests(con, COLUMNS)
    for name in ("observations_blob.jsonl", "observations_blob.csv"):
        assert detect_format(expand_paths([str(fixtures / "langfuse" / name)])[0]) == "langfuse"
    jsonl = ingest_paths(con, [str(fixtures / "langfuse" / "observations_blob.jsonl")])
    assert (jsonl["rows_added"], jsonl["rows_duplicate"], jsonl["rows_rejected"]) == (1, 3, 1)
    csv_run = ingest_paths(con, [str(fixtures / "langfuse" / "observations_blob.csv")])
    assert (csv_run["rows_added"], csv_run["rows_duplicate"], csv_run["rows_rejected"]) == (0, 2, 1)
    after = stored_requests(con, COLUMNS)
    for key in ("input_tokens", "cached_input_tokens", "output_tokens", "cost_usd", "prompt_text", "duration_ms"):
        assert after["obs_8c1f2a"][key] == before["obs_8c1f2a"][key], key
    gemini = after["obs_a1b2c3"]
    assert (gemini["provider"], gemini["input_tokens"], gemini["cost_usd"]) == ("google", 31250, 0.00236)
    reasons = con.execute("select source_file, source_line, reason from rejects order by source_file").fetchall()
    assert reasons[0][1] == 5 and "timestamp" in reasons[0][2]  # CSV row with an unreadable start_time
    assert reasons[1][1] == 4 and "not valid JSON" in reasons[1][2]  # truncated JSONL line


def test_parquet_blob_export_read_in_batches(con, fixtures, tmp_path):
    records = [json.loads(line) for line in (fixtures / "langfuse" / "observations_blob.jsonl").read_text().splitlines()
               if line.endswith("}")]
    usage_type = pa.map_(pa.string(), pa.uint64())
    cost_type = pa.map_(pa.string(), pa.decimal128(18, 12))
    columns = {}
    for name in records[0]:
        values = [r.get(name) for r in records]
        if name == "usage_details":
            columns[name] = pa.array([list(v.items()) for v in values], type=usage_type)
        elif name == "cost_details":
            from decimal import Decimal

            columns[name] = pa.array([[(k, Decimal(str(x))) for k, x in v.items()] for v in values], type=cost_type)
        elif name in ("start_time", "end_time"):
            columns[name] = pa.array(values, type=pa.string()).cast(pa.timestamp("ms"))
        elif name in ("total_cost", "latency"):
            columns[name] = pa.array(values, type=pa.float64())
        else:
            columns[name] = pa.array([None if v is None else str(v) for v in values], type=pa.string())
    path = tmp_path / "observations_v2.parquet"
    pq.write_table(pa.table(columns), path, row_group_size=2)
    assert detect_format(expand_paths([str(path)])[0]) == "langfuse"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (4, 0)
    got = stored_requests(con, COLUMNS)
    assert (got["obs_8c1f2a"]["input_tokens"], got["obs_8c1f2a"]["cached_input_tokens"]) == (512, 384)
    assert abs(got["obs_8c1f2a"]["cost_usd"] - 0.00221) < 1e-12
    assert got["obs_8c1f2a"]["duration_ms"] == 1650
    assert got["obs_a1b2c3"]["response_text"].startswith("Outage lasted")


def test_ingestion_api_batches_join_create_and_update_events(con, fixtures, tmp_path):
    """What the Langfuse SDKs send to /api/public/ingestion: {"batch": [events]}."""
    path = fixtures / "langfuse_batch" / "ingestion_batch.json"
    assert detect_format(expand_paths([str(path)])[0]) == "langfuse-batch"
    summary = ingest_paths(con, [str(path)])
    # Three generations (one joined from a create and two updates, one legacy observation-create); two spans and
    # an event skipped and counted; a score ignored; an event without a body rejected.
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_rejected"]) == (3, 3, 1)
    got = stored_requests(con, COLUMNS)
    answer = got["gen-1"]
    assert answer["system_prompt"] == "You answer questions about our refund policy."
    assert (answer["prompt_text"], answer["response_text"]) == ("How long do I have to return a drill?", "You have 30 days from delivery.")
    assert (answer["input_tokens"], answer["output_tokens"], answer["cost_usd"], answer["cost_source"]) == (1200, 9, 0.0001854, "log")
    assert answer["duration_ms"] == 1250 and json.loads(answer["params_json"]) == {"temperature": 0.3, "max_tokens": 300}
    link = con.execute("select trace_id, parent_span_id, user_id from requests where source_id = 'gen-1'").fetchall()[0]
    assert link == ("trace-1", "span-1", "user-77")
    assert json.loads(answer["tags_json"])["session_id"] == "sess-9"
    summary_call = got["gen-2"]
    assert (summary_call["input_tokens"], summary_call["cached_input_tokens"], summary_call["cache_write_tokens"]) == (4000, 3000, 200)
    assert (summary_call["output_tokens"], summary_call["cost_usd"]) == (25, 0.00123)
    legacy = got["gen-3"]
    assert (legacy["input_tokens"], legacy["output_tokens"], legacy["cost_source"]) == (9, 3, "catalog")
    assert con.execute("select sum(input_tokens), sum(output_tokens) from requests").fetchall()[0] == (1200 + 4000 + 9, 9 + 25 + 3)
    # The same events as JSON Lines (one event per line) are the same calls.
    lines = tmp_path / "events.jsonl"
    lines.write_text("\n".join(json.dumps(e) for e in json.loads(path.read_text())["batch"]) + "\n")
    assert detect_format(expand_paths([str(lines)])[0]) == "langfuse-batch"
    again = ingest_paths(con, [str(lines)])
    assert (again["rows_added"], again["rows_duplicate"], again["rows_skipped"]) == (0, 3, 3)


def test_traces_with_their_observations_inside(con, fixtures, tmp_path):
    """GET /api/public/traces/{id} objects: each generation inside is one request, the trace's own totalCost is
    not another one, and the trace's user, session and tags reach its generations."""
    path = fixtures / "langfuse_traces" / "traces_by_id.json"
    assert detect_format(expand_paths([str(path)])[0]) == "langfuse"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"], summary["rows_skipped"]) == (3, 0, 2)  # the SPAN and the EVENT
    got = stored_requests(con, COLUMNS + ", user_id, trace_id")
    answer = got["gen-answer-01"]
    assert (answer["model"], answer["provider"], answer["user_id"]) == ("claude-3-5-sonnet-20241022", "anthropic", "cust-9001")
    assert (answer["system_prompt"], answer["prompt_text"], answer["response_text"]) == (
        "Answer from the documents only.", "What is the refund window?", "30 days from delivery.")
    assert (answer["input_tokens"], answer["cached_input_tokens"], answer["output_tokens"]) == (3996, 3584, 57)
    assert (answer["cost_usd"], answer["cost_source"], answer["duration_ms"]) == (0.0031662, "log", 2750)
    tags = json.loads(answer["tags_json"])
    assert (tags["session_id"], tags["trace_name"], tags["tags"]) == ("sess-ab12", "support-answer", ["support", "rag"])
    failed = got["gen-fail-04"]
    assert (failed["status"], failed["user_id"], json.loads(failed["tags_json"])["status_message"]) == ("error", "cust-9002", "Request timed out.")
    assert con.execute("select count(*), sum(input_tokens), sum(output_tokens), round(sum(cost_usd), 7) from requests").fetchone() == (3, 4236, 71, 0.0032106)

    listing = tmp_path / "traces_page.json"  # GET /api/public/traces: observations by id only, nothing to count
    listing.write_text(json.dumps({"data": [{"id": "t-1", "timestamp": "2025-06-20T09:00:00Z", "name": "x", "htmlPath": "/t/t-1",
                                             "totalCost": 0.5, "observations": ["o-1", "o-2"], "scores": []}],
                                   "meta": {"page": 1, "limit": 50, "totalItems": 1, "totalPages": 1}}))
    assert detect_format(expand_paths([str(listing)])[0]) == "langfuse"
    listed = ingest_paths(con, [str(listing)])
    assert (listed["rows_added"], listed["rows_rejected"], listed["rows_skipped"]) == (0, 0, 1)


def test_generation_inside_a_generation_counts_once_at_the_inner_one(con, fixtures):
    """LangChain's callback handler generation around the OpenAI integration's: one model call. The outer
    generation is skipped, the inner one (the API call) kept; around a retry (a span between, two calls inside)
    each inner call is a request and the outer is skipped."""
    path = fixtures / "langfuse_nested" / "langchain_over_openai.json"
    assert detect_format(expand_paths([str(path)])[0]) == "langfuse"
    summary = ingest_paths(con, [str(path)])
    # Kept: gen-oai, gen-oai2a (failed), gen-oai2b, gen-solo. Skipped: the two ChatOpenAI wrappers, two spans, an event.
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_duplicate"], summary["rows_rejected"]) == (4, 5, 0, 0)
    got = stored_requests(con, COLUMNS + ", trace_id, parent_span_id")
    assert set(got) == {"gen-oai", "gen-oai2a", "gen-oai2b", "gen-solo"}
    inner = got["gen-oai"]
    assert (inner["model"], inner["input_tokens"], inner["cached_input_tokens"], inner["output_tokens"]) == (
        "gpt-4o-mini-2024-07-18", 820, 512, 64)
    assert (inner["cost_usd"], inner["cost_source"]) == (0.000123, "log")
    assert (inner["system_prompt"], inner["prompt_text"], inner["response_text"]) == (
        "You are a terse cooking assistant.", "How long do I simmer shakshuka?", "About 8 minutes, until the whites set.")
    assert (inner["trace_id"], inner["parent_span_id"]) == ("c0ffee00c0ffee00c0ffee00c0ffee00", "gen-lc")
    assert got["gen-oai2a"]["status"] == "error" and got["gen-oai2a"]["output_tokens"] is None
    assert got["gen-oai2a"]["response_text"] is None  # two calls under the wrapper: its answer is not the failed one's
    assert got["gen-oai2b"]["parent_span_id"] == "obs-retry"
    totals = con.execute("select sum(input_tokens), sum(output_tokens), round(sum(cost_usd), 8) from requests").fetchone()
    assert totals == (820 + 40 + 15, 64 + 22 + 5, round(0.000123 + 0.0000192 + 0.00000525, 8))


def test_ingestion_batch_generation_inside_a_generation_counts_once(con, tmp_path):
    events = [
        {"id": "e1", "type": "generation-create", "timestamp": "2025-07-14T08:30:00Z",
         "body": {"id": "outer", "traceId": "t-9", "name": "ChatAnthropic", "startTime": "2025-07-14T08:30:00Z",
                  "model": "claude-3-5-haiku-20241022", "input": [{"role": "user", "content": "Hi"}],
                  "usage": {"input": 12, "output": 4}}},
        {"id": "e2", "type": "generation-create", "timestamp": "2025-07-14T08:30:00.1Z",
         "body": {"id": "inner", "traceId": "t-9", "parentObservationId": "outer", "name": "anthropic.messages",
                  "startTime": "2025-07-14T08:30:00.1Z", "model": "claude-3-5-haiku-20241022",
                  "input": [{"role": "user", "content": "Hi"}], "output": {"role": "assistant", "content": "Hello!"},
                  "usage": {"input": 12, "output": 4}}},
    ]
    path = tmp_path / "batch.json"
    path.write_text(json.dumps({"batch": events}))
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_rejected"]) == (1, 1, 0)
    got = stored_requests(con, COLUMNS + ", parent_span_id")
    assert list(got) == ["inner"]
    assert (got["inner"]["input_tokens"], got["inner"]["output_tokens"], got["inner"]["parent_span_id"]) == (12, 4, "outer")


def test_litellms_embedding_generations_are_embedding_calls(con, tmp_path):
    """LiteLLM's Langfuse callback sends an embedding call as a generation named litellm-aembedding, its input the
    text embedded: priced like any call, but no prompt for a chat model to answer (before, it was categorized and
    replayed as one)."""
    event = {"id": "e1", "type": "generation-create", "timestamp": "2025-01-16T19:46:38.911Z",
             "body": {"id": "emb-1", "traceId": "t-1", "name": "litellm-aembedding", "startTime": "2025-01-16T19:46:38.911Z",
                      "endTime": "2025-01-16T19:46:39.100Z", "model": "text-embedding-ada-002", "input": ["Hello world"],
                      "usage": {"input": 2, "output": 0, "unit": "TOKENS", "totalCost": 2e-07}, "level": "DEFAULT"}}
    path = tmp_path / "batch.json"
    path.write_text(json.dumps({"batch": [event]}))
    assert ingest_paths(con, [str(path)])["rows_added"] == 1
    assert con.execute("select operation, input_tokens, cost_usd, cost_source from requests").fetchone() == (
        "embeddings", 2, 2e-07, "log")


def test_generations_of_the_first_sdks_keep_their_prompt_and_completion(con, tmp_path):
    """Langfuse's first SDKs called a generation's input and output prompt and completion (a watsonx generation
    pasted in an issue); before, the call landed without either, nothing to categorize or replay."""
    generation = {"id": "9013c4a1", "traceId": "Watsonx-generation", "type": "GENERATION", "name": "watsonx",
                  "startTime": "2024-03-01T10:00:00.000Z", "endTime": "2024-03-01T10:00:00.955Z", "model": "google/flan-ul2",
                  "prompt": "What is 1 + 1?", "completion": "oooooook", "usage": None}
    path = tmp_path / "observations.json"
    path.write_text(json.dumps({"data": [generation]}))
    assert ingest_paths(con, [str(path)])["rows_added"] == 1
    assert con.execute("select prompt_text, response_text, duration_ms from requests").fetchone() == (
        "What is 1 + 1?", "oooooook", 955.0)


def test_a_trace_exports_user_session_and_tags_reach_its_generations(con, tmp_path):
    """A trace export as the UI downloads it, ``{"trace": {...}, "observations": [...]}``: the trace's user, session,
    name and tags are its generations' too, as for a trace with its observations inside (before, they were lost)."""
    trace = {"id": "6908d6bf", "name": "matter-chat", "userId": "demo-user", "sessionId": "test-matter-001",
             "tags": ["conversational"], "environment": "demo", "timestamp": "2026-04-04T06:21:09.825Z"}
    generation = {"id": "g-1", "traceId": "6908d6bf", "type": "GENERATION", "name": "ai.streamText.doStream",
                  "startTime": "2026-04-04T06:21:09.900Z", "endTime": "2026-04-04T06:21:16.000Z", "model": "gemini-2.5-flash",
                  "input": [{"role": "user", "content": "Summarise the matter."}], "output": "A summary.",
                  "usage": {"input": 24, "output": 1407}, "environment": "demo"}
    path = tmp_path / "trace-6908d6bf.json"
    path.write_text(json.dumps({"trace": trace, "observations": [generation]}, indent=2))
    assert ingest_paths(con, [str(path)])["rows_added"] == 1
    user, tags = con.execute("select user_id, tags_json from requests").fetchone()
    assert user == "demo-user"
    assert {k: json.loads(tags)[k] for k in ("session_id", "trace_name", "tags")} == {
        "session_id": "test-matter-001", "trace_name": "matter-chat", "tags": ["conversational"]}


def test_frameworks_request_and_answer_shapes_reach_prompt_and_answer(con, fixtures):
    """Generations as agent frameworks hand them to Langfuse: one message on its own, GenAI parts on both sides,
    a function's captured arguments, and answers that only call a tool (LangChain's message dump, ADK's
    candidate, the AI SDK's toolCalls). Each call's prompt and answer land; before, six calls stored three
    prompts and two answers."""
    path = fixtures / "langfuse_traces" / "framework_shapes.json"
    assert detect_format(expand_paths([str(path)])[0]) == "langfuse"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"], summary["rows_skipped"]) == (6, 0, 1)
    got = stored_requests(con, COLUMNS + ", messages_json")
    texts = {key: (row["prompt_text"], row["response_text"]) for key, row in got.items()}
    assert texts == {
        "obs-fw-01": ("Which invoices are overdue this week?", "Three invoices are overdue: INV-2291, INV-2304 and INV-2317."),
        "obs-fw-02": ("Summarise the Q3 churn note in one line.", "Churn fell to 2.1% after the onboarding change."),
        "obs-fw-03": ("Name two uses of a reorder point.", "Setting purchase triggers and sizing safety stock."),
        "obs-fw-04": ("Look up order A-5531.", json.dumps([{"id": "call_fw4", "type": "function", "function": {
            "name": "lookup_order", "arguments": "{\"order_id\":\"A-5531\"}"}}])),
        "obs-fw-05": ("Book the 9am room.", '[tool call book_room: {"time": "09:00"}]'),
        "obs-fw-06": ("Weather in Oslo?", '[tool call getWeather: {"city":"Oslo"}]'),
    }
    assert json.loads(got["obs-fw-01"]["messages_json"]) == [{"role": "user", "content": "Which invoices are overdue this week?"}]
    assert con.execute("select sum(input_tokens), sum(output_tokens), round(sum(cost_usd), 7), count(*) filter (where cost_source = 'log') "
                       "from requests").fetchone() == (615, 101, 0.0021925, 6)
