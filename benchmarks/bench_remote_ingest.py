"""Ingest from object storage against the same objects on local disk: rows per second and peak memory.

    python benchmarks/bench_remote_ingest.py                        # 100k Bedrock records, 200 per object
    python benchmarks/bench_remote_ingest.py --records 1000000 --per-object 2000
    python benchmarks/bench_remote_ingest.py --records 100000 --repeat 3 --json

The data: seeded Bedrock model-invocation logs (Converse records, ~1 KB each before gzip) written as Bedrock's S3
delivery lays them out, ``AWSLogs/<account>/BedrockModelInvocationLogs/<region>/yyyy/mm/dd/hh/*.json.gz``, once
into benchmarks/data/ (git-ignored). The same objects are uploaded to moto's S3 server, started here as its own
process on 127.0.0.1 (it serves from memory, so the "network" is loopback: what this measures is plan's own cost
of listing, sniffing and downloading objects, not a link's bandwidth).

Each run is the real CLI in a fresh process on a fresh database; wall time, CPU and peak RSS of that process are
measured from outside (the S3 server's own CPU is reported beside it: on 2 shared cores it competes). Then the
remote run is repeated on its database: every object is unchanged, so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = HERE / "data"
ACCOUNT = "123456789012"
PREFIX = f"AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/us-east-1"
MODELS = ["anthropic.claude-3-5-haiku-20241022-v1:0", "amazon.nova-lite-v1:0", "amazon.nova-pro-v1:0",
          "meta.llama3-1-8b-instruct-v1:0"]
WORDS = (
    "order invoice refund shipping parcel courier tracking delivery late damaged broken replacement drill sander "
    "battery charger warranty receipt account password login subscription cancel upgrade charge card payment "
    "address postcode warehouse return label customer manager weekly report revenue quarter table select join"
).split()


def record(rng: random.Random, n: int, when: float) -> dict:
    model = rng.choice(MODELS)
    user = " ".join(rng.choices(WORDS, k=rng.randint(20, 80)))
    answer = " ".join(rng.choices(WORDS, k=rng.randint(5, 40)))
    tokens_in, tokens_out = rng.randint(30, 900), rng.randint(5, 300)
    return {
        "schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)), "accountId": ACCOUNT,
        "identity": {"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/app/i-0{n % 7}"}, "region": "us-east-1",
        "requestId": f"{n:08x}-5561-4431-93b8-06a817275900", "operation": "Converse", "modelId": model,
        "input": {"inputContentType": "application/json",
                  "inputBodyJson": {"system": [{"text": "You triage support tickets for a hardware store."}],
                                    "messages": [{"role": "user", "content": [{"text": user}]}],
                                    "inferenceConfig": {"maxTokens": 512, "temperature": 0.2}},
                  "inputTokenCount": tokens_in, "cacheReadInputTokenCount": 0, "cacheWriteInputTokenCount": 0},
        "output": {"outputContentType": "application/json",
                   "outputBodyJson": {"output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
                                      "stopReason": "end_turn", "metrics": {"latencyMs": rng.randint(200, 4000)},
                                      "usage": {"inputTokens": tokens_in, "outputTokens": tokens_out}},
                   "outputTokenCount": tokens_out},
    }


def generate(folder: Path, records: int, per_object: int, seed: int = 11) -> list[Path]:
    """Bedrock's delivery layout: one object per ``per_object`` records, an hour folder per 10 objects."""
    done = folder / ".complete"
    if done.exists():
        return sorted(p for p in folder.rglob("*.json.gz"))
    rng = random.Random(seed)
    start = 1_746_000_000
    paths = []
    for number, first in enumerate(range(0, records, per_object)):
        when = start + number * 360
        hour = time.strftime("%Y/%m/%d/%H", time.gmtime(when))
        path = folder / PREFIX / hour / f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(when))}000Z_{number:06d}.json.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps(record(rng, n, when)) + "\n" for n in range(first, min(first + per_object, records)))
        path.write_bytes(gzip.compress(lines.encode(), compresslevel=6))
        paths.append(path)
    done.touch()
    return paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_s3(env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, url
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("moto's S3 server did not start")


def upload(url: str, folder: Path, paths: list[Path], bucket: str) -> None:
    import boto3
    from concurrent.futures import ThreadPoolExecutor

    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: s3.upload_file(str(p), bucket, str(p.relative_to(folder))), paths))


