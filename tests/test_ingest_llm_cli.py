import json
import shutil


from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import stored_requests

COLUMNS = ("source_id, model, provider, system_prompt, prompt_text, response_text, messages_json, input_tokens, "
           "cached_input_tokens, cache_write_tokens, output_tokens, cost_source, duration_ms, params_json, tags_json, source_line")


def test_turns_and_legacy_responses(con, fixtures):
    path = fixtures / "llm_cli" / "logs.db"
    assert detect_format(expand_paths([str(path)])[0]) == "llm"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (6, 1)
    got = stored_requests(con, COLUMNS, as_list=True)
    pelican, walrus, sql = got[0], got[1], got[2]
    assert pelican["prompt_text"] == "Suggest a name for a pet pelican"
    assert pelican["system_prompt"] == "You name pets. One short suggestion."
    assert pelican["response_text"] == "How about Percy? Pelicans suit a dignified name."
    # the second turn's own prompt is its new user message; messages_json is the whole conversation it sent
    assert walrus["prompt_text"] == "Now one for a pet walrus"
    sent = json.loads(walrus["messages_json"])
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[2]["content"].startswith("How about Percy?")
    assert sql["system_prompt"] is None and sql["response_text"].startswith("SELECT * FROM orders")
    assert (sql["input_tokens"], sql["output_tokens"], sql["provider"]) == (30, 10, "openai")
    assert json.loads(pelican["tags_json"])["conversation_id"] == json.loads(walrus["tags_json"])["conversation_id"]

    notes = got[3]
    assert notes["model"] == "claude-3-haiku-20240307" and notes["provider"] == "anthropic"
    # prompt and system fragments are put back in front of what was typed, as llm sent them
    assert notes["prompt_text"].startswith("## 1.4.0\n- Added CSV export")
    assert notes["prompt_text"].endswith("Summarise the changes above in one sentence.")
    assert notes["system_prompt"] == "Write for a non-technical audience.\n\nYou are a release-notes writer."
    # Anthropic reports cache reads beside input_tokens
    assert (notes["input_tokens"], notes["cached_input_tokens"]) == (1040, 1000)
    assert json.loads(notes["params_json"]) == {"max_tokens": 200}
    second_tag = got[5]
    assert [m["content"] for m in json.loads(second_tag["messages_json"])] == [
        "Tag this issue: 'App crashes when uploading a 2GB file'", "bug, uploads, crash", "And this one: 'Dark mode please'"]
    reject = con.execute("select source_line, reason from rejects").fetchall()
    assert reject[0][0] == 7 and "unreadable timestamp" in reject[0][1]


def test_reingest_and_gzipped_copy_add_nothing(con, fixtures, tmp_path):
    import gzip

    path = fixtures / "llm_cli" / "logs.db"
    ingest_paths(con, [str(path)])
    packed = tmp_path / "logs.db.gz"
    with open(path, "rb") as fh, gzip.open(packed, "wb") as out:
        shutil.copyfileobj(fh, out)
    summary = ingest_paths(con, [str(path), str(packed)])
    assert summary["rows_added"] == 0 and summary["rows_duplicate"] == 12
    assert [f["format"] for f in summary["files"]] == ["llm", "llm"]


def test_database_written_by_the_installed_llm(con, fixtures, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_logs_db", fixtures / "llm_cli" / "make_logs_db.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh = tmp_path / "logs.db"
    module.build(fresh)
    summary = ingest_paths(con, [str(fresh)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (6, 1)
    prompts = {r["prompt_text"] for r in stored_requests(con, COLUMNS, as_list=True)}
    assert {"Suggest a name for a pet pelican", "Now one for a pet walrus"} <= prompts


def test_llm_logs_json_export(con, fixtures):
    """`llm logs --json` (the record of llm's logging docs, and one with a system prompt): each response once, by
    its ULID, with its time, tokens and the provider its model names."""
    path = fixtures / "llm_cli" / "llm_logs.json"
    summary = ingest_paths(con, [str(path)])
    assert (summary["files"][0]["format"], summary["rows_added"], summary["rows_rejected"]) == ("llm", 2, 0)
    rows = stored_requests(con, "*")
    haiku, pelican = rows["01jm8ec74wxsdatyn5pq1fp0s5"], rows["01jm8ef0k2m9x1q7b3c5d8e0f2"]
    assert (haiku["provider"], haiku["prompt_text"], haiku["response_text"]) == ("anthropic", "hi", "Hello! How can I assist you today?")
    assert (haiku["input_tokens"], haiku["output_tokens"], haiku["duration_ms"]) == (8, 12, 560.0)
    assert haiku["created_at"].isoformat() == "2025-02-16T22:34:30.374882"
    assert haiku["cost_source"] == "catalog" and haiku["cost_usd"] > 0
    assert (pelican["provider"], pelican["system_prompt"]) == ("openai", "You name pets. One short suggestion.")
    assert json.loads(pelican["tags_json"])["conversation_id"] == "01jm8ef0jz4v7w2n6p1r3s5t7u"
    again = ingest_paths(con, [str(path)])
    assert (again["rows_added"], again["rows_duplicate"]) == (0, 2)


def test_llm_logs_json_export_of_the_database_reads_as_the_database_does(con, fixtures, tmp_path):
    """llm_logs_export.json is what the installed llm (0.32.1) printed for logs.db: `LLM_LOAD_PLUGINS='' llm logs
    --json -n 0 -d tests/fixtures/llm_cli/logs.db`. Read alone it stores the rows the database gives (fragments,
    cache reads, options and conversations included); after the database it adds nothing."""
    db, export = fixtures / "llm_cli" / "logs.db", fixtures / "llm_cli" / "llm_logs_export.json"
    columns = COLUMNS.replace(", source_line", "") + ", created_at, tags_json"
    ingest_paths(con, [str(db)])
    from_db = stored_requests(con, columns)
    summary = ingest_paths(con, [str(export)])
    assert (summary["files"][0]["format"], summary["rows_added"], summary["rows_duplicate"], summary["rows_rejected"]) == ("llm", 0, 6, 1)
    from analyzer.db import connect
    alone = connect(str(tmp_path / "alone.duckdb"))
    try:
        assert ingest_paths(alone, [str(export)])["rows_added"] == 6
        assert stored_requests(alone, columns) == from_db
    finally:
        alone.close()


def test_a_model_set_up_under_an_alias_is_priced_as_the_model_that_answered(fixtures, tmp_path):
    """llm 0.36 with `model_id: mock-4o-mini` for `gpt-4o-mini` in extra-openai-models.yaml: the alias named no
    provider and no price (the OpenAI plugin leaves `resolved_model` empty); the response says which model answered."""
    from analyzer.db import connect

    for name in ("alias_logs.json", "alias_logs.db"):
        con = connect(str(tmp_path / f"{name}.duckdb"))
        file = ingest_paths(con, [str(fixtures / "llm_cli" / name)])["files"][0]
        rows = con.execute("select provider, model, cost_source, tags_json from requests").fetchall()
        assert (file["rows_added"], file["input_tokens"]) == (4, 3883)
        assert {r[:3] for r in rows} == {("openai", "gpt-4o-mini-2024-07-18", "catalog")}
        assert all('"model_alias":"mock-4o-mini"' in r[3] for r in rows)
        con.close()
