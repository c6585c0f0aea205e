"""plan ingest s3://...: a real S3 API (moto's server) on 127.0.0.1, Bedrock-style gzipped objects in it.

Nothing here leaves loopback: every test runs with name lookups and connections to other hosts refused, AWS's
instance-metadata lookup disabled and the SDKs' config files pointed at nothing."""

from __future__ import annotations

import gzip
import json
import os
import socket
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from helpers import isolate_cloud_env, moto_s3_server, need_cloud

from analyzer.cli import cli
from analyzer.errors import PlanError
from analyzer.ingest import ingest_paths
from analyzer.ingest.run import Bars
import analyzer.progress
from analyzer.ingest.remote import RemoteObjects, RemoteSettings, list_objects, open_filesystem


need_cloud("s3fs")
need_cloud("moto.server")

ACCOUNT = "123456789012"
PREFIX = f"AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/us-east-1"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


# ---------------------------------------------------------------------------------------------
# Loopback only, and a real S3 server on it
# ---------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Any lookup of, or connection to, a host other than loopback fails the way an offline machine's would."""
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK and host is not None:
            raise socket.gaierror(socket.EAI_NONAME, f"test is loopback-only: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        if isinstance(address, tuple) and address[0] not in LOOPBACK:
            raise ConnectionRefusedError(f"test is loopback-only: {address[0]}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(scope="module")
def s3_url():
    yield from moto_s3_server()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path):
    isolate_cloud_env(monkeypatch, tmp_path)


@pytest.fixture
def s3(s3_url, monkeypatch):
    """A client for arranging objects, and the standard AWS variable pointing plan at the loopback server."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_url)
    return boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1")


@pytest.fixture
def bucket(s3):
    name = f"logs-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


# ---------------------------------------------------------------------------------------------
# Bedrock model-invocation logs, as Bedrock delivers them
# ---------------------------------------------------------------------------------------------


def invocation(n: int, input_tokens: int, output_tokens: int, when: str = "2025-05-02T09:14:03Z") -> dict:
    """A Converse ModelInvocationLog record (the shape of ../shared/eval/logs/bedrock_invocation_converse_stream.json)."""
    return {
        "schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": when, "accountId": ACCOUNT,
        "identity": {"arn": f"arn:aws:iam::{ACCOUNT}:user/app"}, "region": "us-east-1",
        "requestId": f"req-{n:06d}", "operation": "Converse", "modelId": "amazon.nova-lite-v1:0",
        "input": {
            "inputContentType": "application/json",
            "inputBodyJson": {"messages": [{"role": "user", "content": [{"text": f"Classify ticket {n}: my invoice is wrong"}]}],
                              "inferenceConfig": {"maxTokens": 256}},
            "inputTokenCount": input_tokens, "cacheReadInputTokenCount": 0, "cacheWriteInputTokenCount": 0,
        },
        "output": {
            "outputContentType": "application/json",
            "outputBodyJson": {"output": {"message": {"role": "assistant", "content": [{"text": f"billing ({n})"}]}},
                               "stopReason": "end_turn", "metrics": {"latencyMs": 200 + n},
                               "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens}},
            "outputTokenCount": output_tokens,
        },
    }


def gz_lines(records: list[dict]) -> bytes:
    return gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode())


def put(s3, bucket: str, key: str, body: bytes) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def deliver(s3, bucket: str, hour: str, first: int, count: int, compress=gz_lines) -> list[dict]:
    """One object of ``count`` records under the hour folder, as Bedrock's S3 delivery names them."""
    records = [invocation(n, 100 + n, 10 + n % 7) for n in range(first, first + count)]
    key = f"{PREFIX}/2025/05/02/{hour}/20250502T{hour}0000000Z_{uuid.uuid4().hex[:16]}.json.gz"
    put(s3, bucket, key, compress(records))
    return records


def totals(con) -> tuple:
    return con.execute("select count(*), sum(input_tokens), sum(output_tokens) from requests").fetchall()[0]


def expected(records: list[dict]) -> tuple:
    return (len(records), sum(r["input"]["inputTokenCount"] for r in records),
            sum(r["output"]["outputTokenCount"] for r in records))


@pytest.fixture
def delivered(s3, bucket):
    """Three hours of delivery, the permission-check object Bedrock writes, and a hidden object."""
    records = deliver(s3, bucket, "09", 0, 5) + deliver(s3, bucket, "10", 5, 4) + deliver(s3, bucket, "11", 9, 3)
    put(s3, bucket, f"AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/amazon-bedrock-logs-permission-check", b"")
    put(s3, bucket, f"{PREFIX}/.staging/partial.json.gz", b"not yet")
    return records


# ---------------------------------------------------------------------------------------------
# Listing
# ---------------------------------------------------------------------------------------------


def test_a_prefix_lists_recursively_in_key_order_with_size_time_and_etag(bucket, delivered):
    url = f"s3://{bucket}/AWSLogs/"
    fs, path = open_filesystem(url, RemoteSettings.resolve({}))
    found = list_objects(fs, path, url)
    assert [o.url.rsplit("/", 3)[-3:-1] for o in found[1:]] == [["02", "09"], ["02", "10"], ["02", "11"]]
    assert found[0].url == f"s3://{bucket}/AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/amazon-bedrock-logs-permission-check"
    assert not any(".staging" in o.url for o in found)  # hidden, like dot-files in a local directory
    assert all(o.version.startswith("etag:") and o.modified is not None for o in found)
    assert [o.size for o in found[1:]] == [len(gz_lines(delivered[:5])), len(gz_lines(delivered[5:9])), len(gz_lines(delivered[9:]))]


def test_a_glob_lists_what_it_matches(bucket, delivered):
    url = f"s3://{bucket}/{PREFIX}/2025/05/02/1*/"
    fs, path = open_filesystem(url, RemoteSettings.resolve({}))
    assert [o.url.split("/")[-2] for o in list_objects(fs, path, url)] == ["10", "11"]


# ---------------------------------------------------------------------------------------------
# Ingest, re-ingest, an object that changes
# ---------------------------------------------------------------------------------------------


def test_a_prefix_of_gzipped_bedrock_objects_lands_exactly(con, bucket, delivered):
    warnings: list[str] = []
    summary = ingest_paths(con, [f"s3://{bucket}/AWSLogs/"], warn=warnings.append)
    assert (summary["rows_added"], summary["rows_rejected"]) == (12, 0)
    assert totals(con) == expected(delivered) == (12, sum(100 + n for n in range(12)), sum(10 + n % 7 for n in range(12)))
    files = {f["path"].split("/")[-2]: f for f in summary["files"] if f["format"] == "bedrock"}
    assert {k: f["rows_added"] for k, f in files.items()} == {"09": 5, "10": 4, "11": 3}
    stored = con.execute("select source_file, source_line, model, created_at from requests where source_id = 'req-000005'").fetchall()
    assert stored == [(summary["files"][2]["path"], 1, "amazon.nova-lite-v1:0", datetime(2025, 5, 2, 9, 14, 3))]
    assert stored[0][0].startswith(f"s3://{bucket}/{PREFIX}/2025/05/02/10/")
    assert summary["objects"][0]["listed"] == 4 and summary["objects"][0]["to_read"] == 4
    assert any("4 objects" in w and "4 to read" in w for w in warnings)
    versions = con.execute("select count(*) from ingested_files where object_version like 'etag:%'").fetchall()[0][0]
    assert versions == 4  # the permission check is recorded too (empty), so it is not fetched again


def test_reingesting_downloads_nothing_and_adds_nothing(con, bucket, delivered):
    url = f"s3://{bucket}/AWSLogs/"
    ingest_paths(con, [url])
    warnings: list[str] = []
    again = ingest_paths(con, [url], warn=warnings.append)
    assert (again["rows_added"], again["rows_duplicate"], again["files"]) == (0, 0, [])
    assert again["files_skipped_unchanged"] == 4 and again["objects"][0]["to_read"] == 0
    assert any("4 read before and unchanged" in w for w in warnings)
    assert totals(con) == expected(delivered)
    assert con.execute("select count(*) from stage_runs where stage = 'ingest'").fetchall()[0][0] == 2


def test_a_sample_rate_given_later_reaches_objects_that_are_not_downloaded_again(con, bucket, delivered):
    url = f"s3://{bucket}/AWSLogs/"
    ingest_paths(con, [url])
    warnings: list[str] = []
    again = ingest_paths(con, [url], sample_rate=0.02, warn=warnings.append)
    assert again["files_skipped_unchanged"] == 4 and again["rows_added"] == 0
    assert con.execute("select sample_rate, sample_rate_source, count(*) from requests group by all").fetchall() == [
        (0.02, "flag", 12)]


def test_an_object_that_changes_is_read_again(con, s3, bucket, delivered):
    url = f"s3://{bucket}/{PREFIX}/"
    ingest_paths(con, [url])
    hour10 = [k["Key"] for k in s3.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/2025/05/02/10/")["Contents"]][0]
    grown = delivered[5:9] + [invocation(n, 1000 + n, 50) for n in (100, 101)]  # a re-delivery with two more calls
    put(s3, bucket, hour10, gz_lines(grown))
    summary = ingest_paths(con, [url])
    assert summary["files_skipped_unchanged"] == 2
    assert [f["path"] for f in summary["files"]] == [f"s3://{bucket}/{hour10}"]
    assert (summary["rows_added"], summary["rows_duplicate"]) == (2, 4)
    assert totals(con) == expected(delivered + grown[4:])


def test_an_object_rewritten_with_the_same_size_is_read_again(con, s3, bucket):
    url = f"s3://{bucket}/{PREFIX}/"
    key = f"{PREFIX}/2025/05/02/09/a.json.gz"
    stored = lambda n: gzip.compress(json.dumps(invocation(n, 111, 11)).encode(), compresslevel=0, mtime=0)  # noqa: E731
    put(s3, bucket, key, stored(1))
    ingest_paths(con, [url])
    size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
    put(s3, bucket, key, stored(2))  # another call: the same length, other bytes
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == size
    assert ingest_paths(con, [url])["rows_added"] == 1
    assert totals(con) == (2, 222, 22)


def test_gzip_is_recognised_by_content_not_by_name(con, s3, bucket):
    records = [invocation(n, 10, 1) for n in range(3)]
    put(s3, bucket, "export/gzipped-without-suffix.json", gz_lines(records[:2]))
    put(s3, bucket, "export/plain-with-gz-suffix.json.gz", json.dumps(records[2]).encode())
    summary = ingest_paths(con, [f"s3://{bucket}/export/"])
    assert summary["rows_added"] == 3 and {f["format"] for f in summary["files"]} == {"bedrock"}


def test_other_formats_in_a_bucket_take_their_own_readers(con, s3, bucket, fixtures):
    """An OpenAI chat-completions log as plain JSON Lines (the SQL fast route, whole file) beside Bedrock objects."""
    put(s3, bucket, "mixed/bedrock.json.gz", gz_lines([invocation(1, 5, 5)]))
    openai_log = fixtures / "openai" / "chat_completions.jsonl"
    put(s3, bucket, "mixed/openai.jsonl", openai_log.read_bytes())
    local = ingest_paths(con, [str(openai_log)])
    con.execute("delete from requests")
    remote = ingest_paths(con, [f"s3://{bucket}/mixed/"])
    assert remote["rows_added"] == local["rows_added"] + 1
    assert {f["format"] for f in remote["files"]} == {"bedrock", local["files"][0]["format"]}


def test_an_object_whose_first_record_is_longer_than_the_head_is_recognised(con, s3, bucket, fixtures):
    # A collector's export batch uploaded as is: its first line is longer than the 64 KiB ranged read for the head.
    first, second = (json.loads(line) for line in (fixtures / "otel" / "collector_export.jsonl").read_text().splitlines())
    chat = next(s for s in first["resourceSpans"][0]["scopeSpans"][0]["spans"] if s["spanId"] == "051581bf3cb55c13")
    first["resourceSpans"][0]["scopeSpans"][0]["spans"] = [{**chat, "spanId": f"{i:016x}"} for i in range(300)]
    body = (json.dumps(first) + "\n" + json.dumps(second) + "\n").encode()
    assert body.index(b"\n") > 65536
    put(s3, bucket, "traces/export.jsonl", body)
    file = ingest_paths(con, [f"s3://{bucket}/traces/"])["files"][0]
    assert (file["format"], file["rows_rejected"]) == ("otel", 0)
    assert con.execute("select count(*) from requests where source_id like '0000000000000%'").fetchall()[0][0] == 300


def test_a_single_object_url_is_read(con, s3, bucket):
    put(s3, bucket, "one/calls.json.gz", gz_lines([invocation(7, 70, 7)]))
    assert ingest_paths(con, [f"s3://{bucket}/one/calls.json.gz"])["rows_added"] == 1


def test_an_object_named_that_is_not_a_log_is_an_error(con, s3, bucket):
    put(s3, bucket, "notes/readme.txt", b"just some prose about our logs\n")
    with pytest.raises(PlanError, match="readme.txt: not a log format plan recognises"):
        ingest_paths(con, [f"s3://{bucket}/notes/readme.txt"])


def test_since_keeps_objects_modified_at_or_after_it(con, s3, bucket):
    first = deliver(s3, bucket, "09", 0, 2)
    time.sleep(1.1)  # S3 times are whole seconds
    boundary = datetime.now(timezone.utc)
    later = deliver(s3, bucket, "10", 2, 3)
    url = f"s3://{bucket}/{PREFIX}/"
    summary = ingest_paths(con, [url], since=boundary.replace(microsecond=0))
    assert (summary["rows_added"], summary["files_skipped_since"]) == (3, 1)
    assert summary["since"] == boundary.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert totals(con) == expected(later)
    assert ingest_paths(con, [url], since="1h")["rows_added"] == 2
    assert totals(con) == expected(first + later)


def test_since_in_the_future_reads_nothing_and_says_so(con, bucket, delivered):
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%d")
    warnings: list[str] = []
    summary = ingest_paths(con, [f"s3://{bucket}/AWSLogs/"], since=tomorrow, warn=warnings.append)
    assert summary["rows_added"] == 0 and summary["files_skipped_since"] == 4
    assert any("4 last modified before" in w for w in warnings)


def test_local_copies_are_few_and_removed(con, s3, bucket, monkeypatch, tmp_path):
    for hour in range(10):
        deliver(s3, bucket, f"{hour:02d}", hour * 3, 3)
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    monkeypatch.setenv("PLAN_FETCH_AHEAD", "2")
    most = []
    for_file = Bars.for_file

    def counting(self, src):  # each object's bar is asked for as its reading starts
        most.append(sum(len(files) for _, _, files in os.walk(spool)))
        return for_file(self, src)

    monkeypatch.setattr(Bars, "for_file", counting)
    assert ingest_paths(con, [f"s3://{bucket}/{PREFIX}/"], progress=True)["rows_added"] == 30
    assert len(most) == 10 and max(most) <= 3  # the object being read and two ahead
    assert list(spool.iterdir()) == []


def test_progress_counts_objects_and_bytes(con, bucket, delivered, monkeypatch):
    bars = []

    class Bar:
        def __init__(self, total=None, desc="", **_):
            self.total, self.desc, self.n, self.closed = total, desc, 0, False
            bars.append(self)

        def update(self, n):
            self.n += n

        def set_description(self, desc):
            self.desc = desc

        def close(self):
            self.closed = True

    monkeypatch.setattr(analyzer.progress, "bar", Bar)
    ingest_paths(con, [f"s3://{bucket}/AWSLogs/"], progress=True)
    assert len(bars) == 1
    sizes = sum(len(gz_lines(part)) for part in (delivered[:5], delivered[5:9], delivered[9:]))
    assert (bars[0].total, bars[0].n, bars[0].desc, bars[0].closed) == (sizes, sizes, "3/4 objects", True)


# ---------------------------------------------------------------------------------------------
# Endpoints and credentials
# ---------------------------------------------------------------------------------------------


def test_plan_toml_names_a_custom_endpoint(con, s3, bucket, s3_url, monkeypatch):
    deliver(s3, bucket, "09", 0, 2)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    config = {"ingest": {"s3_endpoint_url": s3_url}}
    assert ingest_paths(con, [f"s3://{bucket}/{PREFIX}/"], config=config)["rows_added"] == 2


def test_the_aws_variables_win_over_plan_toml(con, s3, bucket):
    deliver(s3, bucket, "09", 0, 2)
    config = {"ingest": {"s3_endpoint_url": "http://127.0.0.1:9"}}  # nothing listens there
    assert ingest_paths(con, [f"s3://{bucket}/{PREFIX}/"], config=config)["rows_added"] == 2


def test_no_credentials_is_one_sentence(con, bucket, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(PlanError) as caught:
        ingest_paths(con, [f"s3://{bucket}/AWSLogs/"])
    assert str(caught.value).startswith(f"No AWS credentials found for s3://{bucket}/AWSLogs/: set AWS_PROFILE")


def test_a_missing_bucket_is_one_sentence(con, s3):
    with pytest.raises(PlanError, match=r"^Bucket not found: s3://no-such-bucket-here does not exist"):
        ingest_paths(con, ["s3://no-such-bucket-here/AWSLogs/"])


def test_an_empty_prefix_says_the_bucket_exists(con, bucket):
    with pytest.raises(PlanError, match="No objects found at .*the bucket exists"):
        ingest_paths(con, [f"s3://{bucket}/nothing-here/"])


@pytest.fixture
def denied_keys(s3, s3_url):
    """Keys of an IAM user without S3 permissions, with moto enforcing IAM from now on."""
    import boto3
    from moto import settings

    iam = boto3.client("iam", endpoint_url=s3_url, region_name="us-east-1")
    user = f"reader-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    before = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    yield key["AccessKeyId"], key["SecretAccessKey"]
    settings.INITIAL_NO_AUTH_ACTION_COUNT = before


def test_access_denied_is_one_sentence(con, bucket, delivered, denied_keys, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", denied_keys[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", denied_keys[1])
    with pytest.raises(PlanError) as caught:
        ingest_paths(con, [f"s3://{bucket}/AWSLogs/"])
    message = str(caught.value)
    assert message.startswith(f"Access denied to s3://{bucket}/AWSLogs/ (")
    assert message.endswith("need s3:ListBucket and s3:GetObject on it.") and denied_keys[1] not in message


def test_credentials_are_not_stored(con, bucket, delivered):
    ingest_paths(con, [f"s3://{bucket}/AWSLogs/"])
    dump = json.dumps(con.execute("select * from stage_runs").fetchall(), default=str)
    dump += json.dumps(con.execute("select * from ingested_files").fetchall(), default=str)
    assert "testing" not in dump and "AWS_SECRET" not in dump


def test_gs_urls_go_to_gcsfs_and_say_when_there_are_no_credentials(con, monkeypatch, tmp_path):
    need_cloud("gcsfs")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    from google.auth.compute_engine import _metadata

    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)  # read once at import: another test may have imported it
    with pytest.raises(PlanError) as caught:
        ingest_paths(con, ["gs://team-llm-logs/litellm/"])
    assert str(caught.value).startswith("No Google Cloud credentials found for gs://team-llm-logs/litellm/: set GOOGLE_APPLICATION_CREDENTIALS")


def test_az_urls_go_to_adlfs_and_name_what_is_missing(con, monkeypatch):
    need_cloud("adlfs")
    with pytest.raises(PlanError, match=r"^No Azure storage account for az://logs/langfuse/: set AZURE_STORAGE_ACCOUNT_NAME"):
        ingest_paths(con, ["az://logs/langfuse/"])
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "teamlogs")
    monkeypatch.setenv("PATH", "/nonexistent")  # no az, azd or pwsh to ask (the metadata service is refused above)
    with pytest.raises(PlanError, match=r"^No Azure credentials found for az://logs/langfuse/: set AZURE_STORAGE_CONNECTION_STRING"):
        ingest_paths(con, ["az://logs/langfuse/"])


def test_other_urls_are_refused_clearly(con):
    with pytest.raises(PlanError, match="plan reads s3://, gs:// and az:// URLs"):
        ingest_paths(con, ["ftp://example.org/logs.jsonl"])


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------


def test_plan_ingest_s3_prefix_with_json_and_since(db_path, bucket, delivered):
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", f"s3://{bucket}/AWSLogs/", "--db", db_path, "--json", "--since", "7d"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["rows_added"], summary["files_skipped_unchanged"], summary["files_skipped_since"]) == (12, 0, 0)
    again = runner.invoke(cli, ["ingest", f"s3://{bucket}/AWSLogs/", "--db", db_path])
    assert again.exit_code == 0 and "0 requests added" in again.stdout
    assert "4 read before and unchanged" in again.stderr


def test_plan_ingest_rejects_an_unreadable_since(db_path):
    result = CliRunner().invoke(cli, ["ingest", "s3://bucket/x/", "--db", db_path, "--since", "last tuesday"])
    assert result.exit_code != 0
    assert "--since 'last tuesday': expected a date (2025-03-01)" in result.output


def test_local_files_honour_since_too(con, tmp_path, fixtures):
    (tmp_path / "logs").mkdir()
    old = tmp_path / "logs" / "old.jsonl"
    old.write_bytes((fixtures / "bedrock" / "invocations.jsonl").read_bytes())
    os.utime(old, (time.time() - 86400 * 30, time.time() - 86400 * 30))
    summary = ingest_paths(con, [str(tmp_path / "logs")], since="7d")
    assert (summary["rows_added"], summary["files_skipped_since"]) == (0, 1)
    assert ingest_paths(con, [str(old)], since="60d")["rows_added"] == 7


def test_gzip_head_detection_reads_a_range_not_the_object(con, bucket, s3):
    """A big gzipped object: detection inflates only its start."""
    records = [{**invocation(n, 1, 1), "requestMetadata": {"trace": os.urandom(300).hex()}} for n in range(400)]
    body = gz_lines(records)
    put(s3, bucket, "big/calls.json.gz", body)
    url = f"s3://{bucket}/big/"
    objects = RemoteObjects(con, RemoteSettings.resolve({}))
    try:
        (obj,) = objects.expand(url)
        head = obj.head()
        assert obj.is_gzip and len(head) == 65536 and head.startswith(b'{"schemaType"')
        assert obj.local is None and len(body) > 65536 * 2
    finally:
        objects.close()



def _azure_refusal(status: int):
    from azure.core.exceptions import ClientAuthenticationError

    exc = ClientAuthenticationError(message="This request is not authorized to perform this operation.")
    exc.status_code = status
    return exc


@pytest.mark.parametrize("url, make, start", [
    ("gs://logs/x/", lambda: OSError("Forbidden: https://storage.googleapis.com/storage/v1/b/logs/o\nno list"), "Access denied to gs://logs/x/ (Forbidden"),
    ("gs://logs/x/", lambda: FileNotFoundError("b/logs/o"), "Bucket not found: gs://logs does not exist"),
    ("az://logs/x/", lambda: _azure_refusal(403), "Access denied to az://logs/x/ (This request is not authorized"),
    ("az://logs/x/", lambda: _azure_refusal(401), "No Azure credentials found for az://logs/x/"),
    ("az://logs@acct.blob.core.windows.net/x/", lambda: FileNotFoundError("The specified container does not exist."),
     "Container not found: az://logs does not exist"),
])
def test_other_clouds_refusals_are_the_same_sentences(url, make, start):
    need_cloud("adlfs")
    from analyzer.ingest.remote import explain

    assert str(explain(make(), url)).startswith(start)


def test_an_object_gone_after_listing_is_named():
    from analyzer.ingest.remote import explain

    message = str(explain(FileNotFoundError("The specified key does not exist."), "s3://logs/a.json.gz", listing=False))
    assert message == "s3://logs/a.json.gz was deleted or replaced after it was listed; run plan ingest again to pick up the change."
