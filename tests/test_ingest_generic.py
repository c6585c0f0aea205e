import json

import pytest
from click.testing import CliRunner

from analyzer.errors import PlanError
from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.formats.generic import iter_rows
from analyzer.ingest.sources import expand_paths

CSV_MAP = {"id": "call_uuid", "created_at": "ts", "model": "engine", "prompt": "question", "response": "answer",
           "input_tokens": "in_tok", "output_tokens": "out_tok", "cost_usd": "usd"}


def test_csv_with_mapping(con, fixtures):
    summary = ingest_paths(con, [str(fixtures / "generic" / "calls.csv")], fmt="generic", mapping=CSV_MAP)
    assert (summary["rows_added"], summary["rows_rejected"]) == (3, 3)
    got = {r[0]: r for r in con.execute(
        "select source_id, prompt_text, response_text, input_tokens, cost_usd, cost_source, created_at, provider from requests").fetchall()}
    assert got["c-001"][3] == 22 and got["c-001"][4] == 0.0000141 and got["c-001"][5] == "log"
    assert got["c-002"][2].startswith("def fib(n):\n")  # a quoted cell spanning lines
    assert got["c-002"][5] == "catalog" and got["c-002"][7] == "anthropic"  # empty cost cell: priced from the catalog
    assert str(got["c-003"][6]) == "2025-05-05 10:03:00"  # epoch seconds
    reasons = con.execute("select source_line, reason from rejects order by source_line").fetchall()
    assert [line for line, _ in reasons] == [9, 10, 11]
    assert "not a date" in reasons[0][1] and "none of the mapped columns" in reasons[1][1] and "five" in reasons[2][1]


def test_jsonl_with_dotted_paths(con, fixtures):
    mapping = {"id": "uuid", "created_at": "when", "model": "meta.model", "messages": "input.messages", "response": "output",
               "input_tokens": "usage.prompt_tokens", "output_tokens": "usage.completion_tokens"}
    summary = ingest_paths(con, [str(fixtures / "generic" / "calls.jsonl")], fmt="generic", mapping=mapping)
    assert (summary["rows_added"], summary["rows_rejected"]) == (2, 1)
    row = con.execute("select system_prompt, prompt_text, response_text, model, input_tokens from requests where source_id = 'j-1'").fetchall()
    assert row == [("Answer tersely.", "Capital of Australia?", "Canberra", "gpt-4o", 14)]


def test_missing_mapped_columns_are_named(con, fixtures):
    with pytest.raises(PlanError) as err:
        ingest_paths(con, [str(fixtures / "generic" / "calls.csv")], fmt="generic",
                     mapping={"prompt": "question", "response": "reply", "model": "engine_name"})
    message = str(err.value)
    assert "response=reply" in message and "model=engine_name" in message and "question" in message
    with pytest.raises(PlanError, match="--map"):
        ingest_paths(con, [str(fixtures / "generic" / "calls.csv")], fmt="generic", mapping={})
    with pytest.raises(PlanError, match="unknown field"):
        ingest_paths(con, [str(fixtures / "generic" / "calls.csv")], fmt="generic", mapping={"promt": "question"})


