"""plan report: one context, HTML and --json that agree, escaping, redaction, missing stages, screenshots."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

import report_data
from analyzer.cli import cli
from analyzer.report import FORMATTERS, build_context, chart_sources, render_html, render_text, stage_plan

SNAPSHOTS = Path(__file__).parent / "snapshots"
FIXED_NOW = dt.datetime(2026, 3, 13, 8, 30, tzinfo=dt.timezone.utc)
usd, pct, months = FORMATTERS["usd"], FORMATTERS["pct"], FORMATTERS["months"]


def _db(db_path, **kwargs):
    from analyzer.db import connect

    con = connect(db_path)
    report_data.build(con, **kwargs)
    con.close()
    return db_path


def _run(args, **kwargs):
    result = CliRunner().invoke(cli, args, catch_exceptions=False, **kwargs)
    return result


def _visible_text(html: str) -> str:
    """The page's text as a reader sees it (tags dropped, entities decoded)."""
    import html as html_lib

    text = re.sub(r"<style.*?</style>", " ", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", html_lib.unescape(text))


# ---------------------------------------------------------------------------------------------------------
# One context: HTML and JSON agree


def test_html_and_json_come_from_the_same_context(db_path, tmp_path):
    _db(db_path, categories=4)
    out = tmp_path / "report.html"
    result = _run(["report", "--db", db_path, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    context = json.loads(result.stdout)
    html = out.read_text()
    text = _visible_text(html)

    h = context["headline"]
    assert h["acceptance_measured"] is True
    for value in (h["monthly_spend_usd"], h["movable_monthly_spend_usd"], h["monthly_savings_usd"],
                  h["monthly_savings_low_usd"], h["monthly_savings_high_usd"]):
        assert usd(value) in text, value
    assert months(h["payback_months"]) in text
    assert f"{h['acceptable_categories']} of {h['top_categories']}" in text
    assert len(context["categories"]) == 4
    table = text[text.index("Recommendation by category"):]  # the headline's potential names categories too
    for c in context["categories"]:
        row = re.search(re.escape(c["name"]) + r"(.{0,400})", table).group(1)
        assert pct(c["share_of_spend"]) in row and usd(c["monthly_spend_usd"]) in row
        assert f"{pct(c['acceptance'])} {pct(c['ci_low'])}–{pct(c['ci_high'])}, n={c['n']}" in row
        assert usd(c["monthly_savings_usd"]) in row
    # The JSON is the whole context: rendering it again gives the same page, byte for byte.
    assert render_html(context) == html


def test_json_numbers_come_from_the_cost_model(con):
    from analyzer.cost import cost_model

    report_data.build(con, categories=3)
    context = build_context(con, now=FIXED_NOW)
    cost = cost_model(con)
    assert context["headline"]["monthly_spend_usd"] == pytest.approx(cost["monthly_spend_usd"])
    assert context["headline"]["monthly_savings_usd"] == pytest.approx(cost["monthly_savings_usd"])
    assert context["headline"]["payback_months"] == pytest.approx(cost["payback"]["payback_months"])
    by_id = {c["category_id"]: c for c in cost["categories"]}
    for c in context["categories"]:
        assert c["monthly_savings_usd"] == pytest.approx(by_id[c["category_id"]]["monthly_savings_usd"])
    # Spend by category adds up to the whole (top categories plus Other).
    total = sum(c["monthly_spend_usd"] for c in context["categories"] + context["other"])
    assert total == pytest.approx(context["headline"]["monthly_spend_usd"])
    assert json.loads(json.dumps(context)) == context


def test_hardware_choice_changes_payback(con):
    report_data.build(con, categories=3)
    reports = {name: build_context(con, hardware=name, now=FIXED_NOW) for name in ("desktop-24gb", "mac-studio-128gb")}
    mac = reports["mac-studio-128gb"]
    assert mac["headline"]["hardware"] == "mac-studio-128gb" and mac["charts"]["payback"]["hardware"] == "mac-studio-128gb"
    assert reports["desktop-24gb"]["headline"]["payback_months"] != mac["headline"]["payback_months"]
    text = _visible_text(render_html(mac, images={}))
    assert "mac-studio-128gb (chosen)" in text and f"Payback on mac-studio-128gb {months(mac['headline']['payback_months'])}" in text


# ---------------------------------------------------------------------------------------------------------
# Snapshot


def _snapshot_context(con):
    context = build_context(con, now=FIXED_NOW)
    context["provenance"]["versions"] = {"plan-analyzer": "VERSION", "python": "VERSION"}
    return context


def test_rendered_html_matches_snapshot(con, tmp_path):
    report_data.build(con, categories=3, hostile=True)
    context = _snapshot_context(con)
    # Charts are checked elsewhere; the snapshot pins the page around them.
    html = render_html(context, images={name: f"cid:{name}" for name in ("spend_by_category", "acceptance", "payback", "capacity")})
    snapshot = SNAPSHOTS / "report_3_categories.html"
    if os.environ.get("PLAN_UPDATE_SNAPSHOTS"):
        snapshot.parent.mkdir(exist_ok=True)
        snapshot.write_text(html)
    assert snapshot.exists(), f"{snapshot} is missing: run PLAN_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_report.py"
    expected = snapshot.read_text()
    if html != expected:
        (tmp_path / "actual.html").write_text(html)
        pytest.fail(
            f"The rendered report differs from {snapshot}. Diff it against {tmp_path / 'actual.html'}; "
            "if the change is intended, run PLAN_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_report.py."
        )


# ---------------------------------------------------------------------------------------------------------
# Escaping and redaction


def test_log_text_is_escaped_everywhere(con):
    report_data.build(con, categories=2, hostile=True)
    context = build_context(con, now=FIXED_NOW)
    html = render_html(context)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(" in html
    assert html.count("<table") == html.count("</table>")
    assert "&lt;/table&gt;" in html
    assert "TPL-{{ 7*7 }}-END" in html and "TPL-49-END" not in html
    # A check's reason carrying markup is shown as text, not bold.
    assert "&lt;b&gt;got&lt;/b&gt;" in html and "<b>got</b>" not in html
    # The plain-text part is not HTML: it shows the name as logged (redacted), and still evaluates nothing.
    text = render_text(context)
    assert "Triage [AWS_KEY] </table> <script>x</script> TPL-{{ 7*7 }}-END $5 & $x^2" in text
    assert "TPL-49-END" not in text


def test_secrets_never_reach_html_text_or_json(db_path, tmp_path):
    _db(db_path, categories=2, hostile=True)
    out = tmp_path / "report.html"
    result = _run(["report", "--db", db_path, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    context = json.loads(result.stdout)
    html = out.read_text()
    assert any(c["name"].startswith("Triage [AWS_KEY]") for c in context["cost"]["categories"])
    for blob in (html, result.stdout, render_text(context)):
        assert report_data.SECRET_EMAIL not in blob
        assert report_data.SECRET_AWS not in blob
        assert "[EMAIL]" in blob
    assert "[AWS_KEY]" in html
    kinds = {k["kind"]: k["requests"] for k in context["privacy"]["kinds"]}
    assert kinds == {"EMAIL": 2, "AWS_KEY": 2}
    assert stat.S_IMODE(out.stat().st_mode) & 0o077 != 0o077  # a normal, shareable file


def test_no_redact_shows_raw_text_in_an_owner_only_file(db_path, tmp_path):
    _db(db_path, categories=1, hostile=True)
    out = tmp_path / "raw.html"
    result = _run(["report", "--db", db_path, "--out", str(out), "--no-redact"])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert report_data.SECRET_EMAIL in html
    assert "Off (--no-redact)" in html
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_no_redact_is_refused_with_email(db_path, tmp_path):
    _db(db_path, categories=1)
    result = CliRunner().invoke(
        cli, ["report", "--db", db_path, "--out", str(tmp_path / "r.html"), "--no-redact", "--email", "a@example.com", "--smtp-host", "127.0.0.1"]
    )
    assert result.exit_code != 0
    assert "--no-redact cannot be used with --email" in result.output
    assert not (tmp_path / "r.html").exists()


# ---------------------------------------------------------------------------------------------------------
# Readable with 1 and 10 categories; long prompts truncated


@pytest.mark.parametrize("n", [1, 10])
def test_report_is_complete_with_one_and_ten_categories(con, n):
    report_data.build(con, categories=n, long_prompts=True)
    context = build_context(con, now=FIXED_NOW)
    assert len(context["categories"]) == n
    sources, images = chart_sources(context)
    html = render_html(context, images=sources)
    text = _visible_text(html)
    sections = ["Headline", "Recommendation by category", "Charts", "Category by category", "Privacy findings",
                "Hardware assumptions", "Methodology", "Provenance"]
    positions = [text.index(s) for s in sections]
    assert positions == sorted(positions), "sections out of order"
    for i, c in enumerate(context["categories"], start=1):
        assert f"{i}. {c['name']}" in text
        assert 2 <= len(c["examples"]) <= 3
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == 4
    # Long prompts are cut with an ellipsis, never shown whole.
    assert "TAIL-MARKER" not in html
    assert any(e["prompt"].endswith("…") for c in context["categories"] for e in c["examples"])
    # The bar charts grow with the number of categories instead of squashing them.
    from PIL import Image
    import io

    bars = n + 1  # and Other
    height = Image.open(io.BytesIO(images["spend_by_category"])).size[1]
    assert height / bars >= 40


def test_page_is_table_based_with_inline_styles_and_no_script(con):
    report_data.build(con, categories=2)
    html = render_html(build_context(con, now=FIXED_NOW))
    assert "<script" not in html.lower() and "javascript:" not in html.lower()
    assert 'class="grid" ' in html and 'style="' in html
    # css-inline moved the rules onto the elements; only the media queries stay in a <style> block.
    styles = re.findall(r"<style>(.*?)</style>", html, flags=re.S)
    assert len(styles) == 1 and styles[0].strip().startswith("@media")
    assert 'role="presentation"' in html


# ---------------------------------------------------------------------------------------------------------
# Missing and stale stages


def test_without_replays_the_report_shows_the_ceiling(db_path, tmp_path):
    _db(db_path, categories=3, measured=False)
    out = tmp_path / "report.html"
    result = _run(["report", "--db", db_path, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    context = json.loads(result.stdout)
    h = context["headline"]
    assert context["acceptance_measured"] is False
    assert h["monthly_savings_usd"] is None and h["acceptable_categories"] is None
    assert h["ceiling_monthly_savings_usd"] > 0
    assert context["notices"][0].startswith("Acceptance not yet measured: run plan replay")
    assert [a["stage"] for a in context["provenance"]["report_actions"]] == ["replay"]
    text = _visible_text(out.read_text())
    assert "Acceptance not yet measured: run plan replay" in text
    assert f"≤ {usd(h['ceiling_monthly_savings_usd'])}" in text
    assert all(c["decision"] == "not_measured" for c in context["categories"])
    assert all(e["local"] is None and e["frontier"] for c in context["categories"] for e in c["examples"])


def test_stage_plan_detects_missing_and_stale_stages(con):
    report_data.build(con, categories=2)
    assert stage_plan(con) == {"privacy": None, "categorize": None, "replay": None, "judge": None}
    con.execute("update replays set finished_at = ?", [report_data.JUDGED_AT + dt.timedelta(hours=1)])
    assert stage_plan(con)["judge"] == "replays finished after the last judgement"
    con.execute("update requests set ingested_at = ? where id = ?", [report_data.JUDGED_AT, report_data._request_id(1, 0)])
    plan = stage_plan(con)
    assert plan["categorize"] == "requests were ingested after the categories were built"
    con.execute("delete from privacy_scans where request_id = ?", [report_data._request_id(1, 0)])
    assert stage_plan(con)["privacy"] == "some requests have not been scanned for sensitive data"


@pytest.mark.slow
def test_ingest_only_database_runs_privacy_and_categorize(con):
    """Only requests: the report scans for sensitive data and categorizes before rendering the ceiling."""
    from analyzer.db import scalar

    report_data.build(con, categories=3, measured=False, hostile=True)
    for table in ("request_categories", "categories", "privacy_scans", "privacy_findings"):
        con.execute(f"delete from {table}")
    context = build_context(con, now=FIXED_NOW)
    actions = {a["stage"]: a["action"] for a in context["provenance"]["report_actions"]}
    assert actions["privacy"] == "ran" and actions["replay"] == "missing"
    assert scalar(con, "select count(*) from privacy_scans") == scalar(con, "select count(*) from requests")
    assert {k["kind"] for k in context["privacy"]["kinds"]} >= {"EMAIL", "AWS_KEY"}
    assert actions["categorize"] in ("ran", "unavailable")
    if actions["categorize"] == "ran":
        assert scalar(con, "select count(*) from categories") > 0
        assert context["categories"]
    assert context["acceptance_measured"] is False
    assert "Acceptance not yet measured: run plan replay" in _visible_text(render_html(context))


def test_empty_database_says_what_to_do(db_path):
    from analyzer.db import connect

    connect(db_path).close()
    result = CliRunner().invoke(cli, ["report", "--db", db_path, "--out", os.devnull])
    assert result.exit_code != 0
    assert "Run `plan ingest PATH` first" in result.output


def test_a_mistyped_db_path_is_named_and_not_created(tmp_path):
    missing = tmp_path / "typo" / "plan.duckdb"
    for command in (["report", "--out", os.devnull], ["categorize"], ["judge"], ["replay"], ["privacy"]):
        result = CliRunner().invoke(cli, [command[0], "--db", str(missing), *command[1:]])
        assert result.exit_code == 1, (command, result.output)
        assert f"No database at {missing}" in result.output
    assert not missing.parent.exists()


# ---------------------------------------------------------------------------------------------------------
# What a reader sees: a real browser renders the page


CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or "") if p and os.path.exists(p)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install -y chromium)")
def test_headless_chromium_renders_the_report(con, tmp_path):
    import numpy as np
    from PIL import Image

    report_data.build(con, categories=10, hostile=True, long_prompts=True)
    page = tmp_path / "report.html"
    page.write_text(render_html(build_context(con, now=FIXED_NOW)))
    shot = tmp_path / "shot.png"
    subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=760,2400", f"--screenshot={shot}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (2400, 760)
    # Not blank: the dark banner, plenty of dark text, and the green of a local decision or chart bar.
    banner = pixels[20:60, 40:400]
    assert (abs(banner - [11, 61, 46]).sum(axis=2) < 30).mean() > 0.5
    dark = (pixels.sum(axis=2) < 200).mean()
    assert dark > 0.01
    assert (abs(pixels - [26, 127, 55]).sum(axis=2) < 40).sum() > 200


def test_nothing_ready_to_move_is_said_plainly(con):
    report_data.build(con, categories=3)
    con.execute("update category_acceptance set decision = 'frontier'")
    context = build_context(con, now=FIXED_NOW)
    assert context["headline"]["movable_monthly_spend_usd"] == 0
    assert context["headline"]["decisions"]["frontier"] == 3
    text = _visible_text(render_html(context, images={}))
    assert f"None of the {usd(context['headline']['monthly_spend_usd'])} a month on API calls is ready to move yet" in text


def test_a_category_with_arbitrary_boundaries_says_so(con):
    """Generic traffic split by content moves between refits: the report says its share is approximate."""
    report_data.build(con, categories=3)
    first, second = [r[0] for r in con.execute(
        "select category_id from categories where not is_other order by spend_rank limit 2").fetchall()]
    con.execute("update categories set stability = 1.0, share_of_spend_refit_low = share_of_spend, "
                "share_of_spend_refit_high = share_of_spend where category_id = ?", [first])
    con.execute("update categories set stability = 0.41, share_of_spend_refit_low = 0.048, "
                "share_of_spend_refit_high = 0.121 where category_id = ?", [second])
    context = build_context(con, now=FIXED_NOW)
    flagged = [c["category_id"] for c in context["categories"] if c["boundaries_vary"]]
    assert flagged == [second]
    html = _visible_text(render_html(context, images={}))
    assert html.count("Boundaries vary.") == 1
    assert f"share of spend between {pct(0.048)} and {pct(0.121)} (stability 0.41)" in html
    assert f"Boundaries vary: refits move its share of spend between {pct(0.048)} and {pct(0.121)}" in render_text(context)


# ---------------------------------------------------------------------------------------------------------
# What was measured, next steps and the legend


def test_headline_names_the_replayed_model_and_flags_the_bundled_stand_in(con):
    report_data.build(con, categories=3)
    con.execute("update replays set model = 'SmolLM2-135M-Instruct.Q4_1', endpoint = 'embedded'")
    con.execute("update category_acceptance set model = 'SmolLM2-135M-Instruct.Q4_1'")
    context = build_context(con, now=FIXED_NOW)
    h = context["headline"]
    assert h["replayed_model"] == "SmolLM2-135M-Instruct.Q4_1" and h["stand_in"] is True
    assert "SmolLM2-135M-Instruct.Q4_1 (the bundled stand-in" in h["measured_sentence"]
    assert "2 categories judged by objective checks, 1 by similarity alone" in h["measured_sentence"]
    assert h["measured"]["stand_in_note"].startswith("SmolLM2-135M-Instruct.Q4_1 is the bundled 135M-parameter stand-in")
    steps = {s["step"]: s for s in context["next_steps"]}
    assert list(steps) == ["pull", "replay", "judge", "review"]
    assert steps["pull"]["command"] == "ollama pull qwen3.6:35b-a3b"
    replay = steps["replay"]
    # A new model: every category needs its own sample (62 for ±10 points, capped by what the category has).
    assert replay["command"] == "plan replay --endpoint http://localhost:11434/v1 --model qwen3.6:35b-a3b --per-category 62"
    assert replay["calls"] == 60 + 40 + 24 and replay["hours_at_measured_throughput"] > 0
    assert "measured for SmolLM2-135M-Instruct.Q4_1" in replay["estimate"] and "assumed for desktop-24gb" in replay["estimate"]
    assert steps["judge"]["command"].endswith("--judge-model gpt-oss:20b")
    text = _visible_text(render_html(context, images={}))
    headline = text[text.index("Headline"):text.index("Recommendation by category")]
    assert "Measured with SmolLM2-135M-Instruct.Q4_1" in headline and "Stand-in model:" in headline
    assert "Next steps" in headline and "plan replay --endpoint http://localhost:11434/v1" in headline
    plain = render_text(context)
    assert "NEXT STEPS" in plain and "$ ollama pull qwen3.6:35b-a3b" in plain and "Measured with SmolLM2" in plain


def test_next_steps_and_legend_are_in_report_json(db_path, tmp_path):
    _db(db_path, categories=2)
    result = _run(["report", "--db", db_path, "--out", str(tmp_path / "r.html"), "--json"])
    context = json.loads(result.stdout)
    assert [d["decision"] for d in context["legend"]] == ["local", "cascade", "local-for-compliance", "frontier",
                                                          "needs_judge", "not_measured"]
    assert all(d["label"] and d["meaning"] for d in context["legend"])
    assert [s["step"] for s in context["next_steps"]] == ["replay", "review"]  # the reference model was replayed
    assert all({"order", "title", "command", "why", "estimate"} <= set(s) for s in context["next_steps"])
    assert context["headline"]["stand_in"] is False and context["headline"]["replayed_model"] == "qwen3.6:35b-a3b"
    text = _visible_text((tmp_path / "r.html").read_text())
    for d in context["legend"]:
        assert f"{d['label']} {d['meaning']}" in text


def test_a_category_too_long_for_the_window_gets_a_step_with_the_window_its_prompts_need(con):
    report_data.build(con, categories=2)
    con.execute("""update category_acceptance set decision = 'not_measured', n = 0, passed = 0, acceptance = null,
                   errors_json = '{"calls": 2, "transient": 0, "deterministic": 2, "kinds": {"context_exceeded": 2},
                   "example": "The prompt (11,472 input tokens logged) is longer than the context window"}'
                   where category_id = 1""")
    con.execute("update requests set input_tokens = 11472 where id = (select min(request_id) from request_categories "
                "where category_id = 1)")
    steps = [s for s in build_context(con, now=FIXED_NOW)["next_steps"] if s["step"] == "fix_errors"]
    assert len(steps) == 1 and "16,384-token context window" in steps[0]["title"]
    assert steps[0]["command"].endswith("--context-tokens 16384 --category 1")  # 11,472 + room for the answer
    assert "OLLAMA_CONTEXT_LENGTH=16384" in steps[0]["why"]
    con.execute("""update category_acceptance set errors_json = '{"calls": 2, "transient": 2, "deterministic": 0,
                   "kinds": {"timeout": 2}, "example": "timed out"}' where category_id = 1""")
    steps = [s for s in build_context(con, now=FIXED_NOW)["next_steps"] if s["step"] == "fix_errors"]
    assert [s["command"] for s in steps] == ["plan replay"]  # a retry is what a timeout needs


def test_failed_calls_and_downgrades_show_where_acceptance_is_shown(con):
    report_data.build(con, categories=2)
    con.execute("""update category_acceptance set errors_json = '{"calls": 3, "transient": 1, "deterministic": 2,
                   "example": "HTTP 400 from endpoint: prompt too long"}',
                   downgrades_json = '{"response_format:json_schema->json_object": 5}', cut_short = 4
                   where category_id = 1""")
    context = build_context(con, now=FIXED_NOW)
    c = next(c for c in context["categories"] if c["category_id"] == 1)
    assert c["errors"]["calls"] == 3 and c["downgrades"][0]["calls"] == 5
    text = _visible_text(render_html(context, images={}))
    assert "3 failed calls left out; 5 downgraded; 4 cut at the output-token cap" in text
    assert "json_schema sent as JSON mode with the schema in the system message (5)" in text
