"""`make install` compiles what `plan ingest` imports: with PYTHONDONTWRITEBYTECODE=1 (many containers and CI
shells set it) Python never writes bytecode itself, and every run compiled ~400 modules again (1-3 s a run)."""

import os
import subprocess
import sys

CHECK = """
import importlib.util, io, contextlib, os, sys, tempfile, json
from pathlib import Path
from analyzer.cli import cli
from analyzer.warm_up import sample_line
with tempfile.TemporaryDirectory() as tmp:
    log = Path(tmp) / "calls.jsonl"
    log.write_text("\\n".join(sample_line(i) for i in range(3000)) + "\\n")
    with contextlib.redirect_stdout(io.StringIO()):
        cli.main(["ingest", "--db", str(Path(tmp) / "a.duckdb"), "--json", str(log)], prog_name="plan", standalone_mode=False)
import sysconfig
stdlib = sysconfig.get_paths()["stdlib"]  # compiled by Python's own install, in its own __pycache__
sources = [m.__file__ for m in list(sys.modules.values())
           if (getattr(m, "__file__", None) or "").endswith(".py") and not m.__file__.startswith(stdlib)]
print(json.dumps([f for f in sources if not os.path.exists(importlib.util.cache_from_source(f))]))
"""


def uncompiled_after_an_ingest(env) -> list[str]:
    out = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, check=True, timeout=300)
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def test_after_the_warm_up_an_ingest_finds_every_module_it_imports_compiled(tmp_path):
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(tmp_path / "pycache"), "HF_HUB_OFFLINE": "1"}
    assert len(uncompiled_after_an_ingest(env)) > 100  # nothing compiled yet: what the warm-up is for
    subprocess.run([sys.executable, "-m", "analyzer.warm_up"], env=env, check=True, timeout=300)
    assert uncompiled_after_an_ingest(env) == []