def test_cli_generic_mapping_and_clear_error(db_path, fixtures):
    from analyzer.cli import cli

    path = str(fixtures / "generic" / "calls.csv")
    mapping = ",".join(f"{k}={v}" for k, v in CSV_MAP.items())
    ok = CliRunner().invoke(cli, ["ingest", path, "--format", "generic", "--map", mapping, "--db", db_path, "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["rows_added"] == 3
    bad = CliRunner().invoke(cli, ["ingest", path, "--format", "generic", "--map", "prompt=nope", "--db", db_path])
    assert bad.exit_code != 0
    assert "prompt=nope" in bad.output and "Traceback" not in bad.output


EXPECTED = {
    "bedrock": "bedrock",
    "litellm": "litellm",
    "langfuse": "langfuse",
    "helicone": "helicone",
    "openrouter": "openrouter",
    "llm_cli": "llm",
}


def _fixture_files(fixtures):
    for folder, fmt in EXPECTED.items():
        for path in sorted((fixtures / folder).iterdir()):
            if path.suffix != ".py":
                yield path, fmt


def test_every_fixture_is_detected_as_its_own_format(fixtures):
    seen = 0
    for path, fmt in _fixture_files(fixtures):
        assert detect_format(expand_paths([str(path)])[0]) == fmt, path.name
        seen += 1
    assert seen >= 14
    for path in (fixtures / "generic").iterdir():  # a table without a mapping is none of these formats
        assert detect_format(expand_paths([str(path)])[0]) not in set(EXPECTED.values()) | {"generic"}, path.name
    assert detect_format(expand_paths([str(fixtures / "generic" / "calls.csv")])[0]) is None


def test_openai_chat_lines_are_not_taken_by_these_formats(tmp_path):
    line = {"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            "response": {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini", "created": 1746000000,
                         "choices": [{"message": {"role": "assistant", "content": "hello"}}], "usage": {"prompt_tokens": 8, "completion_tokens": 2}}}
    path = tmp_path / "app.jsonl"
    path.write_text(json.dumps(line) + "\n")
    assert detect_format(expand_paths([str(path)])[0]) not in set(EXPECTED.values()) | {"generic"}


def test_json_array_reader_skips_a_broken_element_and_keeps_line_numbers(tmp_path):
    elements = [json.dumps({"n": i, "text": "x" * 2_000_000 if i == 3 else "short"}) for i in range(5)]
    elements[2] = elements[2].replace('"n": 2', '"n": 2,,')
    path = tmp_path / "export.json"
    path.write_text("[\n" + ",\n".join("  " + e for e in elements) + "\n]\n")
    src = expand_paths([str(path)])[0]
    out = list(iter_rows(src))
    assert [(line, rec["n"]) for line, rec in out if isinstance(rec, dict)] == [(2, 0), (3, 1), (5, 3), (6, 4)]
    broken = [rec for _, rec in out if not isinstance(rec, dict)]
    assert len(broken) == 1 and broken[0].line == 4


def test_wrapped_and_concatenated_json_documents(tmp_path):
    wrapped = tmp_path / "page.json"
    wrapped.write_text(json.dumps({"data": [{"a": 1}, {"a": 2}], "meta": {"page": 1}}, indent=2))
    assert [r["a"] for _, r in iter_rows(expand_paths([str(wrapped)])[0])] == [1, 2]
    concatenated = tmp_path / "records.json"
    concatenated.write_text(json.dumps({"a": 1}, indent=2) + "\n" + json.dumps({"a": 2}, indent=2) + "\n")
    assert [(line, r["a"]) for line, r in iter_rows(expand_paths([str(concatenated)])[0])] == [(1, 1), (4, 2)]


def test_records_separated_by_a_literal_backslash_n_all_land(con, tmp_path):
    """An app that writes json.dumps(record) + "\\\\n" leaves the two characters \\ and n between records and the
    whole log on one line; before, the first call landed and the rest were one reject."""
    def call(i):
        return {"timestamp": 1750285600.5 + i, "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"question {i}"}]},
                "response": {"id": f"chatcmpl-sep{i}", "object": "chat.completion", "created": 1750285600 + i, "model": "gpt-4o-mini-2024-07-18",
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": f"answer {i}"}, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 10 + i, "completion_tokens": 3, "total_tokens": 13 + i}}}
    path = tmp_path / "openai_calls.jsonl"
    path.write_text("\\n".join(json.dumps(call(i)) for i in range(5)) + "\\n")
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (5, 0)
    assert con.execute("select sum(input_tokens), string_agg(prompt_text, '|' order by prompt_text) from requests").fetchone() == (
        60, "question 0|question 1|question 2|question 3|question 4")


def test_text_between_json_documents_is_one_reject_and_the_documents_after_it_land(tmp_path):
    path = tmp_path / "records.json"
    path.write_text(json.dumps({"a": 1}, indent=2) + "\nINFO [main] worker {started} [1,2\n" + json.dumps({"a": 2}, indent=2) + "\n"
                    + json.dumps({"a": 3, "b": {"c": 1}}, indent=2) + "\n")
    out = list(iter_rows(expand_paths([str(path)])[0]))
    assert [(line, r["a"]) for line, r in out if isinstance(r, dict)] == [(1, 1), (5, 2), (8, 3)]
    rejects = [r for _, r in out if not isinstance(r, dict)]
    assert [(r.line, r.reason) for r in rejects] == [(4, "unexpected text outside any JSON value")]


def test_a_broken_document_is_one_reject_and_the_documents_after_it_land(tmp_path):
    path = tmp_path / "records.json"
    broken = json.dumps({"a": 2, "b": {"c": [1, 2]}}, indent=2).replace('"c"', 'c')  # an unquoted key, nested and indented
    path.write_text(json.dumps({"a": 1}, indent=2) + "\n" + broken + "\n" + json.dumps({"a": 3}, indent=2) + "\n")
    out = list(iter_rows(expand_paths([str(path)])[0]))
    assert [r["a"] for _, r in out if isinstance(r, dict)] == [1, 3]
    assert [r.line for _, r in out if not isinstance(r, dict)] == [4]
