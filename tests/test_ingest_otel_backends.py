"""OpenTelemetry GenAI spans as two tracing backends keep them (read by `otel`). `otlp_spans.json` is what
opentelemetry-instrumentation-openai-v2 2.4b0 exported (two requests of an app, each a `POST /ask` span around two
embeddings, two chat calls and a 429; one run with message content); the other files are the same spans as
Honeycomb stores them (flat events: attributes beside `trace.trace_id`, `trace.span_id`, `trace.parent_id`,
`duration_ms`, its query builder's raw data as JSON and CSV, a span event as an event of its own) and as Elastic's
OpenTelemetry-native mapping does (`_search` hits and elasticdump's lines: `@timestamp` in epoch milliseconds,
`duration` in nanoseconds, status `Error`), built with ports of each backend's own conversion code. Before, the
Honeycomb JSON and the elasticdump file were read as OpenAI app logs that lost both failed calls, counted the cached
tokens twice (7,442 and 7,402 input tokens for 5,394) and kept no time, trace or conversation; the others were
not recognised."""

import pytest

from helpers import ingest_fixtures


def ingest(con, fixtures, *names):
    return ingest_fixtures(con, fixtures, "otel_backends", "otel", *names)


@pytest.mark.parametrize(("name", "skipped"), [
    ("otlp_spans.json", 2),
    ("honeycomb_raw_data.json", 4),  # the two POST /ask spans and two span events
    ("honeycomb_raw_data.csv", 4),
    ("elastic_otel_search.json", 2),
    ("elastic_otel_elasticdump.jsonl", 2),
])
def test_each_backends_export_reads_as_the_spans_themselves(con, fixtures, name, skipped):
    file, = ingest(con, fixtures, name)
    assert (file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == (12, skipped, 0)
    assert con.execute("""
        select count(*) filter (where operation = 'embeddings'), sum(input_tokens), sum(output_tokens),
               sum(cached_input_tokens), count(*) filter (where status = 'error'), count(created_at), count(trace_id),
               count(prompt_text), count(response_text), round(sum(duration_ms))
        from requests""").fetchall()[0] == (4, 5394, 144, 2048, 2, 12, 12, 4, 3, 1407)


@pytest.mark.parametrize(("name", "skipped"), [
    ("appinsights_track_envelopes.json", 6),  # the request span, four log messages repeating usage, a metric
    ("appinsights_dependencies_export.csv", 0),
    ("appinsights_query_api.json", 0),
    ("appdependencies_loganalytics_api.json", 0),
])
def test_azure_monitors_dependencies_read_as_the_spans_they_were(con, fixtures, name, skipped):
    """azure-monitor-opentelemetry-exporter 1.0.0b58's envelopes of openai-v2's spans (a POST /ask around four chat
    calls, one a 429, and an embedding), and the same dependencies as its Logs blade's CSV export and the query APIs
    return them (classic `dependencies`, workspace `AppDependencies`): every attribute a string, durations as
    `d.hh:mm:ss.fff` or milliseconds, the portal's `12/6/2026, 11:50:54.826 AM` times."""
    file, = ingest(con, fixtures, name)
    assert (file["rows_added"], file["rows_skipped"], file["rows_rejected"]) == (5, skipped, 0)
    assert con.execute("""
        select count(*) filter (where operation = 'embeddings'), sum(input_tokens), sum(output_tokens),
               count(*) filter (where status = 'error'), count(created_at), count(trace_id), count(prompt_text),
               count(response_text), round(sum(duration_ms)), date_trunc('millisecond', min(created_at))::varchar
        from requests""").fetchall()[0] == (1, 3905, 28, 1, 5, 5, 4, 3, 835, "2026-12-06 11:50:54.826")


def test_the_same_spans_from_three_places_count_once(con, fixtures):
    files = ingest(con, fixtures, "otlp_spans.json", "honeycomb_raw_data.csv", "elastic_otel_search.json")
    assert [(f["rows_added"], f["rows_duplicate"]) for f in files] == [(12, 0), (0, 12), (0, 12)]
    failed = con.execute("select model, status, created_at::varchar, round(duration_ms, 3) from requests where status = 'error'"
                         " order by created_at").fetchall()
    assert failed[0] == ("gpt-4o", "error", "2026-12-06 11:32:06.615583", 55.385)


def test_elastic_apm_documents_say_to_export_the_opentelemetry_native_stream(con, tmp_path):
    import json

    from analyzer.errors import PlanError
    from analyzer.ingest import ingest_paths

    doc = {"@timestamp": "2026-12-06T11:32:06.232Z", "processor": {"event": "span"}, "trace": {"id": "2b504e71c3b5207e"},
           "span": {"id": "fc3f21cc5b765e9d", "name": "chat gpt-4o-mini", "duration": {"us": 177741}},
           "labels": {"gen_ai_request_model": "gpt-4o-mini"}, "numeric_labels": {"gen_ai_usage_input_tokens": 1322}}
    path = tmp_path / "apm_search.json"
    path.write_text(json.dumps({"took": 3, "timed_out": False, "hits": {"hits": [{"_index": "traces-apm-default", "_id": "a1",
                                                                                  "_source": doc}]}}))
    with pytest.raises(PlanError, match="Elastic APM documents .* traces-\\*\\.otel-\\* data stream"):
        ingest_paths(con, [str(path)])


def test_a_log_row_beside_the_dependencies_is_not_a_second_call(con, fixtures, tmp_path):
    """`union dependencies, traces`: the GenAI event logged for a call repeats its usage; only the span counts."""
    import json

    from analyzer.ingest import ingest_paths

    answer = json.loads((fixtures / "otel_backends" / "appinsights_query_api.json").read_text())
    table = answer["tables"][0]
    names = [c["name"] for c in table["columns"]]
    logged = list(table["rows"][0])
    logged[names.index("itemType")], logged[names.index("id")] = "trace", ""
    table["rows"].append(logged)
    path = tmp_path / "union.json"
    path.write_text(json.dumps(answer))
    file, = ingest_paths(con, [str(path)])["files"]
    assert (file["rows_added"], file["rows_skipped"], file["input_tokens"]) == (5, 1, 3905)
