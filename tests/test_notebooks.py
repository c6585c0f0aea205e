"""The notebooks run in a real Jupyter kernel (nbclient, through `plan notebook --run`) against a database
built from sample_logs/: ingest, categorize (MiniLM on a sample, k=8), replay against the in-process stub
server, judge. A cell that errors fails the build. They also write nothing, redact prompts, show the
database's own numbers, and are committed with their outputs stripped."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from openai_stub import OpenAIStub, Reply, default_answer, last_user_text

from analyzer import explore
from analyzer.categorize import CategorizeSettings, categorize
from analyzer.cli import cli
from analyzer.cost import cost_model
from analyzer.db import connect, rows, scalar
from analyzer.errors import PlanError
from analyzer.ingest import ingest_paths
from analyzer.judge import JudgeSettings, judge
from analyzer.privacy import find

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_logs"
K = 8


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    """The pipeline on sample_logs/. The stub answers like the frontier for two categories in three and
    with an echo otherwise, so the judge finds some categories local and some not."""
    path = tmp_path_factory.mktemp("notebooks") / "plan.duckdb"
    con = connect(str(path))
    try:
        ingest_paths(con, [str(SAMPLE)])
        categorize(con, CategorizeSettings(k=K, top=K, sample_size=150, exact_limit=150, heavy_limit=0), progress=False)
        answers = {
            prompt: (response, cid)
            for prompt, response, cid in rows(con, "select r.prompt_text, r.response_text, rc.category_id from requests r "
                                                   "join request_categories rc on rc.request_id = r.id")
        }

        def responder(body):
            response, cid = answers.get(last_user_text(body), (None, 0))
            return Reply(content=response) if response and cid % 3 else default_answer(body)

        with OpenAIStub(responder, models=None) as stub:
            from analyzer.replay import ReplaySettings, replay

            replay(con, ReplaySettings.resolve({}, endpoint=stub.url, model="stub-model", per_category=8), progress=False)
        judge(con, JudgeSettings.resolve({}, target=0.6), progress=False)
    finally:
        con.close()
    return path


@pytest.fixture(scope="module")
def executed(sample_db, tmp_path_factory):
    before = _sha256(sample_db)
    out = tmp_path_factory.mktemp("executed")
    result = CliRunner().invoke(cli, ["notebook", "--run", "--db", str(sample_db), "--out", str(out), "--json",
                                      "--timeout", "300"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    return {r["notebook"]: r for r in payload["results"]}, before


def _outputs(path: str) -> tuple[nbformat.NotebookNode, str]:
    nb = nbformat.read(path, as_version=4)
    text = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text.append(out.get("text", ""))
            text.append((out.get("data") or {}).get("text/plain", ""))
    return nb, "\n".join(text)


def test_every_notebook_runs_every_cell_without_error(executed):
    results, _ = executed
    assert list(results) == list(explore.NOTEBOOKS)
    for name, r in results.items():
        nb, _ = _outputs(r["output"])
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.execution_count is not None for c in code), name
        errors = [o for c in code for o in c.outputs if o.output_type == "error"]
        assert not errors, (name, errors)
        assert r["images"] >= 2, f"{name} drew {r['images']} charts"


def test_notebooks_write_nothing(executed, sample_db):
    _, before = executed
    assert _sha256(sample_db) == before
    assert not Path(str(sample_db) + ".wal").exists()


def test_notebooks_show_the_databases_own_numbers(executed, sample_db):
    results, _ = executed
    con = connect(str(sample_db), read_only=True)
    try:
        requests = scalar(con, "select count(*) from requests")
        cost = cost_model(con)
        stored_k = scalar(con, "select max(k) from categories")
    finally:
        con.close()
    _, first = _outputs(results["01_explore_workload.ipynb"]["output"])
    assert f"{requests:,} requests" in first
    assert "of 2,907 distinct prompts have all-MiniLM-L6-v2 vectors" in first  # the embedded sample, said so
    _, second = _outputs(results["02_tune_categories.ipynb"]["output"])
    assert f"k stored in the database: {stored_k}" in second and "--k auto would choose k =" in second
    assert "Nothing written." in second
    _, third = _outputs(results["03_savings_what_if.ipynb"]["output"])
    assert f"Monthly API spend ${cost['monthly_spend_usd']:,.2f}" in third
    assert cost["scenarios"]["framing"]["sentence"] in third


def _emails(sample_db) -> tuple[set[str], int]:
    """Email addresses in the sample's prompts, and the category holding most requests that carry one."""
    con = connect(str(sample_db), read_only=True)
    try:
        found = rows(con, "select r.prompt_text, rc.category_id from requests r "
                          "join request_categories rc on rc.request_id = r.id where r.prompt_text like '%@%'")
    finally:
        con.close()
    emails, per_category = set(), {}
    for text, cid in found:
        hits = {text[s:e] for s, e, kind in find(text) if kind == "EMAIL"}
        emails |= hits
        if hits and cid:
            per_category[cid] = per_category.get(cid, 0) + 1
    return emails, max(per_category, key=per_category.get)


