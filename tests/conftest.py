import os
from pathlib import Path

import pytest
from openai_stub import openai_stub  # noqa: F401  (the in-process OpenAI-compatible server fixture, for every module)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_EVAL = REPO.parent / "shared" / "eval"
IN_REPO_EVAL = FIXTURES / "eval"  # small stand-ins written for the tests, in the same layout (see its README)
EVAL_SOURCES = ("in-repo", "shared/eval")


def eval_source(name: str) -> Path:
    """The folder of evaluation data a test reads. The in-repo stand-ins always exist, so those tests run in a bare
    clone; the real records in ../shared/eval are an extra run, skipped (only that run) where the folder is absent."""
    if name == "in-repo":
        return IN_REPO_EVAL
    if not SHARED_EVAL.exists():
        pytest.skip("../shared/eval is not beside this checkout: this test ran on the in-repo stand-ins only")
    return SHARED_EVAL


@pytest.fixture(autouse=True)
def sql_route_for_small_files(request, monkeypatch):
    """The tests' log files are small, which a user's would take the Python route for (``tuning.SQL_MIN_BYTES``):
    here they take the SQL route too, so that the tests written for it keep testing it, unless marked
    ``user_routes``. Both routes store the same rows (test_ingest_sql_route.py, and
    test_small_files_take_the_python_route_and_store_the_same_rows)."""
    from analyzer.ingest import tuning

    if request.node.get_closest_marker("user_routes") is None:
        monkeypatch.setattr(tuning, "SQL_MIN_BYTES", 0)


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "plan.duckdb")


@pytest.fixture
def con(db_path):
    from analyzer.db import connect

    connection = connect(db_path)
    yield connection
    connection.close()


@pytest.fixture
def fixtures():
    return FIXTURES


@pytest.fixture(params=EVAL_SOURCES)
def eval_dir(request):
    """Evaluation data: the in-repo stand-ins, and ../shared/eval as an extra run where it exists."""
    return eval_source(request.param)
