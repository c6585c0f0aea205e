import json

import pytest

from analyzer.checks import CHECKS, Case, Verdict, detect_form, make_check, normalise_label
from analyzer.errors import PlanError
from helpers import tool_missing


def run(name, local, frontier=None, prompt="", system=None, params=None, **check_params):
    check = make_check({"name": name, **check_params})
    return check.run(Case(prompt=prompt, local=local, frontier=frontier, system_prompt=system, params=params or {}))


# ---------------------------------------------------------------------------------------------------- JSON

ORDER = '{"order_id": "A-1042", "items": [{"sku": "KB-87", "qty": 2, "price": 49.9}], "gift": false, "note": null}'


def test_json_valid_accepts_bare_and_fenced_json():
    assert run("json_valid", ORDER).passed
    fenced = "Here is the extracted order:\n```json\n" + ORDER + "\n```"
    assert run("json_valid", fenced).passed


def test_json_valid_rejects_broken_json_with_the_parser_message():
    trailing_comma = '{"order_id": "A-1042", "items": [],}'
    v = run("json_valid", trailing_comma)
    assert not v.passed and "not valid JSON" in v.reason and "line 1" in v.reason
    truncated = '{"order_id": "A-1042", "items": [{"sku": "KB-87", "qty": 2'
    assert not run("json_valid", truncated).passed
    single_quotes = "{'order_id': 'A-1042'}"
    assert not run("json_valid", single_quotes).passed


def test_json_valid_is_strict_when_the_request_asked_for_json():
    fenced_with_prose = "Sure! ```json\n" + ORDER + "\n```"
    asked = {"response_format": {"type": "json_object"}}
    v = run("json_valid", fenced_with_prose, params=asked)
    assert not v.passed and "text around the JSON" in v.reason
    assert run("json_valid", ORDER, params=asked).passed


def test_json_schema_match_compares_keys_and_types_with_the_frontier_answer():
    other_order = '{"order_id": "B-7", "items": [{"sku": "MS-1", "qty": 1, "price": 19}], "gift": true, "note": "wrap it"}'
    v = run("json_schema_match", other_order, frontier=ORDER)
    assert v.passed and v.score == 1.0
    qty_as_text = other_order.replace('"qty": 1', '"qty": "1"')
    v = run("json_schema_match", qty_as_text, frontier=ORDER)
    assert not v.passed and "$.items[0].qty: expected number, got string" in v.reason and 0 < v.score < 1
    missing = '{"order_id": "B-7", "items": [], "gift": true}'
    v = run("json_schema_match", missing, frontier=ORDER)
    assert not v.passed and "missing key $.note" in v.reason
    extra = other_order[:-1] + ', "customer": "x"}'
    assert "extra key $.customer" in run("json_schema_match", extra, frontier=ORDER).reason


def test_json_schema_match_uses_a_user_schema_file(tmp_path):
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["sentiment", "confidence"],
        "properties": {"sentiment": {"enum": ["positive", "negative", "neutral"]},
                       "confidence": {"type": "number", "minimum": 0, "maximum": 1}},
        "additionalProperties": False,
    }
    path = tmp_path / "sentiment.schema.json"
    path.write_text(json.dumps(schema))
    check = make_check({"name": "json_schema_match", "schema": str(path)})
    assert check.runtime  # a schema needs no frontier answer: it can gate a cascade
    ok = check.run(Case(local='{"sentiment": "negative", "confidence": 0.92}'))
    assert ok.passed
    bad = check.run(Case(local='{"sentiment": "angry", "confidence": 0.92}'))
    assert not bad.passed and "$.sentiment" in bad.reason and "angry" in bad.reason


