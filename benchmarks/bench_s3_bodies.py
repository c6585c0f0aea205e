"""Bedrock bodies beside the log read from the bucket: fetched a batch of records ahead against one at a time.

    python benchmarks/bench_s3_bodies.py                  # 400 records, bodies of ~120 KB, moto's S3 on 127.0.0.1
    python benchmarks/bench_s3_bodies.py --records 1000 --repeat 3 --json

Each record of one gzipped invocation log names its request body as an S3 object (``inputBodyS3Path``), as Bedrock
writes bodies over ~100 KB. The log is ingested from the bucket with the bodies fetched ``READ_AHEAD`` records at a
time (concurrent requests) and with ``READ_AHEAD = 1`` (one request per body, what plan did before), interleaved,
into fresh databases. The bucket is moto's S3 server in a process of its own on 127.0.0.1, behind a relay that holds
every request for ``--latency-ms`` (default 30, a round trip to S3 in another part of the region; 0 measures the
loopback alone). Needs the `cloud` and `test` extras (s3fs, moto).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


RELAY = """
import asyncio, sys
listen, target, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000

async def pipe(reader, writer, hold):
    try:
        while data := await reader.read(65536):
            if hold:
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()

async def serve(client_reader, client_writer):
    server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
    await asyncio.gather(pipe(client_reader, server_writer, True), pipe(server_reader, client_writer, False))

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def put_layout(client, bucket: str, records: int) -> str:
    hour = "AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/2025/05/02/09"
    lines = []
    for n in range(records):
        key = f"{hour}/data/req-{n:05d}_input.json.gz"
        text = f"Review contract {n}.\n\n" + f"Clause {n}: the Supplier shall deliver the Services. " * 2400
        body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]}
        client.put_object(Bucket=bucket, Key=key, Body=gzip.compress(json.dumps(body).encode()))
        lines.append(json.dumps({
            "schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": "2025-05-02T09:14:03Z",
            "requestId": f"req-{n:05d}", "operation": "InvokeModel", "modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "input": {"inputContentType": "application/json", "inputBodyS3Path": f"s3://{bucket}/{key}", "inputTokenCount": 30000},
            "output": {"outputContentType": "application/json", "outputTokenCount": 20,
                       "outputBodyJson": {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "ok"}]}},
        }))
    log_key = f"{hour}/log.json.gz"
    client.put_object(Bucket=bucket, Key=log_key, Body=gzip.compress(("\n".join(lines) + "\n").encode()))
    return f"s3://{bucket}/{log_key}"


def ingest_once(url: str, read_ahead: int, workdir: Path) -> tuple[float, int]:
    from analyzer.db import connect
    from analyzer.ingest import ingest_paths, s3_bodies

    s3_bodies.READ_AHEAD = read_ahead
    db = workdir / f"bodies-{read_ahead}-{time.perf_counter_ns()}.duckdb"
    con = connect(str(db))
    try:
        started = time.perf_counter()
        summary = ingest_paths(con, [url])
        elapsed = time.perf_counter() - started
    finally:
        con.close()
        db.unlink(missing_ok=True)
    return elapsed, summary["files"][0]["s3_bodies"]["read"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=400, help="records in the log, each with a body beside it")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, interleaved; the median is reported")
    parser.add_argument("--latency-ms", type=float, default=30.0, help="time the relay holds each request")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    from analyzer.ingest import s3_bodies

    batch = s3_bodies.READ_AHEAD
    moto_port, relay_port = free_port(), free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    servers = [subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)], **quiet),
               subprocess.Popen([sys.executable, "-c", RELAY, str(relay_port), str(moto_port), str(args.latency_ms)], **quiet)]
    try:
        wait_for(moto_port)
        wait_for(relay_port)
        result = measure(args, f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{relay_port}", batch)
    finally:
        for server in servers:
            server.terminate()
            server.wait()
    print(json.dumps(result, indent=2) if args.json else
          f"{args.records} bodies at {args.latency_ms:g} ms a request: batched {result['batched_s']} s, one at a time "
          f"{result['one_at_a_time_s']} s ({result['speedup']}x), load {result['load_average']}")
    return 0


def measure(args, direct: str, relayed: str, batch: int) -> dict:
    import boto3

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(AWS_ENDPOINT_URL_S3=relayed, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                          AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(Path(tmp, "none")),
                          AWS_SHARED_CREDENTIALS_FILE=str(Path(tmp, "none")))
        client = boto3.client("s3", endpoint_url=direct, region_name="us-east-1")
        client.create_bucket(Bucket="bench-bodies")
        url = put_layout(client, "bench-bodies", args.records)
        runs: dict[int, list[float]] = {batch: [], 1: []}
        for _ in range(args.repeat):
            for ahead in (batch, 1):
                elapsed, read = ingest_once(url, ahead, Path(tmp))
                assert read == args.records, (read, args.records)
                runs[ahead].append(elapsed)
    return {"records": args.records, "read_ahead": batch, "latency_ms": args.latency_ms,
            "batched_s": round(statistics.median(runs[batch]), 2), "one_at_a_time_s": round(statistics.median(runs[1]), 2),
            "speedup": round(statistics.median(runs[1]) / statistics.median(runs[batch]), 2),
            "load_average": round(os.getloadavg()[0], 1)}


if __name__ == "__main__":
    sys.exit(main())
