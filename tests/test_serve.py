"""The embedded model server, for real: llama.cpp (the prebuilt xllamacpp wheel) serving the bundled SmolLM2-135M GGUF (~30 tokens/s
here), so these tests keep to a few short prompts with small max_tokens."""

import json
import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from analyzer.db import dicts, scalar
from analyzer.errors import PlanError
from analyzer.llm_client import chat
from analyzer.serve import EmbeddedServer, bundled_gguf



def port_is_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_bundled_gguf_is_found_inside_the_package():
    path = bundled_gguf()
    assert path.suffix == ".gguf" and "SmolLM2-135M" in path.name and path.stat().st_size > 50_000_000


def test_missing_gguf_is_a_clear_error(tmp_path):
    with pytest.raises(PlanError, match="does not exist"):
        EmbeddedServer(tmp_path / "nope.gguf").start()


def test_a_file_that_is_not_a_model_fails_with_the_server_log(tmp_path):
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"this is not a gguf file" * 100)
    with pytest.raises(PlanError, match="exited while starting"):
        EmbeddedServer(bogus, startup_timeout=60).start()


@pytest.mark.slow
def test_embedded_server_answers_on_loopback_and_stops():
    with EmbeddedServer() as server:
        assert server.url.startswith("http://127.0.0.1:") and server.model == "SmolLM2-135M-Instruct.Q4_1"
        port = server.port
        messages = [{"role": "user", "content": "What is the capital of France? One word."}]
        plain = chat(server.url, server.model, messages, params={"max_tokens": 12, "temperature": 0, "seed": 1})
        streamed = chat(server.url, server.model, messages, params={"max_tokens": 12, "temperature": 0, "seed": 1}, stream=True)
        assert "Paris" in plain.text and plain.output_tokens > 0 and not plain.tokens_estimated
        assert streamed.text == plain.text and streamed.ttft_ms is not None  # same seed, same answer
    assert not server.running and port_is_closed(port)


@pytest.mark.slow
def test_the_embedded_server_has_one_slot_per_call_in_flight_sharing_the_whole_window():
    with EmbeddedServer(parallel=3, ctx=4096) as server:
        slots = httpx.get(server.url.removesuffix("/v1") + "/slots", timeout=10, trust_env=False).json()
        assert len(slots) == 3 and {s["n_ctx"] for s in slots} == {4096}  # unified: each may use the whole window


@pytest.mark.slow
def test_replay_against_the_embedded_model(con):
    from test_replay import seed_db

    from analyzer.replay import ReplaySettings, replay

    seed_db(con, categories=[(1, "Geography", False, 1, 2), (2, "Arithmetic", False, 2, 1)])
    con.execute("update requests set params_json = ? where id in (100, 101)", [json.dumps({"temperature": 0, "max_tokens": 400})])
    out = replay(con, ReplaySettings.resolve({}, endpoint="embedded", per_category=1, max_output_tokens=16, concurrency=2),
                 progress=False)
    assert out["endpoint"] == "embedded" and out["model"] == "SmolLM2-135M-Instruct.Q4_1"
    assert out["calls_made"] == 2 and out["calls_failed"] == 0 and out["output_tokens_per_s"] > 0
    got = dicts(con, "select * from replays order by request_id")
    assert len(got) == 2 and all(r["output_text"] and r["output_tokens"] <= 16 for r in got)
    assert scalar(con, "select model from endpoint_throughput") == "SmolLM2-135M-Instruct.Q4_1"
    assert [json.loads(r["not_carried_json"] or "{}") for r in got] == [{"max_tokens_capped": 1}, {}]
    again = replay(con, ReplaySettings.resolve({}, endpoint="embedded", per_category=1, max_output_tokens=16), progress=False)
    assert again["calls_made"] == 0 and again["skipped_already_done"] == 2  # resumed without starting a call


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "term"])
def test_plan_serve_prints_its_url_and_stops_cleanly(sig):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", "from analyzer.cli import main; main()", "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = proc.stdout.readline().strip()
        assert url == f"http://127.0.0.1:{port}/v1"
        models = httpx.get(url + "/models", timeout=10, trust_env=False).json()
        assert models["data"][0]["id"] == "SmolLM2-135M-Instruct.Q4_1"
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in stderr
    assert port_is_closed(port)


def test_the_prebuilt_native_server_is_preferred_and_the_source_build_stays_a_fallback(tmp_path):
    from analyzer.serve import NATIVE, PYTHON, server_backend

    gguf = tmp_path / "m.gguf"
    assert server_backend() == NATIVE  # `make install` puts the prebuilt wheel in; nothing is compiled
    native = EmbeddedServer(gguf, ctx=4096, threads=2).command(8080)
    assert native[1:3] == ["-m", "analyzer.llama_runner"] and native[native.index("--alias") + 1] == "m"
    assert native[native.index("--ctx") + 1] == "4096" and native[native.index("--threads") + 1] == "2"
    assert native[native.index("--parallel") + 1] == "4"  # slots for replay's default concurrency, batched
    two = EmbeddedServer(gguf, parallel=2).command(8080)
    assert two[two.index("--parallel") + 1] == "2"
    source = EmbeddedServer(gguf, backend=PYTHON).command(8080)
    assert source[1:3] == ["-m", "llama_cpp.server"] and source[source.index("--host") + 1] == "127.0.0.1"


def test_a_moment_of_load_does_not_take_a_core_from_the_server_but_lasting_load_does():
    from analyzer.serve import busy_cores

    blip = iter([1, 3, 1, 1, 2, 1, 1, 1, 1, 1])  # /proc/loadavg's runnable count, this process included
    assert busy_cores(interval=0, read=lambda: next(blip)) == 0.0
    lasting = iter([9, 10, 9, 8, 9, 11, 9, 9, 10, 9])
    assert busy_cores(interval=0, read=lambda: next(lasting)) == 7.0
    assert busy_cores(interval=0, read=lambda: None) is None  # no /proc: llama.cpp's own default


def test_on_a_busy_machine_the_server_takes_only_the_free_cores(tmp_path, monkeypatch):
    """llama.cpp's threads wait for each other after every operation: on 2 busy cores, 2 threads decoded 0.8
    tokens/s and 1 thread 14, so a busy machine gets fewer threads; an idle one gets llama.cpp's default."""
    import os

    from analyzer import serve

    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(serve, "busy_cores", lambda: cores + 6.0)
    busy = EmbeddedServer(tmp_path / "m.gguf").command(8080)
    assert busy[busy.index("--threads") + 1] == "1"
    monkeypatch.setattr(serve, "busy_cores", lambda: 0.0)
    assert "--threads" not in EmbeddedServer(tmp_path / "m.gguf").command(8080)
    assert EmbeddedServer(tmp_path / "m.gguf", threads=3).command(8080)[-1] == "3"  # asked for: kept
