import os
import stat

import pytest

from analyzer.db import connect, rows
from analyzer.migrations import MIGRATIONS, apply_migrations

REQUEST_COLUMNS = [
    "id", "source_id", "source_file", "source_line", "source_format", "provider", "model", "created_at",
    "system_prompt", "messages_json", "prompt_text", "response_text", "input_tokens", "cached_input_tokens",
    "cache_write_tokens", "output_tokens", "reasoning_tokens", "cost_usd", "cost_source", "is_batch",
    "duration_ms", "status", "user_id", "tags_json", "params_json", "operation", "trace_id", "parent_span_id",
    "ingested_at", "sample_rate", "sample_rate_source", "cache_write_1h_tokens", "web_searches",
]

CATEGORY_COLUMNS = [
    "category_id", "name", "name_source", "description", "task_type", "task_type_evidence", "examples_json", "requests",
    "share_of_requests", "share_ci_low", "share_ci_high", "input_tokens", "output_tokens", "spend_usd", "share_of_spend",
    "share_of_spend_ci_low", "share_of_spend_ci_high", "spend_ci_low_usd", "spend_ci_high_usd", "unpriced_requests",
    "models_json", "first_at", "last_at", "is_other", "spend_rank", "embedder", "k", "created_at", "stability",
    "share_of_spend_refit_low", "share_of_spend_refit_high", "parent_id", "level", "named", "workload_source",
    "workload_label", "named_level", "keywords",
]
REQUEST_CATEGORY_COLUMNS = ["request_id", "category_id", "cluster", "distance", "assigned_by", "template_id", "intent_id"]


def columns(con, table):
    return [r[0] for r in rows(con, "select column_name from information_schema.columns where table_name = ? order by ordinal_position", [table])]


def test_requests_columns_are_pinned(con):
    assert columns(con, "requests") == REQUEST_COLUMNS
    types = dict(rows(con, "select column_name, data_type from information_schema.columns where table_name = 'requests'"))
    assert types["sample_rate"] == "DOUBLE" and types["sample_rate_source"] == "VARCHAR"


def test_category_columns_are_pinned(con):
    assert columns(con, "categories") == CATEGORY_COLUMNS
    assert columns(con, "request_categories") == REQUEST_CATEGORY_COLUMNS
    types = dict(rows(con, "select column_name, data_type from information_schema.columns where table_name = 'categories'"))
    assert types["keywords"] == "VARCHAR[]" and types["parent_id"] == "INTEGER" and types["named"] == "BOOLEAN"


def test_the_hierarchy_migration_keeps_stored_categories_and_types_their_keywords(tmp_path):
    import duckdb

    raw = duckdb.connect(str(tmp_path / "old.duckdb"))
    raw.execute("create table schema_migrations (name varchar primary key, applied_at timestamp)")
    for fn in [fn for fn in MIGRATIONS if fn.__name__ < "m010"]:
        fn(raw)
        raw.execute("insert into schema_migrations values (?, now()::timestamp)", [fn.__name__])
    raw.execute("""insert into categories (category_id, name, keywords_json, is_other, requests) values
                   (1, 'Write SQL', '["sql", "revenue by region"]', false, 5), (0, 'Other', null, true, 2)""")
    raw.execute("insert into request_categories (request_id, category_id, cluster) values (10, 1, 3), (11, 0, 4)")
    assert "m010_category_hierarchy" in apply_migrations(raw)
    assert rows(raw, "select category_id, name, keywords, level, named, parent_id from categories order by 1") == [
        (0, "Other", None, "other", True, None), (1, "Write SQL", ["sql", "revenue by region"], "intent", True, None)]
    assert rows(raw, "select request_id, category_id, intent_id from request_categories order by 1") == [
        (10, 1, None), (11, 0, None)]
    assert columns(raw, "categories") == CATEGORY_COLUMNS


def test_ingested_files_columns_are_pinned(con):
    assert columns(con, "ingested_files") == [
        "path", "sha256", "size_bytes", "source_format", "rows_added", "rows_duplicate", "rows_rejected", "ingested_at",
        "object_version",
    ]


