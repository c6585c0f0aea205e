"""Time to first report: each step of `make demo` on sample_logs/, timed, with the machine's load beside it.

    python benchmarks/bench_demo.py                 # a fresh database in a temp dir, then the same steps again
    python benchmarks/bench_demo.py --once --json   # one pass, machine-readable

The steps are the Makefile's demo recipe (read from it, so the two cannot drift apart), run as `make demo` runs
them: one `plan` process per step, against a database of its own. The second pass is the re-run of `make demo`
on the same database (ingest skips stored records, vectors and answers are reused). Each step reports wall
seconds, CPU seconds (user + sys of the step's processes, the embedded model server included) and the 1-minute
load average before and after: on a shared machine, wall time alone says little, so compare CPU seconds and
ratios against a baseline taken in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def demo_steps(makefile: Path = ROOT / "Makefile") -> list[list[str]]:
    """The `$(PLAN) ...` lines of the Makefile's demo recipe, as argument lists for `plan`."""
    steps, in_demo = [], False
    for line in makefile.read_text().splitlines():
        if re.match(r"^demo\s*:", line):
            in_demo = True
            continue
        if in_demo and line and not line.startswith("\t"):
            break
        command = line.strip()
        if in_demo and command.startswith("$(PLAN) "):
            steps.append(shlex.split(command.removeprefix("$(PLAN) ")))
    if not steps:
        raise SystemExit(f"no `$(PLAN) ...` step found in the demo recipe of {makefile}")
    return steps


def run_step(args: list[str], workdir: Path, env: dict, name: str = "first") -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", "from analyzer.cli import main; main()", *args], cwd=workdir,
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    (workdir / f"{name}-{args[0]}.stderr").write_text(proc.stderr)  # to read what a user would see
    if proc.returncode != 0:
        raise SystemExit(f"plan {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return {"step": args[0], "command": "plan " + " ".join(args), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
            "stderr_lines": len([x for x in proc.stderr.splitlines() if x.strip()])}


def run_pass(steps: list[list[str]], workdir: Path, env: dict, name: str) -> list[dict]:
    out = []
    for args in steps:
        result = run_step(args, workdir, env, name) | {"pass": name}
        print(f"{name:>6} {result['step']:<11} {result['wall_s']:>7.1f} s wall {result['cpu_s']:>7.1f} s CPU  "
              f"load {result['load_before']:.1f} -> {result['load_after']:.1f}", file=sys.stderr, flush=True)
        out.append(result)
    return out


def table(results: list[dict]) -> str:
    lines = ["| pass | step | wall s | CPU s | load avg before -> after |", "|---|---|---:|---:|---|"]
    for r in results:
        lines.append(f"| {r['pass']} | `{r['command']}` | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                     f"{r['load_before']:.1f} -> {r['load_after']:.1f} |")
    for name in dict.fromkeys(r["pass"] for r in results):
        mine = [r for r in results if r["pass"] == name]
        lines.append(f"| {name} | **total** | **{sum(r['wall_s'] for r in mine):.1f}** | "
                     f"**{sum(r['cpu_s'] for r in mine):.1f}** | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--once", action="store_true", help="only the first pass (no re-run)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--keep", type=Path, default=None, help="work in this directory and keep it")
    args = parser.parse_args()
    steps = demo_steps()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="plan-bench-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "sample_logs").exists() or (workdir / "sample_logs").symlink_to(ROOT / "sample_logs")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PLAN_DB": str(workdir / "plan.duckdb"),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    (workdir / "plan.duckdb").unlink(missing_ok=True)
    results = run_pass(steps, workdir, env, "first")
    if not args.once:
        results += run_pass(steps, workdir, env, "re-run")
    print(json.dumps(results, indent=2) if args.json else table(results))


if __name__ == "__main__":
    main()