def test_json_schema_match_uses_the_schema_the_request_asked_for():
    params = {"response_format": {"type": "json_schema", "json_schema": {"name": "t", "strict": True, "schema": {
        "type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}, "required": ["tags"]}}}}
    assert run("json_schema_match", '{"tags": ["billing", "refund"]}', params=params).passed
    assert not run("json_schema_match", '{"tags": "billing"}', params=params).passed


def test_json_schema_match_refuses_a_missing_or_invalid_schema(tmp_path):
    with pytest.raises(PlanError, match="cannot be read"):
        make_check({"name": "json_schema_match", "schema": str(tmp_path / "nope.json")})
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "objekt"}')
    with pytest.raises(PlanError, match="not a valid JSON Schema"):
        make_check({"name": "json_schema_match", "schema": str(bad)})


# ---------------------------------------------------------------------------------------------------- SQL

POSTGRES = """SELECT DISTINCT ON (customer_id) customer_id, created_at::date AS day, total
FROM orders
WHERE email ILIKE '%@example.com'
ORDER BY customer_id, created_at DESC;"""
TSQL = "SELECT TOP 10 [name], [total] FROM [dbo].[orders] WITH (NOLOCK) ORDER BY [total] DESC"


def test_sql_parses_in_the_dialect_the_prompt_names():
    assert run("sql_parses", POSTGRES, prompt="Write a PostgreSQL query for the latest order per customer").passed
    v = run("sql_parses", TSQL, prompt="We use SQL Server. Top 10 orders by total.")
    assert v.passed and "tsql" in v.reason


def test_the_same_sql_fails_in_the_wrong_dialect():
    v = run("sql_parses", TSQL, prompt="Write a PostgreSQL query: top 10 orders by total")
    assert not v.passed and "postgres" in v.reason
    assert not run("sql_parses", TSQL, dialect="postgres").passed
    assert run("sql_parses", TSQL, dialect="tsql").passed


def test_sql_parses_rejects_broken_sql_and_prose():
    v = run("sql_parses", "SELECT name FROM WHERE id = 4")
    assert not v.passed and "'WHERE'" in v.reason
    assert not run("sql_parses", "SELECT (name FROM users").passed
    assert not run("sql_parses", "I would need to know your table names first.").passed


def test_sql_parses_reads_the_sql_out_of_a_fence():
    answer = "Here you go:\n```sql\nSELECT id, name FROM users WHERE active = true LIMIT 5;\n```\nIt returns 5 users."
    assert run("sql_parses", answer).passed


# ---------------------------------------------------------------------------------------------------- SVG


def test_svg_renders_a_real_drawing(fixtures):
    svg = (fixtures / "judge" / "pelican.svg").read_text()
    v = run("svg_renders", "Here is a pelican riding a bicycle:\n```svg\n" + svg + "\n```")
    assert v.passed and v.score > 0.1


def test_svg_that_is_not_well_formed_fails(fixtures):
    v = run("svg_renders", (fixtures / "judge" / "unclosed.svg").read_text())
    assert not v.passed and "not well-formed" in v.reason and "line 4" in v.reason


def test_svg_that_renders_blank_fails(fixtures):
    v = run("svg_renders", (fixtures / "judge" / "blank.svg").read_text())
    assert not v.passed and "blank" in v.reason


def test_svg_missing_or_entity_laden_fails():
    assert "no <svg>" in run("svg_renders", "I can't draw, but imagine a pelican.").reason
    laughs = '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>'
    assert not run("svg_renders", laughs).passed


# ---------------------------------------------------------------------------------------------------- code

SLUGIFY = '''```python
import re


def slugify(title: str) -> str:
    """Lower-case, ASCII-only, words joined by hyphens."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    return "-".join(words)
```

Usage:

```python
>>> slugify("Hello, World!")
'hello-world'
```'''


def test_python_that_compiles_passes_and_repl_examples_are_not_code():
    v = run("code_compiles", SLUGIFY)
    assert v.passed and "python" in v.reason


def test_python_with_a_syntax_error_fails_with_the_line():
    broken = "```python\ndef slugify(title)\n    return title.lower()\n```"
    v = run("code_compiles", broken)
    assert not v.passed and "SyntaxError" in v.reason and "line 1" in v.reason


def test_code_without_a_fence_is_parsed_whole():
    assert run("code_compiles", "def add(a, b):\n    return a + b\n").passed
    assert not run("code_compiles", "Sorry, I can only help with questions about our product.").passed


@pytest.mark.skipif(tool_missing("node"), reason="node is not installed")
def test_javascript_is_checked_with_node():
    assert run("code_compiles", "```js\nexport const add = (a, b) => a + b;\n```").passed
    v = run("code_compiles", "```javascript\nfunction add(a, b) {\n  return a + b;\n```")
    assert not v.passed and "javascript" in v.reason


@pytest.mark.skipif(tool_missing("gcc"), reason="gcc is not installed")
def test_c_is_checked_with_gcc():
    good = "```c\n#include <string.h>\nsize_t count_char(const char *s, char c) {\n  size_t n = 0;\n  for (; *s; s++) n += *s == c;\n  return n;\n}\n```"
    assert run("code_compiles", good).passed
    assert not run("code_compiles", good.replace("return n;", "return n")).passed


def test_code_in_a_language_without_a_parser_is_not_applicable():
    v = run("code_compiles", "```rust\nfn add(a: i32, b: i32) -> i32 { a + b }\n```")
    assert not v.applicable and "rust" in v.reason


def test_language_follows_the_frontier_answer_when_the_local_one_is_untagged():
    frontier = "```python\ndef f(x):\n    return x * 2\n```"
    assert not run("code_compiles", "```\ndef f(x)\n    return x * 2\n```", frontier=frontier).passed


# ---------------------------------------------------------------------------------------------------- labels


@pytest.mark.parametrize("local", ['"Billing."', "billing", "BILLING", "Label: Billing", "  billing\n", "`billing`", "‘Billing’"])
def test_labels_that_differ_only_in_case_punctuation_or_quotes_match(local):
    assert run("label_match", local, frontier="Billing").passed


def test_label_normalisation_treats_separators_alike():
    assert normalise_label("Technical-Support") == normalise_label("technical_support") == "technical support"
    assert run("label_match", "Technical Support!", frontier="technical-support").passed


def test_a_different_label_fails():
    v = run("label_match", "Shipping", frontier="Billing")
    assert not v.passed and "'shipping'" in v.reason and "'billing'" in v.reason


def test_multi_label_answers_compare_as_sets():
    assert run("label_match", "Refund, billing", frontier="billing; refund").passed
    v = run("label_match", "refund", frontier="billing, refund")
    assert not v.passed and v.score == 0.5
    assert run("label_match", '["Urgent", "Billing"]', frontier='["billing", "urgent"]').passed


def test_label_match_needs_a_frontier_label():
    v = run("label_match", "billing", frontier=None)
    assert not v.applicable
    assert not make_check("label_match").runtime


# ---------------------------------------------------------------------------------------------------- text


def test_regex_search_full_and_negate():
    assert run("regex", "Priority: P2", pattern=r"P[0-4]").passed
    assert not run("regex", "Priority: P2", pattern=r"P[0-4]", full=True).passed
    assert run("regex", "p2", pattern="P[0-4]", flags="i", full=True).passed
    v = run("regex", "As an AI language model, I cannot", pattern="as an ai", flags="i", negate=True)
    assert not v.passed and "forbidden" in v.reason
    with pytest.raises(PlanError, match="invalid"):
        make_check({"name": "regex", "pattern": "(unclosed"})


def test_contains_all_any_and_case():
    answer = "Total: $42.00 (incl. VAT)"
    assert run("contains", answer, text="total:").passed
    assert not run("contains", answer, text="total:", case_sensitive=True).passed
    v = run("contains", answer, text=["Total:", "Currency:"])
    assert not v.passed and "'Currency:'" in v.reason and v.score == 0.5
    assert run("contains", answer, text=["Total:", "Currency:"], any=True).passed


def test_max_length_in_chars_words_and_relative_to_the_frontier():
    tweet = "Our new release ships faster builds and a cleaner CLI. " * 3
    assert run("max_length", tweet, chars=280).passed
    v = run("max_length", tweet * 3, chars=280)
    assert not v.passed and "> limit 280" in v.reason
    assert not run("max_length", "one two three four", words=3).passed
    summary = "A short summary."
    assert run("max_length", summary * 2, frontier=summary, ratio=2.0).passed
    assert not run("max_length", summary * 3, frontier=summary, ratio=2.0).passed
    assert not make_check({"name": "max_length", "ratio": 2}).runtime


# ---------------------------------------------------------------------------------------------------- machinery


def test_every_check_has_a_name_description_and_is_registered():
    expected = {"json_valid", "json_schema_match", "sql_parses", "svg_renders", "code_compiles", "label_match",
                "similarity", "regex", "contains", "max_length", "llm_judge"}
    assert expected <= set(CHECKS)
    for name, cls in CHECKS.items():
        assert cls.name == name and cls.description


def test_unknown_checks_and_parameters_are_refused_with_the_known_ones():
    with pytest.raises(PlanError, match="Known checks"):
        make_check("json_vaild")
    with pytest.raises(PlanError, match="takes dialect"):
        make_check({"name": "sql_parses", "dialekt": "postgres"})


def test_an_empty_answer_fails_every_check():
    for name in ("json_valid", "sql_parses", "svg_renders", "code_compiles", "label_match"):
        v = run(name, "   ", frontier="x")
        assert v == Verdict(False, 0.0, "empty answer")


def test_when_limits_a_check_to_cases_whose_frontier_answer_has_that_form():
    check = make_check({"name": "sql_parses", "when": "sql"})
    assert not check.run(Case(local="SELECT 1", frontier='{"a": 1}')).applicable
    assert check.run(Case(local="SELECT 1", frontier="SELECT 2")).passed


def test_detect_form():
    assert detect_form('{"a": 1}') == "json"
    assert detect_form("```sql\nselect 1\n```") == "sql"
    assert detect_form("SELECT a FROM t WHERE b > 2") == "sql"
    assert detect_form('<svg xmlns="http://www.w3.org/2000/svg"></svg>') == "svg"
    assert detect_form("```python\nprint(1)\n```") == "code"
    assert detect_form("Select the best option for your team.") == "text"


# ---------------------------------------------------------------------------------------------------- similarity


@pytest.mark.slow
def test_similarity_tells_an_answer_to_the_question_from_one_about_something_else(eval_dir):
    answers = {}
    for line in (eval_dir / "mt_bench" / "mt_bench_reference_answer_gpt-4.jsonl").open():
        record = json.loads(line)
        answers[record["question_id"]] = record["choices"][0]["turns"][0]
    frontier = answers[101]  # "overtaken the second person": you are second, they are third
    same_question = ("If you overtake the person in second place, you take their position: you are now in "
                     "second place, and the person you passed is in third.")
    check = make_check("similarity")
    cases = [Case(local=same_question, frontier=frontier), Case(local=answers[105], frontier=frontier),
             Case(local=answers[104], frontier=frontier)]
    check.prepare(cases)
    on_topic, other_puzzle, other_family = (check.run(c) for c in cases)
    assert on_topic.passed and on_topic.score >= 0.5
    assert not other_puzzle.passed and not other_family.passed
    assert "cosine" in other_puzzle.reason and other_puzzle.score < 0.5
    assert not check.objective and not check.runtime


def test_similarity_threshold_is_a_parameter():
    assert make_check({"name": "similarity", "threshold": 0.8}).threshold == 0.8
    assert make_check("similarity").describe()["name"] == "similarity"


def test_every_check_names_what_its_verdict_rests_on():
    from analyzer.checks import EVIDENCE_KINDS, evidence_of

    assert all(cls.evidence in EVIDENCE_KINDS for cls in CHECKS.values())
    assert {n for n, cls in CHECKS.items() if cls.evidence == "objective"} >= {
        "json_valid", "json_schema_match", "sql_parses", "svg_renders", "code_compiles", "label_match"}
    assert evidence_of("similarity") == "similarity" and evidence_of("llm_judge") == "llm_judge"
    assert evidence_of("json_valid[json]") == "objective" and evidence_of("max_length") == "constraint"
    assert evidence_of("human") == "human"
