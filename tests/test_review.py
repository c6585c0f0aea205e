import csv
import json
import os
import stat

import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.db import dicts, scalar
from analyzer.errors import InputError, PlanError
from analyzer.judge import judge
from analyzer.review import export_review, import_review, read_sheet
from test_judge import by_id, json_orders, labels, seed


def read_csv(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def write_csv(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def judged(con):
    ids = seed(con, labels(1, 16, 4) + json_orders(2, 8, 2))
    judge(con, progress=False)
    return ids


def test_export_csv_has_prompt_answers_and_automatic_verdicts(con, judged, tmp_path):
    out = tmp_path / "review.csv"
    summary = export_review(con, out)
    assert summary == {"path": str(out), "format": "csv", "rows": 30, "auto_failed": 6, "auto_passed": 24,
                       "already_reviewed": 0, "categories": 2, "redacted": True}
    sheet = read_csv(out)
    assert list(sheet[0])[:6] == ["replay_id", "category", "task_type", "auto_verdict", "human_verdict", "note"]
    wrong = next(r for r in sheet if r["auto_verdict"] == "fail" and r["category"] == "Ticket triage")
    assert wrong["frontier_answer"] == "Billing" and wrong["local_answer"] == "Shipping"
    assert "refund please" in wrong["prompt"] and "label_match" in wrong["auto_reasons"]
    assert wrong["replay_id"].startswith("r") and int(wrong["replay_id"][1:]) in judged
    assert stat.S_IMODE(os.stat(out).st_mode) & 0o077 == 0  # it holds prompts


def test_export_filters(con, judged, tmp_path):
    assert export_review(con, tmp_path / "f.csv", only="failed")["rows"] == 6
    assert export_review(con, tmp_path / "p.csv", only="passed", category="Order extraction")["rows"] == 8
    assert export_review(con, tmp_path / "l.csv", limit=3)["rows"] == 6
    with pytest.raises(PlanError, match="No judged replays in category"):
        export_review(con, tmp_path / "x.csv", category="nope")


def test_export_needs_a_judge_run(con, tmp_path):
    seed(con, labels(1, 2, 0))
    with pytest.raises(PlanError, match="plan judge"):
        export_review(con, tmp_path / "r.csv")


def test_human_verdicts_override_automatic_ones(con, judged, tmp_path):
    out = tmp_path / "review.csv"
    export_review(con, out)
    sheet = read_csv(out)
    triage = [r for r in sheet if r["category"] == "Ticket triage"]
    failed = [r for r in triage if r["auto_verdict"] == "fail"]
    passed = [r for r in triage if r["auto_verdict"] == "pass"]
    # The reviewer accepts two 'Shipping' answers (the ticket really was about shipping) and rejects one pass.
    failed[0]["human_verdict"], failed[0]["note"] = "pass", "ticket was about a parcel"
    failed[1]["human_verdict"] = "PASS"
    passed[0]["human_verdict"] = "fail"
    write_csv(out, sheet)
    result = import_review(con, out)
    assert (result["verdicts"], result["human_passed"], result["human_failed"], result["blank"]) == (3, 2, 1, 27)
    c = next(c for c in result["categories"] if c["category_id"] == 1)
    assert (c["n"], c["passed"], c["human_reviewed"]) == (20, 17, 3)
    stored = by_id({"categories": dicts(con, "select * from category_acceptance")}, 1)
    assert stored["passed"] == 17 and stored["human_reviewed"] == 3
    notes = dict(con.execute("select replay_id, note from human_reviews").fetchall())
    assert notes[int(failed[0]["replay_id"][1:])] == "ticket was about a parcel"
    assert scalar(con, "select count(*) from judgments where source = 'human'") == 3
    # A new judge run keeps applying them.
    again = by_id(judge(con, progress=False), 1)
    assert (again["passed"], again["human_reviewed"]) == (17, 3)
    # The next export shows them, and `clear` removes one.
    export_review(con, out)
    sheet = read_csv(out)
    assert sum(1 for r in sheet if r["human_verdict"]) == 3
    row = next(r for r in sheet if r["replay_id"] == failed[1]["replay_id"])
    row["human_verdict"] = "clear"
    write_csv(out, sheet)
    assert import_review(con, out)["cleared"] == 1
    assert by_id(judge(con, progress=False), 1)["passed"] == 16


def test_a_verdict_about_an_answer_that_changed_is_ignored(con, judged, tmp_path):
    out = tmp_path / "review.csv"
    export_review(con, out, only="failed", category=1)
    sheet = read_csv(out)
    for row in sheet:
        row["human_verdict"] = "pass"
    write_csv(out, sheet)
    target = int(sheet[0]["replay_id"][1:])
    con.execute("update replays set output_text = 'Billing' where id = ?", [target])
    result = import_review(con, out)
    assert result["stale"] == 1
    c = by_id(judge(con, progress=False), 1)
    assert c["human_reviewed"] == 3 and c["stale_reviews"] == 1 and c["passed"] == 20


def test_import_rejects_bad_verdicts_and_mangled_ids_with_the_line(con, judged, tmp_path):
    out = tmp_path / "review.csv"
    export_review(con, out, limit=2)
    sheet = read_csv(out)
    sheet[1]["human_verdict"] = "maybe"
    write_csv(out, sheet)
    with pytest.raises(InputError, match=r"review.csv:3: human_verdict 'maybe'"):
        import_review(con, out)
    sheet[1]["human_verdict"] = "fail"
    sheet[1]["replay_id"] = "1.00000E+18"
    write_csv(out, sheet)
    with pytest.raises(InputError, match="spreadsheet"):
        import_review(con, out)
    assert scalar(con, "select count(*) from human_reviews") == 0


def test_import_from_another_database_is_refused(con, judged, tmp_path):
    out = tmp_path / "review.csv"
    write_csv(out, [{"replay_id": "r123", "human_verdict": "pass", "note": ""}])
    with pytest.raises(PlanError, match="None of the 1 replay ids"):
        import_review(con, out)


def test_a_semicolon_sheet_saved_by_a_spreadsheet_imports(con, judged, tmp_path):
    out = tmp_path / "excel.csv"
    target = f"r{judged[0]}"
    out.write_text(f"replay_id;category;human_verdict;note\n{target};Ticket triage;fail;wrong tone\n", encoding="utf-8-sig")
    result = import_review(con, out)
    assert result["human_failed"] == 1


def test_cells_that_would_run_as_formulas_are_neutralised(con, tmp_path):
    seed(con, [{"category_id": 1, "task_type": "classification", "prompt": "=HYPERLINK(\"http://x\")",
                "frontier": "billing", "local": "@SUM(A1)"}])
    judge(con, progress=False)
    out = tmp_path / "r.csv"
    export_review(con, out)
    row = read_csv(out)[0]
    assert row["prompt"].startswith("'=") and row["local_answer"] == "'@SUM(A1)"


def test_sheets_are_redacted_unless_asked_not_to(con, tmp_path):
    secret = "AKIAIOSFODNN7EXAMPLE"
    seed(con, [{"category_id": 1, "task_type": "classification",
                "prompt": f"Contact jane.doe@example.com, key {secret}", "frontier": "billing", "local": "billing"}])
    judge(con, progress=False)
    export_review(con, tmp_path / "r.csv")
    text = (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    assert "jane.doe@example.com" not in text and secret not in text and "[EMAIL]" in text
    export_review(con, tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    assert "jane.doe@example.com" not in html and secret not in html
    export_review(con, tmp_path / "raw.csv", redact=False)
    assert "jane.doe@example.com" in (tmp_path / "raw.csv").read_text(encoding="utf-8-sig")


def test_html_sheet_escapes_log_text_and_round_trips(con, tmp_path):
    cases = labels(1, 3, 1)
    cases[0] = {**cases[0], "prompt": "<script>alert(1)</script> {{ 7*7 }} </table>"}
    ids = seed(con, cases)
    judge(con, progress=False)
    out = tmp_path / "review.html"
    summary = export_review(con, out)
    assert summary["format"] == "html" and summary["rows"] == 4
    html = out.read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in html and "49" not in html.split("<script>")[0]
    assert html.count('name="verdict"') == 4
    # What the page's "save with verdicts" button writes: the chosen option marked selected, the note as value.
    target = f"r{ids[3]}"
    start = html.index(f'data-replay-id="{target}"')
    row_end = html.index("</tr>", start)
    row = html[start:row_end]
    edited = row.replace('<option value="">—</option>'.replace(">—", ">—"), '<option value="">—</option>')
    edited = edited.replace('<option value="" selected>', '<option value="">').replace(
        '<option value="pass">', '<option value="pass" selected>').replace(
        'name="note" type="text" value=""', 'name="note" type="text" value="fine by me"')
    saved = tmp_path / "review-with-verdicts.html"
    saved.write_text(html[:start] + edited + html[row_end:])
    rows = read_sheet(saved)
    assert [r["human_verdict"] for r in rows if r["human_verdict"]] == ["pass"]
    result = import_review(con, saved)
    assert result["human_passed"] == 1
    assert con.execute("select note from human_reviews").fetchall() == [("fine by me",)]
    assert by_id(judge(con, progress=False), 1)["passed"] == 4


def test_the_csv_the_html_page_downloads_imports(con, judged, tmp_path):
    out = tmp_path / "review-verdicts.csv"
    out.write_text(f"replay_id,human_verdict,note,answer_id\r\nr{judged[0]},fail,\"too terse, \"\"really\"\"\",\r\n")
    result = import_review(con, out)
    assert result["human_failed"] == 1
    assert con.execute("select note from human_reviews").fetchall() == [('too terse, "really"',)]


def test_cli_export_and_import(db_path, con, tmp_path):
    seed(con, labels(1, 5, 1))
    judge(con, progress=False)
    con.close()
    out = tmp_path / "sheet.csv"
    runner = CliRunner()
    result = runner.invoke(cli, ["review", "export", "--out", str(out), "--db", db_path, "--only", "failed", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 1
    sheet = read_csv(out)
    sheet[0]["human_verdict"] = "pass"
    write_csv(out, sheet)
    result = runner.invoke(cli, ["review", "import", str(out), "--db", db_path, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["verdicts"] == 1
    assert payload["categories"][0]["passed"] == 6 and payload["categories"][0]["acceptance"] == 1.0
    result = runner.invoke(cli, ["judge", "--db", db_path, "--json"])
    assert json.loads(result.stdout)["categories"][0]["passed"] == 6
    bad = tmp_path / "bad.csv"
    bad.write_text("id_of_replay,verdict_x\n1,pass\n")
    result = runner.invoke(cli, ["review", "import", str(bad), "--db", db_path])
    assert result.exit_code != 0 and "needs the columns replay_id and human_verdict" in result.output
    assert "Traceback" not in result.output
