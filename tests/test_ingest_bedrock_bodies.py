"""Bedrock bodies written beside the log (inputBodyS3Path / outputBodyS3Path) are read where the log is read from:
the bucket (moto's S3 server on 127.0.0.1), or a local copy made by `aws s3 sync`; a local log without a copy
keeps its tokens and says how to get the text. Nothing here leaves loopback, and the local tests connect nowhere."""

from __future__ import annotations

import gzip
import json
import socket
import uuid

import pytest
from click.testing import CliRunner
from helpers import isolate_cloud_env, moto_s3_server, stored_requests

from analyzer.cli import cli
from analyzer.ingest import ingest_paths

ACCOUNT = "123456789012"
HOUR = f"AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/us-east-1/2025/05/02/09"
LOG_KEY = f"{HOUR}/20250502T0900Z_9f2c41d07a3e6b58.json.gz"
CONTRACT = "When does this contract renew, and what notice does it need?\n\n" + "".join(
    f"Clause {n}. The Supplier shall deliver the Services described in Schedule {n % 7} without interruption.\n"
    for n in range(1, 1500)
)  # about 130 KB: too large to log inline
FILING = "Summarise the attached annual filing in three bullets.\n\n" + "Revenue rose in every segment. " * 4000
ANSWER_STREAMED = "- Revenue up 12%\n- Churn down to 1.8%\n- Guidance raised"
TOKENS = {"req-contract": (41250, 12), "req-filing": (30500, 17), "req-missing": (52000, 3), "req-inline": (38, 4)}


def _record(request_id: str, operation: str, model: str, inp: dict, out: dict) -> dict:
    """A ModelInvocationLog record as Bedrock writes it (the shape of tests/fixtures/bedrock/invocations.jsonl)."""
    input_tokens, output_tokens = TOKENS[request_id]
    return {
        "schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": "2025-05-02T09:14:03Z",
        "accountId": ACCOUNT, "identity": {"arn": f"arn:aws:iam::{ACCOUNT}:user/app"}, "region": "us-east-1",
        "requestId": request_id, "operation": operation, "modelId": model,
        "input": {"inputContentType": "application/json", **inp, "inputTokenCount": input_tokens},
        "output": {"outputContentType": "application/json", **out, "outputTokenCount": output_tokens},
    }


def bedrock_layout(bucket_name: str) -> dict[str, bytes]:
    """Key -> bytes of one hour of delivery: the log, and beside it (data/) the bodies too large to log inline: a
    request in plain JSON, a request and a streamed response gzipped; one body the log names is not there."""
    data = f"s3://{bucket_name}/{HOUR}/data"
    records = [
        _record("req-contract", "InvokeModel", "anthropic.claude-3-5-sonnet-20240620-v1:0",
                {"inputBodyS3Path": f"{data}/req-contract_input.json"},
                {"outputBodyJson": {"id": "msg_1", "type": "message", "role": "assistant",
                                    "content": [{"type": "text", "text": "It renews on 1 March; 90 days' notice."}],
                                    "stop_reason": "end_turn", "usage": {"input_tokens": 41250, "output_tokens": 12}}}),
        _record("req-filing", "InvokeModelWithResponseStream", "anthropic.claude-3-5-sonnet-20240620-v1:0",
                {"inputBodyS3Path": f"{data}/req-filing_input.json.gz"},
                {"outputBodyS3Path": f"{data}/req-filing_output.json.gz"}),
        _record("req-missing", "Converse", "amazon.nova-pro-v1:0",
                {"inputBodyS3Path": f"{data}/req-missing_input.json.gz"},
                {"outputBodyJson": {"output": {"message": {"role": "assistant", "content": [{"text": "Done."}]}},
                                    "stopReason": "end_turn"}}),
        _record("req-inline", "Converse", "amazon.nova-lite-v1:0",
                {"inputBodyJson": {"messages": [{"role": "user", "content": [{"text": "Classify: my invoice is wrong"}]}]}},
                {"outputBodyJson": {"output": {"message": {"role": "assistant", "content": [{"text": "billing"}]}},
                                    "stopReason": "end_turn"}}),
    ]
    contract = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 300, "system": "You review contracts.",
                "messages": [{"role": "user", "content": [{"type": "text", "text": CONTRACT}]}]}
    filing = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 200,
              "messages": [{"role": "user", "content": [{"type": "text", "text": FILING}]}]}
    stream = [
        {"type": "message_start", "message": {"id": "msg_2", "usage": {"input_tokens": 30500, "output_tokens": 1}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ANSWER_STREAMED[:17]}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ANSWER_STREAMED[17:]}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 17}},
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 30500, "outputTokenCount": 17}},
    ]
    return {
        LOG_KEY: gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode()),
        f"{HOUR}/data/req-contract_input.json": json.dumps(contract).encode(),
        f"{HOUR}/data/req-filing_input.json.gz": gzip.compress(json.dumps(filing).encode()),
        f"{HOUR}/data/req-filing_output.json.gz": gzip.compress(json.dumps(stream).encode()),
    }


