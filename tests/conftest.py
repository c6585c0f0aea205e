import os
from pathlib import Path

import pytest
from openai_stub import openai_stub  # noqa: F401  (the in-process OpenAI-compatible server fixture, for every module)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_EVAL = REPO.parent / "shared" / "eval"


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


@pytest.fixture
def shared_eval():
    if not SHARED_EVAL.exists():
        pytest.skip("../shared/eval is not beside this checkout")
    return SHARED_EVAL