def test_prompts_shown_are_redacted(executed, sample_db, tmp_path):
    results, _ = executed
    emails, category = _emails(sample_db)
    assert emails, "sample_logs carries email addresses in prompts"
    for r in results.values():
        _, text = _outputs(r["output"])
        assert not [e for e in emails if e in text], r["notebook"]

    def browse(nb):
        nb.cells[1].source = nb.cells[1].source.replace("CATEGORY = None", f"CATEGORY = {category}")

    [run] = explore.run_notebooks(sample_db, names=["01"], out_dir=tmp_path, edit=browse)
    _, text = _outputs(run["output"])
    assert f"[{category}] " in text and "[EMAIL]" in text
    assert not [e for e in emails if e in text]


def test_explore_and_what_if_run_before_categorize(tmp_path):
    path = tmp_path / "ingested.duckdb"
    con = connect(str(path))
    ingest_paths(con, [str(SAMPLE)])
    con.close()
    results = explore.run_notebooks(path, names=["01", "03"], out_dir=tmp_path / "out")
    _, first = _outputs(results[0]["output"])
    assert "No categories yet: run `plan categorize`" in first
    con = connect(str(path), read_only=True)
    try:
        cost = cost_model(con)
    finally:
        con.close()
    assert cost["plan_scenario"] == "ceiling"
    _, third = _outputs(results[1]["output"])
    assert cost["scenarios"]["framing"]["sentence"] in third and "Plan (ceiling)" in third


def test_a_failing_cell_fails_the_run_and_names_it(sample_db, tmp_path):
    def break_it(nb):
        nb.cells.insert(2, nbformat.v4.new_code_cell("raise ValueError('planted failure')"))

    with pytest.raises(PlanError, match=r"03_savings_what_if.ipynb failed in cell 2: ValueError: planted failure"):
        explore.run_notebooks(sample_db, names=["03"], out_dir=tmp_path, edit=break_it)
    assert (tmp_path / "03_savings_what_if.ipynb").exists()  # the executed copy, with the traceback


def test_tune_notebook_writes_only_when_asked(sample_db, tmp_path):
    import shutil

    copy = tmp_path / "plan.duckdb"
    shutil.copy(sample_db, copy)

    def ask_to_write(nb):
        settings = nb.cells[1]
        assert "WRITE = False" in settings.source and "K_B = None" in settings.source
        settings.source = settings.source.replace("WRITE = False", "WRITE = True").replace("K_B = None", "K_B = 5")

    explore.run_notebooks(copy, names=["02"], out_dir=tmp_path / "out", edit=ask_to_write)
    con = connect(str(copy), read_only=True)
    try:
        assert scalar(con, "select max(k) from categories") == 5
        assert scalar(con, "select count(distinct cluster) from request_categories where cluster >= 0") == 5
    finally:
        con.close()


def test_committed_notebooks_have_outputs_stripped():
    for path in explore.notebook_paths():
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata.kernelspec.name == "python3", path.name
        assert "widgets" not in nb.metadata, path.name
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs before committing"
            assert not {"execution", "scrolled", "collapsed"} & set(cell.metadata), path.name


def test_notebooks_default_to_the_database_make_demo_writes():
    assert (explore.notebooks_dir() / explore.NOTEBOOK_DB_DEFAULT).resolve() == REPO / "plan.duckdb"
    for path in explore.notebook_paths():
        settings = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert f'DB = os.environ.get("PLAN_DB", "{explore.NOTEBOOK_DB_DEFAULT}")' in settings.source, path.name
