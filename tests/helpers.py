"""Small helpers shared by the tests (imported as ``from helpers import ...``, like ``openai_stub``)."""

from __future__ import annotations

from analyzer.db import dicts


def stored_requests(con, columns: str = "*", *, where: str = "true", params=None, as_list: bool = False):
    """The rows `plan ingest` stored in ``requests`` (only ``columns``), in file and line order: a dict keyed by
    ``source_id``, or the list itself with ``as_list``."""
    found = dicts(con, f"select {columns} from requests where {where} order by source_file, source_line", params)
    return found if as_list else {r["source_id"]: r for r in found}


def ingest_fixtures(con, fixtures, folder: str, fmt: str, *names: str) -> list[dict]:
    """Ingest the fixtures ``names`` of ``folder`` in one run, each detected as ``fmt`` (no --format): their per-file
    summaries, in order."""
    from analyzer.ingest import detect_format, ingest_paths
    from analyzer.ingest.sources import expand_paths

    paths = [str(fixtures / folder / name) for name in names]
    assert [detect_format(src) for src in expand_paths(paths)] == [fmt] * len(paths)
    return ingest_paths(con, paths)["files"]


def tool_missing(name: str) -> bool:
    """Whether a test that needs the command-line tool ``name`` should skip: only on a developer's machine
    without it. In CI (CI=true) the machine has node, gcc and openssl, so a missing one fails the test rather
    than hiding what it checks."""
    import os
    import shutil

    return shutil.which(name) is None and not os.environ.get("CI")


def need_cloud(module: str):
    """The module, or a skip naming the extras; in CI, which installs the cloud and test extras (Makefile), a
    missing one fails instead of hiding the tests that need it."""
    import importlib
    import os

    import pytest

    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module, reason="pip install -e '.[cloud,test]' (the cloud and test extras) to run it")


def isolate_cloud_env(monkeypatch, tmp_path) -> None:
    """No endpoint, profile, credentials file or emulator of the machine's: fake AWS keys, no metadata service, so
    nothing a test runs can reach a real cloud account."""
    import os

    for name in list(os.environ):
        if name.startswith(("AWS_", "AZURE_", "GOOGLE_", "GCE_")) or name in ("STORAGE_EMULATOR_HOST", "PLAN_FETCH_AHEAD"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


def moto_s3_server():
    """moto's S3 API on 127.0.0.1 while the generator is open (a fixture's body: ``yield from``): yields its URL."""
    import logging

    need_cloud("s3fs")
    moto_server = need_cloud("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log is noise here
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def route_neutral(summary: dict) -> dict:
    """An ingest summary without the one figure that differs by route (``lines_to_python``), for comparing the SQL
    route's summary with the Python route's."""
    for f in summary["files"]:
        f.pop("lines_to_python", None)
    return summary