def run_measured(cmd: list[str], env: dict) -> dict:
    """Wall seconds, CPU seconds and peak RSS (MB) of one child process; its --json summary."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd[3:5])} failed:\n{err.read().decode()[-2000:]}")
        out.seek(0)
        summary = json.loads(out.read())
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
            "rows_added": summary["rows_added"], "files": len(summary["files"]),
            "skipped_unchanged": summary.get("files_skipped_unchanged", 0)}


def bench_once(folder: Path, url: str, server: subprocess.Popen, env: dict, workdir: Path, bucket: str) -> dict:
    plan = [sys.executable, "-c", "from analyzer.cli import main; main()", "ingest"]
    results = {}
    for name, target in (("local", str(folder / "AWSLogs")), ("s3", f"s3://{bucket}/AWSLogs/")):
        db = workdir / f"{name}.duckdb"
        for f in (db, Path(str(db) + ".wal")):
            f.unlink(missing_ok=True)
        before = cpu_seconds(server.pid)
        results[name] = run_measured(plan + [target, "--db", str(db), "--json"], env)
        results[name]["s3_server_cpu_s"] = cpu_seconds(server.pid) - before
    results["s3_again"] = run_measured(plan + [f"s3://{bucket}/AWSLogs/", "--db", str(workdir / "s3.duckdb"), "--json"], env)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--per-object", type=int, default=200, help="records per object (Bedrock writes many small ones)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    folder = DATA / f"bedrock-{args.records}-{args.per_object}"
    t = time.perf_counter()
    paths = generate(folder, args.records, args.per_object)
    size = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} objects, {size / 1e6:.0f} MB gzipped ({time.perf_counter() - t:.0f}s to prepare)", file=sys.stderr)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      AWS_EC2_METADATA_DISABLED="true", HF_HUB_OFFLINE="1")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server, url = start_s3(env)
    env["AWS_ENDPOINT_URL_S3"] = url
    runs = []
    try:
        upload(url, folder, paths, "bench")
        with tempfile.TemporaryDirectory(prefix="plan-bench-remote-") as work:
            for _ in range(args.repeat):
                runs.append(bench_once(folder, url, server, env, Path(work), "bench"))
    finally:
        server.terminate()
        server.wait()
    report = summarise(runs, args, len(paths), size)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for line in report["lines"]:
            print(line)
    return 0


def summarise(runs: list[dict], args, objects: int, size: int) -> dict:
    def median(name: str, key: str) -> float:
        return statistics.median(r[name][key] for r in runs)

    lines = [f"{args.records:,} records in {objects:,} objects ({size / 1e6:.0f} MB gzipped), {len(runs)} run(s), medians:"]
    out: dict = {"records": args.records, "objects": objects, "gzipped_mb": size / 1e6, "runs": runs}
    for name in ("local", "s3", "s3_again"):
        wall = median(name, "wall_s")
        out[name] = {"wall_s": wall, "cpu_s": median(name, "cpu_s"), "peak_rss_mb": median(name, "peak_rss_mb"),
                     "rows_per_s": runs[0][name]["rows_added"] / wall if runs[0][name]["rows_added"] else None}
        rate = f"{out[name]['rows_per_s']:,.0f} rows/s" if out[name]["rows_per_s"] else "0 rows added"
        lines.append(f"  {name:9s} {wall:7.1f} s wall  {out[name]['cpu_s']:6.1f} s CPU  {rate:>16s}  "
                     f"peak RSS {out[name]['peak_rss_mb']:,.0f} MB  rows {runs[0][name]['rows_added']:,}")
    out["ratio_s3_to_local"] = statistics.median(r["s3"]["wall_s"] / r["local"]["wall_s"] for r in runs)
    lines.append(f"  s3/local wall ratio {out['ratio_s3_to_local']:.2f}; S3 server CPU during the s3 run "
                 f"{median('s3', 's3_server_cpu_s'):.1f} s")
    out["lines"] = lines
    return out


if __name__ == "__main__":
    sys.exit(main())
