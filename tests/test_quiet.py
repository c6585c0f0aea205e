"""Third-party noise stays off stderr: a command that loads the embedder prints only plan's own sentences there
(no "Loading weights" or "Batches" bars, no library warnings or log lines), even with every warning shown."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pyarrow as pa
import pytest

from analyzer.db import connect, insert_arrow

TOPICS = {
    "billing": ["Why was I charged twice for my plan in {m}?", "Please refund the duplicate charge from {m}.",
                "My invoice for {m} shows a fee I do not recognise."],
    "travel": ["Book a flight to {c} next Friday, window seat.", "Find a hotel in {c} near the station for two nights.",
               "What is the cheapest train to {c} on Monday morning?"],
}
FILLERS = {"m": ["March", "April", "May", "June"], "c": ["Denver", "Lisbon", "Osaka", "Nairobi"]}
# plan categorize's own sentences on stderr (the CLI's say); anything else is someone else's noise
OURS = re.compile(r"^(Clustering |Embedding |Embedded |Assigning |Note: |\d+ templates? (were|was) split )")
THIRD_PARTY_ENV = ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY", "TRANSFORMERS_NO_ADVISORY_WARNINGS",
                   "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "PYTHONWARNINGS", "TQDM_DISABLE")


def _database(path: str) -> None:
    records, i = [], 1
    for topic, templates in TOPICS.items():
        for template in templates:
            for fill in FILLERS["m" if topic == "billing" else "c"]:
                records.append({"id": i, "prompt_text": template.format(m=fill, c=fill), "response_text": "ok",
                                "cost_usd": 0.001, "model": "gpt-4o-mini", "input_tokens": 20, "output_tokens": 2})
                i += 1
    con = connect(path)
    insert_arrow(con, "requests", pa.Table.from_pylist(records))
    con.close()


@pytest.mark.slow
def test_a_command_that_loads_the_embedder_prints_only_our_own_lines_on_stderr(tmp_path):
    db = str(tmp_path / "plan.duckdb")
    _database(db)
    env = {k: v for k, v in os.environ.items() if k not in THIRD_PARTY_ENV}
    env["PLAN_CACHE_DIR"] = str(tmp_path / "cache")
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", "from analyzer.cli import main; main()",
         "categorize", "--k", "2", "--top", "2", "--db", db],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "billing" in result.stdout.lower() or "charge" in result.stdout.lower()  # it did categorize
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "categorize says what it is doing"
    noise = [line for line in lines if not OURS.match(line)]
    assert not noise, "third-party output on stderr:\n" + "\n".join(noise)