def synced(tmp_path, bucket_name: str, keys=None):
    """The layout as `aws s3 sync s3://BUCKET/AWSLogs/ logs/` leaves it (no bucket, no AWSLogs/ in the paths)."""
    root = tmp_path / "logs"
    for key, body in bedrock_layout(bucket_name).items():
        if keys is None or key in keys:
            path = root / key.removeprefix("AWSLogs/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
    return root


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(autouse=True)
def network(monkeypatch):
    """Every name lookup and connection, by host: loopback ones go through (moto), any other is refused."""
    attempts: list = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        attempts.append(host)
        if host not in LOOPBACK:
            raise socket.gaierror(socket.EAI_NONAME, f"test is loopback-only: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        attempts.append(host)
        if host not in LOOPBACK:
            raise ConnectionRefusedError(f"test is loopback-only: {host}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path):
    """No endpoint, profile or config file of the machine's: a local ingest that tried AWS would have to go out."""
    isolate_cloud_env(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def s3_url():
    yield from moto_s3_server()


@pytest.fixture
def bucket(s3_url, monkeypatch):
    """A fresh bucket on the loopback server, which plan is pointed at by the AWS SDKs' own variable."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_url)
    client = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1")
    name = f"logs-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return client, name


def texts(con) -> dict:
    return {k: (r["system_prompt"], r["prompt_text"], r["response_text"])
            for k, r in stored_requests(con, "source_id, system_prompt, prompt_text, response_text").items()}


def token_sums(con) -> tuple:
    return con.execute("select count(*), sum(input_tokens), sum(output_tokens) from requests").fetchall()[0]


EXPECTED_TOKENS = (4, sum(i for i, _ in TOKENS.values()), sum(o for _, o in TOKENS.values()))
READ_TEXTS = {
    "req-contract": ("You review contracts.", CONTRACT, "It renews on 1 March; 90 days' notice."),
    "req-filing": (None, FILING, ANSWER_STREAMED),
    "req-missing": (None, None, "Done."),
    "req-inline": (None, "Classify: my invoice is wrong", "billing"),
}


def test_bodies_beside_a_log_in_the_bucket_are_read_with_it(con, bucket, network):
    s3, bucket = bucket
    for key, body in bedrock_layout(bucket).items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    said: list[str] = []
    summary = ingest_paths(con, [f"s3://{bucket}/AWSLogs/"], warn=said.append)

    assert texts(con) == READ_TEXTS
    assert token_sums(con) == EXPECTED_TOKENS
    assert set(network) <= LOOPBACK
    log = next(f for f in summary["files"] if f["path"] == f"s3://{bucket}/{LOG_KEY}")
    sentence = ("1 of 3 records keep their prompt in S3 beside the log (inputBodyS3Path); the objects named do not exist "
                "(deleted, or expired by a lifecycle rule), so that text is not stored.")
    assert log["s3_bodies"] == {"records": 3, "read": 2, "unread": 1, "unread_reasons": {"not found": 1}, "note": sentence}
    assert summary["s3_bodies"] == {"records": 3, "read": 2, "unread": 1}
    assert f"s3://{bucket}/{LOG_KEY}: {sentence}" in said
    # The body objects in the listing were read as bodies, not as logs of their own.
    assert summary["rows_added"] == 4
    bodies = [f for f in summary["files"] if "/data/" in f["path"]]
    assert [(f["format"], f["joined_into"]) for f in bodies] == [("bedrock-body", [log["path"]])] * 3

    again = ingest_paths(con, [f"s3://{bucket}/AWSLogs/"])
    assert (again["rows_added"], again["files_skipped_unchanged"]) == (0, 4)
    assert token_sums(con) == EXPECTED_TOKENS


def test_a_long_log_in_the_bucket_reads_every_record_its_own_body(con, bucket, network, monkeypatch):
    """Bodies are fetched a batch of records ahead (READ_AHEAD): across batches every record still gets its own body,
    in its own order, and the ones missing from the bucket are counted, not shifted onto a neighbour."""
    from analyzer.ingest.s3_bodies import READ_AHEAD

    s3, bucket = bucket
    count, missing = 2 * READ_AHEAD + 7, {5, READ_AHEAD, 2 * READ_AHEAD + 3}
    records, question = [], "Which clause covers termination in contract {n}?\n\n" + "Clause text. " * 9000
    for n in range(count):
        key = f"{HOUR}/data/req-{n:03d}_input.json" + (".gz" if n % 2 else "")
        body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                           "messages": [{"role": "user", "content": [{"type": "text", "text": question.format(n=n)}]}]})
        if n not in missing:
            s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body.encode()) if n % 2 else body.encode())
        monkeypatch.setitem(TOKENS, f"req-{n:03d}", (30000 + n, 1 + n % 9))
        records.append(_record(f"req-{n:03d}", "InvokeModel", "anthropic.claude-3-5-sonnet-20240620-v1:0",
                               {"inputBodyS3Path": f"s3://{bucket}/{key}"},
                               {"outputBodyJson": {"type": "message", "role": "assistant", "stop_reason": "end_turn",
                                                   "content": [{"type": "text", "text": f"Clause {n}."}]}}))
    s3.put_object(Bucket=bucket, Key=LOG_KEY, Body=gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode()))
    summary = ingest_paths(con, [f"s3://{bucket}/{LOG_KEY}"])

    got = texts(con)
    assert len(got) == count
    for n in range(count):
        expected = None if n in missing else question.format(n=n)
        assert got[f"req-{n:03d}"] == (None, expected, f"Clause {n}."), n
    assert token_sums(con) == (count, sum(30000 + n for n in range(count)), sum(1 + n % 9 for n in range(count)))
    assert summary["files"][0]["s3_bodies"]["read"] == count - len(missing)
    assert summary["files"][0]["s3_bodies"]["unread_reasons"] == {"not found": len(missing)}
    assert set(network) <= LOOPBACK


def test_a_local_copy_of_the_bucket_gives_the_bodies_without_network(con, tmp_path, network):
    root = synced(tmp_path, "acme-bedrock-logs")
    said: list[str] = []
    summary = ingest_paths(con, [str(root)], warn=said.append)

    assert texts(con) == READ_TEXTS
    assert token_sums(con) == EXPECTED_TOKENS
    assert network == []
    log = next(f for f in summary["files"] if f["format"] == "bedrock")
    sentence = ("1 of 3 records keep their prompt in S3 beside the log (inputBodyS3Path); ingest the bucket "
                "(plan ingest s3://acme-bedrock-logs/AWSLogs/) or a local copy of it to read them.")
    assert log["s3_bodies"] == {"records": 3, "read": 2, "unread": 1, "unread_reasons": {"no copy here": 1},
                                "note": sentence}
    assert f"{log['path']}: {sentence}" in said
    assert summary["rows_added"] == 4 and not any("skipped" in s for s in said)

    again = ingest_paths(con, [str(root)])
    assert (again["rows_added"], again["rows_duplicate"]) == (0, 4)
    assert token_sums(con) == EXPECTED_TOKENS


def test_a_local_log_without_a_copy_keeps_its_tokens_and_says_how_to_get_the_text(db_path, tmp_path, network):
    root = synced(tmp_path, "acme-bedrock-logs", keys={LOG_KEY})
    result = CliRunner().invoke(cli, ["ingest", str(root), "--db", db_path, "--json"])
    assert result.exit_code == 0, result.output

    summary = json.loads(result.stdout)
    sentence = ("3 records keep their prompt or response in S3 beside the log (inputBodyS3Path, outputBodyS3Path); "
                "ingest the bucket (plan ingest s3://acme-bedrock-logs/AWSLogs/) or a local copy of it to read them.")
    assert summary["files"][0]["s3_bodies"] == {"records": 3, "read": 0, "unread": 3,
                                                "unread_reasons": {"no copy here": 3}, "note": sentence}
    assert summary["s3_bodies"] == {"records": 3, "read": 0, "unread": 3}
    assert sentence in " ".join(result.stderr.split())
    assert network == []

    from analyzer.db import connect

    con = connect(db_path)
    try:
        assert token_sums(con) == EXPECTED_TOKENS
        assert con.execute("select count(*) from requests where cost_usd is null").fetchall()[0][0] == 0
        assert texts(con) == {"req-contract": (None, None, "It renews on 1 March; 90 days' notice."),
                              "req-filing": (None, None, None), "req-missing": (None, None, "Done."),
                              "req-inline": (None, "Classify: my invoice is wrong", "billing")}

        synced(tmp_path, "acme-bedrock-logs")  # the fix: a copy of the bucket, ingested after the log
        again = ingest_paths(con, [str(root)])
        assert (again["rows_added"], again["rows_duplicate"]) == (0, 4)
        assert texts(con) == READ_TEXTS and token_sums(con) == EXPECTED_TOKENS
    finally:
        con.close()


def test_a_body_that_is_not_json_lands_the_record_without_that_text(con, tmp_path, network):
    root = synced(tmp_path, "acme-bedrock-logs")
    (root / f"{HOUR}/data/req-contract_input.json".removeprefix("AWSLogs/")).write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    summary = ingest_paths(con, [str(root)])

    assert texts(con)["req-contract"] == (None, None, "It renews on 1 March; 90 days' notice.")
    assert token_sums(con) == EXPECTED_TOKENS
    log = next(f for f in summary["files"] if f["format"] == "bedrock")
    assert (log["s3_bodies"]["read"], log["s3_bodies"]["unread_reasons"]) == (1, {"not JSON": 1, "no copy here": 1})
    assert "1 of them: the objects are not JSON (an image or other binary body)" in log["s3_bodies"]["note"]
    assert [f["format"] for f in summary["files"]].count("bedrock-body") == 3  # the unreadable one too, not "unknown"
    assert network == []