def test_stage_tables_have_their_contract_columns(con):
    assert {"request_id", "category_id"} <= set(columns(con, "request_categories"))
    assert {"category_id", "name", "task_type", "requests", "share_of_requests", "spend_usd", "share_of_spend",
            "stability", "share_of_spend_refit_low", "share_of_spend_refit_high"} <= set(columns(con, "categories"))
    assert {"request_id", "model", "output_text", "input_tokens", "output_tokens", "latency_ms", "ttft_ms", "error"} <= set(columns(con, "replays"))
    assert {"tokens_estimated", "output_tokens_per_s", "not_carried_json", "params_json", "error_kind", "category_id", "endpoint"} <= set(columns(con, "replays"))
    assert {"endpoint", "model", "concurrency", "calls", "output_tokens", "wall_s", "output_tokens_per_s", "measured_at"} <= set(columns(con, "endpoint_throughput"))
    assert {"replay_id", "check_name", "passed", "score", "reason"} <= set(columns(con, "judgments"))
    assert {"error_class", "downgrades_json"} <= set(columns(con, "replays"))
    assert {"source_file", "source_line", "reason", "excerpt"} <= set(columns(con, "rejects"))
    assert columns(con, "privacy_scans") == ["request_id", "findings", "engine"]
    assert columns(con, "privacy_findings") == ["request_id", "kind", "count"]
    assert columns(con, "category_centroids") == ["cluster", "category_id", "intent_id", "embedder", "content_dims",
                                                  "centre"]
    assert columns(con, "template_vectors") == ["template_id", "kind", "match_key", "embedder", "vector", "cluster"]


CATEGORY_ACCEPTANCE_COLUMNS = [
    "category_id", "name", "task_type", "model", "n", "passed", "acceptance", "ci_low", "ci_high", "decision",
    "decision_reason", "caught_failures", "human_reviewed", "unjudged", "margin", "n_needed", "n_to_decide",
    "checks_json", "criteria_json", "failure_reasons_json", "examples_json", "thresholds_json", "judged_at",
    "answers", "errors_json", "downgrades_json", "evidence", "evidence_json", "judge_model", "self_judged", "cut_short",
]


def test_category_acceptance_columns_are_pinned(con):
    assert columns(con, "category_acceptance") == CATEGORY_ACCEPTANCE_COLUMNS


def test_migrations_are_recorded_once(con):
    names = [r[0] for r in rows(con, "select name from schema_migrations order by name")]
    assert names == sorted(fn.__name__ for fn in MIGRATIONS)
    assert apply_migrations(con) == []


def test_new_database_is_owner_only(tmp_path):
    path = tmp_path / "private.duckdb"
    connect(str(path)).close()
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode & 0o077 == 0


def test_the_text_compression_migration_keeps_stored_requests_and_their_id(tmp_path):
    import duckdb

    raw = duckdb.connect(str(tmp_path / "old.duckdb"))
    raw.execute("create table schema_migrations (name varchar primary key, applied_at timestamp)")
    before = [fn for fn in MIGRATIONS if fn.__name__ < "m007"]
    for fn in before:
        fn(raw)
        raw.execute("insert into schema_migrations values (?, now()::timestamp)", [fn.__name__])
    raw.execute("insert into requests (id, source_file, prompt_text, response_text, messages_json) values "
                "(1, 'a.jsonl', 'Summarise this contract', 'It says...', '[]'), (2, 'a.jsonl', 'Write SQL', 'select 1', '[]')")
    assert [fn.__name__ for fn in MIGRATIONS][len(before):] and apply_migrations(raw)[0].startswith("m007")
    assert rows(raw, "select id, prompt_text, response_text from requests order by id") == [
        (1, "Summarise this contract", "It says..."), (2, "Write SQL", "select 1")]
    assert "prompt_text VARCHAR USING COMPRESSION ZSTD" in rows(raw, "select sql from duckdb_tables() where table_name = 'requests'")[0][0]
    # m016: the id stays required; its uniqueness is ingest's to keep (no primary-key index to maintain)
    assert "id BIGINT NOT NULL" in rows(raw, "select sql from duckdb_tables() where table_name = 'requests'")[0][0]
    with pytest.raises(duckdb.ConstraintException):
        raw.execute("insert into requests (id) values (null)")
    assert columns(raw, "requests") == REQUEST_COLUMNS


def test_the_store_draws_no_progress_bar_on_stdout(con):
    # DuckDB's bar for queries past 2 s went to stdout, into `plan ingest --json` (seen at 100k records).
    assert rows(con, "select current_setting('enable_progress_bar')") == [(False,)]
